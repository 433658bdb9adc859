//! The Helm chart configures `traceval operator` only with what the binary
//! accepts: every environment variable and every `--flag` the chart's
//! Deployment can render is one the binary's clap definition
//! (`traceval::cli::Cli`) reads, the flag named next to each variable (in
//! the template's comment and in the chart README's "Operator interface"
//! table) is that variable's flag, and the judge presets the values schema
//! allows are the crate's. The operator also refuses bad defaults when it
//! starts. Needs no cluster and no helm: the templates are read as text.
//!
//! The template text is scanned, not rendered, so every conditional branch
//! counts (`{{- with .Values.x }}` blocks included). Environment variables
//! are the `name:` entries with an upper-case name (container, port and
//! volume names are lower-case DNS labels) in `templates/deployment.yaml`
//! and in every `define` it includes, transitively. `extraEnv` is the
//! user's own and is not checked.

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use clap::{CommandFactory, Parser};
use traceval::api::evaluationtask::JudgeProvider;
use traceval::cli::Cli;

/// Variables the binary reads without clap, with where and how it reads them.
const READ_OUTSIDE_CLAP: &[(&str, &str, &str)] =
    &[("RUST_LOG", "src/main.rs", "EnvFilter::try_from_default_env")];

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Every file of `charts/traceval/templates/`, by file name.
fn templates() -> BTreeMap<String, String> {
    let dir = repo().join("charts/traceval/templates");
    std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| {
            let path = entry.expect("directory entry").path();
            let name = path.file_name().expect("file name").to_string_lossy();
            (name.into_owned(), read(&path))
        })
        .collect()
}

/// The template actions (`{{ ... }}`) of `text`, with the byte range each covers.
fn actions(text: &str) -> Vec<(usize, usize, &str)> {
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(open) = text[from..].find("{{").map(|i| from + i) {
        let close = text[open..]
            .find("}}")
            .map(|i| open + i + 2)
            .unwrap_or_else(|| panic!("unclosed {{{{ at byte {open}"));
        let inner = text[open + 2..close - 2]
            .trim_start_matches('-')
            .trim_end_matches('-')
            .trim();
        out.push((open, close, inner));
        from = close;
    }
    out
}

/// The first word of an action (`if`, `with`, `end`, `define`, ...);
/// nothing for a comment.
fn keyword(action: &str) -> &str {
    if action.starts_with("/*") {
        return "";
    }
    action.split_whitespace().next().unwrap_or_default()
}

/// The names an action includes: `include "x"` and `template "x"`.
fn included(action: &str) -> Vec<&str> {
    let words: Vec<&str> = action
        .split(|c: char| c.is_whitespace() || c == '(')
        .filter(|w| !w.is_empty())
        .collect();
    words
        .windows(2)
        .filter(|w| w[0] == "include" || w[0] == "template")
        .map(|w| w[1].trim_matches('"'))
        .collect()
}

/// The bodies of the `{{ define "name" }}` blocks of `text`, by name.
fn defines(text: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut open: Vec<Option<(String, usize)>> = Vec::new();
    for (start, end, action) in actions(text) {
        match keyword(action) {
            "define" => open.push(Some((quoted(action).to_owned(), end))),
            "if" | "with" | "range" | "block" => open.push(None),
            "end" => {
                if let Some(Some((name, body))) = open.pop() {
                    out.insert(name, text[body..start].to_owned());
                }
            }
            _ => {}
        }
    }
    assert!(open.is_empty(), "unbalanced template blocks: {open:?}");
    out
}

/// The first double-quoted string of an action.
fn quoted(action: &str) -> &str {
    action
        .split('"')
        .nth(1)
        .unwrap_or_else(|| panic!("no quoted name in {{{{ {action} }}}}"))
}

/// The text of `templates/deployment.yaml` and of every `define` it
/// includes (`include "x"`, `template "x"`), transitively, by source.
fn deployment_sources() -> Vec<(String, String)> {
    let templates = templates();
    let helpers: BTreeMap<String, String> =
        templates.values().flat_map(|text| defines(text)).collect();
    assert!(
        helpers.contains_key("traceval.operatorEnv"),
        "no define \"traceval.operatorEnv\" in charts/traceval/templates/ (found {:?})",
        helpers.keys().collect::<Vec<_>>()
    );
    let deployment = templates
        .get("deployment.yaml")
        .expect("charts/traceval/templates/deployment.yaml")
        .clone();
    let mut sources = vec![("templates/deployment.yaml".to_owned(), deployment)];
    let mut seen = BTreeSet::new();
    let mut next = 0;
    while next < sources.len() {
        let text = sources[next].1.clone();
        for (_, _, action) in actions(&text) {
            for name in included(action) {
                if seen.insert(name.to_owned()) {
                    let body = helpers
                        .get(name)
                        .unwrap_or_else(|| panic!("include {name:?}: no such define"));
                    sources.push((format!("define {name:?}"), body.clone()));
                }
            }
        }
        next += 1;
    }
    sources
}

