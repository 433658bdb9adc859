//! Reading a judge's reply. The judge is asked for
//! `{"label": "...", "score": <0..1>, "explanation": "..."}`; models add code
//! fences, prose around the object, capitals and punctuation. The label
//! decides the score (rails: positive 1, negative 0); the judge's own
//! `score` is not trusted, since models often disagree with themselves.
//!
//! - The first JSON object with a `label` member (inside a code fence, the
//!   whole reply, or anywhere in the text) is used; its label is snapped to
//!   a rail: rails are tried longest first and must match whole words, so
//!   "incorrect" is never read as "correct" and "unfaithful" not as "faithful".
//! - An object without a label whose `score` is exactly 1 or 0 (the values
//!   the prompt ties to the rails) is read as that rail; a fractional score
//!   without a label says nothing about which side of the judge's threshold
//!   it meant, so it is not parsable.
//! - Without such an object, a reply naming exactly one rail as a whole word
//!   ("The answer is incorrect.") is read as that rail.
//! - Anything else is [`NotParsable`]: counted by the caller, never a 0.

use serde_json::Value;

/// The two labels a judge may answer for one metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rails {
    /// The label worth 1.
    pub positive: &'static str,
    /// The label worth 0.
    pub negative: &'static str,
}

impl Rails {
    fn longest_first(&self) -> [(&'static str, bool); 2] {
        let p = (self.positive, true);
        let n = (self.negative, false);
        if self.negative.len() >= self.positive.len() {
            [n, p]
        } else {
            [p, n]
        }
    }

    /// The rail `label` names, longest rail first, whole words only.
    pub fn snap(&self, label: &str) -> Option<bool> {
        let lower = label.to_lowercase();
        self.longest_first()
            .into_iter()
            .find(|(rail, _)| contains_word(&lower, rail))
            .map(|(_, positive)| positive)
    }

    /// The rail free text names, when it names exactly one.
    fn snap_prose(&self, text: &str) -> Option<bool> {
        let lower = text.to_lowercase();
        let found: Vec<bool> = self
            .longest_first()
            .into_iter()
            .filter(|(rail, _)| contains_word(&lower, rail))
            .map(|(_, positive)| positive)
            .collect();
        match found.as_slice() {
            [one] => Some(*one),
            _ => None,
        }
    }
}

/// A judge's verdict on one question.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    /// Whether the positive rail was chosen.
    pub positive: bool,
    /// 1 for the positive rail, 0 for the negative one.
    pub score: f64,
    /// The judge's explanation, when it gave one.
    pub explanation: Option<String>,
}

/// A reply whose label could not be read; holds the start of the reply.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("judge reply not parsable: {0:?}")]
pub struct NotParsable(pub String);

/// Reads a reply against the metric's rails (see the module documentation).
pub fn parse_reply(reply: &str, rails: &Rails) -> Result<Verdict, NotParsable> {
    let verdict = |positive: bool, explanation: Option<String>| Verdict {
        positive,
        score: if positive { 1.0 } else { 0.0 },
        explanation,
    };
    if let Some(object) = find_object(reply) {
        let explanation = object
            .get("explanation")
            .and_then(Value::as_str)
            .map(str::to_owned);
        let positive = match object.get("label") {
            Some(Value::String(label)) => rails.snap(label),
            Some(other) => rails.snap(&other.to_string()),
            None => match object.get("score").and_then(Value::as_f64) {
                Some(1.0) => Some(true),
                Some(0.0) => Some(false),
                _ => None,
            },
        };
        return positive
            .map(|positive| verdict(positive, explanation))
            .ok_or_else(|| not_parsable(reply));
    }
    rails
        .snap_prose(reply)
        .map(|positive| verdict(positive, None))
        .ok_or_else(|| not_parsable(reply))
}

fn not_parsable(reply: &str) -> NotParsable {
    NotParsable(reply.chars().take(200).collect())
}

/// The first JSON object with a `label` (or `score`) member: in a code
/// fence, as the whole reply, or starting at any `{`.
fn find_object(reply: &str) -> Option<serde_json::Map<String, Value>> {
    let with_label = |v: Value| match v {
        Value::Object(map) if map.contains_key("label") || map.contains_key("score") => Some(map),
        _ => None,
    };
    let mut candidates: Vec<&str> = fenced_blocks(reply);
    candidates.push(reply.trim());
    for candidate in candidates {
        if let Some(map) = serde_json::from_str(candidate).ok().and_then(with_label) {
            return Some(map);
        }
    }
    reply.match_indices('{').find_map(|(i, _)| {
        serde_json::Deserializer::from_str(&reply[i..])
            .into_iter::<Value>()
            .next()?
            .ok()
            .and_then(with_label)
    })
}

