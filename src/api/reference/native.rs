//! Which fields of the CRDs are Kubernetes' own types (EnvVar,
//! ResourceRequirements, LabelSelector, ...), found from the schemars
//! definitions of the Rust types: k8s-openapi names its schemas
//! `io.k8s.<group path>.<Kind>`. The reference names them instead of
//! repeating their upstream documentation field by field.

use std::collections::BTreeMap;

use schemars::{JsonSchema, SchemaGenerator};
use serde_json::{Map, Value};

/// A Kubernetes API type, e.g. `io.k8s.api.core.v1.EnvVar`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NativeType {
    /// The schema name k8s-openapi gives it.
    pub schema_name: String,
}

impl NativeType {
    /// The kind, e.g. `EnvVar`.
    pub fn kind(&self) -> &str {
        self.schema_name
            .rsplit('.')
            .next()
            .unwrap_or(&self.schema_name)
    }

    /// Group and version, e.g. `core/v1` or `meta/v1`; `None` for
    /// versionless types such as `Quantity`.
    pub fn group_version(&self) -> Option<String> {
        let mut parts: Vec<&str> = self.schema_name.split('.').collect();
        parts.pop();
        let version = parts.pop().filter(|v| v.starts_with('v'))?;
        let group = parts.pop()?;
        Some(format!("{group}/{version}"))
    }

    /// `Kind (group/version)`.
    pub fn display(&self) -> String {
        match self.group_version() {
            Some(gv) => format!("{} ({gv})", self.kind()),
            None => self.kind().to_owned(),
        }
    }
}

/// The paths (`spec.env[]`, `spec.resources`) of `T`'s schema that are
/// Kubernetes types, under `prefix`.
pub fn native_paths<T: JsonSchema>(prefix: &str) -> BTreeMap<String, NativeType> {
    let schema = SchemaGenerator::default().into_root_schema_for::<T>();
    let root = serde_json::to_value(&schema).unwrap_or(Value::Null);
    let defs = root
        .get("$defs")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let mut out = BTreeMap::new();
    walk(&root, &defs, prefix, &mut out);
    out
}

fn walk(
    node: &Value,
    defs: &Map<String, Value>,
    path: &str,
    out: &mut BTreeMap<String, NativeType>,
) {
    if let Some(reference) = node.get("$ref").and_then(Value::as_str) {
        let name = reference.trim_start_matches("#/$defs/");
        if name.starts_with("io.k8s.") {
            out.insert(
                path.to_owned(),
                NativeType {
                    schema_name: name.to_owned(),
                },
            );
            return;
        }
        if let Some(definition) = defs.get(name) {
            walk(definition, defs, path, out);
        }
    }
    for combinator in ["anyOf", "oneOf", "allOf"] {
        for branch in node
            .get(combinator)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            walk(branch, defs, path, out);
        }
    }
    if let Some(properties) = node.get("properties").and_then(Value::as_object) {
        for (name, property) in properties {
            walk(property, defs, &format!("{path}.{name}"), out);
        }
    }
    if let Some(items) = node.get("items") {
        walk(items, defs, &format!("{path}[]"), out);
    }
    if let Some(values) = node.get("additionalProperties").filter(|v| v.is_object()) {
        walk(values, defs, &format!("{path}{{}}"), out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::TracedServiceSpec;

    #[test]
    fn finds_the_kubernetes_types_of_the_traced_service_spec() {
        let paths = native_paths::<TracedServiceSpec>("spec");
        let names: BTreeMap<&str, &str> = paths
            .iter()
            .map(|(path, t)| (path.as_str(), t.schema_name.as_str()))
            .collect();
        eprintln!("{names:#?}");
        assert_eq!(names.get("spec.env[]"), Some(&"io.k8s.api.core.v1.EnvVar"));
        assert_eq!(
            names.get("spec.resources"),
            Some(&"io.k8s.api.core.v1.ResourceRequirements")
        );
        let selector = &paths["spec.network.ingress[].podSelector"];
        assert_eq!(selector.display(), "LabelSelector (meta/v1)");
    }
}
