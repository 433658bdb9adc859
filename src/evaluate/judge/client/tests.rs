use std::time::Duration;

use secrecy::SecretString;

use serde_json::json;

use super::*;
use crate::evaluate::judge::prompts;

/// A judge at a loopback port nothing listens on.
fn unreachable(max_retries: u32, retry_budget: u32) -> Judge {
    unreachable_with_ratio(max_retries, retry_budget, 0.0)
}

fn unreachable_with_ratio(max_retries: u32, retry_budget: u32, retry_ratio: f64) -> Judge {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    judge_at(port, 2, max_retries, retry_budget, retry_ratio)
}

fn judge_at(
    port: u16,
    max_concurrency: usize,
    max_retries: u32,
    retry_budget: u32,
    retry_ratio: f64,
) -> Judge {
    Judge::new(JudgeConfig {
        base_url: Url::parse(&format!("http://127.0.0.1:{port}/v1/")).unwrap(),
        model: "m".into(),
        token: Some(SecretString::from("sk-hidden".to_owned())),
        timeout: Duration::from_secs(5),
        max_concurrency,
        requests_per_second: 1000.0,
        max_retries,
        retry_budget,
        retry_ratio,
        backoff_base: Duration::from_millis(1),
        backoff_cap: Duration::from_millis(2),
    })
    .unwrap()
}

#[tokio::test]
async fn retries_per_request_then_fails_with_the_reason() {
    let judge = unreachable(2, 100);
    let err = judge.ask(&prompts::relevance("q", "d")).await.unwrap_err();
    let JudgeError::Failed {
        attempts, reason, ..
    } = &err
    else {
        panic!("{err:?}");
    };
    assert_eq!(*attempts, 3);
    assert!(reason.contains("cannot connect"), "{reason}");
    let usage = judge.usage();
    assert_eq!((usage.requests, usage.retries), (3, 2));
    assert!(!format!("{judge:?}").contains("sk-hidden"));
}

#[tokio::test]
async fn the_run_wide_retry_budget_stops_retries() {
    let judge = unreachable(5, 1);
    let first = judge.ask(&prompts::relevance("q", "d1")).await.unwrap_err();
    assert!(
        matches!(first, JudgeError::Failed { attempts: 2, .. }),
        "{first:?}"
    );
    let second = judge.ask(&prompts::relevance("q", "d2")).await.unwrap_err();
    assert!(
        matches!(&second, JudgeError::Failed { attempts: 1, reason, .. } if reason.contains("retry budget")),
        "{second:?}"
    );
}

#[test]
fn content_parts_are_joined() {
    assert_eq!(text_of(serde_json::json!("x")), "x");
    assert_eq!(
        text_of(serde_json::json!([{"type": "text", "text": "a"}, {"type": "text", "text": "b"}])),
        "ab"
    );
}

#[test]
fn the_retry_budget_is_a_floor_plus_a_share_of_the_questions() {
    assert!(retry_allowed(199, 0, 200, 0.2));
    assert!(!retry_allowed(200, 0, 200, 0.2));
    // 2,100 questions with 10 % throttled: ~210 retries, inside 200 + 420.
    assert!(retry_allowed(600, 2100, 200, 0.2));
    assert!(!retry_allowed(620, 2100, 200, 0.2));
    assert!(!retry_allowed(0, 1000, 0, 0.0));
}

#[tokio::test]
async fn the_retry_budget_grows_with_the_questions_asked() {
    // No floor, half a retry per question: the first question may retry
    // once (0 < 0.5), the second not (1 < 1.0 fails), the third again.
    let judge = unreachable_with_ratio(5, 0, 0.5);
    let attempts = |e: JudgeError| match e {
        JudgeError::Failed { attempts, .. } => attempts,
        other => panic!("{other:?}"),
    };
    let mut seen = Vec::new();
    for document in ["d1", "d2", "d3"] {
        let err = judge
            .ask(&prompts::relevance("q", document))
            .await
            .expect_err("nothing listens");
        seen.push(attempts(err));
    }
    assert_eq!(seen, [2, 1, 2]);
    assert_eq!(judge.usage().retries, 2);
}

/// A judge stand-in: the first request gets 429 with `Retry-After: 1`,
/// every other one a "relevant" reply. Returns its port and request count.
async fn throttle_first_once() -> (u16, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use axum::http::StatusCode;
    use axum::response::IntoResponse;
    let seen = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = std::sync::Arc::clone(&seen);
    let app = axum::Router::new().route(
        "/v1/chat/completions",
        axum::routing::post(move || {
            let counter = std::sync::Arc::clone(&counter);
            async move {
                if counter.fetch_add(1, Ordering::SeqCst) == 0 {
                    return (
                        StatusCode::TOO_MANY_REQUESTS,
                        [("retry-after", "1")],
                        "slow down",
                    )
                        .into_response();
                }
                let body = json!({"choices": [{"message": {"content": "relevant"}}]});
                (
                    StatusCode::OK,
                    [("content-type", "application/json")],
                    body.to_string(),
                )
                    .into_response()
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind a loopback port");
    let port = listener.local_addr().expect("local address").port();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (port, seen)
}

#[tokio::test]
async fn a_429_waits_alone_without_holding_its_permit() {
    let (port, seen) = throttle_first_once().await;
    // One permit: had the throttled request kept it while waiting out its
    // Retry-After, or paused everyone, the second would wait a second too.
    let judge = judge_at(port, 1, 3, 10, 0.2);
    let first = async {
        let start = tokio::time::Instant::now();
        let verdict = judge.ask(&prompts::relevance("q", "d1")).await;
        (verdict, start.elapsed())
    };
    let second = async {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while seen.load(Ordering::SeqCst) == 0 {
            assert!(tokio::time::Instant::now() < deadline, "no first request");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let start = tokio::time::Instant::now();
        let verdict = judge.ask(&prompts::relevance("q", "d2")).await;
        (verdict, start.elapsed())
    };
    let ((v1, t1), (v2, t2)) = tokio::join!(first, second);
    assert!(v1.expect("retried after its Retry-After").positive());
    assert!(v2.expect("answered").positive());
    assert!(t1 >= Duration::from_secs(1), "the 429 waited: {t1:?}");
    assert!(t2 < Duration::from_millis(800), "the other did not: {t2:?}");
    let usage = judge.usage();
    assert_eq!((usage.requests, usage.retries), (3, 1));
}

/// A judge that answers every request with `status`.
async fn answering(status: u16) -> u16 {
    let code = axum::http::StatusCode::from_u16(status).expect("a status code");
    let app = axum::Router::new().route(
        "/v1/chat/completions",
        axum::routing::post(move || async move { (code, "refused") }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("local address").port();
    tokio::spawn(async move { axum::serve(listener, app).await });
    port
}

#[tokio::test]
async fn a_refusal_by_the_judge_itself_counts_as_reached_a_gateway_error_does_not() {
    for (status, reached_expected) in [(500, true), (400, true), (503, false), (502, false)] {
        let judge = judge_at(answering(status).await, 2, 1, 100, 0.0);
        let err = judge.ask(&prompts::relevance("q", "d")).await.unwrap_err();
        let JudgeError::Failed {
            reached, reason, ..
        } = &err
        else {
            panic!("{err:?}");
        };
        assert_eq!(*reached, reached_expected, "HTTP {status}: {reason}");
    }
    let err = unreachable(0, 100)
        .ask(&prompts::relevance("q", "d"))
        .await
        .unwrap_err();
    assert!(
        matches!(err, JudgeError::Failed { reached: false, .. }),
        "{err:?}"
    );
}
