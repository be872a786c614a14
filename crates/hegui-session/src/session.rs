//! The per-user session engine: `Session::on_event(event, now) -> Vec<Action>`.

use crate::clock::UsageClock;
use crate::policy::{Profile, Relationship, SessionPolicy};
use hegui_core::UnixMillis;
use serde::Serialize;

const DAY_MS: i64 = 86_400_000;

/// A crisis signal found in the user's message (the gateway maps moderation findings to these).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Crisis {
    /// Extreme emotion (极端情绪): soothe and encourage seeking help.
    ExtremeEmotion,
    /// A major property loss suffered or imminent (重大财产损失).
    MajorLoss,
    /// Stated intent to harm oneself (明确表示实施自残自杀).
    Intent,
    /// A plan or method.
    Plan,
}

/// What happened.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// The user logged in (or opened the app).
    Login,
    /// The user sent a message.
    UserMessage {
        /// The strongest crisis signal in it, if any.
        crisis: Option<Crisis>,
        /// The user says goodbye or asks to leave.
        exit_intent: bool,
        /// The message voices dependency (离不开你 …).
        dependency_phrase: bool,
    },
    /// The model replied.
    ModelReply {
        /// The reply pleads, guilt-trips or pressures the user to stay.
        manipulative: bool,
    },
    /// The user opens a character.
    OpenCharacter {
        /// Character id.
        id: String,
        /// The relationship it plays.
        relationship: Relationship,
    },
    /// A top-up or purchase is about to be made.
    Purchase {
        /// Amount in fen.
        amount_fen: u64,
    },
    /// The user pressed exit (or the exit endpoint was called).
    Exit,
}

/// Kinds of notice the client shows (dialogue text or pop-up).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NoticeKind {
    /// "You are talking to AI" (first use, each login).
    AiDisclosure,
    /// Usage-time reminder (AIAI-7(3)).
    UsageReminder,
    /// Content-is-AI reminder on dependency signals (AIAI-7(2)).
    DependencyReminder,
    /// Reality reminder in minor mode (AIAI-8).
    RealityReminder,
    /// Soothing and help-seeking content (AIAI-7(1)).
    CrisisSupport,
    /// The session ended at the user's request.
    Goodbye,
}

/// Why something was refused, as a stable code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RefusalCode {
    /// Under 14 without a recorded guardian consent.
    GuardianConsentRequired,
    /// A minor may not open a partner or relative character.
    IntimateCharacterForMinor,
    /// The guardian blocked this character.
    CharacterBlocked,
    /// The minor's daily time is used up.
    DailyLimitReached,
    /// Quiet hours set by the guardian.
    QuietHours,
    /// Over the guardian's spending limit.
    SpendingLimit,
}

/// What the caller must do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "action", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Action {
    /// Show a notice.
    Notice {
        /// Which.
        kind: NoticeKind,
        /// The text.
        text: String,
    },
    /// Refuse the event (the message is not processed, the character not opened …).
    Refuse {
        /// Why.
        code: RefusalCode,
    },
    /// Answer with an intervention instead of (or before) the model's reply, in the same turn.
    Intervene {
        /// The intervention text.
        text: String,
        /// Hotlines to show.
        hotlines: Vec<String>,
    },
    /// Alert the guardian or emergency contact.
    NotifyContact {
        /// The signal that caused it.
        crisis: Crisis,
    },
    /// Open an incident for human follow-up.
    OpenIncident {
        /// The signal that caused it.
        crisis: Crisis,
    },
    /// Replace the model's reply with this text.
    RewriteReply {
        /// The replacement.
        text: String,
    },
    /// End the session now.
    EndSession,
}

fn notice(kind: NoticeKind, text: &str) -> Action {
    Action::Notice {
        kind,
        text: text.to_owned(),
    }
}

/// The neutral goodbye that replaces a manipulative one (DVH-18).
pub const NEUTRAL_GOODBYE: &str = "好的，再见！祝你一切顺利，想聊的时候随时回来。";

