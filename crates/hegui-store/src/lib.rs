//! The gateway's persistence contract.
//!
//! [`Store`] is an async trait used as `Arc<dyn Store>`; `hegui-store-sqlite` (the embedded
//! default) and `hegui-store-postgres` (several gateway processes, one service) implement it, and
//! [`testing::conformance`] (feature `testing`) runs the same checks on both. The trait names no
//! SQL, so the gateway never sees which backend it has.
//!
//! Invariants every backend keeps:
//! * the audit chain is appended under a lock that spans processes (two gateways on one
//!   PostgreSQL append to one chain, never fork it);
//! * an append returns only once the record is durable (a client never gets a response whose
//!   audit record can still be lost);
//! * message content is sealed ([`Sealer`]) before it reaches a table, so the database files hold
//!   no plaintext dialogue (encrypted at rest);
//! * nothing else stores message text; prompts in audit bodies are masked by the caller (GAI-11).

mod model;
mod seal;
#[cfg(feature = "testing")]
pub mod testing;

pub use hegui_audit::{AuditEntry, AuditRecord};
pub use model::*;
pub use seal::{SealError, Sealer};

use hegui_core::UnixMillis;

/// What can go wrong talking to a store.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The thing asked for does not exist.
    #[error("not found: {0}")]
    NotFound(String),
    /// A uniqueness rule was violated (an application name or key that exists already).
    #[error("conflict: {0}")]
    Conflict(String),
    /// Sealed content could not be opened (wrong key or edited ciphertext).
    #[error("sealed content: {0}")]
    Seal(#[from] SealError),
    /// The database could not be reached or refused the operation; the caller fails closed.
    #[error("store unavailable: {0}")]
    Unavailable(Box<dyn std::error::Error + Send + Sync>),
}

/// The row limit of a listing: the caller's, or 100 when it asks for 0 ("no preference").
pub fn page_limit(limit: u64) -> u64 {
    if limit == 0 { 100 } else { limit }
}

/// Shorthand for store results.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// The gateway's state: applications, end users, dispositions, dialogue and the audit chain.
#[async_trait::async_trait]
pub trait Store: Send + Sync {
    /// Brings the schema up to date (idempotent; safe when two processes start together).
    async fn migrate(&self) -> Result<()>;

    // ---- applications (tenants) ----

    /// Registers an application. Fails with `Conflict` if the name or key hash exists.
    async fn create_app(&self, app: &App) -> Result<()>;
    /// The application whose API key hashes to `key_hash`.
    async fn app_by_key_hash(&self, key_hash: &str) -> Result<Option<App>>;
    /// One application by id.
    async fn app(&self, id: &str) -> Result<Option<App>>;
    /// All applications, oldest first.
    async fn apps(&self) -> Result<Vec<App>>;
    /// Replaces an application's settings.
    async fn update_app_settings(&self, id: &str, settings: &AppSettings) -> Result<()>;

    // ---- end users ----

    /// Registers the user on first sight and updates `last_seen`; returns the stored user.
    async fn touch_user(&self, app: &str, user: &str, now: UnixMillis) -> Result<User>;
    /// One user.
    async fn user(&self, app: &str, user: &str) -> Result<Option<User>>;
    /// An application's users, oldest first, at most `limit` after offset `offset`.
    async fn users(&self, app: &str, offset: u64, limit: u64) -> Result<Vec<User>>;
    /// Records a successful real-name verification (replaces an earlier one).
    async fn set_verification(&self, app: &str, user: &str, v: &Verification) -> Result<()>;
    /// Sets the disposal state (ladder step or manual override).
    async fn set_disposal(&self, app: &str, user: &str, d: &Disposal) -> Result<()>;
    /// Counts one more confirmed violation and returns the new total, atomically.
    async fn add_violation(&self, app: &str, user: &str, at: UnixMillis) -> Result<u32>;
    /// Registered users and users seen since `active_since` (monthly active users, AIAI-9).
    async fn user_counts(&self, app: &str, active_since: UnixMillis) -> Result<UserCounts>;

    // ---- verification challenges (SMS one-time codes) ----

    /// Stores (replacing) the pending challenge of a user.
    async fn put_challenge(&self, c: &Challenge) -> Result<()>;
    /// The pending challenge of a user, if any.
    async fn challenge(&self, app: &str, user: &str) -> Result<Option<Challenge>>;
    /// Claims one attempt at a user's pending challenge, atomically: increments its attempt
    /// count if it is below `max` and returns the challenge as it was before the increment, or
    /// `None` (no challenge, or no attempts left). Concurrent guesses each use up an attempt.
    async fn claim_challenge_attempt(
        &self,
        app: &str,
        user: &str,
        max: u32,
    ) -> Result<Option<Challenge>>;
    /// Removes the pending challenge of a user.
    async fn delete_challenge(&self, app: &str, user: &str) -> Result<()>;

    // ---- dialogue, sealed at rest ----

    /// Stores one message; the backend seals `content` before it touches a table.
    async fn put_message(&self, m: &Message) -> Result<()>;
    /// A user's messages, oldest first, opened.
    async fn messages(&self, app: &str, user: &str) -> Result<Vec<Message>>;

