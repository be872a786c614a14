//! [`FakeUpstream`]: an OpenAI-compatible model server on loopback, faithful to the wire format of
//! the real API (the edge the gateway does not own), scripted from the request itself.

use crate::media;
use crate::script::{Script, approx_tokens};
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use serde_json::{Value, json};
use std::collections::VecDeque;
use std::convert::Infallible;
use std::hash::{BuildHasher, Hasher};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::{JoinHandle, JoinSet};

/// The reply used when a message carries no script: Chinese, about 200 bytes.
pub const DEFAULT_REPLY: &str = "你好！我是测试用的模拟模型，这段回复由假上游服务生成。\
它会被拆成多个片段以流式方式返回，用来检验网关的转发、审核与标识是否正确。";

/// How many requests [`FakeUpstream`] remembers (the most recent ones), so that a long benchmark
/// run does not grow without bound.
pub const MAX_RECORDED: usize = 10_000;

/// Settings of a [`FakeUpstream`].
#[derive(Debug, Clone)]
pub struct FakeOptions {
    /// How many content deltas an unscripted (or `[[reply:…]]`) streamed reply is split into.
    pub chunks: usize,
    /// Delay before each streamed content delta (non-streaming replies wait the same total).
    pub chunk_delay: Duration,
    /// The reply when the message carries no script.
    pub default_reply: String,
    /// The model listed by `GET /v1/models`.
    pub model: String,
    /// When set, every request must carry `Authorization: Bearer <key>` (else 401).
    pub api_key: Option<String>,
}

impl Default for FakeOptions {
    fn default() -> Self {
        FakeOptions {
            chunks: 20,
            chunk_delay: Duration::ZERO,
            default_reply: DEFAULT_REPLY.to_owned(),
            model: "fake-model".to_owned(),
            api_key: None,
        }
    }
}

/// One request the fake received, for assertions.
#[derive(Debug, Clone)]
pub struct RecordedRequest {
    /// HTTP method.
    pub method: String,
    /// Path, e.g. `/v1/chat/completions`.
    pub path: String,
    /// Headers, names in lower case, in the order received.
    pub headers: Vec<(String, String)>,
    /// The JSON body; `Null` when there was none, a JSON string holding the raw text when it was
    /// not JSON.
    pub body: Value,
}

impl RecordedRequest {
    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

struct Shared {
    opts: FakeOptions,
    log: Mutex<VecDeque<RecordedRequest>>,
}

/// A running fake OpenAI-compatible server on 127.0.0.1. Dropping it (or [`shutdown`]) closes the
/// listener and every open connection, as a killed upstream would.
///
/// [`shutdown`]: FakeUpstream::shutdown
pub struct FakeUpstream {
    addr: SocketAddr,
    shared: Arc<Shared>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for FakeUpstream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeUpstream")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl FakeUpstream {
    /// Starts a fake with default options on a random loopback port.
    pub async fn start() -> std::io::Result<FakeUpstream> {
        Self::start_with(FakeOptions::default()).await
    }

    /// Starts a fake with `opts` on a random loopback port.
    pub async fn start_with(opts: FakeOptions) -> std::io::Result<FakeUpstream> {
        Self::start_on(SocketAddr::from(([127, 0, 0, 1], 0)), opts).await
    }

