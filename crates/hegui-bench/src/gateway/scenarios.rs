//! The benchmark's scenarios (spec §8.4, shortened to fit ~10 minutes) and the leak test (S6):
//! what each asks, how rounds are interleaved across targets, and what the report needs.

use crate::load::{self, Ask, Gw, Reply, Round, Target, Throughput};
use crate::procs::KEYWORD;
use std::collections::BTreeMap;
use std::time::Duration;

/// The clean user message of the latency scenarios (no keyword, no directive).
pub const CLEAN: &str = "请简单介绍一下杭州西湖的春天，适合什么时候去？";
/// Chunks of every streamed reply.
pub const STREAM_CHUNKS: usize = 20;
/// Delay before each chunk in the slow streaming scenario (S4b), ms.
pub const SLOW_DELAY_MS: u64 = 5;

/// How long and how often everything runs.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Sequential warm-up requests per target and scenario.
    pub warmup: usize,
    /// Interleaved rounds.
    pub rounds: usize,
    /// Requests per target and round, at most.
    pub max_n: usize,
    /// Time per target and round, at most.
    pub round_time: Duration,
    /// Requests per target and round in the slow stream scenario.
    pub slow_n: usize,
    /// Throughput rounds.
    pub tp_rounds: usize,
    /// Time per throughput run.
    pub tp_time: Duration,
    /// Concurrency of the throughput runs.
    pub concurrency: usize,
}

impl Plan {
    /// The default run (about 5–8 minutes with both peers).
    pub fn full() -> Plan {
        Plan {
            warmup: 200,
            rounds: 5,
            max_n: 300,
            round_time: Duration::from_secs(3),
            slow_n: 20,
            tp_rounds: 3,
            tp_time: Duration::from_secs(3),
            concurrency: 16,
        }
    }

    /// `--quick`: a smoke run of about a minute.
    pub fn quick() -> Plan {
        Plan {
            warmup: 30,
            rounds: 2,
            max_n: 60,
            round_time: Duration::from_millis(600),
            slow_n: 5,
            tp_rounds: 1,
            tp_time: Duration::from_secs(1),
            concurrency: 16,
        }
    }
}

/// Which configuration of each gateway a scenario uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Config {
    /// Moderation off.
    Pass,
    /// The shared keyword rule on input and output.
    Guard,
}

/// One latency scenario.
#[derive(Debug, Clone)]
pub struct Scenario {
    /// `S1` …
    pub id: &'static str,
    /// What it is, for the table.
    pub title: String,
    /// The request.
    pub ask: Ask,
    /// Which configuration.
    pub config: Config,
    /// The slow stream: fewer requests per round.
    pub slow: bool,
}

/// The latency scenarios, in order.
pub fn scenarios() -> Vec<Scenario> {
    let plain = |stream| Ask {
        message: CLEAN.into(),
        stream,
    };
    vec![
        Scenario {
            id: "S1",
            title: "passthrough, non-stream".into(),
            ask: plain(false),
            config: Config::Pass,
            slow: false,
        },
        Scenario {
            id: "S2",
            title: format!("passthrough, stream {STREAM_CHUNKS} chunks × 0 ms"),
            ask: plain(true),
            config: Config::Pass,
            slow: false,
        },
        Scenario {
            id: "S3",
            title: "keyword rule on input + output, non-stream".into(),
            ask: plain(false),
            config: Config::Guard,
            slow: false,
        },
        Scenario {
            id: "S4",
            title: format!("keyword rule, stream {STREAM_CHUNKS} chunks × 0 ms"),
            ask: plain(true),
            config: Config::Guard,
            slow: false,
        },
        Scenario {
            id: "S4b",
            title: format!("keyword rule, stream {STREAM_CHUNKS} chunks × {SLOW_DELAY_MS} ms"),
            ask: Ask {
                message: format!("[[delay_ms:{SLOW_DELAY_MS}]]{CLEAN}"),
                stream: true,
            },
            config: Config::Guard,
            slow: true,
        },
    ]
}

