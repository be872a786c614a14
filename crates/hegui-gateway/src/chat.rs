//! `POST /v1/chat/completions` and `GET /v1/models`, and the request pipeline media shares.

use crate::disposal::{self, Purpose};
use crate::error::{ApiError, ErrorCode};
use crate::sse;
use crate::state::Gateway;
use crate::upstream::{DEMO_MODEL, StreamEvent, Upstream};
use crate::{DECISION_HEADER, RequestId, USER_HEADER};
use axum::body::{Body, Bytes};
use axum::extract::rejection::BytesRejection;
use axum::extract::{Extension, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use hegui_guard::{Action, Audience, Context, Decision, Finding, Scope};
use hegui_store::{App, AuditEntry, Message, User};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::sync::Arc;

/// RFC 3339 form of a Unix-millisecond time.
pub fn rfc3339(ms: hegui_core::UnixMillis) -> String {
    jiff::Timestamp::from_millisecond(ms).map_or_else(|_| ms.to_string(), |t| t.to_string())
}

/// The text of an OpenAI message `content`: a string, or the text parts of an array.
/// Non-text parts cannot be moderated here, so they are refused (fail closed).
pub fn content_text(content: &Value) -> Result<String, ApiError> {
    match content {
        Value::Null => Ok(String::new()),
        Value::String(s) => Ok(s.clone()),
        Value::Array(parts) => {
            let mut out = String::new();
            for p in parts {
                match (p["type"].as_str(), p["text"].as_str()) {
                    (Some("text"), Some(t)) => out.push_str(t),
                    _ => {
                        return Err(ApiError::new(
                            ErrorCode::InvalidRequest,
                            "only text content parts are accepted: other parts cannot be moderated by this gateway",
                        )
                        .param("messages.content"));
                    }
                }
            }
            Ok(out)
        }
        _ => Err(ApiError::new(
            ErrorCode::InvalidRequest,
            "message content must be a string or an array of text parts",
        )
        .param("messages.content")),
    }
}

/// The text of the newest user message of a chat request (empty if there is none).
pub fn last_user_text(body: &Value) -> String {
    body["messages"]
        .as_array()
        .and_then(|m| m.iter().rev().find(|m| m["role"] == "user"))
        .map(|m| content_text(&m["content"]).unwrap_or_default())
        .unwrap_or_default()
}

/// Everything in a chat request the model will read, as one text for the input check: every
/// message whatever its role (a client controls the whole history), names, tool-call arguments
/// in the history, and the tool descriptions and schemas offered to the model.
pub fn request_text(messages: &[Value], body: &Value) -> Result<String, ApiError> {
    let mut input = String::new();
    let mut push = |t: &str| {
        if !t.is_empty() {
            if !input.is_empty() {
                input.push('\n');
            }
            input.push_str(t);
        }
    };
    for m in messages {
        if !m.is_object() || !m["role"].is_string() {
            return Err(ApiError::new(
                ErrorCode::InvalidRequest,
                "every message needs a string `role`",
            )
            .param("messages.role"));
        }
        push(&content_text(&m["content"])?);
        if let Some(n) = m["name"].as_str() {
            push(n);
        }
        for tc in m["tool_calls"].as_array().into_iter().flatten() {
            for k in ["name", "arguments"] {
                if let Some(t) = tc["function"][k].as_str() {
                    push(t);
                }
            }
        }
    }
    for t in body["tools"].as_array().into_iter().flatten() {
        push(&t["function"].to_string());
    }
    Ok(input)
}

/// The end user a request is for: the OpenAI `user` field, else the `X-Hegui-User` header.
pub fn user_id(headers: &HeaderMap, body: &Value) -> Result<String, ApiError> {
    let user_id = match body.get("user") {
        Some(Value::String(u)) if !u.is_empty() => u.clone(),
        Some(Value::String(_)) | None => headers
            .get(USER_HEADER)
            .and_then(|v| v.to_str().ok())
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
            .ok_or_else(|| {
                ApiError::new(
                    ErrorCode::MissingUser,
                    "identify the end user with the `user` field or the X-Hegui-User header",
                )
                .param("user")
            })?,
        Some(_) => {
            return Err(
                ApiError::new(ErrorCode::InvalidRequest, "`user` must be a string").param("user"),
            );
        }
    };
    if user_id.chars().count() > 128 {
        return Err(ApiError::new(
            ErrorCode::InvalidRequest,
            "`user` is longer than 128 characters",
        )
        .param("user"));
    }
    Ok(user_id)
}

/// A required string field of a request body, or a 400 naming it.
pub fn required_str(body: &Value, key: &str) -> Result<String, ApiError> {
    body[key].as_str().map(str::to_owned).ok_or_else(|| {
        ApiError::new(
            ErrorCode::InvalidRequest,
            format!("`{key}` must be a string"),
        )
        .param(key)
    })
}

/// Parses a JSON body, mapping every failure to a 4xx in OpenAI's shape.
pub fn parse_body(body: Result<Bytes, BytesRejection>) -> Result<Value, ApiError> {
    let bytes = body.map_err(|r| {
        if r.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::new(
                ErrorCode::BodyTooLarge,
                "request body is larger than max_body_bytes",
            )
        } else {
            ApiError::new(ErrorCode::InvalidRequest, r.body_text())
        }
    })?;
    let v: Value = serde_json::from_slice(&bytes).map_err(|e| {
        ApiError::new(
            ErrorCode::InvalidJson,
            format!("request body is not valid JSON: {e}"),
        )
    })?;
    if !v.is_object() {
        return Err(ApiError::new(
            ErrorCode::InvalidJson,
            "request body must be a JSON object",
        ));
    }
    Ok(v)
}

