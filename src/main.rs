//! The `traceval` binary: parses the command line and dispatches, nothing else.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use tracing_subscriber::EnvFilter;

use traceval::operator::OperatorConfig;
use traceval::operator::leader::LeaseConfig;
use traceval::resources::evaluationtask::{DEFAULT_EVALUATOR_IMAGE, EvaluationOptions};
use traceval::resources::tracedservice::{BuildOptions, DEFAULT_OSS_SYNC_IMAGE};

/// Runs traced Python LLM services on Kubernetes and evaluates their traces.
#[derive(Debug, Parser)]
#[command(name = "traceval", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
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
    Extract(traceval::evaluate::ExtractArgs),
    /// Run one evaluation of a task: traces, judge, scores as JSON lines.
    Evaluate(traceval::evaluate::EvaluateArgs),
}

#[derive(Debug, Args)]
struct OperatorArgs {
    /// Address of the /metrics, /healthz and /readyz server.
    #[arg(long, env = "TRACEVAL_HTTP_ADDR", default_value = "0.0.0.0:8080")]
    http_addr: SocketAddr,
    /// Elect one active replica through a coordination.k8s.io Lease.
    #[arg(long, env = "TRACEVAL_LEADER_ELECT")]
    leader_elect: bool,
    /// Name of the leader election Lease.
    #[arg(long, env = "TRACEVAL_LEASE_NAME", default_value = "traceval-operator")]
    lease_name: String,
    /// Namespace of the leader election Lease (the operator's own).
    #[arg(long, env = "TRACEVAL_LEASE_NAMESPACE", default_value = "default")]
    lease_namespace: String,
    /// Namespaces to watch, comma-separated; all namespaces when unset.
    #[arg(
        long = "namespace",
        env = "TRACEVAL_WATCH_NAMESPACES",
        value_delimiter = ','
    )]
    namespaces: Vec<String>,
    /// Image with rclone for `oss` mounts in `sync` mode.
    #[arg(long, env = "TRACEVAL_OSS_SYNC_IMAGE", default_value = DEFAULT_OSS_SYNC_IMAGE)]
    oss_sync_image: String,
    /// Trace UI link template for `status.traceUILink`, with `{service}`,
    /// `{namespace}` and `{name}`, e.g. `http://jaeger:16686/search?service={service}`.
    #[arg(long, env = "TRACEVAL_TRACE_UI_URL")]
    trace_ui_url: Option<String>,
    /// This instance's name in events (the pod name).
    #[arg(long, env = "TRACEVAL_POD_NAME")]
    instance: Option<String>,
    /// Image of the evaluation pods of EvaluationTasks (holds `traceval`).
    #[arg(long, env = "TRACEVAL_EVALUATOR_IMAGE", default_value = DEFAULT_EVALUATOR_IMAGE)]
    evaluator_image: String,
    /// Jaeger query URL for EvaluationTasks that name no `traceSource`,
    /// e.g. `http://jaeger-query.observability:16686`.
    #[arg(long, env = "TRACEVAL_TRACE_QUERY_URL")]
    trace_query_url: Option<String>,
    /// OTLP/HTTP endpoint for evaluation spans, instead of the target
    /// TracedService's `tracing.endpoint`.
    #[arg(long, env = "TRACEVAL_EVALUATION_OTLP_ENDPOINT")]
    evaluation_otlp_endpoint: Option<String>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    match cli.command {
        Command::Crd {
            dir,
            reference,
            readme,
        } => crd(dir, reference, readme),
        Command::Operator(args) => operator(args),
        Command::Extract(args) => ExitCode::from(traceval::evaluate::offline::run_extract(&args)),
        Command::Evaluate(args) => ExitCode::from(traceval::evaluate::offline::run_evaluate(&args)),
    }
}

fn crd(dir: Option<PathBuf>, reference: bool, readme: Option<PathBuf>) -> ExitCode {
    let markdown = traceval::api::reference::markdown;
    let result = match (dir, readme) {
        (_, Some(readme)) => traceval::api::reference::update_file(&readme, &markdown())
            .map(|_| ())
            .map_err(|e| e.to_string()),
        (None, None) if reference => {
            print!("{}", markdown());
            Ok(())
        }
        (None, None) => traceval::api::all_crds_yaml()
            .map(|yaml| print!("{yaml}"))
            .map_err(|e| e.to_string()),
        (Some(dir), None) => traceval::api::crds().iter().try_for_each(|crd| {
            let path = dir.join(traceval::api::crd_file_name(crd));
            let yaml = traceval::api::crd_yaml(crd).map_err(|e| e.to_string())?;
            std::fs::write(&path, yaml).map_err(|e| format!("{}: {e}", path.display()))
        }),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("traceval crd: {error}");
            ExitCode::FAILURE
        }
    }
}

fn operator(args: OperatorArgs) -> ExitCode {
    let leader_election = args.leader_elect.then(|| LeaseConfig {
        name: args.lease_name,
        namespace: args.lease_namespace,
        identity: args
            .instance
            .clone()
            .or_else(|| std::env::var("HOSTNAME").ok())
            .unwrap_or_else(|| format!("traceval-{}", std::process::id())),
    });
    let config = OperatorConfig {
        http_addr: args.http_addr,
        options: BuildOptions {
            oss_sync_image: args.oss_sync_image,
        },
        trace_ui: args.trace_ui_url,
        instance: args.instance,
        namespaces: args
            .namespaces
            .into_iter()
            .filter(|n| !n.is_empty())
            .collect(),
        leader_election,
        evaluation: EvaluationOptions {
            image: args.evaluator_image,
            trace_query_url: args.trace_query_url,
            otlp_endpoint: args.evaluation_otlp_endpoint,
        },
    };
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("traceval operator: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(traceval::operator::run(config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("traceval operator: {error}");
            ExitCode::FAILURE
        }
    }
}
