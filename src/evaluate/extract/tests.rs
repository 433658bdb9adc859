use serde_json::{Value, json};

use super::*;
use crate::evaluate::trace::TraceCollector;

const TRACE: &str = "0af7651916cd43dd8448eb211c80319c";

fn attr(key: &str, value: &str) -> Value {
    json!({"key": key, "value": {"stringValue": value}})
}

fn span(id: u64, name: &str, start: u64, attributes: Vec<Value>) -> Value {
    json!({
        "traceId": TRACE,
        "spanId": format!("{id:016x}"),
        "name": name,
        "startTimeUnixNano": start.to_string(),
        "endTimeUnixNano": (start + 10).to_string(),
        "attributes": attributes,
    })
}

fn trace(spans: Vec<Value>) -> Trace {
    let mut collector = TraceCollector::default();
    collector.add(
        serde_json::from_value(json!({"resourceSpans": [{"scopeSpans": [{"spans": spans}]}]}))
            .unwrap(),
    );
    collector.finish().remove(0)
}

fn rule(span_name: &str, path: &str, value_path: Option<&str>) -> ExtractionRule {
    ExtractionRule {
        span_name: span_name.into(),
        json_path_in_span: path.into(),
        json_path_in_span_value: value_path.map(Into::into),
    }
}

fn extractor(
    query: ExtractionRule,
    answer: ExtractionRule,
    context: Option<ExtractionRule>,
) -> Extractor {
    Extractor::new(&ExtractionSpec {
        preset: None,
        query: Some(query),
        answer: Some(answer),
        context,
    })
    .unwrap()
}

#[test]
fn seed_settings_on_an_openinference_rag_trace() {
    let t = trace(vec![
        span(
            1,
            "query",
            100,
            vec![attr("openinference.span.kind", "CHAIN")],
        ),
        span(
            2,
            "retrieve",
            110,
            vec![
                attr("openinference.span.kind", "RETRIEVER"),
                attr(
                    "retrieval.documents.0.document.content",
                    "Paris is the capital of France.",
                ),
                attr(
                    "retrieval.documents.1.document.content",
                    "Lyon is in France.",
                ),
            ],
        ),
        span(
            3,
            "LLM",
            120,
            vec![
                attr("openinference.span.kind", "LLM"),
                attr("input.value", "What is the capital of France?"),
                attr("output.value", "Paris."),
            ],
        ),
    ]);
    let e = extractor(
        rule("LLM", "attributes.input.value", None),
        rule("LLM", "attributes.output.value", None),
        Some(rule(
            "retrieve",
            "attributes.retrieval.documents[*].document.content",
            None,
        )),
    );
    let found = e.extract(&t);
    assert_eq!(
        found.query.as_deref(),
        Some("What is the capital of France?")
    );
    assert_eq!(found.answer.as_deref(), Some("Paris."));
    assert_eq!(
        found.contexts,
        ["Paris is the capital of France.", "Lyon is in France."]
    );
    assert!(found.missing(&e).is_none());

    // The same through the kind selector.
    let by_kind = extractor(
        rule("kind:llm", "attributes.input.value", None),
        rule("kind:LLM", "attributes.output.value", None),
        Some(rule(
            "kind:RETRIEVER",
            "attributes.retrieval.documents[*].document.content",
            None,
        )),
    );
    assert_eq!(by_kind.extract(&t), found);
}

#[test]
fn dashscope_llm_span_with_gen_ai_prompts() {
    let t = trace(vec![span(
        1,
        "LLM",
        100,
        vec![
            attr("gen_ai.span.kind", "LLM"),
            attr(
                "input.value",
                "{'messages': [{'role': 'system', 'content': 'Be brief.'}, {'role': 'user', 'content': 'capital of china'}]}",
            ),
            attr("gen_ai.prompts.0.message.role", "system"),
            attr("gen_ai.prompts.0.message.content", "Be brief."),
            attr("gen_ai.prompts.1.message.role", "user"),
            attr("gen_ai.prompts.1.message.content", "capital of china"),
            attr("gen_ai.completions.0.message.content", "Beijing."),
        ],
    )]);
    let e = extractor(
        rule("LLM", "attributes.gen_ai.prompts[1].message.content", None),
        rule(
            "kind:LLM",
            "attributes.gen_ai.completions[0].message.content",
            None,
        ),
        None,
    );
    let found = e.extract(&t);
    assert_eq!(found.query.as_deref(), Some("capital of china"));
    assert_eq!(found.answer.as_deref(), Some("Beijing."));
    assert!(found.contexts.is_empty());
    // The seed's `input.value` form reads the Python repr through the value path.
    let repr = extractor(
        rule(
            "LLM",
            "attributes.input.value",
            Some("messages[-1].content"),
        ),
        rule(
            "LLM",
            "attributes.gen_ai.completions.0.message.content",
            None,
        ),
        None,
    );
    assert_eq!(repr.extract(&t).query.as_deref(), Some("capital of china"));
}

#[test]
fn json_in_string_value_path_once_and_twice() {
    let once = r#"{"text": ["hello"], "n": 2}"#;
    let twice = serde_json::to_string(once).unwrap();
    let t = trace(vec![span(
        1,
        "LLM",
        100,
        vec![attr("input.value", once), attr("output.value", &twice)],
    )]);
    let e = extractor(
        rule("LLM", "attributes.input.value", Some("text[0]")),
        rule("LLM", "attributes.output.value", Some("text[0]")),
        Some(rule("LLM", "attributes.input.value", Some("n"))),
    );
    let found = e.extract(&t);
    assert_eq!(found.query.as_deref(), Some("hello"));
    assert_eq!(found.answer.as_deref(), Some("hello"));
    assert_eq!(found.contexts, ["2"], "non-strings are printed as JSON");
}

