//! `spec.delay`: a Go-style duration (`90s`, `2m`, `1h30m`), parsed once
//! when the spec is read. The text is kept as written (it is what the API
//! server stores and what the spec hash covers); a text that is not a
//! duration is kept too, with its parse error, so reading a task never
//! fails on it and validation reports it (`validate`) like every other rule.

use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Delay used when `spec.delay` is unset.
pub const DEFAULT_DELAY: Duration = Duration::from_secs(120);

/// A Go-style duration as written in the spec, with its parsed value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Delay {
    text: String,
    parsed: Result<Duration, String>,
}

impl Delay {
    /// The text as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The duration, or why the text is not one.
    pub fn duration(&self) -> Result<Duration, String> {
        self.parsed.clone()
    }
}

impl From<String> for Delay {
    fn from(text: String) -> Self {
        let parsed = parse_duration(&text);
        Self { text, parsed }
    }
}

impl From<&str> for Delay {
    fn from(text: &str) -> Self {
        Self::from(text.to_owned())
    }
}

impl Serialize for Delay {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.text)
    }
}

impl<'de> Deserialize<'de> for Delay {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(Self::from)
    }
}

/// The delay of a spec: `delay` parsed, or [`DEFAULT_DELAY`] when unset.
pub fn delay_or_default(delay: Option<&Delay>) -> Result<Duration, String> {
    delay.map_or(Ok(DEFAULT_DELAY), Delay::duration)
}

/// Reads a Go-style duration made of `<n>h`, `<n>m`, `<n>s`, `<n>ms` parts (`1h30m`, `90s`).
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let error = || format!("{text:?} is not a duration such as 90s, 2m or 1h30m");
    let mut total = Duration::ZERO;
    let mut rest = text.trim();
    if rest.is_empty() {
        return Err(error());
    }
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(error());
        }
        let n: u64 = rest[..digits].parse().map_err(|_| error())?;
        rest = &rest[digits..];
        let (unit, len) = if rest.starts_with("ms") {
            (Duration::from_millis(1), 2)
        } else if rest.starts_with('h') {
            (Duration::from_secs(3600), 1)
        } else if rest.starts_with('m') {
            (Duration::from_secs(60), 1)
        } else if rest.starts_with('s') {
            (Duration::from_secs(1), 1)
        } else {
            return Err(error());
        };
        let part = unit
            .checked_mul(u32::try_from(n).map_err(|_| error())?)
            .ok_or_else(error)?;
        total = total.checked_add(part).ok_or_else(error)?;
        rest = &rest[len..];
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("1500ms"), Ok(Duration::from_millis(1500)));
        for bad in ["", "2", "m", "2d", "1.5h", "-1s"] {
            assert!(parse_duration(bad).is_err(), "{bad:?}");
        }
    }
}
