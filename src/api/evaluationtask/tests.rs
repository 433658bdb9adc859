//! The CRD's schema and CEL rules, evaluated client-side with kube-cel as
//! the API server would (the cluster tests apply the same YAML for real).

use kube::CustomResourceExt;
use serde_json::{Value, json};

use super::*;

fn schema() -> Value {
    let crd = EvaluationTask::crd();
    let version = &crd.spec.versions[0];
    let schema = version
        .schema
        .as_ref()
        .and_then(|s| s.open_api_v3_schema.as_ref())
        .unwrap();
    serde_json::to_value(schema).unwrap()
}

fn batch() -> Value {
    json!({
        "apiVersion": "traceval.dev/v1alpha1",
        "kind": "EvaluationTask",
        "metadata": {"name": "qa", "namespace": "default"},
        "spec": {
            "target": {"tracedService": "sample-app"},
            "judge": {"provider": "qwen-max", "tokenSecretRef": {"name": "judge", "key": "token"}},
            "extraction": {
                "query": {"spanName": "LLM", "jsonPathInSpan": "attributes.input.value"},
                "answer": {"spanName": "LLM", "jsonPathInSpan": "attributes.output.value"},
                "context": {"spanName": "retrieve", "jsonPathInSpan": "attributes.retrieval.documents[*].document.content"}
            },
            "schedule": "*/10 * * * *",
            "sampling": {
                "start": "2026-11-27T00:00:00Z",
                "end": "2026-11-28T00:00:00Z",
                "policy": {"probability": {"ratio": 0.2}}
            }
        }
    })
}

/// The messages of the CEL rules `object` breaks.
fn violations(object: &Value) -> Vec<String> {
    match kube_cel::Validator::new().validate(&schema(), object, None) {
        Ok(()) => Vec::new(),
        Err(errors) => errors
            .into_vec()
            .into_iter()
            .map(|e| e.to_string())
            .collect(),
    }
}

fn with(mut object: Value, pointer: &str, value: Value) -> Value {
    *object.pointer_mut(pointer).unwrap() = value;
    object
}

fn without(mut object: Value, parent: &str, key: &str) -> Value {
    object
        .pointer_mut(parent)
        .and_then(Value::as_object_mut)
        .unwrap()
        .remove(key);
    object
}

#[test]
fn crd_names_and_rules_compile() {
    let crd = EvaluationTask::crd();
    assert_eq!(crd.spec.group, "traceval.dev");
    assert_eq!(crd.spec.names.kind, "EvaluationTask");
    assert_eq!(
        crd.spec.names.short_names,
        Some(vec!["evaltask".to_string()])
    );
    let compiled = kube_cel::compile_schema(&schema());
    assert!(!compiled.has_errors());
    let columns: Vec<_> = crd.spec.versions[0]
        .additional_printer_columns
        .iter()
        .flatten()
        .map(|c| c.name.as_str())
        .collect();
    assert_eq!(
        columns,
        [
            "Target",
            "Phase",
            "Evaluated",
            "Correctness",
            "Faithfulness",
            "nDCG",
            "Last Run",
            "Age"
        ]
    );
}

#[test]
fn a_valid_batch_task_passes_and_deserializes_with_defaults() {
    assert_eq!(violations(&batch()), Vec::<String>::new());
    let task: EvaluationTask = serde_json::from_value(batch()).unwrap();
    assert_eq!(task.spec.metrics, MetricsSpec::default());
    assert_eq!(task.spec.metrics.retrieval.k, 5);
    assert_eq!(task.spec.judge.provider, Some(JudgeProvider::QwenMax));
}

#[test]
fn a_valid_single_trace_task_passes() {
    let single = without(
        without(
            with(batch(), "/spec/sampling", json!(null)),
            "/spec",
            "sampling",
        ),
        "/spec",
        "schedule",
    );
    let single = with(single, "/spec/target", json!({"serviceName": "sample-app"}));
    let mut single = single;
    single["spec"]["traceIDs"] = json!(["0af7651916cd43dd8448eb211c80319c"]);
    assert_eq!(violations(&single), Vec::<String>::new());
}

#[test]
fn exactly_one_mode() {
    let mut both = batch();
    both["spec"]["traceIDs"] = json!(["0af7651916cd43dd8448eb211c80319c"]);
    assert!(
        violations(&both)
            .iter()
            .any(|m| m.contains("exactly one mode"))
    );
    let neither = without(without(batch(), "/spec", "sampling"), "/spec", "schedule");
    assert!(
        violations(&neither)
            .iter()
            .any(|m| m.contains("exactly one mode"))
    );
}

