//! Every pod the operator renders, from every fixture and example, runs
//! non-root with no privilege escalation, all capabilities dropped, the
//! RuntimeDefault seccomp profile and a read-only root filesystem (unless the
//! spec opts out), TracedService pods without an API token; and every
//! NetworkPolicy denies all egress the spec does not allow.

use std::collections::BTreeSet;
use std::path::PathBuf;

use k8s_openapi::api::core::v1::{Container, PodSpec};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::{children, fixture, pod_spec, validated};
use crate::api::EvaluationTask;
use crate::resources::evaluationtask::{self, EvaluationOptions, Workload};

/// The valid TracedService fixtures, by name.
fn fixture_names() -> Vec<String> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tracedservice");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .expect("fixture dir")
        .filter_map(|e| {
            let path = e.expect("dir entry").path();
            (path.extension()? == "yaml").then(|| path.file_stem()?.to_str().map(str::to_owned))?
        })
        .collect();
    names.sort();
    assert!(names.len() >= 6, "fixtures found: {names:?}");
    names
}

/// The pod spec of every EvaluationTask example, as the CronJob or Job renders it.
fn evaluation_pods() -> Vec<(String, PodSpec)> {
    let options = EvaluationOptions {
        image: "registry.example/traceval:1".into(),
        trace_query_url: Some("http://jaeger:16686".into()),
        otlp_endpoint: None,
        ..EvaluationOptions::default()
    };
    ["evaluationtask-online.yaml", "evaluationtask-single.yaml"]
        .iter()
        .map(|file| {
            let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("examples")
                .join(file);
            let text = std::fs::read_to_string(&path).expect("example");
            let mut task: EvaluationTask = serde_yaml::from_str(&text).expect("example YAML");
            task.metadata.namespace = Some("team-a".into());
            task.metadata.uid = Some("uid-1".into());
            let task = evaluationtask::validate(&task).expect("valid example");
            let pod = match evaluationtask::build(&task, false, &options).workload {
                Workload::CronJob(c) => c.spec.and_then(|s| s.job_template.spec),
                Workload::Job(j) => j.spec,
            }
            .and_then(|s| s.template.spec)
            .expect("pod spec");
            ((*file).to_owned(), pod)
        })
        .collect()
}

/// Fails unless the pod and each of its containers carry the hardened settings.
fn assert_hardened(what: &str, pod: &PodSpec, writable_app: bool) -> usize {
    let ctx = pod.security_context.as_ref().expect("pod securityContext");
    assert_eq!(ctx.run_as_non_root, Some(true), "{what}: runAsNonRoot");
    let user = ctx.run_as_user.expect("numeric runAsUser");
    assert!(user > 0, "{what}: runAsUser {user}");
    assert!(ctx.fs_group.is_some_and(|g| g > 0), "{what}: fsGroup");
    assert_eq!(
        ctx.seccomp_profile.as_ref().map(|s| s.type_.as_str()),
        Some("RuntimeDefault"),
        "{what}: seccomp"
    );
    let containers: Vec<&Container> = pod
        .init_containers
        .iter()
        .flatten()
        .chain(&pod.containers)
        .collect();
    for c in &containers {
        let what = format!("{what}: container {}", c.name);
        let sc = c
            .security_context
            .as_ref()
            .expect("container securityContext");
        assert_eq!(sc.allow_privilege_escalation, Some(false), "{what}");
        assert_ne!(sc.privileged, Some(true), "{what}");
        assert_ne!(sc.run_as_user, Some(0), "{what}");
        assert_ne!(sc.run_as_non_root, Some(false), "{what}");
        let drop = sc.capabilities.as_ref().and_then(|c| c.drop.clone());
        assert_eq!(drop, Some(vec!["ALL".to_owned()]), "{what}: drop ALL");
        let added = sc.capabilities.as_ref().and_then(|c| c.add.clone());
        assert!(
            added.unwrap_or_default().is_empty(),
            "{what}: no added caps"
        );
        let read_only = !(writable_app && c.name == "app");
        assert_eq!(
            sc.read_only_root_filesystem,
            Some(read_only),
            "{what}: readOnlyRootFilesystem"
        );
        if read_only {
            let tmp = c
                .volume_mounts
                .iter()
                .flatten()
                .any(|m| m.mount_path == "/tmp");
            assert!(tmp, "{what}: a writable /tmp");
        }
    }
    containers.len()
}

#[test]
fn every_rendered_pod_is_hardened() {
    let mut pods = 0;
    let mut containers = 0;
    for name in fixture_names() {
        let svc = validated(&name);
        let deployment = children(&name).deployment;
        let pod = pod_spec(&deployment);
        containers += assert_hardened(&name, pod, svc.writable_root);
        assert_eq!(
            pod.automount_service_account_token,
            Some(svc.service_account_name.is_some()),
            "{name}: an API token only with an account of its own"
        );
        pods += 1;
    }
    for file in ["tracedservice.yaml", "tracedservice-arms.yaml"] {
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("examples")
            .join(file);
        let text = std::fs::read_to_string(&path).expect("example");
        let mut ts: crate::api::TracedService = serde_yaml::from_str(&text).expect("example YAML");
        ts.metadata.namespace = Some("team-a".into());
        ts.metadata.uid = Some("uid-1".into());
        let svc = crate::resources::tracedservice::validate(&ts).expect("valid example");
        let built = crate::resources::tracedservice::build(
            &svc,
            &crate::resources::tracedservice::BuildOptions::default(),
        );
        let pod = pod_spec(&built.deployment);
        containers += assert_hardened(file, pod, false);
        assert_eq!(pod.automount_service_account_token, Some(false), "{file}");
        pods += 1;
    }
    for (file, pod) in evaluation_pods() {
        containers += assert_hardened(&file, &pod, false);
        assert_eq!(
            pod.automount_service_account_token,
            Some(true),
            "{file}: the evaluator writes its status with its token"
        );
        pods += 1;
    }
    eprintln!("{pods} pod specs, {containers} containers checked");
    assert!(pods >= 10);
}

