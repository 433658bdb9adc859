//! The OpenAI-compatible chat completions client:
//! `POST {baseURL}/chat/completions`, temperature 0, bearer token.
//!
//! Each attempt: a concurrency permit (tokio `Semaphore`), a turn from the
//! rate limiter, a per-request timeout; the permit is given back before a
//! retry waits. 429 halves the rate for everyone, and the request that got
//! it waits its `Retry-After` (or a backoff) alone; 5xx, 408, timeouts,
//! connection errors and bodies that are not a chat completion are retried
//! with exponential backoff and jitter, at most `max_retries` times per
//! request, and over the run at most `retry_budget` + `retry_ratio` × the
//! questions asked so far. Other 4xx are not retried.

use std::sync::atomic::{AtomicU64, Ordering};

use reqwest::header::{AUTHORIZATION, HeaderValue, RETRY_AFTER};
use secrecy::ExposeSecret;
use serde::Deserialize;
use serde_json::json;
use tokio::sync::Semaphore;
use url::Url;

use super::config::{ConfigError, JudgeConfig};
use super::limiter::{RateLimiter, backoff, parse_retry_after};
use super::parse::{NotParsable, Verdict, parse_reply};
use super::prompts::Prompt;
use crate::api::evaluationtask::JudgeUsage;

/// Why a judge request produced no verdict.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum JudgeError {
    /// The reply's label could not be read.
    #[error(transparent)]
    NotParsable(#[from] NotParsable),
    /// The request failed after its retries (or the run's retry budget ran out).
    #[error("judge request failed after {attempts} attempt(s): {reason}")]
    Failed {
        /// Requests sent.
        attempts: u32,
        /// The last failure.
        reason: String,
        /// Whether the judge itself answered the last attempt (an HTTP
        /// error of its own, or a reply that is not a chat completion), so
        /// it is up and refused this question; not when the request timed
        /// out, could not connect, or a gateway answered 502/503/504.
        reached: bool,
    },
}

/// The judge: a client with its pacing and counters.
#[derive(Debug)]
pub struct Judge {
    http: reqwest::Client,
    url: Url,
    config: JudgeConfig,
    permits: Semaphore,
    limiter: RateLimiter,
    counters: Counters,
}

#[derive(Debug, Default)]
struct Counters {
    asked: AtomicU64,
    retries_taken: AtomicU64,
    requests: AtomicU64,
    retries: AtomicU64,
    not_parsable: AtomicU64,
    prompt_tokens: AtomicU64,
    completion_tokens: AtomicU64,
    total_tokens: AtomicU64,
}

/// One failed attempt.
enum Attempt {
    /// 429, with its `Retry-After`.
    Throttled(Option<std::time::Duration>),
    /// Worth retrying; `true` when the judge itself answered.
    Transient(String, bool),
    /// Not worth retrying; `true` when the judge itself answered.
    Fatal(String, bool),
}

#[derive(Deserialize)]
struct Completion {
    choices: Vec<Choice>,
    #[serde(default)]
    usage: Option<Usage>,
}

#[derive(Deserialize)]
struct Choice {
    message: Message,
}

#[derive(Deserialize)]
struct Message {
    #[serde(default)]
    content: Option<serde_json::Value>,
}

#[derive(Deserialize, Default)]
struct Usage {
    #[serde(default)]
    prompt_tokens: u64,
    #[serde(default)]
    completion_tokens: u64,
    #[serde(default)]
    total_tokens: u64,
}

impl Judge {
    /// A judge for `config`.
    pub fn new(config: JudgeConfig) -> Result<Self, ConfigError> {
        let http = reqwest::Client::builder()
            .build()
            .map_err(|e| ConfigError::Client(e.to_string()))?;
        Ok(Self {
            http,
            url: config.completions_url()?,
            permits: Semaphore::new(config.max_concurrency.max(1)),
            limiter: RateLimiter::new(config.requests_per_second),
            counters: Counters::default(),
            config,
        })
    }

    /// Asks one question; retries as described in the module documentation.
    pub async fn ask(&self, prompt: &Prompt) -> Result<Verdict, JudgeError> {
        self.counters.asked.fetch_add(1, Ordering::Relaxed);
        let mut attempt = 0u32;
        loop {
            let sent = {
                // Held for the request only, not while a retry waits.
                let _permit = self
                    .permits
                    .acquire()
                    .await
                    .map_err(|e| JudgeError::Failed {
                        attempts: attempt,
                        reason: e.to_string(),
                        reached: false,
                    })?;
                self.limiter.acquire().await;
                self.counters.requests.fetch_add(1, Ordering::Relaxed);
                self.send(prompt).await
            };
            let failure = match sent {
                Ok(reply) => {
                    self.limiter.succeeded();
                    return parse_reply(&reply, &prompt.rails).map_err(|e| {
                        self.counters.not_parsable.fetch_add(1, Ordering::Relaxed);
                        tracing::warn!(metric = &*prompt.metric, error = %e, "judge reply not parsable");
                        JudgeError::from(e)
                    });
                }
                Err(failure) => failure,
            };
            let (reason, wait, reached) = match failure {
                Attempt::Fatal(reason, reached) => {
                    return Err(JudgeError::Failed {
                        attempts: attempt + 1,
                        reason,
                        reached,
                    });
                }
                Attempt::Throttled(retry_after) => {
                    self.limiter.throttled();
                    let wait = retry_after.unwrap_or_else(|| self.backoff(attempt));
                    ("429 Too Many Requests".to_owned(), wait, false)
                }
                Attempt::Transient(reason, reached) => {
                    let wait = self.backoff(attempt);
                    (reason, wait, reached)
                }
            };
            if attempt >= self.config.max_retries || !self.take_budget() {
                let reason = if attempt >= self.config.max_retries {
                    reason
                } else {
                    format!("{reason} (the run's retry budget is spent)")
                };
                return Err(JudgeError::Failed {
                    attempts: attempt + 1,
                    reason,
                    reached,
                });
            }
            tracing::debug!(metric = &*prompt.metric, attempt, %reason, ?wait, "retrying judge request");
            self.counters.retries.fetch_add(1, Ordering::Relaxed);
            attempt += 1;
            tokio::time::sleep(wait).await;
        }
    }