#[test]
fn earliest_query_latest_answer_contexts_in_start_order() {
    // Input order differs from start order on purpose.
    let t = trace(vec![
        span(
            1,
            "LLM",
            300,
            vec![
                attr("input.value", "third"),
                attr("output.value", "answer 3"),
            ],
        ),
        span(
            2,
            "LLM",
            100,
            vec![
                attr("input.value", "first"),
                attr("output.value", "answer 1"),
            ],
        ),
        span(3, "LLM", 200, vec![attr("output.value", "answer 2")]),
        span(
            4,
            "LLM",
            400,
            vec![attr("input.value", "fourth, no output")],
        ),
        span(
            5,
            "retrieve",
            250,
            vec![attr("retrieval.documents.0.document.content", "b")],
        ),
        span(
            6,
            "retrieve",
            50,
            vec![attr("retrieval.documents.0.document.content", "a")],
        ),
    ]);
    let e = extractor(
        rule("LLM", "attributes.input.value", None),
        rule("LLM", "attributes.output.value", None),
        Some(rule(
            "retrieve",
            "attributes.retrieval.documents[*].document.content",
            None,
        )),
    );
    let found = e.extract(&t);
    assert_eq!(found.query.as_deref(), Some("first"));
    assert_eq!(
        found.answer.as_deref(),
        Some("answer 3"),
        "the latest span with an answer"
    );
    assert_eq!(found.contexts, ["a", "b"]);
}

#[test]
fn wildcards_only_in_context() {
    let spec = |query: &str| ExtractionSpec {
        preset: None,
        query: Some(rule("LLM", query, None)),
        answer: Some(rule("LLM", "attributes.output.value", None)),
        context: Some(rule("r", "attributes.docs[*]", None)),
    };
    assert!(Extractor::new(&spec("attributes.input.value")).is_ok());
    let err = Extractor::new(&spec("attributes.docs[*]")).unwrap_err();
    assert_eq!(err.field, "query");
    assert!(
        Extractor::new(&ExtractionSpec {
            preset: None,
            query: Some(rule("LLM", "attributes.input.value", Some("text[*]"))),
            answer: Some(rule("LLM", "attributes.output.value", None)),
            context: None,
        })
        .is_err()
    );
    assert!(Extractor::new(&spec(" ")).is_err(), "empty path");
}

#[test]
fn missing_values_are_explained() {
    let t = trace(vec![span(1, "LLM", 100, vec![attr("input.value", "q")])]);
    let e = extractor(
        rule("LLM", "attributes.input.value", None),
        rule("LLM", "attributes.output.value", None),
        None,
    );
    let found = e.extract(&t);
    assert_eq!(found.answer, None);
    let why = found.missing(&e).unwrap();
    assert!(
        why.contains("answer") && why.contains("attributes.output.value"),
        "{why}"
    );

    let other = extractor(
        rule("chat", "attributes.input.value", None),
        rule("chat", "attributes.output.value", None),
        None,
    );
    let found = other.extract(&t);
    assert!(!found.query_span_found && !found.answer_span_found);
    assert!(
        found
            .missing(&other)
            .unwrap()
            .contains("no span matches \"chat\"")
    );
}

#[test]
fn span_selector_syntax() {
    let parse = |t: &str| SpanSelector::parse(t).unwrap();
    assert_eq!(parse("LLM"), SpanSelector::Name("LLM".into()));
    assert_eq!(
        parse("kind:RETRIEVER"),
        SpanSelector::Kind("RETRIEVER".into())
    );
    assert_eq!(
        parse("name:kind:odd"),
        SpanSelector::Name("kind:odd".into())
    );
    assert_eq!(parse("root:"), SpanSelector::Root);
    assert_eq!(
        parse("attr:llm.request.type=chat"),
        SpanSelector::Attribute {
            key: "llm.request.type".into(),
            value: Some("chat".into()),
            negated: false,
        }
    );
    assert_eq!(
        parse("attr:input.value"),
        SpanSelector::Attribute {
            key: "input.value".into(),
            value: None,
            negated: false,
        }
    );
    assert!(SpanSelector::parse("root:LLM").is_err());
    assert!(SpanSelector::parse("attr:=x").is_err());
    assert_eq!(
        parse("attr:input.mime_type!=application/json"),
        SpanSelector::Attribute {
            key: "input.mime_type".into(),
            value: Some("application/json".into()),
            negated: true,
        }
    );
    for text in [
        "LLM",
        "kind:LLM",
        "root:",
        "attr:a.b=c",
        "attr:a",
        "attr:a!=b",
    ] {
        assert_eq!(parse(text).text(), text);
    }
}

#[test]
fn span_fields_beyond_attributes() {
    let t = trace(vec![span(7, "LLM", 100, vec![attr("input.value", "q")])]);
    let e = extractor(
        rule("LLM", "name", None),
        rule("LLM", "spanId", None),
        Some(rule("LLM", "$.startTimeUnixNano", None)),
    );
    let found = e.extract(&t);
    assert_eq!(found.query.as_deref(), Some("LLM"));
    assert_eq!(found.answer.as_deref(), Some("0000000000000007"));
    assert_eq!(found.contexts, ["100"]);
}
