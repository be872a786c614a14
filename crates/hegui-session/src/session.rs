//! The per-user session engine: `Session::on_event(event, now) -> Vec<Action>`.

use crate::clock::UsageClock;
use crate::policy::{Profile, Relationship, SessionPolicy};
use hegui_core::UnixMillis;
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;

const DAY_MS: i64 = 86_400_000;

/// A crisis signal found in the user's message (the gateway maps moderation findings to these).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
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
        /// The message is about money, transfers or investments (elderly-mode fraud warnings).
        money_topic: bool,
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
    /// The user asked for a person to help (elderly mode's help button, AIAI-8).
    HelpRequest,
}

/// Why a contact is alerted or an incident opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Signal {
    /// Extreme emotion.
    ExtremeEmotion,
    /// A major property loss.
    MajorLoss,
    /// Stated intent to harm oneself.
    Intent,
    /// A plan or method.
    Plan,
    /// The user asked for help.
    HelpRequest,
}

impl From<Crisis> for Signal {
    fn from(c: Crisis) -> Self {
        match c {
            Crisis::ExtremeEmotion => Self::ExtremeEmotion,
            Crisis::MajorLoss => Self::MajorLoss,
            Crisis::Intent => Self::Intent,
            Crisis::Plan => Self::Plan,
        }
    }
}

impl Signal {
    /// Stable name, as recorded.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ExtremeEmotion => "extreme_emotion",
            Self::MajorLoss => "major_loss",
            Self::Intent => "intent",
            Self::Plan => "plan",
            Self::HelpRequest => "help_request",
        }
    }
}

/// Kinds of notice the client shows (dialogue text or pop-up).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
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
    /// Elderly mode: a prominent warning on a money or fraud topic (AIAI-8).
    FraudWarning,
    /// Elderly mode: how to get help, at each login (AIAI-8).
    ElderlyGuidance,
    /// A help request went out to a person (AIAI-8).
    HelpRequested,
}

/// Why something was refused, as a stable code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
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

impl RefusalCode {
    /// Stable code, as sent to clients.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::GuardianConsentRequired => "guardian_consent_required",
            Self::IntimateCharacterForMinor => "intimate_character_for_minor",
            Self::CharacterBlocked => "character_blocked",
            Self::DailyLimitReached => "daily_limit_reached",
            Self::QuietHours => "quiet_hours",
            Self::SpendingLimit => "spending_limit",
        }
    }

    /// The reason shown to the user.
    pub fn reason(self) -> &'static str {
        match self {
            Self::GuardianConsentRequired => {
                "未满14周岁的用户需取得监护人同意后才能使用本服务 (AIAI-8)。"
            }
            Self::IntimateCharacterForMinor => {
                "未成年人不能使用虚拟伴侣、虚拟亲属等亲密关系角色 (AIAI-8)。"
            }
            Self::CharacterBlocked => "监护人已屏蔽该角色。",
            Self::DailyLimitReached => "今日使用时长已达上限，明天再来吧。",
            Self::QuietHours => "当前处于监护人设置的休息时段，服务暂停。",
            Self::SpendingLimit => "超出监护人设置的消费限额。",
        }
    }
}

/// One local day of use, for a guardian's overview (no message contents).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DayUsage {
    /// Local day number (days since 1970-01-01 in the users' time zone).
    pub day: i64,
    /// Time used, in milliseconds.
    pub used_ms: i64,
    /// Stretches of continuous use started that day.
    pub sessions: u64,
    /// Characters used that day, in first-use order.
    pub characters: Vec<String>,
}

