//! `gateway-bench`: the gateway benchmark of issue 5. The added latency and the throughput of
//! `hegui serve` against LiteLLM's proxy (PyPI) and Portkey's gateway (npm), all three in front of
//! the same fake upstream (`hegui_testkit::FakeUpstream`) with the same keyword rule (自杀 blocked
//! on input and output), and a leak test of each (spec `gateway.md` §8).
//!
//! A benchmark binary, not a test; it never runs in CI:
//!
//! ```sh
//! cargo run --release -p hegui-bench --bin gateway-bench -- [--quick] [--no-build] [--only hegui,litellm,portkey]
//! ```
//!
//! What one run does (every number printed is measured in that run):
//!
//! 1. Installs what is missing under `target/bench-data/gateway/`: `litellm[proxy]==1.109.1` in a
//!    venv (when the registry cannot satisfy the release's own pins, the wheel goes in with
//!    `--no-deps` and each unsatisfiable pin is relaxed to the newest available; the report lists
//!    them), `@portkey-ai/gateway@1.15.2` with npm, and builds `target/release/hegui`
//!    (`cargo build --release -p hegui-cli`, skipped with `--no-build` when the binary exists).
//! 2. Pins itself (client and fake upstreams, on their own tokio runtimes) to core 1 and starts every
//!    gateway with `taskset -c 0` and one worker: hegui with `HEGUI_WORKERS=1`, LiteLLM with
//!    `--num_workers 1`, Portkey as its single Node process. Each gateway runs in a passthrough and
//!    a guarded configuration (Portkey: one process, the guardrails ride in `x-portkey-config`).
//! 3. Latency, S1–S4b: warm-up, then interleaved rounds of sequential requests per target (the
//!    direct-to-upstream baseline included); added latency = the gateway's p50 (p99) minus the
//!    baseline's in the same round, median over rounds. Throughput: closed loop at concurrency 16.
//! 4. S6, the leak test: streamed replies with 自杀 split across two deltas and whole in one,
//!    a non-streamed reply, and two input cases; per gateway what reached the client.
//!
//! Progress goes to stderr, the report (Markdown) to stdout. Logs of the gateways stay in
//! `target/bench-data/gateway/*.log`.

// A binary's root resolves modules beside itself (`src/bin/`), so the module files are named.
#[path = "../gateway/load.rs"]
mod load;
#[path = "../gateway/procs.rs"]
mod procs;
#[path = "../gateway/report.rs"]
mod report;
#[path = "../gateway/scenarios.rs"]
mod scenarios;

use anyhow::{Context as _, Result, bail};
use hegui_testkit::{FakeOptions, FakeUpstream};
use load::{Gw, Target};
use procs::{HeguiSpec, LiteModel, Proc};
use scenarios::{Config, LeakCase, Plan};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

const USAGE: &str = "\
usage: cargo run --release -p hegui-bench --bin gateway-bench -- [--quick] [--no-build] [--only LIST]

  --quick      a smoke run of about a minute (2 short rounds, 1 s throughput)
  --no-build   do not run `cargo build --release -p hegui-cli` when target/release/hegui exists
  --only LIST  comma-separated gateways to run: hegui, litellm, portkey (default: all)";

/// Command-line options.
#[derive(Debug, Clone)]
pub struct Opts {
    /// Short rounds.
    pub quick: bool,
    /// Build hegui-cli first.
    pub build: bool,
    /// Gateways to run.
    pub only: Vec<Gw>,
}

fn parse_opts(args: &[String]) -> Result<Option<Opts>> {
    let mut opts = Opts {
        quick: false,
        build: true,
        only: Gw::PEERS.to_vec(),
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--quick" => opts.quick = true,
            "--no-build" => opts.build = false,
            "--only" => {
                let list = it.next().context("--only needs a list")?;
                opts.only = list
                    .split(',')
                    .map(|g| match g.trim().to_lowercase().as_str() {
                        "hegui" => Ok(Gw::Hegui),
                        "litellm" => Ok(Gw::LiteLlm),
                        "portkey" => Ok(Gw::Portkey),
                        other => bail!("--only: unknown gateway {other:?}"),
                    })
                    .collect::<Result<_>>()?;
            }
            "-h" | "--help" => return Ok(None),
            other => bail!("unknown argument {other:?}\n{USAGE}"),
        }
    }
    Ok(Some(opts))
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let opts = match parse_opts(&args) {
        Ok(Some(o)) => o,
        Ok(None) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("gateway-bench: {e:#}");
            return ExitCode::from(2);
        }
    };
    match run(&opts) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("gateway-bench: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn progress(msg: &str) {
    eprintln!("gateway-bench: {msg}");
}

