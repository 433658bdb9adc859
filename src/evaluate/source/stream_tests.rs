//! Streaming reads: document forms, the hold-back rule, unreadable spans.

use super::assemble::{Assembler, HOLD_DOCUMENTS, Skipped, Unattributed, stream_traces};
use super::documents::read_documents;
use super::*;

fn span(trace: &str, id: &str, name: &str) -> String {
    format!(r#"{{"traceId":"{trace}","spanId":"{id}","name":"{name}","startTimeUnixNano":"5"}}"#)
}

fn doc(spans: &[String]) -> String {
    format!(
        r#"{{"resourceSpans":[{{"scopeSpans":[{{"spans":[{}]}}]}}]}}"#,
        spans.join(",")
    )
}

const A: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
const B: &str = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

fn stream(text: &str, policy: Unattributed) -> Result<(Vec<Trace>, Skipped), SourceError> {
    let mut traces = Vec::new();
    let skipped = stream_traces(text.as_bytes(), "t.jsonl", policy, &mut |t| {
        traces.push(t);
        Ok(())
    })?;
    Ok((traces, skipped))
}

fn summary(traces: &[Trace]) -> Vec<(String, Vec<String>)> {
    traces
        .iter()
        .map(|t| {
            let spans = t.spans.iter().map(|s| s.span_id.clone()).collect();
            (t.trace_id.clone(), spans)
        })
        .collect()
}

#[test]
fn every_document_form_gives_what_the_strict_reader_gives() {
    let one = doc(&[
        span(A, "0000000000000001", "q"),
        span(B, "0000000000000002", "q"),
    ]);
    let two = doc(&[span(A, "0000000000000003", "llm")]);
    let value: serde_json::Value = serde_json::from_str(&one).unwrap();
    let pretty = serde_json::to_string_pretty(&value).unwrap();
    let forms = [
        format!("{one}\n{two}\n"),
        format!("\n{one}\n\n{two}"),
        format!("{one}{two}\n"),
        format!("{one} {two}"),
        format!("{pretty}\n{two}\n"),
        format!("{pretty}{two}"),
    ];
    for text in forms {
        let mut collector = TraceCollector::default();
        parse_documents(text.as_bytes(), "t.jsonl", &mut collector).unwrap();
        let strict = summary(&collector.finish());
        let (streamed, skipped) = stream(&text, Unattributed::Fail).unwrap();
        assert_eq!(summary(&streamed), strict, "{text}");
        assert_eq!(skipped, Skipped::default());
    }
    let (streamed, _) = stream(&format!("{pretty}\n{two}\n"), Unattributed::Fail).unwrap();
    assert_eq!(
        summary(&streamed)[0].1,
        ["0000000000000001", "0000000000000003"],
        "a trace over two documents is one trace"
    );
}

#[test]
fn a_trace_is_handed_on_once_it_has_not_recurred_for_a_few_documents() {
    let parsed = |spans: &[String]| documents::Parsed {
        envelope: Some(serde_json::from_str(&doc(spans)).unwrap()),
        ..Default::default()
    };
    let mut assembler = Assembler::default();
    assembler.add(parsed(&[span(A, "0000000000000001", "q")]));
    assert!(assembler.pop(false).is_none(), "held back");
    for i in 0..HOLD_DOCUMENTS - 1 {
        assembler.add(parsed(&[span(B, &format!("{:016x}", i + 2), "q")]));
        assert!(assembler.pop(false).is_none(), "after {i} more documents");
    }
    assembler.add(parsed(&[span(A, "00000000000000ff", "llm")]));
    assert!(assembler.pop(false).is_none(), "A recurred: held again");
    for i in 0..HOLD_DOCUMENTS {
        assembler.add(parsed(&[span(B, &format!("{:016x}", i + 10), "q")]));
    }
    let a = assembler.pop(false).expect("A is complete by the rule");
    assert_eq!((a.trace_id.as_str(), a.spans.len()), (A, 2));
    assert!(
        assembler.pop(false).is_none(),
        "B appeared in the last document"
    );
    let b = assembler.pop(true).expect("everything at the end");
    assert_eq!((b.trace_id.as_str(), b.spans.len()), (B, 7));
}

#[test]
fn a_bad_span_of_a_known_trace_marks_that_trace_only() {
    let missing_id = r#"{"traceId":"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa","name":"retrieve","startTimeUnixNano":"3"}"#;
    let text = format!(
        "{}\n{}\n",
        doc(&[span(B, "0000000000000001", "q")]),
        doc(&[span(A, "0000000000000002", "q"), missing_id.to_owned()]),
    );
    let (traces, skipped) = stream(&text, Unattributed::Fail).unwrap();
    assert_eq!(skipped.unattributed, 0);
    assert_eq!(
        summary(&traces)[0],
        (B.to_owned(), vec!["0000000000000001".to_owned()])
    );
    assert!(traces[0].unreadable.is_empty());
    let a = &traces[1];
    assert_eq!(a.spans.len(), 1, "the good span of A is kept");
    assert_eq!(a.start_time_unix_nano(), 3, "the bad span's start counts");
    let reason = a.unreadable_reason().expect("A is marked");
    assert!(
        reason.starts_with("t.jsonl:2:1: unreadable span:") && reason.contains("spanId"),
        "{reason}"
    );
}

#[test]
fn input_that_names_no_trace_stops_a_file_and_is_skipped_from_a_store() {
    let bad_trace_id = span("not-a-trace-id", "0000000000000009", "q");
    let text = format!(
        "{}\n{}\nnot json\n{}\n",
        doc(&[span(A, "0000000000000001", "q")]),
        doc(&[bad_trace_id, span(B, "0000000000000002", "q")]),
        doc(&[span(B, "0000000000000003", "llm")]),
    );
    let err = stream(&text, Unattributed::Fail).unwrap_err();
    assert!(
        matches!(err, SourceError::Malformed { line: 2, .. })
            && err.to_string().contains("invalid trace ID"),
        "{err}"
    );
    let (traces, skipped) = stream(&text, Unattributed::Skip).unwrap();
    assert_eq!(
        skipped.unattributed, 2,
        "the span and the line that is not JSON"
    );
    assert_eq!(
        summary(&traces),
        [
            (A.to_owned(), vec!["0000000000000001".to_owned()]),
            (
                B.to_owned(),
                vec!["0000000000000002".to_owned(), "0000000000000003".to_owned()]
            ),
        ]
    );
    let truncated = stream("{\"resourceSpans\": [", Unattributed::Fail).unwrap_err();
    assert!(
        matches!(truncated, SourceError::Malformed { line: 1, .. }),
        "{truncated}"
    );
}

#[test]
fn errors_are_positioned_in_the_input() {
    let mut seen = Vec::new();
    let text = "\n\n{\"resourceSpans\":[]} {\"resourceSpans\": 7}\n";
    read_documents(text.as_bytes(), "t.jsonl", &mut |parsed| {
        seen.extend(parsed.unattributed);
        Ok(())
    })
    .unwrap();
    let [SourceError::Malformed { line, column, .. }] = seen.as_slice() else {
        panic!("{seen:?}");
    };
    assert_eq!(*line, 3);
    assert!(*column > 20, "after the first document: {column}");
}

#[test]
fn spans_that_come_after_their_trace_was_handed_on_are_marked_continued() {
    let mut text = doc(&[span(A, "0000000000000001", "q")]) + "\n";
    for i in 0..HOLD_DOCUMENTS {
        text += &doc(&[span(B, &format!("{:016x}", i + 2), "q")]);
        text += "\n";
    }
    text += &doc(&[span(A, "00000000000000ff", "late")]);
    let (traces, _) = stream(&text, Unattributed::Fail).unwrap();
    let parts: Vec<(&str, bool)> = traces
        .iter()
        .map(|t| (t.trace_id.as_str(), t.continued))
        .collect();
    assert_eq!(parts, [(A, false), (B, false), (A, true)]);
}

#[test]
fn a_bad_span_in_a_pretty_printed_document_marks_its_trace_only() {
    let missing_id = r#"{"traceId":"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa","name":"retrieve"}"#;
    let value: serde_json::Value = serde_json::from_str(&doc(&[
        span(A, "0000000000000001", "q"),
        missing_id.to_owned(),
    ]))
    .unwrap();
    let pretty = serde_json::to_string_pretty(&value).unwrap();
    let (traces, skipped) = stream(&pretty, Unattributed::Fail).unwrap();
    assert_eq!(skipped.unattributed, 0);
    assert_eq!(traces.len(), 1);
    assert_eq!(traces[0].spans.len(), 1, "the good span is kept");
    assert!(
        traces[0]
            .unreadable_reason()
            .is_some_and(|r| r.contains("spanId")),
        "{:?}",
        traces[0].unreadable
    );
}