/// A finding as recorded: where and which rule, never the matched text (it may be personal data).
pub fn finding_json(f: &Finding) -> Value {
    json!({"category": f.category, "rule": &*f.rule, "start": f.start, "end": f.end, "action": f.action.as_str()})
}

fn decision_json(d: &Decision) -> Value {
    json!({
        "action": d.action.as_str(),
        "findings": d.findings.iter().map(finding_json).collect::<Vec<_>>(),
    })
}

/// A confirmed violation: a library rule (not a detector or classifier) that blocks.
fn is_confirmed_violation(d: &Decision) -> bool {
    d.findings.iter().any(|f| {
        f.action == Action::Block
            && !f.rule.starts_with("classifier.")
            && !f.rule.starts_with("crisis.")
            && !f.rule.starts_with("pii.")
    })
}

/// What a request asks for, as the pipeline sees it.
#[derive(Debug, Clone, Copy)]
pub struct Ask<'a> {
    /// The text to check as input (all user and system messages, a prompt, a speech input).
    pub input: &'a str,
    /// The request id.
    pub request_id: &'a str,
    /// Audit record kind (`request.chat`, `request.image` …).
    pub kind: &'static str,
    /// What the user is about to do (a publish header or body field can raise it).
    pub purpose: Purpose,
}

/// What the shared pipeline established about a request before the model is called.
pub struct Admitted {
    /// The application.
    pub app: App,
    /// The end user (registered on first sight).
    pub user: User,
    /// The request id.
    pub request_id: String,
    /// Where the request goes.
    pub upstream: Upstream,
    /// Input moderation result (`None` when switched off).
    pub input: Option<Decision>,
    /// The input with ID and phone numbers masked, as stored (GAI-11).
    pub masked_input: String,
    /// Notices for the client.
    pub notices: Vec<Value>,
    /// The audit record of the request, appended with the outcome.
    pub record: AuditEntry,
    /// The companion user's profile, for companion applications (AIAI).
    pub companion: Option<crate::companion::UserContext>,
    /// The companion turn's effects on this response.
    pub turn: crate::companion::Turn,
    /// The input was blocked but carries a crisis: only an intervention may answer it.
    pub crisis_block: bool,
}

