//! The seed's sample app as the operator runs it, in a real pod on the real
//! node: the `oss` mount's sync container copies `app.py` from a bucket of
//! the in-cluster S3 server with the real rclone, the pip init container installs flask, dashscope and the probe from
//! the in-cluster package index, the app starts under
//! `opentelemetry-instrument` as uid 1000 on a read-only root filesystem, a
//! client pod calls the Service by its DNS name through the operator's
//! NetworkPolicy, the DashScope stand-in (a pod) answers, and the trace lands
//! in the in-cluster Jaeger. The namespace enforces the `restricted` Pod
//! Security Standard, so the real admission plugin checks the pod the
//! operator builds.

#[path = "../support/mod.rs"]
mod support;

use std::time::Duration;

use k8s_openapi::api::core::v1::{Pod, Secret};
use kube::api::{Api, ListParams, LogParams, PostParams};
use serde_json::{Value, json};
use support::operator::{Operator, install_crds};
use support::pods::{fetch_script, from_json, run_script, web_server};
use support::procs::{jaeger_spans, repo, required_env, rfc3339};
use support::s3::{CREDENTIALS, copy_credentials, upload};
use support::{TempNamespace, client, poll, real_node, restricted_security_context};
use traceval::api::TracedService;
use traceval::resources::tracedservice::BuildOptions;

/// pip installs ~70 wheels in the init container, then the probe's
/// bootstrap pip-installs each instrumentation before the app listens:
/// about 7 minutes on this machine (measured, printed by the test).
const START_DEADLINE: Duration = Duration::from_secs(720);

async fn app_pod(pods: &Api<Pod>) -> Option<Pod> {
    let listed = pods
        .list(&ListParams::default().labels("app.kubernetes.io/name=sample-app"))
        .await
        .ok()?;
    listed.items.into_iter().next()
}

/// The pod's container states and the tail of each container's log.
async fn diagnose(pods: &Api<Pod>, pod: Option<&Pod>) -> String {
    let Some(pod) = pod else {
        return "no pod was created".to_owned();
    };
    let name = pod.metadata.name.clone().unwrap_or_default();
    let status = pod.status.clone().unwrap_or_default();
    let mut out = format!("pod {name}: phase {:?}\n", status.phase);
    let statuses = status
        .init_container_statuses
        .unwrap_or_default()
        .into_iter()
        .chain(status.container_statuses.unwrap_or_default());
    for c in statuses {
        out.push_str(&format!("container {}: {:?}\n", c.name, c.state));
        let params = LogParams {
            container: Some(c.name.clone()),
            tail_lines: Some(20),
            ..LogParams::default()
        };
        if let Ok(log) = pods.logs(&name, &params).await {
            out.push_str(&log);
        }
    }
    out
}

/// Where the pod's start went: when each init container ran, and when the
/// app container started (then the probe's bootstrap ran until Ready).
fn phases(pod: &Pod) -> String {
    let status = pod.status.clone().unwrap_or_default();
    let mut out = Vec::new();
    for c in status.init_container_statuses.unwrap_or_default() {
        if let Some(t) = c.state.and_then(|s| s.terminated) {
            out.push(format!(
                "{} {:?} → {:?}",
                c.name,
                t.started_at.map(|t| t.0),
                t.finished_at.map(|t| t.0)
            ));
        }
    }
    for c in status.container_statuses.unwrap_or_default() {
        if let Some(r) = c.state.and_then(|s| s.running) {
            out.push(format!(
                "{} started {:?}",
                c.name,
                r.started_at.map(|t| t.0)
            ));
        }
    }
    out.join("; ")
}

/// Runs the client script in a pod labelled `role: client` to completion:
/// its phase and log.
async fn run_client(pods: &Api<Pod>, name: &str, script: &str) -> (String, String) {
    let client_pod: Pod = from_json(json!({
        "metadata": {"name": name, "labels": {"role": "client"}},
        "spec": {
            "restartPolicy": "Never",
            "containers": [{
                "name": "client", "image": required_env("TRACEVAL_PYTHON_IMAGE"),
                "imagePullPolicy": "Never",
                "command": ["python3", "-c", script],
                "securityContext": restricted_security_context()
            }]
        }
    }));
    pods.create(&PostParams::default(), &client_pod)
        .await
        .expect("create the client pod");
    let phase = poll("the client pod to finish", START_DEADLINE, || async {
        let phase = pods.get(name).await.ok()?.status?.phase?;
        matches!(phase.as_str(), "Succeeded" | "Failed").then_some(phase)
    })
    .await;
    let log = pods
        .logs(name, &LogParams::default())
        .await
        .unwrap_or_default();
    (phase, log)
}

