//! The client side of the gateway benchmark: one OpenAI-style chat request (streamed or not) with
//! its timings and what arrived, sequential latency rounds, and closed-loop throughput.
//!
//! Everything runs on the bench's own current-thread tokio runtime, pinned with the fake upstream
//! to core 1, so the client costs the same for every target and cancels out of "added latency".

use anyhow::{Context, Result};
use futures_util::StreamExt;
use serde_json::Value;
use std::time::{Duration, Instant};

/// Which gateway a target goes through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Gw {
    /// No gateway: the client calls the fake upstream itself (the baseline).
    Direct,
    /// `hegui serve`.
    Hegui,
    /// LiteLLM proxy.
    LiteLlm,
    /// Portkey gateway.
    Portkey,
}

impl Gw {
    /// Every gateway under test (not the baseline), in report order.
    pub const PEERS: [Gw; 3] = [Gw::Hegui, Gw::LiteLlm, Gw::Portkey];

    /// The name in the report.
    pub fn name(self) -> &'static str {
        match self {
            Gw::Direct => "direct",
            Gw::Hegui => "hegui",
            Gw::LiteLlm => "LiteLLM",
            Gw::Portkey => "Portkey",
        }
    }
}

/// One URL with its headers: a gateway in one configuration (or the upstream itself).
#[derive(Debug, Clone)]
pub struct Target {
    /// Which gateway.
    pub gw: Gw,
    /// The full `…/chat/completions` URL.
    pub url: String,
    /// Extra request headers (auth, Portkey's routing and guardrail config).
    pub headers: Vec<(String, String)>,
    /// The `model` field.
    pub model: String,
}

/// What one request got back.
#[derive(Debug, Clone, Default)]
pub struct Reply {
    /// HTTP status.
    pub status: u16,
    /// Time to the first non-empty content delta (streams only).
    pub ttft: Option<Duration>,
    /// Time to the end of the body.
    pub total: Duration,
    /// Content received: the message content, or the concatenated deltas.
    pub content: String,
    /// Non-empty content deltas received.
    pub chunks: usize,
    /// A `data:` event (or a non-stream body) whose JSON carries a top-level `error`.
    pub error_frame: bool,
    /// The `error.type` / `error.code` of that error, if any.
    pub error_kind: String,
    /// `data: [DONE]` arrived.
    pub done: bool,
    /// The gateway's self-reported overhead, ms: LiteLLM's `x-litellm-overhead-duration-ms` or
    /// hegui's `x-hegui-overhead-us` (non-streaming replies).
    pub self_overhead_ms: Option<f64>,
    /// The body, for a non-stream reply or an error (first 300 bytes).
    pub body_head: String,
}

impl Reply {
    /// A 200 with content and no error: the request went through as it should without a block.
    pub fn ok(&self) -> bool {
        self.status == 200 && !self.error_frame && !self.content.is_empty()
    }
}

/// Builds the HTTP client every measurement uses: HTTP/1.1 keep-alive, no proxy, Nagle off.
pub fn client() -> Result<reqwest::Client> {
    reqwest::Client::builder()
        .no_proxy()
        .http1_only()
        .tcp_nodelay(true)
        .pool_max_idle_per_host(256)
        .timeout(Duration::from_secs(60))
        .build()
        .context("building the HTTP client")
}

/// The request body of a one-message chat.
pub fn body(model: &str, message: &str, stream: bool) -> Vec<u8> {
    let v = serde_json::json!({
        "model": model,
        "messages": [{"role": "user", "content": message}],
        "stream": stream,
    });
    v.to_string().into_bytes()
}

/// Sends one chat request and reads the whole answer.
pub async fn chat(
    client: &reqwest::Client,
    t: &Target,
    message: &str,
    stream: bool,
) -> Result<Reply> {
    let payload = body(&t.model, message, stream);
    let mut req = client
        .post(&t.url)
        .header("content-type", "application/json")
        .body(payload);
    for (k, v) in &t.headers {
        req = req.header(k.as_str(), v.as_str());
    }
    let start = Instant::now();
    let resp = req
        .send()
        .await
        .with_context(|| format!("POST {}", t.url))?;
    let status = resp.status().as_u16();
    let header = |name: &str| {
        resp.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<f64>().ok())
    };
    let self_overhead_ms = header("x-litellm-overhead-duration-ms")
        .or_else(|| header("x-hegui-overhead-us").map(|us| us / 1000.0));
    let is_sse = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/event-stream"));
    let mut reply = Reply {
        status,
        self_overhead_ms,
        ..Reply::default()
    };
    if stream && is_sse {
        let mut sse = Sse::default();
        let mut body = resp.bytes_stream();
        while let Some(piece) = body.next().await {
            let piece = piece.context("reading the stream")?;
            sse.feed(&piece, &mut reply, start);
        }
        sse.finish(&mut reply, start);
        reply.total = start.elapsed();
    } else {
        let bytes = resp.bytes().await.context("reading the body")?;
        reply.total = start.elapsed();
        let text = String::from_utf8_lossy(&bytes);
        reply.body_head = text.chars().take(300).collect();
        if let Ok(v) = serde_json::from_slice::<Value>(&bytes) {
            if let Some(e) = v.get("error") {
                reply.error_frame = true;
                reply.error_kind = error_kind(e);
            }
            if let Some(c) = v
                .pointer("/choices/0/message/content")
                .and_then(Value::as_str)
            {
                reply.content = c.to_string();
                reply.chunks = usize::from(!c.is_empty());
            }
        }
    }
    Ok(reply)
}

