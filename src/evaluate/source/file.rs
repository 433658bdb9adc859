//! A trace file in any format of `trace::otlp::envelope` (OTLP/JSON, Jaeger
//! api_v3 or v1, Tempo), one document or JSON lines, read streaming (see [`super::assemble`] for when a trace is complete).

use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};

use futures::future::BoxFuture;

use super::assemble::{Unattributed, stream_traces};
use super::{SourceError, TraceQuery, TraceSink, TraceSource};
use crate::evaluate::trace::Trace;

/// Traces buffered between the reading thread and the run.
const CHANNEL: usize = 64;

/// Reads every trace of a file.
pub fn read_traces(path: &Path) -> Result<Vec<Trace>, SourceError> {
    let mut traces = Vec::new();
    for_each_trace(path, &mut |trace| {
        traces.push(trace);
        Ok(())
    })?;
    Ok(traces)
}

/// Hands each trace of a file to `sink` as soon as it is complete, in order
/// of first appearance; memory is bounded by a few documents, not the file.
/// Input that names no readable trace stops the reading (an input error);
/// unreadable spans of a known trace are kept in [`Trace::unreadable`].
pub fn for_each_trace(
    path: &Path,
    sink: &mut dyn FnMut(Trace) -> Result<(), SourceError>,
) -> Result<(), SourceError> {
    let origin = path.display().to_string();
    let file = File::open(path).map_err(|source| SourceError::Read {
        path: origin.clone(),
        source,
    })?;
    let reader = BufReader::with_capacity(1 << 20, file);
    stream_traces(reader, &origin, Unattributed::Fail, sink).map(|_| ())
}

/// A trace file as a [`TraceSource`]. A file holds what its writer chose, so
/// the service name of a query is not checked; the time window is by
/// [`TraceSource::find_traces`], while [`TraceSource::scan_traces`] hands on
/// every trace, so that the sampler counts those outside the window.
#[derive(Debug, Clone)]
pub struct FileSource {
    path: PathBuf,
}

impl FileSource {
    /// A source reading `path` on each request.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into() }
    }

    /// Reads the file on a blocking thread, handing the traces `keep`
    /// accepts to `sink` on this task as they come.
    async fn stream(
        &self,
        keep: impl Fn(&Trace) -> bool + Send + 'static,
        sink: &mut (dyn FnMut(Trace) + Send),
    ) -> Result<(), SourceError> {
        let path = self.path.clone();
        let origin = path.display().to_string();
        let (tx, mut rx) = tokio::sync::mpsc::channel(CHANNEL);
        let reader = tokio::task::spawn_blocking(move || {
            for_each_trace(&path, &mut |trace| {
                if keep(&trace) {
                    // The receiver gone means the run stopped: stop reading.
                    tx.blocking_send(trace).map_err(|_| SourceError::Read {
                        path: path.display().to_string(),
                        source: std::io::Error::other("the run stopped reading"),
                    })?;
                }
                Ok(())
            })
        });
        while let Some(trace) = rx.recv().await {
            sink(trace);
        }
        reader.await.map_err(|e| SourceError::Read {
            path: origin,
            source: std::io::Error::other(e.to_string()),
        })?
    }
}

impl TraceSource for FileSource {
    fn scan_traces<'a>(
        &'a self,
        _query: &'a TraceQuery,
        sink: TraceSink<'a>,
    ) -> BoxFuture<'a, Result<(), SourceError>> {
        // Every trace: the sampler counts those outside the window.
        Box::pin(async move { self.stream(|_| true, sink).await })
    }

    fn find_traces<'a>(
        &'a self,
        query: &'a TraceQuery,
    ) -> BoxFuture<'a, Result<Vec<Trace>, SourceError>> {
        Box::pin(async move {
            let window = nanos(query.start_min)..=nanos(query.start_max);
            let mut traces = Vec::new();
            self.stream(
                move |t| window.contains(&i128::from(t.start_time_unix_nano())),
                &mut |t| traces.push(t),
            )
            .await?;
            Ok(traces)
        })
    }

    fn get_traces<'a>(
        &'a self,
        trace_ids: &'a [String],
    ) -> BoxFuture<'a, Result<Vec<Trace>, SourceError>> {
        Box::pin(async move {
            let wanted: std::collections::HashSet<String> = trace_ids.iter().cloned().collect();
            let mut traces = Vec::new();
            self.stream(move |t| wanted.contains(&t.trace_id), &mut |t| {
                traces.push(t)
            })
            .await?;
            let mut found = Vec::new();
            for id in trace_ids {
                if let Some(i) = traces.iter().position(|t| &t.trace_id == id) {
                    found.push(traces.swap_remove(i));
                }
            }
            Ok(found)
        })
    }

    fn is_live(&self) -> bool {
        false
    }

    fn trace_link(&self, _trace_id: &str) -> Option<String> {
        None
    }
}

fn nanos(t: k8s_openapi::jiff::Timestamp) -> i128 {
    t.as_nanosecond()
}
