//! A trace file: OTLP/JSON, a Jaeger api_v3 response, or JSON lines of either.

use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};

use futures::future::BoxFuture;

use super::{SourceError, TraceQuery, TraceSource, parse_documents};
use crate::evaluate::normalise::{Trace, TraceCollector};

/// Reads every trace of a file.
pub fn read_traces(path: &Path) -> Result<Vec<Trace>, SourceError> {
    let origin = path.display().to_string();
    let file = File::open(path).map_err(|source| SourceError::Read {
        path: origin.clone(),
        source,
    })?;
    let mut collector = TraceCollector::default();
    parse_documents(BufReader::new(file), &origin, &mut collector)?;
    Ok(collector.finish())
}

/// A trace file as a [`TraceSource`]. A file holds what its writer chose, so
/// the service name of a query is not checked; the time window is.
#[derive(Debug, Clone)]
pub struct FileSource {
    path: PathBuf,
}

impl FileSource {
    /// A source reading `path` on each request.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into() }
    }

    async fn read(&self) -> Result<Vec<Trace>, SourceError> {
        let path = self.path.clone();
        let origin = path.display().to_string();
        tokio::task::spawn_blocking(move || read_traces(&path))
            .await
            .map_err(|e| SourceError::Read {
                path: origin,
                source: std::io::Error::other(e.to_string()),
            })?
    }
}

impl TraceSource for FileSource {
    fn find_traces<'a>(
        &'a self,
        query: &'a TraceQuery,
    ) -> BoxFuture<'a, Result<Vec<Trace>, SourceError>> {
        Box::pin(async move {
            let min = nanos(query.start_min);
            let max = nanos(query.start_max);
            let mut traces = self.read().await?;
            traces.retain(|t| (min..=max).contains(&i128::from(t.start_time_unix_nano())));
            Ok(traces)
        })
    }

    fn get_traces<'a>(
        &'a self,
        trace_ids: &'a [String],
    ) -> BoxFuture<'a, Result<Vec<Trace>, SourceError>> {
        Box::pin(async move {
            let mut traces = self.read().await?;
            let mut found = Vec::new();
            for id in trace_ids {
                if let Some(i) = traces.iter().position(|t| &t.trace_id == id) {
                    found.push(traces.swap_remove(i));
                }
            }
            Ok(found)
        })
    }
}

fn nanos(t: k8s_openapi::jiff::Timestamp) -> i128 {
    t.as_nanosecond()
}
