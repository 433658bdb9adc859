//! Turns a raw `TracedService` into a [`ValidatedTracedService`] once; the
//! builders take only the validated type and never re-check.
//!
//! Most rules are also CEL rules in the CRD, so the API server rejects them at
//! `kubectl apply`; they are checked again here because objects may predate
//! the CRD in force, and because the validated type encodes them (one mount
//! source per mount, ARMS settings present for the ARMS probe, parsed URLs).

use std::collections::BTreeSet;

use kube::{Resource, ResourceExt};

use super::BuildOptions;
use super::endpoint::Endpoint;
use super::spec_hash::spec_hash;
use super::syntax::{check_env_names, check_requirements, check_resources};
pub use super::validated::*;
pub use super::validation_error::ValidationError;
use crate::api::tracedservice::{DEFAULT_RUN_AS_USER, Mount, OssMode, Probe, TracedService};

/// pip requirements installed for `probe: opentelemetry` unless `tracing.probePackages` is set:
/// a pinned, coherent set (distro 0.66b1 with SDK 1.45.1; 0.66b2's bootstrap is broken).
/// The DashScope instrumentation registers an `opentelemetry_instrumentor`
/// entry point, so `opentelemetry-instrument` loads it; with it pip resolves
/// `wrapt` 1.17 for all three instrumentations.
pub const OPENTELEMETRY_PROBE_PACKAGES: &[&str] = &[
    "opentelemetry-distro==0.66b1",
    "opentelemetry-exporter-otlp==1.45.1",
    "loongsuite-instrumentation-dashscope==0.9.0",
    "openinference-instrumentation-langchain==0.1.80",
    "openinference-instrumentation-llama-index==4.6.1",
];

/// pip requirements installed for `probe: arms` unless `tracing.probePackages` is set.
pub const ARMS_PROBE_PACKAGES: &[&str] = &["aliyun-bootstrap==1.0.8"];

/// The longest TracedService name: it names the Service, a DNS label.
const MAX_NAME_LEN: usize = 63;

/// Validates a TracedService into the builders' input, with no operator
/// defaults (what [`validate_with`] does with `BuildOptions::default()`).
pub fn validate(ts: &TracedService) -> Result<ValidatedTracedService, ValidationError> {
    validate_with(ts, &BuildOptions::default())
}

/// Validates a TracedService into the builders' input, resolving what the
/// spec leaves to the operator: `options.default_trace_endpoint` for a
/// `tracing` block (probe `opentelemetry`) that names no endpoint.
pub fn validate_with(
    ts: &TracedService,
    options: &BuildOptions,
) -> Result<ValidatedTracedService, ValidationError> {
    let name = ts.name_any();
    let namespace = ts.namespace().ok_or(ValidationError::MissingNamespace)?;
    let owner = ts
        .controller_owner_ref(&())
        .filter(|o| !o.uid.is_empty())
        .ok_or(ValidationError::MissingUid)?;
    if !is_dns_label(&name) {
        return Err(ValidationError::InvalidName(name));
    }
    let spec = &ts.spec;
    check_port("port", spec.port)?;
    if let Some(replicas) = spec.replicas.filter(|r| *r < 0) {
        return Err(ValidationError::NegativeReplicas(replicas));
    }
    let tracing = spec
        .tracing
        .as_ref()
        .filter(|t| t.enabled)
        .map(|t| validate_tracing(t, &name, options.default_trace_endpoint.as_ref()))
        .transpose()?;
    let packages = packages(spec, tracing.as_ref())?;
    let wraps = !packages.is_empty()
        || matches!(
            tracing.as_ref().map(|t| &t.probe),
            Some(ProbeSettings::Arms(_) | ProbeSettings::OpenTelemetry)
        );
    if wraps && spec.command.is_none() {
        return Err(ValidationError::CommandRequired);
    }
    check_env_names(&spec.env)?;
    check_resources(spec.resources.as_ref())?;
    let pip_index = spec
        .pip_index_url
        .as_deref()
        .map(|u| Endpoint::parse(u).ok_or_else(|| invalid_url("pipIndexURL", u)))
        .transpose()?;
    Ok(ValidatedTracedService {
        owner,
        image: spec.image.clone(),
        command: spec.command.clone(),
        args: spec.args.clone(),
        port: spec.port,
        replicas: spec.replicas,
        resources: spec.resources.clone(),
        service_account_name: spec.service_account_name.clone(),
        node_selector: spec.node_selector.clone(),
        tolerations: spec.tolerations.clone(),
        packages,
        pip_index,
        env: spec.env.clone(),
        mounts: validate_mounts(&spec.mounts)?,
        tracing,
        network: validate_network(&spec.network)?,
        run_as_user: spec.security.run_as_user.unwrap_or(DEFAULT_RUN_AS_USER),
        writable_root: spec.security.writable_root_filesystem,
        spec_hash: spec_hash(spec),
        name,
        namespace,
    })
}

