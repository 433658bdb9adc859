//! What the EvaluationTask controller caches of its children, and the watch
//! streams that feed the caches and trigger the owners' reconciles.

use std::sync::Arc;

use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::core::v1::ServiceAccount;
use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
use kube::Client;
use kube::runtime::reflector::Store;
use kube::runtime::watcher;

use crate::operator::scoped_api;
use crate::operator::stores::{Meta, Trigger, metadata_cache, object_cache, ready};

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

/// Drops the pod template of a cached Job.
fn strip_job(job: &mut Job) {
    if let Some(spec) = job.spec.as_mut() {
        spec.template = Default::default();
    }
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
