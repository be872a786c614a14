//! The admin API under `/admin`: applications, users, disposal and audit, behind tokens with
//! roles. `admin` may do everything; `reviewer` handles users and disposal and reads the audit;
//! `auditor` only reads and verifies the audit. Every change is itself audited.

use crate::error::{ApiError, ErrorCode};
use crate::state::{Gateway, key_hash};
use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::routing::{get, post};
use hegui_store::{AppSettings, AuditEntry, AuditQuery, Disposal, DisposalLevel, Store};
use serde::Deserialize;
use serde_json::{Value, json};
use std::sync::Arc;

/// Roles of admin tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Admin,
    Reviewer,
    Auditor,
}

struct Caller {
    name: String,
    role: Role,
}

fn caller(gw: &Gateway, headers: &HeaderMap, allowed: &[Role]) -> Result<Caller, ApiError> {
    let token = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .ok_or_else(|| ApiError::new(ErrorCode::Unauthorized, "missing admin token"))?;
    let hash = key_hash(token.trim());
    let t = gw
        .config
        .admin
        .iter()
        .find(|t| t.token_sha256.eq_ignore_ascii_case(&hash))
        .ok_or_else(|| ApiError::new(ErrorCode::Unauthorized, "unknown admin token"))?;
    let role = match t.role.as_str() {
        "admin" => Role::Admin,
        "reviewer" => Role::Reviewer,
        _ => Role::Auditor,
    };
    if !allowed.contains(&role) {
        return Err(ApiError::new(
            ErrorCode::Forbidden,
            format!("role {} may not do this", t.role),
        ));
    }
    Ok(Caller {
        name: t.name.clone(),
        role,
    })
}

/// The admin routes.
pub fn router() -> Router<Arc<Gateway>> {
    Router::new()
        .route("/apps", get(list_apps).post(create_app))
        .route("/apps/{app}/settings", post(update_settings))
        .route("/apps/{app}/users", get(list_users))
        .route("/apps/{app}/users/{user}", get(get_user))
        .route("/apps/{app}/users/{user}/disposal", post(set_disposal))
        .route("/apps/{app}/shutdown", post(announce_shutdown))
        .route("/apps/{app}/aiai9", get(aiai9))
        .route("/incidents", get(list_incidents))
        .route("/incidents/{id}", post(update_incident))
        .route("/outbox", get(list_outbox))
        .route("/webhook-secret", get(webhook_secret))
        .route("/audit", get(audit_query))
        .route("/audit/verify", get(audit_verify))
        .route("/library/reload", post(reload_library))
}

async fn audit_admin(
    gw: &Gateway,
    c: &Caller,
    kind: &str,
    app: Option<&str>,
    subject: Option<&str>,
    body: Value,
) -> Result<(), ApiError> {
    let mut e = AuditEntry::new(gw.now(), kind);
    e.app = app.map(str::to_owned);
    e.subject = subject.map(str::to_owned);
    e.body = json!({"by": c.name, "role": format!("{:?}", c.role).to_lowercase(), "details": body});
    gw.audit(vec![e]).await
}

/// An application as the admin API shows it: never the upstream key.
fn app_json(a: &hegui_store::App) -> Value {
    json!({"id": a.id, "name": a.name, "created_at": a.created_at, "settings": settings_json(&a.settings)})
}

fn settings_json(s: &AppSettings) -> Value {
    let mut v = serde_json::to_value(s).unwrap_or(Value::Null);
    if s.upstream_key.is_some() {
        v["upstream_key"] = json!("***");
    }
    v
}

async fn list_apps(
    State(gw): State<Arc<Gateway>>,
    headers: HeaderMap,
) -> Result<axum::Json<Value>, ApiError> {
    caller(&gw, &headers, &[Role::Admin, Role::Reviewer, Role::Auditor])?;
    let apps = gw.store.apps().await?;
    Ok(axum::Json(
        json!({"data": apps.iter().map(app_json).collect::<Vec<_>>()}),
    ))
}

#[derive(Deserialize)]
struct NewApp {
    name: String,
    #[serde(default)]
    settings: Option<AppSettings>,
}

fn json_body<T: serde::de::DeserializeOwned>(
    body: Result<Bytes, BytesRejection>,
) -> Result<T, ApiError> {
    let v = crate::chat::parse_body(body)?;
    serde_json::from_value(v).map_err(|e| ApiError::new(ErrorCode::InvalidRequest, e.to_string()))
}

