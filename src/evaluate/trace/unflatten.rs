//! Flattened attribute keys to nested JSON.
//!
//! Instrumentations flatten structure into dotted keys
//! (`retrieval.documents.0.document.content`); the seed's extraction paths
//! (`attributes.retrieval.documents[*].document.content`) expect the nested
//! form. The rules, all independent of the order of the keys:
//!
//! 1. A key is split on `.`; each segment is one level of nesting.
//! 2. A level whose segments are all array indices (`0`, `1`, ... written
//!    without leading zeros, below [`MAX_ARRAY_LEN`]) becomes an array; any
//!    other level is an object. Sparse indices are filled with `null`
//!    (`a.0` and `a.2` give `[x, null, y]`). A level that mixes indices and
//!    names (`a.0`, `a.b`) is an object with the keys `"0"` and `"b"`.
//! 3. **Leaf and prefix** (`gen_ai.prompt` next to `gen_ai.prompt.0.message.content`):
//!    the nested structure takes the place, and the leaf is kept in the
//!    top-level object under its full original key, reachable as
//!    `attributes['gen_ai.prompt']`. A one-segment key that is also a prefix
//!    (`gen_ai` next to `gen_ai.system`) has no such second place: its leaf
//!    is dropped with a warning in the log.
//! 4. A key with an empty segment (`a..b`, `.a`, `a.`) is kept verbatim at the
//!    top level. Keys inside a `kvlistValue` are kept verbatim too: the
//!    value is already structured.
//! 5. The same key twice: the last one wins.
//! 6. A key of more than [`MAX_DEPTH`] segments is kept verbatim at the top
//!    level, so a hostile key (`a.a.a...` 100,000 times) cannot nest the
//!    span object deeper than the stack allows.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

/// Indices at or above this make a level an object rather than an array, so
/// a key such as `a.999999999` cannot allocate a huge array of nulls.
pub const MAX_ARRAY_LEN: usize = 10_000;

/// Keys with more segments than this are kept verbatim (rule 6).
pub const MAX_DEPTH: usize = 64;

#[derive(Default)]
struct Node {
    leaf: Option<Value>,
    children: BTreeMap<String, Node>,
}

/// Builds the nested object of a list of (dotted key, value) pairs; see the
/// module documentation for the rules.
pub fn unflatten<I>(pairs: I) -> Map<String, Value>
where
    I: IntoIterator<Item = (String, Value)>,
{
    let mut root = Node::default();
    let mut verbatim = Vec::new();
    for (key, value) in pairs {
        if key.split('.').any(str::is_empty) || key.split('.').nth(MAX_DEPTH).is_some() {
            verbatim.push((key, value));
            continue;
        }
        let mut node = &mut root;
        for segment in key.split('.') {
            node = node.children.entry(segment.to_owned()).or_default();
        }
        node.leaf = Some(value);
    }

    let mut out = Map::new();
    let mut displaced = Vec::new();
    for (segment, child) in root.children {
        let value = build(child, &segment, &mut displaced);
        out.insert(segment, value);
    }
    for (key, value) in displaced.into_iter().chain(verbatim) {
        out.insert(key, value);
    }
    out
}

/// Builds the value of `node` found at dotted `path`, pushing leaves that
/// are also prefixes to `displaced` (rule 3).
fn build(node: Node, path: &str, displaced: &mut Vec<(String, Value)>) -> Value {
    let Node { leaf, children } = node;
    if children.is_empty() {
        return leaf.unwrap_or(Value::Null);
    }
    if let Some(leaf) = leaf {
        if path.contains('.') {
            displaced.push((path.to_owned(), leaf));
        } else {
            tracing::warn!(
                key = path,
                "attribute key is both a value and a prefix of other keys; keeping the nested keys"
            );
        }
    }
    let indices: Option<Vec<usize>> = children.keys().map(|k| array_index(k)).collect();
    match indices {
        Some(indices) => {
            let len = indices.iter().max().map_or(0, |max| max + 1);
            let mut array = vec![Value::Null; len];
            for (index, (segment, child)) in indices.into_iter().zip(children) {
                array[index] = build(child, &format!("{path}.{segment}"), displaced);
            }
            Value::Array(array)
        }
        None => Value::Object(
            children
                .into_iter()
                .map(|(segment, child)| {
                    let value = build(child, &format!("{path}.{segment}"), displaced);
                    (segment, value)
                })
                .collect(),
        ),
    }
}