fn error_kind(e: &Value) -> String {
    let field = |k: &str| e.get(k).and_then(Value::as_str).unwrap_or("").to_string();
    let (ty, code) = (field("type"), field("code"));
    match (ty.is_empty(), code.is_empty()) {
        (false, false) if ty != code => format!("{ty}/{code}"),
        (false, _) => ty,
        (true, false) => code,
        (true, true) => e
            .as_str()
            .map(|s| s.chars().take(40).collect())
            .unwrap_or_else(|| "error".into()),
    }
}

/// A minimal server-sent-events reader: splits on blank lines, reads `data:` lines.
#[derive(Debug, Default)]
struct Sse {
    buf: Vec<u8>,
}

impl Sse {
    fn feed(&mut self, bytes: &[u8], reply: &mut Reply, start: Instant) {
        self.buf.extend_from_slice(bytes);
        while let Some((end, sep)) = find_event_end(&self.buf) {
            let event: Vec<u8> = self.buf.drain(..end + sep).take(end).collect();
            handle_event(&event, reply, start);
        }
    }

    fn finish(&mut self, reply: &mut Reply, start: Instant) {
        if !self.buf.iter().all(u8::is_ascii_whitespace) {
            let event = std::mem::take(&mut self.buf);
            handle_event(&event, reply, start);
        }
    }
}

/// The end of the first complete event in `buf` and the length of its separator.
fn find_event_end(buf: &[u8]) -> Option<(usize, usize)> {
    let lf = buf.windows(2).position(|w| w == b"\n\n").map(|i| (i, 2));
    let crlf = buf
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|i| (i, 4));
    match (lf, crlf) {
        (Some(a), Some(b)) => Some(if a.0 <= b.0 { a } else { b }),
        (a, b) => a.or(b),
    }
}

fn handle_event(event: &[u8], reply: &mut Reply, start: Instant) {
    let text = String::from_utf8_lossy(event);
    let data: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("data:"))
        .map(|d| d.strip_prefix(' ').unwrap_or(d))
        .collect();
    if data.is_empty() {
        return;
    }
    let data = data.join("\n");
    if data.trim() == "[DONE]" {
        reply.done = true;
        return;
    }
    let Ok(v) = serde_json::from_str::<Value>(&data) else {
        return;
    };
    if let Some(e) = v.get("error") {
        reply.error_frame = true;
        if reply.error_kind.is_empty() {
            reply.error_kind = error_kind(e);
        }
        if reply.body_head.is_empty() {
            reply.body_head = data.chars().take(300).collect();
        }
        return;
    }
    if let Some(c) = v
        .pointer("/choices/0/delta/content")
        .and_then(Value::as_str)
        && !c.is_empty()
    {
        if reply.ttft.is_none() {
            reply.ttft = Some(start.elapsed());
        }
        reply.chunks += 1;
        reply.content.push_str(c);
    }
}

/// What one sequential round of one target measured.
#[derive(Debug, Clone, Default)]
pub struct Round {
    /// Total time of each successful request, ms.
    pub total_ms: Vec<f64>,
    /// Time to first content of each successful streamed request, ms.
    pub ttft_ms: Vec<f64>,
    /// The gateway's self-reported overhead, ms.
    pub self_overhead_ms: Vec<f64>,
    /// Requests that failed or came back wrong.
    pub errors: usize,
    /// The first failure, for the report.
    pub first_error: Option<String>,
    /// Content deltas of the last good streamed reply (to see coalescing).
    pub chunks: usize,
}

/// One kind of request: a message, streamed or not.
#[derive(Debug, Clone)]
pub struct Ask {
    /// The user message.
    pub message: String,
    /// Ask for a stream.
    pub stream: bool,
}

