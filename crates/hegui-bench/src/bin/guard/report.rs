//! The guard benchmark's report: Markdown tables on stdout, ending with the summary of the issue's
//! goals (PASS / FAIL / NOT MEASURED) that can be pasted into the README as it is.

use crate::{Results, Row};

/// The machine the numbers come from.
#[derive(Debug, Clone)]
pub struct Machine {
    /// `available_parallelism`.
    pub nproc: usize,
    /// CPU model from /proc/cpuinfo.
    pub cpu: String,
    /// Memory.
    pub mem: String,
    /// Kernel release.
    pub kernel: String,
    /// Load average when the run started.
    pub load_before: String,
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
        Machine {
            nproc: std::thread::available_parallelism().map_or(0, |n| n.get()),
            cpu,
            mem,
            kernel: std::fs::read_to_string("/proc/sys/kernel/osrelease")
                .map(|s| s.trim().to_string())
                .unwrap_or_default(),
            load_before: loadavg(),
        }
    }
}

/// The 1/5/15-minute load averages (the machine is shared; a busy neighbour shows here).
pub fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
}

/// A goal's outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    Pass,
    Fail,
    NotMeasured,
}

impl Verdict {
    fn of(ok: Option<bool>) -> Verdict {
        match ok {
            Some(true) => Verdict::Pass,
            Some(false) => Verdict::Fail,
            None => Verdict::NotMeasured,
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Verdict::Pass => "**PASS**",
            Verdict::Fail => "**FAIL**",
            Verdict::NotMeasured => "NOT MEASURED",
        }
    }
}

fn secs(s: f64) -> String {
    if !s.is_finite() {
        "—".into()
    } else if s >= 1.0 {
        format!("{s:.2} s")
    } else if s >= 1e-3 {
        format!("{:.1} ms", s * 1e3)
    } else {
        format!("{:.1} µs", s * 1e6)
    }
}

fn mb(bytes: f64) -> String {
    format!("{:.1} MB", bytes / 1e6)
}

fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn ratio(x: f64) -> String {
    if !x.is_finite() {
        "—".into()
    } else if x >= 10.0 {
        format!("{x:.0}×")
    } else {
        format!("{x:.2}×")
    }
}

fn row_mbps(r: &Row, bytes: u64) -> f64 {
    r.timed.mbps(bytes)
}

fn find<'a>(rows: &'a [Row], prefix: &str) -> Option<&'a Row> {
    rows.iter().find(|r| r.name.starts_with(prefix))
}

