//! The extraction settings applied to a trace: each of query, answer and
//! context is a list of rules tried in order (one rule from the task, or a
//! preset's alternatives, [`preset`]); the first rule that finds something
//! gives the value. A rule is a span selector ([`selector`]), a path in the
//! span object and optionally a path inside the value found ([`jsonpath`]).
//!
//! Query and answer come from one span each, chosen by [`choice`]: the
//! shallowest matching span, then the earliest (query) or latest (answer);
//! contexts from all matching spans in start order.

pub mod choice;
pub mod dotted;
pub mod jsonpath;
pub mod preset;
pub mod pyrepr;
pub mod selector;

use self::choice::{Choice, Choices, View, pick};
use self::jsonpath::Path;
pub use self::selector::SpanSelector;
use super::trace::{Span, Trace};
use crate::api::evaluationtask::{ExtractionRule, ExtractionSpec};

/// An invalid extraction setting.
#[derive(Debug, thiserror::Error)]
#[error("extraction.{field}: {message}")]
pub struct ExtractError {
    /// `query`, `answer`, `context` or `preset`.
    pub field: &'static str,
    /// What is wrong.
    pub message: String,
}

/// One compiled extraction setting.
#[derive(Debug, Clone)]
pub struct Rule {
    selector: SpanSelector,
    path: Path,
    value_path: Option<Path>,
}

impl Rule {
    fn compile(
        field: &'static str,
        rule: &ExtractionRule,
        single: bool,
    ) -> Result<Self, ExtractError> {
        let error = |message: String| ExtractError { field, message };
        if rule.span_name.trim().is_empty() {
            return Err(error("spanName must not be empty".into()));
        }
        if rule.json_path_in_span.trim().is_empty() {
            return Err(error("jsonPathInSpan must not be empty".into()));
        }
        let paths = std::iter::once(&rule.json_path_in_span).chain(&rule.json_path_in_span_value);
        for path in paths {
            if single && jsonpath::has_wildcard(path) {
                return Err(error(format!(
                    "{path:?} has a wildcard or a descendant segment (..); only context paths may select several values"
                )));
            }
        }
        Ok(Self {
            selector: SpanSelector::parse(&rule.span_name).map_err(error)?,
            path: Path::parse(&rule.json_path_in_span).map_err(error)?,
            value_path: rule
                .json_path_in_span_value
                .as_deref()
                .map(Path::parse)
                .transpose()
                .map_err(error)?,
        })
    }

    /// The values this rule finds in one span, as text.
    fn values(&self, span: &Span) -> Vec<String> {
        let whole;
        let object = if self.path.reaches_resource() {
            whole = span.to_json();
            &whole
        } else {
            span.without_resource()
        };
        let found = self.path.select(object);
        let Some(value_path) = &self.value_path else {
            return found.into_iter().map(jsonpath::as_text).collect();
        };
        let mut out = Vec::new();
        for value in found {
            let decoded = jsonpath::decode_embedded(value);
            let inner = decoded.as_ref().unwrap_or(value);
            out.extend(value_path.select(inner).into_iter().map(jsonpath::as_text));
        }
        out
    }

    fn first_value(&self, span: &Span) -> Option<String> {
        self.values(span).into_iter().next()
    }

    fn describe(&self) -> String {
        let paths = match &self.value_path {
            Some(v) => format!("{:?} then {:?}", self.path.as_str(), v.as_str()),
            None => format!("{:?}", self.path.as_str()),
        };
        format!("{} {paths}", self.selector.text())
    }

    fn matching<'t>(&self, view: &View<'t>) -> Vec<&'t Span> {
        let in_trace = |id: &str| view.contains(id);
        view.ordered
            .iter()
            .copied()
            .filter(|s| self.selector.matches(s, &in_trace))
            .collect()
    }
}

/// The rules of one field, tried in order.
#[derive(Debug, Clone)]
struct Field {
    rules: Vec<Rule>,
}

impl Field {
    fn compile(
        field: &'static str,
        explicit: Option<&ExtractionRule>,
        preset: Option<Vec<ExtractionRule>>,
        single: bool,
    ) -> Result<Option<Self>, ExtractError> {
        let rules = match (explicit, preset) {
            (Some(rule), _) => vec![Rule::compile(field, rule, single)?],
            (None, Some(rules)) => rules
                .iter()
                .map(|r| Rule::compile(field, r, single))
                .collect::<Result<_, _>>()?,
            (None, None) => return Ok(None),
        };
        Ok(Some(Self { rules }))
    }

