//! The store conformance suite on SQLite, plus checks that need the raw file.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use hegui_store::{AuditEntry, Message, Sealer, Store};
use hegui_store_sqlite::{SqliteOptions, SqliteStore, Synchronous};

fn sealer() -> Sealer {
    Sealer::new(&[42; 32])
}

async fn open(path: &Path) -> SqliteStore {
    SqliteStore::open(path, sealer()).await.unwrap()
}

#[tokio::test]
async fn ds_16_conformance() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir.path().join("hegui.db")).await;
    hegui_store::testing::conformance(&store).await;
}

#[tokio::test]
async fn ds_16_conformance_in_memory_and_full_sync() {
    let store = SqliteStore::open_url("sqlite::memory:", sealer())
        .await
        .unwrap();
    hegui_store::testing::conformance(&store).await;

    let dir = tempfile::tempdir().unwrap();
    let url = format!(
        "sqlite://{}?synchronous=full",
        dir.path().join("full.db").display()
    );
    let store = SqliteStore::open_url(&url, sealer()).await.unwrap();
    let sync: i64 = sqlx::query_scalar("PRAGMA synchronous")
        .fetch_one(store.pool())
        .await
        .unwrap();
    assert_eq!(sync, 2, "synchronous=FULL");
    hegui_store::testing::conformance(&store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ds_16_concurrent_appends_from_two_handles_keep_one_chain() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("shared.db");
    // Two pools on one file stand in for two processes: they share nothing but SQLite's locks.
    let (a, b) = tokio::join!(open(&path), open(&path));
    hegui_store::testing::concurrent_appends(&a, &b).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aiai_7_1_two_handles_never_claim_one_outbox_item_twice() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("outbox.db");
    // Opened one after the other: this test is about claims, not about opening a new file.
    let a = open(&path).await;
    let b = open(&path).await;
    hegui_store::testing::concurrent_outbox_claims(&a, &b).await;
}

#[tokio::test]
async fn open_creates_the_file_with_wal_and_normal_sync() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("new-dir").join("hegui.db");
    assert!(!path.exists());
    let store = open(&path).await;
    assert!(path.exists(), "open creates the file");
    let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
        .fetch_one(store.pool())
        .await
        .unwrap();
    assert_eq!(mode, "wal");
    let sync: i64 = sqlx::query_scalar("PRAGMA synchronous")
        .fetch_one(store.pool())
        .await
        .unwrap();
    assert_eq!(sync, 1, "synchronous=NORMAL by default");
    let busy: i64 = sqlx::query_scalar("PRAGMA busy_timeout")
        .fetch_one(store.pool())
        .await
        .unwrap();
    assert!(busy >= 1_000, "busy_timeout set");
    // Migrations ran once and are recorded.
    let versions: Vec<i64> = sqlx::query_scalar("SELECT version FROM schema_migrations")
        .fetch_all(store.pool())
        .await
        .unwrap();
    assert_eq!(versions, [1, 2, 3]);
    store.close().await;
    // Reopening keeps the data and does not migrate again.
    let store = open(&path).await;
    store.migrate().await.unwrap();
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM schema_migrations")
        .fetch_one(store.pool())
        .await
        .unwrap();
    assert_eq!(n, 3);
}

#[tokio::test]
async fn open_url_forms() {
    let dir = tempfile::tempdir().unwrap();
    let abs = dir.path().join("abs.db");
    SqliteStore::open_url(&format!("sqlite://{}", abs.display()), sealer())
        .await
        .unwrap();
    assert!(abs.exists(), "sqlite:///abs/path");
    let other = dir.path().join("short.db");
    SqliteStore::open_url(&format!("sqlite:{}", other.display()), sealer())
        .await
        .unwrap();
    assert!(other.exists(), "sqlite:PATH");
    assert!(
        SqliteStore::open_url("postgres://x/y", sealer())
            .await
            .is_err()
    );
    assert!(SqliteStore::open_url("sqlite://", sealer()).await.is_err());
    let bad = format!("sqlite://{}?fsync=always", abs.display());
    assert!(SqliteStore::open_url(&bad, sealer()).await.is_err());
    let opts = SqliteOptions {
        synchronous: Synchronous::Full,
        ..SqliteOptions::default()
    };
    SqliteStore::open_with(&abs, sealer(), opts).await.unwrap();
}

/// Every byte of the database: the main file, the WAL and the shared-memory index.
fn database_bytes(path: &Path) -> Vec<u8> {
    let mut all = Vec::new();
    for suffix in ["", "-wal", "-shm", "-journal"] {
        let mut p = path.as_os_str().to_owned();
        p.push(suffix);
        if let Ok(bytes) = std::fs::read(&p) {
            all.extend(bytes);
        }
    }
    all
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[tokio::test]
async fn gai_11_no_plaintext_message_content_in_the_database() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sealed.db");
    let store = open(&path).await;
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
    // The raw column holds the sealed form, which opens to the text with the key only.
    let raw: Vec<u8> = sqlx::query_scalar("SELECT content FROM messages")
        .fetch_one(store.pool())
        .await
        .unwrap();
    assert!(!contains(&raw, canary.as_bytes()));
    assert!(!contains(&raw, b"CANARY"));
    assert_eq!(sealer().open(&raw).unwrap(), canary);
    assert!(
        Sealer::new(&[1; 32]).open(&raw).is_err(),
        "another key cannot open it"
    );
    // No table anywhere holds it: search the files themselves, before and after a checkpoint.
    let bytes = database_bytes(&path);
    assert!(bytes.len() > 4096, "read the database files");
    assert!(
        !contains(&bytes, b"CANARY"),
        "plaintext found in the WAL or database file"
    );
    assert!(!contains(&bytes, "机密对话".as_bytes()));
    sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
        .execute(store.pool())
        .await
        .unwrap();
    store.close().await;
    let bytes = database_bytes(&path);
    assert!(
        !contains(&bytes, b"CANARY"),
        "plaintext found in the database file"
    );
    // A store opened with the wrong key fails loudly instead of returning garbage.
    let wrong = SqliteStore::open(&path, Sealer::new(&[9; 32]))
        .await
        .unwrap();
    assert!(matches!(
        wrong.messages("app_1", "u1").await,
        Err(hegui_store::StoreError::Seal(_))
    ));
}

