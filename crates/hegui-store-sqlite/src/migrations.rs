//! Embedded schema migrations: numbered, append-only SQL files in `migrations/`.
//!
//! Never edit a migration that has shipped; add the next number. [`apply`] runs inside the
//! caller's `BEGIN IMMEDIATE` transaction, so two processes opening one file at once apply each
//! migration exactly once (SQLite DDL is transactional).

use hegui_store::Result;
use sqlx::{Executor, SqliteConnection};

use crate::{db, to_i64};

/// (version, name, SQL), in order.
const MIGRATIONS: &[(u64, &str, &str)] = &[
    (1, "init", include_str!("../migrations/0001_init.sql")),
    (
        2,
        "lean audit indexes",
        include_str!("../migrations/0002_lean_audit_indexes.sql"),
    ),
    (
        3,
        "companion",
        include_str!("../migrations/0003_companion.sql"),
    ),
];

/// Applies every migration newer than the database's version.
pub(crate) async fn apply(conn: &mut SqliteConnection) -> Result<()> {
    // `Executor::execute` on a plain string runs every statement in it (the files hold several).
    conn.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations (\
         version INTEGER PRIMARY KEY NOT NULL, name TEXT NOT NULL, applied_at INTEGER NOT NULL)",
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
             VALUES (?, ?, CAST(unixepoch('subsec') * 1000 AS INTEGER))",
        )
        .bind(to_i64(*version))
        .bind(*name)
        .execute(&mut *conn)
        .await
        .map_err(db)?;
    }
    Ok(())
}
