//! `hegui-bench`: how fast `hegui label` is against the tools people would otherwise use
//! (exiftool for images, ffmpeg for audio/video) and against the physical floor (`cp`), and how
//! much memory it needs for a 2 GB video. A second section (issue 3, see `issue3.rs`) compares
//! the explicit image and video labels with ImageMagick and a full ffmpeg re-encode, and
//! `--in-place` MP4 labelling with the ffmpeg remux.
//!
//! A benchmark binary, not a test; it never runs in CI:
//!
//! ```sh
//! cargo run --release -p hegui-bench -- [--quick] [--reps N] [--no-build] [--no-sync] [--hegui PATH]
//! ```
//!
//! Every number printed is measured in this run; nothing is hard-coded. Inputs are built once into
//! `target/bench-data/` with ffmpeg (see `inputs.rs`) and reused.

mod inputs;
mod issue3;
mod measure;
mod report;

use anyhow::{Context, Result, bail};
use measure::Run;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};

/// The producer code every labelling run uses (a valid TC260-PG-20252A code, service digit 1).
pub const PRODUCER: &str = "001191440300708461136T1XGW3";

const USAGE: &str = "\
usage: cargo run --release -p hegui-bench -- [--quick] [--reps N] [--no-build] [--no-sync] [--hegui PATH]

  --quick      3 repetitions (unless --reps), no 2 GB input and no 60 s explicit-video case
  --reps N     timed repetitions per command (default 7); the median is reported
  --no-build   do not run `cargo build --release -p hegui-cli` first (target/release/hegui must exist)
  --no-sync    do not run `sync` and wait for the disk to go idle (untimed) before each run
  --hegui PATH measure this hegui binary instead of target/release/hegui (implies --no-build)";

/// Command-line options.
#[derive(Debug, Clone)]
pub struct Opts {
    /// Skip the 2 GB input and the 60 s video case, fewer repetitions.
    pub quick: bool,
    /// Timed repetitions per command.
    pub reps: usize,
    /// Build hegui before measuring.
    pub build: bool,
    /// `sync` before every timed run.
    pub sync: bool,
    /// A hegui binary to measure instead of `target/release/hegui`.
    pub hegui: Option<PathBuf>,
}

fn main() -> ExitCode {
    let args: Vec<OsString> = std::env::args_os().skip(1).collect();
    if args.first().is_some_and(|a| a == measure::CHILD_FLAG) {
        let rest = match args.get(1) {
            Some(a) if a == "--" => &args[2..],
            _ => &args[1..],
        };
        return measure::child_main(rest);
    }
    match parse_opts(&args).and_then(|o| match o {
        Some(opts) => run(&opts),
        None => {
            println!("{USAGE}");
            Ok(())
        }
    }) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("hegui-bench: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn parse_opts(args: &[OsString]) -> Result<Option<Opts>> {
    let mut opts = Opts {
        quick: false,
        reps: 0,
        build: true,
        sync: true,
        hegui: None,
    };
    let mut reps = None;
    let mut it = args.iter().map(|a| a.to_string_lossy().into_owned());
    while let Some(a) = it.next() {
        match a.as_str() {
            "--quick" => opts.quick = true,
            "--no-build" => opts.build = false,
            "--no-sync" => opts.sync = false,
            "-h" | "--help" => return Ok(None),
            "--hegui" => {
                let v = it.next().context("--hegui needs a path")?;
                opts.hegui = Some(PathBuf::from(v));
                opts.build = false;
            }
            "--reps" => {
                let v = it.next().context("--reps needs a number")?;
                reps = Some(v.parse::<usize>().context("--reps needs a number")?);
            }
            s if s.starts_with("--reps=") => {
                reps = Some(
                    s["--reps=".len()..]
                        .parse::<usize>()
                        .context("--reps needs a number")?,
                );
            }
            other => bail!("unknown argument {other:?}\n{USAGE}"),
        }
    }
    opts.reps = reps.unwrap_or(if opts.quick { 3 } else { 7 });
    if opts.reps == 0 {
        bail!("--reps must be at least 1");
    }
    Ok(Some(opts))
}

/// One command measured in a case.
#[derive(Debug, Clone)]
pub struct Contender {
    /// Short name in the tables: `hegui`, `exiftool`, `ffmpeg`, `cp` …
    pub tool: String,
    /// The command line.
    pub argv: Vec<OsString>,
    /// Removed before every run: the output file, or an output directory (recreated empty).
    pub clean: PathBuf,
    /// Whether `clean` is a directory.
    pub clean_is_dir: bool,
    /// Whether the output must carry the label (false for `cp`).
    pub labels: bool,
    /// What the "label in output" column says when `labels` is false.
    pub note: &'static str,
    /// Copied from `.0` to `.1` before every run, untimed (the scratch file an in-place run
    /// rewrites); `clean` is then `.1`.
    pub prepare: Option<(PathBuf, PathBuf)>,
    /// Why the command cannot run here (a tool or font is missing): reported, never run.
    pub unavailable: Option<String>,
}

/// One input and the commands compared on it.
#[derive(Debug, Clone)]
pub struct Case {
    /// Stable key the goals refer to.
    pub key: &'static str,
    /// What the input is, for the tables.
    pub title: String,
    /// Bytes of input (all files for a directory).
    pub bytes: u64,
    /// The files read once before measuring (page-cache warm-up).
    pub warm: Vec<PathBuf>,
    /// The commands.
    pub contenders: Vec<Contender>,
    /// Which part of the report the case belongs to.
    pub section: Section,
    /// At most this many timed repetitions (for commands that take tens of seconds).
    pub max_reps: Option<usize>,
}

/// The parts of the report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Section {
    /// The implicit label against exiftool, ffmpeg remux and cp (the first bench).
    Implicit,
    /// Issue 3: explicit labels against ImageMagick and an ffmpeg re-encode; MP4 in place.
    Issue3,
}