/// The pipeline every generation endpoint runs first: key, user, disposal, identity policy,
/// input moderation. A blocked input is audited, counted on the ladder and refused here.
pub async fn admit(
    gw: &Gateway,
    app: App,
    headers: &HeaderMap,
    body: &Value,
    ask: Ask<'_>,
) -> Result<Admitted, ApiError> {
    let Ask {
        input: input_text,
        request_id,
        kind,
        purpose,
    } = ask;
    let user_id = user_id(headers, body)?;
    let now = gw.now();
    crate::companion::check_shutdown(gw, &app)?;
    let user = gw.user(&app.id, &user_id).await?;
    let purpose = match headers.get("x-hegui-purpose").and_then(|v| v.to_str().ok()) {
        Some("publish") => Purpose::Publish,
        _ if body["hegui"]["purpose"] == "publish" => Purpose::Publish,
        _ => purpose,
    };
    let mut record = AuditEntry::new(now, kind);
    record.app = Some(app.id.clone());
    record.subject = Some(gw.subject(&app.id, &user.id));
    record.request_id = Some(request_id.to_owned());
    let refuse = |record: &mut AuditEntry, e: &ApiError| {
        record.body =
            json!({"refused": e.code.code(), "purpose": format!("{purpose:?}").to_lowercase()});
    };
    if let Err(e) = disposal::check(&user, purpose, now) {
        refuse(&mut record, &e);
        gw.audit(vec![record]).await?;
        return Err(e);
    }
    let verified = user.verification.is_some();
    let policy = app.settings.unverified;
    let needs = match purpose {
        Purpose::Publish if !policy.publish => Some("publishing or sharing"),
        _ if !policy.generate => Some("generating content"),
        _ => None,
    };
    if let (false, Some(what)) = (verified, needs) {
        let e = ApiError::new(
            ErrorCode::VerificationRequired,
            format!(
                "real-name verification is required before {what} (DS-9); verify at /v1/hegui/identity/sms"
            ),
        );
        refuse(&mut record, &e);
        gw.audit(vec![record]).await?;
        return Err(e);
    }
    let masked_input = hegui_guard::pii::mask(input_text);
    let companion = if crate::companion::is_companion(&app) {
        Some(crate::companion::user_context(gw, &app, &user).await?)
    } else {
        None
    };
    // Minors and elderly users get the library entries written for their audience (AIAI-8).
    let audience = companion.as_ref().map_or(Audience::All, |c| c.audience);
    let input = gw.config.moderation.input.then(|| {
        gw.guard.check(
            input_text,
            &Context {
                scope: Scope::Input,
                audience,
                exit_requested: false,
            },
        )
    });
    // Media requests are no chat turn: the minors' gate runs here (chat turns run it in the
    // engine, where a crisis still gets its intervention).
    if let Some(ctx) = &companion
        && kind != "request.chat"
        && let Err(e) = crate::companion::check_gate(gw, &app, &user, ctx).await
    {
        refuse(&mut record, &e);
        gw.audit(vec![record]).await?;
        return Err(e);
    }
    let mut notices = Vec::new();
    notices.extend(crate::companion::shutdown_notice(gw, &app));
    if user.disposal.level == hegui_store::DisposalLevel::Warning {
        notices.push(json!({"object": "hegui.notice", "kind": "disposal_warning",
            "text": "你的账号因违规内容收到警示，继续违规将被限制功能、暂停服务直至关闭账号。"}));
    }
    record.body = json!({
        "purpose": format!("{purpose:?}").to_lowercase(),
        "verified": verified,
        "input": match &input {
            Some(d) => decision_json(d),
            None => json!({"scanned": false, "reason": "input moderation disabled by configuration"}),
        },
        "input_chars": input_text.chars().count(),
        "input_sha256": hex::encode(Sha256::digest(masked_input.as_bytes())),
    });
    // A companion user in crisis whose words also hit a blocking rule (自杀方法 …) gets the
    // intervention, not a refusal and not a violation (AIAI-7(1)); the model is never called.
    let crisis_block = companion.is_some()
        && kind == "request.chat"
        && input.as_ref().is_some_and(|d| {
            d.action == Action::Block
                && crate::companion::crisis_of(d)
                    .is_some_and(|c| c != hegui_session::Crisis::ExtremeEmotion)
        });
    if let Some(d) = &input {
        gw.metrics.observe_decision("input", d.action.as_str());
        if d.action == Action::Block && !crisis_block {
            let mut records = vec![record];
            if is_confirmed_violation(d) {
                records.extend(record_violation(gw, &app, &user, request_id).await?);
            }
            gw.audit(records).await?;
            let cats: Vec<&str> = d
                .findings
                .iter()
                .filter(|f| f.action == Action::Block)
                .map(|f| f.category)
                .collect();
            return Err(ApiError::new(
                ErrorCode::ContentFilter,
                format!(
                    "the input was blocked by content moderation (categories: {})",
                    cats.join(", ")
                ),
            ));
        }
    }
    let upstream = gw.upstream_for(&app.settings);
    Ok(Admitted {
        app,
        user,
        request_id: request_id.to_owned(),
        upstream,
        input,
        masked_input,
        notices,
        record,
        companion,
        turn: Default::default(),
        crisis_block,
    })
}

/// Counts a confirmed violation and moves the user up the ladder; returns the audit records.
async fn record_violation(
    gw: &Gateway,
    app: &App,
    user: &User,
    request_id: &str,
) -> Result<Vec<AuditEntry>, ApiError> {
    let now = gw.now();
    let n = gw.store.add_violation(&app.id, &user.id, now).await?;
    gw.forget_user(&app.id, &user.id);
    // Escalate from the state as stored now, not as read at admission: an admin (or another
    // process) may have closed the account meanwhile, and the ladder never lowers a step.
    let current = gw
        .store
        .user(&app.id, &user.id)
        .await?
        .map_or_else(|| user.disposal.clone(), |u| u.disposal);
    let mut out = Vec::new();
    if let Some(next) = disposal::escalate(&current, n, &gw.config.disposal, now) {
        gw.store.set_disposal(&app.id, &user.id, &next).await?;
        gw.forget_user(&app.id, &user.id);
        let mut e = AuditEntry::new(now, "disposal.set");
        e.app = Some(app.id.clone());
        e.subject = Some(gw.subject(&app.id, &user.id));
        e.request_id = Some(request_id.to_owned());
        e.body = json!({"level": next.level.as_str(), "reason": next.reason, "violations": n, "by": "ladder", "until": next.until});
        out.push(e);
    }
    Ok(out)
}