/// `Some(i)` when `segment` is a canonical array index below [`MAX_ARRAY_LEN`].
fn array_index(segment: &str) -> Option<usize> {
    let canonical = segment == "0"
        || (!segment.starts_with('0') && segment.bytes().all(|b| b.is_ascii_digit()));
    if !canonical {
        return None;
    }
    segment.parse().ok().filter(|i| *i < MAX_ARRAY_LEN)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn run(pairs: &[(&str, Value)]) -> Value {
        Value::Object(unflatten(
            pairs.iter().map(|(k, v)| ((*k).to_owned(), v.clone())),
        ))
    }

    #[test]
    fn keys_deeper_than_the_limit_stay_verbatim() {
        let at_limit = vec!["a"; MAX_DEPTH].join(".");
        let mut value = run(&[(at_limit.as_str(), json!(1))]);
        for _ in 0..MAX_DEPTH {
            value = value["a"].take();
        }
        assert_eq!(value, json!(1), "{MAX_DEPTH} segments still nest");
        let deep = vec!["a"; 100_000].join(".");
        let out = run(&[(deep.as_str(), json!(1))]);
        assert_eq!(
            out[deep.as_str()],
            json!(1),
            "kept verbatim at the top level"
        );
    }

    #[test]
    fn dotted_keys_nest() {
        assert_eq!(
            run(&[
                ("input.value", json!("hi")),
                ("input.mime_type", json!("text/plain"))
            ]),
            json!({"input": {"value": "hi", "mime_type": "text/plain"}})
        );
    }

    #[test]
    fn numeric_segments_become_arrays() {
        assert_eq!(
            run(&[
                ("retrieval.documents.1.document.content", json!("b")),
                ("retrieval.documents.0.document.content", json!("a")),
                ("retrieval.documents.0.document.score", json!(0.9)),
            ]),
            json!({"retrieval": {"documents": [
                {"document": {"content": "a", "score": 0.9}},
                {"document": {"content": "b"}}
            ]}})
        );
    }

    #[test]
    fn ten_and_more_elements_keep_numeric_order() {
        let pairs: Vec<(String, Value)> = (0..12).map(|i| (format!("l.{i}"), json!(i))).collect();
        let out = Value::Object(unflatten(pairs));
        assert_eq!(out["l"], json!([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]));
    }

    #[test]
    fn sparse_indices_are_filled_with_null() {
        assert_eq!(
            run(&[("a.0", json!("x")), ("a.2", json!("y"))]),
            json!({"a": ["x", null, "y"]})
        );
    }

    #[test]
    fn mixed_or_non_canonical_indices_make_objects() {
        assert_eq!(
            run(&[("a.0", json!(1)), ("a.b", json!(2))]),
            json!({"a": {"0": 1, "b": 2}})
        );
        assert_eq!(run(&[("a.01", json!(1))]), json!({"a": {"01": 1}}));
        assert_eq!(
            run(&[("a.99999999", json!(1))]),
            json!({"a": {"99999999": 1}})
        );
    }

    #[test]
    fn leaf_and_prefix_keeps_both_in_any_order() {
        let forward = run(&[
            ("gen_ai.prompt", json!("flat")),
            ("gen_ai.prompt.0.message.content", json!("nested")),
        ]);
        let backward = run(&[
            ("gen_ai.prompt.0.message.content", json!("nested")),
            ("gen_ai.prompt", json!("flat")),
        ]);
        let expected = json!({
            "gen_ai": {"prompt": [{"message": {"content": "nested"}}]},
            "gen_ai.prompt": "flat"
        });
        assert_eq!(forward, expected);
        assert_eq!(backward, expected);
    }

    #[test]
    fn one_segment_leaf_and_prefix_keeps_the_nested_keys() {
        assert_eq!(
            run(&[
                ("gen_ai", json!("flat")),
                ("gen_ai.system", json!("dashscope"))
            ]),
            json!({"gen_ai": {"system": "dashscope"}})
        );
    }

    #[test]
    fn empty_segments_stay_verbatim_and_last_duplicate_wins() {
        assert_eq!(
            run(&[
                ("a..b", json!(1)),
                (".x", json!(2)),
                ("k", json!(1)),
                ("k", json!(3))
            ]),
            json!({"a..b": 1, ".x": 2, "k": 3})
        );
    }

    #[test]
    fn structured_values_are_kept() {
        assert_eq!(
            run(&[("tags", json!(["a", "b"])), ("m.kv", json!({"x.y": 1}))]),
            json!({"tags": ["a", "b"], "m": {"kv": {"x.y": 1}}})
        );
    }
}
