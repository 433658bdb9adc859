//! The evaluator against real parts: the seed's sample app and a RAG variant
//! (a retriever span with documents) run under `opentelemetry-instrument`
//! from the venv and export to Jaeger; `traceval evaluate` reads their
//! traces from Jaeger's api_v3 and asks the judge stand-in, whose verdicts
//! are steered by markers in the queries and documents, so every score is
//! known in advance. Then the same with the stand-in injecting faults: no
//! trace lost or counted twice, failures reported. `traceval extract` on the
//! exported traces prints exactly the query and answer that were exchanged.

#[path = "../support/mod.rs"]
mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};
use support::poll;
use support::procs::{Proc, free_port, log_dir, repo, required_env, rfc3339, standin, venv};

const TOKEN: &str = "judge-token-for-tests";

/// One RAG query with the verdicts its markers ask for.
struct RagCase {
    query: &'static str,
    correct: f64,
    relevance: &'static [f64],
}

const RAG_CASES: &[RagCase] = &[
    RagCase {
        query: "EXPECT_CORRECT=1 EXPECT_FAITHFUL=1 what is tracing",
        correct: 1.0,
        relevance: &[1.0, 0.0, 1.0],
    },
    RagCase {
        query: "EXPECT_CORRECT=0 EXPECT_FAITHFUL=1 explain evaluation",
        correct: 0.0,
        relevance: &[0.0, 1.0],
    },
];

fn corpus() -> Value {
    json!([
        {"id": "t1", "topics": ["tracing"], "content": "EXPECT_RELEVANT=1 Tracing records the path of a request."},
        {"id": "t2", "topics": ["tracing"], "content": "EXPECT_RELEVANT=0 Bananas are yellow."},
        {"id": "t3", "topics": ["tracing"], "content": "EXPECT_RELEVANT=1 A span is one operation."},
        {"id": "e1", "topics": ["evaluation"], "content": "EXPECT_RELEVANT=0 The sea is salty."},
        {"id": "e2", "topics": ["evaluation"], "content": "EXPECT_RELEVANT=1 An evaluation grades answers."}
    ])
}

/// Precision@K, hit rate, MRR and nDCG@K of one ranking, computed here
/// independently of the engine.
fn retrieval(rel: &[f64], k: usize) -> BTreeMap<&'static str, f64> {
    let top = &rel[..rel.len().min(k)];
    let dcg = |labels: &[f64]| -> f64 {
        labels
            .iter()
            .enumerate()
            .map(|(i, r)| r / ((i + 2) as f64).log2())
            .sum()
    };
    let mut ideal = top.to_vec();
    ideal.sort_by(|a, b| b.total_cmp(a));
    let first = top.iter().position(|r| *r > 0.0);
    BTreeMap::from([
        ("precisionAtK", top.iter().sum::<f64>() / k as f64),
        ("hitRate", if first.is_some() { 1.0 } else { 0.0 }),
        ("mrr", first.map_or(0.0, |i| 1.0 / (i + 1) as f64)),
        (
            "ndcg",
            if dcg(&ideal) > 0.0 {
                dcg(top) / dcg(&ideal)
            } else {
                0.0
            },
        ),
    ])
}

/// Runs `script` under `opentelemetry-instrument` from the venv.
fn traced_app(venv: &Path, script: &str, service: &str, standin: &str, logs: &Path) -> (Proc, u16) {
    let port = free_port();
    let bin = venv.join("bin");
    let mut command = Command::new(bin.join("opentelemetry-instrument"));
    command
        .arg(bin.join("python"))
        .arg(repo().join(script))
        .env("PATH", format!("{}:/usr/bin:/bin", bin.display()))
        .env("OTEL_SERVICE_NAME", service)
        .env("OTEL_TRACES_EXPORTER", "otlp")
        .env(
            "OTEL_EXPORTER_OTLP_ENDPOINT",
            required_env("TRACEVAL_OTLP_ENDPOINT"),
        )
        .env("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")
        .env("OTEL_METRICS_EXPORTER", "none")
        .env("OTEL_LOGS_EXPORTER", "none")
        .env("OTEL_BSP_SCHEDULE_DELAY", "200")
        .env(
            "OTEL_SEMCONV_STABILITY_OPT_IN",
            "gen_ai_latest_experimental",
        )
        .env(
            "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT",
            "SPAN_ONLY",
        )
        .env("DASHSCOPE_HTTP_BASE_URL", format!("{standin}/api/v1"))
        .env("DASHSCOPE_API_KEY", "sk-test")
        .env("RAG_CORPUS", logs.join("corpus.json"))
        .env("HOST", "127.0.0.1")
        .env("PORT", port.to_string())
        .stdout(Stdio::null());
    let name = script.replace('/', "_");
    (Proc::spawn(command, logs.join(format!("{name}.log"))), port)
}

