//! Scalars of OTLP/JSON that exporters write in more than one way: 64-bit
//! integers as numbers or strings, IDs as hex or base64, enums as numbers or
//! names. Each is checked while deserializing, so errors carry a position.

use base64::Engine as _;
use serde::de::{self, Deserializer};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A JSON integer that may be written as a number or a decimal string.
pub(super) struct IntValue(pub(super) i64);

impl<'de> Deserialize<'de> for IntValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        match NumberOrString::deserialize(deserializer)? {
            NumberOrString::Number(n) => n
                .as_i64()
                .map(IntValue)
                .ok_or_else(|| de::Error::custom(format!("intValue {n} is not a 64-bit integer"))),
            NumberOrString::String(s) => s
                .trim()
                .parse()
                .map(IntValue)
                .map_err(|_| de::Error::custom(format!("intValue {s:?} is not an integer"))),
        }
    }
}

/// A double, or one of protobuf JSON's strings for non-finite values
/// (kept as that string, since JSON has no NaN).
pub(super) struct DoubleValue(pub(super) Value);

impl<'de> Deserialize<'de> for DoubleValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        match NumberOrString::deserialize(deserializer)? {
            NumberOrString::Number(n) => Ok(Self(Value::Number(n))),
            NumberOrString::String(s) => match s.as_str() {
                "NaN" | "Infinity" | "-Infinity" => Ok(Self(Value::String(s))),
                other => other
                    .parse::<f64>()
                    .ok()
                    .and_then(serde_json::Number::from_f64)
                    .map(|n| Self(Value::Number(n)))
                    .ok_or_else(|| de::Error::custom(format!("doubleValue {s:?} is not a number"))),
            },
        }
    }
}

/// A JSON number or string. Read with its own visitor: serde's untagged
/// enums buffer the value and build an error message for each variant that
/// does not fit, which cost a fifth of `traceval extract`'s time on
/// timestamps written as strings.
enum NumberOrString {
    Number(serde_json::Number),
    String(String),
}

impl<'de> Deserialize<'de> for NumberOrString {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl de::Visitor<'_> for Visitor {
            type Value = NumberOrString;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a number or a string")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
                Ok(NumberOrString::Number(v.into()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
                Ok(NumberOrString::Number(v.into()))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
                serde_json::Number::from_f64(v)
                    .map(NumberOrString::Number)
                    .ok_or_else(|| E::custom(format!("{v} is not a JSON number")))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(NumberOrString::String(v.to_owned()))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(NumberOrString::String(v))
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

/// Nanoseconds since the Unix epoch (`fixed64`: a number or a decimal string).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Nanos(pub u64);

impl<'de> Deserialize<'de> for Nanos {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        match NumberOrString::deserialize(deserializer)? {
            NumberOrString::Number(n) => n.as_u64().map(Nanos).ok_or_else(|| {
                de::Error::custom(format!("timestamp {n} is not a non-negative integer"))
            }),
            NumberOrString::String(s) if s.is_empty() => Ok(Nanos(0)),
            NumberOrString::String(s) => s
                .parse()
                .map(Nanos)
                .map_err(|_| de::Error::custom(format!("timestamp {s:?} is not an integer"))),
        }
    }
}

/// Decodes an OTLP ID written as lowercase or uppercase hex (Jaeger, OTLP/HTTP
/// JSON) or base64 (protobuf JSON, Tempo) into lowercase hex of `bytes` bytes.
/// Hex of `2n` digits and base64 of `n` bytes never have the same length for
/// `n` = 8 or 16, so the two forms cannot be confused.
pub fn normalise_id(raw: &str, bytes: usize) -> Result<String, String> {
    if raw.len() == bytes * 2 && raw.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Ok(raw.to_ascii_lowercase());
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(raw)
        .or_else(|_| base64::engine::general_purpose::URL_SAFE.decode(raw))
        .map_err(|_| format!("{raw:?} is neither {} hex digits nor base64", bytes * 2))?;
    if decoded.len() != bytes {
        return Err(format!(
            "{raw:?} decodes to {} bytes, expected {bytes}",
            decoded.len()
        ));
    }
    Ok(decoded.iter().map(|b| format!("{b:02x}")).collect())
}

macro_rules! id_type {
    ($name:ident, $bytes:expr, $what:expr) => {
        #[doc = concat!("A ", $what, " as lowercase hex (", stringify!($bytes), " bytes).")]
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
        #[serde(transparent)]
        pub struct $name(pub String);

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let raw = String::deserialize(deserializer)?;
                normalise_id(&raw, $bytes)
                    .map($name)
                    .map_err(|e| de::Error::custom(format!("invalid {}: {e}", $what)))
            }
        }
    };
}

id_type!(TraceId, 16, "trace ID");
id_type!(SpanId, 8, "span ID");

/// A parent span ID; the empty string that some exporters write for a root
/// span deserializes to `None` at the field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParentSpanId(pub Option<String>);

impl<'de> Deserialize<'de> for ParentSpanId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(deserializer)?;
        if raw.is_empty() {
            return Ok(Self(None));
        }
        normalise_id(&raw, 8)
            .map(|id| Self(Some(id)))
            .map_err(|e| de::Error::custom(format!("invalid parent span ID: {e}")))
    }
}

