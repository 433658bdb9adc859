//! Syntax checks of user strings that the CRD schema cannot express cheaply:
//! pip requirement specifiers, environment variable names and resource
//! quantities. A spec that fails one is `Degraded` (`InvalidSpec`) before any
//! child is built, instead of an apply the API server rejects half-way.

use k8s_openapi::api::core::v1::{EnvVar, ResourceRequirements};

use super::validation_error::ValidationError;

/// Prefix of the variables the operator sets for its own use.
pub const RESERVED_ENV_PREFIX: &str = "TRACEVAL_";

/// Checks a list of pip requirements (`field` names it in errors).
pub fn check_requirements(field: &'static str, list: &[String]) -> Result<(), ValidationError> {
    if let Some(bad) = list.iter().find(|p| p.is_empty() || p.starts_with('-')) {
        return Err(ValidationError::PipOption {
            field,
            value: bad.clone(),
        });
    }
    match list.iter().find(|p| !is_requirement(p)) {
        Some(bad) => Err(ValidationError::InvalidRequirement {
            field,
            value: bad.clone(),
        }),
        None => Ok(()),
    }
}

/// A PEP 508 requirement specifier, approximately: a name, optional extras,
/// then a version specifier or `@ URL`, then an optional `; marker`. Shell
/// syntax (`$(...)`, backticks, `|`, `&&`, newlines) never fits; pip gets
/// the entry as one argument anyway, so this check is about clear errors.
pub fn is_requirement(text: &str) -> bool {
    let (requirement, marker) = match text.split_once(';') {
        Some((r, m)) => (r, Some(m)),
        None => (text, None),
    };
    let requirement = requirement.trim();
    let name_len = requirement
        .bytes()
        .take_while(|b| b.is_ascii_alphanumeric() || b"._-".contains(b))
        .count();
    if name_len == 0 || !requirement.as_bytes()[0].is_ascii_alphanumeric() {
        return false;
    }
    let mut rest = requirement[name_len..].trim_start();
    if let Some(extras) = rest.strip_prefix('[') {
        let Some((inside, after)) = extras.split_once(']') else {
            return false;
        };
        if !inside
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-, ".contains(&b))
        {
            return false;
        }
        rest = after.trim_start();
    }
    let versions_ok = match rest.strip_prefix('@') {
        Some(url) => {
            let url = url.trim();
            !url.is_empty()
                && url
                    .bytes()
                    .all(|b| b.is_ascii_graphic() && !b"\"'`$|<>{}\\^".contains(&b))
        }
        None => rest
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b".*+!_-,<>=~() ".contains(&b)),
    };
    versions_ok && marker.is_none_or(is_marker)
}

/// An environment marker such as `python_version < "3.11"`.
fn is_marker(marker: &str) -> bool {
    let marker = marker.trim();
    let has_operator = ["==", "!=", "<", ">", "~=", " in "]
        .iter()
        .any(|op| marker.contains(op));
    has_operator
        && marker
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_.'\" <>=!~()".contains(&b))
}

/// Checks the env names: each a name the API server accepts (printable
/// ASCII without `=`), and none the operator reserves.
pub fn check_env_names(env: &[EnvVar]) -> Result<(), ValidationError> {
    for var in env {
        let name = &var.name;
        let valid = !name.is_empty()
            && name.len() <= 256
            && name.bytes().all(|b| b.is_ascii_graphic() && b != b'=');
        if !valid {
            return Err(ValidationError::InvalidEnvName(truncated(name)));
        }
        if name.starts_with(RESERVED_ENV_PREFIX) {
            return Err(ValidationError::ReservedEnvName(name.clone()));
        }
    }
    Ok(())
}

