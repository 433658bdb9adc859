//! The `traceval` command line: one binary, the subcommands of both roles.
//! `src/main.rs` parses it and dispatches; it lives in the library so that
//! tests can read the flags and environment variables the binary accepts
//! (`tests/offline/chart_interface.rs` checks the Helm chart against it).

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::evaluate::{EvaluateArgs, ExtractArgs};
use crate::operator::args::OperatorArgs;

/// Runs traced Python LLM services on Kubernetes and evaluates their traces.
#[derive(Debug, Parser)]
#[command(name = "traceval", version, about)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Print every CRD as multi-document YAML (or write one file per CRD).
    Crd {
        /// Write `<group>_<plural>.yaml` files into this directory instead of stdout.
        #[arg(long, value_name = "DIR", conflicts_with_all = ["reference", "readme"])]
        dir: Option<PathBuf>,
        /// Print a Markdown field-by-field reference of the CRDs instead.
        #[arg(long)]
        reference: bool,
        /// Rewrite that reference between the `crd-reference` markers of this Markdown file.
        #[arg(long, value_name = "FILE")]
        readme: Option<PathBuf>,
    },
    /// Run the controllers with /metrics, /healthz and /readyz.
    Operator(OperatorArgs),
    /// Print what a task's extraction settings find in each trace of a file.
    Extract(ExtractArgs),
    /// Run one evaluation of a task: traces, judge, scores as JSON lines.
    Evaluate(EvaluateArgs),
}
