use std::collections::BTreeMap;

use k8s_openapi::api::networking::v1::{NetworkPolicyEgressRule, NetworkPolicyPort};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::{children, fixture, validated};
use crate::resources::tracedservice::network_policy::network_policy;

fn ports(rule: &NetworkPolicyEgressRule) -> Vec<(i32, String)> {
    rule.ports
        .iter()
        .flatten()
        .map(|p: &NetworkPolicyPort| match &p.port {
            Some(IntOrString::Int(n)) => (*n, p.protocol.clone().unwrap_or_default()),
            other => panic!("unexpected port {other:?}"),
        })
        .collect()
}

fn egress(name: &str) -> Vec<NetworkPolicyEgressRule> {
    let policy = children(name).network_policy.expect("network policy");
    policy.spec.and_then(|s| s.egress).expect("egress")
}

#[test]
fn default_egress_is_dns_and_in_cluster_trace_endpoint_and_index() {
    let rules = egress("opentelemetry");
    assert_eq!(rules.len(), 3, "{rules:#?}");
    assert_eq!(rules[0].to, None);
    assert_eq!(ports(&rules[0]), [(53, "UDP".into()), (53, "TCP".into())]);
    // The Jaeger Service's namespace, on any port: the policy sees the pod's
    // port, which the Service's URL does not tell.
    let to = rules[1].to.clone().expect("to");
    let namespace = to[0]
        .namespace_selector
        .clone()
        .and_then(|s| s.match_labels);
    assert_eq!(
        namespace,
        Some(BTreeMap::from([(
            "kubernetes.io/metadata.name".to_owned(),
            "observability".to_owned()
        )]))
    );
    assert_eq!(rules[1].ports, None);
    // pip index is a host name: port only.
    assert_eq!(rules[2].to, None);
    assert_eq!(ports(&rules[2]), [(443, "TCP".into())]);
}

#[test]
fn ip_trace_endpoint_is_allowed_by_address() {
    let rules = egress("builtin");
    assert_eq!(
        rules.len(),
        2,
        "DNS and the endpoint, no packages: {rules:#?}"
    );
    let block = rules[1].to.clone().expect("to")[0]
        .ip_block
        .clone()
        .expect("ipBlock");
    assert_eq!(block.cidr, "10.20.30.40/32");
    assert_eq!(ports(&rules[1]), [(4317, "TCP".into())]);
}

#[test]
fn internet_access_allows_everything_and_arms_reaches_its_endpoints() {
    let rules = egress("seed-arms");
    let everywhere = rules
        .iter()
        .find(|r| r.ports.is_none())
        .expect("internet rule without ports");
    let cidrs: Vec<String> = everywhere
        .to
        .iter()
        .flatten()
        .filter_map(|p| p.ip_block.as_ref().map(|b| b.cidr.clone()))
        .collect();
    assert_eq!(cidrs, ["0.0.0.0/0", "::/0"]);
    assert!(
        everywhere
            .to
            .iter()
            .flatten()
            .all(|p| p.ip_block.as_ref().is_some_and(|b| b.except.is_none()))
    );
    assert!(
        rules
            .iter()
            .any(|r| ports(r) == [(443, "TCP".into()), (80, "TCP".into())])
    );
}

#[test]
fn user_egress_and_ingress_sources() {
    let policy = children("network").network_policy.expect("policy");
    let spec = policy.spec.expect("spec");
    assert_eq!(
        spec.policy_types,
        Some(vec!["Ingress".to_owned(), "Egress".to_owned()])
    );
    let ingress = spec.ingress.expect("ingress");
    assert_eq!(ingress.len(), 1);
    let from = ingress[0].from.clone().expect("from");
    assert_eq!(from.len(), 2);
    assert!(from[0].namespace_selector.is_some() && from[0].pod_selector.is_none());
    assert!(from[1].pod_selector.is_some() && from[1].namespace_selector.is_none());
    assert_eq!(
        ingress[0].ports.clone().expect("ports")[0].port,
        Some(IntOrString::Int(8000))
    );
    let egress = spec.egress.expect("egress");
    // DNS, the external trace endpoint (port only), then the user's two rules.
    assert_eq!(egress.len(), 4, "{egress:#?}");
    assert_eq!(
        (egress[1].to.clone(), ports(&egress[1])),
        (None, vec![(443, "TCP".into())])
    );
    let cidr = egress[2].to.clone().expect("to")[0]
        .ip_block
        .clone()
        .expect("ipBlock")
        .cidr;
    assert_eq!(cidr, "203.0.113.0/24");
    assert_eq!(ports(&egress[2]), [(5432, "TCP".into())]);
    let range = egress[3].ports.clone().expect("ports");
    assert_eq!(
        (range[0].port.clone(), range[0].end_port),
        (Some(IntOrString::Int(6379)), Some(6380))
    );
}

#[test]
fn default_ingress_is_the_own_namespace() {
    let policy = children("minimal").network_policy.expect("policy");
    let spec = policy.spec.expect("spec");
    let from = spec.ingress.expect("ingress")[0]
        .from
        .clone()
        .expect("from");
    assert_eq!(from.len(), 1);
    assert_eq!(from[0].pod_selector, Some(Default::default()));
    assert_eq!(from[0].namespace_selector, None);
    assert_eq!(spec.egress.expect("egress").len(), 1, "DNS only");
}

#[test]
fn enforce_false_means_no_policy() {
    let mut ts = fixture("minimal");
    ts.spec.network.enforce = false;
    let svc = crate::resources::tracedservice::validate(&ts).expect("valid");
    assert!(network_policy(&svc).is_none());
    assert!(network_policy(&validated("minimal")).is_some());
}

#[test]
fn oss_sync_endpoints_are_allowed_for_the_sync_container() {
    // mounts.yaml: one `sync` mount at https://s3.example.com, no tracing,
    // no packages: DNS and the storage's port.
    let rules = egress("mounts");
    assert_eq!(rules.len(), 2, "{rules:#?}");
    assert_eq!(rules[1].to, None);
    assert_eq!(ports(&rules[1]), [(443, "TCP".into())]);

    // An in-cluster S3 Service: its namespace; a bare host name: https.
    let mut ts = fixture("mounts");
    let oss = ts.spec.mounts[0].oss.as_mut().expect("oss mount");
    oss.endpoint = "http://s3.storage.svc.cluster.local:8080".into();
    let policy = network_policy(&crate::resources::tracedservice::validate(&ts).expect("valid"))
        .expect("policy");
    let rules = policy.spec.and_then(|s| s.egress).expect("egress");
    let namespace = rules[1].to.clone().expect("to")[0]
        .namespace_selector
        .clone()
        .and_then(|s| s.match_labels);
    assert_eq!(
        namespace,
        Some(BTreeMap::from([(
            "kubernetes.io/metadata.name".to_owned(),
            "storage".to_owned()
        )]))
    );
    let bare = crate::resources::tracedservice::endpoint::Endpoint::parse_storage(
        "oss-cn-hangzhou-internal.aliyuncs.com",
    )
    .expect("a host name parses");
    assert_eq!(bare.port, 443);
}
