//! The judge: an OpenAI-compatible chat completions client with presets,
//! the prompts, and the reply parser.

pub mod client;
pub mod config;
pub mod limiter;
pub mod parse;
pub mod prompts;

pub use self::client::{Judge, JudgeError};
pub use self::config::{ConfigError, JudgeConfig, token_from_env};
pub use self::parse::{NotParsable, Rails, Verdict, parse_reply};
pub use self::prompts::{Metric, Prompt};