    /// Starts a fake with `opts` on `addr` (port 0 picks a free one).
    pub async fn start_on(addr: SocketAddr, opts: FakeOptions) -> std::io::Result<FakeUpstream> {
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            opts,
            log: Mutex::new(VecDeque::new()),
        });
        let (stop, stopped) = oneshot::channel();
        let task = tokio::spawn(serve(listener, router(shared.clone()), stopped));
        Ok(FakeUpstream {
            addr,
            shared,
            stop: Some(stop),
            task: Some(task),
        })
    }

    /// The OpenAI base URL, `http://127.0.0.1:PORT/v1`.
    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The options it runs with.
    pub fn options(&self) -> &FakeOptions {
        &self.shared.opts
    }

    /// The JSON bodies of the POST requests received so far, oldest first.
    pub fn requests(&self) -> Vec<Value> {
        self.log()
            .iter()
            .filter(|r| r.method == "POST")
            .map(|r| r.body.clone())
            .collect()
    }

    /// Every request received so far (method, path, headers, body), oldest first.
    pub fn recorded(&self) -> Vec<RecordedRequest> {
        self.log().iter().cloned().collect()
    }

    /// Forgets the requests received so far.
    pub fn clear_requests(&self) {
        self.log().clear();
    }

    fn log(&self) -> std::sync::MutexGuard<'_, VecDeque<RecordedRequest>> {
        self.shared
            .log
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Stops accepting, closes every open connection (including hanging and streaming ones) and
    /// waits until that is done.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for FakeUpstream {
    fn drop(&mut self) {
        // Dropping the sender also wakes the server loop; send anyway to make the intent plain.
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// The accept loop. Connections live in a `JoinSet` so that stopping aborts them all.
async fn serve(listener: TcpListener, app: Router, mut stopped: oneshot::Receiver<()>) {
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            _ = &mut stopped => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    // Small SSE writes must not wait for Nagle: latency benchmarks go through here.
                    let _ = stream.set_nodelay(true);
                    let service = TowerToHyperService::new(app.clone());
                    conns.spawn(async move {
                        let _ = http1::Builder::new()
                            .serve_connection(TokioIo::new(stream), service)
                            .await;
                    });
                }
                // Out of file descriptors and the like: back off instead of spinning.
                Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
            },
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
    drop(listener);
    conns.shutdown().await;
}

fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/v1/chat/completions", post(chat_completions))
        .route("/v1/models", get(list_models))
        .route("/v1/models/{id}", get(get_model))
        .route("/v1/images/generations", post(image_generations))
        .route("/v1/audio/speech", post(audio_speech))
        .fallback(not_found)
        .with_state(shared)
}

// ---------------------------------------------------------------------------------------------
// Responses

fn random_u64() -> u64 {
    // std's RandomState is seeded from the OS; enough for unique-looking ids in a fixture.
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut h = std::hash::RandomState::new().build_hasher();
    h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    h.finish()
}

