use super::{app_container, children, init_container, pod_spec};
use crate::resources::tracedservice::oss_csi::OSS_CSI_DRIVER;

#[test]
fn oss_csi_mount_gets_a_bound_pv_and_pvc() {
    let children = children("seed-arms");
    assert_eq!(children.persistent_volume_claims.len(), 1);
    assert_eq!(children.persistent_volumes.len(), 1);
    let pvc = &children.persistent_volume_claims[0];
    let pv = &children.persistent_volumes[0];
    assert_eq!(pvc.metadata.name.as_deref(), Some("trace-demo-oss-0"));
    assert_eq!(pvc.metadata.namespace.as_deref(), Some("llm"));
    assert!(pvc.metadata.owner_references.is_some());
    let pv_name = pv.metadata.name.clone().expect("pv name");
    assert_eq!(pv_name, "traceval-llm-trace-demo-oss-0");
    assert_eq!(
        pv.metadata.owner_references, None,
        "cluster-scoped: found by label"
    );
    let pv_labels = pv.metadata.labels.clone().unwrap_or_default();
    assert_eq!(
        pv_labels.get("traceval.dev/namespace").map(String::as_str),
        Some("llm")
    );
    let pvc_spec = pvc.spec.as_ref().expect("pvc spec");
    assert_eq!(pvc_spec.volume_name.as_deref(), Some(pv_name.as_str()));
    assert_eq!(pvc_spec.storage_class_name.as_deref(), Some(""));
    assert_eq!(
        pvc_spec.access_modes.as_deref(),
        Some(&["ReadOnlyMany".to_owned()][..])
    );
    let pv_spec = pv.spec.as_ref().expect("pv spec");
    let claim = pv_spec.claim_ref.as_ref().expect("claimRef");
    assert_eq!(claim.name.as_deref(), Some("trace-demo-oss-0"));
    assert_eq!(claim.namespace.as_deref(), Some("llm"));
    let csi = pv_spec.csi.as_ref().expect("csi");
    assert_eq!(csi.driver, OSS_CSI_DRIVER);
    let attributes = csi.volume_attributes.clone().unwrap_or_default();
    assert_eq!(attributes["bucket"], "examplebucket");
    assert_eq!(attributes["path"], "/apps/trace-demo/");
    assert_eq!(attributes["url"], "oss-cn-hangzhou-internal.aliyuncs.com");
    assert!(attributes["otherOpts"].contains("-o ro"));
    let secret = csi.node_publish_secret_ref.as_ref().expect("secret ref");
    assert_eq!(secret.name.as_deref(), Some("oss-credentials"));

    let pod = pod_spec(&children.deployment);
    let volume = &pod.volumes.as_ref().expect("volumes")[0];
    assert_eq!(
        volume
            .persistent_volume_claim
            .as_ref()
            .map(|c| c.claim_name.as_str()),
        Some("trace-demo-oss-0")
    );
    let mount = &app_container(&children.deployment)
        .volume_mounts
        .as_ref()
        .expect("mounts")[0];
    assert_eq!(mount.mount_path, "/mnt/data/");
    assert_eq!(mount.read_only, Some(true));
}

#[test]
fn every_mount_source_becomes_its_volume() {
    let children = children("mounts");
    assert!(
        children.persistent_volumes.is_empty(),
        "sync mode needs no PV"
    );
    let pod = pod_spec(&children.deployment);
    let volumes = pod.volumes.clone().expect("volumes");
    let by_name = |n: &str| volumes.iter().find(|v| v.name == n).expect(n);
    assert!(
        by_name("mount-0").empty_dir.is_some(),
        "oss sync lands in an emptyDir"
    );
    assert_eq!(
        by_name("mount-1")
            .persistent_volume_claim
            .as_ref()
            .map(|c| (c.claim_name.as_str(), c.read_only)),
        Some(("models", Some(true)))
    );
    assert_eq!(
        by_name("mount-2")
            .config_map
            .as_ref()
            .map(|c| c.name.as_str()),
        Some("app-config")
    );
    assert_eq!(
        by_name("mount-3")
            .secret
            .as_ref()
            .and_then(|s| s.secret_name.as_deref()),
        Some("app-secrets")
    );
    let scratch = by_name("mount-4").empty_dir.clone().expect("emptyDir");
    assert_eq!(scratch.medium.as_deref(), Some("Memory"));
    assert_eq!(scratch.size_limit.map(|q| q.0), Some("1Gi".to_owned()));

    let mounts = app_container(&children.deployment)
        .volume_mounts
        .clone()
        .expect("mounts");
    let paths: Vec<(&str, &str)> = mounts
        .iter()
        .map(|m| (m.name.as_str(), m.mount_path.as_str()))
        .collect();
    assert_eq!(
        paths,
        [
            ("mount-0", "/mnt/code"),
            ("mount-1", "/mnt/models"),
            ("mount-2", "/etc/app"),
            ("mount-3", "/etc/secrets"),
            ("mount-4", "/scratch"),
            ("traceval-tmp", "/tmp"),
        ]
    );
}

#[test]
fn oss_sync_init_container_copies_prefix_with_credentials_from_secret() {
    let children = children("mounts");
    let sync = init_container(&children.deployment, "oss-sync-0").expect("sync init container");
    assert_eq!(
        sync.image.as_deref(),
        Some(crate::resources::tracedservice::DEFAULT_OSS_SYNC_IMAGE)
    );
    assert_eq!(
        sync.args.clone().unwrap_or_default(),
        ["copy", "oss:code-bucket/apps/demo", "/data"].map(String::from)
    );
    let env = sync.env.clone().unwrap_or_default();
    let get = |n: &str| {
        env.iter()
            .find(|e| e.name == n)
            .unwrap_or_else(|| panic!("{n}"))
    };
    assert_eq!(
        get("RCLONE_CONFIG_OSS_ENDPOINT").value.as_deref(),
        Some("https://s3.example.com")
    );
    assert_eq!(
        get("RCLONE_CONFIG_OSS_PROVIDER").value.as_deref(),
        Some("Other")
    );
    let key = get("RCLONE_CONFIG_OSS_ACCESS_KEY_ID")
        .value_from
        .as_ref()
        .and_then(|v| v.secret_key_ref.as_ref())
        .expect("from secret");
    assert_eq!(
        (key.name.as_str(), key.key.as_str()),
        ("s3-credentials", "akId")
    );
    let mounts = sync.volume_mounts.clone().unwrap_or_default();
    assert_eq!(mounts[0].name, "mount-0");
    // The sync runs before the app (and before pip, which does not exist here).
    assert_eq!(
        pod_spec(&children.deployment)
            .init_containers
            .as_ref()
            .map(Vec::len),
        Some(1)
    );
}
