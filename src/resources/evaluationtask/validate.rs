//! An EvaluationTask checked once into the form the builders take.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use k8s_openapi::jiff::Timestamp;
use kube::{Resource, ResourceExt};

use super::EvaluationOptions;
use crate::api::EvaluationTask;
use crate::api::evaluationtask::progress::trace_list;
use crate::api::evaluationtask::{
    ConfigMapKeyRef, EvaluationTaskSpec, JudgeProvider, SecretKeyRef,
};
use crate::api::hash::short_hash;
use crate::evaluate::judge::JudgeConfig;

/// Schedule of online batch runs when `spec.schedule` is unset.
pub const DEFAULT_SCHEDULE: &str = "*/10 * * * *";

/// Cron macros the CronJob controller understands.
const CRON_MACROS: [&str; 7] = [
    "@yearly",
    "@annually",
    "@monthly",
    "@weekly",
    "@daily",
    "@midnight",
    "@hourly",
];

/// How the task's traces are picked.
#[derive(Clone, Debug, PartialEq)]
pub enum Mode {
    /// Online batch: a CronJob over the sampling window.
    Online {
        /// Cron schedule.
        schedule: String,
        /// Sampling window start.
        start: Timestamp,
        /// Sampling window end: the task is done once runs passed it.
        end: Timestamp,
    },
    /// Single traces: one Job.
    Single {
        /// The trace IDs, lowercase, without repeats, in spec order.
        trace_ids: Vec<String>,
    },
}

/// An EvaluationTask that passed validation: the only input of the builders.
#[derive(Clone, Debug, PartialEq)]
pub struct ValidatedTask {
    /// Task name.
    pub name: String,
    /// Namespace of the task and its children.
    pub namespace: String,
    /// Controller owner reference every child carries.
    pub owner: OwnerReference,
    /// Online batch or single traces.
    pub mode: Mode,
    /// `spec.suspend`.
    pub suspend: bool,
    /// The target TracedService, if the task names one.
    pub traced_service: Option<String>,
    /// The Secret key holding the judge token, if any.
    pub judge_token: Option<SecretKeyRef>,
    /// Whether the spec names its trace store (`traceSource`); otherwise the
    /// operator's default trace query URL is passed to the evaluator.
    pub names_trace_source: bool,
    /// The operator's default judge preset when `spec.judge` names no
    /// provider (passed to the evaluator); `None` when the spec names one.
    pub default_judge_preset: Option<JudgeProvider>,
    /// The ConfigMap key of the reference answers (`spec.dataset`), mounted
    /// into the evaluation pod.
    pub dataset: Option<ConfigMapKeyRef>,
    /// Hash of the spec without `suspend`: a single-traces Job is rerun when it changes.
    pub spec_hash: String,
}

/// Why a task cannot be realised.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum InvalidTask {
    /// Metadata the API server always sets is missing.
    #[error("the EvaluationTask has no {0}")]
    Metadata(&'static str),
    /// The spec breaks a rule of the CRD (checked again here).
    #[error("{0}")]
    Spec(String),
    /// `spec.judge.provider` is unset and the operator has no default preset.
    #[error(
        "judge.provider is unset and the operator has no default judge preset: name a provider ({}) or start the operator with --default-judge-preset (the chart's defaultJudgePreset)",
        JudgeProvider::ALL.map(JudgeProvider::as_str).join(", ")
    )]
    NoJudgeProvider,
    /// The operator's default preset does not fit the spec's judge.
    #[error(
        "judge.provider is unset, so the operator's default preset {preset} applies: {message}"
    )]
    DefaultJudgePreset {
        /// The default preset.
        preset: JudgeProvider,
        /// What it lacks.
        message: String,
    },
    /// `spec.schedule` is not a cron expression.
    #[error(
        "schedule {0:?} is not a cron expression: five fields (minute hour day-of-month month day-of-week) or a macro such as @hourly"
    )]
    Schedule(String),
}

/// Checks a task and resolves its defaults, with no operator defaults (what
/// [`validate_with`] does with `EvaluationOptions::default()`).
pub fn validate(task: &EvaluationTask) -> Result<ValidatedTask, InvalidTask> {
    validate_with(task, &EvaluationOptions::default())
}

