//! The NetworkPolicy isolating the pods: ingress from the chosen sources on
//! the app port; egress only to DNS, the trace endpoint, the package index
//! (when packages are installed at start), the object storage of `oss`
//! mounts in `sync` mode (their init container copies from it), the ARMS
//! agent's endpoints (for `probe: arms`) and what the user allows.
//!
//! NetworkPolicies cannot match DNS names: an endpoint given as an IP is
//! allowed by address, a Service name (`name.ns.svc`) by namespace, and any
//! other host name by port only.

use std::collections::BTreeMap;

use k8s_openapi::api::networking::v1::{
    IPBlock, NetworkPolicy, NetworkPolicyEgressRule, NetworkPolicyIngressRule, NetworkPolicyPeer,
    NetworkPolicyPort, NetworkPolicySpec,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::endpoint::{Endpoint, Host};
use super::meta::{object_meta, selector_labels};
use super::validate::{MountSource, ProbeSettings, ValidatedTracedService};

/// Label the API server puts on every namespace with its name.
const NAMESPACE_NAME_LABEL: &str = "kubernetes.io/metadata.name";
/// Where pip installs from when no index is set (PyPI serves over HTTPS).
const DEFAULT_INDEX_PORT: u16 = 443;

/// The NetworkPolicy of a TracedService; `None` when `network.enforce` is false.
pub fn network_policy(svc: &ValidatedTracedService) -> Option<NetworkPolicy> {
    if !svc.network.enforce {
        return None;
    }
    Some(NetworkPolicy {
        metadata: object_meta(svc, svc.name.clone()),
        spec: Some(NetworkPolicySpec {
            pod_selector: Some(LabelSelector {
                match_labels: Some(selector_labels(svc)),
                ..LabelSelector::default()
            }),
            policy_types: Some(vec!["Ingress".to_owned(), "Egress".to_owned()]),
            ingress: Some(vec![ingress_rule(svc)]),
            egress: Some(egress_rules(svc)),
        }),
    })
}

fn ingress_rule(svc: &ValidatedTracedService) -> NetworkPolicyIngressRule {
    let from = if svc.network.ingress.is_empty() {
        vec![NetworkPolicyPeer {
            pod_selector: Some(LabelSelector::default()),
            ..NetworkPolicyPeer::default()
        }]
    } else {
        svc.network
            .ingress
            .iter()
            .map(|source| NetworkPolicyPeer {
                namespace_selector: source.namespace_selector.clone(),
                pod_selector: source.pod_selector.clone(),
                ip_block: None,
            })
            .collect()
    };
    NetworkPolicyIngressRule {
        from: Some(from),
        ports: Some(vec![port(svc.port, "TCP", None)]),
    }
}

fn egress_rules(svc: &ValidatedTracedService) -> Vec<NetworkPolicyEgressRule> {
    let mut rules = vec![NetworkPolicyEgressRule {
        to: None,
        ports: Some(vec![port(53, "UDP", None), port(53, "TCP", None)]),
    }];
    if let Some(endpoint) = svc.tracing.as_ref().and_then(|t| t.endpoint.as_ref()) {
        rules.push(endpoint_rule(svc, endpoint));
    }
    if !svc.packages.is_empty() {
        rules.push(match &svc.pip_index {
            Some(index) => endpoint_rule(svc, index),
            None => ports_only(&[(i32::from(DEFAULT_INDEX_PORT), "TCP")]),
        });
    }
    // The sync container of an `oss` mount runs under this policy too:
    // without this rule it could reach its storage only when something
    // else happened to allow it (found while moving the sample app's code
    // to the in-cluster S3 server of the real node).
    for mount in &svc.mounts {
        if let MountSource::OssSync(oss) = &mount.source {
            rules.push(match Endpoint::parse_storage(&oss.endpoint) {
                Some(endpoint) => endpoint_rule(svc, &endpoint),
                None => ports_only(&[(443, "TCP")]),
            });
        }
    }
    if matches!(
        svc.tracing.as_ref().map(|t| &t.probe),
        Some(ProbeSettings::Arms(_))
    ) {
        // The ARMS agent is downloaded from object storage and reports to
        // region endpoints over HTTP(S); neither has fixed addresses.
        rules.push(ports_only(&[(443, "TCP"), (80, "TCP")]));
    }
    if svc.network.internet_access {
        rules.push(NetworkPolicyEgressRule {
            to: Some(vec![ip_block("0.0.0.0/0"), ip_block("::/0")]),
            ports: None,
        });
    }
    for rule in &svc.network.egress {
        rules.push(NetworkPolicyEgressRule {
            to: (!rule.cidrs.is_empty()).then(|| rule.cidrs.iter().map(|c| ip_block(c)).collect()),
            ports: (!rule.ports.is_empty()).then(|| {
                rule.ports
                    .iter()
                    .map(|p| port(p.port, p.protocol.as_str(), p.end_port))
                    .collect()
            }),
        });
    }
    let mut unique = Vec::with_capacity(rules.len());
    for rule in rules {
        if !unique.contains(&rule) {
            unique.push(rule);
        }
    }
    unique
}

fn endpoint_rule(svc: &ValidatedTracedService, endpoint: &Endpoint) -> NetworkPolicyEgressRule {
    let port = Some(vec![port(i32::from(endpoint.port), "TCP", None)]);
    match &endpoint.host {
        Host::Ip(ip) => {
            let bits = if ip.is_ipv4() { 32 } else { 128 };
            NetworkPolicyEgressRule {
                to: Some(vec![ip_block(&format!("{ip}/{bits}"))]),
                ports: port,
            }
        }
        // A Service: policies are enforced on the pod it leads to, after
        // the Service has translated its port to the pods' targetPort,
        // which the URL does not tell (a real pod showed it: the package
        // index on Service port 80, container port 8080, was refused). So
        // the rule allows that namespace on any port.
        Host::ClusterService { namespace } => {
            let namespace = namespace.clone().unwrap_or_else(|| svc.namespace.clone());
            NetworkPolicyEgressRule {
                to: Some(vec![NetworkPolicyPeer {
                    namespace_selector: Some(LabelSelector {
                        match_labels: Some(BTreeMap::from([(
                            NAMESPACE_NAME_LABEL.to_owned(),
                            namespace,
                        )])),
                        ..LabelSelector::default()
                    }),
                    ..NetworkPolicyPeer::default()
                }]),
                ports: None,
            }
        }
        Host::External(_) => NetworkPolicyEgressRule {
            to: None,
            ports: port,
        },
    }
}

fn ports_only(ports: &[(i32, &str)]) -> NetworkPolicyEgressRule {
    NetworkPolicyEgressRule {
        to: None,
        ports: Some(
            ports
                .iter()
                .map(|(p, proto)| port(*p, proto, None))
                .collect(),
        ),
    }
}

fn ip_block(cidr: &str) -> NetworkPolicyPeer {
    NetworkPolicyPeer {
        ip_block: Some(IPBlock {
            cidr: cidr.to_owned(),
            except: None,
        }),
        ..NetworkPolicyPeer::default()
    }
}

fn port(number: i32, protocol: &str, end_port: Option<i32>) -> NetworkPolicyPort {
    NetworkPolicyPort {
        port: Some(IntOrString::Int(number)),
        protocol: Some(protocol.to_owned()),
        end_port,
    }
}
