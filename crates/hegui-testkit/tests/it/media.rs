//! `/v1/images/generations` and `/v1/audio/speech` return well-formed media.

use super::*;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use hegui_testkit::FakeUpstream;
use serde_json::json;

fn decode_png(b64: &str) -> image::RgbImage {
    let bytes = BASE64.decode(b64).unwrap();
    assert!(bytes.starts_with(b"\x89PNG\r\n\x1a\n"));
    image::load_from_memory_with_format(&bytes, image::ImageFormat::Png)
        .unwrap()
        .to_rgb8()
}

#[tokio::test]
async fn images_are_real_pngs() {
    let up = FakeUpstream::start().await.unwrap();
    let url = format!("{}/images/generations", up.base_url());
    let resp = post(&url, &json!({"model": "img", "prompt": "一只猫", "n": 2})).await;
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    assert!(body["created"].as_u64().is_some());
    let data = body["data"].as_array().unwrap();
    assert_eq!(data.len(), 2);
    let first = decode_png(data[0]["b64_json"].as_str().unwrap());
    let second = decode_png(data[1]["b64_json"].as_str().unwrap());
    assert_eq!(first.dimensions(), (64, 64));
    assert_ne!(first, second, "each image of a request differs");
    let distinct: std::collections::HashSet<_> = first.pixels().collect();
    assert!(distinct.len() > 100, "generated pixels, not a flat fill");
    assert_eq!(data[0]["revised_prompt"], "一只猫");
}

#[tokio::test]
async fn images_honour_size_and_url_format() {
    let up = FakeUpstream::start().await.unwrap();
    let url = format!("{}/images/generations", up.base_url());
    let body: Value = post(
        &url,
        &json!({"prompt": "p", "size": "300x200", "response_format": "url"}),
    )
    .await
    .json()
    .await
    .unwrap();
    let data_url = body["data"][0]["url"].as_str().unwrap();
    let b64 = data_url.strip_prefix("data:image/png;base64,").unwrap();
    assert_eq!(decode_png(b64).dimensions(), (300, 200));

    for bad in [
        json!({"prompt": "p", "n": 0}),
        json!({"prompt": "p", "size": "9x99999"}),
        json!({"prompt": "p", "response_format": "gif"}),
        json!({"n": 1}),
    ] {
        let resp = post(&url, &bad).await;
        assert_eq!(resp.status(), 400, "{bad}");
        let err: Value = resp.json().await.unwrap();
        assert_eq!(err["error"]["type"], "invalid_request_error");
    }
    let resp = post(&url, &json!({"prompt": "[[status:503]] busy"})).await;
    assert_eq!(resp.status(), 503);
}

#[tokio::test]
async fn speech_is_a_real_wav() {
    let up = FakeUpstream::start().await.unwrap();
    let url = format!("{}/audio/speech", up.base_url());
    for body in [
        json!({"model": "tts", "input": "你好", "voice": "alloy"}),
        json!({"model": "tts", "input": "你好", "voice": "alloy", "response_format": "wav"}),
    ] {
        let resp = post(&url, &body).await;
        assert_eq!(resp.status(), 200);
        assert_eq!(resp.headers()["content-type"], "audio/wav");
        let bytes = resp.bytes().await.unwrap();
        let reader = hound::WavReader::new(std::io::Cursor::new(bytes.to_vec())).unwrap();
        let spec = reader.spec();
        assert_eq!(
            (spec.channels, spec.sample_rate, spec.bits_per_sample),
            (1, 16_000, 16)
        );
        assert_eq!(spec.sample_format, hound::SampleFormat::Int);
        assert_eq!(reader.duration(), 8_000, "0.5 s");
        let samples: Vec<i16> = reader.into_samples().map(Result::unwrap).collect();
        let peak = samples.iter().map(|s| s.unsigned_abs()).max().unwrap();
        assert!(peak > 5_000, "an audible tone, not silence: {peak}");
    }
}

#[tokio::test]
async fn speech_refuses_formats_other_than_wav() {
    let up = FakeUpstream::start().await.unwrap();
    let url = format!("{}/audio/speech", up.base_url());
    let resp = post(
        &url,
        &json!({"model": "tts", "input": "x", "voice": "alloy", "response_format": "mp3"}),
    )
    .await;
    assert_eq!(resp.status(), 400);
    let err: Value = resp.json().await.unwrap();
    assert!(
        err["error"]["message"]
            .as_str()
            .unwrap()
            .contains("only supports response_format \"wav\"")
    );
    assert_eq!(err["error"]["param"], "response_format");
}
