//! What a rendered chart's Roles and ClusterRoles grant, one verb on one
//! resource (with subresource) of one API group at a time.

use std::collections::BTreeSet;
use std::fmt;

use serde_yaml::Value;

use crate::tools::strings;

/// One verb on one resource, e.g. `patch apps/deployments`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Grant {
    pub group: String,
    pub resource: String,
    pub verb: String,
}

impl Grant {
    pub fn new(group: &str, resource: &str, verb: &str) -> Self {
        Self {
            group: group.to_owned(),
            resource: resource.to_owned(),
            verb: verb.to_owned(),
        }
    }
}

impl fmt::Display for Grant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let group = if self.group.is_empty() {
            "core"
        } else {
            &self.group
        };
        write!(f, "{} {group}/{}", self.verb, self.resource)
    }
}

/// Every grant of every Role and ClusterRole among `docs`. Wildcards are
/// refused: they cannot be least privilege.
pub fn granted(docs: &[Value]) -> BTreeSet<Grant> {
    let mut grants = BTreeSet::new();
    for doc in docs {
        if doc["apiVersion"] != "rbac.authorization.k8s.io/v1"
            || !(doc["kind"] == "Role" || doc["kind"] == "ClusterRole")
        {
            continue;
        }
        let rules = doc["rules"].as_sequence().cloned().unwrap_or_default();
        for rule in &rules {
            for group in strings(&rule["apiGroups"]) {
                for resource in strings(&rule["resources"]) {
                    for verb in strings(&rule["verbs"]) {
                        assert!(
                            !group.contains('*') && !resource.contains('*') && verb != "*",
                            "wildcard in {:?}",
                            doc["metadata"]["name"]
                        );
                        grants.insert(Grant::new(group, resource, verb));
                    }
                }
            }
        }
    }
    assert!(!grants.is_empty(), "the chart rendered no RBAC rules");
    grants
}
