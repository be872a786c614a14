//! Project automation, in Rust so it runs wherever cargo does (cargo-xtask convention).
//!
//! * `cargo xtask ci`: what CI runs (`.ci/run`): installs the third-party tools the interop tests
//!   call when they are missing, then fmt, clippy, every test, and a build of the fuzz targets.
//! * `cargo xtask demo`: the main job for a newcomer: label the sample files, inspect them, and
//!   moderate a few messages.
//! * `cargo xtask fuzz TARGET [SECONDS]`: run one fuzz target with cargo-fuzz.
//! * `cargo xtask train-crisis`: regenerate `crates/hegui-classifier/model/crisis.hgcls`.

mod pg;
mod tidy;

use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Debian packages that provide the tools the interop tests and benchmarks call.
const TOOLS: &[(&str, &str)] = &[
    ("exiftool", "libimage-exiftool-perl"),
    ("ffmpeg", "ffmpeg"),
    ("ffprobe", "ffmpeg"),
    ("qpdf", "qpdf"),
    ("cwebp", "webp"),
    ("dwebp", "webp"),
    ("flac", "flac"),
    ("metaflac", "flac"),
    ("oggenc", "vorbis-tools"),
    ("opusenc", "opus-tools"),
    ("heif-enc", "libheif-examples"),
    ("heif-info", "libheif-examples"),
    ("heif-convert", "libheif-examples"),
    ("webpmux", "webp"),
    ("ogginfo", "vorbis-tools"),
    // ImageMagick by its Debian path: some machines put a `convert` stand-in earlier on PATH.
    ("/usr/bin/convert", "imagemagick"),
];

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let root = project_root();
    std::env::set_current_dir(&root)?;
    match args.first().map(String::as_str) {
        Some("ci") => ci(),
        Some("tools") => install_tools(),
        Some("pg") => {
            // For running the PostgreSQL tests by hand: prints the URL for HEGUI_TEST_DATABASE_URL.
            println!("{}", pg::start_postgres(Path::new("target"))?);
            Ok(())
        }
        Some("demo") => demo(),
        Some("fuzz") => fuzz(&args[1..]),
        Some("train-crisis") => train_crisis(),
        _ => bail!(
            "usage: cargo xtask ci | tools | pg | demo | fuzz TARGET [SECONDS] | train-crisis"
        ),
    }
}

fn project_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

fn run(cmd: &mut Command) -> Result<()> {
    eprintln!("$ {cmd:?}");
    let status = cmd.status().with_context(|| format!("running {cmd:?}"))?;
    if !status.success() {
        bail!("{cmd:?} failed: {status}");
    }
    Ok(())
}

