//! Vocabulary shared by every hegui crate.
//!
//! This crate holds no logic: the [`Clock`] that every time rule reads (so a 2-hour rule is tested
//! in microseconds with a [`ManualClock`]) and the [`ObligationId`] newtype that ties code and tests
//! to the numbered duties of `shared/obligations.md`.

mod clock;
mod obligation;

pub use clock::{Clock, ManualClock, SystemClock, UnixMillis};
pub use obligation::ObligationId;