#[test]
fn a_writable_root_is_an_opt_in_of_the_app_container_only() {
    let mut ts = fixture("seed-arms");
    ts.spec.security.writable_root_filesystem = true;
    ts.spec.security.run_as_user = Some(4242);
    let svc = crate::resources::tracedservice::validate(&ts).expect("valid");
    let built = crate::resources::tracedservice::build(
        &svc,
        &crate::resources::tracedservice::BuildOptions::default(),
    );
    let pod = pod_spec(&built.deployment);
    assert_hardened("seed-arms, writable", pod, true);
    let ctx = pod.security_context.as_ref().expect("pod securityContext");
    assert_eq!((ctx.run_as_user, ctx.fs_group), (Some(4242), Some(4242)));
    assert!(pod.init_containers.iter().flatten().all(|c| {
        c.security_context
            .as_ref()
            .and_then(|s| s.read_only_root_filesystem)
            == Some(true)
    }));
}

/// (port, protocol) pairs a policy's egress allows, and whether any rule
/// allows every port or every address on a port.
fn egress_ports(policy: &NetworkPolicy) -> BTreeSet<(i32, String)> {
    let spec = policy.spec.as_ref().expect("policy spec");
    let mut ports = BTreeSet::new();
    for rule in spec.egress.iter().flatten() {
        let open_to_all = rule.to.as_ref().is_none_or(Vec::is_empty);
        let rule_ports = rule.ports.clone().unwrap_or_default();
        assert!(
            !(open_to_all && rule_ports.is_empty()),
            "an allow-all egress rule: {rule:?}"
        );
        for p in rule_ports {
            let Some(IntOrString::Int(n)) = p.port else {
                panic!("a named or missing port: {p:?}")
            };
            ports.insert((n, p.protocol.unwrap_or_else(|| "TCP".into())));
        }
    }
    ports
}

#[test]
fn every_network_policy_denies_egress_the_spec_does_not_allow() {
    for name in fixture_names() {
        let ts = fixture(&name);
        let svc = validated(&name);
        let built = children(&name);
        let Some(policy) = built.network_policy else {
            assert!(!svc.network.enforce, "{name}: a policy unless disabled");
            continue;
        };
        let spec = policy.spec.as_ref().expect("spec");
        assert_eq!(
            spec.policy_types,
            Some(vec!["Ingress".to_owned(), "Egress".to_owned()]),
            "{name}: both directions are deny-by-default"
        );
        // The ports the spec allows: DNS, the trace endpoint, the package
        // index, the object storage of `sync` mounts, the ARMS agent's, and
        // the user's rules.
        let mut allowed: BTreeSet<(i32, String)> = [(53, "UDP".into()), (53, "TCP".into())].into();
        if let Some(endpoint) = svc.tracing.as_ref().and_then(|t| t.endpoint.as_ref()) {
            allowed.insert((i32::from(endpoint.port), "TCP".into()));
        }
        if !svc.packages.is_empty() {
            let port = svc.pip_index.as_ref().map_or(443, |i| i.port);
            allowed.insert((i32::from(port), "TCP".into()));
        }
        for mount in &svc.mounts {
            if let crate::resources::tracedservice::validate::MountSource::OssSync(oss) =
                &mount.source
            {
                let storage = crate::resources::tracedservice::endpoint::Endpoint::parse_storage(
                    &oss.endpoint,
                );
                allowed.insert((i32::from(storage.map_or(443, |e| e.port)), "TCP".into()));
            }
        }
        if matches!(
            ts.spec.tracing.as_ref().map(|t| t.probe),
            Some(crate::api::tracedservice::Probe::Arms)
        ) {
            allowed.extend([(443, "TCP".into()), (80, "TCP".into())]);
        }
        for rule in &svc.network.egress {
            for p in &rule.ports {
                allowed.insert((p.port, p.protocol.as_str().to_owned()));
            }
        }
        let ports = egress_ports(&policy);
        assert!(
            ports.is_subset(&allowed),
            "{name}: egress to {:?} not allowed by the spec",
            ports.difference(&allowed).collect::<Vec<_>>()
        );
        let anywhere = spec.egress.iter().flatten().any(|r| {
            r.to.iter()
                .flatten()
                .any(|p| p.ip_block.as_ref().is_some_and(|b| b.cidr == "0.0.0.0/0"))
        });
        assert_eq!(anywhere, svc.network.internet_access, "{name}: internet");
        let ingress = spec.ingress.clone().unwrap_or_default();
        assert!(
            ingress
                .iter()
                .all(|r| r.ports.as_ref().is_some_and(|p| p.len() == 1)),
            "{name}: ingress on the app port only"
        );
    }
}