/// What happened to one contender.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// All runs succeeded.
    Done {
        /// Timed runs.
        runs: Vec<Run>,
        /// Label check on the warm-up run's output: `None` for `cp`, else a short verdict.
        label: Option<String>,
        /// Bytes the warm-up run wrote (all files for a directory output).
        out_bytes: Option<u64>,
    },
    /// A run failed; the message names the command's stderr.
    Failed(String),
    /// Not run: a tool or font it needs is missing (the message says which, and how to install it).
    Skipped(String),
}

/// The measurements of one case, parallel to `case.contenders`.
#[derive(Debug, Clone)]
pub struct CaseResult {
    /// The case.
    pub case: Case,
    /// One outcome per contender.
    pub outcomes: Vec<Outcome>,
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
    let data = target.join("bench-data");
    let exif_config = root.join("crates/hegui-label/test_data/exiftool-tc260.config");

    for tool in ["exiftool", "ffmpeg", "ffprobe", "cp", "sync", "sh"] {
        if Command::new("sh")
            .args(["-c", &format!("command -v {tool}")])
            .stdout(Stdio::null())
            .status()
            .map(|s| !s.success())
            .unwrap_or(true)
        {
            bail!(
                "{tool} is not installed (apt-get install libimage-exiftool-perl ffmpeg coreutils)"
            );
        }
    }
    if !exif_config.exists() {
        bail!("{} is missing", exif_config.display());
    }

    let (hegui, origin) = match &opts.hegui {
        Some(p) => (
            p.canonicalize()
                .with_context(|| format!("--hegui {}", p.display()))?,
            "the binary given with --hegui".to_string(),
        ),
        None => hegui_binary(&root, &target, opts.build)?,
    };
    let machine = report::Machine::probe(&data, &hegui, origin);
    let load_before = report::loadavg();

    let inputs = inputs::build(&data, !opts.quick)?;
    let keys = data.join("keys");
    let key = keys.join("hegui-sm2.key");
    if !key.exists() {
        let ok = Command::new(&hegui)
            .args(["keygen", "--out"])
            .arg(&keys)
            .stdout(Stdio::null())
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        if !ok {
            eprintln!("warning: `hegui keygen` failed; the signed rows will fail");
        }
    }

