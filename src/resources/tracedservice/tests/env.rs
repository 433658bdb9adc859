use k8s_openapi::api::core::v1::EnvVar;

use super::{app_env, children, env_value};
use crate::resources::env_var::value;
use crate::resources::tracedservice::command::PACKAGES_DIR;
use crate::resources::tracedservice::env::merge;

#[test]
fn opentelemetry_env_is_explicit() {
    let env = app_env(&children("opentelemetry").deployment);
    assert_eq!(
        env_value(&env, "OTEL_EXPORTER_OTLP_ENDPOINT"),
        Some("http://jaeger-collector.observability.svc.cluster.local:4318")
    );
    assert_eq!(
        env_value(&env, "OTEL_EXPORTER_OTLP_PROTOCOL"),
        Some("http/protobuf")
    );
    assert_eq!(env_value(&env, "OTEL_TRACES_EXPORTER"), Some("otlp"));
    assert_eq!(
        env_value(&env, "OTEL_TRACES_SAMPLER"),
        Some("parentbased_traceidratio")
    );
    assert_eq!(env_value(&env, "OTEL_TRACES_SAMPLER_ARG"), Some("0.25"));
    assert_eq!(env_value(&env, "OTEL_METRICS_EXPORTER"), Some("none"));
    assert_eq!(
        env_value(&env, "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"),
        Some("SPAN_ONLY")
    );
    assert_eq!(
        env_value(&env, "OTEL_SEMCONV_STABILITY_OPT_IN"),
        Some("gen_ai_latest_experimental")
    );
    assert_eq!(env_value(&env, "PYTHONPATH"), Some(PACKAGES_DIR));
    assert_eq!(
        env_value(&env, "PIP_INDEX_URL"),
        Some("https://mirrors.example.com/pypi/simple")
    );
    assert_eq!(env_value(&env, "PIP_TRUSTED_HOST"), None);
    let attributes = env_value(&env, "OTEL_RESOURCE_ATTRIBUTES").expect("resource attributes");
    assert!(
        attributes.contains("k8s.pod.name=$(TRACEVAL_POD_NAME)"),
        "{attributes}"
    );
    assert!(attributes.contains("k8s.namespace.name=$(TRACEVAL_POD_NAMESPACE)"));
    assert!(attributes.contains("k8s.node.name=$(TRACEVAL_NODE_NAME)"));
    // The downward API variables are defined before the attribute that expands them.
    let position = |name: &str| env.iter().position(|e| e.name == name).expect(name);
    assert!(position("TRACEVAL_NODE_NAME") < position("OTEL_RESOURCE_ATTRIBUTES"));
    let node = &env[position("TRACEVAL_NODE_NAME")];
    let field = node
        .value_from
        .as_ref()
        .and_then(|v| v.field_ref.as_ref())
        .expect("fieldRef");
    assert_eq!(field.field_path, "spec.nodeName");
}

#[test]
fn user_env_wins_over_operator_defaults() {
    let env = app_env(&children("opentelemetry").deployment);
    let service_names: Vec<&EnvVar> = env
        .iter()
        .filter(|e| e.name == "OTEL_SERVICE_NAME")
        .collect();
    assert_eq!(service_names.len(), 1, "one OTEL_SERVICE_NAME: {env:?}");
    assert_eq!(service_names[0].value.as_deref(), Some("chosen-by-user"));
    // User entries keep their order and come after the defaults.
    let names: Vec<&str> = env.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(
        names[names.len() - 2..],
        ["OTEL_SERVICE_NAME", "DASHSCOPE_HTTP_BASE_URL"]
    );
}

#[test]
fn merge_replaces_defaults_by_name_only() {
    let merged = merge(
        vec![value("A", "1"), value("B", "2")],
        &[value("B", "user"), value("C", "3")],
    );
    let pairs: Vec<(&str, Option<&str>)> = merged
        .iter()
        .map(|e| (e.name.as_str(), e.value.as_deref()))
        .collect();
    assert_eq!(
        pairs,
        [("A", Some("1")), ("B", Some("user")), ("C", Some("3"))]
    );
}

#[test]
fn arms_env_reads_license_from_secret() {
    let env = app_env(&children("seed-arms").deployment);
    assert_eq!(env_value(&env, "ARMS_APP_NAME"), Some("trace-demo"));
    assert_eq!(env_value(&env, "ARMS_REGION_ID"), Some("cn-hangzhou"));
    let license = env
        .iter()
        .find(|e| e.name == "ARMS_LICENSE_KEY")
        .expect("license");
    assert_eq!(
        license.value, None,
        "the key never appears in the Deployment"
    );
    let secret = license
        .value_from
        .as_ref()
        .and_then(|v| v.secret_key_ref.as_ref())
        .expect("secretKeyRef");
    assert_eq!(
        (secret.name.as_str(), secret.key.as_str()),
        ("arms-license", "licenseKey")
    );
    let api_key = env
        .iter()
        .find(|e| e.name == "DASHSCOPE_API_KEY")
        .expect("user env");
    assert!(api_key.value_from.is_some());
}

#[test]
fn builtin_still_gets_tracing_env_with_explicit_protocol() {
    let env = app_env(&children("builtin").deployment);
    assert_eq!(env_value(&env, "OTEL_SERVICE_NAME"), Some("llm-app"));
    assert_eq!(
        env_value(&env, "OTEL_EXPORTER_OTLP_ENDPOINT"),
        Some("http://10.20.30.40:4317")
    );
    assert_eq!(env_value(&env, "OTEL_EXPORTER_OTLP_PROTOCOL"), Some("grpc"));
    assert_eq!(env_value(&env, "PYTHONPATH"), None, "nothing installed");
}

#[test]
fn no_tracing_no_tracing_env() {
    let env = app_env(&children("minimal").deployment);
    assert!(env.is_empty(), "{env:?}");
}
