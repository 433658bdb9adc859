//! Reading a judge's reply. The judge is asked for
//! `{"label": "...", "score": <0..1>, "explanation": "..."}`; models add code
//! fences, prose around the object, capitals and punctuation. The label
//! decides the score (each rail has its score: the built-ins' positive 1,
//! negative 0; a custom metric's as its task says); the judge's own
//! `score` is not trusted, since models often disagree with themselves.
//!
//! - The first JSON object with a `label` member (inside a code fence, the
//!   whole reply, or anywhere in the text) is used; its label is snapped to
//!   a rail: rails are tried longest first and must match whole words, so
//!   "incorrect" is never read as "correct" and "unfaithful" not as "faithful".
//! - An object without a label whose `score` is exactly a rail's score (the
//!   values the prompt ties to the rails) is read as that rail; any other
//!   score without a label says nothing about which rail the judge meant, so
//!   it is not parsable.
//! - Without such an object, a reply naming exactly one rail as a whole word
//!   ("The answer is incorrect.") is read as that rail.
//! - A judge's explanation is kept, cut to [`MAX_EXPLANATION`] characters.
//! - Anything else is [`NotParsable`]: counted by the caller, never a 0.

use crate::api::evaluationtask::cut;
use serde_json::Value;

/// One label a judge may answer and the score it gives.
#[derive(Debug, Clone, PartialEq)]
pub struct Rail {
    /// The label, as the prompt spells it.
    pub label: String,
    /// Its score in [0, 1].
    pub score: f64,
}

/// The labels a judge may answer for one metric (two or more).
#[derive(Debug, Clone, PartialEq)]
pub struct Rails(Vec<Rail>);

impl Rails {
    /// Rails from `(label, score)` pairs, in the order the prompt names them.
    pub fn new<S: Into<String>>(rails: impl IntoIterator<Item = (S, f64)>) -> Self {
        Self(
            rails
                .into_iter()
                .map(|(label, score)| Rail {
                    label: label.into(),
                    score,
                })
                .collect(),
        )
    }

    /// The two rails of a pass/fail metric: `positive` worth 1, `negative` 0.
    pub fn binary(positive: &str, negative: &str) -> Self {
        Self::new([(positive, 1.0), (negative, 0.0)])
    }

    /// The rails in prompt order.
    pub fn iter(&self) -> impl Iterator<Item = &Rail> {
        self.0.iter()
    }

    /// Rails by decreasing label length, so a label containing another
    /// ("incorrect" ⊃ "correct") is tried first.
    fn longest_first(&self) -> Vec<&Rail> {
        let mut rails: Vec<&Rail> = self.0.iter().collect();
        rails.sort_by_key(|r| std::cmp::Reverse(r.label.len()));
        rails
    }

    /// The rail `label` names, longest rail first, whole words only.
    pub fn snap(&self, label: &str) -> Option<&Rail> {
        let lower = label.to_lowercase();
        self.longest_first()
            .into_iter()
            .find(|rail| contains_word(&lower, &rail.label.to_lowercase()))
    }

    /// The rail free text names, when it names exactly one.
    fn snap_prose(&self, text: &str) -> Option<&Rail> {
        let mut lower = text.to_lowercase();
        let mut found = Vec::new();
        for rail in self.longest_first() {
            let label = rail.label.to_lowercase();
            if contains_word(&lower, &label) {
                found.push(rail);
                // "incorrect" must not also count as "correct".
                lower = lower.replace(&label, " ");
            }
        }
        match found.as_slice() {
            [one] => Some(*one),
            _ => None,
        }
    }

    /// The rail with exactly this score, when one has it.
    fn by_score(&self, score: f64) -> Option<&Rail> {
        self.0.iter().find(|r| r.score == score)
    }
}

/// A judge's verdict on one question.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    /// The rail chosen.
    pub label: String,
    /// Its score.
    pub score: f64,
    /// The judge's explanation, when it gave one.
    pub explanation: Option<String>,
}

impl Verdict {
    /// Whether the verdict is on the upper half of the scale (for the
    /// binary built-ins: the positive rail).
    pub fn positive(&self) -> bool {
        self.score >= 0.5
    }
}

/// A reply whose label could not be read; holds the start of the reply.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("judge reply not parsable: {0:?}")]
pub struct NotParsable(pub String);

/// Reads a reply against the metric's rails (see the module documentation).
pub fn parse_reply(reply: &str, rails: &Rails) -> Result<Verdict, NotParsable> {
    let verdict = |rail: &Rail, explanation: Option<String>| Verdict {
        label: rail.label.clone(),
        score: rail.score,
        explanation,
    };
    if let Some(object) = find_object(reply) {
        let explanation = object
            .get("explanation")
            .and_then(Value::as_str)
            .map(|e| cut(e, MAX_EXPLANATION));
        let rail = match object.get("label") {
            Some(Value::String(label)) => rails.snap(label),
            Some(other) => rails.snap(&other.to_string()),
            None => object
                .get("score")
                .and_then(Value::as_f64)
                .and_then(|score| rails.by_score(score)),
        };
        return rail
            .map(|rail| verdict(rail, explanation))
            .ok_or_else(|| not_parsable(reply));
    }
    rails
        .snap_prose(reply)
        .map(|rail| verdict(rail, None))
        .ok_or_else(|| not_parsable(reply))
}

/// Characters of a judge's explanation kept in results.
pub const MAX_EXPLANATION: usize = 500;

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

    use std::sync::LazyLock;

    static CORRECTNESS: LazyLock<Rails> = LazyLock::new(|| Rails::binary("correct", "incorrect"));
    static FAITHFULNESS: LazyLock<Rails> =
        LazyLock::new(|| Rails::binary("faithful", "hallucinated"));

    fn label(reply: &str, rails: &Rails) -> Option<bool> {
        parse_reply(reply, rails).ok().map(|v| v.positive())
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
                label: "correct".into(),
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
        assert!(v.positive());
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

    #[test]
    fn graded_rails_of_a_custom_metric() {
        let rails = Rails::new([("polite", 1.0), ("neutral", 0.5), ("rude", 0.0)]);
        let v = parse_reply(r#"{"label": "Neutral", "explanation": "flat"}"#, &rails).unwrap();
        assert_eq!((v.label.as_str(), v.score), ("neutral", 0.5));
        assert_eq!(
            parse_reply(r#"{"score": 0.5}"#, &rails).unwrap().label,
            "neutral"
        );
        assert!(parse_reply(r#"{"score": 0.7}"#, &rails).is_err());
        assert_eq!(parse_reply("It is rude.", &rails).unwrap().score, 0.0);
        // Two rails named in prose: not parsable.
        assert!(parse_reply("polite, not rude", &rails).is_err());
        // Rails are tried longest first: "impolite" is not "polite".
        let rails = Rails::new([("polite", 1.0), ("impolite", 0.0)]);
        assert_eq!(
            parse_reply(r#"{"label":"impolite"}"#, &rails)
                .unwrap()
                .score,
            0.0
        );
        assert_eq!(parse_reply("Impolite.", &rails).unwrap().score, 0.0);
    }

    #[test]
    fn explanations_are_bounded() {
        let long = "x".repeat(5000);
        let reply = format!(r#"{{"label": "correct", "explanation": "{long}"}}"#);
        let v = parse_reply(&reply, &CORRECTNESS).unwrap();
        assert_eq!(v.explanation.unwrap().chars().count(), MAX_EXPLANATION);
    }
}