/// One gateway as set up for the run.
#[derive(Debug, Default)]
pub struct Setup {
    /// Version line for the report.
    pub version: String,
    /// Remarks (relaxed pins, build failures, …).
    pub notes: Vec<String>,
    /// Why it could not be measured.
    pub error: Option<String>,
    /// Its processes.
    pub procs: Vec<Managed>,
    /// Targets by configuration.
    pub pass: Option<Target>,
    /// The guarded configuration.
    pub guard: Option<Target>,
    /// Leak-test targets.
    pub leaks: BTreeMap<LeakCase, Target>,
    /// RSS per process at the end, MiB.
    pub rss: Vec<(String, f64)>,
}

/// A gateway process with the URL that answers once it is up and, for hegui, a way to start it
/// again (same port, data and key) if something ends it during the run.
#[derive(Debug)]
pub struct Managed {
    /// The process.
    pub proc: Proc,
    /// Answers HTTP once the process serves.
    pub ready_url: String,
    /// How to start it again.
    pub respawn: Option<procs::HeguiInstance>,
}

/// Everything the report prints.
#[derive(Debug)]
pub struct Results {
    /// Options.
    pub opts: Opts,
    /// The plan used.
    pub plan: Plan,
    /// Machine.
    pub machine: report::Machine,
    /// Git commit of the tree.
    pub git_sha: String,
    /// Whether the bench pinned itself to core 1 and the gateways to core 0.
    pub pinned: bool,
    /// The gateways.
    pub setups: BTreeMap<Gw, Setup>,
    /// Latency results by scenario id.
    pub latency: Vec<(scenarios::Scenario, scenarios::LatencyResult)>,
    /// Throughput by scenario id.
    pub throughput: Vec<(&'static str, BTreeMap<Gw, Vec<load::Throughput>>)>,
    /// Leak results by gateway.
    pub leaks: BTreeMap<Gw, BTreeMap<LeakCase, scenarios::LeakResult>>,
    /// Wall time of the whole run.
    pub wall: Duration,
    /// Load average at the end.
    pub load_after: String,
}

fn run(opts: &Opts) -> Result<()> {
    let t0 = Instant::now();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .context("finding the workspace root")?;
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .map(|t| if t.is_absolute() { t } else { root.join(t) })
        .unwrap_or_else(|| root.join("target"));
    let dir = target.join("bench-data/gateway");
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    if cfg!(debug_assertions) {
        progress("warning: this is a debug build; numbers are meaningless without --release");
    }
    let machine = report::Machine::probe();
    let git_sha = std::process::Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .current_dir(&root)
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "unknown".into());
    let plan = if opts.quick {
        Plan::quick()
    } else {
        Plan::full()
    };

    // 1. Installs and builds, before pinning (so pip, npm and cargo use both cores).
    let mut setups: BTreeMap<Gw, Setup> = BTreeMap::new();
    let library = dir.join("bench-library.jsonl");
    procs::write_library(&library)?;
    let mut hegui_bin = None;
    let mut litellm = None;
    let mut portkey = None;
    for gw in &opts.only {
        let mut s = Setup::default();
        match gw {
            Gw::Hegui => match procs::ensure_hegui(&root, &target, opts.build) {
                Ok((bin, note)) => {
                    s.version = format!("{} (git {git_sha})", procs::hegui_version(&bin));
                    s.notes.extend(note);
                    hegui_bin = Some(bin);
                }
                Err(e) => s.error = Some(format!("{e:#}")),
            },
            Gw::LiteLlm => match procs::ensure_litellm(&dir) {
                Ok(i) => {
                    s.version = format!("LiteLLM {} ({})", i.version, i.python);
                    if i.version != procs::LITELLM_VERSION {
                        s.notes.push(format!(
                            "pinned {} not installable; ran {}",
                            procs::LITELLM_VERSION,
                            i.version
                        ));
                    }
                    if !i.relaxed.is_empty() {
                        s.notes.push(format!(
                            "the registry here cannot satisfy these pins of litellm {}; installed with them relaxed: {}",
                            i.version,
                            i.relaxed.join("; ")
                        ));
                    }
                    litellm = Some(i);
                }
                Err(e) => s.error = Some(format!("install failed: {e:#}")),
            },
            Gw::Portkey => match procs::ensure_portkey(&dir) {
                Ok(i) => {
                    s.version = format!(
                        "@portkey-ai/gateway {} (node {})",
                        i.version, i.node_version
                    );
                    s.notes.push(format!(
                        "@hono/node-server {} (npm override): with the ^1.3.3 range npm picks a release that breaks every \
                         Portkey stream with `TypeError: immutable` (Portkey-AI/gateway#1389); guardrail config JSON sent \
                         with \\u escapes (Node reads header values as Latin-1)",
                        i.hono
                    ));
                    portkey = Some(i);
                }
                Err(e) => s.error = Some(format!("install failed: {e:#}")),
            },
            Gw::Direct => {}
        }
        setups.insert(*gw, s);
    }

