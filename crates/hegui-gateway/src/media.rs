//! `POST /v1/images/generations` and `POST /v1/audio/speech`: generated media leaves the gateway
//! with the GB 45438 implicit label (signed) and, where the config asks, the explicit one
//! (DS-16/17, GAI-16). Labelling runs on the blocking pool; a file that cannot be labelled is
//! not delivered (fail closed).

use crate::RequestId;
use crate::chat::{Ask, admit, parse_body, required_str};
use crate::disposal::Purpose;
use crate::error::{ApiError, ErrorCode};
use crate::state::Gateway;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Extension, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use hegui_label::{AigcClass, LabelRequest};
use serde_json::json;
use std::sync::Arc;

/// What labelling one file produced.
struct Labelled {
    bytes: Vec<u8>,
    produce_id: String,
    explicit: bool,
}

/// Labels media bytes through a private temp directory (the label library works on files).
async fn label_bytes(gw: &Gateway, data: Vec<u8>, ext: &'static str) -> Result<Labelled, ApiError> {
    let dir = gw.config.data_dir.join("tmp");
    let req = LabelRequest {
        producer: gw.config.labels.producer.clone(),
        produce_id: None,
        class: AigcClass::Is,
        signer: gw.label_signer.clone(),
        explicit: gw
            .config
            .labels
            .explicit_media
            .then(hegui_label::ops::ExplicitRequest::default),
    };
    tokio::task::spawn_blocking(move || -> Result<Labelled, String> {
        std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
        let tmp = tempfile::Builder::new()
            .prefix("media-")
            .tempdir_in(&dir)
            .map_err(|e| e.to_string())?;
        let src = tmp.path().join(format!("in.{ext}"));
        let dst = tmp.path().join(format!("out.{ext}"));
        std::fs::write(&src, &data).map_err(|e| e.to_string())?;
        let written = hegui_label::label_file(&src, &dst, &req).map_err(|e| e.to_string())?;
        let bytes = std::fs::read(&dst).map_err(|e| e.to_string())?;
        Ok(Labelled {
            bytes,
            produce_id: written.label.produce_id,
            explicit: written.explicit.is_some(),
        })
    })
    .await
    .map_err(|_| ApiError::new(ErrorCode::Internal, "labelling task failed"))?
    .map_err(|e| {
        tracing::error!(error = %e, "media could not be labelled");
        ApiError::new(
            ErrorCode::UpstreamError,
            "the generated media could not be labelled, so it is not delivered",
        )
    })
}

/// `POST /v1/images/generations`.
pub async fn images(
    State(gw): State<Arc<Gateway>>,
    Extension(RequestId(rid)): Extension<RequestId>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let app = gw.authenticate(&headers).await?;
    let mut body = parse_body(body)?;
    let prompt = required_str(&body, "prompt")?;
    let wants_url = match body["response_format"].as_str() {
        None | Some("b64_json") => false,
        Some("url") => true,
        Some(_) => {
            return Err(ApiError::new(
                ErrorCode::InvalidRequest,
                "`response_format` must be url or b64_json",
            )
            .param("response_format"));
        }
    };
    let adm = admit(
        &gw,
        app,
        &headers,
        &body,
        Ask {
            input: &prompt,
            request_id: &rid,
            kind: "request.image",
            purpose: Purpose::Media,
        },
    )
    .await?;
    let mut record = adm.record;
    // The gateway labels the bytes itself, so it always asks for them.
    body["response_format"] = json!("b64_json");
    if let Some(o) = body.as_object_mut() {
        o.remove("hegui");
    }
    let reply = match adm
        .upstream
        .json(&gw.http, "/images/generations", &body, gw.timeout())
        .await
    {
        Ok(r) => r,
        Err(e) => {
            record.body["outcome"] = json!({"error": e.code.code()});
            gw.audit(vec![record]).await?;
            return Err(e);
        }
    };
    let mut data = Vec::new();
    let mut labels = Vec::new();
    for item in reply["data"].as_array().into_iter().flatten() {
        let raw = item["b64_json"]
            .as_str()
            .and_then(|b| B64.decode(b).ok())
            .ok_or_else(|| {
                ApiError::new(
                    ErrorCode::UpstreamError,
                    "the upstream image is not base64 data",
                )
            })?;
        let l = label_bytes(&gw, raw, "png").await?;
        labels
            .push(json!({"type": "implicit", "produce_id": l.produce_id, "explicit": l.explicit}));
        let b64 = B64.encode(&l.bytes);
        let mut out = json!({"revised_prompt": item["revised_prompt"]});
        if wants_url {
            out["url"] = json!(format!("data:image/png;base64,{b64}"));
        } else {
            out["b64_json"] = json!(b64);
        }
        data.push(out);
    }
    record.body["labels"] = json!(labels);
    record.body["outcome"] = json!({"delivered": true, "images": data.len()});
    gw.audit(vec![record]).await?;
    let resp = json!({
        "created": reply["created"],
        "data": data,
        "hegui": {"request_id": rid, "notices": adm.notices, "labels": labels, "decision": "pass"},
    });
    Ok(crate::chat::with_headers(
        axum::Json(resp).into_response(),
        "pass",
    ))
}

/// `POST /v1/audio/speech`.
pub async fn speech(
    State(gw): State<Arc<Gateway>>,
    Extension(RequestId(rid)): Extension<RequestId>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let app = gw.authenticate(&headers).await?;
    let mut body = parse_body(body)?;
    let input = required_str(&body, "input")?;
    let (ext, mime) = match body["response_format"].as_str().unwrap_or("wav") {
        "wav" => ("wav", "audio/wav"),
        "mp3" => ("mp3", "audio/mpeg"),
        "flac" => ("flac", "audio/flac"),
        other => {
            return Err(ApiError::new(
                ErrorCode::InvalidRequest,
                format!("response_format {other:?} is not labelled by this gateway: use wav, mp3 or flac"),
            )
            .param("response_format"));
        }
    };
    body["response_format"] = json!(ext);
    let adm = admit(
        &gw,
        app,
        &headers,
        &body,
        Ask {
            input: &input,
            request_id: &rid,
            kind: "request.speech",
            purpose: Purpose::Media,
        },
    )
    .await?;
    let mut record = adm.record;
    if let Some(o) = body.as_object_mut() {
        o.remove("hegui");
    }
    let audio = match adm
        .upstream
        .bytes(&gw.http, "/audio/speech", &body, gw.timeout())
        .await
    {
        Ok(a) => a,
        Err(e) => {
            record.body["outcome"] = json!({"error": e.code.code()});
            gw.audit(vec![record]).await?;
            return Err(e);
        }
    };
    let l = label_bytes(&gw, audio, ext).await?;
    let label = json!({"type": "implicit", "produce_id": l.produce_id, "explicit": l.explicit});
    record.body["labels"] = json!([label]);
    record.body["outcome"] = json!({"delivered": true, "bytes": l.bytes.len()});
    gw.audit(vec![record]).await?;
    let mut resp = ([(header::CONTENT_TYPE, mime)], l.bytes).into_response();
    if let Ok(v) = HeaderValue::from_str(&l.produce_id) {
        resp.headers_mut().insert("x-hegui-produce-id", v);
    }
    Ok(crate::chat::with_headers(resp, "pass"))
}
