//! Embedded SQLite backend of `hegui-store` (the default: one file, no set-up).
//!
//! [`SqliteStore::open`] creates the database file if it is missing and brings the schema up to
//! date (the migrations in `migrations/`, embedded, append-only, numbered).
//!
//! Durability: the file runs in WAL mode with `synchronous=NORMAL` by default. A committed
//! transaction is then durable against a crash of the process (`kill -9`): the WAL is written
//! before the commit returns and survives in the OS page cache. A power loss or kernel crash may
//! lose the last few commits (the WAL is fsynced at checkpoints, not at every commit); the database
//! stays consistent. [`Synchronous::Full`] fsyncs the WAL at every commit and closes that gap, at
//! the price of one fsync per append.
//!
//! Concurrency: every read-modify-write transaction (audit appends, purges, migrations) starts with
//! `BEGIN IMMEDIATE`, which takes SQLite's single write lock before reading the chain head, so two
//! handles (or two processes) on one file never fork the chain; waits go through `busy_timeout`.

mod migrations;

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use hegui_core::UnixMillis;
use hegui_store::{
    App, AppSettings, AuditEntry, AuditQuery, AuditRecord, Challenge, Character, CompanionProfile,
    CompanionStats, DeletionReport, Disposal, DisposalLevel, Incident, IncidentQuery, Message,
    OutboxAttempt, OutboxItem, OutboxStatus, Result, Sealer, SessionRecord, Store, StoreError,
    User, UserCounts, Verification,
};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow,
    SqliteSynchronous,
};
use sqlx::{QueryBuilder, Row, Sqlite, SqliteConnection};

/// When SQLite fsyncs (the `synchronous` pragma).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Synchronous {
    /// `NORMAL`: commits survive a process crash; a power loss may drop the last commits.
    #[default]
    Normal,
    /// `FULL`: every commit is fsynced; commits survive a power loss too.
    Full,
}

/// How to open a [`SqliteStore`].
#[derive(Debug, Clone)]
pub struct SqliteOptions {
    /// The fsync policy.
    pub synchronous: Synchronous,
    /// How long a writer waits for another writer's lock before failing.
    pub busy_timeout: Duration,
    /// Pool size (readers run in parallel under WAL; writers take turns).
    pub max_connections: u32,
}

impl Default for SqliteOptions {
    fn default() -> Self {
        Self {
            synchronous: Synchronous::Normal,
            busy_timeout: Duration::from_secs(10),
            max_connections: 8,
        }
    }
}

/// The SQLite store. Cheap to clone (a pool handle).
#[derive(Debug, Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
    sealer: Sealer,
    /// Serialises this handle's write transactions so they queue here instead of spinning in
    /// SQLite's busy handler; other handles and processes are held off by `BEGIN IMMEDIATE`.
    writer: Arc<tokio::sync::Mutex<HeadCache>>,
}

/// WAL size (in 4 KiB frames) past which the background checkpoint restarts the log.
const RESTART_FRAMES: i64 = 4096;

/// The chain head as this handle last committed it, kept under the writer lock so the common
/// write (`commit_request`) needs no read first. `None` means unknown: read it. Another process
/// appending meanwhile makes the next insert hit the `seq` primary key, which empties the cache
/// and retries, so a stale cache can cost a retry but never fork the chain.
type HeadCache = Option<Option<(u64, String)>>;

fn unavailable(msg: impl Into<String>) -> StoreError {
    let msg: String = msg.into();
    StoreError::Unavailable(msg.into())
}

/// Maps a database error: uniqueness violations are `Conflict`, the rest `Unavailable`.
fn db(e: sqlx::Error) -> StoreError {
    match e {
        sqlx::Error::Database(d) if d.is_unique_violation() => {
            StoreError::Conflict(d.message().to_owned())
        }
        sqlx::Error::RowNotFound => StoreError::NotFound("row".into()),
        other => StoreError::Unavailable(Box::new(other)),
    }
}

fn corrupt(what: &str, detail: impl std::fmt::Display) -> StoreError {
    unavailable(format!("corrupt {what} row: {detail}"))
}

/// Sequence numbers and limits are u64 in the API and i64 in SQL; real values never reach 2^63.
fn to_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

