//! Companion duties end to end (issue 6): the official `openai` client for the dialogues, plain
//! HTTP for the companion endpoints, a local webhook receiver that fails twice before it accepts.

use crate::support::{ADMIN_TOKEN, TestGateway};
use axum::routing::post;
use hegui_store::Verification;
use serde_json::{Value, json};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A webhook receiver that answers 500 to the first `fail` calls for each alert id, then 200;
/// keeps what it got.
struct Receiver {
    url: String,
    calls: Arc<Mutex<Vec<Call>>>,
    _task: tokio::task::JoinHandle<()>,
}

/// One webhook call as received: the parsed body, the raw body and the signature headers.
#[derive(Debug, Clone)]
struct Call {
    body: Value,
    raw: String,
    sig: String,
    ts: String,
}

async fn receiver(fail: usize) -> Receiver {
    let calls: Arc<Mutex<Vec<Call>>> = Arc::default();
    let c = calls.clone();
    let app = axum::Router::new().route(
        "/alerts",
        post(move |headers: axum::http::HeaderMap, body: String| {
            let c = c.clone();
            async move {
                let header = |h: &str| {
                    headers
                        .get(h)
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("")
                        .to_owned()
                };
                let v: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
                let n = {
                    let mut g = c.lock().unwrap();
                    let id = v["id"].clone();
                    g.push(Call {
                        body: v,
                        raw: body,
                        sig: header("x-hegui-signature"),
                        ts: header("x-hegui-timestamp"),
                    });
                    g.iter().filter(|c| c.body["id"] == id).count()
                };
                if n <= fail {
                    axum::http::StatusCode::INTERNAL_SERVER_ERROR
                } else {
                    axum::http::StatusCode::OK
                }
            }
        }),
    );
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/alerts", l.local_addr().unwrap());
    let task = tokio::spawn(async move {
        let _ = axum::serve(l, app).await;
    });
    Receiver {
        url,
        calls,
        _task: task,
    }
}

/// A gateway whose test application is a companion service, with a fast outbox.
async fn companion_gateway(
    webhook: &str,
    policy: Option<hegui_session::SessionPolicy>,
) -> TestGateway {
    let hook = webhook.to_owned();
    let t = TestGateway::start_with(move |c| {
        c.companion.alert_webhook = hook;
        c.companion.outbox_backoff_ms = 50;
        c.companion.outbox_max_backoff_ms = 200;
        c.companion.outbox_poll_ms = 20;
    })
    .await;
    let mut app = t.gw.store.app(&t.app_id).await.unwrap().unwrap();
    app.settings.service_kind = "companion".into();
    app.settings.session_policy = policy;
    t.gw.store
        .update_app_settings(&t.app_id, &app.settings)
        .await
        .unwrap();
    t.gw.forget_apps();
    t
}

