//! The seed's dotted paths (`attributes.input.value`, `text[0]`,
//! `attributes.retrieval.documents[*].document.content`) as RFC 9535
//! JSONPath queries, evaluated with `serde_json_path`.
//!
//! A dotted path is turned into JSONPath by [`super::dotted`] (numeric
//! segments as indices, dashed names in brackets). Everything else is plain
//! RFC 9535: bracket notation for odd keys (`attributes['gen_ai.prompt']`),
//! `[*]`, filters.

use serde_json::Value;
use serde_json_path::JsonPath;

pub use super::dotted::to_jsonpath;
use super::pyrepr;

/// A compiled extraction path, keeping the text the user wrote for messages.
#[derive(Debug, Clone)]
pub struct Path {
    text: String,
    query: JsonPath,
    reaches_resource: bool,
}

impl Path {
    /// Compiles a dotted path (or a `$`-rooted JSONPath).
    pub fn parse(text: &str) -> Result<Self, String> {
        let jsonpath = to_jsonpath(text.trim());
        // The JSONPath parser recurses per nesting level: bound it before parsing.
        let depth = nesting(&jsonpath);
        if depth > MAX_NESTING {
            return Err(format!(
                "{:?} is not a valid path: it nests {depth} levels deep (brackets, parentheses, '!'), at most {MAX_NESTING} are allowed",
                truncate(text, 64)
            ));
        }
        // serde_json_path 0.7.2 panics ("we do not use streaming parsers") on
        // some truncated input such as `['\u` (found by fuzzing). A path is
        // user input: its panic must be an error, never a dead controller.
        let parsed = std::panic::catch_unwind(|| JsonPath::parse(&jsonpath)).map_err(|_| {
            format!(
                "{text:?} is not a valid path (as JSONPath {jsonpath:?}: the parser failed on it; check its quotes and escapes)"
            )
        })?;
        let query = parsed.map_err(|e| {
            let hint = if jsonpath.contains('-') {
                "; a key with characters other than letters, digits and _ is written in brackets, e.g. attributes['x-request-id']"
            } else {
                ""
            };
            format!(
                "{text:?} is not a valid path (as JSONPath {jsonpath:?}: {} at position {}){hint}",
                e.message(),
                e.position()
            )
        })?;
        Ok(Self {
            text: text.to_owned(),
            query,
            reaches_resource: reaches_resource(&jsonpath),
        })
    }

    /// Whether the path may select something under the root's `resource`
    /// member (or the root itself). Only a path that starts with a plain
    /// member name other than `resource` (`$.attributes...`,
    /// `$['name']...`) is known not to.
    pub fn reaches_resource(&self) -> bool {
        self.reaches_resource
    }

    /// The path as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The non-null values the path selects in `value`, in document order.
    pub fn select<'v>(&self, value: &'v Value) -> Vec<&'v Value> {
        self.query
            .query(value)
            .all()
            .into_iter()
            .filter(|v| !v.is_null())
            .collect()
    }
}

/// See [`Path::reaches_resource`].
fn reaches_resource(jsonpath: &str) -> bool {
    let first = if let Some(rest) = jsonpath.strip_prefix("$.") {
        let end = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(rest.len());
        let next = rest[end..].chars().next();
        (end > 0 && matches!(next, None | Some('.' | '['))).then(|| &rest[..end])
    } else if let Some(rest) = jsonpath.strip_prefix("$['") {
        rest.find("']")
            .map(|end| &rest[..end])
            .filter(|name| !name.contains(['\\', '\'']))
    } else {
        None
    };
    first.is_none_or(|name| name == "resource")
}

/// Deepest nesting a path may have (see [`nesting`]).
pub const MAX_NESTING: usize = 32;

/// How deeply a JSONPath nests outside quoted names: open brackets and
/// parentheses, plus the `!` negations seen (each one a level of the parser).
fn nesting(path: &str) -> usize {
    let mut quotes = Quotes::default();
    let (mut depth, mut deepest, mut negations) = (0usize, 0usize, 0usize);
    for c in path.chars() {
        if quotes.outside(c) {
            match c {
                '[' | '(' => depth += 1,
                ']' | ')' => depth = depth.saturating_sub(1),
                '!' => negations += 1,
                _ => {}
            }
        }
        deepest = deepest.max(depth + negations);
    }
    deepest
}

/// Tracks the quoted names (`'…'`, `"…"`, with backslash escapes) of a
/// JSONPath read one character at a time.
#[derive(Default)]
struct Quotes {
    quote: Option<char>,
    escaped: bool,
}

impl Quotes {
    /// Feeds `c`; whether it stands outside quoted names (quote marks
    /// themselves do not).
    fn outside(&mut self, c: char) -> bool {
        match self.quote {
            Some(q) => {
                if self.escaped {
                    self.escaped = false;
                } else if c == '\\' {
                    self.escaped = true;
                } else if c == q {
                    self.quote = None;
                }
                false
            }
            None if c == '\'' || c == '"' => {
                self.quote = Some(c);
                false
            }
            None => true,
        }
    }
}

fn truncate(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((end, _)) => format!("{}...", &text[..end]),
        None => text.to_owned(),
    }
}

