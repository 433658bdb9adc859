//! Least privilege (issue 8, item 8), against the real control plane.
//!
//! The operator runs as a real `traceval operator` process authenticated as
//! the chart's ServiceAccount (a TokenRequest token), bound by the chart's
//! own rendered RBAC, while the test drives every path that needs a
//! permission: TracedServices with and without an OSS CSI volume, an edit
//! that drops the volume (cleanup), deletion (finalizer), online and
//! single-trace EvaluationTasks, leader election. The API server's audit log
//! (`tests/cluster/up` records ServiceAccount requests at Metadata level)
//! then shows what the operator actually did:
//!
//! - nothing it did was refused (the role is sufficient), and
//! - every verb on every resource the role grants was used, or is in
//!   [`NOT_REQUESTS`] with the reason it cannot show up as a request.
//!
//! Then the per-task ServiceAccount of evaluation pods is checked with
//! `kubectl auth can-i`: it reads only its own task and target and patches
//! only its task's status.

#[path = "privilege/audit.rs"]
mod audit;
#[path = "privilege/grants.rs"]
mod grants;
#[path = "../live/helm_chart/tools.rs"]
#[allow(dead_code)]
mod tools;

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use audit::Request;
use grants::Grant;
use tools::{
    ClusterScoped, DEADLINE, TempNamespace, documents, install_chart_crds, kubectl, one, poll, run,
};

const BIN: &str = env!("CARGO_BIN_EXE_traceval");

/// Grants that are authorization checks made inside the API server, never
/// requests of their own, so the audit log cannot show them used.
const NOT_REQUESTS: &[(&str, &str, &str)] = &[
    // blockOwnerDeletion on the owner references of children is checked as
    // `update` on the owner's finalizers subresource where the
    // OwnerReferencesPermissionEnforcement admission plugin is on.
    ("traceval.dev", "tracedservices/finalizers", "update"),
    ("traceval.dev", "evaluationtasks/finalizers", "update"),
];

/// The operator process, killed when dropped.
struct OperatorProcess {
    child: Child,
    log: PathBuf,
}

impl Drop for OperatorProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl OperatorProcess {
    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }
}

/// A kubeconfig that authenticates as `namespace/sa` with a TokenRequest token.
fn service_account_kubeconfig(namespace: &str, sa: &str, path: &std::path::Path) {
    let token = kubectl(
        &["create", "token", sa, "-n", namespace, "--duration", "1h"],
        None,
    );
    let server = kubectl(
        &[
            "config",
            "view",
            "--minify",
            "-o",
            "jsonpath={.clusters[0].cluster.server}",
        ],
        None,
    );
    let ca = kubectl(
        &[
            "config",
            "view",
            "--minify",
            "--raw",
            "-o",
            "jsonpath={.clusters[0].cluster.certificate-authority-data}",
        ],
        None,
    );
    assert!(!ca.is_empty(), "the test kubeconfig embeds its CA");
    let config = format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: {server}\n    \
         certificate-authority-data: {ca}\nusers:\n- name: u\n  user:\n    token: {}\ncontexts:\n- name: x\n  \
         context: {{cluster: c, user: u, namespace: {namespace}}}\ncurrent-context: x\n",
        token.trim()
    );
    std::fs::write(path, config).expect("write the ServiceAccount kubeconfig");
}

fn apply(namespace: &str, manifest: &str) {
    kubectl(
        &[
            "apply",
            "--server-side",
            "--field-manager=privilege-test",
            "-n",
            namespace,
            "-f",
            "-",
        ],
        Some(manifest),
    );
}

fn exists(namespace: Option<&str>, kind: &str, name: &str) -> bool {
    let mut args = vec!["get", kind, name, "-o", "name", "--ignore-not-found"];
    if let Some(ns) = namespace {
        args.extend(["-n", ns]);
    }
    !kubectl(&args, None).trim().is_empty()
}

fn wait_exists(namespace: Option<&str>, kind: &str, name: &str, present: bool) {
    let what = format!(
        "{kind} {name} to be {}",
        if present { "created" } else { "deleted" }
    );
    poll(&what, DEADLINE, || {
        (exists(namespace, kind, name) == present).then_some(())
    });
}

const CSI_DRIVER: &str = "apiVersion: storage.k8s.io/v1\nkind: CSIDriver\nmetadata:\n  \
    name: ossplugin.csi.alibabacloud.com\nspec:\n  attachRequired: false\n  podInfoOnMount: false\n";