fn is_ready(pod: &Pod) -> bool {
    pod.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

#[tokio::test]
async fn the_sample_app_runs_traced_in_a_pod_and_its_trace_reaches_jaeger() {
    let python = required_env("TRACEVAL_PYTHON_IMAGE");
    let index = required_env("TRACEVAL_PIP_INDEX_URL");
    let endpoint = required_env("TRACEVAL_TRACE_ENDPOINT");
    let standin = required_env("TRACEVAL_LLM_STANDIN_URL");
    let jaeger = required_env("TRACEVAL_JAEGER_QUERY");
    let client = client().await;
    install_crds(&client).await;
    let ns = TempNamespace::create_on_real_node(&client, "tsvc-pod").await;
    let _operator = Operator::start_with(
        &client,
        &ns.name,
        BuildOptions {
            oss_sync_image: required_env("TRACEVAL_RCLONE_IMAGE"),
            ..BuildOptions::default()
        },
    );

    // The seed's walkthrough: the app's code sits in a bucket of the
    // in-cluster S3 server; the `oss` mount in `sync` mode copies it into
    // /mnt/data with the real rclone (the operator's --oss-sync-image).
    copy_credentials(&client, &ns.name).await;
    upload(
        &client,
        &repo().join("examples/sample-app"),
        "apps",
        &ns.name,
    )
    .await;
    let secrets: Api<Secret> = Api::namespaced(client.clone(), &ns.name);
    secrets
        .create(
            &PostParams::default(),
            &from_json(json!({"metadata": {"name": "dashscope"},
                              "stringData": {"apiKey": "sk-test-not-a-real-key"}})),
        )
        .await
        .expect("create the API key Secret");

    let service_name = format!("sample-app-{}", &ns.name[ns.name.len() - 5..]);
    let tsvc: TracedService = from_json(json!({
        "apiVersion": "traceval.dev/v1alpha1", "kind": "TracedService",
        "metadata": {"name": "sample-app", "namespace": ns.name},
        "spec": {
            "image": python,
            "command": ["python3", "/mnt/data/app.py"],
            "port": 8000,
            "pythonPackages": ["flask", "dashscope"],
            "pipIndexURL": index,
            "env": [
                {"name": "DASHSCOPE_API_KEY",
                 "valueFrom": {"secretKeyRef": {"name": "dashscope", "key": "apiKey"}}},
                {"name": "DASHSCOPE_HTTP_BASE_URL", "value": format!("{standin}/api/v1")}
            ],
            "mounts": [{"mountPath": "/mnt/data", "readOnly": true,
                        "oss": {"bucket": "apps", "path": format!("/{}/", ns.name),
                                "endpoint": required_env("TRACEVAL_S3_ENDPOINT"),
                                "credentialsSecretRef": {"name": CREDENTIALS},
                                "mode": "sync"}}],
            "tracing": {"probe": "opentelemetry", "endpoint": endpoint, "serviceName": service_name},
            "network": {"ingress": [{"podSelector": {"matchLabels": {"role": "client"}}}]}
        }
    }));
    let services: Api<TracedService> = Api::namespaced(client.clone(), &ns.name);
    services
        .create(&PostParams::default(), &tsvc)
        .await
        .expect("create TracedService");

    let pods: Api<Pod> = Api::namespaced(client.clone(), &ns.name);
    let started = tokio::time::Instant::now();
    let pod = loop {
        let pod = app_pod(&pods).await;
        if let Some(pod) = pod.as_ref().filter(|p| is_ready(p)) {
            break pod.clone();
        }
        if started.elapsed() > START_DEADLINE {
            panic!(
                "the app pod is not Ready after {START_DEADLINE:?} (pip install, probe bootstrap, app start):\n{}",
                diagnose(&pods, pod.as_ref()).await
            );
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    eprintln!(
        "sample app pod Ready {:.1} s after the TracedService was created; {}",
        started.elapsed().as_secs_f64(),
        phases(&pod)
    );
    let name = pod.metadata.name.clone().expect("pod name");
    assert_eq!(
        pod.spec.as_ref().and_then(|s| s.node_name.as_deref()),
        Some(real_node().as_str())
    );

    // A client pod, allowed by the TracedService's ingress rule, calls the
    // Service by its DNS name and asks the seed's question.
    let url = format!(
        "http://sample-app.{}.svc.cluster.local:8000/api/trace_demo",
        ns.name
    );
    let script = format!(
        r#"
import json, urllib.request
req = urllib.request.Request("{url}", data=json.dumps({{"query": "capital of china"}}).encode(),
                             headers={{"Content-Type": "application/json"}})
print(urllib.request.urlopen(req, timeout=30).read().decode())
"#
    );
    // kube-router admits a new pod's address to the policy's allowed set
    // when it syncs that pod: a refused first call is retried with a fresh
    // client pod, until the deadline.
    let mut attempt = 0;
    let answer = loop {
        attempt += 1;
        let (phase, out) = run_client(&pods, &format!("client-{attempt}"), &script).await;
        if phase == "Succeeded" {
            break out;
        }
        let app_log = pods
            .logs(&name, &LogParams::default())
            .await
            .unwrap_or_default();
        assert!(
            started.elapsed() < START_DEADLINE,
            "the client never got an answer; last client log:\n{out}\napp log:\n{app_log}"
        );
    };
    let app_log = pods
        .logs(&name, &LogParams::default())
        .await
        .unwrap_or_default();
    assert!(
        answer.contains("Beijing"),
        "answer {answer:?}; app log:\n{app_log}"
    );

    // The container ran as the declared user on a read-only root.
    let app = pod
        .spec
        .as_ref()
        .expect("spec")
        .containers
        .first()
        .expect("app container");
    let sc = app.security_context.as_ref().expect("security context");
    assert_eq!(sc.read_only_root_filesystem, Some(true));
    assert_eq!(
        pod.spec
            .as_ref()
            .and_then(|s| s.security_context.as_ref())
            .and_then(|s| s.run_as_user),
        Some(1000)
    );

    // The trace, with the Flask server span, in the in-cluster Jaeger.
    let http = reqwest::Client::new();
    let until = rfc3339("+1 minute");
    let trace: Vec<Value> = poll(
        "the app's trace in Jaeger",
        Duration::from_secs(60),
        || async {
            let spans = jaeger_spans(&http, &jaeger, &service_name, &until).await?;
            (!spans.is_empty()).then(|| spans.into_iter().map(|(_, span)| span).collect())
        },
    )
    .await;
    assert!(
        trace
            .iter()
            .any(|s| s["name"].as_str().is_some_and(|n| n.contains("trace_demo"))),
        "a server span of /api/trace_demo among {:?}",
        trace.iter().map(|s| s["name"].clone()).collect::<Vec<_>>()
    );
    // The DashScope instrumentation's LLM span: the stand-in's call was traced.
    assert!(
        trace
            .iter()
            .any(|s| s["name"].as_str().is_some_and(|n| n.starts_with("chat "))),
        "an LLM span among {:?}",
        trace.iter().map(|s| s["name"].clone()).collect::<Vec<_>>()
    );

    enforcement_from_inside_the_app_pod(&client, &ns.name, &pods, &index, &endpoint).await;
}

/// What the app pod can reach, write and be, seen from inside it (`kubectl
/// exec` into the app container): one line per check.
fn inside_script(index: &str, endpoint: &str, other: &str) -> String {
    format!(
        r#"
import os, socket, urllib.error, urllib.request
def reach(url):
    for attempt in range(3):
        try:
            urllib.request.urlopen(url, timeout=3)
            return "open"
        except urllib.error.HTTPError:
            return "open"  # an answer, whatever its status
        except OSError as e:
            error = e
    return "blocked " + type(error).__name__
print("dns", socket.gethostbyname("jaeger.traceval-system.svc.cluster.local"))
print("trace", reach("{endpoint}/v1/traces"))
print("index", reach("{index}"))
print("other", reach("{other}"))
try:
    open("/written", "w")
    print("root writable")
except OSError:
    print("root read-only")
open("/tmp/written", "w").write("x")
print("tmp writable")
print("uid", os.getuid())
"#
    )
}

/// `kubectl exec` of a Python script in the first container of the app's
/// Ready pod; its output.
fn exec_in(namespace: &str, pod: &str, script: &str) -> String {
    let out = std::process::Command::new("kubectl")
        .args(["exec", "-n", namespace, pod, "--", "python3", "-c", script])
        .output()
        .expect("kubectl (on PATH after tests/cluster/up)");
    assert!(
        out.status.success(),
        "kubectl exec in {pod} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

async fn ready_app_pod(pods: &Api<Pod>) -> String {
    poll("a Ready app pod", START_DEADLINE, || async {
        let listed = pods
            .list(&ListParams::default().labels("app.kubernetes.io/name=sample-app"))
            .await
            .ok()?;
        listed
            .items
            .into_iter()
            .find(|p| is_ready(p) && p.metadata.deletion_timestamp.is_none())
            .and_then(|p| p.metadata.name)
    })
    .await
}

/// Item 5 of issue 13: from inside the app pod, DNS, the trace endpoint and
/// the package index are reachable and another in-cluster listener is not,
/// until `internetAccess: true` opens it; `/` is read-only, `/tmp` writable,
/// the uid the declared one; ingress from a pod that is not an allowed
/// source is refused.
async fn enforcement_from_inside_the_app_pod(
    client: &kube::Client,
    namespace: &str,
    pods: &Api<Pod>,
    index: &str,
    endpoint: &str,
) {
    web_server(client, namespace).await;
    let other = format!("http://web.{namespace}.svc.cluster.local/index.html");
    let script = inside_script(index, endpoint, &other);
    let pod = ready_app_pod(pods).await;
    let seen = exec_in(namespace, &pod, &script);
    for want in [
        "trace open",
        "index open",
        "other blocked",
        "root read-only",
        "tmp writable",
        "uid 1000",
    ] {
        assert!(
            seen.lines().any(|l| l.starts_with(want)),
            "inside the app pod, expected {want:?}:\n{seen}"
        );
    }
    assert!(seen.lines().any(|l| l.starts_with("dns 10.96.")), "{seen}");

    // Ingress: a pod that is not `role: client` is refused.
    let app = format!("http://sample-app.{namespace}.svc.cluster.local:8000/");
    let stranger = run_script(
        client,
        namespace,
        "stranger",
        json!({"role": "stranger"}),
        &fetch_script(&app),
    )
    .await;
    assert!(
        stranger.starts_with("blocked:"),
        "a pod outside the allowed sources reached the app: {stranger}"
    );

    // internetAccess: true opens egress to every address, the other
    // listener's too.
    let services: Api<TracedService> = Api::namespaced(client.clone(), namespace);
    services
        .patch(
            "sample-app",
            &kube::api::PatchParams::default(),
            &kube::api::Patch::Merge(json!({"spec": {"network": {"internetAccess": true}}})),
        )
        .await
        .expect("patch internetAccess");
    poll(
        "internetAccess to open the other listener",
        START_DEADLINE,
        || async {
            let pod = ready_app_pod(pods).await;
            let seen = exec_in(namespace, &pod, &script);
            seen.lines().any(|l| l == "other open").then_some(())
        },
    )
    .await;
}

/// The `arms` probe on the real node: its pod starts, the start wrapper's
/// `aliyun-bootstrap` cannot download the agent (nothing outside the cluster
/// is reachable, as in a VPC without the ARMS endpoints), the container
/// exits with the operator's message, and the TracedService says so in its
/// status (Degraded, reason ContainerFailing, the message) without leaking
/// the license key.
#[tokio::test]
async fn the_arms_probe_pod_fails_with_a_clear_message_in_the_status() {
    let python = required_env("TRACEVAL_PYTHON_IMAGE");
    let index = required_env("TRACEVAL_PIP_INDEX_URL");
    let client = client().await;
    install_crds(&client).await;
    let ns = TempNamespace::create_on_real_node(&client, "tsvc-arms").await;
    let _operator = Operator::start(&client, &ns.name);
    let license = format!("arms-license-{}", fastrand::u64(..));
    Api::<Secret>::namespaced(client.clone(), &ns.name)
        .create(
            &PostParams::default(),
            &from_json(json!({"metadata": {"name": "arms-license"},
                              "stringData": {"licenseKey": license}})),
        )
        .await
        .expect("create the license Secret");
    let tsvc: TracedService = from_json(json!({
        "apiVersion": "traceval.dev/v1alpha1", "kind": "TracedService",
        "metadata": {"name": "arms-app", "namespace": ns.name},
        "spec": {
            "image": python,
            "command": ["python3", "-m", "http.server", "8000"],
            "port": 8000,
            "pipIndexURL": index,
            "tracing": {"probe": "arms", "arms": {
                "regionId": "cn-hangzhou",
                "licenseKeySecretRef": {"name": "arms-license", "key": "licenseKey"}}}
        }
    }));
    let services: Api<TracedService> = Api::namespaced(client.clone(), &ns.name);
    services
        .create(&PostParams::default(), &tsvc)
        .await
        .expect("create TracedService");
    let started = tokio::time::Instant::now();
    let degraded = poll(
        "the TracedService to report the failing container",
        START_DEADLINE,
        || async {
            let ts = services.get("arms-app").await.ok()?;
            let status = ts.status?;
            status
                .conditions
                .iter()
                .find(|c| {
                    c.type_ == traceval::api::tracedservice::ConditionType::Degraded
                        && c.reason
                            == traceval::api::tracedservice::ConditionReason::ContainerFailing
                })
                .map(|c| c.message.clone())
        },
    )
    .await;
    eprintln!(
        "arms pod reported failing {:.1} s after create: {degraded}",
        started.elapsed().as_secs_f64()
    );
    assert!(
        degraded.contains("container app: exited with code 1")
            && degraded
                .contains("traceval: aliyun-bootstrap -a install did not install the ARMS agent"),
        "the status names the container and the operator's message: {degraded}"
    );
    let ts = services.get("arms-app").await.expect("get");
    let text = serde_json::to_string(&ts.status).expect("serialise status");
    assert!(
        !text.contains(&license),
        "the license key appears in the status"
    );
}
