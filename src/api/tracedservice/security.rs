//! `spec.security`: the few knobs of the pods' hardened defaults.

use kube::KubeSchema;
use serde::{Deserialize, Serialize};

/// User the pods run as when `security.runAsUser` is not set.
pub const DEFAULT_RUN_AS_USER: i64 = 1000;

/// Security settings of the pods. Every pod runs as a non-root user with no
/// privilege escalation, all capabilities dropped, the runtime's default
/// seccomp profile and, unless `writableRootFilesystem`, a read-only root
/// filesystem (the app gets writable `/tmp` and package directories).
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct SecuritySpec {
    /// Numeric user (and group, and fsGroup) the containers run as; 1000 when
    /// unset. Must not be 0: the pods run as non-root.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub run_as_user: Option<i64>,

    /// Give the app container a writable root filesystem, for apps that write
    /// outside `/tmp` and their mounts. Off by default.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub writable_root_filesystem: bool,
}

impl SecuritySpec {
    /// Whether nothing is set (then the field is left out of the spec's JSON,
    /// so specs written before it existed keep their hash).
    pub fn is_default(&self) -> bool {
        self == &Self::default()
    }
}