fn traced_service(name: &str, with_volume: bool) -> String {
    let mounts = if with_volume {
        "  mounts:\n    - mountPath: /mnt/data/\n      readOnly: true\n      oss:\n        \
         bucket: examplebucket\n        path: /apps/x/\n        endpoint: oss.example.com\n        \
         credentialsSecretRef: {name: oss-credentials}\n        mode: csi\n"
    } else {
        ""
    };
    format!(
        "apiVersion: traceval.dev/v1alpha1\nkind: TracedService\nmetadata:\n  name: {name}\nspec:\n  \
         image: python:3.11-slim\n  command: [python, app.py]\n  port: 8000\n{mounts}  \
         tracing:\n    probe: opentelemetry\n    endpoint: http://127.0.0.1:4318\n  \
         network:\n    internetAccess: true\n"
    )
}

fn evaluation_task(name: &str, online: bool) -> String {
    let mode = if online {
        "  schedule: \"*/10 * * * *\"\n  sampling:\n    start: \"2026-01-01T00:00:00Z\"\n    \
         end: \"2099-01-01T00:00:00Z\"\n    policy:\n      probability: {ratio: 1}\n"
    } else {
        // With reference answers: the operator reads their ConfigMap key.
        "  traceIDs: [f045f401d35eeab246678739cd396e40]\n  \
         dataset:\n    configMapRef: {name: references, key: rows.jsonl}\n"
    };
    format!(
        "apiVersion: traceval.dev/v1alpha1\nkind: EvaluationTask\nmetadata:\n  name: {name}\nspec:\n  \
         target:\n    tracedService: app\n  traceSource:\n    jaeger:\n      url: http://127.0.0.1:16686\n  \
         judge:\n    provider: qwen-max\n    tokenSecretRef: {{name: judge-token, key: token}}\n  \
         extraction:\n    query:\n      spanName: \"kind:LLM\"\n      jsonPathInSpan: attributes.q\n    \
         answer:\n      spanName: \"kind:LLM\"\n      jsonPathInSpan: attributes.a\n{mode}"
    )
}

