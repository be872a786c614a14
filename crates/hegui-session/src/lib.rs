//! Companion-session duties of the Anthropomorphic Interaction Measures (拟人化互动服务管理暂行办法)
//! as a sans-IO engine: the caller feeds [`Event`]s with the time they happened and gets
//! [`Action`]s back. No timers, no threads, no IO: time only comes in with the event, so a
//! two-hour rule is tested in microseconds with any clock.
//!
//! Duties covered here:
//! * AIAI-7(3): a usage reminder at every 2 hours of continuous use ([`UsageClock`]);
//! * AIAI-7(2): AI-generated reminders at first use, at each login and on dependency signals;
//! * AIAI-7(1): extreme emotion → soothing and help-seeking; intent, plan or major loss →
//!   intervention, guardian or emergency-contact alert, incident;
//! * AIAI-8, DVH-10: minors: guardian consent under 14, no intimate-relationship characters,
//!   daily limits, quiet hours, reality reminders, spending limits;
//! * DVH-18, AIAI-6(4): exit always works; a reply that pleads or guilt-trips after a goodbye is
//!   rewritten.

mod clock;
mod policy;
mod session;
pub mod signals;

pub use clock::{UsageClock, UsageReminder};
pub use policy::{GuardianLimits, Profile, Relationship, SessionPolicy};
pub use session::{
    Action, Crisis, DayUsage, Event, HISTORY_DAYS, NEUTRAL_GOODBYE, NoticeKind, RefusalCode,
    Session, Signal,
};

/// Milliseconds in an hour, for policies written in hours.
pub const HOUR_MS: i64 = 3_600_000;