fn to_u64(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

fn to_u32(v: i64) -> u32 {
    u32::try_from(v.max(0)).unwrap_or(u32::MAX)
}

impl SqliteStore {
    /// Opens (creating it and its directory if missing) the database file at `path` with default
    /// options and brings the schema up to date.
    pub async fn open(path: &Path, sealer: Sealer) -> Result<Self> {
        Self::open_with(path, sealer, SqliteOptions::default()).await
    }

    /// Opens a URL: `sqlite://PATH` or `sqlite:PATH` (`sqlite:///abs/path` for an absolute path),
    /// optionally with `?synchronous=full` (or `normal`); `sqlite::memory:` opens a private
    /// in-memory database (tests).
    pub async fn open_url(url: &str, sealer: Sealer) -> Result<Self> {
        let rest = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
            .ok_or_else(|| unavailable(format!("not a sqlite URL: {url}")))?;
        let (path, query) = match rest.split_once('?') {
            Some((p, q)) => (p, Some(q)),
            None => (rest, None),
        };
        let mut options = SqliteOptions::default();
        for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
            match pair.split_once('=') {
                Some(("synchronous", v)) if v.eq_ignore_ascii_case("full") => {
                    options.synchronous = Synchronous::Full;
                }
                Some(("synchronous", v)) if v.eq_ignore_ascii_case("normal") => {
                    options.synchronous = Synchronous::Normal;
                }
                _ => return Err(unavailable(format!("unknown sqlite URL parameter: {pair}"))),
            }
        }
        if path == ":memory:" {
            return Self::open_memory(sealer).await;
        }
        if path.is_empty() {
            return Err(unavailable(format!("sqlite URL without a path: {url}")));
        }
        Self::open_with(&PathBuf::from(path), sealer, options).await
    }

    /// Opens `path` with explicit options.
    pub async fn open_with(path: &Path, sealer: Sealer, options: SqliteOptions) -> Result<Self> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)
                .map_err(|e| unavailable(format!("creating {}: {e}", parent.display())))?;
        }
        let runtime = tokio::runtime::Handle::try_current().ok();
        let mut connect = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(match options.synchronous {
                Synchronous::Normal => SqliteSynchronous::Normal,
                Synchronous::Full => SqliteSynchronous::Full,
            })
            .busy_timeout(options.busy_timeout)
            .foreign_keys(true);
        if runtime.is_some() {
            // No checkpoint inside a commit: its fsync would land on a request. A background
            // task checkpoints instead (`spawn_checkpointer`).
            connect = connect.pragma("wal_autocheckpoint", "0");
        }
        let pool = SqlitePoolOptions::new()
            .max_connections(options.max_connections.max(1))
            .acquire_timeout(options.busy_timeout + Duration::from_secs(5))
            .connect_with(connect)
            .await
            .map_err(db)?;
        let store = Self::from_pool(pool, sealer).await?;
        if let Some(rt) = runtime {
            store.spawn_checkpointer(&rt);
        }
        Ok(store)
    }

    /// Folds the WAL into the database every half second, off the request path, until every
    /// handle of this store is dropped. (Opened outside a tokio runtime, SQLite's automatic
    /// checkpoints stay on instead.)
    fn spawn_checkpointer(&self, rt: &tokio::runtime::Handle) {
        let alive = std::sync::Arc::downgrade(&self.writer);
        let pool = self.pool.clone();
        rt.spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_millis(250)).await;
                if alive.upgrade().is_none() {
                    break;
                }
                // PASSIVE copies WAL frames into the database without blocking anyone. Under
                // steady writes it never catches up completely, so the WAL could not restart and
                // would grow for ever; once it passes RESTART_FRAMES a RESTART (which waits for
                // the writer, copies the few frames left and lets the next write start the WAL
                // over) bounds it.
                let frames: Option<(i64, i64, i64)> =
                    sqlx::query_as("PRAGMA wal_checkpoint(PASSIVE)")
                        .fetch_optional(&pool)
                        .await
                        .ok()
                        .flatten();
                if let Some((_, log, _)) = frames
                    && log > RESTART_FRAMES
                {
                    let _ = sqlx::query("PRAGMA wal_checkpoint(RESTART)")
                        .execute(&pool)
                        .await;
                }
            }
            pool.close().await;
        });
    }

    /// A private in-memory database, alive as long as this store (one connection).
    pub async fn open_memory(sealer: Sealer) -> Result<Self> {
        let connect = SqliteConnectOptions::from_str("sqlite::memory:").map_err(db)?;
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_with(connect)
            .await
            .map_err(db)?;
        Self::from_pool(pool, sealer).await
    }

    async fn from_pool(pool: SqlitePool, sealer: Sealer) -> Result<Self> {
        let store = Self {
            pool,
            sealer,
            writer: Arc::new(tokio::sync::Mutex::new(None)),
        };
        store.migrate().await?;
        Ok(store)
    }

    /// The connection pool, for health checks and tests that inspect raw tables.
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    /// Closes the pool (waits for connections to be returned), checkpointing the WAL.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// Begins a write transaction that holds SQLite's write lock from its first statement.
    async fn begin_write(
        &self,
    ) -> Result<(
        tokio::sync::MutexGuard<'_, HeadCache>,
        sqlx::Transaction<'static, Sqlite>,
    )> {
        let mut guard = self.writer.lock().await;
        // Every other writer may move the head; the next fast commit reads it again.
        *guard = None;
        let tx = self.pool.begin_with("BEGIN IMMEDIATE").await.map_err(db)?;
        Ok((guard, tx))
    }
}

impl SqliteStore {
    /// `commit_request` with bound parameters, for values that SQL text cannot carry.
    async fn commit_request_bound(
        &self,
        messages: &[Message],
        sealed: Vec<Vec<u8>>,
        entries: Vec<AuditEntry>,
    ) -> Result<Vec<AuditRecord>> {
        let (_guard, mut tx) = self.begin_write().await?;
        for (m, content) in messages.iter().zip(sealed) {
            insert_message(&mut tx, m, content).await?;
        }
        let records = if entries.is_empty() {
            Vec::new()
        } else {
            append_locked(&mut tx, entries).await?
        };
        tx.commit().await.map_err(db)?;
        Ok(records)
    }
}

/// Runs a script of several statements on one connection, in one round trip. Boxed with a
/// named lifetime: the async-trait future cannot prove `Send` through sqlx's higher-ranked
/// executor bounds otherwise.
fn exec_script<'c>(
    conn: &'c mut sqlx::pool::PoolConnection<Sqlite>,
    sql: &'c str,
) -> std::pin::Pin<
    Box<dyn std::future::Future<Output = std::result::Result<(), sqlx::Error>> + Send + 'c>,
> {
    Box::pin(async move {
        use sqlx::Executor;
        let c: &mut SqliteConnection = conn;
        c.execute(sqlx::raw_sql(sql)).await.map(|_| ())
    })
}

/// A SQL string literal, or `None` for text with a NUL (which SQL text cannot hold).
fn lit(s: &str) -> Option<String> {
    (!s.contains('\0')).then(|| format!("'{}'", s.replace('\'', "''")))
}

fn lit_opt(s: &Option<String>) -> Option<String> {
    match s {
        Some(s) => lit(s),
        None => Some("NULL".to_owned()),
    }
}

/// One request's whole write as one SQL text, so it costs one round trip to SQLite's thread
/// instead of one per statement (sqlx runs each statement through a channel; on a busy core
/// those hops were most of the gateway's added latency). Values are rendered as literals by
/// `lit` (quotes doubled; blobs as hex); `None` if a value cannot be.
fn commit_sql(messages: &[Message], sealed: &[Vec<u8>], records: &[AuditRecord]) -> Option<String> {
    use std::fmt::Write;
    let mut sql = String::from("BEGIN IMMEDIATE;\n");
    for (m, content) in messages.iter().zip(sealed) {
        let _ = writeln!(
            sql,
            "INSERT INTO messages (app, user_id, request_id, role, content, at) VALUES ({}, {}, {}, {}, X'{}', {});",
            lit(&m.app)?,
            lit(&m.user)?,
            lit(&m.request_id)?,
            lit(&m.role)?,
            hex::encode(content),
            m.at
        );
    }
    for r in records {
        let _ = writeln!(
            sql,
            "INSERT INTO audit (seq, at, kind, app, subject, request_id, body, prev, hash) VALUES ({}, {}, {}, {}, {}, {}, {}, {}, {});",
            to_i64(r.seq),
            r.at,
            lit(&r.kind)?,
            lit_opt(&r.app)?,
            lit_opt(&r.subject)?,
            lit_opt(&r.request_id)?,
            lit(&r.body)?,
            lit(&r.prev)?,
            lit(&r.hash)?
        );
    }
    if let Some(last) = records.last() {
        let _ = writeln!(
            sql,
            "UPDATE audit_head SET seq = {}, hash = {} WHERE id = 0;",
            to_i64(last.seq),
            lit(&last.hash)?
        );
    }
    sql.push_str("COMMIT;");
    Some(sql)
}

// ---- row mapping ----

macro_rules! app_cols {
    () => {
        "id, name, key_hash, created_at, settings"
    };
}

macro_rules! user_cols {
    () => {
        "app, id, created_at, last_seen, verify_method, verified_at, verify_subject_hmac, \
         verify_masked, verify_birth_date, verify_provider_ref, disposal_level, disposal_reason, \
         disposal_until, disposal_by, disposal_at, violations"
    };
}

macro_rules! audit_cols {
    () => {
        "seq, at, kind, app, subject, request_id, body, prev, hash"
    };
}

