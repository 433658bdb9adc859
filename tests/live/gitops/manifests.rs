//! The manifests of `examples/`, where they go, what they reference, and
//! applying them as Argo CD does.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use kube::api::{Api, DynamicObject, Patch, PatchParams};
use kube::core::{ApiResource, GroupVersionKind};
use kube::discovery::{self, Scope};
use kube::{Client, Resource};
use serde_json::Value;
use traceval::api::TracedService;

use crate::GITOPS;

/// One manifest of `examples/`.
pub struct Manifest {
    pub file: String,
    pub kind: String,
    pub name: String,
    pub body: Value,
    /// Index of the test namespace it goes to.
    pub namespace: usize,
    /// Where it is served, from discovery.
    pub resource: ApiResource,
}

impl Manifest {
    /// A TracedService or EvaluationTask: reconciled by the operator and
    /// checked for spec ownership; other kinds are only applied and diffed.
    pub fn is_custom(&self) -> bool {
        self.resource.group == TracedService::group(&()) && self.resource.version == "v1alpha1"
    }

    pub fn describe(&self) -> String {
        format!("{} {} ({})", self.kind, self.name, self.file)
    }
}

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Every document of `examples/*.yaml`, spread over as few namespaces as
/// possible with no two of one kind and name in the same one (the examples
/// offer alternatives under one name, e.g. the ARMS and OpenTelemetry variants).
pub async fn manifests(client: &Client) -> (Vec<Manifest>, usize) {
    let mut files: Vec<PathBuf> = std::fs::read_dir(repo().join("examples"))
        .expect("examples/")
        .filter_map(|entry| Some(entry.ok()?.path()))
        .filter(|path| path.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    let mut taken: Vec<BTreeSet<(String, String)>> = Vec::new();
    let mut manifests = Vec::new();
    for path in files {
        let file = path
            .strip_prefix(repo())
            .unwrap_or(&path)
            .display()
            .to_string();
        let text = std::fs::read_to_string(&path).expect("read example");
        for document in serde_yaml::Deserializer::from_str(&text) {
            let body: Value = serde::Deserialize::deserialize(document)
                .unwrap_or_else(|e| panic!("{file}: not YAML: {e}"));
            if body.is_null() {
                continue;
            }
            let field = |pointer: &str| {
                body.pointer(pointer)
                    .and_then(Value::as_str)
                    .unwrap_or_else(|| panic!("{file}: no {pointer}"))
                    .to_owned()
            };
            let (kind, name) = (field("/kind"), field("/metadata/name"));
            let api_version = field("/apiVersion");
            let (group, version) = api_version.rsplit_once('/').unwrap_or(("", &api_version));
            let gvk = GroupVersionKind::gvk(group, version, &kind);
            let (resource, capabilities) = discovery::pinned_kind(client, &gvk)
                .await
                .unwrap_or_else(|e| panic!("{file}: {api_version} {kind} is not served: {e}"));
            assert_eq!(
                capabilities.scope,
                Scope::Namespaced,
                "{file}: {kind} is cluster-scoped; examples must be namespaced"
            );
            assert!(
                body.pointer("/metadata/namespace").is_none(),
                "{file}: examples name no namespace, so they apply anywhere"
            );
            let id = (kind.clone(), name.clone());
            let namespace = match taken.iter().position(|ids| !ids.contains(&id)) {
                Some(index) => index,
                None => {
                    taken.push(BTreeSet::new());
                    taken.len() - 1
                }
            };
            taken[namespace].insert(id);
            manifests.push(Manifest {
                file: file.clone(),
                kind,
                name,
                body,
                namespace,
                resource,
            });
        }
    }
    let kinds: BTreeSet<&str> = manifests.iter().map(|m| m.kind.as_str()).collect();
    assert!(
        kinds.contains("TracedService") && kinds.contains("EvaluationTask"),
        "examples/ should hold both kinds, has {kinds:?}"
    );
    (manifests, taken.len())
}

/// Secrets a manifest references, with the keys it reads. A reference
/// without `key` names a whole Secret: the OSS credentials (`akId`, `akSecret`).
pub fn secret_refs(value: &Value, out: &mut BTreeMap<String, BTreeSet<String>>) {
    match value {
        Value::Object(map) => {
            for (field, inner) in map {
                let is_ref = field == "secretKeyRef" || field.ends_with("SecretRef");
                if is_ref && let Some(name) = inner.get("name").and_then(Value::as_str) {
                    let keys = out.entry(name.to_owned()).or_default();
                    match inner.get("key").and_then(Value::as_str) {
                        Some(key) => {
                            keys.insert(key.to_owned());
                        }
                        None => keys.extend(["akId".to_owned(), "akSecret".to_owned()]),
                    }
                }
                secret_refs(inner, out);
            }
        }
        Value::Array(items) => items.iter().for_each(|item| secret_refs(item, out)),
        _ => {}
    }
}

pub fn dynamic(client: &Client, namespace: &str, resource: &ApiResource) -> Api<DynamicObject> {
    Api::namespaced_with(client.clone(), namespace, resource)
}

/// Applies `manifest` as Argo CD does and returns what the server stored.
pub async fn apply(client: &Client, namespace: &str, manifest: &Manifest) -> DynamicObject {
    let mut object: DynamicObject =
        serde_json::from_value(manifest.body.clone()).expect("manifest as an object");
    object.metadata.namespace = Some(namespace.to_owned());
    dynamic(client, namespace, &manifest.resource)
        .patch(
            &manifest.name,
            &PatchParams::apply(GITOPS),
            &Patch::Apply(&object),
        )
        .await
        .unwrap_or_else(|e| panic!("server-side apply of {}: {e}", manifest.describe()))
}

/// `kubectl diff --server-side` of one manifest: must find nothing.
pub fn assert_kubectl_diff_empty(namespace: &str, manifest: &Manifest) {
    let mut child = Command::new("kubectl")
        .args(["diff", "--server-side", "--field-manager", GITOPS])
        .args(["--namespace", namespace, "-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("kubectl (on PATH after `eval \"$(tests/cluster/up)\"`)");
    let yaml = serde_yaml::to_string(&manifest.body).expect("manifest as YAML");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(yaml.as_bytes())
        .expect("write manifest to kubectl");
    let out = child.wait_with_output().expect("kubectl diff");
    assert!(
        out.status.code() == Some(0) && out.stdout.is_empty(),
        "kubectl diff --server-side of {} is not empty ({:?}):\n{}{}",
        manifest.describe(),
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
