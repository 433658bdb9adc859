//! The CRD's CEL rules, evaluated client-side with kube-cel against the
//! generated schema (defaults applied, as the API server does). The same
//! manifests are applied to a real API server by the cluster tests.

use std::path::PathBuf;

use kube::CustomResourceExt;
use serde_json::Value;

use super::TracedService;

fn schema() -> Value {
    let crd = TracedService::crd();
    let schema = crd.spec.versions[0]
        .schema
        .as_ref()
        .and_then(|s| s.open_api_v3_schema.as_ref())
        .expect("schema");
    serde_json::to_value(schema).expect("schema as JSON")
}

fn fixtures(dir: &str) -> Vec<(String, String)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(dir);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("fixture dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|p| {
            let text = std::fs::read_to_string(&p).expect("read fixture");
            (
                p.file_name().expect("name").to_string_lossy().into_owned(),
                text,
            )
        })
        .collect()
}

fn header<'a>(text: &'a str, key: &str) -> &'a str {
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("# {key}: ")))
        .unwrap_or_else(|| panic!("fixture lacks '# {key}:'"))
}

fn cel_errors(text: &str) -> Vec<String> {
    let object: Value = serde_yaml::from_str(text).expect("YAML");
    match kube_cel::Validator::new().validate(&schema(), &object, None) {
        Ok(()) => Vec::new(),
        Err(errors) => errors.iter().map(ToString::to_string).collect(),
    }
}

#[test]
fn every_rule_compiles() {
    let compiled = kube_cel::compile_schema(&schema());
    let errors: Vec<String> = compiled
        .compilation_errors()
        .iter()
        .map(|e| format!("{e:?}"))
        .collect();
    assert!(errors.is_empty(), "{errors:#?}");
}

#[test]
fn valid_fixtures_pass_every_rule() {
    for (name, text) in fixtures("tests/fixtures/tracedservice") {
        assert_eq!(cel_errors(&text), Vec::<String>::new(), "{name}");
    }
}

#[test]
fn invalid_fixtures_fail_with_their_message() {
    let mut checked = 0;
    for (name, text) in fixtures("tests/fixtures/tracedservice/invalid") {
        if header(&text, "checked-by") != "cel" {
            continue; // OpenAPI bounds: checked by the API server in the cluster tests
        }
        let expect = header(&text, "expect");
        let errors = cel_errors(&text);
        assert!(
            errors.iter().any(|e| e.contains(expect)),
            "{name}: expected an error containing {expect:?}, got {errors:#?}"
        );
        checked += 1;
    }
    assert!(checked >= 10, "only {checked} CEL fixtures");
}

#[test]
fn opentelemetry_without_endpoint_is_left_to_the_operator() {
    // The operator may have a default endpoint (`--default-trace-endpoint`),
    // which the CRD cannot see: it accepts the spec and the operator decides.
    let text = "apiVersion: traceval.dev/v1alpha1\nkind: TracedService\n\
        metadata: {name: app, namespace: default}\n\
        spec:\n  image: python:3.12-slim\n  command: [python, app.py]\n  \
        tracing: {probe: opentelemetry}\n";
    assert_eq!(cel_errors(text), Vec::<String>::new());
}