#[tokio::test]
async fn ds_16_cut_tail_and_edited_record_are_detected() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir.path().join("cut.db")).await;
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
}

#[tokio::test]
async fn ds_16_audit_survives_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("reopen.db");
    let store = open(&path).await;
    let r = store
        .append_audit(AuditEntry::new(1, "request.chat"))
        .await
        .unwrap();
    drop(store);
    let store = open(&path).await;
    assert_eq!(store.audit_head().await.unwrap(), Some((0, r.hash.clone())));
    let next = store
        .append_audit(AuditEntry::new(2, "request.chat"))
        .await
        .unwrap();
    assert_eq!((next.seq, next.prev), (1, r.hash));
}

const CHILD_ENV: &str = "HEGUI_SQLITE_KILL_CHILD_DB";

/// The process `ds_16_kill_9_loses_no_acknowledged_append` kills: appends forever and prints
/// each record once `append_audit` has returned (what a gateway would then answer). Does
/// nothing when run as an ordinary test.
#[tokio::test]
async fn kill_9_child() {
    use std::io::Write;
    let Ok(path) = std::env::var(CHILD_ENV) else {
        return;
    };
    let store = open(Path::new(&path)).await;
    let mut out = std::io::stdout().lock();
    for i in 0.. {
        let mut e = AuditEntry::new(i, "request.chat");
        e.body = serde_json::json!({"i": i});
        let r = store.append_audit(e).await.unwrap();
        writeln!(out, "ack {} {}", r.seq, r.hash).unwrap();
        out.flush().unwrap();
    }
}

#[tokio::test]
async fn ds_16_kill_9_loses_no_acknowledged_append() {
    use std::io::BufRead;
    use std::process::{Command, Stdio};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("killed.db");
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "kill_9_child", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, &path)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let mut acked: Vec<(u64, String)> = Vec::new();
    while acked.len() < 300 {
        let line = lines.next().expect("child exited early").unwrap();
        if let Some(rest) = line.strip_prefix("ack ") {
            let (seq, hash) = rest.split_once(' ').unwrap();
            acked.push((seq.parse().unwrap(), hash.to_owned()));
        }
    }
    // SIGKILL mid-stream: no destructors, no checkpoint, possibly mid-transaction.
    child.kill().unwrap();
    for line in lines.map_while(Result::ok) {
        if let Some(rest) = line.strip_prefix("ack ") {
            let (seq, hash) = rest.split_once(' ').unwrap();
            acked.push((seq.parse().unwrap(), hash.to_owned()));
        }
    }
    child.wait().unwrap();

    let store = open(&path).await;
    let records = store.audit_range(0, 1_000_000).await.unwrap();
    for (seq, hash) in &acked {
        let r = records
            .get(*seq as usize)
            .expect("acknowledged record lost");
        assert_eq!(
            (&r.seq, &r.hash),
            (seq, hash),
            "acknowledged record changed"
        );
    }
    let head = store.audit_head().await.unwrap();
    hegui_audit::verify(&records, head.as_ref().map(|(s, h)| (*s, h.as_str())))
        .expect("chain verifies after kill -9");
    // And the chain goes on.
    let next = store
        .append_audit(AuditEntry::new(0, "gateway.start"))
        .await
        .unwrap();
    assert_eq!(next.seq, records.len() as u64);
}

/// The one-round-trip commit from two handles on one file: a stale cached head meets the `seq`
/// key, retries, and the chain stays one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ds_16_concurrent_request_commits_from_two_handles_keep_one_chain() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("two.db");
    let key = Sealer::new(&[9; 32]);
    let a = SqliteStore::open(&path, key.clone()).await.unwrap();
    let b = SqliteStore::open(&path, key).await.unwrap();
    let commit = |s: SqliteStore, tag: &'static str| async move {
        for i in 0..100 {
            let m = hegui_store::Message {
                app: "app".into(),
                user: tag.into(),
                request_id: format!("{tag}-{i}"),
                role: "user".into(),
                content: "它's 'quoted' 内容".into(),
                at: i,
            };
            let e = hegui_audit::AuditEntry::new(i, "request.chat");
            s.commit_request(&[m], vec![e]).await.unwrap();
        }
    };
    tokio::join!(commit(a.clone(), "a"), commit(b.clone(), "b"));
    let recs = a.audit_range(0, 1_000).await.unwrap();
    assert_eq!(recs.len(), 200);
    let head = a.audit_head().await.unwrap();
    hegui_audit::verify(&recs, head.as_ref().map(|(s, h)| (*s, h.as_str()))).unwrap();
    let msgs = b.messages("app", "a").await.unwrap();
    assert_eq!(msgs.len(), 100);
    assert_eq!(msgs[0].content, "它's 'quoted' 内容");
}
