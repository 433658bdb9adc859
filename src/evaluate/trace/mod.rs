//! Reading traces: the OTLP/JSON wire types ([`otlp`]), the span and trace
//! model the extraction paths run on ([`model`]), and the attribute
//! unflattening it uses ([`unflatten`]). Knows nothing of where traces come
//! from (see [`super::source`]).

pub mod model;
pub mod otlp;
pub mod unflatten;

pub use self::model::{Span, Trace, TraceCollector, UnreadableSpan, spans_of};
