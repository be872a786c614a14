//! `/v1/chat/completions`: response shapes and every script directive.

use super::*;
use hegui_testkit::{DEFAULT_REPLY, FakeOptions, FakeUpstream};
use serde_json::json;

#[tokio::test]
async fn non_stream_is_a_chat_completion() {
    let up = FakeUpstream::start().await.unwrap();
    let resp = post(
        &format!("{}/chat/completions", up.base_url()),
        &chat_body("你好", false),
    )
    .await;
    assert_eq!(resp.status(), 200);
    assert!(
        resp.headers()["x-request-id"]
            .to_str()
            .unwrap()
            .starts_with("req_")
    );
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    let body: Value = resp.json().await.unwrap();
    assert!(body["id"].as_str().unwrap().starts_with("chatcmpl-"));
    assert_eq!(body["object"], "chat.completion");
    assert!(body["created"].as_u64().unwrap() > 1_700_000_000);
    assert_eq!(
        body["model"], "gpt-test",
        "model is echoed from the request"
    );
    assert_eq!(body["choices"][0]["index"], 0);
    assert_eq!(body["choices"][0]["message"]["role"], "assistant");
    assert_eq!(body["choices"][0]["message"]["content"], DEFAULT_REPLY);
    assert_eq!(body["choices"][0]["finish_reason"], "stop");
    let usage = &body["usage"];
    let (p, c) = (
        usage["prompt_tokens"].as_u64().unwrap(),
        usage["completion_tokens"].as_u64().unwrap(),
    );
    assert!(p > 0 && c > 0);
    assert_eq!(usage["total_tokens"].as_u64().unwrap(), p + c);
    assert_eq!(up.requests(), vec![chat_body("你好", false)]);
}

#[tokio::test]
async fn stream_follows_openai_event_order() {
    let up = FakeUpstream::start().await.unwrap();
    let mut body = chat_body("hi", true);
    body["stream_options"] = json!({"include_usage": true});
    let resp = post(&format!("{}/chat/completions", up.base_url()), &body).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.headers()["content-type"],
        "text/event-stream; charset=utf-8"
    );
    let events = sse_events(resp).await;
    let (last, json_events) = events.split_last().unwrap();
    assert_eq!(last.1, "[DONE]");
    let chunks: Vec<Value> = json_events
        .iter()
        .map(|(_, d)| serde_json::from_str(d).unwrap())
        .collect();
    // role chunk + 20 content deltas + finish chunk + usage chunk.
    assert_eq!(chunks.len(), 23);
    let id = chunks[0]["id"].as_str().unwrap();
    assert!(id.starts_with("chatcmpl-"));
    for c in &chunks {
        assert_eq!(c["object"], "chat.completion.chunk");
        assert_eq!(c["id"], id, "one id for the whole stream");
        assert_eq!(c["model"], "gpt-test");
    }
    assert_eq!(
        chunks[0]["choices"][0]["delta"],
        json!({"role": "assistant", "content": ""})
    );
    assert_eq!(deltas(&chunks).concat(), DEFAULT_REPLY);
    assert_eq!(deltas(&chunks).len(), 20);
    let finish = &chunks[21];
    assert_eq!(finish["choices"][0]["delta"], json!({}));
    assert_eq!(finish["choices"][0]["finish_reason"], "stop");
    assert!(
        finish["usage"].is_null(),
        "usage is null before the last chunk"
    );
    let usage = &chunks[22];
    assert_eq!(usage["choices"], json!([]));
    assert!(usage["usage"]["total_tokens"].as_u64().unwrap() > 0);
}

#[tokio::test]
async fn stream_without_include_usage_has_no_usage_chunk() {
    let up = FakeUpstream::start().await.unwrap();
    let resp = post(
        &format!("{}/chat/completions", up.base_url()),
        &chat_body("[[reply:abc]]", true),
    )
    .await;
    let events = sse_events(resp).await;
    let chunks: Vec<Value> = events[..events.len() - 1]
        .iter()
        .map(|(_, d)| serde_json::from_str(d).unwrap())
        .collect();
    assert_eq!(chunks.len(), 5, "role, a, b, c, finish");
    assert!(chunks.iter().all(|c| c.get("usage").is_none()));
    assert_eq!(deltas(&chunks), ["a", "b", "c"]);
}

#[tokio::test]
async fn chunks_directive_gives_exact_deltas_in_both_modes() {
    let up = FakeUpstream::start().await.unwrap();
    let url = format!("{}/chat/completions", up.base_url());
    let script = "[[chunks:违|禁|词 split|]]";
    let events = sse_events(post(&url, &chat_body(script, true)).await).await;
    let chunks: Vec<Value> = events[..events.len() - 1]
        .iter()
        .map(|(_, d)| serde_json::from_str(d).unwrap())
        .collect();
    let all: Vec<&str> = chunks[1..chunks.len() - 1]
        .iter()
        .map(|c| c["choices"][0]["delta"]["content"].as_str().unwrap())
        .collect();
    assert_eq!(
        all,
        ["违", "禁", "词 split", ""],
        "empty deltas are kept, as real models send them"
    );
    let body: Value = post(&url, &chat_body(script, false))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(body["choices"][0]["message"]["content"], "违禁词 split");
}

