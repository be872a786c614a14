//! Installing and running the gateways under test as child processes: hegui's release binary,
//! LiteLLM from PyPI in a venv, Portkey's gateway from npm, all under `target/bench-data/gateway/`.
//!
//! Every gateway runs pinned to core 0 (`taskset -c 0`) with one worker, in its own process group,
//! and is stopped (SIGTERM, then SIGKILL) by its process-group id when the bench drops it.

use anyhow::{Context, Result, bail};
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The LiteLLM release the spec pins (§8.2).
pub const LITELLM_VERSION: &str = "1.109.1";
/// The Portkey gateway release the spec pins (§8.2).
pub const PORTKEY_VERSION: &str = "1.15.2";
/// The master key LiteLLM requires (clients send it as their bearer token).
pub const LITELLM_MASTER_KEY: &str = "sk-gateway-bench";
/// The forbidden phrase of the shared keyword rule.
pub const KEYWORD: &str = "自杀";

/// A running gateway process.
#[derive(Debug)]
pub struct Proc {
    /// For messages.
    pub name: String,
    child: Child,
    /// Where its stdout and stderr go.
    pub log: PathBuf,
}

impl Proc {
    /// Starts `cmd` in a new process group with its output in `log`.
    pub fn spawn(name: &str, mut cmd: Command, log: PathBuf) -> Result<Proc> {
        use std::os::unix::process::CommandExt as _;
        let out =
            std::fs::File::create(&log).with_context(|| format!("creating {}", log.display()))?;
        let err = out.try_clone().context("duplicating the log handle")?;
        cmd.stdin(Stdio::null())
            .stdout(Stdio::from(out))
            .stderr(Stdio::from(err))
            .process_group(0);
        let child = cmd
            .spawn()
            .with_context(|| format!("starting {name} ({cmd:?})"))?;
        Ok(Proc {
            name: name.to_string(),
            child,
            log,
        })
    }

    /// The exit status if the process has ended.
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// The process id (also its process-group id).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The last `n` lines of its log.
    pub fn log_tail(&self, n: usize) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }

    /// Resident set size in MiB from /proc (the main process only).
    pub fn rss_mib(&self) -> Option<f64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).ok()?;
        let kib: f64 = status
            .lines()
            .find(|l| l.starts_with("VmRSS:"))?
            .split_whitespace()
            .nth(1)?
            .parse()
            .ok()?;
        Some(kib / 1024.0)
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if self.exited().is_some() {
            return;
        }
        let Ok(raw) = i32::try_from(self.pid()) else {
            return;
        };
        let group = Pid::from_raw(raw);
        let _ = killpg(group, Signal::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(3);
        while Instant::now() < deadline {
            if self.exited().is_some() {
                // Reap any stragglers of the group too (LiteLLM may fork helpers).
                let _ = killpg(group, Signal::SIGKILL);
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = killpg(group, Signal::SIGKILL);
        let _ = self.child.wait();
    }
}

/// A command pinned to `core` with `taskset` (or unpinned when the machine has one core).
pub fn pinned(core: usize, program: &Path) -> Command {
    if cores() >= 2 {
        let mut c = Command::new("taskset");
        c.arg("-c").arg(core.to_string()).arg(program);
        c
    } else {
        Command::new(program)
    }
}

/// Logical cores available.
pub fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// A free TCP port on 127.0.0.1 (bound, then released; good enough on a quiet loopback).
pub fn free_port() -> Result<u16> {
    let l = std::net::TcpListener::bind("127.0.0.1:0").context("finding a free port")?;
    Ok(l.local_addr().context("reading the port")?.port())
}

fn run_quiet(cmd: &mut Command, what: &str) -> Result<String> {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("running {what}"))?;
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&out.stderr));
    if !out.status.success() {
        let tail: Vec<&str> = text.lines().rev().take(15).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        bail!("{what} failed ({}):\n{}", out.status, tail.join("\n"));
    }
    Ok(text)
}

// ---------------------------------------------------------------------------------------------
// hegui

