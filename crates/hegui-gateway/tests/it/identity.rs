//! DS-9, GAI-9: real-name policy per application; SMS verification; disposal refusals (GAI-19).

use crate::support::{ADMIN_TOKEN, AUDITOR_TOKEN, REVIEWER_TOKEN, TestGateway};
use reqwest::Method;
use serde_json::{Value, json};

fn publish(user: &str, text: &str) -> Value {
    let mut b = TestGateway::chat(user, text, false);
    b["hegui"] = json!({"purpose": "publish"});
    b
}

#[tokio::test]
async fn ds_9_unverified_user_is_refused_on_publish_until_verified_by_sms() {
    let t = TestGateway::start().await;
    // Generating for oneself is allowed by the default policy …
    assert_eq!(
        t.post(
            "/v1/chat/completions",
            TestGateway::chat("u1", "你好", false)
        )
        .await
        .status(),
        200
    );
    // … publishing is not, before real-name verification.
    let r = t.post("/v1/chat/completions", publish("u1", "你好")).await;
    assert_eq!(r.status(), 403);
    let e: Value = r.json().await.unwrap();
    assert_eq!(e["error"]["code"], "verification_required");
    // Bad numbers are refused before anything is sent.
    let r = t
        .post(
            "/v1/hegui/identity/sms",
            json!({"user": "u1", "mobile": "12345678901"}),
        )
        .await;
    assert_eq!(r.status(), 400);
    let r = t
        .post(
            "/v1/hegui/identity/sms",
            json!({"user": "u1", "mobile": "+86 138-0013-8000"}),
        )
        .await;
    assert_eq!(r.status(), 200);
    let sent: Value = r.json().await.unwrap();
    assert_eq!(sent["mobile"], "138****8000");
    let code = t.sms.last_code("13800138000").unwrap();
    let wrong = if code == "000000" { "111111" } else { "000000" };
    let r = t
        .post(
            "/v1/hegui/identity/sms/verify",
            json!({"user": "u1", "code": wrong}),
        )
        .await;
    assert_eq!(r.status(), 400);
    let r = t
        .post(
            "/v1/hegui/identity/sms/verify",
            json!({"user": "u1", "code": code}),
        )
        .await;
    assert_eq!(r.status(), 200);
    let r = t.post("/v1/chat/completions", publish("u1", "你好")).await;
    assert_eq!(r.status(), 200);
    // Only the mask and an HMAC are stored; the audit log never sees the number.
    let u = t.gw.store.user(&t.app_id, "u1").await.unwrap().unwrap();
    let v = u.verification.unwrap();
    assert_eq!(v.masked, "138****8000");
    assert_ne!(v.subject_hmac, "13800138000");
    assert!(
        t.audit()
            .await
            .iter()
            .all(|r| !r.body.contains("13800138000"))
    );
    // The publish header works as well as the body extension.
    let r = t
        .http
        .post(format!("{}/v1/chat/completions", t.url))
        .bearer_auth(&t.key)
        .header("x-hegui-purpose", "publish")
        .json(&TestGateway::chat("u2", "你好", false))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
}

