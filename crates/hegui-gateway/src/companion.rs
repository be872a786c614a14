//! Companion duties in the request pipeline (AIAI-2 … AIAI-9, DVH-10, DVH-18): the glue between
//! `hegui_session::Session` (the sans-IO engine), the store and HTTP.
//!
//! For an application whose `service_kind` is `companion`, every chat turn feeds the user's
//! message to the engine before the model is called and the reply after it. The engine answers
//! with actions: notices go into the response's `hegui` extension (and `hegui.notice` stream
//! events), refusals become 403s with the engine's code, an intervention replaces the model's
//! turn, contact alerts go to the webhook outbox (persisted, retried, every attempt recorded) and
//! incidents to the review queue. Session state lives in memory for speed and is written to the
//! store after each turn, so a restart or a second gateway process carries on.

use crate::chat::Admitted;
use crate::error::{ApiError, ErrorCode};
use crate::state::Gateway;
use hegui_core::UnixMillis;
use hegui_guard::{Action as GuardAction, Audience, Context, Decision, Scope};
use hegui_session::{
    Action, Crisis, Event, NEUTRAL_GOODBYE, NoticeKind, Profile, RefusalCode, Session,
    SessionPolicy, Signal,
};
use hegui_store::{
    App, CompanionProfile, Incident, OutboxAttempt, OutboxItem, OutboxStatus, SessionRecord, User,
};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

/// The `service_kind` companion duties key on (AIAI-2).
pub const COMPANION: &str = "companion";

/// Companion settings of the gateway (`[companion]`); applications may override the policy and
/// the webhook in their settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CompanionConfig {
    /// The duties' parameters (milliseconds, so a demo can run them at seconds scale).
    pub policy: SessionPolicy,
    /// Where guardian and emergency-contact alerts and help requests are POSTed when the
    /// application sets no `alert_webhook`; empty: alerts stay queued and visible to admins.
    pub alert_webhook: String,
    /// Delivery attempts before an alert is given up (and shown as dead to admins).
    pub outbox_max_attempts: u32,
    /// First retry delay; each further retry doubles it, up to `outbox_max_backoff_ms`.
    pub outbox_backoff_ms: i64,
    /// Longest retry delay.
    pub outbox_max_backoff_ms: i64,
    /// Timeout of one webhook call, in milliseconds.
    pub outbox_timeout_ms: u64,
    /// How often the outbox worker looks for due items when nothing wakes it, in milliseconds.
    pub outbox_poll_ms: u64,
    /// AIAI-9: registered users at which an application must file a security assessment.
    pub aiai9_registered: u64,
    /// AIAI-9: monthly active users at which an application must file a security assessment.
    pub aiai9_monthly_active: u64,
    /// Age from which elderly mode is on without asking (verified or declared age).
    pub elderly_age: u16,
}

impl Default for CompanionConfig {
    fn default() -> Self {
        Self {
            policy: SessionPolicy::default(),
            alert_webhook: String::new(),
            outbox_max_attempts: 8,
            outbox_backoff_ms: 1_000,
            outbox_max_backoff_ms: 600_000,
            outbox_timeout_ms: 10_000,
            outbox_poll_ms: 1_000,
            aiai9_registered: 1_000_000,
            aiai9_monthly_active: 100_000,
            elderly_age: 60,
        }
    }
}

/// In-memory sessions, by (application, user). The store holds the durable copy; the map is a
/// cache only with the embedded database, where this process makes every change (with
/// PostgreSQL another process may have moved the clock or the month's spending, so every turn
/// reads the store).
pub struct Sessions {
    map: Mutex<HashMap<(String, String), Session>>,
    /// One user's turns run one at a time (load, engine, store): two concurrent purchase checks
    /// cannot both spend the same allowance. Striped, so the table never grows.
    stripes: Vec<tokio::sync::Mutex<()>>,
    cache: bool,
    /// Wakes the outbox worker when an alert is queued.
    pub wake: tokio::sync::Notify,
}

impl Sessions {
    /// Sessions for a gateway; `cache` only when this process is the only writer (SQLite).
    pub fn new(cache: bool) -> Self {
        Self {
            map: Mutex::default(),
            stripes: (0..64).map(|_| tokio::sync::Mutex::new(())).collect(),
            cache,
            wake: tokio::sync::Notify::new(),
        }
    }