fn have(tool: &str) -> bool {
    if tool.starts_with('/') {
        return Path::new(tool).is_file();
    }
    Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {tool} >/dev/null 2>&1"))
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

/// Installs the Debian packages for missing tools (only those), as root or through sudo.
fn install_tools() -> Result<()> {
    let mut missing: Vec<&str> = TOOLS
        .iter()
        .filter(|(tool, _)| !have(tool))
        .map(|(_, pkg)| *pkg)
        .collect();
    missing.sort_unstable();
    missing.dedup();
    if missing.is_empty() {
        return Ok(());
    }
    apt_install(&missing)
}

/// Installs Debian packages with apt-get, as root or through sudo.
fn apt_install(packages: &[&str]) -> Result<()> {
    let sudo = if is_root() { None } else { Some("sudo") };
    let apt = |args: &[&str]| {
        let mut c = match sudo {
            Some(s) => {
                let mut c = Command::new(s);
                c.arg("apt-get");
                c
            }
            None => Command::new("apt-get"),
        };
        c.args(args).env("DEBIAN_FRONTEND", "noninteractive");
        c
    };
    run(&mut apt(&["update", "-qq"]))?;
    let mut install = apt(&["install", "-y", "-qq", "--no-install-recommends"]);
    install.args(packages);
    run(&mut install)
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

fn cargo() -> Command {
    let mut c = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    // xtask's builds are one-shot: incremental state would only double the disk they use.
    c.env("CARGO_INCREMENTAL", "0");
    c
}

fn ci() -> Result<()> {
    install_tools()?;
    // The store conformance and two-gateway tests run on a real PostgreSQL that CI starts here.
    let database = pg::start_postgres(Path::new("target"))?;
    eprintln!("PostgreSQL for tests: {database}");
    run(cargo().args(["fmt", "--all", "--", "--check"]))?;
    // Clippy sees every feature set: the default build and the one with C2PA.
    for features in [None, Some("hegui-cli/c2pa")] {
        let mut c = cargo();
        c.args(["clippy", "--workspace", "--all-targets"]);
        if let Some(f) = features {
            c.args(["--features", f]);
        }
        run(c.args(["--", "-D", "warnings"]))?;
    }
    // Interop tests must not silently skip in CI: a missing tool fails them.
    run(cargo()
        .args(["test", "--workspace"])
        .env("HEGUI_REQUIRE_TOOLS", "1")
        .env("HEGUI_TEST_DATABASE_URL", &database))?;
    // The embedded-only build (no PostgreSQL backend) must keep compiling.
    run(cargo().args(["check", "-p", "hegui-cli", "--no-default-features"]))?;
    // The C2PA feature's own tests (G1-G3) and the CLI built with it.
    run(cargo()
        .args([
            "test",
            "-p",
            "hegui-label",
            "-p",
            "hegui-cli",
            "--features",
            "hegui-cli/c2pa",
        ])
        .env("HEGUI_REQUIRE_TOOLS", "1"))?;
    // The fuzz targets are built (not run) so they never rot; `cargo xtask fuzz` runs one.
    run(cargo().args(["build", "--manifest-path", "fuzz/Cargo.toml", "--bins"]))?;
    Ok(())
}

fn demo() -> Result<()> {
    run(cargo().args(["build", "--release", "--bin", "hegui"]))?;
    let hegui = Path::new("target/release/hegui");
    let out = Path::new("target/demo");
    if out.exists() {
        std::fs::remove_dir_all(out)?;
    }
    let generated = out.join("generated");
    std::fs::create_dir_all(&generated)?;
    // The sample "generated" files: the label fixtures, one per format variant, except the one a
    // third party already labelled (shown to the inspector at the end instead).
    let samples = Path::new("crates/hegui-label/test_data");
    let foreign = samples.join("markdown-minimax.md");
    for entry in std::fs::read_dir(samples)? {
        let path = entry?.path();
        let name = path.file_name().map(|n| n.to_owned()).unwrap_or_default();
        let n = name.to_string_lossy();
        // `*-bad-*` fixtures are deliberately malformed files for the readers' error paths.
        if path.is_file() && path != foreign && !n.ends_with(".config") && !n.contains("-bad-") {
            std::fs::copy(&path, generated.join(name))?;
        }
    }
    run(Command::new(hegui)
        .args(["keygen", "--out"])
        .arg(out.join("keys")))?;
    eprintln!("\n== a generation service labels its output (DS-16), signed (DS-18)");
    run(Command::new(hegui)
        .args([
            "label",
            "--producer",
            "001191440300708461136T1XGW3",
            "--key",
        ])
        .arg(out.join("keys/hegui-sm2.key"))
        .arg("-o")
        .arg(out.join("labelled"))
        .arg(&generated))?;
    eprintln!("\n== a platform propagates the labels (Labelling Measures art. 6)");
    run(Command::new(hegui)
        .args([
            "propagate",
            "--propagator",
            "001191110102MACQD9K64028705",
            "-o",
        ])
        .arg(out.join("published"))
        .arg(out.join("labelled")))?;
    eprintln!("\n== the platform inspects what it publishes, and a file labelled elsewhere");
    run(Command::new(hegui)
        .args(["inspect", "--pubkey"])
        .arg(out.join("keys/hegui-sm2.pub"))
        .arg(out.join("published"))
        .arg(&foreign))?;
    eprintln!("\n== the service reviews what users type and what the model says (DS-10)");
    let messages = out.join("messages.txt");
    std::fs::write(
        &messages,
        "今天天气不错，我们去公园散步吧\n\
         我的手机是138 1234 5678，身份证11010519491231002X\n\
         有没有裸 聊服务\n\
         我不想活了，药已经买好了\n\
         加我薇信领取刷单返利名额\n",
    )?;
    run(Command::new(hegui).args(["scan", "--json"]).arg(&messages))?;
    eprintln!("\n== coverage of the shipped feature library against TC260-003 §8.1");
    run(Command::new(hegui).args(["library", "stats"]))?;
    gateway_demo(hegui, out)
}

/// Sends one HTTP/1.1 request to the local gateway and returns the response text (std only:
/// the demo must not need curl).
fn http(addr: &str, method: &str, path: &str, key: &str, body: &str) -> Result<String> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr)?;
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {key}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    let mut out = String::new();
    s.read_to_string(&mut out)?;
    Ok(out)
}

