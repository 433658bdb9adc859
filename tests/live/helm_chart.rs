//! The Helm chart (`charts/traceval/`): its CRDs are the generated ones, it
//! lints, it renders with every optional part, its manifests are accepted by
//! the real API server (`--dry-run=server`), its RBAC is least-privilege and
//! sufficient, and the operator pod is hardened. Needs `helm`, `kubectl` and
//! KUBECONFIG from `eval "$(tests/cluster/up)"`.

#[path = "helm_chart/cluster.rs"]
mod cluster;
#[path = "helm_chart/install.rs"]
mod install;
#[path = "helm_chart/tools.rs"]
mod tools;

use std::collections::BTreeMap;

use serde_yaml::Value;
use tools::{chart, documents, of_kind, ok, one, repo, run, strings, template};

const SYNC: &str = "run charts/traceval/sync-crds (after `cargo run -q -- crd --dir crds`)";

/// The `.yaml` files of a directory, by name.
fn yaml_files(dir: &std::path::Path) -> BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{} cannot be read ({e}); {SYNC}", dir.display()))
        .filter_map(|entry| {
            let path = entry.ok()?.path();
            let name = path.file_name()?.to_str()?.to_owned();
            name.ends_with(".yaml")
                .then(|| (name, std::fs::read(&path).expect("read CRD file")))
        })
        .collect()
}

#[test]
fn chart_crds_are_byte_identical_to_crds_dir() {
    let generated = yaml_files(&repo().join("crds"));
    let copied = yaml_files(&chart().join("crds"));
    assert!(!generated.is_empty(), "crds/ has no CRDs");
    let names = |m: &BTreeMap<String, Vec<u8>>| m.keys().cloned().collect::<Vec<_>>();
    assert_eq!(
        names(&copied),
        names(&generated),
        "charts/traceval/crds/ holds other files than crds/; {SYNC}"
    );
    for (name, bytes) in &generated {
        assert!(
            copied[name] == *bytes,
            "charts/traceval/crds/{name} differs from crds/{name}; {SYNC}"
        );
    }
}

#[test]
fn helm_lint_passes_strict_with_every_option() {
    let chart = chart();
    let chart = chart.to_str().expect("utf-8 path");
    ok("helm", &["lint", chart], None);
    for sets in [
        "",
        "serviceMonitor.enabled=true,grafanaDashboard.enabled=true",
        "watchNamespaces={team-a,team-b},leaderElection.enabled=false,replicas=2",
    ] {
        let mut args = vec!["lint", "--strict", chart];
        if !sets.is_empty() {
            args.extend(["--set", sets]);
        }
        ok("helm", &args, None);
    }
    // The values schema rejects what the operator would reject.
    let out = run(
        "helm",
        &["lint", chart, "--set", "defaultJudgePreset=gpt-judge"],
        None,
    );
    assert!(
        !out.status.success(),
        "an unknown judge preset must not lint"
    );
}

