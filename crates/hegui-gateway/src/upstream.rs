//! Calls to the model behind the gateway: any OpenAI-compatible server, or the built-in demo.

use crate::demo;
use crate::error::{ApiError, ErrorCode};
use crate::sse::SseDecoder;
use futures_util::StreamExt;
use futures_util::stream::BoxStream;
use std::time::Duration;

/// Name of the built-in demo model.
pub const DEMO_MODEL: &str = "hegui-demo";

/// Where one application's requests go.
#[derive(Debug, Clone)]
pub enum Upstream {
    /// An OpenAI-compatible server.
    Http {
        /// Base URL ending in `/v1`.
        base: String,
        /// Bearer key, if any.
        key: Option<String>,
    },
    /// The built-in scripted model.
    Demo,
}

/// One event of an upstream stream.
#[derive(Debug)]
pub enum StreamEvent {
    /// A `chat.completion.chunk` (or any JSON object the upstream sent).
    Chunk(serde_json::Value),
    /// `[DONE]`.
    Done,
}

/// A stream of upstream events; an `Err` ends it.
pub type EventStream = BoxStream<'static, Result<StreamEvent, ApiError>>;

/// Largest upstream answer read whole (JSON completions, media).
pub const MAX_BODY: usize = 64 << 20;
/// Most bytes one upstream stream may send.
pub const MAX_STREAM: usize = 16 << 20;