#[test]
fn operator_uses_exactly_what_its_role_grants() {
    let audit_log = audit::log_path();
    install_chart_crds();
    kubectl(
        &[
            "apply",
            "--server-side",
            "--field-manager=privilege-test",
            "-f",
            "-",
        ],
        Some(CSI_DRIVER),
    );
    let ns = TempNamespace::create("privilege");
    let release = format!("priv-{}", ns.name.rsplit('-').next().unwrap_or("x"));
    let _cluster_scoped = ClusterScoped {
        release: release.clone(),
    };
    let watch_here = format!("watchNamespaces={{{}}}", ns.name);
    let docs = documents(&tools::template(
        &release,
        &ns.name,
        &[watch_here.as_str(), "leaderElection.enabled=true"],
        false,
    ));
    let rbac: Vec<String> = docs
        .iter()
        .filter(|d| {
            d["kind"] == "ServiceAccount" || d["apiVersion"] == "rbac.authorization.k8s.io/v1"
        })
        .map(|d| serde_yaml::to_string(d).expect("serialise"))
        .collect();
    kubectl(
        &["apply", "--namespace", &ns.name, "-f", "-"],
        Some(&rbac.join("---\n")),
    );
    let granted = grants::granted(&docs);
    let sa = one(&docs, "ServiceAccount")["metadata"]["name"]
        .as_str()
        .expect("ServiceAccount name")
        .to_owned();
    let who = format!("system:serviceaccount:{}:{sa}", ns.name);
    let as_sa = format!("--as={who}");
    // The authorizer sees new bindings through a watch.
    poll(
        "the operator's RoleBinding to take effect",
        DEADLINE,
        || {
            run(
                "kubectl",
                &[
                    "auth",
                    "can-i",
                    "watch",
                    "tracedservices.traceval.dev",
                    &as_sa,
                    "-n",
                    &ns.name,
                ],
                None,
            )
            .status
            .success()
            .then_some(())
        },
    );

    let dir = tempdir(&ns.name);
    let kubeconfig = dir.join("operator.kubeconfig");
    service_account_kubeconfig(&ns.name, &sa, &kubeconfig);
    for (name, key) in [("judge-token", "token"), ("oss-credentials", "akId")] {
        kubectl(
            &[
                "create",
                "secret",
                "generic",
                name,
                "-n",
                &ns.name,
                &format!("--from-literal={key}=not-a-real-secret"),
            ],
            None,
        );
    }
    kubectl(
        &[
            "create",
            "configmap",
            "references",
            "-n",
            &ns.name,
            "--from-literal=rows.jsonl={\"query\": \"q\", \"reference\": \"r\"}",
        ],
        None,
    );
    // The Lease the chart's leader-election Role names.
    let lease = tools::of_kind(&docs, "Role")
        .iter()
        .flat_map(|role| role["rules"].as_sequence().cloned().unwrap_or_default())
        .find_map(|rule| {
            tools::strings(&rule["resourceNames"])
                .first()
                .map(|n| n.to_string())
        })
        .expect("the chart's leader-election Role names its Lease");
    let log = dir.join("operator.log");
    let operator = OperatorProcess {
        child: Command::new(BIN)
            .args(["operator", "--namespace", &ns.name, "--leader-elect"])
            .args(["--lease-name", &lease, "--lease-namespace", &ns.name])
            .args(["--http-addr", "127.0.0.1:0", "--instance", "privilege-test"])
            .env("KUBECONFIG", &kubeconfig)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("operator log"))
            .spawn()
            .expect("start traceval operator"),
        log,
    };

    // TracedServices: one plain (the EvaluationTasks' target), one with an
    // OSS CSI volume (PersistentVolume + claim + finalizer).
    apply(&ns.name, &traced_service("app", false));
    apply(&ns.name, &traced_service("with-volume", true));
    for (kind, name) in [
        ("deployment", "app"),
        ("service", "app"),
        ("networkpolicy", "app"),
        ("deployment", "with-volume"),
    ] {
        wait_exists(Some(&ns.name), kind, name, true);
    }
    let claim = poll("the OSS volume's claim", DEADLINE, || {
        let out = kubectl(
            &[
                "get",
                "pvc",
                "-n",
                &ns.name,
                "-o",
                "jsonpath={.items[*].metadata.name}",
            ],
            None,
        );
        (!out.trim().is_empty()).then(|| out.trim().to_owned())
    });
    let volume = kubectl(
        &[
            "get",
            "pvc",
            &claim,
            "-n",
            &ns.name,
            "-o",
            "jsonpath={.spec.volumeName}",
        ],
        None,
    );
    let volume = volume.trim().to_owned();
    assert!(!volume.is_empty(), "the claim names its PersistentVolume");
    wait_exists(None, "pv", &volume, true);
    // Dropping the volume from the spec: cleanup deletes claim and volume.
    apply(&ns.name, &traced_service("with-volume", false));
    wait_exists(Some(&ns.name), "pvc", &claim, false);
    wait_exists(None, "pv", &volume, false);
    // Deleting a TracedService that had a volume releases its finalizer.
    apply(&ns.name, &traced_service("gone", true));
    wait_exists(Some(&ns.name), "deployment", "gone", true);
    kubectl(
        &[
            "delete",
            "tracedservice",
            "gone",
            "-n",
            &ns.name,
            "--timeout=60s",
        ],
        None,
    );

    // `network.enforce: false` deletes the NetworkPolicy; children labelled and
    // controlled by a TracedService but no longer wanted (as a renamed child
    // of an older version would be) are deleted.
    kubectl(
        &[
            "patch",
            "tracedservice",
            "app",
            "-n",
            &ns.name,
            "--type=json",
            "-p",
            r#"[{"op":"add","path":"/spec/network/enforce","value":false}]"#,
        ],
        None,
    );
    wait_exists(Some(&ns.name), "networkpolicy", "app", false);
    let uid = kubectl(
        &[
            "get",
            "tracedservice",
            "app",
            "-n",
            &ns.name,
            "-o",
            "jsonpath={.metadata.uid}",
        ],
        None,
    );
    for stray in [
        stray_child("apps/v1", "Deployment", uid.trim()),
        stray_child("v1", "Service", uid.trim()),
    ] {
        kubectl(&["create", "-n", &ns.name, "-f", "-"], Some(&stray));
    }
    wait_exists(Some(&ns.name), "deployment", "app-previous", false);
    wait_exists(Some(&ns.name), "service", "app-previous", false);
    wait_exists(Some(&ns.name), "deployment", "app", true);

    // EvaluationTasks: online (CronJob) and single traces (Job), each with
    // its ServiceAccount, Role and RoleBinding.
    apply(&ns.name, &evaluation_task("online", true));
    apply(&ns.name, &evaluation_task("single", false));
    for (kind, name) in [("cronjob", "online"), ("job", "single")] {
        poll(&format!("the {kind} of task {name}"), DEADLINE, || {
            let out = kubectl(
                &[
                    "get",
                    kind,
                    "-n",
                    &ns.name,
                    "-o",
                    "jsonpath={.items[*].metadata.ownerReferences[0].name}",
                ],
                None,
            );
            out.split_whitespace()
                .any(|owner| owner == name)
                .then_some(())
        });
    }
    let evaluator_sa = poll(
        "the online task's evaluator ServiceAccount",
        DEADLINE,
        || {
            let out = kubectl(
                &[
                    "get",
                    "cronjob",
                    "-n",
                    &ns.name,
                    "-o",
                    "jsonpath={.items[0].spec.jobTemplate.spec.template.spec.serviceAccountName}",
                ],
                None,
            );
            (!out.trim().is_empty()).then(|| out.trim().to_owned())
        },
    );
    for kind in ["serviceaccount", "role", "rolebinding"] {
        wait_exists(Some(&ns.name), kind, &evaluator_sa, true);
    }
    poll("both tasks' status from the operator", DEADLINE, || {
        let out = kubectl(
            &[
                "get",
                "evaluationtasks",
                "-n",
                &ns.name,
                "-o",
                "jsonpath={.items[*].status.phase}",
            ],
            None,
        );
        (out.split_whitespace().count() == 2).then_some(())
    });

    // A new trace list replaces the single task's Job; switching the online
    // task to single traces deletes its CronJob.
    let first_job = kubectl(
        &[
            "get",
            "jobs",
            "-n",
            &ns.name,
            "-o",
            "jsonpath={.items[0].metadata.name}",
        ],
        None,
    );
    kubectl(
        &[
            "patch",
            "evaluationtask",
            "single",
            "-n",
            &ns.name,
            "--type=merge",
            "-p",
            r#"{"spec":{"traceIDs":["0af7651916cd43dd8448eb211c80319c"]}}"#,
        ],
        None,
    );
    wait_exists(Some(&ns.name), "job", first_job.trim(), false);
    kubectl(
        &[
            "patch",
            "evaluationtask",
            "online",
            "-n",
            &ns.name,
            "--type=json",
            "-p",
            r#"[{"op":"remove","path":"/spec/schedule"},{"op":"remove","path":"/spec/sampling"},
              {"op":"add","path":"/spec/traceIDs","value":["f045f401d35eeab246678739cd396e40"]}]"#,
        ],
        None,
    );
    poll("the online task's CronJob to be deleted", DEADLINE, || {
        kubectl(&["get", "cronjobs", "-n", &ns.name, "-o", "name"], None)
            .trim()
            .is_empty()
            .then_some(())
    });

    let requests = poll("the operator's requests in the audit log", DEADLINE, || {
        let requests = audit::requests_of(&audit_log, &who);
        requests
            .iter()
            .any(|r| r.resource == "evaluationtasks/status" && r.verb == "patch")
            .then_some(requests)
    });
    let operator_log = operator.log_tail();
    drop(operator);

    let refused: BTreeSet<String> = requests
        .iter()
        .filter(|r| r.code == 403)
        .map(Request::describe)
        .collect();
    let used: BTreeSet<Grant> = requests
        .iter()
        .filter(|r| r.code < 400 || r.code == 404 || r.code == 409)
        .flat_map(Request::grants_used)
        .collect();
    // What the operator grants evaluation pods it must hold itself (RBAC
    // refuses to let anyone grant more than they have).
    let delegated = grants::granted(
        &documents(&kubectl(
            &[
                "get",
                "roles",
                "-n",
                &ns.name,
                "-l",
                "app.kubernetes.io/managed-by=traceval",
                "-o",
                "yaml",
            ],
            None,
        ))
        .iter()
        .flat_map(|list| list["items"].as_sequence().cloned().unwrap_or_default())
        .collect::<Vec<_>>(),
    );
    let exempt: BTreeSet<Grant> = NOT_REQUESTS
        .iter()
        .map(|(group, resource, verb)| Grant::new(group, resource, verb))
        .chain(delegated)
        .collect();
    let unused: Vec<String> = granted
        .iter()
        .filter(|g| !used.contains(*g) && !exempt.contains(*g))
        .map(Grant::to_string)
        .collect();
    let beyond: Vec<String> = used
        .iter()
        .filter(|g| !granted.contains(*g))
        .map(Grant::to_string)
        .collect();
    eprintln!(
        "privilege: {} audited requests by {who}; {} grants in the role, {} used, {} exempt",
        requests.len(),
        granted.len(),
        used.len(),
        exempt.len()
    );
    assert!(
        refused.is_empty(),
        "the operator was refused (its role is not sufficient): {refused:?}\n{operator_log}"
    );
    assert!(beyond.is_empty(), "used but not granted: {beyond:?}");
    assert!(
        unused.is_empty(),
        "granted but never used — remove from charts/traceval/templates/rbac.yaml \
         or explain in NOT_REQUESTS: {unused:?}"
    );

    evaluator_account_is_confined(&ns.name, &evaluator_sa);
    std::fs::remove_dir_all(&dir).ok();
}

