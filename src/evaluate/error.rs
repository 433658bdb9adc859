//! Why a front door stopped, and the exit code it maps to; shared by the
//! offline and the in-cluster run.

use super::source::SourceError;

/// Why a front door stopped.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// Bad input: task, trace file, arguments. Exit code 2.
    #[error("{0}")]
    Input(String),
    /// The run could not complete (trace store, output). Exit code 1.
    #[error("{0}")]
    Run(String),
}

impl CliError {
    /// The process exit code for this error.
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::Input(_) => 2,
            Self::Run(_) => 1,
        }
    }
}

/// A trace source's error: bad input (exit 2) or a failed run (exit 1).
pub fn source_error(e: SourceError) -> CliError {
    if e.is_input_error() {
        CliError::Input(e.to_string())
    } else {
        CliError::Run(e.to_string())
    }
}

/// A failure to write results (exit 1).
pub fn output_error(e: std::io::Error) -> CliError {
    CliError::Run(format!("cannot write results: {e}"))
}
