//! A field-by-field Markdown reference of the CRDs, rendered from their
//! generated OpenAPI schemas: what `traceval crd --reference` prints and the
//! README's "CRD reference" section holds (a test fails when they differ).
//!
//! One table per kind: path, type, required, default, validation (bounds,
//! enums, patterns, CEL rules) and description. Fields of Kubernetes' own
//! types (EnvVar, Toleration, ...) are named, not expanded: `kubectl explain`
//! documents them.

pub mod native;
mod readme;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use serde_json::Value;

pub use self::native::NativeType;
pub use self::readme::{BEGIN, END, MarkerError, UpdateError, section, splice, update_file};
use super::{
    EvaluationTaskSpec, EvaluationTaskStatus, TracedServiceSpec, TracedServiceStatus, crds,
};

/// The Kubernetes-typed fields of one CRD, by path (`spec.env[]`).
pub type NativePaths = BTreeMap<String, NativeType>;

/// The reference of every CRD of the project, as kept in the README.
pub fn markdown() -> String {
    let crds = crds();
    let natives: Vec<NativePaths> = crds
        .iter()
        .map(|crd| match crd.spec.names.kind.as_str() {
            "TracedService" => {
                let mut paths = native::native_paths::<TracedServiceSpec>("spec");
                paths.extend(native::native_paths::<TracedServiceStatus>("status"));
                paths
            }
            "EvaluationTask" => {
                let mut paths = native::native_paths::<EvaluationTaskSpec>("spec");
                paths.extend(native::native_paths::<EvaluationTaskStatus>("status"));
                paths
            }
            _ => NativePaths::new(),
        })
        .collect();
    render(&crds.iter().zip(&natives).collect::<Vec<_>>())
}

/// Renders the reference of `crds`, each with its Kubernetes-typed fields.
pub fn render(crds: &[(&CustomResourceDefinition, &NativePaths)]) -> String {
    let mut out = String::from(
        "<!-- Generated from the CRD schemas by `traceval crd --reference`; \
         `make readme` rewrites this section. Do not edit by hand. -->\n",
    );
    for (crd, natives) in crds {
        out.push('\n');
        render_crd(&mut out, crd, natives);
    }
    out
}

fn render_crd(out: &mut String, crd: &CustomResourceDefinition, natives: &NativePaths) {
    let names = &crd.spec.names;
    let Some(version) = crd.spec.versions.iter().find(|v| v.storage) else {
        return;
    };
    let schema = version
        .schema
        .as_ref()
        .and_then(|s| s.open_api_v3_schema.as_ref())
        .and_then(|s| serde_json::to_value(s).ok())
        .unwrap_or(Value::Null);
    out.push_str(&format!("### {}\n\n", names.kind));
    let mut facts = vec![format!("`{}/{}`", crd.spec.group, version.name)];
    facts.push(crd.spec.scope.to_lowercase());
    facts.push(format!("plural `{}`", names.plural));
    if let Some(short) = names.short_names.as_ref().filter(|s| !s.is_empty()) {
        let short: Vec<String> = short.iter().map(|s| format!("`{s}`")).collect();
        facts.push(format!("short name {}", short.join(", ")));
    }
    out.push_str(&facts.join(", "));
    out.push_str(".\n");
    if let Some(description) = schema.get("description").and_then(Value::as_str) {
        out.push_str(&format!("{}\n", one_line(description)));
    }
    if let Some(columns) = &version.additional_printer_columns {
        let columns: Vec<String> = columns.iter().map(|c| c.name.clone()).collect();
        out.push_str(&format!("`kubectl get` shows {}.\n", columns.join(", ")));
    }
    out.push_str("\n| Field | Type | Required | Default | Validation | Description |\n");
    out.push_str("|---|---|---|---|---|---|\n");
    let required = required_of(&schema);
    for (name, property) in properties(&schema) {
        let field = Field {
            path: name.to_owned(),
            node: property,
            required: required.contains(&name),
        };
        rows(out, &names.plural, &field, natives);
    }
}

/// One property being rendered.
struct Field<'a> {
    path: String,
    node: &'a Value,
    required: bool,
}

