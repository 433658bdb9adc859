//! Judge prompt templates: text with `{variable}` placeholders over the
//! extracted fields. The built-in metrics are templates too
//! ([`super::prompts`]), so a task's own metric is asked exactly the way
//! the built-ins are.
//!
//! - `{query}`, `{answer}`, `{contexts}` (every retrieved document, numbered),
//!   `{reference}` (the reference answer from the task's dataset) and, in a
//!   per-document metric, `{document}` (the one document being judged).
//! - Each variable renders as a tagged block (`<question>…</question>`,
//!   `<answer>`, `<reference>` with `<document index="N">` inside,
//!   `<expected_answer>`, `<document>`), never as bare text: the system
//!   message tells the judge that tagged text is data, not instructions, so
//!   a trace saying "ignore previous instructions" stays data.
//! - `{{` and `}}` are literal braces; any other brace is an error, so a
//!   misspelt variable is reported at apply instead of reaching the judge.

use std::fmt::Write as _;

/// A variable of a template.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Var {
    /// The query.
    Query,
    /// The answer.
    Answer,
    /// Every retrieved document.
    Contexts,
    /// The reference answer.
    Reference,
    /// The document being judged (per-document metrics).
    Document,
}

impl Var {
    /// Every variable, with its name in templates.
    pub const ALL: [(&'static str, Var); 5] = [
        ("query", Var::Query),
        ("answer", Var::Answer),
        ("contexts", Var::Contexts),
        ("reference", Var::Reference),
        ("document", Var::Document),
    ];

    /// Its name in templates.
    pub fn name(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(_, v)| *v == self)
            .map_or("", |(name, _)| name)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Text(String),
    Var(Var),
}

/// A parsed template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template(Vec<Part>);

/// Why a template cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    /// `{name}` with a name that is not a variable.
    #[error(
        "unknown variable {{{0}}} (known: {{query}}, {{answer}}, {{contexts}}, {{reference}}, {{document}}; write {{{{ and }}}} for literal braces)"
    )]
    Unknown(String),
    /// A brace that opens or closes nothing.
    #[error("unmatched {0:?} at character {1} (write {{{{ and }}}} for literal braces)")]
    Unmatched(char, usize),
    /// `{document}` in a per-trace metric.
    #[error("{{document}} is only known in a per-document metric (level: document)")]
    DocumentInTraceMetric,
    /// A per-document metric that does not show the document.
    #[error("a per-document metric (level: document) must use {{document}}")]
    NoDocument,
}

/// The fields a template is rendered with.
#[derive(Debug, Clone, Copy, Default)]
pub struct Fields<'a> {
    /// The query.
    pub query: &'a str,
    /// The answer.
    pub answer: &'a str,
    /// The retrieved documents.
    pub contexts: &'a [String],
    /// The reference answer, when the dataset has one for the query.
    pub reference: Option<&'a str>,
    /// The document judged (per-document metrics).
    pub document: Option<&'a str>,
}

impl Template {
    /// Parses `text`; `per_document` says whether `{document}` is known
    /// (and required).
    pub fn parse(text: &str, per_document: bool) -> Result<Self, TemplateError> {
        let mut parts = Vec::new();
        let mut literal = String::new();
        let mut chars = text.char_indices().peekable();
        while let Some((i, c)) = chars.next() {
            match c {
                '{' if chars.peek().map(|(_, c)| *c) == Some('{') => {
                    chars.next();
                    literal.push('{');
                }
                '}' if chars.peek().map(|(_, c)| *c) == Some('}') => {
                    chars.next();
                    literal.push('}');
                }
                '{' => {
                    let rest = &text[i + 1..];
                    let Some(end) = rest.find('}') else {
                        return Err(TemplateError::Unmatched('{', text[..i].chars().count()));
                    };
                    let name = &rest[..end];
                    let var = Var::ALL
                        .iter()
                        .find(|(n, _)| *n == name)
                        .map(|(_, v)| *v)
                        .ok_or_else(|| TemplateError::Unknown(name.to_owned()))?;
                    if var == Var::Document && !per_document {
                        return Err(TemplateError::DocumentInTraceMetric);
                    }
                    if !literal.is_empty() {
                        parts.push(Part::Text(std::mem::take(&mut literal)));
                    }
                    parts.push(Part::Var(var));
                    for _ in 0..=name.chars().count() {
                        chars.next();
                    }
                }
                '}' => return Err(TemplateError::Unmatched('}', text[..i].chars().count())),
                c => literal.push(c),
            }
        }
        if !literal.is_empty() {
            parts.push(Part::Text(literal));
        }
        let template = Self(parts);
        if per_document && !template.uses(Var::Document) {
            return Err(TemplateError::NoDocument);
        }
        Ok(template)
    }