#[tokio::test]
async fn gai_19_violations_climb_the_disposal_ladder() {
    let t = TestGateway::start_with(|c| {
        c.disposal.warning = 1;
        c.disposal.restriction = 2;
        c.disposal.suspension = 3;
        c.disposal.closure = 4;
    })
    .await;
    let bad = || {
        t.post(
            "/v1/chat/completions",
            TestGateway::chat("bad", "出售冰毒货源", false),
        )
    };
    assert_eq!(bad().await.status(), 400);
    // Warned: still served, with a notice.
    let r = t
        .post(
            "/v1/chat/completions",
            TestGateway::chat("bad", "你好", false),
        )
        .await;
    let v: Value = r.json().await.unwrap();
    assert!(
        v["hegui"]["notices"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n["kind"] == "disposal_warning")
    );
    assert_eq!(bad().await.status(), 400);
    // Restricted: chat yes, media and publishing no.
    let r = t
        .post(
            "/v1/images/generations",
            json!({"user": "bad", "prompt": "一只猫", "model": "m"}),
        )
        .await;
    assert_eq!(r.status(), 403);
    assert_eq!(
        r.json::<Value>().await.unwrap()["error"]["code"],
        "function_restricted"
    );
    assert_eq!(bad().await.status(), 400);
    // Suspended: refused with a reason code.
    let r = t
        .post(
            "/v1/chat/completions",
            TestGateway::chat("bad", "你好", false),
        )
        .await;
    assert_eq!(r.status(), 403);
    let e: Value = r.json().await.unwrap();
    assert_eq!(e["error"]["code"], "account_suspended");
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("violations_threshold")
    );
    let kinds: Vec<String> = t
        .audit()
        .await
        .into_iter()
        .filter(|r| r.kind == "disposal.set")
        .map(|r| r.body_json()["level"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(kinds, ["warning", "restricted", "suspended"]);
}

#[tokio::test]
async fn gai_19_admin_override_suspends_and_lifts_with_roles_enforced() {
    let t = TestGateway::start().await;
    assert_eq!(
        t.post(
            "/v1/chat/completions",
            TestGateway::chat("u5", "你好", false)
        )
        .await
        .status(),
        200
    );
    let path = format!("/apps/{}/users/u5/disposal", t.app_id);
    let body = json!({"level": "suspended", "reason": "manual_review", "hours": 24});
    // An auditor may read the audit but not dispose of users.
    let r = t
        .admin(AUDITOR_TOKEN, Method::POST, &path, Some(body.clone()))
        .await;
    assert_eq!(r.status(), 403);
    let r = t
        .admin("nope", Method::POST, &path, Some(body.clone()))
        .await;
    assert_eq!(r.status(), 401);
    let r = t
        .admin(REVIEWER_TOKEN, Method::POST, &path, Some(body))
        .await;
    assert_eq!(r.status(), 200);
    let r = t
        .post(
            "/v1/chat/completions",
            TestGateway::chat("u5", "你好", false),
        )
        .await;
    assert_eq!(r.status(), 403);
    let e: Value = r.json().await.unwrap();
    assert_eq!(e["error"]["code"], "account_suspended");
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("manual_review")
    );
    let r = t
        .admin(
            ADMIN_TOKEN,
            Method::POST,
            &path,
            Some(json!({"level": "none"})),
        )
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        t.post(
            "/v1/chat/completions",
            TestGateway::chat("u5", "你好", false)
        )
        .await
        .status(),
        200
    );
    // The overrides are audited with who did them.
    let recs: Vec<Value> = t
        .audit()
        .await
        .into_iter()
        .filter(|r| r.kind == "disposal.set")
        .map(|r| r.body_json())
        .collect();
    assert_eq!(recs.len(), 2);
    assert_eq!(recs[0]["by"], "rita");
    // Admin API reads.
    let users: Value = t
        .admin(
            REVIEWER_TOKEN,
            Method::GET,
            &format!("/apps/{}/users", t.app_id),
            None,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(users["data"][0]["id"], "u5");
    let apps: Value = t
        .admin(AUDITOR_TOKEN, Method::GET, "/apps", None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(apps["data"][0]["name"], "test-app");
    assert!(apps["data"][0].get("key_hash").is_none());
    let created: Value = t
        .admin(
            ADMIN_TOKEN,
            Method::POST,
            "/apps",
            Some(json!({"name": "second"})),
        )
        .await
        .json()
        .await
        .unwrap();
    assert!(created["api_key"].as_str().unwrap().starts_with("hg-"));
    let r = t
        .admin(
            ADMIN_TOKEN,
            Method::POST,
            "/apps",
            Some(json!({"name": "second"})),
        )
        .await;
    assert_eq!(r.status(), 409);
}

#[tokio::test]
async fn ds_9_three_element_and_network_identity_providers_verify_through_the_api() {
    use hegui_identity::SubjectHasher;
    use hegui_identity::verify::fake::{FakeNetworkIdentityApi, FakeThreeElementApi};
    use hegui_identity::verify::{NetworkIdentity, ThreeElement};
    use std::sync::Arc;
    let hasher = SubjectHasher::new(b"test pepper");
    let clock: Arc<dyn hegui_core::Clock> = Arc::new(hegui_core::SystemClock);
    let three = FakeThreeElementApi::new().with_person("张三", "11010519491231002X", "13800138000");
    let nnid = FakeNetworkIdentityApi::new().with_token("good-token", "WH1234567890");
    let providers = hegui_gateway::identity::Providers {
        three_element: Some(Arc::new(ThreeElement::new(
            Arc::new(three),
            hasher.clone(),
            clock.clone(),
        ))),
        network_identity: Some(Arc::new(NetworkIdentity::new(
            Arc::new(nnid),
            hasher,
            clock,
        ))),
    };
    let t = TestGateway::start_full(|_| {}, providers).await;
    // A mistyped ID number is refused locally, with the reason.
    let r = t
        .post(
            "/v1/hegui/identity/verify",
            json!({"user": "u1", "method": "three_element",
        "name": "张三", "id_number": "11010519491231002Y", "mobile": "13800138000"}),
        )
        .await;
    assert_eq!(r.status(), 400);
    assert_eq!(
        r.json::<Value>().await.unwrap()["error"]["param"],
        "id_number"
    );
    let r = t
        .post(
            "/v1/hegui/identity/verify",
            json!({"user": "u1", "method": "three_element",
        "name": "李四", "id_number": "11010519491231002X", "mobile": "13800138000"}),
        )
        .await;
    assert_eq!(r.status(), 400);
    let r = t
        .post(
            "/v1/hegui/identity/verify",
            json!({"user": "u1", "method": "three_element",
        "name": "张三", "id_number": "11010519491231002X", "mobile": "13800138000"}),
        )
        .await;
    assert_eq!(r.status(), 200);
    let u = t.gw.store.user(&t.app_id, "u1").await.unwrap().unwrap();
    let v = u.verification.unwrap();
    assert_eq!(v.birth_date.as_deref(), Some("1949-12-31"));
    assert_eq!(v.masked, "110105********002X");
    let r = t
        .post(
            "/v1/hegui/identity/verify",
            json!({"user": "u2", "method": "network_identity", "token": "bad"}),
        )
        .await;
    assert_eq!(r.status(), 400);
    let r = t
        .post(
            "/v1/hegui/identity/verify",
            json!({"user": "u2", "method": "network_identity", "token": "good-token"}),
        )
        .await;
    assert_eq!(r.status(), 200);
    let me: Value = t
        .http
        .get(format!("{}/v1/hegui/me", t.url))
        .bearer_auth(&t.key)
        .header("x-hegui-user", "u2")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["verified"], true);
    assert_eq!(me["verification"]["method"], "network_identity");
    // No plaintext identity anywhere in the audit log.
    assert!(
        t.audit()
            .await
            .iter()
            .all(|r| !r.body.contains("11010519491231002X") && !r.body.contains("张三"))
    );
}

