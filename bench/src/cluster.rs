//! Kubernetes side of the operator rows: CRDs, test objects, a convergence
//! tracker built on watches (the same observer for the operator and the
//! floor), the operator process, and the API server's write counters.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Namespace, Service};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Patch, PatchParams, PostParams};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client, ResourceExt};
use traceval::api::{EvaluationTask, TracedService};

/// Field manager of the harness's own writes.
pub const BENCH_MANAGER: &str = "tvbench";

/// Installs (server-side applies) every CRD and waits until they are served.
pub async fn install_crds(client: &Client) -> Result<(), String> {
    let api: Api<CustomResourceDefinition> = Api::all(client.clone());
    for crd in traceval::api::crds() {
        let name = crd.name_any();
        api.patch(
            &name,
            &PatchParams::apply(BENCH_MANAGER).force(),
            &Patch::Apply(&crd),
        )
        .await
        .map_err(|e| format!("CRD {name}: {e}"))?;
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let ts: Api<TracedService> = Api::all(client.clone());
        let et: Api<EvaluationTask> = Api::all(client.clone());
        let lp = kube::api::ListParams::default().limit(1);
        if ts.list(&lp).await.is_ok() && et.list(&lp).await.is_ok() {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err("CRDs not served after 60 s".into());
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Creates namespace `ns`.
pub async fn namespace(client: &Client, ns: &str) -> Result<(), String> {
    let api: Api<Namespace> = Api::all(client.clone());
    let object: Namespace = serde_json::from_value(serde_json::json!({"metadata": {"name": ns}}))
        .map_err(|e| e.to_string())?;
    match api.create(&PostParams::default(), &object).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(e)) if e.code == 409 => Ok(()),
        Err(e) => Err(format!("namespace {ns}: {e}")),
    }
}

/// A TracedService as a user would write it (0 replicas: no pods, so the
/// control plane's pod churn does not drown the operator's own work).
pub fn traced_service(ns: &str, name: &str) -> TracedService {
    let yaml = format!(
        "apiVersion: traceval.dev/v1alpha1\nkind: TracedService\nmetadata:\n  name: {name}\n  namespace: {ns}\n\
         spec:\n  image: python:3.12-slim\n  command: [python, app.py]\n  replicas: 0\n  \
         pythonPackages: [flask, dashscope==1.20.0]\n  env:\n    - {{name: DASHSCOPE_HTTP_BASE_URL, value: \"http://llm.llm.svc:8080/api/v1\"}}\n  \
         tracing:\n    probe: opentelemetry\n    endpoint: http://jaeger-collector.observability.svc.cluster.local:4318\n"
    );
    serde_yaml::from_str(&yaml).unwrap_or_else(|e| panic!("bench TracedService template: {e}"))
}

/// An EvaluationTask on `target` that never fires (yearly schedule).
pub fn evaluation_task(ns: &str, name: &str, target: &str) -> EvaluationTask {
    let yaml = format!(
        "apiVersion: traceval.dev/v1alpha1\nkind: EvaluationTask\nmetadata:\n  name: {name}\n  namespace: {ns}\n\
         spec:\n  target: {{tracedService: {target}}}\n  traceSource: {{jaeger: {{url: \"http://jaeger-query.observability:16686\"}}}}\n  \
         judge: {{provider: openai-compatible, baseURL: \"http://judge.example:8080/v1\", model: judge}}\n{}  \
         schedule: \"0 0 1 1 *\"\n  sampling:\n    start: \"2026-01-01T00:00:00Z\"\n    end: \"2027-01-01T00:00:00Z\"\n    \
         policy: {{probability: {{ratio: 0.5}}}}\n",
        crate::inputs::EXTRACTION
    );
    serde_yaml::from_str(&yaml).unwrap_or_else(|e| panic!("bench EvaluationTask template: {e}"))
}

/// When each TracedService of a namespace converged: Deployment, Service and
/// NetworkPolicy owned by it exist and `status.observedGeneration` is current.
#[derive(Clone, Default)]
pub struct Tracker {
    converged: Arc<Mutex<HashMap<String, Instant>>>,
    stop: Arc<tokio::sync::Notify>,
}

#[derive(Default)]
struct Seen {
    status: HashSet<String>,
    deployments: HashSet<String>,
    services: HashSet<String>,
    policies: HashSet<String>,
}

enum Change {
    Ts(String, bool),
    Deployment(String),
    Service(String),
    Policy(String),
}

fn owner<K: kube::Resource>(object: &K) -> Option<String> {
    object
        .meta()
        .owner_references
        .as_ref()?
        .iter()
        .find(|o| o.kind == "TracedService")
        .map(|o| o.name.clone())
}

impl Tracker {
    /// Starts watching `ns`.
    pub fn start(client: &Client, ns: &str) -> Self {
        let tracker = Self::default();
        let config = watcher::Config::default();
        let ts = watcher(
            Api::<TracedService>::namespaced(client.clone(), ns),
            config.clone(),
        )
        .applied_objects()
        .map(|r| {
            r.ok().map(|t: TracedService| {
                let current =
                    t.status.as_ref().and_then(|s| s.observed_generation) == t.metadata.generation;
                Change::Ts(t.name_any(), current && t.metadata.generation.is_some())
            })
        })
        .boxed();
        let dep = watcher(
            Api::<Deployment>::namespaced(client.clone(), ns),
            config.clone(),
        )
        .applied_objects()
        .map(|r| r.ok().and_then(|d| owner(&d)).map(Change::Deployment))
        .boxed();
        let svc = watcher(
            Api::<Service>::namespaced(client.clone(), ns),
            config.clone(),
        )
        .applied_objects()
        .map(|r| r.ok().and_then(|d| owner(&d)).map(Change::Service))
        .boxed();
        let np = watcher(Api::<NetworkPolicy>::namespaced(client.clone(), ns), config)
            .applied_objects()
            .map(|r| r.ok().and_then(|d| owner(&d)).map(Change::Policy))
            .boxed();
        let mut all = futures::stream::select_all([ts, dep, svc, np]);
        let (converged, stop) = (tracker.converged.clone(), tracker.stop.clone());
        tokio::spawn(async move {
            let mut seen = Seen::default();
            loop {
                let change = tokio::select! {
                    () = stop.notified() => return,
                    next = all.next() => match next { Some(Some(c)) => c, Some(None) => continue, None => return },
                };
                let name = match change {
                    Change::Ts(name, true) => {
                        seen.status.insert(name.clone());
                        name
                    }
                    Change::Ts(name, false) => {
                        seen.status.remove(&name);
                        name
                    }
                    Change::Deployment(name) => {
                        seen.deployments.insert(name.clone());
                        name
                    }
                    Change::Service(name) => {
                        seen.services.insert(name.clone());
                        name
                    }
                    Change::Policy(name) => {
                        seen.policies.insert(name.clone());
                        name
                    }
                };
                if seen.status.contains(&name)
                    && seen.deployments.contains(&name)
                    && seen.services.contains(&name)
                    && seen.policies.contains(&name)
                    && let Ok(mut c) = converged.lock()
                {
                    c.entry(name).or_insert_with(Instant::now);
                }
            }
        });
        tracker
    }

    /// When `name` converged, if it has.
    pub fn at(&self, name: &str) -> Option<Instant> {
        self.converged
            .lock()
            .ok()
            .and_then(|c| c.get(name).copied())
    }

    /// Waits until `names` have all converged; the last convergence time.
    pub async fn wait_all(&self, names: &[String], timeout: Duration) -> Result<Instant, String> {
        let deadline = Instant::now() + timeout;
        loop {
            let (done, last) = {
                let c = self.converged.lock().map_err(|_| "tracker poisoned")?;
                let times: Vec<Instant> = names.iter().filter_map(|n| c.get(n).copied()).collect();
                (times.len(), times.into_iter().max())
            };
            if done == names.len() {
                return last.ok_or_else(|| "nothing to wait for".into());
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "{done} of {} converged after {timeout:?}",
                    names.len()
                ));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for Tracker {
    fn drop(&mut self) {
        if Arc::strong_count(&self.stop) <= 2 {
            self.stop.notify_waiters();
            self.stop.notify_one();
        }
    }
}

/// A running `traceval operator`, killed when dropped.
pub struct OperatorProcess {
    child: Child,
    /// Its /metrics URL.
    pub metrics_url: String,
}

impl OperatorProcess {
    /// Starts `traceval operator` watching `ns`; logs to `log`.
    pub fn start(traceval: &Path, ns: &str, port: u16, log: &Path) -> Result<Self, String> {
        let file = std::fs::File::create(log).map_err(|e| format!("{}: {e}", log.display()))?;
        let err = file.try_clone().map_err(|e| e.to_string())?;
        // TVBENCH_OPERATOR_PREFIX, e.g. `valgrind --tool=callgrind`, wraps the
        // operator for profiling.
        let prefix = std::env::var("TVBENCH_OPERATOR_PREFIX").unwrap_or_default();
        let mut words: Vec<String> = prefix.split_whitespace().map(str::to_owned).collect();
        words.push(traceval.display().to_string());
        let child = Command::new(&words[0])
            .args(&words[1..])
            .args([
                "operator",
                "--http-addr",
                &format!("127.0.0.1:{port}"),
                "--namespace",
                ns,
            ])
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(file)
            .stderr(err)
            .spawn()
            .map_err(|e| format!("{}: {e}", traceval.display()))?;
        Ok(Self {
            child,
            metrics_url: format!("http://127.0.0.1:{port}/metrics"),
        })
    }

    /// Its process ID.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Total TracedService reconciles so far, from its /metrics.
    pub async fn reconciles(&self) -> f64 {
        let Ok(r) = reqwest::get(&self.metrics_url).await else {
            return f64::NAN;
        };
        let text = r.text().await.unwrap_or_default();
        text.lines()
            .filter(|l| l.starts_with("traceval_tracedservice_reconciles_total"))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    }
}

impl Drop for OperatorProcess {
    fn drop(&mut self) {
        // SIGTERM first: the operator shuts down cleanly (and a profiler
        // wrapping it writes its output); SIGKILL after 20 s.
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        for _ in 0..200 {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Resources whose writes count as the operator's (children and statuses);
/// the harness itself writes only TracedServices and EvaluationTasks
/// (main resource) and namespaces.
const COUNTED: [&str; 12] = [
    "deployments",
    "services",
    "networkpolicies",
    "persistentvolumeclaims",
    "persistentvolumes",
    "cronjobs",
    "jobs",
    "serviceaccounts",
    "roles",
    "rolebindings",
    "configmaps",
    "secrets",
];

/// Write requests (any verb but GET, LIST, WATCH) the API server counted for
/// children (main resource) and for the status subresources of the CRDs,
/// by resource.
pub async fn write_counts(client: &Client) -> Result<HashMap<String, f64>, String> {
    let request = http::Request::get("/metrics")
        .body(Vec::new())
        .map_err(|e| e.to_string())?;
    let text = client
        .request_text(request)
        .await
        .map_err(|e| format!("apiserver /metrics: {e}"))?;
    let mut counts = HashMap::new();
    for line in text
        .lines()
        .filter(|l| l.starts_with("apiserver_request_total{"))
    {
        let label = |name: &str| -> &str {
            let key = format!("{name}=\"");
            line.find(&key)
                .map(|i| &line[i + key.len()..])
                .and_then(|rest| rest.split('"').next())
                .unwrap_or("")
        };
        let verb = label("verb");
        if matches!(verb, "GET" | "LIST" | "WATCH" | "CONNECT") {
            continue;
        }
        let resource = label("resource");
        let subresource = label("subresource");
        // Children's subresources (deployments/status, serviceaccounts/token)
        // are written by the controller-manager and kwok, not the operator.
        let counted = (COUNTED.contains(&resource) && subresource.is_empty())
            || (matches!(resource, "tracedservices" | "evaluationtasks")
                && subresource == "status");
        if !counted {
            continue;
        }
        let value: f64 = line
            .rsplit(' ')
            .next()
            .and_then(|v| v.parse().ok())
            .unwrap_or(0.0);
        let key = if subresource.is_empty() {
            resource.to_owned()
        } else {
            format!("{resource}/{subresource}")
        };
        *counts.entry(key).or_insert(0.0) += value;
    }
    Ok(counts)
}

/// Every request the API server counted, by `VERB resource[/subresource]`
/// (all clients; the harness keeps other clients quiet during a run).
pub async fn request_counts(client: &Client) -> Result<HashMap<String, f64>, String> {
    let request = http::Request::get("/metrics")
        .body(Vec::new())
        .map_err(|e| e.to_string())?;
    let text = client
        .request_text(request)
        .await
        .map_err(|e| format!("apiserver /metrics: {e}"))?;
    let mut counts = HashMap::new();
    for line in text
        .lines()
        .filter(|l| l.starts_with("apiserver_request_total{"))
    {
        let label = |name: &str| -> String {
            let key = format!("{name}=\"");
            line.find(&key)
                .map(|i| &line[i + key.len()..])
                .and_then(|rest| rest.split('"').next())
                .unwrap_or("")
                .to_owned()
        };
        let (verb, resource, sub) = (label("verb"), label("resource"), label("subresource"));
        if verb == "WATCH" || resource.is_empty() {
            continue;
        }
        let value: f64 = line
            .rsplit(' ')
            .next()
            .and_then(|v| v.parse().ok())
            .unwrap_or(0.0);
        let code = label("code");
        if code.starts_with('5') || code == "429" {
            *counts
                .entry(format!("answered {code}: {verb} {resource}"))
                .or_insert(0.0) += value;
        }
        let key = if sub.is_empty() {
            format!("{verb} {resource}")
        } else {
            format!("{verb} {resource}/{sub}")
        };
        *counts.entry(key).or_insert(0.0) += value;
    }
    Ok(counts)
}

/// Requests per object between two [`request_counts`], largest first.
pub fn per_object(before: &HashMap<String, f64>, after: &HashMap<String, f64>, n: usize) -> String {
    let mut parts: Vec<(String, f64)> = after
        .iter()
        .map(|(k, v)| {
            (
                k.clone(),
                (v - before.get(k).copied().unwrap_or(0.0)) / n.max(1) as f64,
            )
        })
        .filter(|(k, d)| *d >= 0.05 || (k.starts_with("answered") && *d > 0.0))
        .collect();
    parts.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    let (errors, requests): (Vec<_>, Vec<_>) =
        parts.iter().partition(|(k, _)| k.starts_with("answered"));
    let total: f64 = requests.iter().map(|p| p.1).sum();
    let top = requests
        .iter()
        .take(10)
        .map(|(k, d)| format!("{k} {d:.2}"))
        .collect::<Vec<_>>()
        .join(", ");
    let errors = if errors.is_empty() {
        "no 5xx/429 answers".to_owned()
    } else {
        errors
            .iter()
            .map(|(k, d)| format!("{k} {d:.3}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    format!("{total:.1} requests/object ({top}; {errors})")
}

/// `after - before`, non-zero entries, as `kind: n` text and a total.
pub fn diff(before: &HashMap<String, f64>, after: &HashMap<String, f64>) -> (f64, String) {
    let mut parts: Vec<(String, f64)> = after
        .iter()
        .map(|(k, v)| (k.clone(), v - before.get(k).copied().unwrap_or(0.0)))
        .filter(|(_, d)| *d > 0.0)
        .collect();
    parts.sort_by(|a, b| a.0.cmp(&b.0));
    let total = parts.iter().map(|p| p.1).sum();
    let text = parts
        .iter()
        .map(|(k, d)| format!("{k} {d:.0}"))
        .collect::<Vec<_>>()
        .join(", ");
    (total, if text.is_empty() { "none".into() } else { text })
}
