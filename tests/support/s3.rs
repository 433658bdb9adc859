//! The in-cluster S3 server of the real node (rclone's `serve s3` in
//! namespace `traceval-storage`, see tests/cluster/README.md): its access
//! keys copied into a test namespace, and uploads from the host with the
//! real rclone over the S3 protocol.

use k8s_openapi::api::core::v1::Secret;
use kube::Client;
use kube::api::{Api, PostParams};

use super::procs::required_env;

/// Name of the access key Secret, in `traceval-storage` and in the copies.
pub const CREDENTIALS: &str = "s3-credentials";

/// Copies the S3 server's access keys (keys `akId`, `akSecret`, what an
/// `oss` mount's `credentialsSecretRef` reads) into `namespace`.
pub async fn copy_credentials(client: &Client, namespace: &str) {
    let source: Api<Secret> = Api::namespaced(client.clone(), "traceval-storage");
    let secret = source
        .get(CREDENTIALS)
        .await
        .expect("the S3 server's Secret (tests/cluster/up creates it)");
    let mut copy = Secret {
        data: secret.data,
        ..Secret::default()
    };
    copy.metadata.name = Some(CREDENTIALS.to_owned());
    Api::<Secret>::namespaced(client.clone(), namespace)
        .create(&PostParams::default(), &copy)
        .await
        .expect("copy the S3 credentials");
}

/// Uploads the local directory `dir` to `bucket/prefix` (the bucket is
/// created when missing) through the S3 server's NodePort, with `rclone`
/// from PATH configured by environment only (no config file, keys not on
/// the command line).
pub async fn upload(client: &Client, dir: &std::path::Path, bucket: &str, prefix: &str) {
    let secret = Api::<Secret>::namespaced(client.clone(), "traceval-storage")
        .get(CREDENTIALS)
        .await
        .expect("the S3 server's Secret");
    let data = secret.data.expect("Secret data");
    let key = |k: &str| String::from_utf8(data[k].0.clone()).expect("utf-8 key");
    let out = std::process::Command::new("rclone")
        .args(["--config", "/dev/null", "copy"])
        .arg(dir)
        .arg(format!("s3:{bucket}/{prefix}"))
        .env("RCLONE_CONFIG_S3_TYPE", "s3")
        .env("RCLONE_CONFIG_S3_PROVIDER", "Other")
        .env(
            "RCLONE_CONFIG_S3_ENDPOINT",
            required_env("TRACEVAL_S3_HOST_ENDPOINT"),
        )
        .env("RCLONE_CONFIG_S3_ACCESS_KEY_ID", key("akId"))
        .env("RCLONE_CONFIG_S3_SECRET_ACCESS_KEY", key("akSecret"))
        .output()
        .expect("rclone (on PATH after tests/cluster/up)");
    assert!(
        out.status.success(),
        "rclone copy to the in-cluster S3 server failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