/// Checks a task and resolves its defaults, including what the spec leaves
/// to the operator: `options.default_judge_preset` for a judge that names no
/// provider. The task is invalid when it names none and there is no default.
pub fn validate_with(
    task: &EvaluationTask,
    options: &EvaluationOptions,
) -> Result<ValidatedTask, InvalidTask> {
    let name = task.name_any();
    let namespace = task.namespace().ok_or(InvalidTask::Metadata("namespace"))?;
    if task.meta().uid.is_none() {
        return Err(InvalidTask::Metadata("uid"));
    }
    let owner = task
        .controller_owner_ref(&())
        .ok_or(InvalidTask::Metadata("uid"))?;
    let spec = &task.spec;
    crate::evaluate::task::validate(spec).map_err(InvalidTask::Spec)?;
    let default_judge_preset = match spec.judge.provider {
        Some(_) => None,
        None => {
            let preset = options
                .default_judge_preset
                .ok_or(InvalidTask::NoJudgeProvider)?;
            // What the CRD checks of a named provider (openai-compatible
            // needs baseURL and model), checked here for the default.
            JudgeConfig::from_spec(&spec.judge, preset, None, None).map_err(|e| {
                InvalidTask::DefaultJudgePreset {
                    preset,
                    message: e.to_string(),
                }
            })?;
            Some(preset)
        }
    };
    let mode = match (&spec.sampling, &spec.trace_ids) {
        (Some(sampling), _) => {
            let schedule = spec
                .schedule
                .as_deref()
                .unwrap_or(DEFAULT_SCHEDULE)
                .trim()
                .to_owned();
            if !is_cron(&schedule) {
                return Err(InvalidTask::Schedule(schedule));
            }
            Mode::Online {
                schedule,
                start: sampling.start.0,
                end: sampling.end.0,
            }
        }
        (None, Some(ids)) => Mode::Single {
            trace_ids: trace_list(ids),
        },
        // Ruled out by evaluate::task::validate.
        (None, None) => return Err(InvalidTask::Spec("no mode".into())),
    };
    Ok(ValidatedTask {
        name,
        namespace,
        owner,
        mode,
        suspend: spec.suspend,
        traced_service: spec.target.traced_service.clone(),
        judge_token: spec.judge.token_secret_ref.clone(),
        names_trace_source: spec.trace_source.is_some(),
        default_judge_preset,
        dataset: spec.dataset.as_ref().map(|d| d.config_map_ref.clone()),
        spec_hash: spec_hash(spec),
    })
}

/// Hash of the spec with `suspend` cleared.
fn spec_hash(spec: &EvaluationTaskSpec) -> String {
    let shaping = EvaluationTaskSpec {
        suspend: false,
        ..spec.clone()
    };
    // Serialising plain structs is deterministic; it cannot fail.
    short_hash(&serde_json::to_vec(&shaping).unwrap_or_default(), 4)
}

/// A cron expression as the CronJob controller reads it: a macro, or five
/// fields of `*`, `?`, values, ranges and steps within each field's bounds
/// (month and weekday names allowed). Checked here so that a schedule the API
/// server would reject never gets as far as an apply.
fn is_cron(schedule: &str) -> bool {
    if schedule.starts_with('@') {
        return CRON_MACROS.contains(&schedule);
    }
    let fields: Vec<&str> = schedule.split_whitespace().collect();
    let bounds: [(u32, u32, &[&str]); 5] = [
        (0, 59, &[]),
        (0, 23, &[]),
        (1, 31, &[]),
        (1, 12, &MONTHS),
        (0, 7, &WEEKDAYS),
    ];
    fields.len() == 5
        && fields
            .iter()
            .zip(bounds)
            .all(|(field, (min, max, names))| cron_field(field, min, max, names))
}

const MONTHS: [&str; 12] = [
    "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
];
const WEEKDAYS: [&str; 7] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];

/// One cron field: comma-separated items, each `*`, `?`, `N` or `N-M`, with an optional `/step`.
fn cron_field(field: &str, min: u32, max: u32, names: &[&str]) -> bool {
    let value = |text: &str| -> Option<u32> {
        let n = match text.parse::<u32>() {
            Ok(n) => n,
            Err(_) => {
                let upper = text.to_ascii_uppercase();
                let index = names.iter().position(|name| *name == upper)?;
                // Month names count from 1, weekday names from 0 (SUN).
                u32::try_from(index).ok()? + if names.len() == 12 { 1 } else { 0 }
            }
        };
        (min..=max).contains(&n).then_some(n)
    };
    field.split(',').all(|item| {
        let (range, step) = match item.split_once('/') {
            Some((range, step)) => (range, Some(step)),
            None => (item, None),
        };
        let step_ok = step.is_none_or(|s| s.parse::<u32>().is_ok_and(|n| n >= 1 && n <= max));
        let range_ok = match range {
            "*" | "?" => true,
            _ => match range.split_once('-') {
                Some((a, b)) => matches!((value(a), value(b)), (Some(a), Some(b)) if a <= b),
                None => value(range).is_some(),
            },
        };
        step_ok && range_ok
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cron_check() {
        for good in [
            "*/10 * * * *",
            "0 3 * * 1-5",
            "@hourly",
            "5,35 */2 * JAN-JUN MON",
            "0 0 1-15/2 * SUN-SAT",
            "0 0 ? * 7",
        ] {
            assert!(is_cron(good), "{good}");
        }
        for bad in [
            "",
            "* * * *",
            "@often",
            "TZ=UTC * * * * *",
            "* * * * * *",
            "99 * * * *",
            "* 24 * * *",
            "* * 0 * *",
            "* * * 13 *",
            "* * * * 8",
            "*/0 * * * *",
            "5-1 * * * *",
            "* * * FOO *",
            "a b c d e",
            "1,,2 * * * *",
        ] {
            assert!(!is_cron(bad), "{bad}");
        }
    }
}