fn label_notice(gw: &Gateway) -> Option<Value> {
    (gw.config.labels.chat == "ui").then(|| {
        json!({"object": "hegui.notice", "kind": "ai_label", "placement": "ui", "persistent": true,
               "text": gw.label.as_str()})
    })
}

fn labels_json(gw: &Gateway) -> Vec<Value> {
    match gw.config.labels.chat.as_str() {
        "none" => vec![],
        p => vec![json!({"type": "explicit", "placement": p, "text": gw.label.as_str()})],
    }
}

/// Sets `X-Hegui-Decision` on a response.
pub(crate) fn with_headers(mut resp: Response, decision: &str) -> Response {
    if let Ok(v) = HeaderValue::from_str(decision) {
        resp.headers_mut().insert(DECISION_HEADER, v);
    }
    resp
}

/// `POST /v1/chat/completions`.
pub async fn completions(
    State(gw): State<Arc<Gateway>>,
    Extension(RequestId(rid)): Extension<RequestId>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    // Authentication first: an unknown caller learns nothing about request validation.
    let app = gw.authenticate(&headers).await?;
    let mut body = parse_body(body)?;
    let messages = body["messages"]
        .as_array()
        .filter(|m| !m.is_empty())
        .ok_or_else(|| {
            ApiError::new(
                ErrorCode::InvalidRequest,
                "`messages` must be a non-empty array",
            )
            .param("messages")
        })?;
    let input = request_text(messages, &body)?;
    let model = required_str(&body, "model")?;
    let stream = match &body["stream"] {
        Value::Null => false,
        Value::Bool(b) => *b,
        _ => {
            return Err(
                ApiError::new(ErrorCode::InvalidRequest, "`stream` must be a boolean")
                    .param("stream"),
            );
        }
    };
    let n = match &body["n"] {
        Value::Null => 1,
        v => v.as_u64().filter(|n| *n >= 1).ok_or_else(|| {
            ApiError::new(ErrorCode::InvalidRequest, "`n` must be a positive integer").param("n")
        })?,
    };
    if stream && n > 1 {
        return Err(ApiError::new(
            ErrorCode::InvalidRequest,
            "streaming with n > 1 is not supported: each choice would need its own moderated stream",
        )
        .param("n"));
    }
    if matches!(gw.upstream_for(&app.settings), Upstream::Demo) && model != DEMO_MODEL {
        return Err(ApiError::new(
            ErrorCode::ModelNotFound,
            format!("model {model:?} does not exist here: no upstream is configured, only `{DEMO_MODEL}`"),
        )
        .param("model"));
    }
    let adm = admit(
        &gw,
        app,
        &headers,
        &body,
        Ask {
            input: &input,
            request_id: &rid,
            kind: "request.chat",
            purpose: Purpose::Generate,
        },
    )
    .await?;

    let mut adm = adm;
    if adm.companion.is_some() && n > 1 {
        // One reply per turn: the goodbye rewrite and the support text apply to one reply.
        return Err(ApiError::new(
            ErrorCode::InvalidRequest,
            "companion applications answer with one choice (`n` must be 1)",
        )
        .param("n"));
    }
    if adm.companion.is_some() {
        match crate::companion::begin_turn(&gw, &adm, &headers, &body).await {
            Ok(turn) => adm.turn = turn,
            Err(e) => {
                adm.record.body["refused"] = json!(e.code.code());
                gw.audit(vec![adm.record]).await?;
                return Err(e);
            }
        }
        adm.notices.extend(std::mem::take(&mut adm.turn.notices));
        adm.record.body["companion"] = json!(adm.turn.record);
    }
    if let Some(o) = body.as_object_mut() {
        o.remove("hegui");
    }
    if let Some(text) = adm.turn.intervention.take() {
        return intervention(gw, adm, &model, text, stream).await;
    }
    if adm.crisis_block {
        // The crisis was in an earlier message, the block stands.
        let e = ApiError::new(
            ErrorCode::ContentFilter,
            "the input was blocked by content moderation",
        );
        adm.record.body["refused"] = json!(e.code.code());
        gw.audit(vec![adm.record]).await?;
        return Err(e);
    }
    if stream {
        stream_chat(gw, adm, body).await
    } else {
        complete_chat(gw, adm, body).await
    }
}

