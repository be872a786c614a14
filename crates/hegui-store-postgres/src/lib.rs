//! PostgreSQL backend of `hegui-store`: several gateway processes, one service.
//!
//! [`PgStore::open`] connects and brings the schema up to date (the migrations in `migrations/`,
//! embedded, append-only, numbered). Migrations run under a transaction-scoped advisory lock, so
//! two processes starting at once apply each one exactly once.
//!
//! The audit chain spans processes: every append and purge first locks the single row of
//! `audit_head` (`SELECT … FOR UPDATE`) in its transaction, reads the head, inserts the records
//! and moves the head, so two gateways on one database append to one unbroken chain. The primary
//! key on `seq` is a second guard: a forked chain could not be stored. A commit returns once
//! PostgreSQL has flushed its WAL (the default `synchronous_commit=on`), so an appended record is
//! durable before the caller answers its client.

mod migrations;

use std::time::Duration;

use hegui_core::UnixMillis;
use hegui_store::{
    App, AppSettings, AuditEntry, AuditQuery, AuditRecord, Challenge, Character, CompanionProfile,
    CompanionStats, DeletionReport, Disposal, DisposalLevel, Incident, IncidentQuery, Message,
    OutboxAttempt, OutboxItem, OutboxStatus, Result, Sealer, SessionRecord, Store, StoreError,
    User, UserCounts, Verification,
};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions, PgRow};
use sqlx::{PgConnection, Postgres, QueryBuilder, Row};

/// How to open a [`PgStore`].
#[derive(Debug, Clone)]
pub struct PgOptions {
    /// Pool size per process.
    pub max_connections: u32,
    /// How long a request waits for a free connection (or for the server) before failing closed.
    pub acquire_timeout: Duration,
}

impl Default for PgOptions {
    fn default() -> Self {
        Self {
            max_connections: 10,
            acquire_timeout: Duration::from_secs(10),
        }
    }
}

/// The PostgreSQL store. Cheap to clone (a pool handle).
#[derive(Debug, Clone)]
pub struct PgStore {
    pool: PgPool,
    sealer: Sealer,
}

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

impl PgStore {
    /// Connects to `url` (`postgres://user:password@host:port/database?sslmode=…`, anything
    /// libpq-style that sqlx accepts) with default options and brings the schema up to date.
    pub async fn open(url: &str, sealer: Sealer) -> Result<Self> {
        Self::open_with(url, sealer, PgOptions::default()).await
    }

    /// Connects with explicit options.
    pub async fn open_with(url: &str, sealer: Sealer, options: PgOptions) -> Result<Self> {
        let connect: PgConnectOptions = url.parse().map_err(db)?;
        Self::connect_with(connect, sealer, options).await
    }

    /// Connects with sqlx connect options (database name, schema search path, TLS …).
    pub async fn connect_with(
        connect: PgConnectOptions,
        sealer: Sealer,
        options: PgOptions,
    ) -> Result<Self> {
        let pool = PgPoolOptions::new()
            .max_connections(options.max_connections.max(1))
            .acquire_timeout(options.acquire_timeout)
            .connect_with(connect)
            .await
            .map_err(db)?;
        let store = Self { pool, sealer };
        store.migrate().await?;
        Ok(store)
    }

