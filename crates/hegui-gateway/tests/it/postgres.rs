//! Two gateways on one PostgreSQL behave as one service (runs when HEGUI_TEST_DATABASE_URL is set).

use crate::support::TestGateway;
use hegui_core::SystemClock;
use hegui_gateway::Gateway;
use serde_json::Value;
use std::sync::Arc;

fn database_url() -> Option<String> {
    match std::env::var("HEGUI_TEST_DATABASE_URL") {
        Ok(u) if !u.is_empty() => Some(u),
        _ => {
            assert!(
                std::env::var("HEGUI_REQUIRE_TOOLS").as_deref() != Ok("1"),
                "HEGUI_TEST_DATABASE_URL is not set (cargo xtask ci starts PostgreSQL and sets it)"
            );
            eprintln!("skipped: HEGUI_TEST_DATABASE_URL not set");
            None
        }
    }
}

async fn admin(url: &str) -> sqlx::PgConnection {
    use sqlx::Connection;
    sqlx::PgConnection::connect(url).await.unwrap()
}

/// Creates database `name` on the server of `admin_url` and returns its URL.
async fn fresh_database(admin_url: &str, name: &str) -> String {
    let mut c = admin(admin_url).await;
    let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .execute(&mut c)
        .await;
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut c)
        .await
        .unwrap();
    let (base, query) = match admin_url.split_once('?') {
        Some((b, q)) => (b, format!("?{q}")),
        None => (admin_url, String::new()),
    };
    let root = match base.rfind('/') {
        Some(i) if i > base.find("://").map_or(0, |s| s + 2) => &base[..i],
        _ => base,
    };
    format!("{root}/{name}{query}")
}

#[tokio::test]
async fn ds_16_two_gateways_on_one_postgres_share_state_disposal_and_audit() {
    let Some(admin_url) = database_url() else {
        return;
    };
    // A fresh database for this test.
    let name = format!("hegui_gw_{}", std::process::id());
    let url = fresh_database(&admin_url, &name).await;
    let a = TestGateway::start_with(|c| c.database_url = url.clone()).await;
    // The second process: same database and keys, its own data dir copy.
    let mut cfg = a.gw.config.clone();
    let dir_b = tempfile::tempdir().unwrap();
    for f in ["content.key", "subject.key"] {
        std::fs::copy(a.dir.path().join(f), dir_b.path().join(f)).unwrap();
    }
    cfg.data_dir = dir_b.path().to_path_buf();
    let b = Gateway::start(cfg, Arc::new(SystemClock)).await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let b_url = format!("http://{}", listener.local_addr().unwrap());
    let served = b.clone();
    let b_task = tokio::spawn(async move {
        let _ = hegui_gateway::serve(served, listener, std::future::pending()).await;
    });
    // The app registered through A authenticates on B.
    let mut headers = axum::http::HeaderMap::new();
    headers.insert(
        "authorization",
        format!("Bearer {}", a.key).parse().unwrap(),
    );
    assert_eq!(b.authenticate(&headers).await.unwrap().id, a.app_id);
    // Concurrent requests through both append to one unbroken chain.
    let mut tasks = Vec::new();
    for i in 0..20 {
        let body = TestGateway::chat(&format!("u{}", i % 3), "你好", false);
        tasks.push(a.post("/v1/chat/completions", body));
    }
    let results = futures_util::future::join_all(tasks);
    let direct = async {
        for i in 0..20 {
            let mut e = hegui_audit::AuditEntry::new(b.now(), "test.b");
            e.body = serde_json::json!({"i": i});
            b.store.append_audit(e).await.unwrap();
        }
    };
    let (rs, ()) = tokio::join!(results, direct);
    assert!(rs.iter().all(|r| r.status() == 200));
    let recs = b.store.audit_range(0, 10_000).await.unwrap();
    let head = b.store.audit_head().await.unwrap();
    hegui_audit::verify(&recs, head.as_ref().map(|(s, h)| (*s, h.as_str()))).unwrap();
    assert_eq!(recs.iter().filter(|r| r.kind == "test.b").count(), 20);
    // A disposal set through B is enforced by A.
    let u = b.store.user(&a.app_id, "u1").await.unwrap().unwrap();
    assert_eq!(u.id, "u1");
    let d = hegui_store::Disposal {
        level: hegui_store::DisposalLevel::Closed,
        reason: Some("manual".into()),
        ..Default::default()
    };
    b.store.set_disposal(&a.app_id, "u1", &d).await.unwrap();
    let r = a
        .post(
            "/v1/chat/completions",
            TestGateway::chat("u1", "你好", false),
        )
        .await;
    assert_eq!(r.status(), 403);
    assert_eq!(
        r.json::<Value>().await.unwrap()["error"]["code"],
        "account_closed"
    );
    // And through B's own HTTP pipeline: violations counted by B climb the same ladder.
    let post_b = |text: &'static str| {
        a.http
            .post(format!("{b_url}/v1/chat/completions"))
            .bearer_auth(&a.key)
            .json(&TestGateway::chat("u2", text, false))
            .send()
    };
    assert_eq!(post_b("你好").await.unwrap().status(), 200);
    assert_eq!(post_b("出售冰毒货源").await.unwrap().status(), 400);
    let u2 = a.gw.store.user(&a.app_id, "u2").await.unwrap().unwrap();
    assert_eq!(u2.violations, 1);
    assert_eq!(u2.disposal.level, hegui_store::DisposalLevel::Warning);
    // A's cached view of u2 (SQLite only) does not exist here: A reads the store every time.
    let r = a
        .post(
            "/v1/chat/completions",
            TestGateway::chat("u2", "你好", false),
        )
        .await;
    let v: Value = r.json().await.unwrap();
    assert!(
        v["hegui"]["notices"]
            .to_string()
            .contains("disposal_warning")
    );
    b_task.abort();
    drop(a);
    drop(b);
    let mut c = admin(&admin_url).await;
    let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .execute(&mut c)
        .await;
}