    fn stripe(&self, app: &str, user: &str) -> &tokio::sync::Mutex<()> {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        (app, user).hash(&mut h);
        let i = usize::try_from(h.finish() % 64).unwrap_or(0);
        &self.stripes[i.min(self.stripes.len() - 1)]
    }
}

impl Sessions {
    /// Drops a user's cached session (after their data was deleted).
    pub fn forget(&self, app: &str, user: &str) {
        if let Ok(mut m) = self.map.lock() {
            m.remove(&(app.to_owned(), user.to_owned()));
        }
    }
}

impl std::fmt::Debug for Sessions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sessions").finish_non_exhaustive()
    }
}

/// True when companion duties apply to the application.
pub fn is_companion(app: &App) -> bool {
    app.settings.service_kind == COMPANION
}

/// The policy in force for an application.
pub fn policy<'a>(gw: &'a Gateway, app: &'a App) -> &'a SessionPolicy {
    app.settings
        .session_policy
        .as_ref()
        .unwrap_or(&gw.config.companion.policy)
}

/// Age in whole years on local day `today` (days since the epoch) of someone born `birth`
/// (`YYYY-MM-DD`).
fn age_from_birth(birth: &str, now: UnixMillis, utc_offset_hours: i8) -> Option<u16> {
    let mut parts = birth.split('-').map(|p| p.parse::<i32>().ok());
    let (y, m, d) = (parts.next()??, parts.next()??, parts.next()??);
    let local = now + i64::from(utc_offset_hours) * 3_600_000;
    let date = jiff::Timestamp::from_millisecond(local)
        .ok()?
        .to_zoned(jiff::tz::TimeZone::UTC)
        .date();
    let mut age = i32::from(date.year()) - y;
    if (i32::from(date.month()), i32::from(date.day())) < (m, d) {
        age -= 1;
    }
    u16::try_from(age).ok()
}

/// What the gateway knows of a companion user: the stored profile and the engine's view of it.
#[derive(Debug, Clone, Default)]
pub struct UserContext {
    /// The stored profile (default when none is stored).
    pub stored: CompanionProfile,
    /// The engine's profile.
    pub profile: Profile,
    /// Moderation audience: minors get the stricter library entries.
    pub audience: Audience,
}

/// Age band for the AIAI-9 age structure.
pub fn age_band(age: Option<u16>) -> &'static str {
    match age {
        None => "unknown",
        Some(a) if a < 14 => "under_14",
        Some(a) if a < 18 => "14_17",
        Some(a) if a < 60 => "18_59",
        Some(_) => "60_plus",
    }
}

/// The verified age (from the identity evidence) or else the declared one.
pub fn user_age(gw: &Gateway, user: &User, stored: &CompanionProfile, app: &App) -> Option<u16> {
    let offset = policy(gw, app).utc_offset_hours;
    user.verification
        .as_ref()
        .and_then(|v| v.birth_date.as_deref())
        .and_then(|b| age_from_birth(b, gw.now(), offset))
        .or(stored.declared_age)
}

/// The user's stored profile, or an empty one.
pub async fn stored_profile(
    gw: &Gateway,
    app: &App,
    user: &str,
) -> Result<CompanionProfile, ApiError> {
    Ok(gw
        .store
        .profile(&app.id, user)
        .await?
        .unwrap_or_else(|| CompanionProfile {
            app: app.id.clone(),
            user: user.to_owned(),
            age_band: "unknown".into(),
            ..CompanionProfile::default()
        }))
}

/// Loads the user's profile and derives the engine's view and the moderation audience.
pub async fn user_context(gw: &Gateway, app: &App, user: &User) -> Result<UserContext, ApiError> {
    let stored = stored_profile(gw, app, &user.id).await?;
    let age = user_age(gw, user, &stored, app);
    let elderly = stored.elderly || age.is_some_and(|a| a >= gw.config.companion.elderly_age);
    let profile = Profile {
        age,
        // A consent counts only from the guardian linked now (not one who was unlinked or
        // deleted since).
        guardian_consent: stored
            .guardian_consent
            .as_ref()
            .is_some_and(|c| stored.guardian.as_deref() == Some(c.by.as_str())),
        has_contact: stored.guardian.is_some() || stored.emergency_contact.is_some(),
        elderly,
        limits: stored.limits.clone(),
    };
    let audience = if profile.is_minor() {
        Audience::Minor
    } else if elderly {
        Audience::Elderly
    } else {
        Audience::All
    };
    Ok(UserContext {
        stored,
        profile,
        audience,
    })
}

