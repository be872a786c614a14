//! The OpenAI surface: pass-through, extensions, headers, and every malformed request as a 4xx.

use crate::support::TestGateway;
use serde_json::{Value, json};

#[tokio::test]
async fn ds_16_non_streaming_reply_carries_labels_and_headers() {
    let t = TestGateway::start().await;
    let r = t
        .post(
            "/v1/chat/completions",
            TestGateway::chat("u1", "[[reply:今天天气很好。]]", false),
        )
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-hegui-decision"], "pass");
    let rid = r.headers()["x-hegui-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["object"], "chat.completion");
    assert_eq!(v["choices"][0]["message"]["content"], "今天天气很好。");
    assert_eq!(v["hegui"]["request_id"], rid);
    assert_eq!(v["hegui"]["decision"], "pass");
    assert_eq!(v["hegui"]["labels"][0]["placement"], "ui");
    assert_eq!(v["hegui"]["notices"][0]["object"], "hegui.notice");
    // The upstream got the request without the gateway's extension.
    let sent = t.upstream.requests();
    assert_eq!(
        sent.last().unwrap()["messages"][0]["content"],
        "[[reply:今天天气很好。]]"
    );
}

#[tokio::test]
async fn ds_16_stream_sends_notice_before_content_and_ends_with_done() {
    let t = TestGateway::start().await;
    let r = t
        .post(
            "/v1/chat/completions",
            TestGateway::chat("u1", "[[chunks:你好|，世界|！]]", true),
        )
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "text/event-stream");
    assert!(r.headers().contains_key("x-hegui-request-id"));
    let (content, events, done) = TestGateway::sse(r).await;
    assert_eq!(content, "你好，世界！");
    assert!(done);
    assert_eq!(events[0]["object"], "hegui.notice");
    assert!(
        events
            .iter()
            .any(|e| e["choices"][0]["finish_reason"] == "stop")
    );
}

/// The explicit label in exported text, in a whole reply and a streamed one.
async fn exported_label(placement: &str, whole: &str, streamed: &str) {
    let placement = placement.to_owned();
    let t = TestGateway::start_with(move |c| c.labels.chat = placement).await;
    let r = t
        .post(
            "/v1/chat/completions",
            TestGateway::chat("u1", "[[reply:一段文字]]", false),
        )
        .await;
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["choices"][0]["message"]["content"], whole);
    let r = t
        .post(
            "/v1/chat/completions",
            TestGateway::chat("u1", "[[chunks:一段|文字]]", true),
        )
        .await;
    let (content, _, done) = TestGateway::sse(r).await;
    assert!(done);
    assert_eq!(content, streamed);
}

#[tokio::test]
async fn ds_17_prefix_label_in_exported_text() {
    exported_label("prefix", "（AI生成）\n\n一段文字", "（AI生成）\n\n一段文字").await;
}

#[tokio::test]
async fn ds_17_suffix_label_in_exported_text() {
    // A whole reply ends with a newline after the label line; a stream cannot know its last
    // line ahead, so it ends at the label.
    exported_label(
        "suffix",
        "一段文字\n\n（AI生成）\n",
        "一段文字\n\n（AI生成）",
    )
    .await;
}

async fn error_of(r: reqwest::Response) -> (u16, Value) {
    let s = r.status().as_u16();
    (s, r.json::<Value>().await.unwrap())
}

