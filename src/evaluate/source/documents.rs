//! Reading trace documents (any format of [`otlp::envelope`]) one at a time: JSON lines, a single
//! (pretty-printed) document, or documents concatenated on a line.
//!
//! Lines are read into one reused buffer and parsed with
//! `serde_json::from_slice` (much faster than `from_reader`, which handles
//! its input a byte at a time). A document that is not complete at the end
//! of its line is given more lines, doubling what is read before each new
//! try, so a large multi-line document costs a bounded number of parses.
//!
//! A document that parses but holds a bad span (a missing span ID, a
//! wrong type somewhere) is read again as a `serde_json::Value` and span by
//! span, so that only the bad spans are lost: see [`Parsed`].

use std::io::BufRead;

use serde::Deserialize;
use serde_json::Value;

use super::{SourceError, malformed};
use crate::evaluate::trace::otlp::envelope::resource_spans_of;
use crate::evaluate::trace::otlp::{self, Envelope, ResourceSpans, normalise_id};

/// One document, read as well as it could be.
#[derive(Debug, Default)]
pub struct Parsed {
    /// Everything that parsed.
    pub envelope: Option<Envelope>,
    /// Spans that did not parse but whose trace ID is known: (trace ID,
    /// start time if readable, reason).
    pub bad_spans: Vec<BadSpan>,
    /// Spans (or a whole document) that did not parse and whose trace is
    /// not known, each with the reason, positioned as `origin:line:column`.
    pub unattributed: Vec<SourceError>,
}

/// A span that did not parse, in a trace that is known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadSpan {
    /// Its trace (32 lowercase hex digits).
    pub trace_id: String,
    /// Its start, when that much could be read.
    pub start_time_unix_nano: Option<u64>,
    /// What is wrong, with the position of the document.
    pub reason: String,
}

/// Reads documents from `reader`, handing each to `on_document`. Only
/// errors of the reader itself stop the reading; input that is not JSON
/// (to the end of its line, or a truncated document) is handed on as one
/// unattributed error, and see [`Parsed`] for the rest.
pub fn read_documents<R: BufRead>(
    mut reader: R,
    origin: &str,
    on_document: &mut dyn FnMut(Parsed) -> Result<(), SourceError>,
) -> Result<(), SourceError> {
    let mut buffer: Vec<u8> = Vec::new();
    // Where `buffer[0]` is in the input: 0-based line and column.
    let (mut line, mut column) = (0usize, 0usize);
    // Parse again only once the buffer has grown to this length.
    let mut retry_at = 0usize;
    let mut at_end = false;
    loop {
        if !at_end {
            let read =
                reader
                    .read_until(b'\n', &mut buffer)
                    .map_err(|source| SourceError::Read {
                        path: origin.to_owned(),
                        source,
                    })?;
            at_end = read == 0;
        }
        if buffer.iter().all(u8::is_ascii_whitespace) {
            line += buffer.iter().filter(|b| **b == b'\n').count();
            column = 0;
            buffer.clear();
            if at_end {
                return Ok(());
            }
            continue;
        }
        if !at_end && buffer.len() < retry_at {
            continue;
        }
        let position = Position {
            origin,
            line,
            column,
        };
        match serde_json::from_slice::<Envelope>(&buffer) {
            Ok(envelope) => on_document(Parsed {
                envelope: Some(envelope),
                ..Parsed::default()
            })?,
            Err(e) if e.is_eof() && !at_end => {
                retry_at = buffer.len() * 2;
                continue;
            }
            Err(e) if e.is_io() => return Err(position.error(&e)),
            Err(e) if e.is_syntax() && e.to_string().starts_with("trailing characters") => {
                let consumed = several(&buffer, &position, at_end, on_document)?;
                let next = position.after(&buffer[..consumed]);
                (line, column) = (next.line, next.column);
                buffer.drain(..consumed);
                retry_at = 0;
                if buffer.iter().all(u8::is_ascii_whitespace) && at_end {
                    return Ok(());
                }
                continue;
            }
            Err(e) if e.is_syntax() || e.is_eof() => on_document(Parsed {
                unattributed: vec![position.error(&e)],
                ..Parsed::default()
            })?,
            Err(e) => {
                // A wrong value stops serde before the document's end: read
                // the rest of a multi-line document before reading it span
                // by span.
                let whole = serde_json::from_slice::<serde::de::IgnoredAny>(&buffer);
                if !at_end && whole.is_err_and(|w| w.is_eof()) {
                    retry_at = buffer.len() * 2;
                    continue;
                }
                on_document(salvage(&buffer, &position, &e))?
            }
        }
        line += buffer.iter().filter(|b| **b == b'\n').count();
        column = 0;
        buffer.clear();
        retry_at = 0;
        if at_end {
            return Ok(());
        }
    }
}

/// Where a buffer starts in the input.
struct Position<'a> {
    origin: &'a str,
    line: usize,
    column: usize,
}

