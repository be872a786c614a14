//! Embedded schema migrations: numbered, append-only SQL files in `migrations/`.
//!
//! Never edit a migration that has shipped; add the next number. [`apply`] runs inside the
//! caller's transaction and first takes a transaction-scoped advisory lock, so two processes
//! starting at once queue here and each migration is applied exactly once (PostgreSQL DDL is
//! transactional).

use hegui_store::Result;
use sqlx::{Executor, PgConnection};

use crate::{db, to_i64};

/// (version, name, SQL), in order.
const MIGRATIONS: &[(u64, &str, &str)] = &[
    (1, "init", include_str!("../migrations/0001_init.sql")),
    (
        2,
        "companion",
        include_str!("../migrations/0002_companion.sql"),
    ),
];

/// Advisory lock key of the migrations: "hegui" in ASCII, then 1.
const MIGRATION_LOCK: i64 = 0x6865_6775_6901;

/// Applies every migration newer than the database's version.
pub(crate) async fn apply(conn: &mut PgConnection) -> Result<()> {
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(MIGRATION_LOCK)
        .execute(&mut *conn)
        .await
        .map_err(db)?;
    // A plain string runs through the simple query protocol, which allows several statements.
    conn.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations (\
         version BIGINT PRIMARY KEY NOT NULL, name TEXT NOT NULL, applied_at BIGINT NOT NULL)",
    )
    .await
    .map_err(db)?;
    let current: i64 =
        sqlx::query_scalar("SELECT coalesce(max(version), 0) FROM schema_migrations")
            .fetch_one(&mut *conn)
            .await
            .map_err(db)?;
    for (version, name, sql) in MIGRATIONS {
        if to_i64(*version) <= current {
            continue;
        }
        conn.execute(*sql).await.map_err(db)?;
        sqlx::query(
            "INSERT INTO schema_migrations (version, name, applied_at) \
             VALUES ($1, $2, (extract(epoch FROM clock_timestamp()) * 1000)::bigint)",
        )
        .bind(to_i64(*version))
        .bind(*name)
        .execute(&mut *conn)
        .await
        .map_err(db)?;
    }
    Ok(())
}
