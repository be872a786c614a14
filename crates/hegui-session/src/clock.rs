//! The continuous-use clock (AIAI-7(3): 连续使用每超过2个小时提醒).

use hegui_core::UnixMillis;

/// A reminder that is due now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UsageReminder {
    /// Continuous use so far, in milliseconds.
    pub continuous_ms: i64,
    /// Which reminder of this stretch it is (1 at 2 h, 2 at 4 h …).
    pub nth: u32,
}

/// Continuous use: activity without an idle gap longer than `idle_gap_ms`. Every `every_ms` of it
/// earns one reminder, given at the first activity at or after the mark (the engine has no
/// timers; a client that shows a pop-up on a timer uses [`UsageClock::next_due`]).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct UsageClock {
    every_ms: i64,
    idle_gap_ms: i64,
    started: Option<UnixMillis>,
    last: Option<UnixMillis>,
    reminded: u32,
    #[serde(default)]
    stretches: u64,
}

impl UsageClock {
    /// A clock reminding every `every_ms` of continuous use; a gap longer than `idle_gap_ms`
    /// starts a new stretch.
    pub fn new(every_ms: i64, idle_gap_ms: i64) -> Self {
        Self {
            every_ms: every_ms.max(1),
            idle_gap_ms: idle_gap_ms.max(0),
            started: None,
            last: None,
            reminded: 0,
            stretches: 0,
        }
    }

    /// Stretches of continuous use started so far (sessions, for a guardian's overview).
    pub fn stretches(&self) -> u64 {
        self.stretches
    }

    /// Records activity at `now`; returns the reminder due, if one is.
    pub fn touch(&mut self, now: UnixMillis) -> Option<UsageReminder> {
        let fresh = match self.last {
            None => true,
            Some(last) => now - last > self.idle_gap_ms,
        };
        if fresh {
            self.started = Some(now);
            self.reminded = 0;
            self.stretches += 1;
        }
        self.last = Some(now.max(self.last.unwrap_or(now)));
        let started = self.started.unwrap_or(now);
        let continuous = now - started;
        let due = u32::try_from(continuous / self.every_ms).unwrap_or(u32::MAX);
        if due > self.reminded {
            self.reminded = due;
            return Some(UsageReminder {
                continuous_ms: continuous,
                nth: due,
            });
        }
        None
    }

    /// Continuous use up to `now` (0 if the stretch has ended by an idle gap).
    pub fn continuous_ms(&self, now: UnixMillis) -> i64 {
        match (self.started, self.last) {
            (Some(s), Some(l)) if now - l <= self.idle_gap_ms => now - s,
            _ => 0,
        }
    }

    /// When the next reminder falls due if use continues without a gap.
    pub fn next_due(&self) -> Option<UnixMillis> {
        self.started
            .map(|s| s + self.every_ms * (i64::from(self.reminded) + 1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: i64 = 60_000;
    const H: i64 = 60 * MIN;

    /// Activity every 5 minutes from `from` to `to` (inclusive); returns the reminders' times.
    fn use_between(c: &mut UsageClock, from: i64, to: i64) -> Vec<i64> {
        let mut out = Vec::new();
        let mut t = from;
        while t <= to {
            if c.touch(t).is_some() {
                out.push(t);
            }
            t += 5 * MIN;
        }
        out
    }

    #[test]
    fn aiai_7_3_reminder_every_two_hours() {
        let mut c = UsageClock::new(2 * H, 30 * MIN);
        // Nothing at 1 h 59 min …
        assert!(use_between(&mut c, 0, H + 55 * MIN).is_empty());
        assert_eq!(c.touch(H + 59 * MIN), None);
        // … one at 2 h, one at 4 h, and no more until 6 h.
        let r = c.touch(2 * H).unwrap();
        assert_eq!((r.nth, r.continuous_ms), (1, 2 * H));
        assert_eq!(use_between(&mut c, 2 * H + 5 * MIN, 5 * H), vec![4 * H]);
        assert_eq!(c.next_due(), Some(6 * H));
    }

    #[test]
    fn aiai_7_3_an_idle_gap_resets_the_clock() {
        let mut c = UsageClock::new(2 * H, 30 * MIN);
        use_between(&mut c, 0, H + 50 * MIN);
        // 31 minutes of silence: a new stretch starts, 2 h more are needed.
        let back = H + 50 * MIN + 31 * MIN;
        assert_eq!(c.touch(back), None);
        assert_eq!(c.continuous_ms(back), 0);
        assert!(use_between(&mut c, back, back + 2 * H - MIN).is_empty());
        assert_eq!(c.touch(back + 2 * H).map(|r| r.nth), Some(1));
        // A gap of exactly the limit does not break the stretch.
        let mut c = UsageClock::new(2 * H, 30 * MIN);
        c.touch(0);
        c.touch(30 * MIN);
        c.touch(60 * MIN);
        c.touch(90 * MIN);
        assert!(c.touch(120 * MIN).is_some());
    }

    #[test]
    fn aiai_7_3_seconds_scale_for_demos() {
        let mut c = UsageClock::new(3_000, 10_000);
        assert_eq!(c.touch(0), None);
        assert_eq!(c.touch(2_999), None);
        assert_eq!(c.touch(3_000).map(|r| r.nth), Some(1));
        assert_eq!(c.touch(6_500).map(|r| r.nth), Some(2));
    }
}
