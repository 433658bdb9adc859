//! Evaluation spans over OTLP/HTTP (JSON encoding): one span per evaluated
//! trace, in that trace (its trace ID, child of its first span), so the
//! scores sit next to the trace in the trace UI. The span is placed at the
//! end of the trace, so the trace's timeline keeps its shape; when the
//! evaluation happened is an attribute.
//!
//! Attributes: `traceval.task.namespace`, `traceval.task.name`,
//! `traceval.score.<metric>` (doubles, only the metrics obtained; the
//! metric named as in status: `hitRate`, a custom metric by its name),
//! `traceval.evaluated_at` (RFC 3339), `traceval.slice` (the trace's value of
//! `spec.slices.by`) and `traceval.error` for a failed trace.
//! The span's resource has `service.name` = [`EVALUATOR_SERVICE`], so the
//! evaluator knows its own spans when it reads traces back.

use std::time::Duration;

use k8s_openapi::jiff::Timestamp;
use serde_json::{Value, json};
use url::Url;

use crate::api::evaluationtask::Scores;
use crate::api::hash::short_hash;
use crate::evaluate::scoring::TraceResult;
use crate::evaluate::trace::{Span, Trace};

/// `service.name` of evaluation spans.
pub const EVALUATOR_SERVICE: &str = "traceval-evaluator";
/// Name of an evaluation span.
pub const SPAN_NAME: &str = "traceval.evaluation";

/// Why an export failed.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// The endpoint is not a usable URL.
    #[error("invalid OTLP endpoint {url:?}: {message}")]
    Url {
        /// As given.
        url: String,
        /// What is wrong.
        message: String,
    },
    /// The request failed.
    #[error("OTLP export to {url} failed: {message}")]
    Send {
        /// The traces URL.
        url: String,
        /// What went wrong.
        message: String,
    },
}

/// Posts evaluation spans to `{endpoint}/v1/traces`.
#[derive(Debug, Clone)]
pub struct Exporter {
    url: Url,
    client: reqwest::Client,
    namespace: String,
    task: String,
}

impl Exporter {
    /// An exporter for the OTLP/HTTP endpoint (e.g. `http://collector:4318`)
    /// and the task whose spans it sends.
    pub fn new(endpoint: &str, namespace: &str, task: &str) -> Result<Self, ExportError> {
        let url_error = |message: String| ExportError::Url {
            url: endpoint.to_owned(),
            message,
        };
        let base = Url::parse(endpoint).map_err(|e| url_error(e.to_string()))?;
        if !matches!(base.scheme(), "http" | "https") {
            return Err(url_error("expected an http:// or https:// URL".into()));
        }
        let url = if base.path().trim_end_matches('/').ends_with("/v1/traces") {
            base
        } else {
            let path = format!("{}/v1/traces", base.path().trim_end_matches('/'));
            let mut url = base;
            url.set_path(&path);
            url
        };
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .map_err(|e| url_error(e.to_string()))?;
        Ok(Self {
            url,
            client,
            namespace: namespace.to_owned(),
            task: task.to_owned(),
        })
    }

    /// The span of one evaluated trace.
    pub fn span(
        &self,
        trace: Option<&Trace>,
        result: &TraceResult,
        evaluated_at: Timestamp,
    ) -> Value {
        let first = trace.and_then(|t| t.spans.iter().min_by_key(|s| s.start_time_unix_nano));
        let at = trace
            .and_then(|t| t.spans.iter().map(|s| s.end_time_unix_nano).max())
            .unwrap_or_else(|| u64::try_from(evaluated_at.as_nanosecond()).unwrap_or(0));
        let mut attributes = vec![
            string("traceval.task.namespace", &self.namespace),
            string("traceval.task.name", &self.task),
            string("traceval.evaluated_at", &evaluated_at.to_string()),
        ];
        attributes.extend(scores(&result.scores));
        if let Some(slice) = &result.slice {
            attributes.push(string("traceval.slice", slice));
        }
        if let Some(error) = &result.error {
            attributes.push(string("traceval.error", error));
        }
        // One span ID per task and trace: a store that deduplicates keeps one.
        let span_id = short_hash(
            format!("{}/{}/{}", self.namespace, self.task, result.trace_id).as_bytes(),
            8,
        );
        let mut span = json!({
            "traceId": result.trace_id,
            "spanId": span_id,
            "name": SPAN_NAME,
            "kind": 1,
            "startTimeUnixNano": at.to_string(),
            "endTimeUnixNano": (at + 1000).to_string(),
            "attributes": attributes,
            "status": match &result.error {
                None => json!({"code": 1}),
                Some(e) => json!({"code": 2, "message": e}),
            },
        });
        if let Some(parent) = first {
            span["parentSpanId"] = json!(parent.span_id);
        }
        span
    }

