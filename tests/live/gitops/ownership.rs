//! Who owns what: the operator never writes `spec`.

use std::collections::BTreeSet;

use kube::api::DynamicObject;
use serde_json::Value;
use traceval::resources::meta::MANAGER;

use crate::GITOPS;

/// `stored` is `applied` plus values the schema defaults, nothing else.
pub fn assert_applied_plus_defaults(
    what: &str,
    path: &str,
    applied: &Value,
    stored: &Value,
    schema: &Value,
) {
    match (applied, stored) {
        (Value::Object(applied), Value::Object(stored)) => {
            for field in applied.keys() {
                assert!(
                    stored.contains_key(field),
                    "{what}: applied {path}.{field} was dropped by the server"
                );
            }
            for (field, value) in stored {
                let sub = schema
                    .pointer(&format!("/properties/{field}"))
                    .or_else(|| schema.get("additionalProperties"))
                    .unwrap_or(&Value::Null);
                let path = format!("{path}.{field}");
                match applied.get(field) {
                    Some(applied) => assert_applied_plus_defaults(what, &path, applied, value, sub),
                    None => {
                        let default = sub.get("default").unwrap_or_else(|| {
                            panic!(
                                "{what}: {path} = {value} was not applied and has no schema \
                                 default: someone wrote it into spec"
                            )
                        });
                        assert_applied_plus_defaults(what, &path, default, value, sub);
                    }
                }
            }
        }
        (Value::Array(applied), Value::Array(stored)) if applied.len() == stored.len() => {
            let items = schema.get("items").unwrap_or(&Value::Null);
            for (index, (a, s)) in applied.iter().zip(stored).enumerate() {
                assert_applied_plus_defaults(what, &format!("{path}[{index}]"), a, s, items);
            }
        }
        // The server stores the default `1.0` as `1`: numbers compare by value.
        (Value::Number(a), Value::Number(s)) => assert!(
            a == s || a.as_f64() == s.as_f64(),
            "{what}: {path} is {s}, applied {a}"
        ),
        _ => assert_eq!(
            applied, stored,
            "{what}: {path} differs from what was applied"
        ),
    }
}

/// The operator's field-manager entries cover only `status` (through the
/// status subresource) and `metadata.finalizers`; only the GitOps manager owns `spec`.
pub fn assert_operator_leaves_spec_alone(what: &str, object: &DynamicObject) {
    let entries = object
        .metadata
        .managed_fields
        .as_deref()
        .unwrap_or_default();
    for entry in entries {
        let manager = entry.manager.as_deref().unwrap_or_default();
        let fields = entry
            .fields_v1
            .as_ref()
            .map(|f| f.0.clone())
            .unwrap_or(Value::Null);
        let top: BTreeSet<&str> = fields
            .as_object()
            .map(|m| m.keys().map(String::as_str).collect())
            .unwrap_or_default();
        if top.contains("f:spec") {
            assert_eq!(
                manager, GITOPS,
                "{what}: {manager} owns spec fields: {fields}"
            );
        }
        if manager != MANAGER {
            continue;
        }
        if entry.subresource.as_deref() == Some("status") {
            assert!(
                top.iter().all(|f| *f == "f:status"),
                "{what}: the operator's status entry covers {top:?}"
            );
        } else {
            let metadata: BTreeSet<&str> = fields["f:metadata"]
                .as_object()
                .map(|m| m.keys().map(String::as_str).collect())
                .unwrap_or_default();
            assert!(
                top.iter().all(|f| *f == "f:metadata")
                    && metadata.iter().all(|f| *f == "f:finalizers"),
                "{what}: the operator wrote more than finalizers outside status: {fields}"
            );
        }
    }
    let managers: BTreeSet<&str> = entries
        .iter()
        .filter_map(|e| e.manager.as_deref())
        .collect();
    assert!(
        managers.contains(MANAGER),
        "{what}: the operator never wrote status (managers: {managers:?})"
    );
}

pub fn spec_schema(kind: &str) -> Value {
    let crd = traceval::api::crds()
        .into_iter()
        .find(|crd| crd.spec.names.kind == kind)
        .unwrap_or_else(|| panic!("no CRD of kind {kind}"));
    let schema = serde_json::to_value(&crd.spec.versions[0].schema).expect("schema as JSON");
    schema
        .pointer("/openAPIV3Schema/properties/spec")
        .cloned()
        .expect("spec schema")
}

#[cfg(test)]
mod tests {
    use std::panic::catch_unwind;

    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{FieldsV1, ManagedFieldsEntry};
    use kube::api::{ApiResource, DynamicObject};
    use serde_json::json;

    use super::*;

    #[test]
    fn spec_may_hold_only_what_was_applied_and_schema_defaults() {
        let schema = json!({"properties": {
            "image": {"type": "string"},
            "port": {"type": "integer", "default": 8000},
            "ratio": {"type": "number", "default": 1.0},
            "extra": {"type": "string"}
        }});
        let applied = json!({"image": "x"});
        let check = |stored: Value| {
            let (applied, schema) = (applied.clone(), schema.clone());
            catch_unwind(move || {
                assert_applied_plus_defaults("t", "spec", &applied, &stored, &schema)
            })
            .is_ok()
        };
        assert!(check(json!({"image": "x", "port": 8000, "ratio": 1})));
        assert!(!check(json!({"image": "x", "extra": "written by someone"})));
        assert!(!check(json!({"image": "y"})));
        assert!(!check(json!({"image": "x", "port": 9000})));
        assert!(!check(json!({})));
    }

    fn object(entries: Vec<(&str, Option<&str>, Value)>) -> DynamicObject {
        let resource = ApiResource::erase::<traceval::api::TracedService>(&());
        let mut object = DynamicObject::new("x", &resource);
        object.metadata.managed_fields = Some(
            entries
                .into_iter()
                .map(|(manager, subresource, fields)| ManagedFieldsEntry {
                    manager: Some(manager.to_owned()),
                    subresource: subresource.map(str::to_owned),
                    fields_v1: Some(FieldsV1(fields)),
                    ..ManagedFieldsEntry::default()
                })
                .collect(),
        );
        object
    }

    #[test]
    fn the_operator_may_own_only_status_and_finalizers() {
        let gitops = (GITOPS, None, json!({"f:spec": {"f:image": {}}}));
        let status = (
            MANAGER,
            Some("status"),
            json!({"f:status": {"f:phase": {}}}),
        );
        let finalizers = (MANAGER, None, json!({"f:metadata": {"f:finalizers": {}}}));
        let check = |entries: Vec<(&'static str, Option<&'static str>, Value)>| {
            catch_unwind(|| assert_operator_leaves_spec_alone("t", &object(entries))).is_ok()
        };
        assert!(check(vec![gitops.clone(), status.clone(), finalizers]));
        let spec = (MANAGER, None, json!({"f:spec": {"f:port": {}}}));
        assert!(!check(vec![gitops.clone(), status.clone(), spec]));
        let annotations = (MANAGER, None, json!({"f:metadata": {"f:annotations": {}}}));
        assert!(!check(vec![gitops.clone(), status, annotations]));
        assert!(!check(vec![gitops]), "the operator wrote no status at all");
    }
}
