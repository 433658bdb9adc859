//! Reads what the task depends on outside itself: the target TracedService,
//! the judge token Secret (only whether its key exists; the value is never
//! logged or copied anywhere) and the reference answers' ConfigMap key.

use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::{Api, Client};

use super::error::Error;
use crate::api::TracedService;
use crate::evaluate::scoring::Dataset;
use crate::operator::Error as ApiError;
use crate::resources::evaluationtask::ValidatedTask;

/// Checks that the target and the judge secret exist.
pub async fn dereference(client: &Client, task: &ValidatedTask) -> Result<(), Error> {
    let read_error = |kind: &'static str, name: &str| {
        let name = name.to_owned();
        move |source| Error::Api(ApiError::Dereference { kind, name, source })
    };
    if let Some(target) = &task.traced_service {
        let services: Api<TracedService> = Api::namespaced(client.clone(), &task.namespace);
        if services
            .get_metadata_opt(target)
            .await
            .map_err(read_error("TracedService", target))?
            .is_none()
        {
            return Err(Error::TargetNotFound(format!(
                "target TracedService {target} not found in namespace {}",
                task.namespace
            )));
        }
    }
    if let Some(token) = &task.judge_token {
        let secrets: Api<Secret> = Api::namespaced(client.clone(), &task.namespace);
        let secret = secrets
            .get_opt(&token.name)
            .await
            .map_err(read_error("Secret", &token.name))?;
        let has_key = secret.as_ref().is_some_and(|s| {
            s.data.as_ref().is_some_and(|d| d.contains_key(&token.key))
                || s.string_data
                    .as_ref()
                    .is_some_and(|d| d.contains_key(&token.key))
        });
        if !has_key {
            let what = if secret.is_some() {
                format!("Secret {} has no key {}", token.name, token.key)
            } else {
                format!("Secret {} not found", token.name)
            };
            return Err(Error::JudgeSecretMissing(format!(
                "judge token missing: {what} (spec.judge.tokenSecretRef)"
            )));
        }
    }
    if let Some(dataset) = &task.dataset {
        let maps: Api<ConfigMap> = Api::namespaced(client.clone(), &task.namespace);
        let map = maps
            .get_opt(&dataset.name)
            .await
            .map_err(read_error("ConfigMap", &dataset.name))?;
        let text = map
            .as_ref()
            .and_then(|m| m.data.as_ref()?.get(&dataset.key));
        let binary = map
            .as_ref()
            .and_then(|m| m.binary_data.as_ref()?.get(&dataset.key));
        if let Some(text) = text {
            // What the evaluator would refuse, said before any run.
            Dataset::parse(text).map_err(|e| {
                Error::DatasetInvalid(format!(
                    "spec.dataset: ConfigMap {} key {}: {e}",
                    dataset.name, dataset.key
                ))
            })?;
        } else if binary.is_some() {
            return Err(Error::DatasetInvalid(format!(
                "spec.dataset: ConfigMap {} key {} is binaryData; the rows must be text (data)",
                dataset.name, dataset.key
            )));
        } else {
            let what = if map.is_some() {
                format!("ConfigMap {} has no key {}", dataset.name, dataset.key)
            } else {
                format!("ConfigMap {} not found", dataset.name)
            };
            return Err(Error::DatasetMissing(format!(
                "reference answers missing: {what} (spec.dataset.configMapRef)"
            )));
        }
    }
    Ok(())
}