    /// [`Judge::ask`] taking the prompt by value, for futures that outlive the caller's borrow.
    pub async fn ask_owned(&self, prompt: Prompt) -> Result<Verdict, JudgeError> {
        self.ask(&prompt).await
    }

    fn backoff(&self, attempt: u32) -> std::time::Duration {
        backoff(attempt, self.config.backoff_base, self.config.backoff_cap)
    }

    /// Takes one retry from the run's budget, if it has one left.
    fn take_budget(&self) -> bool {
        let asked = self.counters.asked.load(Ordering::Relaxed);
        self.counters
            .retries_taken
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |taken| {
                retry_allowed(
                    taken,
                    asked,
                    self.config.retry_budget,
                    self.config.retry_ratio,
                )
                .then_some(taken + 1)
            })
            .is_ok()
    }

    async fn send(&self, prompt: &Prompt) -> Result<String, Attempt> {
        let body = json!({
            "model": self.config.model,
            "temperature": 0,
            "messages": [
                {"role": "system", "content": prompt.system},
                {"role": "user", "content": prompt.user},
            ],
        });
        let mut request = self
            .http
            .post(self.url.clone())
            .timeout(self.config.timeout)
            .json(&body);
        if let Some(token) = &self.config.token {
            let mut value = HeaderValue::try_from(format!("Bearer {}", token.expose_secret()))
                .map_err(|_| {
                    Attempt::Fatal("the judge token is not a valid header value".into(), false)
                })?;
            value.set_sensitive(true);
            request = request.header(AUTHORIZATION, value);
        }
        let response = request.send().await.map_err(|e| transport(&e))?;
        let status = response.status();
        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(parse_retry_after);
        let bytes = response.bytes().await.map_err(|e| transport(&e))?;
        if status.as_u16() == 429 {
            return Err(Attempt::Throttled(retry_after));
        }
        if !status.is_success() {
            let snippet: String = String::from_utf8_lossy(&bytes).chars().take(200).collect();
            let reason = format!("HTTP {status}: {snippet}");
            // A gateway's 502/503/504 says the judge behind it is down; any
            // other status is the judge's own answer to this question.
            let reached = !matches!(status.as_u16(), 502..=504);
            return Err(if status.is_server_error() || status.as_u16() == 408 {
                Attempt::Transient(reason, reached)
            } else {
                Attempt::Fatal(reason, reached)
            });
        }
        let completion: Completion = serde_json::from_slice(&bytes).map_err(|e| {
            Attempt::Transient(format!("the reply is not a chat completion: {e}"), true)
        })?;
        let usage = completion.usage.unwrap_or_default();
        self.counters
            .prompt_tokens
            .fetch_add(usage.prompt_tokens, Ordering::Relaxed);
        self.counters
            .completion_tokens
            .fetch_add(usage.completion_tokens, Ordering::Relaxed);
        self.counters
            .total_tokens
            .fetch_add(usage.total_tokens, Ordering::Relaxed);
        let content = completion
            .choices
            .into_iter()
            .next()
            .and_then(|c| c.message.content)
            .ok_or_else(|| {
                Attempt::Transient("the reply has no choices[0].message.content".into(), true)
            })?;
        Ok(text_of(content))
    }

    /// Requests, retries, unreadable replies and tokens so far.
    pub fn usage(&self) -> JudgeUsage {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        JudgeUsage {
            requests: get(&self.counters.requests),
            retries: get(&self.counters.retries),
            not_parsable: get(&self.counters.not_parsable),
            prompt_tokens: get(&self.counters.prompt_tokens),
            completion_tokens: get(&self.counters.completion_tokens),
            total_tokens: get(&self.counters.total_tokens),
        }
    }

    /// Requests in flight allowed at once.
    pub fn max_concurrency(&self) -> usize {
        self.config.max_concurrency
    }
}

/// Whether one more retry fits a run's budget: `taken` so far, below
/// `floor` + `ratio` × `asked`.
fn retry_allowed(taken: u64, asked: u64, floor: u32, ratio: f64) -> bool {
    (taken as f64) < f64::from(floor) + ratio.max(0.0) * asked as f64
}

fn transport(error: &reqwest::Error) -> Attempt {
    if error.is_timeout() {
        Attempt::Transient("timed out".into(), false)
    } else if error.is_connect() {
        Attempt::Transient(format!("cannot connect: {error}"), false)
    } else if error.is_builder() {
        Attempt::Fatal(error.to_string(), false)
    } else {
        Attempt::Transient(error.to_string(), false)
    }
}

/// Message content: a string, or a list of parts (`{"type":"text","text":..}`).
fn text_of(content: serde_json::Value) -> String {
    match content {
        serde_json::Value::String(s) => s,
        serde_json::Value::Array(parts) => parts
            .iter()
            .filter_map(|p| p.get("text").and_then(|t| t.as_str()))
            .collect::<Vec<_>>()
            .join(""),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests;
