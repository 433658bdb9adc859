//! Judge settings: presets, overrides and the token.
//!
//! Presets (both overridable with `model` and `baseURL`):
//! - `qwen-max`: Model Studio's DashScope compatible mode,
//!   `https://dashscope.aliyuncs.com/compatible-mode/v1`, model `qwen-max`.
//! - `pai-judge`: PAI's LLM-as-a-Judge service, which speaks the OpenAI chat
//!   completions protocol at `https://aiservice.cn-hangzhou.aliyuncs.com/v1`
//!   with models `pai-judge` and `pai-judge-plus`. Assumed: it accepts our own
//!   prompts as plain chat messages (its "custom template" use); other
//!   regions or a dedicated host go in `baseURL`.
//!
//! The token is read from `TRACEVAL_JUDGE_TOKEN`, else from the file named
//! by `TRACEVAL_JUDGE_TOKEN_FILE`, else (qwen-max only) `DASHSCOPE_API_KEY`.
//! It lives in a [`SecretString`]: never logged, redacted in `Debug`.

use std::time::Duration;

use secrecy::SecretString;
use url::Url;

use crate::api::evaluationtask::{JudgeProvider, JudgeSpec};

/// DashScope's OpenAI-compatible endpoint (the `qwen-max` preset).
pub const QWEN_MAX_BASE_URL: &str = "https://dashscope.aliyuncs.com/compatible-mode/v1";
/// Model of the `qwen-max` preset.
pub const QWEN_MAX_MODEL: &str = "qwen-max";
/// PAI's judge service endpoint (the `pai-judge` preset).
pub const PAI_JUDGE_BASE_URL: &str = "https://aiservice.cn-hangzhou.aliyuncs.com/v1";
/// Model of the `pai-judge` preset.
pub const PAI_JUDGE_MODEL: &str = "pai-judge";
/// Environment variable holding the judge token (in-cluster: a secretKeyRef).
pub use crate::api::evaluationtask::TOKEN_ENV;
/// Environment variable naming a file that holds the judge token.
pub const TOKEN_FILE_ENV: &str = "TRACEVAL_JUDGE_TOKEN_FILE";
/// The DashScope SDK's own variable, accepted for the `qwen-max` preset.
pub const DASHSCOPE_KEY_ENV: &str = "DASHSCOPE_API_KEY";

/// Default time limit of one judge request.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);
/// Default judge requests in flight.
pub const DEFAULT_CONCURRENCY: usize = 16;
/// Default request rate ceiling, per second.
pub const DEFAULT_RATE: f64 = 10.0;
/// Default retries of one request.
pub const DEFAULT_MAX_RETRIES: u32 = 4;
/// Retries allowed over a whole run on top of [`DEFAULT_RETRY_RATIO`] of
/// the questions asked, so that a judge that is down fails the run quickly
/// instead of every request waiting out all its retries, while a long run
/// against a judge that throttles some requests keeps going.
pub const DEFAULT_RETRY_BUDGET: u32 = 200;
/// Retries allowed over a whole run per question asked (see [`DEFAULT_RETRY_BUDGET`]).
pub const DEFAULT_RETRY_RATIO: f64 = 0.2;

