//! The Deployment running the app with its probe.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{Deployment, DeploymentSpec};
use k8s_openapi::api::core::v1::{
    Container, ContainerPort, EmptyDirVolumeSource, PodSpec, PodTemplateSpec, Probe,
    TCPSocketAction, Volume,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::BuildOptions;
use super::command::{
    PACKAGES_VOLUME, packages_volume_mount, pip_install_container, start_command,
};
use super::env::app_env;
use super::meta::{labels, object_meta, selector_labels};
use super::spec_hash::SPEC_HASH_ANNOTATION;
use super::validate::ValidatedTracedService;
use super::volumes::{sync_containers, volume_mounts, volumes};
use crate::resources::security::{
    TMP_MOUNT, container_security_context, pod_security_context, tmp_volume, tmp_volume_mount,
};

/// Name of the app container.
pub const APP_CONTAINER: &str = "app";
/// Name of the app port.
pub const PORT_NAME: &str = "http";

/// The Deployment of a TracedService.
pub fn deployment(svc: &ValidatedTracedService, options: &BuildOptions) -> Deployment {
    let start = start_command(svc);
    let mut volumes = volumes(svc);
    let mut mounts = volume_mounts(svc);
    let pip = pip_install_container(svc);
    if pip.is_some() {
        volumes.push(Volume {
            name: PACKAGES_VOLUME.to_owned(),
            empty_dir: Some(EmptyDirVolumeSource::default()),
            ..Volume::default()
        });
        mounts.push(packages_volume_mount());
    }
    // Every container gets a writable /tmp (unless the user mounts one there).
    let tmp = !mounts.iter().any(|m| m.mount_path == TMP_MOUNT);
    if tmp {
        volumes.push(tmp_volume());
        mounts.push(tmp_volume_mount());
    }
    let init_containers: Vec<Container> = sync_containers(svc, &options.oss_sync_image)
        .into_iter()
        .chain(pip)
        .map(|mut c| {
            if tmp {
                c.volume_mounts
                    .get_or_insert_default()
                    .push(tmp_volume_mount());
            }
            c.security_context = Some(container_security_context(true));
            c
        })
        .collect();
    let app = Container {
        // Its last log lines become the termination message, which the
        // operator reads for the status (pod_failures).
        termination_message_policy: Some("FallbackToLogsOnError".to_owned()),
        name: APP_CONTAINER.to_owned(),
        image: Some(svc.image.clone()),
        command: start.command,
        args: (!start.args.is_empty()).then_some(start.args),
        env: Some(app_env(svc)),
        ports: Some(vec![ContainerPort {
            name: Some(PORT_NAME.to_owned()),
            container_port: svc.port,
            protocol: Some("TCP".to_owned()),
            ..ContainerPort::default()
        }]),
        readiness_probe: Some(Probe {
            tcp_socket: Some(TCPSocketAction {
                port: IntOrString::Int(svc.port),
                ..TCPSocketAction::default()
            }),
            period_seconds: Some(5),
            ..Probe::default()
        }),
        resources: svc.resources.clone(),
        volume_mounts: (!mounts.is_empty()).then_some(mounts),
        security_context: Some(container_security_context(!svc.writable_root)),
        ..Container::default()
    };
    let mut pod_labels = svc.network.pod_labels.clone();
    pod_labels.extend(labels(svc));
    let mut pod_annotations: BTreeMap<String, String> = svc.network.pod_annotations.clone();
    pod_annotations.insert(SPEC_HASH_ANNOTATION.to_owned(), svc.spec_hash.clone());
    Deployment {
        metadata: object_meta(svc, svc.name.clone()),
        spec: Some(DeploymentSpec {
            replicas: svc.replicas,
            selector: LabelSelector {
                match_labels: Some(selector_labels(svc)),
                ..LabelSelector::default()
            },
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(pod_labels),
                    annotations: Some(pod_annotations),
                    ..ObjectMeta::default()
                }),
                spec: Some(PodSpec {
                    containers: vec![app],
                    init_containers: (!init_containers.is_empty()).then_some(init_containers),
                    volumes: (!volumes.is_empty()).then_some(volumes),
                    service_account_name: svc.service_account_name.clone(),
                    // The app gets an API token only with an account of its own.
                    automount_service_account_token: Some(svc.service_account_name.is_some()),
                    security_context: Some(pod_security_context(svc.run_as_user)),
                    node_selector: (!svc.node_selector.is_empty())
                        .then(|| svc.node_selector.clone()),
                    tolerations: (!svc.tolerations.is_empty()).then(|| svc.tolerations.clone()),
                    ..PodSpec::default()
                }),
            },
            ..DeploymentSpec::default()
        }),
        status: None,
    }
}
