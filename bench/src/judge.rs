//! A fast judge stand-in: OpenAI chat completions on loopback, answering
//! `{"label", "score", "explanation"}` on the prompt's rails, with optional
//! latency and a deterministic share of 429s. Unlike
//! `tests/cluster/llm_standin.py` (stdlib, one thread per request) it costs
//! a few microseconds per request, so engine overhead is what is measured.
//!
//! Requests carrying `tools` (function calling, as Phoenix evals may send)
//! get a tool call whose arguments hold the label; the label enum of the
//! tool schema, when present, gives the rails.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};

/// Behaviour of the stand-in.
#[derive(Clone, Debug, Default)]
pub struct JudgeOptions {
    /// Delay of every reply.
    pub latency: Duration,
    /// Share of requests answered 429, in [0, 1].
    pub fault_rate_429: f64,
    /// `Retry-After` seconds sent with a 429; none when `None`.
    pub retry_after: Option<u32>,
}

/// Counters, read by the harness.
#[derive(Debug, Default)]
pub struct JudgeStats {
    /// Requests answered 200.
    pub ok: AtomicU64,
    /// Requests answered 429.
    pub throttled: AtomicU64,
    /// Requests whose body was not a chat completion request.
    pub bad: AtomicU64,
    seq: AtomicU64,
}

impl JudgeStats {
    /// (ok, throttled, bad).
    pub fn snapshot(&self) -> (u64, u64, u64) {
        (
            self.ok.load(Ordering::Relaxed),
            self.throttled.load(Ordering::Relaxed),
            self.bad.load(Ordering::Relaxed),
        )
    }
}

struct Shared {
    options: JudgeOptions,
    stats: Arc<JudgeStats>,
}

/// A running stand-in; stops when dropped.
pub struct JudgeServer {
    /// `http://127.0.0.1:PORT/v1`.
    pub base_url: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Drop for JudgeServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// A stand-in in its own process (`tvbench judge`), so that its CPU and
/// scheduling stay apart from the harness; killed when dropped.
pub struct JudgeProcess {
    child: std::process::Child,
    /// `http://127.0.0.1:PORT/v1`.
    pub base_url: String,
}

impl JudgeProcess {
    /// Starts `tvbench judge` with `options` and waits for its URL.
    pub fn start(options: &JudgeOptions) -> Result<Self, String> {
        use std::io::BufRead;
        let exe = std::env::current_exe().map_err(|e| e.to_string())?;
        let mut command = std::process::Command::new(exe);
        command
            .args(["judge", "--port", "0"])
            .arg(format!("--latency-ms={}", options.latency.as_millis()))
            .arg(format!("--fault-rate-429={}", options.fault_rate_429))
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped());
        if let Some(seconds) = options.retry_after {
            command.arg(format!("--retry-after={seconds}"));
        }
        let mut child = command.spawn().map_err(|e| format!("tvbench judge: {e}"))?;
        let stdout = child.stdout.take().ok_or("tvbench judge: no stdout")?;
        let mut line = String::new();
        std::io::BufReader::new(stdout)
            .read_line(&mut line)
            .map_err(|e| e.to_string())?;
        let base_url = line.trim().to_owned();
        if !base_url.starts_with("http://") {
            let _ = child.kill();
            return Err(format!("tvbench judge printed {line:?}"));
        }
        Ok(Self { child, base_url })
    }

    /// (ok, throttled, bad) so far, from its /stats.
    pub async fn stats(&self) -> Result<(u64, u64, u64), String> {
        let url = format!("{}/stats", self.base_url.trim_end_matches("/v1"));
        let v: Value = reqwest::get(&url)
            .await
            .map_err(|e| e.to_string())?
            .json()
            .await
            .map_err(|e| e.to_string())?;
        let n = |k: &str| v[k].as_u64().unwrap_or(0);
        Ok((n("ok"), n("throttled"), n("bad")))
    }
}

impl Drop for JudgeProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts a stand-in on `addr` (port 0: any free port) on the current runtime.
pub async fn start(addr: SocketAddr, options: JudgeOptions) -> std::io::Result<JudgeServer> {
    let shared = Arc::new(Shared {
        options,
        stats: Arc::new(JudgeStats::default()),
    });
    let app = axum::Router::new()
        .route("/v1/chat/completions", post(completions))
        .route("/chat/completions", post(completions))
        .route("/stats", get(stats_page))
        .with_state(shared);
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = stopped.await;
            })
            .await;
    });
    Ok(JudgeServer {
        base_url: format!("http://{local}/v1"),
        stop: Some(stop),
    })
}