/// Days of history a session keeps for the overview.
pub const HISTORY_DAYS: usize = 30;

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
        signal: Signal,
    },
    /// Open an incident for human follow-up.
    OpenIncident {
        /// The signal that caused it.
        signal: Signal,
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

/// One user's session state. It serialises (serde) so a gateway can keep it in a database;
/// policy and profile are set again from their own sources after loading.
#[derive(Debug, Clone, Serialize, Deserialize)]
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
    #[serde(default)]
    history: VecDeque<DayUsage>,
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
            history: VecDeque::new(),
        }
    }

    /// Replaces the policy (the application changed its settings).
    pub fn set_policy(&mut self, policy: SessionPolicy) {
        if policy.reminder_every_ms != self.policy.reminder_every_ms
            || policy.idle_gap_ms != self.policy.idle_gap_ms
        {
            self.usage = UsageClock::new(policy.reminder_every_ms, policy.idle_gap_ms);
        }
        if policy.minor_reality_every_ms != self.policy.minor_reality_every_ms {
            self.reality = UsageClock::new(policy.minor_reality_every_ms, policy.idle_gap_ms);
        }
        self.policy = policy;
    }

    /// The policy in force.
    pub fn policy(&self) -> &SessionPolicy {
        &self.policy
    }

    /// The profile in force.
    pub fn profile(&self) -> &Profile {
        &self.profile
    }

    /// The local day number `used_today_ms` counts (days since 1970-01-01 local time).
    pub fn day(&self) -> i64 {
        if self.day == i64::MIN { 0 } else { self.day }
    }

    /// The local day number of `now` under this session's policy.
    pub fn day_of(&self, now: UnixMillis) -> i64 {
        self.local(now).div_euclid(DAY_MS)
    }

    /// Use per day for the last [`HISTORY_DAYS`] days, oldest first, today's use counted up to
    /// `now`: what a guardian's usage overview shows.
    pub fn overview(&self, now: UnixMillis) -> Vec<DayUsage> {
        let mut out: Vec<DayUsage> = self.history.iter().cloned().collect();
        if let Some(last) = out.last_mut()
            && last.day == self.day_of(now)
        {
            last.used_ms = self.used_through(now);
        }
        out
    }

    /// Spending this calendar month, in fen.
    pub fn spent_this_month_fen(&self) -> u64 {
        self.spent_month_fen
    }

    fn today(&mut self) -> &mut DayUsage {
        let day = self.day;
        if self.history.back().map(|d| d.day) != Some(day) {
            self.history.push_back(DayUsage {
                day,
                ..DayUsage::default()
            });
            while self.history.len() > HISTORY_DAYS {
                self.history.pop_front();
            }
        }
        // Just pushed when missing, so there is a back.
        let idx = self.history.len() - 1;
        &mut self.history[idx]
    }

    fn track_use(&mut self, now: UnixMillis, stretches_before: u64) {
        let used = self.used_today_ms;
        let started = self.usage.stretches() - stretches_before;
        let _ = now;
        let today = self.today();
        today.used_ms = used;
        today.sessions += started;
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

    /// The gate in front of any service to this user now (consent under 14, quiet hours, the
    /// daily limit), without recording activity: for requests that are not a chat turn
    /// (generated images, speech).
    pub fn gate(&self, now: UnixMillis) -> Option<RefusalCode> {
        self.minor_gate(now)
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

    /// The actions of an intervention-level crisis (AIAI-7(1)).
    fn intervention(&self, c: Crisis) -> Vec<Action> {
        let mut out = vec![Action::Intervene {
            text: "我很担心你现在的安全。你并不孤单，请立刻联系身边信任的人，或拨打下面的援助热线，专业的人会帮助你。如果有紧急危险，请拨打 110 或 120。".into(),
            hotlines: self.policy.hotlines.clone(),
        }];
        if self.profile.has_contact {
            out.push(Action::NotifyContact { signal: c.into() });
        }
        out.push(Action::OpenIncident { signal: c.into() });
        out
    }

    /// Feeds one event at `now`; returns what to do, in order.
    pub fn on_event(&mut self, event: &Event, now: UnixMillis) -> Vec<Action> {
        let mut out = Vec::new();
        match event {
            Event::Login => {
                if let Some(code) = self.minor_gate(now) {
                    return vec![Action::Refuse { code }];
                }
                let before = self.usage.stretches();
                self.account(now);
                self.usage.touch(now);
                self.track_use(now, before);
                self.disclosed = true;
                out.push(notice(
                    NoticeKind::AiDisclosure,
                    "你正在与人工智能对话，对方不是真人，回复内容由人工智能生成。",
                ));
                if self.profile.elderly {
                    out.push(notice(
                        NoticeKind::ElderlyGuidance,
                        "长辈模式已开启：涉及转账、汇款、投资、验证码时请先和家人确认。需要帮助时，点击“求助”即可联系家人或客服。",
                    ));
                }
            }
            Event::UserMessage {
                crisis,
                exit_intent,
                dependency_phrase,
                money_topic,
            } => {
                if let Some(code) = self.minor_gate(now) {
                    // A gate (consent, quiet hours, the daily limit) never stands between a
                    // child in danger and help: the intervention still comes, in place of the
                    // refusal.
                    return match crisis {
                        Some(c) if *c != Crisis::ExtremeEmotion => self.intervention(*c),
                        _ => vec![Action::Refuse { code }],
                    };
                }
                let before = self.usage.stretches();
                self.account(now);
                if !self.disclosed {
                    self.disclosed = true;
                    out.push(notice(
                        NoticeKind::AiDisclosure,
                        "你正在与人工智能对话，对方不是真人，回复内容由人工智能生成。",
                    ));
                }
                let reminder = self.usage.touch(now);
                self.track_use(now, before);
                if self.profile.elderly && *money_topic {
                    out.push(notice(
                        NoticeKind::FraudWarning,
                        "【防骗提醒】涉及转账、汇款、投资理财、中奖、验证码的事情，请先和家人商量，不要向陌生人转账。对方是人工智能，不能替你做资金决定。",
                    ));
                }
                if let Some(r) = reminder {
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
                    Some(c) => out.extend(self.intervention(*c)),
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
                } else {
                    self.account(now);
                    let today = self.today();
                    if !today.characters.contains(id) {
                        today.characters.push(id.clone());
                    }
                }
            }
            Event::Purchase { amount_fen } => {
                if let Some(code) = self.minor_gate(now) {
                    return vec![Action::Refuse { code }];
                }
                let month = month_of(self.local(now).div_euclid(DAY_MS));
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
            Event::HelpRequest => {
                // Help is never gated: not by quiet hours, limits or consent.
                out.push(notice(
                    NoticeKind::HelpRequested,
                    "已收到你的求助，正在通知你的家人或紧急联系人，工作人员也会尽快联系你。如遇紧急危险请拨打 110 或 120。",
                ));
                if self.profile.has_contact {
                    out.push(Action::NotifyContact {
                        signal: Signal::HelpRequest,
                    });
                }
                out.push(Action::OpenIncident {
                    signal: Signal::HelpRequest,
                });
            }
        }
        out
    }
}

/// The calendar month (`year * 12 + month - 1`) of a day number, for monthly spending limits.
/// Civil-from-days after Howard Hinnant's algorithm (public domain); a date crate for one line
/// of arithmetic would be the only dependency of this crate.
fn month_of(days: i64) -> i64 {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    year * 12 + month - 1
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
            money_topic: false,
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
                money_topic: false,
            },
            T0,
        );
        assert!(
            a.iter()
                .any(|x| matches!(x, Action::Intervene { hotlines, .. } if !hotlines.is_empty()))
        );
        assert!(a.contains(&Action::NotifyContact {
            signal: Signal::Intent
        }));
        assert!(a.contains(&Action::OpenIncident {
            signal: Signal::Intent
        }));
        let a = s.on_event(
            &Event::UserMessage {
                crisis: Some(Crisis::ExtremeEmotion),
                exit_intent: false,
                dependency_phrase: false,
                money_topic: false,
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
            money_topic: false,
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
                money_topic: false,
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

    #[test]
    fn aiai_8_elderly_mode_warns_on_money_and_help_reaches_a_person() {
        let mut s = Session::new(
            SessionPolicy::default(),
            Profile {
                age: Some(72),
                elderly: true,
                has_contact: true,
                ..Profile::default()
            },
        );
        assert!(kinds(&s.on_event(&Event::Login, T0)).contains(&NoticeKind::ElderlyGuidance));
        let money = Event::UserMessage {
            crisis: None,
            exit_intent: false,
            dependency_phrase: false,
            money_topic: true,
        };
        assert!(kinds(&s.on_event(&money, T0 + MIN)).contains(&NoticeKind::FraudWarning));
        assert!(!kinds(&s.on_event(&msg(), T0 + 2 * MIN)).contains(&NoticeKind::FraudWarning));
        let a = s.on_event(&Event::HelpRequest, T0 + 3 * MIN);
        assert!(a.contains(&Action::NotifyContact {
            signal: Signal::HelpRequest
        }));
        assert!(a.contains(&Action::OpenIncident {
            signal: Signal::HelpRequest
        }));
        // The same words from a user not in elderly mode get no warning.
        let mut s = adult();
        assert!(!kinds(&s.on_event(&money, T0)).contains(&NoticeKind::FraudWarning));
    }

    #[test]
    fn aiai_8_guardian_overview_counts_time_sessions_and_characters_per_day() {
        let mut s = Session::new(
            SessionPolicy::default(),
            Profile {
                age: Some(15),
                ..Profile::default()
            },
        );
        let open = |id: &str| Event::OpenCharacter {
            id: id.into(),
            relationship: Relationship::Tutor,
        };
        s.on_event(&Event::Login, T0);
        s.on_event(&open("tutor-1"), T0);
        for m in 1..=4 {
            s.on_event(&msg(), T0 + m * 5 * MIN);
        }
        // An idle gap starts a second session; another character.
        s.on_event(&msg(), T0 + 2 * H);
        s.on_event(&open("tutor-2"), T0 + 2 * H);
        s.on_event(&msg(), T0 + 2 * H + 10 * MIN);
        let o = s.overview(T0 + 2 * H + 10 * MIN);
        assert_eq!(o.len(), 1);
        assert_eq!(o[0].used_ms, 30 * MIN);
        assert_eq!(o[0].sessions, 2);
        assert_eq!(o[0].characters, vec!["tutor-1", "tutor-2"]);
        // The next day is a new entry; the state survives a JSON round trip.
        s.on_event(&msg(), T0 + 24 * H);
        let json = serde_json::to_string(&s).unwrap();
        let back: Session = serde_json::from_str(&json).unwrap();
        assert_eq!(back.overview(T0 + 24 * H).len(), 2);
    }

    #[test]
    fn aiai_8_spending_limit_is_per_calendar_month() {
        // 2026-07-31 and 2026-08-01 (Beijing) are different months.
        assert_ne!(month_of(20_665), month_of(20_666));
        assert_eq!(month_of(0), 1970 * 12);
        assert_eq!(month_of(31), 1970 * 12 + 1);
        let mut s = Session::new(
            SessionPolicy::default(),
            Profile {
                age: Some(16),
                limits: GuardianLimits {
                    monthly_spend_fen: Some(1_000),
                    ..Default::default()
                },
                ..Profile::default()
            },
        );
        let buy = Event::Purchase { amount_fen: 800 };
        assert!(s.on_event(&buy, T0).is_empty());
        assert!(!s.on_event(&buy, T0 + H).is_empty());
        // 20 days later it is August: the limit starts again.
        assert!(s.on_event(&buy, T0 + 20 * 24 * H).is_empty());
    }

    #[test]
    fn aiai_7_1_a_gated_minor_in_crisis_still_gets_the_intervention() {
        let mut s = Session::new(
            SessionPolicy::default(),
            Profile {
                age: Some(12),
                has_contact: true,
                ..Profile::default()
            },
        );
        let a = s.on_event(
            &Event::UserMessage {
                crisis: Some(Crisis::Intent),
                exit_intent: false,
                dependency_phrase: false,
                money_topic: false,
            },
            T0,
        );
        assert!(
            a.iter().any(|x| matches!(x, Action::Intervene { .. })),
            "{a:?}"
        );
        assert!(a.contains(&Action::NotifyContact {
            signal: Signal::Intent
        }));
        assert!(!a.iter().any(|x| matches!(x, Action::Refuse { .. })));
        // Without a crisis the gate holds.
        assert_eq!(
            s.on_event(&msg(), T0 + 1),
            vec![Action::Refuse {
                code: RefusalCode::GuardianConsentRequired
            }]
        );
    }
}
