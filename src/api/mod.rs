//! The custom resources: the contract users write YAML against.

pub mod evaluationtask;
pub mod hash;
pub mod reference;
pub mod tracedservice;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::CustomResourceExt;

pub use self::evaluationtask::{EvaluationTask, EvaluationTaskSpec, EvaluationTaskStatus};
pub use self::tracedservice::{TracedService, TracedServiceSpec, TracedServiceStatus};

/// Every CRD of the project, in a stable order.
pub fn crds() -> Vec<CustomResourceDefinition> {
    vec![TracedService::crd(), EvaluationTask::crd()]
}

/// The file in `crds/` a CRD is kept in: `<group>_<plural>.yaml`.
pub fn crd_file_name(crd: &CustomResourceDefinition) -> String {
    format!("{}_{}.yaml", crd.spec.group, crd.spec.names.plural)
}

/// A CRD as the YAML document kept in `crds/` (without the `---` separator).
pub fn crd_yaml(crd: &CustomResourceDefinition) -> Result<String, serde_yaml::Error> {
    serde_yaml::to_string(crd)
}

/// Every CRD as one multi-document YAML stream, the output of `traceval crd`.
pub fn all_crds_yaml() -> Result<String, serde_yaml::Error> {
    let mut out = String::new();
    for crd in crds() {
        out.push_str("---\n");
        out.push_str(&crd_yaml(&crd)?);
    }
    Ok(out)
}
