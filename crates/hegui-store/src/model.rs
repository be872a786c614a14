//! Persisted models. Plain data: the rules that produce them live in the gateway and libraries.

use hegui_core::UnixMillis;
use serde::{Deserialize, Serialize};

/// An application (tenant): one provider's service behind the gateway.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct App {
    /// Stable id, `app_` + hex.
    pub id: String,
    /// Unique display name.
    pub name: String,
    /// SHA-256 (hex) of the API key; the key itself is shown once and never stored.
    pub key_hash: String,
    /// When it was registered.
    pub created_at: UnixMillis,
    /// Per-application settings.
    pub settings: AppSettings,
}

/// Per-application settings, stored as JSON so new fields need no migration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct AppSettings {
    /// Upstream base URL (OpenAI-compatible, ending before `/chat/completions`, e.g.
    /// `http://127.0.0.1:8000/v1`); `None` uses the gateway's default upstream.
    pub upstream: Option<String>,
    /// Bearer key sent to the upstream, if it needs one.
    pub upstream_key: Option<String>,
    /// What an unverified user may do (DS-9, GAI-9).
    pub unverified: UnverifiedPolicy,
    /// Kind of service (`general`, `companion`, …); companion duties key on it (AIAI-2).
    pub service_kind: String,
    /// Companion-duty parameters for this application; `None` uses the gateway's defaults.
    pub session_policy: Option<hegui_session::SessionPolicy>,
    /// Where guardian and emergency-contact alerts and help requests are POSTed (the provider's
    /// endpoint that reaches the person); `None` uses the gateway's default.
    pub alert_webhook: Option<String>,
    /// A service-shutdown notice announced to every user in advance (AIAI-6).
    pub shutdown: Option<ShutdownNotice>,
    /// AIAI-9 thresholds already alerted (`registered`, `monthly_active`), so each alerts once.
    pub aiai9_alerted: Vec<String>,
}

/// A planned end of service, announced in advance to every user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShutdownNotice {
    /// When it was announced.
    pub announced_at: UnixMillis,
    /// When the service stops.
    pub effective_at: UnixMillis,
    /// The announcement shown to users.
    pub text: String,
}

impl Default for AppSettings {
    fn default() -> Self {
        Self {
            upstream: None,
            upstream_key: None,
            unverified: UnverifiedPolicy::default(),
            service_kind: "general".into(),
            session_policy: None,
            alert_webhook: None,
            shutdown: None,
            aiai9_alerted: Vec::new(),
        }
    }
}

/// What a user without real-name verification may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct UnverifiedPolicy {
    /// May generate content for themselves.
    pub generate: bool,
    /// May publish or share what is generated (information publishing needs real identity, DS-9).
    pub publish: bool,
}

impl Default for UnverifiedPolicy {
    fn default() -> Self {
        Self {
            generate: true,
            publish: false,
        }
    }
}

/// An end user of an application, as the gateway knows them: pseudonymous.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    /// Application id.
    pub app: String,
    /// The application's own user reference (OpenAI `user` field or `X-Hegui-User`).
    pub id: String,
    /// First seen.
    pub created_at: UnixMillis,
    /// Last request.
    pub last_seen: UnixMillis,
    /// Real-name verification, if done.
    pub verification: Option<Verification>,
    /// Where the user stands on the disposal ladder.
    pub disposal: Disposal,
    /// Confirmed violations so far.
    pub violations: u32,
}

/// The result of a successful real-name verification: evidence, never the identity itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verification {
    /// How: `sms_otp`, `network_identity`, `three_element`, …
    pub method: String,
    /// When.
    pub verified_at: UnixMillis,
    /// Keyed hash (HMAC) of the normalised identifier (ID number or mobile), for duplicate checks.
    pub subject_hmac: String,
    /// Masked display form (`110105********002X`, `138****5678`).
    pub masked: String,
    /// Birth date `YYYY-MM-DD` when the evidence gives one (resident ID), for age rules.
    pub birth_date: Option<String>,
    /// Provider name and its request id, for the record.
    pub provider_ref: String,
}

/// Steps of the disposal ladder (处置: 警示, 限制功能, 暂停服务, 关闭账号; DS-10, GAI-19).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DisposalLevel {
    /// In good standing.
    #[default]
    None,
    /// 警示: told, nothing restricted.
    Warning,
    /// 限制功能: may chat, may not publish or generate media.
    Restricted,
    /// 暂停服务: refused until `until` (or lifted).
    Suspended,
    /// 关闭账号: refused for good.
    Closed,
}