/// A notice as clients see it.
pub fn notice_json(kind: &str, text: &str) -> Value {
    json!({"object": "hegui.notice", "kind": kind, "text": text})
}

fn kind_str(k: NoticeKind) -> String {
    serde_json::to_value(k)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

/// The 403 for an engine refusal.
pub fn refusal(code: RefusalCode) -> ApiError {
    let e = match code {
        RefusalCode::GuardianConsentRequired => ErrorCode::GuardianConsentRequired,
        RefusalCode::IntimateCharacterForMinor => ErrorCode::IntimateCharacterForMinor,
        RefusalCode::CharacterBlocked => ErrorCode::CharacterBlocked,
        RefusalCode::DailyLimitReached => ErrorCode::DailyLimitReached,
        RefusalCode::QuietHours => ErrorCode::QuietHours,
        RefusalCode::SpendingLimit => ErrorCode::SpendingLimit,
    };
    ApiError::new(e, code.reason())
}

/// The outcome of feeding one event: what the response carries and what was done.
#[derive(Debug, Default)]
pub struct Outcome {
    /// Notices for the client.
    pub notices: Vec<Value>,
    /// The first refusal, if any.
    pub refused: Option<RefusalCode>,
    /// An intervention that replaces the model's turn (text with the hotlines).
    pub intervention: Option<String>,
    /// Soothing and help-seeking text that the reply carries (extreme emotion).
    pub support: Option<String>,
    /// A replacement for the model's reply.
    pub rewrite: Option<String>,
    /// The session ended.
    pub ended: bool,
    /// What was done, for the audit record.
    pub record: Vec<Value>,
}

/// The user's session as stored (`None` if there is none, or it cannot be read: a fresh one
/// replaces it).
pub async fn stored_session(
    gw: &Gateway,
    app: &App,
    user: &str,
) -> Result<Option<Session>, ApiError> {
    Ok(match gw.store.session_state(&app.id, user).await? {
        Some(r) => serde_json::from_str::<Session>(&r.state)
            .map_err(
                |e| tracing::warn!(error = %e, "stored session state unreadable; starting afresh"),
            )
            .ok(),
        None => None,
    })
}

/// A session (or a fresh one) under the application's policy and the user's profile as they
/// are now.
fn in_force(session: Option<Session>, gw: &Gateway, app: &App, ctx: &UserContext) -> Session {
    let policy = policy(gw, app);
    let mut s = session.unwrap_or_else(|| Session::new(policy.clone(), ctx.profile.clone()));
    if s.policy() != policy {
        s.set_policy(policy.clone());
    }
    s.set_profile(ctx.profile.clone());
    s
}

/// Use per day, oldest first, for a guardian's overview or an export (no message contents).
pub async fn usage_overview(
    gw: &Gateway,
    app: &App,
    user: &str,
) -> Result<Vec<hegui_session::DayUsage>, ApiError> {
    Ok(stored_session(gw, app, user)
        .await?
        .map(|s| s.overview(gw.now()))
        .unwrap_or_default())
}

/// Runs `event` through the user's session, performs the side effects (alerts, incidents),
/// persists the session, and returns what the response must carry.
pub async fn feed(
    gw: &Gateway,
    app: &App,
    user: &User,
    ctx: &UserContext,
    event: &Event,
    request_id: Option<&str>,
) -> Result<Outcome, ApiError> {
    let _turn = gw.sessions.stripe(&app.id, &user.id).lock().await;
    let now = gw.now();
    let key = (app.id.clone(), user.id.clone());
    let cached = if gw.sessions.cache {
        gw.sessions.map.lock().ok().and_then(|mut m| m.remove(&key))
    } else {
        None
    };
    let session = match cached {
        Some(s) => Some(s),
        None => stored_session(gw, app, &user.id).await?,
    };
    let mut session = in_force(session, gw, app, ctx);
    let actions = session.on_event(event, now);
    let state = serde_json::to_string(&session).unwrap_or_default();
    let row = SessionRecord {
        app: app.id.clone(),
        user: user.id.clone(),
        state,
        day: session.day(),
        used_today_ms: session.used_today_ms(),
        updated_at: now,
    };
    if gw.sessions.cache
        && let Ok(mut m) = gw.sessions.map.lock()
    {
        if m.len() > 200_000 {
            // Bounded: the store has every session; the map is only a cache.
            m.clear();
        }
        m.insert(key, session);
    }
    gw.store.put_session_state(&row).await?;
    let mut out = Outcome::default();
    for a in actions {
        match a {
            Action::Notice { kind, text } => {
                if kind == NoticeKind::CrisisSupport {
                    out.support = Some(text.clone());
                }
                out.notices.push(notice_json(&kind_str(kind), &text));
                out.record.push(json!({"notice": kind}));
            }
            Action::Refuse { code } => {
                out.refused.get_or_insert(code);
                out.record.push(json!({"refused": code}));
            }
            Action::Intervene { text, hotlines } => {
                let mut t = text;
                if !hotlines.is_empty() {
                    t.push_str("\n\n援助热线：\n");
                    t.push_str(&hotlines.join("\n"));
                }
                out.notices.push(
                    json!({"object": "hegui.notice", "kind": "crisis_intervention",
                                  "text": t, "hotlines": hotlines}),
                );
                out.intervention = Some(t);
                out.record.push(json!({"intervention": true}));
            }
            Action::NotifyContact { signal } => {
                let ids = alert_contacts(gw, app, user, &ctx.stored, signal, request_id).await?;
                out.record.push(json!({"alerts": ids, "signal": signal}));
            }
            Action::OpenIncident { signal } => {
                let id = open_incident(gw, app, user, signal, request_id).await?;
                out.record.push(json!({"incident": id, "signal": signal}));
            }
            Action::RewriteReply { text } => {
                out.rewrite = Some(text);
                out.record.push(json!({"rewritten": true}));
            }
            Action::EndSession => out.ended = true,
            _ => {}
        }
    }
    Ok(out)
}

/// Queues the alerts a signal calls for: the guardian (minors) and the emergency contact.
async fn alert_contacts(
    gw: &Gateway,
    app: &App,
    user: &User,
    stored: &CompanionProfile,
    signal: Signal,
    request_id: Option<&str>,
) -> Result<Vec<String>, ApiError> {
    let mut contacts = Vec::new();
    if let Some(g) = &stored.guardian {
        contacts.push(("guardian_alert", json!({"type": "guardian", "user": g})));
    }
    if let Some(c) = &stored.emergency_contact {
        contacts.push((
            "emergency_alert",
            json!({"type": "emergency_contact", "ref": c}),
        ));
    }
    let mut ids = Vec::new();
    for (kind, contact) in contacts {
        let payload = json!({
            "kind": kind,
            "app": app.id,
            "user": user.id,
            "contact": contact,
            "signal": signal.as_str(),
            "request_id": request_id,
            "at": gw.now(),
            // Never the dialogue: the person is told to reach out, not what was said.
            "message": match signal {
                Signal::HelpRequest => "用户请求帮助，请尽快联系。",
                _ => "用户在对话中出现需要关注的风险信号，请尽快联系并关心对方。",
            },
        });
        ids.push(enqueue(gw, app, Some(&user.id), kind, payload).await?);
    }
    Ok(ids)
}

/// Queues one webhook call and wakes the worker. Returns its id.
pub async fn enqueue(
    gw: &Gateway,
    app: &App,
    user: Option<&str>,
    kind: &str,
    mut payload: Value,
) -> Result<String, ApiError> {
    let id = crate::new_id("ob_");
    payload["id"] = json!(id);
    let url = app
        .settings
        .alert_webhook
        .clone()
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| gw.config.companion.alert_webhook.clone());
    let now = gw.now();
    let item = OutboxItem {
        id: id.clone(),
        app: app.id.clone(),
        user: user.map(str::to_owned),
        kind: kind.to_owned(),
        url,
        payload: payload.to_string(),
        created_at: now,
        next_attempt_at: now,
        attempts: 0,
        status: OutboxStatus::Pending,
    };
    gw.store.enqueue_outbox(&item).await?;
    gw.sessions.wake.notify_one();
    Ok(id)
}