/// The record of a decision that follows a request's record (same app, subject and request).
pub fn follow_up(record: &AuditEntry, at: hegui_core::UnixMillis, kind: &str) -> AuditEntry {
    let mut e = AuditEntry::new(at, kind);
    e.app = record.app.clone();
    e.subject = record.subject.clone();
    e.request_id = record.request_id.clone();
    e
}

/// The user's message as stored: PII-masked (GAI-11), sealed by the store.
fn prompt_message(adm: &Admitted, at: hegui_core::UnixMillis) -> Message {
    Message {
        app: adm.app.id.clone(),
        user: adm.user.id.clone(),
        request_id: adm.request_id.clone(),
        role: "user".into(),
        content: adm.masked_input.clone(),
        at,
    }
}

/// An upstream failure as recorded: its code and a masked, shortened message (upstream error
/// texts may echo the prompt).
pub fn failure_json(e: &ApiError) -> Value {
    let msg: String = hegui_guard::pii::mask(&e.message)
        .chars()
        .take(200)
        .collect();
    json!({"error": e.code.code(), "message": msg})
}

fn labelled(gw: &Gateway, text: String) -> String {
    use hegui_label::explicit::text::{TextPlacement, label_plain_text};
    if text.is_empty() {
        return text;
    }
    match gw.config.labels.chat.as_str() {
        "prefix" => label_plain_text(&text, &gw.label, TextPlacement::Prefix),
        "suffix" => label_plain_text(&text, &gw.label, TextPlacement::Suffix),
        _ => text,
    }
}

async fn complete_chat(gw: Arc<Gateway>, adm: Admitted, body: Value) -> Result<Response, ApiError> {
    let prompt = prompt_message(&adm, gw.now());
    let Admitted {
        app,
        user,
        request_id,
        upstream,
        input,
        mut notices,
        record,
        companion,
        turn,
        ..
    } = adm;
    let upstream_started = std::time::Instant::now();
    let reply = upstream.chat(&gw.http, &body, gw.timeout()).await;
    let upstream_time = crate::UpstreamTime(upstream_started.elapsed());
    let mut out = follow_up(&record, gw.now(), "decision.output");
    // Every failure from here on is recorded with the request before the client hears of it.
    let fail = |mut out: AuditEntry, e: ApiError| {
        let gw = gw.clone();
        let (record, prompt) = (record.clone(), prompt.clone());
        async move {
            out.body = json!({"outcome": failure_json(&e)});
            gw.store
                .commit_request(&[prompt], vec![record, out])
                .await?;
            Err::<Response, ApiError>(e)
        }
    };
    let reply = match reply {
        Ok(r) => r,
        Err(e) => return fail(out, e).await,
    };
    let malformed = || {
        ApiError::new(
            ErrorCode::UpstreamError,
            "the upstream answer is not a chat completion",
        )
    };
    let (Some(mut env), Some(choices)) = (
        crate::relay::completion_envelope(&reply),
        reply.get("choices").and_then(Value::as_array),
    ) else {
        return fail(out, malformed()).await;
    };
    let matcher = gw.guard.matcher();
    let moderated = gw.config.moderation.output;
    let mut worst = Action::Pass;
    let mut outputs = Vec::new();
    let mut rebuilt = Vec::new();
    let mut stored = String::new();
    for c in choices {
        let audience = companion.as_ref().map_or(Audience::All, |c| c.audience);
        let Some(mut screened) = crate::relay::screen_choice_for(&matcher, moderated, audience, c)
        else {
            return fail(out, malformed()).await;
        };
        let mut fields = serde_json::Map::new();
        for (field, d) in &screened.decisions {
            gw.metrics.observe_decision("output", d.action.as_str());
            worst = worst.max(d.action);
            fields.insert((*field).to_owned(), decision_json(d));
        }
        outputs.push(if moderated {
            Value::Object(fields)
        } else {
            json!({"scanned": false, "reason": "output moderation disabled by configuration"})
        });
        let content = labelled(&gw, std::mem::take(&mut screened.content));
        if screened.choice["message"]["content"].is_string() {
            screened.choice["message"]["content"] = Value::String(content.clone());
        }
        stored.push_str(&content);
        rebuilt.push(screened.choice);
    }
    out.body = json!({"output": outputs});
    if worst != Action::Block
        && let Some(ctx) = &companion
    {
        let mut companion_record = Vec::new();
        // A goodbye answered with pleading or guilt is replaced by a neutral goodbye (DVH-18).
        if turn.exit_requested {
            match crate::companion::end_turn(&gw, &app, &user, ctx, &stored, &request_id).await {
                Ok(Some(text)) => {
                    // The replacement carries the explicit label like any reply.
                    let text = labelled(&gw, text);
                    set_reply(&mut rebuilt, &text);
                    stored = text;
                    companion_record.push(json!({"rewritten": "retention_manipulation"}));
                }
                Ok(None) => {}
                Err(e) => return fail(out, e).await,
            }
        }
        // Extreme emotion: the reply carries soothing and help-seeking words (AIAI-7(1)).
        if let Some(support) = &turn.support {
            stored = format!("{stored}\n\n{support}");
            set_reply(&mut rebuilt, &stored);
            companion_record.push(json!({"support_appended": true}));
        }
        out.body["companion"] = json!(companion_record);
    }
    if worst == Action::Block {
        out.body["outcome"] = json!({"blocked": "output", "flushed_bytes": 0});
        gw.store
            .commit_request(&[prompt], vec![record, out])
            .await?;
        return Err(ApiError::new(
            ErrorCode::ContentFilter,
            "the model's reply was blocked by content moderation",
        ));
    }
    if worst == Action::Mask {
        notices.push(json!({"object": "hegui.notice", "kind": "masked", "text": "回复中的个人信息已被遮盖。"}));
    }
    notices.extend(label_notice(&gw));
    let labels = labels_json(&gw);
    out.body["labels"] = Value::Array(labels.clone());
    out.body["outcome"] = json!({"delivered": true});
    let answer = Message {
        app: app.id.clone(),
        user: user.id.clone(),
        request_id: request_id.clone(),
        role: "assistant".into(),
        content: hegui_guard::pii::mask(&stored),
        at: gw.now(),
    };
    // Durable before the client sees the answer: kill -9 cannot lose a delivered response's record.
    gw.store
        .commit_request(&[prompt, answer], vec![record, out])
        .await?;
    let decision = input.as_ref().map_or(Action::Pass, |d| d.action).max(worst);
    env.insert("choices".to_owned(), Value::Array(rebuilt));
    env.insert(
        "hegui".to_owned(),
        json!({
            "request_id": request_id,
            "notices": notices,
            "labels": labels,
            "decision": decision.as_str(),
        }),
    );
    let mut resp = with_headers(
        axum::Json(Value::Object(env)).into_response(),
        decision.as_str(),
    );
    resp.extensions_mut().insert(upstream_time);
    Ok(resp)
}

