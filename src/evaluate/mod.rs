//! The evaluator: one run from traces to scores (DESIGN.md, "The evaluator,
//! one run"), in rooms by what each part does:
//!
//! - [`trace`]: the OTLP/JSON wire types and the span/trace model paths run on;
//! - [`source`]: where traces come from (files, Jaeger) behind one trait,
//!   and [`source::open`], the one constructor from the spec and the flags;
//! - [`extract`]: the seed's SpanName / JsonPathInSpan / JsonPathInSpanValue
//!   settings (with its JSONPath and Python-repr readers);
//! - [`sampling`]: time-window and probability policies;
//! - [`judge`]: the OpenAI-compatible judge client, prompts and reply parser;
//! - [`scoring`]: one trace, many traces, the retrieval metrics, the JSON lines;
//! - [`task`]: the task manifest and the full spec check;
//! - [`args`], [`error`] and [`setup`]: the flags, the exit codes, and what
//!   both runs resolve from a task (judge, engine, source, delay);
//! - [`offline`]: the front doors (`traceval extract`, `traceval evaluate`);
//! - [`cluster`]: the in-cluster run and its state (window, ledger,
//!   traffic, status writes, evaluation spans).

pub mod args;
pub mod cluster;
pub mod error;
pub mod extract;
pub mod judge;
pub mod offline;
pub mod sampling;
pub mod scoring;
pub mod setup;
pub mod source;
pub mod task;
pub mod trace;

pub use self::args::{EvaluateArgs, ExtractArgs};
