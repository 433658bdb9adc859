//! Code checks (`spec.metrics.checks`): deterministic, no judge call. A
//! check scores 1 (label `pass`) or 0 (`fail`) and says what it found in
//! the explanation: the same shape as a judge metric's result, under
//! `scores.custom.<name>`. A check that does not apply (a `reference`
//! check on a trace whose query has no reference answer) is absent, like a
//! judge metric that does not apply.

use std::fmt;

use regex::Regex;

use super::dataset::normalize;
use crate::api::evaluationtask::{CheckField, CheckSpec, Judgement, ReferenceMatch};

/// Compiled regular expressions are capped at this size (a task's regex
/// must not make the evaluator build a huge automaton).
const REGEX_SIZE_LIMIT: usize = 1 << 20;

/// What a check sees of one trace.
#[derive(Debug, Clone, Copy)]
pub struct CheckInput<'a> {
    /// The query.
    pub query: &'a str,
    /// The answer.
    pub answer: &'a str,
    /// The reference answer, when the dataset has one.
    pub reference: Option<&'a str>,
    /// First span start to last span end.
    pub latency_nanos: u64,
}

/// One compiled check.
pub struct Check {
    name: String,
    kind: Kind,
}

enum Kind {
    Regex(CheckField, Regex),
    JsonSchema(Box<jsonschema::Validator>),
    Reference(ReferenceMatch),
    Length(CheckField, Option<u32>, Option<u32>),
    Latency(u64),
}

impl fmt::Debug for Check {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Check")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl Check {
    /// Compiles a check; the error names the field at fault.
    pub fn new(spec: &CheckSpec) -> Result<Self, String> {
        let kind = if let Some(pattern) = &spec.regex {
            let regex = regex::RegexBuilder::new(pattern)
                .size_limit(REGEX_SIZE_LIMIT)
                .build()
                .map_err(|e| format!("regex: {e}"))?;
            Kind::Regex(spec.field, regex)
        } else if let Some(schema) = &spec.json_schema {
            let validator =
                jsonschema::validator_for(schema).map_err(|e| format!("jsonSchema: {e}"))?;
            Kind::JsonSchema(Box::new(validator))
        } else if let Some(how) = spec.reference {
            Kind::Reference(how)
        } else if let Some(length) = &spec.length {
            Kind::Length(spec.field, length.min, length.max)
        } else if let Some(latency) = &spec.latency {
            Kind::Latency(latency.max_ms)
        } else {
            // The CRD's CEL rule requires exactly one kind.
            return Err(
                "no check kind: set one of regex, jsonSchema, reference, length and latency".into(),
            );
        };
        Ok(Self {
            name: spec.name.clone(),
            kind,
        })
    }