async fn ask(app: &Proc, url: &str, query: &str) -> String {
    let http = reqwest::Client::new();
    poll(
        &format!("{url} to answer"),
        Duration::from_secs(120),
        || async {
            let response = http
                .post(url)
                .json(&json!({"query": query}))
                .send()
                .await
                .ok()?;
            assert!(
                response.status().is_success() || response.status().is_server_error(),
                "{url}: {}\n{}",
                response.status(),
                app.log_tail()
            );
            response.status().is_success().then_some(())?;
            response.text().await.ok()
        },
    )
    .await
}

/// Polls Jaeger until `service` has `count` traces with an LLM span, then
/// saves the api_v3 response to `file`.
async fn wait_for_traces(service: &str, count: usize, file: &Path) {
    let jaeger = required_env("TRACEVAL_JAEGER_QUERY");
    let http = reqwest::Client::new();
    let (start, end) = (rfc3339("-1 hour"), rfc3339("+1 hour"));
    let body = poll(
        &format!("{count} traces of {service} in Jaeger"),
        Duration::from_secs(60),
        || async {
            let text = http
                .get(format!("{jaeger}/api/v3/traces"))
                .query(&[
                    ("query.service_name", service),
                    ("query.start_time_min", start.as_str()),
                    ("query.start_time_max", end.as_str()),
                    ("query.num_traces", "100"),
                ])
                .send()
                .await
                .ok()?
                .text()
                .await
                .ok()?;
            let llm_traces: std::collections::BTreeSet<String> =
                serde_json::from_str::<Value>(&text).ok()?["result"]["resourceSpans"]
                    .as_array()?
                    .iter()
                    .flat_map(|rs| rs["scopeSpans"].as_array().cloned().unwrap_or_default())
                    .flat_map(|ss| ss["spans"].as_array().cloned().unwrap_or_default())
                    .filter(|s| s.to_string().contains("gen_ai.span.kind"))
                    .filter_map(|s| s["traceId"].as_str().map(str::to_owned))
                    .collect();
            (llm_traces.len() >= count).then_some(text)
        },
    )
    .await;
    std::fs::write(file, body).expect("save traces");
}

fn task_file(dir: &Path, name: &str, rag: bool, judge_extra: Value) -> PathBuf {
    let llm_query = json!({"spanName": "kind:LLM", "jsonPathInSpan": "attributes.gen_ai.input.messages",
                           "jsonPathInSpanValue": "[?@.role=='user'].parts[0].content"});
    let mut extraction = json!({
        "query": llm_query,
        "answer": {"spanName": "kind:LLM", "jsonPathInSpan": "attributes.gen_ai.output.messages",
                   "jsonPathInSpanValue": "[0].parts[0].content"}
    });
    if rag {
        extraction["query"] =
            json!({"spanName": "kind:RETRIEVER", "jsonPathInSpan": "attributes.input.value"});
        extraction["context"] = json!({"spanName": "retrieve",
            "jsonPathInSpan": "attributes.retrieval.documents[*].document.content"});
    }
    let mut judge = json!({"provider": "openai-compatible", "model": "judge",
                           "baseURL": "http://127.0.0.1:9/v1",
                           "tokenSecretRef": {"name": "judge", "key": "token"}});
    for (k, v) in judge_extra.as_object().cloned().unwrap_or_default() {
        judge[k] = v;
    }
    let task = json!({
        "apiVersion": "traceval.dev/v1alpha1", "kind": "EvaluationTask",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {
            "target": {"serviceName": "unused"},
            "judge": judge,
            "metrics": {"correctness": true, "faithfulness": true, "retrieval": {"enabled": true, "k": 5}},
            "extraction": extraction,
            "schedule": "*/10 * * * *",
            "delay": "0s",
            "sampling": {"start": rfc3339("-1 hour"), "end": rfc3339("+1 hour"),
                         "policy": {"probability": {"ratio": 1}}}
        }
    });
    let path = dir.join(format!("{name}.yaml"));
    std::fs::write(&path, serde_yaml::to_string(&task).expect("yaml")).expect("task file");
    path
}