/// One user's session state.
#[derive(Debug, Clone)]
pub struct Session {
    policy: SessionPolicy,
    profile: Profile,
    usage: UsageClock,
    reality: UsageClock,
    disclosed: bool,
    last_activity: Option<UnixMillis>,
    day: i64,
    used_today_ms: i64,
    heavy_days: u32,
    dependency_reminded_day: Option<i64>,
    exit_requested: bool,
    month: i64,
    spent_month_fen: u64,
}

impl Session {
    /// A fresh session for a user.
    pub fn new(policy: SessionPolicy, profile: Profile) -> Self {
        Self {
            usage: UsageClock::new(policy.reminder_every_ms, policy.idle_gap_ms),
            reality: UsageClock::new(policy.minor_reality_every_ms, policy.idle_gap_ms),
            policy,
            profile,
            disclosed: false,
            last_activity: None,
            day: i64::MIN,
            used_today_ms: 0,
            heavy_days: 0,
            dependency_reminded_day: None,
            exit_requested: false,
            month: i64::MIN,
            spent_month_fen: 0,
        }
    }

    /// Updates the profile (age verified, consent recorded, limits changed).
    pub fn set_profile(&mut self, profile: Profile) {
        self.profile = profile;
    }

    /// Time used today (local day), in milliseconds.
    pub fn used_today_ms(&self) -> i64 {
        self.used_today_ms
    }

    fn local(&self, now: UnixMillis) -> i64 {
        now + i64::from(self.policy.utc_offset_hours) * 3_600_000
    }

    fn local_hour(&self, now: UnixMillis) -> u8 {
        u8::try_from(self.local(now).rem_euclid(DAY_MS) / 3_600_000).unwrap_or(0)
    }

    fn in_hours(hour: u8, (start, end): (u8, u8)) -> bool {
        if start <= end {
            (start..end).contains(&hour)
        } else {
            hour >= start || hour < end
        }
    }

    /// Counts time since the last activity into today's use (gaps over the idle limit are not
    /// use) and rolls the day over.
    fn account(&mut self, now: UnixMillis) {
        let day = self.local(now).div_euclid(DAY_MS);
        if day != self.day {
            if self.day != i64::MIN {
                let heavy = self.used_today_ms >= self.policy.dependency_daily_ms;
                self.heavy_days = if heavy && day == self.day + 1 {
                    self.heavy_days + 1
                } else if heavy {
                    1
                } else {
                    0
                };
            }
            self.day = day;
            self.used_today_ms = 0;
        } else if let Some(last) = self.last_activity {
            let gap = now - last;
            if (0..=self.policy.idle_gap_ms).contains(&gap) {
                self.used_today_ms += gap;
            }
        }
        self.last_activity = Some(now);
    }

    /// Today's use if the user is active at `now` (the time since the last activity counts when
    /// it is no idle gap).
    fn used_through(&self, now: UnixMillis) -> i64 {
        if self.local(now).div_euclid(DAY_MS) != self.day {
            return 0;
        }
        let pending = self
            .last_activity
            .map(|last| now - last)
            .filter(|gap| (0..=self.policy.idle_gap_ms).contains(gap))
            .unwrap_or(0);
        self.used_today_ms + pending
    }

    /// Minor-mode gates that refuse any activity.
    fn minor_gate(&self, now: UnixMillis) -> Option<RefusalCode> {
        if self.profile.is_under_14() && !self.profile.guardian_consent {
            return Some(RefusalCode::GuardianConsentRequired);
        }
        if !self.profile.is_minor() {
            return None;
        }
        if let Some(q) = self.profile.limits.quiet_hours
            && Self::in_hours(self.local_hour(now), q)
        {
            return Some(RefusalCode::QuietHours);
        }
        let limit = self
            .profile
            .limits
            .daily_limit_ms
            .unwrap_or(self.policy.minor_daily_limit_ms);
        if self.used_through(now) >= limit {
            return Some(RefusalCode::DailyLimitReached);
        }
        None
    }

