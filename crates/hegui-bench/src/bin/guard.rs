//! `guard-bench`: the moderation benchmark of issue 4. How fast hegui-guard's full check pipeline
//! (normalise + match + PII and crisis detectors, no classifier) is against a plain `aho-corasick`
//! scan without normalisation and against the Python matchers people reach for (`pyahocorasick`,
//! `flashtext`), on the same 50,000-term library and the same ~100 MB of Chinese text; the
//! per-message latency; and the build time and memory of a 100,000-term library.
//!
//! A benchmark binary, not a test; it never runs in CI:
//!
//! ```sh
//! cargo run --release -p hegui-bench --bin guard-bench -- [--quick] [--mb N] [--reps N] [--no-peers]
//! ```
//!
//! What it measures, all in one run (every number printed is measured in that run):
//!
//! 1. Inputs, built once and cached in `target/bench-data/guard/` (see `guard/inputs.rs`): a
//!    corpus of `--mb` × 10^6 bytes (default 100, `--quick` 10) of COLD `train.csv` texts and
//!    hegui-guard's clean news/chat lines, one message per line, repeated in shuffled order; a
//!    50,000-term list (the shipped default library's literal terms plus distinct 2–4-character
//!    CJK substrings sampled from the same lines, fixed seed), written as a plain term file for
//!    the Python peers and imported into a `FeatureLibrary` (category A1.6, approved by a second
//!    actor, so every entry is active).
//! 2. hegui: `Matcher::build`, then `Matcher::check(line, &Context::default())` on every line;
//!    median wall time of N repetitions (3, `--quick` 1) → MB/s, and the number of findings.
//! 3. `aho-corasick` 1.x, `AhoCorasick::new(terms)` with default settings and
//!    `find_overlapping_iter` per line (the same semantics as pyahocorasick; its hit count must
//!    agree), plus a leftmost-first automaton with `find_iter`. No normalisation.
//! 4. `pyahocorasick` and `flashtext` from PyPI, in a venv at `target/bench-data/guard/venv`
//!    (created with `python3 -m venv` and pip when missing), through `peers/guard_peers.py`, which
//!    times only its scan loop and reports the automaton build separately.
//! 5. Latency: 10,000 messages of exactly 100 characters, one `check` each, median and p99.
//! 6. A 100,000-term library: `Matcher::build` time (median of 3) and the memory the matcher holds,
//!    measured as RSS growth in a fresh child process (see `guard/measure.rs` for why and how),
//!    next to `MatcherStats::automaton_bytes`.
//! 7. A breakdown of the pipeline (fold alone, PII scanner alone, fixed cost per call, detectors
//!    only, shipped library), a contrast with a *sparse* 50k library (random ideograph strings that
//!    almost never match; it separates the cost per character from the cost per finding), and a
//!    Markdown summary with the issue's goals and PASS/FAIL plus the machine, ready to paste into
//!    the README.
//!
//! Progress goes to stderr, the report (Markdown) to stdout. A full run takes about 10 minutes on
//! the 2-core machine, `--quick` under a minute. `--profile dense|sparse|empty` runs only the
//! `check` loop, for `perf record -g target/release/guard-bench --quick --profile dense`.

// A binary's root resolves modules beside itself (`src/bin/`), so the module directory is named.
#[path = "guard/inputs.rs"]
mod inputs;
#[path = "guard/measure.rs"]
mod measure;
#[path = "guard/peers.rs"]
mod peers;
#[path = "guard/report.rs"]
mod report;

use aho_corasick::{AhoCorasick, MatchKind};
use anyhow::{Context as _, Result, bail};
use hegui_guard::{Context, FeatureLibrary, Matcher};
use measure::{Timed, time_reps};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

const USAGE: &str = "\
usage: cargo run --release -p hegui-bench --bin guard-bench -- [--quick] [--mb N] [--reps N] [--no-peers]

  --quick      a 10 MB corpus (unless --mb) and 1 repetition (unless --reps)
  --mb N       corpus size in MB (10^6 bytes; default 100)
  --reps N     timed repetitions of every throughput loop (default 3); the median is reported
  --no-peers   skip the Python peers (their goal is then reported as not measured)
  --profile L  only run `check` over the corpus with library L (dense, sparse or empty), for
               `perf record`; prints the time and nothing else";