/// Whether `path` has a wildcard (`[*]`, `.*`) or a descendant segment
/// (`..`, which selects at any depth) outside quoted names: the seed allows
/// one only in the context path.
pub fn has_wildcard(path: &str) -> bool {
    let mut quotes = Quotes::default();
    let mut dot = false;
    for c in path.chars() {
        let outside = quotes.outside(c);
        let after_dot = std::mem::replace(&mut dot, outside && c == '.');
        if (after_dot && dot) || (outside && c == '*') {
            return true;
        }
    }
    false
}

/// Decodes a value that holds structured data as a string: JSON (again
/// and again while the result is itself a JSON-encoded string), or, when the
/// string is not JSON, a Python literal (the DashScope instrumentation writes
/// `input.value` as a Python `repr`). `None` when there is nothing to decode.
pub fn decode_embedded(value: &Value) -> Option<Value> {
    let Value::String(text) = value else {
        return None;
    };
    let mut decoded: Value = match serde_json::from_str(text) {
        Ok(v) => v,
        Err(_) => return pyrepr::parse(text),
    };
    // At most a few levels: each round must shrink the text.
    for _ in 0..8 {
        let Value::String(inner) = &decoded else {
            break;
        };
        match serde_json::from_str::<Value>(inner) {
            Ok(next) => decoded = next,
            Err(_) => break,
        }
    }
    Some(decoded)
}

/// The text of an extracted value: strings as they are, other scalars and
/// structures as compact JSON.
pub fn as_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn each_path_form_selects() {
        let span = json!({
            "name": "LLM",
            "attributes": {
                "input": {"value": "q"},
                "gen_ai": {"prompts": [{"message": {"content": "sys"}}, {"message": {"content": "user"}}]},
                "gen_ai.prompt": "flat",
                "retrieval": {"documents": [
                    {"document": {"content": "a"}}, {"document": {"content": "b"}}
                ]}
            }
        });
        let pick = |p: &str| -> Vec<Value> {
            Path::parse(p)
                .unwrap()
                .select(&span)
                .into_iter()
                .cloned()
                .collect()
        };
        assert_eq!(pick("attributes.input.value"), [json!("q")]);
        assert_eq!(
            pick("attributes.gen_ai.prompts[1].message.content"),
            [json!("user")]
        );
        assert_eq!(
            pick("attributes.gen_ai.prompts.1.message.content"),
            [json!("user")]
        );
        assert_eq!(pick("attributes['gen_ai.prompt']"), [json!("flat")]);
        assert_eq!(pick("$.name"), [json!("LLM")]);
        assert_eq!(
            pick("attributes.retrieval.documents[*].document.content"),
            [json!("a"), json!("b")]
        );
        assert_eq!(
            pick("attributes.retrieval.documents[-1].document.content"),
            [json!("b")]
        );
        assert!(pick("attributes.missing.value").is_empty());
        assert!(Path::parse("attributes.[").is_err());
    }

    #[test]
    fn wildcards_are_found_outside_quotes() {
        assert!(has_wildcard("a.documents[*].content"));
        assert!(has_wildcard("a.*"));
        assert!(!has_wildcard("a['*']"));
        assert!(!has_wildcard("attributes.input.value"));
        assert!(has_wildcard("$..value"));
        let deep = format!("$.a{}", "[?(@.a".repeat(5_000));
        let error = Path::parse(&deep).expect_err("too deep");
        assert!(
            error.contains("nests") && error.contains("at most 32"),
            "{error}"
        );
        let negations = format!("$[?{}@.a]", "!".repeat(5_000));
        assert!(Path::parse(&negations).is_err());
        assert!(Path::parse("$.a[?(@.b[?(@.c == 1)])]").is_ok());
        // Found by cargo fuzz: the JSONPath parser panics on a truncated \u escape.
        let error = Path::parse(" I ['\\u").expect_err("truncated escape");
        assert!(error.contains("not a valid path"), "{error}");
        assert!(has_wildcard("attributes..content"));
        assert!(!has_wildcard("attributes['a..b']"));
    }

    #[test]
    fn json_in_string_once_twice_and_not_at_all() {
        let once = json!(r#"{"text": ["hello"]}"#);
        assert_eq!(decode_embedded(&once), Some(json!({"text": ["hello"]})));
        let twice = Value::String(serde_json::to_string(r#"{"text": ["hello"]}"#).unwrap());
        assert_eq!(decode_embedded(&twice), Some(json!({"text": ["hello"]})));
        assert_eq!(decode_embedded(&json!("plain words")), None);
        assert_eq!(decode_embedded(&json!({"a": 1})), None);
        let text = Path::parse("text[0]").unwrap();
        let decoded = decode_embedded(&twice).unwrap();
        assert_eq!(text.select(&decoded), [&json!("hello")]);
    }

    #[test]
    fn python_repr_is_decoded_when_not_json() {
        let repr = json!("{'messages': [{'role': 'user', 'content': \"it's\"}], 'stream': False}");
        assert_eq!(
            decode_embedded(&repr),
            Some(json!({"messages": [{"role": "user", "content": "it's"}], "stream": false}))
        );
    }
}
