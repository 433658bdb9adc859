//! `crds/` must be exactly what `traceval crd` generates from the Rust types.

use std::path::PathBuf;

#[test]
fn crds_directory_matches_the_types() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("crds");
    let regenerate = "regenerate with `make crds` (cargo run -q -- crd --dir crds)";
    let mut expected_files = Vec::new();
    for crd in traceval::api::crds() {
        let file = traceval::api::crd_file_name(&crd);
        let generated = traceval::api::crd_yaml(&crd).expect("CRD serialises");
        let path = dir.join(&file);
        let on_disk = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("crds/{file} cannot be read ({e}); {regenerate}"));
        assert!(
            on_disk == generated,
            "crds/{file} is out of date with the Rust types; {regenerate}"
        );
        expected_files.push(file);
    }
    let mut stale: Vec<String> = std::fs::read_dir(&dir)
        .expect("crds/ exists")
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|name| name.ends_with(".yaml") && !expected_files.contains(name))
        .collect();
    stale.sort();
    assert!(
        stale.is_empty(),
        "crds/ has files no CRD generates: {stale:?}; delete them"
    );
}