    // ---- audit chain ----

    /// Appends one record at the end of the chain, durably, under a cross-process lock.
    async fn append_audit(&self, entry: AuditEntry) -> Result<AuditRecord>;
    /// Appends several records in one transaction (one request's records), in order.
    async fn append_audit_batch(&self, entries: Vec<AuditEntry>) -> Result<Vec<AuditRecord>>;
    /// The end of one request in one transaction: stores its messages (sealed) and appends its
    /// audit records, so a request costs one durable write.
    async fn commit_request(
        &self,
        messages: &[Message],
        entries: Vec<AuditEntry>,
    ) -> Result<Vec<AuditRecord>>;
    /// Records with `seq >= from`, in seq order, at most `limit`.
    async fn audit_range(&self, from: u64, limit: u64) -> Result<Vec<AuditRecord>>;
    /// Records matching `q`, newest first.
    async fn audit_query(&self, q: &AuditQuery) -> Result<Vec<AuditRecord>>;
    /// The newest (seq, hash) the store has recorded as the head, kept apart from the records.
    async fn audit_head(&self) -> Result<Option<(u64, String)>>;
    /// Deletes records older than `before` and appends the purge record that keeps the rest
    /// verifiable. Returns the number deleted (0 appends nothing).
    async fn purge_audit(&self, before: UnixMillis, now: UnixMillis) -> Result<u64>;

    // ---- companion duties (AIAI, DVH-10, DVH-18) ----

    /// A user's companion-session state.
    async fn session_state(&self, app: &str, user: &str) -> Result<Option<SessionRecord>>;
    /// Stores (replacing) a user's companion-session state.
    async fn put_session_state(&self, s: &SessionRecord) -> Result<()>;
    /// A user's companion profile.
    async fn profile(&self, app: &str, user: &str) -> Result<Option<CompanionProfile>>;
    /// Stores (replacing) a user's companion profile.
    async fn put_profile(&self, p: &CompanionProfile) -> Result<()>;
    /// The users whose linked guardian is `guardian`, sorted.
    async fn wards(&self, app: &str, guardian: &str) -> Result<Vec<String>>;
    /// Registers or replaces a character.
    async fn put_character(&self, c: &Character) -> Result<()>;
    /// One character.
    async fn character(&self, app: &str, id: &str) -> Result<Option<Character>>;
    /// An application's characters, by id.
    async fn characters(&self, app: &str) -> Result<Vec<Character>>;
    /// Queues a webhook call. Fails with `Conflict` if the id exists.
    async fn enqueue_outbox(&self, item: &OutboxItem) -> Result<()>;
    /// Claims up to `limit` pending items due at `now` (oldest `next_attempt_at` first) by moving
    /// their `next_attempt_at` to `lease_until`, atomically, so that two workers (or two gateway
    /// processes) never deliver one item at the same time. Returns them as claimed.
    async fn claim_due_outbox(
        &self,
        now: UnixMillis,
        lease_until: UnixMillis,
        limit: u64,
    ) -> Result<Vec<OutboxItem>>;
    /// Records one attempt and the item's new state: `attempts` becomes `attempt.n`, `status`
    /// and `next_attempt_at` are set. `NotFound` if the item is gone (deleted with its user).
    async fn record_outbox_attempt(
        &self,
        attempt: &OutboxAttempt,
        status: OutboxStatus,
        next_attempt_at: UnixMillis,
    ) -> Result<()>;
    /// Outbox items, newest first, optionally of one application and user, at most `limit`
    /// (0 means 100).
    async fn outbox_items(
        &self,
        app: Option<&str>,
        user: Option<&str>,
        limit: u64,
    ) -> Result<Vec<OutboxItem>>;
    /// One item's attempts, in order.
    async fn outbox_attempts(&self, item: &str) -> Result<Vec<OutboxAttempt>>;
    /// Opens an incident. Fails with `Conflict` if the id exists.
    async fn open_incident(&self, i: &Incident) -> Result<()>;
    /// One incident.
    async fn incident(&self, id: &str) -> Result<Option<Incident>>;
    /// Incidents matching `q`, newest first.
    async fn incidents(&self, q: &IncidentQuery) -> Result<Vec<Incident>>;
    /// Sets an incident's status, note and handler. `NotFound` if there is none.
    async fn update_incident(
        &self,
        id: &str,
        status: &str,
        note: Option<&str>,
        by: &str,
        at: UnixMillis,
    ) -> Result<()>;
    /// AIAI-9 statistics of one application: age bands, the usage distribution of local day
    /// `day` over `edges` (milliseconds, ascending), incident counts.
    async fn companion_stats(&self, app: &str, day: i64, edges: &[i64]) -> Result<CompanionStats>;
    /// Deletes everything held about a user (messages, session, profile, challenges, outbox
    /// items and their attempts, the user row; guardian links pointing at the user are cleared)
    /// in one transaction; incidents stay with `user` cleared. Audit records are untouched: they
    /// carry only keyed hashes. Deleting an unknown user reports zeros.
    async fn delete_user_data(&self, app: &str, user: &str) -> Result<DeletionReport>;
}