/// Terms in the library the throughput and latency sections use.
pub const TERMS: usize = 50_000;
/// Terms in the library the build and memory section uses.
pub const BIG_TERMS: usize = 100_000;
/// Messages in the latency section.
pub const MESSAGES: usize = 10_000;
/// Characters per message in the latency section.
pub const MESSAGE_CHARS: usize = 100;

/// Command-line options.
#[derive(Debug, Clone)]
pub struct Opts {
    /// Smaller corpus, one repetition.
    pub quick: bool,
    /// Corpus size in MB.
    pub mb: usize,
    /// Repetitions of the throughput loops.
    pub reps: usize,
    /// Run the Python peers.
    pub peers: bool,
    /// Only loop `check` with this library (`dense`, `sparse`, `empty`), for a profiler.
    pub profile: Option<String>,
}

fn parse_opts(args: &[String]) -> Result<Option<Opts>> {
    let mut quick = false;
    let mut mb = None;
    let mut reps = None;
    let mut peers = true;
    let mut profile = None;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut num = |name: &str| -> Result<usize> {
            let v = it.next().with_context(|| format!("{name} needs a value"))?;
            match v.parse::<usize>() {
                Ok(n) if n > 0 => Ok(n),
                _ => bail!("{name}: {v:?} is not a positive number"),
            }
        };
        match a.as_str() {
            "--quick" => quick = true,
            "--mb" => mb = Some(num("--mb")?),
            "--reps" => reps = Some(num("--reps")?),
            "--no-peers" => peers = false,
            "--profile" => match it.next().map(String::as_str) {
                Some(l @ ("dense" | "sparse" | "empty")) => profile = Some(l.to_string()),
                other => bail!("--profile takes dense, sparse or empty, not {other:?}"),
            },
            "-h" | "--help" => return Ok(None),
            other => bail!("unknown argument {other:?}\n{USAGE}"),
        }
    }
    Ok(Some(Opts {
        quick,
        mb: mb.unwrap_or(if quick { 10 } else { 100 }),
        reps: reps.unwrap_or(if quick { 1 } else { 3 }),
        peers,
        profile,
    }))
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().is_some_and(|a| a == measure::MEMORY_CHILD) {
        let Some(path) = args.get(1) else {
            eprintln!("{} needs a term file", measure::MEMORY_CHILD);
            return ExitCode::from(2);
        };
        return match measure::memory_child(Path::new(path)) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("memory child: {e:#}");
                ExitCode::FAILURE
            }
        };
    }
    let opts = match parse_opts(&args) {
        Ok(Some(o)) => o,
        Ok(None) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("guard-bench: {e:#}");
            return ExitCode::from(2);
        }
    };
    match run(&opts) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("guard-bench: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn progress(msg: &str) {
    eprintln!("guard-bench: {msg}");
}

/// One measured engine or pipeline stage over the whole corpus.
#[derive(Debug, Clone)]
pub struct Row {
    /// What ran.
    pub name: String,
    /// How it treats the text (normalisation, detectors).
    pub what: String,
    /// Timings and the hit count.
    pub timed: Timed,
    /// Seconds to build the automaton, where there is one.
    pub build_s: Option<f64>,
}

/// Per-message latency.
#[derive(Debug, Clone, Default)]
pub struct Latency {
    /// Messages.
    pub messages: usize,
    /// Characters per message.
    pub chars: usize,
    /// Mean UTF-8 bytes per message.
    pub mean_bytes: f64,
    /// Timed checks (messages × passes).
    pub samples: usize,
    /// Median µs.
    pub median_us: f64,
    /// 90th percentile µs.
    pub p90_us: f64,
    /// 99th percentile µs.
    pub p99_us: f64,
    /// Maximum µs.
    pub max_us: f64,
    /// Mean µs from one untimed-per-call pass (total / messages), free of timer overhead.
    pub mean_us: f64,
    /// Cost of one `Instant::now()` pair, µs (included in every sample).
    pub timer_us: f64,
    /// Messages with at least one finding.
    pub with_findings: usize,
}