fn app_from_row(row: &SqliteRow) -> Result<App> {
    let settings: String = row.try_get("settings").map_err(db)?;
    Ok(App {
        id: row.try_get("id").map_err(db)?,
        name: row.try_get("name").map_err(db)?,
        key_hash: row.try_get("key_hash").map_err(db)?,
        created_at: row.try_get("created_at").map_err(db)?,
        settings: serde_json::from_str(&settings).map_err(|e| corrupt("app settings", e))?,
    })
}

fn user_from_row(row: &SqliteRow) -> Result<User> {
    let method: Option<String> = row.try_get("verify_method").map_err(db)?;
    let verification = match method {
        Some(method) => Some(Verification {
            method,
            verified_at: row
                .try_get::<Option<i64>, _>("verified_at")
                .map_err(db)?
                .unwrap_or(0),
            subject_hmac: row
                .try_get::<Option<String>, _>("verify_subject_hmac")
                .map_err(db)?
                .unwrap_or_default(),
            masked: row
                .try_get::<Option<String>, _>("verify_masked")
                .map_err(db)?
                .unwrap_or_default(),
            birth_date: row.try_get("verify_birth_date").map_err(db)?,
            provider_ref: row
                .try_get::<Option<String>, _>("verify_provider_ref")
                .map_err(db)?
                .unwrap_or_default(),
        }),
        None => None,
    };
    let level: String = row.try_get("disposal_level").map_err(db)?;
    let level = DisposalLevel::parse(&level).ok_or_else(|| corrupt("user disposal", &level))?;
    Ok(User {
        app: row.try_get("app").map_err(db)?,
        id: row.try_get("id").map_err(db)?,
        created_at: row.try_get("created_at").map_err(db)?,
        last_seen: row.try_get("last_seen").map_err(db)?,
        verification,
        disposal: Disposal {
            level,
            reason: row.try_get("disposal_reason").map_err(db)?,
            until: row.try_get("disposal_until").map_err(db)?,
            by: row.try_get("disposal_by").map_err(db)?,
            at: row.try_get("disposal_at").map_err(db)?,
        },
        violations: to_u32(row.try_get("violations").map_err(db)?),
    })
}

fn challenge_from_row(row: &SqliteRow) -> Result<Challenge> {
    Ok(Challenge {
        app: row.try_get("app").map_err(db)?,
        user: row.try_get("user_id").map_err(db)?,
        code_hmac: row.try_get("code_hmac").map_err(db)?,
        issued_at: row.try_get("issued_at").map_err(db)?,
        subject_hmac: row.try_get("subject_hmac").map_err(db)?,
        masked: row.try_get("masked").map_err(db)?,
        expires_at: row.try_get("expires_at").map_err(db)?,
        attempts: to_u32(row.try_get("attempts").map_err(db)?),
    })
}

fn audit_from_row(row: &SqliteRow) -> Result<AuditRecord> {
    Ok(AuditRecord {
        seq: to_u64(row.try_get("seq").map_err(db)?),
        at: row.try_get("at").map_err(db)?,
        kind: row.try_get("kind").map_err(db)?,
        app: row.try_get("app").map_err(db)?,
        subject: row.try_get("subject").map_err(db)?,
        request_id: row.try_get("request_id").map_err(db)?,
        body: row.try_get("body").map_err(db)?,
        prev: row.try_get("prev").map_err(db)?,
        hash: row.try_get("hash").map_err(db)?,
    })
}

// ---- audit chain, inside a write transaction ----

/// The chain head as stored (`None` for an empty chain).
async fn read_head(conn: &mut SqliteConnection) -> Result<Option<(u64, String)>> {
    let row = sqlx::query("SELECT seq, hash FROM audit_head WHERE id = 0")
        .fetch_optional(&mut *conn)
        .await
        .map_err(db)?;
    let Some(row) = row else {
        return Err(unavailable("audit_head row missing (schema not migrated?)"));
    };
    let seq: i64 = row.try_get("seq").map_err(db)?;
    let hash: String = row.try_get("hash").map_err(db)?;
    Ok((seq >= 0).then(|| (to_u64(seq), hash)))
}

/// Appends `entries` after the current head and moves the head; the caller holds the write lock.
async fn append_locked(
    conn: &mut SqliteConnection,
    entries: Vec<AuditEntry>,
) -> Result<Vec<AuditRecord>> {
    let head = read_head(conn).await?;
    let out = AuditRecord::chain_all(head.as_ref().map(|(s, h)| (*s, h.as_str())), entries);
    for record in &out {
        sqlx::query(concat!(
            "INSERT INTO audit (",
            audit_cols!(),
            ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
        ))
        .bind(to_i64(record.seq))
        .bind(record.at)
        .bind(&record.kind)
        .bind(&record.app)
        .bind(&record.subject)
        .bind(&record.request_id)
        .bind(&record.body)
        .bind(&record.prev)
        .bind(&record.hash)
        .execute(&mut *conn)
        .await
        .map_err(db)?;
    }
    if let Some(AuditRecord { seq, hash, .. }) = out.last() {
        sqlx::query("UPDATE audit_head SET seq = ?, hash = ? WHERE id = 0")
            .bind(to_i64(*seq))
            .bind(hash)
            .execute(&mut *conn)
            .await
            .map_err(db)?;
    }
    Ok(out)
}

/// Stores one message whose content is already sealed.
async fn insert_message(conn: &mut SqliteConnection, m: &Message, sealed: Vec<u8>) -> Result<()> {
    sqlx::query(
        "INSERT INTO messages (app, user_id, request_id, role, content, at) \
         VALUES (?, ?, ?, ?, ?, ?)",
    )
    .bind(&m.app)
    .bind(&m.user)
    .bind(&m.request_id)
    .bind(&m.role)
    .bind(sealed)
    .bind(m.at)
    .execute(&mut *conn)
    .await
    .map_err(db)?;
    Ok(())
}

// ---- companion duties: row mapping ----

macro_rules! outbox_cols {
    () => {
        "id, app, user_id, kind, url, payload, created_at, next_attempt_at, attempts, status"
    };
}

macro_rules! incident_cols {
    () => {
        "id, app, user_id, subject, kind, signal, request_id, opened_at, status, note, \
         handled_by, updated_at"
    };
}

fn to_json(what: &str, json: serde_json::Result<String>) -> Result<String> {
    json.map_err(|e| unavailable(format!("{what}: {e}")))
}

fn session_from_row(row: &SqliteRow) -> Result<SessionRecord> {
    Ok(SessionRecord {
        app: row.try_get("app").map_err(db)?,
        user: row.try_get("user_id").map_err(db)?,
        state: row.try_get("state").map_err(db)?,
        day: row.try_get("day").map_err(db)?,
        used_today_ms: row.try_get("used_today_ms").map_err(db)?,
        updated_at: row.try_get("updated_at").map_err(db)?,
    })
}