fn properties(node: &Value) -> Vec<(&str, &Value)> {
    node.get("properties")
        .and_then(Value::as_object)
        .map(|m| m.iter().map(|(k, v)| (k.as_str(), v)).collect())
        .unwrap_or_default()
}

fn required_of(node: &Value) -> Vec<&str> {
    node.get("required")
        .and_then(Value::as_array)
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

/// The row of `field` and of everything under it.
fn rows(out: &mut String, plural: &str, field: &Field<'_>, natives: &NativePaths) {
    let node = field.node;
    let items = node.get("items");
    let values = node.get("additionalProperties").filter(|v| v.is_object());
    let item_path = format!("{}[]", field.path);
    // A Kubernetes type, directly or as the items of a list: named, not expanded.
    // Leaf types (Time, MicroTime) are rendered from the schema like any string.
    let native = natives
        .get(&field.path)
        .filter(|_| is_object(node))
        .map(|t| (t, false))
        .or_else(|| {
            let item = natives.get(&item_path)?;
            items.is_some_and(is_object).then_some((item, true))
        });
    let type_ = match native {
        Some((native, in_list)) => {
            let name = native.display();
            if in_list { format!("[]{name}") } else { name }
        }
        None if natives
            .get(&field.path)
            .is_some_and(|t| t.kind() == "Quantity") =>
        {
            "quantity".to_owned()
        }
        None => type_name(node),
    };
    let mut validation = validations(node);
    if let Some(items) = items.filter(|i| !is_object(i)) {
        let inner = validations(items);
        if !inner.is_empty() {
            validation.push(format!("each: {}", inner.join(", ")));
        }
    }
    let mut description = node
        .get("description")
        .and_then(Value::as_str)
        .map(one_line)
        .unwrap_or_default();
    if native.is_some() {
        let explain = format!("`kubectl explain {plural}.{}`", field.path);
        description = if description.is_empty() {
            format!("See {explain}.")
        } else {
            format!("{description} See {explain}.")
        };
    }
    out.push_str(&format!(
        "| `{}` | {} | {} | {} | {} | {} |\n",
        field.path,
        cell(&type_),
        if field.required { "yes" } else { "" },
        cell(&node.get("default").map(default_value).unwrap_or_default()),
        cell(&validation.join("; ")),
        cell(&description),
    ));
    if native.is_some() {
        return;
    }
    if let Some(items) = items.filter(|i| is_object(i)) {
        // The item's own row only when it says something its list does not.
        let item_validation = validations(items);
        let item_description = items.get("description").and_then(Value::as_str);
        if !item_validation.is_empty() || item_description.is_some() {
            out.push_str(&format!(
                "| `{}` | object |  |  | {} | {} |\n",
                item_path,
                cell(&item_validation.join("; ")),
                cell(&item_description.map(one_line).unwrap_or_default()),
            ));
        }
        children(out, plural, &item_path, items, natives);
    }
    if let Some(values) = values.filter(|v| is_object(v)) {
        children(
            out,
            plural,
            &format!("{}.<key>", field.path),
            values,
            natives,
        );
    }
    children(out, plural, &field.path, node, natives);
}

fn children(out: &mut String, plural: &str, path: &str, node: &Value, natives: &NativePaths) {
    let required = required_of(node);
    for (name, property) in properties(node) {
        let field = Field {
            path: format!("{path}.{name}"),
            node: property,
            required: required.contains(&name),
        };
        rows(out, plural, &field, natives);
    }
}

fn is_object(node: &Value) -> bool {
    node.get("properties").is_some()
}

/// `string`, `integer`, `[]string`, `map[string]string`, `string (date-time)`, ...
fn type_name(node: &Value) -> String {
    if node.get("x-kubernetes-int-or-string") == Some(&Value::Bool(true)) {
        return "int or string".to_owned();
    }
    let type_ = node.get("type").and_then(Value::as_str).unwrap_or("any");
    match type_ {
        "array" => format!(
            "[]{}",
            node.get("items").map_or("any".to_owned(), type_name)
        ),
        "object" => match node.get("additionalProperties") {
            Some(values) if values.is_object() && !is_object(values) => {
                format!("map[string]{}", type_name(values))
            }
            _ => "object".to_owned(),
        },
        "string" => match node.get("format").and_then(Value::as_str) {
            Some(format) => format!("string ({format})"),
            None => "string".to_owned(),
        },
        other => other.to_owned(),
    }
}

/// Bounds, enums, patterns and CEL rules of one node, in words.
fn validations(node: &Value) -> Vec<String> {
    let mut out = Vec::new();
    let number = |key: &str| node.get(key).and_then(number_text);
    let range = |min: Option<String>, max: Option<String>, unit: &str| match (min, max) {
        (Some(min), Some(max)) => Some(format!("{unit}{min} to {max}")),
        (Some(min), None) => Some(format!("{unit}≥ {min}")),
        (None, Some(max)) => Some(format!("{unit}≤ {max}")),
        (None, None) => None,
    };
    let exclusive = |key: &str| node.get(key) == Some(&Value::Bool(true));
    let mut min = number("minimum");
    let mut max = number("maximum");
    if exclusive("exclusiveMinimum") {
        out.push(format!("> {}", min.take().unwrap_or_default()));
    }
    if exclusive("exclusiveMaximum") {
        out.push(format!("< {}", max.take().unwrap_or_default()));
    }
    out.extend(range(min, max, ""));
    out.extend(range(number("minLength"), number("maxLength"), "length "));
    out.extend(range(number("minItems"), number("maxItems"), "items "));
    out.extend(range(
        number("minProperties"),
        number("maxProperties"),
        "entries ",
    ));
    if let Some(values) = node.get("enum").and_then(Value::as_array) {
        let values: Vec<String> = values.iter().map(default_value).collect();
        out.push(format!("one of {}", values.join(", ")));
    }
    if let Some(pattern) = node.get("pattern").and_then(Value::as_str) {
        out.push(format!("pattern `{pattern}`"));
    }
    if node.get("x-kubernetes-list-type").and_then(Value::as_str) == Some("map")
        && let Some(keys) = node
            .get("x-kubernetes-list-map-keys")
            .and_then(Value::as_array)
    {
        let keys: Vec<String> = keys.iter().map(default_value).collect();
        out.push(format!("unique by {}", keys.join(", ")));
    }
    for rule in node
        .get("x-kubernetes-validations")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let message = rule.get("message").and_then(Value::as_str);
        let expression = rule.get("rule").and_then(Value::as_str).unwrap_or_default();
        out.push(match message {
            Some(message) => one_line(message),
            None => format!("`{expression}`"),
        });
    }
    out
}