impl DisposalLevel {
    /// Stable name, as stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Warning => "warning",
            Self::Restricted => "restricted",
            Self::Suspended => "suspended",
            Self::Closed => "closed",
        }
    }

    /// Parses [`DisposalLevel::as_str`].
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "none" => Self::None,
            "warning" => Self::Warning,
            "restricted" => Self::Restricted,
            "suspended" => Self::Suspended,
            "closed" => Self::Closed,
            _ => return None,
        })
    }
}

/// A user's disposal state.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Disposal {
    /// The step.
    pub level: DisposalLevel,
    /// Reason code shown to the user (`violations_threshold`, `manual`, …).
    pub reason: Option<String>,
    /// End of a suspension, if it has one.
    pub until: Option<UnixMillis>,
    /// Who set it: `ladder` or the admin's name.
    pub by: Option<String>,
    /// When it was set.
    pub at: Option<UnixMillis>,
}

/// User counts of one application (AIAI-9).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserCounts {
    /// Registered users.
    pub registered: u64,
    /// Users seen since the cutoff.
    pub active: u64,
}

/// A pending verification challenge (an SMS one-time code).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Challenge {
    /// Application id.
    pub app: String,
    /// User id.
    pub user: String,
    /// Keyed hash of the code (the code itself is never stored).
    pub code_hmac: String,
    /// When the code was issued (the code's MAC is bound to it).
    pub issued_at: UnixMillis,
    /// Keyed hash of the mobile number it was sent to.
    pub subject_hmac: String,
    /// Masked mobile number.
    pub masked: String,
    /// Expiry.
    pub expires_at: UnixMillis,
    /// Wrong answers so far.
    pub attempts: u32,
}

/// One message of a dialogue; `content` is plaintext here and sealed in the store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    /// Application id.
    pub app: String,
    /// User id.
    pub user: String,
    /// Request id it belongs to.
    pub request_id: String,
    /// `user` or `assistant`.
    pub role: String,
    /// Text, with ID and phone numbers already masked by the caller.
    pub content: String,
    /// When.
    pub at: UnixMillis,
}

/// A filter over audit records.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct AuditQuery {
    /// Only this application.
    pub app: Option<String>,
    /// Only this subject.
    pub subject: Option<String>,
    /// Only this request.
    pub request_id: Option<String>,
    /// Only kinds starting with this prefix.
    pub kind_prefix: Option<String>,
    /// Only records at or after this time.
    pub since: Option<UnixMillis>,
    /// At most this many (0 means 100).
    pub limit: u64,
}

// ---------------------------------------------------------------------------------------------
// Companion duties (AIAI, DVH-10, DVH-18)
// ---------------------------------------------------------------------------------------------

/// One user's companion-session state: the engine's state as JSON (opaque to the store) and the
/// two columns the AIAI-9 usage-time distribution reads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionRecord {
    /// Application id.
    pub app: String,
    /// User id.
    pub user: String,
    /// `hegui_session::Session` serialised as JSON.
    pub state: String,
    /// Local day number (days since the epoch in the users' time zone) `used_today_ms` counts.
    pub day: i64,
    /// Time used on `day`, in milliseconds.
    pub used_today_ms: i64,
    /// Last update.
    pub updated_at: UnixMillis,
}

/// A recorded consent (同意): who gave it, when, for what, under which wording.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsentRecord {
    /// The user id of whoever consented (the guardian for a minor's consent).
    pub by: String,
    /// When.
    pub at: UnixMillis,
    /// What for (`minor_service`, `third_party_sharing`, …).
    pub scope: String,
    /// Version of the text the person agreed to.
    pub text_version: String,
}

/// What is recorded about a companion user beyond the account: age, modes, guardian, consents,
/// contacts and limits. Stored as JSON with three indexed columns (`age_band`, `guardian`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct CompanionProfile {
    /// Application id.
    pub app: String,
    /// User id.
    pub user: String,
    /// Age the user declared (a verified birth date wins over it).
    pub declared_age: Option<u16>,
    /// Elderly mode switched on (AIAI-8).
    pub elderly: bool,
    /// The linked guardian's user id in the same application (监护人).
    pub guardian: Option<String>,
    /// The guardian's consent to a minor's use and data processing (needed under 14).
    pub guardian_consent: Option<ConsentRecord>,
    /// The emergency contact, as an opaque reference in the provider's own system (紧急联系人);
    /// hegui never stores the contact's phone number.
    pub emergency_contact: Option<String>,
    /// Limits the guardian set.
    pub limits: hegui_session::GuardianLimits,
    /// Consent to share interaction data with third parties (off unless recorded, AIAI-6(3)).
    pub sharing_consent: Option<ConsentRecord>,
    /// Age band for the AIAI-9 age structure: `under_14`, `14_17`, `18_59`, `60_plus`, `unknown`.
    pub age_band: String,
    /// Last change.
    pub updated_at: UnixMillis,
}

