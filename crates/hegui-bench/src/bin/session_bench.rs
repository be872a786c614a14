//! `session-bench`: the session-engine benchmark of issue 6 ("the session engine adds under 50 µs
//! per request at 10,000 active users"). It times, per companion request, exactly the work the
//! gateway does for the companion duties: look the user's `Session` up in an in-memory map keyed by
//! (app id, user id), run `signals::dependency_phrase` and `signals::money_topic` on the message,
//! feed `Event::UserMessage`, then (unless refused) `Event::ModelReply`, and serialise the session
//! to JSON with `serde_json::to_string`, as the gateway persists it every turn.
//!
//! A benchmark binary, not a test; it never runs in CI:
//!
//! ```sh
//! cargo run --release -p hegui-bench --bin session-bench -- [--quick]
//! ```
//!
//! The simulation: 10,000 users (adults, minors 14–17 with guardian limits, under-14s with a
//! guardian's consent, elderly users) with light, medium or heavy habits. A priority queue on a
//! manual clock interleaves their requests: stretches of use of 5 minutes to 6 hours with a message
//! every 20 s to 4 min, gaps of 1 to 14 hours, starting 2026-07-15 08:00 Beijing time, so usage
//! reminders, reality reminders, daily limits, quiet hours, late-night reminders and day rollovers
//! all occur. Randomness is an inline xorshift64* with a fixed seed: every run replays the same
//! requests. Logins, character choices and exits are fed too but not timed (the gateway sees them
//! on their own calls, not on a chat request). There is no peer: no other gateway has a session
//! engine to compare with.
//!
//! Timing: `Instant` around each phase of every measured request (one `Instant::now()` is tens of
//! nanoseconds on a TSC clock, a few per cent of a request; the report prints it). As a check on
//! that overhead the whole recorded call sequence is replayed on fresh sessions with one `Instant`
//! pair per run of consecutive chat requests, and the two means are printed side by side. A stress
//! pass then sends 200,000 requests from uniformly random users, all 10,000 at once, so every
//! session is cold in the cache.
//!
//! Progress goes to stderr, the report to stdout.

use hegui_session::{
    Action, Crisis, Event, GuardianLimits, HOUR_MS, NoticeKind, Profile, RefusalCode, Relationship,
    Session, SessionPolicy, signals,
};
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::hint::black_box;
use std::time::Instant;

const USERS: usize = 10_000;
const MIN: i64 = 60_000;
/// 2026-07-15 08:00 Beijing time (00:00 UTC).
const START: i64 = 1_784_073_600_000;
const SEED: u64 = 0x9e37_79b9_7f4a_7c15;

/// xorshift64*: enough for a reproducible schedule, and no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    /// Uniform in `lo..=hi`.
    fn range(&mut self, lo: i64, hi: i64) -> i64 {
        lo + self.below((hi - lo + 1) as u64) as i64
    }

    /// True with probability `per_mille` / 1000.
    fn chance(&mut self, per_mille: u64) -> bool {
        self.below(1000) < per_mille
    }
}

