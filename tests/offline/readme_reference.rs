//! README.md cannot rot: its CRD reference section is exactly what
//! `traceval crd --reference` renders from the CRD schemas, and every
//! `make` target, `cargo test --test` target, repository path and `traceval`
//! flag its commands and links mention exists. Needs no cluster.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use traceval::api::reference::{self, BEGIN, END};

const REGENERATE: &str = "run `make readme` (cargo run -q -- crd --readme README.md)";

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn readme() -> String {
    std::fs::read_to_string(repo().join("README.md")).expect("README.md")
}

#[test]
fn crd_reference_section_is_what_the_generator_renders() {
    let readme = readme();
    let section = reference::section(&readme).unwrap_or_else(|e| {
        panic!("README.md: {e}; add them under `## CRD reference` at its end and {REGENERATE}")
    });
    let expected = reference::markdown();
    if section != expected {
        let first = section
            .lines()
            .zip(expected.lines())
            .position(|(have, want)| have != want)
            .unwrap_or_else(|| section.lines().count().min(expected.lines().count()));
        panic!(
            "README.md's CRD reference is stale: {REGENERATE}.\n\
             First difference at line {} of the section:\n  README:    {:?}\n  generated: {:?}",
            first + 1,
            section.lines().nth(first).unwrap_or("<end>"),
            expected.lines().nth(first).unwrap_or("<end>"),
        );
    }
    let before = &readme[..readme.find(BEGIN).expect("begin marker")];
    let heading = before.lines().rev().find(|l| l.starts_with("## "));
    assert_eq!(
        heading,
        Some("## CRD reference"),
        "the markers belong under a `## CRD reference` heading"
    );
}

/// The README without its generated section: what a person wrote.
fn written_part(readme: &str) -> String {
    match (readme.find(BEGIN), readme.find(END)) {
        (Some(begin), Some(end)) if begin < end => {
            format!("{}{}", &readme[..begin], &readme[end + END.len()..])
        }
        _ => readme.to_owned(),
    }
}

/// Code the README shows: each line of its fenced blocks and each inline
/// code span (joined onto one line when it wraps).
fn code(markdown: &str) -> Vec<String> {
    let mut snippets = Vec::new();
    let mut prose = String::new();
    let mut fenced = false;
    let flush = |prose: &mut String, snippets: &mut Vec<String>| {
        let spans = prose.split('`').skip(1).step_by(2);
        snippets.extend(spans.map(|span| span.split_whitespace().collect::<Vec<_>>().join(" ")));
        prose.clear();
    };
    for line in markdown.lines() {
        if line.trim_start().starts_with("```") {
            flush(&mut prose, &mut snippets);
            fenced = !fenced;
        } else if fenced {
            snippets.push(line.to_owned());
        } else if line.trim().is_empty() {
            flush(&mut prose, &mut snippets);
        } else {
            prose.push_str(line);
            prose.push('\n');
        }
    }
    flush(&mut prose, &mut snippets);
    snippets
}

/// Relative link targets (`[text](target)`) outside code.
fn links(markdown: &str) -> Vec<String> {
    let mut fenced = false;
    let mut out = Vec::new();
    for line in markdown.lines() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
            continue;
        }
        if fenced {
            continue;
        }
        for (at, _) in line.match_indices("](") {
            let rest = &line[at + 2..];
            if let Some(end) = rest.find(')') {
                let target = rest[..end].split('#').next().unwrap_or_default();
                let external = target.contains("://") || target.starts_with("mailto:");
                if !target.is_empty() && !external {
                    out.push(target.to_owned());
                }
            }
        }
    }
    out
}

/// Shell words of a snippet, up to a comment.
fn words(snippet: &str) -> Vec<&str> {
    let snippet = snippet.split(" #").next().unwrap_or_default();
    snippet
        .split(|c: char| c.is_whitespace() || "\"'();|&,".contains(c))
        .filter(|w| !w.is_empty())
        .collect()
}