/// A character an application offers, with the relationship it plays (AIAI-8).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Character {
    /// Application id.
    pub app: String,
    /// The application's character id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// The relationship it plays; partner and relative are closed to minors.
    pub relationship: hegui_session::Relationship,
    /// Registered or last changed.
    pub updated_at: UnixMillis,
}

/// Delivery state of an outbox item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OutboxStatus {
    /// Not yet delivered; retried at `next_attempt_at`.
    Pending,
    /// The receiver answered 2xx.
    Delivered,
    /// Given up after the last allowed attempt.
    Dead,
}

impl OutboxStatus {
    /// Stable name, as stored.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Delivered => "delivered",
            Self::Dead => "dead",
        }
    }

    /// Parses [`OutboxStatus::as_str`].
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "pending" => Self::Pending,
            "delivered" => Self::Delivered,
            "dead" => Self::Dead,
            _ => return None,
        })
    }
}

/// A webhook call to make (guardian or emergency-contact alert, help request …), persisted
/// before the request that caused it is answered and retried with back-off until delivered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboxItem {
    /// Stable id, `ob_` + hex.
    pub id: String,
    /// Application id.
    pub app: String,
    /// The user it concerns (`None` for application-level alerts such as AIAI-9 thresholds;
    /// a user's items are deleted with their data).
    pub user: Option<String>,
    /// `guardian_alert`, `emergency_alert`, `help_request`, `aiai9_threshold`, …
    pub kind: String,
    /// Where to POST.
    pub url: String,
    /// The JSON body to POST.
    pub payload: String,
    /// When it was queued.
    pub created_at: UnixMillis,
    /// Not before this time (also the lease end while a worker delivers it).
    pub next_attempt_at: UnixMillis,
    /// Attempts made so far.
    pub attempts: u32,
    /// Delivery state.
    pub status: OutboxStatus,
}

/// One delivery attempt of an outbox item, as recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboxAttempt {
    /// The item.
    pub item: String,
    /// 1 for the first attempt.
    pub n: u32,
    /// When it was made.
    pub at: UnixMillis,
    /// HTTP status, if the receiver answered.
    pub status: Option<u16>,
    /// Connection or timeout error, if it did not.
    pub error: Option<String>,
    /// How long it took.
    pub duration_ms: i64,
}

/// A case for human follow-up (人工接管, AIAI-7(1)): a crisis or a help request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Incident {
    /// Stable id, `inc_` + hex.
    pub id: String,
    /// Application id.
    pub app: String,
    /// The user (`None` once the user's data was deleted; `subject` remains).
    pub user: Option<String>,
    /// Keyed hash of the user, as in the audit log.
    pub subject: String,
    /// `crisis` or `help_request`.
    pub kind: String,
    /// The signal (`intent`, `plan`, `major_loss`, `elderly_help` …).
    pub signal: String,
    /// The request that raised it.
    pub request_id: Option<String>,
    /// When it was opened.
    pub opened_at: UnixMillis,
    /// `open`, `acknowledged` or `resolved`.
    pub status: String,
    /// The reviewer's note.
    pub note: Option<String>,
    /// Who handled it last.
    pub handled_by: Option<String>,
    /// Last change.
    pub updated_at: UnixMillis,
}

/// A filter over incidents.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct IncidentQuery {
    /// Only this application.
    pub app: Option<String>,
    /// Only this user.
    pub user: Option<String>,
    /// Only this status.
    pub status: Option<String>,
    /// At most this many (0 means 100), newest first.
    pub limit: u64,
}

/// Statistics of one application for the AIAI-9 report.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CompanionStats {
    /// Users per age band (from the profiles; users without a profile are not counted).
    pub age_bands: std::collections::BTreeMap<String, u64>,
    /// Users per usage bucket on the day asked for: bucket `i` counts users with
    /// `edges[i-1] <= used_today_ms < edges[i]` (the first from 0, the last open-ended), so it
    /// has `edges.len() + 1` entries.
    pub usage_buckets: Vec<u64>,
    /// Incidents still open or acknowledged.
    pub incidents_open: u64,
    /// Incidents in all.
    pub incidents_total: u64,
}

/// What deleting a user's data removed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeletionReport {
    /// Messages deleted.
    pub messages: u64,
    /// Session state deleted.
    pub session: bool,
    /// Profile deleted.
    pub profile: bool,
    /// Pending challenges deleted.
    pub challenges: u64,
    /// Outbox items (and their attempts) deleted.
    pub outbox: u64,
    /// Incidents kept for the record with the user id removed (only `subject` stays).
    pub incidents_detached: u64,
    /// The user row was deleted.
    pub user: bool,
}
