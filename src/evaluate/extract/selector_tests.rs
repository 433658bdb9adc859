//! Selectors (`kind:` on OTel GenAI operations, `root:`, `attr:`), the
//! choice among several matching spans, and presets overridden field by field.

use serde_json::{Value, json};

use super::*;
use crate::api::evaluationtask::ExtractionPreset;
use crate::evaluate::trace::TraceCollector;

const TRACE: &str = "0af7651916cd43dd8448eb211c80319c";

fn attr(key: &str, value: &str) -> Value {
    json!({"key": key, "value": {"stringValue": value}})
}

fn span(id: u64, parent: Option<u64>, name: &str, start: u64, attributes: Vec<Value>) -> Value {
    json!({
        "traceId": TRACE,
        "spanId": format!("{id:016x}"),
        "parentSpanId": parent.map(|p| format!("{p:016x}")).unwrap_or_default(),
        "name": name,
        "startTimeUnixNano": start.to_string(),
        "endTimeUnixNano": (start + 100).to_string(),
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

fn rule(span_name: &str, path: &str) -> ExtractionRule {
    ExtractionRule {
        span_name: span_name.into(),
        json_path_in_span: path.into(),
        json_path_in_span_value: None,
    }
}

fn spec(query: ExtractionRule, answer: ExtractionRule) -> ExtractionSpec {
    ExtractionSpec {
        preset: None,
        query: Some(query),
        answer: Some(answer),
        context: None,
    }
}

#[test]
fn kind_llm_matches_gen_ai_operation_names() {
    let t = trace(vec![
        span(
            1,
            None,
            "chat qwen",
            10,
            vec![attr("gen_ai.operation.name", "chat"), attr("q", "chat")],
        ),
        span(
            2,
            None,
            "embed",
            20,
            vec![
                attr("gen_ai.operation.name", "embeddings"),
                attr("q", "emb"),
            ],
        ),
        span(
            3,
            None,
            "tool",
            30,
            vec![
                attr("gen_ai.operation.name", "execute_tool"),
                attr("q", "tool"),
            ],
        ),
        span(
            4,
            None,
            "agent",
            40,
            vec![
                attr("gen_ai.operation.name", "invoke_agent"),
                attr("q", "agent"),
            ],
        ),
        span(
            5,
            None,
            "search",
            50,
            vec![
                attr("gen_ai.operation.name", "retrieval"),
                attr("q", "docs"),
            ],
        ),
        span(
            6,
            None,
            "openai.chat",
            60,
            vec![attr("llm.request.type", "chat"), attr("q", "traceloop")],
        ),
    ]);
    let found = |kind: &str| {
        let e = Extractor::new(&spec(
            rule(kind, "attributes.q"),
            rule(kind, "attributes.q"),
        ))
        .unwrap();
        let x = e.extract(&t);
        (x.query.unwrap_or_default(), x.answer.unwrap_or_default())
    };
    assert_eq!(found("kind:LLM"), ("chat".into(), "traceloop".into()));
    assert_eq!(found("kind:EMBEDDING"), ("emb".into(), "emb".into()));
    assert_eq!(found("kind:tool"), ("tool".into(), "tool".into()));
    assert_eq!(found("kind:AGENT"), ("agent".into(), "agent".into()));
    assert_eq!(found("kind:RETRIEVER"), ("docs".into(), "docs".into()));
    assert_eq!(
        found("kind:chat"),
        ("chat".into(), "traceloop".into()),
        "the operation name itself"
    );
}

#[test]
fn root_and_attribute_selectors() {
    let t = trace(vec![
        span(
            1,
            None,
            "POST /ask",
            10,
            vec![attr("http.route", "/ask"), attr("v", "root")],
        ),
        span(
            2,
            Some(1),
            "step",
            20,
            vec![attr("x-request-id", "r-1"), attr("v", "step")],
        ),
        // Its parent is not in the trace (a partial trace): a root too, but later.
        span(3, Some(99), "orphan", 30, vec![attr("v", "orphan")]),
    ]);
    let e = Extractor::new(&spec(
        rule("root:", "attributes.v"),
        rule("root:", "attributes.v"),
    ))
    .unwrap();
    let x = e.extract(&t);
    assert_eq!(
        (x.query.as_deref(), x.answer.as_deref()),
        (Some("root"), Some("orphan"))
    );
    let e = Extractor::new(&spec(
        rule("attr:x-request-id=r-1", "attributes.v"),
        rule("attr:http.route", "attributes.v"),
    ))
    .unwrap();
    let x = e.extract(&t);
    assert_eq!(
        (x.query.as_deref(), x.answer.as_deref()),
        (Some("step"), Some("root"))
    );
    // Dashed keys in the dotted path form.
    let e = Extractor::new(&spec(
        rule("step", "attributes.x-request-id"),
        rule("step", "attributes['x-request-id']"),
    ))
    .unwrap();
    let x = e.extract(&t);
    assert_eq!(
        (x.query.as_deref(), x.answer.as_deref()),
        (Some("r-1"), Some("r-1"))
    );
}

#[test]
fn the_shallowest_span_wins_over_a_later_sub_chain_of_the_same_name() {
    // LangChain: the root RunnableSequence, and the retriever sub-chain (also
    // a RunnableSequence) two levels down, which starts and ends later.
    let t = trace(vec![
        span(
            1,
            None,
            "RunnableSequence",
            10,
            vec![attr("output.value", "Beijing.")],
        ),
        span(2, Some(1), "RunnableParallel", 20, vec![]),
        span(
            3,
            Some(2),
            "RunnableSequence",
            30,
            vec![attr("output.value", "joined documents")],
        ),
    ]);
    let e = Extractor::new(&spec(
        rule("RunnableSequence", "attributes.output.value"),
        rule("RunnableSequence", "attributes.output.value"),
    ))
    .unwrap();
    let x = e.extract(&t);
    assert_eq!(x.answer.as_deref(), Some("Beijing."));
    let choice = x
        .choices
        .answer
        .expect("the values differ: the choice is recorded");
    assert_eq!(
        (
            choice.span_id.as_str(),
            choice.depth,
            choice.matching,
            choice.distinct_values
        ),
        ("0000000000000001", 0, 2, 2)
    );
    assert_eq!(choice.rule, choice::ANSWER_RULE);
    assert_eq!(
        x.choices.query.map(|c| c.span_id).as_deref(),
        Some("0000000000000001")
    );
}

#[test]
fn equal_values_record_no_choice() {
    let t = trace(vec![
        span(1, None, "LLM", 10, vec![attr("v", "same")]),
        span(2, None, "LLM", 20, vec![attr("v", "same")]),
    ]);
    let e = Extractor::new(&spec(
        rule("LLM", "attributes.v"),
        rule("LLM", "attributes.v"),
    ))
    .unwrap();
    assert!(e.extract(&t).choices.is_empty());
}

fn genai_span(id: u64, attributes: Vec<Value>, events: Value) -> Value {
    let mut s = span(id, None, "chat qwen-plus", 10 * id, attributes);
    s["events"] = events;
    s
}

#[test]
fn otel_genai_preset_reads_every_message_form() {
    let chat = attr("gen_ai.operation.name", "chat");
    let json_form = genai_span(
        1,
        vec![
            chat.clone(),
            attr(
                "gen_ai.input.messages",
                r#"[{"role":"system","parts":[{"type":"text","content":"Be brief."}]},{"role":"user","parts":[{"type":"text","content":"q json"}]}]"#,
            ),
            attr(
                "gen_ai.output.messages",
                r#"[{"role":"assistant","parts":[{"type":"text","content":"a json"}],"finish_reason":"stop"}]"#,
            ),
        ],
        json!([]),
    );
    let indexed = genai_span(
        2,
        vec![
            chat.clone(),
            attr("gen_ai.prompt.0.role", "system"),
            attr("gen_ai.prompt.0.content", "Be brief."),
            attr("gen_ai.prompt.1.role", "user"),
            attr("gen_ai.prompt.1.content", "q indexed"),
            attr("gen_ai.completion.0.role", "assistant"),
            attr("gen_ai.completion.0.content", "a indexed"),
        ],
        json!([]),
    );
    let events = genai_span(
        3,
        vec![chat],
        json!([
            {"name": "gen_ai.user.message", "timeUnixNano": "30", "attributes": [attr("content", "q event")]},
            {"name": "gen_ai.choice", "timeUnixNano": "31", "attributes": [
                {"key": "message", "value": {"kvlistValue": {"values": [attr("role", "assistant"), attr("content", "a event")]}}}
            ]}
        ]),
    );
    let e = Extractor::new(&ExtractionSpec {
        preset: Some(ExtractionPreset::OtelGenAi),
        ..ExtractionSpec::default()
    })
    .unwrap();
    for (s, q, a) in [
        (json_form, "q json", "a json"),
        (indexed, "q indexed", "a indexed"),
        (events, "q event", "a event"),
    ] {
        let x = e.extract(&trace(vec![s]));
        assert_eq!(
            (x.query.as_deref(), x.answer.as_deref()),
            (Some(q), Some(a))
        );
    }
}

#[test]
fn otel_genai_preset_reads_retrieval_documents() {
    let t = trace(vec![
        span(
            1,
            None,
            "retrieval kb",
            10,
            vec![
                attr("gen_ai.operation.name", "retrieval"),
                attr(
                    "gen_ai.retrieval.documents",
                    r#"[{"id":"d1","score":0.9,"content":"Paris is in France."},{"id":"d2","score":0.5,"content":"Lyon too."}]"#,
                ),
            ],
        ),
        span(
            2,
            None,
            "chat",
            20,
            vec![
                attr("gen_ai.operation.name", "chat"),
                attr("gen_ai.prompt.0.role", "user"),
                attr("gen_ai.prompt.0.content", "q"),
                attr("gen_ai.completion.0.content", "a"),
            ],
        ),
    ]);
    let e = Extractor::new(&ExtractionSpec {
        preset: Some(ExtractionPreset::OtelGenAi),
        ..ExtractionSpec::default()
    })
    .unwrap();
    assert_eq!(e.extract(&t).contexts, ["Paris is in France.", "Lyon too."]);
}

#[test]
fn explicit_rules_override_a_preset_field_by_field() {
    let t = trace(vec![span(
        1,
        None,
        "chat",
        10,
        vec![
            attr("gen_ai.operation.name", "chat"),
            attr("gen_ai.prompt.0.role", "user"),
            attr("gen_ai.prompt.0.content", "from the preset"),
            attr("gen_ai.completion.0.content", "preset answer"),
            attr("app.answer", "my answer"),
        ],
    )]);
    let e = Extractor::new(&ExtractionSpec {
        preset: Some(ExtractionPreset::OpenLlmetry),
        answer: Some(rule("chat", "attributes.app.answer")),
        ..ExtractionSpec::default()
    })
    .unwrap();
    let x = e.extract(&t);
    assert_eq!(
        (x.query.as_deref(), x.answer.as_deref()),
        (Some("from the preset"), Some("my answer"))
    );
    let err = Extractor::new(&ExtractionSpec::default()).unwrap_err();
    assert_eq!(err.field, "query");
    assert!(err.to_string().contains("preset"), "{err}");
}

#[test]
fn no_match_reasons_name_the_selectors() {
    let e = Extractor::new(&spec(rule("kind:LLM", "a"), rule("kind:LLM", "b"))).unwrap();
    assert_eq!(e.no_match_reason(), "no span matches \"kind:LLM\"");
    let e = Extractor::new(&spec(rule("q", "a"), rule("kind:LLM", "b"))).unwrap();
    assert_eq!(e.no_match_reason(), "no span matches \"q\" or \"kind:LLM\"");
}