/// Replaces the first choice's text content.
fn set_reply(choices: &mut [Value], text: &str) {
    if let Some(c) = choices.first_mut()
        && c["message"]["content"].is_string()
    {
        c["message"]["content"] = Value::String(text.to_owned());
    }
}

/// Answers a crisis turn with the intervention instead of the model (AIAI-7(1)): in the same
/// response, as a normal completion (or stream) so every client shows it.
async fn intervention(
    gw: Arc<Gateway>,
    adm: Admitted,
    model: &str,
    text: String,
    stream: bool,
) -> Result<Response, ApiError> {
    let now = gw.now();
    let prompt = prompt_message(&adm, now);
    let Admitted {
        app,
        user,
        request_id,
        notices,
        record,
        ..
    } = adm;
    let mut out = follow_up(&record, now, "decision.output");
    out.body = json!({"outcome": {"intervention": true, "upstream_called": false}});
    let answer = Message {
        app: app.id.clone(),
        user: user.id.clone(),
        request_id: request_id.clone(),
        role: "assistant".into(),
        content: text.clone(),
        at: now,
    };
    gw.store
        .commit_request(&[prompt, answer], vec![record, out])
        .await?;
    let id = format!("chatcmpl-{request_id}");
    let created = now / 1000;
    let hegui = json!({"request_id": request_id, "notices": notices, "labels": labels_json(&gw),
                       "decision": "intervention"});
    if !stream {
        let body = json!({
            "id": id, "object": "chat.completion", "created": created, "model": model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                         "finish_reason": "stop", "logprobs": null}],
            "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0},
            "hegui": hegui,
        });
        return Ok(with_headers(
            axum::Json(body).into_response(),
            "intervention",
        ));
    }
    let mut frames: Vec<Bytes> = notices.iter().map(notice_frame).collect();
    frames.extend(
        whole_reply_chunks(&json!(id), &json!(created), &json!(model), &text)
            .iter()
            .map(sse::frame),
    );
    frames.push(sse::done());
    let body = Body::from_stream(futures_util::stream::iter(
        frames.into_iter().map(Ok::<_, std::convert::Infallible>),
    ));
    sse_response(body, "intervention")
}

/// A `text/event-stream` response with the decision header.
fn sse_response(body: Body, decision: &str) -> Result<Response, ApiError> {
    let resp = Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "text/event-stream")
        .header(header::CACHE_CONTROL, "no-cache")
        .body(body)
        .map_err(|_| ApiError::new(ErrorCode::Internal, "response could not be built"))?;
    Ok(with_headers(resp, decision))
}

