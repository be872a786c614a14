//! Real-name verification over the API (DS-9, GAI-9): SMS one-time codes, and the national network
//! identity (网号/网证) and three-element providers when configured. Only evidence is stored: the
//! HMAC of the identifier, its masked form, the provider's reference and, from a matched ID
//! number, the birth date that age rules need.

use crate::RequestId;
use crate::chat::parse_body;
use crate::error::{ApiError, ErrorCode};
use crate::state::Gateway;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Extension, State};
use axum::http::HeaderMap;
use hegui_identity::verify::SmsSender;
use hegui_identity::verify::{CodeCheck, IssuedCode, SmsOtp, SmsOtpConfig};
use hegui_identity::{VerificationProvider, VerificationRequest, VerificationResult};
use hegui_store::{App, AuditEntry, Challenge, User, Verification};
use serde_json::{Value, json};
use std::sync::Arc;

/// A new code may be requested this long after the last one (each new code resets the attempt
/// count, so without this the attempt limit could be sidestepped).
pub const RESEND_AFTER_MS: i64 = 60_000;

/// The authoritative providers a deployment has wired in.
#[derive(Clone, Default)]
pub struct Providers {
    /// 网号/网证 token verification.
    pub network_identity: Option<Arc<dyn VerificationProvider>>,
    /// Carrier three-element check.
    pub three_element: Option<Arc<dyn VerificationProvider>>,
}

/// The default SMS sender: writes the message to the gateway's log. For development and the
/// demo only; a deployment plugs in its SMS vendor through [`SmsSender`].
#[derive(Debug, Clone, Copy)]
pub struct LogSender;

impl SmsSender for LogSender {
    fn send(&self, mobile: &str, text: &str) -> Result<(), hegui_identity::verify::SendError> {
        tracing::warn!(
            to = %hegui_identity::mask_mobile(mobile),
            %text,
            "SMS (development sender: configure a real SMS vendor in production)"
        );
        Ok(())
    }
}

async fn who(gw: &Gateway, headers: &HeaderMap, body: &Value) -> Result<(App, User), ApiError> {
    let app = gw.authenticate(headers).await?;
    let user = crate::chat::user_id(headers, body)?;
    let user = gw.user(&app.id, &user).await?;
    Ok((app, user))
}

fn otp(gw: &Gateway) -> SmsOtp {
    SmsOtp::new(gw.hasher.clone(), gw.sms.clone(), gw.clock.clone())
}

fn record(gw: &Gateway, app: &App, user: &User, rid: &str, kind: &str, body: Value) -> AuditEntry {
    let mut e = AuditEntry::new(gw.now(), kind);
    e.app = Some(app.id.clone());
    e.subject = Some(gw.subject(&app.id, &user.id));
    e.request_id = Some(rid.to_owned());
    e.body = body;
    e
}

