//! Proof that packages and the start command reach pip and the app as argv,
//! never through a shell string built from user input: the Deployment is
//! built for hostile `pythonPackages`, `command` and `args` (past every
//! validation, as if one were missing), and its init container and app
//! container command lines are executed locally as the kubelet would (execve
//! of `command` + `args`, the wrapper through `/bin/sh -c`), with pip, the
//! probe and python replaced by stubs on PATH that record their argv.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use k8s_openapi::api::core::v1::Container;
use traceval::api::TracedService;
use traceval::resources::tracedservice::command::PIP_CONTAINER;
use traceval::resources::tracedservice::{BuildOptions, build, validate};

/// A stub that records its argv, one NUL-terminated element each.
const STUB: &str = "#!/bin/sh\nfor a in \"$@\"; do printf '%s\\000' \"$a\"; done > \"$RECORD_DIR/$(basename \"$0\").argv\"\n";

fn workdir() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("bad_input_argv");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("bin")).expect("stub dir");
    std::fs::create_dir_all(dir.join("records")).expect("record dir");
    std::fs::create_dir_all(dir.join("cwd")).expect("working dir");
    for tool in [
        "python3",
        "python",
        "opentelemetry-bootstrap",
        "opentelemetry-instrument",
    ] {
        let path = dir.join("bin").join(tool);
        std::fs::write(&path, STUB).expect("write stub");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    }
    dir
}

/// Shell payloads that would create `marker` if any reached a shell as code.
fn payloads(marker: &Path) -> Vec<String> {
    let m = marker.display();
    vec![
        format!("; touch {m}"),
        format!("$(touch {m})"),
        format!("`touch {m}`"),
        format!("&& touch {m}"),
        format!("\ntouch {m}\n"),
        format!("| touch {m}"),
        format!("'; touch {m}; '"),
        format!("\"; touch {m}; \""),
        format!("${{IFS}}touch${{IFS}}{m}"),
        format!("flask; touch {m}"),
    ]
}

/// Runs a container's command line as the kubelet does: execve of
/// `command[0]` with the rest of `command` and `args`, no shell in between.
fn run(container: &Container, dir: &Path) -> std::process::ExitStatus {
    let argv: Vec<String> = container
        .command
        .iter()
        .flatten()
        .chain(container.args.iter().flatten())
        .cloned()
        .collect();
    let path = format!("{}:/usr/bin:/bin", dir.join("bin").display());
    Command::new(&argv[0])
        .args(&argv[1..])
        .env_clear()
        .env("PATH", path)
        .env("RECORD_DIR", dir.join("records"))
        .current_dir(dir.join("cwd"))
        .status()
        .unwrap_or_else(|e| panic!("run {argv:?}: {e}"))
}

fn recorded(dir: &Path, tool: &str) -> Vec<String> {
    let path = dir.join("records").join(format!("{tool}.argv"));
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{tool} never ran ({e})"));
    bytes
        .split(|b| *b == 0)
        .map(|w| String::from_utf8(w.to_vec()).expect("UTF-8 argv"))
        .collect::<Vec<_>>()
        .split_last()
        .map(|(_, words)| words.to_vec())
        .unwrap_or_default()
}

/// A TracedService as the API server stores it, with the given probe.
fn stored(probe: Option<&str>) -> TracedService {
    let tracing = match probe {
        Some(probe) => {
            format!("  tracing: {{probe: {probe}, endpoint: 'http://collector:4318'}}\n")
        }
        None => String::new(),
    };
    let text = format!(
        "apiVersion: traceval.dev/v1alpha1\nkind: TracedService\nmetadata: {{name: hostile, namespace: ns, uid: 00000000-0000-0000-0000-000000000001}}\nspec:\n  image: python:3.12-slim\n  command: [python, app.py]\n  pythonPackages: [flask]\n{tracing}"
    );
    serde_yaml::from_str(&text).expect("TracedService")
}

#[test]
fn hostile_packages_and_commands_run_as_argv_never_through_a_shell() {
    for probe in [Some("opentelemetry"), Some("builtin"), None] {
        let dir = workdir();
        let marker = dir.join("pwned");
        let hostile = payloads(&marker);
        let mut svc = validate(&stored(probe)).expect("valid base");
        // Past every validation: the builders alone must keep these inert.
        svc.packages = hostile.clone();
        svc.command = Some(vec!["python".to_owned(), hostile[0].clone()]);
        svc.args = hostile[1..].to_vec();
        let children = build(&svc, &BuildOptions::default());
        let pod = children
            .deployment
            .spec
            .and_then(|s| s.template.spec)
            .expect("pod spec");
        let pip = pod
            .init_containers
            .iter()
            .flatten()
            .find(|c| c.name == PIP_CONTAINER)
            .expect("pip init container");
        let app = &pod.containers[0];

        // The opentelemetry init script stages under the packages volume;
        // here that is a directory of the test's own.
        let volume = dir.join("opt");
        std::fs::create_dir_all(&volume).expect("packages volume");
        let mut pip = pip.clone();
        for word in pip.command.iter_mut().flatten() {
            *word = word.replace("/opt/traceval", &volume.display().to_string());
        }
        assert!(run(&pip, &dir).success(), "pip stub under {probe:?}");
        let pip_argv = recorded(&dir, "python3");
        let after_dashes = pip_argv
            .iter()
            .position(|a| a == "--")
            .map(|i| pip_argv[i + 1..].to_vec())
            .expect("packages after --");
        assert!(
            after_dashes.ends_with(&hostile),
            "pip must get each package as one argument under {probe:?}: {pip_argv:?}"
        );

        assert!(run(app, &dir).success(), "app stub under {probe:?}");
        let (tool, mut expected) = match probe {
            Some("opentelemetry") => ("opentelemetry-instrument", vec!["python".to_owned()]),
            // builtin or no probe: the wrapper (there for the packages) execs the user's argv.
            _ => ("python", Vec::new()),
        };
        expected.extend(hostile.iter().cloned());
        assert_eq!(
            recorded(&dir, tool),
            expected,
            "the app must get the user's argv verbatim under {probe:?}"
        );
        assert!(
            !marker.exists() && !dir.join("cwd").join("pwned").exists(),
            "a payload ran as shell code under {probe:?}"
        );
    }
}