/// Prints the whole report.
pub fn print(r: &Results) {
    let bytes = r.bytes;
    let m = &r.machine;
    let machine_line = format!(
        "{} ({} CPUs from nproc), {} RAM, Linux {}; load average at start {}, at end {} (a shared machine)",
        m.cpu, m.nproc, m.mem, m.kernel, m.load_before, r.load_after
    );
    println!("# hegui-guard moderation benchmark (issue 4)\n");
    println!("- Machine: {machine_line}.");
    println!(
        "- Run: {} — corpus {} MB requested, {} timed repetition(s) per throughput loop, median reported. MB = 10^6 bytes.",
        if r.opts.quick { "`--quick`" } else { "full" },
        r.opts.mb,
        r.opts.reps
    );
    println!(
        "- Corpus: `{}`: {} in {} lines ({} characters, {:.0} bytes/line on average), one message per line.",
        r.corpus_path.display(),
        mb(bytes as f64),
        thousands(r.lines as u64),
        thousands(r.chars),
        bytes as f64 / r.lines.max(1) as f64
    );
    println!(
        "- Library: {} terms = {} literal terms of the shipped default library ({} patterns left out: combinations, regexes, fold duplicates) + {} distinct 2–4-character CJK substrings sampled from the corpus lines (fixed seed); term file `{}`.",
        thousands(crate::TERMS as u64),
        thousands(r.default_terms as u64),
        r.default_skipped,
        thousands((crate::TERMS - r.default_terms) as u64),
        r.terms_path.display()
    );
    println!(
        "- hegui matcher (50k): {} rules (library + detector rules), {} folded patterns with variants, automaton {} , built in {}. aho-corasick default automaton: {}.",
        thousands(r.stats.rules as u64),
        thousands(r.stats.patterns as u64),
        mb(r.stats.automaton_bytes as f64),
        secs(r.build_50k_s),
        r.ac_kind
    );

    // Throughput.
    let hegui = &r.engines[0];
    let hegui_mbps = row_mbps(hegui, bytes);
    println!("\n## Throughput: same 50k terms, same corpus\n");
    println!(
        "| engine | treats the text as | hits / findings | build | median scan | MB/s | hegui ÷ engine |"
    );
    println!("|---|---|---:|---:|---:|---:|---:|");
    for e in &r.engines {
        let mbps = row_mbps(e, bytes);
        println!(
            "| {} | {} | {} | {} | {} | {:.1} | {} |",
            e.name,
            e.what,
            thousands(e.timed.hits),
            e.build_s.map_or("—".into(), secs),
            secs(e.timed.median()),
            mbps,
            ratio(hegui_mbps / mbps)
        );
    }
    for (peer, err) in &r.peer_errors {
        println!("| `{peer}` | not run: {err} | — | — | — | — | — |");
    }
    let overlapping = find(&r.engines, "`aho-corasick` `find_overlapping");
    let pyac = find(&r.engines, "`pyahocorasick`");
    let flash = find(&r.engines, "`flashtext`");
    if let (Some(o), Some(p)) = (overlapping, pyac) {
        println!(
            "\npyahocorasick found {} the overlapping matches aho-corasick found ({} vs {}).",
            if o.timed.hits == p.timed.hits {
                "exactly"
            } else {
                "NOT"
            },
            thousands(p.timed.hits),
            thousands(o.timed.hits)
        );
    }
    if let (Some(o), Some(f)) = (overlapping, flash) {
        println!(
            "flashtext found {} keywords, {:.2}% of the overlapping substring matches: it only matches whole words, and a run of CJK characters is one word to it.",
            thousands(f.timed.hits),
            100.0 * f.timed.hits as f64 / o.timed.hits.max(1) as f64
        );
    }
    println!(
        "hegui's findings are per rule and span after folding and exemptions (a term matched inside a longer term is its own finding), so they are not expected to equal the raw hit counts."
    );

    // Breakdown.
    let full_s = hegui.timed.median();
    println!("\n## Where hegui's time goes (same corpus)\n");
    println!("| stage | what | count | median | MB/s | time ÷ full pipeline |");
    println!("|---|---|---:|---:|---:|---:|");
    for b in &r.breakdown {
        println!(
            "| {} | {} | {} | {} | {:.1} | {:.0}% |",
            b.name,
            b.what,
            thousands(b.timed.hits),
            secs(b.timed.median()),
            row_mbps(b, bytes),
            100.0 * b.timed.median() / full_s
        );
    }
    println!("\n(`count` is findings for the `check` rows.)");

    // Sparse contrast.
    println!(
        "\n## For contrast: a sparse 50k library (random ideograph strings, almost no hits)\n"
    );
    println!("| engine | hits / findings | median scan | MB/s | hegui ÷ engine |");
    println!("|---|---:|---:|---:|---:|");
    let sparse_hegui = r.sparse.first().map_or(f64::NAN, |s| row_mbps(s, bytes));
    for e in &r.sparse {
        let mbps = row_mbps(e, bytes);
        println!(
            "| {} | {} | {} | {:.1} | {} |",
            e.name,
            thousands(e.timed.hits),
            secs(e.timed.median()),
            mbps,
            ratio(sparse_hegui / mbps)
        );
    }
    println!(
        "\nNot a goal of the issue (its library is the dense one above); it separates the cost per character from the cost per finding. pyahocorasick looks up a child by a linear scan of the node's children, so a library whose root has thousands of distinct first characters (random ideographs) slows it down per character; its dense-library number above is its better case. (One repetition only.)"
    );

    // Latency.
    let l = &r.latency;
    println!("\n## Per-message latency: `check` one message at a time\n");
    println!(
        "| library | messages | characters | bytes (mean) | with findings | median | p90 | p99 | max | mean (no per-call timer) | checks/s (1 core) |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for (name, l) in [
        ("50k (dense)", l),
        ("50k sparse (contrast)", &r.sparse_latency),
    ] {
        println!(
            "| {name} | {} ({} timed) | {} | {:.0} | {} | {:.2} µs | {:.2} µs | {:.2} µs | {:.1} µs | {:.2} µs | {} |",
            thousands(l.messages as u64),
            thousands(l.samples as u64),
            l.chars,
            l.mean_bytes,
            thousands(l.with_findings as u64),
            l.median_us,
            l.p90_us,
            l.p99_us,
            l.max_us,
            l.mean_us,
            thousands((1e6 / l.mean_us) as u64)
        );
    }
    println!(
        "\nEach sample includes one `Instant::now()` pair ({:.3} µs on this machine).",
        l.timer_us
    );

    // Build and memory.
    let build_med = crate::measure::median(&r.build_100k);
    println!("\n## 100k-term library: build and memory\n");
    println!(
        "| terms | rules | folded patterns | regex rules | `Matcher::build` median of {} | all builds | `automaton_bytes` | RSS held per live matcher | of which the detectors alone (empty library) | RSS growth of the first build |",
        r.build_100k.len()
    );
    println!("|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|");
    let (held, empty, first) = match &r.memory {
        Ok(mm) => (
            mb(mm.held_bytes as f64),
            mb(mm.empty_held_bytes as f64),
            mb(mm.first_build_bytes as f64),
        ),
        Err(e) => (format!("not measured: {e}"), "—".into(), "—".into()),
    };
    println!(
        "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
        thousands(crate::BIG_TERMS as u64),
        thousands(r.stats_100k.rules as u64),
        thousands(r.stats_100k.patterns as u64),
        r.stats_100k.regexes,
        secs(build_med),
        r.build_100k
            .iter()
            .map(|s| secs(*s))
            .collect::<Vec<_>>()
            .join(", "),
        mb(r.stats_100k.automaton_bytes as f64),
        held,
        empty,
        first
    );
    println!(
        "\nMemory is RSS (`VmRSS`) growth in a fresh child process (the workspace forbids `unsafe`, so no counting allocator): the child builds the library, then {} matchers from it, kept alive, with glibc's mmap threshold fixed at 64 KiB so large freed scratch leaves the resident set; \"held\" is the median growth per matcher after the first (later builds reuse the first build's freed small scratch). The first build's growth also counts scratch the allocator keeps.",
        crate::measure::BUILDS
    );

    // Summary.
    let ratio_py = pyac.map(|p| hegui_mbps / row_mbps(p, bytes));
    let ratio_plain = overlapping.map(|o| hegui_mbps / row_mbps(o, bytes));
    let held = r.memory.as_ref().ok().map(|m| m.held_bytes as f64);
    let goals: Vec<(String, String, String, Verdict)> = vec![
        (
            "full pipeline vs `pyahocorasick`".into(),
            "≥ 10×".into(),
            match (ratio_py, pyac) {
                (Some(x), Some(p)) => format!(
                    "{} ({:.1} vs {:.1} MB/s)",
                    ratio(x),
                    hegui_mbps,
                    row_mbps(p, bytes)
                ),
                _ => "—".into(),
            },
            Verdict::of(ratio_py.map(|x| x >= 10.0)),
        ),
        (
            "full pipeline vs plain `aho-corasick` (overlapping, no normalisation)".into(),
            "≥ 0.5× (within 2×)".into(),
            match (ratio_plain, overlapping) {
                (Some(x), Some(o)) => format!(
                    "{} ({:.1} vs {:.1} MB/s)",
                    ratio(x),
                    hegui_mbps,
                    row_mbps(o, bytes)
                ),
                _ => "—".into(),
            },
            Verdict::of(ratio_plain.map(|x| x >= 0.5)),
        ),
        (
            format!("`check` of one {}-character message, median", l.chars),
            "< 5 µs".into(),
            format!("{:.2} µs (p99 {:.2} µs)", l.median_us, l.p99_us),
            Verdict::of(l.median_us.is_finite().then_some(l.median_us < 5.0)),
        ),
        (
            "100k-term library: `Matcher::build`, median of 3".into(),
            "< 1 s".into(),
            secs(build_med),
            Verdict::of(build_med.is_finite().then_some(build_med < 1.0)),
        ),
        (
            "100k-term library: memory held (RSS)".into(),
            "< 32 MB".into(),
            held.map_or("—".into(), |h| {
                format!(
                    "{} (automaton {})",
                    mb(h),
                    mb(r.stats_100k.automaton_bytes as f64)
                )
            }),
            Verdict::of(held.map(|h| h < 32e6)),
        ),
    ];
    println!("\n## Summary\n");
    println!(
        "hegui-guard, full pipeline (normalise + match + PII + crisis detectors, no classifier), 50,000-term library, {} of Chinese text ({} lines), median of {} run(s). Every number measured in this run by `cargo run --release -p hegui-bench --bin guard-bench{}`.\n",
        mb(bytes as f64),
        thousands(r.lines as u64),
        r.opts.reps,
        if r.opts.quick { " -- --quick" } else { "" }
    );
    println!("| goal | target | measured | result |");
    println!("|---|---|---|---|");
    for (g, t, v, verdict) in &goals {
        println!("| {g} | {t} | {v} | {} |", verdict.as_str());
    }
    println!("\nMachine: {machine_line}.");
    let failed = goals.iter().filter(|g| g.3 == Verdict::Fail).count();
    let missing = goals.iter().filter(|g| g.3 == Verdict::NotMeasured).count();
    println!(
        "\n{} of {} goals met{}{}.",
        goals.len() - failed - missing,
        goals.len(),
        if failed > 0 {
            format!(", {failed} failed")
        } else {
            String::new()
        },
        if missing > 0 {
            format!(", {missing} not measured")
        } else {
            String::new()
        }
    );
}