/// An environment variable the chart sets.
#[derive(Debug)]
struct EnvEntry {
    name: String,
    /// The `--flag` its comment names, if it names one.
    comment_flag: Option<String>,
    source: String,
}

/// Every upper-case `name:` entry of the Deployment's sources.
fn env_entries() -> Vec<EnvEntry> {
    let mut out = Vec::new();
    for (source, text) in deployment_sources() {
        for line in text.lines() {
            let line = line.trim_start().trim_start_matches("- ").trim_start();
            let Some(rest) = line.strip_prefix("name:") else {
                continue;
            };
            let (value, comment) = match rest.split_once('#') {
                Some((value, comment)) => (value.trim(), Some(comment)),
                None => (rest.trim(), None),
            };
            let value = value.trim_matches(|c| c == '"' || c == '\'');
            let env_like = value.starts_with(|c: char| c.is_ascii_uppercase())
                && value
                    .chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_');
            if !env_like {
                continue;
            }
            let comment_flag = comment.and_then(|c| {
                c.split(|ch: char| ch.is_whitespace() || ch == ':' || ch == ',')
                    .find(|w| w.starts_with("--"))
                    .map(str::to_owned)
            });
            out.push(EnvEntry {
                name: value.to_owned(),
                comment_flag,
                source: source.clone(),
            });
        }
    }
    let names: Vec<&str> = out.iter().map(|e| e.name.as_str()).collect();
    assert!(
        names.iter().any(|n| n.starts_with("TRACEVAL_")),
        "no TRACEVAL_* environment variables found in the chart's Deployment; \
         the parser is broken or the chart changed shape: {names:?}"
    );
    out
}

/// The items of a YAML list given after `key:`, inline (`["a", "b"]`) or
/// as a block (`- a` lines below), in the Deployment's sources.
fn lists(key: &str) -> Vec<(String, Vec<String>)> {
    let mut out = Vec::new();
    let unquote = |item: &str| {
        item.trim()
            .trim_matches(|c| c == '"' || c == '\'')
            .to_owned()
    };
    for (source, text) in deployment_sources() {
        let lines: Vec<&str> = text.lines().collect();
        for (i, line) in lines.iter().enumerate() {
            let trimmed = line.trim_start().trim_start_matches("- ");
            let Some(rest) = trimmed.strip_prefix(&format!("{key}:")) else {
                continue;
            };
            let rest = rest.split(" #").next().unwrap_or_default().trim();
            let items: Vec<String> = if let Some(inline) = rest.strip_prefix('[') {
                let inline = inline
                    .strip_suffix(']')
                    .unwrap_or_else(|| panic!("{source}: {key}: list not closed on its line"));
                inline
                    .split(',')
                    .map(unquote)
                    .filter(|s| !s.is_empty())
                    .collect()
            } else if rest.is_empty() {
                let indent_of = |l: &str| l.len() - l.trim_start().len();
                let indent = indent_of(line);
                lines[i + 1..]
                    .iter()
                    .take_while(|l| {
                        l.trim().is_empty()
                            || indent_of(l) > indent
                            || (indent_of(l) == indent && l.trim_start().starts_with("- "))
                    })
                    .filter_map(|l| l.trim_start().strip_prefix("- "))
                    .map(unquote)
                    .collect()
            } else {
                vec![unquote(rest)]
            };
            out.push((source.clone(), items));
        }
    }
    out
}

/// The `operator`-like subcommand the chart runs and the flags it passes.
fn chart_command_line() -> (String, Vec<String>) {
    let commands = lists("command");
    assert_eq!(
        commands.iter().map(|(_, c)| c.clone()).collect::<Vec<_>>(),
        [vec![Cli::command().get_name().to_owned()]],
        "the chart's Deployment should run the one `traceval` binary"
    );
    let args = lists("args");
    assert_eq!(args.len(), 1, "one args: list expected, found {args:?}");
    let (source, args) = &args[0];
    for arg in args {
        assert!(
            !arg.contains("{{"),
            "{source}: args item {arg:?} is templated; this test cannot check it, extend it"
        );
    }
    let (subcommand, rest) = args
        .split_first()
        .unwrap_or_else(|| panic!("{source}: args: is empty"));
    let flags = rest
        .iter()
        .filter(|a| a.starts_with("--"))
        .map(|a| a.split('=').next().unwrap_or_default().to_owned())
        .collect();
    (subcommand.clone(), flags)
}

