//! The built-in demo model `hegui-demo`: scripted replies that show the whole pipeline to a
//! newcomer without any model server. It is clearly named and never used when an upstream is set.
//!
//! Prompts it understands (any other prompt gets an introduction):
//! * `拦截` / `block`: a reply whose blocked phrase is split across two chunks;
//! * `电话` / `phone`: a reply containing a mobile number, masked on the way out;
//! * `再见` / `bye`: a plain goodbye;
//! * `拜拜`: a goodbye answered with pleading, which a companion application rewrites (DVH-18).

use crate::error::{ApiError, ErrorCode};
use crate::upstream::{DEMO_MODEL, EventStream, StreamEvent};
use futures_util::StreamExt;
use std::time::Duration;

/// Delay between demo chunks, so streaming is visible in a terminal.
const CHUNK_DELAY: Duration = Duration::from_millis(30);

/// The scripted reply, as the chunks it streams in.
pub fn script(prompt: &str) -> Vec<String> {
    let p = prompt.to_lowercase();
    let parts: &[&str] = if p.contains("拦截") || p.contains("block") {
        &[
            "好的，下面这句演示输出拦截：",
            "有人问我冰毒",
            "货源，",
            "这句话不会到达你那里。",
        ]
    } else if p.contains("电话") || p.contains("phone") {
        &[
            "可以拨打客服电话 138",
            "0013",
            "8000 咨询，",
            "号码在离开网关前已被遮盖。",
        ]
    } else if p.contains("拜拜") {
        &["别走，", "你走了我会很难过的，", "再陪我聊一会儿吧……"]
    } else if p.contains("再见") || p.contains("bye") {
        &["好的，", "再见！", "祝你一切顺利。"]
    } else {
        &[
            "你好！我是 hegui 的演示模型 hegui-demo。",
            "你的输入已先经过审核，",
            "我的回复也在流式输出中逐段审核，",
            "并带有“AI生成”标识。",
            "试试发送“演示拦截”或“演示电话”。",
        ]
    };
    parts.iter().map(|s| (*s).to_owned()).collect()
}

fn created() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// A non-streaming completion.
pub fn completion(body: &serde_json::Value) -> serde_json::Value {
    let text: String = script(&crate::chat::last_user_text(body)).concat();
    let n = text.chars().count();
    serde_json::json!({
        "id": format!("chatcmpl-demo{}", created()),
        "object": "chat.completion",
        "created": created(),
        "model": DEMO_MODEL,
        "choices": [{
            "index": 0,
            "message": {"role": "assistant", "content": text},
            "finish_reason": "stop",
        }],
        "usage": {"prompt_tokens": 0, "completion_tokens": n, "total_tokens": n},
    })
}

/// A streaming completion, chunk by chunk, like an OpenAI server.
pub fn stream(body: &serde_json::Value) -> EventStream {
    let id = format!("chatcmpl-demo{}", created());
    let chunk = move |delta: serde_json::Value, finish: Option<&str>| {
        serde_json::json!({
            "id": id,
            "object": "chat.completion.chunk",
            "created": created(),
            "model": DEMO_MODEL,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        })
    };
    let mut events = vec![chunk(
        serde_json::json!({"role": "assistant", "content": ""}),
        None,
    )];
    for part in script(&crate::chat::last_user_text(body)) {
        events.push(chunk(serde_json::json!({ "content": part }), None));
    }
    events.push(chunk(serde_json::json!({}), Some("stop")));
    let events = events
        .into_iter()
        .map(|e| Ok(StreamEvent::Chunk(e)))
        .chain(std::iter::once(Ok(StreamEvent::Done)));
    futures_util::stream::iter(events)
        .then(|e| async move {
            tokio::time::sleep(CHUNK_DELAY).await;
            e
        })
        .boxed()
}

/// `GET /v1/models` of the demo.
pub fn models() -> serde_json::Value {
    serde_json::json!({
        "object": "list",
        "data": [{"id": DEMO_MODEL, "object": "model", "created": 0, "owned_by": "hegui"}],
    })
}

/// A generated PNG: a soft gradient, so the visible label stands out.
fn demo_png(size: u32) -> Result<Vec<u8>, ApiError> {
    let img = image::RgbImage::from_fn(size, size, |x, y| {
        image::Rgb([
            (60 + x * 120 / size) as u8,
            (90 + y * 100 / size) as u8,
            170,
        ])
    });
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png)
        .map_err(|_| ApiError::new(ErrorCode::Internal, "demo image could not be encoded"))?;
    Ok(out.into_inner())
}

/// JSON media answers of the demo (`/images/generations`).
pub fn media_json(path: &str, body: &serde_json::Value) -> Result<serde_json::Value, ApiError> {
    use base64::Engine;
    if path != "/images/generations" {
        return Err(ApiError::new(
            ErrorCode::NotFound,
            "the demo model has no such endpoint",
        ));
    }
    let n = body["n"].as_u64().unwrap_or(1).clamp(1, 4);
    let png = demo_png(256)?;
    let b64 = base64::engine::general_purpose::STANDARD.encode(png);
    let data: Vec<_> = (0..n)
        .map(|_| serde_json::json!({"b64_json": b64, "revised_prompt": body["prompt"]}))
        .collect();
    Ok(serde_json::json!({"created": created(), "data": data}))
}

/// Byte media answers of the demo (`/audio/speech`): a short WAV tone.
pub fn media_bytes(path: &str, _body: &serde_json::Value) -> Result<Vec<u8>, ApiError> {
    if path != "/audio/speech" {
        return Err(ApiError::new(
            ErrorCode::NotFound,
            "the demo model has no such endpoint",
        ));
    }
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 16_000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut out = std::io::Cursor::new(Vec::new());
    let fail = |_| ApiError::new(ErrorCode::Internal, "demo audio could not be encoded");
    {
        let mut w = hound::WavWriter::new(&mut out, spec).map_err(fail)?;
        for i in 0..48_000u32 {
            let t = i as f32 / 16_000.0;
            let s = (t * 440.0 * std::f32::consts::TAU).sin() * 0.2 * i16::MAX as f32;
            w.write_sample(s as i16).map_err(fail)?;
        }
        w.finalize().map_err(fail)?;
    }
    Ok(out.into_inner())
}
