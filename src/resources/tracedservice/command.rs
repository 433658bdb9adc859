//! The app container's start command and the pip install init container.
//!
//! Safety: user input (packages, command, args) is never put into a shell
//! string. When the operator has to run steps before the app (installing the
//! probe, checking it installed), the container runs a constant script with
//! `sh -c SCRIPT traceval-start <user argv...>` and the script ends in
//! `exec ... "$@"`. pip gets the packages as separate argv entries after `--`
//! in an init container, so no entry can be read as an option or as shell.

use k8s_openapi::api::core::v1::{Container, VolumeMount};

use super::validate::{ProbeSettings, ValidatedTracedService};

/// Volume shared by the pip init container and the app container.
pub const PACKAGES_VOLUME: &str = "traceval-python";
/// Where that volume is mounted.
pub const PACKAGES_MOUNT: &str = "/opt/traceval";
/// Where pip installs the packages (`--target`); on `PYTHONPATH`.
pub const PACKAGES_DIR: &str = "/opt/traceval/python";
/// `$0` of the wrapper script, shown by `ps`.
pub const WRAPPER_NAME: &str = "traceval-start";
/// Name of the pip init container.
pub const PIP_CONTAINER: &str = "pip-install";
/// `$0` of the pip init container's script (`probe: opentelemetry`).
pub const PIP_SCRIPT_NAME: &str = "traceval-pip-install";
/// Where that script installs once to ask the probe what it needs.
const STAGE_DIR: &str = "/opt/traceval/stage";

/// The pip init container's script for `probe: opentelemetry`: install the
/// packages into a stage, ask `opentelemetry-bootstrap -a requirements`
/// which instrumentations they need, then install packages and
/// instrumentations into the packages volume in one pip run. Running the
/// bootstrap in the app container instead (`-a install`, pip `-U` into the
/// same `--target`) replaced the whole `opentelemetry/` directory on each
/// instrumentation and lost `opentelemetry.sdk`: a real pod crashed with
/// "No module named 'opentelemetry.sdk'". The pip options and the packages
/// arrive as `"$@"`; nothing of the user's is in the script.
const PIP_OPENTELEMETRY_SCRIPT: &str = r#"set -e
python3 -m pip install --target "$STAGE" "$@"
PYTHONPATH="$STAGE" python3 -c 'from opentelemetry.instrumentation.bootstrap import run; run()' -a requirements >"$STAGE.txt"
python3 -m pip install --target "$TARGET" -r "$STAGE.txt" "$@"
rm -rf "$STAGE" "$STAGE.txt""#;

/// What the app container runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StartCommand {
    /// Container `command`; `None` keeps the image's entrypoint.
    pub command: Option<Vec<String>>,
    /// Container `args`.
    pub args: Vec<String>,
    /// The command as one shell-style line for `status.startCommand`, in the
    /// seed's form (`aliyun-bootstrap -a install && aliyun-instrument python app.py`).
    pub display: String,
}

/// Builds the app container's command: the user's argv, wrapped by the probe.
pub fn start_command(svc: &ValidatedTracedService) -> StartCommand {
    let user: Vec<String> = svc
        .command
        .iter()
        .flatten()
        .chain(svc.args.iter())
        .cloned()
        .collect();
    let probe = svc.tracing.as_ref().map(|t| &t.probe);
    let script = wrapper_script(!svc.packages.is_empty(), probe);
    let display_user = shell_words(&user);
    let display = match probe {
        Some(ProbeSettings::Arms(_)) => {
            format!("aliyun-bootstrap -a install && aliyun-instrument {display_user}")
        }
        Some(ProbeSettings::OpenTelemetry) => {
            format!("opentelemetry-bootstrap -a install && opentelemetry-instrument {display_user}")
        }
        Some(ProbeSettings::Builtin) | None if svc.command.is_none() => {
            format!("<image entrypoint> {display_user}")
                .trim_end()
                .to_owned()
        }
        Some(ProbeSettings::Builtin) | None => display_user,
    };
    match script {
        Some(script) => StartCommand {
            command: Some(vec![
                "/bin/sh".to_owned(),
                "-c".to_owned(),
                script,
                WRAPPER_NAME.to_owned(),
            ]),
            args: user,
            display,
        },
        None => StartCommand {
            command: svc.command.clone(),
            args: svc.args.clone(),
            display,
        },
    }
}

