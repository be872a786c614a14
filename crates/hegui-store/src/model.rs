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
}

impl Default for AppSettings {
    fn default() -> Self {
        Self {
            upstream: None,
            upstream_key: None,
            unverified: UnverifiedPolicy::default(),
            service_kind: "general".into(),
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
