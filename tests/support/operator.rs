//! Running the real operator inside a test: CRD installation and the
//! TracedService controller for one namespace.

use std::sync::Arc;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, Patch, PatchParams};
use kube::{Client, ResourceExt};
use tokio::task::JoinHandle;
use traceval::operator::Context;
use traceval::operator::tracedservice::metrics::ServiceMetrics;
use traceval::operator::tracedservice::{ServiceContext, controller, drive};
use traceval::resources::tracedservice::BuildOptions;

use super::{DEADLINE, poll};

const MANAGER: &str = "traceval-test";

/// Installs the generated CRDs and waits until they are served.
pub async fn install_crds(client: &Client) {
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    for crd in traceval::api::crds() {
        let name = crd.name_any();
        crds.patch(
            &name,
            &PatchParams::apply(MANAGER).force(),
            &Patch::Apply(&crd),
        )
        .await
        .expect("apply CRD");
        poll(
            &format!("CRD {name} to be established"),
            DEADLINE,
            || async {
                let crd = crds.get(&name).await.ok()?;
                crd.status?
                    .conditions?
                    .iter()
                    .any(|c| c.type_ == "Established" && c.status == "True")
                    .then_some(())
            },
        )
        .await;
    }
}

/// Runs the controller for one namespace until dropped.
pub struct Operator(JoinHandle<()>);

/// The controllers' shared context as a test operator has it.
pub fn context(client: &Client) -> Arc<Context> {
    Arc::new(Context::new(client.clone(), Some("test".into())))
}

/// The TracedService controller's context over `shared`, as a test operator has it.
pub fn service_context(shared: Arc<Context>) -> Arc<ServiceContext> {
    service_context_with(shared, BuildOptions::default())
}

fn service_context_with(shared: Arc<Context>, options: BuildOptions) -> Arc<ServiceContext> {
    Arc::new(ServiceContext::new(
        shared,
        options,
        None,
        Arc::new(ServiceMetrics::default()),
    ))
}

impl Operator {
    pub fn start(client: &Client, namespace: &str) -> Self {
        Self::start_with(client, namespace, BuildOptions::default())
    }

    /// With the operator's build options (e.g. `--oss-sync-image`).
    pub fn start_with(client: &Client, namespace: &str, options: BuildOptions) -> Self {
        Self(tokio::spawn(drive(
            controller(client.clone(), Some(namespace)),
            service_context_with(context(client), options),
        )))
    }
}

impl Drop for Operator {
    fn drop(&mut self) {
        self.0.abort();
    }
}