    // A fresh output directory on the same filesystem as the inputs, removed at the end; those
    // an interrupted run left behind go first (they can hold gigabytes).
    for e in std::fs::read_dir(&data)?.flatten() {
        if e.file_name().to_string_lossy().starts_with("out-") && e.path().is_dir() {
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
    let out = tempfile::Builder::new()
        .prefix("out-")
        .tempdir_in(&data)
        .context("creating the output directory")?;
    // The method's own floor: `true` under the wrapper, median of 5.
    let floor = (0..5)
        .map(|_| measure::run_once(&["true".into()]))
        .collect::<Result<Vec<Run>, String>>()
        .ok()
        .map(|runs| Run {
            elapsed: measure::median(&runs.iter().map(|r| r.elapsed).collect::<Vec<_>>()),
            max_rss_kib: runs.iter().map(|r| r.max_rss_kib).max().unwrap_or(0),
        });

    let json = format!(
        "{{\"Label\":\"1\",\"ContentProducer\":\"{PRODUCER}\",\"ProduceID\":\"bench-0000000000000-0123456789abcdef\",\"ReservedCode1\":\"\",\"ContentPropagator\":\"\",\"PropagateID\":\"\",\"ReservedCode2\":\"\"}}"
    );
    let env = Env {
        hegui: hegui.clone(),
        key,
        exif_config,
        json,
        out: out.path().to_path_buf(),
    };
    let mut cases = cases(&env, &inputs)?;
    let explicit = issue3::setup(&data);
    cases.extend(issue3::cases(&env, &inputs, &explicit)?);

    let inflight = report::inflight_file(&data);
    let mut results = Vec::new();
    for case in cases {
        results.push(run_case(case, opts, inflight.as_deref())?);
    }
    let load_after = report::loadavg();

    report::print(&report::Report {
        opts,
        machine: &machine,
        load: (&load_before, &load_after),
        floor,
        results: &results,
        issue3: &explicit,
    });
    Ok(())
}

/// How old `bin` is, for the report.
fn age(bin: &Path) -> String {
    std::fs::metadata(bin)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.elapsed().ok())
        .map(|d| format!("modified {} min before this run", d.as_secs() / 60))
        .unwrap_or_else(|| "of unknown age".into())
}

/// Finds `target/release/hegui`, building it first unless `--no-build`. Also returns where the
/// binary came from, for the report.
fn hegui_binary(root: &Path, target: &Path, build: bool) -> Result<(PathBuf, String)> {
    let bin = target.join("release/hegui");
    let tree = || {
        let out = Command::new("git")
            .args(["describe", "--always", "--dirty"])
            .current_dir(root)
            .output()
            .ok();
        let d = out
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .unwrap_or_default();
        format!("`{d}` (`-dirty`: with uncommitted changes)").replace("``", "unknown")
    };
    if !build {
        if !bin.exists() {
            bail!(
                "{} is missing: run `cargo build --release -p hegui-cli` (or drop --no-build)",
                bin.display()
            );
        }
        let origin = format!(
            "an earlier build (--no-build), {}; the tree is now {}",
            age(&bin),
            tree()
        );
        return Ok((bin, origin));
    }
    eprintln!("building hegui: cargo build --release -p hegui-cli");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let status = Command::new(cargo)
        .args(["build", "--release", "-p", "hegui-cli"])
        .current_dir(root)
        .status();
    if matches!(&status, Ok(s) if s.success()) {
        return Ok((bin, format!("built by this run from {}", tree())));
    }
    if !bin.exists() {
        bail!(
            "{} is missing and `cargo build --release -p hegui-cli` failed ({status:?}); build it and rerun",
            bin.display()
        );
    }
    eprintln!(
        "warning: `cargo build --release -p hegui-cli` failed ({status:?}); measuring the existing {}",
        bin.display()
    );
    let origin = format!(
        "**an earlier build**, {}: `cargo build` of the current tree, {}, failed",
        age(&bin),
        tree()
    );
    Ok((bin, origin))
}

struct Env {
    hegui: PathBuf,
    key: PathBuf,
    exif_config: PathBuf,
    json: String,
    out: PathBuf,
}

fn os(parts: &[&dyn AsRef<std::ffi::OsStr>]) -> Vec<OsString> {
    parts.iter().map(|p| p.as_ref().to_os_string()).collect()
}

impl Env {
    /// `out/<case>/<tool>/`, created.
    fn dir(&self, case: &str, tool: &str) -> Result<PathBuf> {
        let d = self.out.join(case).join(tool.replace([' ', '+'], "_"));
        std::fs::create_dir_all(&d)?;
        Ok(d)
    }

    fn out_file(&self, case: &str, tool: &str, input: &Path) -> Result<PathBuf> {
        Ok(self
            .dir(case, tool)?
            .join(input.file_name().context("input without a name")?))
    }

    fn hegui(&self, case: &str, input: &Path, signed: bool) -> Result<Contender> {
        let tool = if signed { "hegui --key" } else { "hegui" };
        let dir = self.dir(case, tool)?;
        let mut argv = os(&[&self.hegui, &"label", &"--producer", &PRODUCER]);
        if signed {
            argv.extend(os(&[&"--key", &self.key]));
        }
        argv.extend(os(&[&"-o", &dir, &input]));
        let (clean, clean_is_dir) = if input.is_dir() {
            (dir, true)
        } else {
            (
                dir.join(input.file_name().context("input without a name")?),
                false,
            )
        };
        Ok(Contender {
            tool: tool.into(),
            argv,
            clean,
            clean_is_dir,
            labels: true,
            note: "",
            prepare: None,
            unavailable: None,
        })
    }

