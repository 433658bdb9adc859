//! Jaeger's query API v3 over HTTP (`/api/v3/traces`), which answers in
//! OTLP/JSON wrapped as `{"result":{"resourceSpans":[...]}}` and with 404
//! (`{"error":{"httpCode":404,...}}`) when nothing matches.

use std::time::Duration;

use futures::future::BoxFuture;
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use url::Url;

use super::{SourceError, TraceQuery, TraceSource, parse_documents};
use crate::evaluate::normalise::{Trace, TraceCollector};

/// Traces asked for in one search; Jaeger's in-memory store rejects 0 and
/// values at or above its `max_traces`.
pub const DEFAULT_PAGE_SIZE: usize = 1000;

/// A window is not split below this; a busier second is read as one page.
const MIN_SPLIT: SignedDuration = SignedDuration::from_secs(1);

/// A Jaeger v2 (or v1.5x+) query service.
#[derive(Debug, Clone)]
pub struct JaegerSource {
    base: Url,
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
        let mut collector = TraceCollector::default();
        parse_documents(&body[..], &shown, &mut collector)?;
        Ok(collector.finish())
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
    /// Searches the window; a full page may have missed traces, so that
    /// window is split in two and each half searched again.
    fn find_traces<'a>(
        &'a self,
        query: &'a TraceQuery,
    ) -> BoxFuture<'a, Result<Vec<Trace>, SourceError>> {
        Box::pin(async move {
            let mut pending = vec![(query.start_min, query.start_max)];
            let mut found: Vec<Trace> = Vec::new();
            let mut seen = std::collections::HashSet::new();
            while let Some((min, max)) = pending.pop() {
                let traces = self.search(&query.service_name, min, max).await?;
                let span = max.duration_since(min);
                if traces.len() >= self.page_size && span > MIN_SPLIT {
                    let middle = min.checked_add(span / 2).map_err(|e| SourceError::Url {
                        url: self.base.to_string(),
                        message: e.to_string(),
                    })?;
                    // Later half first on the stack: the earlier half is read first.
                    pending.push((middle, max));
                    pending.push((min, middle));
                    continue;
                }
                for trace in traces {
                    if seen.insert(trace.trace_id.clone()) {
                        found.push(trace);
                    }
                }
            }
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
}
