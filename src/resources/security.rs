//! The hardened security settings of every pod the operator creates: a
//! non-root numeric user, no privilege escalation, every capability dropped,
//! the runtime's default seccomp profile and a read-only root filesystem,
//! with an emptyDir on `/tmp` for what the containers must write.

use k8s_openapi::api::core::v1::{
    Capabilities, EmptyDirVolumeSource, PodSecurityContext, SeccompProfile, SecurityContext,
    Volume, VolumeMount,
};

/// The emptyDir giving every container a writable `/tmp`.
pub const TMP_VOLUME: &str = "traceval-tmp";
/// Where it is mounted.
pub const TMP_MOUNT: &str = "/tmp";

/// The pod-level settings: non-root `user` (also its group and fsGroup, so
/// emptyDirs and volumes are writable by it) and the RuntimeDefault profile.
pub fn pod_security_context(user: i64) -> PodSecurityContext {
    PodSecurityContext {
        run_as_non_root: Some(true),
        run_as_user: Some(user),
        run_as_group: Some(user),
        fs_group: Some(user),
        seccomp_profile: Some(runtime_default()),
        ..PodSecurityContext::default()
    }
}

/// The container-level settings; `read_only_root` unless the app opts out.
pub fn container_security_context(read_only_root: bool) -> SecurityContext {
    SecurityContext {
        run_as_non_root: Some(true),
        allow_privilege_escalation: Some(false),
        privileged: Some(false),
        read_only_root_filesystem: Some(read_only_root),
        capabilities: Some(Capabilities {
            drop: Some(vec!["ALL".to_owned()]),
            ..Capabilities::default()
        }),
        seccomp_profile: Some(runtime_default()),
        ..SecurityContext::default()
    }
}

fn runtime_default() -> SeccompProfile {
    SeccompProfile {
        type_: "RuntimeDefault".to_owned(),
        ..SeccompProfile::default()
    }
}

/// The `/tmp` emptyDir volume.
pub fn tmp_volume() -> Volume {
    Volume {
        name: TMP_VOLUME.to_owned(),
        empty_dir: Some(EmptyDirVolumeSource::default()),
        ..Volume::default()
    }
}

/// Its mount.
pub fn tmp_volume_mount() -> VolumeMount {
    VolumeMount {
        name: TMP_VOLUME.to_owned(),
        mount_path: TMP_MOUNT.to_owned(),
        ..VolumeMount::default()
    }
}
