//! Timing and memory measurement for the guard benchmark.
//!
//! Memory, key decision: the workspace forbids `unsafe` code and a counting `#[global_allocator]`
//! needs an `unsafe impl GlobalAlloc`, so the matcher's memory is measured as growth of the
//! process's resident set (`VmRSS` in `/proc/self/status`) in a fresh child process (this binary
//! re-run with [`MEMORY_CHILD`]) whose heap holds nothing but the library. A first build's growth
//! overstates what the matcher holds: the allocator keeps part of the build's freed scratch (hash
//! maps of folded patterns, the automaton builder's tables) resident. So the child keeps
//! [`BUILDS`] matchers alive, built one after another from the same library, with glibc's mmap
//! threshold fixed at 64 KiB (large scratch buffers are unmapped when freed); later builds reuse
//! the earlier builds' freed small scratch, and the median growth per matcher after the first is
//! what one live matcher holds. Both numbers are reported, plus the same for an empty library (the
//! detectors alone).

use anyhow::{Context, Result, bail};
use hegui_guard::Matcher;
use std::path::Path;
use std::process::Command;
use std::time::Instant;

/// The hidden first argument that makes this binary the memory child.
pub const MEMORY_CHILD: &str = "--memory-child";

/// Repeated timings of one measured loop.
#[derive(Debug, Clone, Default)]
pub struct Timed {
    /// Seconds per repetition.
    pub secs: Vec<f64>,
    /// What the loop counted (hits or findings) in its last repetition.
    pub hits: u64,
}

impl Timed {
    /// The median time in seconds.
    pub fn median(&self) -> f64 {
        median(&self.secs)
    }

    /// Throughput in MB/s (10^6 bytes) for `bytes` per repetition, from the median time.
    pub fn mbps(&self, bytes: u64) -> f64 {
        mbps(bytes, self.median())
    }
}

/// MB/s (10^6 bytes per second).
pub fn mbps(bytes: u64, secs: f64) -> f64 {
    if secs > 0.0 {
        bytes as f64 / 1e6 / secs
    } else {
        f64::NAN
    }
}

/// Runs `f` `reps` times; `f` returns a count that keeps the work observable.
pub fn time_reps(reps: usize, mut f: impl FnMut() -> u64) -> Timed {
    let mut t = Timed::default();
    for _ in 0..reps.max(1) {
        let start = Instant::now();
        let hits = std::hint::black_box(f());
        t.secs.push(start.elapsed().as_secs_f64());
        t.hits = hits;
    }
    t
}

/// The median (mean of the two middle values for an even count); NaN for none.
pub fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    match s.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => s[n / 2],
        n => (s[n / 2 - 1] + s[n / 2]) / 2.0,
    }
}

/// The `p`-th percentile (nearest rank) of sorted values.
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// This process's resident set in KiB.
pub fn rss_kib() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    s.lines()
        .find(|l| l.starts_with("VmRSS:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// Matchers the memory child keeps alive at once.
pub const BUILDS: usize = 5;

/// What the memory child measured.
#[derive(Debug, Clone, Default)]
pub struct Memory {
    /// RSS growth of the first build, library still alive (includes retained build scratch).
    pub first_build_bytes: i64,
    /// RSS held per live matcher: the median growth per matcher from the second to the last.
    pub held_bytes: i64,
    /// RSS held per live matcher of an empty library (the detectors alone), same method.
    pub empty_held_bytes: i64,
}

/// Entry point of the memory child: builds the library from the term list at `terms`, then three
/// empty-library matchers and [`BUILDS`] matchers of the library, and prints `key=value` lines
/// (RSS in bytes after each step).
pub fn memory_child(terms: &Path) -> Result<()> {
    let text =
        std::fs::read_to_string(terms).with_context(|| format!("reading {}", terms.display()))?;
    let list: Vec<String> = text.lines().map(str::to_string).collect();
    drop(text);
    let lib = crate::inputs::library(&list)?;
    drop(list);
    let rss = || rss_kib().map_or(-1, |k| k as i64 * 1024);
    // The detectors alone (an empty library), measured the same way, to split what the matcher
    // holds into a fixed part and the library's part.
    let empty = hegui_guard::FeatureLibrary::new("empty");
    let e1 = Matcher::build(&empty).context("building empty matcher 1")?;
    let re1 = rss();
    let e2 = Matcher::build(&empty).context("building empty matcher 2")?;
    let _ = rss();
    let e3 = Matcher::build(&empty).context("building empty matcher 3")?;
    let re3 = rss();
    println!("rss_empty1={re1}");
    println!("rss_empty3={re3}");
    std::hint::black_box((&e1, &e2, &e3));
    let r0 = rss();
    let mut matchers = Vec::new();
    let mut after = Vec::new();
    for i in 0..BUILDS {
        matchers.push(Matcher::build(&lib).with_context(|| format!("building matcher {i}"))?);
        after.push(rss());
    }
    drop(lib);
    let r_dropped = rss();
    println!("rss0={r0}");
    for (i, r) in after.iter().enumerate() {
        println!("rss_after{}={r}", i + 1);
    }
    println!("rss_dropped={r_dropped}");
    let Some(m1) = matchers.first() else {
        bail!("no matcher built")
    };
    let st = m1.stats();
    println!("automaton_bytes={}", st.automaton_bytes);
    println!("patterns={}", st.patterns);
    println!("rules={}", st.rules);
    println!("regexes={}", st.regexes);
    std::hint::black_box(&matchers);
    Ok(())
}

/// Runs the memory child on the term list at `terms`.
pub fn memory(terms: &Path) -> Result<Memory> {
    let exe = std::env::current_exe().context("locating this binary")?;
    let out = Command::new(exe)
        // glibc: allocations from 64 KiB up are mmapped and unmapped when freed, with no dynamic
        // threshold, so a build's large scratch buffers leave the resident set when dropped and
        // the growth per matcher tracks what it holds.
        .env("MALLOC_MMAP_THRESHOLD_", "65536")
        .arg(MEMORY_CHILD)
        .arg(terms)
        .output()
        .context("running the memory child")?;
    if !out.status.success() {
        bail!(
            "memory child failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let get = |k: &str| -> Result<i64> {
        text.lines()
            .find_map(|l| l.strip_prefix(k).and_then(|r| r.strip_prefix('=')))
            .with_context(|| format!("memory child printed no {k}"))?
            .trim()
            .parse::<i64>()
            .with_context(|| format!("memory child: bad {k}"))
    };
    let r0 = get("rss0")?;
    if r0 < 0 {
        bail!("no VmRSS in /proc/self/status");
    }
    let after: Vec<i64> = (1..=BUILDS)
        .map(|i| get(&format!("rss_after{i}")))
        .collect::<Result<_>>()?;
    let Some(&r1) = after.first() else {
        bail!("memory child built no matcher");
    };
    Ok(Memory {
        first_build_bytes: r1 - r0,
        held_bytes: {
            let steps: Vec<f64> = after.windows(2).map(|w| (w[1] - w[0]) as f64).collect();
            median(&steps) as i64
        },
        empty_held_bytes: (get("rss_empty3")? - get("rss_empty1")?) / 2,
    })
}
