//! The ClusterIP Service in front of the app.

use k8s_openapi::api::core::v1::{Service, ServicePort, ServiceSpec};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::deployment::PORT_NAME;
use super::meta::{object_meta, selector_labels};
use super::validate::ValidatedTracedService;

/// The Service of a TracedService, named like it, on the app port.
pub fn service(svc: &ValidatedTracedService) -> Service {
    Service {
        metadata: object_meta(svc, svc.name.clone()),
        spec: Some(ServiceSpec {
            type_: Some("ClusterIP".to_owned()),
            selector: Some(selector_labels(svc)),
            ports: Some(vec![ServicePort {
                name: Some(PORT_NAME.to_owned()),
                port: svc.port,
                target_port: Some(IntOrString::String(PORT_NAME.to_owned())),
                protocol: Some("TCP".to_owned()),
                ..ServicePort::default()
            }]),
            ..ServiceSpec::default()
        }),
        status: None,
    }
}

/// In-cluster URL of the Service.
pub fn url(svc: &ValidatedTracedService) -> String {
    format!(
        "http://{}.{}.svc.cluster.local:{}",
        svc.name, svc.namespace, svc.port
    )
}