/// Everything the report prints.
#[derive(Debug, Clone)]
pub struct Results {
    /// The options of the run.
    pub opts: Opts,
    /// Machine description.
    pub machine: report::Machine,
    /// Load average when the run ended.
    pub load_after: String,
    /// The corpus file.
    pub corpus_path: PathBuf,
    /// Corpus bytes (UTF-8, newlines excluded).
    pub bytes: u64,
    /// Corpus characters.
    pub chars: u64,
    /// Corpus lines.
    pub lines: usize,
    /// Literal terms taken from the default library.
    pub default_terms: usize,
    /// Default-library patterns left out (combinations, regexes, duplicates after folding).
    pub default_skipped: usize,
    /// The 50k term file.
    pub terms_path: PathBuf,
    /// Stats of the 50k matcher.
    pub stats: hegui_guard::MatcherStats,
    /// Time to build the 50k matcher.
    pub build_50k_s: f64,
    /// The main comparison.
    pub engines: Vec<Row>,
    /// Python peers that could not run.
    pub peer_errors: Vec<(String, String)>,
    /// The pipeline breakdown.
    pub breakdown: Vec<Row>,
    /// hegui and aho-corasick with the sparse library.
    pub sparse: Vec<Row>,
    /// Per-message latency.
    pub latency: Latency,
    /// Per-message latency with the sparse library.
    pub sparse_latency: Latency,
    /// 100k build times, seconds.
    pub build_100k: Vec<f64>,
    /// 100k matcher stats.
    pub stats_100k: hegui_guard::MatcherStats,
    /// 100k memory, or why it is missing.
    pub memory: std::result::Result<measure::Memory, String>,
    /// The aho-corasick automaton kind and heap bytes.
    pub ac_kind: String,
}

