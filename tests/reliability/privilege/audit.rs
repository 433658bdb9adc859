//! The API server's audit log as written by `tests/cluster/up`
//! (`$TRACEVAL_CLUSTER_STATE/audit.log`, JSON lines, Metadata level, only
//! ServiceAccount requests).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::grants::Grant;

/// One request as the API server answered it.
#[derive(Clone, Debug)]
pub struct Request {
    pub verb: String,
    pub group: String,
    /// `resource` or `resource/subresource`.
    pub resource: String,
    pub code: u16,
}

impl Request {
    pub fn describe(&self) -> String {
        format!(
            "{} {}/{} ({})",
            self.verb, self.group, self.resource, self.code
        )
    }

    /// The grants this request needed. A server-side apply that created its
    /// object (201) needed `create` as well as `patch`.
    pub fn grants_used(&self) -> Vec<Grant> {
        let mut used = vec![Grant::new(&self.group, &self.resource, &self.verb)];
        if self.verb == "patch" && self.code == 201 {
            used.push(Grant::new(&self.group, &self.resource, "create"));
        }
        used
    }
}

/// Where the cluster writes its audit log; fails clearly when the running
/// cluster predates audit logging.
pub fn log_path() -> PathBuf {
    let state = std::env::var("TRACEVAL_CLUSTER_STATE").expect(
        "TRACEVAL_CLUSTER_STATE is not set: start the local cluster with `eval \"$(tests/cluster/up)\"`",
    );
    let path = Path::new(&state).join("audit.log");
    assert!(
        path.exists(),
        "{} does not exist: this cluster's kube-apiserver was started without audit \
         logging; restart it with tests/cluster/down && tests/cluster/up",
        path.display()
    );
    path
}

/// Every request made by `user`, once each (watches are logged at two
/// stages), from the log and its rotated backups.
pub fn requests_of(log: &Path, user: &str) -> Vec<Request> {
    let dir = log.parent().expect("the log's directory");
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("the cluster state directory")
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|p| {
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or_default();
            name.starts_with("audit") && name.ends_with(".log")
        })
        .collect();
    files.sort();
    let mut by_id: BTreeMap<String, Request> = BTreeMap::new();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap_or_default();
        for line in text.lines() {
            let Ok(event) = serde_json::from_str::<Value>(line) else {
                continue; // a line being written right now
            };
            if event["user"]["username"] != user {
                continue;
            }
            let object = &event["objectRef"];
            let Some(resource) = object["resource"].as_str() else {
                continue; // discovery and other non-resource URLs
            };
            let resource = match object["subresource"].as_str() {
                Some(sub) => format!("{resource}/{sub}"),
                None => resource.to_owned(),
            };
            let request = Request {
                verb: event["verb"].as_str().unwrap_or_default().to_owned(),
                group: object["apiGroup"].as_str().unwrap_or_default().to_owned(),
                resource,
                code: event["responseStatus"]["code"]
                    .as_u64()
                    .and_then(|c| u16::try_from(c).ok())
                    .unwrap_or(0),
            };
            let id = event["auditID"].as_str().unwrap_or_default().to_owned();
            by_id.insert(id, request);
        }
    }
    by_id.into_values().collect()
}
