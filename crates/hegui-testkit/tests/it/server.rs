//! Models, authentication, recording and shutdown.

use super::*;
use hegui_testkit::{FakeOptions, FakeUpstream};
use serde_json::json;

#[tokio::test]
async fn lists_and_retrieves_the_model() {
    let up = FakeUpstream::start().await.unwrap();
    let list: Value = client()
        .get(format!("{}/models", up.base_url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list["object"], "list");
    assert_eq!(list["data"][0]["id"], "fake-model");
    assert_eq!(list["data"][0]["object"], "model");
    let one = client()
        .get(format!("{}/models/fake-model", up.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(one.status(), 200);
    let missing = client()
        .get(format!("{}/models/nope", up.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
    let err: Value = missing.json().await.unwrap();
    assert_eq!(err["error"]["code"], "model_not_found");
    let unknown = client()
        .post(format!("{}/embeddings", up.base_url()))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 404);
    let err: Value = unknown.json().await.unwrap();
    assert_eq!(err["error"]["message"], "Invalid URL (POST /v1/embeddings)");
}

#[tokio::test]
async fn api_key_is_enforced_when_configured() {
    let opts = FakeOptions {
        api_key: Some("sk-upstream".into()),
        ..FakeOptions::default()
    };
    let up = FakeUpstream::start_with(opts).await.unwrap();
    let url = format!("{}/chat/completions", up.base_url());
    for auth in [None, Some("Bearer wrong"), Some("sk-upstream")] {
        let mut req = client().post(&url).json(&chat_body("hi", false));
        if let Some(auth) = auth {
            req = req.header("authorization", auth);
        }
        let resp = req.send().await.unwrap();
        assert_eq!(resp.status(), 401, "{auth:?}");
        let err: Value = resp.json().await.unwrap();
        assert_eq!(err["error"]["code"], "invalid_api_key");
        assert_eq!(err["error"]["param"], Value::Null);
    }
    let resp = client()
        .post(&url)
        .bearer_auth("sk-upstream")
        .json(&chat_body("hi", false))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let models = client()
        .get(format!("{}/models", up.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(models.status(), 401);
    // What the upstream saw, headers included, for gateway tests that check what was forwarded.
    let seen = up.recorded();
    assert_eq!(seen.len(), 5);
    assert_eq!(seen[3].header("Authorization"), Some("Bearer sk-upstream"));
    assert_eq!(seen[3].path, "/v1/chat/completions");
    assert_eq!(seen[4].method, "GET");
    assert_eq!(up.requests().len(), 4, "requests() holds POST bodies only");
    up.clear_requests();
    assert!(up.recorded().is_empty());
}

#[tokio::test]
async fn shutdown_closes_listener_and_kept_alive_connections() {
    let up = FakeUpstream::start().await.unwrap();
    let url = format!("{}/chat/completions", up.base_url());
    let http = client();
    assert_eq!(
        http.post(&url)
            .json(&chat_body("hi", false))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    // A request that would hang forever is cut off by the shutdown, not waited for.
    let hanging = tokio::spawn({
        let (http, url) = (http.clone(), url.clone());
        async move {
            http.post(&url)
                .json(&chat_body("[[hang]]", false))
                .send()
                .await
        }
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    tokio::time::timeout(Duration::from_secs(5), up.shutdown())
        .await
        .expect("shutdown is prompt");
    let hung = tokio::time::timeout(Duration::from_secs(5), hanging)
        .await
        .unwrap()
        .unwrap();
    assert!(
        hung.is_err(),
        "the hanging request fails when the upstream goes away"
    );
    // The pooled connection is gone too: a new request fails instead of reaching a zombie.
    let after = http
        .post(&url)
        .json(&chat_body("hi", false))
        .timeout(Duration::from_secs(5))
        .send()
        .await;
    assert!(after.unwrap_err().is_connect());
}

#[tokio::test]
async fn drop_stops_the_server() {
    let up = FakeUpstream::start().await.unwrap();
    let addr = up.addr();
    drop(up);
    let mut refused = false;
    for _ in 0..50 {
        if tokio::net::TcpStream::connect(addr).await.is_err() {
            refused = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(refused, "the port closes soon after drop");
}

#[tokio::test]
async fn start_on_binds_the_given_address() {
    let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = probe.local_addr().unwrap();
    drop(probe);
    let up = FakeUpstream::start_on(addr, FakeOptions::default())
        .await
        .unwrap();
    assert_eq!(up.addr(), addr);
    assert_eq!(up.base_url(), format!("http://{addr}/v1"));
}

#[test]
fn fake_upstream_binary_serves_and_prints_its_url() {
    use std::io::{BufRead, BufReader};
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_fake-upstream"))
        .args(["--listen", "127.0.0.1:0", "--chunks", "3", "--workers", "1"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let base = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap()
        .to_owned();
    assert!(
        base.starts_with("http://127.0.0.1:") && base.ends_with("/v1"),
        "{line}"
    );
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let chunks = runtime.block_on(async {
        let resp = post(
            &format!("{base}/chat/completions"),
            &chat_body("[[reply:一二三]]", true),
        )
        .await;
        let events = sse_events(resp).await;
        let chunks: Vec<Value> = events[..events.len() - 1]
            .iter()
            .map(|(_, d)| serde_json::from_str(d).unwrap())
            .collect();
        deltas(&chunks)
    });
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(chunks, ["一", "二", "三"]);
}
