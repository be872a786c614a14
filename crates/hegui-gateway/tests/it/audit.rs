//! DS-16, DVH-15: one record per request and decision, hash-chained, verifiable, purged keeping
//! the chain verifiable.

use crate::support::{ADMIN_TOKEN, AUDITOR_TOKEN, TestGateway};
use reqwest::Method;
use serde_json::Value;

#[tokio::test]
async fn ds_16_every_request_is_audited_and_the_chain_verifies() {
    let t = TestGateway::start().await;
    for i in 0..5 {
        let r = t
            .post(
                "/v1/chat/completions",
                TestGateway::chat(&format!("u{i}"), "你好", i % 2 == 0),
            )
            .await;
        let _ = r.text().await.unwrap();
    }
    let recs = t.audit().await;
    assert_eq!(recs.iter().filter(|r| r.kind == "request.chat").count(), 5);
    // One record per request and one per output decision, linked by the request id.
    let decisions: Vec<_> = recs
        .iter()
        .filter(|r| r.kind == "decision.output")
        .collect();
    assert_eq!(decisions.len(), 5);
    for d in &decisions {
        assert!(
            recs.iter()
                .any(|r| r.kind == "request.chat" && r.request_id == d.request_id)
        );
        assert_eq!(d.body_json()["outcome"]["delivered"], true);
    }
    let head = t.gw.store.audit_head().await.unwrap();
    hegui_audit::verify(&recs, head.as_ref().map(|(s, h)| (*s, h.as_str()))).unwrap();
    let v: Value = t
        .admin(AUDITOR_TOKEN, Method::GET, "/audit/verify", None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(v["ok"], true, "{v}");
    // Queries by request id find the request's record.
    let rid = recs
        .iter()
        .find(|r| r.kind == "request.chat")
        .unwrap()
        .request_id
        .clone()
        .unwrap();
    let q: Value = t
        .admin(
            ADMIN_TOKEN,
            Method::GET,
            &format!("/audit?request_id={rid}"),
            None,
        )
        .await
        .json()
        .await
        .unwrap();
    // The request record and its decision record.
    assert_eq!(q["data"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn ds_16_purge_past_retention_keeps_the_chain_verifiable() {
    let t = TestGateway::start().await;
    for i in 0..3 {
        t.post(
            "/v1/chat/completions",
            TestGateway::chat(&format!("u{i}"), "你好", false),
        )
        .await;
    }
    let before = t.audit().await;
    // Everything so far is older than a cutoff one second from now.
    let now = t.gw.now() + 1_000;
    let n = t.gw.store.purge_audit(now, now).await.unwrap();
    assert_eq!(
        n as usize,
        before.len() - 1,
        "all but the newest record are purged"
    );
    let after = t.audit().await;
    assert!(after.iter().any(|r| r.kind == hegui_audit::PURGE_KIND));
    let v: Value = t
        .admin(AUDITOR_TOKEN, Method::GET, "/audit/verify", None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(v["ok"], true, "{v}");
}

#[tokio::test]
async fn ds_16_retention_purge_keeps_six_months_and_the_chain() {
    use hegui_core::ManualClock;
    // A gateway whose clock stands 200 days ago, then today.
    let clock = std::sync::Arc::new(ManualClock::new(1_700_000_000_000));
    let upstream = hegui_testkit::FakeUpstream::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let cfg = crate::support::config(dir.path(), &upstream.base_url());
    let gw = hegui_gateway::Gateway::start(cfg, clock.clone())
        .await
        .unwrap();
    let mut old = hegui_audit::AuditEntry::new(gw.now(), "test.old");
    old.body = serde_json::json!({"n": 1});
    gw.store.append_audit(old).await.unwrap();
    clock.advance(std::time::Duration::from_secs(100 * 86_400));
    gw.store
        .append_audit(hegui_audit::AuditEntry::new(gw.now(), "test.recent"))
        .await
        .unwrap();
    clock.advance(std::time::Duration::from_secs(100 * 86_400));
    gw.store
        .append_audit(hegui_audit::AuditEntry::new(gw.now(), "test.today"))
        .await
        .unwrap();
    // 180 days: the 200-day-old record goes, the 100-day-old one stays.
    assert_eq!(gw.purge_audit().await.unwrap(), 1);
    let kinds: Vec<String> = gw
        .store
        .audit_range(0, 100)
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.kind)
        .collect();
    assert_eq!(
        kinds,
        ["test.recent", "test.today", hegui_audit::PURGE_KIND]
    );
    let report = hegui_gateway::admin::verify_chain(gw.store.as_ref())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(report.purged, 1);
}