/// Reads a response body up to `limit` bytes; more is an upstream error, not an allocation.
async fn read_limited(resp: reqwest::Response, limit: usize) -> Result<Vec<u8>, ApiError> {
    let mut body = Vec::new();
    let mut stream = resp.bytes_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(transport)?;
        if body.len() + chunk.len() > limit {
            return Err(ApiError::new(
                ErrorCode::UpstreamError,
                format!("the upstream answer is larger than {limit} bytes"),
            ));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

async fn read_json(resp: reqwest::Response) -> Result<serde_json::Value, ApiError> {
    let body = read_limited(resp, MAX_BODY).await?;
    serde_json::from_slice(&body)
        .map_err(|_| ApiError::new(ErrorCode::UpstreamError, "the upstream answer is not JSON"))
}

/// Maps a transport failure honestly: timeouts to 504, everything else to 502.
fn transport(e: reqwest::Error) -> ApiError {
    if e.is_timeout() {
        ApiError::new(
            ErrorCode::UpstreamTimeout,
            "the upstream model did not answer in time",
        )
    } else {
        tracing::warn!(error = %e, "upstream transport error");
        ApiError::new(
            ErrorCode::UpstreamError,
            "the upstream model could not be reached",
        )
    }
}

/// Turns a non-2xx upstream answer into an error with the upstream's own message and, for 4xx,
/// its status (the client's request was wrong, not the gateway).
async fn upstream_status(resp: reqwest::Response) -> ApiError {
    let status = resp.status();
    let body = read_limited(resp, 1 << 20).await.unwrap_or_default();
    let body: serde_json::Value = serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null);
    let msg = body["error"]["message"]
        .as_str()
        .unwrap_or("no message")
        .to_owned();
    let mut e = ApiError::new(
        ErrorCode::UpstreamError,
        format!("upstream answered {}: {msg}", status.as_u16()),
    );
    // The client's own mistakes keep their status; an upstream 401/403 is the gateway's key
    // (the client's is fine) and anything else is the upstream failing: 502.
    if matches!(status.as_u16(), 400 | 404 | 413 | 422 | 429) {
        e.status = axum::http::StatusCode::from_u16(status.as_u16()).ok();
    }
    e
}

impl Upstream {
    /// A request to `path` under the base URL, with the upstream's key; `None` for the demo.
    fn request(
        &self,
        http: &reqwest::Client,
        method: reqwest::Method,
        path: &str,
    ) -> Option<reqwest::RequestBuilder> {
        let Upstream::Http { base, key } = self else {
            return None;
        };
        let rb = http.request(method, format!("{}{path}", base.trim_end_matches('/')));
        Some(match key {
            Some(k) => rb.bearer_auth(k),
            None => rb,
        })
    }

    fn post(
        &self,
        http: &reqwest::Client,
        path: &str,
        body: &serde_json::Value,
        timeout: Duration,
    ) -> Option<reqwest::RequestBuilder> {
        self.request(http, reqwest::Method::POST, path)
            .map(|rb| rb.timeout(timeout).json(body))
    }

    /// A non-streaming chat completion: the upstream's JSON.
    pub async fn chat(
        &self,
        http: &reqwest::Client,
        body: &serde_json::Value,
        timeout: Duration,
    ) -> Result<serde_json::Value, ApiError> {
        let Some(rb) = self.post(http, "/chat/completions", body, timeout) else {
            return Ok(demo::completion(body));
        };
        let resp = rb.send().await.map_err(transport)?;
        if !resp.status().is_success() {
            return Err(upstream_status(resp).await);
        }
        read_json(resp).await
    }

    /// A streaming chat completion. `idle` bounds the wait for each event, `total` the stream.
    pub async fn chat_stream(
        &self,
        http: &reqwest::Client,
        body: &serde_json::Value,
        idle: Duration,
        total: Duration,
    ) -> Result<EventStream, ApiError> {
        let Some(rb) = self.request(http, reqwest::Method::POST, "/chat/completions") else {
            return Ok(demo::stream(body));
        };
        let rb = rb.json(body);
        let resp = tokio::time::timeout(idle, rb.send())
            .await
            .map_err(|_| {
                ApiError::new(
                    ErrorCode::UpstreamTimeout,
                    "the upstream model did not answer in time",
                )
            })?
            .map_err(transport)?;
        if !resp.status().is_success() {
            return Err(upstream_status(resp).await);
        }
        let is_sse = resp
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("text/event-stream"));
        if !is_sse {
            // Fail closed: a stream we cannot parse is never passed on unscanned.
            return Err(ApiError::new(
                ErrorCode::UpstreamError,
                "the upstream model did not answer with an event stream",
            ));
        }
        let bytes = resp.bytes_stream();
        let deadline = tokio::time::Instant::now() + total;
        let state = (
            bytes,
            SseDecoder::new(),
            std::collections::VecDeque::new(),
            false,
            0usize,
        );
        let s = futures_util::stream::unfold(
            state,
            move |(mut bytes, mut dec, mut queue, ended, mut seen)| async move {
                loop {
                    if let Some(payload) = queue.pop_front() {
                        return Some((parse_event(payload), (bytes, dec, queue, ended, seen)));
                    }
                    if ended {
                        return None;
                    }
                    // Silence is bounded per event, the whole stream by its deadline (keep-alive
                    // comments cannot hold it open for ever), its size by MAX_STREAM.
                    let wait =
                        idle.min(deadline.saturating_duration_since(tokio::time::Instant::now()));
                    match tokio::time::timeout(wait, bytes.next()).await {
                        Err(_) => {
                            let e = ApiError::new(
                                ErrorCode::UpstreamTimeout,
                                "the upstream stream went silent or ran past its deadline",
                            );
                            return Some((Err(e), (bytes, dec, queue, true, seen)));
                        }
                        Ok(Some(Ok(b))) => {
                            seen += b.len();
                            queue.extend(dec.push(&b));
                            if seen > MAX_STREAM || dec.too_large() {
                                let e = ApiError::new(
                                    ErrorCode::UpstreamError,
                                    "the upstream stream is larger than the gateway accepts",
                                );
                                return Some((Err(e), (bytes, dec, queue, true, seen)));
                            }
                        }
                        Ok(Some(Err(e))) => {
                            return Some((Err(transport(e)), (bytes, dec, queue, true, seen)));
                        }
                        Ok(None) => {
                            queue.extend(dec.finish());
                            if queue.is_empty() {
                                return None;
                            }
                            return Some((
                                parse_event(queue.pop_front()?),
                                (bytes, dec, queue, true, seen),
                            ));
                        }
                    }
                }
            },
        );
        Ok(s.boxed())
    }

    /// A media request (`/images/generations`) answered with JSON.
    pub async fn json(
        &self,
        http: &reqwest::Client,
        path: &str,
        body: &serde_json::Value,
        timeout: Duration,
    ) -> Result<serde_json::Value, ApiError> {
        let Some(rb) = self.post(http, path, body, timeout) else {
            return demo::media_json(path, body);
        };
        let resp = rb.send().await.map_err(transport)?;
        if !resp.status().is_success() {
            return Err(upstream_status(resp).await);
        }
        read_json(resp).await
    }

    /// A media request (`/audio/speech`) answered with bytes.
    pub async fn bytes(
        &self,
        http: &reqwest::Client,
        path: &str,
        body: &serde_json::Value,
        timeout: Duration,
    ) -> Result<Vec<u8>, ApiError> {
        let Some(rb) = self.post(http, path, body, timeout) else {
            return demo::media_bytes(path, body);
        };
        let resp = rb.send().await.map_err(transport)?;
        if !resp.status().is_success() {
            return Err(upstream_status(resp).await);
        }
        read_limited(resp, MAX_BODY).await
    }

    /// The upstream's model list.
    pub async fn models(
        &self,
        http: &reqwest::Client,
        timeout: Duration,
    ) -> Result<serde_json::Value, ApiError> {
        let Some(rb) = self.request(http, reqwest::Method::GET, "/models") else {
            return Ok(demo::models());
        };
        let resp = rb.timeout(timeout).send().await.map_err(transport)?;
        if !resp.status().is_success() {
            return Err(upstream_status(resp).await);
        }
        read_json(resp).await
    }
}

fn parse_event(payload: String) -> Result<StreamEvent, ApiError> {
    if payload.trim() == "[DONE]" {
        return Ok(StreamEvent::Done);
    }
    let v: serde_json::Value = serde_json::from_str(&payload).map_err(|_| {
        ApiError::new(
            ErrorCode::UpstreamError,
            "the upstream stream sent an event that is not JSON",
        )
    })?;
    if v.get("error").is_some() {
        let msg = v["error"]["message"].as_str().unwrap_or("stream error");
        return Err(ApiError::new(
            ErrorCode::UpstreamError,
            format!("the upstream model failed mid-stream: {msg}"),
        ));
    }
    Ok(StreamEvent::Chunk(v))
}
