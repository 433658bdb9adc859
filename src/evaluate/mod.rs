//! The evaluator: one run from traces to scores (DESIGN.md, "The evaluator,
//! one run").
//!
//! - [`source`]: OTLP/JSON trace files and the Jaeger api_v3 HTTP source;
//! - [`normalise`] and [`unflatten`]: spans to the JSON objects paths run on;
//! - [`jsonpath`] and [`extract`]: the seed's SpanName / JsonPathInSpan /
//!   JsonPathInSpanValue settings;
//! - [`sampling`]: time-window and probability policies;
//! - [`judge`]: the OpenAI-compatible judge client, prompts and reply parser;
//! - [`metrics`]: retrieval metrics and averages;
//! - [`engine`] and [`report`]: one trace, many traces, the JSON lines;
//! - [`task`] and [`cli`]: the task manifest and the offline front doors;
//! - in the cluster ([`cluster`]): [`window`] (watermark), [`ledger`]
//!   (cumulative results), [`performance`] (traffic), [`status`] (the
//!   evaluator's status writes) and [`otlp`] (evaluation spans).

pub mod cli;
pub mod cluster;
pub mod engine;
pub mod extract;
pub mod jsonpath;
pub mod judge;
pub mod ledger;
pub mod metrics;
pub mod normalise;
pub mod otlp;
pub mod performance;
pub mod pyrepr;
pub mod report;
pub mod sampling;
pub mod source;
pub mod status;
pub mod task;
pub mod unflatten;
pub mod window;

pub use self::cli::{CliError, EvaluateArgs, ExtractArgs};
pub use self::engine::{Engine, Outcome, TraceResult};
pub use self::normalise::{Span, Trace};
pub use self::report::Summary;
