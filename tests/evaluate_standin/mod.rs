//! In-process stand-ins for the evaluator's CLI tests: an OpenAI-compatible
//! judge whose verdicts follow from the prompt (so expected scores are known),
//! with fault injection, and a Jaeger api_v3 query service over fixture files.
//! Both bind 127.0.0.1:0 before the binary starts, so no test waits on them.
#![allow(dead_code)] // each test uses a different subset

pub mod cli;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};

/// Question keyword → the word a correct answer (or a relevant document) contains.
const FACTS: [(&str, &str); 3] = [
    ("capital of china", "Beijing"),
    ("capital of france", "Paris"),
    ("hamlet", "Shakespeare"),
];

/// How the judge misbehaves.
#[derive(Clone, Debug, Default)]
pub struct Faults {
    /// The first attempt of every distinct prompt fails, in turn: 429 with
    /// `Retry-After: 1`, 500, no answer (a timeout), a body that is not a
    /// chat completion. The second attempt is answered normally.
    pub first_attempt: bool,
    /// Prompts whose user message contains one of these get an answer
    /// without a readable label.
    pub unreadable: Vec<String>,
    /// Every answer is this late (a slow judge).
    pub delay: Option<std::time::Duration>,
}

/// One request the judge received.
#[derive(Clone, Debug)]
pub struct Seen {
    /// correctness, faithfulness, relevance (answer relevance too) or custom.
    pub metric: &'static str,
    /// The `<question>` of the prompt.
    pub question: String,
    /// The `<document>` of a relevance prompt.
    pub document: Option<String>,
    /// 1 for the first request with this prompt, 2 for its retry, ...
    pub attempt: u32,
    /// The Authorization header, if any.
    pub authorization: Option<String>,
}

#[derive(Default)]
struct Judge {
    faults: Faults,
    attempts: Mutex<HashMap<String, (usize, u32)>>,
    seen: Mutex<Vec<Seen>>,
}

/// A running judge stand-in.
pub struct JudgeStandIn {
    /// Base URL to give as `--judge-url` (`http://127.0.0.1:PORT/v1`).
    pub url: String,
    state: Arc<Judge>,
}

impl JudgeStandIn {
    /// Starts a judge on a free loopback port.
    pub async fn start(faults: Faults) -> Self {
        let state = Arc::new(Judge {
            faults,
            ..Judge::default()
        });
        let app = Router::new()
            .route("/v1/chat/completions", post(complete))
            .with_state(state.clone());
        let url = format!("http://{}/v1", serve(app).await);
        Self { url, state }
    }

    /// Every request so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.state.seen.lock().unwrap().clone()
    }
}

async fn serve(app: Router) -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

/// The text between `<tag>\n` and `\n</tag>`, first occurrence.
fn tagged<'a>(text: &'a str, open: &str, close: &str) -> Option<&'a str> {
    let start = text.find(open)? + open.len();
    let end = text[start..].find(close)? + start;
    Some(text[start..end].trim_matches('\n'))
}

fn expected_word(question: &str) -> Option<&'static str> {
    let lower = question.to_lowercase();
    FACTS
        .iter()
        .find(|(key, _)| lower.contains(key))
        .map(|(_, word)| *word)
}

/// The labels a system message asks for ("exactly one of "a", "b" and "c"").
fn rails(system: &str) -> Vec<String> {
    let tail = system.rsplit("exactly one of ").next().unwrap_or_default();
    tail.split('"')
        .skip(1)
        .step_by(2)
        .map(str::to_owned)
        .collect()
}

/// A task's own metric: the first rail named (case-insensitively) in the
/// judged text (the document of a per-document metric, else the answer);
/// the last rail when none is.
fn custom_verdict(system: &str, user: &str) -> String {
    let rails = rails(system);
    let text = tagged(user, "<document>\n", "\n</document>")
        .or_else(|| tagged(user, "<answer>\n", "\n</answer>"))
        .unwrap_or_default()
        .to_lowercase();
    let label = rails
        .iter()
        .find(|r| text.contains(&r.to_lowercase()))
        .or(rails.last())
        .cloned()
        .unwrap_or_default();
    json!({"label": label, "explanation": format!("stand-in: the text says {label}")}).to_string()
}

