//! The seed's sample app run locally under `opentelemetry-instrument` from
//! the test venv (`tests/cluster/pyenv`), its LLM calls answered by
//! `tests/cluster/llm_standin.py`, its traces exported to the local Jaeger.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use super::otlp_endpoint;
use crate::support::poll;
use crate::support::procs::{Proc, free_port, repo, standin, venv};

/// The two processes, killed (with their process groups) when dropped.
pub struct SampleApp {
    _standin: Proc,
    app: Proc,
    /// `POST` target of the seed's route.
    pub url: String,
}

impl SampleApp {
    /// Starts the stand-in and the app with `service` as `service.name`; waits
    /// until the app listens.
    pub async fn start(service: &str, logs: &Path) -> Self {
        let venv = venv();
        let (standin, standin_url) = standin(&venv, logs, &[]);
        let port = free_port();
        let mut command = Command::new(venv.join("bin/opentelemetry-instrument"));
        command
            .arg(venv.join("bin/python"))
            .arg(repo().join("examples/sample-app/app.py"))
            .env_remove("OTEL_RESOURCE_ATTRIBUTES")
            .envs([
                ("OTEL_SERVICE_NAME", service),
                ("OTEL_TRACES_EXPORTER", "otlp"),
                ("OTEL_METRICS_EXPORTER", "none"),
                ("OTEL_LOGS_EXPORTER", "none"),
                ("OTEL_EXPORTER_OTLP_ENDPOINT", &otlp_endpoint()),
                ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"),
                ("OTEL_BSP_SCHEDULE_DELAY", "200"),
                (
                    "OTEL_SEMCONV_STABILITY_OPT_IN",
                    "gen_ai_latest_experimental",
                ),
                (
                    "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT",
                    "SPAN_ONLY",
                ),
                ("DASHSCOPE_HTTP_BASE_URL", &format!("{standin_url}/api/v1")),
                ("DASHSCOPE_API_KEY", "dummy"),
                ("HOST", "127.0.0.1"),
                ("PORT", &port.to_string()),
                ("PYTHONUNBUFFERED", "1"),
            ])
            .stdout(Stdio::null());
        let app = Proc::spawn(command, logs.join("sample-app.log"));
        // A connection, not a request: a request would be a trace of its own.
        poll(
            "the sample app to listen",
            Duration::from_secs(120),
            || async {
                tokio::net::TcpStream::connect(("127.0.0.1", port))
                    .await
                    .ok()
                    .map(drop)
            },
        )
        .await;
        Self {
            _standin: standin,
            app,
            url: format!("http://127.0.0.1:{port}/api/trace_demo"),
        }
    }

    /// Asks the app a question; its answer.
    pub async fn ask(&self, query: &str) -> String {
        let response = reqwest::Client::new()
            .post(&self.url)
            .body(serde_json::json!({"query": query}).to_string())
            .timeout(Duration::from_secs(30))
            .send()
            .await
            .unwrap_or_else(|e| panic!("sample app: {e}\n{}", self.app.log_tail()));
        assert!(
            response.status().is_success(),
            "sample app answered {}\n{}",
            response.status(),
            self.app.log_tail()
        );
        response.text().await.unwrap()
    }
}