fn validate_tracing(
    t: &crate::api::tracedservice::TracingSpec,
    name: &str,
    default_endpoint: Option<&Endpoint>,
) -> Result<Tracing, ValidationError> {
    let service_name = t.service_name.clone().unwrap_or_else(|| name.to_owned());
    let probe = match t.probe {
        Probe::Arms => {
            let arms = t
                .arms
                .as_ref()
                .ok_or(ValidationError::ArmsSettingsMissing)?;
            ProbeSettings::Arms(Arms {
                app_name: arms
                    .app_name
                    .clone()
                    .unwrap_or_else(|| service_name.clone()),
                region_id: arms.region_id.clone(),
                license_key: arms.license_key_secret_ref.clone(),
            })
        }
        Probe::OpenTelemetry => ProbeSettings::OpenTelemetry,
        Probe::Builtin => ProbeSettings::Builtin,
    };
    let endpoint = match &t.endpoint {
        Some(url) => {
            Some(Endpoint::parse(url).ok_or_else(|| invalid_url("tracing.endpoint", url))?)
        }
        // The operator's default, parsed when it started.
        None if t.takes_default_endpoint() => default_endpoint.cloned(),
        None => None,
    };
    if probe == ProbeSettings::OpenTelemetry && endpoint.is_none() {
        return Err(ValidationError::EndpointRequired);
    }
    if !(0.0..=1.0).contains(&t.sampling_ratio) {
        return Err(ValidationError::SamplingRatioOutOfRange(
            t.sampling_ratio.to_string(),
        ));
    }
    Ok(Tracing {
        probe,
        endpoint,
        protocol: t.protocol,
        service_name,
        sampling_ratio: t.sampling_ratio,
    })
}

/// The probe's packages (defaults or `probePackages`) followed by the user's, without repeats.
fn packages(
    spec: &crate::api::tracedservice::TracedServiceSpec,
    tracing: Option<&Tracing>,
) -> Result<Vec<String>, ValidationError> {
    let probe_packages: Vec<String> = match (tracing, spec.tracing.as_ref()) {
        (Some(t), Some(raw)) => match (&raw.probe_packages, &t.probe) {
            (Some(own), _) => own.clone(),
            (None, ProbeSettings::Arms(_)) => to_owned(ARMS_PROBE_PACKAGES),
            (None, ProbeSettings::OpenTelemetry) => to_owned(OPENTELEMETRY_PROBE_PACKAGES),
            (None, ProbeSettings::Builtin) => Vec::new(),
        },
        _ => Vec::new(),
    };
    check_requirements("tracing.probePackages", &probe_packages)?;
    check_requirements("pythonPackages", &spec.python_packages)?;
    let mut seen = BTreeSet::new();
    Ok(probe_packages
        .into_iter()
        .chain(spec.python_packages.iter().cloned())
        .filter(|p| seen.insert(p.clone()))
        .collect())
}

fn to_owned(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| (*s).to_owned()).collect()
}