/// The verdict the stand-in gives, from the prompt alone.
fn verdict(metric: &str, user: &str) -> (&'static str, String) {
    let question = tagged(user, "<question>\n", "\n</question>").unwrap_or_default();
    let expected = expected_word(question).unwrap_or("\u{0}");
    match metric {
        "relevance" => {
            // Of a document, or (answer relevance) of the answer.
            let document = tagged(user, "<document>\n", "\n</document>")
                .or_else(|| tagged(user, "<answer>\n", "\n</answer>"))
                .unwrap_or_default();
            let relevant = document.contains(expected);
            let label = if relevant { "relevant" } else { "irrelevant" };
            (
                label,
                json!({"label": label, "score": u8::from(relevant), "explanation": "stand-in"})
                    .to_string(),
            )
        }
        "faithfulness" => {
            // Faithful when every capitalised word of the answer is in the reference text.
            let answer = tagged(user, "<answer>\n", "\n</answer>").unwrap_or_default();
            let reference = tagged(user, "<reference>\n", "\n</reference>").unwrap_or_default();
            let faithful = answer
                .split(|c: char| !c.is_alphanumeric())
                .filter(|w| w.chars().next().is_some_and(char::is_uppercase))
                .all(|w| reference.contains(w));
            let label = if faithful { "faithful" } else { "hallucinated" };
            // Prose around the object, as chatty judges write.
            (
                label,
                format!(
                    "Let me check the claims.\n{{\"label\": \"{label}\", \"score\": {}, \"explanation\": \"stand-in\"}}\nThat is my verdict.",
                    u8::from(faithful)
                ),
            )
        }
        _ => {
            let answer = tagged(user, "<answer>\n", "\n</answer>").unwrap_or_default();
            // Against a reference answer: correct when the answer has every
            // capitalised word of it (so a reference can overrule the fact).
            let correct = match tagged(user, "<expected_answer>\n", "\n</expected_answer>") {
                Some(reference) => reference
                    .split(|c: char| !c.is_alphanumeric())
                    .filter(|w| w.chars().next().is_some_and(char::is_uppercase))
                    .all(|w| answer.contains(w)),
                None => answer.contains(expected),
            };
            let label = if correct { "correct" } else { "incorrect" };
            // A fenced block, as many models answer.
            (
                label,
                format!(
                    "```json\n{{\"label\": \"{label}\", \"score\": {}, \"explanation\": \"stand-in\"}}\n```",
                    u8::from(correct)
                ),
            )
        }
    }
}