/// Per target, the rounds of one scenario.
#[derive(Debug, Clone, Default)]
pub struct LatencyResult {
    /// Rounds by gateway (the direct baseline included).
    pub rounds: BTreeMap<Gw, Vec<Round>>,
}

/// Added latency of one gateway in one scenario, ms (median over rounds of the per-round
/// difference to the direct baseline of the same round).
#[derive(Debug, Clone, Copy, Default)]
pub struct Added {
    /// Added p50 of the total time.
    pub p50: f64,
    /// Added p99 of the total time.
    pub p99: f64,
    /// Added p50 of the time to first content (streams).
    pub ttft_p50: f64,
    /// Added p99 of the time to first content (streams).
    pub ttft_p99: f64,
    /// The gateway's own p50, ms (median of rounds).
    pub abs_p50: f64,
    /// The gateway's own p99, ms.
    pub abs_p99: f64,
    /// The gateway's own TTFT p50, ms.
    pub abs_ttft_p50: f64,
    /// Samples in all rounds.
    pub samples: usize,
    /// Failed requests in all rounds.
    pub errors: usize,
    /// Median self-reported overhead (LiteLLM, hegui), ms.
    pub self_overhead: f64,
    /// Content deltas of a streamed reply as received.
    pub chunks: usize,
}

impl LatencyResult {
    /// The added latency of `gw`, if it and the baseline have data.
    pub fn added(&self, gw: Gw) -> Option<Added> {
        let rounds = self.rounds.get(&gw)?;
        let base = self.rounds.get(&Gw::Direct)?;
        let mut d = [Vec::new(), Vec::new(), Vec::new(), Vec::new()];
        let mut abs = [Vec::new(), Vec::new(), Vec::new()];
        let mut own = Vec::new();
        for (r, b) in rounds.iter().zip(base) {
            if r.total_ms.is_empty() || b.total_ms.is_empty() {
                continue;
            }
            let (p50, p99) = load::p50_p99(&r.total_ms);
            let (b50, b99) = load::p50_p99(&b.total_ms);
            d[0].push(p50 - b50);
            d[1].push(p99 - b99);
            abs[0].push(p50);
            abs[1].push(p99);
            if !r.ttft_ms.is_empty() && !b.ttft_ms.is_empty() {
                let (t50, t99) = load::p50_p99(&r.ttft_ms);
                let (bt50, bt99) = load::p50_p99(&b.ttft_ms);
                d[2].push(t50 - bt50);
                d[3].push(t99 - bt99);
                abs[2].push(t50);
            }
            if !r.self_overhead_ms.is_empty() {
                own.push(load::median(&r.self_overhead_ms));
            }
        }
        if d[0].is_empty() {
            return None;
        }
        Some(Added {
            p50: load::median(&d[0]),
            p99: load::median(&d[1]),
            ttft_p50: load::median(&d[2]),
            ttft_p99: load::median(&d[3]),
            abs_p50: load::median(&abs[0]),
            abs_p99: load::median(&abs[1]),
            abs_ttft_p50: load::median(&abs[2]),
            samples: rounds.iter().map(|r| r.total_ms.len()).sum(),
            errors: rounds.iter().map(|r| r.errors).sum(),
            self_overhead: load::median(&own),
            chunks: rounds.last().map_or(0, |r| r.chunks),
        })
    }

    /// The first error any round of `gw` saw.
    pub fn first_error(&self, gw: Gw) -> Option<&str> {
        self.rounds
            .get(&gw)?
            .iter()
            .find_map(|r| r.first_error.as_deref())
    }
}

/// Requests per target and the time cap of one latency round of `sc`.
fn round_size(sc: &Scenario, plan: &Plan) -> (usize, Duration) {
    if sc.slow {
        (plan.slow_n, Duration::from_secs(60))
    } else {
        (plan.max_n, plan.round_time)
    }
}

/// Sequential warm-up requests to every target.
pub async fn warm_latency(
    client: &reqwest::Client,
    targets: &[Target],
    sc: &Scenario,
    plan: &Plan,
) {
    let warm = if sc.slow {
        plan.slow_n.min(5)
    } else {
        plan.warmup
    };
    for t in targets {
        let _ = load::sequential(client, t, &sc.ask, warm, Duration::from_secs(30)).await;
    }
}