/// Checks every quantity in `resources.limits` and `resources.requests`.
pub fn check_resources(resources: Option<&ResourceRequirements>) -> Result<(), ValidationError> {
    let Some(resources) = resources else {
        return Ok(());
    };
    let lists = [
        ("resources.limits", &resources.limits),
        ("resources.requests", &resources.requests),
    ];
    for (field, list) in lists {
        for (name, quantity) in list.iter().flatten() {
            if !is_quantity(&quantity.0) {
                return Err(ValidationError::InvalidQuantity {
                    field: format!("{field}.{}", truncated(name)),
                    value: truncated(&quantity.0),
                });
            }
        }
    }
    Ok(())
}

/// A Kubernetes quantity: a decimal number with an optional SI, binary or
/// exponent suffix (`500m`, `1.5`, `2Gi`, `1e3`).
pub fn is_quantity(text: &str) -> bool {
    let body = text.strip_prefix(['+', '-']).unwrap_or(text);
    let digits = body
        .bytes()
        .take_while(|b| b.is_ascii_digit() || *b == b'.')
        .count();
    let (number, suffix) = body.split_at(digits);
    let number_ok = !number.is_empty()
        && number != "."
        && number.bytes().filter(|b| *b == b'.').count() <= 1
        && text.len() <= 64;
    let suffix_ok = match suffix {
        "" | "n" | "u" | "m" | "k" | "M" | "G" | "T" | "P" | "E" => true,
        "Ki" | "Mi" | "Gi" | "Ti" | "Pi" | "Ei" => true,
        exponent => exponent
            .strip_prefix(['e', 'E'])
            .map(|e| e.strip_prefix(['+', '-']).unwrap_or(e))
            .is_some_and(|e| !e.is_empty() && e.bytes().all(|b| b.is_ascii_digit())),
    };
    number_ok && suffix_ok
}

/// At most 64 characters of a user string, for messages.
fn truncated(text: &str) -> String {
    match text.char_indices().nth(64) {
        Some((end, _)) => format!("{}...", &text[..end]),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requirement_specifiers() {
        for good in [
            "flask",
            "dashscope==1.20.0",
            "requests[socks,security] >= 2.8.1, == 2.8.*",
            "opentelemetry-distro==0.66b1",
            "pip @ https://github.com/pypa/pip/archive/1.3.1.zip#sha1=da9234ee",
            "name; python_version < \"3.11\"",
            "tomli>=1.1.0; python_version < '3.11'",
            "Django~=4.2",
        ] {
            assert!(is_requirement(good), "{good}");
        }
        for bad in [
            "",
            "flask; touch /tmp/pwned",
            "flask && touch /tmp/pwned",
            "$(touch /tmp/pwned)",
            "flask`touch /tmp/pwned`",
            "flask\ntouch /tmp/pwned",
            "flask | sh",
            "[extra]",
            "flask[unclosed",
            "pkg @ https://x/$(id)",
        ] {
            assert!(!is_requirement(bad), "{bad:?}");
        }
    }

    #[test]
    fn env_names() {
        let env = |name: &str| {
            vec![EnvVar {
                name: name.to_owned(),
                ..EnvVar::default()
            }]
        };
        assert!(check_env_names(&env("OTEL_SERVICE_NAME")).is_ok());
        assert!(check_env_names(&env("my.var-1")).is_ok());
        for bad in ["", "A=B", "WITH SPACE", "ÜBER", "line\nbreak"] {
            let error = check_env_names(&env(bad)).expect_err(bad);
            assert!(error.to_string().contains("env name"), "{error}");
        }
        let error = check_env_names(&env("TRACEVAL_POD_NAME")).expect_err("reserved");
        assert!(error.to_string().contains("reserved"), "{error}");
    }

    #[test]
    fn quantities() {
        for good in ["1", "500m", "1.5", "2Gi", "1e3", "+1k", "0.5Mi", ".5"] {
            assert!(is_quantity(good), "{good}");
        }
        for bad in ["", "lots", "1.2.3", "5 Gi", "1GB", ".", "1e", "1Gi; rm"] {
            assert!(!is_quantity(bad), "{bad:?}");
        }
    }
}
