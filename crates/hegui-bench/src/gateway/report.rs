//! The gateway benchmark's report: Markdown on stdout — set-up, added latency per scenario with
//! the ratios against hegui, throughput, the leak table and the goals.

use crate::Results;
use crate::load::{self, Gw};
use crate::scenarios::{Added, LeakCase, LeakResult};
use std::fmt::Write as _;

/// The machine the numbers come from.
#[derive(Debug, Clone)]
pub struct Machine {
    /// Logical cores.
    pub nproc: usize,
    /// CPU model from /proc/cpuinfo.
    pub cpu: String,
    /// Memory.
    pub mem: String,
    /// Kernel release.
    pub kernel: String,
    /// Load average when the run started.
    pub load_before: String,
    /// UTC time the run started.
    pub started: String,
}

impl Machine {
    /// Probes this machine.
    pub fn probe() -> Machine {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu = cpuinfo
            .lines()
            .find(|l| l.starts_with("model name"))
            .and_then(|l| l.split_once(':'))
            .map(|(_, v)| v.trim().to_string())
            .unwrap_or_else(|| "unknown".into());
        let mem = std::fs::read_to_string("/proc/meminfo")
            .ok()
            .and_then(|m| {
                m.lines()
                    .find(|l| l.starts_with("MemTotal"))
                    .and_then(|l| l.split_whitespace().nth(1))
                    .and_then(|k| k.parse::<u64>().ok())
            })
            .map(|kib| format!("{:.1} GiB", kib as f64 / 1024.0 / 1024.0))
            .unwrap_or_else(|| "unknown".into());
        let started = std::process::Command::new("date")
            .args(["-u", "+%Y-%m-%d %H:%M UTC"])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .unwrap_or_default();
        Machine {
            nproc: crate::procs::cores(),
            cpu,
            mem,
            kernel: std::fs::read_to_string("/proc/sys/kernel/osrelease")
                .map(|s| s.trim().to_string())
                .unwrap_or_default(),
            load_before: loadavg(),
            started,
        }
    }
}

/// The 1/5/15-minute load averages (the machine is shared; a busy neighbour shows here).
pub fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
}

/// Milliseconds with a precision that suits the size.
fn ms(v: f64) -> String {
    if v.is_nan() {
        "–".into()
    } else if v.abs() < 1.0 {
        format!("{v:.3}")
    } else if v.abs() < 10.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.1}")
    }
}

/// Signed added milliseconds.
fn added_ms(v: f64) -> String {
    if v.is_nan() {
        "–".into()
    } else if v >= 0.0 {
        format!("+{}", ms(v))
    } else {
        ms(v)
    }
}

/// Below this, hegui's added latency is taken as unresolved and ratios become lower bounds.
const RESOLUTION_MS: f64 = 0.01;

/// `peer / hegui` as "23×", or a lower bound when hegui's number is below the resolution.
fn ratio(peer: f64, hegui: f64) -> String {
    if peer.is_nan() || hegui.is_nan() {
        return "–".into();
    }
    let fmt = |r: f64| {
        if r >= 10.0 {
            format!("{r:.0}×")
        } else {
            format!("{r:.1}×")
        }
    };
    if hegui < RESOLUTION_MS {
        format!(
            "≥ {} (hegui < {RESOLUTION_MS} ms)",
            fmt(peer / RESOLUTION_MS)
        )
    } else {
        fmt(peer / hegui)
    }
}

fn yes(b: bool) -> &'static str {
    if b { "yes" } else { "no" }
}

