//! Reliability suite (issue 8, item 6): the bad-input corpus in
//! tests/bad-input/ applied to the real API server, as `kubectl apply
//! --server-side` would (field manager `kubectl`, strict field validation),
//! with both controllers running in-process. Every manifest is either
//! rejected at apply with a message naming the field, or accepted and given
//! the expected condition with no child object, no hot loop and no crash.
//! Also the proof that hostile packages and commands reach pip and the app
//! as argv, never through a shell (argv.rs).

#[path = "../support/mod.rs"]
mod support;

#[path = "bad_input/argv.rs"]
mod argv;
#[path = "bad_input/corpus.rs"]
mod corpus;

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::core::v1::{
    PersistentVolume, PersistentVolumeClaim, Service, ServiceAccount,
};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
use kube::api::{Api, ApiResource, DynamicObject, ListParams, Patch, PatchParams};
use kube::{Client, Resource, ResourceExt};
use serde_json::Value;
use tokio::task::JoinHandle;
use traceval::api::{EvaluationTask, TracedService};
use traceval::operator::evaluationtask::EvaluationContext;
use traceval::operator::evaluationtask::metrics::EvaluationMetrics;
use traceval::operator::metrics::Registry;
use traceval::operator::tracedservice::metrics::ServiceMetrics;
use traceval::resources::evaluationtask::EvaluationOptions;

use corpus::{Case, Expect, Measured};
use support::operator::{context, install_crds, service_context};
use support::{DEADLINE, TempNamespace, client, poll};

/// How long an accepted object may take to get its condition (about a second when well).
const CONDITION_DEADLINE: Duration = Duration::from_secs(30);
/// How long reconcile counts are watched after an object settled.
const QUIET_WINDOW: Duration = Duration::from_millis(1500);
/// Reconciles one degraded or failed object may cause, from its apply to the
/// end of the window: the first, the one its own status write triggers, and
/// slack for watch re-lists. A hot loop makes dozens.
const MAX_RECONCILES: u64 = 6;

/// Both controllers of one namespace, with their metrics.
struct Controllers {
    services: JoinHandle<()>,
    tasks: JoinHandle<()>,
    service_metrics: Arc<ServiceMetrics>,
    task_metrics: Arc<EvaluationMetrics>,
}

impl Controllers {
    fn start(client: &Client, namespace: &str) -> Self {
        let shared = context(client);
        let service_ctx = service_context(shared.clone());
        let service_metrics = service_ctx.metrics.clone();
        let services = tokio::spawn(traceval::operator::tracedservice::drive(
            traceval::operator::tracedservice::controller(client.clone(), Some(namespace)),
            service_ctx,
        ));
        let task_metrics = Arc::new(EvaluationMetrics::new());
        let ctx = Arc::new(EvaluationContext::new(
            shared,
            EvaluationOptions {
                image: "traceval:test".into(),
                trace_query_url: None,
                otlp_endpoint: None,
                ..EvaluationOptions::default()
            },
            task_metrics.clone(),
        ));
        let tasks = tokio::spawn(traceval::operator::evaluationtask::drive(
            traceval::operator::evaluationtask::controller(client.clone(), Some(namespace)),
            ctx,
        ));
        Self {
            services,
            tasks,
            service_metrics,
            task_metrics,
        }
    }

    /// Reconciles of both controllers so far, every outcome.
    fn reconciles(&self) -> u64 {
        let mut registry = Registry::default();
        registry.register_reconciles(
            &self.service_metrics.reconciles,
            "tracedservice",
            "TracedService",
        );
        registry.register_reconciles(
            &self.task_metrics.reconciles,
            "evaluationtask",
            "EvaluationTask",
        );
        let text = registry.encode();
        text.lines()
            .filter(|l| l.contains("_reconciles_total{"))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
            .sum()
    }

    fn assert_alive(&self, after: &str) {
        assert!(
            !self.services.is_finished(),
            "the TracedService controller stopped (panicked?) after {after}"
        );
        assert!(
            !self.tasks.is_finished(),
            "the EvaluationTask controller stopped (panicked?) after {after}"
        );
    }
}

impl Drop for Controllers {
    fn drop(&mut self) {
        self.services.abort();
        self.tasks.abort();
    }
}

