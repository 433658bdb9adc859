//! Sizes from the environment (CI defaults small, `make soak` sets the
//! issue's) and the figures each test reports: printed, and appended as one
//! JSON line per round to the file `TRACEVAL_RELIABILITY_OUT` names, from
//! which `tests/reliability/render` writes bench/RELIABILITY.md.

use std::io::Write;

use serde_json::{Value, json};

/// A number from the environment, or `default`.
pub fn env_or(name: &str, default: u64) -> u64 {
    match std::env::var(name) {
        Ok(value) => value
            .parse()
            .unwrap_or_else(|_| panic!("{name}={value:?} is not a number")),
        Err(_) => default,
    }
}

/// Prints the figures of one round of `test` and appends them to the results file.
pub fn record(test: &str, figures: Value) {
    let mut line = json!({"test": test});
    if let (Some(line), Value::Object(figures)) = (line.as_object_mut(), figures) {
        line.extend(figures);
    }
    println!("FIGURES {line}");
    if let Ok(path) = std::env::var("TRACEVAL_RELIABILITY_OUT") {
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .unwrap_or_else(|e| panic!("open {path}: {e}"));
        writeln!(file, "{line}").unwrap_or_else(|e| panic!("write {path}: {e}"));
    }
}
