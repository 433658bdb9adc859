//! The evaluator's writes to its task's status: server-side apply on the
//! status subresource with its own field manager, sending only the fields it
//! owns (results, counts, watermark, ...), so the operator's phase and
//! conditions, applied by the `traceval` manager, are never overwritten.

use kube::api::{Patch, PatchParams};
use kube::{Api, Client, Resource};
use serde_json::json;

use crate::api::EvaluationTask;
use crate::api::evaluationtask::EvaluationTaskStatus;

/// Field manager of the evaluator's status writes.
pub const EVALUATOR_MANAGER: &str = "traceval-evaluator";

/// The evaluator's fields of a status; the operator's are cleared.
pub fn evaluator_fields(status: &EvaluationTaskStatus) -> EvaluationTaskStatus {
    EvaluationTaskStatus {
        observed_generation: None,
        phase: None,
        conditions: Vec::new(),
        ..status.clone()
    }
}

/// Writes one task's status.
#[derive(Clone)]
pub struct StatusWriter {
    api: Api<EvaluationTask>,
    name: String,
}

impl StatusWriter {
    /// A writer for task `name` in `namespace`.
    pub fn new(client: Client, namespace: &str, name: &str) -> Self {
        Self {
            api: Api::namespaced(client, namespace),
            name: name.to_owned(),
        }
    }

    /// Applies the evaluator's fields of `status`. Every write carries all of
    /// them: a field the evaluator applied before and leaves out is removed.
    pub async fn write(&self, status: &EvaluationTaskStatus) -> Result<(), kube::Error> {
        let patch = json!({
            "apiVersion": EvaluationTask::api_version(&()),
            "kind": EvaluationTask::kind(&()),
            "metadata": {"name": self.name},
            "status": evaluator_fields(status),
        });
        self.api
            .patch_status(
                &self.name,
                &PatchParams::apply(EVALUATOR_MANAGER).force(),
                &Patch::Apply(&patch),
            )
            .await
            .map(drop)
    }
}
