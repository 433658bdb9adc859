//! Jaeger's query API v3 over HTTP (`/api/v3/traces`), which answers in
//! OTLP/JSON wrapped as `{"result":{"resourceSpans":[...]}}` and with 404
//! (`{"error":{"httpCode":404,...}}`) when nothing matches.

use std::collections::HashSet;
use std::time::Duration;

use futures::future::BoxFuture;
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use url::Url;

use super::assemble::{Unattributed, stream_traces};
use super::{SourceError, TraceQuery, TraceSink, TraceSource};
use crate::evaluate::trace::Trace;

/// Traces asked for in one search; Jaeger's in-memory store rejects 0 and
/// values at or above its `max_traces`.
pub const DEFAULT_PAGE_SIZE: usize = 1000;

/// A window is not split below this; a busier second is read as one page.
const MIN_SPLIT: SignedDuration = SignedDuration::from_secs(1);

/// A Jaeger v2 (or v1.5x+) query service.
#[derive(Debug, Clone)]
pub struct JaegerSource {
    base: Url,
    /// The URL as given, without trailing slashes: the UI's base.
    ui: String,
    client: reqwest::Client,
    page_size: usize,
}

impl JaegerSource {
    /// A source for the query service at `base` (e.g. `http://jaeger-query:16686`).
    pub fn new(base: &str, page_size: Option<usize>) -> Result<Self, SourceError> {
        let url_error = |message: String| SourceError::Url {
            url: base.to_owned(),
            message,
        };
        let mut url = Url::parse(base).map_err(|e| url_error(e.to_string()))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(url_error("expected an http:// or https:// URL".into()));
        }
        if !url.path().ends_with('/') {
            let path = format!("{}/", url.path());
            url.set_path(&path);
        }
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .map_err(|e| url_error(e.to_string()))?;
        Ok(Self {
            base: url,
            ui: base.trim_end_matches('/').to_owned(),
            client,
            page_size: page_size.unwrap_or(DEFAULT_PAGE_SIZE).max(1),
        })
    }

    fn url(&self, path: &str) -> Result<Url, SourceError> {
        self.base.join(path).map_err(|e| SourceError::Url {
            url: self.base.to_string(),
            message: e.to_string(),
        })
    }

    /// GETs `url` and parses its traces; 404 means none.
    async fn fetch(&self, url: Url) -> Result<Vec<Trace>, SourceError> {
        let shown = url.to_string();
        let response = self
            .client
            .get(url)
            .send()
            .await
            .map_err(|source| SourceError::Http {
                url: shown.clone(),
                source,
            })?;
        let status = response.status();
        let body = response.bytes().await.map_err(|source| SourceError::Http {
            url: shown.clone(),
            source,
        })?;
        if status == reqwest::StatusCode::NOT_FOUND {
            return Ok(Vec::new());
        }
        if !status.is_success() {
            let text = String::from_utf8_lossy(&body);
            return Err(SourceError::Status {
                url: shown,
                status: status.as_u16(),
                body: text.chars().take(300).collect(),
            });
        }
        let mut traces = Vec::new();
        let skipped = stream_traces(&body[..], &shown, Unattributed::Skip, &mut |t| {
            traces.push(t);
            Ok(())
        })?;
        if skipped.unattributed > 0 {
            tracing::warn!(
                url = %shown,
                count = skipped.unattributed,
                "skipped unreadable spans or documents that name no readable trace"
            );
        }
        Ok(traces)
    }

    async fn search(
        &self,
        service: &str,
        min: Timestamp,
        max: Timestamp,
    ) -> Result<Vec<Trace>, SourceError> {
        let mut url = self.url("api/v3/traces")?;
        url.query_pairs_mut()
            .append_pair("query.service_name", service)
            .append_pair("query.start_time_min", &min.to_string())
            .append_pair("query.start_time_max", &max.to_string())
            .append_pair("query.num_traces", &self.page_size.to_string());
        self.fetch(url).await
    }
}

impl TraceSource for JaegerSource {
    /// Pages through the window in sub-windows sized so that each answer
    /// holds fewer than a page of traces: a full answer may have missed
    /// traces, so its sub-window is halved and read again; a sparse one
    /// widens the next. Traces are handed on page by page; a trace found
    /// in two sub-windows (spans on both sides of a boundary) is handed on
    /// once (by a set of 16-byte trace IDs, the only state that grows with
    /// the window).
    fn scan_traces<'a>(
        &'a self,
        query: &'a TraceQuery,
        sink: TraceSink<'a>,
    ) -> BoxFuture<'a, Result<(), SourceError>> {
        Box::pin(async move {
            let mut seen: HashSet<u128> = HashSet::new();
            let end = query.start_max;
            let mut from = query.start_min;
            let mut width = end.duration_since(from);
            loop {
                let to = from.checked_add(width).map_or(end, |t| t.min(end));
                let page = self.search(&query.service_name, from, to).await?;
                let read = page.len();
                if read >= self.page_size && to.duration_since(from) > MIN_SPLIT {
                    width = (to.duration_since(from) / 2).max(MIN_SPLIT);
                    continue;
                }
                for trace in page {
                    let fresh = u128::from_str_radix(&trace.trace_id, 16)
                        .map_or(true, |id| seen.insert(id));
                    if fresh {
                        sink(trace);
                    }
                }
                if to >= end {
                    return Ok(());
                }
                from = to;
                let target = self.page_size / 2;
                if read < target {
                    let factor = (target / read.max(1)).clamp(1, 4);
                    width = width
                        .checked_mul(i32::try_from(factor).unwrap_or(4))
                        .unwrap_or(width);
                }
            }
        })
    }

    fn find_traces<'a>(
        &'a self,
        query: &'a TraceQuery,
    ) -> BoxFuture<'a, Result<Vec<Trace>, SourceError>> {
        Box::pin(async move {
            let mut found = Vec::new();
            self.scan_traces(query, &mut |t| found.push(t)).await?;
            found.sort_by_key(Trace::start_time_unix_nano);
            Ok(found)
        })
    }

    fn get_traces<'a>(
        &'a self,
        trace_ids: &'a [String],
    ) -> BoxFuture<'a, Result<Vec<Trace>, SourceError>> {
        Box::pin(async move {
            let mut found = Vec::new();
            for id in trace_ids {
                let url = self.url(&format!("api/v3/traces/{id}"))?;
                found.extend(
                    self.fetch(url)
                        .await?
                        .into_iter()
                        .filter(|t| &t.trace_id == id),
                );
            }
            Ok(found)
        })
    }

    fn is_live(&self) -> bool {
        true
    }

    /// `{url}/trace/{id}`: Jaeger's UI is served by the query service.
    fn trace_link(&self, trace_id: &str) -> Option<String> {
        Some(format!("{}/trace/{trace_id}", self.ui))
    }
}