/// The subcommand the chart runs, as the binary defines it.
fn operator_command() -> clap::Command {
    let (subcommand, _) = chart_command_line();
    Cli::command()
        .find_subcommand(&subcommand)
        .cloned()
        .unwrap_or_else(|| {
            panic!("the chart runs `traceval {subcommand}`, which is not a subcommand")
        })
}

/// The long flag of the argument reading `env`, if the binary has one.
fn flag_of(command: &clap::Command, env: &str) -> Option<String> {
    command
        .get_arguments()
        .find(|a| a.get_env() == Some(OsStr::new(env)))
        .map(|a| {
            a.get_long()
                .map(|l| format!("--{l}"))
                .unwrap_or_else(|| panic!("{env} is read by an argument without a long flag"))
        })
}

#[test]
fn the_cli_definition_is_consistent() {
    Cli::command().debug_assert();
}

#[test]
fn every_env_var_the_chart_sets_is_read_by_the_binary() {
    let operator = operator_command();
    let entries = env_entries();
    let mut unread = Vec::new();
    for entry in &entries {
        if let Some((_, file, evidence)) = READ_OUTSIDE_CLAP.iter().find(|(n, ..)| *n == entry.name)
        {
            assert!(
                read(&repo().join(file)).contains(evidence),
                "{} is listed as read by {file} through `{evidence}`, which {file} no longer calls",
                entry.name
            );
            continue;
        }
        match flag_of(&operator, &entry.name) {
            None => unread.push(format!("{} ({})", entry.name, entry.source)),
            Some(flag) => {
                if let Some(named) = &entry.comment_flag {
                    assert_eq!(
                        named, &flag,
                        "{}: the comment next to {} names {named}, but the binary reads it as {flag}",
                        entry.source, entry.name
                    );
                }
            }
        }
    }
    assert!(
        unread.is_empty(),
        "the chart sets environment variables `traceval {}` does not read (no clap `env = ...`): {unread:?}",
        operator.get_name()
    );
    let names: BTreeSet<&str> = entries.iter().map(|e| e.name.as_str()).collect();
    for wanted in [
        "TRACEVAL_DEFAULT_TRACE_ENDPOINT",
        "TRACEVAL_DEFAULT_JUDGE_PRESET",
    ] {
        assert!(names.contains(wanted), "{wanted} not found in {names:?}");
    }
}

#[test]
fn every_flag_the_chart_passes_is_accepted_by_the_binary() {
    let (subcommand, flags) = chart_command_line();
    let operator = operator_command();
    for flag in flags {
        let long = flag.trim_start_matches("--");
        assert!(
            operator.get_arguments().any(|a| a.get_long() == Some(long)),
            "the chart passes `traceval {subcommand} {flag}`, which the binary does not define"
        );
    }
}

#[test]
fn the_chart_readme_table_lists_each_variable_with_its_flag() {
    let readme = read(&repo().join("charts/traceval/README.md"));
    let section = readme
        .split("\n## ")
        .find(|s| s.starts_with("Operator interface"))
        .expect("charts/traceval/README.md: no `## Operator interface` section");
    let rows: BTreeMap<String, String> = section
        .lines()
        .filter_map(|line| {
            let cells: Vec<&str> = line.split('|').map(str::trim).collect();
            let name = cells.get(1)?.strip_prefix('`')?.strip_suffix('`')?;
            Some((name.to_owned(), (*cells.get(2)?).to_owned()))
        })
        .collect();
    assert!(!rows.is_empty(), "no rows in the Operator interface table");
    let operator = operator_command();
    let entries = env_entries();
    for entry in &entries {
        let row = rows.get(&entry.name).unwrap_or_else(|| {
            panic!(
                "charts/traceval/README.md's Operator interface table lacks {}",
                entry.name
            )
        });
        assert!(
            !row.contains("assumed"),
            "{}: the table still calls its flag assumed",
            entry.name
        );
        if let Some(flag) = flag_of(&operator, &entry.name) {
            assert!(
                row.split('`').any(|w| w == flag),
                "the table names {row:?} for {}, but the binary reads it as {flag}",
                entry.name
            );
        }
    }
    let rendered: BTreeSet<&str> = entries.iter().map(|e| e.name.as_str()).collect();
    let stale: Vec<&String> = rows
        .keys()
        .filter(|n| !rendered.contains(n.as_str()))
        .collect();
    assert!(
        stale.is_empty(),
        "the table lists variables the chart does not set: {stale:?}"
    );
}