/// Reads an OTLP enum written as its number or its name; `names[i]` is the
/// canonical name of value `i`, and a name is accepted with or without its
/// prefix, in any case.
fn enum_value<'de, D: Deserializer<'de>>(
    deserializer: D,
    names: &[&'static str],
    prefix: &str,
    what: &str,
) -> Result<usize, D::Error> {
    match NumberOrString::deserialize(deserializer)? {
        NumberOrString::Number(n) => n
            .as_u64()
            .and_then(|i| usize::try_from(i).ok())
            .filter(|i| *i < names.len())
            .ok_or_else(|| de::Error::custom(format!("unknown {what} {n}"))),
        NumberOrString::String(s) => position(names, prefix, &s)
            .ok_or_else(|| de::Error::custom(format!("unknown {what} {s:?}"))),
    }
}

/// The index of `name` (with or without `prefix`, any case) in `names`.
fn position(names: &[&'static str], prefix: &str, name: &str) -> Option<usize> {
    let upper = name.to_ascii_uppercase();
    names
        .iter()
        .position(|n| *n == upper || n.strip_prefix(prefix) == Some(upper.as_str()))
}

const SPAN_KINDS: [&str; 6] = [
    "SPAN_KIND_UNSPECIFIED",
    "SPAN_KIND_INTERNAL",
    "SPAN_KIND_SERVER",
    "SPAN_KIND_CLIENT",
    "SPAN_KIND_PRODUCER",
    "SPAN_KIND_CONSUMER",
];

/// A span kind, numeric or named in the input (`2`, `"SPAN_KIND_SERVER"`, `"server"`).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct SpanKind(usize);

impl SpanKind {
    /// The kind named `name` (`SPAN_KIND_SERVER`, `server`, any case);
    /// unspecified for an unknown name.
    pub fn from_name(name: &str) -> Self {
        Self(position(&SPAN_KINDS, "SPAN_KIND_", name).unwrap_or(0))
    }

    /// The canonical OTLP name, e.g. `SPAN_KIND_SERVER`.
    pub fn name(self) -> &'static str {
        SPAN_KINDS.get(self.0).copied().unwrap_or(SPAN_KINDS[0])
    }
}

impl<'de> Deserialize<'de> for SpanKind {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        enum_value(deserializer, &SPAN_KINDS, "SPAN_KIND_", "span kind").map(SpanKind)
    }
}

const STATUS_CODES: [&str; 3] = ["STATUS_CODE_UNSET", "STATUS_CODE_OK", "STATUS_CODE_ERROR"];

/// A status code, numeric or named in the input (`2`, `"STATUS_CODE_ERROR"`, `"error"`).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct StatusCode(usize);

impl StatusCode {
    /// The code named `name` (`STATUS_CODE_ERROR`, `error`, any case);
    /// unset for an unknown name.
    pub fn from_name(name: &str) -> Self {
        Self(position(&STATUS_CODES, "STATUS_CODE_", name).unwrap_or(0))
    }

    /// The canonical OTLP name, e.g. `STATUS_CODE_ERROR`.
    pub fn name(self) -> &'static str {
        STATUS_CODES.get(self.0).copied().unwrap_or(STATUS_CODES[0])
    }
}

impl<'de> Deserialize<'de> for StatusCode {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        enum_value(deserializer, &STATUS_CODES, "STATUS_CODE_", "status code").map(StatusCode)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn ids_hex_and_base64_normalise_to_lowercase_hex() {
        assert_eq!(
            normalise_id("0AF7651916CD43DD8448EB211C80319C", 16).unwrap(),
            "0af7651916cd43dd8448eb211c80319c"
        );
        // base64 of the same 16 bytes (Tempo / protobuf JSON).
        assert_eq!(
            normalise_id("CvdlGRbNQ92ESOshHIAxnA==", 16).unwrap(),
            "0af7651916cd43dd8448eb211c80319c"
        );
        assert_eq!(normalise_id("t7ZTcrHVhX0=", 8).unwrap(), "b7b65372b1d5857d");
        assert!(normalise_id("xyz", 16).is_err());
        assert!(
            normalise_id("AAAA", 16).is_err(),
            "3 bytes is not a trace ID"
        );
    }

    #[test]
    fn enums_numeric_or_named() {
        let kinds: Vec<SpanKind> =
            serde_json::from_value(json!([2, "SPAN_KIND_CLIENT", "internal"])).unwrap();
        let names: Vec<_> = kinds.into_iter().map(SpanKind::name).collect();
        assert_eq!(
            names,
            ["SPAN_KIND_SERVER", "SPAN_KIND_CLIENT", "SPAN_KIND_INTERNAL"]
        );
        let codes: Vec<StatusCode> = serde_json::from_value(json!([2, "STATUS_CODE_OK"])).unwrap();
        assert_eq!(codes[0].name(), "STATUS_CODE_ERROR");
        assert_eq!(codes[1].name(), "STATUS_CODE_OK");
        assert!(serde_json::from_value::<SpanKind>(json!(9)).is_err());
        assert!(serde_json::from_value::<SpanKind>(json!("sideways")).is_err());
    }
}