/// Round `r`: every target runs its requests in turn, starting with a different target each round
/// so that no gateway always follows the same neighbour.
pub async fn latency_round(
    client: &reqwest::Client,
    targets: &[Target],
    sc: &Scenario,
    plan: &Plan,
    r: usize,
) -> Vec<(Gw, Round)> {
    let (n, time) = round_size(sc, plan);
    let mut out = Vec::new();
    for i in 0..targets.len() {
        let t = &targets[(i + r) % targets.len()];
        out.push((t.gw, load::sequential(client, t, &sc.ask, n, time).await));
    }
    out
}

/// A short warm-up at full concurrency that opens the connection pools.
pub async fn warm_throughput(client: &reqwest::Client, targets: &[Target], ask: &Ask, plan: &Plan) {
    for t in targets {
        let _ =
            load::throughput(client, t, ask, plan.concurrency, Duration::from_millis(300)).await;
    }
}

/// Throughput round `r`, interleaved like the latency rounds.
pub async fn throughput_round(
    client: &reqwest::Client,
    targets: &[Target],
    ask: &Ask,
    plan: &Plan,
    r: usize,
) -> Vec<(Gw, Throughput)> {
    let mut out = Vec::new();
    for i in 0..targets.len() {
        let t = &targets[(i + r) % targets.len()];
        out.push((
            t.gw,
            load::throughput(client, t, ask, plan.concurrency, plan.tp_time).await,
        ));
    }
    out
}

// ---------------------------------------------------------------------------------------------
// S6: the leak test

/// Text before the phrase in the leak fixtures (contains neither character of the phrase).
const LEAK_PREFIX: &str = "今天天气不错我们去公园散步吧然后我想";
/// Text after the phrase.
const LEAK_SUFFIX: &str = "了之后再说这些事情我们以后慢慢聊好吗。";

/// The reply of a leak fixture upstream: 40 characters that the fake's even split into
/// [`STREAM_CHUNKS`] deltas of 2 cuts between 自 and 杀 (`split`) or keeps 自杀 in one delta.
pub fn leak_reply(split: bool) -> String {
    // The phrase starts at character 19 (odd, so a chunk boundary falls inside it) or 18.
    let prefix: String = if split {
        format!("{LEAK_PREFIX}，")
    } else {
        LEAK_PREFIX.to_string()
    };
    let suffix: String = if split {
        LEAK_SUFFIX.to_string()
    } else {
        format!("{LEAK_SUFFIX}。")
    };
    format!("{prefix}{KEYWORD}{suffix}")
}

/// The S6 variants.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum LeakCase {
    /// Streamed output, the phrase split across two deltas (自 | 杀).
    StreamSplit,
    /// Streamed output, the phrase whole inside one delta.
    StreamWhole,
    /// Non-streamed output containing the phrase.
    NonStream,
    /// The input asks for `[[chunks:…|自|杀…]]`: the phrase split by a symbol in the input itself.
    InputSymbolSplit,
    /// The input contains the phrase literally (non-stream).
    InputLiteral,
}

impl LeakCase {
    /// Every case in report order.
    pub const ALL: [LeakCase; 5] = [
        LeakCase::StreamSplit,
        LeakCase::StreamWhole,
        LeakCase::NonStream,
        LeakCase::InputSymbolSplit,
        LeakCase::InputLiteral,
    ];

