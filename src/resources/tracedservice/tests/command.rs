use super::{app_container, children, init_container, validated};
use crate::resources::tracedservice::command::{
    PACKAGES_DIR, PIP_CONTAINER, PIP_SCRIPT_NAME, WRAPPER_NAME, shell_words, start_command,
};

fn script(name: &str) -> (String, Vec<String>) {
    let children = children(name);
    let app = app_container(&children.deployment);
    let command = app.command.clone().expect("wrapped command");
    assert_eq!(command[..2], ["/bin/sh".to_owned(), "-c".to_owned()]);
    assert_eq!(command[3], WRAPPER_NAME);
    assert_eq!(command.len(), 4, "user input never joins the script's argv");
    (command[2].clone(), app.args.clone().unwrap_or_default())
}

#[test]
fn arms_wraps_command_and_guards_agent_install() {
    let (script, args) = script("seed-arms");
    assert_eq!(args, ["python", "/mnt/data/app.py"]);
    let lines: Vec<&str> = script.lines().collect();
    assert_eq!(
        lines[0],
        format!(r#"export PATH="{PACKAGES_DIR}/bin:$PATH""#)
    );
    assert!(lines[1].contains("aliyun-bootstrap -a install"), "{script}");
    // aliyun-bootstrap exits 0 when the download fails: the guard must check its result.
    assert!(
        lines[2].starts_with("command -v aliyun-instrument >/dev/null 2>&1 || {"),
        "{script}"
    );
    assert!(lines[2].contains("exit 1"), "{script}");
    assert_eq!(lines[3], r#"exec aliyun-instrument "$@""#);
    let start = start_command(&validated("seed-arms"));
    assert_eq!(
        start.display,
        "aliyun-bootstrap -a install && aliyun-instrument python /mnt/data/app.py"
    );
}

#[test]
fn opentelemetry_wraps_command_with_bootstrap_and_instrument() {
    let (script, args) = script("opentelemetry");
    assert_eq!(args, ["python", "app.py", "--port", "8000", "it's quoted"]);
    // The packages' init container ran the bootstrap: the app starts at once.
    assert!(!script.contains("opentelemetry-bootstrap"), "{script}");
    assert!(
        script.ends_with(r#"exec opentelemetry-instrument "$@""#),
        "{script}"
    );
    assert!(
        !script.contains("app.py"),
        "the user's argv stays out of the script"
    );
    let start = start_command(&validated("opentelemetry"));
    assert_eq!(
        start.display,
        r#"opentelemetry-bootstrap -a install && opentelemetry-instrument python app.py --port 8000 'it'\''s quoted'"#
    );
}

#[test]
fn builtin_leaves_command_untouched() {
    let children = children("builtin");
    let app = app_container(&children.deployment);
    assert_eq!(
        app.command.as_deref(),
        Some(&["python".to_owned(), "-m".to_owned(), "app".to_owned()][..])
    );
    assert_eq!(app.args, None);
    assert!(init_container(&children.deployment, PIP_CONTAINER).is_none());
    assert_eq!(
        start_command(&validated("builtin")).display,
        "python -m app"
    );
}

#[test]
fn no_command_keeps_the_image_entrypoint() {
    let children = children("minimal");
    let app = app_container(&children.deployment);
    assert_eq!(app.command, None);
    assert_eq!(app.args, None);
    assert_eq!(
        start_command(&validated("minimal")).display,
        "<image entrypoint>"
    );
}

#[test]
fn packages_go_to_pip_as_separate_argv_after_double_dash() {
    let children = children("opentelemetry");
    let pip = init_container(&children.deployment, PIP_CONTAINER).expect("pip init container");
    let command = pip.command.clone().expect("pip command");
    // probe: opentelemetry: a constant script, the pip options and packages as "$@".
    assert_eq!(command[..2], ["/bin/sh", "-c"].map(String::from));
    assert_eq!(command[3], PIP_SCRIPT_NAME);
    let script = &command[2];
    assert!(
        script.contains(&format!("TARGET={PACKAGES_DIR}")),
        "{script}"
    );
    assert!(
        script.contains("bootstrap import run; run()' -a requirements"),
        "{script}"
    );
    assert!(
        script.contains(r#"pip install --target "$TARGET" -r "$STAGE.txt" "$@""#),
        "one pip run installs packages and instrumentations: {script}"
    );
    assert!(
        !script.contains("flask"),
        "the user's packages stay out of the script"
    );
    let index = command
        .iter()
        .position(|a| a == "--index-url")
        .expect("--index-url");
    assert_eq!(
        command[index + 1],
        "https://mirrors.example.com/pypi/simple"
    );
    // https is verified by pip: nothing to trust by hand.
    assert!(
        !command.iter().any(|a| a == "--trusted-host"),
        "{command:?}"
    );
    let dashdash = command.iter().position(|a| a == "--").expect("--");
    let packages = &command[dashdash + 1..];
    assert!(packages.starts_with(&["opentelemetry-distro==0.66b1".to_owned()]));
    assert!(packages.ends_with(&["flask".to_owned(), "dashscope==1.20.0".to_owned()]));
    assert_eq!(pip.image.as_deref(), Some("python:3.12-slim"));
}

#[test]
fn arms_installs_aliyun_bootstrap_before_user_packages() {
    let children = children("seed-arms");
    let pip = init_container(&children.deployment, PIP_CONTAINER).expect("pip init container");
    let command = pip.command.clone().expect("pip command");
    assert_eq!(
        command[..6],
        ["python3", "-m", "pip", "install", "--target", PACKAGES_DIR].map(String::from)
    );
    let dashdash = command.iter().position(|a| a == "--").expect("--");
    assert_eq!(
        command[dashdash + 1..],
        ["aliyun-bootstrap==1.0.8", "flask", "dashscope"].map(String::from)
    );
}

#[test]
fn shell_words_round_trip_through_sh() {
    let words: Vec<String> = ["a b", "it's", "$HOME", "", "plain-1.0", "`x`", "\"q\""]
        .map(String::from)
        .to_vec();
    let line = shell_words(&words);
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!(r#"for a in {line}; do printf '%s\n' "$a"; done"#))
        .output()
        .expect("run sh");
    let got: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(String::from)
        .collect();
    assert_eq!(got, words);
}

#[test]
fn wrapper_passes_hostile_argv_through_unchanged() {
    // The exact wrapper the operator generates, with a stub in place of the
    // probe, run by a real sh: every argv entry arrives as one word.
    let mut ts = super::fixture("minimal");
    ts.spec.command = Some(vec!["printf".into(), "%s\\n".into()]);
    ts.spec.args = vec![
        "$(touch /tmp/pwned)".into(),
        "a;b".into(),
        "'x' \"y\"".into(),
    ];
    ts.spec.python_packages = vec!["flask".into()];
    let start = start_command(&crate::resources::tracedservice::validate(&ts).expect("valid"));
    let command = start.command.expect("wrapped");
    let out = std::process::Command::new(&command[0])
        .args(&command[1..])
        .args(&start.args)
        .output()
        .expect("run wrapper");
    assert!(out.status.success(), "{out:?}");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "$(touch /tmp/pwned)\na;b\n'x' \"y\"\n"
    );
}

/// Runs the arms wrapper with `aliyun-bootstrap` replaced by `stub` (a shell
/// script body) on PATH; returns (exit code, stdout, stderr).
fn run_arms_wrapper(stub: &str, tag: &str) -> (i32, String, String) {
    use std::os::unix::fs::PermissionsExt;
    let dir = std::env::temp_dir().join(format!("traceval-arms-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bootstrap = dir.join("aliyun-bootstrap");
    std::fs::write(&bootstrap, format!("#!/bin/sh\n{stub}\n")).unwrap();
    std::fs::set_permissions(&bootstrap, std::fs::Permissions::from_mode(0o755)).unwrap();
    let mut ts = super::fixture("seed-arms");
    ts.spec.command = Some(vec!["echo".into(), "app started".into()]);
    let start = start_command(&crate::resources::tracedservice::validate(&ts).unwrap());
    let command = start.command.unwrap();
    let out = std::process::Command::new(&command[0])
        .args(&command[1..])
        .args(&start.args)
        .env("PATH", format!("{}:/usr/bin:/bin", dir.display()))
        .env("TRACEVAL_STUB_DIR", &dir)
        .output()
        .unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn arms_guard_stops_start_when_bootstrap_fails_silently() {
    // What aliyun-bootstrap 1.0.8 does when the agent download fails.
    let (code, stdout, stderr) = run_arms_wrapper(
        "echo 'Installation aborted due to download failure.'; exit 0",
        "fail",
    );
    assert_eq!(code, 1, "stdout: {stdout}\nstderr: {stderr}");
    assert!(!stdout.contains("app started"), "{stdout}");
    assert!(
        stderr.contains("did not install the ARMS agent"),
        "{stderr}"
    );
}

#[test]
fn arms_guard_lets_an_installed_agent_start_the_app() {
    let stub = r#"printf '#!/bin/sh\nexec "$@"\n' > "$TRACEVAL_STUB_DIR/aliyun-instrument"
chmod +x "$TRACEVAL_STUB_DIR/aliyun-instrument""#;
    let (code, stdout, stderr) = run_arms_wrapper(stub, "ok");
    assert_eq!(code, 0, "stderr: {stderr}");
    assert_eq!(stdout, "app started\n");
}