    /// Sends spans in one request.
    pub async fn export(&self, spans: Vec<Value>) -> Result<(), ExportError> {
        if spans.is_empty() {
            return Ok(());
        }
        let body = json!({"resourceSpans": [{
            "resource": {"attributes": [string("service.name", EVALUATOR_SERVICE)]},
            "scopeSpans": [{
                "scope": {"name": "traceval", "version": env!("CARGO_PKG_VERSION")},
                "spans": spans,
            }],
        }]});
        let send_error = |message: String| ExportError::Send {
            url: self.url.to_string(),
            message,
        };
        let response = self
            .client
            .post(self.url.clone())
            .json(&body)
            .send()
            .await
            .map_err(|e| send_error(e.to_string()))?;
        let status = response.status();
        if !status.is_success() {
            let text = response.text().await.unwrap_or_default();
            return Err(send_error(format!(
                "{status}: {}",
                text.chars().take(300).collect::<String>()
            )));
        }
        Ok(())
    }
}

fn string(key: &str, value: &str) -> Value {
    json!({"key": key, "value": {"stringValue": value}})
}

fn scores(scores: &Scores) -> Vec<Value> {
    scores
        .named()
        .map(|(name, v)| json!({"key": format!("traceval.score.{name}"), "value": {"doubleValue": v}}))
        .collect()
}

/// Whether a span is an evaluation span (so reading traces back skips it).
pub fn is_evaluation_span(span: &Span) -> bool {
    span.resource()
        .get("service")
        .and_then(|s| s.get("name"))
        .and_then(Value::as_str)
        == Some(EVALUATOR_SERVICE)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_gets_the_traces_path_once() {
        for (endpoint, url) in [
            ("http://c:4318", "http://c:4318/v1/traces"),
            ("http://c:4318/", "http://c:4318/v1/traces"),
            ("http://c:4318/v1/traces", "http://c:4318/v1/traces"),
            ("https://gw/otlp", "https://gw/otlp/v1/traces"),
        ] {
            assert_eq!(
                Exporter::new(endpoint, "ns", "t").unwrap().url.as_str(),
                url
            );
        }
        assert!(Exporter::new("c:4318", "ns", "t").is_err());
    }

    #[test]
    fn span_carries_the_trace_id_scores_and_error() {
        let exporter = Exporter::new("http://c:4318", "ns", "qa").unwrap();
        let result = TraceResult {
            trace_id: "0af7651916cd43dd8448eb211c80319c".into(),
            query: None,
            answer: None,
            contexts: vec![],
            reference: None,
            scores: Scores {
                correctness: Some(1.0),
                ..Scores::default()
            },
            judgements: Default::default(),
            slice: None,
            documents: None,
            error: Some("faithfulness: judge down".into()),
            choices: Default::default(),
            failure: Some(crate::evaluate::scoring::reasons::JUDGE),
            reference_matched: None,
        };
        let span = exporter.span(
            None,
            &result,
            Timestamp::from_second(1_700_000_000).unwrap(),
        );
        assert_eq!(span["traceId"], json!("0af7651916cd43dd8448eb211c80319c"));
        assert_eq!(span["spanId"].as_str().unwrap().len(), 16);
        assert_eq!(span["startTimeUnixNano"], json!("1700000000000000000"));
        assert_eq!(span["status"]["code"], json!(2));
        let keys: Vec<&str> = span["attributes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["key"].as_str().unwrap())
            .collect();
        assert!(keys.contains(&"traceval.score.correctness"), "{keys:?}");
        assert!(
            !keys.contains(&"traceval.score.faithfulness"),
            "absent, not 0"
        );
        assert!(keys.contains(&"traceval.error"));
    }
}