/// Makes sure `target/release/hegui` exists (building it when asked or missing); returns its path
/// and a note when the build failed and an older binary is used.
pub fn ensure_hegui(root: &Path, target: &Path, build: bool) -> Result<(PathBuf, Option<String>)> {
    let bin = target.join("release/hegui");
    if build || !bin.exists() {
        eprintln!("gateway-bench: cargo build --release -p hegui-cli");
        let st = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
            .args(["build", "--release", "-p", "hegui-cli"])
            .current_dir(root)
            .status()
            .context("running cargo build")?;
        if !st.success() {
            if bin.exists() {
                return Ok((
                    bin,
                    Some(
                        "`cargo build --release -p hegui-cli` failed; measured the existing binary"
                            .into(),
                    ),
                ));
            }
            bail!("cargo build --release -p hegui-cli failed and there is no target/release/hegui");
        }
    }
    Ok((bin, None))
}

/// The library file with the single shared rule: 自杀, block, input and output, active.
pub fn write_library(path: &Path) -> Result<()> {
    use hegui_guard::library::{Entry, EntryKind, RuleAction, Status};
    use hegui_guard::{Audience, FeatureLibrary, Scope};
    let mut lib = FeatureLibrary::new("gateway-bench");
    lib.header.version = 1;
    lib.header.updated_at = Some("2026-01-01T00:00:00Z".into());
    let entry = Entry {
        id: "C1-000001".into(),
        kind: EntryKind::Rule,
        category: "C1".into(),
        patterns: vec![KEYWORD.into()],
        action: RuleAction::Block,
        scope: Scope::Both,
        audience: Audience::All,
        pinyin: false,
        status: Status::Active,
        author: "gateway-bench".into(),
        approver: Some("gateway-bench-approver".into()),
        reason: "the shared keyword rule of the gateway benchmark".into(),
        created_at: "2026-01-01T00:00:00Z".into(),
        approved_at: Some("2026-01-01T00:00:00Z".into()),
        activated_at: Some("2026-01-01T00:00:00Z".into()),
        retired_at: None,
    };
    entry.validate().context("validating the bench rule")?;
    lib.entries.insert(entry.id.clone(), entry);
    FeatureLibrary::parse(&lib.to_jsonl()).context("re-reading the bench library")?;
    lib.save(path)
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

/// One `hegui serve` to start.
#[derive(Debug, Clone)]
pub struct HeguiSpec {
    /// A short label (`pass`, `guard`, …), used for the data directory and the log.
    pub label: String,
    /// The upstream base URL (`http://127.0.0.1:P/v1`).
    pub upstream: String,
    /// Moderation on (the shared rule) or off (passthrough).
    pub moderation: bool,
}

/// A prepared `hegui serve`: a fresh data directory with an app, a port, the API key. It can be
/// spawned again on the same port and data should it die during the run.
#[derive(Debug, Clone)]
pub struct HeguiInstance {
    /// The binary.
    pub bin: PathBuf,
    /// The bench directory (logs).
    pub dir: PathBuf,
    /// The library file.
    pub library: PathBuf,
    /// What to run.
    pub spec: HeguiSpec,
    /// Its data directory.
    pub data: PathBuf,
    /// Its port on 127.0.0.1.
    pub port: u16,
    /// The API key `hegui app create` printed.
    pub key: String,
}

/// Creates a fresh data directory and app for `spec` and picks a port.
pub fn prepare_hegui(
    bin: &Path,
    dir: &Path,
    library: &Path,
    spec: &HeguiSpec,
) -> Result<HeguiInstance> {
    let data = dir.join(format!("hegui-{}", spec.label));
    if data.exists() {
        std::fs::remove_dir_all(&data).with_context(|| format!("clearing {}", data.display()))?;
    }
    std::fs::create_dir_all(&data).with_context(|| format!("creating {}", data.display()))?;
    let out = run_quiet(
        Command::new(bin)
            .args(["app", "create", "--name", "bench", "--data-dir"])
            .arg(&data),
        "hegui app create",
    )?;
    let key = out
        .lines()
        .rev()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .context("hegui app create printed no API key")?
        .to_string();
    let _ = std::fs::remove_file(dir.join(format!("hegui-{}.log", spec.label)));
    Ok(HeguiInstance {
        bin: bin.to_path_buf(),
        dir: dir.to_path_buf(),
        library: library.to_path_buf(),
        spec: spec.clone(),
        data,
        port: free_port()?,
        key,
    })
}

impl HeguiInstance {
    /// Starts `hegui serve` pinned to core 0 with one worker.
    pub fn spawn(&self) -> Result<Proc> {
        let mut cmd = pinned(0, &self.bin);
        cmd.arg("serve")
            .args(["--listen", &format!("127.0.0.1:{}", self.port)])
            .args(["--upstream", &self.spec.upstream])
            .arg("--data-dir")
            .arg(&self.data)
            .arg("--library")
            .arg(&self.library)
            .env("HEGUI_WORKERS", "1")
            .env("RUST_LOG", "warn");
        if !self.spec.moderation {
            let config = self.data.join("passthrough.toml");
            std::fs::write(&config, "[moderation]\ninput = false\noutput = false\n")
                .with_context(|| format!("writing {}", config.display()))?;
            cmd.arg("--config").arg(&config);
        }
        Proc::spawn(
            &format!("hegui-{}", self.spec.label),
            cmd,
            self.dir.join(format!("hegui-{}.log", self.spec.label)),
        )
    }
}

/// `hegui --version`, or `?`.
pub fn hegui_version(bin: &Path) -> String {
    Command::new(bin)
        .arg("--version")
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "?".into())
}

