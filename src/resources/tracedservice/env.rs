//! The app container's environment: the operator's defaults, then the user's
//! env, where a user variable replaces the operator's of the same name.

use k8s_openapi::api::core::v1::{EnvVar, EnvVarSource, ObjectFieldSelector};

use super::command::PACKAGES_DIR;
use super::validate::{ProbeSettings, Tracing, ValidatedTracedService};
use crate::resources::env_var::{secret_ref, value};

/// The env of the app container.
pub fn app_env(svc: &ValidatedTracedService) -> Vec<EnvVar> {
    let mut defaults = Vec::new();
    if !svc.packages.is_empty() {
        defaults.push(value("PYTHONPATH", PACKAGES_DIR));
        if let Some(index) = &svc.pip_index {
            // The probes' bootstrap steps run pip too.
            defaults.push(value("PIP_INDEX_URL", &index.url));
            if let Some(authority) = index.plain_http_authority() {
                defaults.push(value("PIP_TRUSTED_HOST", &authority));
            }
        }
        if matches!(
            svc.tracing.as_ref().map(|t| &t.probe),
            Some(ProbeSettings::Arms(_) | ProbeSettings::OpenTelemetry)
        ) {
            // The bootstrap step pip-installs instrumentations: into the
            // packages volume, as the root filesystem is read-only and the
            // pod runs as non-root.
            defaults.push(value("PIP_TARGET", PACKAGES_DIR));
        }
    }
    if let Some(tracing) = &svc.tracing {
        defaults.extend(tracing_env(svc, tracing));
    }
    merge(defaults, &svc.env)
}

/// Operator defaults followed by the user's env; a user variable drops the
/// default of the same name. Defaults come first so the user's `$(VAR)`
/// references can use them.
pub fn merge(defaults: Vec<EnvVar>, user: &[EnvVar]) -> Vec<EnvVar> {
    defaults
        .into_iter()
        .filter(|d| !user.iter().any(|u| u.name == d.name))
        .chain(user.iter().cloned())
        .collect()
}

fn tracing_env(svc: &ValidatedTracedService, tracing: &Tracing) -> Vec<EnvVar> {
    let mut env = vec![
        field_ref("TRACEVAL_POD_NAME", "metadata.name"),
        field_ref("TRACEVAL_POD_NAMESPACE", "metadata.namespace"),
        field_ref("TRACEVAL_NODE_NAME", "spec.nodeName"),
        value("OTEL_SERVICE_NAME", &tracing.service_name),
        value(
            "OTEL_RESOURCE_ATTRIBUTES",
            &format!(
                "k8s.pod.name=$(TRACEVAL_POD_NAME),k8s.namespace.name=$(TRACEVAL_POD_NAMESPACE),k8s.node.name=$(TRACEVAL_NODE_NAME),k8s.deployment.name={}",
                svc.name
            ),
        ),
    ];
    if let Some(endpoint) = &tracing.endpoint {
        env.push(value("OTEL_TRACES_EXPORTER", "otlp"));
        env.push(value("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint.url));
        env.push(value(
            "OTEL_EXPORTER_OTLP_PROTOCOL",
            tracing.protocol.as_str(),
        ));
    }
    env.push(value("OTEL_TRACES_SAMPLER", "parentbased_traceidratio"));
    env.push(value(
        "OTEL_TRACES_SAMPLER_ARG",
        &tracing.sampling_ratio.to_string(),
    ));
    match &tracing.probe {
        ProbeSettings::OpenTelemetry => {
            // Trace stores such as Jaeger take no metrics or logs; exporting
            // them would only fill the app's log with export errors.
            env.push(value("OTEL_METRICS_EXPORTER", "none"));
            env.push(value("OTEL_LOGS_EXPORTER", "none"));
            // GenAI instrumentations (DashScope) record prompts and
            // completions only when asked to: without these the LLM span has
            // token counts but no query or answer to evaluate.
            env.push(value(
                "OTEL_SEMCONV_STABILITY_OPT_IN",
                "gen_ai_latest_experimental",
            ));
            env.push(value(
                "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT",
                "SPAN_ONLY",
            ));
        }
        ProbeSettings::Arms(arms) => {
            env.push(value("ARMS_APP_NAME", &arms.app_name));
            env.push(value("ARMS_REGION_ID", &arms.region_id));
            env.push(secret_ref(
                "ARMS_LICENSE_KEY",
                &arms.license_key.name,
                &arms.license_key.key,
            ));
        }
        ProbeSettings::Builtin => {}
    }
    env
}

fn field_ref(name: &str, path: &str) -> EnvVar {
    EnvVar {
        name: name.to_owned(),
        value: None,
        value_from: Some(EnvVarSource {
            field_ref: Some(ObjectFieldSelector {
                api_version: Some("v1".to_owned()),
                field_path: path.to_owned(),
            }),
            ..EnvVarSource::default()
        }),
    }
}
