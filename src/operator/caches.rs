//! The children caches of each controller, and the watch streams that feed
//! them and trigger the owners' reconciles.

use std::sync::Arc;

use futures::Stream;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::core::v1::{PersistentVolumeClaim, Service, ServiceAccount};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
use kube::Client;
use kube::runtime::reflector::Store;
use kube::runtime::watcher;

use super::scoped_api;
use super::stores::{Meta, metadata_cache, object_cache, ready};

/// A boxed trigger stream of child objects.
pub type Trigger<K> = std::pin::Pin<Box<dyn Stream<Item = Result<K, watcher::Error>> + Send>>;

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

/// Drops the pod template of a cached Job.
fn strip_job(job: &mut Job) {
    if let Some(spec) = job.spec.as_mut() {
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

/// What the EvaluationTask controller caches of its children.
pub struct TaskCaches {
    /// CronJobs, metadata only.
    pub cronjobs: Store<Meta<CronJob>>,
    /// Jobs without their pod template (status is read for the runs).
    pub jobs: Store<Job>,
    /// ServiceAccounts, metadata only.
    pub service_accounts: Store<Meta<ServiceAccount>>,
    /// Roles, metadata only.
    pub roles: Store<Meta<Role>>,
    /// RoleBindings, metadata only.
    pub role_bindings: Store<Meta<RoleBinding>>,
}

/// The streams that fill [`TaskCaches`].
pub struct TaskTriggers {
    /// CronJobs.
    pub cronjobs: Trigger<Meta<CronJob>>,
    /// Jobs.
    pub jobs: Trigger<Job>,
    /// ServiceAccounts.
    pub service_accounts: Trigger<Meta<ServiceAccount>>,
    /// Roles.
    pub roles: Trigger<Meta<Role>>,
    /// RoleBindings.
    pub role_bindings: Trigger<Meta<RoleBinding>>,
}

impl TaskCaches {
    /// The caches of one scope and their streams.
    pub fn watch(client: &Client, namespace: Option<&str>) -> (Arc<Self>, TaskTriggers) {
        let config = watcher::Config::default().any_semantic();
        let (cronjobs, c) = metadata_cache(scoped_api(client, namespace), config.clone());
        let (jobs, j) = object_cache(scoped_api(client, namespace), config.clone(), strip_job);
        let (service_accounts, s) = metadata_cache(scoped_api(client, namespace), config.clone());
        let (roles, r) = metadata_cache(scoped_api(client, namespace), config.clone());
        let (role_bindings, b) = metadata_cache(scoped_api(client, namespace), config);
        let caches = Self {
            cronjobs,
            jobs,
            service_accounts,
            roles,
            role_bindings,
        };
        let triggers = TaskTriggers {
            cronjobs: Box::pin(c),
            jobs: Box::pin(j),
            service_accounts: Box::pin(s),
            roles: Box::pin(r),
            role_bindings: Box::pin(b),
        };
        (Arc::new(caches), triggers)
    }

    /// Whether every cache finished its first list (waits up to 30 s).
    pub async fn ready(&self) -> bool {
        ready(&self.cronjobs).await
            && ready(&self.jobs).await
            && ready(&self.service_accounts).await
            && ready(&self.roles).await
            && ready(&self.role_bindings).await
    }
}
