//! DS-16/17, GAI-16: generated images and speech leave labelled, implicitly and explicitly.

use crate::support::TestGateway;
use base64::Engine;
use serde_json::{Value, json};

fn inspect(bytes: &[u8], ext: &str) -> hegui_label::Inspection {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join(format!("x.{ext}"));
    std::fs::write(&p, bytes).unwrap();
    hegui_label::inspect_file(&p, &hegui_label::InspectOptions::default()).unwrap()
}

#[tokio::test]
async fn ds_16_generated_image_carries_the_implicit_label() {
    let t = TestGateway::start().await;
    let r = t
        .post(
            "/v1/images/generations",
            json!({"model": "m", "prompt": "一只猫", "user": "u1"}),
        )
        .await;
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    let png = base64::engine::general_purpose::STANDARD
        .decode(v["data"][0]["b64_json"].as_str().unwrap())
        .unwrap();
    let i = inspect(&png, "png");
    let label = i.label.as_ref().expect("label present");
    assert_eq!(label.content_producer, "001191440300708461136T1XGW3");
    assert_eq!(
        v["hegui"]["labels"][0]["produce_id"],
        label.produce_id.as_str()
    );
    let rec = t
        .audit()
        .await
        .into_iter()
        .find(|r| r.kind == "request.image")
        .unwrap();
    assert_eq!(
        rec.body_json()["labels"][0]["produce_id"],
        label.produce_id.as_str()
    );
}

#[tokio::test]
async fn ds_16_generated_speech_carries_the_implicit_label() {
    let t = TestGateway::start().await;
    let r = t.post("/v1/audio/speech", json!({"model": "m", "input": "你好", "voice": "alloy", "response_format": "wav", "user": "u1"})).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "audio/wav");
    let id = r.headers()["x-hegui-produce-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let wav = r.bytes().await.unwrap();
    let i = inspect(&wav, "wav");
    assert_eq!(i.label.as_ref().expect("label").produce_id, id);
    assert!(
        matches!(i.signature, hegui_label::SignatureStatus::Valid),
        "{:?}",
        i.signature
    );
}

#[tokio::test]
async fn ds_10_blocked_image_prompt_is_refused() {
    let t = TestGateway::start().await;
    let r = t
        .post(
            "/v1/images/generations",
            json!({"model": "m", "prompt": "冰毒货源", "user": "u1"}),
        )
        .await;
    assert_eq!(r.status(), 400);
    assert!(t.upstream.requests().is_empty());
}