/// Runs `traceval evaluate` against Jaeger; returns the result lines by
/// trace ID (asserting none is repeated) and the summary.
fn evaluate(
    task: &Path,
    service: &str,
    judge: &str,
    dir: &Path,
) -> (BTreeMap<String, Value>, Value) {
    let output = dir.join(format!("{service}.jsonl"));
    let run = Command::new(env!("CARGO_BIN_EXE_traceval"))
        .arg("evaluate")
        .arg("--task")
        .arg(task)
        .args(["--jaeger-url", &required_env("TRACEVAL_JAEGER_QUERY")])
        .args(["--service-name", service])
        .args(["--judge-url", &format!("{judge}/v1")])
        .arg("--output")
        .arg(&output)
        .env("TRACEVAL_JUDGE_TOKEN", TOKEN)
        .output()
        .expect("run traceval evaluate");
    let stdout = String::from_utf8_lossy(&run.stdout);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "evaluate failed: {stderr}");
    assert!(
        !stdout.contains(TOKEN) && !stderr.contains(TOKEN),
        "the judge token leaked"
    );
    let lines: Vec<Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")))
        .collect();
    let (summary, results) = lines.split_last().expect("a summary line");
    let mut by_trace = BTreeMap::new();
    for result in results {
        let id = result["traceId"].as_str().expect("traceId").to_owned();
        assert!(
            by_trace.insert(id.clone(), result.clone()).is_none(),
            "trace {id} reported twice"
        );
    }
    (by_trace, summary.clone())
}

fn score(result: &Value, metric: &str) -> Option<f64> {
    result["scores"][metric].as_f64()
}