#[test]
fn default_values_render_the_operator_without_optional_parts() {
    let docs = documents(&template("traceval", "traceval-system", &[], false));
    let kinds: Vec<&str> = docs.iter().filter_map(|d| d["kind"].as_str()).collect();
    for kind in [
        "ServiceAccount",
        "ClusterRole",
        "ClusterRoleBinding",
        "Role",
        "RoleBinding",
        "Service",
        "Deployment",
    ] {
        assert!(kinds.contains(&kind), "no {kind} rendered: {kinds:?}");
    }
    assert!(!kinds.contains(&"ServiceMonitor") && !kinds.contains(&"ConfigMap"));
    assert!(
        !kinds.contains(&"CustomResourceDefinition"),
        "CRDs belong in crds/, not templates/"
    );

    let deployment = one(&docs, "Deployment");
    let container = &deployment["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(container["command"][0], "traceval");
    assert_eq!(strings(&container["args"]), ["operator"]);
    let env: BTreeMap<&str, &Value> = container["env"]
        .as_sequence()
        .expect("env")
        .iter()
        .map(|e| (e["name"].as_str().expect("env name"), &e["value"]))
        .collect();
    assert_eq!(env["TRACEVAL_HTTP_ADDR"], "0.0.0.0:8080");
    assert_eq!(env["TRACEVAL_LEADER_ELECT"], "true");
    assert_eq!(env["RUST_LOG"], "info");
    assert!(
        !env.contains_key("TRACEVAL_WATCH_NAMESPACES"),
        "unset means all namespaces"
    );

    let service = one(&docs, "Service");
    assert_eq!(service["spec"]["ports"][0]["port"], 8080);
    assert_eq!(service["spec"]["ports"][0]["name"], "metrics");
}

#[test]
fn optional_values_render_service_monitor_dashboard_and_namespaced_bindings() {
    let sets = [
        "serviceMonitor.enabled=true",
        "grafanaDashboard.enabled=true",
        "watchNamespaces={team-a,team-b}",
        "defaultTraceEndpoint=http://jaeger-collector.observability:4318",
        "defaultJudgePreset=qwen-max",
    ];
    let docs = documents(&template("traceval", "traceval-system", &sets, false));

    let monitor = one(&docs, "ServiceMonitor");
    assert_eq!(monitor["spec"]["endpoints"][0]["port"], "metrics");
    assert_eq!(monitor["spec"]["endpoints"][0]["path"], "/metrics");
    let service = one(&docs, "Service");
    let selected = &monitor["spec"]["selector"]["matchLabels"];
    for (key, value) in selected.as_mapping().expect("matchLabels") {
        assert_eq!(
            &service["metadata"]["labels"][key], value,
            "ServiceMonitor misses the Service"
        );
    }

    let dashboard = one(&docs, "ConfigMap");
    assert_eq!(dashboard["metadata"]["labels"]["grafana_dashboard"], "1");
    let json = dashboard["data"]["traceval-evaluation.json"]
        .as_str()
        .expect("dashboard JSON");
    let parsed: serde_json::Value = serde_json::from_str(json).expect("dashboard is JSON");
    assert_eq!(parsed["uid"], "traceval-evaluation");
    for metric in [
        "traceval_evaluation_score",
        "traceval_evaluation_traces_total",
    ] {
        assert!(
            json.contains(metric),
            "the dashboard does not show {metric}"
        );
    }

    // Namespaced permissions are bound only in the watched namespaces.
    let bindings = of_kind(&docs, "RoleBinding");
    let bound_in: Vec<&str> = bindings
        .iter()
        .filter(|b| b["roleRef"]["kind"] == "ClusterRole")
        .filter_map(|b| b["metadata"]["namespace"].as_str())
        .collect();
    assert_eq!(bound_in, ["team-a", "team-b"]);
    let cluster_bindings = of_kind(&docs, "ClusterRoleBinding");
    assert_eq!(
        cluster_bindings.len(),
        1,
        "only the cluster-scoped role is bound cluster-wide"
    );
    assert_eq!(cluster_bindings[0]["roleRef"]["name"], "traceval-cluster");

    let deployment = one(&docs, "Deployment");
    let env = deployment["spec"]["template"]["spec"]["containers"][0]["env"]
        .as_sequence()
        .expect("env");
    let value = |name: &str| {
        env.iter()
            .find(|e| e["name"] == name)
            .unwrap_or_else(|| panic!("no {name}"))["value"]
            .clone()
    };
    assert_eq!(value("TRACEVAL_WATCH_NAMESPACES"), "team-a,team-b");
    assert_eq!(value("TRACEVAL_DEFAULT_JUDGE_PRESET"), "qwen-max");
    assert_eq!(
        value("TRACEVAL_DEFAULT_TRACE_ENDPOINT"),
        "http://jaeger-collector.observability:4318"
    );
}

#[test]
fn rbac_has_no_wildcards_and_minimal_verbs() {
    let docs = documents(&template("traceval", "traceval-system", &[], false));
    let mut roles = of_kind(&docs, "ClusterRole");
    roles.extend(of_kind(&docs, "Role"));
    // (group, resource) -> verbs, over every role of the chart.
    let mut granted: BTreeMap<(String, String), Vec<String>> = BTreeMap::new();
    for role in &roles {
        let name = role["metadata"]["name"].as_str().unwrap_or_default();
        for rule in role["rules"].as_sequence().expect("rules") {
            assert!(
                rule["nonResourceURLs"].is_null(),
                "{name}: non-resource URLs"
            );
            for field in ["apiGroups", "resources", "verbs"] {
                let items = strings(&rule[field]);
                assert!(!items.is_empty(), "{name}: a rule without {field}");
                assert!(
                    !items.iter().any(|i| i.contains('*')),
                    "{name}: wildcard in {field}"
                );
            }
            for verb in strings(&rule["verbs"]) {
                assert!(
                    !["escalate", "bind", "impersonate", "deletecollection"].contains(&verb),
                    "{name}: verb {verb}"
                );
            }
            for group in strings(&rule["apiGroups"]) {
                for resource in strings(&rule["resources"]) {
                    granted
                        .entry((group.to_owned(), resource.to_owned()))
                        .or_default()
                        .extend(strings(&rule["verbs"]).into_iter().map(str::to_owned));
                }
            }
        }
    }
    let verbs = |group: &str, resource: &str| {
        let mut v = granted
            .get(&(group.into(), resource.into()))
            .cloned()
            .unwrap_or_default();
        v.sort();
        v
    };
    assert_eq!(
        verbs("", "secrets"),
        ["get"],
        "secrets: a presence check by name only"
    );
    assert_eq!(
        verbs("", "configmaps"),
        ["get"],
        "configmaps: the reference-answer dataset's key, read by name (spec.dataset), never listed or written"
    );
    assert_eq!(
        verbs("", "pods"),
        ["list"],
        "pods: listed to report a failing container, never changed"
    );
    // What the per-namespace Roles of evaluation pods grant, the operator holds.
    for resource in ["tracedservices", "evaluationtasks"] {
        assert!(verbs("traceval.dev", resource).contains(&"get".to_owned()));
    }
    assert!(verbs("traceval.dev", "evaluationtasks/status").contains(&"patch".to_owned()));
    // Server-side apply of a child needs create and patch; never update;
    // children are read from watches, never by `get`. Whether each verb is
    // actually used is checked against the audit log by
    // tests/reliability/privilege.rs.
    for (group, resource) in [
        ("apps", "deployments"),
        ("batch", "cronjobs"),
        ("batch", "jobs"),
        ("networking.k8s.io", "networkpolicies"),
    ] {
        assert_eq!(
            verbs(group, resource),
            ["create", "delete", "list", "patch", "watch"],
            "{group}/{resource}"
        );
    }
    for (group, resource) in [
        ("rbac.authorization.k8s.io", "roles"),
        ("rbac.authorization.k8s.io", "rolebindings"),
        ("", "serviceaccounts"),
    ] {
        assert_eq!(
            verbs(group, resource),
            ["create", "list", "patch", "watch"],
            "{group}/{resource}: garbage-collected, never deleted by the operator"
        );
    }
    assert_eq!(
        verbs("", "persistentvolumes"),
        ["create", "delete", "get", "list", "patch"]
    );
    let lease_role = one(&docs, "Role");
    assert_eq!(lease_role["metadata"]["namespace"], "traceval-system");
    assert_eq!(lease_role["rules"][1]["resourceNames"][0], "traceval");
}

#[test]
fn operator_pod_is_hardened() {
    let docs = documents(&template("traceval", "traceval-system", &[], false));
    let pod = &one(&docs, "Deployment")["spec"]["template"]["spec"];
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
    assert_eq!(
        pod["securityContext"]["seccompProfile"]["type"],
        "RuntimeDefault"
    );
    assert!(
        pod["securityContext"]["runAsUser"]
            .as_u64()
            .is_some_and(|uid| uid > 0)
    );
    assert!(pod["hostNetwork"].is_null() && pod["hostPID"].is_null());
    let containers = pod["containers"].as_sequence().expect("containers");
    assert_eq!(containers.len(), 1);
    let c = &containers[0];
    let sc = &c["securityContext"];
    assert_eq!(sc["runAsNonRoot"], true);
    assert_eq!(sc["readOnlyRootFilesystem"], true);
    assert_eq!(sc["allowPrivilegeEscalation"], false);
    assert!(sc["privileged"].is_null() || sc["privileged"] == false);
    assert_eq!(strings(&sc["capabilities"]["drop"]), ["ALL"]);
    assert!(sc["capabilities"]["add"].is_null(), "no capabilities added");
    assert_eq!(sc["seccompProfile"]["type"], "RuntimeDefault");
    for kind in ["requests", "limits"] {
        for resource in ["cpu", "memory"] {
            assert!(
                !c["resources"][kind][resource].is_null(),
                "no {kind}.{resource}"
            );
        }
    }
    assert_eq!(c["livenessProbe"]["httpGet"]["path"], "/healthz");
    assert_eq!(c["readinessProbe"]["httpGet"]["path"], "/readyz");
    for probe in ["livenessProbe", "readinessProbe"] {
        assert_eq!(c[probe]["httpGet"]["port"], "http");
    }
    assert_eq!(c["ports"][0]["name"], "http");
    assert_eq!(c["ports"][0]["containerPort"], 8080);
}
