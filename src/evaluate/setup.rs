//! What the offline run ([`super::offline`]) and the in-cluster run
//! ([`super::cluster`]) both resolve from a task and the flags: the judge
//! and the engine, the trace source, the `service.name` of the traces, the
//! sampler and the settled time (now minus the delay). Each front door calls
//! these in its own order (the order decides which error a bad task reports
//! first); none of them is written twice.

use k8s_openapi::jiff::{SignedDuration, Timestamp};

use super::args::EvaluateArgs;
use super::error::{CliError, source_error};
use super::judge::{Judge, JudgeConfig, token_from_env};
use super::sampling::Sampler;
use super::scoring::{Dataset, Engine};
use super::source::{self, Overrides, TraceSource};
use crate::api::evaluationtask::delay::delay_or_default;
use crate::api::evaluationtask::{EvaluationTaskSpec, SamplingSpec};

/// Where a run happens; the messages name the flags that apply there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place {
    /// `traceval evaluate --task FILE`.
    Offline,
    /// `traceval evaluate --namespace NS --name TASK`.
    InCluster,
}

/// Why a task has no mode (ruled out by validation, kept as a guard).
pub const NO_MODE: &str = "the task has neither sampling nor traceIDs";

/// Why a task has no judge preset.
pub const NO_JUDGE_PROVIDER: &str = "spec.judge.provider is unset: name a provider or give --default-judge-preset (in the cluster, the operator's --default-judge-preset)";

/// The judge of the spec (preset from `spec.judge.provider`, else
/// `--default-judge-preset`; token from the environment; base URL from
/// `--judge-url`, the spec or its preset) and the engine around it.
pub fn engine(spec: &EvaluationTaskSpec, args: &EvaluateArgs) -> Result<Engine, CliError> {
    let input = |e: &dyn std::fmt::Display| CliError::Input(e.to_string());
    let provider = spec
        .judge
        .provider
        .or(args.default_judge_preset)
        .ok_or_else(|| CliError::Input(NO_JUDGE_PROVIDER.into()))?;
    let token = token_from_env(provider).map_err(|e| input(&e))?;
    let config = JudgeConfig::from_spec(&spec.judge, provider, args.judge_url.as_deref(), token)
        .map_err(|e| input(&e))?;
    let judge = Judge::new(config).map_err(|e| input(&e))?;
    let engine = Engine::new(spec, judge).map_err(|e| input(&e))?;
    match (&args.dataset, &spec.dataset) {
        (Some(path), _) => Ok(engine.with_dataset(Dataset::load(path).map_err(CliError::Input)?)),
        (None, Some(dataset)) => Err(CliError::Input(format!(
            "spec.dataset names ConfigMap {:?} key {:?}: give its rows with --dataset FILE \
             (in the cluster, the operator mounts it)",
            dataset.config_map_ref.name, dataset.config_map_ref.key
        ))),
        (None, None) => Ok(engine),
    }
}

/// The trace source of `--traces` / `--jaeger-url`, else of `spec.traceSource`.
pub fn trace_source(
    spec: &EvaluationTaskSpec,
    args: &EvaluateArgs,
    place: Place,
) -> Result<Box<dyn TraceSource>, CliError> {
    let overrides = Overrides {
        traces: args.traces.as_deref(),
        jaeger_url: args.jaeger_url.as_deref(),
    };
    source::open(spec.trace_source.as_ref(), &overrides)
        .map_err(source_error)?
        .ok_or_else(|| {
            CliError::Input(
                match place {
                    Place::Offline => {
                        "no traces: give --traces FILE, --jaeger-url, or spec.traceSource.jaeger.url"
                    }
                    Place::InCluster => {
                        "no trace store: set spec.traceSource.jaeger.url or give --jaeger-url (the operator's --trace-query-url)"
                    }
                }
                .into(),
            )
        })
}

/// `service.name` of the traces: `--service-name`, else `spec.target.serviceName`,
/// else the target TracedService's `tracing.serviceName` (in the cluster),
/// else the target's name.
pub fn service_name(
    spec: &EvaluationTaskSpec,
    args: &EvaluateArgs,
    traced_service_name: Option<&str>,
) -> String {
    args.service_name
        .as_deref()
        .or(spec.target.service_name.as_deref())
        .or(traced_service_name)
        .or(spec.target.traced_service.as_deref())
        .unwrap_or_default()
        .to_owned()
}

/// The sampling policy and window of `spec.sampling`.
pub fn sampler(sampling: &SamplingSpec) -> Result<Sampler, CliError> {
    Sampler::from_spec(sampling)
        .ok_or_else(|| CliError::Input("sampling.policy needs timeWindow or probability".into()))
}

/// Now minus the task's delay: traces that started after it may still be
/// receiving spans.
pub fn settled(spec: &EvaluationTaskSpec) -> Result<Timestamp, CliError> {
    let delay = delay_or_default(spec.delay.as_ref()).map_err(CliError::Input)?;
    let delay = SignedDuration::try_from(delay).unwrap_or(SignedDuration::MAX);
    Ok(Timestamp::now()
        .checked_sub(delay)
        .unwrap_or(Timestamp::UNIX_EPOCH))
}