async fn stats_page(State(shared): State<Arc<Shared>>) -> Response {
    let (ok, throttled, bad) = shared.stats.snapshot();
    let body = json!({"ok": ok, "throttled": throttled, "bad": bad}).to_string();
    ([(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// splitmix64: a fixed, well-spread sequence for fault draws and labels.
fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

fn unit(x: u64) -> f64 {
    (mix(x) >> 11) as f64 / (1u64 << 53) as f64
}

async fn completions(State(shared): State<Arc<Shared>>, body: Bytes) -> Response {
    let options = &shared.options;
    let n = shared.stats.seq.fetch_add(1, Ordering::Relaxed);
    if !options.latency.is_zero() {
        tokio::time::sleep(options.latency).await;
    }
    if options.fault_rate_429 > 0.0 && unit(n) < options.fault_rate_429 {
        shared.stats.throttled.fetch_add(1, Ordering::Relaxed);
        let body = json!({"error": {"message": "Rate limit reached, please try again later.",
            "type": "rate_limit_error", "code": "rate_limit_exceeded"}})
        .to_string();
        let mut response = (StatusCode::TOO_MANY_REQUESTS, body).into_response();
        if let Some(seconds) = options.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        return response;
    }
    let Ok(request) = serde_json::from_slice::<Value>(&body) else {
        shared.stats.bad.fetch_add(1, Ordering::Relaxed);
        return (StatusCode::BAD_REQUEST, "not JSON").into_response();
    };
    let Some(messages) = request.get("messages").and_then(Value::as_array) else {
        shared.stats.bad.fetch_add(1, Ordering::Relaxed);
        return (StatusCode::BAD_REQUEST, "no messages").into_response();
    };
    let text: String = messages
        .iter()
        .filter_map(|m| m.get("content").and_then(Value::as_str))
        .collect::<Vec<_>>()
        .join("\n");
    let (positive, negative) = tool_rails(&request).unwrap_or_else(|| prose_rails(&text));
    // A fixed 80% positive, by the prompt's bytes, so reruns agree.
    let hash = text.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    let good = unit(hash) < 0.8;
    let label = if good { positive } else { negative };
    let verdict = json!({"label": label, "score": if good {1} else {0},
        "explanation": "stand-in verdict"})
    .to_string();
    let model = request
        .get("model")
        .and_then(Value::as_str)
        .unwrap_or("judge");
    let prompt_tokens = text.len() / 4;
    let message = match first_tool_name(&request) {
        Some(name) => json!({"role": "assistant", "content": null, "tool_calls": [{
            "id": format!("call_{n}"), "type": "function",
            "function": {"name": name, "arguments": verdict}}]}),
        None => json!({"role": "assistant", "content": verdict}),
    };
    let finish = if message.get("tool_calls").is_some() {
        "tool_calls"
    } else {
        "stop"
    };
    let reply = json!({
        "id": format!("chatcmpl-{n}"), "object": "chat.completion", "created": 0, "model": model,
        "choices": [{"index": 0, "message": message, "finish_reason": finish}],
        "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": 16,
                  "total_tokens": prompt_tokens + 16}
    });
    shared.stats.ok.fetch_add(1, Ordering::Relaxed);
    (
        [(header::CONTENT_TYPE, "application/json")],
        reply.to_string(),
    )
        .into_response()
}

fn first_tool_name(request: &Value) -> Option<String> {
    request
        .get("tools")?
        .as_array()?
        .first()?
        .pointer("/function/name")?
        .as_str()
        .map(str::to_owned)
}

/// The `label` enum of the first tool's (or response format's) schema.
fn tool_rails(request: &Value) -> Option<(String, String)> {
    let schema = request
        .pointer("/tools/0/function/parameters")
        .or_else(|| request.pointer("/response_format/json_schema/schema"))?;
    let labels = schema.pointer("/properties/label/enum")?.as_array()?;
    let first = labels.first()?.as_str()?.to_owned();
    let second = labels
        .get(1)
        .and_then(Value::as_str)
        .unwrap_or(&first)
        .to_owned();
    Some(order(first, second))
}

/// Puts the positive label first for the pairs we know.
fn order(a: String, b: String) -> (String, String) {
    const NEGATIVE: [&str; 5] = [
        "incorrect",
        "hallucinated",
        "irrelevant",
        "unrelated",
        "unfaithful",
    ];
    if NEGATIVE.contains(&a.to_lowercase().as_str()) {
        (b, a)
    } else {
        (a, b)
    }
}

/// Rails named in the prompt text: the most specific negative label wins.
fn prose_rails(text: &str) -> (String, String) {
    let lower = text.to_lowercase();
    let pair = |p: &str, n: &str| (p.to_owned(), n.to_owned());
    if lower.contains("hallucinated") {
        if lower.contains("\"faithful\"")
            || lower.contains("faithful") && !lower.contains("factual")
        {
            pair("faithful", "hallucinated")
        } else {
            pair("factual", "hallucinated")
        }
    } else if lower.contains("irrelevant") {
        pair("relevant", "irrelevant")
    } else if lower.contains("unrelated") {
        pair("relevant", "unrelated")
    } else {
        pair("correct", "incorrect")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rails_from_prose_and_schema() {
        assert_eq!(
            prose_rails("label \"faithful\" or \"hallucinated\"").0,
            "faithful"
        );
        assert_eq!(prose_rails("\"factual\" or \"hallucinated\"").0, "factual");
        assert_eq!(prose_rails("\"relevant\" or \"unrelated\"").1, "unrelated");
        assert_eq!(prose_rails("\"correct\" or \"incorrect\"").0, "correct");
        let request = json!({"tools": [{"function": {"name": "f", "parameters":
            {"properties": {"label": {"enum": ["unrelated", "relevant"]}}}}}]});
        assert_eq!(
            tool_rails(&request),
            Some(("relevant".into(), "unrelated".into()))
        );
    }
}