/// `hegui app create ARGS --data-dir DATA`; returns the API key (the last line).
fn app_create(hegui: &Path, data: &Path, args: &[&str]) -> Result<String> {
    let created = Command::new(hegui)
        .args(["app", "create"])
        .args(args)
        .arg("--data-dir")
        .arg(data)
        .output()?;
    if !created.status.success() {
        bail!(
            "hegui app create failed: {}",
            String::from_utf8_lossy(&created.stderr)
        );
    }
    let stdout = String::from_utf8_lossy(&created.stdout);
    Ok(stdout.lines().last().unwrap_or_default().trim().to_owned())
}

/// The main job's last step: the compliance gateway with the built-in demo model, a few requests
/// through it, then it keeps serving until Ctrl-C.
fn gateway_demo(hegui: &Path, out: &Path) -> Result<()> {
    let data = out.join("gateway");
    let addr = std::env::var("HEGUI_LISTEN").unwrap_or_else(|_| "127.0.0.1:8080".into());
    eprintln!("\n== the compliance gateway: hegui serve, in front of the demo model `hegui-demo`");
    let key = app_create(hegui, &data, &["--name", "demo"])?;
    let mut server = Command::new(hegui)
        .args(["serve", "--listen", &addr, "--data-dir"])
        .arg(&data)
        .spawn()?;
    let mut up = false;
    for _ in 0..100 {
        if std::net::TcpStream::connect(&addr).is_ok() {
            up = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    if !up {
        let _ = server.kill();
        bail!("the gateway did not start on {addr}");
    }
    let show = |title: &str, body: &str| -> Result<()> {
        eprintln!("\n-- {title}\n$ POST /v1/chat/completions {body}");
        let resp = http(&addr, "POST", "/v1/chat/completions", &key, body)?;
        let (head, rest) = resp.split_once("\r\n\r\n").unwrap_or((&resp, ""));
        for h in head
            .lines()
            .filter(|l| l.to_ascii_lowercase().starts_with("x-hegui") || l.starts_with("HTTP/"))
        {
            eprintln!("{h}");
        }
        eprintln!("{}", rest.trim());
        Ok(())
    };
    show(
        "an ordinary question: reply, labels and notices in the `hegui` object",
        r#"{"model":"hegui-demo","user":"demo-user","messages":[{"role":"user","content":"你好"}]}"#,
    )?;
    show(
        "a blocked input (DS-10): refused before the model is called",
        r#"{"model":"hegui-demo","user":"demo-user","messages":[{"role":"user","content":"哪里有冰毒货源"}]}"#,
    )?;
    show(
        "a streamed reply whose blocked phrase is split across chunks: cut before it, no [DONE]",
        r#"{"model":"hegui-demo","user":"demo-user","stream":true,"messages":[{"role":"user","content":"演示拦截"}]}"#,
    )?;
    show(
        "a streamed reply with a phone number: masked on the way out",
        r#"{"model":"hegui-demo","user":"demo-user","stream":true,"messages":[{"role":"user","content":"演示电话"}]}"#,
    )?;
    companion_demo(hegui, &data, &addr)?;
    let verify = Command::new(hegui)
        .args(["audit", "verify", "--data-dir"])
        .arg(&data)
        .output()?;
    eprintln!(
        "\n-- the audit log (DS-16)\n{}",
        String::from_utf8_lossy(&verify.stdout).trim()
    );
    eprintln!(
        "\n== the gateway keeps running on http://{addr}/v1 (Ctrl-C stops it). Try:\n\
         curl -N http://{addr}/v1/chat/completions -H 'Authorization: Bearer {key}' \\\n  \
         -d '{{\"model\":\"hegui-demo\",\"user\":\"me\",\"stream\":true,\"messages\":[{{\"role\":\"user\",\"content\":\"演示拦截\"}}]}}'\n\
         or any OpenAI client with base_url=http://{addr}/v1 and api_key={key};\n\
         a real model is one flag away: hegui serve --upstream http://HOST:PORT/v1 --data-dir {}",
        data.display()
    );
    server.wait()?;
    Ok(())
}

/// Companion duties at seconds scale (AIAI): an application with a 3-second usage reminder, a
/// crisis turn, and a goodbye answered with pleading.
fn companion_demo(hegui: &Path, data: &Path, addr: &str) -> Result<()> {
    eprintln!(
        "\n== companion duties (AIAI), with the usage reminder at 3 seconds instead of 2 hours"
    );
    let key = app_create(
        hegui,
        data,
        &[
            "--name",
            "companion-demo",
            "--service-kind",
            "companion",
            "--reminder-every-secs",
            "3",
        ],
    )?;
    let show = |title: &str, text: &str| -> Result<()> {
        let body = format!(
            r#"{{"model":"hegui-demo","user":"companion-user","messages":[{{"role":"user","content":"{text}"}}]}}"#
        );
        eprintln!("\n-- {title}\n$ POST /v1/chat/completions {body}");
        let resp = http(addr, "POST", "/v1/chat/completions", &key, &body)?;
        let rest = resp.split_once("\r\n\r\n").map_or("", |(_, r)| r);
        eprintln!("{}", rest.trim());
        Ok(())
    };
    show("first message: the AI disclosure (AIAI-7(2))", "你好")?;
    std::thread::sleep(std::time::Duration::from_millis(3_100));
    show(
        "3 seconds of continuous use later: the usage reminder (AIAI-7(3))",
        "还在吗",
    )?;
    show(
        "a crisis message: intervention with hotlines in the same response (AIAI-7(1))",
        "我不想活了",
    )?;
    show(
        "a goodbye the model answers with pleading: rewritten to a neutral goodbye (DVH-18)",
        "拜拜，我要睡了",
    )?;
    eprintln!(
        "\n-- companion API key (service_kind companion): {key}\n   \
         endpoints: /v1/hegui/login, /v1/hegui/exit, /v1/hegui/me/export, DELETE /v1/hegui/me, \
         /v1/hegui/guardian/…; the OpenAPI description is at http://{addr}/openapi.json"
    );
    Ok(())
}

fn fuzz(args: &[String]) -> Result<()> {
    let target = args
        .first()
        .context("usage: cargo xtask fuzz TARGET [SECONDS]")?;
    let secs = args.get(1).map(String::as_str).unwrap_or("60");
    if !have("cargo-fuzz") {
        run(cargo().args(["install", "cargo-fuzz", "--locked"]))?;
    }
    // `-s none`: the sanitizers need a nightly compiler; coverage-guided fuzzing does not.
    run(cargo().current_dir("fuzz").args([
        "fuzz",
        "run",
        "-s",
        "none",
        target,
        "--",
        &format!("-max_total_time={secs}"),
    ]))
}

/// Trains the shipped crisis model from hegui's own hand-written examples: every line of the
/// lexicon author's `detectors/sanity.txt` (INT = needs intervention) and the even (tuning) lines
/// of `test_data/crisis/labelled.tsv` as the crisis data; the clean corpus and every 8th COLD
/// training text as ordinary text. The odd lines of `labelled.tsv` and `holdout.tsv` are never
/// read here: they measure the model.
fn train_crisis() -> Result<()> {
    let guard = Path::new("crates/hegui-guard");
    let mut samples: Vec<(String, bool)> = Vec::new();
    let rows = |path: &Path| -> Result<Vec<(String, String)>> {
        let text = std::fs::read_to_string(path).with_context(|| path.display().to_string())?;
        Ok(text
            .lines()
            .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
            .filter_map(|l| l.split_once('\t'))
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect())
    };
    for (label, text) in rows(&guard.join("detectors/sanity.txt"))? {
        samples.push((text, label == "INT"));
    }
    for (i, (label, text)) in rows(&guard.join("test_data/crisis/labelled.tsv"))?
        .into_iter()
        .enumerate()
    {
        if i % 2 == 0 {
            samples.push((text, matches!(label.as_str(), "intent" | "plan" | "loss")));
        }
    }
    for f in ["news", "chat"] {
        let path = guard.join(format!("test_data/clean/{f}.txt"));
        let text = std::fs::read_to_string(&path).with_context(|| path.display().to_string())?;
        samples.extend(
            text.lines()
                .filter(|l| !l.trim().is_empty())
                .map(|l| (l.to_string(), false)),
        );
    }
    let cold = hegui_classifier::read_labelled_csv("../shared/data/cold/train.csv")
        .context("reading ../shared/data/cold/train.csv")?;
    samples.extend(cold.into_iter().step_by(8).map(|(t, _)| (t, false)));
    let positives = samples.iter().filter(|s| s.1).count();
    eprintln!(
        "training on {} texts ({positives} needing intervention)",
        samples.len()
    );
    let model = hegui_classifier::train(&samples, &hegui_classifier::TrainParams::default());
    let out = Path::new("crates/hegui-classifier/model/crisis.hgcls");
    std::fs::write(out, model.to_bytes())?;
    eprintln!(
        "wrote {} (threshold {:.3})",
        out.display(),
        model.threshold()
    );
    Ok(())
}