fn run(opts: &Opts) -> Result<()> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .context("finding the workspace root")?;
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .map(|t| if t.is_absolute() { t } else { root.join(t) })
        .unwrap_or_else(|| root.join("target"));
    let dir = target.join("bench-data/guard");
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    if cfg!(debug_assertions) {
        progress("warning: this is a debug build; numbers are meaningless without --release");
    }
    let machine = report::Machine::probe();
    let reps = opts.reps;

    // 1. Inputs.
    progress("reading sources");
    let sources = inputs::Sources::locate(&root)?;
    let (source_lines, hash) = sources.lines()?;
    progress(&format!(
        "corpus of {} MB (cached in {})",
        opts.mb,
        dir.display()
    ));
    let (corpus_path, corpus_text) = inputs::corpus(&dir, &source_lines, hash, opts.mb)?;
    let corpus: Vec<&str> = corpus_text.lines().collect();
    let bytes: u64 = corpus.iter().map(|l| l.len() as u64).sum();
    let chars: u64 = corpus.iter().map(|l| l.chars().count() as u64).sum();
    let (base, default_skipped) = inputs::default_terms();
    progress(&format!(
        "term lists: {} default-library terms + sampled substrings",
        base.len()
    ));
    let terms = inputs::sampled_terms(&base, &source_lines, TERMS)?;
    if let Some(kind) = &opts.profile {
        return profile(kind, &corpus, &terms, reps);
    }
    let big_terms = inputs::sampled_terms(&base, &source_lines, BIG_TERMS)?;
    let terms_path = inputs::term_file(&dir, &terms)?;
    let big_terms_path = inputs::term_file(&dir, &big_terms)?;
    let lib = inputs::library(&terms)?;
    if lib.active_terms() != terms.len() {
        bail!(
            "library has {} active terms, expected {}",
            lib.active_terms(),
            terms.len()
        );
    }

    // 2. hegui, full pipeline.
    progress("hegui: building the 50k matcher");
    let t = Instant::now();
    let matcher = Matcher::build(&lib).context("building the 50k matcher")?;
    let build_50k_s = t.elapsed().as_secs_f64();
    let stats = matcher.stats();
    drop(lib);
    let ctx = Context::default();
    progress(&format!(
        "hegui: full pipeline, {reps} × {} lines",
        corpus.len()
    ));
    let full = time_reps(reps, || {
        corpus
            .iter()
            .map(|l| matcher.check(l, &ctx).findings.len() as u64)
            .sum()
    });
    let mut engines = vec![Row {
        name: "hegui `Matcher::check` (50k library)".into(),
        what: "normalise + match + PII + crisis".into(),
        timed: full,
        build_s: Some(build_50k_s),
    }];

    // 3. Plain aho-corasick.
    progress("aho-corasick: overlapping");
    let t = Instant::now();
    let ac = AhoCorasick::new(&terms).context("building aho-corasick")?;
    let ac_build = t.elapsed().as_secs_f64();
    let ac_kind = format!(
        "{:?}, {:.1} MB heap",
        ac.kind(),
        ac.memory_usage() as f64 / 1e6
    );
    let overlapping = time_reps(reps, || {
        corpus
            .iter()
            .map(|l| ac.find_overlapping_iter(l).count() as u64)
            .sum()
    });
    drop(ac);
    engines.push(Row {
        name: "`aho-corasick` `find_overlapping_iter`".into(),
        what: "raw bytes, every overlapping match".into(),
        timed: overlapping,
        build_s: Some(ac_build),
    });
    progress("aho-corasick: leftmost-first");
    let t = Instant::now();
    let ac_lf = AhoCorasick::builder()
        .match_kind(MatchKind::LeftmostFirst)
        .build(&terms)
        .context("building aho-corasick (leftmost-first)")?;
    let lf_build = t.elapsed().as_secs_f64();
    let leftmost = time_reps(reps, || {
        corpus
            .iter()
            .map(|l| ac_lf.find_iter(l).count() as u64)
            .sum()
    });
    drop(ac_lf);
    engines.push(Row {
        name: "`aho-corasick` leftmost-first `find_iter`".into(),
        what: "raw bytes, non-overlapping".into(),
        timed: leftmost,
        build_s: Some(lf_build),
    });

    // 7 (measured here, while the corpus is hot). Where hegui's time goes.
    let breakdown = breakdown(&corpus, reps, &engines[0], &matcher)?;

    // For contrast: a 50k library that almost never matches (random ideograph strings).
    progress("sparse 50k library: hegui and aho-corasick");
    let sparse_terms = inputs::random_terms(TERMS);
    let sparse_terms_path = inputs::term_file(&dir, &sparse_terms)?;
    let sparse_lib = inputs::library(&sparse_terms)?;
    let sparse_matcher = Matcher::build(&sparse_lib).context("building the sparse matcher")?;
    drop(sparse_lib);
    let sparse_ac = AhoCorasick::new(&sparse_terms).context("building aho-corasick (sparse)")?;
    let mut sparse = vec![
        Row {
            name: "hegui `Matcher::check` (sparse 50k library)".into(),
            what: "normalise + match + PII + crisis".into(),
            timed: time_reps(reps, || {
                corpus
                    .iter()
                    .map(|l| sparse_matcher.check(l, &ctx).findings.len() as u64)
                    .sum()
            }),
            build_s: None,
        },
        Row {
            name: "`aho-corasick` `find_overlapping_iter` (sparse 50k library)".into(),
            what: "raw bytes, every overlapping match".into(),
            timed: time_reps(reps, || {
                corpus
                    .iter()
                    .map(|l| sparse_ac.find_overlapping_iter(l).count() as u64)
                    .sum()
            }),
            build_s: None,
        },
    ];
    drop(sparse_ac);

    // 5. Per-message latency.
    progress(&format!(
        "latency: {MESSAGES} messages of {MESSAGE_CHARS} characters"
    ));
    let msgs = inputs::messages(&source_lines, MESSAGES, MESSAGE_CHARS);
    let dense_latency = latency(&matcher, &msgs, reps.max(3));
    let sparse_latency = latency(&sparse_matcher, &msgs, reps.max(3));
    drop(matcher);
    drop(sparse_matcher);

    // 6. 100k build and memory.
    progress("100k library: build time");
    let big_lib = inputs::library(&big_terms)?;
    let mut build_100k = Vec::new();
    let mut stats_100k = Default::default();
    for _ in 0..3 {
        let t = Instant::now();
        let m = Matcher::build(&big_lib).context("building the 100k matcher")?;
        build_100k.push(t.elapsed().as_secs_f64());
        stats_100k = m.stats();
        drop(m);
    }
    drop(big_lib);
    progress("100k library: memory (child process)");
    let memory = measure::memory(&big_terms_path).map_err(|e| format!("{e:#}"));

    // 4. Python peers, last: they take the longest.
    let mut peer_errors = Vec::new();
    let jobs = [
        ("pyahocorasick", &terms_path, false),
        ("flashtext", &terms_path, false),
        ("pyahocorasick", &sparse_terms_path, true),
    ];
    let python = if opts.peers {
        peers::ensure_venv(&dir).map_err(|e| format!("{e:#}"))
    } else {
        Err("skipped (--no-peers)".to_string())
    };
    let script = root.join("crates/hegui-bench/peers/guard_peers.py");
    for (peer, term_path, is_sparse) in jobs {
        let python = match &python {
            Ok(p) => p,
            Err(e) => {
                if !is_sparse {
                    peer_errors.push((peer.to_string(), e.clone()));
                }
                continue;
            }
        };
        let label = if is_sparse {
            " (sparse 50k library)"
        } else {
            ""
        };
        // The sparse contrast is one repetition: pyahocorasick is very slow on that library and it
        // is not a goal.
        let peer_reps = if is_sparse { 1 } else { reps };
        progress(&format!(
            "{peer}{label}: {peer_reps} × {} lines",
            corpus.len()
        ));
        let r = match peers::run(python, &script, peer, term_path, &corpus_path, peer_reps) {
            Ok(r) => r,
            Err(e) => {
                if !is_sparse {
                    peer_errors.push((peer.to_string(), format!("{e:#}")));
                }
                continue;
            }
        };
        if r.bytes != bytes || r.lines != corpus.len() as u64 || r.terms != TERMS as u64 {
            bail!(
                "{peer} read {} lines / {} bytes / {} terms, expected {} / {bytes} / {TERMS}",
                r.lines,
                r.bytes,
                r.terms,
                corpus.len()
            );
        }
        let row = Row {
            name: format!("`{}` {} (Python {}){label}", r.peer, r.version, r.python),
            what: if peer == "flashtext" {
                "word-boundary keywords, lower-cased".into()
            } else {
                "every overlapping match".into()
            },
            timed: Timed {
                secs: r.scan_s,
                hits: r.hits,
            },
            build_s: Some(r.build_s),
        };
        if is_sparse {
            sparse.push(row);
        } else {
            engines.push(row);
        }
    }

    let results = Results {
        opts: opts.clone(),
        machine,
        load_after: report::loadavg(),
        corpus_path,
        bytes,
        chars,
        lines: corpus.len(),
        default_terms: base.len(),
        default_skipped,
        terms_path,
        stats,
        build_50k_s,
        engines,
        peer_errors,
        breakdown,
        sparse,
        latency: dense_latency,
        sparse_latency,
        build_100k,
        stats_100k,
        memory,
        ac_kind,
    };
    report::print(&results);
    Ok(())
}