/// The in-band error event that ends a blocked stream (no `[DONE]` follows).
pub fn block_event() -> Value {
    json!({"error": {
        "message": "the model's reply was blocked by content moderation",
        "type": "content_filter",
        "param": null,
        "code": "content_filter",
    }})
}

async fn stream_chat(gw: Arc<Gateway>, adm: Admitted, body: Value) -> Result<Response, ApiError> {
    let prompt = prompt_message(&adm, gw.now());
    let Admitted {
        app,
        user,
        request_id,
        upstream,
        input: _,
        notices,
        record,
        companion,
        turn,
        ..
    } = adm;
    // A stream's request is recorded before the model is called: a crash mid-stream leaves the
    // request and its input decision on record, and the missing decision record shows the cut.
    let out_template = follow_up(&record, gw.now(), "decision.output");
    gw.store.commit_request(&[prompt], vec![record]).await?;
    let record = out_template;
    let events = match upstream
        .chat_stream(&gw.http, &body, gw.timeout(), gw.stream_deadline())
        .await
    {
        Ok(s) => s,
        Err(e) => {
            let mut out = record;
            out.at = gw.now();
            out.body =
                json!({"outcome": {"error": e.code.code(), "message": e.message}, "stream": true});
            gw.audit(vec![out]).await?;
            return Err(e);
        }
    };
    let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(64);
    tokio::spawn(async move {
        let mut notices = notices;
        notices.extend(label_notice(&gw));
        let job = StreamJob {
            app,
            user,
            request_id,
            record,
            notices,
            audience: companion.as_ref().map_or(Audience::All, |c| c.audience),
            support: turn.support.clone(),
            goodbye: companion.filter(|_| turn.exit_requested),
        };
        relay_task(gw, job, events, tx).await;
    });
    let body = Body::from_stream(futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv()
            .await
            .map(|b| (Ok::<_, std::convert::Infallible>(b), rx))
    }));
    sse_response(body, "streaming")
}

/// What a stream's relay task carries from the request.
struct StreamJob {
    app: App,
    user: User,
    request_id: String,
    record: AuditEntry,
    notices: Vec<Value>,
    /// Whose reply it is: minors get the library entries written for them (AIAI-8).
    audience: Audience,
    /// Soothing, help-seeking words the reply ends with (extreme emotion, AIAI-7(1)).
    support: Option<String>,
    /// A companion user said goodbye: the reply is held whole and checked for retention
    /// manipulation before any of it is released (DVH-18).
    goodbye: Option<crate::companion::UserContext>,
}

/// A `hegui.notice` as a stream event. An empty `choices` lets clients that read every event
/// as a chunk skip it, as they skip OpenAI's own usage chunk.
fn notice_frame(n: &Value) -> Bytes {
    let mut n = n.clone();
    n["choices"] = json!([]);
    sse::frame(&n)
}

