use super::fixture;
use crate::api::tracedservice::{EmptyDirSource, Mount, Probe, PvcSource};
use crate::resources::tracedservice::{ValidationError, validate};

fn error(edit: impl FnOnce(&mut crate::api::TracedService)) -> ValidationError {
    let mut ts = fixture("opentelemetry");
    edit(&mut ts);
    validate(&ts).expect_err("invalid")
}

fn mount(path: &str) -> Mount {
    Mount {
        mount_path: path.into(),
        read_only: false,
        oss: None,
        pvc: None,
        config_map: None,
        secret: None,
        empty_dir: Some(EmptyDirSource::default()),
    }
}

#[test]
fn every_fixture_is_valid() {
    for name in [
        "seed-arms",
        "opentelemetry",
        "builtin",
        "mounts",
        "network",
        "minimal",
    ] {
        validate(&fixture(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
    }
}

#[test]
fn arms_without_license_is_rejected() {
    let err = error(|ts| {
        if let Some(t) = ts.spec.tracing.as_mut() {
            t.probe = Probe::Arms;
        }
    });
    assert_eq!(err, ValidationError::ArmsSettingsMissing);
    assert!(err.to_string().contains("licenseKeySecretRef"));
}

#[test]
fn opentelemetry_without_endpoint_is_rejected() {
    let err = error(|ts| {
        if let Some(t) = ts.spec.tracing.as_mut() {
            t.endpoint = None;
        }
    });
    assert_eq!(err, ValidationError::EndpointRequired);
}

#[test]
fn mount_needs_exactly_one_source() {
    let err = error(|ts| {
        let mut two = mount("/data");
        two.pvc = Some(PvcSource {
            claim_name: "x".into(),
        });
        ts.spec.mounts = vec![two];
    });
    assert_eq!(
        err,
        ValidationError::MountSources {
            path: "/data".into(),
            count: 2
        }
    );
    let err = error(|ts| {
        let mut none = mount("/data");
        none.empty_dir = None;
        ts.spec.mounts = vec![none];
    });
    assert_eq!(
        err,
        ValidationError::MountSources {
            path: "/data".into(),
            count: 0
        }
    );
    assert!(err.to_string().contains("exactly one source"));
}

#[test]
fn duplicate_and_reserved_mount_paths_are_rejected() {
    let err = error(|ts| ts.spec.mounts = vec![mount("/data"), mount("/data/")]);
    assert_eq!(err, ValidationError::DuplicateMountPath("/data/".into()));
    let err = error(|ts| ts.spec.mounts = vec![mount("/opt/traceval/python")]);
    assert_eq!(
        err,
        ValidationError::InvalidMountPath("/opt/traceval/python".into())
    );
    let err = error(|ts| ts.spec.mounts = vec![mount("relative")]);
    assert_eq!(err, ValidationError::InvalidMountPath("relative".into()));
}

#[test]
fn ports_outside_range_are_rejected() {
    let err = error(|ts| ts.spec.port = 70000);
    assert_eq!(
        err,
        ValidationError::PortOutOfRange {
            field: "port".into(),
            value: 70000
        }
    );
    assert_eq!(
        err.to_string(),
        "port must be between 1 and 65535, got 70000"
    );
    assert!(matches!(
        error(|ts| ts.spec.port = 0),
        ValidationError::PortOutOfRange { .. }
    ));
}

#[test]
fn pip_options_in_packages_are_rejected() {
    let err = error(|ts| ts.spec.python_packages = vec!["--index-url=http://evil".into()]);
    assert!(matches!(
        err,
        ValidationError::PipOption {
            field: "pythonPackages",
            ..
        }
    ));
}

#[test]
fn wrapping_needs_a_command() {
    assert_eq!(
        error(|ts| ts.spec.command = None),
        ValidationError::CommandRequired
    );
    let mut ts = fixture("builtin");
    ts.spec.command = None;
    assert!(
        validate(&ts).is_ok(),
        "builtin without packages runs the entrypoint"
    );
}

#[test]
fn names_and_metadata_are_checked() {
    assert!(matches!(
        error(|ts| ts.metadata.name = Some("9lives".into())),
        ValidationError::InvalidName(_)
    ));
    assert_eq!(
        error(|ts| ts.metadata.namespace = None),
        ValidationError::MissingNamespace
    );
    assert_eq!(
        error(|ts| ts.metadata.uid = None),
        ValidationError::MissingUid
    );
}

#[test]
fn network_inputs_are_checked() {
    let err = error(|ts| {
        ts.spec.network.egress = vec![crate::api::tracedservice::EgressRule {
            cidrs: vec!["10.0.0.0/33".into()],
            ports: vec![],
        }]
    });
    assert_eq!(err, ValidationError::InvalidCidr("10.0.0.0/33".into()));
    let err = error(|ts| {
        ts.spec
            .network
            .pod_labels
            .insert("traceval.dev/tracedservice".into(), "other".into());
    });
    assert!(matches!(
        err,
        ValidationError::ReservedKey {
            field: "network.podLabels",
            ..
        }
    ));
}

#[test]
fn bad_urls_are_rejected() {
    let err = error(|ts| ts.spec.pip_index_url = Some("ftp://mirror".into()));
    assert!(matches!(
        err,
        ValidationError::InvalidUrl {
            field: "pipIndexURL",
            ..
        }
    ));
    let err = error(|ts| {
        if let Some(t) = ts.spec.tracing.as_mut() {
            t.sampling_ratio = 1.5;
        }
    });
    assert_eq!(err, ValidationError::SamplingRatioOutOfRange("1.5".into()));
}