    /// Whether the template uses `var`.
    pub fn uses(&self, var: Var) -> bool {
        self.0.contains(&Part::Var(var))
    }

    /// The user message for `fields`; a variable without a value (no
    /// reference, no document) renders as nothing: callers skip a metric
    /// whose variables are missing before asking.
    pub fn render(&self, fields: &Fields<'_>) -> String {
        let mut out = String::new();
        for part in &self.0 {
            match part {
                Part::Text(text) => out.push_str(text),
                Part::Var(Var::Query) => tagged(&mut out, "question", fields.query),
                Part::Var(Var::Answer) => tagged(&mut out, "answer", fields.answer),
                Part::Var(Var::Contexts) => references(&mut out, fields.contexts),
                Part::Var(Var::Reference) => {
                    if let Some(reference) = fields.reference {
                        tagged(&mut out, "expected_answer", reference);
                    }
                }
                Part::Var(Var::Document) => {
                    if let Some(document) = fields.document {
                        tagged(&mut out, "document", document);
                    }
                }
            }
        }
        out
    }
}

fn tagged(out: &mut String, tag: &str, text: &str) {
    let _ = writeln!(out, "<{tag}>\n{text}\n</{tag}>");
}

fn references(out: &mut String, contexts: &[String]) {
    out.push_str("<reference>\n");
    for (i, context) in contexts.iter().enumerate() {
        let _ = writeln!(
            out,
            "<document index=\"{}\">\n{context}\n</document>",
            i + 1
        );
    }
    out.push_str("</reference>\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variables_render_as_tagged_blocks() {
        let t = Template::parse("Judge {{this}}:\n\n{query}{contexts}{answer}", false).unwrap();
        let contexts = ["one".to_owned(), "two".to_owned()];
        let text = t.render(&Fields {
            query: "q?",
            answer: "a.",
            contexts: &contexts,
            ..Fields::default()
        });
        assert_eq!(
            text,
            "Judge {this}:\n\n<question>\nq?\n</question>\n<reference>\n\
             <document index=\"1\">\none\n</document>\n<document index=\"2\">\ntwo\n</document>\n\
             </reference>\n<answer>\na.\n</answer>\n"
        );
        assert!(t.uses(Var::Contexts) && !t.uses(Var::Reference));
    }

    #[test]
    fn bad_templates_say_why() {
        assert_eq!(
            Template::parse("{question}", false),
            Err(TemplateError::Unknown("question".into()))
        );
        assert_eq!(
            Template::parse("a { b", false),
            Err(TemplateError::Unmatched('{', 2))
        );
        assert_eq!(
            Template::parse("a } b", false),
            Err(TemplateError::Unmatched('}', 2))
        );
        assert_eq!(
            Template::parse("{document}", false),
            Err(TemplateError::DocumentInTraceMetric)
        );
        assert_eq!(
            Template::parse("{query}", true),
            Err(TemplateError::NoDocument)
        );
        let msg = TemplateError::Unknown("q".into()).to_string();
        assert!(
            msg.starts_with("unknown variable {q} (known: {query}"),
            "{msg}"
        );
        assert!(Template::parse("{query} {document}", true).is_ok());
    }
}