#[tokio::test]
async fn evaluate_reads_real_traces_from_jaeger_and_scores_them() {
    let dir = log_dir("evaluate-live");
    std::fs::write(dir.join("corpus.json"), corpus().to_string()).expect("corpus");
    let venv = venv();
    let (_clean, judge) = standin(&venv, &dir, &[]);
    let suffix = std::process::id();
    let (rag_service, chat_service) = (format!("rag-{suffix}"), format!("chat-{suffix}"));
    let (rag, rag_port) = traced_app(&venv, "examples/rag-app/app.py", &rag_service, &judge, &dir);
    let (chat, chat_port) = traced_app(
        &venv,
        "examples/sample-app/app.py",
        &chat_service,
        &judge,
        &dir,
    );

    let mut answers = BTreeMap::new();
    for case in RAG_CASES {
        let url = format!("http://127.0.0.1:{rag_port}/api/rag");
        answers.insert(case.query, ask(&rag, &url, case.query).await);
    }
    let chat_query = "EXPECT_CORRECT=1 capital of china";
    let chat_answer = ask(
        &chat,
        &format!("http://127.0.0.1:{chat_port}/api/trace_demo"),
        chat_query,
    )
    .await;
    assert_eq!(chat_answer, "The capital of China is Beijing.");

    let rag_file = dir.join("rag-traces.json");
    wait_for_traces(&rag_service, RAG_CASES.len(), &rag_file).await;
    wait_for_traces(&chat_service, 1, &dir.join("chat-traces.json")).await;

    // extract: exactly the query and answer that went over the wire.
    let rag_task = task_file(&dir, "rag", true, json!({}));
    let extracted = Command::new(env!("CARGO_BIN_EXE_traceval"))
        .args(["extract", "--task"])
        .arg(&rag_task)
        .arg("--traces")
        .arg(&rag_file)
        .output()
        .expect("run traceval extract");
    assert!(
        extracted.status.success(),
        "{}",
        String::from_utf8_lossy(&extracted.stderr)
    );
    let mut seen = 0;
    for line in String::from_utf8_lossy(&extracted.stdout).lines() {
        let found: Value = serde_json::from_str(line).expect("extract line");
        let query = found["query"].as_str().unwrap_or_default();
        if let Some(answer) = answers.get(query) {
            assert_eq!(found["answer"].as_str(), Some(answer.as_str()), "{line}");
            seen += 1;
        }
    }
    assert_eq!(seen, RAG_CASES.len(), "extract found every query sent");

    // evaluate over the live source, clean judge: every score as steered.
    let (results, summary) = evaluate(&rag_task, &rag_service, &judge, &dir);
    assert_eq!(summary["evaluated"], json!(RAG_CASES.len()), "{summary}");
    assert_eq!(summary["failed"], json!(0), "{summary}");
    let expected: BTreeMap<&str, &RagCase> = RAG_CASES.iter().map(|c| (c.query, c)).collect();
    for result in results.values() {
        let case = expected[result["query"].as_str().expect("query")];
        assert_eq!(score(result, "correctness"), Some(case.correct), "{result}");
        assert_eq!(score(result, "faithfulness"), Some(1.0), "{result}");
        assert_eq!(
            result["contexts"].as_array().map(Vec::len),
            Some(case.relevance.len())
        );
        for (metric, value) in retrieval(case.relevance, 5) {
            let got = score(result, metric).unwrap_or(f64::NAN);
            assert!(
                (got - value).abs() < 1e-9,
                "{metric}: {got} != {value} in {result}"
            );
        }
    }
    let chat_task = task_file(&dir, "chat", false, json!({}));
    let (chat_results, _) = evaluate(&chat_task, &chat_service, &judge, &dir);
    let chat_result = chat_results.values().next().expect("the chat trace");
    assert_eq!(chat_result["query"].as_str(), Some(chat_query));
    assert_eq!(score(chat_result, "correctness"), Some(1.0));
    // No context rule: faithfulness and retrieval do not apply, so are absent.
    assert_eq!(score(chat_result, "faithfulness"), None, "{chat_result}");
    assert_eq!(score(chat_result, "ndcg"), None, "{chat_result}");

    // The same traces with a faulty judge: each reported exactly once,
    // either with the clean run's scores or as failed with a reason.
    let (_faulty, faulty_judge) = standin(
        &venv,
        &dir,
        &[
            "--fault-rate-429",
            "0.2",
            "--retry-after",
            "1",
            "--fault-rate-500",
            "0.15",
            "--fault-rate-malformed",
            "0.1",
            "--fault-rate-timeout",
            "0.05",
            "--hang-s",
            "3",
            "--seed",
            "11",
        ],
    );
    let faulty_task = task_file(
        &dir,
        "rag-faulty",
        true,
        json!({"timeoutSeconds": 1, "maxRetries": 3}),
    );
    let (faulty, summary) = evaluate(&faulty_task, &rag_service, &faulty_judge, &dir);
    assert_eq!(
        faulty.keys().collect::<Vec<_>>(),
        results.keys().collect::<Vec<_>>(),
        "the same traces, each once"
    );
    let stats: Value = reqwest::get(format!("{faulty_judge}/stats"))
        .await
        .expect("stand-in stats")
        .json()
        .await
        .expect("stats json");
    let faults: u64 = stats["by_fault"]
        .as_object()
        .map(|m| m.values().filter_map(Value::as_u64).sum())
        .unwrap_or(0);
    assert!(faults > 0, "the stand-in injected no faults: {stats}");
    eprintln!("faulty judge: {stats}");
    let failed = faulty.values().filter(|r| !r["error"].is_null()).count();
    assert_eq!(summary["failed"], json!(failed), "{summary}");
    assert_eq!(
        summary["evaluated"],
        json!(RAG_CASES.len() - failed),
        "{summary}"
    );
    for (id, result) in &faulty {
        if result["error"].is_null() {
            assert_eq!(
                result["scores"], results[id]["scores"],
                "faults changed a score"
            );
        } else {
            assert!(!result["error"].as_str().unwrap_or_default().is_empty());
        }
    }
}