    // 2. Pin the bench (client + fakes) to core 1; the gateways go to core 0 through taskset.
    let pinned = pin_self(1);
    if !pinned {
        progress("warning: could not pin to core 1 (fewer than 2 cores?); numbers share cores");
    }
    let up_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("fake-upstream")
        .enable_all()
        .build()
        .context("starting the upstream runtime")?;
    let any: SocketAddr = SocketAddr::from(([127, 0, 0, 1], 0));
    let fake = |reply: Option<String>| {
        let mut o = FakeOptions {
            chunks: scenarios::STREAM_CHUNKS,
            chunk_delay: Duration::ZERO,
            model: "mock-model".into(),
            ..FakeOptions::default()
        };
        if let Some(r) = reply {
            o.default_reply = r;
        }
        up_rt.block_on(FakeUpstream::start_on(any, o))
    };
    let up_main = fake(None).context("starting the fake upstream")?;
    let up_split =
        fake(Some(scenarios::leak_reply(true))).context("starting the split-leak fake")?;
    let up_whole =
        fake(Some(scenarios::leak_reply(false))).context("starting the whole-leak fake")?;
    progress(&format!(
        "fake upstreams at {} (main), {} (split leak), {} (whole leak)",
        up_main.base_url(),
        up_split.base_url(),
        up_whole.base_url()
    ));

    // 3. Start the gateways.
    let direct = |base: &str| Target {
        gw: Gw::Direct,
        url: format!("{base}/chat/completions"),
        headers: Vec::new(),
        model: "mock-model".into(),
    };
    let mut direct_setup = Setup {
        version: "hegui-testkit FakeUpstream".into(),
        pass: Some(direct(&up_main.base_url())),
        guard: Some(direct(&up_main.base_url())),
        ..Setup::default()
    };
    for case in LeakCase::ALL {
        direct_setup.leaks.insert(
            case,
            direct(&leak_base(case, &up_main, &up_split, &up_whole)),
        );
    }
    if let (Some(bin), Some(s)) = (&hegui_bin, setups.get_mut(&Gw::Hegui))
        && let Err(e) = start_hegui(s, bin, &dir, &library, &up_main, &up_split, &up_whole)
    {
        s.error = Some(format!("{e:#}"));
    }
    if let (Some(i), Some(s)) = (&litellm, setups.get_mut(&Gw::LiteLlm))
        && let Err(e) = start_litellm(s, i, &dir, &up_main, &up_split, &up_whole)
    {
        s.error = Some(format!("{e:#}"));
    }
    if let (Some(i), Some(s)) = (&portkey, setups.get_mut(&Gw::Portkey))
        && let Err(e) = start_portkey(s, i, &dir, &up_main, &up_split, &up_whole)
    {
        s.error = Some(format!("{e:#}"));
    }

    // 4. Measure on a current-thread runtime (the client).
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the client runtime")?;
    let results = rt.block_on(async {
        let client = load::client()?;
        wait_ready(&client, &mut setups).await;
        setups.insert(Gw::Direct, direct_setup);
        measure(&client, &mut setups, &plan).await
    });
    let (latency, throughput, leaks) = results?;
    for s in setups.values_mut() {
        s.rss = s
            .procs
            .iter()
            .filter_map(|m| m.proc.rss_mib().map(|r| (m.proc.name.clone(), r)))
            .collect();
        s.procs.clear();
    }
    drop(up_main);
    drop(up_split);
    drop(up_whole);
    let results = Results {
        opts: opts.clone(),
        plan,
        machine,
        git_sha,
        pinned,
        setups,
        latency,
        throughput,
        leaks,
        wall: t0.elapsed(),
        load_after: report::loadavg(),
    };
    print!("{}", report::render(&results));
    Ok(())
}

