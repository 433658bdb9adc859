//! The evaluation pod, shared by the CronJob and the Job: `traceval evaluate
//! --namespace NS --name TASK` under the task's own ServiceAccount, with the
//! judge token only as a secretKeyRef env var, and a writable `/tmp` under
//! its read-only root filesystem.

use k8s_openapi::api::core::v1::{
    ConfigMapVolumeSource, Container, KeyToPath, PodSpec, PodTemplateSpec, ResourceRequirements,
    Volume, VolumeMount,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::validate::ValidatedTask;
use super::{EvaluationOptions, labels, names};
use crate::api::evaluationtask::{ConfigMapKeyRef, TOKEN_ENV};
use crate::resources::env_var::{secret_ref, value};
use crate::resources::security::{
    container_security_context, pod_security_context, tmp_volume, tmp_volume_mount,
};

/// Name of the evaluator container.
pub const EVALUATOR_CONTAINER: &str = "evaluate";
/// Where `spec.dataset`'s ConfigMap key is mounted (as the file `dataset`).
pub const DATASET_DIR: &str = "/etc/traceval/dataset";
const DATASET_VOLUME: &str = "dataset";
const DATASET_FILE: &str = "dataset";

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
    if task.dataset.is_some() {
        command.extend([
            "--dataset".to_owned(),
            format!("{DATASET_DIR}/{DATASET_FILE}"),
        ]);
    }
    command
}

/// The dataset's volume (the ConfigMap's one key, as the file `dataset`)
/// and its read-only mount. The ConfigMap must exist (not `optional`): a
/// missing one keeps the pod from starting, which the operator reports.
fn dataset_volume(dataset: &ConfigMapKeyRef) -> (Volume, VolumeMount) {
    let volume = Volume {
        name: DATASET_VOLUME.to_owned(),
        config_map: Some(ConfigMapVolumeSource {
            name: dataset.name.clone(),
            items: Some(vec![KeyToPath {
                key: dataset.key.clone(),
                path: DATASET_FILE.to_owned(),
                mode: None,
            }]),
            optional: Some(false),
            ..ConfigMapVolumeSource::default()
        }),
        ..Volume::default()
    };
    let mount = VolumeMount {
        name: DATASET_VOLUME.to_owned(),
        mount_path: DATASET_DIR.to_owned(),
        read_only: Some(true),
        ..VolumeMount::default()
    };
    (volume, mount)
}

/// The pod template of every evaluation run.
pub fn pod_template(task: &ValidatedTask, options: &EvaluationOptions) -> PodTemplateSpec {
    let mut env = vec![value("RUST_LOG", "info")];
    if let Some(token) = &task.judge_token {
        env.push(secret_ref(TOKEN_ENV, &token.name, &token.key));
    }
    let quantity = |q: &str| Quantity(q.to_owned());
    let (mut volumes, mut mounts) = (vec![tmp_volume()], vec![tmp_volume_mount()]);
    if let Some(dataset) = &task.dataset {
        let (volume, mount) = dataset_volume(dataset);
        volumes.push(volume);
        mounts.push(mount);
    }
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
        volume_mounts: Some(mounts),
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
            volumes: Some(volumes),
            ..PodSpec::default()
        }),
    }
}
