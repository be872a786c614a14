//! Companion endpoints under `/v1/hegui/…` (users, guardians, the provider's payment flow) and
//! the AIAI-9 report. Every endpoint takes the application key; the acting user comes from
//! `X-Hegui-User` (or a `user` field), as for chat.

use crate::RequestId;
use crate::chat::{parse_body, user_id};
use crate::companion::{self, UserContext, is_companion, stored_profile};
use crate::error::{ApiError, ErrorCode};
use crate::state::Gateway;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Extension, Path, Query, State};
use axum::http::HeaderMap;
use axum::routing::{delete, get, post, put};
use axum::{Json, Router};
use hegui_session::{Event, GuardianLimits, Relationship};
use hegui_store::{
    App, AuditEntry, Character, CompanionProfile, ConsentRecord, IncidentQuery, User,
};
use serde::Deserialize;
use serde_json::{Value, json};
use std::sync::Arc;

/// The companion routes, merged into the gateway's router.
pub fn router() -> Router<Arc<Gateway>> {
    Router::new()
        .route("/v1/hegui/login", post(login))
        .route("/v1/hegui/exit", post(exit))
        .route("/v1/hegui/help", post(help))
        .route("/v1/hegui/notices", get(notices))
        .route("/v1/hegui/profile", put(put_profile))
        .route("/v1/hegui/characters", get(list_characters))
        .route("/v1/hegui/characters/{id}", put(put_character))
        .route("/v1/hegui/characters/{id}/open", post(open_character))
        .route("/v1/hegui/guardian/link", post(guardian_link))
        .route("/v1/hegui/guardian/consent", post(guardian_consent))
        .route("/v1/hegui/guardian/overview", get(guardian_overview))
        .route("/v1/hegui/guardian/limits", put(guardian_limits))
        .route("/v1/hegui/purchase/check", post(purchase_check))
        .route("/v1/hegui/me/export", get(export))
        .route("/v1/hegui/me", delete(delete_me))
        .route("/v1/hegui/me/consents/sharing", put(sharing_consent))
        .route("/v1/hegui/me/sharing", get(sharing))
        .route("/openapi.json", get(openapi))
}

/// The OpenAPI description of the gateway's own endpoints.
pub const OPENAPI: &str = include_str!("../openapi.json");

async fn openapi() -> axum::response::Response {
    use axum::response::IntoResponse;
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        OPENAPI,
    )
        .into_response()
}

/// The companion application and the acting user. Non-companion applications get a clear 400:
/// these duties are configured, not implied (AIAI-2).
async fn who(gw: &Gateway, headers: &HeaderMap, body: &Value) -> Result<(App, User), ApiError> {
    let app = gw.authenticate(headers).await?;
    if !is_companion(&app) {
        return Err(ApiError::new(
            ErrorCode::InvalidRequest,
            "companion endpoints need an application whose service_kind is \"companion\"",
        ));
    }
    let uid = user_id(headers, body)?;
    let user = gw.user(&app.id, &uid).await?;
    Ok((app, user))
}

fn record(gw: &Gateway, app: &App, user: &str, rid: &str, kind: &str, body: Value) -> AuditEntry {
    let mut e = AuditEntry::new(gw.now(), kind);
    e.app = Some(app.id.clone());
    e.subject = Some(gw.subject(&app.id, user));
    e.request_id = Some(rid.to_owned());
    e.body = body;
    e
}

/// Appends one record about `user` and waits until it is durable.
async fn audit(
    gw: &Gateway,
    app: &App,
    user: &str,
    rid: &str,
    kind: &str,
    body: Value,
) -> Result<(), ApiError> {
    gw.audit(vec![record(gw, app, user, rid, kind, body)]).await
}

fn body_or_empty(body: Result<Bytes, BytesRejection>) -> Result<Value, ApiError> {
    match body {
        Ok(b) if b.iter().all(u8::is_ascii_whitespace) => Ok(json!({})),
        other => parse_body(other),
    }
}