    fn exiftool(&self, case: &str, input: &Path) -> Result<Contender> {
        let tag = format!("-XMP-TC260:AIGC={}", self.json);
        if input.is_dir() {
            let dir = self.dir(case, "exiftool")?;
            // A trailing slash makes `-o` a directory: exiftool keeps the file names.
            let mut target = dir.clone().into_os_string();
            target.push("/");
            Ok(Contender {
                tool: "exiftool".into(),
                argv: os(&[
                    &"exiftool",
                    &"-config",
                    &self.exif_config,
                    &tag,
                    &"-o",
                    &target,
                    &input,
                ]),
                clean: dir,
                clean_is_dir: true,
                labels: true,
                note: "",
                prepare: None,
                unavailable: None,
            })
        } else {
            let outp = self.out_file(case, "exiftool", input)?;
            Ok(Contender {
                tool: "exiftool".into(),
                argv: os(&[
                    &"exiftool",
                    &"-config",
                    &self.exif_config,
                    &tag,
                    &"-o",
                    &outp,
                    &input,
                ]),
                clean: outp,
                clean_is_dir: false,
                labels: true,
                note: "",
                prepare: None,
                unavailable: None,
            })
        }
    }

    fn ffmpeg(&self, case: &str, input: &Path) -> Result<Contender> {
        let outp = self.out_file(case, "ffmpeg", input)?;
        let meta = format!("AIGC={}", self.json);
        Ok(Contender {
            tool: "ffmpeg".into(),
            argv: os(&[
                &"ffmpeg",
                &"-v",
                &"error",
                &"-y",
                &"-i",
                &input,
                &"-c",
                &"copy",
                &"-map",
                &"0",
                &"-metadata",
                &meta,
                &"-movflags",
                &"use_metadata_tags",
                &outp,
            ]),
            clean: outp,
            clean_is_dir: false,
            labels: true,
            note: "",
            prepare: None,
            unavailable: None,
        })
    }

    fn cp(&self, case: &str, input: &Path) -> Result<Contender> {
        let outp = self.out_file(case, "cp", input)?;
        Ok(Contender {
            tool: "cp".into(),
            argv: os(&[&"cp", &input, &outp]),
            clean: outp,
            clean_is_dir: false,
            labels: false,
            note: "— (plain copy)",
            prepare: None,
            unavailable: None,
        })
    }

