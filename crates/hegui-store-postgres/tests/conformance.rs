//! The store conformance suite on PostgreSQL, plus checks that need raw tables.
//!
//! Needs `HEGUI_TEST_DATABASE_URL` (an admin URL such as the one `cargo xtask` prints, e.g.
//! `postgres://postgres@127.0.0.1:54329/postgres`). Without it the tests print a skip line and
//! pass, unless `HEGUI_REQUIRE_TOOLS=1`, when they fail. Each test creates its own database and
//! drops it at the end, so the tests run in parallel and repeatedly.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::atomic::{AtomicU32, Ordering};

use hegui_store::{AuditEntry, Message, Sealer, Store};
use hegui_store_postgres::{PgOptions, PgStore};
use sqlx::postgres::PgConnectOptions;
use sqlx::{Connection, Executor, PgConnection};

const ENV: &str = "HEGUI_TEST_DATABASE_URL";

fn sealer() -> Sealer {
    Sealer::new(&[42; 32])
}

/// A database of its own for one test.
struct TestDb {
    admin: PgConnectOptions,
    name: String,
    url: String,
}

impl TestDb {
    /// Creates a fresh database, or returns `None` (after printing why) when no server is set.
    async fn create(test: &str) -> Option<Self> {
        let admin_url = match std::env::var(ENV) {
            Ok(url) if !url.trim().is_empty() => url,
            _ => {
                if std::env::var("HEGUI_REQUIRE_TOOLS").as_deref() == Ok("1") {
                    panic!(
                        "{ENV} is not set but HEGUI_REQUIRE_TOOLS=1: the PostgreSQL conformance \
                         tests must run (start a server with `cargo xtask ci` or set {ENV} to \
                         postgres://USER@HOST:PORT/DB of a role that may CREATE DATABASE)"
                    );
                }
                eprintln!("skipping {test}: {ENV} is not set (no PostgreSQL to test against)");
                return None;
            }
        };
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        let name = format!(
            "hegui_test_{}_{}_{nanos}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::SeqCst)
        );
        let admin: PgConnectOptions = admin_url.parse().expect("HEGUI_TEST_DATABASE_URL parses");
        let mut conn = PgConnection::connect_with(&admin)
            .await
            .unwrap_or_else(|e| panic!("cannot connect to {ENV}={admin_url}: {e}"));
        conn.execute(format!("CREATE DATABASE {name}").as_str())
            .await
            .unwrap();
        conn.close().await.unwrap();
        let url = with_database(&admin_url, &name);
        Some(Self { admin, name, url })
    }

    fn options(&self) -> PgConnectOptions {
        self.admin.clone().database(&self.name)
    }

    async fn store(&self) -> PgStore {
        PgStore::connect_with(self.options(), sealer(), PgOptions::default())
            .await
            .unwrap()
    }

    async fn drop_db(self) {
        let mut conn = PgConnection::connect_with(&self.admin).await.unwrap();
        conn.execute(format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name).as_str())
            .await
            .unwrap();
        conn.close().await.unwrap();
    }
}

/// `url` with its database replaced by `name` (keeps user, host, port and parameters).
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let host_end = base[scheme_end..]
        .find('/')
        .map_or(base.len(), |i| scheme_end + i);
    let mut out = format!("{}/{name}", &base[..host_end]);
    if let Some(q) = query {
        out.push('?');
        out.push_str(q);
    }
    out
}

#[test]
fn with_database_replaces_only_the_path() {
    assert_eq!(
        with_database("postgres://u@h:1/postgres?sslmode=disable", "x"),
        "postgres://u@h:1/x?sslmode=disable"
    );
    assert_eq!(with_database("postgres://u@h:1", "x"), "postgres://u@h:1/x");
}

