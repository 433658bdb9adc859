//! The spec hash put on the pod template: it changes with everything that
//! shapes the pods (tracing, probe, env, packages, command, mounts, ...) and
//! not with the replica count, so editing those rolls the pods.

use crate::api::TracedServiceSpec;
use crate::api::hash::short_hash;

/// Annotation on the pod template carrying [`spec_hash`].
pub const SPEC_HASH_ANNOTATION: &str = "traceval.dev/spec-hash";

/// First 16 hex digits of the SHA-256 of the spec's JSON with `replicas` cleared.
pub fn spec_hash(spec: &TracedServiceSpec) -> String {
    let pod_shaping = TracedServiceSpec {
        replicas: None,
        ..spec.clone()
    };
    // Serialising plain structs and BTreeMaps is deterministic; it cannot fail.
    let json = serde_json::to_vec(&pod_shaping).unwrap_or_default();
    short_hash(&json, 8)
}