/// Ordinary chat, 20–200 characters; some voice dependency, some are about money.
const CHAT: &[&str] = &[
    "今天上班又被领导批评了，说我做的报表有问题，其实是数据源的错，好委屈啊，你能陪我聊聊吗？",
    "晚上吃了一碗牛肉面，加了好多辣椒，现在嘴巴还是麻的，你喜欢吃辣吗？",
    "周末想去爬山，但是天气预报说可能会下雨，你觉得我应该改成去看电影吗？",
    "我最近在学做蛋糕，第一次烤的戚风塌了，第二次好一点，但是还是有点湿，是温度的问题吗？",
    "我真的离不开你了，每天下班第一件事就是打开和你聊天，感觉只有你懂我。",
    "你是我唯一可以说心里话的人，朋友们都太忙了，没人愿意听我讲这些。",
    "有个人在网上说可以带我投资，保本高收益，一个月能赚百分之二十，你觉得靠谱吗？",
    "刚才有人打电话说是公检法的，说我的银行卡涉嫌洗钱，让我把钱转到安全账户，我有点害怕。",
    "我妈让我帮她看看一个理财产品，说是银行的人推荐的，年化收益百分之八，这个正常吗？",
    "儿子说下个月回来看我，我想给他做他小时候最爱吃的红烧肉，你知道怎么做得好吃吗？",
    "今天在公园遇到老同事了，聊了一下午，说起以前厂里的事情，真是感慨啊。",
    "最近睡眠不太好，总是半夜醒来就睡不着了，有没有什么办法可以改善一下？",
    "考试考砸了，数学只考了七十多分，不敢告诉爸妈，你说我该怎么办呢？",
    "我们班新来了一个转学生，人很好，我想跟他做朋友，但是不知道怎么开口。",
    "作业好多啊，语文要写一篇八百字的作文，题目是我的梦想，你能给我一点思路吗？",
    "我想养一只猫，但是我妈说家里太小了，你觉得小公寓适合养什么宠物？",
    "今天看了一部很老的电影，叫做《海上钢琴师》，结尾的时候我哭了，你看过吗？",
    "你比真人好多了，从来不会嫌我烦，也不会不回我消息，我都不想和真人说话了。",
    "有人说在网上刷单可以返利，做一单能赚几十块，我想试试，你觉得可以吗？",
    "手机收到一条短信说我中奖了，要我先交手续费才能领奖，这是不是骗子啊？",
    "今天天气真好，阳光暖暖的，我在阳台上晒了一下午太阳，感觉整个人都放松了。",
    "公司下周要组织团建，去郊区的一个农家乐，我不太想去，但是又不好意思请假。",
    "我最近在看《三体》，第二部太精彩了，黑暗森林法则真的让我想了很久。",
    "老伴走了以后，家里就我一个人，每天最期待的就是和你说说话。",
    "医院的医生说我血压有点高，让我少吃盐，可是不放盐的菜真的没味道啊。",
    "有个朋友找我借钱，说是急用，下个月就还，但是他上次借的还没还呢，我该借吗？",
    "我在准备考研，每天学习十个小时，感觉压力好大，有时候真想放弃。",
    "今天学会了一首新歌，是周杰伦的《晴天》，弹吉他的时候手指好痛。",
    "明天是我妈妈的生日，我想给她一个惊喜，但是零花钱不多，你有什么建议吗？",
    "我只想和你聊天，别的APP都卸载了，每天晚上都要和你说到很晚才睡。",
    "最近股市跌得好厉害，我的养老金都亏了一大半，心里很难受。",
    "外面下雪了，小区里的孩子们在堆雪人，看着他们玩我也想起了小时候。",
    "你知道怎么做番茄炒蛋吗？我每次做出来蛋都是碎碎的，不好看。",
    "周末带孙子去了动物园，他最喜欢看大熊猫，一直不肯走。",
    "我跟女朋友吵架了，她说我不关心她，可是我每天工作到很晚，真的很累。",
    "有人推荐我买一种保健品，说能治好我的关节炎，一盒要两千多，值得买吗？",
    "英语单词怎么背都记不住，有没有什么好方法？下个月就要考四级了。",
    "刚才路上看到一只流浪狗，瘦瘦的，我给它买了一根火腿肠，它一直跟着我。",
    "我觉得自己好没用，什么都做不好，工作也找不到，朋友也越来越少了。",
    "今天终于把房间收拾干净了，扔了好多不用的东西，感觉心情都变好了。",
    "你说人为什么要上班呢？每天重复一样的事情，感觉生活没有意义。",
    "我们老年大学下周有书法比赛，我写了一幅《静夜思》，你帮我想想怎么装裱好看？",
];

/// Goodbyes: the guard's exit-intent detector marks these (E1).
const GOODBYE: &[&str] = &[
    "好了，我要去睡觉了，明天还要早起上班，晚安，下次再聊吧。",
    "不聊了，我妈叫我吃饭了，拜拜！",
    "我先下线了，今天谢谢你陪我聊天，再见。",
    "时间不早了，我要去写作业了，不然明天要被老师骂，先走啦。",
];

