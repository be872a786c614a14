//! The hegui gateway: an OpenAI-compatible compliance proxy (`hegui serve`).
//!
//! Every request passes the same pipeline: application key → end user (registered on first
//! sight) → disposal state and identity policy (DS-9, GAI-9) → input moderation (DS-10) →
//! upstream model → output moderation as it streams, with hold-back so a blocked phrase never
//! leaves → labels (DS-16/17) → a hash-chained audit record, durable before the client sees the
//! end of its response. The libraries do the work; this crate wires them to HTTP and a store.

pub mod admin;
pub mod chat;
pub mod companion;
pub mod companion_api;
pub mod config;
pub mod demo;
pub mod disposal;
pub mod error;
pub mod identity;
pub mod media;
pub mod metrics;
pub mod relay;
pub mod sse;
pub mod state;
pub mod store;
pub mod upstream;

pub use config::Config;
pub use error::{ApiError, ErrorCode};
pub use state::{Gateway, StartError};

use axum::Router;
use axum::http::{HeaderName, HeaderValue};
use axum::routing::{get, post};
use std::sync::Arc;

/// Response header with the moderation decision: `pass`, `flag`, `mask`, `review`, `block`,
/// `error`, or `streaming` (a stream's output decision travels in-band).
pub const DECISION_HEADER: HeaderName = HeaderName::from_static("x-hegui-decision");
/// Response header with the request id that the audit records carry.
pub const REQUEST_ID_HEADER: HeaderName = HeaderName::from_static("x-hegui-request-id");
/// Request header naming the end user when the body's `user` field is absent.
pub const USER_HEADER: &str = "x-hegui-user";

/// Response header with the time the gateway itself added, in microseconds: the whole handling
/// minus the upstream call (non-streaming responses; so users can check the overhead claims).
pub const OVERHEAD_HEADER: HeaderName = HeaderName::from_static("x-hegui-overhead-us");

/// How long the upstream call took, as a response extension the handler sets.
#[derive(Debug, Clone, Copy)]
pub struct UpstreamTime(pub std::time::Duration);

/// The request id, as a request extension set by the id middleware.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

/// A fresh id with a prefix and 16 random hex digits.
pub fn new_id(prefix: &str) -> String {
    let mut b = [0u8; 8];
    // A failing system RNG leaves zeros; ids stay unique enough with the time prefix.
    let _ = getrandom::fill(&mut b);
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    format!("{prefix}{ms:x}{}", hex::encode(b))
}

async fn request_id_layer(
    axum::extract::State(gw): axum::extract::State<Arc<Gateway>>,
    mut req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let id = new_id("req_");
    req.extensions_mut().insert(RequestId(id.clone()));
    let started = std::time::Instant::now();
    let path = req.uri().path().to_owned();
    let mut resp = next.run(req).await;
    let h = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&id) {
        h.insert(REQUEST_ID_HEADER, v);
    }
    if !h.contains_key(DECISION_HEADER) {
        h.insert(DECISION_HEADER, HeaderValue::from_static("none"));
    }
    if let Some(UpstreamTime(up)) = resp.extensions().get::<UpstreamTime>().copied() {
        let overhead = started.elapsed().saturating_sub(up).as_micros();
        if let Ok(v) = HeaderValue::from_str(&overhead.to_string()) {
            resp.headers_mut().insert(OVERHEAD_HEADER, v);
        }
    }
    gw.metrics
        .observe_request(&path, resp.status().as_u16(), started.elapsed());
    resp
}

/// The gateway's routes.
pub fn router(gw: Arc<Gateway>) -> Router {
    let limit = gw.config.max_body_bytes;
    Router::new()
        .route("/v1/chat/completions", post(chat::completions))
        .route("/v1/images/generations", post(media::images))
        .route("/v1/audio/speech", post(media::speech))
        .route("/v1/models", get(chat::models))
        .route("/v1/hegui/identity/sms", post(identity::sms_start))
        .route("/v1/hegui/identity/sms/verify", post(identity::sms_verify))
        .route("/v1/hegui/identity/verify", post(identity::verify))
        .route("/v1/hegui/me", get(identity::me))
        .merge(companion_api::router())
        .nest("/admin", admin::router())
        .route("/metrics", get(metrics::render))
        .route("/healthz", get(|| async { "ok" }))
        .fallback(|| async { ApiError::new(ErrorCode::NotFound, "no such endpoint") })
        .layer(axum::middleware::from_fn_with_state(
            gw.clone(),
            request_id_layer,
        ))
        // Last resort: a bug that panics in a handler answers 500 in OpenAI's shape instead of
        // dropping the connection.
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(|_| {
            tracing::error!("a request handler panicked");
            axum::response::IntoResponse::into_response(ApiError::new(
                ErrorCode::Internal,
                "internal error; the request was not completed",
            ))
        }))
        .layer(axum::extract::DefaultBodyLimit::max(limit))
        .with_state(gw)
}

/// Serves until `shutdown` resolves.
pub async fn serve(
    gw: Arc<Gateway>,
    listener: tokio::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    use axum::serve::ListenerExt;
    let tasks = gw.clone().spawn_background();
    // Small SSE frames must leave at once: with Nagle's algorithm a frame waits for the
    // client's delayed ACK (~40 ms).
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    let r = axum::serve(listener, router(gw))
        .with_graceful_shutdown(shutdown)
        .await;
    for t in tasks {
        t.abort();
    }
    r
}