    /// Its name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The check's result on one trace; `None` when it does not apply.
    pub fn run(&self, input: &CheckInput<'_>) -> Option<Judgement> {
        let field = |f: CheckField| match f {
            CheckField::Answer => ("answer", input.answer),
            CheckField::Query => ("query", input.query),
        };
        let (pass, explanation) = match &self.kind {
            Kind::Regex(f, regex) => {
                let (name, text) = field(*f);
                let pass = regex.is_match(text);
                let verb = if pass { "matches" } else { "does not match" };
                (pass, format!("the {name} {verb} /{}/", regex.as_str()))
            }
            Kind::JsonSchema(validator) => match serde_json::from_str(input.answer) {
                Err(e) => (false, format!("the answer is not JSON: {e}")),
                Ok(value) => match validator.validate(&value) {
                    Ok(()) => (true, "the answer is JSON valid against the schema".into()),
                    Err(e) => (
                        false,
                        format!(
                            "the answer is not valid against the schema at {}: {e}",
                            e.instance_path()
                        ),
                    ),
                },
            },
            Kind::Reference(how) => {
                let reference = normalize(input.reference?);
                let answer = normalize(input.answer);
                match how {
                    ReferenceMatch::Exact => {
                        let pass = answer == reference;
                        let verb = if pass { "equals" } else { "differs from" };
                        (pass, format!("the answer {verb} the reference answer"))
                    }
                    ReferenceMatch::Contains => {
                        let pass = answer.contains(&reference);
                        let verb = if pass { "contains" } else { "does not contain" };
                        (pass, format!("the answer {verb} the reference answer"))
                    }
                }
            }
            Kind::Length(f, min, max) => {
                let (name, text) = field(*f);
                let n = text.chars().count() as u64;
                let too_short = min.is_some_and(|m| n < u64::from(m));
                let too_long = max.is_some_and(|m| n > u64::from(m));
                let bounds = match (min, max) {
                    (Some(a), Some(b)) => format!("{a} to {b}"),
                    (Some(a), None) => format!("at least {a}"),
                    (None, Some(b)) => format!("at most {b}"),
                    (None, None) => "any".into(),
                };
                (
                    !too_short && !too_long,
                    format!("the {name} is {n} characters long ({bounds} allowed)"),
                )
            }
            Kind::Latency(max_ms) => {
                let ms = input.latency_nanos as f64 / 1e6;
                (
                    ms <= *max_ms as f64,
                    format!("the trace took {ms:.1} ms (at most {max_ms} ms allowed)"),
                )
            }
        };
        Some(Judgement {
            label: Some(if pass { "pass" } else { "fail" }.into()),
            score: if pass { 1.0 } else { 0.0 },
            explanation: Some(explanation),
            documents: Vec::new(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::evaluationtask::{LatencyCheck, LengthCheck};

    fn spec(name: &str) -> CheckSpec {
        CheckSpec {
            name: name.into(),
            field: CheckField::Answer,
            regex: None,
            json_schema: None,
            reference: None,
            length: None,
            latency: None,
        }
    }

    fn input<'a>(answer: &'a str, reference: Option<&'a str>) -> CheckInput<'a> {
        CheckInput {
            query: "What is OSS?",
            answer,
            reference,
            latency_nanos: 1_500_000_000,
        }
    }

    fn score(check: &Check, input: &CheckInput<'_>) -> Option<f64> {
        check.run(input).map(|j| j.score)
    }

    #[test]
    fn regex_and_length_look_at_the_chosen_field() {
        let mut s = spec("cites");
        s.regex = Some(r"\[\d+\]".into());
        let check = Check::new(&s).unwrap();
        assert_eq!(
            score(&check, &input("Object storage [1].", None)),
            Some(1.0)
        );
        let fail = check.run(&input("Object storage.", None)).unwrap();
        assert_eq!(fail.label.as_deref(), Some("fail"));
        assert_eq!(
            fail.explanation.unwrap(),
            r"the answer does not match /\[\d+\]/"
        );
        s.field = CheckField::Query;
        s.regex = Some("^What".into());
        assert_eq!(
            score(&Check::new(&s).unwrap(), &input("x", None)),
            Some(1.0)
        );
        let mut s = spec("short");
        s.length = Some(LengthCheck {
            min: Some(2),
            max: Some(5),
        });
        let check = Check::new(&s).unwrap();
        assert_eq!(score(&check, &input("abcde", None)), Some(1.0));
        assert_eq!(score(&check, &input("abcdef", None)), Some(0.0));
        assert_eq!(score(&check, &input("a", None)), Some(0.0));
        // Characters, not bytes.
        assert_eq!(score(&check, &input("ééééé", None)), Some(1.0));
    }

    #[test]
    fn bad_regex_and_schema_are_named() {
        let mut s = spec("bad");
        s.regex = Some("(unclosed".into());
        assert!(Check::new(&s).unwrap_err().starts_with("regex: "));
        let mut s = spec("bad");
        s.json_schema = Some(serde_json::json!({"type": 12}));
        assert!(Check::new(&s).unwrap_err().starts_with("jsonSchema: "));
    }

    #[test]
    fn json_schema_validity() {
        let mut s = spec("shape");
        s.json_schema = Some(serde_json::json!({
            "type": "object",
            "required": ["answer"],
            "properties": {"answer": {"type": "string"}}
        }));
        let check = Check::new(&s).unwrap();
        assert_eq!(score(&check, &input(r#"{"answer": "x"}"#, None)), Some(1.0));
        let wrong = check.run(&input(r#"{"answer": 3}"#, None)).unwrap();
        assert_eq!(wrong.score, 0.0);
        assert!(wrong.explanation.unwrap().contains("/answer"));
        let prose = check.run(&input("Object storage.", None)).unwrap();
        assert!(
            prose
                .explanation
                .unwrap()
                .starts_with("the answer is not JSON")
        );
    }

    #[test]
    fn reference_checks_normalise_and_skip_traces_without_one() {
        let mut s = spec("exact");
        s.reference = Some(ReferenceMatch::Exact);
        let exact = Check::new(&s).unwrap();
        assert_eq!(
            score(&exact, &input(" object  STORAGE ", Some("Object storage"))),
            Some(1.0)
        );
        assert_eq!(
            score(&exact, &input("Object storage.", Some("Object storage"))),
            Some(0.0)
        );
        assert_eq!(score(&exact, &input("anything", None)), None);
        s.reference = Some(ReferenceMatch::Contains);
        let contains = Check::new(&s).unwrap();
        assert_eq!(
            score(
                &contains,
                &input("It is object storage, by Alibaba.", Some("Object Storage"))
            ),
            Some(1.0)
        );
    }

    #[test]
    fn latency_threshold() {
        let mut s = spec("fast");
        s.latency = Some(LatencyCheck { max_ms: 2000 });
        let check = Check::new(&s).unwrap();
        let j = check.run(&input("x", None)).unwrap();
        assert_eq!(
            (j.score, j.explanation.unwrap().as_str()),
            (1.0, "the trace took 1500.0 ms (at most 2000 ms allowed)")
        );
        s.latency = Some(LatencyCheck { max_ms: 1000 });
        assert_eq!(
            score(&Check::new(&s).unwrap(), &input("x", None)),
            Some(0.0)
        );
    }
}
