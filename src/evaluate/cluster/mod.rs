//! `traceval evaluate --namespace NS --name TASK`: one run inside the
//! cluster, what the operator's CronJob and Job execute. The task is read
//! from the API (with the pod's ServiceAccount), its target TracedService
//! gives the trace service name and the OTLP endpoint for evaluation spans,
//! and the results go to the task's status (see [`super::status`]) as well
//! as to stdout as JSON lines, like the offline run.
//!
//! Online batch: the window `[watermark, min(now - delay, end)]` (see
//! [`super::window`]). Single traces: the IDs of `spec.traceIDs` not done
//! yet (`status.traceListProgress`).

mod plan;
mod run;

use std::io::Write;

use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::{Api, Client};

use super::cli::{CliError, EvaluateArgs};
use super::engine::Engine;
use super::judge::{Judge, JudgeConfig, token_from_env};
use super::otlp::Exporter;
use super::report::Summary;
use super::sampling::Sampler;
use super::source::JaegerSource;
use super::status::StatusWriter;
use super::task::{self, DEFAULT_DELAY};
use super::window::trace_list;
use crate::api::tracedservice::OtlpProtocol;
use crate::api::{EvaluationTask, TracedService};

/// Everything a run needs, resolved from the task, its target and the flags.
pub struct Setup {
    /// Namespace of the task.
    pub namespace: String,
    /// Name of the task.
    pub name: String,
    /// `service.name` of the traces.
    pub service_name: String,
    /// The evaluator of the task's spec.
    pub engine: Engine,
    /// The trace store.
    pub source: JaegerSource,
    /// Base of the per-trace links (`{base}/trace/{id}`).
    pub trace_ui: String,
    /// Where evaluation spans go, if anywhere.
    pub exporter: Option<Exporter>,
    /// What to read.
    pub mode: RunMode,
}

/// What a run reads.
pub enum RunMode {
    /// Online batch: sample the traces settled since the watermark.
    Online {
        /// The sampling policy and window.
        sampler: Sampler,
        /// Traces that started after this are not read yet.
        settled: Timestamp,
    },
    /// Single traces: these IDs (lowercase, without repeats, in spec order).
    List(Vec<String>),
}

fn api_error(kind: &str, namespace: &str, name: &str, error: kube::Error) -> CliError {
    match &error {
        kube::Error::Api(status) if status.code == 404 => {
            CliError::Input(format!("{kind} {namespace}/{name} not found"))
        }
        _ => CliError::Run(format!("cannot read {kind} {namespace}/{name}: {error}")),
    }
}

/// Runs one in-cluster evaluation of task `namespace/name`.
pub async fn evaluate(
    args: &EvaluateArgs,
    namespace: &str,
    name: &str,
    out: &mut dyn Write,
) -> Result<Summary, CliError> {
    let client = Client::try_default()
        .await
        .map_err(|e| CliError::Run(format!("cannot create a Kubernetes client: {e}")))?;
    let tasks: Api<EvaluationTask> = Api::namespaced(client.clone(), namespace);
    let task = tasks
        .get(name)
        .await
        .map_err(|e| api_error("EvaluationTask", namespace, name, e))?;
    let writer = StatusWriter::new(client.clone(), namespace, name);
    let previous = task.status.clone().unwrap_or_default();
    let setup = match resolve(&client, &task, args, namespace, name).await {
        Ok(setup) => setup,
        Err(error) => {
            run::record_failure(&writer, &previous, &error.to_string()).await;
            return Err(error);
        }
    };
    run::run(&setup, &previous, &writer, out).await
}

async fn resolve(
    client: &Client,
    task: &EvaluationTask,
    args: &EvaluateArgs,
    namespace: &str,
    name: &str,
) -> Result<Setup, CliError> {
    let spec = &task.spec;
    task::validate(spec).map_err(|e| CliError::Input(format!("invalid spec: {e}")))?;
    let target = match &spec.target.traced_service {
        Some(target) => {
            let services: Api<TracedService> = Api::namespaced(client.clone(), namespace);
            Some(
                services
                    .get(target)
                    .await
                    .map_err(|e| api_error("TracedService", namespace, target, e))?,
            )
        }
        None => None,
    };
    let tracing = target
        .as_ref()
        .and_then(|t| t.spec.tracing.as_ref())
        .filter(|t| t.enabled);
    let service_name = args
        .service_name
        .clone()
        .or_else(|| spec.target.service_name.clone())
        .or_else(|| tracing.and_then(|t| t.service_name.clone()))
        .or_else(|| spec.target.traced_service.clone())
        .unwrap_or_default();
    // Evaluation spans go where the app's spans go, when that is OTLP/HTTP.
    let otlp_endpoint = args.otlp_endpoint.clone().or_else(|| {
        tracing
            .filter(|t| t.protocol != OtlpProtocol::Grpc)
            .and_then(|t| t.endpoint.clone())
    });
    let jaeger = spec.trace_source.as_ref().and_then(|s| s.jaeger.as_ref());
    let url = args
        .jaeger_url
        .clone()
        .or_else(|| jaeger.map(|j| j.url.clone()))
        .ok_or_else(|| {
            CliError::Input(
                "no trace store: set spec.traceSource.jaeger.url or give --jaeger-url (the operator's --trace-query-url)".into(),
            )
        })?;
    let page = jaeger.and_then(|j| j.page_size).map(|p| p as usize);
    let source = JaegerSource::new(&url, page).map_err(|e| CliError::Input(e.to_string()))?;
    let token = token_from_env(spec.judge.provider).map_err(|e| CliError::Input(e.to_string()))?;
    let config = JudgeConfig::from_spec(&spec.judge, args.judge_url.as_deref(), token)
        .map_err(|e| CliError::Input(e.to_string()))?;
    let judge = Judge::new(config).map_err(|e| CliError::Input(e.to_string()))?;
    let engine = Engine::new(spec, judge).map_err(|e| CliError::Input(e.to_string()))?;
    let exporter = otlp_endpoint
        .map(|endpoint| Exporter::new(&endpoint, namespace, name))
        .transpose()
        .map_err(|e| CliError::Input(e.to_string()))?;
    let mode = match (&spec.sampling, &spec.trace_ids) {
        (Some(sampling), _) => {
            let sampler = Sampler::from_spec(sampling).ok_or_else(|| {
                CliError::Input("sampling.policy needs timeWindow or probability".into())
            })?;
            let delay = spec
                .delay
                .as_deref()
                .map(task::parse_duration)
                .transpose()
                .map_err(CliError::Input)?
                .unwrap_or(DEFAULT_DELAY);
            let delay = SignedDuration::try_from(delay).unwrap_or(SignedDuration::MAX);
            let settled = Timestamp::now()
                .checked_sub(delay)
                .unwrap_or(Timestamp::UNIX_EPOCH);
            RunMode::Online { sampler, settled }
        }
        (None, Some(ids)) => RunMode::List(trace_list(ids)),
        (None, None) => {
            return Err(CliError::Input(
                "the task has neither sampling nor traceIDs".into(),
            ));
        }
    };
    Ok(Setup {
        namespace: namespace.to_owned(),
        name: name.to_owned(),
        service_name,
        engine,
        source,
        trace_ui: url.trim_end_matches('/').to_owned(),
        exporter,
        mode,
    })
}