#[test]
fn the_values_schema_allows_exactly_the_crates_judge_presets() {
    let path = repo().join("charts/traceval/values.schema.json");
    let schema: serde_json::Value =
        serde_json::from_str(&read(&path)).expect("values.schema.json is JSON");
    let allowed: BTreeSet<&str> = schema["properties"]["defaultJudgePreset"]["enum"]
        .as_array()
        .expect("defaultJudgePreset has an enum")
        .iter()
        .map(|v| v.as_str().expect("string presets"))
        .filter(|v| !v.is_empty())
        .collect();
    let presets: BTreeSet<&str> = JudgeProvider::ALL.map(JudgeProvider::as_str).into();
    assert_eq!(allowed, presets, "values.schema.json defaultJudgePreset");
}

#[test]
fn the_defaults_parse_as_flags() {
    let parsed = Cli::try_parse_from([
        "traceval",
        "operator",
        "--default-trace-endpoint",
        "http://jaeger-collector.observability:4318",
        "--default-judge-preset",
        "pai-judge",
    ]);
    assert!(parsed.is_ok(), "{parsed:?}");
    for (flag, value) in [
        ("--default-trace-endpoint", "ftp://jaeger:4318"),
        ("--default-trace-endpoint", "jaeger:4318"),
        ("--default-judge-preset", "gpt-judge"),
    ] {
        let error = Cli::try_parse_from(["traceval", "operator", flag, value])
            .expect_err(&format!("{flag} {value} must be refused"));
        assert!(
            matches!(
                error.kind(),
                clap::error::ErrorKind::InvalidValue | clap::error::ErrorKind::ValueValidation
            ),
            "{error}"
        );
        let message = error.to_string();
        assert!(
            message.contains(flag) && message.contains(value),
            "{message}"
        );
    }
}

/// Runs `traceval operator` with `env` and no cluster; it must exit before
/// it looks for one.
fn start_operator(env: &[(&str, &str)]) -> (i32, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_traceval"))
        .arg("operator")
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        // Should the check ever pass, no cluster is reachable.
        .env("KUBECONFIG", "/nonexistent/kubeconfig")
        .env("TRACEVAL_HTTP_ADDR", "127.0.0.1:0")
        .envs(env.iter().copied())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run traceval operator");
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("traceval operator with {env:?} did not exit");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut stderr = String::new();
    if let Some(mut pipe) = child.stderr.take() {
        std::io::Read::read_to_string(&mut pipe, &mut stderr).expect("stderr");
    }
    (status.code().unwrap_or(-1), stderr)
}

#[test]
fn the_operator_refuses_bad_defaults_from_the_chart_at_start() {
    let (code, stderr) = start_operator(&[("TRACEVAL_DEFAULT_JUDGE_PRESET", "gpt-judge")]);
    assert_eq!(code, 2, "{stderr}");
    for wanted in [
        "--default-judge-preset",
        "gpt-judge",
        "qwen-max",
        "pai-judge",
    ] {
        assert!(stderr.contains(wanted), "{wanted:?} not in {stderr}");
    }
    let (code, stderr) =
        start_operator(&[("TRACEVAL_DEFAULT_TRACE_ENDPOINT", "ftp://jaeger:4318")]);
    assert_eq!(code, 2, "{stderr}");
    for wanted in [
        "--default-trace-endpoint",
        "ftp://jaeger:4318",
        "http:// or https://",
    ] {
        assert!(stderr.contains(wanted), "{wanted:?} not in {stderr}");
    }
}

#[test]
fn the_template_scanner_finds_what_it_should() {
    let text = "{{- define \"a\" -}}\n- name: X_ONE # --one\n{{- with .Values.x }}\n- name: X_TWO\n{{- end }}\n{{- end }}\n\
                {{/* a comment */}}\n{{- define \"b\" }}{{ include \"a\" . }}{{ end }}\n";
    let found = defines(text);
    assert_eq!(found.keys().collect::<Vec<_>>(), ["a", "b"]);
    assert!(found["a"].contains("X_TWO"), "{:?}", found["a"]);
    assert_eq!(keyword("/* end of a comment */"), "");
    assert_eq!(
        included("include \"a\" . | nindent 4 | default (template \"b\" .)"),
        ["a", "b"]
    );
    assert!(included("printf \"%s\" .Values.template").is_empty());
}