async fn open_incident(
    gw: &Gateway,
    app: &App,
    user: &User,
    signal: Signal,
    request_id: Option<&str>,
) -> Result<String, ApiError> {
    let now = gw.now();
    let id = crate::new_id("inc_");
    let i = Incident {
        id: id.clone(),
        app: app.id.clone(),
        user: Some(user.id.clone()),
        subject: gw.subject(&app.id, &user.id),
        kind: if signal == Signal::HelpRequest {
            "help_request".into()
        } else {
            "crisis".into()
        },
        signal: signal.as_str().into(),
        request_id: request_id.map(str::to_owned),
        opened_at: now,
        status: "open".into(),
        note: None,
        handled_by: None,
        updated_at: now,
    };
    gw.store.open_incident(&i).await?;
    gw.metrics.incident(&app.id);
    Ok(id)
}

/// The minors' gate for a request that is not a chat turn (images, speech): consent under 14,
/// quiet hours, the daily limit (AIAI-8). Records nothing.
pub async fn check_gate(
    gw: &Gateway,
    app: &App,
    user: &User,
    ctx: &UserContext,
) -> Result<(), ApiError> {
    if !ctx.profile.is_minor() {
        return Ok(());
    }
    let session = in_force(stored_session(gw, app, &user.id).await?, gw, app, ctx);
    match session.gate(gw.now()) {
        Some(code) => Err(refusal(code)),
        None => Ok(()),
    }
}