fn completion(content: &str) -> Response {
    let body = json!({
        "id": "chatcmpl-standin",
        "object": "chat.completion",
        "model": "judge",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 100, "completion_tokens": 20, "total_tokens": 120}
    });
    (
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

async fn complete(State(judge): State<Arc<Judge>>, headers: HeaderMap, body: Bytes) -> Response {
    if let Some(delay) = judge.faults.delay {
        tokio::time::sleep(delay).await;
    }
    let request: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(
        request["temperature"],
        json!(0),
        "the judge is asked at temperature 0"
    );
    let system = request["messages"][0]["content"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let user = request["messages"][1]["content"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let metric = if system.contains("\"relevant\" or \"irrelevant\"") {
        "relevance"
    } else if system.contains("\"faithful\" or \"hallucinated\"") {
        "faithfulness"
    } else if system.contains("\"correct\" or \"incorrect\"") {
        "correctness"
    } else {
        "custom"
    };
    let (ordinal, attempt) = {
        let mut attempts = judge.attempts.lock().unwrap();
        let next = attempts.len();
        let entry = attempts
            .entry(format!("{system}\u{0}{user}"))
            .or_insert((next, 0));
        entry.1 += 1;
        *entry
    };
    judge.seen.lock().unwrap().push(Seen {
        metric,
        question: tagged(&user, "<question>\n", "\n</question>")
            .unwrap_or_default()
            .to_owned(),
        document: tagged(&user, "<document>\n", "\n</document>").map(str::to_owned),
        attempt,
        authorization: headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
    });
    if judge.faults.first_attempt && attempt == 1 {
        match ordinal % 4 {
            0 => {
                return (
                    StatusCode::TOO_MANY_REQUESTS,
                    [(header::RETRY_AFTER, "1")],
                    "slow down",
                )
                    .into_response();
            }
            1 => return (StatusCode::INTERNAL_SERVER_ERROR, "boom").into_response(),
            2 => std::future::pending::<()>().await,
            _ => return (StatusCode::OK, "<html>not a completion</html>").into_response(),
        }
    }
    if judge
        .faults
        .unreadable
        .iter()
        .any(|u| user.contains(u.as_str()))
    {
        return completion("I am not able to decide this one.");
    }
    if metric == "custom" {
        return completion(&custom_verdict(&system, &user));
    }
    completion(&verdict(metric, &user).1)
}

/// A Jaeger api_v3 query service serving the traces of fixture files.
pub struct JaegerStandIn {
    /// Base URL (`http://127.0.0.1:PORT`).
    pub url: String,
    queries: Arc<Mutex<Vec<String>>>,
}

#[derive(Clone)]
struct Store {
    /// (trace ID, service name, start nanos, resourceSpans) per fixture document.
    docs: Arc<Vec<(String, String, u128, Value)>>,
    queries: Arc<Mutex<Vec<String>>>,
}

impl JaegerStandIn {
    /// Serves the documents (one trace each) of these JSON lines files.
    pub async fn start(files: &[&str]) -> Self {
        let mut docs = Vec::new();
        for file in files {
            for line in std::fs::read_to_string(file).unwrap().lines() {
                let doc: Value = serde_json::from_str(line).unwrap();
                let rs = doc.get("result").unwrap_or(&doc)["resourceSpans"].clone();
                let span = &rs[0]["scopeSpans"][0]["spans"][0];
                let service = rs[0]["resource"]["attributes"][0]["value"]["stringValue"]
                    .as_str()
                    .unwrap()
                    .to_owned();
                let id = span["traceId"].as_str().unwrap().to_owned();
                let start: u128 = span["startTimeUnixNano"].as_str().unwrap().parse().unwrap();
                docs.push((id, service, start, rs));
            }
        }
        let queries = Arc::new(Mutex::new(Vec::new()));
        let store = Store {
            docs: Arc::new(docs),
            queries: queries.clone(),
        };
        let app = Router::new()
            .route("/api/v3/traces", get(find))
            .route("/api/v3/traces/{id}", get(get_trace))
            .with_state(store);
        Self {
            url: format!("http://{}", serve(app).await),
            queries,
        }
    }

    /// Query strings of the searches received.
    pub fn queries(&self) -> Vec<String> {
        self.queries.lock().unwrap().clone()
    }
}

fn not_found() -> Response {
    let body = json!({"error": {"httpCode": 404, "message": "No traces found"}});
    (StatusCode::NOT_FOUND, body.to_string()).into_response()
}

fn result(resource_spans: Vec<Value>) -> Response {
    let spans: Vec<Value> = resource_spans
        .into_iter()
        .flat_map(|rs| rs.as_array().unwrap().clone())
        .collect();
    json!({"result": {"resourceSpans": spans}})
        .to_string()
        .into_response()
}

async fn find(State(store): State<Store>, RawQuery(query): RawQuery) -> Response {
    let query = query.unwrap_or_default();
    store.queries.lock().unwrap().push(query.clone());
    let params: HashMap<String, String> = url::form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect();
    let nanos = |key: &str| -> u128 {
        let text = &params[key];
        let t: k8s_openapi::jiff::Timestamp = text.parse().unwrap();
        t.as_nanosecond() as u128
    };
    let (min, max) = (nanos("query.start_time_min"), nanos("query.start_time_max"));
    let service = &params["query.service_name"];
    assert!(params["query.num_traces"].parse::<u32>().unwrap() > 0);
    let found: Vec<Value> = store
        .docs
        .iter()
        .filter(|(_, s, start, _)| s == service && (min..=max).contains(start))
        .map(|(_, _, _, rs)| rs.clone())
        .collect();
    if found.is_empty() {
        return not_found();
    }
    result(found)
}

async fn get_trace(State(store): State<Store>, Path(id): Path<String>) -> Response {
    match store.docs.iter().find(|(i, ..)| *i == id) {
        Some((_, _, _, rs)) => result(vec![rs.clone()]),
        None => not_found(),
    }
}
