//! The evaluation pod, shared by the CronJob and the Job: `traceval evaluate
//! --namespace NS --name TASK` under the task's own ServiceAccount, with the
//! judge token only as a secretKeyRef env var, and a writable `/tmp` under
//! its read-only root filesystem.

use k8s_openapi::api::core::v1::{Container, PodSpec, PodTemplateSpec, ResourceRequirements};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::validate::ValidatedTask;
use super::{EvaluationOptions, labels, names};
use crate::api::evaluationtask::TOKEN_ENV;
use crate::resources::env_var::{secret_ref, value};
use crate::resources::security::{
    container_security_context, pod_security_context, tmp_volume, tmp_volume_mount,
};

/// Name of the evaluator container.
pub const EVALUATOR_CONTAINER: &str = "evaluate";
/// Unprivileged user the evaluator runs as.
const EVALUATOR_UID: i64 = 65532;

/// The evaluator's command line: what the CronJob and Job run, and what the
/// integration tests run locally with the pod's credentials.
pub fn command(task: &ValidatedTask, options: &EvaluationOptions) -> Vec<String> {
    let mut command: Vec<String> = [
        "traceval",
        "evaluate",
        "--namespace",
        &task.namespace,
        "--name",
        &task.name,
    ]
    .map(str::to_owned)
    .to_vec();
    if !task.names_trace_source
        && let Some(url) = &options.trace_query_url
    {
        command.extend(["--jaeger-url".to_owned(), url.clone()]);
    }
    if let Some(endpoint) = &options.otlp_endpoint {
        command.extend(["--otlp-endpoint".to_owned(), endpoint.clone()]);
    } else if task.traced_service.is_some()
        && let Some(endpoint) = &options.default_trace_endpoint
    {
        // The target may export to the operator's default: so do the
        // evaluation spans (the evaluator reads the target and decides).
        command.extend(["--default-trace-endpoint".to_owned(), endpoint.clone()]);
    }
    if let Some(preset) = task.default_judge_preset {
        command.extend(["--default-judge-preset".to_owned(), preset.to_string()]);
    }
    command
}

/// The pod template of every evaluation run.
pub fn pod_template(task: &ValidatedTask, options: &EvaluationOptions) -> PodTemplateSpec {
    let mut env = vec![value("RUST_LOG", "info")];
    if let Some(token) = &task.judge_token {
        env.push(secret_ref(TOKEN_ENV, &token.name, &token.key));
    }
    let quantity = |q: &str| Quantity(q.to_owned());
    let container = Container {
        name: EVALUATOR_CONTAINER.to_owned(),
        image: Some(options.image.clone()),
        command: Some(command(task, options)),
        env: Some(env),
        resources: Some(ResourceRequirements {
            requests: Some(
                [
                    ("cpu".to_owned(), quantity("50m")),
                    ("memory".to_owned(), quantity("64Mi")),
                ]
                .into(),
            ),
            limits: Some([("memory".to_owned(), quantity("512Mi"))].into()),
            ..ResourceRequirements::default()
        }),
        security_context: Some(container_security_context(true)),
        // The root filesystem is read-only; /tmp is writable, as in every
        // container the operator creates.
        volume_mounts: Some(vec![tmp_volume_mount()]),
        ..Container::default()
    };
    PodTemplateSpec {
        metadata: Some(ObjectMeta {
            labels: Some(labels(task)),
            ..ObjectMeta::default()
        }),
        spec: Some(PodSpec {
            service_account_name: Some(names::rbac_name(&task.name)),
            // The evaluator needs its token: it reads its task and writes its status.
            automount_service_account_token: Some(true),
            restart_policy: Some("Never".to_owned()),
            security_context: Some(pod_security_context(EVALUATOR_UID)),
            containers: vec![container],
            volumes: Some(vec![tmp_volume()]),
            ..PodSpec::default()
        }),
    }
}