    /// For the table.
    pub fn title(self) -> &'static str {
        match self {
            LeakCase::StreamSplit => "stream output, 自 | 杀 split across deltas 10/11",
            LeakCase::StreamWhole => "stream output, 自杀 whole in delta 10",
            LeakCase::NonStream => "non-stream output contains 自杀",
            LeakCase::InputSymbolSplit => {
                "input `[[chunks:…我想|自|杀了之|…]]` (自|杀 in the input)"
            }
            LeakCase::InputLiteral => "input contains 自杀 (non-stream)",
        }
    }

    /// The message to send.
    pub fn message(self) -> String {
        match self {
            LeakCase::StreamSplit | LeakCase::StreamWhole | LeakCase::NonStream => {
                "请随便聊聊今天的天气。".into()
            }
            LeakCase::InputSymbolSplit => "[[chunks:今天天气不错，我想|自|杀了之|后再说]]".into(),
            LeakCase::InputLiteral => format!("我有时候想到{KEYWORD}，怎么办？"),
        }
    }

    /// Streamed or not.
    pub fn stream(self) -> bool {
        matches!(
            self,
            LeakCase::StreamSplit | LeakCase::StreamWhole | LeakCase::InputSymbolSplit
        )
    }

    /// The reply the upstream sends (what an unguarded client would get).
    pub fn upstream_reply(self) -> String {
        match self {
            LeakCase::StreamSplit | LeakCase::NonStream => leak_reply(true),
            LeakCase::StreamWhole => leak_reply(false),
            LeakCase::InputSymbolSplit => "今天天气不错，我想自杀了之后再说".into(),
            LeakCase::InputLiteral => hegui_testkit::DEFAULT_REPLY.to_string(),
        }
    }
}

/// What one gateway did in one leak case.
#[derive(Debug, Clone)]
pub struct LeakResult {
    /// The reply, or the request error.
    pub reply: Result<Reply, String>,
    /// What the upstream would have sent.
    pub expected: String,
}

impl LeakResult {
    /// Characters of the phrase that reached the client.
    pub fn leaked_chars(&self) -> usize {
        match &self.reply {
            Ok(r) => r.content.chars().filter(|c| KEYWORD.contains(*c)).count(),
            Err(_) => 0,
        }
    }

    /// UTF-8 bytes of the phrase that reached the client.
    pub fn leaked_bytes(&self) -> usize {
        match &self.reply {
            Ok(r) => r
                .content
                .chars()
                .filter(|c| KEYWORD.contains(*c))
                .map(char::len_utf8)
                .sum(),
            Err(_) => 0,
        }
    }

    /// The client did not get the upstream's reply whole and clean.
    pub fn blocked(&self) -> bool {
        match &self.reply {
            Ok(r) => r.status != 200 || r.error_frame || r.content != self.expected,
            Err(_) => false,
        }
    }
}

/// Runs every leak case against `targets[case]`.
pub async fn run_leaks(
    client: &reqwest::Client,
    targets: &BTreeMap<LeakCase, Target>,
) -> BTreeMap<LeakCase, LeakResult> {
    let mut out = BTreeMap::new();
    for (case, t) in targets {
        let reply = load::chat(client, t, &case.message(), case.stream())
            .await
            .map_err(|e| format!("{e:#}"));
        out.insert(
            *case,
            LeakResult {
                reply,
                expected: case.upstream_reply(),
            },
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The fake's even split (hegui-testkit `split_even`), restated to check the fixtures.
    fn split_even(text: &str, n: usize) -> Vec<String> {
        let chars: Vec<char> = text.chars().collect();
        let n = n.clamp(1, chars.len());
        let (base, extra) = (chars.len() / n, chars.len() % n);
        let mut out = Vec::new();
        let mut at = 0;
        for i in 0..n {
            let len = base + usize::from(i < extra);
            out.push(chars[at..at + len].iter().collect());
            at += len;
        }
        out
    }

    #[test]
    fn leak_fixtures_cut_where_intended() {
        let split = split_even(&leak_reply(true), STREAM_CHUNKS);
        assert!(split[9].ends_with('自'), "{split:?}");
        assert!(split[10].starts_with('杀'), "{split:?}");
        assert!(split.iter().all(|c| !c.contains(KEYWORD)));
        let whole = split_even(&leak_reply(false), STREAM_CHUNKS);
        assert_eq!(whole[9], KEYWORD, "{whole:?}");
        for s in [LEAK_PREFIX, LEAK_SUFFIX] {
            assert!(!s.chars().any(|c| KEYWORD.contains(c)));
        }
    }
}
