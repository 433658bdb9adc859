//! Where traces come from: OTLP/JSON files and trace stores behind one
//! trait, and the one constructor ([`open`]) that turns the task's
//! `traceSource` and the command-line flags into a source.
//!
//! Adding a trace store is one new file implementing [`TraceSource`] plus
//! one arm in [`open`].

pub mod assemble;
pub mod documents;
mod file;
mod jaeger;

use std::io::Read;
use std::path::Path;

use futures::future::BoxFuture;
use k8s_openapi::jiff::Timestamp;

pub use self::file::{FileSource, for_each_trace, read_traces};
pub use self::jaeger::JaegerSource;
use super::trace::{Trace, TraceCollector, otlp};
use crate::api::evaluationtask::TraceSourceSpec;

/// Errors of reading traces.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// The trace file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The input is not OTLP/JSON.
    #[error("{origin}:{line}:{column}: malformed trace data: {message}")]
    Malformed {
        /// File name or URL.
        origin: String,
        /// 1-based line of the error.
        line: usize,
        /// 1-based column of the error.
        column: usize,
        /// What is wrong.
        message: String,
    },
    /// The trace store could not be reached or did not answer in time.
    #[error("trace store request {url} failed: {source}")]
    Http {
        /// The request URL.
        url: String,
        /// The transport error.
        #[source]
        source: reqwest::Error,
    },
    /// The trace store answered with an error status.
    #[error("trace store answered {status} for {url}: {body}")]
    Status {
        /// The request URL.
        url: String,
        /// HTTP status.
        status: u16,
        /// The start of the body.
        body: String,
    },
    /// The trace store URL is not usable.
    #[error("invalid trace store URL {url:?}: {message}")]
    Url {
        /// The URL as given.
        url: String,
        /// What is wrong.
        message: String,
    },
}

impl SourceError {
    /// Whether the error is in the input the user gave (a file that is not
    /// OTLP/JSON, a bad URL) rather than a failure of a running system.
    pub fn is_input_error(&self) -> bool {
        matches!(
            self,
            Self::Read { .. } | Self::Malformed { .. } | Self::Url { .. }
        )
    }
}

/// What to ask a trace store for: traces of a service that started within a
/// time window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceQuery {
    /// `service.name` of the traced app.
    pub service_name: String,
    /// Earliest trace start (inclusive).
    pub start_min: Timestamp,
    /// Latest trace start (inclusive).
    pub start_max: Timestamp,
}

/// Where [`TraceSource::scan_traces`] hands traces.
pub type TraceSink<'a> = &'a mut (dyn FnMut(Trace) + Send);

/// A place traces are read from.
pub trait TraceSource: Send + Sync {
    /// Hands the traces of `query.service_name` in the window to `sink` as
    /// they are read, without holding them all (memory is bounded by a page
    /// or a few documents, not by the window), in the order the source
    /// finds them. May hand on traces that start outside the window.
    fn scan_traces<'a>(
        &'a self,
        query: &'a TraceQuery,
        sink: TraceSink<'a>,
    ) -> BoxFuture<'a, Result<(), SourceError>>;

    /// Traces of `query.service_name` that started within the window, in
    /// the order the source gives them.
    fn find_traces<'a>(
        &'a self,
        query: &'a TraceQuery,
    ) -> BoxFuture<'a, Result<Vec<Trace>, SourceError>>;

    /// The traces with these IDs (lowercase hex) that exist, in the order of `trace_ids`.
    fn get_traces<'a>(
        &'a self,
        trace_ids: &'a [String],
    ) -> BoxFuture<'a, Result<Vec<Trace>, SourceError>>;

    /// Whether traces may still be receiving spans (a trace store fed by a
    /// running app), so a run leaves out the ones younger than the delay and
    /// evaluates the rest in start order; a file is complete as it is.
    fn is_live(&self) -> bool;

    /// The link to a trace in the store's UI, if the source has one.
    fn trace_link(&self, trace_id: &str) -> Option<String>;
}

/// The flags that override the spec's `traceSource`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Overrides<'a> {
    /// `--traces FILE`: read this OTLP/JSON file.
    pub traces: Option<&'a Path>,
    /// `--jaeger-url URL`: Jaeger's query service.
    pub jaeger_url: Option<&'a str>,
}