/// Contents of ``` fenced blocks, without the language tag.
fn fenced_blocks(reply: &str) -> Vec<&str> {
    let mut blocks = Vec::new();
    let mut rest = reply;
    while let Some(open) = rest.find("```") {
        let after = &rest[open + 3..];
        let body_start = after.find('\n').map_or(0, |i| i + 1);
        let Some(close) = after[body_start..].find("```") else {
            break;
        };
        blocks.push(after[body_start..body_start + close].trim());
        rest = &after[body_start + close + 3..];
    }
    blocks
}

/// Whether `word` occurs in `text` with no letter or digit on either side.
fn contains_word(text: &str, word: &str) -> bool {
    text.match_indices(word).any(|(i, _)| {
        let before = text[..i].chars().next_back();
        let after = text[i + word.len()..].chars().next();
        !before.is_some_and(char::is_alphanumeric) && !after.is_some_and(char::is_alphanumeric)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const CORRECTNESS: Rails = Rails {
        positive: "correct",
        negative: "incorrect",
    };
    const FAITHFULNESS: Rails = Rails {
        positive: "faithful",
        negative: "hallucinated",
    };

    fn label(reply: &str, rails: &Rails) -> Option<bool> {
        parse_reply(reply, rails).ok().map(|v| v.positive)
    }

    #[test]
    fn plain_json() {
        let v = parse_reply(
            r#"{"label": "correct", "score": 1, "explanation": "Paris is right."}"#,
            &CORRECTNESS,
        )
        .unwrap();
        assert_eq!(
            v,
            Verdict {
                positive: true,
                score: 1.0,
                explanation: Some("Paris is right.".into())
            }
        );
    }

    #[test]
    fn incorrect_wins_over_correct() {
        assert_eq!(
            label(r#"{"label": "incorrect"}"#, &CORRECTNESS),
            Some(false)
        );
        assert_eq!(
            label(r#"{"label": "INCORRECT."}"#, &CORRECTNESS),
            Some(false)
        );
        assert_eq!(label(r#"{"label": "Correct"}"#, &CORRECTNESS), Some(true));
        assert_eq!(label(r#"{"label": "unfaithful"}"#, &FAITHFULNESS), None);
    }

    #[test]
    fn code_fences_and_prose_around() {
        let fenced = "Here is my verdict:\n```json\n{\"label\": \"hallucinated\", \"score\": 0, \"explanation\": \"not in the context\"}\n```\nHope this helps.";
        assert_eq!(label(fenced, &FAITHFULNESS), Some(false));
        let bare_fence = "```\n{\"label\":\"faithful\"}\n```";
        assert_eq!(label(bare_fence, &FAITHFULNESS), Some(true));
        let prose =
            "Thinking... the answer matches. {\"label\": \"correct\", \"score\": 1.0} Done.";
        assert_eq!(label(prose, &CORRECTNESS), Some(true));
        let nested =
            r#"Result: {"label": "incorrect", "details": {"x": "}"}, "explanation": "no"}"#;
        assert_eq!(label(nested, &CORRECTNESS), Some(false));
    }

    #[test]
    fn score_only_objects_on_the_rails() {
        let v = parse_reply(r#"{"score": 1.0, "explanation": "ok"}"#, &CORRECTNESS).unwrap();
        assert!(v.positive);
        assert_eq!(label(r#"{"score": 0}"#, &FAITHFULNESS), Some(false));
        // The label wins over the score.
        assert_eq!(
            label(r#"{"label": "incorrect", "score": 1}"#, &CORRECTNESS),
            Some(false)
        );
    }

    #[test]
    fn label_only_prose() {
        assert_eq!(label("incorrect", &CORRECTNESS), Some(false));
        assert_eq!(label("The answer is correct.", &CORRECTNESS), Some(true));
        assert_eq!(label("**Hallucinated**", &FAITHFULNESS), Some(false));
    }

    #[test]
    fn not_parsable_replies() {
        for reply in [
            "",
            "I cannot judge this.",
            "It is not incorrect, it is correct.",
            r#"{"score": 0.7, "explanation": "fractional, no label"}"#,
            r#"{"label": "maybe"}"#,
            "<html>502 Bad Gateway</html>",
        ] {
            let result = parse_reply(reply, &CORRECTNESS);
            assert!(result.is_err(), "{reply:?} gave {result:?}");
        }
    }
}