fn profile_from_row(row: &SqliteRow) -> Result<CompanionProfile> {
    let body: String = row.try_get("body").map_err(db)?;
    serde_json::from_str(&body).map_err(|e| corrupt("profile", e))
}

fn character_from_row(row: &SqliteRow) -> Result<Character> {
    let body: String = row.try_get("body").map_err(db)?;
    serde_json::from_str(&body).map_err(|e| corrupt("character", e))
}

fn outbox_from_row(row: &SqliteRow) -> Result<OutboxItem> {
    let status: String = row.try_get("status").map_err(db)?;
    Ok(OutboxItem {
        id: row.try_get("id").map_err(db)?,
        app: row.try_get("app").map_err(db)?,
        user: row.try_get("user_id").map_err(db)?,
        kind: row.try_get("kind").map_err(db)?,
        url: row.try_get("url").map_err(db)?,
        payload: row.try_get("payload").map_err(db)?,
        created_at: row.try_get("created_at").map_err(db)?,
        next_attempt_at: row.try_get("next_attempt_at").map_err(db)?,
        attempts: to_u32(row.try_get("attempts").map_err(db)?),
        status: OutboxStatus::parse(&status).ok_or_else(|| corrupt("outbox status", &status))?,
    })
}

fn attempt_from_row(row: &SqliteRow) -> Result<OutboxAttempt> {
    let status: Option<i64> = row.try_get("status").map_err(db)?;
    Ok(OutboxAttempt {
        item: row.try_get("item").map_err(db)?,
        n: to_u32(row.try_get("n").map_err(db)?),
        at: row.try_get("at").map_err(db)?,
        status: status.map(|s| u16::try_from(s).unwrap_or(0)),
        error: row.try_get("error").map_err(db)?,
        duration_ms: row.try_get("duration_ms").map_err(db)?,
    })
}

fn incident_from_row(row: &SqliteRow) -> Result<Incident> {
    Ok(Incident {
        id: row.try_get("id").map_err(db)?,
        app: row.try_get("app").map_err(db)?,
        user: row.try_get("user_id").map_err(db)?,
        subject: row.try_get("subject").map_err(db)?,
        kind: row.try_get("kind").map_err(db)?,
        signal: row.try_get("signal").map_err(db)?,
        request_id: row.try_get("request_id").map_err(db)?,
        opened_at: row.try_get("opened_at").map_err(db)?,
        status: row.try_get("status").map_err(db)?,
        note: row.try_get("note").map_err(db)?,
        handled_by: row.try_get("handled_by").map_err(db)?,
        updated_at: row.try_get("updated_at").map_err(db)?,
    })
}

#[async_trait::async_trait]
impl Store for SqliteStore {
    async fn migrate(&self) -> Result<()> {
        let (_guard, mut tx) = self.begin_write().await?;
        migrations::apply(&mut tx).await?;
        tx.commit().await.map_err(db)
    }

    // ---- applications ----

    async fn create_app(&self, app: &App) -> Result<()> {
        let settings = serde_json::to_string(&app.settings)
            .map_err(|e| unavailable(format!("settings: {e}")))?;
        sqlx::query(concat!(
            "INSERT INTO apps (",
            app_cols!(),
            ") VALUES (?, ?, ?, ?, ?)"
        ))
        .bind(&app.id)
        .bind(&app.name)
        .bind(&app.key_hash)
        .bind(app.created_at)
        .bind(settings)
        .execute(&self.pool)
        .await
        .map_err(db)?;
        Ok(())
    }

    async fn app_by_key_hash(&self, key_hash: &str) -> Result<Option<App>> {
        sqlx::query(concat!(
            "SELECT ",
            app_cols!(),
            " FROM apps WHERE key_hash = ?"
        ))
        .bind(key_hash)
        .fetch_optional(&self.pool)
        .await
        .map_err(db)?
        .as_ref()
        .map(app_from_row)
        .transpose()
    }

    async fn app(&self, id: &str) -> Result<Option<App>> {
        sqlx::query(concat!("SELECT ", app_cols!(), " FROM apps WHERE id = ?"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(db)?
            .as_ref()
            .map(app_from_row)
            .transpose()
    }

    async fn apps(&self) -> Result<Vec<App>> {
        sqlx::query(concat!(
            "SELECT ",
            app_cols!(),
            " FROM apps ORDER BY created_at, id"
        ))
        .fetch_all(&self.pool)
        .await
        .map_err(db)?
        .iter()
        .map(app_from_row)
        .collect()
    }

    async fn update_app_settings(&self, id: &str, settings: &AppSettings) -> Result<()> {
        let settings =
            serde_json::to_string(settings).map_err(|e| unavailable(format!("settings: {e}")))?;
        let done = sqlx::query("UPDATE apps SET settings = ? WHERE id = ?")
            .bind(settings)
            .bind(id)
            .execute(&self.pool)
            .await
            .map_err(db)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound(format!("app {id}")));
        }
        Ok(())
    }

    // ---- end users ----

    async fn touch_user(&self, app: &str, user: &str, now: UnixMillis) -> Result<User> {
        // One statement: concurrent first requests of one user cannot both insert.
        let row = sqlx::query(concat!(
            "INSERT INTO users (app, id, created_at, last_seen) VALUES (?1, ?2, ?3, ?3) \
             ON CONFLICT (app, id) DO UPDATE SET last_seen = max(last_seen, excluded.last_seen) \
             RETURNING ",
            user_cols!()
        ))
        .bind(app)
        .bind(user)
        .bind(now)
        .fetch_one(&self.pool)
        .await
        .map_err(db)?;
        user_from_row(&row)
    }

    async fn user(&self, app: &str, user: &str) -> Result<Option<User>> {
        sqlx::query(concat!(
            "SELECT ",
            user_cols!(),
            " FROM users WHERE app = ? AND id = ?"
        ))
        .bind(app)
        .bind(user)
        .fetch_optional(&self.pool)
        .await
        .map_err(db)?
        .as_ref()
        .map(user_from_row)
        .transpose()
    }

    async fn users(&self, app: &str, offset: u64, limit: u64) -> Result<Vec<User>> {
        sqlx::query(concat!(
            "SELECT ",
            user_cols!(),
            " FROM users WHERE app = ? ORDER BY created_at, id LIMIT ? OFFSET ?"
        ))
        .bind(app)
        .bind(to_i64(limit))
        .bind(to_i64(offset))
        .fetch_all(&self.pool)
        .await
        .map_err(db)?
        .iter()
        .map(user_from_row)
        .collect()
    }

