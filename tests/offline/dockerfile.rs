//! The Dockerfile cannot be built here (no container engine), so this checks
//! what can drift without a build: the builder's Rust version and binary
//! name match Cargo.toml, the runtime image, user, entrypoint, command and
//! port match the Helm chart and the operator's defaults, and the build
//! context (`.dockerignore`) holds what the builder copies. Needs no cluster.

use std::path::PathBuf;
use std::process::Command;

use serde_yaml::Value;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read(path: &str) -> String {
    std::fs::read_to_string(repo().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Instructions as (KEYWORD, arguments with whitespace collapsed),
/// continuation lines joined, comments and the parser directive dropped.
fn instructions(dockerfile: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut current = String::new();
    for line in dockerfile.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with('#') || (trimmed.is_empty() && current.is_empty()) {
            continue;
        }
        match trimmed.strip_suffix('\\') {
            Some(part) => {
                current.push_str(part);
                current.push(' ');
            }
            None => {
                current.push_str(trimmed);
                let (keyword, args) = current.split_once(' ').unwrap_or((&current, ""));
                let args = args.split_whitespace().collect::<Vec<_>>().join(" ");
                out.push((keyword.to_uppercase(), args));
                current.clear();
            }
        }
    }
    out
}

/// The stages, each a list of its instructions after FROM.
fn stages(dockerfile: &str) -> Vec<(String, Vec<(String, String)>)> {
    let mut stages: Vec<(String, Vec<(String, String)>)> = Vec::new();
    for (keyword, args) in instructions(dockerfile) {
        if keyword == "FROM" {
            stages.push((args, Vec::new()));
        } else if let Some(stage) = stages.last_mut() {
            stage.1.push((keyword, args));
        }
    }
    stages
}

fn one<'a>(stage: &'a [(String, String)], keyword: &str) -> &'a str {
    let found: Vec<&str> = stage
        .iter()
        .filter(|(k, _)| k == keyword)
        .map(|(_, a)| a.as_str())
        .collect();
    assert_eq!(
        found.len(),
        1,
        "expected one {keyword} in the stage: {found:?}"
    );
    found[0]
}

fn exec_form(args: &str) -> Vec<String> {
    serde_json::from_str(args).unwrap_or_else(|e| panic!("{args} is not exec form: {e}"))
}

/// `command: [...]` / `args: [...]` of the chart's operator container.
fn chart_container_field(field: &str) -> Vec<String> {
    let template = read("charts/traceval/templates/deployment.yaml");
    let line = template
        .lines()
        .find_map(|l| l.trim().strip_prefix(&format!("{field}:")))
        .unwrap_or_else(|| panic!("no `{field}:` in the chart's deployment.yaml"));
    serde_json::from_str(line.trim()).expect("a flow sequence")
}

fn values() -> Value {
    serde_yaml::from_str(&read("charts/traceval/values.yaml")).expect("values.yaml")
}

#[test]
fn builder_stage_builds_the_crate_binary_with_the_pinned_toolchain() {
    let dockerfile = read("Dockerfile");
    let stages = stages(&dockerfile);
    assert_eq!(stages.len(), 2, "a builder and a runtime stage");
    let (from, builder) = &stages[0];
    let manifest = read("Cargo.toml");
    let rust_version = manifest
        .lines()
        .find_map(|l| l.strip_prefix("rust-version = "))
        .map(|v| v.trim_matches('"'))
        .expect("rust-version in Cargo.toml");
    assert!(
        from.starts_with(&format!("rust:{rust_version}-bookworm ")),
        "builder `{from}` should be rust:{rust_version}-bookworm (Cargo.toml rust-version)"
    );
    let run = one(builder, "RUN");
    assert!(run.contains("cargo build --release --locked"), "{run}");
    assert!(
        manifest.contains("[[bin]]\nname = \"traceval\""),
        "Cargo.toml's binary is no longer `traceval`"
    );
    assert!(run.contains("--bin traceval"), "{run}");
}