#[test]
fn sampling_rules() {
    let reversed = with(batch(), "/spec/sampling/end", json!("2026-11-26T00:00:00Z"));
    assert!(
        violations(&reversed)
            .iter()
            .any(|m| m.contains("after sampling.start"))
    );

    for ratio in [json!(0.0), json!(1.5), json!(-0.1)] {
        let bad = with(
            batch(),
            "/spec/sampling/policy/probability/ratio",
            ratio.clone(),
        );
        assert!(
            violations(&bad).iter().any(|m| m.contains("(0, 1]")),
            "ratio {ratio}"
        );
    }
    let one = with(
        batch(),
        "/spec/sampling/policy/probability/ratio",
        json!(1.0),
    );
    assert_eq!(violations(&one), Vec::<String>::new());

    let window = with(
        batch(),
        "/spec/sampling/policy",
        json!({"timeWindow": {"minutes": 0}}),
    );
    assert!(violations(&window).iter().any(|m| m.contains("at least 1")));
    let both = with(
        batch(),
        "/spec/sampling/policy",
        json!({"timeWindow": {"minutes": 5}, "probability": {"ratio": 0.5}}),
    );
    assert!(
        violations(&both)
            .iter()
            .any(|m| m.contains("exactly one of timeWindow"))
    );
}

#[test]
fn extraction_rules() {
    let star = with(
        batch(),
        "/spec/extraction/query/jsonPathInSpan",
        json!("attributes.docs[*]"),
    );
    assert!(
        violations(&star)
            .iter()
            .any(|m| m.contains("query paths select one value"))
    );
    let mut star_answer = batch();
    star_answer["spec"]["extraction"]["answer"]["jsonPathInSpanValue"] = json!("text[*]");
    assert!(
        violations(&star_answer)
            .iter()
            .any(|m| m.contains("answer paths"))
    );
    let blank = with(
        batch(),
        "/spec/extraction/query/jsonPathInSpan",
        json!("  "),
    );
    assert!(
        violations(&blank)
            .iter()
            .any(|m| m.contains("must not be empty"))
    );
}

#[test]
fn judge_and_target_rules() {
    let custom = with(
        batch(),
        "/spec/judge",
        json!({"provider": "openai-compatible"}),
    );
    assert!(
        violations(&custom)
            .iter()
            .any(|m| m.contains("needs baseURL and model"))
    );
    let custom_ok = with(
        batch(),
        "/spec/judge",
        json!({"provider": "openai-compatible", "baseURL": "http://judge:8080/v1", "model": "m"}),
    );
    assert_eq!(violations(&custom_ok), Vec::<String>::new());
    // No provider: the operator's default preset applies (checked by the
    // operator, which knows it), so the CRD accepts the judge as it is.
    let no_provider = with(
        batch(),
        "/spec/judge",
        json!({"tokenSecretRef": {"name": "judge", "key": "token"}}),
    );
    assert_eq!(violations(&no_provider), Vec::<String>::new());
    let no_target = with(batch(), "/spec/target", json!({}));
    assert!(
        violations(&no_target)
            .iter()
            .any(|m| m.contains("target needs"))
    );
}

#[test]
fn status_serializes_only_what_is_set() {
    let status = EvaluationTaskStatus {
        averages: Some(Scores {
            correctness: Some(0.5),
            ..Default::default()
        }),
        ..Default::default()
    };
    assert_eq!(
        serde_json::to_value(&status).unwrap(),
        json!({"averages": {"correctness": 0.5}})
    );
}

#[test]
fn judge_provider_names_are_the_crd_enum() {
    let judge = &schema()["properties"]["spec"]["properties"]["judge"]["properties"]["provider"];
    let names: Vec<&str> = judge["enum"]
        .as_array()
        .unwrap_or_else(|| panic!("no enum in {judge}"))
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(names, JudgeProvider::ALL.map(JudgeProvider::as_str));
    for provider in JudgeProvider::ALL {
        assert_eq!(
            serde_json::to_value(provider).unwrap(),
            json!(provider.as_str())
        );
        let parsed = <JudgeProvider as clap::ValueEnum>::from_str(provider.as_str(), false);
        assert_eq!(parsed, Ok(provider));
    }
    assert!(<JudgeProvider as clap::ValueEnum>::from_str("gpt-judge", false).is_err());
}