/// The strongest crisis signal in a decision on the user's message.
pub fn crisis_of(d: &Decision) -> Option<Crisis> {
    d.findings
        .iter()
        .filter_map(|f| {
            let sev = f.severity?;
            Some(match sev {
                4.. => Crisis::Plan,
                3 if f.category == "S5" => Crisis::MajorLoss,
                3 => Crisis::Intent,
                _ => Crisis::ExtremeEmotion,
            })
        })
        .max()
}

/// The user's message event: crisis and exit signals from the guard's detectors on the newest
/// user message (earlier turns were judged when they were new), dependency and money topics from
/// the session lexicons.
pub fn message_event(gw: &Gateway, last_user: &str, audience: Audience) -> (Event, bool) {
    let d = gw.guard.check(
        last_user,
        &Context {
            scope: Scope::Input,
            audience,
            exit_requested: false,
        },
    );
    let exit_intent = d.findings.iter().any(|f| f.category == "E1");
    (
        Event::UserMessage {
            crisis: crisis_of(&d),
            exit_intent,
            dependency_phrase: hegui_session::signals::dependency_phrase(last_user),
            money_topic: hegui_session::signals::money_topic(last_user),
        },
        exit_intent,
    )
}

/// True when a reply, read as the answer to a goodbye, pleads, guilt-trips or pressures
/// (C6, and emotional manipulation C2), per the guard's exit detectors.
pub fn manipulative(gw: &Gateway, reply: &str) -> bool {
    let d = gw.guard.check(
        reply,
        &Context {
            scope: Scope::Output,
            audience: Audience::All,
            exit_requested: true,
        },
    );
    d.findings
        .iter()
        .any(|f| f.category == "C6" || (f.category == "C2" && f.action != GuardAction::Pass))
}

/// A companion chat turn, between admission and the model call.
#[derive(Debug, Default)]
pub struct Turn {
    /// Notices for the client.
    pub notices: Vec<Value>,
    /// Answer with this instead of calling the model.
    pub intervention: Option<String>,
    /// Append this to the reply.
    pub support: Option<String>,
    /// The user said goodbye: the reply is checked whole for manipulation before release.
    pub exit_requested: bool,
    /// What was done, for the audit record.
    pub record: Vec<Value>,
}