fn api(client: &Client, namespace: &str, kind: &str) -> Api<DynamicObject> {
    let resource = match kind {
        "TracedService" => ApiResource::erase::<TracedService>(&()),
        "EvaluationTask" => ApiResource::erase::<EvaluationTask>(&()),
        other => panic!("unexpected kind {other}"),
    };
    Api::namespaced_with(client.clone(), namespace, &resource)
}

/// `kubectl apply --server-side`: field manager kubectl, strict field validation.
async fn apply(client: &Client, namespace: &str, case: &Case) -> Result<DynamicObject, String> {
    let params = PatchParams::apply("kubectl").validation_strict();
    api(client, namespace, &case.kind)
        .patch(&case.name, &params, &Patch::Apply(&case.object))
        .await
        .map_err(|e| match e {
            kube::Error::Api(status) => status.message,
            other => panic!("{}: unexpected error {other:?}", case.file),
        })
}

/// The `Degraded` condition's (status, reason, message) and the phase.
fn degraded(object: &DynamicObject) -> Option<(String, String, String, String)> {
    let status = object.data.get("status")?;
    let condition = status["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == "Degraded")?;
    let text = |v: &Value| v.as_str().unwrap_or_default().to_owned();
    Some((
        text(&condition["status"]),
        text(&condition["reason"]),
        text(&condition["message"]),
        text(&status["phase"]),
    ))
}

/// Children of the object with this uid, by kind, that exist.
async fn children(client: &Client, namespace: &str, uid: &str) -> Vec<String> {
    async fn owned<K>(api: Api<K>, uid: &str) -> Vec<String>
    where
        K: Resource<DynamicType = ()> + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
    {
        let list = api
            .list(&ListParams::default())
            .await
            .expect("list children");
        list.items
            .iter()
            .filter(|o| o.owner_references().iter().any(|r| r.uid == uid))
            .map(|o| format!("{} {}", K::kind(&()), o.name_any()))
            .collect()
    }
    let c = client.clone();
    let mut found = Vec::new();
    found.extend(owned(Api::<Deployment>::namespaced(c.clone(), namespace), uid).await);
    found.extend(owned(Api::<Service>::namespaced(c.clone(), namespace), uid).await);
    found.extend(owned(Api::<NetworkPolicy>::namespaced(c.clone(), namespace), uid).await);
    found.extend(
        owned(
            Api::<PersistentVolumeClaim>::namespaced(c.clone(), namespace),
            uid,
        )
        .await,
    );
    found.extend(owned(Api::<PersistentVolume>::all(c.clone()), uid).await);
    found.extend(owned(Api::<CronJob>::namespaced(c.clone(), namespace), uid).await);
    found.extend(owned(Api::<Job>::namespaced(c.clone(), namespace), uid).await);
    found.extend(owned(Api::<ServiceAccount>::namespaced(c.clone(), namespace), uid).await);
    found.extend(owned(Api::<Role>::namespaced(c.clone(), namespace), uid).await);
    found.extend(owned(Api::<RoleBinding>::namespaced(c, namespace), uid).await);
    found
}

/// Polls the reconcile count for `QUIET_WINDOW` and returns the growth
/// since `before`; fails as soon as it passes the bound.
async fn reconciles_through_window(controllers: &Controllers, before: u64, file: &str) -> u64 {
    let start = tokio::time::Instant::now();
    poll("the quiet window to pass", DEADLINE, || async {
        let grown = controllers.reconciles().saturating_sub(before);
        assert!(
            grown <= MAX_RECONCILES,
            "{file}: {grown} reconciles since its apply: a hot loop"
        );
        (start.elapsed() >= QUIET_WINDOW).then_some(grown)
    })
    .await
}

/// Applies a case expected to be accepted with a condition; checks it.
async fn degraded_case(
    client: &Client,
    namespace: &str,
    controllers: &Controllers,
    case: &Case,
) -> Measured {
    let before = controllers.reconciles();
    let applied = apply(client, namespace, case)
        .await
        .unwrap_or_else(|m| panic!("{}: must be accepted, was rejected: {m}", case.file));
    let uid = applied.uid().expect("uid");
    let (want_phase, reason) = match &case.expect {
        Expect::Degraded(reason) => (None, reason),
        Expect::Failed(reason) => (Some("Failed"), reason),
        _ => unreachable!("only degraded and failed cases"),
    };
    let objects = api(client, namespace, &case.kind);
    let (_, got_reason, message, phase) = poll(
        &format!("{}: Degraded=True with reason {reason}", case.file),
        CONDITION_DEADLINE,
        || async {
            let object = objects.get(&case.name).await.ok()?;
            degraded(&object).filter(|(status, r, ..)| status == "True" && r == reason)
        },
    )
    .await;
    if let Some(want) = want_phase {
        assert_eq!(phase, want, "{}: phase", case.file);
    }
    let grown = reconciles_through_window(controllers, before, &case.file).await;
    let built = children(client, namespace, &uid).await;
    assert!(
        built.is_empty(),
        "{}: children were built from it: {built:?}",
        case.file
    );
    controllers.assert_alive(&case.file);
    assert!(grown >= 1, "{}: never reconciled", case.file);
    eprintln!(
        "{}: {grown} reconciles from apply to the end of the quiet window",
        case.file
    );
    Measured {
        outcome: if want_phase.is_some() {
            "Failed"
        } else {
            "Degraded"
        },
        detail: corpus::normalise(&format!("{got_reason}: {message}"), namespace),
    }
}

/// Applies a case whose hostile strings are the user's own argv: the
/// Deployment carries each one verbatim as a single element.
async fn argv_case(client: &Client, namespace: &str, case: &Case) -> Measured {
    apply(client, namespace, case)
        .await
        .unwrap_or_else(|m| panic!("{}: must be accepted, was rejected: {m}", case.file));
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), namespace);
    let deployment = poll(
        &format!("{}: its Deployment", case.file),
        DEADLINE,
        || async { deployments.get_opt(&case.name).await.ok().flatten() },
    )
    .await;
    let container = deployment
        .spec
        .and_then(|s| s.template.spec)
        .map(|s| s.containers[0].clone())
        .expect("app container");
    let argv: Vec<String> = container
        .command
        .into_iter()
        .flatten()
        .chain(container.args.into_iter().flatten())
        .collect();
    let spec = &case.object["spec"];
    let hostile: Vec<&str> = ["command", "args"]
        .iter()
        .filter_map(|f| spec[f].as_array())
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    for word in &hostile {
        assert!(
            argv.iter().any(|a| a == word),
            "{}: {word:?} is not one argv element of {argv:?}",
            case.file
        );
    }
    Measured {
        outcome: "accepted",
        detail: "Deployment built; each hostile string is one argv element (see argv.rs)".into(),
    }
}

