use super::{app_env, fixture};
use crate::api::tracedservice::{EmptyDirSource, Mount, Probe, PvcSource};
use crate::resources::tracedservice::{
    BuildOptions, Endpoint, ValidationError, build, validate, validate_with,
};

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
fn opentelemetry_without_endpoint_takes_the_operators_default() {
    let default = Endpoint::parse("http://10.0.0.7:4318").expect("URL");
    let options = BuildOptions {
        default_trace_endpoint: Some(default.clone()),
        ..BuildOptions::default()
    };
    let endpoint = |probe: Probe, own: Option<&str>| {
        let mut ts = fixture(if probe == Probe::Arms {
            "seed-arms"
        } else {
            "opentelemetry"
        });
        let tracing = ts.spec.tracing.as_mut().expect("tracing");
        tracing.probe = probe;
        tracing.endpoint = own.map(str::to_owned);
        let svc = validate_with(&ts, &options).unwrap_or_else(|e| panic!("{probe:?}: {e}"));
        svc.tracing.expect("tracing").endpoint
    };
    assert_eq!(endpoint(Probe::OpenTelemetry, None), Some(default.clone()));
    // The spec's own endpoint wins.
    let own = "http://jaeger-collector.observability.svc:4318";
    assert_eq!(
        endpoint(Probe::OpenTelemetry, Some(own)).map(|e| e.url),
        Some(own.to_owned())
    );
    // ARMS reports to ARMS and builtin images choose their own exporter.
    assert_eq!(endpoint(Probe::Arms, None), None);
    assert_eq!(endpoint(Probe::Builtin, None), None);

    // The default reaches the pod's env and the NetworkPolicy's egress.
    let mut ts = fixture("opentelemetry");
    ts.spec.tracing.as_mut().expect("tracing").endpoint = None;
    let children = build(&validate_with(&ts, &options).expect("valid"), &options);
    let env = app_env(&children.deployment);
    let otlp = env
        .iter()
        .find(|e| e.name == "OTEL_EXPORTER_OTLP_ENDPOINT")
        .and_then(|e| e.value.as_deref());
    assert_eq!(otlp, Some("http://10.0.0.7:4318"));
    let egress = children
        .network_policy
        .and_then(|p| p.spec)
        .and_then(|s| s.egress)
        .expect("egress");
    let to_default = egress.iter().any(|rule| {
        rule.to.iter().flatten().any(|peer| {
            peer.ip_block
                .as_ref()
                .is_some_and(|b| b.cidr == "10.0.0.7/32")
        })
    });
    assert!(to_default, "egress to the default endpoint: {egress:#?}");

    // Without a default, the spec is invalid, and the message says how to fix it.
    let err = validate(&ts).expect_err("no endpoint, no default");
    assert_eq!(err, ValidationError::EndpointRequired);
    assert!(
        err.to_string().contains("--default-trace-endpoint"),
        "{err}"
    );
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