#[tokio::test]
async fn malformed_requests_get_4xx_in_openai_shape() {
    let t = TestGateway::start_with(|c| c.max_body_bytes = 4096).await;
    let url = format!("{}/v1/chat/completions", t.url);
    let raw = |body: &'static str| {
        t.http
            .post(&url)
            .bearer_auth(&t.key)
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    let (s, e) = error_of(raw("{not json").await.unwrap()).await;
    assert_eq!(
        (s, e["error"]["code"].as_str()),
        (400, Some("invalid_json"))
    );
    assert_eq!(e["error"]["type"], "invalid_request_error");
    let (s, e) = error_of(raw("[1,2]").await.unwrap()).await;
    assert_eq!(
        (s, e["error"]["code"].as_str()),
        (400, Some("invalid_json"))
    );
    let (s, e) = error_of(
        raw(r#"{"model":"m","user":"u","messages":"hi"}"#)
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((s, e["error"]["param"].as_str()), (400, Some("messages")));
    let (s, e) = error_of(
        raw(r#"{"model":5,"user":"u","messages":[{"role":"user","content":"hi"}]}"#)
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((s, e["error"]["param"].as_str()), (400, Some("model")));
    let (s, e) = error_of(raw(r#"{"model":"m","user":"u","stream":"yes","messages":[{"role":"user","content":"hi"}]}"#).await.unwrap()).await;
    assert_eq!((s, e["error"]["param"].as_str()), (400, Some("stream")));
    let (s, e) = error_of(
        raw(r#"{"model":"m","messages":[{"role":"user","content":"hi"}]}"#)
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (s, e["error"]["code"].as_str()),
        (400, Some("missing_user"))
    );
    let (s, e) = error_of(raw(r#"{"model":"m","user":"u","messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"x"}}]}]}"#).await.unwrap()).await;
    assert_eq!(
        (s, e["error"]["param"].as_str()),
        (400, Some("messages.content"))
    );
    let big = format!(
        r#"{{"model":"m","user":"u","messages":[{{"role":"user","content":"{}"}}]}}"#,
        "啊".repeat(5000)
    );
    let r = t
        .http
        .post(&url)
        .bearer_auth(&t.key)
        .body(big)
        .send()
        .await
        .unwrap();
    let (s, e) = error_of(r).await;
    assert_eq!(
        (s, e["error"]["code"].as_str()),
        (413, Some("body_too_large"))
    );
    let r = t
        .http
        .post(&url)
        .bearer_auth("wrong")
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    let (s, e) = error_of(r).await;
    assert_eq!(
        (s, e["error"]["code"].as_str()),
        (401, Some("invalid_api_key"))
    );
    let r = t.http.post(&url).json(&json!({})).send().await.unwrap();
    assert_eq!(r.status(), 401);
    let r = t
        .http
        .get(format!("{}/v1/nothing", t.url))
        .send()
        .await
        .unwrap();
    let (s, e) = error_of(r).await;
    assert_eq!((s, e["error"]["code"].as_str()), (404, Some("not_found")));
}

#[tokio::test]
async fn unknown_model_without_upstream_is_404_and_demo_model_answers() {
    let t = TestGateway::start_with(|c| c.upstream.clear()).await;
    let r = t
        .post("/v1/chat/completions", TestGateway::chat("u1", "hi", false))
        .await;
    let (s, e) = error_of(r).await;
    assert_eq!(
        (s, e["error"]["code"].as_str()),
        (404, Some("model_not_found"))
    );
    let mut body = TestGateway::chat("u1", "你好", true);
    body["model"] = json!("hegui-demo");
    let (content, _, done) = TestGateway::sse(t.post("/v1/chat/completions", body).await).await;
    assert!(done && content.contains("hegui-demo"));
    let m: Value = t
        .http
        .get(format!("{}/v1/models", t.url))
        .bearer_auth(&t.key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(m["data"][0]["id"], "hegui-demo");
}

#[tokio::test]
async fn upstream_errors_and_timeouts_are_mapped_honestly() {
    let t = TestGateway::start().await;
    let (s, e) = error_of(
        t.post(
            "/v1/chat/completions",
            TestGateway::chat("u1", "[[status:500]]", false),
        )
        .await,
    )
    .await;
    assert_eq!(
        (s, e["error"]["code"].as_str()),
        (502, Some("upstream_error"))
    );
    // A client error upstream keeps its status: the request was wrong, not the gateway.
    let (s, _) = error_of(
        t.post(
            "/v1/chat/completions",
            TestGateway::chat("u1", "[[status:429]]", false),
        )
        .await,
    )
    .await;
    assert_eq!(s, 429);
    let (s, e) = error_of(
        t.post(
            "/v1/chat/completions",
            TestGateway::chat("u1", "[[hang]]", false),
        )
        .await,
    )
    .await;
    assert_eq!(
        (s, e["error"]["code"].as_str()),
        (504, Some("upstream_timeout"))
    );
    let (s, e) = error_of(
        t.post(
            "/v1/chat/completions",
            TestGateway::chat("u1", "[[hang]]", true),
        )
        .await,
    )
    .await;
    assert_eq!(
        (s, e["error"]["code"].as_str()),
        (504, Some("upstream_timeout"))
    );
    // Every failure is in the audit log, never as "delivered".
    let recs = t.audit().await;
    let outcomes: Vec<Value> = recs
        .iter()
        .filter(|r| r.kind == "decision.output")
        .map(|r| r.body_json()["outcome"].clone())
        .collect();
    assert_eq!(outcomes.len(), 4);
    assert!(outcomes.iter().all(|o| o["error"].is_string()));
}

#[tokio::test]
async fn metrics_report_requests_decisions_and_users() {
    let t = TestGateway::start().await;
    t.post(
        "/v1/chat/completions",
        TestGateway::chat("u1", "你好", false),
    )
    .await;
    t.post(
        "/v1/chat/completions",
        TestGateway::chat("u2", "你好", false),
    )
    .await;
    let m = t
        .http
        .get(format!("{}/metrics", t.url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        m.contains("hegui_requests_total{route=\"/v1/chat/completions\",status=\"200\"} 2"),
        "{m}"
    );
    assert!(m.contains("hegui_decisions_total{stage=\"input\",action=\"pass\"} 2"));
    assert!(m.contains(&format!("hegui_registered_users{{app=\"{}\"}} 2", t.app_id)));
    assert!(m.contains(&format!(
        "hegui_monthly_active_users{{app=\"{}\"}} 2",
        t.app_id
    )));
    assert!(m.contains("hegui_request_duration_seconds_bucket"));
}

#[tokio::test]
async fn applications_have_their_own_upstream() {
    let t = TestGateway::start().await;
    let other = hegui_testkit::FakeUpstream::start_with(hegui_testkit::FakeOptions {
        default_reply: "来自第二个上游".into(),
        ..Default::default()
    })
    .await
    .unwrap();
    let settings = hegui_store::AppSettings {
        upstream: Some(other.base_url()),
        ..Default::default()
    };
    let (_, key) =
        hegui_gateway::state::create_app(t.gw.store.as_ref(), "second", settings, t.gw.now())
            .await
            .unwrap();
    let r = t
        .http
        .post(format!("{}/v1/chat/completions", t.url))
        .bearer_auth(&key)
        .json(&TestGateway::chat("u1", "你好", false))
        .send()
        .await
        .unwrap();
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["choices"][0]["message"]["content"], "来自第二个上游");
    assert_eq!(other.requests().len(), 1);
    assert!(t.upstream.requests().is_empty());
}
