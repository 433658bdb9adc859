//! What the TracedService controller caches of its children, and the watch
//! streams that feed the caches and trigger the owners' reconciles.

use std::sync::Arc;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{PersistentVolumeClaim, Service};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use kube::Client;
use kube::runtime::reflector::Store;
use kube::runtime::watcher;

use crate::operator::scoped_api;
use crate::operator::stores::{Meta, Trigger, metadata_cache, object_cache, ready};

/// What the TracedService controller caches of its children.
pub struct ServiceCaches {
    /// Deployments without their pod template (status is read for readiness).
    pub deployments: Store<Deployment>,
    /// Services, metadata only.
    pub services: Store<Meta<Service>>,
    /// NetworkPolicies, metadata only.
    pub network_policies: Store<Meta<NetworkPolicy>>,
    /// PersistentVolumeClaims, metadata only.
    pub claims: Store<Meta<PersistentVolumeClaim>>,
}

/// The streams that fill [`ServiceCaches`].
pub struct ServiceTriggers {
    /// Deployments.
    pub deployments: Trigger<Deployment>,
    /// Services.
    pub services: Trigger<Meta<Service>>,
    /// NetworkPolicies.
    pub network_policies: Trigger<Meta<NetworkPolicy>>,
    /// PersistentVolumeClaims.
    pub claims: Trigger<Meta<PersistentVolumeClaim>>,
}

/// Drops the pod template of a cached Deployment.
fn strip_deployment(deployment: &mut Deployment) {
    if let Some(spec) = deployment.spec.as_mut() {
        spec.template = Default::default();
    }
}

impl ServiceCaches {
    /// The caches of one scope and their streams.
    pub fn watch(client: &Client, namespace: Option<&str>) -> (Arc<Self>, ServiceTriggers) {
        let config = watcher::Config::default().any_semantic();
        let (deployments, d) = object_cache(
            scoped_api(client, namespace),
            config.clone(),
            strip_deployment,
        );
        let (services, s) = metadata_cache(scoped_api(client, namespace), config.clone());
        let (network_policies, n) = metadata_cache(scoped_api(client, namespace), config.clone());
        let (claims, c) = metadata_cache(scoped_api(client, namespace), config);
        let caches = Self {
            deployments,
            services,
            network_policies,
            claims,
        };
        let triggers = ServiceTriggers {
            deployments: Box::pin(d),
            services: Box::pin(s),
            network_policies: Box::pin(n),
            claims: Box::pin(c),
        };
        (Arc::new(caches), triggers)
    }

    /// Whether every cache finished its first list (waits up to 30 s).
    pub async fn ready(&self) -> bool {
        ready(&self.deployments).await
            && ready(&self.services).await
            && ready(&self.network_policies).await
            && ready(&self.claims).await
    }
}
