//! `spec.slices`: which traces are evaluated (attribute predicates on their
//! spans or resource) and the attribute the scores are broken down by; and
//! the bounds of the breakdown (its types are in `status`).

use kube::KubeSchema;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Distinct values of `slices.by` kept in a breakdown; the rest are summed
/// under [`OTHER_SLICE`].
pub const MAX_SLICES: usize = 20;
/// The breakdown's entry for values beyond [`MAX_SLICES`].
pub const OTHER_SLICE: &str = "(other)";
/// The breakdown's entry for traces without the attribute.
pub const NO_SLICE: &str = "(none)";

/// Which traces are evaluated, and how their scores are broken down.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("has(self.filter) || has(self.by)").message(
    "slices needs filter, by, or both"
))]
pub struct SlicesSpec {
    /// Only traces matching every predicate are evaluated; the others are
    /// skipped with reason `not in slice`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(min = 1, max = 16))]
    pub filter: Vec<AttributePredicate>,
    /// Break each run's scores down by this attribute's value (resource
    /// first, then the spans in start order): `status.slices`, the
    /// summary's `slices`, each result's `slice`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 256))]
    pub by: Option<String>,
}

/// A trace matches when a span (or its resource) has the attribute with
/// one of the values.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct AttributePredicate {
    /// The attribute key, dotted as exported (`service.version`, `http.route`).
    #[schemars(length(min = 1, max = 256))]
    pub attribute: String,
    /// The values that match (strings; numbers and booleans compare by
    /// their JSON text).
    #[schemars(length(min = 1, max = 32))]
    pub values: Vec<String>,
    /// Where the attribute is looked for (default `any`).
    #[serde(default)]
    pub scope: AttributeScope,
}

/// Where a predicate's attribute is looked for.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub enum AttributeScope {
    /// The resource of any span (`service.version`, `k8s.pod.name`).
    Resource,
    /// The attributes of any span (`http.route`).
    Span,
    /// Either.
    #[default]
    Any,
}
