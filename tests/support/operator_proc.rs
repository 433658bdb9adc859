//! The real `traceval operator` binary as a child process of a test, with
//! its /metrics read back: reconciles, and API requests by verb and
//! resource (`traceval_kube_requests_total`). Killed when dropped.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use super::procs::free_port;

const BIN: &str = env!("CARGO_BIN_EXE_traceval");

/// One `traceval operator` process.
pub struct OperatorProc {
    pub identity: String,
    pub child: Child,
    pub base_url: String,
    pub log: PathBuf,
}

impl OperatorProc {
    /// Starts `traceval operator --namespace NAMESPACE --instance IDENTITY`
    /// with `extra` arguments and `env` added to the test's environment;
    /// stderr goes to `LOGS/IDENTITY.log` (appended, so restarts keep one log).
    pub fn start(
        identity: &str,
        namespace: &str,
        extra: &[&str],
        env: &[(&str, &str)],
        logs: &Path,
    ) -> Self {
        let port = free_port();
        let log = logs.join(format!("{identity}.log"));
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .expect("operator log file");
        let child = Command::new(BIN)
            .args(["operator", "--namespace", namespace, "--instance", identity])
            .args(extra)
            .arg("--http-addr")
            .arg(format!("127.0.0.1:{port}"))
            .env(
                "RUST_LOG",
                std::env::var("TRACEVAL_TEST_OPERATOR_LOG").unwrap_or_else(|_| "info".into()),
            )
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(file)
            .spawn()
            .expect("start traceval operator");
        Self {
            identity: identity.to_owned(),
            child,
            base_url: format!("http://127.0.0.1:{port}"),
            log,
        }
    }

    /// The process ID.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Whether the process is still running (it never exits on its own).
    pub fn running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// SIGKILL, and reap it.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The HTTP status of `path`, `None` while the server is not up.
    pub async fn status_of(&self, path: &str) -> Option<u16> {
        let response = reqwest::get(format!("{}{path}", self.base_url))
            .await
            .ok()?;
        Some(response.status().as_u16())
    }

    /// The metrics page, `None` while the server is not up.
    pub async fn metrics(&self) -> Option<String> {
        reqwest::get(format!("{}/metrics", self.base_url))
            .await
            .ok()?
            .error_for_status()
            .ok()?
            .text()
            .await
            .ok()
    }

    /// The metrics page; fails the test when it cannot be read.
    pub async fn scrape(&self) -> Metrics {
        let text = self.metrics().await.unwrap_or_else(|| {
            panic!(
                "GET {}/metrics failed (log: {})",
                self.base_url,
                self.log.display()
            )
        });
        Metrics(text)
    }
}

impl Drop for OperatorProc {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A scraped metrics page.
#[derive(Clone, Debug, Default)]
pub struct Metrics(pub String);

impl Metrics {
    /// Sum of the `*_reconciles_total` counters (TracedService and EvaluationTask, all outcomes).
    pub fn reconciles(&self) -> u64 {
        self.samples()
            .filter(|(name, _, _)| name.ends_with("_reconciles_total"))
            .map(|(_, _, value)| value)
            .sum()
    }

    /// Sum of `traceval_kube_requests_total` over the label sets `keep` accepts (verb, resource).
    pub fn requests(&self, keep: impl Fn(&str, &str) -> bool) -> u64 {
        self.samples()
            .filter(|(name, _, _)| *name == "traceval_kube_requests_total")
            .filter(|(_, labels, _)| keep(label(labels, "verb"), label(labels, "resource")))
            .map(|(_, _, value)| value)
            .sum()
    }

    /// Writes (create, update, patch, delete) except to Leases and Events:
    /// what only a leader does.
    pub fn leader_writes(&self) -> u64 {
        self.requests(|verb, resource| {
            is_write(verb) && resource != "leases" && resource != "events"
        })
    }

    fn samples(&self) -> impl Iterator<Item = (&str, &str, u64)> {
        self.0
            .lines()
            .filter(|l| !l.starts_with('#'))
            .filter_map(|line| {
                let (series, value) = line.rsplit_once(' ')?;
                let value = value.parse::<f64>().ok()? as u64;
                let (name, labels) = match series.split_once('{') {
                    Some((name, labels)) => (name, labels.trim_end_matches('}')),
                    None => (series, ""),
                };
                Some((name, labels, value))
            })
    }
}

/// Whether `verb` changes objects.
pub fn is_write(verb: &str) -> bool {
    matches!(
        verb,
        "create" | "update" | "patch" | "delete" | "deletecollection"
    )
}

fn label<'a>(labels: &'a str, key: &str) -> &'a str {
    labels
        .split(',')
        .find_map(|pair| pair.strip_prefix(key)?.strip_prefix("=\""))
        .map(|value| value.trim_end_matches('"'))
        .unwrap_or_default()
}
