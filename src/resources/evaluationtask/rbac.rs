//! The evaluation pods' identity: one ServiceAccount per task, whose Role can
//! read only that task (and its target TracedService) and patch only that
//! task's status. One account per task, not per namespace: a shared account
//! could write every task's status in the namespace.

use k8s_openapi::api::core::v1::ServiceAccount;
use k8s_openapi::api::rbac::v1::{PolicyRule, Role, RoleBinding, RoleRef, Subject};

use super::validate::ValidatedTask;
use super::{names, object_meta};

/// API group of the custom resources.
const GROUP: &str = "traceval.dev";

/// The ServiceAccount the evaluation pods run as.
pub fn service_account(task: &ValidatedTask) -> ServiceAccount {
    ServiceAccount {
        metadata: object_meta(task, names::rbac_name(&task.name)),
        ..ServiceAccount::default()
    }
}

fn rule(resource: &str, verb: &str, name: &str) -> PolicyRule {
    PolicyRule {
        api_groups: Some(vec![GROUP.to_owned()]),
        resources: Some(vec![resource.to_owned()]),
        resource_names: Some(vec![name.to_owned()]),
        verbs: vec![verb.to_owned()],
        ..PolicyRule::default()
    }
}

/// Get this task, patch this task's status, get the target TracedService.
pub fn role(task: &ValidatedTask) -> Role {
    let mut rules = vec![
        rule("evaluationtasks", "get", &task.name),
        rule("evaluationtasks/status", "patch", &task.name),
    ];
    if let Some(target) = &task.traced_service {
        rules.push(rule("tracedservices", "get", target));
    }
    Role {
        metadata: object_meta(task, names::rbac_name(&task.name)),
        rules: Some(rules),
    }
}

/// Binds the Role to the ServiceAccount.
pub fn role_binding(task: &ValidatedTask) -> RoleBinding {
    let name = names::rbac_name(&task.name);
    RoleBinding {
        metadata: object_meta(task, name.clone()),
        role_ref: RoleRef {
            api_group: "rbac.authorization.k8s.io".to_owned(),
            kind: "Role".to_owned(),
            name: name.clone(),
        },
        subjects: Some(vec![Subject {
            kind: "ServiceAccount".to_owned(),
            name,
            namespace: Some(task.namespace.clone()),
            ..Subject::default()
        }]),
    }
}
