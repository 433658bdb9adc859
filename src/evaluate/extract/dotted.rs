//! The seed's dotted paths as RFC 9535 JSONPath: `$.` is prefixed (`$`
//! alone before a leading `[`; a path that starts with `$` is taken as it
//! is); outside brackets and quotes, a numeric segment (`documents.0`)
//! becomes an index (`documents[0]`), since JSONPath's shorthand cannot start
//! a name with a digit, and a segment with `-`, `:`, `/`, `+`, `~` or `#`
//! (`x-request-id`) becomes a bracketed name (`['x-request-id']`), since the
//! shorthand allows only letters, digits and `_`.

/// Converts the seed's dotted form to JSONPath (see the module documentation).
pub fn to_jsonpath(dotted: &str) -> String {
    if dotted.starts_with('$') {
        return dotted.to_owned();
    }
    let rooted = if dotted.starts_with('[') || dotted.is_empty() {
        format!("${dotted}")
    } else {
        format!("$.{dotted}")
    };
    indices_from_numeric_segments(&rooted)
}

/// The dotted segment at the start of `rest` when it must be written in
/// brackets: a name made of letters, digits and `_` plus at least one of
/// the other characters attribute keys use (`-`, `:`, `/`, `+`, `~`, `#`:
/// `x-request-id`, `db.system:v2`). Any other character leaves the segment
/// to the JSONPath parser (and its error).
fn bracketable(rest: &[char]) -> Option<String> {
    let name: String = rest
        .iter()
        .take_while(|c| **c != '.' && **c != '[')
        .collect();
    let shorthand = |c: char| c.is_ascii_alphanumeric() || c == '_' || !c.is_ascii();
    let extra = |c: char| matches!(c, '-' | ':' | '/' | '+' | '~' | '#');
    let allowed = name.chars().all(|c| shorthand(c) || extra(c));
    (allowed && name.chars().any(extra)).then_some(name)
}

/// Rewrites `.123` (outside brackets and quotes) to `[123]`, and `.x-y`
/// to `['x-y']`.
fn indices_from_numeric_segments(path: &str) -> String {
    let chars: Vec<char> = path.chars().collect();
    let mut out = String::with_capacity(path.len() + 8);
    let mut depth = 0usize;
    let mut quote: Option<char> = None;
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match quote {
            Some(q) => {
                out.push(c);
                if c == '\\' {
                    if let Some(next) = chars.get(i + 1) {
                        out.push(*next);
                        i += 1;
                    }
                } else if c == q {
                    quote = None;
                }
            }
            None => match c {
                '\'' | '"' => {
                    quote = Some(c);
                    out.push(c);
                }
                '[' | '(' => {
                    depth += 1;
                    out.push(c);
                }
                ']' | ')' => {
                    depth = depth.saturating_sub(1);
                    out.push(c);
                }
                '.' if depth == 0 && bracketable(&chars[i + 1..]).is_some() => {
                    let name: String = bracketable(&chars[i + 1..]).unwrap_or_default();
                    if out.ends_with('.') {
                        // `..name`: a descendant segment keeps its dots.
                        out.push('.');
                    }
                    out.push_str("['");
                    out.push_str(&name);
                    out.push_str("']");
                    i += 1 + name.chars().count();
                    continue;
                }
                '.' if depth == 0 && chars.get(i + 1).is_some_and(char::is_ascii_digit) => {
                    let digits: String = chars[i + 1..]
                        .iter()
                        .take_while(|c| c.is_ascii_digit())
                        .collect();
                    let end = i + 1 + digits.len();
                    if chars.get(end).is_none_or(|c| *c == '.' || *c == '[') {
                        out.push('[');
                        out.push_str(&digits);
                        out.push(']');
                        i = end;
                        continue;
                    }
                    out.push(c);
                }
                _ => out.push(c),
            },
        }
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dotted_forms_become_jsonpath() {
        assert_eq!(
            to_jsonpath("attributes.input.value"),
            "$.attributes.input.value"
        );
        assert_eq!(to_jsonpath("text[0]"), "$.text[0]");
        assert_eq!(to_jsonpath("[0].x"), "$[0].x");
        assert_eq!(to_jsonpath("$.a"), "$.a");
        assert_eq!(
            to_jsonpath("attributes.gen_ai.prompts.1.message.content"),
            "$.attributes.gen_ai.prompts[1].message.content"
        );
        assert_eq!(to_jsonpath("a['x.0'].b.10"), "$.a['x.0'].b[10]");
        assert_eq!(
            to_jsonpath("a.0b"),
            "$.a.0b",
            "not a pure index: left to the parser"
        );
        assert_eq!(
            to_jsonpath("attributes.x-request-id"),
            "$.attributes['x-request-id']"
        );
        assert_eq!(to_jsonpath("a.b-c.d:e.0"), "$.a['b-c']['d:e'][0]");
        assert_eq!(
            to_jsonpath("$..x-y"),
            "$..x-y",
            "a $-rooted path is left alone"
        );
        assert_eq!(to_jsonpath("a..x-y"), "$.a..['x-y']");
        assert_eq!(to_jsonpath("a.*"), "$.a.*");
    }
}