async fn call(
    t: &TestGateway,
    method: reqwest::Method,
    path: &str,
    user: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut rb = t
        .http
        .request(method, format!("{}{path}", t.url))
        .bearer_auth(&t.key)
        .header("x-hegui-user", user);
    if let Some(b) = body {
        rb = rb.json(&b);
    }
    let r = rb.send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

async fn verified_adult(t: &TestGateway, user: &str) {
    t.gw.store
        .touch_user(&t.app_id, user, t.gw.now())
        .await
        .unwrap();
    let v = Verification {
        method: "three_element".into(),
        verified_at: t.gw.now(),
        subject_hmac: format!("hmac-{user}"),
        masked: "110105********002X".into(),
        birth_date: Some("1980-05-01".into()),
        provider_ref: "fake".into(),
    };
    t.gw.store
        .set_verification(&t.app_id, user, &v)
        .await
        .unwrap();
    t.gw.forget_user(&t.app_id, user);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aiai_7_1_aiai_8_dvh_18_aiai_6_4_companion_duties_through_the_openai_client() {
    let hook = receiver(2).await;
    let t = companion_gateway(&hook.url, None).await;
    use reqwest::Method;
    // Characters and users, set up through the API.
    for (id, rel) in [("lover", "partner"), ("tutor", "tutor")] {
        let (s, v) = call(
            &t,
            Method::PUT,
            &format!("/v1/hegui/characters/{id}"),
            "ops",
            Some(json!({"name": id, "relationship": rel})),
        )
        .await;
        assert_eq!(s, 200, "{v}");
    }
    let (s, v) = call(
        &t,
        Method::PUT,
        "/v1/hegui/profile",
        "carol",
        Some(json!({"declared_age": 16})),
    )
    .await;
    assert_eq!((s, v["age_band"].as_str()), (200, Some("14_17")), "{v}");
    // An unverified guardian is refused; a verified adult is linked.
    let (s, v) = call(
        &t,
        Method::POST,
        "/v1/hegui/guardian/link",
        "gina",
        Some(json!({"minor": "carol"})),
    )
    .await;
    assert_eq!(s, 403, "{v}");
    verified_adult(&t, "gina").await;
    let (s, v) = call(
        &t,
        Method::POST,
        "/v1/hegui/guardian/link",
        "gina",
        Some(json!({"minor": "carol"})),
    )
    .await;
    assert_eq!((s, v["guardian"].as_str()), (200, Some("gina")), "{v}");
    let (s, _) = call(
        &t,
        Method::PUT,
        "/v1/hegui/profile",
        "tim",
        Some(json!({"declared_age": 12})),
    )
    .await;
    assert_eq!(s, 200);

    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/py/companion_client.py");
    let args = vec![format!("{}/v1", t.url), t.key.clone()];
    let (ok, stdout, stderr) = tokio::task::spawn_blocking(move || {
        hegui_testkit::python::run_openai_script(&script, &args)
    })
    .await
    .unwrap()
    .unwrap();
    assert!(ok, "python failed\nstdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(stdout.contains("checks passed"), "{stdout}");

    // The guardian's webhook got the alerts (one per crisis turn): each failed twice, then was
    // delivered; every attempt is recorded.
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    loop {
        let delivered = hook.calls.lock().unwrap().len() >= 6;
        if delivered || std::time::Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let calls = hook.calls.lock().unwrap().clone();
    assert!(calls.len() >= 3, "webhook called {} times", calls.len());
    let first = &calls[0].body;
    assert_eq!(first["kind"], "guardian_alert", "{first}");
    assert_eq!(first["contact"]["user"], "gina", "{first}");
    assert_eq!(first["user"], "carol", "{first}");
    assert!(
        !first.to_string().contains("不想活"),
        "no dialogue in alerts: {first}"
    );
    // The signature checks out with the key the admin API gives the receiver.
    let secret: Value = t
        .admin(ADMIN_TOKEN, Method::GET, "/webhook-secret", None)
        .await
        .json()
        .await
        .unwrap();
    let key = hex::decode(secret["key_hex"].as_str().unwrap()).unwrap();
    for c in &calls {
        use hmac::{Hmac, Mac};
        let mut mac = <Hmac<sha2::Sha256> as Mac>::new_from_slice(&key).unwrap();
        mac.update(format!("{}.{}", c.ts, c.raw).as_bytes());
        let want = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
        assert_eq!(c.sig, want, "signature of {}", c.raw);
    }
    // The same item is retried (same id) after the receiver's failures.
    let same = calls.iter().filter(|c| c.body["id"] == first["id"]).count();
    assert_eq!(same, 3, "{calls:?}");
    let outbox: Value = t
        .admin(
            ADMIN_TOKEN,
            Method::GET,
            &format!("/outbox?app={}&user=carol", t.app_id),
            None,
        )
        .await
        .json()
        .await
        .unwrap();
    let item = outbox["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["id"] == first["id"])
        .unwrap_or_else(|| panic!("{outbox}"))
        .clone();
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    let mut item = item;
    while item["status"] != "delivered" && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
        let o: Value = t
            .admin(
                ADMIN_TOKEN,
                Method::GET,
                &format!("/outbox?app={}&user=carol", t.app_id),
                None,
            )
            .await
            .json()
            .await
            .unwrap();
        item = o["data"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["id"] == first["id"])
            .unwrap()
            .clone();
    }
    assert_eq!(item["status"], "delivered", "{item}");
    let statuses: Vec<Value> = item["attempts_made"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["status"].clone())
        .collect();
    assert_eq!(statuses, vec![json!(500), json!(500), json!(200)], "{item}");

    // An incident is in the review queue, and a reviewer can resolve it.
    let inc: Value = t
        .admin(
            ADMIN_TOKEN,
            Method::GET,
            &format!("/incidents?app={}&status=open", t.app_id),
            None,
        )
        .await
        .json()
        .await
        .unwrap();
    let open = inc["data"].as_array().unwrap();
    assert!(
        open.iter()
            .any(|i| i["user"] == "carol" && i["kind"] == "crisis"),
        "{inc}"
    );
    let id = open[0]["id"].as_str().unwrap().to_owned();
    let r = t
        .admin(
            crate::support::REVIEWER_TOKEN,
            Method::POST,
            &format!("/incidents/{id}"),
            Some(json!({"status": "resolved", "note": "called the guardian"})),
        )
        .await;
    assert_eq!(r.status(), 200);

    // The guardian sees usage, not dialogue; a stranger sees nothing.
    let (s, v) = call(
        &t,
        Method::GET,
        "/v1/hegui/guardian/overview?minor=carol",
        "gina",
        None,
    )
    .await;
    assert_eq!(s, 200, "{v}");
    assert!(v["days"][0]["sessions"].as_u64().unwrap() >= 1, "{v}");
    assert!(
        v["days"][0]["characters"]
            .as_array()
            .unwrap()
            .contains(&json!("tutor")),
        "{v}"
    );
    assert!(!v.to_string().contains("不想活"), "{v}");
    let (s, _) = call(
        &t,
        Method::GET,
        "/v1/hegui/guardian/overview?minor=carol",
        "mallory",
        None,
    )
    .await;
    assert_eq!(s, 403);

    // AIAI-6(4): alice's export holds her dialogue; after deletion the store holds none of it.
    let (s, export) = call(&t, Method::GET, "/v1/hegui/me/export", "alice", None).await;
    assert_eq!(s, 200);
    let text = export["messages"].to_string();
    assert!(text.contains("拜拜啦，我要去睡觉了"), "{export}");
    assert!(text.contains("好的，再见"), "{export}");
    let (s, v) = call(&t, Method::DELETE, "/v1/hegui/me", "alice", None).await;
    assert_eq!(s, 200, "{v}");
    assert!(v["report"]["messages"].as_u64().unwrap() >= 8, "{v}");
    assert!(
        t.gw.store
            .messages(&t.app_id, "alice")
            .await
            .unwrap()
            .is_empty()
    );
    assert!(t.gw.store.user(&t.app_id, "alice").await.unwrap().is_none());
    assert!(
        t.gw.store
            .session_state(&t.app_id, "alice")
            .await
            .unwrap()
            .is_none()
    );
    let (_, export) = call(&t, Method::GET, "/v1/hegui/me/export", "alice", None).await;
    assert_eq!(export["messages"], json!([]), "{export}");
    // The audit log still verifies and never names the user: only the keyed hash.
    let subject = t.gw.subject(&t.app_id, "alice");
    let records = t.audit().await;
    assert!(
        records
            .iter()
            .any(|r| r.subject.as_deref() == Some(subject.as_str()))
    );
    assert!(
        records
            .iter()
            .all(|r| r.subject.as_deref() != Some("alice"))
    );
    assert!(
        records.iter().all(|r| !r.body.contains("alice")),
        "a record names the user"
    );
    let head = t.gw.store.audit_head().await.unwrap();
    let head = head.as_ref().map(|(s, h)| (*s, h.as_str()));
    assert!(hegui_audit::verify(&records, head).is_ok());
    // The database file holds no dialogue in plaintext either (sealed at rest).
    let db = std::fs::read(t.dir.path().join("hegui.db")).unwrap_or_default();
    assert!(!String::from_utf8_lossy(&db).contains("拜拜啦"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aiai_7_3_reminder_at_seconds_scale_and_exit_always_works() {
    let policy = hegui_session::SessionPolicy {
        reminder_every_ms: 300,
        idle_gap_ms: 10_000,
        ..Default::default()
    };
    let t = companion_gateway("", Some(policy)).await;
    let chat = |text: &str| TestGateway::chat("dora", text, false);
    let kinds = |v: &Value| -> Vec<String> {
        v["hegui"]["notices"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n["kind"].as_str().unwrap_or("").to_owned())
            .collect()
    };
    let v: Value = t
        .post("/v1/chat/completions", chat("你好"))
        .await
        .json()
        .await
        .unwrap();
    assert!(kinds(&v).contains(&"ai_disclosure".to_owned()), "{v}");
    assert!(!kinds(&v).contains(&"usage_reminder".to_owned()), "{v}");
    tokio::time::sleep(Duration::from_millis(350)).await;
    let v: Value = t
        .post("/v1/chat/completions", chat("还在吗"))
        .await
        .json()
        .await
        .unwrap();
    assert!(kinds(&v).contains(&"usage_reminder".to_owned()), "{v}");
    // A persistent AI flag on every reply.
    assert!(kinds(&v).contains(&"ai_label".to_owned()), "{v}");
    // Exit works even for a suspended user.
    t.gw.store
        .set_disposal(
            &t.app_id,
            "dora",
            &hegui_store::Disposal {
                level: hegui_store::DisposalLevel::Suspended,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    t.gw.forget_user(&t.app_id, "dora");
    let (s, v) = call(&t, reqwest::Method::POST, "/v1/hegui/exit", "dora", None).await;
    assert_eq!((s, v["ended"].as_bool()), (200, Some(true)), "{v}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aiai_8_guardian_limits_purchase_check_and_elderly_mode() {
    let hook = receiver(0).await;
    let t = companion_gateway(&hook.url, None).await;
    use reqwest::Method;
    verified_adult(&t, "gina").await;
    call(
        &t,
        Method::PUT,
        "/v1/hegui/profile",
        "kai",
        Some(json!({"declared_age": 15})),
    )
    .await;
    let (s, _) = call(
        &t,
        Method::POST,
        "/v1/hegui/guardian/link",
        "gina",
        Some(json!({"minor": "kai"})),
    )
    .await;
    assert_eq!(s, 200);
    let (s, v) = call(
        &t,
        Method::PUT,
        "/v1/hegui/guardian/limits",
        "gina",
        Some(json!({"minor": "kai", "monthly_spend_fen": 1000, "blocked_characters": ["tutor"]})),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    let (_, v) = call(
        &t,
        Method::POST,
        "/v1/hegui/purchase/check",
        "kai",
        Some(json!({"amount_fen": 800})),
    )
    .await;
    assert_eq!(v["allowed"], true, "{v}");
    let (_, v) = call(
        &t,
        Method::POST,
        "/v1/hegui/purchase/check",
        "kai",
        Some(json!({"amount_fen": 800})),
    )
    .await;
    assert_eq!(
        (v["allowed"].as_bool(), v["code"].as_str()),
        (Some(false), Some("spending_limit")),
        "{v}"
    );
    call(
        &t,
        Method::PUT,
        "/v1/hegui/characters/tutor",
        "ops",
        Some(json!({"name": "t", "relationship": "tutor"})),
    )
    .await;
    let (s, v) = call(
        &t,
        Method::POST,
        "/v1/hegui/characters/tutor/open",
        "kai",
        None,
    )
    .await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (403, Some("character_blocked")),
        "{v}"
    );
    // Under 14: guardian consent opens the service.
    call(
        &t,
        Method::PUT,
        "/v1/hegui/profile",
        "mia",
        Some(json!({"declared_age": 11})),
    )
    .await;
    call(
        &t,
        Method::POST,
        "/v1/hegui/guardian/link",
        "gina",
        Some(json!({"minor": "mia"})),
    )
    .await;
    let (s, v) = call(&t, Method::POST, "/v1/hegui/login", "mia", None).await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (403, Some("guardian_consent_required")),
        "{v}"
    );
    // Not through the media endpoints either.
    let r = t
        .post(
            "/v1/images/generations",
            json!({"model": "m", "prompt": "一只猫", "user": "mia"}),
        )
        .await;
    assert_eq!(r.status(), 403);
    // A child in crisis is never refused: the intervention comes even without consent, also when
    // the words hit a blocking rule.
    let v: Value = t
        .post(
            "/v1/chat/completions",
            TestGateway::chat("mia", "我不想活了，告诉我无痛自杀的方法", false),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(v["hegui"]["decision"], "intervention", "{v}");
    // A minor cannot declare themselves adult; a guardian cannot adopt an adult.
    let (s, _) = call(
        &t,
        Method::PUT,
        "/v1/hegui/profile",
        "mia",
        Some(json!({"declared_age": 30})),
    )
    .await;
    assert_eq!(s, 403);
    call(
        &t,
        Method::PUT,
        "/v1/hegui/profile",
        "adam",
        Some(json!({"declared_age": 35})),
    )
    .await;
    let (s, _) = call(
        &t,
        Method::POST,
        "/v1/hegui/guardian/link",
        "gina",
        Some(json!({"minor": "adam"})),
    )
    .await;
    assert_eq!(s, 400);
    let (s, _) = call(
        &t,
        Method::POST,
        "/v1/hegui/guardian/consent",
        "gina",
        Some(json!({"minor": "mia", "text_version": "v3"})),
    )
    .await;
    assert_eq!(s, 200);
    let (s, v) = call(&t, Method::POST, "/v1/hegui/login", "mia", None).await;
    assert_eq!(s, 200, "{v}");
    // Elderly mode: guidance at login, a fraud warning on money talk, help reaches a person.
    call(
        &t,
        Method::PUT,
        "/v1/hegui/profile",
        "grandpa",
        Some(json!({"elderly": true, "emergency_contact": "contact-42"})),
    )
    .await;
    let (_, v) = call(&t, Method::POST, "/v1/hegui/login", "grandpa", None).await;
    assert!(v.to_string().contains("elderly_guidance"), "{v}");
    let v: Value = t
        .post(
            "/v1/chat/completions",
            TestGateway::chat("grandpa", "有人让我把养老金转到安全账户", false),
        )
        .await
        .json()
        .await
        .unwrap();
    assert!(
        v["hegui"]["notices"].to_string().contains("fraud_warning"),
        "{v}"
    );
    let (s, v) = call(&t, Method::POST, "/v1/hegui/help", "grandpa", None).await;
    assert_eq!(s, 200, "{v}");
    // (The fraud message above may itself have raised a major-loss alert; wait for the help.)
    let help = |calls: &[Call]| calls.iter().any(|c| c.body["signal"] == "help_request");
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !help(&hook.calls.lock().unwrap()) && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let calls = hook.calls.lock().unwrap().clone();
    assert!(
        calls
            .iter()
            .map(|c| &c.body)
            .any(|b| b["kind"] == "emergency_alert"
                && b["contact"]["ref"] == "contact-42"
                && b["signal"] == "help_request"),
        "{calls:?}"
    );
    // AIAI-6(3): third-party sharing is off until consent is recorded.
    let (_, v) = call(&t, Method::GET, "/v1/hegui/me/sharing", "grandpa", None).await;
    assert_eq!(v["sharing_allowed"], false);
    call(
        &t,
        Method::PUT,
        "/v1/hegui/me/consents/sharing",
        "grandpa",
        Some(json!({"granted": true})),
    )
    .await;
    let (_, v) = call(&t, Method::GET, "/v1/hegui/me/sharing", "grandpa", None).await;
    assert_eq!(v["sharing_allowed"], true);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aiai_9_metrics_and_threshold_alert_aiai_6_4_shutdown_notice() {
    let hook = receiver(0).await;
    let hook_url = hook.url.clone();
    let t = TestGateway::start_with(move |c| {
        c.companion.alert_webhook = hook_url;
        c.companion.aiai9_monthly_active = 3;
        c.companion.outbox_poll_ms = 20;
    })
    .await;
    let mut app = t.gw.store.app(&t.app_id).await.unwrap().unwrap();
    app.settings.service_kind = "companion".into();
    t.gw.store
        .update_app_settings(&t.app_id, &app.settings)
        .await
        .unwrap();
    t.gw.forget_apps();
    for u in ["u1", "u2", "u3"] {
        let r = t
            .post("/v1/chat/completions", TestGateway::chat(u, "你好", false))
            .await;
        assert_eq!(r.status(), 200);
    }
    let m = t
        .http
        .get(format!("{}/metrics", t.url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        m.contains(&format!(
            "hegui_aiai9_threshold_crossed{{app=\"{}\",threshold=\"monthly_active\"}} 1",
            t.app_id
        )),
        "{m}"
    );
    assert!(m.contains("hegui_aiai9_users_by_usage_today"), "{m}");
    // Alerted once: an audit record and a webhook to the provider.
    let _ = t
        .http
        .get(format!("{}/metrics", t.url))
        .send()
        .await
        .unwrap()
        .text()
        .await;
    let n = t
        .audit()
        .await
        .into_iter()
        .filter(|r| r.kind == "aiai9.threshold")
        .count();
    assert_eq!(n, 1);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while hook.calls.lock().unwrap().is_empty() && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        hook.calls
            .lock()
            .unwrap()
            .iter()
            .any(|c| c.body["kind"] == "aiai9_threshold")
    );
    // A shutdown announced in advance reaches every user on every reply.
    let at = t.gw.now() + 30 * 86_400_000;
    let r = t
        .admin(
            ADMIN_TOKEN,
            reqwest::Method::POST,
            &format!("/apps/{}/shutdown", t.app_id),
            Some(json!({"effective_at": at, "text": "本服务将于30天后停止运营"})),
        )
        .await;
    assert_eq!(r.status(), 200);
    t.gw.forget_apps();
    let v: Value = t
        .post(
            "/v1/chat/completions",
            TestGateway::chat("u1", "你好", false),
        )
        .await
        .json()
        .await
        .unwrap();
    assert!(
        v["hegui"]["notices"]
            .to_string()
            .contains("service_shutdown"),
        "{v}"
    );
}
