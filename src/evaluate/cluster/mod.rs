//! `traceval evaluate --namespace NS --name TASK`: one run inside the
//! cluster, what the operator's CronJob and Job execute. The task is read
//! from the API (with the pod's ServiceAccount), its target TracedService
//! gives the trace service name and the OTLP endpoint for evaluation spans,
//! and the results go to the task's status (see [`status_writer`]) as well
//! as to stdout as JSON lines, like the offline run.
//!
//! Online batch: the window `[watermark, min(now - delay, end)]` (see
//! [`window`]). Single traces: the IDs of `spec.traceIDs` not done yet
//! (`status.traceListProgress`).
//!
//! The run state: [`window`] (watermark), [`ledger`] (cumulative results),
//! [`performance`] (traffic), [`status_writer`] (the evaluator's status
//! writes), [`evaluation_spans`] (the OTLP exporter of evaluation spans);
//! `plan` (what a run reads) and `run` (the run itself).

pub mod evaluation_spans;
pub mod ledger;
pub mod performance;
mod plan;
mod run;
pub mod status_writer;
pub mod window;

use std::io::Write;

use k8s_openapi::jiff::Timestamp;
use kube::{Api, Client};

use self::evaluation_spans::Exporter;
use self::status_writer::StatusWriter;
use super::args::EvaluateArgs;
use super::error::CliError;
use super::sampling::Sampler;
use super::scoring::{Engine, Summary};
use super::setup::{self, Place};
use super::source::TraceSource;
use super::task;
use crate::api::evaluationtask::progress::trace_list;
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
    /// The trace store (it also gives the per-trace links).
    pub source: Box<dyn TraceSource>,
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
    let service_name =
        setup::service_name(spec, args, tracing.and_then(|t| t.service_name.as_deref()));
    // Evaluation spans go where the app's spans go (its endpoint or the
    // operator's default), when that is OTLP/HTTP.
    let otlp_endpoint = args.otlp_endpoint.clone().or_else(|| {
        tracing
            .filter(|t| t.protocol != OtlpProtocol::Grpc)
            .and_then(|t| t.endpoint_or(args.default_trace_endpoint.as_deref()))
            .map(str::to_owned)
    });
    let source = setup::trace_source(spec, args, Place::InCluster)?;
    let engine = setup::engine(spec, args)?;
    let exporter = otlp_endpoint
        .map(|endpoint| Exporter::new(&endpoint, namespace, name))
        .transpose()
        .map_err(|e| CliError::Input(e.to_string()))?;
    let mode = match (&spec.sampling, &spec.trace_ids) {
        (Some(sampling), _) => {
            let sampler = setup::sampler(sampling)?;
            let settled = setup::settled(spec)?;
            RunMode::Online { sampler, settled }
        }
        (None, Some(ids)) => RunMode::List(trace_list(ids)),
        (None, None) => return Err(CliError::Input(setup::NO_MODE.into())),
    };
    Ok(Setup {
        namespace: namespace.to_owned(),
        name: name.to_owned(),
        service_name,
        engine,
        source,
        exporter,
        mode,
    })
}