// ---------------------------------------------------------------------------------------------
// LiteLLM

/// A LiteLLM install in a venv.
#[derive(Debug, Clone)]
pub struct LiteLlmInstall {
    /// `venv/bin/litellm`.
    pub bin: PathBuf,
    /// The installed version.
    pub version: String,
    /// Python version.
    pub python: String,
    /// Requirements of the pinned release the venv does not meet (`pip check`): the registry here
    /// could not satisfy them, so the install relaxed them.
    pub relaxed: Vec<String>,
}

/// Lists `litellm`'s own requirements plus its `proxy` extra, markers evaluated, one per line.
const LIST_REQS: &str = r#"
import importlib.metadata as m
from pip._vendor.packaging.requirements import Requirement
seen = set()
for s in m.requires("litellm") or []:
    r = Requirement(s)
    if r.marker is not None and not (r.marker.evaluate({"extra": "proxy"}) or r.marker.evaluate({"extra": ""})):
        continue
    r.marker = None
    if str(r) not in seen:
        seen.add(str(r))
        print(r)
"#;

/// Prints each of litellm's requirements (its own and the `proxy` extra's) that the installed
/// packages do not meet, as `REQUIREMENT (installed VERSION)`.
const UNMET_REQS: &str = r#"
import importlib.metadata as m
from pip._vendor.packaging.requirements import Requirement
for s in m.requires("litellm") or []:
    r = Requirement(s)
    if r.marker is not None and not (r.marker.evaluate({"extra": "proxy"}) or r.marker.evaluate({"extra": ""})):
        continue
    try:
        v = m.version(r.name)
    except m.PackageNotFoundError:
        v = None
    if v is None or not r.specifier.contains(v, prereleases=True):
        r.marker = None
        print(f"{r} (installed {v or 'none'})")
"#;