/// The targets each `make ...` in `snippets` names.
fn make_targets(snippets: &[String]) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for snippet in snippets {
        let words = words(snippet);
        let mut rest = words
            .iter()
            .skip_while(|w| **w != "make")
            .skip(1)
            .peekable();
        while let Some(word) = rest.next() {
            if *word == "-C" || *word == "-f" {
                rest.next();
            } else if word.starts_with('-') || word.contains('=') {
                continue;
            } else if word
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
            {
                out.insert((*word).to_owned());
            } else {
                break;
            }
        }
    }
    out
}

/// Targets the Makefile defines.
fn makefile_targets() -> BTreeSet<String> {
    let makefile = std::fs::read_to_string(repo().join("Makefile")).expect("Makefile");
    makefile
        .lines()
        .filter(|l| !l.starts_with(['\t', ' ', '#']))
        .filter(|l| !l.contains(":=") && !l.contains("?=") && !l.contains("+="))
        .filter_map(|l| l.split_once(':').map(|(targets, _)| targets))
        .flat_map(str::split_whitespace)
        .filter(|t| !t.starts_with('.'))
        .map(str::to_owned)
        .collect()
}

const FILE_EXTENSIONS: &[&str] = &[
    "md", "rs", "yaml", "yml", "json", "py", "sh", "toml", "txt", "lock", "tpl",
];

/// A word that names a file or directory of the repository: relative, with
/// a `/`, and either starting at an existing top-level entry or ending in a
/// file extension (so `bench/RESULTS.md` is checked even when `bench/` is
/// gone, and `traceval.dev/v1alpha1` or `1/1` are not paths).
fn repo_path(word: &str) -> Option<&str> {
    let word = word.trim_end_matches([',', ';', ':', '.']);
    let word = word.strip_prefix("./").unwrap_or(word);
    let forbidden = ["://", "$", "<", ">", "{", "}", "@", "?", "=", "~", "["];
    if !word.contains('/')
        || word.starts_with(['/', '-'])
        || forbidden.iter().any(|f| word.contains(f))
    {
        return None;
    }
    let segments: Vec<&str> = word.trim_end_matches('/').split('/').collect();
    let plain = |s: &&str| {
        !s.is_empty()
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || "._*-".contains(c))
    };
    if !segments.iter().all(plain) {
        return None;
    }
    let top_exists = repo().join(segments[0]).exists();
    let has_extension = segments
        .last()
        .and_then(|last| last.rsplit_once('.'))
        .is_some_and(|(stem, ext)| !stem.is_empty() && FILE_EXTENSIONS.contains(&ext));
    (top_exists || has_extension).then_some(word)
}

/// Whether `path` (possibly with `*` in its last segment) matches a file.
fn exists(path: &str) -> bool {
    let full = repo().join(path.trim_end_matches('/'));
    let Some(name) = full.file_name().and_then(|n| n.to_str()) else {
        return full.exists();
    };
    if !name.contains('*') {
        return full.exists();
    }
    let parts: Vec<&str> = name.split('*').collect();
    let matches = |candidate: &str| {
        let (first, last) = (parts[0], parts[parts.len() - 1]);
        candidate.starts_with(first)
            && candidate.ends_with(last)
            && candidate.len() >= first.len() + last.len()
    };
    std::fs::read_dir(full.parent().unwrap_or(Path::new(".")))
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .any(|candidate| matches(&candidate))
}

#[test]
fn every_make_target_the_readme_names_exists() {
    let readme = written_part(&readme());
    let named = make_targets(&code(&readme));
    assert!(
        named.contains("demo") && named.contains("test"),
        "the README should name `make demo` and `make test`; found {named:?}"
    );
    let defined = makefile_targets();
    let missing: Vec<_> = named.difference(&defined).collect();
    assert!(
        missing.is_empty(),
        "README.md names make targets the Makefile lacks: {missing:?} (defined: {defined:?})"
    );
}

#[test]
fn every_path_the_readme_names_exists() {
    let readme = written_part(&readme());
    let mut named: BTreeSet<String> = links(&readme).into_iter().collect();
    for snippet in code(&readme) {
        named.extend(
            words(&snippet)
                .into_iter()
                .filter_map(repo_path)
                .map(str::to_owned),
        );
    }
    assert!(
        named.iter().any(|p| p.starts_with("examples/")),
        "no example paths found; the parser is broken: {named:?}"
    );
    let missing: Vec<_> = named.iter().filter(|p| !exists(p)).collect();
    assert!(
        missing.is_empty(),
        "README.md names paths that do not exist: {missing:?}"
    );
}