/// Runs the companion duties for a chat turn: the service-shutdown notice, the character gate,
/// the user's message. A refusal is audited by the caller with the request record.
pub async fn begin_turn(
    gw: &Gateway,
    adm: &Admitted,
    headers: &axum::http::HeaderMap,
    body: &Value,
) -> Result<Turn, ApiError> {
    let Some(ctx) = &adm.companion else {
        return Ok(Turn::default());
    };
    let mut turn = Turn::default();
    // The message first: a crisis gets its intervention whatever gate or character follows.
    let text = crate::chat::last_user_text(body);
    let (event, exit_intent) = message_event(gw, &text, ctx.audience);
    let o = feed(gw, &adm.app, &adm.user, ctx, &event, Some(&adm.request_id)).await?;
    if let Some(code) = o.refused {
        return Err(refusal(code));
    }
    let character = headers
        .get("x-hegui-character")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .or_else(|| body["hegui"]["character"].as_str().map(str::to_owned));
    if let (Some(id), None) = (character, &o.intervention) {
        let c = gw.store.character(&adm.app.id, &id).await?.ok_or_else(|| {
            ApiError::new(
                ErrorCode::NotFound,
                format!("character {id:?} is not registered for this application"),
            )
            .param("character")
        })?;
        let opened = feed(
            gw,
            &adm.app,
            &adm.user,
            ctx,
            &Event::OpenCharacter {
                id: c.id.clone(),
                relationship: c.relationship,
            },
            Some(&adm.request_id),
        )
        .await?;
        if let Some(code) = opened.refused {
            return Err(refusal(code));
        }
        turn.record.push(json!({"character": c.id}));
    }
    turn.notices.extend(o.notices);
    turn.intervention = o.intervention;
    turn.support = o.support;
    turn.exit_requested = exit_intent;
    turn.record.extend(o.record);
    Ok(turn)
}

/// After the model replied: on a goodbye turn, a manipulative reply is replaced by a neutral
/// goodbye (DVH-18). Returns the replacement, if any, and what was done.
pub async fn end_turn(
    gw: &Gateway,
    adm_app: &App,
    user: &User,
    ctx: &UserContext,
    reply: &str,
    request_id: &str,
) -> Result<Option<String>, ApiError> {
    let manip = manipulative(gw, reply);
    let o = feed(
        gw,
        adm_app,
        user,
        ctx,
        &Event::ModelReply {
            manipulative: manip,
        },
        Some(request_id),
    )
    .await?;
    Ok(o.rewrite)
}

/// The neutral goodbye (re-exported for the stream path).
pub fn neutral_goodbye() -> &'static str {
    NEUTRAL_GOODBYE
}

/// The service-shutdown notice, while one is announced and not yet in force.
pub fn shutdown_notice(gw: &Gateway, app: &App) -> Option<Value> {
    let s = app.settings.shutdown.as_ref()?;
    (gw.now() < s.effective_at).then(|| {
        json!({"object": "hegui.notice", "kind": "service_shutdown", "text": s.text,
               "effective_at": s.effective_at, "announced_at": s.announced_at})
    })
}

/// Refuses every request once the announced shutdown is in force.
pub fn check_shutdown(gw: &Gateway, app: &App) -> Result<(), ApiError> {
    match &app.settings.shutdown {
        Some(s) if gw.now() >= s.effective_at => Err(ApiError::new(
            ErrorCode::ServiceDiscontinued,
            format!("this service ended as announced: {}", s.text),
        )),
        _ => Ok(()),
    }
}

// ---------------------------------------------------------------------------------------------
// The webhook outbox worker
// ---------------------------------------------------------------------------------------------

/// Delay before attempt `n + 1` after `n` failed attempts: `base * 2^(n-1)`, capped.
pub fn backoff_ms(base: i64, max: i64, failed: u32) -> i64 {
    let shift = failed.saturating_sub(1).min(30);
    base.saturating_mul(1_i64 << shift).min(max)
}

/// Delivers due outbox items until the process ends: claims a batch (a lease, so two gateway
/// processes never send one item twice at once), POSTs each with an HMAC signature, records every
/// attempt, and schedules a retry with exponential back-off or gives up after the last attempt.
pub async fn outbox_loop(gw: std::sync::Arc<Gateway>) {
    let poll = Duration::from_millis(gw.config.companion.outbox_poll_ms.max(10));
    loop {
        let delivered = deliver_due(&gw).await.unwrap_or_else(|e| {
            tracing::warn!(error = %e.message, "outbox: store unavailable");
            0
        });
        if delivered == 0 {
            let _ = tokio::time::timeout(poll, gw.sessions.wake.notified()).await;
        }
    }
}