impl<'a> Position<'a> {
    /// The position just after `skipped`, which starts here.
    fn after(&self, skipped: &[u8]) -> Position<'a> {
        let (line, column) = match skipped.iter().rposition(|b| *b == b'\n') {
            Some(i) => (
                self.line + skipped.iter().filter(|b| **b == b'\n').count(),
                skipped.len() - i - 1,
            ),
            None => (self.line, self.column + skipped.len()),
        };
        Position {
            origin: self.origin,
            line,
            column,
        }
    }

    /// `error` (positioned within the buffer) positioned within the input.
    fn error(&self, error: &serde_json::Error) -> SourceError {
        let mut out = malformed(self.origin, error);
        if let SourceError::Malformed { line, column, .. } = &mut out {
            if *line == 1 {
                *column += self.column;
            }
            *line += self.line;
        }
        out
    }
}

/// Several documents in `buffer` (concatenated on a line): hands over each
/// complete one and returns how many bytes they took.
fn several(
    buffer: &[u8],
    position: &Position<'_>,
    at_end: bool,
    on_document: &mut dyn FnMut(Parsed) -> Result<(), SourceError>,
) -> Result<usize, SourceError> {
    let mut stream =
        serde_json::Deserializer::from_slice(buffer).into_iter::<serde::de::IgnoredAny>();
    let mut consumed = 0;
    loop {
        match stream.next() {
            None => return Ok(buffer.len()),
            Some(Ok(_)) => {
                let start = consumed;
                consumed = stream.byte_offset();
                let bytes = &buffer[start..consumed];
                match serde_json::from_slice::<Envelope>(bytes) {
                    Ok(envelope) => on_document(Parsed {
                        envelope: Some(envelope),
                        ..Parsed::default()
                    })?,
                    Err(e) => on_document(salvage(bytes, &position.after(&buffer[..start]), &e))?,
                }
            }
            Some(Err(e)) if e.is_eof() && !at_end => return Ok(consumed),
            Some(Err(e)) if e.is_io() => return Err(position.error(&e)),
            Some(Err(e)) => {
                // Not JSON from here to the end of the buffer (a line, or
                // what was read of a document): that much is lost.
                on_document(Parsed {
                    unattributed: vec![position.error(&e)],
                    ..Parsed::default()
                })?;
                return Ok(buffer.len());
            }
        }
    }
}

/// A document that is JSON but not all of it OTLP: reads what can be read,
/// span by span.
fn salvage(bytes: &[u8], position: &Position<'_>, error: &serde_json::Error) -> Parsed {
    let whole = position.error(error);
    let Ok(value) = serde_json::from_slice::<Value>(bytes) else {
        return Parsed {
            unattributed: vec![whole],
            ..Parsed::default()
        };
    };
    let Some(list) = resource_spans_of(&value) else {
        return Parsed {
            unattributed: vec![whole],
            ..Parsed::default()
        };
    };
    let where_ = format!(
        "{}:{}:{}",
        position.origin,
        position.line + 1,
        position.column + 1
    );
    let mut parsed = Parsed::default();
    let mut good = Vec::new();
    for resource_spans in list {
        let resource = match resource_spans.get("resource") {
            None => Ok(None),
            Some(r) => Option::<otlp::Resource>::deserialize(r).map_err(|e| e.to_string()),
        };
        let mut spans = Vec::new();
        let scopes = [
            "scopeSpans",
            "scope_spans",
            "instrumentationLibrarySpans",
            "instrumentation_library_spans",
        ]
        .iter()
        .find_map(|key| resource_spans.get(*key));
        for scope in scopes.and_then(Value::as_array).into_iter().flatten() {
            for span in scope
                .get("spans")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let result = match &resource {
                    Ok(_) => otlp::Span::deserialize(span).map_err(|e| e.to_string()),
                    Err(e) => Err(format!("its resource: {e}")),
                };
                match result {
                    Ok(span) => spans.push(span),
                    Err(reason) => {
                        let trace_id = span
                            .get("traceId")
                            .or_else(|| span.get("trace_id"))
                            .and_then(Value::as_str)
                            .and_then(|id| normalise_id(id, 16).ok());
                        match trace_id {
                            Some(trace_id) => parsed.bad_spans.push(BadSpan {
                                trace_id,
                                start_time_unix_nano: span
                                    .get("startTimeUnixNano")
                                    .or_else(|| span.get("start_time_unix_nano"))
                                    .and_then(|t| otlp::Nanos::deserialize(t).ok())
                                    .map(|n| n.0),
                                reason: format!("{where_}: unreadable span: {reason}"),
                            }),
                            None => parsed.unattributed.push(SourceError::Malformed {
                                origin: position.origin.to_owned(),
                                line: position.line + 1,
                                column: position.column + 1,
                                message: format!("unreadable span: {reason}"),
                            }),
                        }
                    }
                }
            }
        }
        if let Ok(resource) = resource {
            good.push(ResourceSpans {
                resource,
                scope_spans: vec![otlp::ScopeSpans { spans }],
            });
        }
    }
    parsed.envelope = Some(Envelope {
        resource_spans: good,
    });
    // Nothing found wrong span by span: the document's shape itself is.
    if parsed.bad_spans.is_empty() && parsed.unattributed.is_empty() {
        parsed.unattributed.push(whole);
    }
    parsed
}