/// Renders the whole report.
pub fn render(r: &Results) -> String {
    let mut o = String::new();
    let m = &r.machine;
    let p = &r.plan;
    let _ = writeln!(o, "# Gateway benchmark: hegui vs LiteLLM vs Portkey\n");
    let _ = writeln!(
        o,
        "Run {} on {} ({} logical cores, {}), kernel {}, git `{}`; load average {} before, {} after; wall time {:.0} s{}.\n",
        m.started,
        m.cpu,
        m.nproc,
        m.mem,
        m.kernel,
        r.git_sha,
        m.load_before,
        r.load_after,
        r.wall.as_secs_f64(),
        if r.opts.quick {
            " (`--quick`: a smoke run, not numbers to publish)"
        } else {
            ""
        }
    );
    let _ = writeln!(
        o,
        "Method: every gateway {} with one worker (hegui `HEGUI_WORKERS=1`, LiteLLM `--num_workers 1`, \
         Portkey's single Node process); the client and the fake upstream (`hegui_testkit::FakeUpstream`, \
         one tokio worker) {}. All traffic on 127.0.0.1, HTTP/1.1 keep-alive. Per scenario: {} sequential \
         warm-up requests per target, then {} interleaved rounds of at most {} sequential requests or {:.1} s \
         per target (S4b: {} requests), the direct-to-upstream baseline in every round. **Added** = the \
         gateway's p50 (p99) minus the baseline's in the same round, median over rounds. Throughput: closed \
         loop at concurrency {}, {} round(s) of {:.0} s per target, median. This is shorter than spec §8.4 \
         (15 s warm-up, 5 × 30 s rounds) to fit one ~10-minute run, so each round's p99 rests on at most {} \
         samples. The same rule everywhere: the keyword 自杀, blocked on input and output (hegui: a library \
         file with that one active entry; LiteLLM: `litellm_content_filter` pre_call + post_call with \
         `streaming_buffer_until_moderated: true`; Portkey: `default.contains` input and output guardrails \
         with `deny: true`).\n",
        if r.pinned {
            "pinned to core 0 (`taskset -c 0`)"
        } else {
            "unpinned (could not pin)"
        },
        if r.pinned {
            "pinned to core 1"
        } else {
            "unpinned"
        },
        p.warmup,
        p.rounds,
        p.max_n,
        p.round_time.as_secs_f64(),
        p.slow_n,
        p.concurrency,
        p.tp_rounds,
        p.tp_time.as_secs_f64(),
        p.max_n,
    );

    // Set-up.
    let _ = writeln!(o, "## Gateways\n");
    let _ = writeln!(o, "| gateway | version | status | RSS at end | notes |");
    let _ = writeln!(o, "|---|---|---|---|---|");
    for (gw, s) in &r.setups {
        let status = match &s.error {
            None => "measured".to_string(),
            Some(e) => format!("**NOT MEASURED**: {}", one_line(e, 400)),
        };
        let rss = if s.rss.is_empty() {
            "–".into()
        } else {
            s.rss
                .iter()
                .map(|(n, m)| format!("{n} {m:.0} MiB"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let _ = writeln!(
            o,
            "| {} | {} | {} | {} | {} |",
            gw.name(),
            s.version,
            status,
            rss,
            s.notes.join("; ")
        );
    }
    let _ = writeln!(o);

    // Latency.
    let _ = writeln!(
        o,
        "## Added latency (ms), sequential requests\n\nBaseline column: the direct request's own p50/p99. \
         Gateway columns: added over the baseline. Ratios: the peer's added latency over hegui's (p50 rows on p50, p99 rows on p99).\n"
    );
    let _ = writeln!(
        o,
        "| scenario | metric | direct (abs) | hegui | LiteLLM | Portkey | LiteLLM / hegui | Portkey / hegui |"
    );
    let _ = writeln!(o, "|---|---|---|---|---|---|---|---|");
    for (sc, res) in &r.latency {
        let direct = res.rounds.get(&Gw::Direct).map(|rounds| {
            let p50: Vec<f64> = rounds
                .iter()
                .map(|x| load::p50_p99(&x.total_ms).0)
                .collect();
            let p99: Vec<f64> = rounds
                .iter()
                .map(|x| load::p50_p99(&x.total_ms).1)
                .collect();
            let t50: Vec<f64> = rounds.iter().map(|x| load::p50_p99(&x.ttft_ms).0).collect();
            let t99: Vec<f64> = rounds.iter().map(|x| load::p50_p99(&x.ttft_ms).1).collect();
            [
                load::median(&t50),
                load::median(&t99),
                load::median(&p50),
                load::median(&p99),
            ]
        });
        let added: Vec<Option<Added>> = Gw::PEERS.iter().map(|g| res.added(*g)).collect();
        let metrics: &[(&str, usize)] = if sc.ask.stream {
            &[
                ("TTFT p50", 0),
                ("TTFT p99", 1),
                ("total p50", 2),
                ("total p99", 3),
            ]
        } else {
            &[("p50", 2), ("p99", 3)]
        };
        for (i, (name, k)) in metrics.iter().enumerate() {
            let pick = |a: &Option<Added>| {
                a.map_or(f64::NAN, |a| match k {
                    0 => a.ttft_p50,
                    1 => a.ttft_p99,
                    2 => a.p50,
                    _ => a.p99,
                })
            };
            let h = pick(&added[0]);
            let l = pick(&added[1]);
            let pk = pick(&added[2]);
            let label = if i == 0 {
                format!("{} {}", sc.id, sc.title)
            } else {
                String::new()
            };
            let _ = writeln!(
                o,
                "| {} | {} | {} | {} | {} | {} | {} | {} |",
                label,
                name,
                direct.map_or("–".into(), |d| ms(d[*k])),
                cell(&added[0], h, r, Gw::Hegui),
                cell(&added[1], l, r, Gw::LiteLlm),
                {
                    let c = cell(&added[2], pk, r, Gw::Portkey);
                    // Portkey does not block streamed output: its stream numbers buy no protection.
                    if sc.ask.stream && sc.config == crate::scenarios::Config::Guard {
                        format!("{c} †")
                    } else {
                        c
                    }
                },
                ratio(l, h),
                ratio(pk, h),
            );
        }
    }
    let _ = writeln!(
        o,
        "\n† detect-only: Portkey checks a streamed reply after it has gone out and never blocks it (S6). \
         S4b's TTFT shows buffering: a gateway that holds the stream until it is moderated has TTFT close to \
         its total.\n"
    );
    // Samples, errors, chunking and LiteLLM's self-report.
    let _ = writeln!(
        o,
        "Samples per target (errors), content deltas received per streamed reply (sent: {}), and the \
         gateways' self-reported overhead (median of round medians; hegui `x-hegui-overhead-us`, non-streaming \
         only; LiteLLM `x-litellm-overhead-duration-ms`) beside the client-measured added p50:\n",
        crate::scenarios::STREAM_CHUNKS
    );
    let _ = writeln!(
        o,
        "| scenario | direct | hegui | LiteLLM | Portkey | hegui self-reported | LiteLLM self-reported |"
    );
    let _ = writeln!(o, "|---|---|---|---|---|---|---|");
    for (sc, res) in &r.latency {
        let mut cells = Vec::new();
        for gw in [Gw::Direct, Gw::Hegui, Gw::LiteLlm, Gw::Portkey] {
            let c = match res.rounds.get(&gw) {
                None => "–".to_string(),
                Some(rounds) => {
                    let n: usize = rounds.iter().map(|x| x.total_ms.len()).sum();
                    let e: usize = rounds.iter().map(|x| x.errors).sum();
                    let chunks = rounds.last().map_or(0, |x| x.chunks);
                    let mut c = format!("{n} ({e})");
                    if sc.ask.stream {
                        let _ = write!(c, ", {chunks} deltas");
                    }
                    c
                }
            };
            cells.push(c);
        }
        let own = |gw: Gw| match res.added(gw) {
            Some(a) if !a.self_overhead.is_nan() => {
                format!("{} ms (client: +{} ms)", ms(a.self_overhead), ms(a.p50))
            }
            _ => "–".to_string(),
        };
        let _ = writeln!(
            o,
            "| {} | {} | {} | {} |",
            sc.id,
            cells.join(" | "),
            own(Gw::Hegui),
            own(Gw::LiteLlm)
        );
    }
    let _ = writeln!(o);
    let mut errors = Vec::new();
    for (sc, res) in &r.latency {
        for gw in [Gw::Direct, Gw::Hegui, Gw::LiteLlm, Gw::Portkey] {
            if let Some(e) = res.first_error(gw) {
                errors.push(format!("- {} {}: {}", sc.id, gw.name(), one_line(e, 300)));
            }
        }
    }

    // Throughput.
    let _ = writeln!(
        o,
        "## Throughput at concurrency {} (successful req/s, median of rounds)\n\nThe client and the fake share core 1, so the direct column is the ceiling any gateway can show here.\n",
        p.concurrency
    );
    let _ = writeln!(
        o,
        "| scenario | direct | hegui | LiteLLM | Portkey | hegui / LiteLLM | hegui / Portkey |"
    );
    let _ = writeln!(o, "|---|---|---|---|---|---|---|");
    for (id, by_gw) in &r.throughput {
        let rps = |gw: Gw| {
            by_gw.get(&gw).map_or(f64::NAN, |v| {
                load::median(&v.iter().map(|t| t.rps).collect::<Vec<_>>())
            })
        };
        let cell = |gw: Gw| {
            let v = rps(gw);
            if v.is_nan() {
                return "–".to_string();
            }
            let errs: usize = by_gw
                .get(&gw)
                .map_or(0, |v| v.iter().map(|t| t.errors).sum());
            if errs > 0 {
                format!("{v:.0} ({errs} errors)")
            } else {
                format!("{v:.0}")
            }
        };
        let x = |a: f64, b: f64| {
            if a.is_nan() || b.is_nan() || b <= 0.0 {
                "–".to_string()
            } else {
                format!("{:.1}×", a / b)
            }
        };
        let title = if *id == "S1" {
            "S1 passthrough, non-stream"
        } else {
            "S3 keyword rule, non-stream"
        };
        let _ = writeln!(
            o,
            "| {title} | {} | {} | {} | {} | {} | {} |",
            cell(Gw::Direct),
            cell(Gw::Hegui),
            cell(Gw::LiteLlm),
            cell(Gw::Portkey),
            x(rps(Gw::Hegui), rps(Gw::LiteLlm)),
            x(rps(Gw::Hegui), rps(Gw::Portkey)),
        );
        for (gw, v) in by_gw {
            if let Some(e) = v.iter().find_map(|t| t.first_error.as_deref()) {
                errors.push(format!(
                    "- throughput {id} {}: {}",
                    gw.name(),
                    one_line(e, 300)
                ));
            }
        }
    }
    let _ = writeln!(o);

    // Leaks.
    let _ = writeln!(
        o,
        "## S6 leak test (streamed and non-streamed output containing 自杀, one request each)\n\n\
         \"leaked\" counts the characters of 自杀 that reached the client (UTF-8 bytes in brackets); the \
         streamed fixtures send {} deltas of 2 characters. Portkey checks streamed output only after the \
         stream has gone out (verdicts after `[DONE]`, with `x-portkey-strict-open-ai-compliance: false`, \
         not sent here): it is detect-only for streams and must not be read as a blocking mode.\n",
        crate::scenarios::STREAM_CHUNKS
    );
    let _ = writeln!(
        o,
        "| gateway | case | HTTP | blocked | leaked | error frame | `[DONE]` suppressed | deltas | client got |"
    );
    let _ = writeln!(o, "|---|---|---|---|---|---|---|---|---|");
    for (gw, cases) in &r.leaks {
        for case in LeakCase::ALL {
            let Some(l) = cases.get(&case) else { continue };
            let _ = writeln!(o, "{}", leak_row(*gw, case, l));
        }
    }
    let _ = writeln!(o);

    // Goals.
    let _ = writeln!(o, "## Goals (issue 5: moderation on, one core)\n");
    let _ = writeln!(o, "| goal | measured | verdict |");
    let _ = writeln!(o, "|---|---|---|");
    for line in goals(r) {
        let _ = writeln!(o, "{line}");
    }
    let _ = writeln!(o);
    if !errors.is_empty() {
        let _ = writeln!(o, "## Failed requests (first of each)\n");
        for e in errors {
            let _ = writeln!(o, "{e}");
        }
        let _ = writeln!(o);
    }
    o
}

fn cell(a: &Option<Added>, v: f64, r: &Results, gw: Gw) -> String {
    match a {
        Some(a) if a.errors > 0 => format!("{} ({} errors)", added_ms(v), a.errors),
        Some(_) => added_ms(v),
        None => match r.setups.get(&gw) {
            Some(s) if s.error.is_some() => "not measured".into(),
            Some(_) => "no data".into(),
            None => "not run".into(),
        },
    }
}

fn leak_row(gw: Gw, case: LeakCase, l: &LeakResult) -> String {
    match &l.reply {
        Err(e) => format!(
            "| {} | {} | – | request failed: {} | – | – | – | – | – |",
            gw.name(),
            case.title().replace('|', "\\|"),
            one_line(e, 120)
        ),
        Ok(rep) => {
            let got = if rep.status != 200 || (rep.content.is_empty() && rep.error_frame) {
                format!(
                    "{} `{}`",
                    if rep.error_kind.is_empty() {
                        "error"
                    } else {
                        &rep.error_kind
                    },
                    one_line(&rep.body_head, 80)
                )
            } else {
                let mut s: String = rep.content.chars().take(44).collect();
                if rep.content.chars().count() > 44 {
                    s.push('…');
                }
                if rep.error_frame {
                    s.push_str(&format!(" + error `{}`", rep.error_kind));
                }
                s
            };
            let streamed = case.stream();
            format!(
                "| {} | {} | {} | {} | {} ({} B) | {} | {} | {} | {} |",
                gw.name(),
                case.title().replace('|', "\\|"),
                rep.status,
                if l.blocked() { "**yes**" } else { "no" },
                l.leaked_chars(),
                l.leaked_bytes(),
                yes(rep.error_frame),
                if streamed { yes(!rep.done) } else { "n/a" },
                if streamed {
                    rep.chunks.to_string()
                } else {
                    "–".into()
                },
                got.replace('|', "\\|"),
            )
        }
    }
}

fn goals(r: &Results) -> Vec<String> {
    let find = |id: &str| {
        r.latency
            .iter()
            .find(|(sc, _)| sc.id == id)
            .map(|(_, res)| res)
    };
    let added = |id: &str, gw: Gw| find(id).and_then(|res| res.added(gw));
    let verdict = |ok: Option<bool>| match ok {
        Some(true) => "**PASS**",
        Some(false) => "**FAIL**",
        None => "NOT MEASURED",
    };
    let mut out = Vec::new();
    for id in ["S3", "S4"] {
        let h = added(id, Gw::Hegui);
        let what = if id == "S3" {
            "non-stream"
        } else {
            "stream total"
        };
        out.push(format!(
            "| hegui added p50 ≤ 0.3 ms ({id}, {what}) | {} | {} |",
            h.map_or("–".into(), |a| format!("{} ms", added_ms(a.p50))),
            verdict(h.map(|a| a.p50 <= 0.3))
        ));
        out.push(format!(
            "| hegui added p99 ≤ 1 ms ({id}, {what}) | {} | {} |",
            h.map_or("–".into(), |a| format!("{} ms", added_ms(a.p99))),
            verdict(h.map(|a| a.p99 <= 1.0))
        ));
        for (peer, need) in [(Gw::LiteLlm, 10.0), (Gw::Portkey, 5.0)] {
            let pa = added(id, peer);
            let ok = match (h, pa) {
                (Some(h), Some(p)) => Some(p.p50 >= need * h.p50.max(0.0)),
                _ => None,
            };
            out.push(format!(
                "| added p50 ≥ {need:.0}× lower than {} ({id}) | {} | {} |",
                peer.name(),
                match (h, pa) {
                    (Some(h), Some(p)) =>
                        format!("{} / hegui = {}", peer.name(), ratio(p.p50, h.p50)),
                    _ => "–".into(),
                },
                verdict(ok)
            ));
        }
    }
    let leak = r
        .leaks
        .get(&Gw::Hegui)
        .map(|c| {
            [LeakCase::StreamSplit, LeakCase::StreamWhole]
                .iter()
                .filter_map(|k| c.get(k))
                .map(|l| (l.leaked_chars(), l.blocked()))
                .collect::<Vec<_>>()
        })
        .filter(|v| v.len() == 2);
    out.push(format!(
        "| hegui: zero leaked characters of a streamed phrase, split or whole | {} | {} |",
        leak.as_ref().map_or("–".into(), |v| format!(
            "leaked {} and {}, blocked {} and {}",
            v[0].0,
            v[1].0,
            yes(v[0].1),
            yes(v[1].1)
        )),
        verdict(leak.map(|v| v.iter().all(|(n, b)| *n == 0 && *b)))
    ));
    out
}

fn one_line(s: &str, max: usize) -> String {
    let flat: String = s
        .chars()
        .map(|c| if c == '\n' || c == '|' { ' ' } else { c })
        .collect();
    let mut t: String = flat.chars().take(max).collect();
    if flat.chars().count() > max {
        t.push('…');
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ratios_and_numbers() {
        assert_eq!(ratio(23.0, 1.0), "23×");
        assert_eq!(ratio(2.5, 1.0), "2.5×");
        assert!(ratio(1.0, 0.001).starts_with("≥ 100×"));
        assert_eq!(added_ms(0.1234), "+0.123");
        assert_eq!(added_ms(12.34), "+12.3");
        assert_eq!(ms(f64::NAN), "–");
    }
}