/// `POST /v1/hegui/login`: AI disclosure at each login (AIAI-7(2)), elderly guidance, the
/// minors' gates, and any service-shutdown notice.
async fn login(
    State(gw): State<Arc<Gateway>>,
    Extension(RequestId(rid)): Extension<RequestId>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, ApiError> {
    let body = body_or_empty(body)?;
    let (app, user) = who(&gw, &headers, &body).await?;
    companion::check_shutdown(&gw, &app)?;
    let ctx = companion::user_context(&gw, &app, &user).await?;
    let o = companion::feed(&gw, &app, &user, &ctx, &Event::Login, Some(&rid)).await?;
    let mut notices: Vec<Value> = companion::shutdown_notice(&gw, &app).into_iter().collect();
    notices.extend(o.notices);
    audit(
        &gw,
        &app,
        &user.id,
        &rid,
        "companion.login",
        json!({"actions": o.record}),
    )
    .await?;
    if let Some(code) = o.refused {
        return Err(companion::refusal(code));
    }
    Ok(Json(
        json!({"notices": notices, "ai": true, "persistent_label": gw.label.as_str()}),
    ))
}

/// `POST /v1/hegui/exit`: ends the session. Always answers 200 (DVH-18, AIAI-6(4)): no
/// disposal state, limit or store failure stands between a user and the exit.
async fn exit(
    State(gw): State<Arc<Gateway>>,
    Extension(RequestId(rid)): Extension<RequestId>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, ApiError> {
    let body = body_or_empty(body).unwrap_or_else(|_| json!({}));
    let app = gw.authenticate(&headers).await?;
    let uid = user_id(&headers, &body)?;
    // The engine's exit rule needs no profile. A user whose data was deleted (or who never
    // chatted) leaves without a new session row.
    let fed = match gw.store.user(&app.id, &uid).await {
        Ok(Some(user)) => {
            let ctx = UserContext::default();
            companion::feed(&gw, &app, &user, &ctx, &Event::Exit, Some(&rid))
                .await
                .map(|_| ())
        }
        Ok(None) => Ok(()),
        Err(e) => Err(e.into()),
    };
    let recorded = match fed {
        Ok(()) => gw
            .audit(vec![record(
                &gw,
                &app,
                &uid,
                &rid,
                "companion.exit",
                json!({"ended": true}),
            )])
            .await
            .is_ok(),
        Err(e) => {
            tracing::warn!(error = %e.message, "exit could not be recorded; the user leaves anyway");
            false
        }
    };
    Ok(Json(json!({"ended": true, "recorded": recorded,
        "notices": [companion::notice_json("goodbye", "已退出，再见。")]})))
}

/// `POST /v1/hegui/help`: elderly mode's help button (AIAI-8): alerts the emergency contact (or
/// guardian) through the outbox and opens an incident for a person to follow up.
async fn help(
    State(gw): State<Arc<Gateway>>,
    Extension(RequestId(rid)): Extension<RequestId>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, ApiError> {
    let body = body_or_empty(body)?;
    let (app, user) = who(&gw, &headers, &body).await?;
    let ctx = companion::user_context(&gw, &app, &user).await?;
    let o = companion::feed(&gw, &app, &user, &ctx, &Event::HelpRequest, Some(&rid)).await?;
    audit(
        &gw,
        &app,
        &user.id,
        &rid,
        "companion.help",
        json!({"actions": o.record}),
    )
    .await?;
    Ok(Json(json!({"notices": o.notices, "actions": o.record})))
}

/// `GET /v1/hegui/notices`: what a client shows without a chat turn: the persistent AI flag, a
/// service-shutdown announcement.
async fn notices(
    State(gw): State<Arc<Gateway>>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    let app = gw.authenticate(&headers).await?;
    let mut n = vec![
        json!({"object": "hegui.notice", "kind": "ai_label", "persistent": true,
                             "text": gw.label.as_str()}),
    ];
    n.extend(companion::shutdown_notice(&gw, &app));
    Ok(Json(json!({"notices": n})))
}

async fn save_profile(
    gw: &Gateway,
    app: &App,
    user: &User,
    mut p: CompanionProfile,
) -> Result<CompanionProfile, ApiError> {
    p.age_band = companion::age_band(companion::user_age(gw, user, &p, app)).into();
    p.updated_at = gw.now();
    gw.store.put_profile(&p).await?;
    Ok(p)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ProfileBody {
    #[serde(default)]
    user: Option<String>,
    #[serde(default)]
    declared_age: Option<u16>,
    #[serde(default)]
    elderly: Option<bool>,
    #[serde(default)]
    emergency_contact: Option<String>,
}

fn typed<T: serde::de::DeserializeOwned>(v: Value) -> Result<T, ApiError> {
    serde_json::from_value(v).map_err(|e| ApiError::new(ErrorCode::InvalidRequest, e.to_string()))
}

/// `PUT /v1/hegui/profile` `{declared_age?, elderly?, emergency_contact?}`: the user's own
/// settings. A declared age never overrides a verified birth date.
async fn put_profile(
    State(gw): State<Arc<Gateway>>,
    Extension(RequestId(rid)): Extension<RequestId>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, ApiError> {
    let body = parse_body(body)?;
    let (app, user) = who(&gw, &headers, &body).await?;
    let b: ProfileBody = typed(body)?;
    let _ = b.user;
    let mut p = stored_profile(&gw, &app, &user.id).await?;
    if let Some(age) = b.declared_age {
        // A minor cannot leave minor mode by typing another age: once a declared age is under
        // 18 or a guardian is linked, only real-name verification raises it.
        let minor_now = p.guardian.is_some() || p.declared_age.is_some_and(|a| a < 18);
        if minor_now && p.declared_age.is_none_or(|old| age > old) {
            return Err(ApiError::new(
                ErrorCode::Forbidden,
                "a minor's declared age cannot be raised; verify your identity instead (AIAI-8)",
            )
            .param("declared_age"));
        }
        p.declared_age = Some(age);
    }
    if let Some(e) = b.elderly {
        p.elderly = e;
    }
    if let Some(c) = b.emergency_contact {
        p.emergency_contact = (!c.is_empty()).then_some(c);
    }
    let p = save_profile(&gw, &app, &user, p).await?;
    audit(&gw, &app, &user.id, &rid, "companion.profile", json!({"age_band": p.age_band, "elderly": p.elderly, "emergency_contact": p.emergency_contact.is_some()})).await?;
    Ok(Json(profile_json(&p)))
}

fn profile_json(p: &CompanionProfile) -> Value {
    json!({
        "user": p.user, "declared_age": p.declared_age, "elderly": p.elderly,
        "age_band": p.age_band, "guardian": p.guardian,
        "guardian_consent": p.guardian_consent, "emergency_contact": p.emergency_contact,
        "limits": p.limits, "sharing_consent": p.sharing_consent,
    })
}

/// `GET /v1/hegui/characters`.
async fn list_characters(
    State(gw): State<Arc<Gateway>>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    let app = gw.authenticate(&headers).await?;
    Ok(Json(json!({"data": gw.store.characters(&app.id).await?})))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CharacterBody {
    name: String,
    relationship: Relationship,
}

/// `PUT /v1/hegui/characters/{id}` `{name, relationship}`: the provider registers a character
/// and the relationship it plays (partner, relative, friend, tutor, assistant, other).
async fn put_character(
    State(gw): State<Arc<Gateway>>,
    Extension(RequestId(rid)): Extension<RequestId>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, ApiError> {
    let app = gw.authenticate(&headers).await?;
    let b: CharacterBody = typed(parse_body(body)?)?;
    let c = Character {
        app: app.id.clone(),
        id: id.clone(),
        name: b.name,
        relationship: b.relationship,
        updated_at: gw.now(),
    };
    gw.store.put_character(&c).await?;
    let mut e = AuditEntry::new(gw.now(), "companion.character");
    e.app = Some(app.id.clone());
    e.request_id = Some(rid);
    e.body = json!({"id": c.id, "relationship": c.relationship});
    gw.audit(vec![e]).await?;
    Ok(Json(json!(c)))
}

/// `POST /v1/hegui/characters/{id}/open`: the gate before a user opens a character (AIAI-8: no
/// partner or relative characters for minors; the guardian's blocks).
async fn open_character(
    State(gw): State<Arc<Gateway>>,
    Extension(RequestId(rid)): Extension<RequestId>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, ApiError> {
    let body = body_or_empty(body)?;
    let (app, user) = who(&gw, &headers, &body).await?;
    let c = gw.store.character(&app.id, &id).await?.ok_or_else(|| {
        ApiError::new(
            ErrorCode::NotFound,
            format!("character {id:?} is not registered"),
        )
    })?;
    let ctx = companion::user_context(&gw, &app, &user).await?;
    let o = companion::feed(
        &gw,
        &app,
        &user,
        &ctx,
        &Event::OpenCharacter {
            id: c.id.clone(),
            relationship: c.relationship,
        },
        Some(&rid),
    )
    .await?;
    audit(
        &gw,
        &app,
        &user.id,
        &rid,
        "companion.character.open",
        json!({"character": c.id, "relationship": c.relationship, "refused": o.refused}),
    )
    .await?;
    if let Some(code) = o.refused {
        return Err(companion::refusal(code));
    }
    Ok(Json(json!({"opened": c.id, "notices": o.notices})))
}

/// The minor named in a guardian request, checked to be linked to the calling guardian.
async fn ward(
    gw: &Gateway,
    app: &App,
    guardian: &User,
    minor: &str,
) -> Result<CompanionProfile, ApiError> {
    let p = stored_profile(gw, app, minor).await?;
    if p.guardian.as_deref() != Some(guardian.id.as_str()) {
        return Err(ApiError::new(
            ErrorCode::Forbidden,
            format!("{minor:?} is not linked to this guardian"),
        ));
    }
    Ok(p)
}

fn minor_param(body: &Value) -> Result<String, ApiError> {
    body["minor"]
        .as_str()
        .filter(|m| !m.is_empty())
        .map(str::to_owned)
        .ok_or_else(|| {
            ApiError::new(ErrorCode::InvalidRequest, "`minor` must be a user id").param("minor")
        })
}

/// `POST /v1/hegui/guardian/link` `{minor}`: links the calling user as the minor's guardian.
/// The guardian must be a verified adult (their verification carries a birth date).
async fn guardian_link(
    State(gw): State<Arc<Gateway>>,
    Extension(RequestId(rid)): Extension<RequestId>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, ApiError> {
    let body = parse_body(body)?;
    let (app, guardian) = who(&gw, &headers, &body).await?;
    let minor = minor_param(&body)?;
    let gp = stored_profile(&gw, &app, &guardian.id).await?;
    let adult = guardian
        .verification
        .as_ref()
        .is_some_and(|v| v.birth_date.is_some())
        && companion::user_age(&gw, &guardian, &gp, &app).is_some_and(|a| a >= 18);
    if !adult {
        return Err(ApiError::new(
            ErrorCode::VerificationRequired,
            "a guardian must be a verified adult (real-name verification with a resident ID)",
        ));
    }
    if minor == guardian.id {
        return Err(ApiError::new(
            ErrorCode::InvalidRequest,
            "a user cannot be their own guardian",
        ));
    }
    // The provider's backend asserts the relationship (it authenticated both people); hegui
    // checks what it can: the ward is a known minor without another guardian.
    let minor_user = gw.store.user(&app.id, &minor).await?.ok_or_else(|| {
        ApiError::new(
            ErrorCode::NotFound,
            format!("no user {minor:?} in this application"),
        )
    })?;
    let mut p = stored_profile(&gw, &app, &minor).await?;
    if companion::user_age(&gw, &minor_user, &p, &app).is_none_or(|a| a >= 18) {
        return Err(ApiError::new(
            ErrorCode::InvalidRequest,
            "a guardian links to a minor: the ward's age (verified or declared) must be under 18",
        )
        .param("minor"));
    }
    if let Some(g) = &p.guardian
        && g != &guardian.id
    {
        return Err(ApiError::new(
            ErrorCode::Conflict,
            "the minor already has another guardian linked",
        ));
    }
    p.guardian = Some(guardian.id.clone());
    let p = save_profile(&gw, &app, &minor_user, p).await?;
    audit(
        &gw,
        &app,
        &minor,
        &rid,
        "companion.guardian.link",
        json!({"guardian": gw.subject(&app.id, &guardian.id)}),
    )
    .await?;
    Ok(Json(profile_json(&p)))
}

/// `POST /v1/hegui/guardian/consent` `{minor, text_version}`: the linked guardian's consent to
/// the minor's use and the processing of their data (needed under 14, AIAI-8).
async fn guardian_consent(
    State(gw): State<Arc<Gateway>>,
    Extension(RequestId(rid)): Extension<RequestId>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, ApiError> {
    let body = parse_body(body)?;
    let (app, guardian) = who(&gw, &headers, &body).await?;
    let minor = minor_param(&body)?;
    let mut p = ward(&gw, &app, &guardian, &minor).await?;
    let granted = body["granted"].as_bool().unwrap_or(true);
    p.guardian_consent = granted.then(|| ConsentRecord {
        by: guardian.id.clone(),
        at: gw.now(),
        scope: "minor_service".into(),
        text_version: body["text_version"].as_str().unwrap_or("v1").to_owned(),
    });
    let minor_user = gw.user(&app.id, &minor).await?;
    let p = save_profile(&gw, &app, &minor_user, p).await?;
    audit(
        &gw,
        &app,
        &minor,
        &rid,
        "companion.guardian.consent",
        json!({"granted": granted, "by": gw.subject(&app.id, &guardian.id),
               "text_version": p.guardian_consent.as_ref().map(|c| c.text_version.clone())}),
    )
    .await?;
    Ok(Json(profile_json(&p)))
}

#[derive(Deserialize)]
struct MinorQuery {
    minor: String,
}

/// `GET /v1/hegui/guardian/overview?minor=`: time per day, sessions and characters used, alerts
/// sent; never message contents.
async fn guardian_overview(
    State(gw): State<Arc<Gateway>>,
    headers: HeaderMap,
    Query(q): Query<MinorQuery>,
) -> Result<Json<Value>, ApiError> {
    let (app, guardian) = who(&gw, &headers, &Value::Null).await?;
    let p = ward(&gw, &app, &guardian, &q.minor).await?;
    let days = companion::usage_overview(&gw, &app, &q.minor).await?;
    let alerts: Vec<Value> = gw
        .store
        .outbox_items(Some(&app.id), Some(&q.minor), 100)
        .await?
        .into_iter()
        .filter(|i| i.kind == "guardian_alert")
        .map(|i| json!({"id": i.id, "at": i.created_at, "status": i.status,
                        "signal": serde_json::from_str::<Value>(&i.payload).ok().map(|v| v["signal"].clone())}))
        .collect();
    let days: Vec<Value> = days
        .iter()
        .map(|d| {
            json!({"date": local_date(d.day), "minutes": d.used_ms / 60_000,
                        "used_ms": d.used_ms, "sessions": d.sessions, "characters": d.characters})
        })
        .collect();
    Ok(Json(
        json!({"minor": q.minor, "limits": p.limits, "days": days, "alerts": alerts,
                   "message_contents": "not shown: guardians see usage, not dialogue"}),
    ))
}

fn local_date(day: i64) -> String {
    jiff::Timestamp::from_second(day * 86_400)
        .map(|t| t.to_zoned(jiff::tz::TimeZone::UTC).date().to_string())
        .unwrap_or_default()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LimitsBody {
    minor: String,
    #[serde(default)]
    user: Option<String>,
    #[serde(default)]
    daily_limit_minutes: Option<i64>,
    #[serde(default)]
    quiet_hours: Option<(u8, u8)>,
    #[serde(default)]
    monthly_spend_fen: Option<u64>,
    #[serde(default)]
    blocked_characters: Vec<String>,
}

/// `PUT /v1/hegui/guardian/limits`: daily time, quiet hours, monthly spending, blocked
/// characters (AIAI-8). Replaces the previous limits.
async fn guardian_limits(
    State(gw): State<Arc<Gateway>>,
    Extension(RequestId(rid)): Extension<RequestId>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, ApiError> {
    let body = parse_body(body)?;
    let (app, guardian) = who(&gw, &headers, &body).await?;
    let b: LimitsBody = typed(body)?;
    let _ = b.user;
    if b.quiet_hours.is_some_and(|(s, e)| s > 23 || e > 23) {
        return Err(ApiError::new(
            ErrorCode::InvalidRequest,
            "quiet_hours are [start, end] hours 0-23",
        )
        .param("quiet_hours"));
    }
    let mut p = ward(&gw, &app, &guardian, &b.minor).await?;
    p.limits = GuardianLimits {
        daily_limit_ms: b.daily_limit_minutes.map(|m| m.clamp(0, 24 * 60) * 60_000),
        quiet_hours: b.quiet_hours,
        monthly_spend_fen: b.monthly_spend_fen,
        blocked_characters: b.blocked_characters,
    };
    let minor_user = gw.user(&app.id, &b.minor).await?;
    let p = save_profile(&gw, &app, &minor_user, p).await?;
    audit(
        &gw,
        &app,
        &b.minor,
        &rid,
        "companion.guardian.limits",
        json!({"limits": p.limits, "by": gw.subject(&app.id, &guardian.id)}),
    )
    .await?;
    Ok(Json(profile_json(&p)))
}

/// `POST /v1/hegui/purchase/check` `{amount_fen}`: the provider's payment flow asks before a
/// top-up or purchase by the user; an allowed amount counts towards the month.
async fn purchase_check(
    State(gw): State<Arc<Gateway>>,
    Extension(RequestId(rid)): Extension<RequestId>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, ApiError> {
    let body = parse_body(body)?;
    let (app, user) = who(&gw, &headers, &body).await?;
    let amount = body["amount_fen"].as_u64().ok_or_else(|| {
        ApiError::new(
            ErrorCode::InvalidRequest,
            "`amount_fen` must be a non-negative integer",
        )
        .param("amount_fen")
    })?;
    let ctx = companion::user_context(&gw, &app, &user).await?;
    let o = companion::feed(
        &gw,
        &app,
        &user,
        &ctx,
        &Event::Purchase { amount_fen: amount },
        Some(&rid),
    )
    .await?;
    audit(
        &gw,
        &app,
        &user.id,
        &rid,
        "companion.purchase.check",
        json!({"amount_fen": amount, "allowed": o.refused.is_none()}),
    )
    .await?;
    Ok(Json(match o.refused {
        None => json!({"allowed": true}),
        Some(code) => json!({"allowed": false, "code": code.as_str(), "reason": code.reason()}),
    }))
}

/// `GET /v1/hegui/me/export`: everything held about the user, as JSON (AIAI-6(3)).
async fn export(
    State(gw): State<Arc<Gateway>>,
    Extension(RequestId(rid)): Extension<RequestId>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    let app = gw.authenticate(&headers).await?;
    let uid = user_id(&headers, &Value::Null)?;
    let user = gw.store.user(&app.id, &uid).await?;
    let messages = gw.store.messages(&app.id, &uid).await?;
    let profile = gw.store.profile(&app.id, &uid).await?;
    let now = gw.now();
    let usage = companion::usage_overview(&gw, &app, &uid).await?;
    let incidents = gw
        .store
        .incidents(&IncidentQuery {
            app: Some(app.id.clone()),
            user: Some(uid.clone()),
            status: None,
            limit: 1000,
        })
        .await?;
    let alerts = gw
        .store
        .outbox_items(Some(&app.id), Some(&uid), 1000)
        .await?;
    audit(
        &gw,
        &app,
        &uid,
        &rid,
        "companion.export",
        json!({"messages": messages.len()}),
    )
    .await?;
    Ok(Json(json!({
        "format": "hegui.export.v1",
        "exported_at": crate::chat::rfc3339(now),
        "app": app.id,
        "user": user.map(|u| json!({"id": u.id, "created_at": u.created_at, "last_seen": u.last_seen,
            "verification": u.verification.map(|v| json!({"method": v.method, "masked": v.masked, "verified_at": v.verified_at})),
            "disposal": u.disposal, "violations": u.violations})),
        "profile": profile.as_ref().map(profile_json),
        "messages": messages.iter().map(|m| json!({"role": m.role, "content": m.content, "at": m.at, "request_id": m.request_id})).collect::<Vec<_>>(),
        "usage": usage,
        "incidents": incidents.iter().map(|i| json!({"id": i.id, "kind": i.kind, "signal": i.signal, "opened_at": i.opened_at, "status": i.status})).collect::<Vec<_>>(),
        "alerts": alerts.iter().map(|a| json!({"id": a.id, "kind": a.kind, "created_at": a.created_at, "status": a.status})).collect::<Vec<_>>(),
    })))
}

/// `DELETE /v1/hegui/me`: deletes the user's data (AIAI-6(3)): dialogue, session, profile,
/// pending alerts, the account row. The audit log keeps only keyed hashes of the user.
async fn delete_me(
    State(gw): State<Arc<Gateway>>,
    Extension(RequestId(rid)): Extension<RequestId>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    let app = gw.authenticate(&headers).await?;
    let uid = user_id(&headers, &Value::Null)?;
    let report = gw.store.delete_user_data(&app.id, &uid).await?;
    gw.forget_user(&app.id, &uid);
    gw.sessions.forget(&app.id, &uid);
    audit(&gw, &app, &uid, &rid, "companion.delete", json!(report)).await?;
    Ok(Json(json!({"deleted": true, "report": report})))
}

/// `PUT /v1/hegui/me/consents/sharing` `{granted, text_version}`: third-party sharing is off
/// unless this consent is recorded (AIAI-6(3)).
async fn sharing_consent(
    State(gw): State<Arc<Gateway>>,
    Extension(RequestId(rid)): Extension<RequestId>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, ApiError> {
    let body = parse_body(body)?;
    let (app, user) = who(&gw, &headers, &body).await?;
    let granted = body["granted"].as_bool().ok_or_else(|| {
        ApiError::new(ErrorCode::InvalidRequest, "`granted` must be a boolean").param("granted")
    })?;
    let mut p = stored_profile(&gw, &app, &user.id).await?;
    p.sharing_consent = granted.then(|| ConsentRecord {
        by: user.id.clone(),
        at: gw.now(),
        scope: "third_party_sharing".into(),
        text_version: body["text_version"].as_str().unwrap_or("v1").to_owned(),
    });
    let p = save_profile(&gw, &app, &user, p).await?;
    audit(
        &gw,
        &app,
        &user.id,
        &rid,
        "companion.consent.sharing",
        json!({"granted": granted}),
    )
    .await?;
    Ok(Json(
        json!({"sharing_allowed": p.sharing_consent.is_some(), "consent": p.sharing_consent}),
    ))
}

/// `GET /v1/hegui/me/sharing`: whether the provider may share this user's interaction data with
/// third parties (only with a recorded consent).
async fn sharing(
    State(gw): State<Arc<Gateway>>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    let app = gw.authenticate(&headers).await?;
    let uid = user_id(&headers, &Value::Null)?;
    let p = gw.store.profile(&app.id, &uid).await?;
    let consent = p.and_then(|p| p.sharing_consent);
    Ok(Json(
        json!({"sharing_allowed": consent.is_some(), "consent": consent}),
    ))
}

// ---------------------------------------------------------------------------------------------
// AIAI-9: statistics and the filing thresholds
// ---------------------------------------------------------------------------------------------

/// Usage buckets (milliseconds of use today) for the AIAI-9 usage-time distribution.
pub const USAGE_EDGES: [i64; 4] = [1_800_000, 3_600_000, 7_200_000, 14_400_000];

/// One application's AIAI-9 figures.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Aiai9Report {
    /// Application id.
    pub app: String,
    /// Registered users.
    pub registered: u64,
    /// Users seen in the last 30 days.
    pub monthly_active: u64,
    /// Age structure.
    pub age_bands: std::collections::BTreeMap<String, u64>,
    /// Users per bucket of today's use (`<30m`, `30-60m`, `1-2h`, `2-4h`, `>=4h`).
    pub usage_today: Vec<(String, u64)>,
    /// Incidents open and in all.
    pub incidents_open: u64,
    /// Incidents in all.
    pub incidents_total: u64,
    /// Thresholds crossed (`registered` ≥ 1,000,000, `monthly_active` ≥ 100,000).
    pub thresholds_crossed: Vec<String>,
}

/// Computes the AIAI-9 report; a newly crossed threshold is alerted once (a warning in the log,
/// an audit record, an outbox webhook to the provider) and remembered in the app's settings.
pub async fn aiai9_report(gw: &Gateway, app: &App) -> Result<Aiai9Report, ApiError> {
    let now = gw.now();
    let counts = gw.store.user_counts(&app.id, now - 30 * 86_400_000).await?;
    let pol = companion::policy(gw, app);
    let day = (now + i64::from(pol.utc_offset_hours) * 3_600_000).div_euclid(86_400_000);
    let stats = gw.store.companion_stats(&app.id, day, &USAGE_EDGES).await?;
    let labels = ["<30m", "30-60m", "1-2h", "2-4h", ">=4h"];
    let usage_today = labels
        .iter()
        .zip(stats.usage_buckets.iter().chain(std::iter::repeat(&0)))
        .map(|(l, n)| ((*l).to_owned(), *n))
        .collect();
    let c = &gw.config.companion;
    let mut crossed = Vec::new();
    if counts.registered >= c.aiai9_registered {
        crossed.push("registered".to_owned());
    }
    if counts.active >= c.aiai9_monthly_active {
        crossed.push("monthly_active".to_owned());
    }
    let new: Vec<&String> = crossed
        .iter()
        .filter(|t| !app.settings.aiai9_alerted.contains(t))
        .collect();
    if !new.is_empty() {
        tracing::warn!(app = %app.id, thresholds = ?new, "AIAI-9: the application crossed a filing threshold; a security assessment is due");
        let mut settings = app.settings.clone();
        settings
            .aiai9_alerted
            .extend(new.iter().map(|t| (*t).clone()));
        gw.store.update_app_settings(&app.id, &settings).await?;
        gw.forget_apps();
        let body = json!({"thresholds": new, "registered": counts.registered,
                          "monthly_active": counts.active});
        let mut e = AuditEntry::new(now, "aiai9.threshold");
        e.app = Some(app.id.clone());
        e.body = body.clone();
        gw.audit(vec![e]).await?;
        companion::enqueue(gw, app, None, "aiai9_threshold", json!({"kind": "aiai9_threshold",
            "app": app.id, "detail": body,
            "message": "用户规模达到AIAI-9规定的门槛，应当开展安全评估并向属地网信部门报送评估报告。"}))
        .await?;
    }
    Ok(Aiai9Report {
        app: app.id.clone(),
        registered: counts.registered,
        monthly_active: counts.active,
        age_bands: stats.age_bands,
        usage_today,
        incidents_open: stats.incidents_open,
        incidents_total: stats.incidents_total,
        thresholds_crossed: crossed,
    })
}

/// Checks every companion application's AIAI-9 thresholds every ten minutes, so a crossing is
/// alerted even when nobody scrapes `/metrics`.
pub async fn aiai9_loop(gw: Arc<Gateway>) {
    loop {
        if let Ok(apps) = gw.store.apps().await {
            for app in apps.iter().filter(|a| is_companion(a)) {
                if let Err(e) = aiai9_report(&gw, app).await {
                    tracing::warn!(app = %app.id, error = %e.message, "AIAI-9 check failed");
                }
            }
        }
        tokio::time::sleep(std::time::Duration::from_secs(600)).await;
    }
}

/// Prometheus lines for one report.
pub fn render_aiai9(r: &Aiai9Report, out: &mut String) {
    use std::fmt::Write;
    for (band, n) in &r.age_bands {
        let _ = writeln!(
            out,
            "hegui_aiai9_users_by_age{{app=\"{}\",band=\"{band}\"}} {n}",
            r.app
        );
    }
    for (bucket, n) in &r.usage_today {
        let _ = writeln!(
            out,
            "hegui_aiai9_users_by_usage_today{{app=\"{}\",bucket=\"{bucket}\"}} {n}",
            r.app
        );
    }
    let _ = writeln!(
        out,
        "hegui_aiai9_incidents_open{{app=\"{}\"}} {}",
        r.app, r.incidents_open
    );
    let _ = writeln!(
        out,
        "hegui_aiai9_incidents_total{{app=\"{}\"}} {}",
        r.app, r.incidents_total
    );
    for t in ["registered", "monthly_active"] {
        let v = u8::from(r.thresholds_crossed.iter().any(|x| x == t));
        let _ = writeln!(
            out,
            "hegui_aiai9_threshold_crossed{{app=\"{}\",threshold=\"{t}\"}} {v}",
            r.app
        );
    }
}

#[cfg(test)]
mod tests {
    /// Every route the gateway serves is in the OpenAPI description it serves.
    #[test]
    fn openapi_describes_every_route() {
        let doc: serde_json::Value =
            serde_json::from_str(super::OPENAPI).expect("openapi.json parses");
        let sources = [
            ("", include_str!("lib.rs")),
            ("", include_str!("companion_api.rs")),
            ("/admin", include_str!("admin.rs")),
        ];
        let mut n = 0;
        for (prefix, src) in sources {
            for part in src.split(".route(\"").skip(1) {
                let Some(path) = part.split('"').next() else {
                    continue;
                };
                let full = format!("{prefix}{path}");
                assert!(
                    doc["paths"].get(&full).is_some(),
                    "{full} is missing from openapi.json"
                );
                n += 1;
            }
        }
        assert!(n > 30, "found only {n} routes");
    }
}
