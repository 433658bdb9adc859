//! The real node's package index (tests/cluster/node/) serves every package
//! the operator's probes install by default: a pod's pip init container can
//! reach nothing else, so a probe package missing there fails every
//! TracedService on the real node.

use std::collections::BTreeSet;

use traceval::resources::tracedservice::validate::{
    ARMS_PROBE_PACKAGES, OPENTELEMETRY_PROBE_PACKAGES,
};

#[test]
fn the_index_serves_every_default_probe_package() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/cluster/node/index-requirements.txt"
    );
    let text = std::fs::read_to_string(path).expect("tests/cluster/node/index-requirements.txt");
    let listed: BTreeSet<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    assert!(
        listed.contains("flask") && listed.contains("dashscope"),
        "{listed:?}"
    );
    let missing: Vec<&str> = OPENTELEMETRY_PROBE_PACKAGES
        .iter()
        .chain(ARMS_PROBE_PACKAGES)
        .copied()
        .filter(|p| !listed.contains(p))
        .collect();
    assert!(
        missing.is_empty(),
        "{path} lacks the probe packages {missing:?}: add them (exact pins) so the in-cluster index serves them"
    );
}