    async fn set_verification(&self, app: &str, user: &str, v: &Verification) -> Result<()> {
        let done = sqlx::query(
            "UPDATE users SET verify_method = ?, verified_at = ?, verify_subject_hmac = ?, \
             verify_masked = ?, verify_birth_date = ?, verify_provider_ref = ? \
             WHERE app = ? AND id = ?",
        )
        .bind(&v.method)
        .bind(v.verified_at)
        .bind(&v.subject_hmac)
        .bind(&v.masked)
        .bind(&v.birth_date)
        .bind(&v.provider_ref)
        .bind(app)
        .bind(user)
        .execute(&self.pool)
        .await
        .map_err(db)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound(format!("user {app}/{user}")));
        }
        Ok(())
    }

    async fn set_disposal(&self, app: &str, user: &str, d: &Disposal) -> Result<()> {
        let done = sqlx::query(
            "UPDATE users SET disposal_level = ?, disposal_reason = ?, disposal_until = ?, \
             disposal_by = ?, disposal_at = ? WHERE app = ? AND id = ?",
        )
        .bind(d.level.as_str())
        .bind(&d.reason)
        .bind(d.until)
        .bind(&d.by)
        .bind(d.at)
        .bind(app)
        .bind(user)
        .execute(&self.pool)
        .await
        .map_err(db)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound(format!("user {app}/{user}")));
        }
        Ok(())
    }

    async fn add_violation(&self, app: &str, user: &str, at: UnixMillis) -> Result<u32> {
        // One statement: the increment and the read of the new total cannot interleave.
        let row = sqlx::query(
            "UPDATE users SET violations = violations + 1, last_violation_at = ? \
             WHERE app = ? AND id = ? RETURNING violations",
        )
        .bind(at)
        .bind(app)
        .bind(user)
        .fetch_optional(&self.pool)
        .await
        .map_err(db)?;
        match row {
            Some(row) => Ok(to_u32(row.try_get("violations").map_err(db)?)),
            None => Err(StoreError::NotFound(format!("user {app}/{user}"))),
        }
    }

    async fn user_counts(&self, app: &str, active_since: UnixMillis) -> Result<UserCounts> {
        let row = sqlx::query(
            "SELECT count(*) AS registered, \
             count(*) FILTER (WHERE last_seen >= ?) AS active FROM users WHERE app = ?",
        )
        .bind(active_since)
        .bind(app)
        .fetch_one(&self.pool)
        .await
        .map_err(db)?;
        Ok(UserCounts {
            registered: to_u64(row.try_get("registered").map_err(db)?),
            active: to_u64(row.try_get("active").map_err(db)?),
        })
    }

    // ---- verification challenges ----

    async fn put_challenge(&self, c: &Challenge) -> Result<()> {
        sqlx::query(
            "INSERT INTO challenges (app, user_id, code_hmac, issued_at, subject_hmac, masked, \
             expires_at, attempts) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (app, user_id) \
             DO UPDATE SET code_hmac = excluded.code_hmac, issued_at = excluded.issued_at, \
             subject_hmac = excluded.subject_hmac, \
             masked = excluded.masked, expires_at = excluded.expires_at, \
             attempts = excluded.attempts",
        )
        .bind(&c.app)
        .bind(&c.user)
        .bind(&c.code_hmac)
        .bind(c.issued_at)
        .bind(&c.subject_hmac)
        .bind(&c.masked)
        .bind(c.expires_at)
        .bind(i64::from(c.attempts))
        .execute(&self.pool)
        .await
        .map_err(db)?;
        Ok(())
    }

    async fn challenge(&self, app: &str, user: &str) -> Result<Option<Challenge>> {
        sqlx::query(
            "SELECT app, user_id, code_hmac, issued_at, subject_hmac, masked, expires_at, \
             attempts \
             FROM challenges WHERE app = ? AND user_id = ?",
        )
        .bind(app)
        .bind(user)
        .fetch_optional(&self.pool)
        .await
        .map_err(db)?
        .as_ref()
        .map(challenge_from_row)
        .transpose()
    }

    async fn claim_challenge_attempt(
        &self,
        app: &str,
        user: &str,
        max: u32,
    ) -> Result<Option<Challenge>> {
        // One statement: two concurrent guesses cannot both see the same count.
        let row = sqlx::query(
            "UPDATE challenges SET attempts = attempts + 1 \
             WHERE app = ? AND user_id = ? AND attempts < ? \
             RETURNING app, user_id, code_hmac, issued_at, subject_hmac, masked, expires_at, \
             attempts",
        )
        .bind(app)
        .bind(user)
        .bind(i64::from(max))
        .fetch_optional(&self.pool)
        .await
        .map_err(db)?;
        let Some(row) = row else { return Ok(None) };
        let mut c = challenge_from_row(&row)?;
        c.attempts = c.attempts.saturating_sub(1);
        Ok(Some(c))
    }

    async fn delete_challenge(&self, app: &str, user: &str) -> Result<()> {
        sqlx::query("DELETE FROM challenges WHERE app = ? AND user_id = ?")
            .bind(app)
            .bind(user)
            .execute(&self.pool)
            .await
            .map_err(db)?;
        Ok(())
    }

    // ---- dialogue ----

    async fn put_message(&self, m: &Message) -> Result<()> {
        // Sealed here, before any SQL sees it (GAI-11: no plaintext dialogue at rest).
        let sealed = self.sealer.seal(&m.content)?;
        let mut conn = self.pool.acquire().await.map_err(db)?;
        insert_message(&mut conn, m, sealed).await
    }

    async fn messages(&self, app: &str, user: &str) -> Result<Vec<Message>> {
        let rows = sqlx::query(
            "SELECT app, user_id, request_id, role, content, at FROM messages \
             WHERE app = ? AND user_id = ? ORDER BY at, id",
        )
        .bind(app)
        .bind(user)
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        rows.iter()
            .map(|row| {
                let sealed: Vec<u8> = row.try_get("content").map_err(db)?;
                Ok(Message {
                    app: row.try_get("app").map_err(db)?,
                    user: row.try_get("user_id").map_err(db)?,
                    request_id: row.try_get("request_id").map_err(db)?,
                    role: row.try_get("role").map_err(db)?,
                    content: self.sealer.open(&sealed)?,
                    at: row.try_get("at").map_err(db)?,
                })
            })
            .collect()
    }

    // ---- audit chain ----

    async fn append_audit(&self, entry: AuditEntry) -> Result<AuditRecord> {
        let mut records = self.append_audit_batch(vec![entry]).await?;
        records
            .pop()
            .ok_or_else(|| unavailable("append returned no record"))
    }

    async fn append_audit_batch(&self, entries: Vec<AuditEntry>) -> Result<Vec<AuditRecord>> {
        if entries.is_empty() {
            return Ok(Vec::new());
        }
        let (_guard, mut tx) = self.begin_write().await?;
        let records = append_locked(&mut tx, entries).await?;
        // The commit returns once the WAL frame is written: durable against a process crash.
        tx.commit().await.map_err(db)?;
        Ok(records)
    }

    async fn commit_request(
        &self,
        messages: &[Message],
        entries: Vec<AuditEntry>,
    ) -> Result<Vec<AuditRecord>> {
        // Sealed before the transaction starts: the write lock is held for SQL only.
        let sealed = messages
            .iter()
            .map(|m| self.sealer.seal(&m.content))
            .collect::<std::result::Result<Vec<_>, _>>()?;
        let mut cache = self.writer.lock().await;
        {
            let head = match cache.clone() {
                Some(h) => h,
                None => {
                    let mut conn = self.pool.acquire().await.map_err(db)?;
                    read_head(&mut conn).await?
                }
            };
            let records = AuditRecord::chain_all(
                head.as_ref().map(|(s, h)| (*s, h.as_str())),
                entries.iter().cloned(),
            );
            let at = records.last().map(|r| (r.seq, r.hash.clone())).or(head);
            let Some(sql) = commit_sql(messages, &sealed, &records) else {
                // A value SQL text cannot carry (a NUL): the parameterised path.
                drop(cache);
                return self.commit_request_bound(messages, sealed, entries).await;
            };
            let mut conn = self.pool.acquire().await.map_err(db)?;
            match exec_script(&mut conn, &sql).await {
                Ok(_) => {
                    *cache = Some(at);
                    return Ok(records);
                }
                Err(e) => {
                    let _ = exec_script(&mut conn, "ROLLBACK").await;
                    *cache = None;
                    let moved = matches!(&e, sqlx::Error::Database(d) if d.is_unique_violation());
                    if !moved {
                        return Err(db(e));
                    }
                    // Another handle or process appended since the head was cached: take the
                    // path that reads the head inside the write lock.
                    drop(conn);
                    drop(cache);
                    return self.commit_request_bound(messages, sealed, entries).await;
                }
            }
        }
    }

    async fn audit_range(&self, from: u64, limit: u64) -> Result<Vec<AuditRecord>> {
        sqlx::query(concat!(
            "SELECT ",
            audit_cols!(),
            " FROM audit WHERE seq >= ? ORDER BY seq LIMIT ?"
        ))
        .bind(to_i64(from))
        .bind(to_i64(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(db)?
        .iter()
        .map(audit_from_row)
        .collect()
    }

    async fn audit_query(&self, q: &AuditQuery) -> Result<Vec<AuditRecord>> {
        let mut qb =
            QueryBuilder::<Sqlite>::new(concat!("SELECT ", audit_cols!(), " FROM audit WHERE 1"));
        if let Some(app) = &q.app {
            qb.push(" AND app = ").push_bind(app.clone());
        }
        if let Some(subject) = &q.subject {
            qb.push(" AND subject = ").push_bind(subject.clone());
        }
        if let Some(request_id) = &q.request_id {
            qb.push(" AND request_id = ").push_bind(request_id.clone());
        }
        if let Some(prefix) = &q.kind_prefix {
            // substr/length count characters, so a prefix with `%` or `_` means itself.
            qb.push(" AND substr(kind, 1, length(")
                .push_bind(prefix.clone())
                .push(")) = ")
                .push_bind(prefix.clone());
        }
        if let Some(since) = q.since {
            qb.push(" AND at >= ").push_bind(since);
        }
        let limit = hegui_store::page_limit(q.limit);
        qb.push(" ORDER BY seq DESC LIMIT ")
            .push_bind(to_i64(limit));
        qb.build()
            .fetch_all(&self.pool)
            .await
            .map_err(db)?
            .iter()
            .map(audit_from_row)
            .collect()
    }

    async fn audit_head(&self) -> Result<Option<(u64, String)>> {
        let mut conn = self.pool.acquire().await.map_err(db)?;
        read_head(&mut conn).await
    }

    async fn purge_audit(&self, before: UnixMillis, now: UnixMillis) -> Result<u64> {
        let (_guard, mut tx) = self.begin_write().await?;
        let Some((head_seq, _)) = read_head(&mut tx).await? else {
            return Ok(0);
        };
        // Delete only a prefix of the chain (a hole would not verify), and only records older
        // than the cutoff: the prefix ends before the oldest record at or after `before`, and
        // never includes the newest record.
        let first_kept: Option<i64> =
            sqlx::query_scalar("SELECT min(seq) FROM audit WHERE at >= ?")
                .bind(before)
                .fetch_one(&mut *tx)
                .await
                .map_err(db)?;
        let cut = first_kept.unwrap_or(to_i64(head_seq)).min(to_i64(head_seq));
        let last =
            sqlx::query("SELECT seq, hash FROM audit WHERE seq < ? ORDER BY seq DESC LIMIT 1")
                .bind(cut)
                .fetch_optional(&mut *tx)
                .await
                .map_err(db)?;
        let Some(last) = last else {
            return Ok(0);
        };
        let through_seq: i64 = last.try_get("seq").map_err(db)?;
        let through_hash: String = last.try_get("hash").map_err(db)?;
        let deleted = sqlx::query("DELETE FROM audit WHERE seq < ?")
            .bind(cut)
            .execute(&mut *tx)
            .await
            .map_err(db)?
            .rows_affected();
        let mut entry = AuditEntry::new(now, hegui_audit::PURGE_KIND);
        entry.body = serde_json::to_value(hegui_audit::PurgeBody {
            through_seq: to_u64(through_seq),
            through_hash,
            deleted,
            before,
        })
        .map_err(|e| unavailable(format!("purge body: {e}")))?;
        append_locked(&mut tx, vec![entry]).await?;
        tx.commit().await.map_err(db)?;
        Ok(deleted)
    }
    // ---- companion duties ----

    async fn session_state(&self, app: &str, user: &str) -> Result<Option<SessionRecord>> {
        sqlx::query(
            "SELECT app, user_id, state, day, used_today_ms, updated_at FROM sessions \
             WHERE app = ? AND user_id = ?",
        )
        .bind(app)
        .bind(user)
        .fetch_optional(&self.pool)
        .await
        .map_err(db)?
        .as_ref()
        .map(session_from_row)
        .transpose()
    }

    async fn put_session_state(&self, s: &SessionRecord) -> Result<()> {
        sqlx::query(
            "INSERT INTO sessions (app, user_id, state, day, used_today_ms, updated_at) \
             VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (app, user_id) DO UPDATE SET \
             state = excluded.state, day = excluded.day, \
             used_today_ms = excluded.used_today_ms, updated_at = excluded.updated_at",
        )
        .bind(&s.app)
        .bind(&s.user)
        .bind(&s.state)
        .bind(s.day)
        .bind(s.used_today_ms)
        .bind(s.updated_at)
        .execute(&self.pool)
        .await
        .map_err(db)?;
        Ok(())
    }

    async fn profile(&self, app: &str, user: &str) -> Result<Option<CompanionProfile>> {
        sqlx::query("SELECT body FROM profiles WHERE app = ? AND user_id = ?")
            .bind(app)
            .bind(user)
            .fetch_optional(&self.pool)
            .await
            .map_err(db)?
            .as_ref()
            .map(profile_from_row)
            .transpose()
    }

    async fn put_profile(&self, p: &CompanionProfile) -> Result<()> {
        let body = to_json("profile", serde_json::to_string(p))?;
        sqlx::query(
            "INSERT INTO profiles (app, user_id, body, age_band, guardian, updated_at) \
             VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (app, user_id) DO UPDATE SET \
             body = excluded.body, age_band = excluded.age_band, \
             guardian = excluded.guardian, updated_at = excluded.updated_at",
        )
        .bind(&p.app)
        .bind(&p.user)
        .bind(body)
        .bind(&p.age_band)
        .bind(&p.guardian)
        .bind(p.updated_at)
        .execute(&self.pool)
        .await
        .map_err(db)?;
        Ok(())
    }

    async fn wards(&self, app: &str, guardian: &str) -> Result<Vec<String>> {
        sqlx::query_scalar(
            "SELECT user_id FROM profiles WHERE app = ? AND guardian = ? ORDER BY user_id",
        )
        .bind(app)
        .bind(guardian)
        .fetch_all(&self.pool)
        .await
        .map_err(db)
    }

    async fn put_character(&self, c: &Character) -> Result<()> {
        let body = to_json("character", serde_json::to_string(c))?;
        sqlx::query(
            "INSERT INTO characters (app, id, body, updated_at) VALUES (?, ?, ?, ?) \
             ON CONFLICT (app, id) DO UPDATE SET body = excluded.body, \
             updated_at = excluded.updated_at",
        )
        .bind(&c.app)
        .bind(&c.id)
        .bind(body)
        .bind(c.updated_at)
        .execute(&self.pool)
        .await
        .map_err(db)?;
        Ok(())
    }

    async fn character(&self, app: &str, id: &str) -> Result<Option<Character>> {
        sqlx::query("SELECT body FROM characters WHERE app = ? AND id = ?")
            .bind(app)
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(db)?
            .as_ref()
            .map(character_from_row)
            .transpose()
    }

    async fn characters(&self, app: &str) -> Result<Vec<Character>> {
        sqlx::query("SELECT body FROM characters WHERE app = ? ORDER BY id")
            .bind(app)
            .fetch_all(&self.pool)
            .await
            .map_err(db)?
            .iter()
            .map(character_from_row)
            .collect()
    }

    async fn enqueue_outbox(&self, item: &OutboxItem) -> Result<()> {
        sqlx::query(concat!(
            "INSERT INTO outbox (",
            outbox_cols!(),
            ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        ))
        .bind(&item.id)
        .bind(&item.app)
        .bind(&item.user)
        .bind(&item.kind)
        .bind(&item.url)
        .bind(&item.payload)
        .bind(item.created_at)
        .bind(item.next_attempt_at)
        .bind(i64::from(item.attempts))
        .bind(item.status.as_str())
        .execute(&self.pool)
        .await
        .map_err(db)?;
        Ok(())
    }

    async fn claim_due_outbox(
        &self,
        now: UnixMillis,
        lease_until: UnixMillis,
        limit: u64,
    ) -> Result<Vec<OutboxItem>> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        // Select and lease in one IMMEDIATE transaction: SQLite's write lock is held from the
        // select on, so no other handle or process can claim the same rows in between.
        let (_guard, mut tx) = self.begin_write().await?;
        let mut items = sqlx::query(concat!(
            "SELECT ",
            outbox_cols!(),
            " FROM outbox WHERE status = 'pending' AND next_attempt_at <= ? \
             ORDER BY next_attempt_at, id LIMIT ?"
        ))
        .bind(now)
        .bind(to_i64(limit))
        .fetch_all(&mut *tx)
        .await
        .map_err(db)?
        .iter()
        .map(outbox_from_row)
        .collect::<Result<Vec<_>>>()?;
        if items.is_empty() {
            return Ok(items);
        }
        let mut qb = QueryBuilder::<Sqlite>::new("UPDATE outbox SET next_attempt_at = ");
        qb.push_bind(lease_until).push(" WHERE id IN (");
        let mut ids = qb.separated(", ");
        for item in &items {
            ids.push_bind(item.id.clone());
        }
        qb.push(")");
        qb.build().execute(&mut *tx).await.map_err(db)?;
        tx.commit().await.map_err(db)?;
        for item in &mut items {
            item.next_attempt_at = lease_until;
        }
        Ok(items)
    }

    async fn record_outbox_attempt(
        &self,
        attempt: &OutboxAttempt,
        status: OutboxStatus,
        next_attempt_at: UnixMillis,
    ) -> Result<()> {
        let (_guard, mut tx) = self.begin_write().await?;
        let done = sqlx::query(
            "UPDATE outbox SET attempts = ?, status = ?, next_attempt_at = ? WHERE id = ?",
        )
        .bind(i64::from(attempt.n))
        .bind(status.as_str())
        .bind(next_attempt_at)
        .bind(&attempt.item)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound(format!(
                "outbox item {}",
                attempt.item
            )));
        }
        sqlx::query(
            "INSERT INTO outbox_attempts (item, n, at, status, error, duration_ms) \
             VALUES (?, ?, ?, ?, ?, ?)",
        )
        .bind(&attempt.item)
        .bind(i64::from(attempt.n))
        .bind(attempt.at)
        .bind(attempt.status.map(i64::from))
        .bind(&attempt.error)
        .bind(attempt.duration_ms)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        tx.commit().await.map_err(db)
    }

    async fn outbox_items(
        &self,
        app: Option<&str>,
        user: Option<&str>,
        limit: u64,
    ) -> Result<Vec<OutboxItem>> {
        let mut qb =
            QueryBuilder::<Sqlite>::new(concat!("SELECT ", outbox_cols!(), " FROM outbox WHERE 1"));
        if let Some(app) = app {
            qb.push(" AND app = ").push_bind(app.to_owned());
        }
        if let Some(user) = user {
            qb.push(" AND user_id = ").push_bind(user.to_owned());
        }
        let limit = hegui_store::page_limit(limit);
        qb.push(" ORDER BY created_at DESC, id DESC LIMIT ")
            .push_bind(to_i64(limit));
        qb.build()
            .fetch_all(&self.pool)
            .await
            .map_err(db)?
            .iter()
            .map(outbox_from_row)
            .collect()
    }

    async fn outbox_attempts(&self, item: &str) -> Result<Vec<OutboxAttempt>> {
        sqlx::query(
            "SELECT item, n, at, status, error, duration_ms FROM outbox_attempts \
             WHERE item = ? ORDER BY n",
        )
        .bind(item)
        .fetch_all(&self.pool)
        .await
        .map_err(db)?
        .iter()
        .map(attempt_from_row)
        .collect()
    }

    async fn open_incident(&self, i: &Incident) -> Result<()> {
        sqlx::query(concat!(
            "INSERT INTO incidents (",
            incident_cols!(),
            ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        ))
        .bind(&i.id)
        .bind(&i.app)
        .bind(&i.user)
        .bind(&i.subject)
        .bind(&i.kind)
        .bind(&i.signal)
        .bind(&i.request_id)
        .bind(i.opened_at)
        .bind(&i.status)
        .bind(&i.note)
        .bind(&i.handled_by)
        .bind(i.updated_at)
        .execute(&self.pool)
        .await
        .map_err(db)?;
        Ok(())
    }

    async fn incident(&self, id: &str) -> Result<Option<Incident>> {
        sqlx::query(concat!(
            "SELECT ",
            incident_cols!(),
            " FROM incidents WHERE id = ?"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await
        .map_err(db)?
        .as_ref()
        .map(incident_from_row)
        .transpose()
    }

    async fn incidents(&self, q: &IncidentQuery) -> Result<Vec<Incident>> {
        let mut qb = QueryBuilder::<Sqlite>::new(concat!(
            "SELECT ",
            incident_cols!(),
            " FROM incidents WHERE 1"
        ));
        if let Some(app) = &q.app {
            qb.push(" AND app = ").push_bind(app.clone());
        }
        if let Some(user) = &q.user {
            qb.push(" AND user_id = ").push_bind(user.clone());
        }
        if let Some(status) = &q.status {
            qb.push(" AND status = ").push_bind(status.clone());
        }
        let limit = hegui_store::page_limit(q.limit);
        qb.push(" ORDER BY opened_at DESC, id DESC LIMIT ")
            .push_bind(to_i64(limit));
        qb.build()
            .fetch_all(&self.pool)
            .await
            .map_err(db)?
            .iter()
            .map(incident_from_row)
            .collect()
    }

    async fn update_incident(
        &self,
        id: &str,
        status: &str,
        note: Option<&str>,
        by: &str,
        at: UnixMillis,
    ) -> Result<()> {
        // A change without a note keeps the earlier note (acknowledging must not erase it).
        let done = sqlx::query(
            "UPDATE incidents SET status = ?, note = coalesce(?, note), handled_by = ?, \
             updated_at = ? WHERE id = ?",
        )
        .bind(status)
        .bind(note)
        .bind(by)
        .bind(at)
        .bind(id)
        .execute(&self.pool)
        .await
        .map_err(db)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound(format!("incident {id}")));
        }
        Ok(())
    }

    async fn companion_stats(&self, app: &str, day: i64, edges: &[i64]) -> Result<CompanionStats> {
        let mut stats = CompanionStats::default();
        let bands = sqlx::query(
            "SELECT age_band, count(*) AS n FROM profiles WHERE app = ? GROUP BY age_band",
        )
        .bind(app)
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        for row in &bands {
            let band: String = row.try_get("age_band").map_err(db)?;
            stats
                .age_bands
                .insert(band, to_u64(row.try_get("n").map_err(db)?));
        }
        // One counted column per bucket, so the distribution is computed where the rows are.
        let mut qb = QueryBuilder::<Sqlite>::new("SELECT ");
        for i in 0..=edges.len() {
            if i > 0 {
                qb.push(", ");
            }
            qb.push("count(*) FILTER (WHERE 1");
            if let Some(lo) = i.checked_sub(1).and_then(|j| edges.get(j)) {
                qb.push(" AND used_today_ms >= ").push_bind(*lo);
            }
            if let Some(hi) = edges.get(i) {
                qb.push(" AND used_today_ms < ").push_bind(*hi);
            }
            qb.push(")");
        }
        qb.push(" FROM sessions WHERE app = ")
            .push_bind(app.to_owned())
            .push(" AND day = ")
            .push_bind(day);
        let row = qb.build().fetch_one(&self.pool).await.map_err(db)?;
        for i in 0..=edges.len() {
            stats
                .usage_buckets
                .push(to_u64(row.try_get::<i64, _>(i).map_err(db)?));
        }
        let row = sqlx::query(
            "SELECT count(*) FILTER (WHERE status IN ('open', 'acknowledged')) AS open, \
             count(*) AS total FROM incidents WHERE app = ?",
        )
        .bind(app)
        .fetch_one(&self.pool)
        .await
        .map_err(db)?;
        stats.incidents_open = to_u64(row.try_get("open").map_err(db)?);
        stats.incidents_total = to_u64(row.try_get("total").map_err(db)?);
        Ok(stats)
    }

    async fn delete_user_data(&self, app: &str, user: &str) -> Result<DeletionReport> {
        let (_guard, mut tx) = self.begin_write().await?;
        let mut report = DeletionReport::default();
        // (statement, where the count goes); every statement is keyed by (app, user).
        let deletes: [(&str, &mut u64); 3] = [
            (
                "DELETE FROM messages WHERE app = ? AND user_id = ?",
                &mut report.messages,
            ),
            (
                "DELETE FROM challenges WHERE app = ? AND user_id = ?",
                &mut report.challenges,
            ),
            (
                "UPDATE incidents SET user_id = NULL WHERE app = ? AND user_id = ?",
                &mut report.incidents_detached,
            ),
        ];
        for (sql, count) in deletes {
            *count = sqlx::query(sql)
                .bind(app)
                .bind(user)
                .execute(&mut *tx)
                .await
                .map_err(db)?
                .rows_affected();
        }
        sqlx::query(
            "DELETE FROM outbox_attempts WHERE item IN \
             (SELECT id FROM outbox WHERE app = ? AND user_id = ?)",
        )
        .bind(app)
        .bind(user)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        report.outbox = sqlx::query("DELETE FROM outbox WHERE app = ? AND user_id = ?")
            .bind(app)
            .bind(user)
            .execute(&mut *tx)
            .await
            .map_err(db)?
            .rows_affected();
        let flags: [(&str, &mut bool); 3] = [
            (
                "DELETE FROM sessions WHERE app = ? AND user_id = ?",
                &mut report.session,
            ),
            (
                "DELETE FROM profiles WHERE app = ? AND user_id = ?",
                &mut report.profile,
            ),
            (
                "DELETE FROM users WHERE app = ? AND id = ?",
                &mut report.user,
            ),
        ];
        for (sql, flag) in flags {
            *flag = sqlx::query(sql)
                .bind(app)
                .bind(user)
                .execute(&mut *tx)
                .await
                .map_err(db)?
                .rows_affected()
                > 0;
        }
        // Wards keep their profiles; only the link to the deleted guardian goes.
        let wards = sqlx::query("SELECT body FROM profiles WHERE app = ? AND guardian = ?")
            .bind(app)
            .bind(user)
            .fetch_all(&mut *tx)
            .await
            .map_err(db)?
            .iter()
            .map(profile_from_row)
            .collect::<Result<Vec<_>>>()?;
        for mut ward in wards {
            ward.guardian = None;
            sqlx::query(
                "UPDATE profiles SET body = ?, guardian = NULL WHERE app = ? AND user_id = ?",
            )
            .bind(to_json("profile", serde_json::to_string(&ward))?)
            .bind(app)
            .bind(&ward.user)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        }
        tx.commit().await.map_err(db)?;
        Ok(report)
    }
}