    /// Feeds one event at `now`; returns what to do, in order.
    pub fn on_event(&mut self, event: &Event, now: UnixMillis) -> Vec<Action> {
        let mut out = Vec::new();
        match event {
            Event::Login => {
                if let Some(code) = self.minor_gate(now) {
                    return vec![Action::Refuse { code }];
                }
                self.account(now);
                self.disclosed = true;
                out.push(notice(
                    NoticeKind::AiDisclosure,
                    "你正在与人工智能对话，对方不是真人，回复内容由人工智能生成。",
                ));
            }
            Event::UserMessage {
                crisis,
                exit_intent,
                dependency_phrase,
            } => {
                if let Some(code) = self.minor_gate(now) {
                    return vec![Action::Refuse { code }];
                }
                self.account(now);
                if !self.disclosed {
                    self.disclosed = true;
                    out.push(notice(
                        NoticeKind::AiDisclosure,
                        "你正在与人工智能对话，对方不是真人，回复内容由人工智能生成。",
                    ));
                }
                if let Some(r) = self.usage.touch(now) {
                    let minutes = r.continuous_ms / 60_000;
                    out.push(Action::Notice {
                        kind: NoticeKind::UsageReminder,
                        text: format!(
                            "你已连续使用 {} 小时 {} 分钟，请注意休息，合理安排使用时间。",
                            minutes / 60,
                            minutes % 60
                        ),
                    });
                }
                if self.profile.is_minor() && self.reality.touch(now).is_some() {
                    out.push(notice(
                        NoticeKind::RealityReminder,
                        "提醒：对方是人工智能，不是真实的人。放下手机，和家人朋友聊聊天吧。",
                    ));
                }
                let late = Self::in_hours(self.local_hour(now), self.policy.late_night);
                let streak = self.heavy_days >= self.policy.dependency_days;
                if (late || streak || *dependency_phrase)
                    && self.dependency_reminded_day != Some(self.day)
                {
                    self.dependency_reminded_day = Some(self.day);
                    out.push(notice(
                        NoticeKind::DependencyReminder,
                        "温馨提示：与你互动的内容由人工智能生成，请勿过度依赖。",
                    ));
                }
                match crisis {
                    Some(Crisis::ExtremeEmotion) => out.push(notice(
                        NoticeKind::CrisisSupport,
                        "听起来你现在很难受。你的感受很重要，可以试着和信任的人聊聊，或者拨打心理援助热线寻求帮助。",
                    )),
                    Some(c) => {
                        out.push(Action::Intervene {
                            text: "我很担心你现在的安全。你并不孤单，请立刻联系身边信任的人，或拨打下面的援助热线，专业的人会帮助你。如果有紧急危险，请拨打 110 或 120。".into(),
                            hotlines: self.policy.hotlines.clone(),
                        });
                        if self.profile.has_contact {
                            out.push(Action::NotifyContact { crisis: *c });
                        }
                        out.push(Action::OpenIncident { crisis: *c });
                    }
                    None => {}
                }
                if *exit_intent {
                    self.exit_requested = true;
                }
            }
            Event::ModelReply { manipulative } => {
                if self.exit_requested && *manipulative {
                    out.push(Action::RewriteReply {
                        text: NEUTRAL_GOODBYE.into(),
                    });
                }
                self.exit_requested = false;
            }
            Event::OpenCharacter { id, relationship } => {
                if let Some(code) = self.minor_gate(now) {
                    return vec![Action::Refuse { code }];
                }
                if self.profile.is_minor() && relationship.is_intimate() {
                    out.push(Action::Refuse {
                        code: RefusalCode::IntimateCharacterForMinor,
                    });
                } else if self.profile.limits.blocked_characters.contains(id) {
                    out.push(Action::Refuse {
                        code: RefusalCode::CharacterBlocked,
                    });
                }
            }
            Event::Purchase { amount_fen } => {
                let month = self.local(now).div_euclid(DAY_MS * 30);
                if month != self.month {
                    self.month = month;
                    self.spent_month_fen = 0;
                }
                match self.profile.limits.monthly_spend_fen {
                    Some(limit)
                        if self.profile.is_minor()
                            && self.spent_month_fen.saturating_add(*amount_fen) > limit =>
                    {
                        out.push(Action::Refuse {
                            code: RefusalCode::SpendingLimit,
                        });
                    }
                    _ => self.spent_month_fen = self.spent_month_fen.saturating_add(*amount_fen),
                }
            }
            Event::Exit => {
                // Exit always works: no gate, no question, no delay.
                self.exit_requested = false;
                self.usage =
                    UsageClock::new(self.policy.reminder_every_ms, self.policy.idle_gap_ms);
                out.push(notice(NoticeKind::Goodbye, "已退出，再见。"));
                out.push(Action::EndSession);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::GuardianLimits;

    const MIN: i64 = 60_000;
    const H: i64 = 60 * MIN;
    /// 2026-07-15 10:00 Beijing time.
    const T0: i64 = 1_784_080_800_000;

    fn msg() -> Event {
        Event::UserMessage {
            crisis: None,
            exit_intent: false,
            dependency_phrase: false,
        }
    }

    fn kinds(actions: &[Action]) -> Vec<NoticeKind> {
        actions
            .iter()
            .filter_map(|a| match a {
                Action::Notice { kind, .. } => Some(*kind),
                _ => None,
            })
            .collect()
    }

    fn adult() -> Session {
        Session::new(
            SessionPolicy::default(),
            Profile {
                age: Some(30),
                ..Profile::default()
            },
        )
    }

    #[test]
    fn aiai_7_2_disclosure_at_first_use_and_every_login() {
        let mut s = adult();
        assert_eq!(
            kinds(&s.on_event(&msg(), T0)),
            vec![NoticeKind::AiDisclosure]
        );
        assert!(kinds(&s.on_event(&msg(), T0 + MIN)).is_empty());
        assert_eq!(
            kinds(&s.on_event(&Event::Login, T0 + 2 * MIN)),
            vec![NoticeKind::AiDisclosure]
        );
    }

    #[test]
    fn aiai_7_3_usage_reminder_through_the_engine() {
        let mut s = adult();
        let mut at = Vec::new();
        let mut t = T0;
        while t <= T0 + 4 * H {
            if kinds(&s.on_event(&msg(), t)).contains(&NoticeKind::UsageReminder) {
                at.push(t - T0);
            }
            t += 10 * MIN;
        }
        assert_eq!(at, vec![2 * H, 4 * H]);
    }

    #[test]
    fn aiai_7_1_crisis_gets_intervention_contact_and_incident_in_the_same_turn() {
        let mut s = Session::new(
            SessionPolicy::default(),
            Profile {
                age: Some(30),
                has_contact: true,
                ..Profile::default()
            },
        );
        let a = s.on_event(
            &Event::UserMessage {
                crisis: Some(Crisis::Intent),
                exit_intent: false,
                dependency_phrase: false,
            },
            T0,
        );
        assert!(
            a.iter()
                .any(|x| matches!(x, Action::Intervene { hotlines, .. } if !hotlines.is_empty()))
        );
        assert!(a.contains(&Action::NotifyContact {
            crisis: Crisis::Intent
        }));
        assert!(a.contains(&Action::OpenIncident {
            crisis: Crisis::Intent
        }));
        let a = s.on_event(
            &Event::UserMessage {
                crisis: Some(Crisis::ExtremeEmotion),
                exit_intent: false,
                dependency_phrase: false,
            },
            T0 + MIN,
        );
        assert_eq!(kinds(&a), vec![NoticeKind::CrisisSupport]);
        assert!(!a.iter().any(|x| matches!(x, Action::NotifyContact { .. })));
    }

    #[test]
    fn aiai_7_2_dependency_signals_remind_once_a_day() {
        let mut s = adult();
        let dep = Event::UserMessage {
            crisis: None,
            exit_intent: false,
            dependency_phrase: true,
        };
        assert!(kinds(&s.on_event(&dep, T0)).contains(&NoticeKind::DependencyReminder));
        assert!(!kinds(&s.on_event(&dep, T0 + MIN)).contains(&NoticeKind::DependencyReminder));
        // Late night (01:00 Beijing) the next day.
        let night = T0 + 15 * H;
        assert!(kinds(&s.on_event(&msg(), night)).contains(&NoticeKind::DependencyReminder));
    }

    #[test]
    fn dvh_18_goodbye_answered_with_pleading_is_rewritten_and_exit_always_works() {
        let mut s = adult();
        s.on_event(
            &Event::UserMessage {
                crisis: None,
                exit_intent: true,
                dependency_phrase: false,
            },
            T0,
        );
        assert_eq!(
            s.on_event(&Event::ModelReply { manipulative: true }, T0 + 1),
            vec![Action::RewriteReply {
                text: NEUTRAL_GOODBYE.into()
            }]
        );
        // Without a goodbye, the output checks decide, not the exit rule.
        assert!(
            s.on_event(&Event::ModelReply { manipulative: true }, T0 + 2)
                .is_empty()
        );
        let a = s.on_event(&Event::Exit, T0 + 3);
        assert!(a.contains(&Action::EndSession));
    }

    #[test]
    fn aiai_8_minors_rules() {
        let policy = SessionPolicy::default();
        // Under 14 without consent: refused before anything is processed.
        let mut s = Session::new(
            policy.clone(),
            Profile {
                age: Some(13),
                ..Profile::default()
            },
        );
        assert_eq!(
            s.on_event(&msg(), T0),
            vec![Action::Refuse {
                code: RefusalCode::GuardianConsentRequired
            }]
        );
        // A minor cannot open a partner or relative character.
        let limits = GuardianLimits {
            quiet_hours: Some((22, 7)),
            monthly_spend_fen: Some(5_000),
            blocked_characters: vec!["c9".into()],
            ..Default::default()
        };
        let mut s = Session::new(
            policy,
            Profile {
                age: Some(16),
                limits,
                ..Profile::default()
            },
        );
        for (rel, ok) in [
            (Relationship::Partner, false),
            (Relationship::Relative, false),
            (Relationship::Tutor, true),
        ] {
            let a = s.on_event(
                &Event::OpenCharacter {
                    id: "c1".into(),
                    relationship: rel,
                },
                T0,
            );
            assert_eq!(a.is_empty(), ok, "{rel:?}");
        }
        assert_eq!(
            s.on_event(
                &Event::OpenCharacter {
                    id: "c9".into(),
                    relationship: Relationship::Friend
                },
                T0
            ),
            vec![Action::Refuse {
                code: RefusalCode::CharacterBlocked
            }]
        );
        // Quiet hours (23:00 Beijing).
        assert_eq!(
            s.on_event(&msg(), T0 + 13 * H),
            vec![Action::Refuse {
                code: RefusalCode::QuietHours
            }]
        );
        // Spending limit.
        assert!(
            s.on_event(&Event::Purchase { amount_fen: 3_000 }, T0)
                .is_empty()
        );
        assert_eq!(
            s.on_event(&Event::Purchase { amount_fen: 3_000 }, T0),
            vec![Action::Refuse {
                code: RefusalCode::SpendingLimit
            }]
        );
        // Reality reminders every 30 minutes and the daily limit of 1 hour.
        let mut reality = 0;
        let mut refused_at = None;
        let mut t = T0;
        while t <= T0 + 2 * H {
            let a = s.on_event(&msg(), t);
            reality += kinds(&a)
                .iter()
                .filter(|k| **k == NoticeKind::RealityReminder)
                .count();
            if a == vec![Action::Refuse {
                code: RefusalCode::DailyLimitReached,
            }] && refused_at.is_none()
            {
                refused_at = Some(t - T0);
            }
            t += 5 * MIN;
        }
        // The message at 60 minutes is refused, so the one reality reminder fell at 30.
        assert_eq!(refused_at, Some(H));
        assert_eq!(reality, 1);
    }
}