fn leak_base(
    case: LeakCase,
    main: &FakeUpstream,
    split: &FakeUpstream,
    whole: &FakeUpstream,
) -> String {
    match case {
        LeakCase::StreamSplit | LeakCase::NonStream => split.base_url(),
        LeakCase::StreamWhole => whole.base_url(),
        LeakCase::InputSymbolSplit | LeakCase::InputLiteral => main.base_url(),
    }
}

/// Pins the calling thread (before any other thread exists: the whole process) to `core`.
fn pin_self(core: usize) -> bool {
    use nix::sched::{CpuSet, sched_setaffinity};
    use nix::unistd::Pid;
    if procs::cores() < 2 {
        return false;
    }
    let mut set = CpuSet::new();
    set.set(core).is_ok() && sched_setaffinity(Pid::from_raw(0), &set).is_ok()
}

fn start_hegui(
    s: &mut Setup,
    bin: &Path,
    dir: &Path,
    library: &Path,
    main: &FakeUpstream,
    split: &FakeUpstream,
    whole: &FakeUpstream,
) -> Result<()> {
    let specs = [
        ("pass", main, false),
        ("guard", main, true),
        ("leak-split", split, true),
        ("leak-whole", whole, true),
    ];
    let mut by_label = BTreeMap::new();
    for (label, up, moderation) in specs {
        let spec = HeguiSpec {
            label: label.into(),
            upstream: up.base_url(),
            moderation,
        };
        let inst = procs::prepare_hegui(bin, dir, library, &spec)?;
        let t = Target {
            gw: Gw::Hegui,
            url: format!("http://127.0.0.1:{}/v1/chat/completions", inst.port),
            // hegui asks who the end user is (OpenAI `user` field or this header).
            headers: vec![
                ("authorization".into(), format!("Bearer {}", inst.key)),
                ("x-hegui-user".into(), "gateway-bench-user".into()),
            ],
            model: "mock-model".into(),
        };
        s.procs.push(Managed {
            proc: inst.spawn()?,
            ready_url: format!("http://127.0.0.1:{}/v1/models", inst.port),
            respawn: Some(inst),
        });
        by_label.insert(label, t);
    }
    s.pass = by_label.get("pass").cloned();
    s.guard = by_label.get("guard").cloned();
    for case in LeakCase::ALL {
        let label = match case {
            LeakCase::StreamSplit | LeakCase::NonStream => "leak-split",
            LeakCase::StreamWhole => "leak-whole",
            LeakCase::InputSymbolSplit | LeakCase::InputLiteral => "guard",
        };
        if let Some(t) = by_label.get(label) {
            s.leaks.insert(case, t.clone());
        }
    }
    Ok(())
}

fn start_litellm(
    s: &mut Setup,
    install: &procs::LiteLlmInstall,
    dir: &Path,
    main: &FakeUpstream,
    split: &FakeUpstream,
    whole: &FakeUpstream,
) -> Result<()> {
    let model = |name: &str, up: &FakeUpstream| LiteModel {
        name: name.into(),
        api_base: up.base_url(),
    };
    let pass_cfg = procs::litellm_config(&[model("mock-model", main)], false);
    let guard_cfg = procs::litellm_config(
        &[
            model("mock-model", main),
            model("leak-split", split),
            model("leak-whole", whole),
        ],
        true,
    );
    let target = |port: u16, model: &str| Target {
        gw: Gw::LiteLlm,
        url: format!("http://127.0.0.1:{port}/v1/chat/completions"),
        headers: vec![(
            "authorization".into(),
            format!("Bearer {}", procs::LITELLM_MASTER_KEY),
        )],
        model: model.into(),
    };
    let (p, port) = procs::start_litellm(install, dir, "pass", &pass_cfg)?;
    s.procs.push(Managed {
        proc: p,
        ready_url: format!("http://127.0.0.1:{port}/health/liveliness"),
        respawn: None,
    });
    s.pass = Some(target(port, "mock-model"));
    let (p, port) = procs::start_litellm(install, dir, "guard", &guard_cfg)?;
    s.procs.push(Managed {
        proc: p,
        ready_url: format!("http://127.0.0.1:{port}/health/liveliness"),
        respawn: None,
    });
    s.guard = Some(target(port, "mock-model"));
    for case in LeakCase::ALL {
        let model = match case {
            LeakCase::StreamSplit | LeakCase::NonStream => "leak-split",
            LeakCase::StreamWhole => "leak-whole",
            LeakCase::InputSymbolSplit | LeakCase::InputLiteral => "mock-model",
        };
        s.leaks.insert(case, target(port, model));
    }
    Ok(())
}

