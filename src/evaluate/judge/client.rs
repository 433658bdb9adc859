//! The OpenAI-compatible chat completions client:
//! `POST {baseURL}/chat/completions`, temperature 0, bearer token.
//!
//! Each request: a concurrency permit (tokio `Semaphore`), a turn from the
//! rate limiter, a per-request timeout. 429 halves the rate and waits
//! `Retry-After` (or a backoff); 5xx, 408, timeouts, connection errors and
//! bodies that are not a chat completion are retried with exponential
//! backoff and jitter, at most `max_retries` times per request and
//! `retry_budget` times per run. Other 4xx are not retried.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

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
    budget: AtomicU32,
    counters: Counters,
}

#[derive(Debug, Default)]
struct Counters {
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
    /// Worth retrying.
    Transient(String),
    /// Not worth retrying.
    Fatal(String),
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
            budget: AtomicU32::new(config.retry_budget),
            counters: Counters::default(),
            config,
        })
    }

    /// Asks one question; retries as described in the module documentation.
    pub async fn ask(&self, prompt: &Prompt) -> Result<Verdict, JudgeError> {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|e| JudgeError::Failed {
                attempts: 0,
                reason: e.to_string(),
            })?;
        let mut attempt = 0u32;
        loop {
            self.limiter.acquire().await;
            self.counters.requests.fetch_add(1, Ordering::Relaxed);
            let failure = match self.send(prompt).await {
                Ok(reply) => {
                    self.limiter.succeeded();
                    return parse_reply(&reply, &prompt.metric.rails()).map_err(|e| {
                        self.counters.not_parsable.fetch_add(1, Ordering::Relaxed);
                        tracing::warn!(metric = prompt.metric.name(), error = %e, "judge reply not parsable");
                        JudgeError::from(e)
                    });
                }
                Err(failure) => failure,
            };
            let (reason, wait) = match failure {
                Attempt::Fatal(reason) => {
                    return Err(JudgeError::Failed {
                        attempts: attempt + 1,
                        reason,
                    });
                }
                Attempt::Throttled(retry_after) => {
                    self.limiter.throttled(retry_after);
                    let wait = retry_after.unwrap_or_else(|| self.backoff(attempt));
                    ("429 Too Many Requests".to_owned(), wait)
                }
                Attempt::Transient(reason) => {
                    let wait = self.backoff(attempt);
                    (reason, wait)
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
                });
            }
            tracing::debug!(metric = prompt.metric.name(), attempt, %reason, ?wait, "retrying judge request");
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

    fn take_budget(&self) -> bool {
        self.budget
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |b| b.checked_sub(1))
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
                    Attempt::Fatal("the judge token is not a valid header value".into())
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
            return Err(if status.is_server_error() || status.as_u16() == 408 {
                Attempt::Transient(reason)
            } else {
                Attempt::Fatal(reason)
            });
        }
        let completion: Completion = serde_json::from_slice(&bytes)
            .map_err(|e| Attempt::Transient(format!("the reply is not a chat completion: {e}")))?;
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
                Attempt::Transient("the reply has no choices[0].message.content".into())
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

fn transport(error: &reqwest::Error) -> Attempt {
    if error.is_timeout() {
        Attempt::Transient("timed out".into())
    } else if error.is_connect() {
        Attempt::Transient(format!("cannot connect: {error}"))
    } else if error.is_builder() {
        Attempt::Fatal(error.to_string())
    } else {
        Attempt::Transient(error.to_string())
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
mod tests {
    use std::time::Duration;

    use secrecy::SecretString;

    use super::*;
    use crate::evaluate::judge::prompts;

    /// A judge at a loopback port nothing listens on.
    fn unreachable(max_retries: u32, retry_budget: u32) -> Judge {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        Judge::new(JudgeConfig {
            base_url: Url::parse(&format!("http://127.0.0.1:{port}/v1/")).unwrap(),
            model: "m".into(),
            token: Some(SecretString::from("sk-hidden".to_owned())),
            timeout: Duration::from_secs(1),
            max_concurrency: 2,
            requests_per_second: 1000.0,
            max_retries,
            retry_budget,
            backoff_base: Duration::from_millis(1),
            backoff_cap: Duration::from_millis(2),
        })
        .unwrap()
    }

    #[tokio::test]
    async fn retries_per_request_then_fails_with_the_reason() {
        let judge = unreachable(2, 100);
        let err = judge.ask(&prompts::relevance("q", "d")).await.unwrap_err();
        let JudgeError::Failed { attempts, reason } = &err else {
            panic!("{err:?}");
        };
        assert_eq!(*attempts, 3);
        assert!(reason.contains("cannot connect"), "{reason}");
        let usage = judge.usage();
        assert_eq!((usage.requests, usage.retries), (3, 2));
        assert!(!format!("{judge:?}").contains("sk-hidden"));
    }

    #[tokio::test]
    async fn the_run_wide_retry_budget_stops_retries() {
        let judge = unreachable(5, 1);
        let first = judge.ask(&prompts::relevance("q", "d1")).await.unwrap_err();
        assert!(
            matches!(first, JudgeError::Failed { attempts: 2, .. }),
            "{first:?}"
        );
        let second = judge.ask(&prompts::relevance("q", "d2")).await.unwrap_err();
        assert!(
            matches!(&second, JudgeError::Failed { attempts: 1, reason } if reason.contains("retry budget")),
            "{second:?}"
        );
    }

    #[test]
    fn content_parts_are_joined() {
        assert_eq!(text_of(serde_json::json!("x")), "x");
        assert_eq!(
            text_of(
                serde_json::json!([{"type": "text", "text": "a"}, {"type": "text", "text": "b"}])
            ),
            "ab"
        );
    }
}