#[test]
fn runtime_stage_matches_the_helm_chart_and_the_operator_defaults() {
    let dockerfile = read("Dockerfile");
    let stages = stages(&dockerfile);
    let (from, runtime) = stages.last().expect("a runtime stage");
    assert_eq!(from, "gcr.io/distroless/cc-debian12:nonroot");

    // The user the chart's securityContext runs as.
    let values = values();
    let uid = values["podSecurityContext"]["runAsUser"]
        .as_u64()
        .expect("podSecurityContext.runAsUser");
    let user = one(runtime, "USER");
    assert_eq!(user.split(':').next(), Some(uid.to_string().as_str()));
    assert_eq!(values["securityContext"]["runAsNonRoot"], Value::Bool(true));

    // The chart runs `command: ["traceval"]` (and evaluator Jobs run
    // `traceval evaluate`), so the binary must be on distroless's PATH.
    let entrypoint = exec_form(one(runtime, "ENTRYPOINT"));
    assert_eq!(entrypoint.len(), 1, "{entrypoint:?}");
    let binary = std::path::Path::new(&entrypoint[0]);
    let command = chart_container_field("command");
    assert_eq!(
        binary.file_name().and_then(|n| n.to_str()),
        Some(command[0].as_str()),
        "the chart runs {command:?}, the image has {entrypoint:?}"
    );
    let distroless_path = [
        "/usr/local/sbin",
        "/usr/local/bin",
        "/usr/sbin",
        "/usr/bin",
        "/sbin",
        "/bin",
    ];
    let dir = binary.parent().and_then(|d| d.to_str()).unwrap_or_default();
    assert!(
        distroless_path.contains(&dir),
        "{} is not on the runtime image's PATH",
        binary.display()
    );
    let copy = one(runtime, "COPY");
    assert!(
        copy.starts_with("--from=builder ") && copy.ends_with(&format!(" {}", entrypoint[0])),
        "the binary is copied to the entrypoint: {copy}"
    );
    assert_eq!(
        exec_form(one(runtime, "CMD")),
        chart_container_field("args")
    );

    // The exposed port is the chart's metrics port and the operator's default.
    let port = values["metrics"]["port"].as_u64().expect("metrics.port");
    assert_eq!(one(runtime, "EXPOSE"), port.to_string());
    let help = Command::new(env!("CARGO_BIN_EXE_traceval"))
        .args(["operator", "--help"])
        .output()
        .expect("traceval operator --help");
    let help = String::from_utf8_lossy(&help.stdout);
    assert!(
        help.contains(&format!("[default: 0.0.0.0:{port}]")),
        "--http-addr does not default to port {port}:\n{help}"
    );
}

#[test]
fn build_context_holds_what_the_builder_copies() {
    let ignore = read(".dockerignore");
    let rules: Vec<&str> = ignore
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    assert_eq!(rules.first(), Some(&"*"), "the context is an allow-list");
    let dockerfile = read("Dockerfile");
    let stages = stages(&dockerfile);
    for (keyword, args) in &stages[0].1 {
        if keyword != "COPY" || args.starts_with("--from") {
            continue;
        }
        let words: Vec<&str> = args.split_whitespace().collect();
        for source in &words[..words.len() - 1] {
            let source = source.trim_end_matches('/');
            assert!(
                rules.contains(&format!("!{source}").as_str()),
                ".dockerignore leaves out {source}, which the builder copies"
            );
            assert!(repo().join(source).exists(), "{source} does not exist");
        }
    }
    assert!(
        !rules.contains(&"!target"),
        "target/ must stay out of the context"
    );
}

#[test]
fn the_parser_joins_continuations_and_skips_comments() {
    let parsed =
        instructions("# syntax=docker/dockerfile:1\nFROM a AS b\n# note\nRUN x \\\n    && y\n");
    assert_eq!(
        parsed,
        [
            ("FROM".to_owned(), "a AS b".to_owned()),
            ("RUN".to_owned(), "x && y".to_owned())
        ]
    );
}
