//! The OTLP/JSON reader (one document, several, JSON lines, Jaeger api_v3
//! form) on arbitrary bytes, then extraction over whatever traces it read:
//! span objects, dotted and JSONPath paths, JSON and Python-literal values
//! embedded in strings. Errors are fine; panics, overflows and hangs are not.
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use traceval::api::evaluationtask::{ExtractionRule, ExtractionSpec};
use traceval::evaluate::extract::Extractor;
use traceval::evaluate::trace::TraceCollector;
use traceval::evaluate::source::documents::read_documents;
use traceval::evaluate::source::parse_documents;

static QUIET_CAUGHT_PANICS: std::sync::Once = std::sync::Once::new();

fn rule(span: &str, path: &str, value: Option<&str>) -> ExtractionRule {
    ExtractionRule {
        span_name: span.to_owned(),
        json_path_in_span: path.to_owned(),
        json_path_in_span_value: value.map(str::to_owned),
    }
}

static EXTRACTOR: LazyLock<Extractor> = LazyLock::new(|| {
    let spec = ExtractionSpec {
        preset: None,
        query: Some(rule(
            "kind:LLM",
            "attributes.input.value",
            Some("messages[0].content"),
        )),
        answer: Some(rule("LLM", "$.attributes['output.value']", None)),
        context: Some(rule(
            "retrieve",
            "attributes.retrieval.documents[*].document.content",
            None,
        )),
    };
    Extractor::new(&spec).expect("the fuzz extraction spec is valid")
});

fuzz_target!(|data: &[u8]| {
    // libfuzzer-sys aborts on every panic, even one the crate catches on
    // purpose (evaluate::extract::jsonpath catches serde_json_path's); a panic that
    // escapes still aborts through libfuzzer-sys's own catch_unwind.
    QUIET_CAUGHT_PANICS.call_once(|| std::panic::set_hook(Box::new(|_| {})));
    let mut collector = TraceCollector::default();
    // Traces read before an error are still extracted from.
    let _ = parse_documents(data, "fuzz", &mut collector);
    // The streaming reader of `traceval extract` / `evaluate --traces`, which
    // positions errors and attributes bad spans to their traces.
    let mut documents = 0usize;
    let _ = read_documents(data, "fuzz", &mut |_parsed| {
        documents += 1;
        Ok(())
    });
    for trace in collector.finish() {
        let extracted = EXTRACTOR.extract(&trace);
        let _ = extracted.missing(&EXTRACTOR);
        for span in &trace.spans {
            let _ = span.to_json();
        }
    }
});
