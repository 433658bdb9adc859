//! The operator under test, in-process.

use std::net::SocketAddr;

use traceval::operator::OperatorConfig;
use traceval::resources::evaluationtask::EvaluationOptions;
use traceval::resources::tracedservice::BuildOptions;

/// `traceval operator` in-process (`operator::run`, as the binary runs it,
/// both controllers, no leader election) for some namespaces, on its own
/// runtime and thread; stopped (runtime and all) when dropped.
pub struct Operator {
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
    metrics_url: String,
}

impl Operator {
    pub fn start(namespaces: &[String]) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free local port")
            .port();
        let config = OperatorConfig {
            http_addr: SocketAddr::from(([127, 0, 0, 1], port)),
            options: BuildOptions::default(),
            trace_ui: None,
            instance: Some("gitops-test".into()),
            namespaces: namespaces.to_vec(),
            leader_election: None,
            evaluation: EvaluationOptions::default(),
        };
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Runtime::new().expect("operator runtime");
            runtime.block_on(async move {
                tokio::select! {
                    result = traceval::operator::run(config) => {
                        panic!("the operator stopped by itself: {result:?}")
                    }
                    _ = stopped => {}
                }
            });
        });
        Self {
            stop: Some(stop),
            thread: Some(thread),
            metrics_url: format!("http://127.0.0.1:{port}/metrics"),
        }
    }

    /// Successful reconciles so far, from `/metrics`: (TracedService, EvaluationTask).
    pub async fn successes(&self) -> Option<(u64, u64)> {
        let text = self.scrape().await?;
        let count = |metric: &str| -> u64 {
            text.lines()
                .filter(|l| l.starts_with(metric) && l.contains("outcome=\"Success\""))
                .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
                .sum()
        };
        Some((
            count("traceval_tracedservice_reconciles_total"),
            count("traceval_evaluationtask_reconciles_total"),
        ))
    }

    pub async fn scrape(&self) -> Option<String> {
        let response = reqwest::get(&self.metrics_url).await.ok()?;
        response.error_for_status().ok()?.text().await.ok()
    }
}

impl Drop for Operator {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