fn start_portkey(
    s: &mut Setup,
    install: &procs::PortkeyInstall,
    dir: &Path,
    main: &FakeUpstream,
    split: &FakeUpstream,
    whole: &FakeUpstream,
) -> Result<()> {
    let (p, port) = procs::start_portkey(install, dir)?;
    s.procs.push(Managed {
        proc: p,
        ready_url: format!("http://127.0.0.1:{port}/"),
        respawn: None,
    });
    let target = |up: &FakeUpstream, guard: bool| {
        let mut headers = vec![
            ("x-portkey-provider".to_string(), "openai".to_string()),
            ("x-portkey-custom-host".to_string(), up.base_url()),
            ("authorization".to_string(), "Bearer sk-mock".to_string()),
        ];
        if guard {
            headers.push(("x-portkey-config".into(), procs::portkey_guard_config()));
        }
        Target {
            gw: Gw::Portkey,
            url: format!("http://127.0.0.1:{port}/v1/chat/completions"),
            headers,
            model: "mock-model".into(),
        }
    };
    s.pass = Some(target(main, false));
    s.guard = Some(target(main, true));
    for case in LeakCase::ALL {
        let up = match case {
            LeakCase::StreamSplit | LeakCase::NonStream => split,
            LeakCase::StreamWhole => whole,
            LeakCase::InputSymbolSplit | LeakCase::InputLiteral => main,
        };
        s.leaks.insert(case, target(up, true));
    }
    Ok(())
}

