//! The span path evaluator on arbitrary input: the first line is a path
//! (dotted or `$`-rooted JSONPath), the rest a document it runs on, and the
//! rest again as a string value whose embedded JSON or Python literal is
//! decoded, as `jsonPathInSpanValue` does.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use traceval::evaluate::extract::jsonpath::{Path, as_text, decode_embedded, has_wildcard, to_jsonpath};

static QUIET_CAUGHT_PANICS: std::sync::Once = std::sync::Once::new();

fuzz_target!(|data: &[u8]| {
    // libfuzzer-sys aborts on every panic, even one the crate catches on
    // purpose (evaluate::extract::jsonpath catches serde_json_path's); a panic that
    // escapes still aborts through libfuzzer-sys's own catch_unwind.
    QUIET_CAUGHT_PANICS.call_once(|| std::panic::set_hook(Box::new(|_| {})));
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (path, document) = text.split_once('\n').unwrap_or((text, ""));
    let _ = has_wildcard(path);
    let _ = to_jsonpath(path);
    let embedded = Value::String(document.to_owned());
    let decoded = decode_embedded(&embedded);
    let Ok(path) = Path::parse(path) else {
        return;
    };
    let parsed: Option<Value> = serde_json::from_str(document).ok();
    for value in [parsed.as_ref(), decoded.as_ref(), Some(&embedded)]
        .into_iter()
        .flatten()
    {
        for found in path.select(value) {
            let _ = as_text(found);
        }
    }
});
