//! `spec.network`: the seed's VPC / vSwitch / security group, as a NetworkPolicy.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use kube::KubeSchema;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Network isolation of the pods and metadata passed through to them.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct NetworkSpec {
    /// Create a NetworkPolicy for the pods (default). When false the pods'
    /// traffic is not restricted by the operator.
    #[serde(default = "default_true")]
    pub enforce: bool,

    /// Allow egress to any address on any port (the seed's "internet access").
    #[serde(default)]
    pub internet_access: bool,

    /// Extra egress allowed besides DNS, the trace endpoint and the package index.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 32))]
    pub egress: Vec<EgressRule>,

    /// Who may connect to the app port; pods of the TracedService's namespace when empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 32))]
    pub ingress: Vec<IngressSource>,

    /// Annotations added to the pods, e.g. for a cloud's VPC/ENI networking.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[x_kube(validation = Rule::new("self.all(k, !k.startsWith('traceval.dev/'))").message(
        "podAnnotations must not use the traceval.dev/ prefix, which the operator owns"
    ))]
    pub pod_annotations: BTreeMap<String, String>,

    /// Labels added to the pods.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[x_kube(validation = Rule::new("self.all(k, !k.startsWith('traceval.dev/') && k != 'app.kubernetes.io/managed-by' && k != 'app.kubernetes.io/name')").message(
        "podLabels must not set traceval.dev/*, app.kubernetes.io/managed-by or app.kubernetes.io/name, which the operator owns"
    ))]
    pub pod_labels: BTreeMap<String, String>,
}

impl Default for NetworkSpec {
    fn default() -> Self {
        Self {
            enforce: true,
            internet_access: false,
            egress: Vec::new(),
            ingress: Vec::new(),
            pod_annotations: BTreeMap::new(),
            pod_labels: BTreeMap::new(),
        }
    }
}

fn default_true() -> bool {
    true
}

/// Egress to these CIDRs on these ports. No CIDRs: any address; no ports: any port.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("size(self.cidrs) > 0 || size(self.ports) > 0").message(
    "an egress rule needs cidrs, ports or both; use internetAccess: true to allow everything"
))]
pub struct EgressRule {
    /// Destination CIDRs, e.g. `10.0.0.0/8` or `2001:db8::/32`.
    #[serde(default)]
    #[schemars(length(max = 64), inner(length(min = 1, max = 64)))]
    #[x_kube(validation = Rule::new("self.all(c, isCIDR(c))").message(
        "egress cidrs must be CIDRs such as 10.0.0.0/8 or 203.0.113.7/32"
    ))]
    pub cidrs: Vec<String>,
    /// Destination ports.
    #[serde(default)]
    #[schemars(length(max = 32))]
    pub ports: Vec<EgressPort>,
}

/// A destination port or port range.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("!has(self.endPort) || self.endPort >= self.port").message(
    "endPort must not be below port"
))]
pub struct EgressPort {
    /// Port number.
    #[schemars(range(min = 1, max = 65535))]
    pub port: i32,
    /// Last port of a range starting at `port`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 65535))]
    pub end_port: Option<i32>,
    /// Transport protocol.
    #[serde(default)]
    pub protocol: PortProtocol,
}

/// Transport protocol of a port.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum PortProtocol {
    /// TCP.
    #[default]
    #[serde(rename = "TCP")]
    Tcp,
    /// UDP.
    #[serde(rename = "UDP")]
    Udp,
    /// SCTP.
    #[serde(rename = "SCTP")]
    Sctp,
}

impl PortProtocol {
    /// The Kubernetes spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Tcp => "TCP",
            Self::Udp => "UDP",
            Self::Sctp => "SCTP",
        }
    }
}

/// Pods allowed to connect: those matching both selectors (either may be omitted).
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("has(self.namespaceSelector) || has(self.podSelector)").message(
    "an ingress source needs namespaceSelector, podSelector or both"
))]
pub struct IngressSource {
    /// Namespaces the clients run in; the TracedService's namespace when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace_selector: Option<LabelSelector>,
    /// Client pods; all pods of the selected namespaces when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod_selector: Option<LabelSelector>,
}