#[tokio::test]
async fn bad_input_corpus_is_rejected_or_degraded_without_children_loops_or_crashes() {
    let cases = corpus::load();
    let per_kind = |kind: &str| cases.iter().filter(|c| c.kind == kind).count();
    assert!(cases.len() >= 60, "at least 60 manifests");
    assert!(per_kind("TracedService") >= 25 && per_kind("EvaluationTask") >= 25);

    let client = client().await;
    install_crds(&client).await;
    let ns = TempNamespace::create(&client, "bad-input").await;
    let controllers = Controllers::start(&client, &ns.name);

    let mut rows: Vec<(Case, Measured)> = Vec::new();
    // Rejections first, then accepted objects one at a time (so each one's
    // reconcile count is its own), argv cases last (their Deployments keep
    // their controller busy).
    let rank = |c: &Case| match c.expect {
        Expect::Rejected(_) => 0,
        Expect::Degraded(_) | Expect::Failed(_) => 1,
        Expect::AcceptedArgv => 2,
    };
    let mut ordered = cases.clone();
    ordered.sort_by_key(|c| rank(c));
    for case in ordered {
        let measured = match &case.expect {
            Expect::Rejected(text) => {
                let message = match apply(&client, &ns.name, &case).await {
                    Ok(_) => panic!("{}: must be rejected at apply", case.file),
                    Err(message) => message,
                };
                assert!(
                    message.contains(text.as_str()),
                    "{}: {message:?} does not name {text:?}",
                    case.file
                );
                Measured {
                    outcome: "rejected at apply",
                    detail: corpus::normalise(&message, &ns.name),
                }
            }
            Expect::Degraded(_) | Expect::Failed(_) => {
                degraded_case(&client, &ns.name, &controllers, &case).await
            }
            Expect::AcceptedArgv => argv_case(&client, &ns.name, &case).await,
        };
        controllers.assert_alive(&case.file);
        rows.push((case, measured));
    }
    rows.sort_by(|a, b| a.0.file.cmp(&b.0.file));
    corpus::check_readme(&rows);
}