    /// The connection pool, for health checks and tests that inspect raw tables.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Closes the pool.
    pub async fn close(&self) {
        self.pool.close().await;
    }
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

fn app_from_row(row: &PgRow) -> Result<App> {
    let settings: String = row.try_get("settings").map_err(db)?;
    Ok(App {
        id: row.try_get("id").map_err(db)?,
        name: row.try_get("name").map_err(db)?,
        key_hash: row.try_get("key_hash").map_err(db)?,
        created_at: row.try_get("created_at").map_err(db)?,
        settings: serde_json::from_str(&settings).map_err(|e| corrupt("app settings", e))?,
    })
}

fn user_from_row(row: &PgRow) -> Result<User> {
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

fn challenge_from_row(row: &PgRow) -> Result<Challenge> {
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

fn audit_from_row(row: &PgRow) -> Result<AuditRecord> {
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

/// The chain head as stored (`None` for an empty chain). With `lock`, the head row stays locked
/// until the transaction ends: the cross-process lock every append and purge takes first.
async fn read_head(conn: &mut PgConnection, lock: bool) -> Result<Option<(u64, String)>> {
    let sql = if lock {
        "SELECT seq, hash FROM audit_head WHERE id = 0 FOR UPDATE"
    } else {
        "SELECT seq, hash FROM audit_head WHERE id = 0"
    };
    let row = sqlx::query(sql)
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

/// Appends `entries` after the current head and moves the head, inside the caller's transaction
/// (the head row lock is taken here if the caller has not taken it yet).
async fn append_locked(
    conn: &mut PgConnection,
    entries: Vec<AuditEntry>,
) -> Result<Vec<AuditRecord>> {
    let head = read_head(conn, true).await?;
    let out = AuditRecord::chain_all(head.as_ref().map(|(s, h)| (*s, h.as_str())), entries);
    for record in &out {
        sqlx::query(concat!(
            "INSERT INTO audit (",
            audit_cols!(),
            ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
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
        sqlx::query("UPDATE audit_head SET seq = $1, hash = $2 WHERE id = 0")
            .bind(to_i64(*seq))
            .bind(hash)
            .execute(&mut *conn)
            .await
            .map_err(db)?;
    }
    Ok(out)
}

/// Stores one message whose content is already sealed.
async fn insert_message(conn: &mut PgConnection, m: &Message, sealed: Vec<u8>) -> Result<()> {
    sqlx::query(
        "INSERT INTO messages (app, user_id, request_id, role, content, at) \
         VALUES ($1, $2, $3, $4, $5, $6)",
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

fn session_from_row(row: &PgRow) -> Result<SessionRecord> {
    Ok(SessionRecord {
        app: row.try_get("app").map_err(db)?,
        user: row.try_get("user_id").map_err(db)?,
        state: row.try_get("state").map_err(db)?,
        day: row.try_get("day").map_err(db)?,
        used_today_ms: row.try_get("used_today_ms").map_err(db)?,
        updated_at: row.try_get("updated_at").map_err(db)?,
    })
}

fn profile_from_row(row: &PgRow) -> Result<CompanionProfile> {
    let body: String = row.try_get("body").map_err(db)?;
    serde_json::from_str(&body).map_err(|e| corrupt("profile", e))
}

fn character_from_row(row: &PgRow) -> Result<Character> {
    let body: String = row.try_get("body").map_err(db)?;
    serde_json::from_str(&body).map_err(|e| corrupt("character", e))
}

fn outbox_from_row(row: &PgRow) -> Result<OutboxItem> {
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

fn attempt_from_row(row: &PgRow) -> Result<OutboxAttempt> {
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

fn incident_from_row(row: &PgRow) -> Result<Incident> {
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
impl Store for PgStore {
    async fn migrate(&self) -> Result<()> {
        let mut tx = self.pool.begin().await.map_err(db)?;
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
            ") VALUES ($1, $2, $3, $4, $5)"
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
            " FROM apps WHERE key_hash = $1"
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
        sqlx::query(concat!("SELECT ", app_cols!(), " FROM apps WHERE id = $1"))
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
        let done = sqlx::query("UPDATE apps SET settings = $1 WHERE id = $2")
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
            "INSERT INTO users (app, id, created_at, last_seen) VALUES ($1, $2, $3, $3) \
             ON CONFLICT (app, id) DO UPDATE SET last_seen = GREATEST(users.last_seen, EXCLUDED.last_seen) \
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
            " FROM users WHERE app = $1 AND id = $2"
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
            " FROM users WHERE app = $1 ORDER BY created_at, id LIMIT $2 OFFSET $3"
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
            "UPDATE users SET verify_method = $1, verified_at = $2, verify_subject_hmac = $3, \
             verify_masked = $4, verify_birth_date = $5, verify_provider_ref = $6 \
             WHERE app = $7 AND id = $8",
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
            "UPDATE users SET disposal_level = $1, disposal_reason = $2, disposal_until = $3, \
             disposal_by = $4, disposal_at = $5 WHERE app = $6 AND id = $7",
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
            "UPDATE users SET violations = violations + 1, last_violation_at = $1 \
             WHERE app = $2 AND id = $3 RETURNING violations",
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
             count(*) FILTER (WHERE last_seen >= $1) AS active FROM users WHERE app = $2",
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
             expires_at, attempts) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (app, user_id) \
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
             FROM challenges WHERE app = $1 AND user_id = $2",
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
             WHERE app = $1 AND user_id = $2 AND attempts < $3 \
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
        sqlx::query("DELETE FROM challenges WHERE app = $1 AND user_id = $2")
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
             WHERE app = $1 AND user_id = $2 ORDER BY at, id",
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
        let mut tx = self.pool.begin().await.map_err(db)?;
        let records = append_locked(&mut tx, entries).await?;
        // The commit returns once PostgreSQL has flushed its WAL (synchronous_commit).
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
        let mut tx = self.pool.begin().await.map_err(db)?;
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

    async fn audit_range(&self, from: u64, limit: u64) -> Result<Vec<AuditRecord>> {
        sqlx::query(concat!(
            "SELECT ",
            audit_cols!(),
            " FROM audit WHERE seq >= $1 ORDER BY seq LIMIT $2"
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
        let mut qb = QueryBuilder::<Postgres>::new(concat!(
            "SELECT ",
            audit_cols!(),
            " FROM audit WHERE TRUE"
        ));
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
            // Not LIKE: a prefix with `%` or `_` means itself.
            qb.push(" AND starts_with(kind, ")
                .push_bind(prefix.clone())
                .push(")");
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
        read_head(&mut conn, false).await
    }

    async fn purge_audit(&self, before: UnixMillis, now: UnixMillis) -> Result<u64> {
        let mut tx = self.pool.begin().await.map_err(db)?;
        // Lock the head first: no append can slip in between the cut and the purge record.
        let Some((head_seq, _)) = read_head(&mut tx, true).await? else {
            return Ok(0);
        };
        // Delete only a prefix of the chain (a hole would not verify), and only records older
        // than the cutoff: the prefix ends before the oldest record at or after `before`, and
        // never includes the newest record.
        let first_kept: Option<i64> =
            sqlx::query_scalar("SELECT min(seq) FROM audit WHERE at >= $1")
                .bind(before)
                .fetch_one(&mut *tx)
                .await
                .map_err(db)?;
        let cut = first_kept.unwrap_or(to_i64(head_seq)).min(to_i64(head_seq));
        let last =
            sqlx::query("SELECT seq, hash FROM audit WHERE seq < $1 ORDER BY seq DESC LIMIT 1")
                .bind(cut)
                .fetch_optional(&mut *tx)
                .await
                .map_err(db)?;
        let Some(last) = last else {
            return Ok(0);
        };
        let through_seq: i64 = last.try_get("seq").map_err(db)?;
        let through_hash: String = last.try_get("hash").map_err(db)?;
        let deleted = sqlx::query("DELETE FROM audit WHERE seq < $1")
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
             WHERE app = $1 AND user_id = $2",
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
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (app, user_id) DO UPDATE SET \
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
        sqlx::query("SELECT body FROM profiles WHERE app = $1 AND user_id = $2")
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
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (app, user_id) DO UPDATE SET \
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
            "SELECT user_id FROM profiles WHERE app = $1 AND guardian = $2 ORDER BY user_id",
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
            "INSERT INTO characters (app, id, body, updated_at) VALUES ($1, $2, $3, $4) \
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
        sqlx::query("SELECT body FROM characters WHERE app = $1 AND id = $2")
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
        sqlx::query("SELECT body FROM characters WHERE app = $1 ORDER BY id")
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
            ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
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
        // One statement: the due rows are locked as they are picked (rows another worker holds
        // are skipped, not waited for) and leased before the lock is released, so two gateway
        // processes never claim one item.
        let rows = sqlx::query(
            "WITH due AS (SELECT id, next_attempt_at AS was FROM outbox \
             WHERE status = 'pending' AND next_attempt_at <= $1 \
             ORDER BY next_attempt_at, id LIMIT $3 FOR UPDATE SKIP LOCKED) \
             UPDATE outbox o SET next_attempt_at = $2 FROM due WHERE o.id = due.id \
             RETURNING o.id, o.app, o.user_id, o.kind, o.url, o.payload, o.created_at, \
             o.next_attempt_at, o.attempts, o.status, due.was",
        )
        .bind(now)
        .bind(lease_until)
        .bind(to_i64(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        let mut items = rows
            .iter()
            .map(|row| {
                Ok((
                    row.try_get::<i64, _>("was").map_err(db)?,
                    outbox_from_row(row)?,
                ))
            })
            .collect::<Result<Vec<_>>>()?;
        // RETURNING has no order: oldest due first, as the contract says.
        items.sort_by(|a, b| (a.0, &a.1.id).cmp(&(b.0, &b.1.id)));
        Ok(items.into_iter().map(|(_, item)| item).collect())
    }

    async fn record_outbox_attempt(
        &self,
        attempt: &OutboxAttempt,
        status: OutboxStatus,
        next_attempt_at: UnixMillis,
    ) -> Result<()> {
        let mut tx = self.pool.begin().await.map_err(db)?;
        let done = sqlx::query(
            "UPDATE outbox SET attempts = $1, status = $2, next_attempt_at = $3 WHERE id = $4",
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
             VALUES ($1, $2, $3, $4, $5, $6)",
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
        let mut qb = QueryBuilder::<Postgres>::new(concat!(
            "SELECT ",
            outbox_cols!(),
            " FROM outbox WHERE TRUE"
        ));
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
             WHERE item = $1 ORDER BY n",
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
            ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
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
            " FROM incidents WHERE id = $1"
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
        let mut qb = QueryBuilder::<Postgres>::new(concat!(
            "SELECT ",
            incident_cols!(),
            " FROM incidents WHERE TRUE"
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
            "UPDATE incidents SET status = $1, note = coalesce($2, note), handled_by = $3, \
             updated_at = $4 WHERE id = $5",
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
            "SELECT age_band, count(*) AS n FROM profiles WHERE app = $1 GROUP BY age_band",
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
        let mut qb = QueryBuilder::<Postgres>::new("SELECT ");
        for i in 0..=edges.len() {
            if i > 0 {
                qb.push(", ");
            }
            qb.push("count(*) FILTER (WHERE TRUE");
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
             count(*) AS total FROM incidents WHERE app = $1",
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
        let mut tx = self.pool.begin().await.map_err(db)?;
        let mut report = DeletionReport::default();
        // (statement, where the count goes); every statement is keyed by (app, user).
        let deletes: [(&str, &mut u64); 3] = [
            (
                "DELETE FROM messages WHERE app = $1 AND user_id = $2",
                &mut report.messages,
            ),
            (
                "DELETE FROM challenges WHERE app = $1 AND user_id = $2",
                &mut report.challenges,
            ),
            (
                "UPDATE incidents SET user_id = NULL WHERE app = $1 AND user_id = $2",
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
             (SELECT id FROM outbox WHERE app = $1 AND user_id = $2)",
        )
        .bind(app)
        .bind(user)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        report.outbox = sqlx::query("DELETE FROM outbox WHERE app = $1 AND user_id = $2")
            .bind(app)
            .bind(user)
            .execute(&mut *tx)
            .await
            .map_err(db)?
            .rows_affected();
        let flags: [(&str, &mut bool); 3] = [
            (
                "DELETE FROM sessions WHERE app = $1 AND user_id = $2",
                &mut report.session,
            ),
            (
                "DELETE FROM profiles WHERE app = $1 AND user_id = $2",
                &mut report.profile,
            ),
            (
                "DELETE FROM users WHERE app = $1 AND id = $2",
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
        let wards = sqlx::query("SELECT body FROM profiles WHERE app = $1 AND guardian = $2")
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
                "UPDATE profiles SET body = $1, guardian = NULL WHERE app = $2 AND user_id = $3",
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
