//! Span selectors, the `spanName` of a rule:
//!
//! - `NAME` — spans whose name is exactly NAME (the seed's form);
//! - `name:NAME` — the same, for a name that itself starts with a prefix below;
//! - `kind:KIND` — spans of a semantic kind, ignoring case: KIND equals
//!   `openinference.span.kind` or `gen_ai.span.kind`, or the kind that
//!   `gen_ai.operation.name` (OTel GenAI) or `llm.request.type`
//!   (OpenLLMetry) implies ([`OPERATION_KINDS`]), or the operation name itself
//!   (`kind:chat`);
//! - `root:` — the trace's root spans: no parent, or a parent that is not
//!   in the trace;
//! - `attr:KEY=VALUE` — spans whose attribute KEY (dotted, as the
//!   instrumentation wrote it) is VALUE (a non-string compares as its JSON
//!   text: `attr:http.status_code=200`); `attr:KEY` — spans that have KEY;
//!   `attr:KEY!=VALUE` — spans where KEY is absent or not VALUE
//!   (`attr:input.mime_type!=application/json`: spans with a plain-text input).

use serde_json::Value;

use crate::evaluate::trace::Span;

/// Which spans a rule reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SpanSelector {
    /// Spans with this exact name.
    Name(String),
    /// Spans of this semantic kind (compared ignoring case).
    Kind(String),
    /// The root spans of the trace.
    Root,
    /// Spans with this attribute, equal to the value when one is given.
    Attribute {
        /// Dotted key, as written by the instrumentation.
        key: String,
        /// The value it must have; any value when `None`.
        value: Option<String>,
        /// `!=`: the attribute must be absent or differ from `value`.
        negated: bool,
    },
}

/// Attributes that name a span's kind directly.
const KIND_ATTRIBUTES: [&str; 2] = ["openinference.span.kind", "gen_ai.span.kind"];

/// Operation attributes and the OpenInference kind each value implies.
/// `gen_ai.operation.name` values are the OTel GenAI semantic conventions'
/// (`retrieval` is the retrieval span's); `llm.request.type` is OpenLLMetry's.
pub const OPERATION_KINDS: [(&str, &[(&str, &str)]); 2] = [
    (
        "gen_ai.operation.name",
        &[
            ("chat", "LLM"),
            ("text_completion", "LLM"),
            ("generate_content", "LLM"),
            ("embeddings", "EMBEDDING"),
            ("execute_tool", "TOOL"),
            ("invoke_agent", "AGENT"),
            ("create_agent", "AGENT"),
            ("retrieval", "RETRIEVER"),
        ],
    ),
    (
        "llm.request.type",
        &[
            ("chat", "LLM"),
            ("completion", "LLM"),
            ("embedding", "EMBEDDING"),
            ("rerank", "RERANKER"),
        ],
    ),
];

impl SpanSelector {
    /// Reads the `spanName` syntax (see the module documentation).
    pub fn parse(text: &str) -> Result<Self, String> {
        if let Some(kind) = text.strip_prefix("kind:") {
            Ok(Self::Kind(kind.trim().to_owned()))
        } else if let Some(name) = text.strip_prefix("name:") {
            Ok(Self::Name(name.to_owned()))
        } else if let Some(rest) = text.strip_prefix("root:") {
            if rest.trim().is_empty() {
                Ok(Self::Root)
            } else {
                Err(format!(
                    "spanName {text:?}: `root:` takes nothing after it (write `name:{text}` for a span of that name)"
                ))
            }
        } else if let Some(rest) = text.strip_prefix("attr:") {
            let (key, value, negated) = match rest.split_once('=') {
                Some((key, value)) => match key.strip_suffix('!') {
                    Some(key) => (key.trim(), Some(value.to_owned()), true),
                    None => (key.trim(), Some(value.to_owned()), false),
                },
                None => (rest.trim(), None, false),
            };
            if key.is_empty() {
                return Err(format!(
                    "spanName {text:?}: `attr:` needs a key, e.g. `attr:llm.request.type=chat`"
                ));
            }
            Ok(Self::Attribute {
                key: key.to_owned(),
                value,
                negated,
            })
        } else {
            Ok(Self::Name(text.to_owned()))
        }
    }

    /// Whether the selector needs the trace's span IDs ([`SpanSelector::Root`]).
    pub fn needs_trace(&self) -> bool {
        matches!(self, Self::Root)
    }

    /// Whether `span` is selected; `in_trace` tells whether a span ID is
    /// in the trace (used by [`SpanSelector::Root`] only).
    pub fn matches(&self, span: &Span, in_trace: &dyn Fn(&str) -> bool) -> bool {
        match self {
            Self::Name(name) => span.name == *name,
            Self::Kind(kind) => kind_matches(span, kind),
            Self::Root => span.parent_span_id().is_none_or(|p| !in_trace(p)),
            Self::Attribute {
                key,
                value,
                negated,
            } => {
                let equal = match (attribute(span, key), value) {
                    (None, _) => false,
                    (Some(_), None) => true,
                    (Some(Value::String(s)), Some(want)) => s == want,
                    (Some(other), Some(want)) => {
                        serde_json::from_str::<Value>(want).is_ok_and(|w| w == *other)
                    }
                };
                equal != *negated
            }
        }
    }

    /// The selector as written in a rule.
    pub fn text(&self) -> String {
        match self {
            Self::Name(n) => n.clone(),
            Self::Kind(k) => format!("kind:{k}"),
            Self::Root => "root:".into(),
            Self::Attribute {
                key, value: None, ..
            } => format!("attr:{key}"),
            Self::Attribute {
                key,
                value: Some(v),
                negated,
            } => format!("attr:{key}{}={v}", if *negated { "!" } else { "" }),
        }
    }
}

fn kind_matches(span: &Span, kind: &str) -> bool {
    let text = |key: &str| attribute(span, key).and_then(Value::as_str);
    if KIND_ATTRIBUTES
        .iter()
        .any(|key| text(key).is_some_and(|v| v.eq_ignore_ascii_case(kind)))
    {
        return true;
    }
    OPERATION_KINDS.iter().any(|(key, kinds)| {
        text(key).is_some_and(|operation| {
            operation.eq_ignore_ascii_case(kind)
                || kinds.iter().any(|(op, implied)| {
                    operation.eq_ignore_ascii_case(op) && implied.eq_ignore_ascii_case(kind)
                })
        })
    })
}

/// The attribute written under dotted `key`, in the unflattened attributes:
/// kept under its full key (a leaf that is also a prefix), or nested.
pub fn attribute<'s>(span: &'s Span, key: &str) -> Option<&'s Value> {
    lookup(span.attributes(), key)
}

/// [`attribute`] in any unflattened attribute map (a span's, a resource's).
pub fn lookup<'a>(attributes: &'a serde_json::Map<String, Value>, key: &str) -> Option<&'a Value> {
    if let Some(value) = attributes.get(key) {
        return Some(value);
    }
    let mut segments = key.split('.');
    let mut value = attributes.get(segments.next()?)?;
    for segment in segments {
        value = match value {
            Value::Object(map) => map.get(segment)?,
            Value::Array(list) => list.get(segment.parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    (!value.is_null()).then_some(value)
}
