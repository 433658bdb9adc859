//! The bad-input corpus in tests/bad-input/: reading the manifests and their
//! headers, generating the 1 MiB strings, and the README table of outcomes.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde_json::Value;

/// What a manifest's `# expect:` header says must happen.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Expect {
    /// The API server rejects the apply with a message containing this text.
    Rejected(String),
    /// Accepted; the TracedService gets `Degraded=True` with this reason.
    Degraded(String),
    /// Accepted; the EvaluationTask is `Failed` with `Degraded=True` and this reason.
    Failed(String),
    /// Accepted and run: the hostile strings reach the container as argv, verbatim.
    AcceptedArgv,
}

/// One manifest of the corpus.
#[derive(Clone, Debug)]
pub struct Case {
    /// File name.
    pub file: String,
    /// `TracedService` or `EvaluationTask`.
    pub kind: String,
    /// `metadata.name`.
    pub name: String,
    /// The `# tries:` header.
    pub tries: String,
    /// The `# expect:` header.
    pub expect: Expect,
    /// The object, with generated strings filled in.
    pub object: Value,
}

/// What the test measured for one case.
#[derive(Clone, Debug)]
pub struct Measured {
    /// "rejected at apply", "Degraded", "Failed" or "accepted".
    pub outcome: &'static str,
    /// The API error message, or the condition's reason and message.
    pub detail: String,
}

pub fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/bad-input")
}

/// Every manifest, sorted by file name.
pub fn load() -> Vec<Case> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir())
        .expect("tests/bad-input exists")
        .map(|e| e.expect("directory entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    files.iter().map(|f| read(f)).collect()
}

fn read(path: &Path) -> Case {
    let file = path
        .file_name()
        .expect("file name")
        .to_string_lossy()
        .into_owned();
    let text = std::fs::read_to_string(path).expect("read manifest");
    let header = |key: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("# {key}: ")))
            .map(str::to_owned)
    };
    let expect = header("expect").unwrap_or_else(|| panic!("{file}: no # expect: header"));
    let expect = match expect.split_once(' ') {
        Some(("rejected", text)) => Expect::Rejected(text.to_owned()),
        Some(("degraded", reason)) => Expect::Degraded(reason.to_owned()),
        Some(("failed", reason)) => Expect::Failed(reason.to_owned()),
        Some(("accepted", "argv")) => Expect::AcceptedArgv,
        _ => panic!("{file}: unknown expectation {expect:?}"),
    };
    let tries = header("tries").unwrap_or_else(|| panic!("{file}: no # tries: header"));
    let mut object: Value =
        serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("{file}: not YAML: {e}"));
    if let Some(generate) = header("generate") {
        let (path, bytes) = generate
            .split_once(' ')
            .unwrap_or_else(|| panic!("{file}: # generate: PATH BYTES"));
        let bytes: usize = bytes.parse().expect("# generate: byte count");
        let slot = path
            .split('.')
            .try_fold(&mut object, |v, key| match key.parse::<usize>() {
                Ok(i) => v.get_mut(i),
                Err(_) => v.get_mut(key),
            })
            .unwrap_or_else(|| panic!("{file}: # generate: {path} is not in the manifest"));
        *slot = Value::String("a".repeat(bytes));
    }
    let kind = object["kind"].as_str().expect("kind").to_owned();
    let name = object["metadata"]["name"]
        .as_str()
        .expect("metadata.name")
        .to_owned();
    Case {
        file,
        kind,
        name,
        tries,
        expect,
        object,
    }
}

/// A message as the table shows it: one line, the object's name and the
/// test namespace replaced, at most 200 characters.
pub fn normalise(message: &str, namespace: &str) -> String {
    let one_line = message
        .replace(['\n', '\r'], " ")
        .replace(namespace, "<ns>");
    let trimmed = match one_line.find(" is invalid: ") {
        Some(i) => one_line[i + " is invalid: ".len()..].to_owned(),
        None => one_line,
    };
    // Long generated values are echoed by some errors; keep the table readable.
    let mut short: String = trimmed.chars().take(200).collect();
    if short.len() < trimmed.len() {
        short.push_str("...");
    }
    short.replace('|', "\\|").replace('`', "'")
}

/// The README with the measured table.
pub fn readme(rows: &[(Case, Measured)]) -> String {
    let count = |outcome: &str| rows.iter().filter(|(_, m)| m.outcome == outcome).count();
    let kinds = |kind: &str| rows.iter().filter(|(c, _)| c.kind == kind).count();
    let mut out = String::from(
        "# Bad-input corpus\n\n\
         Invalid and hostile manifests for both CRDs (issue 8, item 6). Each file's\n\
         `# expect:` header says what must happen: `rejected <text>` (the API server\n\
         refuses the apply and its message contains the text, which names the field),\n\
         `degraded <Reason>` / `failed <Reason>` (accepted; the operator sets the\n\
         condition and builds no child object), or `accepted argv` (the user's own\n\
         command: run verbatim as argv, never through a shell). `# generate: PATH N`\n\
         replaces PATH with an N-byte string before the apply (the 1 MiB cases).\n\n\
         The table is written by the test that measured it\n\
         (`cargo test --test reliability_bad_input`, which fails when it differs;\n\
         `TRACEVAL_BLESS=1` rewrites it).\n\n",
    );
    let _ = writeln!(
        out,
        "Manifests: {} ({} TracedService, {} EvaluationTask); rejected at apply: {}; \
         Degraded: {}; Failed: {}; accepted as argv: {}; crashes: 0; hot loops: 0; \
         children built from a degraded or failed object: 0.\n",
        rows.len(),
        kinds("TracedService"),
        kinds("EvaluationTask"),
        count("rejected at apply"),
        count("Degraded"),
        count("Failed"),
        count("accepted"),
    );
    out.push_str("| file | CRD | what it tries | outcome | message or reason |\n");
    out.push_str("| --- | --- | --- | --- | --- |\n");
    for (case, measured) in rows {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} |",
            case.file,
            case.kind,
            case.tries.replace('|', "\\|").replace('`', "'"),
            measured.outcome,
            measured.detail
        );
    }
    out
}

/// Compares the README with what was measured, or rewrites it under `TRACEVAL_BLESS=1`.
pub fn check_readme(rows: &[(Case, Measured)]) {
    let path = dir().join("README.md");
    let generated = readme(rows);
    if std::env::var("TRACEVAL_BLESS").is_ok_and(|v| v == "1") {
        std::fs::write(&path, &generated).expect("write tests/bad-input/README.md");
        return;
    }
    let on_disk = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        on_disk == generated,
        "tests/bad-input/README.md differs from what was measured; rerun with \
         TRACEVAL_BLESS=1 to rewrite it and review the diff. Measured:\n{generated}"
    );
}
