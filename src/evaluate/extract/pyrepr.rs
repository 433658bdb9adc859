//! A Python literal (`repr` of dicts, lists, tuples, strings, numbers,
//! `True`/`False`/`None`) read as JSON: the DashScope instrumentation writes
//! `input.value`/`output.value` that way instead of JSON. Anything else (an
//! object's repr, trailing text) is not a literal and yields `None`.

use serde_json::{Map, Number, Value};

/// Limits nesting so a hostile attribute cannot overflow the stack.
const MAX_DEPTH: usize = 128;

/// Parses `text` as one Python literal.
pub fn parse(text: &str) -> Option<Value> {
    let mut parser = Parser {
        chars: text.chars().collect(),
        pos: 0,
    };
    let value = parser.value(0)?;
    parser.skip_ws();
    (parser.pos == parser.chars.len()).then_some(value)
}

struct Parser {
    chars: Vec<char>,
    pos: usize,
}

impl Parser {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn skip_ws(&mut self) {
        while self.peek().is_some_and(char::is_whitespace) {
            self.pos += 1;
        }
    }

    fn eat(&mut self, c: char) -> bool {
        self.skip_ws();
        if self.peek() == Some(c) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn value(&mut self, depth: usize) -> Option<Value> {
        if depth > MAX_DEPTH {
            return None;
        }
        self.skip_ws();
        match self.peek()? {
            '{' => self.dict(depth),
            '[' => self.sequence(']', depth),
            '(' => self.sequence(')', depth),
            '\'' | '"' => self.string().map(Value::String),
            c if c.is_ascii_digit() || c == '-' || c == '+' || c == '.' => self.number(),
            c if c.is_alphabetic() => self.word(),
            _ => None,
        }
    }

    fn dict(&mut self, depth: usize) -> Option<Value> {
        self.pos += 1;
        let mut map = Map::new();
        loop {
            if self.eat('}') {
                return Some(Value::Object(map));
            }
            let key = match self.value(depth + 1)? {
                Value::String(s) => s,
                Value::Null => "None".to_owned(),
                other => other.to_string(),
            };
            if !self.eat(':') {
                return None;
            }
            let value = self.value(depth + 1)?;
            map.insert(key, value);
            if !self.eat(',') {
                return self.eat('}').then_some(Value::Object(map));
            }
        }
    }

    fn sequence(&mut self, close: char, depth: usize) -> Option<Value> {
        self.pos += 1;
        let mut items = Vec::new();
        loop {
            if self.eat(close) {
                return Some(Value::Array(items));
            }
            items.push(self.value(depth + 1)?);
            if !self.eat(',') {
                return self.eat(close).then_some(Value::Array(items));
            }
        }
    }

    fn word(&mut self) -> Option<Value> {
        let start = self.pos;
        while self.peek().is_some_and(|c| c.is_alphanumeric() || c == '_') {
            self.pos += 1;
        }
        let word: String = self.chars[start..self.pos].iter().collect();
        match word.as_str() {
            "True" => Some(Value::Bool(true)),
            "False" => Some(Value::Bool(false)),
            "None" => Some(Value::Null),
            // String prefixes: u'..', b'..', r'..' (and combinations).
            prefix
                if prefix.len() <= 2
                    && prefix.chars().all(|c| "uUbBrR".contains(c))
                    && matches!(self.peek(), Some('\'' | '"')) =>
            {
                let raw = prefix.contains(['r', 'R']);
                if raw {
                    self.raw_string().map(Value::String)
                } else {
                    self.string().map(Value::String)
                }
            }
            _ => None,
        }
    }

    fn number(&mut self) -> Option<Value> {
        let start = self.pos;
        while self
            .peek()
            .is_some_and(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '+' | '_'))
        {
            self.pos += 1;
        }
        let text: String = self.chars[start..self.pos]
            .iter()
            .filter(|c| **c != '_')
            .collect();
        if let Ok(i) = text.parse::<i64>() {
            return Some(Value::from(i));
        }
        text.parse::<f64>()
            .ok()
            .and_then(Number::from_f64)
            .map(Value::Number)
    }

    fn raw_string(&mut self) -> Option<String> {
        let quote = self.peek()?;
        self.pos += 1;
        let mut out = String::new();
        loop {
            let c = self.peek()?;
            self.pos += 1;
            if c == quote {
                return Some(out);
            }
            out.push(c);
        }
    }

    fn string(&mut self) -> Option<String> {
        let quote = self.peek()?;
        self.pos += 1;
        let mut out = String::new();
        loop {
            let c = self.peek()?;
            self.pos += 1;
            match c {
                c if c == quote => return Some(out),
                '\\' => {
                    let e = self.peek()?;
                    self.pos += 1;
                    match e {
                        'n' => out.push('\n'),
                        't' => out.push('\t'),
                        'r' => out.push('\r'),
                        '0' => out.push('\0'),
                        'x' => out.push(self.hex(2)?),
                        'u' => out.push(self.hex(4)?),
                        'U' => out.push(self.hex(8)?),
                        '\n' => {}
                        other @ ('\\' | '\'' | '"') => out.push(other),
                        other => {
                            out.push('\\');
                            out.push(other);
                        }
                    }
                }
                other => out.push(other),
            }
        }
    }

    fn hex(&mut self, digits: usize) -> Option<char> {
        let text: String = self
            .chars
            .get(self.pos..self.pos + digits)?
            .iter()
            .collect();
        self.pos += digits;
        char::from_u32(u32::from_str_radix(&text, 16).ok()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn dashscope_style_repr() {
        let repr = r#"{'model': 'qwen-plus', 'messages': [{'role': 'system', 'content': 'You are a helpful assistant.'}, {'role': 'user', 'content': "What's the capital of China?"}], 'result_format': 'message', 'top_p': 0.8, 'n': (1, -2), 'stream': False, 'seed': None}"#;
        assert_eq!(
            parse(repr),
            Some(json!({
                "model": "qwen-plus",
                "messages": [
                    {"role": "system", "content": "You are a helpful assistant."},
                    {"role": "user", "content": "What's the capital of China?"}
                ],
                "result_format": "message", "top_p": 0.8, "n": [1, -2],
                "stream": false, "seed": null
            }))
        );
    }

    #[test]
    fn escapes_and_prefixes() {
        assert_eq!(parse(r"'a\nb\'c\x41\u00e9'"), Some(json!("a\nb'cAé")));
        assert_eq!(parse(r"u'x'"), Some(json!("x")));
        assert_eq!(parse(r"r'\d'"), Some(json!("\\d")));
    }

    #[test]
    fn non_literals_are_rejected() {
        assert_eq!(parse("plain words"), None);
        assert_eq!(parse("<Response object at 0x7f>"), None);
        assert_eq!(parse("{'a': 1} trailing"), None);
        assert_eq!(parse("{'a': }"), None);
        assert_eq!(parse(&"[".repeat(1000)), None);
    }
}
