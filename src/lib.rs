//! traceval: a Kubernetes operator that runs Python LLM services with a
//! tracing probe (`TracedService`) and evaluates their traces.

pub mod api;
pub mod cli;
pub mod evaluate;
pub mod operator;
pub mod resources;
