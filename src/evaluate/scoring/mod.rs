//! Scoring: the judge's metrics, the code checks and the retrieval metrics
//! over one trace ([`engine`], its [`result`]), over many ([`report`]: the JSON lines and
//! the summary), the retrieval metrics and averages themselves
//! ([`retrieval`]), the code checks ([`checks`]), reference answers
//! ([`dataset`]), the task's own metrics compiled ([`own_metrics`]), slices ([`slices`]), and why traces were not evaluated ([`reasons`]).

pub mod checks;
pub mod dataset;
pub mod engine;
pub mod own_metrics;
pub mod reasons;
pub mod report;
pub mod result;
pub mod retrieval;
pub mod slices;

pub use self::dataset::Dataset;
pub use self::engine::{Engine, EngineError, JudgeContact, Outcome, TraceResult};
pub use self::report::Summary;