/// Installs `litellm[proxy]==VERSION` into `dir/litellm-venv` when it is not there yet.
///
/// When pip cannot resolve the release's own pins from the registry (this machine's PyPI lags:
/// e.g. `certifi>=2026.10.19` is not there yet), installs the pinned wheel with `--no-deps` and its
/// requirements with each unsatisfiable one relaxed to the newest available, and says which.
pub fn ensure_litellm(dir: &Path) -> Result<LiteLlmInstall> {
    let venv = dir.join("litellm-venv");
    let python = venv.join("bin/python");
    let bin = venv.join("bin/litellm");
    if !python.exists() {
        eprintln!("gateway-bench: python3 -m venv {}", venv.display());
        run_quiet(
            Command::new("python3").args(["-m", "venv"]).arg(&venv),
            "python3 -m venv",
        )?;
    }
    let installed = || {
        Command::new(&python)
            .args(["-c", "import importlib.metadata as m; import litellm.proxy.proxy_server; print(m.version('litellm'))"])
            .env("LITELLM_LOCAL_MODEL_COST_MAP", "True")
            .stderr(Stdio::null())
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
    };
    let pip = |args: &[&str]| -> Result<String> {
        let mut c = Command::new(&python);
        c.args([
            "-m",
            "pip",
            "install",
            "--disable-pip-version-check",
            "--quiet",
        ])
        .args(args);
        run_quiet(&mut c, &format!("pip install {}", args.join(" ")))
    };
    if installed().as_deref() != Some(LITELLM_VERSION) {
        eprintln!(
            "gateway-bench: pip install 'litellm[proxy]=={LITELLM_VERSION}' (a few minutes the first time)"
        );
        let spec = format!("litellm[proxy]=={LITELLM_VERSION}");
        let mut relaxed = Vec::new();
        if let Err(e) = pip(&[&spec]) {
            eprintln!(
                "gateway-bench: pip could not resolve {spec} as pinned; relaxing the unsatisfiable pins\n{e:#}"
            );
            pip(&["--no-deps", &format!("litellm=={LITELLM_VERSION}")])?;
            let list = run_quiet(
                Command::new(&python).args(["-c", LIST_REQS]),
                "listing litellm's requirements",
            )?;
            let mut reqs: Vec<String> = list
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(String::from)
                .collect();
            let req_file = dir.join("litellm-requirements.txt");
            for attempt in 0..8 {
                std::fs::write(&req_file, reqs.join("\n") + "\n")
                    .with_context(|| format!("writing {}", req_file.display()))?;
                let Err(e) = pip(&["-r", &req_file.to_string_lossy()]) else {
                    break;
                };
                let msg = format!("{e:#}");
                let Some(name) = unsatisfiable(&msg) else {
                    bail!("pip install of litellm's requirements failed:\n{msg}");
                };
                let Some(slot) = reqs.iter_mut().find(|r| req_name(r) == name.to_lowercase())
                else {
                    bail!(
                        "pip cannot find {name}, which is not one of litellm's direct requirements:\n{msg}"
                    );
                };
                relaxed.push(slot.clone());
                *slot = bare(slot);
                if attempt == 7 {
                    bail!(
                        "gave up relaxing litellm's requirements: {}",
                        relaxed.join(", ")
                    );
                }
            }
        }
        if !relaxed.is_empty() {
            eprintln!("gateway-bench: relaxed: {}", relaxed.join(", "));
        }
    }
    let version = installed().context("litellm does not import after the install")?;
    let python_v = Command::new(&python)
        .arg("--version")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    // Whatever installed the venv: which of litellm's own pins (with the proxy extra) it misses.
    let relaxed = Command::new(&python)
        .args(["-c", UNMET_REQS])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default()
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect();
    Ok(LiteLlmInstall {
        bin,
        version,
        python: python_v,
        relaxed,
    })
}

/// The package pip reported as having no matching distribution.
fn unsatisfiable(pip_output: &str) -> Option<String> {
    let at = pip_output.find("No matching distribution found for ")?;
    let rest = &pip_output[at + "No matching distribution found for ".len()..];
    let spec = rest.split_whitespace().next()?;
    Some(req_name(spec))
}

/// The normalised package name of a requirement line.
fn req_name(req: &str) -> String {
    req.chars()
        .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        .collect::<String>()
        .to_lowercase()
        .replace('_', "-")
}

/// A requirement without its version specifier (extras kept).
fn bare(req: &str) -> String {
    let end = req
        .find(['<', '>', '=', '!', '~', ' ', ';'])
        .unwrap_or(req.len());
    req[..end].to_string()
}

/// One LiteLLM model entry: name and upstream base URL.
#[derive(Debug, Clone)]
pub struct LiteModel {
    /// `model_name` clients send.
    pub name: String,
    /// `api_base`.
    pub api_base: String,
}