#[tokio::test]
async fn ds_16_conformance() {
    let Some(db) = TestDb::create("ds_16_conformance").await else {
        return;
    };
    let store = db.store().await;
    hegui_store::testing::conformance(&store).await;
    store.close().await;
    db.drop_db().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ds_16_two_processes_append_to_one_chain() {
    let Some(db) = TestDb::create("ds_16_two_processes_append_to_one_chain").await else {
        return;
    };
    // Two pools stand in for two gateway processes: they share nothing but the database.
    let (a, b) = tokio::join!(db.store(), db.store());
    hegui_store::testing::concurrent_appends(&a, &b).await;
    a.close().await;
    b.close().await;
    db.drop_db().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aiai_7_1_two_processes_never_claim_one_outbox_item_twice() {
    let Some(db) = TestDb::create("aiai_7_1_two_processes_claim_outbox").await else {
        return;
    };
    let (a, b) = tokio::join!(db.store(), db.store());
    hegui_store::testing::concurrent_outbox_claims(&a, &b).await;
    a.close().await;
    b.close().await;
    db.drop_db().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ds_16_processes_starting_together_migrate_once() {
    let Some(db) = TestDb::create("ds_16_processes_starting_together_migrate_once").await else {
        return;
    };
    // Four processes start at once on an empty database, through the URL form of open().
    let (a, b, c, d) = tokio::join!(
        PgStore::open(&db.url, sealer()),
        PgStore::open(&db.url, sealer()),
        PgStore::open(&db.url, sealer()),
        PgStore::open(&db.url, sealer()),
    );
    let stores = [a.unwrap(), b.unwrap(), c.unwrap(), d.unwrap()];
    let versions: Vec<i64> = sqlx::query_scalar("SELECT version FROM schema_migrations")
        .fetch_all(stores[0].pool())
        .await
        .unwrap();
    assert_eq!(versions, [1, 2], "each migration applied once");
    let heads: i64 = sqlx::query_scalar("SELECT count(*) FROM audit_head")
        .fetch_one(stores[0].pool())
        .await
        .unwrap();
    assert_eq!(heads, 1);
    for s in &stores {
        s.migrate().await.unwrap();
        s.close().await;
    }
    db.drop_db().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ds_10_two_processes_count_violations_as_one() {
    let Some(db) = TestDb::create("ds_10_two_processes_count_violations_as_one").await else {
        return;
    };
    let (a, b) = tokio::join!(db.store(), db.store());
    a.touch_user("app_1", "u1", 1).await.unwrap();
    let count = |s: PgStore| async move {
        let mut seen = Vec::new();
        for i in 0..50 {
            seen.push(s.add_violation("app_1", "u1", i).await.unwrap());
        }
        seen
    };
    let (sa, sb) = tokio::join!(count(a.clone()), count(b.clone()));
    let mut all: Vec<u32> = sa.into_iter().chain(sb).collect();
    all.sort_unstable();
    assert_eq!(
        all,
        (1..=100).collect::<Vec<u32>>(),
        "every increment seen exactly once"
    );
    assert_eq!(
        b.user("app_1", "u1").await.unwrap().unwrap().violations,
        100
    );
    a.close().await;
    b.close().await;
    db.drop_db().await;
}

#[tokio::test]
async fn gai_11_no_plaintext_message_content_in_the_database() {
    let Some(db) = TestDb::create("gai_11_no_plaintext_message_content_in_the_database").await
    else {
        return;
    };
    let store = db.store().await;
    let canary = "机密对话-CANARY-7d1e3f-我的身份证号已掩码";
    store
        .put_message(&Message {
            app: "app_1".into(),
            user: "u1".into(),
            request_id: "req-1".into(),
            role: "user".into(),
            content: canary.into(),
            at: 1,
        })
        .await
        .unwrap();
    let raw: Vec<u8> = sqlx::query_scalar("SELECT content FROM messages")
        .fetch_one(store.pool())
        .await
        .unwrap();
    assert!(!raw.windows(6).any(|w| w == b"CANARY"));
    assert_eq!(
        sealer().open(&raw).unwrap(),
        canary,
        "the raw column is the sealed form"
    );
    assert!(
        Sealer::new(&[1; 32]).open(&raw).is_err(),
        "another key cannot open it"
    );
    // No table holds the text, as text or as bytes.
    for table in [
        "apps",
        "users",
        "challenges",
        "messages",
        "audit",
        "audit_head",
        "schema_migrations",
    ] {
        let n: i64 = sqlx::query_scalar(&format!(
            "SELECT count(*) FROM {table} t WHERE t::text LIKE '%CANARY%' \
             OR position(convert_to('CANARY', 'UTF8') IN convert_to(t::text, 'UTF8')) > 0"
        ))
        .fetch_one(store.pool())
        .await
        .unwrap();
        assert_eq!(n, 0, "plaintext found in table {table}");
    }
    let n: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM messages WHERE position(convert_to($1, 'UTF8') IN content) > 0",
    )
    .bind("CANARY")
    .fetch_one(store.pool())
    .await
    .unwrap();
    assert_eq!(n, 0, "plaintext bytes in messages.content");
    // A store opened with the wrong key fails loudly instead of returning garbage.
    let wrong = PgStore::connect_with(db.options(), Sealer::new(&[9; 32]), PgOptions::default())
        .await
        .unwrap();
    assert!(matches!(
        wrong.messages("app_1", "u1").await,
        Err(hegui_store::StoreError::Seal(_))
    ));
    wrong.close().await;
    store.close().await;
    db.drop_db().await;
}

#[tokio::test]
async fn ds_16_cut_tail_and_edited_record_are_detected() {
    let Some(db) = TestDb::create("ds_16_cut_tail_and_edited_record_are_detected").await else {
        return;
    };
    let store = db.store().await;
    for i in 0..5 {
        store
            .append_audit(AuditEntry::new(1_000 + i, "request.chat"))
            .await
            .unwrap();
    }
    let verify = |records: &[hegui_store::AuditRecord], head: &Option<(u64, String)>| {
        hegui_audit::verify(records, head.as_ref().map(|(s, h)| (*s, h.as_str())))
    };
    // Someone deletes the newest row directly: the separate head notices.
    sqlx::query("DELETE FROM audit WHERE seq = 4")
        .execute(store.pool())
        .await
        .unwrap();
    let head = store.audit_head().await.unwrap();
    let records = store.audit_range(0, 100).await.unwrap();
    assert!(matches!(
        verify(&records, &head),
        Err(hegui_audit::VerifyError::Truncated { .. })
    ));
    // Someone edits a row: the hash notices.
    sqlx::query("UPDATE audit SET kind = 'nothing.happened' WHERE seq = 1")
        .execute(store.pool())
        .await
        .unwrap();
    let records = store.audit_range(0, 100).await.unwrap();
    assert!(matches!(
        verify(&records, &None),
        Err(hegui_audit::VerifyError::Edited { seq: 1, .. })
    ));
    store.close().await;
    db.drop_db().await;
}

#[tokio::test]
async fn unreachable_server_is_unavailable() {
    // Port 1 on localhost: nothing listens; the store fails closed with Unavailable.
    let opts = PgOptions {
        acquire_timeout: std::time::Duration::from_secs(2),
        ..PgOptions::default()
    };
    let err = PgStore::open_with("postgres://nobody@127.0.0.1:1/none", sealer(), opts)
        .await
        .unwrap_err();
    assert!(
        matches!(err, hegui_store::StoreError::Unavailable(_)),
        "{err}"
    );
}
