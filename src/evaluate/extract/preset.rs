//! The rules each `extraction.preset` stands for: per field, alternatives
//! tried in order (the first that finds a value wins; see [`super`]). Each
//! list starts with the form the instrumentation writes today and goes on
//! to older forms of the same conventions.

use crate::api::evaluationtask::{ExtractionPreset, ExtractionRule};

/// A preset's alternatives for each field.
#[derive(Debug, Clone)]
pub struct PresetRules {
    /// The query's alternatives.
    pub query: Vec<ExtractionRule>,
    /// The answer's alternatives.
    pub answer: Vec<ExtractionRule>,
    /// The contexts' alternatives, if the instrumentation records documents.
    pub context: Option<Vec<ExtractionRule>>,
}

fn rule(span_name: &str, path: &str, value_path: Option<&str>) -> ExtractionRule {
    ExtractionRule {
        span_name: span_name.to_owned(),
        json_path_in_span: path.to_owned(),
        json_path_in_span_value: value_path.map(str::to_owned),
    }
}

/// OTel GenAI `gen_ai.input.messages` (JSON): the first user message's text.
const USER_TEXT_PARTS: &str = "[?@.role=='user'].parts[?@.type=='text'].content";
/// OTel GenAI `gen_ai.output.messages` (JSON): the first choice's text.
const OUTPUT_TEXT_PARTS: &str = "[0].parts[?@.type=='text'].content";

/// The OTel GenAI forms, newest first: JSON message attributes (semantic
/// conventions 1.37+), indexed attributes, span events (1.28+ and older).
fn otel_genai_query() -> Vec<ExtractionRule> {
    vec![
        rule(
            "kind:LLM",
            "attributes.gen_ai.input.messages",
            Some(USER_TEXT_PARTS),
        ),
        rule(
            "kind:LLM",
            "attributes.gen_ai.prompt[?@.role=='user'].content",
            None,
        ),
        rule(
            "kind:LLM",
            "events[?@.name=='gen_ai.user.message'].attributes.content",
            None,
        ),
        rule(
            "kind:LLM",
            "events[?@.name=='gen_ai.content.prompt'].attributes.gen_ai.prompt",
            Some("[?@.role=='user'].content"),
        ),
    ]
}

fn otel_genai_answer() -> Vec<ExtractionRule> {
    vec![
        rule(
            "kind:LLM",
            "attributes.gen_ai.output.messages",
            Some(OUTPUT_TEXT_PARTS),
        ),
        rule("kind:LLM", "attributes.gen_ai.completion[0].content", None),
        rule(
            "kind:LLM",
            "events[?@.name=='gen_ai.choice'].attributes.message",
            Some("content"),
        ),
        rule(
            "kind:LLM",
            "events[?@.name=='gen_ai.content.completion'].attributes.gen_ai.completion",
            Some("[0].content"),
        ),
    ]
}

fn openinference_documents() -> Vec<ExtractionRule> {
    vec![rule(
        "kind:RETRIEVER",
        "attributes.retrieval.documents[*].document.content",
        None,
    )]
}

/// The rules of `preset`.
pub fn rules(preset: ExtractionPreset) -> PresetRules {
    match preset {
        // The app's input is the outermost span with a plain-text input (a
        // chain, or the retriever's query; OpenInference marks JSON inputs
        // `application/json`), else a JSON input's usual members, else the
        // LLM's user message. The answer is the LLM's reply, else the
        // outermost plain-text output.
        ExtractionPreset::OpenInference => PresetRules {
            query: vec![
                rule(
                    "attr:input.mime_type!=application/json",
                    "attributes.input.value",
                    None,
                ),
                rule(
                    "attr:input.value",
                    "attributes.input.value",
                    Some("question"),
                ),
                rule("attr:input.value", "attributes.input.value", Some("query")),
                rule("attr:input.value", "attributes.input.value", Some("input")),
                rule(
                    "kind:LLM",
                    "attributes.llm.input_messages[?@.message.role=='user'].message.content",
                    None,
                ),
            ],
            answer: vec![
                rule(
                    "kind:LLM",
                    "attributes.llm.output_messages[0].message.content",
                    None,
                ),
                rule(
                    "attr:output.mime_type!=application/json",
                    "attributes.output.value",
                    None,
                ),
            ],
            context: Some(openinference_documents()),
        },
        // Retrieval spans (`gen_ai.operation.name=retrieval`) record
        // `gen_ai.retrieval.documents` as JSON or structured; `content` is
        // optional in the conventions (`id` and `score` are not).
        ExtractionPreset::OtelGenAi => PresetRules {
            query: otel_genai_query(),
            answer: otel_genai_answer(),
            context: Some(vec![rule(
                "kind:RETRIEVER",
                "attributes.gen_ai.retrieval.documents",
                Some("[*].content"),
            )]),
        },
        // Traceloop's LLM spans: the OTel GenAI JSON messages (current
        // releases) or indexed `gen_ai.prompt` / `gen_ai.completion` (older
        // ones), then its workflow span's JSON input and output.
        ExtractionPreset::OpenLlmetry => {
            let mut query = otel_genai_query();
            query.truncate(2);
            query.push(rule(
                "attr:traceloop.span.kind=workflow",
                "attributes.traceloop.entity.input",
                Some("args[0]"),
            ));
            let mut answer = otel_genai_answer();
            answer.truncate(2);
            answer.push(rule(
                "attr:traceloop.span.kind=workflow",
                "attributes.traceloop.entity.output",
                Some("$"),
            ));
            PresetRules {
                query,
                answer,
                context: None,
            }
        }
        // loongsuite-instrumentation-dashscope writes the OTel GenAI JSON
        // messages; older versions wrote indexed `gen_ai.prompts` and a
        // Python repr of the request in `input.value`.
        ExtractionPreset::DashScope => {
            let mut query = otel_genai_query();
            query.truncate(1);
            query.push(rule(
                "kind:LLM",
                "attributes.gen_ai.prompts[?@.message.role=='user'].message.content",
                None,
            ));
            query.push(rule(
                "kind:LLM",
                "attributes.input.value",
                Some("messages[?@.role=='user'].content"),
            ));
            let mut answer = otel_genai_answer();
            answer.truncate(1);
            answer.push(rule(
                "kind:LLM",
                "attributes.gen_ai.completions[0].message.content",
                None,
            ));
            PresetRules {
                query,
                answer,
                context: None,
            }
        }
    }
}