async fn create_app(
    State(gw): State<Arc<Gateway>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<axum::Json<Value>, ApiError> {
    let c = caller(&gw, &headers, &[Role::Admin])?;
    let req: NewApp = json_body(body)?;
    if req.name.trim().is_empty() {
        return Err(
            ApiError::new(ErrorCode::InvalidRequest, "`name` must not be empty").param("name"),
        );
    }
    let (app, key) = crate::state::create_app(
        gw.store.as_ref(),
        &req.name,
        req.settings.unwrap_or_default(),
        gw.now(),
    )
    .await
    .map_err(|e| match e {
        hegui_store::StoreError::Conflict(m) => ApiError::new(ErrorCode::Conflict, m),
        other => ApiError::store(other),
    })?;
    audit_admin(
        &gw,
        &c,
        "admin.app.create",
        Some(&app.id),
        None,
        json!({"name": app.name}),
    )
    .await?;
    Ok(axum::Json(json!({"app": app_json(&app), "api_key": key})))
}

async fn update_settings(
    State(gw): State<Arc<Gateway>>,
    headers: HeaderMap,
    Path(app): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<axum::Json<Value>, ApiError> {
    let c = caller(&gw, &headers, &[Role::Admin])?;
    let settings: AppSettings = json_body(body)?;
    app_or_404(&gw, &app).await?;
    gw.store.update_app_settings(&app, &settings).await?;
    gw.forget_apps();
    let shown = settings_json(&settings);
    audit_admin(
        &gw,
        &c,
        "admin.app.settings",
        Some(&app),
        None,
        shown.clone(),
    )
    .await?;
    Ok(axum::Json(json!({"id": app, "settings": shown})))
}

#[derive(Deserialize)]
struct Page {
    #[serde(default)]
    offset: u64,
    #[serde(default)]
    limit: Option<u64>,
}

async fn list_users(
    State(gw): State<Arc<Gateway>>,
    headers: HeaderMap,
    Path(app): Path<String>,
    Query(p): Query<Page>,
) -> Result<axum::Json<Value>, ApiError> {
    caller(&gw, &headers, &[Role::Admin, Role::Reviewer])?;
    let users = gw
        .store
        .users(&app, p.offset, p.limit.unwrap_or(100).min(1000))
        .await?;
    Ok(axum::Json(json!({"data": users})))
}

async fn get_user(
    State(gw): State<Arc<Gateway>>,
    headers: HeaderMap,
    Path((app, user)): Path<(String, String)>,
) -> Result<axum::Json<Value>, ApiError> {
    caller(&gw, &headers, &[Role::Admin, Role::Reviewer])?;
    let u = gw
        .store
        .user(&app, &user)
        .await?
        .ok_or_else(|| ApiError::new(ErrorCode::NotFound, "no such user"))?;
    Ok(axum::Json(json!(u)))
}

#[derive(Deserialize)]
struct SetDisposal {
    level: String,
    reason: Option<String>,
    /// Length of a suspension; none means until lifted.
    hours: Option<u64>,
}

async fn set_disposal(
    State(gw): State<Arc<Gateway>>,
    headers: HeaderMap,
    Path((app, user)): Path<(String, String)>,
    body: Result<Bytes, BytesRejection>,
) -> Result<axum::Json<Value>, ApiError> {
    let c = caller(&gw, &headers, &[Role::Admin, Role::Reviewer])?;
    let req: SetDisposal = json_body(body)?;
    let level = DisposalLevel::parse(&req.level).ok_or_else(|| {
        ApiError::new(
            ErrorCode::InvalidRequest,
            "level must be none, warning, restricted, suspended or closed",
        )
        .param("level")
    })?;
    if gw.store.user(&app, &user).await?.is_none() {
        return Err(ApiError::new(ErrorCode::NotFound, "no such user"));
    }
    let now = gw.now();
    let until = match req.hours {
        None => None,
        Some(h) if h <= 24 * 366 * 10 => Some(now + h as i64 * 3_600_000),
        Some(_) => {
            return Err(ApiError::new(
                ErrorCode::InvalidRequest,
                "`hours` may be at most ten years",
            )
            .param("hours"));
        }
    };
    let d = Disposal {
        level,
        reason: Some(req.reason.unwrap_or_else(|| "manual".into())),
        until,
        by: Some(c.name.clone()),
        at: Some(now),
    };
    gw.store.set_disposal(&app, &user, &d).await?;
    gw.forget_user(&app, &user);
    let subject = gw.subject(&app, &user);
    audit_admin(
        &gw,
        &c,
        "disposal.set",
        Some(&app),
        Some(&subject),
        json!(d),
    )
    .await?;
    Ok(axum::Json(json!(d)))
}

#[derive(Deserialize)]
struct AuditParams {
    app: Option<String>,
    subject: Option<String>,
    /// A user id; with `app`, selects that user's records by their keyed subject hash.
    user: Option<String>,
    request_id: Option<String>,
    kind: Option<String>,
    since: Option<i64>,
    limit: Option<u64>,
}

async fn audit_query(
    State(gw): State<Arc<Gateway>>,
    headers: HeaderMap,
    Query(p): Query<AuditParams>,
) -> Result<axum::Json<Value>, ApiError> {
    caller(&gw, &headers, &[Role::Admin, Role::Reviewer, Role::Auditor])?;
    let subject = match (&p.user, &p.app) {
        (Some(u), Some(a)) => Some(gw.subject(a, u)),
        (Some(_), None) => {
            return Err(ApiError::new(
                ErrorCode::InvalidRequest,
                "`user` needs `app`: audit records carry a keyed hash of (app, user)",
            )
            .param("user"));
        }
        _ => p.subject,
    };
    let q = AuditQuery {
        app: p.app,
        subject,
        request_id: p.request_id,
        kind_prefix: p.kind,
        since: p.since,
        limit: p.limit.unwrap_or(100).min(1000),
    };
    let records = gw.store.audit_query(&q).await?;
    Ok(axum::Json(json!({"data": records})))
}

/// Walks the chain through the verifier, page by page, up to the head read at the start, so
/// records appended meanwhile by a live gateway are not mistaken for a cut. A purge that runs
/// during the walk can make it fail; it is retried once.
pub async fn verify_chain(
    store: &dyn Store,
) -> Result<Result<hegui_audit::VerifyReport, hegui_audit::VerifyError>, hegui_store::StoreError> {
    let first = walk(store).await?;
    if first.is_ok() {
        return Ok(first);
    }
    walk(store).await
}

async fn walk(
    store: &dyn Store,
) -> Result<Result<hegui_audit::VerifyReport, hegui_audit::VerifyError>, hegui_store::StoreError> {
    let head = store.audit_head().await?;
    let mut v = hegui_audit::Verifier::new();
    let Some((last, _)) = head.clone() else {
        return Ok(v.finish(None));
    };
    let mut from = 0;
    'pages: loop {
        let page = store.audit_range(from, 1000).await?;
        if page.is_empty() {
            break;
        }
        for r in &page {
            if r.seq > last {
                break 'pages;
            }
            if let Err(e) = v.push(r) {
                return Ok(Err(e));
            }
        }
        from = page.last().map_or(from, |r| r.seq + 1);
    }
    Ok(v.finish(head.as_ref().map(|(s, h)| (*s, h.as_str()))))
}

async fn audit_verify(
    State(gw): State<Arc<Gateway>>,
    headers: HeaderMap,
) -> Result<axum::Json<Value>, ApiError> {
    caller(&gw, &headers, &[Role::Admin, Role::Auditor])?;
    Ok(axum::Json(match verify_chain(gw.store.as_ref()).await? {
        Ok(r) => json!({"ok": true, "report": r}),
        Err(e) => json!({"ok": false, "error": e.to_string()}),
    }))
}

async fn reload_library(
    State(gw): State<Arc<Gateway>>,
    headers: HeaderMap,
) -> Result<axum::Json<Value>, ApiError> {
    caller(&gw, &headers, &[Role::Admin])?;
    let v = gw.reload_library().await?;
    Ok(axum::Json(json!({"ok": true, "version": v})))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ShutdownBody {
    effective_at: i64,
    text: String,
}

/// The application, or 404.
async fn app_or_404(gw: &Gateway, id: &str) -> Result<hegui_store::App, ApiError> {
    gw.store
        .app(id)
        .await?
        .ok_or_else(|| ApiError::new(ErrorCode::NotFound, "no such application"))
}

/// `POST /admin/apps/{app}/shutdown` `{effective_at, text}`: announces the end of the service in
/// advance (AIAI-6(4)); every response carries the notice until then, and requests are refused
/// with `service_discontinued` after.
async fn announce_shutdown(
    State(gw): State<Arc<Gateway>>,
    headers: HeaderMap,
    Path(app): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<axum::Json<Value>, ApiError> {
    let c = caller(&gw, &headers, &[Role::Admin])?;
    let b: ShutdownBody = json_body(body)?;
    let now = gw.now();
    if b.effective_at <= now || b.text.trim().is_empty() {
        return Err(ApiError::new(
            ErrorCode::InvalidRequest,
            "a shutdown is announced in advance: effective_at must be in the future and text non-empty",
        ));
    }
    let a = app_or_404(&gw, &app).await?;
    let mut settings = a.settings.clone();
    settings.shutdown = Some(hegui_store::ShutdownNotice {
        announced_at: now,
        effective_at: b.effective_at,
        text: b.text,
    });
    gw.store.update_app_settings(&app, &settings).await?;
    gw.forget_apps();
    audit_admin(
        &gw,
        &c,
        "admin.app.shutdown",
        Some(&app),
        None,
        json!(settings.shutdown),
    )
    .await?;
    Ok(axum::Json(
        json!({"id": app, "shutdown": settings.shutdown}),
    ))
}

/// `GET /admin/apps/{app}/aiai9`: the AIAI-9 figures (user scale, usage time, age structure,
/// incidents) and the filing thresholds crossed.
async fn aiai9(
    State(gw): State<Arc<Gateway>>,
    headers: HeaderMap,
    Path(app): Path<String>,
) -> Result<axum::Json<Value>, ApiError> {
    caller(&gw, &headers, &[Role::Admin, Role::Reviewer, Role::Auditor])?;
    let a = app_or_404(&gw, &app).await?;
    let r = crate::companion_api::aiai9_report(&gw, &a).await?;
    Ok(axum::Json(json!(r)))
}

#[derive(Deserialize)]
struct IncidentParams {
    app: Option<String>,
    user: Option<String>,
    status: Option<String>,
    limit: Option<u64>,
}

/// `GET /admin/incidents`: the review queue of crisis and help incidents (AIAI-7(1)).
async fn list_incidents(
    State(gw): State<Arc<Gateway>>,
    headers: HeaderMap,
    Query(p): Query<IncidentParams>,
) -> Result<axum::Json<Value>, ApiError> {
    caller(&gw, &headers, &[Role::Admin, Role::Reviewer])?;
    let q = hegui_store::IncidentQuery {
        app: p.app,
        user: p.user,
        status: p.status,
        limit: p.limit.unwrap_or(100).min(1000),
    };
    Ok(axum::Json(json!({"data": gw.store.incidents(&q).await?})))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct IncidentUpdate {
    status: String,
    #[serde(default)]
    note: Option<String>,
}

/// `POST /admin/incidents/{id}` `{status, note}`: a reviewer acknowledges or resolves a case.
async fn update_incident(
    State(gw): State<Arc<Gateway>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<axum::Json<Value>, ApiError> {
    let c = caller(&gw, &headers, &[Role::Admin, Role::Reviewer])?;
    let b: IncidentUpdate = json_body(body)?;
    if !matches!(b.status.as_str(), "open" | "acknowledged" | "resolved") {
        return Err(ApiError::new(
            ErrorCode::InvalidRequest,
            "status must be open, acknowledged or resolved",
        )
        .param("status"));
    }
    let i = gw
        .store
        .incident(&id)
        .await?
        .ok_or_else(|| ApiError::new(ErrorCode::NotFound, "no such incident"))?;
    gw.store
        .update_incident(&id, &b.status, b.note.as_deref(), &c.name, gw.now())
        .await?;
    audit_admin(
        &gw,
        &c,
        "admin.incident",
        Some(&i.app),
        Some(&i.subject),
        json!({"id": id, "status": b.status, "note": b.note.is_some()}),
    )
    .await?;
    let i = gw.store.incident(&id).await?;
    Ok(axum::Json(json!(i)))
}

#[derive(Deserialize)]
struct OutboxParams {
    app: Option<String>,
    user: Option<String>,
    limit: Option<u64>,
}

/// `GET /admin/outbox`: alert webhooks with every delivery attempt.
async fn list_outbox(
    State(gw): State<Arc<Gateway>>,
    headers: HeaderMap,
    Query(p): Query<OutboxParams>,
) -> Result<axum::Json<Value>, ApiError> {
    caller(&gw, &headers, &[Role::Admin, Role::Reviewer])?;
    let items = gw
        .store
        .outbox_items(
            p.app.as_deref(),
            p.user.as_deref(),
            p.limit.unwrap_or(100).min(1000),
        )
        .await?;
    let mut out = Vec::new();
    for i in items {
        let attempts = gw.store.outbox_attempts(&i.id).await?;
        let mut v = json!(i);
        v["attempts_made"] = json!(attempts);
        out.push(v);
    }
    Ok(axum::Json(json!({"data": out})))
}

/// `GET /admin/webhook-secret`: the key alert webhooks are signed with, for the receiver:
/// `X-Hegui-Signature: sha256=HMAC-SHA256(key, X-Hegui-Timestamp + "." + body)`.
async fn webhook_secret(
    State(gw): State<Arc<Gateway>>,
    headers: HeaderMap,
) -> Result<axum::Json<Value>, ApiError> {
    let c = caller(&gw, &headers, &[Role::Admin])?;
    audit_admin(&gw, &c, "admin.webhook_secret", None, None, json!({})).await?;
    Ok(axum::Json(
        json!({"algorithm": "HMAC-SHA256", "key_hex": gw.webhook_key_hex(),
        "signed": "X-Hegui-Timestamp + \".\" + body"}),
    ))
}