#[tokio::test]
async fn reply_is_split_into_configured_chunks_on_char_boundaries() {
    let opts = FakeOptions {
        chunks: 4,
        ..FakeOptions::default()
    };
    let up = FakeUpstream::start_with(opts).await.unwrap();
    let events = sse_events(
        post(
            &format!("{}/chat/completions", up.base_url()),
            &chat_body("[[reply:一二三四五六七八九]]", true),
        )
        .await,
    )
    .await;
    let chunks: Vec<Value> = events[..events.len() - 1]
        .iter()
        .map(|(_, d)| serde_json::from_str(d).unwrap())
        .collect();
    assert_eq!(deltas(&chunks), ["一二三", "四五", "六七", "八九"]);
}

#[tokio::test]
async fn echo_reads_the_last_user_message_in_string_or_parts_form() {
    let up = FakeUpstream::start().await.unwrap();
    let body = json!({
        "model": "m",
        "messages": [
            {"role": "user", "content": "first"},
            {"role": "assistant", "content": "ok"},
            {"role": "user", "content": [{"type": "text", "text": "[[echo]] 身份证"}, {"type": "text", "text": "第二段"}]},
            {"role": "system", "content": "[[status:500]] ignored: not a user message"}
        ]
    });
    let resp: Value = post(&format!("{}/chat/completions", up.base_url()), &body)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        resp["choices"][0]["message"]["content"],
        "[[echo]] 身份证\n第二段"
    );
}

#[tokio::test]
async fn status_directive_answers_with_openai_error_envelope() {
    let up = FakeUpstream::start().await.unwrap();
    for (status, kind, code) in [
        (400, "invalid_request_error", Value::Null),
        (429, "requests", json!("rate_limit_exceeded")),
        (500, "server_error", Value::Null),
        (503, "server_error", Value::Null),
    ] {
        for stream in [false, true] {
            let resp = post(
                &format!("{}/chat/completions", up.base_url()),
                &chat_body(&format!("[[status:{status}]]"), stream),
            )
            .await;
            assert_eq!(resp.status().as_u16(), status);
            let body: Value = resp.json().await.unwrap();
            let err = &body["error"];
            assert!(
                err["message"]
                    .as_str()
                    .unwrap()
                    .contains(&status.to_string())
            );
            assert_eq!(err["type"], kind);
            assert_eq!(err["param"], Value::Null);
            assert_eq!(err["code"], code);
        }
    }
}

#[tokio::test]
async fn hang_never_answers() {
    let up = FakeUpstream::start().await.unwrap();
    let started = Instant::now();
    let result = client()
        .post(format!("{}/chat/completions", up.base_url()))
        .json(&chat_body("[[hang]]", true))
        .timeout(SHORT)
        .send()
        .await;
    assert!(result.unwrap_err().is_timeout());
    assert!(started.elapsed() >= SHORT);
}

#[tokio::test]
async fn stream_is_flushed_chunk_by_chunk_with_the_delay() {
    let up = FakeUpstream::start().await.unwrap();
    let resp = post(
        &format!("{}/chat/completions", up.base_url()),
        &chat_body("[[delay_ms:150]][[chunks:a|b|c]]", true),
    )
    .await;
    let events = sse_events(resp).await;
    let at = |needle: &str| events.iter().find(|(_, d)| d.contains(needle)).unwrap().0;
    let (role, a, b, c) = (at("\"role\""), at("\"a\""), at("\"b\""), at("\"c\""));
    // Only lower bounds, so a loaded machine cannot make this flaky: each delta arrived at least
    // one delay after the previous event, so nothing was buffered into one write.
    let gap = Duration::from_millis(140);
    assert!(
        a - role >= gap,
        "the role chunk is flushed before the first delay"
    );
    assert!(b - a >= gap && c - b >= gap, "{:?} {:?}", b - a, c - b);
}

#[tokio::test]
async fn non_stream_waits_as_long_as_the_stream_would() {
    let opts = FakeOptions {
        chunk_delay: Duration::from_millis(40),
        chunks: 5,
        ..FakeOptions::default()
    };
    let up = FakeUpstream::start_with(opts).await.unwrap();
    let started = Instant::now();
    let resp = post(
        &format!("{}/chat/completions", up.base_url()),
        &chat_body("hi", false),
    )
    .await;
    assert_eq!(resp.status(), 200);
    assert!(started.elapsed() >= Duration::from_millis(200));
}

#[tokio::test]
async fn malformed_requests_get_openai_errors() {
    let up = FakeUpstream::start().await.unwrap();
    let url = format!("{}/chat/completions", up.base_url());
    let resp = client()
        .post(&url)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["type"], "invalid_request_error");
    assert_eq!(
        up.requests().last().unwrap(),
        &json!("{not json"),
        "raw text is recorded"
    );

    let resp = post(
        &url,
        &json!({"messages": [{"role": "user", "content": "x"}]}),
    )
    .await;
    assert_eq!(resp.status(), 400);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["param"], "model");
    let resp = post(&url, &json!({"model": "m", "messages": []})).await;
    assert_eq!(resp.status(), 400);
}