fn new_id(prefix: &str) -> String {
    format!("{prefix}{:016x}{:08x}", random_u64(), random_u64() as u32)
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn with_request_id(mut response: Response) -> Response {
    if let Ok(id) = HeaderValue::from_str(&new_id("req_")) {
        response.headers_mut().insert("x-request-id", id);
    }
    response
}

fn json_response(status: StatusCode, body: &Value) -> Response {
    with_request_id((status, axum::Json(body)).into_response())
}

/// An error answered in OpenAI's envelope: `{"error":{"message","type","param","code"}}`.
struct ApiError {
    status: StatusCode,
    message: String,
    param: Option<&'static str>,
    code: Option<&'static str>,
}

impl ApiError {
    /// An error whose `code` follows what OpenAI sends for the status.
    fn new(status: StatusCode, message: impl Into<String>) -> ApiError {
        let code = match status.as_u16() {
            401 => Some("invalid_api_key"),
            404 => Some("model_not_found"),
            429 => Some("rate_limit_exceeded"),
            _ => None,
        };
        ApiError {
            status,
            message: message.into(),
            param: None,
            code,
        }
    }

    fn bad_request(message: impl Into<String>, param: &'static str) -> ApiError {
        ApiError {
            param: Some(param),
            ..ApiError::new(StatusCode::BAD_REQUEST, message)
        }
    }

    fn internal(e: impl std::fmt::Display) -> ApiError {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let kind = match self.status.as_u16() {
            429 => "requests",
            500..=599 => "server_error",
            _ => "invalid_request_error",
        };
        let body = json!({
            "error": { "message": self.message, "type": kind, "param": self.param, "code": self.code }
        });
        json_response(self.status, &body)
    }
}

/// Records the request, checks the API key and parses the JSON body.
fn admit(
    shared: &Shared,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Value, ApiError> {
    let parsed = if body.is_empty() {
        Ok(Value::Null)
    } else {
        serde_json::from_slice::<Value>(body)
    };
    let recorded_body = match &parsed {
        Ok(v) => v.clone(),
        Err(_) => Value::String(String::from_utf8_lossy(body).into_owned()),
    };
    let headers_seen = headers
        .iter()
        .map(|(n, v)| {
            (
                n.as_str().to_owned(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    {
        let mut log = shared.log.lock().unwrap_or_else(PoisonError::into_inner);
        if log.len() == MAX_RECORDED {
            log.pop_front();
        }
        log.push_back(RecordedRequest {
            method: method.as_str().to_owned(),
            path: uri.path().to_owned(),
            headers: headers_seen,
            body: recorded_body,
        });
    }
    if let Some(key) = &shared.opts.api_key {
        let given = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        match given.and_then(|v| v.strip_prefix("Bearer ")) {
            Some(k) if k == key => {}
            Some(_) => {
                return Err(ApiError::new(
                    StatusCode::UNAUTHORIZED,
                    "Incorrect API key provided.",
                ));
            }
            None => {
                return Err(ApiError::new(
                    StatusCode::UNAUTHORIZED,
                    "You didn't provide an API key. You need to provide your API key in an \
                     Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
                ));
            }
        }
    }
    match parsed {
        Ok(v) if method == Method::GET || v.is_object() => Ok(v),
        Ok(_) => Err(ApiError::bad_request(
            "The request body must be a JSON object.",
            "body",
        )),
        Err(e) => Err(ApiError::bad_request(
            format!("We could not parse the JSON body of your request. ({e})"),
            "body",
        )),
    }
}

/// Applies the directives every endpoint honours: `[[status:N]]` (an error), `[[hang]]` (never
/// returns) and a wait (from `[[delay_ms:N]]` or the caller).
async fn run_script(script: &Script, wait: Duration) -> Result<(), ApiError> {
    if let Some(code) = script.status {
        return Err(match StatusCode::from_u16(code) {
            Ok(status) => ApiError::new(status, format!("fake upstream: scripted status {code}")),
            Err(_) => ApiError::bad_request(
                format!("fake upstream: invalid [[status:{code}]]"),
                "messages",
            ),
        });
    }
    if script.hang {
        std::future::pending::<()>().await;
    }
    if !wait.is_zero() {
        tokio::time::sleep(wait).await;
    }
    Ok(())
}

/// The text of a message's `content`: a string, or the `text` parts of an array of parts.
fn content_text(content: &Value) -> String {
    match content {
        Value::String(s) => s.clone(),
        Value::Array(parts) => parts
            .iter()
            .filter_map(|p| p.get("text").and_then(Value::as_str))
            .collect::<Vec<_>>()
            .join("\n"),
        _ => String::new(),
    }
}

// ---------------------------------------------------------------------------------------------
// Chat completions

async fn chat_completions(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let req = admit(&shared, &method, &uri, &headers, &body)?;
    let model = req
        .get("model")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| ApiError::bad_request("you must provide a model parameter", "model"))?;
    let messages = req
        .get("messages")
        .and_then(Value::as_array)
        .filter(|m| !m.is_empty())
        .ok_or_else(|| ApiError::bad_request("'messages' must be a non-empty array", "messages"))?;
    let last_user = messages
        .iter()
        .rev()
        .find(|m| m.get("role").and_then(Value::as_str) == Some("user"))
        .and_then(|m| m.get("content"))
        .map(content_text)
        .unwrap_or_default();
    let prompt_tokens: u64 = messages
        .iter()
        .map(|m| {
            4 + m
                .get("content")
                .map_or(0, |c| approx_tokens(&content_text(c)))
        })
        .sum::<u64>()
        + 3;

    let opts = &shared.opts;
    let script = Script::parse(&last_user);
    let pieces = script.pieces(&last_user, &opts.default_reply, opts.chunks);
    let delay = script.delay.unwrap_or(opts.chunk_delay);
    let stream = req.get("stream").and_then(Value::as_bool).unwrap_or(false);
    // A non-streaming reply takes as long as the stream would have.
    let wait = if stream {
        Duration::ZERO
    } else {
        delay.saturating_mul(pieces.len() as u32)
    };
    run_script(&script, wait).await?;

    let reply = pieces.concat();
    let completion_tokens = approx_tokens(&reply);
    let usage = json!({
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
        "prompt_tokens_details": { "cached_tokens": 0, "audio_tokens": 0 },
        "completion_tokens_details": {
            "reasoning_tokens": 0, "audio_tokens": 0,
            "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0
        }
    });
    let id = new_id("chatcmpl-");
    let created = unix_now();

    if !stream {
        let body = json!({
            "id": id,
            "object": "chat.completion",
            "created": created,
            "model": model,
            "choices": [{
                "index": 0,
                "message": { "role": "assistant", "content": reply, "refusal": null, "annotations": [] },
                "logprobs": null,
                "finish_reason": "stop"
            }],
            "usage": usage,
            "service_tier": "default",
            "system_fingerprint": "fp_hegui_fake"
        });
        return Ok(json_response(StatusCode::OK, &body));
    }

    let include_usage = req
        .pointer("/stream_options/include_usage")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let chunk = |delta: Value, finish: Option<&str>| {
        let mut c = json!({
            "id": id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "service_tier": "default",
            "system_fingerprint": "fp_hegui_fake",
            "choices": [{ "index": 0, "delta": delta, "logprobs": null, "finish_reason": finish }]
        });
        // With include_usage, OpenAI sends `"usage": null` on every chunk but the last.
        if include_usage {
            c["usage"] = Value::Null;
        }
        c
    };
    let sse = |v: &Value| Bytes::from(format!("data: {v}\n\n"));
    // (wait the delay before this event?, the event)
    let mut events: Vec<(bool, Bytes)> = Vec::with_capacity(pieces.len() + 4);
    events.push((
        false,
        sse(&chunk(json!({ "role": "assistant", "content": "" }), None)),
    ));
    for piece in &pieces {
        events.push((true, sse(&chunk(json!({ "content": piece }), None))));
    }
    events.push((false, sse(&chunk(json!({}), Some("stop")))));
    if include_usage {
        let mut last = chunk(json!({}), None);
        last["choices"] = json!([]);
        last["usage"] = usage;
        events.push((false, sse(&last)));
    }
    events.push((false, Bytes::from_static(b"data: [DONE]\n\n")));

    // Each event is its own body frame, written as soon as it is produced.
    let body = futures_util::stream::unfold(events.into_iter(), move |mut events| async move {
        let (pause, bytes) = events.next()?;
        if pause && !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        Some((Ok::<_, Infallible>(bytes), events))
    });
    let response = Response::builder()
        .header(header::CONTENT_TYPE, "text/event-stream; charset=utf-8")
        .header(header::CACHE_CONTROL, "no-cache")
        .body(Body::from_stream(body))
        .map_err(ApiError::internal)?;
    Ok(with_request_id(response))
}

// ---------------------------------------------------------------------------------------------
// Models

fn model_object(id: &str) -> Value {
    json!({ "id": id, "object": "model", "created": 1_700_000_000u64, "owned_by": "hegui-testkit" })
}

async fn list_models(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    admit(&shared, &method, &uri, &headers, &[])?;
    let body = json!({ "object": "list", "data": [model_object(&shared.opts.model)] });
    Ok(json_response(StatusCode::OK, &body))
}

async fn get_model(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    admit(&shared, &method, &uri, &headers, &[])?;
    if id != shared.opts.model {
        let message = format!("The model `{id}` does not exist or you do not have access to it.");
        return Err(ApiError::new(StatusCode::NOT_FOUND, message));
    }
    Ok(json_response(StatusCode::OK, &model_object(&id)))
}

// ---------------------------------------------------------------------------------------------
// Images

fn seed_of(text: &str) -> u64 {
    // FNV-1a: stable across runs, unlike std's hasher.
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    })
}

/// `"WxH"` (each side 1 to 2048) or `"auto"`; the fake's default is a small 64 × 64.
fn parse_size(size: Option<&Value>) -> Result<(u32, u32), ApiError> {
    const DEFAULT: (u32, u32) = (64, 64);
    let invalid = || {
        ApiError::bad_request(
            "'size' must be \"auto\" or WIDTHxHEIGHT, each 1 to 2048",
            "size",
        )
    };
    let dim = |d: &str| d.parse::<u32>().ok().filter(|d| (1..=2048).contains(d));
    match size {
        None | Some(Value::Null) => Ok(DEFAULT),
        Some(Value::String(s)) if s == "auto" => Ok(DEFAULT),
        Some(Value::String(s)) => {
            let (w, h) = s.split_once('x').ok_or_else(invalid)?;
            Ok((dim(w).ok_or_else(invalid)?, dim(h).ok_or_else(invalid)?))
        }
        Some(_) => Err(invalid()),
    }
}

async fn image_generations(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let req = admit(&shared, &method, &uri, &headers, &body)?;
    let prompt = req
        .get("prompt")
        .and_then(Value::as_str)
        .ok_or_else(|| ApiError::bad_request("'prompt' is a required property", "prompt"))?;
    let n = match req.get("n") {
        None | Some(Value::Null) => 1,
        Some(v) => v
            .as_u64()
            .filter(|n| (1..=10).contains(n))
            .ok_or_else(|| ApiError::bad_request("'n' must be an integer from 1 to 10", "n"))?,
    };
    let (width, height) = parse_size(req.get("size"))?;
    let as_url = match req.get("response_format").and_then(Value::as_str) {
        None | Some("b64_json") => false,
        Some("url") => true,
        Some(other) => {
            let message =
                format!("'{other}' is not one of ['url', 'b64_json'] - 'response_format'");
            return Err(ApiError::bad_request(message, "response_format"));
        }
    };
    let script = Script::parse(prompt);
    run_script(&script, script.delay.unwrap_or_default()).await?;
    let mut data = Vec::new();
    for i in 0..n {
        let png = media::png(width, height, seed_of(prompt).wrapping_add(i))
            .map_err(ApiError::internal)?;
        let b64 = BASE64.encode(png);
        data.push(if as_url {
            json!({ "url": format!("data:image/png;base64,{b64}"), "revised_prompt": prompt })
        } else {
            json!({ "b64_json": b64, "revised_prompt": prompt })
        });
    }
    Ok(json_response(
        StatusCode::OK,
        &json!({ "created": unix_now(), "data": data }),
    ))
}

// ---------------------------------------------------------------------------------------------
// Speech

async fn audio_speech(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let req = admit(&shared, &method, &uri, &headers, &body)?;
    let input = req
        .get("input")
        .and_then(Value::as_str)
        .ok_or_else(|| ApiError::bad_request("'input' is a required property", "input"))?;
    // Real OpenAI defaults to mp3; the fake only makes WAV, so WAV is its default.
    match req.get("response_format").and_then(Value::as_str) {
        None | Some("wav") => {}
        Some(other) => {
            let message = format!(
                "The fake upstream only supports response_format \"wav\" (got \"{other}\")."
            );
            return Err(ApiError::bad_request(message, "response_format"));
        }
    }
    let script = Script::parse(input);
    run_script(&script, script.delay.unwrap_or_default()).await?;
    let wav = media::wav(seed_of(input)).map_err(ApiError::internal)?;
    Ok(with_request_id(
        ([(header::CONTENT_TYPE, "audio/wav")], wav).into_response(),
    ))
}

async fn not_found(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> ApiError {
    match admit(&shared, &method, &uri, &headers, &body) {
        Err(e) if e.status == StatusCode::UNAUTHORIZED => e,
        _ => ApiError {
            code: None,
            ..ApiError::new(
                StatusCode::NOT_FOUND,
                format!("Invalid URL ({method} {})", uri.path()),
            )
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_reply_is_about_200_bytes_of_chinese() {
        assert!(
            (150..=250).contains(&DEFAULT_REPLY.len()),
            "{}",
            DEFAULT_REPLY.len()
        );
    }

    #[test]
    fn content_text_accepts_strings_and_parts() {
        assert_eq!(content_text(&json!("hi")), "hi");
        let parts = json!([{"type":"text","text":"a"},{"type":"image_url","image_url":{"url":"x"}},{"type":"text","text":"b"}]);
        assert_eq!(content_text(&parts), "a\nb");
        assert_eq!(content_text(&Value::Null), "");
    }
}