/// The LiteLLM config of spec §8.3, with or without the two `litellm_content_filter` guardrails
/// (pre_call and post_call, blocking 自杀; post_call withholds streamed chunks until moderated).
pub fn litellm_config(models: &[LiteModel], guard: bool) -> String {
    let mut y = String::from("model_list:\n");
    for m in models {
        let _ = writeln!(
            y,
            "  - model_name: {}\n    litellm_params: {{model: openai/{}, api_base: \"{}\", api_key: \"sk-mock\"}}",
            m.name, m.name, m.api_base
        );
    }
    y.push_str("litellm_settings: {callbacks: [], num_retries: 0, request_timeout: 30, telemetry: false}\n");
    // LiteLLM refuses to start without a master key; no DATABASE_URL, so no key table or spend log.
    let _ = writeln!(
        y,
        "general_settings: {{master_key: \"{LITELLM_MASTER_KEY}\"}}"
    );
    if guard {
        let _ = write!(
            y,
            "guardrails:
  - guardrail_name: kw-in
    litellm_params: {{guardrail: litellm_content_filter, mode: pre_call, default_on: true,
                     blocked_words: [{{keyword: \"{KEYWORD}\", action: BLOCK}}]}}
  - guardrail_name: kw-out
    litellm_params: {{guardrail: litellm_content_filter, mode: post_call, default_on: true,
                     streaming_buffer_until_moderated: true,
                     blocked_words: [{{keyword: \"{KEYWORD}\", action: BLOCK}}]}}
"
        );
    }
    y
}

/// Starts `litellm --config … --port … --num_workers 1` pinned to core 0.
pub fn start_litellm(
    install: &LiteLlmInstall,
    dir: &Path,
    label: &str,
    config: &str,
) -> Result<(Proc, u16)> {
    let path = dir.join(format!("litellm-{label}.yaml"));
    std::fs::write(&path, config).with_context(|| format!("writing {}", path.display()))?;
    let port = free_port()?;
    let _ = std::fs::remove_file(dir.join(format!("litellm-{label}.log")));
    let mut cmd = pinned(0, &install.bin);
    cmd.arg("--config")
        .arg(&path)
        .args([
            "--port",
            &port.to_string(),
            "--host",
            "127.0.0.1",
            "--num_workers",
            "1",
        ])
        .current_dir(dir)
        .env("OPENAI_API_KEY", "sk-mock")
        .env("LITELLM_TELEMETRY", "False")
        .env("LITELLM_LOCAL_MODEL_COST_MAP", "True")
        .env("LITELLM_LOG", "ERROR")
        .env_remove("DATABASE_URL");
    let proc = Proc::spawn(
        &format!("litellm-{label}"),
        cmd,
        dir.join(format!("litellm-{label}.log")),
    )?;
    Ok((proc, port))
}

// ---------------------------------------------------------------------------------------------
// Portkey

/// A Portkey gateway install from npm.
#[derive(Debug, Clone)]
pub struct PortkeyInstall {
    /// `node`.
    pub node: PathBuf,
    /// `…/build/start-server.js`.
    pub script: PathBuf,
    /// Its package.json version.
    pub version: String,
    /// `node --version`.
    pub node_version: String,
    /// The `@hono/node-server` version installed.
    pub hono: String,
}

/// The `@hono/node-server` release Portkey runs on here. Portkey asks for `^1.3.3`, and every
/// release since 1.14.2 hands Portkey the upstream's immutable `fetch` headers, which it then
/// appends to: every streamed reply fails with `TypeError: immutable` and HTTP 500
/// (Portkey-AI/gateway#1389). 1.14.1 is the newest release without that change.
pub const HONO_NODE_SERVER: &str = "1.14.1";

/// Installs `@portkey-ai/gateway@VERSION` into `dir/portkey` when it is not there yet, with
/// `@hono/node-server` overridden to [`HONO_NODE_SERVER`] (see there).
pub fn ensure_portkey(dir: &Path) -> Result<PortkeyInstall> {
    let pk = dir.join("portkey");
    let pkg_dir = pk.join("node_modules/@portkey-ai/gateway");
    let read_version = |path: PathBuf| -> Option<String> {
        let text = std::fs::read_to_string(path).ok()?;
        let v: serde_json::Value = serde_json::from_str(&text).ok()?;
        v.get("version")?.as_str().map(String::from)
    };
    let version = || read_version(pkg_dir.join("package.json"));
    let hono = || read_version(pk.join("node_modules/@hono/node-server/package.json"));
    let nested = pkg_dir.join("node_modules/@hono/node-server");
    if version().as_deref() != Some(PORTKEY_VERSION)
        || hono().as_deref() != Some(HONO_NODE_SERVER)
        || nested.exists()
    {
        std::fs::create_dir_all(&pk).with_context(|| format!("creating {}", pk.display()))?;
        let manifest = serde_json::json!({
            "name": "gateway-bench-portkey",
            "version": "1.0.0",
            "private": true,
            "dependencies": {"@portkey-ai/gateway": PORTKEY_VERSION},
            "overrides": {"@hono/node-server": HONO_NODE_SERVER},
        });
        std::fs::write(pk.join("package.json"), format!("{manifest:#}\n"))
            .with_context(|| format!("writing {}", pk.join("package.json").display()))?;
        let _ = std::fs::remove_file(pk.join("package-lock.json"));
        eprintln!(
            "gateway-bench: npm install @portkey-ai/gateway@{PORTKEY_VERSION} (@hono/node-server {HONO_NODE_SERVER})"
        );
        run_quiet(
            Command::new("npm")
                .args(["install", "--no-audit", "--no-fund"])
                .current_dir(&pk),
            "npm install",
        )?;
    }
    let version = version().context("no @portkey-ai/gateway package.json after npm install")?;
    let script = pkg_dir.join("build/start-server.js");
    if !script.exists() {
        bail!("{} is missing", script.display());
    }
    let node_version = Command::new("node")
        .arg("--version")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .context("running node --version (is node installed?)")?;
    Ok(PortkeyInstall {
        node: PathBuf::from("node"),
        script,
        version,
        node_version,
        hono: hono().unwrap_or_else(|| "?".into()),
    })
}

/// Starts the Portkey gateway (`NODE_ENV=production`, `--headless`) pinned to core 0.
pub fn start_portkey(install: &PortkeyInstall, dir: &Path) -> Result<(Proc, u16)> {
    let port = free_port()?;
    let _ = std::fs::remove_file(dir.join("portkey.log"));
    let node = which(&install.node).unwrap_or_else(|| install.node.clone());
    let mut cmd = pinned(0, &node);
    cmd.arg(&install.script)
        .arg(format!("--port={port}"))
        .arg("--headless")
        .current_dir(dir.join("portkey"))
        .env("NODE_ENV", "production");
    let proc = Proc::spawn("portkey", cmd, dir.join("portkey.log"))?;
    Ok((proc, port))
}

/// The Portkey config header that blocks 自杀 on input and output (spec §8.3).
///
/// Non-ASCII characters are written as JSON `\uXXXX` escapes: Node reads header values as
/// Latin-1, so raw UTF-8 would arrive as `èªæ` and never match.
pub fn portkey_guard_config() -> String {
    let words = serde_json::json!([KEYWORD]);
    let json = serde_json::json!({
        "input_guardrails": [{"default.contains": {"operator": "none", "words": words}, "deny": true}],
        "output_guardrails": [{"default.contains": {"operator": "none", "words": words}, "deny": true}],
    })
    .to_string();
    ascii_json(&json)
}

/// Escapes every non-ASCII character of a JSON text as `\uXXXX` (surrogate pairs above U+FFFF);
/// such characters only occur inside strings, where the escape means the same.
fn ascii_json(json: &str) -> String {
    let mut out = String::with_capacity(json.len());
    for c in json.chars() {
        if c.is_ascii() {
            out.push(c);
        } else {
            let mut units = [0u16; 2];
            for u in c.encode_utf16(&mut units) {
                let _ = write!(out, "\\u{u:04x}");
            }
        }
    }
    out
}

fn which(program: &Path) -> Option<PathBuf> {
    if program.components().count() > 1 {
        return Some(program.to_path_buf());
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(program))
        .find(|p| p.is_file())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pip_error_parsing() {
        let msg = "ERROR: Could not find a version that satisfies the requirement certifi>=2026.10.19 (from litellm[proxy]) (from versions: 1)\nERROR: No matching distribution found for certifi>=2026.10.19\n";
        assert_eq!(unsatisfiable(msg).as_deref(), Some("certifi"));
        assert_eq!(
            req_name("litellm-proxy-extras==0.4.113"),
            "litellm-proxy-extras"
        );
        assert_eq!(bare("httpx[http2]<1.0,>=0.28.0"), "httpx[http2]");
        assert_eq!(bare("certifi>=2026.10.19"), "certifi");
    }

    #[test]
    fn litellm_config_has_both_guardrails() {
        let m = [LiteModel {
            name: "mock-model".into(),
            api_base: "http://127.0.0.1:9010/v1".into(),
        }];
        let y = litellm_config(&m, true);
        assert!(y.contains("mode: pre_call") && y.contains("mode: post_call"));
        assert!(y.contains("keyword: \"自杀\""));
        assert!(!litellm_config(&m, false).contains("guardrails:"));
        assert!(y.contains("master_key"));
    }

    #[test]
    fn portkey_config_is_ascii() {
        let c = portkey_guard_config();
        assert!(c.is_ascii(), "{c}");
        assert!(c.contains("\\u81ea\\u6740"), "{c}");
        let v: serde_json::Value = serde_json::from_str(&c).unwrap();
        assert_eq!(
            v.pointer("/input_guardrails/0/default.contains/words/0")
                .and_then(|w| w.as_str()),
            Some(KEYWORD)
        );
        assert_eq!(ascii_json("\"😀\""), "\"\\ud83d\\ude00\"");
    }
}