fn validate_mounts(mounts: &[Mount]) -> Result<Vec<ValidMount>, ValidationError> {
    let mut paths = BTreeSet::new();
    mounts
        .iter()
        .enumerate()
        .map(|(index, m)| {
            let path = &m.mount_path;
            if !path.starts_with('/')
                || path == "/opt/traceval"
                || path.starts_with("/opt/traceval/")
            {
                return Err(ValidationError::InvalidMountPath(path.clone()));
            }
            if !paths.insert(path.trim_end_matches('/').to_owned()) {
                return Err(ValidationError::DuplicateMountPath(path.clone()));
            }
            let mut sources: Vec<MountSource> = [
                m.oss.clone().map(|o| match o.mode {
                    OssMode::Csi => MountSource::OssCsi(o),
                    OssMode::Sync => MountSource::OssSync(o),
                }),
                m.pvc.clone().map(|p| MountSource::Pvc(p.claim_name)),
                m.config_map.clone().map(MountSource::ConfigMap),
                m.secret.clone().map(MountSource::Secret),
                m.empty_dir.clone().map(MountSource::EmptyDir),
            ]
            .into_iter()
            .flatten()
            .collect();
            match (sources.pop(), sources.len()) {
                (Some(source), 0) => Ok(ValidMount {
                    index,
                    mount_path: path.clone(),
                    read_only: m.read_only,
                    source,
                }),
                (source, others) => Err(ValidationError::MountSources {
                    path: path.clone(),
                    count: others + usize::from(source.is_some()),
                }),
            }
        })
        .collect()
}

fn validate_network(
    n: &crate::api::tracedservice::NetworkSpec,
) -> Result<Network, ValidationError> {
    for rule in &n.egress {
        if let Some(bad) = rule.cidrs.iter().find(|c| !is_cidr(c)) {
            return Err(ValidationError::InvalidCidr(bad.clone()));
        }
        for p in &rule.ports {
            check_port("network.egress.ports.port", p.port)?;
            if let Some(end) = p.end_port {
                check_port("network.egress.ports.endPort", end)?;
            }
        }
    }
    reserved_keys("network.podAnnotations", n.pod_annotations.keys(), false)?;
    reserved_keys("network.podLabels", n.pod_labels.keys(), true)?;
    Ok(Network {
        enforce: n.enforce,
        internet_access: n.internet_access,
        egress: n.egress.clone(),
        ingress: n.ingress.clone(),
        pod_annotations: n.pod_annotations.clone(),
        pod_labels: n.pod_labels.clone(),
    })
}

fn reserved_keys<'a>(
    field: &'static str,
    mut keys: impl Iterator<Item = &'a String>,
    labels: bool,
) -> Result<(), ValidationError> {
    let reserved = |k: &str| {
        k.starts_with("traceval.dev/")
            || (labels && (k == "app.kubernetes.io/managed-by" || k == "app.kubernetes.io/name"))
    };
    match keys.find(|k| reserved(k)) {
        Some(key) => Err(ValidationError::ReservedKey {
            field,
            key: key.clone(),
        }),
        None => Ok(()),
    }
}

fn check_port(field: &str, value: i32) -> Result<(), ValidationError> {
    if (1..=65535).contains(&value) {
        Ok(())
    } else {
        Err(ValidationError::PortOutOfRange {
            field: field.to_owned(),
            value,
        })
    }
}

fn invalid_url(field: &'static str, value: &str) -> ValidationError {
    ValidationError::InvalidUrl {
        field,
        value: value.to_owned(),
    }
}

/// RFC 1123 label that also starts with a letter (RFC 1035), as Service names require.
pub(crate) fn is_dns_label(name: &str) -> bool {
    let bytes = name.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= MAX_NAME_LEN
        && bytes[0].is_ascii_lowercase()
        && bytes[bytes.len() - 1] != b'-'
        && bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-')
}

/// `address/prefix` with an IPv4 or IPv6 address and a prefix that fits it.
pub(crate) fn is_cidr(value: &str) -> bool {
    let Some((addr, prefix)) = value.split_once('/') else {
        return false;
    };
    let Ok(prefix) = prefix.parse::<u8>() else {
        return false;
    };
    match addr.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V4(_)) => prefix <= 32,
        Ok(std::net::IpAddr::V6(_)) => prefix <= 128,
        Err(_) => false,
    }
}
