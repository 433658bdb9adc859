//! Helpers of `tests/live/helm_chart.rs`: running `helm` and `kubectl` from PATH
//! (put there by `tests/cluster/up`), reading rendered manifests, and
//! throw-away namespaces and releases that clean up after themselves.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde::Deserialize;
use serde_yaml::Value;

/// How long a test waits for the cluster to converge before it fails.
pub const DEADLINE: Duration = Duration::from_secs(90);

/// The repository root.
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The chart directory.
pub fn chart() -> PathBuf {
    repo().join("charts/traceval")
}

/// Runs `program` with `args`, feeding `stdin`. Fails the test with a clear
/// message when the program is not on PATH: these tests never skip.
pub fn run(program: &str, args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(program)
        .args(args)
        .current_dir(repo())
        .stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run `{program}` ({e}): start the local cluster with \
                 `eval \"$(tests/cluster/up)\"`, which builds helm and kubectl and puts them on PATH"
            )
        });
    if let Some(input) = stdin {
        let mut pipe = child.stdin.take().expect("stdin is piped");
        pipe.write_all(input.as_bytes()).expect("write stdin");
    }
    child.wait_with_output().expect("wait for child")
}

/// Runs `program` and returns its stdout; fails the test when it exits non-zero.
pub fn ok(program: &str, args: &[&str], stdin: Option<&str>) -> String {
    let out = run(program, args, stdin);
    assert!(
        out.status.success(),
        "`{program} {}` failed ({}):\n--- stderr\n{}\n--- stdout\n{}",
        args.join(" "),
        out.status,
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout),
    );
    String::from_utf8(out.stdout).expect("utf-8 output")
}

/// `kubectl`, after checking that KUBECONFIG points somewhere.
pub fn kubectl(args: &[&str], stdin: Option<&str>) -> String {
    assert!(
        std::env::var_os("KUBECONFIG").is_some(),
        "KUBECONFIG is not set: start the local cluster with `eval \"$(tests/cluster/up)\"`"
    );
    ok("kubectl", args, stdin)
}

/// `helm template <release> charts/traceval -n <namespace> --set ...`.
pub fn template(release: &str, namespace: &str, sets: &[&str], include_crds: bool) -> String {
    let chart = chart();
    let chart = chart.to_str().expect("utf-8 path");
    let mut args = vec!["template", release, chart, "--namespace", namespace];
    if include_crds {
        args.push("--include-crds");
    }
    for set in sets {
        args.extend(["--set", set]);
    }
    ok("helm", &args, None)
}

/// Applies the chart's CRDs (server-side) and waits until they are served.
pub fn install_chart_crds() {
    let crds = chart().join("crds");
    let crds = crds.to_string_lossy();
    kubectl(
        &["apply", "--server-side", "--force-conflicts", "-f", &crds],
        None,
    );
    kubectl(
        &[
            "wait",
            "--for",
            "condition=Established",
            "--timeout",
            "60s",
            "-f",
            &crds,
        ],
        None,
    );
}

/// The non-empty documents of a multi-document YAML stream.
pub fn documents(yaml: &str) -> Vec<Value> {
    serde_yaml::Deserializer::from_str(yaml)
        .map(|doc| Value::deserialize(doc).expect("rendered YAML parses"))
        .filter(|doc| !doc.is_null())
        .collect()
}

/// The documents of `kind`.
pub fn of_kind<'a>(docs: &'a [Value], kind: &str) -> Vec<&'a Value> {
    docs.iter().filter(|d| d["kind"] == kind).collect()
}

/// The one document of `kind`.
pub fn one<'a>(docs: &'a [Value], kind: &str) -> &'a Value {
    let found = of_kind(docs, kind);
    assert_eq!(found.len(), 1, "expected one {kind}, found {}", found.len());
    found[0]
}

/// The strings of a YAML sequence (empty when absent).
pub fn strings(value: &Value) -> Vec<&str> {
    value
        .as_sequence()
        .map(|s| s.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

/// Calls `check` every 200 ms until it returns `Some`, or fails after `deadline`.
pub fn poll<T>(what: &str, deadline: Duration, mut check: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(value) = check() {
            return value;
        }
        assert!(
            start.elapsed() < deadline,
            "timed out after {deadline:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// A throw-away namespace, deleted (without waiting) when dropped.
pub struct TempNamespace {
    pub name: String,
}

impl TempNamespace {
    pub fn create(prefix: &str) -> Self {
        Self::create_with(prefix, "")
    }

    /// A namespace whose pods run on the real node (the PodNodeSelector
    /// annotation of tests/cluster/README.md) under the `restricted` Pod
    /// Security Standard, so the real admission plugin checks every pod.
    pub fn create_on_real_node(prefix: &str) -> Self {
        assert!(
            std::env::var_os("TRACEVAL_NODE_NAME").is_some(),
            "TRACEVAL_NODE_NAME is not set: this test needs the real node; start the cluster \
             with `eval \"$(tests/cluster/up)\"` (TRACEVAL_REAL_NODE=1, the default)"
        );
        Self::create_with(
            prefix,
            "    pod-security.kubernetes.io/enforce: restricted\n  annotations:\n    \
             scheduler.alpha.kubernetes.io/node-selector: traceval.dev/node=real\n",
        )
    }

    fn create_with(prefix: &str, extra: &str) -> Self {
        let manifest = format!(
            "apiVersion: v1\nkind: Namespace\nmetadata:\n  generateName: {prefix}-\n  \
             labels:\n    traceval.dev/test: \"true\"\n{extra}"
        );
        let created = kubectl(
            &["create", "-f", "-", "-o", "jsonpath={.metadata.name}"],
            Some(&manifest),
        );
        TempNamespace {
            name: created.trim().to_owned(),
        }
    }
}

impl Drop for TempNamespace {
    fn drop(&mut self) {
        let _ = run(
            "kubectl",
            &["delete", "namespace", &self.name, "--wait=false"],
            None,
        );
    }
}

/// Cluster-scoped objects of a release applied for real, deleted when dropped.
pub struct ClusterScoped {
    pub release: String,
}

impl Drop for ClusterScoped {
    fn drop(&mut self) {
        let selector = format!("app.kubernetes.io/instance={}", self.release);
        let _ = run(
            "kubectl",
            &[
                "delete",
                "clusterrole,clusterrolebinding",
                "-l",
                &selector,
                "--wait=false",
            ],
            None,
        );
    }
}