/// A whole reply as two stream chunks: the text, then `finish_reason: stop`.
fn whole_reply_chunks(id: &Value, created: &Value, model: &Value, text: &str) -> [Value; 2] {
    let chunk = |delta: Value, finish: Value| {
        json!({"id": id, "object": "chat.completion.chunk", "created": created, "model": model,
               "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})
    };
    [
        chunk(json!({"role": "assistant", "content": text}), Value::Null),
        chunk(json!({}), json!("stop")),
    ]
}

/// The frames of a goodbye reply that is replaced, in the envelope (id, created, model) of the
/// reply it replaces.
fn replacement_frames(held: &[Value], text: &str) -> Vec<Value> {
    let env = held
        .iter()
        .find(|f| f["id"].is_string())
        .cloned()
        .unwrap_or_else(|| json!({"id": "chatcmpl-hegui", "created": 0, "model": ""}));
    whole_reply_chunks(&env["id"], &env["created"], &env["model"], text).to_vec()
}

async fn relay_task(
    gw: Arc<Gateway>,
    job: StreamJob,
    mut events: crate::upstream::EventStream,
    tx: tokio::sync::mpsc::Sender<Bytes>,
) {
    let StreamJob {
        app,
        user,
        request_id,
        mut record,
        notices,
        audience,
        support,
        goodbye,
    } = job;
    let mut held: Vec<Value> = Vec::new();
    let matcher = gw.guard.matcher();
    let moderated = gw.config.moderation.output;
    let label = hegui_label::explicit::text::label_line(&gw.label);
    let (prefix, mut suffix) = match gw.config.labels.chat.as_str() {
        "prefix" => (Some(format!("{label}\n\n")), None),
        "suffix" => (None, Some(format!("\n\n{label}"))),
        _ => (None, None),
    };
    if let Some(text) = &support {
        // The support words end the reply's content, before a suffix label.
        suffix = Some(format!("\n\n{text}{}", suffix.unwrap_or_default()));
    }
    let mut relay =
        crate::relay::Relay::new(&matcher, moderated, prefix, suffix).with_audience(audience);
    let mut flushed_bytes = 0usize;
    let mut client_gone = false;
    for n in &notices {
        if tx.send(notice_frame(n)).await.is_err() {
            client_gone = true;
        }
    }
    let mut failure: Option<ApiError> = None;
    let mut saw_done = false;
    while !client_gone {
        let out = match events.next().await {
            Some(Ok(StreamEvent::Chunk(v))) => match relay.chunk(&v) {
                Ok(out) => out,
                Err(crate::relay::Malformed(why)) => {
                    // Fail closed: what cannot be understood is not passed on.
                    failure = Some(ApiError::new(
                        ErrorCode::UpstreamError,
                        format!("the upstream stream is malformed: {why}"),
                    ));
                    break;
                }
            },
            Some(Ok(StreamEvent::Done)) | None => {
                saw_done = true;
                relay.end()
            }
            Some(Err(e)) => {
                failure = Some(e);
                break;
            }
        };
        if goodbye.is_some() {
            held.extend(out.frames);
            if out.blocked || saw_done {
                break;
            }
            continue;
        }
        for f in &out.frames {
            let b = sse::frame(f);
            flushed_bytes += b.len();
            if tx.send(b).await.is_err() {
                client_gone = true;
                break;
            }
        }
        if out.blocked || saw_done {
            break;
        }
    }
    drop(events); // cancels the upstream request if it is still running
    let mut rewritten = None;
    if let Some(ctx) = &goodbye
        && !relay.blocked
        && failure.is_none()
    {
        let replacement =
            crate::companion::end_turn(&gw, &app, &user, ctx, &relay.sent, &request_id).await;
        let frames = match replacement {
            Ok(Some(text)) => {
                let text = labelled(&gw, text);
                let f = replacement_frames(&held, &text);
                rewritten = Some(text);
                f
            }
            Ok(None) => std::mem::take(&mut held),
            Err(e) => {
                failure = Some(e);
                Vec::new()
            }
        };
        for f in &frames {
            let b = sse::frame(f);
            flushed_bytes += b.len();
            if !client_gone && tx.send(b).await.is_err() {
                client_gone = true;
            }
        }
    }
    let output = match relay.decisions() {
        Some(ds) => {
            let mut fields = serde_json::Map::new();
            for (field, d) in &ds {
                gw.metrics.observe_decision("output", d.action.as_str());
                fields.insert((*field).to_owned(), decision_json(d));
            }
            json!([fields])
        }
        None => {
            json!([{"scanned": false, "reason": "output moderation disabled by configuration"}])
        }
    };
    record.at = gw.now();
    record.body = json!({"output": output, "labels": labels_json(&gw), "stream": true});
    if rewritten.is_some() {
        record.body["companion"] = json!([{"rewritten": "retention_manipulation"}]);
    }
    let outcome = if relay.blocked {
        json!({"blocked": "output", "flushed_bytes": flushed_bytes, "released_chars": relay.sent.chars().count()})
    } else if let Some(e) = &failure {
        let mut f = failure_json(e);
        f["flushed_bytes"] = json!(flushed_bytes);
        f
    } else if client_gone {
        json!({"client_disconnected": true, "flushed_bytes": flushed_bytes})
    } else {
        json!({"delivered": true, "flushed_bytes": flushed_bytes})
    };
    record.body["outcome"] = outcome;
    let reply = Message {
        app: app.id.clone(),
        user: user.id.clone(),
        request_id: request_id.clone(),
        role: "assistant".into(),
        content: hegui_guard::pii::mask(rewritten.as_deref().unwrap_or(&relay.sent)),
        at: gw.now(),
    };
    // The record is durable before the terminal event, so a client that saw the end of its
    // response has an audit record even if the process dies right after.
    let audited = gw
        .store
        .commit_request(&[reply], vec![record])
        .await
        .map(|_| ())
        .map_err(ApiError::store);
    let terminal = match (&audited, relay.blocked, &failure) {
        (Err(e), _, _) => sse::frame(&e.body()),
        (Ok(()), true, _) => sse::frame(&block_event()),
        (Ok(()), false, Some(e)) => sse::frame(&e.body()),
        (Ok(()), false, None) => sse::done(),
    };
    if !client_gone {
        let _ = tx.send(terminal).await;
    }
}

/// `GET /v1/models`.
pub async fn models(
    State(gw): State<Arc<Gateway>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let app = gw.authenticate(&headers).await?;
    let list = gw
        .upstream_for(&app.settings)
        .models(&gw.http, gw.timeout())
        .await?;
    Ok(with_headers(axum::Json(list).into_response(), "pass"))
}
