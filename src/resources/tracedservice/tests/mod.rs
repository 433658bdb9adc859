//! Builder tests fed from the YAML fixtures in `tests/fixtures/tracedservice/`.

mod command;
mod env;
mod mounts;
mod network;
mod objects;
mod security;
mod validation;

use std::path::PathBuf;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Container, EnvVar, PodSpec};

use super::{BuildOptions, Children, ValidatedTracedService, build, validate};
use crate::api::TracedService;

/// A fixture as the API server would hand it over (with a uid).
pub fn fixture(name: &str) -> TracedService {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/tracedservice")
        .join(format!("{name}.yaml"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    let mut ts: TracedService =
        serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    ts.metadata.uid = Some(format!("uid-{name}"));
    ts.metadata.generation = Some(1);
    ts
}

/// The validated fixture.
pub fn validated(name: &str) -> ValidatedTracedService {
    validate(&fixture(name)).unwrap_or_else(|e| panic!("fixture {name} is invalid: {e}"))
}

/// Every child built from the fixture with default options.
pub fn children(name: &str) -> Children {
    build(&validated(name), &BuildOptions::default())
}

pub fn pod_spec(deployment: &Deployment) -> &PodSpec {
    deployment
        .spec
        .as_ref()
        .and_then(|s| s.template.spec.as_ref())
        .expect("pod spec")
}

pub fn app_container(deployment: &Deployment) -> &Container {
    &pod_spec(deployment).containers[0]
}

pub fn init_container<'a>(deployment: &'a Deployment, name: &str) -> Option<&'a Container> {
    pod_spec(deployment)
        .init_containers
        .iter()
        .flatten()
        .find(|c| c.name == name)
}

pub fn env_value<'a>(env: &'a [EnvVar], name: &str) -> Option<&'a str> {
    env.iter()
        .find(|e| e.name == name)
        .and_then(|e| e.value.as_deref())
}

pub fn app_env(deployment: &Deployment) -> Vec<EnvVar> {
    app_container(deployment).env.clone().unwrap_or_default()
}
