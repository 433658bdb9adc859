//! The judge: an OpenAI-compatible chat completions client with presets,
//! the prompts, and the reply parser.

pub mod client;
pub mod config;
pub mod limiter;
pub mod parse;
pub mod prompts;
pub mod template;

pub use self::client::{Judge, JudgeError};
pub use self::config::{ConfigError, JudgeConfig, token_from_env};
pub use self::parse::{NotParsable, Rail, Rails, Verdict, parse_reply};
pub use self::prompts::{Builtins, JudgeMetric, Prompt};
pub use self::template::{Fields, Template, TemplateError};
