//! `spec.judge`: the judge model an EvaluationTask asks, its presets and
//! their names on the command line.

use kube::KubeSchema;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::SecretKeyRef;

/// The judge model.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("!has(self.provider) || self.provider != 'openai-compatible' || (has(self.baseURL) && has(self.model))").message(
    "provider openai-compatible needs baseURL and model"
))]
pub struct JudgeSpec {
    /// `qwen-max` and `pai-judge` are presets (base URL and model filled in);
    /// `openai-compatible` is any chat-completions endpoint. Unset: the
    /// operator's default preset (`traceval operator --default-judge-preset`);
    /// the task is invalid when the operator has none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<JudgeProvider>,

    /// Model name; overrides the preset's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 256))]
    pub model: Option<String>,

    /// Base URL of the OpenAI-compatible API (`.../v1`); overrides the preset's.
    #[serde(default, rename = "baseURL", skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 2048))]
    #[x_kube(validation = Rule::new("self.startsWith('http://') || self.startsWith('https://')")
        .message("baseURL must be an http:// or https:// URL"))]
    pub base_url: Option<String>,

    /// The API token (sent as a bearer token); none when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_secret_ref: Option<SecretKeyRef>,

    /// Time limit of one judge request, in seconds (default 60).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 600))]
    pub timeout_seconds: Option<u32>,

    /// Judge requests in flight at once (default 16).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 256))]
    pub max_concurrency: Option<u32>,

    /// Judge requests started per second at most (default 10); halved on
    /// each 429 and slowly restored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 1000))]
    pub requests_per_second: Option<u32>,

    /// Retries of one request on 429, 5xx and timeouts (default 4).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 20))]
    pub max_retries: Option<u32>,
}

// Judge presets. (A plain comment: kube hoists this enum's schema into the
// optional `spec.judge.provider`, and a doc comment here would replace that
// field's description in the CRD.)
#[derive(JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub enum JudgeProvider {
    /// Any OpenAI-compatible chat completions API (`baseURL` and `model` required).
    #[serde(rename = "openai-compatible")]
    OpenAiCompatible,
    /// Alibaba Cloud Model Studio's `qwen-max` in DashScope compatible mode.
    #[serde(rename = "qwen-max")]
    QwenMax,
    /// PAI's judge model (the seed's "PAI Judge model").
    #[serde(rename = "pai-judge")]
    PaiJudge,
}

impl JudgeProvider {
    /// Every provider, in the order of the CRD's enum.
    pub const ALL: [Self; 3] = [Self::OpenAiCompatible, Self::QwenMax, Self::PaiJudge];

    /// The name in YAML (`spec.judge.provider`) and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::OpenAiCompatible => "openai-compatible",
            Self::QwenMax => "qwen-max",
            Self::PaiJudge => "pai-judge",
        }
    }
}

impl std::fmt::Display for JudgeProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// On the command line (`--default-judge-preset`): the same names, listed in
/// `--help` and in the error for any other.
impl clap::ValueEnum for JudgeProvider {
    fn value_variants<'a>() -> &'a [Self] {
        &Self::ALL
    }

    fn to_possible_value(&self) -> Option<clap::builder::PossibleValue> {
        Some(clap::builder::PossibleValue::new(self.as_str()))
    }
}
