//! Reference answers (`spec.dataset`, `traceval evaluate --dataset FILE`):
//! rows of `{query, reference}`, as JSON lines or as a YAML or JSON list.
//!
//! A trace's query finds its row exactly, or else after normalising both
//! (case folded, runs of whitespace made one space, ends trimmed): the
//! query an app logs is the user's text, and users differ in spacing and
//! case more than in words. No fuzzier matching: a near miss that picked
//! another question's reference would grade a right answer wrong.

use std::collections::HashMap;
use std::path::Path;

use serde::Deserialize;

/// Rows a dataset may hold (it is loaded whole into each evaluator).
pub const MAX_ROWS: usize = 100_000;

/// One row.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct Row {
    query: String,
    reference: String,
}

/// The reference answers, by query.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Dataset {
    exact: HashMap<String, usize>,
    normalized: HashMap<String, usize>,
    references: Vec<String>,
}

/// `text` with case folded, whitespace runs made one space, ends trimmed.
pub fn normalize(text: &str) -> String {
    text.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

impl Dataset {
    /// Reads the file at `path` (see [`Dataset::parse`]).
    pub fn load(path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("dataset {}: {e}", path.display()))?;
        Self::parse(&text).map_err(|e| format!("dataset {}: {e}", path.display()))
    }

    /// Rows from JSON lines, or from a YAML or JSON list.
    pub fn parse(text: &str) -> Result<Self, String> {
        let rows = if text.trim_start().starts_with('{') {
            json_lines(text)?
        } else {
            serde_yaml::from_str::<Vec<Row>>(text).map_err(|e| {
                format!("not a list of {{query, reference}} rows (nor JSON lines of them): {e}")
            })?
        };
        if rows.len() > MAX_ROWS {
            return Err(format!("{} rows; at most {MAX_ROWS} are read", rows.len()));
        }
        let mut dataset = Self::default();
        for (i, row) in rows.into_iter().enumerate() {
            if let Some(&first) = dataset.exact.get(&row.query) {
                if dataset.references[first] != row.reference {
                    return Err(format!(
                        "row {}: query {:?} has another reference in row {}",
                        i + 1,
                        row.query,
                        first + 1
                    ));
                }
                continue;
            }
            let index = dataset.references.len();
            dataset.exact.insert(row.query.clone(), index);
            dataset
                .normalized
                .entry(normalize(&row.query))
                .or_insert(index);
            dataset.references.push(row.reference);
        }
        Ok(dataset)
    }

    /// The reference answer for `query`, if the dataset has one.
    pub fn reference(&self, query: &str) -> Option<&str> {
        self.exact
            .get(query)
            .or_else(|| self.normalized.get(&normalize(query)))
            .map(|&i| self.references[i].as_str())
    }

    /// The number of distinct queries.
    pub fn len(&self) -> usize {
        self.references.len()
    }

    /// Whether it has no rows.
    pub fn is_empty(&self) -> bool {
        self.references.is_empty()
    }
}

fn json_lines(text: &str) -> Result<Vec<Row>, String> {
    text.lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty())
        .map(|(i, line)| {
            serde_json::from_str(line).map_err(|e| {
                format!(
                    "line {}: not a {{\"query\", \"reference\"}} object: {e}",
                    i + 1
                )
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_match_exactly_or_normalised() {
        let d = Dataset::parse(
            "{\"query\": \"What is  OSS?\", \"reference\": \"Object storage.\"}\n\n\
             {\"query\": \"Who are you?\", \"reference\": \"An assistant.\"}\n",
        )
        .unwrap();
        assert_eq!(d.len(), 2);
        assert_eq!(d.reference("What is  OSS?"), Some("Object storage."));
        assert_eq!(d.reference("  what IS oss?\n"), Some("Object storage."));
        assert_eq!(
            d.reference("What is OSS"),
            None,
            "punctuation is not normalised"
        );
    }

    #[test]
    fn yaml_and_json_lists_are_read() {
        let yaml = Dataset::parse("- query: a?\n  reference: A.\n- query: b?\n  reference: B.\n");
        assert_eq!(yaml.unwrap().reference("B?"), Some("B."));
        let json = Dataset::parse(r#"[{"query": "a?", "reference": "A."}]"#).unwrap();
        assert_eq!(json.reference("a?"), Some("A."));
    }

    #[test]
    fn bad_rows_are_named() {
        let e = Dataset::parse("{\"query\": \"a\", \"reference\": \"A\"}\n{\"query\": \"b\"}\n")
            .unwrap_err();
        assert!(e.starts_with("line 2: "), "{e}");
        let e = Dataset::parse("- query: a\n  answer: A\n").unwrap_err();
        assert!(e.contains("unknown field `answer`"), "{e}");
        let e =
            Dataset::parse("- {query: a, reference: A}\n- {query: a, reference: B}\n").unwrap_err();
        assert_eq!(e, "row 2: query \"a\" has another reference in row 1");
        // The same row twice is not an error.
        assert!(Dataset::parse("- {query: a, reference: A}\n- {query: a, reference: A}\n").is_ok());
    }
}