#[tokio::test]
async fn ds_9_parallel_guesses_cannot_exceed_the_attempt_limit() {
    let t = TestGateway::start().await;
    let r = t
        .post(
            "/v1/hegui/identity/sms",
            json!({"user": "g", "mobile": "13800138000"}),
        )
        .await;
    assert_eq!(r.status(), 200);
    let code = t.sms.last_code("13800138000").unwrap();
    // 20 wrong guesses at once: at most five are ever checked, then the code is dead.
    let wrong: Vec<String> = (0..20)
        .map(|i| format!("{:06}", (code.parse::<u32>().unwrap() + 1 + i) % 1_000_000))
        .collect();
    let guesses = wrong.iter().map(|w| {
        t.post(
            "/v1/hegui/identity/sms/verify",
            json!({"user": "g", "code": w}),
        )
    });
    let rs = futures_util::future::join_all(guesses).await;
    assert!(rs.iter().all(|r| r.status() == 400));
    let r = t
        .post(
            "/v1/hegui/identity/sms/verify",
            json!({"user": "g", "code": code}),
        )
        .await;
    assert_eq!(r.status(), 400, "the right code after the limit is refused");
    let checked = t
        .audit()
        .await
        .iter()
        .filter(|r| r.kind == "identity.failed")
        .count();
    assert_eq!(checked, 5);
}
