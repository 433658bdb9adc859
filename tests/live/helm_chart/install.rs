//! `helm install` for real, on the real node: the operator image built from
//! this test's own `traceval` binary (tests/cluster/image), the operator as a
//! pod under the chart's ServiceAccount and RBAC in a namespace that enforces
//! the `restricted` Pod Security Standard, holding its leader-election Lease,
//! answering /metrics from the pod, and doing its work: a TracedService is
//! reconciled with the chart's `defaultTraceEndpoint` and its status
//! written.

use std::time::Duration;

use crate::tools::{
    ClusterScoped, TempNamespace, install_chart_crds, kubectl, ok, poll, repo, run,
};

/// A pod's first start on the real node includes the image import's unpack.
const START: Duration = Duration::from_secs(180);

/// `helm uninstall` when dropped (the namespace goes with TempNamespace).
struct Release {
    name: String,
    namespace: String,
}

impl Drop for Release {
    fn drop(&mut self) {
        let _ = run(
            "helm",
            &["uninstall", &self.name, "--namespace", &self.namespace],
            None,
        );
    }
}

/// `kubectl get -n <namespace> <what...> -o jsonpath=...`; empty on error.
fn get(namespace: &str, what: &str, jsonpath: &str) -> String {
    let jsonpath = format!("jsonpath={jsonpath}");
    let mut args = vec!["get", "-n", namespace];
    args.extend(what.split(' '));
    args.extend(["-o", &jsonpath]);
    let out = run("kubectl", &args, None);
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// What a failed wait prints: the namespace's pods and its events.
fn diagnose(namespace: &str) -> String {
    let pods = run(
        "kubectl",
        &["get", "pods", "-o", "wide", "-n", namespace],
        None,
    );
    let events = run("kubectl", &["get", "events", "-n", namespace], None);
    format!(
        "{}\n{}",
        String::from_utf8_lossy(&pods.stdout),
        String::from_utf8_lossy(&events.stdout)
    )
}

#[test]
fn helm_install_runs_the_operator_as_a_pod_on_the_real_node() {
    install_chart_crds();
    let ns = TempNamespace::create_on_real_node("helm-install");
    let release = format!("inst-{}", ns.name.rsplit('-').next().unwrap_or("x"));
    let _cluster_scoped = ClusterScoped {
        release: release.clone(),
    };
    let image = ok(
        &repo().join("tests/cluster/image").to_string_lossy(),
        &[env!("CARGO_BIN_EXE_traceval")],
        None,
    );
    let (repository, tag) = image.trim().rsplit_once(':').expect("image name:tag");
    let endpoint = "http://otel-collector.observability.svc:4318";
    let sets = format!(
        "image.repository={repository},image.tag={tag},image.pullPolicy=Never,\
         watchNamespaces={{{ns}}},defaultTraceEndpoint={endpoint}",
        ns = ns.name
    );
    let chart = repo().join("charts/traceval");
    ok(
        "helm",
        &[
            "install",
            &release,
            &chart.to_string_lossy(),
            "--namespace",
            &ns.name,
            "--skip-crds",
            "--set",
            &sets,
        ],
        None,
    );
    let _release = Release {
        name: release.clone(),
        namespace: ns.name.clone(),
    };

    // The operator pod: scheduled on the real node, admitted under
    // `restricted`, Ready (its readiness probe is /readyz).
    let selector = format!("app.kubernetes.io/instance={release}");
    let pod = poll_or_diagnose(&ns.name, "the operator pod to be Ready", || {
        let ready = get(
            &ns.name,
            &format!("pods -l {selector}"),
            "{range .items[*]}{.metadata.name} {.spec.nodeName} {.status.conditions[?(@.type==\"Ready\")].status}{\"\\n\"}{end}",
        );
        ready.lines().find_map(|line| {
            let mut f = line.split(' ');
            let (name, node, status) = (f.next()?, f.next()?, f.next()?);
            (status == "True").then(|| (name.to_owned(), node.to_owned()))
        })
    });
    let (pod, node) = pod;
    assert_eq!(
        node,
        std::env::var("TRACEVAL_NODE_NAME").unwrap(),
        "the operator pod must run on the real node"
    );
    let labels = get(&ns.name, &format!("pod/{pod}"), "{.metadata.labels}");
    assert!(
        labels.contains(&release),
        "pod {pod} is not the release's: {labels}"
    );
    let account = get(
        &ns.name,
        &format!("pod/{pod}"),
        "{.spec.serviceAccountName}",
    );
    let chart_accounts = get(
        &ns.name,
        &format!("serviceaccounts -l {selector}"),
        "{.items[*].metadata.name}",
    );
    assert!(
        account != "default" && chart_accounts.split(' ').any(|a| a == account),
        "the operator runs as {account:?}, not the chart's ServiceAccount ({chart_accounts:?})"
    );

    // Leader election: the chart's Lease names this pod.
    let lease = get(
        &ns.name,
        &format!("pod/{pod}"),
        "{.spec.containers[0].env[?(@.name==\"TRACEVAL_LEASE_NAME\")].value}",
    );
    assert!(!lease.is_empty(), "the chart sets no TRACEVAL_LEASE_NAME");
    poll_or_diagnose(&ns.name, "the operator pod to hold the Lease", || {
        let holder = get(
            &ns.name,
            &format!("lease/{lease}"),
            "{.spec.holderIdentity}",
        );
        (holder == pod).then_some(())
    });

    // It works: a TracedService with no endpoint gets the chart's default.
    kubectl(
        &["apply", "-n", &ns.name, "-f", "-"],
        Some(
            "apiVersion: traceval.dev/v1alpha1\nkind: TracedService\nmetadata:\n  name: via-chart\n\
             spec:\n  image: traceval.local/python:3.11\n  command: [python3, -m, http.server, \"8000\"]\n  \
             port: 8000\n  tracing: {probe: opentelemetry}\n",
        ),
    );
    poll_or_diagnose(
        &ns.name,
        "the in-pod operator to create the Deployment",
        || {
            let env = get(
                &ns.name,
                "deployment/via-chart",
                "{.spec.template.spec.containers[0].env[?(@.name==\"OTEL_EXPORTER_OTLP_ENDPOINT\")].value}",
            );
            (!env.is_empty()).then_some(env)
        },
    );
    let env = get(
        &ns.name,
        "deployment/via-chart",
        "{.spec.template.spec.containers[0].env[?(@.name==\"OTEL_EXPORTER_OTLP_ENDPOINT\")].value}",
    );
    assert_eq!(
        env, endpoint,
        "the chart's defaultTraceEndpoint reaches the Deployment"
    );

    // /metrics, from the pod (through the apiserver's pod proxy).
    let metrics_path = format!(
        "/api/v1/namespaces/{}/pods/{pod}:8080/proxy/metrics",
        ns.name
    );
    let metrics = poll_or_diagnose(&ns.name, "a reconcile counted in /metrics", || {
        let out = run("kubectl", &["get", "--raw", &metrics_path], None);
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        text.lines()
            .any(|l| l.starts_with("traceval_tracedservice_reconciles_total{outcome=\"Success\"}"))
            .then_some(text)
    });
    assert!(
        metrics.contains("traceval_kube_requests_total"),
        "/metrics from the pod lacks the client metrics:\n{metrics}"
    );

    // Its status, written by the in-pod operator (the status subresource
    // through the chart's RBAC), is for the current generation.
    poll_or_diagnose(&ns.name, "the TracedService's status to be written", || {
        let seen = get(
            &ns.name,
            "tracedservice/via-chart",
            "{.metadata.generation} {.status.observedGeneration} {.status.conditions[*].type}",
        );
        let mut f = seen.split(' ');
        let (generation, observed) = (f.next()?, f.next()?);
        (generation == observed && f.any(|c| c == "Ready")).then_some(())
    });
}

fn poll_or_diagnose<T>(namespace: &str, what: &str, check: impl FnMut() -> Option<T>) -> T {
    let ns = namespace.to_owned();
    let result =
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| poll(what, START, check)));
    match result {
        Ok(value) => value,
        Err(_) => panic!(
            "timed out after {START:?} waiting for {what}:\n{}",
            diagnose(&ns)
        ),
    }
}
