//! Scoring: the judge's metrics and the retrieval metrics over one trace
//! ([`engine`]), over many ([`report`]: the JSON lines and the summary), and
//! the retrieval metrics and averages themselves ([`retrieval`]), and why
//! traces were not evaluated ([`reasons`]).

pub mod engine;
pub mod reasons;
pub mod report;
pub mod retrieval;

pub use self::engine::{Engine, JudgeContact, Outcome, TraceResult};
pub use self::report::Summary;