/// The trace source the flags or else the spec name; `None` when neither
/// names one.
pub fn open(
    spec: Option<&TraceSourceSpec>,
    overrides: &Overrides<'_>,
) -> Result<Option<Box<dyn TraceSource>>, SourceError> {
    if let Some(path) = overrides.traces {
        return Ok(Some(Box::new(FileSource::new(path))));
    }
    let jaeger = spec.and_then(|s| s.jaeger.as_ref());
    if let Some(url) = overrides.jaeger_url.or(jaeger.map(|j| j.url.as_str())) {
        let page = jaeger.and_then(|j| j.page_size).map(|p| p as usize);
        return Ok(Some(Box::new(JaegerSource::new(url, page)?)));
    }
    Ok(None)
}

/// Parses OTLP/JSON documents (one, several concatenated, or JSON lines)
/// from `reader`, streaming: each document is normalised and dropped before
/// the next is read. `origin` names the input in errors.
pub fn parse_documents<R: Read>(
    reader: R,
    origin: &str,
    collector: &mut TraceCollector,
) -> Result<(), SourceError> {
    let stream = serde_json::Deserializer::from_reader(reader).into_iter::<otlp::Envelope>();
    for document in stream {
        let envelope = document.map_err(|e| malformed(origin, &e))?;
        collector.add(envelope);
    }
    Ok(())
}

fn malformed(origin: &str, error: &serde_json::Error) -> SourceError {
    if error.is_io() {
        return SourceError::Read {
            path: origin.to_owned(),
            source: std::io::Error::other(error.to_string()),
        };
    }
    let full = error.to_string();
    let position = format!(" at line {} column {}", error.line(), error.column());
    let message = full.strip_suffix(&position).unwrap_or(&full).to_owned();
    SourceError::Malformed {
        origin: origin.to_owned(),
        line: error.line(),
        column: error.column(),
        message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Vec<Trace>, SourceError> {
        let mut collector = TraceCollector::default();
        parse_documents(text.as_bytes(), "t.json", &mut collector)?;
        Ok(collector.finish())
    }

    const SPAN: &str =
        r#"{"traceId":"0af7651916cd43dd8448eb211c80319c","spanId":"b7b65372b1d5857d","name":"s"}"#;

    #[test]
    fn one_document_several_lines_and_jaeger_form() {
        let otlp = format!(r#"{{"resourceSpans":[{{"scopeSpans":[{{"spans":[{SPAN}]}}]}}]}}"#);
        let jaeger = format!(
            r#"{{"result":{{"resourceSpans":[{{"scopeSpans":[{{"spans":[{SPAN}]}}]}}]}}}}"#
        );
        assert_eq!(parse(&otlp).unwrap()[0].spans.len(), 1);
        let lines = format!("{otlp}\n{jaeger}\n\n");
        let traces = parse(&lines).unwrap();
        assert_eq!(traces.len(), 1);
        assert_eq!(traces[0].spans.len(), 2);
        assert!(parse("").unwrap().is_empty());
    }

    #[test]
    fn malformed_input_names_origin_line_and_column() {
        let text = "{\"resourceSpans\":[]}\n{\"resourceSpans\": [ {\"scopeSpans\": 7} ]}\n";
        let err = parse(text).unwrap_err();
        let SourceError::Malformed {
            origin,
            line,
            column,
            ..
        } = &err
        else {
            panic!("unexpected {err:?}");
        };
        assert_eq!((origin.as_str(), *line), ("t.json", 2));
        assert!(*column > 1, "{err}");
        assert!(err.to_string().starts_with("t.json:2:"), "{err}");

        let truncated = parse("{\"resourceSpans\": [").unwrap_err();
        assert!(
            matches!(truncated, SourceError::Malformed { line: 1, .. }),
            "{truncated}"
        );

        let bad_id = parse(
            r#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"zz","spanId":"b7b65372b1d5857d"}]}]}]}"#,
        )
        .unwrap_err();
        assert!(bad_id.to_string().contains("invalid trace ID"), "{bad_id}");
    }
}

#[cfg(test)]
mod stream_tests;