/// An unusable judge setting.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The base URL does not parse or is not http(s).
    #[error("judge base URL {url:?}: {message}")]
    BaseUrl {
        /// As given.
        url: String,
        /// What is wrong.
        message: String,
    },
    /// `openai-compatible` without base URL or model.
    #[error("judge provider openai-compatible needs {0}")]
    Missing(&'static str),
    /// The token file could not be read.
    #[error("cannot read the judge token file {path}: {source}")]
    TokenFile {
        /// The file.
        path: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The HTTP client could not be built.
    #[error("cannot build the HTTP client: {0}")]
    Client(String),
}

/// Everything the judge client needs.
#[derive(Debug, Clone)]
pub struct JudgeConfig {
    /// Base URL; requests go to `{base_url}/chat/completions`.
    pub base_url: Url,
    /// Model name.
    pub model: String,
    /// Bearer token, if any.
    pub token: Option<SecretString>,
    /// Time limit of one request.
    pub timeout: Duration,
    /// Requests in flight at once.
    pub max_concurrency: usize,
    /// Requests started per second at most.
    pub requests_per_second: f64,
    /// Retries of one request.
    pub max_retries: u32,
    /// Retries over the whole run, on top of `retry_ratio` per question asked.
    pub retry_budget: u32,
    /// Retries over the whole run per question asked.
    pub retry_ratio: f64,
    /// First backoff delay; doubled on each retry, with jitter.
    pub backoff_base: Duration,
    /// Longest backoff delay.
    pub backoff_cap: Duration,
}

impl JudgeConfig {
    /// Resolves a task's judge settings: the preset `provider` (the spec's,
    /// or the default when it names none), then the spec's overrides, then
    /// `base_url_override` (the CLI's `--judge-url`).
    pub fn from_spec(
        spec: &JudgeSpec,
        provider: JudgeProvider,
        base_url_override: Option<&str>,
        token: Option<SecretString>,
    ) -> Result<Self, ConfigError> {
        let (preset_url, preset_model) = match provider {
            JudgeProvider::QwenMax => (Some(QWEN_MAX_BASE_URL), Some(QWEN_MAX_MODEL)),
            JudgeProvider::PaiJudge => (Some(PAI_JUDGE_BASE_URL), Some(PAI_JUDGE_MODEL)),
            JudgeProvider::OpenAiCompatible => (None, None),
        };
        let url = base_url_override
            .or(spec.base_url.as_deref())
            .or(preset_url)
            .ok_or(ConfigError::Missing("baseURL"))?;
        let model = spec
            .model
            .as_deref()
            .or(preset_model)
            .ok_or(ConfigError::Missing("model"))?;
        Ok(Self {
            base_url: parse_base_url(url)?,
            model: model.to_owned(),
            token,
            timeout: spec.timeout_seconds.map_or(DEFAULT_TIMEOUT, |s| {
                Duration::from_secs(u64::from(s.max(1)))
            }),
            max_concurrency: spec
                .max_concurrency
                .map_or(DEFAULT_CONCURRENCY, |c| c.max(1) as usize),
            requests_per_second: spec
                .requests_per_second
                .map_or(DEFAULT_RATE, |r| f64::from(r.max(1))),
            max_retries: spec.max_retries.unwrap_or(DEFAULT_MAX_RETRIES),
            retry_budget: DEFAULT_RETRY_BUDGET,
            retry_ratio: DEFAULT_RETRY_RATIO,
            backoff_base: Duration::from_millis(250),
            backoff_cap: Duration::from_secs(20),
        })
    }

    /// `{base_url}/chat/completions`.
    pub fn completions_url(&self) -> Result<Url, ConfigError> {
        self.base_url
            .join("chat/completions")
            .map_err(|e| ConfigError::BaseUrl {
                url: self.base_url.to_string(),
                message: e.to_string(),
            })
    }
}

fn parse_base_url(raw: &str) -> Result<Url, ConfigError> {
    let error = |message: String| ConfigError::BaseUrl {
        url: raw.to_owned(),
        message,
    };
    let mut url = Url::parse(raw).map_err(|e| error(e.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(error("expected an http:// or https:// URL".into()));
    }
    // A trailing slash makes `join` append rather than replace the last segment.
    if !url.path().ends_with('/') {
        let path = format!("{}/", url.path());
        url.set_path(&path);
    }
    Ok(url)
}

/// Reads the judge token from the environment (see the module documentation).
pub fn token_from_env(provider: JudgeProvider) -> Result<Option<SecretString>, ConfigError> {
    let non_empty = |s: String| {
        let trimmed = s.trim();
        (!trimmed.is_empty()).then(|| SecretString::from(trimmed.to_owned()))
    };
    if let Some(token) = std::env::var(TOKEN_ENV).ok().and_then(non_empty) {
        return Ok(Some(token));
    }
    if let Some(path) = std::env::var_os(TOKEN_FILE_ENV) {
        let text = std::fs::read_to_string(&path).map_err(|source| ConfigError::TokenFile {
            path: path.to_string_lossy().into_owned(),
            source,
        })?;
        return Ok(non_empty(text));
    }
    if provider == JudgeProvider::QwenMax {
        return Ok(std::env::var(DASHSCOPE_KEY_ENV).ok().and_then(non_empty));
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(provider: JudgeProvider) -> JudgeSpec {
        JudgeSpec {
            provider: Some(provider),
            model: None,
            base_url: None,
            token_secret_ref: None,
            timeout_seconds: None,
            max_concurrency: None,
            requests_per_second: None,
            max_retries: None,
        }
    }

    #[test]
    fn presets_and_overrides() {
        let qwen = JudgeConfig::from_spec(
            &spec(JudgeProvider::QwenMax),
            JudgeProvider::QwenMax,
            None,
            None,
        )
        .unwrap();
        assert_eq!(
            qwen.completions_url().unwrap().as_str(),
            "https://dashscope.aliyuncs.com/compatible-mode/v1/chat/completions"
        );
        assert_eq!(qwen.model, "qwen-max");
        assert_eq!(qwen.max_concurrency, 16);

        let pai = JudgeConfig::from_spec(
            &spec(JudgeProvider::PaiJudge),
            JudgeProvider::PaiJudge,
            None,
            None,
        )
        .unwrap();
        assert_eq!(pai.model, "pai-judge");
        assert!(pai.base_url.as_str().starts_with(PAI_JUDGE_BASE_URL));

        let mut custom = spec(JudgeProvider::PaiJudge);
        custom.model = Some("pai-judge-plus".into());
        custom.base_url = Some("http://judge.internal/v1".into());
        let c = JudgeConfig::from_spec(
            &custom,
            JudgeProvider::PaiJudge,
            Some("http://127.0.0.1:9/v1/"),
            None,
        )
        .unwrap();
        assert_eq!(c.model, "pai-judge-plus");
        assert_eq!(
            c.completions_url().unwrap().as_str(),
            "http://127.0.0.1:9/v1/chat/completions"
        );

        assert!(matches!(
            JudgeConfig::from_spec(
                &spec(JudgeProvider::OpenAiCompatible),
                JudgeProvider::OpenAiCompatible,
                None,
                None
            ),
            Err(ConfigError::Missing("baseURL"))
        ));
        assert!(
            JudgeConfig::from_spec(
                &spec(JudgeProvider::QwenMax),
                JudgeProvider::QwenMax,
                Some("ftp://x"),
                None
            )
            .is_err()
        );
    }

    #[test]
    fn a_spec_without_provider_takes_the_default_preset_with_its_overrides() {
        let mut unnamed = spec(JudgeProvider::QwenMax);
        unnamed.provider = None;
        unnamed.model = Some("qwen-plus".into());
        let c = JudgeConfig::from_spec(&unnamed, JudgeProvider::QwenMax, None, None).unwrap();
        assert_eq!(c.model, "qwen-plus");
        assert!(c.base_url.as_str().starts_with(QWEN_MAX_BASE_URL));
        assert!(matches!(
            JudgeConfig::from_spec(&unnamed, JudgeProvider::OpenAiCompatible, None, None),
            Err(ConfigError::Missing("baseURL"))
        ));
    }

    #[test]
    fn token_is_redacted_in_debug() {
        let config = JudgeConfig::from_spec(
            &spec(JudgeProvider::QwenMax),
            JudgeProvider::QwenMax,
            None,
            Some(SecretString::from("sk-very-secret".to_owned())),
        )
        .unwrap();
        let debug = format!("{config:?}");
        assert!(!debug.contains("sk-very-secret"), "{debug}");
    }
}