/// `--profile`: only the check loop, so a profiler sees nothing else.
fn profile(kind: &str, corpus: &[&str], terms: &[String], reps: usize) -> Result<()> {
    let lib = match kind {
        "dense" => inputs::library(terms)?,
        "sparse" => inputs::library(&inputs::random_terms(TERMS))?,
        _ => FeatureLibrary::new("empty"),
    };
    let matcher = Matcher::build(&lib)?;
    drop(lib);
    let ctx = Context::default();
    progress(&format!("profiling check with the {kind} library"));
    let t = time_reps(reps, || {
        corpus
            .iter()
            .map(|l| matcher.check(l, &ctx).findings.len() as u64)
            .sum()
    });
    let bytes: u64 = corpus.iter().map(|l| l.len() as u64).sum();
    println!(
        "{kind}: {} findings, median {:.3} s, {:.1} MB/s",
        t.hits,
        t.median(),
        t.mbps(bytes)
    );
    Ok(())
}

/// The pipeline's parts on their own, over the same corpus.
fn breakdown(corpus: &[&str], reps: usize, full: &Row, matcher: &Matcher) -> Result<Vec<Row>> {
    use hegui_guard::normalize::{fold, fold_with_map};
    use hegui_guard::pii;
    let mut rows = Vec::new();
    progress("breakdown: normalize::fold");
    rows.push(Row {
        name: "`normalize::fold` alone".into(),
        what: "fold to a String (count: folded bytes)".into(),
        timed: time_reps(reps, || corpus.iter().map(|l| fold(l).len() as u64).sum()),
        build_s: None,
    });
    progress("breakdown: normalize::fold_with_map");
    rows.push(Row {
        name: "`normalize::fold_with_map` alone".into(),
        what: "fold keeping origins, as a check does (count: folded chars)".into(),
        timed: time_reps(reps, || {
            corpus.iter().map(|l| fold_with_map(l).len() as u64).sum()
        }),
        build_s: None,
    });
    progress("breakdown: pii::detect");
    rows.push(Row {
        name: "`pii::detect` alone".into(),
        what: "PII scanner (count: PII matches)".into(),
        timed: time_reps(reps, || {
            corpus.iter().map(|l| pii::detect(l).len() as u64).sum()
        }),
        build_s: None,
    });
    progress("breakdown: fixed cost per call");
    let ctx = Context::default();
    rows.push(Row {
        name: "`Matcher::check(\"\")` once per line (50k library)".into(),
        what: "fixed cost of a call: set-up and decision, no text".into(),
        timed: time_reps(reps, || {
            corpus
                .iter()
                .map(|_| matcher.check("", &ctx).findings.len() as u64)
                .sum()
        }),
        build_s: None,
    });
    progress("breakdown: detectors only");
    let t = Instant::now();
    let empty = Matcher::build(&FeatureLibrary::new("empty")).context("empty matcher")?;
    let empty_build = t.elapsed().as_secs_f64();
    rows.push(Row {
        name: format!(
            "`Matcher::check`, empty library ({} detector rules)",
            empty.stats().rules
        ),
        what: "normalise + crisis lexicon + PII".into(),
        timed: time_reps(reps, || {
            corpus
                .iter()
                .map(|l| empty.check(l, &ctx).findings.len() as u64)
                .sum()
        }),
        build_s: Some(empty_build),
    });
    drop(empty);
    progress("breakdown: shipped default library");
    let t = Instant::now();
    let default =
        Matcher::build(hegui_guard::default_library()).context("default-library matcher")?;
    let default_build = t.elapsed().as_secs_f64();
    rows.push(Row {
        name: format!(
            "`Matcher::check`, shipped default library ({} terms)",
            hegui_guard::default_library().active_terms()
        ),
        what: "normalise + match + PII + crisis".into(),
        timed: time_reps(reps, || {
            corpus
                .iter()
                .map(|l| default.check(l, &ctx).findings.len() as u64)
                .sum()
        }),
        build_s: Some(default_build),
    });
    rows.push(full.clone());
    Ok(rows)
}

