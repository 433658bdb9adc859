//! `spec.mounts`: what is mounted into the app container, one source per mount.

use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use kube::KubeSchema;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// One mount: a path in the app container and exactly one source.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new(
    "(has(self.oss) ? 1 : 0) + (has(self.pvc) ? 1 : 0) + (has(self.configMap) ? 1 : 0) + (has(self.secret) ? 1 : 0) + (has(self.emptyDir) ? 1 : 0) == 1"
).message(
    "each mount needs exactly one source: set one of oss, pvc, configMap, secret or emptyDir"
))]
pub struct Mount {
    /// Absolute path in the app container, e.g. `/mnt/data`.
    #[schemars(length(min = 1, max = 512))]
    #[x_kube(validation = Rule::new("self.startsWith('/')").message("mountPath must be an absolute path such as /mnt/data"))]
    #[x_kube(validation = Rule::new("self != '/opt/traceval' && !self.startsWith('/opt/traceval/')").message(
        "mountPath must not be under /opt/traceval, which the operator uses for installed packages"
    ))]
    pub mount_path: String,

    /// Mount read-only.
    #[serde(default)]
    pub read_only: bool,

    /// An OSS (S3-compatible) bucket prefix.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oss: Option<OssSource>,

    /// An existing PersistentVolumeClaim.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pvc: Option<PvcSource>,

    /// A ConfigMap's keys as files.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_map: Option<ConfigMapSource>,

    /// A Secret's keys as files.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<SecretSource>,

    /// A scratch directory that lives as long as the pod.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub empty_dir: Option<EmptyDirSource>,
}

/// Object storage: a prefix of an OSS or other S3-compatible bucket.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct OssSource {
    /// Bucket name.
    #[schemars(length(min = 3, max = 63))]
    pub bucket: String,
    /// Prefix inside the bucket, e.g. `/apps/trace-demo/`; the whole bucket when unset.
    #[serde(default = "default_oss_path")]
    #[schemars(length(min = 1, max = 1024))]
    pub path: String,
    /// Endpoint, e.g. `oss-cn-hangzhou-internal.aliyuncs.com` or `https://s3.example.com`.
    #[schemars(length(min = 1, max = 2048))]
    pub endpoint: String,
    /// Secret with keys `akId` and `akSecret` (access key); anonymous access when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials_secret_ref: Option<SecretRef>,
    /// `csi` mounts through the OSS CSI driver (a PV and PVC are created);
    /// `sync` copies the prefix into an emptyDir with an init container (any cluster).
    #[serde(default)]
    pub mode: OssMode,
}

fn default_oss_path() -> String {
    "/".to_owned()
}

/// How an OSS prefix gets into the pod.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum OssMode {
    /// A static PersistentVolume for the `ossplugin.csi.alibabacloud.com` driver.
    #[default]
    Csi,
    /// An init container copies the prefix into an emptyDir before the app starts.
    Sync,
}

/// A Secret in the TracedService's namespace.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct SecretRef {
    /// Secret name.
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
}

/// An existing PersistentVolumeClaim.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct PvcSource {
    /// Claim name in the TracedService's namespace.
    #[schemars(length(min = 1, max = 253))]
    pub claim_name: String,
}

/// A ConfigMap in the TracedService's namespace.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ConfigMapSource {
    /// ConfigMap name.
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
}

/// A Secret in the TracedService's namespace, mounted as files.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct SecretSource {
    /// Secret name.
    #[schemars(length(min = 1, max = 253))]
    pub secret_name: String,
}

/// A scratch directory.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct EmptyDirSource {
    /// `Memory` for a tmpfs; node disk when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub medium: Option<String>,
    /// Upper bound of its size, e.g. `1Gi`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size_limit: Option<Quantity>,
}