    /// `cp` then `fsync` of the copy (coreutils `sync FILE`), the durability hegui pays for.
    fn cp_fsync(&self, case: &str, input: &Path) -> Result<Contender> {
        let outp = self.out_file(case, "cp+fsync", input)?;
        Ok(Contender {
            tool: "cp+fsync".into(),
            argv: os(&[
                &"sh",
                &"-c",
                &"cp \"$1\" \"$2\" && sync \"$2\"",
                &"sh",
                &input,
                &outp,
            ]),
            clean: outp,
            clean_is_dir: false,
            labels: false,
            note: "— (plain copy)",
            prepare: None,
            unavailable: None,
        })
    }
}

fn bytes_of(p: &Path) -> u64 {
    if p.is_dir() {
        files_in(p)
            .iter()
            .filter_map(|f| std::fs::metadata(f).ok())
            .map(|m| m.len())
            .sum()
    } else {
        std::fs::metadata(p).map(|m| m.len()).unwrap_or(0)
    }
}

fn files_in(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .map(|e| e.path())
                .filter(|p| p.is_file())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

fn cases(env: &Env, i: &inputs::Inputs) -> Result<Vec<Case>> {
    let mut cases = Vec::new();
    let single = |key: &'static str, title: &str, input: &Path, peers: &[&str]| -> Result<Case> {
        let mut contenders = vec![env.hegui(key, input, false)?];
        for peer in peers {
            contenders.push(match *peer {
                "exiftool" => env.exiftool(key, input)?,
                "ffmpeg" => env.ffmpeg(key, input)?,
                "cp" => env.cp(key, input)?,
                "cp+fsync" => env.cp_fsync(key, input)?,
                "hegui --key" => env.hegui(key, input, true)?,
                other => bail!("unknown peer {other}"),
            });
        }
        let warm = if input.is_dir() {
            files_in(input)
        } else {
            vec![input.to_path_buf()]
        };
        Ok(Case {
            key,
            title: title.to_string(),
            bytes: bytes_of(input),
            warm,
            contenders,
            section: Section::Implicit,
            max_reps: None,
        })
    };
    cases.push(startup(env)?);
    cases.push(single(
        "hd_jpg",
        "JPEG 1920×1080 q90",
        &i.hd_jpg,
        &["exiftool", "cp", "cp+fsync", "hegui --key"],
    )?);
    cases.push(single(
        "uhd_jpg",
        "JPEG 3840×2160 q90",
        &i.uhd_jpg,
        &["exiftool", "cp", "cp+fsync"],
    )?);
    cases.push(single(
        "hd_png",
        "PNG 1920×1080",
        &i.hd_png,
        &["exiftool", "cp", "cp+fsync"],
    )?);
    cases.push(single(
        "uhd_png",
        "PNG 3840×2160",
        &i.uhd_png,
        &["exiftool", "cp", "cp+fsync"],
    )?);
    cases.push(single(
        "batch_jpg",
        &format!("{} JPEGs 1920×1080, one process", inputs::BATCH_FILES),
        &i.batch_dir,
        &["exiftool"],
    )?);
    cases.push(single(
        "mp4_200_last",
        "MP4 1080p H.264+AAC, moov last",
        &i.mp4_200_moov_last,
        &["ffmpeg", "cp", "cp+fsync", "hegui --key"],
    )?);
    cases.push(single(
        "mp4_200_first",
        "MP4 1080p H.264+AAC, moov first (faststart)",
        &i.mp4_200_moov_first,
        &["ffmpeg", "cp", "cp+fsync"],
    )?);
    cases.push(single(
        "mp3",
        "MP3 192 kb/s sine",
        &i.mp3,
        &["ffmpeg", "cp", "cp+fsync"],
    )?);
    if let Some((last, first)) = &i.mp4_2g {
        cases.push(single(
            "mp4_2g_last",
            "MP4 1080p H.264+AAC, moov last",
            last,
            &["ffmpeg", "cp", "cp+fsync"],
        )?);
        cases.push(single(
            "mp4_2g_first",
            "MP4 1080p H.264+AAC, moov first (faststart)",
            first,
            &["ffmpeg", "cp", "cp+fsync"],
        )?);
    }
    Ok(cases)
}

/// Process start-up alone: each tool asked for its version, nothing read or written.
fn startup(env: &Env) -> Result<Case> {
    let none = env.dir("startup", "none")?.join("no-output");
    let c = |tool: &str, argv: Vec<OsString>| Contender {
        tool: tool.into(),
        argv,
        clean: none.clone(),
        clean_is_dir: false,
        labels: false,
        note: "— (no output)",
        prepare: None,
        unavailable: None,
    };
    Ok(Case {
        key: "startup",
        title: "start-up only (print version)".into(),
        bytes: 0,
        warm: Vec::new(),
        contenders: vec![
            c("hegui --version", os(&[&env.hegui, &"--version"])),
            c("exiftool -ver", os(&[&"exiftool", &"-ver"])),
            c("ffmpeg -version", os(&[&"ffmpeg", &"-version"])),
            c("cp --version", os(&[&"cp", &"--version"])),
        ],
        section: Section::Implicit,
        max_reps: None,
    })
}

/// Removes a contender's output so the next run writes a new file.
fn clean(c: &Contender) -> Result<()> {
    if c.clean_is_dir {
        if c.clean.exists() {
            std::fs::remove_dir_all(&c.clean)
                .with_context(|| format!("removing {}", c.clean.display()))?;
        }
        std::fs::create_dir_all(&c.clean)?;
    } else if c.clean.exists() {
        std::fs::remove_file(&c.clean)
            .with_context(|| format!("removing {}", c.clean.display()))?;
    }
    Ok(())
}

/// Reads every file once so the inputs are in the page cache.
fn warm(files: &[PathBuf]) -> Result<()> {
    for f in files {
        let mut r = std::fs::File::open(f).with_context(|| format!("opening {}", f.display()))?;
        std::io::copy(&mut r, &mut std::io::sink())?;
    }
    Ok(())
}

fn sync_all() {
    let _ = Command::new("sync").status();
}

/// Waits (at most 3 s) until the data disk has no request in flight, so the write-back and
/// discards that `sync` started do not land inside the next timed run.
fn settle(inflight: Option<&Path>) {
    let Some(path) = inflight else {
        return;
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(3);
    while std::time::Instant::now() < deadline {
        let idle = std::fs::read_to_string(path)
            .map(|s| s.split_whitespace().all(|n| n == "0"))
            .unwrap_or(true);
        if idle {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

/// Whether `path` (a file, or every file of a directory) contains the producer code.
fn label_check(c: &Contender) -> Option<String> {
    if !c.labels {
        return None;
    }
    let files = if c.clean_is_dir {
        files_in(&c.clean)
    } else {
        vec![c.clean.clone()]
    };
    if files.is_empty() {
        return Some("NO (no output)".into());
    }
    let found = files
        .iter()
        .filter(|f| report::file_contains(f, PRODUCER.as_bytes()).unwrap_or(false))
        .count();
    Some(match (c.clean_is_dir, found == files.len()) {
        (true, _) => format!("{found}/{}", files.len()),
        (false, true) => "yes".into(),
        (false, false) => "NO".into(),
    })
}

/// Copies a contender's scratch input into place (untimed), through user space so the copy is
/// a file of its own (no shared extents) whose pages are then written back by `sync`.
fn prepare(c: &Contender) -> Result<()> {
    let Some((from, to)) = &c.prepare else {
        return Ok(());
    };
    let mut r = std::fs::File::open(from).with_context(|| format!("opening {}", from.display()))?;
    let mut w = std::fs::File::create(to).with_context(|| format!("creating {}", to.display()))?;
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = std::io::Read::read(&mut r, &mut buf)?;
        if n == 0 {
            break;
        }
        std::io::Write::write_all(&mut w, &buf[..n])?;
    }
    Ok(())
}

fn inode(p: &Path) -> Option<u64> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(p).ok().map(|m| m.ino())
}

/// Measures every contender of `case`: one untimed warm-up run each (its output is checked for
/// the label), then `reps` timed runs (fewer when the case says so), interleaved round-robin so
/// that drifting background load hits all tools alike.
fn run_case(case: Case, opts: &Opts, inflight: Option<&Path>) -> Result<CaseResult> {
    let reps = case.max_reps.map_or(opts.reps, |m| m.min(opts.reps));
    eprintln!("== {} ({})", case.title, report::size(case.bytes));
    warm(&case.warm)?;
    let mut outcomes: Vec<Outcome> = Vec::new();
    for c in &case.contenders {
        if let Some(why) = &c.unavailable {
            eprintln!("   {} not run: {why}", c.tool);
            outcomes.push(Outcome::Skipped(why.clone()));
            continue;
        }
        clean(c)?;
        prepare(c)?;
        let before = inode(&c.clean);
        outcomes.push(match measure::run_once(&c.argv) {
            Ok(_) => {
                let label = label_check(c).map(|l| match (&c.prepare, before, inode(&c.clean)) {
                    (Some(_), Some(b), Some(a)) if a == b => {
                        format!("{l} (same inode: patched in place)")
                    }
                    (Some(_), Some(_), Some(_)) => format!("{l} (new inode: rewritten)"),
                    _ => l,
                });
                Outcome::Done {
                    runs: Vec::new(),
                    label,
                    out_bytes: c.clean.exists().then(|| bytes_of(&c.clean)),
                }
            }
            Err(e) => {
                eprintln!("   {} failed: {e}", c.tool);
                Outcome::Failed(e)
            }
        });
        clean(c)?;
    }
    for rep in 0..reps {
        for (c, outcome) in case.contenders.iter().zip(outcomes.iter_mut()) {
            let Outcome::Done { runs, .. } = outcome else {
                continue;
            };
            clean(c)?;
            prepare(c)?;
            if opts.sync {
                sync_all();
                settle(inflight);
            }
            match measure::run_once(&c.argv) {
                Ok(r) => {
                    eprintln!(
                        "   {:<12} run {}/{}: {} (peak RSS {})",
                        c.tool,
                        rep + 1,
                        reps,
                        report::ms(r.elapsed),
                        report::mib(r.max_rss_kib)
                    );
                    runs.push(r);
                }
                Err(e) => {
                    eprintln!("   {} failed: {e}", c.tool);
                    *outcome = Outcome::Failed(e);
                }
            }
            // Delete at once, so an unsynced output is dropped from the page cache instead of
            // being written back while the next command runs.
            clean(c)?;
        }
    }
    for c in &case.contenders {
        if c.unavailable.is_none() {
            clean(c)?;
        }
    }
    Ok(CaseResult { case, outcomes })
}