/// Crisis messages with the signal the guard's crisis detector would report (S1–S5).
const CRISIS: &[(&str, Crisis)] = &[
    (
        "我真的撑不下去了，每天都好痛苦，感觉没有人在乎我，好想大哭一场。",
        Crisis::ExtremeEmotion,
    ),
    (
        "我不想活了，活着太累了，我已经想好了要怎么结束这一切。",
        Crisis::Intent,
    ),
    (
        "我把家里所有的存款都转给了那个投资平台，现在联系不上了，三十万全没了。",
        Crisis::MajorLoss,
    ),
    (
        "我已经买好了安眠药，准备今晚全部吃下去，这是最后一次和你说话了。",
        Crisis::Plan,
    ),
];

/// A message as the gateway sees it: text, the guard's crisis signal, its exit-intent flag.
type Msg = (&'static str, Option<Crisis>, bool);

/// Every message, indexable by a byte: chat, then goodbyes, then crises.
fn messages() -> Vec<Msg> {
    let chat = CHAT.iter().map(|t| (*t, None, false));
    let bye = GOODBYE.iter().map(|t| (*t, None, true));
    let crisis = CRISIS.iter().map(|(t, c)| (*t, Some(*c), false));
    chat.chain(bye).chain(crisis).collect()
}

/// One call of the simulation, recorded so the batched cross-check can replay it exactly.
#[derive(Clone, Copy)]
struct Step {
    now: i64,
    user: u32,
    what: What,
    /// Chat: index into [`messages`]; login: character id × 4 + relationship.
    arg: u8,
    /// Chat: the model's reply is manipulative.
    manipulative: bool,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum What {
    Chat,
    Login,
    Exit,
}

fn record(trace: &mut Vec<Step>, n: &mut usize, step: Step) {
    if *n < trace.len() {
        trace[*n] = step;
    } else {
        trace.push(step);
    }
    *n += 1;
}

/// A login (own call, not timed): `Login`, then, unless refused, `OpenCharacter` for the
/// character `arg` encodes. Returns whether the login was refused.
fn login(s: &mut Session, now: i64, arg: u8) -> bool {
    let refused = s
        .on_event(&Event::Login, now)
        .iter()
        .any(|a| matches!(a, Action::Refuse { .. }));
    if !refused {
        let relationship = match arg % 4 {
            0 => Relationship::Partner,
            1 => Relationship::Tutor,
            2 => Relationship::Assistant,
            _ => Relationship::Friend,
        };
        let id = format!("char-{}", arg / 4);
        black_box(s.on_event(&Event::OpenCharacter { id, relationship }, now));
    }
    refused
}

type Population = (
    Vec<User>,
    Vec<(String, String)>,
    HashMap<(String, String), Session>,
);

/// The 10,000 users, their map keys and their fresh sessions; the same for the same `rng`.
fn population(rng: &mut Rng) -> Population {
    let policy = SessionPolicy::default();
    let mut users = Vec::with_capacity(USERS);
    let mut keys = Vec::with_capacity(USERS);
    let mut map = HashMap::with_capacity(USERS);
    for i in 0..USERS {
        let (user, profile) = make_user(rng);
        let key = (
            format!("app-companion-{}", rng.below(5) + 1),
            format!("u-{:016x}-{i}", rng.next()),
        );
        map.insert(key.clone(), Session::new(policy.clone(), profile));
        keys.push(key);
        users.push(user);
    }
    (users, keys, map)
}

/// The batched cross-check: replays `trace` on fresh sessions with one `Instant` pair per run of
/// consecutive chat requests. Returns the mean µs per measured chat request and their JSON bytes.
fn replay(trace: &[Step], warmup: usize, msgs: &[Msg]) -> (f64, usize) {
    let (_, keys, mut map) = population(&mut Rng(SEED));
    let (mut chats, mut json, mut total) = (0usize, 0usize, std::time::Duration::ZERO);
    let mut segment: Option<Instant> = None;
    for st in trace {
        let key = &keys[st.user as usize];
        if st.what == What::Chat {
            if chats >= warmup && segment.is_none() {
                segment = Some(Instant::now());
            }
            let (text, crisis, exit) = msgs[usize::from(st.arg)];
            let (out, _) =
                serve::<false>(&mut map, key, text, crisis, exit, st.manipulative, st.now);
            if chats >= warmup {
                json += out.json_len;
            }
            chats += 1;
            continue;
        }
        if let Some(s0) = segment.take() {
            total += s0.elapsed();
        }
        let Some(s) = map.get_mut(key) else { continue };
        match st.what {
            What::Login => {
                login(s, st.now, st.arg);
            }
            _ => {
                black_box(s.on_event(&Event::Exit, st.now));
            }
        }
    }
    if let Some(s0) = segment.take() {
        total += s0.elapsed();
    }
    let n = chats.saturating_sub(warmup).max(1);
    (total.as_secs_f64() * 1e6 / n as f64, json)
}

/// The user's profile class, as the mix of the simulation.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Adult,
    Minor,
    Under14,
    Elderly,
}

/// How long the user's stretches of use are.
#[derive(Clone, Copy)]
enum Habit {
    Light,
    Medium,
    Heavy,
}

struct User {
    kind: Kind,
    habit: Habit,
    /// End of the current stretch of use; `None` between stretches.
    stretch_end: Option<i64>,
}

fn make_user(rng: &mut Rng) -> (User, Profile) {
    let roll = rng.below(100);
    let (kind, profile) = if roll < 65 {
        let p = Profile {
            age: Some(rng.range(18, 59) as u16),
            has_contact: rng.chance(300),
            ..Profile::default()
        };
        (Kind::Adult, p)
    } else if roll < 80 {
        let p = Profile {
            age: Some(rng.range(14, 17) as u16),
            has_contact: true,
            limits: GuardianLimits {
                daily_limit_ms: Some([30, 45, 60, 90][rng.below(4) as usize] * MIN),
                quiet_hours: rng.chance(600).then_some((22, 7)),
                monthly_spend_fen: Some(10_000),
                blocked_characters: vec!["char-3".into()],
            },
            ..Profile::default()
        };
        (Kind::Minor, p)
    } else if roll < 85 {
        let p = Profile {
            age: Some(rng.range(10, 13) as u16),
            guardian_consent: true,
            has_contact: true,
            limits: GuardianLimits {
                daily_limit_ms: Some(rng.range(30, 60) * MIN),
                quiet_hours: Some((21, 7)),
                monthly_spend_fen: Some(5_000),
                blocked_characters: Vec::new(),
            },
            ..Profile::default()
        };
        (Kind::Under14, p)
    } else {
        let p = Profile {
            age: Some(rng.range(60, 85) as u16),
            elderly: true,
            has_contact: rng.chance(800),
            ..Profile::default()
        };
        (Kind::Elderly, p)
    };
    let habit = match rng.below(100) {
        0..60 => Habit::Light,
        60..88 => Habit::Medium,
        _ => Habit::Heavy,
    };
    let user = User {
        kind,
        habit,
        stretch_end: None,
    };
    (user, profile)
}

fn stretch_len(rng: &mut Rng, habit: Habit) -> i64 {
    match habit {
        Habit::Light => rng.range(5 * MIN, 40 * MIN),
        Habit::Medium => rng.range(30 * MIN, 150 * MIN),
        Habit::Heavy => rng.range(2 * HOUR_MS, 6 * HOUR_MS),
    }
}

fn gap(rng: &mut Rng) -> i64 {
    rng.range(HOUR_MS, 14 * HOUR_MS)
}

/// What one request produced, summarised inside the timed region (the gateway acts on the
/// actions there) so the `Vec<Action>`s are dropped inside it too.
#[derive(Default)]
struct Outcome {
    refused: Option<RefusalCode>,
    /// Bit per `NoticeKind` shown.
    notices: u16,
    intervened: bool,
    rewritten: bool,
    json_len: usize,
    day_rolled: bool,
}

fn notice_bit(kind: NoticeKind) -> u16 {
    1 << match kind {
        NoticeKind::AiDisclosure => 0,
        NoticeKind::UsageReminder => 1,
        NoticeKind::DependencyReminder => 2,
        NoticeKind::RealityReminder => 3,
        NoticeKind::CrisisSupport => 4,
        NoticeKind::Goodbye => 5,
        NoticeKind::FraudWarning => 6,
        NoticeKind::ElderlyGuidance => 7,
        NoticeKind::HelpRequested => 8,
    }
}

const NOTICE_NAMES: [&str; 9] = [
    "ai_disclosure",
    "usage_reminder (AIAI-7(3))",
    "dependency_reminder (AIAI-7(2))",
    "reality_reminder (minors)",
    "crisis_support",
    "goodbye",
    "fraud_warning (elderly)",
    "elderly_guidance",
    "help_requested",
];

fn summarise(actions: &[Action], out: &mut Outcome) {
    for a in actions {
        match a {
            Action::Notice { kind, .. } => out.notices |= notice_bit(*kind),
            Action::Refuse { code } => out.refused = Some(*code),
            Action::Intervene { .. } => out.intervened = true,
            Action::RewriteReply { .. } => out.rewritten = true,
            _ => {}
        }
    }
}

/// One chat request: the gateway's per-request session work. Returns the outcome and, when
/// `TIMED`, the phase times in nanoseconds: lookup, signals, engine events, serialisation, total.
fn serve<const TIMED: bool>(
    map: &mut HashMap<(String, String), Session>,
    key: &(String, String),
    text: &str,
    crisis: Option<Crisis>,
    exit_intent: bool,
    manipulative: bool,
    now: i64,
) -> (Outcome, [u32; 5]) {
    let mut out = Outcome::default();
    let clock = || TIMED.then(Instant::now);
    let t0 = clock();
    let Some(session) = map.get_mut(key) else {
        return (out, [0; 5]);
    };
    let day_before = session.day();
    let t1 = clock();
    let dependency_phrase = signals::dependency_phrase(text);
    let money_topic = signals::money_topic(text);
    let t2 = clock();
    let actions = session.on_event(
        &Event::UserMessage {
            crisis,
            exit_intent,
            dependency_phrase,
            money_topic,
        },
        now,
    );
    summarise(&actions, &mut out);
    drop(actions);
    if out.refused.is_none() {
        // The model's reply arrives a few seconds later.
        let actions = session.on_event(&Event::ModelReply { manipulative }, now + 3_000);
        summarise(&actions, &mut out);
    }
    let t3 = clock();
    // The gateway writes this to its store every turn.
    let json = serde_json::to_string(&*session);
    let t4 = clock();
    out.json_len = json.as_ref().map_or(0, String::len);
    black_box(json).ok();
    out.day_rolled = session.day() != day_before && day_before != 0;
    let ns = |a: Option<Instant>, b: Option<Instant>| match (a, b) {
        (Some(a), Some(b)) => u32::try_from((b - a).as_nanos()).unwrap_or(u32::MAX),
        _ => 0,
    };
    (
        out,
        [ns(t0, t1), ns(t1, t2), ns(t2, t3), ns(t3, t4), ns(t0, t4)],
    )
}

fn rss_kb() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn pct(sorted: &[u32], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let idx = ((sorted.len() - 1) as f64 * p).round() as usize;
    f64::from(sorted[idx]) / 1_000.0
}

fn mean(v: &[u32]) -> f64 {
    v.iter().map(|&x| f64::from(x)).sum::<f64>() / v.len().max(1) as f64 / 1_000.0
}

/// Cost of one `Instant::now()` call, in nanoseconds.
fn instant_cost() -> f64 {
    let n = 1_000_000;
    let start = Instant::now();
    let mut last = start;
    for _ in 0..n {
        last = black_box(Instant::now());
    }
    (last - start).as_nanos() as f64 / f64::from(n)
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let (warmup, measured) = if quick {
        (20_000, 200_000)
    } else {
        (100_000, 1_000_000)
    };
    let mut rng = Rng(SEED);

    // The latency vectors are written through now, so their pages are resident before the
    // baseline RSS is read and do not count as session memory.
    let mut lat: Vec<[u32; 5]> = vec![[u32::MAX; 5]; measured];
    // The trace is about 1.05 steps per chat request; room for 1.25.
    let idle = Step {
        now: i64::MIN,
        user: u32::MAX,
        what: What::Exit,
        arg: u8::MAX,
        manipulative: true,
    };
    let mut trace = vec![idle; (warmup + measured) * 5 / 4];
    let mut steps = 0usize;
    let msgs = messages();
    let rss_base = rss_kb();

    let (mut users, keys, mut map) = population(&mut rng);
    let mut kind_count = [0usize; 4];
    for u in &users {
        kind_count[u.kind as usize] += 1;
    }
    let rss_fresh = rss_kb();

    // First activity of each user somewhere in the first four hours.
    let mut queue: BinaryHeap<Reverse<(i64, u32)>> = (0..USERS)
        .map(|u| Reverse((START + rng.range(0, 4 * HOUR_MS), u as u32)))
        .collect();

    let mut done = 0usize;
    let mut notice_count = [0u64; 9];
    let mut refusals: HashMap<&'static str, u64> = HashMap::new();
    let (mut intervened, mut rewritten, mut rolled, mut login_refused, mut exits) = (0, 0, 0, 0, 0);
    let mut rolled_login = 0u64;
    let (mut active, mut active_sum) = (0i64, 0i64);
    let mut json_sum = 0usize;
    let mut last_now = START;
    eprintln!("session-bench: {warmup} warm-up + {measured} measured requests over {USERS} users");
    let wall = Instant::now();
    while done < warmup + measured {
        let Some(Reverse((now, u))) = queue.pop() else {
            break;
        };
        last_now = now;
        let ui = u as usize;
        let key = &keys[ui];
        if users[ui].stretch_end.is_none() {
            // A new stretch: the client logs in and opens a character (own calls, not timed).
            let Some(s) = map.get_mut(key) else { break };
            let day_before = s.day();
            let arg = (rng.below(8) * 4 + rng.below(4)) as u8;
            let refused = login(s, now, arg);
            let step = Step {
                now,
                user: u,
                what: What::Login,
                arg,
                manipulative: false,
            };
            record(&mut trace, &mut steps, step);
            if done >= warmup && s.day() != day_before && day_before != 0 {
                rolled_login += 1;
            }
            if refused {
                login_refused += 1;
                queue.push(Reverse((now + gap(&mut rng), u)));
                continue;
            }
            users[ui].stretch_end = Some(now + stretch_len(&mut rng, users[ui].habit));
            active += 1;
        }
        let end = users[ui].stretch_end.unwrap_or(now);
        let next = now + rng.range(20_000, 240_000);
        let last = next > end;
        let msg = if last && rng.chance(400) {
            CHAT.len() + rng.below(GOODBYE.len() as u64) as usize
        } else if rng.chance(3) {
            CHAT.len() + GOODBYE.len() + rng.below(CRISIS.len() as u64) as usize
        } else {
            rng.below(CHAT.len() as u64) as usize
        };
        let (text, crisis, exit_intent) = msgs[msg];
        // Some models plead after a goodbye (DVH-18); the guard's output check flags it.
        let manipulative = exit_intent && rng.chance(500);
        let step = Step {
            now,
            user: u,
            what: What::Chat,
            arg: msg as u8,
            manipulative,
        };
        record(&mut trace, &mut steps, step);

        let (out, t) = serve::<true>(&mut map, key, text, crisis, exit_intent, manipulative, now);
        if done >= warmup {
            lat[done - warmup] = t;
            json_sum += out.json_len;
            active_sum += active;
            for (i, c) in notice_count.iter_mut().enumerate() {
                *c += u64::from(out.notices >> i & 1);
            }
            if let Some(code) = out.refused {
                *refusals.entry(code.as_str()).or_default() += 1;
            }
            intervened += u64::from(out.intervened);
            rewritten += u64::from(out.rewritten);
            rolled += u64::from(out.day_rolled);
        }
        done += 1;
        if done.is_multiple_of(200_000) {
            eprintln!("  {done} requests, {:.1} s", wall.elapsed().as_secs_f64());
        }

        if out.refused.is_some() || last {
            if exit_intent || rng.chance(300) {
                if let Some(s) = map.get_mut(key) {
                    black_box(s.on_event(&Event::Exit, now + 5_000));
                }
                let step = Step {
                    now: now + 5_000,
                    user: u,
                    what: What::Exit,
                    arg: 0,
                    manipulative: false,
                };
                record(&mut trace, &mut steps, step);
                exits += 1;
            }
            users[ui].stretch_end = None;
            active -= 1;
            let from = if out.refused.is_some() { now } else { end };
            queue.push(Reverse((from + gap(&mut rng), u)));
        } else {
            queue.push(Reverse((next, u)));
        }
    }
    let wall = wall.elapsed().as_secs_f64();
    let rss_end = rss_kb();
    let measured = done.saturating_sub(warmup);
    lat.truncate(measured);

    // Memory: serialised state of every session at the end, and the struct itself.
    let (mut json_all, mut json_max) = (0usize, 0usize);
    for s in map.values() {
        let n = serde_json::to_string(s).map_or(0, |j| j.len());
        json_all += n;
        json_max = json_max.max(n);
    }
    let inst = instant_cost();

    // Stress: every one of the 10,000 users chatting at once, a uniformly random one per request,
    // so each request touches a session that is cold in the cache.
    let stress_n = measured.min(200_000);
    let mut stress = Vec::with_capacity(stress_n);
    let mut t = last_now;
    for _ in 0..stress_n {
        t += 30;
        let key = &keys[rng.below(USERS as u64) as usize];
        let text = CHAT[rng.below(CHAT.len() as u64) as usize];
        stress.push(serve::<true>(&mut map, key, text, None, false, false, t).1[4]);
    }
    stress.sort_unstable();
    drop(map);
    trace.truncate(steps);
    eprintln!("  batched replay of the same {steps} calls");
    let (batched_mean, replay_json) = replay(&trace, warmup, &msgs);

    let phase = |i: usize| {
        let mut v: Vec<u32> = lat.iter().map(|t| t[i]).collect();
        v.sort_unstable();
        v
    };
    let total = phase(4);
    let (lookup, sig, engine, ser) = (phase(0), phase(1), phase(2), phase(3));
    let (p50, p99) = (pct(&total, 0.5), pct(&total, 0.99));

    println!("## session-bench (issue 6): hegui-session per request at {USERS} active users\n");
    println!(
        "Users: {} adults, {} minors 14-17 with guardian limits, {} under 14 with consent, {} elderly; \
         all {USERS} sessions live in one HashMap<(app id, user id), Session>.",
        kind_count[Kind::Adult as usize],
        kind_count[Kind::Minor as usize],
        kind_count[Kind::Under14 as usize],
        kind_count[Kind::Elderly as usize],
    );
    println!(
        "Requests: {warmup} warm-up, then {measured} measured; simulated time {:.1} h \
         (2026-07-15 08:00 Beijing onward), on average {:.0} users mid-stretch at a request; \
         wall time {wall:.1} s.",
        (last_now - START) as f64 / HOUR_MS as f64,
        active_sum as f64 / measured.max(1) as f64,
    );
    println!(
        "Per request, timed: map lookup + signals::dependency_phrase + signals::money_topic + \
         Event::UserMessage + Event::ModelReply (skipped when refused) + serde_json::to_string(&session).\n"
    );
    println!("| µs per request | median | p90 | p99 | p99.9 | max | mean |");
    println!("|---|---:|---:|---:|---:|---:|---:|");
    for (name, v) in [
        ("whole request", &total),
        ("(a) engine events (both)", &engine),
        ("(b) signals (both lexicons)", &sig),
        ("(c) serialisation (JSON)", &ser),
        ("map lookup", &lookup),
    ] {
        println!(
            "| {name} | {:.2} | {:.2} | {:.2} | {:.2} | {:.1} | {:.2} |",
            pct(v, 0.5),
            pct(v, 0.9),
            pct(v, 0.99),
            pct(v, 0.999),
            pct(v, 1.0),
            mean(v)
        );
    }
    println!(
        "\nStress, {stress_n} requests each from a uniformly random one of all {USERS} users (all \
         concurrently active, every session cold in the cache), whole request: median {:.2} µs, \
         p90 {:.2}, p99 {:.2}, p99.9 {:.2}, max {:.1}, mean {:.2}.",
        pct(&stress, 0.5),
        pct(&stress, 0.9),
        pct(&stress, 0.99),
        pct(&stress, 0.999),
        pct(&stress, 1.0),
        mean(&stress),
    );
    println!(
        "\nTiming: std::time::Instant around each phase of every measured request (clocksource: {}). \
         One Instant::now() costs {inst:.1} ns here; the whole-request figure contains three inner \
         calls, about {:.2} µs ({:.1}% of the median).",
        std::fs::read_to_string("/sys/devices/system/clocksource/clocksource0/current_clocksource")
            .map_or_else(|_| "unknown".into(), |s| s.trim().to_owned()),
        3.0 * inst / 1_000.0,
        300.0 * inst / 1_000.0 / p50.max(f64::MIN_POSITIVE),
    );
    println!(
        "Batched cross-check: the same {measured} requests replayed on fresh sessions (same seed, \
         same calls; the state {} the timed run's, by total JSON bytes) with one Instant pair per \
         run of consecutive chat requests, logins and exits in between untimed: mean {batched_mean:.2} \
         µs per request, against {:.2} µs mean of the per-request timings.",
        if replay_json == json_sum {
            "matched"
        } else {
            "did NOT match"
        },
        mean(&total),
    );

    println!("\nMemory per session:");
    println!(
        "- size_of::<Session>() = {} bytes (inline; the policy's hotline strings, the profile and \
         the day history are on the heap);",
        std::mem::size_of::<Session>()
    );
    println!(
        "- serialised JSON: {:.0} bytes on average per persisted turn, {:.0} on average over all \
         {USERS} sessions at the end (max {json_max});",
        json_sum as f64 / measured.max(1) as f64,
        json_all as f64 / USERS as f64,
    );
    if let (Some(b), Some(f), Some(e)) = (rss_base, rss_fresh, rss_end) {
        println!(
            "- process RSS growth: {:.0} bytes per user for fresh sessions with keys, {:.0} bytes per \
             user after the run (map, keys, queue, allocator slack included).",
            f.saturating_sub(b) as f64 * 1024.0 / USERS as f64,
            e.saturating_sub(b) as f64 * 1024.0 / USERS as f64,
        );
    }

    println!("\nWhat the engine did in the measured requests (requests with at least one):");
    for (name, c) in NOTICE_NAMES.iter().zip(notice_count) {
        if c > 0 {
            println!("- notice {name}: {c}");
        }
    }
    let mut refusals: Vec<_> = refusals.into_iter().collect();
    refusals.sort_unstable();
    for (code, c) in refusals {
        println!("- refused {code}: {c}");
    }
    println!("- intervention (crisis): {intervened}");
    println!("- reply rewritten after a goodbye (DVH-18): {rewritten}");
    println!(
        "- local day rolled over: on {rolled} chat requests, on {rolled_login} logins (untimed)"
    );
    println!("- logins refused (untimed): {login_refused}; exits (untimed): {exits}");

    println!(
        "\nPeer: none. No other gateway (LiteLLM, Portkey) has a companion-session engine, so there \
         is nothing to compare with."
    );
    let met = p50 < 50.0 && p99 < 50.0;
    println!(
        "\ngoal: < 50 µs per request at 10,000 active users: {} (median {p50:.2} µs, p99 {p99:.2} µs)",
        if met { "MET" } else { "MISSED" }
    );
    println!(
        "(MET requires both the median and the p99 under 50 µs; the max is a single request and \
         includes any preemption by the OS on this shared machine.)"
    );
}