#[test]
fn every_cargo_test_target_the_readme_names_exists() {
    let readme = written_part(&readme());
    let targets = test_targets();
    for snippet in code(&readme) {
        let words = words(&snippet);
        for pair in words.windows(2).filter(|w| w[0] == "--test") {
            let name = pair[1];
            assert!(
                targets.iter().any(|t| t == name),
                "README.md runs `cargo test --test {name}`, but Cargo.toml has no such test target ({targets:?})"
            );
        }
    }
}

#[test]
fn every_traceval_flag_the_readme_uses_exists() {
    let readme = written_part(&readme());
    let mut checked = 0;
    for snippet in code(&readme) {
        let words = words(&snippet);
        let Some(start) = words.iter().position(|w| *w == "traceval") else {
            continue;
        };
        let Some(subcommand) = words
            .get(start + 1)
            .filter(|w| w.chars().all(|c| c.is_ascii_lowercase()))
        else {
            continue;
        };
        let flags: Vec<&str> = words[start + 2..]
            .iter()
            .map(|w| w.split('=').next().unwrap_or_default())
            .filter(|w| w.starts_with("--") && w.len() > 2)
            .collect();
        let help = Command::new(env!("CARGO_BIN_EXE_traceval"))
            .args([subcommand, "--help"])
            .output()
            .expect("traceval --help");
        let help = String::from_utf8_lossy(&help.stdout);
        assert!(
            help.contains("Usage:"),
            "README.md runs `traceval {subcommand}`, which is not a subcommand"
        );
        for flag in flags {
            let defined = help.match_indices(flag).any(|(at, _)| {
                !help[at + flag.len()..]
                    .starts_with(|c: char| c.is_ascii_alphanumeric() || c == '-')
            });
            assert!(
                defined,
                "README.md uses `traceval {subcommand} {flag}`, which `traceval {subcommand} --help` lacks"
            );
            checked += 1;
        }
    }
    assert!(checked > 0, "no traceval flags found; the parser is broken");
}

#[test]
fn the_parsers_find_what_they_should() {
    let markdown = "Run `make -s cluster-up` and\n`make demo\n  test`.\n\n\
        ```sh\neval \"$(make -s up)\"   # not `make down`\nhelm install x charts/traceval\n```\n\
        See [the chart](charts/traceval/README.md#values) and [web](https://x.io/a).\n";
    let snippets = code(markdown);
    assert_eq!(
        make_targets(&snippets),
        ["cluster-up", "demo", "test", "up"]
            .map(str::to_owned)
            .into()
    );
    assert_eq!(links(markdown), ["charts/traceval/README.md"]);
    let paths: Vec<&str> = snippets
        .iter()
        .flat_map(|s| words(s))
        .filter_map(repo_path)
        .collect();
    assert_eq!(paths, ["charts/traceval"]);
    assert_eq!(repo_path("bench/RESULTS.md"), Some("bench/RESULTS.md"));
    assert_eq!(repo_path("traceval.dev/v1alpha1"), None);
    assert_eq!(repo_path("1/1"), None);
    assert_eq!(repo_path("http://127.0.0.1:1/x.md"), None);
    assert!(exists("examples/*.yaml"));
    assert!(!exists("examples/*.nothing"));
    assert!(!makefile_targets().contains(".PHONY"));
}

/// The `[[test]]` target names of Cargo.toml (every test binary is declared
/// there: they live in folders per layer, see tests/README.md).
fn test_targets() -> Vec<String> {
    let manifest = std::fs::read_to_string(repo().join("Cargo.toml")).expect("Cargo.toml");
    let mut names = Vec::new();
    let mut in_test = false;
    for line in manifest.lines().map(str::trim) {
        if line.starts_with('[') {
            in_test = line == "[[test]]";
        } else if let Some(value) = line.strip_prefix("name = ").filter(|_| in_test) {
            names.push(value.trim_matches('"').to_owned());
        }
    }
    assert!(
        names.len() > 10,
        "no test targets found in Cargo.toml: {names:?}"
    );
    names
}
