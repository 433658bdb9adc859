use super::{children, fixture, pod_spec, validated};
use crate::resources::tracedservice::service::url;
use crate::resources::tracedservice::spec_hash::SPEC_HASH_ANNOTATION;
use crate::resources::tracedservice::{BuildOptions, Children, build, validate};

fn spec_hash(children: &Children) -> String {
    children
        .deployment
        .spec
        .as_ref()
        .and_then(|s| s.template.metadata.as_ref())
        .and_then(|m| m.annotations.as_ref())
        .and_then(|a| a.get(SPEC_HASH_ANNOTATION))
        .cloned()
        .expect("spec hash annotation")
}

fn build_from(ts: &crate::api::TracedService) -> Children {
    build(&validate(ts).expect("valid"), &BuildOptions::default())
}

#[test]
fn every_namespaced_child_has_labels_namespace_and_controller_owner() {
    let Children {
        deployment,
        service,
        network_policy,
        persistent_volume_claims,
        persistent_volumes: _,
    } = children("seed-arms");
    let network_policy = network_policy.expect("policy");
    let metas = [
        &deployment.metadata,
        &service.metadata,
        &network_policy.metadata,
        &persistent_volume_claims[0].metadata,
    ];
    for meta in metas {
        assert_eq!(meta.namespace.as_deref(), Some("llm"));
        let labels = meta.labels.clone().expect("labels");
        assert_eq!(labels["app.kubernetes.io/managed-by"], "traceval");
        assert_eq!(labels["app.kubernetes.io/name"], "trace-demo");
        assert_eq!(labels["traceval.dev/tracedservice"], "trace-demo");
        let owners = meta.owner_references.clone().expect("owner references");
        assert_eq!(owners.len(), 1);
        assert_eq!(owners[0].kind, "TracedService");
        assert_eq!(owners[0].api_version, "traceval.dev/v1alpha1");
        assert_eq!(owners[0].uid, "uid-seed-arms");
        assert_eq!(owners[0].controller, Some(true));
    }
}

#[test]
fn spec_hash_changes_with_probe_and_env_not_with_replicas() {
    let base = fixture("opentelemetry");
    let hash = spec_hash(&build_from(&base));

    let mut scaled = base.clone();
    scaled.spec.replicas = Some(5);
    assert_eq!(
        spec_hash(&build_from(&scaled)),
        hash,
        "scaling must not roll pods"
    );

    let mut probe = base.clone();
    if let Some(t) = probe.spec.tracing.as_mut() {
        t.probe = crate::api::tracedservice::Probe::Builtin;
    }
    assert_ne!(spec_hash(&build_from(&probe)), hash);

    let mut env = base.clone();
    env.spec
        .env
        .push(crate::resources::env_var::value("EXTRA", "1"));
    assert_ne!(spec_hash(&build_from(&env)), hash);

    let mut packages = base;
    packages.spec.python_packages.push("numpy".into());
    assert_ne!(spec_hash(&build_from(&packages)), hash);
}

#[test]
fn deployment_selects_its_pods_and_passes_pod_metadata_through() {
    let children = children("network");
    let spec = children.deployment.spec.clone().expect("spec");
    let selector = spec.selector.match_labels.clone().expect("selector");
    assert_eq!(selector.len(), 1);
    assert_eq!(selector["traceval.dev/tracedservice"], "net-demo");
    let template = spec.template.metadata.clone().expect("template metadata");
    let labels = template.labels.expect("labels");
    assert!(selector.iter().all(|(k, v)| labels.get(k) == Some(v)));
    assert_eq!(labels["team"], "llm");
    let annotations = template.annotations.expect("annotations");
    assert_eq!(
        annotations["k8s.aliyun.com/eni-config"],
        r#"{"securityGroupIDs":["sg-123"]}"#
    );
    assert_eq!(
        spec.replicas, None,
        "unset: the Deployment default or an autoscaler decides"
    );
}

#[test]
fn deployment_carries_pod_settings() {
    let children = children("builtin");
    let spec = children.deployment.spec.clone().expect("spec");
    assert_eq!(spec.replicas, Some(3));
    let pod = pod_spec(&children.deployment);
    let app = &pod.containers[0];
    assert_eq!(app.name, "app");
    assert_eq!(
        app.image.as_deref(),
        Some("registry.example.com/llm-app-with-tracing:1.0")
    );
    let port = &app.ports.clone().expect("ports")[0];
    assert_eq!(
        (port.container_port, port.name.as_deref()),
        (9000, Some("http"))
    );
    assert!(app.readiness_probe.is_some());
    assert_eq!(pod.init_containers, None);
    let volumes: Vec<&str> = pod
        .volumes
        .iter()
        .flatten()
        .map(|v| v.name.as_str())
        .collect();
    assert_eq!(volumes, ["traceval-tmp"], "only the writable /tmp");
}

#[test]
fn service_fronts_the_app_port() {
    let children = children("builtin");
    let spec = children.service.spec.clone().expect("spec");
    assert_eq!(
        children.service.metadata.name.as_deref(),
        Some("builtin-demo")
    );
    assert_eq!(spec.type_.as_deref(), Some("ClusterIP"));
    let port = &spec.ports.clone().expect("ports")[0];
    assert_eq!(port.port, 9000);
    assert_eq!(
        spec.selector.clone().expect("selector")["traceval.dev/tracedservice"],
        "builtin-demo"
    );
    assert_eq!(
        url(&validated("builtin")),
        "http://builtin-demo.llm.svc.cluster.local:9000"
    );
}
