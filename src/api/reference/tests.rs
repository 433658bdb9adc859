use super::*;

#[test]
fn the_reference_covers_every_field_of_both_crds() {
    let text = markdown();
    for needle in [
        "### TracedService\n",
        "### EvaluationTask\n",
        "| `spec.image` | string | yes |",
        "| `spec.port` | integer |  | `8000` | 1 to 65535 |",
        "| `spec.env` | []EnvVar (core/v1) |",
        "`kubectl explain tracedservices.spec.env`",
        "| `spec.tracing.probe` | string |",
        "| `spec.judge.tokenSecretRef.key` | string | yes |",
        "| `status.conditions[].type` |",
    ] {
        assert!(text.contains(needle), "no {needle:?} in\n{text}");
    }
    // Kubernetes types are named, not expanded.
    assert!(!text.contains("spec.env[].valueFrom"), "{text}");
    assert!(!text.contains("spec.tolerations[].key"), "{text}");
}

#[test]
fn every_row_has_six_cells() {
    for line in markdown().lines().filter(|l| l.starts_with('|')) {
        let cells = line.replace("\\|", "").matches('|').count();
        assert_eq!(cells, 7, "{line}");
    }
}

#[test]
fn enums_bounds_and_rules_are_spelled_out() {
    let schema = serde_json::json!({
        "type": "string",
        "enum": ["a", "b"],
        "minLength": 1,
        "maxLength": 8,
        "pattern": "^a|b$",
        "x-kubernetes-validations": [{"rule": "self != 'c'", "message": "not c"}, {"rule": "true"}]
    });
    assert_eq!(
        validations(&schema),
        [
            "length 1 to 8",
            "one of `a`, `b`",
            "pattern `^a|b$`",
            "not c",
            "`true`"
        ]
    );
    assert_eq!(cell("pattern `^a|b$` <x>"), "pattern `^a\\|b$` &lt;x&gt;");
    assert_eq!(cell("`<KEY>`<br>two"), "`<KEY>`<br>two");
    assert_eq!(one_line("one\ntwo\n\nthree"), "one two<br>three");
}

#[test]
fn splice_replaces_only_the_section() {
    let doc = format!("# Title\n\n## CRD reference\n\n{BEGIN}\nold\n{END}\n\nafter\n");
    assert_eq!(section(&doc), Ok("old\n"));
    let new = splice(&doc, "new\n").expect("markers");
    assert_eq!(
        new,
        format!("# Title\n\n## CRD reference\n\n{BEGIN}\nnew\n{END}\n\nafter\n")
    );
    assert_eq!(section("no markers"), Err(MarkerError));
    assert_eq!(section(&format!("{END}\n{BEGIN}\n")), Err(MarkerError));
    assert_eq!(
        section(&format!("{BEGIN}\n{BEGIN}\n{END}\n")),
        Err(MarkerError)
    );
}
