//! Integration tests of the fake upstream: over HTTP with reqwest, and with the official Python
//! `openai` client to prove it is faithful to what real clients expect.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod chat;
mod media;
mod openai_python;
mod server;

use serde_json::Value;
use std::time::{Duration, Instant};

/// A client that never goes through a proxy from the environment (the fake is on loopback).
fn client() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().build().unwrap()
}

/// POSTs `body` as JSON to `url`.
async fn post(url: &str, body: &Value) -> reqwest::Response {
    client().post(url).json(body).send().await.unwrap()
}

/// A chat request with one user message.
fn chat_body(content: &str, stream: bool) -> Value {
    serde_json::json!({
        "model": "gpt-test",
        "messages": [{"role": "system", "content": "be brief"}, {"role": "user", "content": content}],
        "stream": stream,
    })
}

/// The `data:` payloads of an SSE body, each with the time its network chunk arrived.
async fn sse_events(mut response: reqwest::Response) -> Vec<(Instant, String)> {
    let mut buffer = String::new();
    let mut events = Vec::new();
    while let Some(bytes) = response.chunk().await.unwrap() {
        let at = Instant::now();
        buffer.push_str(std::str::from_utf8(&bytes).unwrap());
        while let Some(end) = buffer.find("\n\n") {
            let event: String = buffer.drain(..end + 2).collect();
            let data = event
                .trim_end()
                .strip_prefix("data: ")
                .expect("every event is data:");
            events.push((at, data.to_owned()));
        }
    }
    assert!(
        buffer.is_empty(),
        "trailing bytes after the last event: {buffer:?}"
    );
    events
}

/// Content deltas of a parsed stream (the JSON events before `[DONE]`).
fn deltas(chunks: &[Value]) -> Vec<String> {
    chunks
        .iter()
        .filter_map(|c| {
            c.pointer("/choices/0/delta/content")
                .and_then(Value::as_str)
        })
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

const SHORT: Duration = Duration::from_millis(300);