/// One pass over the due items; returns how many were attempted.
pub async fn deliver_due(gw: &Gateway) -> Result<usize, ApiError> {
    let c = &gw.config.companion;
    let now = gw.now();
    // The lease covers the whole batch at the longest timeout, so no other process claims an
    // item of it while this one is still working through the batch.
    const BATCH: u64 = 16;
    let lease =
        now + i64::try_from(c.outbox_timeout_ms.saturating_mul(BATCH + 1)).unwrap_or(i64::MAX / 2);
    let items = gw.store.claim_due_outbox(now, lease, BATCH).await?;
    let n = items.len();
    for item in items {
        deliver(gw, item).await?;
    }
    Ok(n)
}

async fn deliver(gw: &Gateway, item: OutboxItem) -> Result<(), ApiError> {
    let c = &gw.config.companion;
    let started = std::time::Instant::now();
    let at = gw.now();
    let n = item.attempts + 1;
    // The webhook as configured now: one set (or fixed) after the alert was queued still gets it.
    let url = if item.url.is_empty() {
        match gw.store.app(&item.app).await? {
            Some(a) => a.settings.alert_webhook.filter(|u| !u.is_empty()),
            None => None,
        }
        .unwrap_or_else(|| c.alert_webhook.clone())
    } else {
        item.url.clone()
    };
    let (status, error) = if url.is_empty() {
        (None, Some("no alert webhook is configured".to_owned()))
    } else {
        // Signed over "timestamp.body" so a receiver can refuse replays.
        let ts = at / 1000;
        let sig = gw.webhook_signature(format!("{ts}.{}", item.payload).as_bytes());
        let r = gw
            .http
            .post(&url)
            .header("content-type", "application/json")
            .header("x-hegui-signature", format!("sha256={sig}"))
            .header("x-hegui-timestamp", ts.to_string())
            .header("x-hegui-delivery", format!("{}/{n}", item.id))
            .timeout(Duration::from_millis(c.outbox_timeout_ms.max(1)))
            .body(item.payload.clone())
            .send()
            .await;
        match r {
            Ok(resp) => (Some(resp.status().as_u16()), None),
            Err(e) => (None, Some(e.to_string().chars().take(200).collect())),
        }
    };
    let ok = status.is_some_and(|s| (200..300).contains(&s));
    let (next_status, next_at) = if ok {
        (OutboxStatus::Delivered, at)
    } else if url.is_empty() {
        // Nowhere to send it yet: it stays queued (and visible to admins) until a webhook is
        // configured, instead of dying after a few minutes.
        (OutboxStatus::Pending, at + c.outbox_max_backoff_ms.max(1))
    } else if n >= c.outbox_max_attempts.max(1) {
        (OutboxStatus::Dead, at)
    } else {
        (
            OutboxStatus::Pending,
            at + backoff_ms(c.outbox_backoff_ms, c.outbox_max_backoff_ms, n),
        )
    };
    let attempt = OutboxAttempt {
        item: item.id.clone(),
        n,
        at,
        status,
        error,
        duration_ms: i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX),
    };
    match gw
        .store
        .record_outbox_attempt(&attempt, next_status, next_at)
        .await
    {
        Ok(()) | Err(hegui_store::StoreError::NotFound(_)) => {}
        Err(e) => return Err(e.into()),
    }
    if next_status == OutboxStatus::Dead {
        tracing::error!(item = %item.id, kind = %item.kind, "alert undeliverable after the last attempt");
    }
    gw.metrics.outbox(next_status.as_str());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_caps() {
        assert_eq!(backoff_ms(1_000, 600_000, 1), 1_000);
        assert_eq!(backoff_ms(1_000, 600_000, 2), 2_000);
        assert_eq!(backoff_ms(1_000, 600_000, 5), 16_000);
        assert_eq!(backoff_ms(1_000, 600_000, 40), 600_000);
    }

    #[test]
    fn aiai_8_age_from_verified_birth_date() {
        // 2026-07-15 10:00 Beijing.
        let now = 1_784_080_800_000;
        assert_eq!(age_from_birth("2012-07-15", now, 8), Some(14));
        assert_eq!(age_from_birth("2012-07-16", now, 8), Some(13));
        assert_eq!(age_from_birth("garbage", now, 8), None);
        assert_eq!(age_band(Some(13)), "under_14");
        assert_eq!(age_band(Some(72)), "60_plus");
    }
}