    /// One value (query: `latest` false; answer: true), whether any span
    /// matched, and the choice when matching spans disagreed.
    fn single(&self, view: &View<'_>, latest: bool) -> (Option<String>, bool, Option<Box<Choice>>) {
        let mut span_found = false;
        for rule in &self.rules {
            let matching = rule.matching(view);
            if matching.is_empty() {
                continue;
            }
            span_found = true;
            if let Some((value, choice)) = pick(view, &matching, latest, |s| rule.first_value(s)) {
                return (Some(value), true, choice);
            }
        }
        (None, span_found, None)
    }

    /// All values of the first rule that finds any, in start order.
    fn all(&self, view: &View<'_>) -> Vec<String> {
        for rule in &self.rules {
            let found: Vec<String> = rule
                .matching(view)
                .into_iter()
                .flat_map(|s| rule.values(s))
                .collect();
            if !found.is_empty() {
                return found;
            }
        }
        Vec::new()
    }

    fn describe(&self) -> String {
        let rules: Vec<String> = self.rules.iter().map(Rule::describe).collect();
        rules.join(" or ")
    }

    fn selectors(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for rule in &self.rules {
            let text = rule.selector.text();
            if !out.contains(&text) {
                out.push(text);
            }
        }
        out
    }
}

/// What extraction found in one trace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Extracted {
    /// The trace.
    pub trace_id: String,
    /// The query, when found.
    pub query: Option<String>,
    /// The answer, when found.
    pub answer: Option<String>,
    /// The contexts, in retrieval order (empty without a context setting).
    pub contexts: Vec<String>,
    /// Whether any span matched the query selector.
    pub query_span_found: bool,
    /// Whether any span matched the answer selector.
    pub answer_span_found: bool,
    /// Which spans query and answer came from, where matching spans disagreed.
    pub choices: Choices,
}

impl Extracted {
    /// Why query or answer is missing, for a failed trace; `None` when both were found.
    pub fn missing(&self, extractor: &Extractor) -> Option<String> {
        let mut reasons = Vec::new();
        for (name, value, span_found, field) in [
            (
                "query",
                &self.query,
                self.query_span_found,
                &extractor.query,
            ),
            (
                "answer",
                &self.answer,
                self.answer_span_found,
                &extractor.answer,
            ),
        ] {
            if value.is_some() {
                continue;
            }
            reasons.push(if span_found {
                format!(
                    "{name}: {} found nothing in the matching spans",
                    field.describe()
                )
            } else {
                format!("{name}: no span matches {}", quoted(&field.selectors()))
            });
        }
        (!reasons.is_empty()).then(|| reasons.join("; "))
    }
}

fn quoted(selectors: &[String]) -> String {
    let quoted: Vec<String> = selectors.iter().map(|s| format!("{s:?}")).collect();
    quoted.join(" or ")
}

/// The compiled settings of a task.
#[derive(Debug, Clone)]
pub struct Extractor {
    query: Field,
    answer: Field,
    context: Option<Field>,
}

impl Extractor {
    /// Compiles a task's extraction settings (a preset's rules, replaced
    /// field by field by the rules the task sets).
    pub fn new(spec: &ExtractionSpec) -> Result<Self, ExtractError> {
        let preset = spec.preset.map(preset::rules);
        let (query, answer, context) = match preset {
            Some(p) => (Some(p.query), Some(p.answer), p.context),
            None => (None, None, None),
        };
        let required = |field: &'static str| ExtractError {
            field,
            message: "set it, or a preset".into(),
        };
        Ok(Self {
            query: Field::compile("query", spec.query.as_ref(), query, true)?
                .ok_or_else(|| required("query"))?,
            answer: Field::compile("answer", spec.answer.as_ref(), answer, true)?
                .ok_or_else(|| required("answer"))?,
            context: Field::compile("context", spec.context.as_ref(), context, false)?,
        })
    }

    /// Whether a context setting exists (faithfulness and retrieval metrics apply).
    pub fn has_context(&self) -> bool {
        self.context.is_some()
    }

    /// Why a trace where no span matches the query or answer selector is
    /// skipped, naming the selectors (a bounded set: from the task).
    pub fn no_match_reason(&self) -> String {
        let mut selectors = self.query.selectors();
        for s in self.answer.selectors() {
            if !selectors.contains(&s) {
                selectors.push(s);
            }
        }
        format!("no span matches {}", quoted(&selectors))
    }

    /// Applies the settings to one trace.
    pub fn extract(&self, trace: &Trace) -> Extracted {
        let view = View::new(trace);
        let (query, query_span_found, query_choice) = self.query.single(&view, false);
        let (answer, answer_span_found, answer_choice) = self.answer.single(&view, true);
        let contexts = self
            .context
            .as_ref()
            .map_or_else(Vec::new, |field| field.all(&view));
        Extracted {
            trace_id: trace.trace_id.clone(),
            query,
            answer,
            contexts,
            query_span_found,
            answer_span_found,
            choices: Choices {
                query: query_choice,
                answer: answer_choice,
            },
        }
    }
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod selector_tests;
