//! The `traceval` binary: parses the command line and dispatches, nothing else.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use tracing_subscriber::EnvFilter;

use traceval::cli::{Cli, Command};
use traceval::operator::args::OperatorArgs;

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        // stderr, clearing an unfinished progress line of `evaluate` first.
        .with_writer(traceval::evaluate::offline::progress::log_writer)
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
    let config = args.into_config();
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
