//! Volumes, volume mounts and OSS sync init containers for `spec.mounts`.

use k8s_openapi::api::core::v1::{
    ConfigMapVolumeSource, Container, EmptyDirVolumeSource, PersistentVolumeClaimVolumeSource,
    SecretVolumeSource, Volume, VolumeMount,
};

use super::oss_csi::claim_name;
use super::validate::{MountSource, ValidMount, ValidatedTracedService};
use crate::api::tracedservice::OssSource;
use crate::resources::env_var::{secret_ref, value};

/// Where an OSS sync init container sees its emptyDir.
const SYNC_TARGET: &str = "/data";
/// Name of the rclone remote configured through env.
const SYNC_REMOTE: &str = "oss";
/// Key of the access key ID in an OSS credentials Secret.
pub const ACCESS_KEY_ID_KEY: &str = "akId";
/// Key of the access key secret in an OSS credentials Secret.
pub const ACCESS_KEY_SECRET_KEY: &str = "akSecret";

/// Name of the pod volume of a mount.
pub fn volume_name(mount: &ValidMount) -> String {
    format!("mount-{}", mount.index)
}

/// The pod volume of each mount.
pub fn volumes(svc: &ValidatedTracedService) -> Vec<Volume> {
    svc.mounts
        .iter()
        .map(|m| {
            let mut volume = Volume {
                name: volume_name(m),
                ..Volume::default()
            };
            match &m.source {
                MountSource::OssCsi(_) => {
                    volume.persistent_volume_claim = Some(PersistentVolumeClaimVolumeSource {
                        claim_name: claim_name(svc, m),
                        read_only: Some(m.read_only),
                    });
                }
                MountSource::OssSync(_) => volume.empty_dir = Some(EmptyDirVolumeSource::default()),
                MountSource::Pvc(claim) => {
                    volume.persistent_volume_claim = Some(PersistentVolumeClaimVolumeSource {
                        claim_name: claim.clone(),
                        read_only: Some(m.read_only),
                    });
                }
                MountSource::ConfigMap(cm) => {
                    volume.config_map = Some(ConfigMapVolumeSource {
                        name: cm.name.clone(),
                        ..ConfigMapVolumeSource::default()
                    });
                }
                MountSource::Secret(secret) => {
                    volume.secret = Some(SecretVolumeSource {
                        secret_name: Some(secret.secret_name.clone()),
                        ..SecretVolumeSource::default()
                    });
                }
                MountSource::EmptyDir(dir) => {
                    volume.empty_dir = Some(EmptyDirVolumeSource {
                        medium: dir.medium.clone(),
                        size_limit: dir.size_limit.clone(),
                    });
                }
            }
            volume
        })
        .collect()
}

/// The app container's mount of each volume.
pub fn volume_mounts(svc: &ValidatedTracedService) -> Vec<VolumeMount> {
    svc.mounts
        .iter()
        .map(|m| VolumeMount {
            name: volume_name(m),
            mount_path: m.mount_path.clone(),
            read_only: m.read_only.then_some(true),
            ..VolumeMount::default()
        })
        .collect()
}

/// An init container per `oss` mount in `sync` mode, copying the prefix into
/// the mount's emptyDir with rclone before the app starts. Everything is
/// passed as argv and env; credentials come from the Secret as env.
pub fn sync_containers(svc: &ValidatedTracedService, image: &str) -> Vec<Container> {
    svc.mounts
        .iter()
        .filter_map(|m| match &m.source {
            MountSource::OssSync(oss) => Some(sync_container(m, oss, image)),
            _ => None,
        })
        .collect()
}

fn sync_container(mount: &ValidMount, oss: &OssSource, image: &str) -> Container {
    let prefix = format!("RCLONE_CONFIG_{}", SYNC_REMOTE.to_uppercase());
    let provider = if oss.endpoint.contains("aliyuncs.com") {
        "Alibaba"
    } else {
        "Other"
    };
    let mut env = vec![
        value(&format!("{prefix}_TYPE"), "s3"),
        value(&format!("{prefix}_PROVIDER"), provider),
        value(&format!("{prefix}_ENDPOINT"), &oss.endpoint),
        value(&format!("{prefix}_ENV_AUTH"), "false"),
    ];
    if let Some(secret) = &oss.credentials_secret_ref {
        env.push(secret_ref(
            &format!("{prefix}_ACCESS_KEY_ID"),
            &secret.name,
            ACCESS_KEY_ID_KEY,
        ));
        env.push(secret_ref(
            &format!("{prefix}_SECRET_ACCESS_KEY"),
            &secret.name,
            ACCESS_KEY_SECRET_KEY,
        ));
    }
    let source = format!(
        "{SYNC_REMOTE}:{}/{}",
        oss.bucket,
        oss.path.trim_matches('/')
    );
    Container {
        name: format!("oss-sync-{}", mount.index),
        // Its last log lines become the termination message, which the
        // operator reads for the status (pod_failures).
        termination_message_policy: Some("FallbackToLogsOnError".to_owned()),
        image: Some(image.to_owned()),
        args: Some(vec![
            "copy".to_owned(),
            source.trim_end_matches('/').to_owned(),
            SYNC_TARGET.to_owned(),
        ]),
        env: Some(env),
        volume_mounts: Some(vec![VolumeMount {
            name: volume_name(mount),
            mount_path: SYNC_TARGET.to_owned(),
            ..VolumeMount::default()
        }]),
        ..Container::default()
    }
}