/// The constant wrapper script, or `None` when the user's command runs as is.
/// Only operator constants go into it; the user's argv arrives as `"$@"`.
fn wrapper_script(packages: bool, probe: Option<&ProbeSettings>) -> Option<String> {
    let mut lines: Vec<String> = Vec::new();
    if packages {
        lines.push(format!(r#"export PATH="{PACKAGES_DIR}/bin:$PATH""#));
    }
    match probe {
        Some(ProbeSettings::Arms(_)) => {
            // aliyun-bootstrap downloads into the working directory and exits 0
            // even when the download fails, so `&&` alone would start the app
            // untraced (or fail later with a confusing "not found"). Run it in
            // a scratch directory and check that it produced aliyun-instrument.
            lines.push(
                r#"(cd "${TMPDIR:-/tmp}" && aliyun-bootstrap -a install) || exit 1"#.to_owned(),
            );
            lines.push(guard(
                "aliyun-instrument",
                "aliyun-bootstrap -a install did not install the ARMS agent (aliyun-instrument is not on PATH); check that the pod can reach the agent download and ARMS_REGION_ID is right",
            ));
            lines.push(r#"exec aliyun-instrument "$@""#.to_owned());
        }
        Some(ProbeSettings::OpenTelemetry) => {
            // With packages, the init container ran the bootstrap
            // (PIP_OPENTELEMETRY_SCRIPT); without, the image brings the probe.
            if !packages {
                lines.push("opentelemetry-bootstrap -a install || exit 1".to_owned());
            }
            lines.push(guard(
                "opentelemetry-instrument",
                "opentelemetry-instrument is not on PATH; install opentelemetry-distro (tracing.probePackages)",
            ));
            lines.push(r#"exec opentelemetry-instrument "$@""#.to_owned());
        }
        Some(ProbeSettings::Builtin) | None if packages => lines.push(r#"exec "$@""#.to_owned()),
        Some(ProbeSettings::Builtin) | None => return None,
    }
    Some(lines.join("\n"))
}

fn guard(tool: &str, message: &str) -> String {
    format!(
        "command -v {tool} >/dev/null 2>&1 || {{ echo 'traceval: {message}; not starting the app untraced' >&2; exit 1; }}"
    )
}

/// The init container installing the packages into the shared volume, or
/// `None` when there is nothing to install. Runs the app image's own Python,
/// so the packages match its interpreter, and gets the user's env (proxies,
/// pip settings) but none of the operator's.
pub fn pip_install_container(svc: &ValidatedTracedService) -> Option<Container> {
    if svc.packages.is_empty() {
        return None;
    }
    let bootstrap = matches!(
        svc.tracing.as_ref().map(|t| &t.probe),
        Some(ProbeSettings::OpenTelemetry)
    );
    let mut command: Vec<String> = if bootstrap {
        [
            "/bin/sh",
            "-c",
            &format!("STAGE={STAGE_DIR} TARGET={PACKAGES_DIR}\n{PIP_OPENTELEMETRY_SCRIPT}"),
            PIP_SCRIPT_NAME,
        ]
        .into_iter()
        .map(str::to_owned)
        .collect()
    } else {
        ["python3", "-m", "pip", "install", "--target", PACKAGES_DIR]
            .into_iter()
            .map(str::to_owned)
            .collect()
    };
    command.extend(
        [
            "--no-cache-dir",
            "--disable-pip-version-check",
            "--no-input",
        ]
        .map(str::to_owned),
    );
    if let Some(index) = &svc.pip_index {
        command.push("--index-url".to_owned());
        command.push(index.url.clone());
        if let Some(authority) = index.plain_http_authority() {
            command.push("--trusted-host".to_owned());
            command.push(authority);
        }
    }
    command.push("--".to_owned());
    command.extend(svc.packages.iter().cloned());
    Some(Container {
        name: PIP_CONTAINER.to_owned(),
        // Its last log lines become the termination message, which the
        // operator reads for the status (pod_failures).
        termination_message_policy: Some("FallbackToLogsOnError".to_owned()),
        image: Some(svc.image.clone()),
        command: Some(command),
        env: (!svc.env.is_empty()).then(|| svc.env.clone()),
        resources: svc.resources.clone(),
        volume_mounts: Some(vec![packages_volume_mount()]),
        ..Container::default()
    })
}

/// Mount of the shared packages volume.
pub fn packages_volume_mount() -> VolumeMount {
    VolumeMount {
        name: PACKAGES_VOLUME.to_owned(),
        mount_path: PACKAGES_MOUNT.to_owned(),
        ..VolumeMount::default()
    }
}

/// Joins argv into a line a POSIX shell would split back into the same words.
/// For display only: nothing the operator runs is built from it.
pub fn shell_words(words: &[String]) -> String {
    words
        .iter()
        .map(|w| {
            let plain = !w.is_empty()
                && w.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"_-./:=@%+,".contains(&b));
            if plain {
                w.clone()
            } else {
                format!("'{}'", w.replace('\'', r#"'\''"#))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}