/// Times `check` on every message, `passes` times, after one untimed warm-up pass.
fn latency(matcher: &Matcher, msgs: &[String], passes: usize) -> Latency {
    let ctx = Context::default();
    let mut with_findings = 0;
    for m in msgs {
        if !matcher.check(m, &ctx).findings.is_empty() {
            with_findings += 1;
        }
    }
    let t = Instant::now();
    let mut sink = 0usize;
    for m in msgs {
        sink += matcher.check(m, &ctx).findings.len();
    }
    let mean_us = t.elapsed().as_secs_f64() * 1e6 / msgs.len().max(1) as f64;
    let mut samples = Vec::with_capacity(msgs.len() * passes);
    for _ in 0..passes {
        for m in msgs {
            let t = Instant::now();
            sink += matcher.check(m, &ctx).findings.len();
            samples.push(t.elapsed().as_secs_f64() * 1e6);
        }
    }
    std::hint::black_box(sink);
    let timer = {
        let n = 100_000;
        let t = Instant::now();
        for _ in 0..n {
            std::hint::black_box(Instant::now().elapsed());
        }
        t.elapsed().as_secs_f64() * 1e6 / f64::from(n)
    };
    samples.sort_by(f64::total_cmp);
    Latency {
        messages: msgs.len(),
        chars: msgs.first().map_or(0, |m| m.chars().count()),
        mean_bytes: msgs.iter().map(|m| m.len()).sum::<usize>() as f64 / msgs.len().max(1) as f64,
        samples: samples.len(),
        median_us: measure::median(&samples),
        p90_us: measure::percentile(&samples, 90.0),
        p99_us: measure::percentile(&samples, 99.0),
        max_us: samples.last().copied().unwrap_or(f64::NAN),
        mean_us,
        timer_us: timer,
        with_findings,
    }
}