/// Waits until every process answers HTTP and every target serves a clean chat; marks failures.
async fn wait_ready(client: &reqwest::Client, setups: &mut BTreeMap<Gw, Setup>) {
    let deadline = Instant::now() + Duration::from_secs(180);
    for (gw, s) in setups.iter_mut() {
        if s.error.is_some() {
            continue;
        }
        progress(&format!("waiting for {}", gw.name()));
        'procs: for m in &mut s.procs {
            let (p, url) = (&mut m.proc, &m.ready_url);
            loop {
                if let Some(st) = p.exited() {
                    s.error = Some(format!(
                        "{} exited ({st}) while starting:\n{}",
                        p.name,
                        p.log_tail(12)
                    ));
                    break 'procs;
                }
                if Instant::now() > deadline {
                    s.error = Some(format!(
                        "{} did not answer {url} within 180 s:\n{}",
                        p.name,
                        p.log_tail(12)
                    ));
                    break 'procs;
                }
                let answered = client
                    .get(url.as_str())
                    .timeout(Duration::from_secs(2))
                    .send()
                    .await
                    .is_ok();
                if answered {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
        }
        if s.error.is_some() {
            continue;
        }
        // A clean request through each configuration must work before anything is timed. Only
        // connection errors and 5xx are retried (a peer may answer its health URL before its
        // router is ready); a 4xx is a set-up error and fails at once.
        for t in [&s.pass, &s.guard].into_iter().flatten() {
            let mut last = String::new();
            let mut ok = false;
            let until = (Instant::now() + Duration::from_secs(30)).min(deadline);
            while Instant::now() < until {
                match load::chat(client, t, scenarios::CLEAN, false).await {
                    Ok(r) if r.ok() => {
                        ok = true;
                        break;
                    }
                    Ok(r) => {
                        last = format!("HTTP {} {} {}", r.status, r.error_kind, r.body_head);
                        if r.status < 500 {
                            break;
                        }
                    }
                    Err(e) => last = format!("{e:#}"),
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            if !ok {
                s.error = Some(format!("a clean request through {} fails: {last}", t.url));
                break;
            }
        }
        if s.error.is_none() {
            progress(&format!("{} is up", gw.name()));
        }
    }
}

type Measured = (
    Vec<(scenarios::Scenario, scenarios::LatencyResult)>,
    Vec<(&'static str, BTreeMap<Gw, Vec<load::Throughput>>)>,
    BTreeMap<Gw, BTreeMap<LeakCase, scenarios::LeakResult>>,
);

/// Before each stage: a gateway process that has ended (another program on a shared machine may
/// kill it) is reported in the notes; hegui is started again on the same port and data, the peers
/// are dropped from the rest of the run.
async fn check_alive(
    client: &reqwest::Client,
    setups: &mut BTreeMap<Gw, Setup>,
    stage: &str,
) -> bool {
    let mut changed = false;
    for (gw, s) in setups.iter_mut() {
        if s.error.is_some() {
            continue;
        }
        for m in &mut s.procs {
            let Some(status) = m.proc.exited() else {
                continue;
            };
            let name = m.proc.name.clone();
            changed = true;
            let Some(inst) = &m.respawn else {
                s.error = Some(format!(
                    "{name} ended ({status}) by {stage}:\n{}",
                    m.proc.log_tail(8)
                ));
                break;
            };
            progress(&format!("{name} ended ({status}); starting it again"));
            match inst.spawn() {
                Ok(p) => {
                    m.proc = p;
                    let deadline = Instant::now() + Duration::from_secs(30);
                    let mut up = false;
                    while Instant::now() < deadline && m.proc.exited().is_none() {
                        let probe = client
                            .get(m.ready_url.as_str())
                            .timeout(Duration::from_secs(2))
                            .send()
                            .await;
                        if probe.is_ok() {
                            up = true;
                            break;
                        }
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                    if up {
                        s.notes
                            .push(format!("{name} ended ({status}) by {stage}; restarted"));
                    } else {
                        s.error = Some(format!(
                            "{name} ended ({status}) by {stage}; the restart failed"
                        ));
                    }
                }
                Err(e) => {
                    s.error = Some(format!(
                        "{name} ended ({status}) by {stage}; restart: {e:#}"
                    ))
                }
            }
        }
        if let Some(e) = &s.error {
            progress(&format!("{}: {e}", gw.name()));
        }
    }
    changed
}

async fn measure(
    client: &reqwest::Client,
    setups: &mut BTreeMap<Gw, Setup>,
    plan: &Plan,
) -> Result<Measured> {
    let targets = |setups: &BTreeMap<Gw, Setup>, config: Config| -> Vec<Target> {
        setups
            .values()
            .filter(|s| s.error.is_none())
            .filter_map(|s| match config {
                Config::Pass => s.pass.clone(),
                Config::Guard => s.guard.clone(),
            })
            .collect()
    };
    // A round during which a gateway process ended (and was restarted) is run again, up to 3 times
    // per scenario, so that no round mixes a dead gateway's errors into the numbers.
    let mut latency = Vec::new();
    for sc in scenarios::scenarios() {
        let _ = check_alive(client, setups, sc.id).await;
        let ts = targets(setups, sc.config);
        progress(&format!(
            "{} {}: {} targets, {} rounds",
            sc.id,
            sc.title,
            ts.len(),
            plan.rounds
        ));
        scenarios::warm_latency(client, &ts, &sc, plan).await;
        let mut res = scenarios::LatencyResult::default();
        let (mut r, mut redo) = (0, 0);
        while r < plan.rounds {
            let ts = targets(setups, sc.config);
            let got = scenarios::latency_round(client, &ts, &sc, plan, r).await;
            if check_alive(client, setups, &format!("{} round {}", sc.id, r + 1)).await && redo < 3
            {
                redo += 1;
                progress(&format!("{} round {}: run again", sc.id, r + 1));
                continue;
            }
            for (gw, round) in got {
                res.rounds.entry(gw).or_default().push(round);
            }
            r += 1;
        }
        latency.push((sc, res));
    }
    let mut throughput = Vec::new();
    for (id, config) in [("S1", Config::Pass), ("S3", Config::Guard)] {
        let _ = check_alive(client, setups, &format!("throughput {id}")).await;
        progress(&format!(
            "throughput {id} at concurrency {}",
            plan.concurrency
        ));
        let ask = load::Ask {
            message: scenarios::CLEAN.into(),
            stream: false,
        };
        scenarios::warm_throughput(client, &targets(setups, config), &ask, plan).await;
        let mut res: BTreeMap<Gw, Vec<load::Throughput>> = BTreeMap::new();
        let (mut r, mut redo) = (0, 0);
        while r < plan.tp_rounds {
            let ts = targets(setups, config);
            let got = scenarios::throughput_round(client, &ts, &ask, plan, r).await;
            if check_alive(client, setups, &format!("throughput {id} round {}", r + 1)).await
                && redo < 3
            {
                redo += 1;
                continue;
            }
            for (gw, tp) in got {
                res.entry(gw).or_default().push(tp);
            }
            r += 1;
        }
        throughput.push((id, res));
    }
    let _ = check_alive(client, setups, "S6").await;
    progress("S6 leak test");
    let mut leaks = BTreeMap::new();
    for (gw, s) in setups.iter() {
        if s.error.is_some() {
            continue;
        }
        leaks.insert(*gw, scenarios::run_leaks(client, &s.leaks).await);
    }
    Ok((latency, throughput, leaks))
}
