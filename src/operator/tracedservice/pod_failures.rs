//! Why a TracedService's pods do not become Ready, from the pods
//! themselves: a container that crash-loops, exits with an error or cannot
//! be created. The Deployment's status only says "0 of 1 pods ready"; a
//! real pod showed it (the `arms` probe's agent download failing in the
//! start wrapper): the user needs the container and its message in the
//! TracedService's status.
//!
//! Only what the operator wrote is copied from a container's termination
//! message (lines starting with `traceval:`, the wrapper's, and pip's
//! `ERROR:` lines): the rest of an app's log may hold anything, secrets too.

use k8s_openapi::api::core::v1::{ContainerStatus, Pod};
use kube::api::{Api, ListParams};

use crate::resources::tracedservice::ValidatedTracedService;
use crate::resources::tracedservice::meta::selector_labels;

/// Waiting reasons that do not resolve by waiting.
const STUCK: [&str; 8] = [
    "CrashLoopBackOff",
    "ImagePullBackOff",
    "ErrImagePull",
    "ErrImageNeverPull",
    "InvalidImageName",
    "CreateContainerConfigError",
    "CreateContainerError",
    "RunContainerError",
];
/// Longest message copied into a condition.
const MAX_DETAIL: usize = 400;

/// The first failing container of the TracedService's pods, as a message.
pub async fn find(
    client: &kube::Client,
    svc: &ValidatedTracedService,
) -> Result<Option<String>, kube::Error> {
    let selector = selector_labels(svc)
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",");
    let pods: Api<Pod> = Api::namespaced(client.clone(), &svc.namespace);
    let listed = pods.list(&ListParams::default().labels(&selector)).await?;
    Ok(failure_of(&listed.items))
}

/// The first failing container among `pods` (by pod name; init containers
/// before the app's), described for a condition message.
pub fn failure_of(pods: &[Pod]) -> Option<String> {
    let mut pods: Vec<&Pod> = pods
        .iter()
        .filter(|p| p.metadata.deletion_timestamp.is_none())
        .collect();
    pods.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
    pods.into_iter().find_map(|pod| {
        let status = pod.status.as_ref()?;
        let name = pod.metadata.name.as_deref().unwrap_or("?");
        status
            .init_container_statuses
            .iter()
            .flatten()
            .chain(status.container_statuses.iter().flatten())
            .find_map(|c| {
                container_failure(c).map(|what| format!("pod {name}: container {}: {what}", c.name))
            })
    })
}

fn container_failure(c: &ContainerStatus) -> Option<String> {
    let state = c.state.as_ref()?;
    if let Some(waiting) = &state.waiting {
        let reason = waiting.reason.as_deref().unwrap_or_default();
        if !STUCK.contains(&reason) {
            return None;
        }
        if let Some(last) = c.last_state.as_ref().and_then(|s| s.terminated.as_ref()) {
            return Some(exited(
                last.exit_code,
                c.restart_count,
                last.message.as_deref(),
            ));
        }
        return Some(match &waiting.message {
            Some(message) => format!("{reason}: {}", truncate(message)),
            None => reason.to_owned(),
        });
    }
    let terminated = state.terminated.as_ref()?;
    (terminated.exit_code != 0).then(|| {
        exited(
            terminated.exit_code,
            c.restart_count,
            terminated.message.as_deref(),
        )
    })
}

fn exited(code: i32, restarts: i32, message: Option<&str>) -> String {
    let mut out = format!("exited with code {code} (restarts: {restarts})");
    let detail = message.and_then(|m| {
        m.lines()
            .map(str::trim)
            .rfind(|l| l.starts_with("traceval:") || l.starts_with("ERROR:"))
    });
    if let Some(detail) = detail {
        out.push_str(": ");
        out.push_str(&truncate(detail));
    }
    out
}

fn truncate(text: &str) -> String {
    match text.char_indices().nth(MAX_DETAIL) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn pod(name: &str, status: serde_json::Value) -> Pod {
        serde_json::from_value(json!({"metadata": {"name": name}, "status": status})).unwrap()
    }

    #[test]
    fn a_crash_looping_app_reports_the_wrappers_message_only() {
        let message = "app said: token=sk-secret\ntraceval: aliyun-bootstrap -a install did not install the ARMS agent; not starting the app untraced\n";
        let p = pod(
            "app-1",
            json!({"containerStatuses": [{
                "name": "app", "image": "i", "imageID": "", "ready": false, "restartCount": 3,
                "state": {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 40s"}},
                "lastState": {"terminated": {"exitCode": 1, "message": message}}
            }]}),
        );
        let found = failure_of(&[p]).expect("a failure");
        assert_eq!(
            found,
            "pod app-1: container app: exited with code 1 (restarts: 3): traceval: aliyun-bootstrap -a install did not install the ARMS agent; not starting the app untraced"
        );
        assert!(!found.contains("sk-secret"));
    }

    #[test]
    fn init_containers_come_first_and_starting_pods_are_not_failures() {
        let starting = pod(
            "a",
            json!({"containerStatuses": [{
                "name": "app", "image": "i", "imageID": "", "ready": false, "restartCount": 0,
                "state": {"waiting": {"reason": "ContainerCreating"}}
            }]}),
        );
        assert_eq!(failure_of(std::slice::from_ref(&starting)), None);
        let pip = pod(
            "b",
            json!({"initContainerStatuses": [{
                "name": "pip-install", "image": "i", "imageID": "", "ready": false, "restartCount": 0,
                "state": {"terminated": {"exitCode": 1, "message": "ERROR: No matching distribution found for flsk\n"}}
            }], "containerStatuses": [{
                "name": "app", "image": "i", "imageID": "", "ready": false, "restartCount": 0,
                "state": {"waiting": {"reason": "PodInitializing"}}
            }]}),
        );
        assert_eq!(
            failure_of(&[starting, pip]).as_deref(),
            Some(
                "pod b: container pip-install: exited with code 1 (restarts: 0): ERROR: No matching distribution found for flsk"
            )
        );
        let image = pod(
            "c",
            json!({"containerStatuses": [{
                "name": "app", "image": "i", "imageID": "", "ready": false, "restartCount": 0,
                "state": {"waiting": {"reason": "ErrImageNeverPull", "message": "image \"x\" is not present"}}
            }]}),
        );
        assert_eq!(
            failure_of(&[image]).as_deref(),
            Some("pod c: container app: ErrImageNeverPull: image \"x\" is not present")
        );
    }
}