/// Runs `ask` against `t` one request at a time, until `max_n` requests or `max_time` passed.
pub async fn sequential(
    client: &reqwest::Client,
    t: &Target,
    ask: &Ask,
    max_n: usize,
    max_time: Duration,
) -> Round {
    let mut round = Round::default();
    let start = Instant::now();
    for _ in 0..max_n {
        if start.elapsed() >= max_time {
            break;
        }
        match chat(client, t, &ask.message, ask.stream).await {
            Ok(r) if r.ok() => {
                round.total_ms.push(r.total.as_secs_f64() * 1e3);
                if let Some(ttft) = r.ttft {
                    round.ttft_ms.push(ttft.as_secs_f64() * 1e3);
                }
                if let Some(o) = r.self_overhead_ms {
                    round.self_overhead_ms.push(o);
                }
                round.chunks = r.chunks;
            }
            Ok(r) => {
                round.errors += 1;
                round.first_error.get_or_insert_with(|| {
                    format!(
                        "HTTP {} {} {}",
                        r.status,
                        r.error_kind,
                        r.body_head.chars().take(160).collect::<String>()
                    )
                });
            }
            Err(e) => {
                round.errors += 1;
                round.first_error.get_or_insert_with(|| format!("{e:#}"));
            }
        }
    }
    round
}

/// What a closed-loop throughput run measured.
#[derive(Debug, Clone, Default)]
pub struct Throughput {
    /// Successful requests per second.
    pub rps: f64,
    /// Successful requests.
    pub ok: usize,
    /// Failed requests.
    pub errors: usize,
    /// The first failure.
    pub first_error: Option<String>,
}

/// `concurrency` workers each send `ask` back to back for `duration`; counts what came back right.
pub async fn throughput(
    client: &reqwest::Client,
    t: &Target,
    ask: &Ask,
    concurrency: usize,
    duration: Duration,
) -> Throughput {
    let start = Instant::now();
    let worker = || async {
        let mut out = Throughput::default();
        while start.elapsed() < duration {
            match chat(client, t, &ask.message, ask.stream).await {
                Ok(r) if r.ok() => out.ok += 1,
                Ok(r) => {
                    out.errors += 1;
                    out.first_error
                        .get_or_insert_with(|| format!("HTTP {} {}", r.status, r.error_kind));
                }
                Err(e) => {
                    out.errors += 1;
                    out.first_error.get_or_insert_with(|| format!("{e:#}"));
                }
            }
        }
        out
    };
    let results = futures_util::future::join_all((0..concurrency).map(|_| worker())).await;
    let secs = start.elapsed().as_secs_f64();
    let mut total = Throughput::default();
    for r in results {
        total.ok += r.ok;
        total.errors += r.errors;
        if total.first_error.is_none() {
            total.first_error = r.first_error;
        }
    }
    total.rps = total.ok as f64 / secs.max(1e-9);
    total
}

/// The `p`-th percentile (0–100) of sorted `v`, nearest rank; NaN when empty.
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// The median of `v` (any order); NaN when empty.
pub fn median(v: &[f64]) -> f64 {
    let mut s: Vec<f64> = v.iter().copied().filter(|x| !x.is_nan()).collect();
    if s.is_empty() {
        return f64::NAN;
    }
    s.sort_by(f64::total_cmp);
    let n = s.len();
    if n % 2 == 1 {
        s[n / 2]
    } else {
        (s[n / 2 - 1] + s[n / 2]) / 2.0
    }
}

/// p50 and p99 of unsorted samples.
pub fn p50_p99(v: &[f64]) -> (f64, f64) {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    (percentile(&s, 50.0), percentile(&s, 99.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sse_reader_handles_split_events_errors_and_done() {
        let mut r = Reply::default();
        let mut sse = Sse::default();
        let t = Instant::now();
        let a = "data: {\"choices\":[{\"delta\":{\"content\":\"今天\"}}]}\n\nda";
        let b = "ta: {\"choices\":[{\"delta\":{\"content\":\"\"}}]}\r\n\r\n";
        let c = "data: {\"error\":{\"type\":\"content_filter\",\"message\":\"x\"}}\n\n";
        sse.feed(a.as_bytes(), &mut r, t);
        sse.feed(b.as_bytes(), &mut r, t);
        sse.feed(c.as_bytes(), &mut r, t);
        sse.feed(b"data: [DONE]", &mut r, t);
        sse.finish(&mut r, t);
        assert_eq!(r.content, "今天");
        assert_eq!(r.chunks, 1);
        assert!(r.ttft.is_some());
        assert!(r.error_frame);
        assert_eq!(r.error_kind, "content_filter");
        assert!(r.done);
    }

    #[test]
    fn percentiles() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&v, 50.0), 50.0);
        assert_eq!(percentile(&v, 99.0), 99.0);
        assert_eq!(median(&[3.0, 1.0, 2.0, 10.0]), 2.5);
        assert!(median(&[]).is_nan());
    }
}