/// `POST /v1/hegui/identity/sms` `{"user", "mobile"}`: sends a one-time code.
pub async fn sms_start(
    State(gw): State<Arc<Gateway>>,
    Extension(RequestId(rid)): Extension<RequestId>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<axum::Json<Value>, ApiError> {
    let body = parse_body(body)?;
    let (app, user) = who(&gw, &headers, &body).await?;
    let mobile = body["mobile"].as_str().ok_or_else(|| {
        ApiError::new(ErrorCode::InvalidRequest, "`mobile` must be a string").param("mobile")
    })?;
    let mobile = hegui_identity::normalize_mobile(mobile).map_err(|e| {
        ApiError::new(
            ErrorCode::InvalidRequest,
            format!("not a mainland mobile number: {e}"),
        )
        .param("mobile")
    })?;
    let now = gw.now();
    if let Some(prev) = gw.store.challenge(&app.id, &user.id).await?
        && now - prev.issued_at < RESEND_AFTER_MS
    {
        return Err(ApiError::new(
            ErrorCode::RateLimited,
            "a code was sent less than a minute ago: wait before asking for another",
        ));
    }
    let issued = otp(&gw).issue(&mobile, now).map_err(|e| {
        ApiError::new(
            ErrorCode::UpstreamError,
            format!("the code could not be sent: {e}"),
        )
    })?;
    gw.store
        .put_challenge(&Challenge {
            app: app.id.clone(),
            user: user.id.clone(),
            code_hmac: issued.code_mac.clone(),
            issued_at: issued.issued_at,
            subject_hmac: issued.subject.clone(),
            masked: mobile.masked(),
            expires_at: issued.expires_at,
            attempts: 0,
        })
        .await?;
    gw.audit(vec![record(
        &gw,
        &app,
        &user,
        &rid,
        "identity.sms.sent",
        json!({"mobile": mobile.masked()}),
    )])
    .await?;
    Ok(axum::Json(
        json!({"sent": true, "mobile": mobile.masked(), "expires_at": issued.expires_at}),
    ))
}

async fn verified(
    gw: &Gateway,
    app: &App,
    user: &User,
    rid: &str,
    v: Verification,
) -> Result<axum::Json<Value>, ApiError> {
    gw.store.set_verification(&app.id, &user.id, &v).await?;
    gw.forget_user(&app.id, &user.id);
    gw.audit(vec![record(
        gw,
        app,
        user,
        rid,
        "identity.verified",
        json!({
            "method": v.method, "masked": v.masked, "provider_ref": v.provider_ref,
        }),
    )])
    .await?;
    Ok(axum::Json(
        json!({"verified": true, "method": v.method, "masked": v.masked}),
    ))
}

/// `POST /v1/hegui/identity/sms/verify` `{"user", "code"}`.
pub async fn sms_verify(
    State(gw): State<Arc<Gateway>>,
    Extension(RequestId(rid)): Extension<RequestId>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<axum::Json<Value>, ApiError> {
    let body = parse_body(body)?;
    let (app, user) = who(&gw, &headers, &body).await?;
    let answer = body["code"].as_str().ok_or_else(|| {
        ApiError::new(ErrorCode::InvalidRequest, "`code` must be a string").param("code")
    })?;
    // Claim the attempt first, atomically: parallel guesses each use one up (DS-9: the
    // attempt limit is what makes six digits safe).
    let max = SmsOtpConfig::default().max_attempts;
    let Some(c) = gw
        .store
        .claim_challenge_attempt(&app.id, &user.id, max)
        .await?
    else {
        gw.store.delete_challenge(&app.id, &user.id).await?;
        return Err(ApiError::new(
            ErrorCode::VerificationFailed,
            "no code is pending, or it was tried too often: request a new one",
        ));
    };
    let pending = IssuedCode {
        subject: c.subject_hmac.clone(),
        code_mac: c.code_hmac.clone(),
        issued_at: c.issued_at,
        expires_at: c.expires_at,
        attempts: c.attempts,
    };
    let now = gw.now();
    match otp(&gw).check(&pending, answer, now) {
        CodeCheck::Match => {
            gw.store.delete_challenge(&app.id, &user.id).await?;
            let v = Verification {
                method: "sms_otp".into(),
                verified_at: now,
                subject_hmac: c.subject_hmac,
                masked: c.masked,
                birth_date: None,
                provider_ref: format!("sms_otp:{rid}"),
            };
            verified(&gw, &app, &user, &rid, v).await
        }
        CodeCheck::Wrong { .. } => {
            // The attempt was counted when it was claimed.
            gw.audit(vec![record(
                &gw,
                &app,
                &user,
                &rid,
                "identity.failed",
                json!({"method": "sms_otp", "reason": "wrong_code"}),
            )])
            .await?;
            Err(ApiError::new(ErrorCode::VerificationFailed, "wrong code").param("code"))
        }
        CodeCheck::Expired | CodeCheck::Exhausted => {
            gw.store.delete_challenge(&app.id, &user.id).await?;
            Err(ApiError::new(
                ErrorCode::VerificationFailed,
                "the code expired or was tried too often: request a new one",
            ))
        }
    }
}

/// `POST /v1/hegui/identity/verify` with `method` `network_identity` (`token`) or
/// `three_element` (`name`, `id_number`, `mobile`).
pub async fn verify(
    State(gw): State<Arc<Gateway>>,
    Extension(RequestId(rid)): Extension<RequestId>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<axum::Json<Value>, ApiError> {
    let body = parse_body(body)?;
    let (app, user) = who(&gw, &headers, &body).await?;
    let s = |k: &str| {
        body[k].as_str().map(str::to_owned).ok_or_else(|| {
            ApiError::new(ErrorCode::InvalidRequest, format!("`{k}` must be a string")).param(k)
        })
    };
    let (provider, req, masked) = match body["method"].as_str() {
        Some("network_identity") => (
            gw.providers.network_identity.clone(),
            VerificationRequest::NetworkIdentity { token: s("token")? },
            "网号".to_owned(),
        ),
        Some("three_element") => {
            let id = s("id_number")?;
            // Check the number locally first: a typo costs no vendor call.
            let today = hegui_identity::shanghai_date(gw.now());
            let parsed = hegui_identity::validate_resident_id(&id, today).map_err(|e| {
                ApiError::new(
                    ErrorCode::InvalidRequest,
                    format!("resident ID number: {e}"),
                )
                .param("id_number")
            })?;
            (
                gw.providers.three_element.clone(),
                VerificationRequest::ThreeElement {
                    name: s("name")?,
                    id_number: id,
                    mobile: s("mobile")?,
                },
                parsed.masked(),
            )
        }
        _ => {
            return Err(ApiError::new(
                ErrorCode::InvalidRequest,
                "`method` must be network_identity or three_element",
            )
            .param("method"));
        }
    };
    let provider = provider.ok_or_else(|| {
        ApiError::new(
            ErrorCode::InvalidRequest,
            "this verification method is not configured on this gateway",
        )
        .param("method")
    })?;
    let outcome = tokio::task::spawn_blocking(move || provider.verify(&req))
        .await
        .map_err(|_| ApiError::new(ErrorCode::Internal, "verification task failed"))?;
    match &outcome.result {
        VerificationResult::Match => {
            let v = Verification {
                method: body["method"].as_str().unwrap_or_default().to_owned(),
                verified_at: gw.now(),
                subject_hmac: outcome.attributes.subject_ref.clone().unwrap_or_default(),
                masked,
                birth_date: outcome.attributes.birth_date.map(|d| d.to_string()),
                provider_ref: format!(
                    "{}:{}",
                    outcome.evidence.provider, outcome.evidence.request_id
                ),
            };
            verified(&gw, &app, &user, &rid, v).await
        }
        other => {
            gw.audit(vec![record(
                &gw,
                &app,
                &user,
                &rid,
                "identity.failed",
                json!({"method": body["method"], "result": format!("{other:?}")}),
            )])
            .await?;
            Err(ApiError::new(
                ErrorCode::VerificationFailed,
                format!("verification did not match: {other:?}"),
            ))
        }
    }
}

/// `GET /v1/hegui/me` (user by `X-Hegui-User`): verification, disposal and violation count.
pub async fn me(
    State(gw): State<Arc<Gateway>>,
    headers: HeaderMap,
) -> Result<axum::Json<Value>, ApiError> {
    let (_, user) = who(&gw, &headers, &Value::Null).await?;
    Ok(axum::Json(json!({
        "user": user.id,
        "verified": user.verification.is_some(),
        "verification": user.verification.as_ref().map(|v| json!({"method": v.method, "masked": v.masked})),
        "disposal": user.disposal,
        "violations": user.violations,
    })))
}
