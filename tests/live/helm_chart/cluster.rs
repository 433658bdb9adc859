//! The parts of the chart tests that need the real API server: server-side
//! dry runs of the rendered manifests, and the RBAC exercised as the
//! operator's ServiceAccount.

use crate::tools::{
    ClusterScoped, DEADLINE, TempNamespace, documents, install_chart_crds, kubectl, one, poll, run,
    template,
};

/// The Role and RoleBinding the operator creates for evaluation pods.
const EVALUATOR_RBAC: &str = include_str!("evaluator-rbac.yaml");

/// A structural stand-in for the Prometheus Operator's ServiceMonitor CRD.
const SERVICE_MONITOR_CRD: &str = include_str!("servicemonitor-crd.yaml");

#[test]
fn rendered_manifests_pass_server_side_dry_run() {
    let ns = TempNamespace::create("helm-dry-run");
    let watch_here = format!("watchNamespaces={{{}}}", ns.name);
    for sets in [
        vec![],
        vec!["grafanaDashboard.enabled=true", watch_here.as_str()],
    ] {
        // With the CRDs, as `helm install` does; objects go into the
        // throw-away namespace, cluster-scoped ones are only dry-run.
        let rendered = template("traceval", &ns.name, &sets, true);
        kubectl(
            &[
                "apply",
                "--dry-run=server",
                "--namespace",
                &ns.name,
                "-f",
                "-",
            ],
            Some(&rendered),
        );
    }
    // The plain install path of the README.
    kubectl(&["apply", "--dry-run=server", "-f", "crds/"], None);

    // The ServiceMonitor, against a structural stand-in of the Prometheus
    // Operator's CRD (installed once, left for later runs).
    kubectl(
        &[
            "apply",
            "--server-side",
            "--field-manager=traceval-tests",
            "-f",
            "-",
        ],
        Some(SERVICE_MONITOR_CRD),
    );
    poll("the ServiceMonitor CRD to be established", DEADLINE, || {
        let out = run(
            "kubectl",
            &[
                "get",
                "crd",
                "servicemonitors.monitoring.coreos.com",
                "-o",
                "jsonpath={.status.conditions[?(@.type==\"Established\")].status}",
            ],
            None,
        );
        (out.status.success() && out.stdout == b"True").then_some(())
    });
    let docs = documents(&template(
        "traceval",
        &ns.name,
        &["serviceMonitor.enabled=true"],
        false,
    ));
    let monitor = serde_yaml::to_string(one(&docs, "ServiceMonitor")).expect("serialise");
    kubectl(
        &[
            "apply",
            "--dry-run=server",
            "--namespace",
            &ns.name,
            "-f",
            "-",
        ],
        Some(&monitor),
    );
}

/// Applies the chart's ServiceAccount and RBAC for real (watching only a
/// throw-away namespace) and checks, as that ServiceAccount, that the
/// operator can do its work and nothing else.
#[test]
fn rbac_is_sufficient_and_bounded_as_the_service_account() {
    // `kubectl auth can-i` resolves resources through discovery, so the
    // chart's CRDs must be served (on a fresh cluster no other test has
    // installed them yet).
    install_chart_crds();
    let ns = TempNamespace::create("helm-rbac");
    let release = format!("rbac-{}", ns.name.rsplit('-').next().unwrap_or("x"));
    let _cleanup = ClusterScoped {
        release: release.clone(),
    };
    let watch_here = format!("watchNamespaces={{{}}}", ns.name);
    let docs = documents(&template(&release, &ns.name, &[watch_here.as_str()], false));
    let rbac: Vec<String> = docs
        .iter()
        .filter(|d| {
            let kind = d["kind"].as_str().unwrap_or_default();
            kind == "ServiceAccount" || d["apiVersion"] == "rbac.authorization.k8s.io/v1"
        })
        .map(|d| serde_yaml::to_string(d).expect("serialise"))
        .collect();
    kubectl(
        &["apply", "--namespace", &ns.name, "-f", "-"],
        Some(&rbac.join("---\n")),
    );
    let sa = one(&docs, "ServiceAccount")["metadata"]["name"]
        .as_str()
        .expect("SA name");
    let who = format!("--as=system:serviceaccount:{}:{sa}", ns.name);
    let can = |verb: &str, resource: &str, namespace: Option<&str>| {
        // `resource --subresource=status`: kubectl reads `kind/x` as a name.
        let mut args = vec!["auth", "can-i", verb];
        args.extend(resource.split(' '));
        args.push(who.as_str());
        match namespace {
            Some(n) => args.extend(["--namespace", n]),
            None => args.push("--all-namespaces"),
        }
        run("kubectl", &args, None).status.success()
    };
    let here = Some(ns.name.as_str());
    // The authorizer sees new bindings through a watch: poll for the first.
    poll(
        "the operator's RoleBinding to take effect",
        DEADLINE,
        || can("watch", "tracedservices.traceval.dev", here).then_some(()),
    );
    for (verb, resource) in [
        ("list", "evaluationtasks.traceval.dev"),
        ("patch", "tracedservices.traceval.dev --subresource=status"),
        ("patch", "evaluationtasks.traceval.dev --subresource=status"),
        ("create", "deployments.apps"),
        ("patch", "cronjobs.batch"),
        ("delete", "jobs.batch"),
        ("create", "networkpolicies.networking.k8s.io"),
        ("create", "roles.rbac.authorization.k8s.io"),
        ("get", "secrets"),
        ("get", "configmaps"),
        ("create", "events.events.k8s.io"),
        ("create", "leases.coordination.k8s.io"),
    ] {
        assert!(
            can(verb, resource, here),
            "the operator cannot {verb} {resource}"
        );
    }
    assert!(
        can("delete", "persistentvolumes", None),
        "cannot delete PersistentVolumes"
    );
    for (verb, resource, namespace) in [
        ("create", "secrets", here),
        ("list", "configmaps", here),
        ("update", "configmaps", here),
        ("create", "pods", here),
        ("escalate", "roles.rbac.authorization.k8s.io", here),
        ("bind", "clusterroles.rbac.authorization.k8s.io", here),
        ("impersonate", "serviceaccounts", here),
        ("get", "deployments.apps", Some("default")),
        ("list", "tracedservices.traceval.dev", None),
        ("delete", "namespaces", None),
    ] {
        assert!(
            !can(verb, resource, namespace),
            "the operator may {verb} {resource} in {namespace:?}"
        );
    }

    // What the operator creates for evaluation pods, by server-side apply,
    // passes the API server's escalation checks with these permissions.
    let evaluator_rbac = EVALUATOR_RBAC.replace("NAMESPACE", &ns.name);
    kubectl(
        &[
            "apply",
            "--server-side",
            "--field-manager=traceval",
            &who,
            "-f",
            "-",
        ],
        Some(&evaluator_rbac),
    );
    // A Role granting more than the operator holds is refused.
    let escalating = EVALUATOR_RBAC
        .split("---")
        .next()
        .expect("the Role")
        .replace("NAMESPACE", &ns.name)
        .replace("name: traceval-evaluator", "name: escalating")
        .replace("verbs: [patch]", "verbs: [patch, delete]");
    let out = run(
        "kubectl",
        &[
            "apply",
            "--server-side",
            "--field-manager=traceval",
            &who,
            "-f",
            "-",
        ],
        Some(&escalating),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success()
            && stderr.contains("attempting to grant RBAC permissions not currently held"),
        "a Role beyond the operator's own permissions must be refused as an escalation: {stderr}"
    );
}