/// A number as written in a manifest: `0`, not `0.0`.
fn number_text(value: &Value) -> Option<String> {
    match value.as_f64() {
        Some(f) if value.is_f64() && f.fract() == 0.0 && f.abs() < 1e15 => {
            Some(format!("{}", f as i64))
        }
        _ => value.is_number().then(|| value.to_string()),
    }
}

/// A default or enum value: strings bare in code, the rest as JSON.
fn default_value(value: &Value) -> String {
    match value {
        Value::String(s) => format!("`{s}`"),
        other => format!("`{other}`"),
    }
}

/// A description on one line: paragraphs separated by `<br>`.
fn one_line(text: &str) -> String {
    text.trim()
        .split("\n\n")
        .map(|paragraph| paragraph.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect::<Vec<_>>()
        .join("<br>")
}

/// Text safe in a table cell: pipes escaped; `<` and `>` outside code
/// spans escaped, so they are not read as HTML (`<br>` is kept).
fn cell(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut in_code = false;
    let mut rest = text;
    while let Some(c) = rest.chars().next() {
        if !in_code && rest.starts_with("<br>") {
            out.push_str("<br>");
            rest = &rest[4..];
            continue;
        }
        match c {
            '`' => {
                in_code = !in_code;
                out.push('`');
            }
            '|' => out.push_str("\\|"),
            '<' if !in_code => out.push_str("&lt;"),
            '>' if !in_code => out.push_str("&gt;"),
            other => out.push(other),
        }
        rest = &rest[c.len_utf8()..];
    }
    out
}