/// The evaluation pods' ServiceAccount reads its own task and target and
/// patches only its task's status.
fn evaluator_account_is_confined(namespace: &str, sa: &str) {
    let as_sa = format!("--as=system:serviceaccount:{namespace}:{sa}");
    let allowed = [
        ("get", "evaluationtasks.traceval.dev/online"),
        (
            "patch",
            "evaluationtasks.traceval.dev/online --subresource=status",
        ),
        ("get", "tracedservices.traceval.dev/app"),
    ];
    let denied = [
        ("get", "evaluationtasks.traceval.dev/single"),
        ("list", "evaluationtasks.traceval.dev"),
        ("patch", "evaluationtasks.traceval.dev/online"),
        (
            "patch",
            "evaluationtasks.traceval.dev/single --subresource=status",
        ),
        ("get", "tracedservices.traceval.dev/with-volume"),
        ("patch", "tracedservices.traceval.dev/app"),
        ("get", "secrets/judge-token"),
        ("list", "secrets"),
        ("create", "pods"),
        ("get", "cronjobs.batch/online"),
    ];
    for (verb, resource) in allowed {
        let mut parts = resource.split(' ');
        let resource = parts.next().unwrap_or_default();
        let extra: Vec<&str> = parts.collect();
        let mut args = vec!["auth", "can-i", verb, resource, &as_sa, "-n", namespace];
        args.extend(extra);
        assert!(
            run("kubectl", &args, None).status.success(),
            "the evaluator ServiceAccount cannot {verb} {resource}"
        );
    }
    for (verb, resource) in denied {
        let mut parts = resource.split(' ');
        let resource_only = parts.next().unwrap_or_default();
        let extra: Vec<&str> = parts.collect();
        let mut args = vec![
            "auth",
            "can-i",
            verb,
            resource_only,
            &as_sa,
            "-n",
            namespace,
        ];
        args.extend(extra.iter().copied());
        assert!(
            !run("kubectl", &args, None).status.success(),
            "the evaluator ServiceAccount may {verb} {resource}"
        );
    }
}

/// A child labelled for TracedService `app` and controlled by it (`uid`)
/// under a name the spec does not want.
fn stray_child(api_version: &str, kind: &str, uid: &str) -> String {
    let spec = if kind == "Deployment" {
        "spec:\n  replicas: 0\n  selector: {matchLabels: {stray: \"yes\"}}\n  template:\n    \
         metadata: {labels: {stray: \"yes\"}}\n    spec: {containers: [{name: c, image: busybox}]}\n"
    } else {
        "spec:\n  ports: [{port: 80}]\n"
    };
    format!(
        "apiVersion: {api_version}\nkind: {kind}\nmetadata:\n  name: app-previous\n  labels:\n    \
         app.kubernetes.io/managed-by: traceval\n    traceval.dev/tracedservice: app\n  \
         ownerReferences:\n  - apiVersion: traceval.dev/v1alpha1\n    kind: TracedService\n    \
         name: app\n    uid: {uid}\n    controller: true\n{spec}"
    )
}

fn tempdir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("traceval-{name}"));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}
