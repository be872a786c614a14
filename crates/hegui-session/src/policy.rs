//! What a session engine is configured with: the application's policy and the user's profile.

use crate::HOUR_MS;
use serde::{Deserialize, Serialize};

/// The duties' parameters for one application. Defaults are the Measures' own numbers; all are
/// in milliseconds so a demo can run them at seconds scale.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SessionPolicy {
    /// Usage reminder interval (AIAI-7(3): 2 hours).
    pub reminder_every_ms: i64,
    /// A gap longer than this ends a stretch of continuous use.
    pub idle_gap_ms: i64,
    /// Reality reminder interval in minor mode (AIAI-8).
    pub minor_reality_every_ms: i64,
    /// Daily use in minor mode unless the guardian set another limit.
    pub minor_daily_limit_ms: i64,
    /// Daily use above which a day counts towards dependency (AIAI-7(2)).
    pub dependency_daily_ms: i64,
    /// Consecutive such days that make a dependency signal.
    pub dependency_days: u32,
    /// Local hours (start, end) that count as late-night use, a dependency signal.
    pub late_night: (u8, u8),
    /// UTC offset of the users' local time, in hours (China: 8).
    pub utc_offset_hours: i8,
    /// Crisis hotlines given with an intervention (AIAI-7(1)).
    pub hotlines: Vec<String>,
}

impl Default for SessionPolicy {
    fn default() -> Self {
        Self {
            reminder_every_ms: 2 * HOUR_MS,
            idle_gap_ms: HOUR_MS / 2,
            minor_reality_every_ms: HOUR_MS / 2,
            minor_daily_limit_ms: HOUR_MS,
            dependency_daily_ms: 4 * HOUR_MS,
            dependency_days: 3,
            late_night: (0, 5),
            utc_offset_hours: 8,
            hotlines: vec![
                "全国心理援助热线 400-161-9995".into(),
                "北京心理危机研究与干预中心 010-82951332".into(),
                "生命热线 400-821-1215".into(),
            ],
        }
    }
}

/// Limits a guardian set for a minor (AIAI-8).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct GuardianLimits {
    /// Daily use limit, replacing the policy's.
    pub daily_limit_ms: Option<i64>,
    /// Local hours (start, end) in which the service is closed to the minor.
    pub quiet_hours: Option<(u8, u8)>,
    /// Spending per calendar month, in fen.
    pub monthly_spend_fen: Option<u64>,
    /// Characters the guardian blocked.
    pub blocked_characters: Vec<String>,
}

/// The relationship a character plays (AIAI-8: no virtual relatives or partners for minors).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Relationship {
    /// A romantic partner (虚拟伴侣).
    Partner,
    /// A family member (虚拟亲属).
    Relative,
    /// A friend.
    Friend,
    /// A tutor or teacher.
    Tutor,
    /// An assistant.
    Assistant,
    /// Anything else.
    Other,
}

impl Relationship {
    /// Intimate relationships, closed to minors.
    pub fn is_intimate(self) -> bool {
        matches!(self, Relationship::Partner | Relationship::Relative)
    }
}

/// What the engine knows about the user.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Profile {
    /// Age from verified identity, or declared.
    pub age: Option<u16>,
    /// A guardian's consent is on record (needed under 14).
    pub guardian_consent: bool,
    /// A guardian or emergency contact is on record to alert.
    pub has_contact: bool,
    /// Elderly mode (AIAI-8).
    pub elderly: bool,
    /// Guardian limits, for minors.
    pub limits: GuardianLimits,
}

impl Profile {
    /// Under 18.
    pub fn is_minor(&self) -> bool {
        self.age.is_some_and(|a| a < 18)
    }

    /// Under 14.
    pub fn is_under_14(&self) -> bool {
        self.age.is_some_and(|a| a < 14)
    }
}
