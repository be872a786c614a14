//! The machine description and the Markdown report: the timing table, then every ratio with its
//! goal and PASS/MISS. All figures come from the runs of this process.

use crate::measure::{Run, median};
use crate::{CaseResult, Opts, Outcome};
use std::io::Read;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

/// What the numbers were measured on.
#[derive(Debug, Clone)]
pub struct Machine {
    /// `nproc`.
    pub nproc: String,
    /// `model name` of /proc/cpuinfo.
    pub cpu: String,
    /// MemTotal.
    pub mem: String,
    /// Kernel release.
    pub kernel: String,
    /// Filesystem type of the data directory.
    pub fs: String,
    /// `vm.dirty_ratio` / `vm.dirty_background_ratio` (or the `_bytes` forms when set).
    pub dirty: String,
    /// Versions of the tools compared.
    pub tools: Vec<String>,
    /// Where the hegui binary came from (which tree, whether this run built it).
    pub tree: String,
}

fn first_line(cmd: &str, args: &[&str]) -> String {
    Command::new(cmd)
        .args(args)
        .output()
        .ok()
        .and_then(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .next()
                .map(|l| l.trim().to_string())
        })
        .unwrap_or_else(|| format!("{cmd}: unknown"))
}

impl Machine {
    /// Probes this machine.
    pub fn probe(data: &Path, hegui: &Path, origin: String) -> Machine {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu = cpuinfo
            .lines()
            .find(|l| l.starts_with("model name"))
            .and_then(|l| l.split_once(':'))
            .map(|(_, v)| v.trim().to_string())
            .unwrap_or_else(|| "unknown".into());
        let flags = cpuinfo
            .lines()
            .find(|l| l.starts_with("flags"))
            .map(|l| {
                ["avx2", "avx512f", "sha_ni"]
                    .iter()
                    .filter(|f| l.split_whitespace().any(|w| w == **f))
                    .copied()
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .unwrap_or_default();
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
        let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .map(|s| s.trim().to_string())
            .unwrap_or_default();
        let _ = std::fs::create_dir_all(data);
        let fs = fs_type(data);
        let vm = |name: &str| {
            std::fs::read_to_string(format!("/proc/sys/vm/{name}"))
                .map(|s| s.trim().to_string())
                .unwrap_or_else(|_| "?".into())
        };
        let dirty = match (
            vm("dirty_bytes").as_str(),
            vm("dirty_background_bytes").as_str(),
        ) {
            ("0", "0") | ("?", _) => format!(
                "vm.dirty_ratio {}%, vm.dirty_background_ratio {}%",
                vm("dirty_ratio"),
                vm("dirty_background_ratio")
            ),
            (b, bg) => format!("vm.dirty_bytes {b}, vm.dirty_background_bytes {bg}"),
        };
        let tools = vec![
            format!(
                "{} (`{}`)",
                first_line(&hegui.to_string_lossy(), &["--version"]),
                hegui.display()
            ),
            format!("exiftool {}", first_line("exiftool", &["-ver"])),
            first_line("ffmpeg", &["-version"])
                .split(" Copyright")
                .next()
                .unwrap_or_default()
                .to_string(),
            first_line("cp", &["--version"]),
        ];
        Machine {
            nproc: first_line("nproc", &[]),
            cpu: if flags.is_empty() {
                cpu
            } else {
                format!("{cpu} ({flags})")
            },
            mem,
            kernel,
            fs,
            dirty,
            tools,
            tree: origin,
        }
    }
}

/// The type of the filesystem holding `path` (the longest mount point that is its prefix).
fn fs_type(path: &Path) -> String {
    let path = path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
    let mounts = std::fs::read_to_string("/proc/self/mounts").unwrap_or_default();
    mounts
        .lines()
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            let (_dev, at, kind) = (f.next()?, f.next()?, f.next()?);
            path.starts_with(at).then(|| (at.len(), kind.to_string()))
        })
        .max_by_key(|(len, _)| *len)
        .map(|(_, kind)| kind)
        .unwrap_or_else(|| "unknown".into())
}

/// `/sys/class/block/<dev>/inflight` of the block device holding `path`, when there is one.
pub fn inflight_file(path: &Path) -> Option<std::path::PathBuf> {
    let path = path.canonicalize().ok()?;
    let mounts = std::fs::read_to_string("/proc/self/mounts").ok()?;
    let dev = mounts
        .lines()
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            let (dev, at) = (f.next()?, f.next()?);
            path.starts_with(at).then(|| (at.len(), dev.to_string()))
        })
        .max_by_key(|(len, _)| *len)?
        .1;
    let dev = std::fs::canonicalize(&dev).ok()?;
    let name = dev.file_name()?;
    let f = Path::new("/sys/class/block").join(name).join("inflight");
    f.exists().then_some(f)
}

/// /proc/loadavg's first three fields.
pub fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

/// `1,234.5 ms`.
pub fn ms(d: Duration) -> String {
    let v = d.as_secs_f64() * 1000.0;
    let s = if v >= 100.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    };
    let (int, frac) = s.split_once('.').unwrap_or((&s, ""));
    let mut grouped = String::new();
    for (i, ch) in int.chars().enumerate() {
        if i > 0 && (int.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(ch);
    }
    if frac.is_empty() {
        format!("{grouped} ms")
    } else {
        format!("{grouped}.{frac} ms")
    }
}

/// `12.3 MiB` from KiB.
pub fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

/// `3.4 MB` (decimal, as file sizes are usually quoted).
pub fn size(bytes: u64) -> String {
    let b = bytes as f64;
    if b >= 1e9 {
        format!("{:.2} GB", b / 1e9)
    } else if b >= 1e6 {
        format!("{:.1} MB", b / 1e6)
    } else {
        format!("{:.0} KB", b / 1e3)
    }
}

/// Whether the file contains `needle` anywhere (read in chunks; the whole file is scanned).
pub fn file_contains(path: &Path, needle: &[u8]) -> std::io::Result<bool> {
    let mut f = std::fs::File::open(path)?;
    let keep = needle.len().saturating_sub(1);
    let mut buf = vec![0u8; 8 << 20];
    let mut have = 0;
    loop {
        let n = f.read(&mut buf[have..])?;
        if n == 0 {
            return Ok(false);
        }
        have += n;
        let window = &buf[..have];
        let mut from = 0;
        while let Some(p) = window[from..].iter().position(|&b| b == needle[0]) {
            let at = from + p;
            if window.len() - at < needle.len() {
                break;
            }
            if &window[at..at + needle.len()] == needle {
                return Ok(true);
            }
            from = at + 1;
        }
        if have == buf.len() {
            buf.copy_within(have - keep.., 0);
            have = keep;
        }
    }
}

/// Everything the report shows.
pub struct Report<'a> {
    /// Options of the run.
    pub opts: &'a Opts,
    /// The machine.
    pub machine: &'a Machine,
    /// Load average before and after.
    pub load: (&'a str, &'a str),
    /// `true` under the measuring wrapper: the floor of time and RSS.
    pub floor: Option<Run>,
    /// The measurements.
    pub results: &'a [CaseResult],
}

/// "hegui failed" from "hegui failed: exit 1: …" (the full message is in the timing table).
fn short(e: &str) -> String {
    e.split_once(" failed: ")
        .map(|(tool, _)| format!("{tool} failed"))
        .unwrap_or_else(|| cell(e))
}

fn cell(s: &str) -> String {
    let one_line = s
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .replace('|', "\\|");
    if one_line.chars().count() > 240 {
        format!("{}…", one_line.chars().take(240).collect::<String>())
    } else {
        one_line
    }
}

/// The median and peak RSS of one tool in one case, or why there is none.
fn stat(results: &[CaseResult], key: &str, tool: &str) -> Result<(Duration, u64), String> {
    let Some(r) = results.iter().find(|r| r.case.key == key) else {
        return Err("not run".into());
    };
    let Some(i) = r.case.contenders.iter().position(|c| c.tool == tool) else {
        return Err("not run".into());
    };
    match &r.outcomes[i] {
        Outcome::Done { runs, .. } if !runs.is_empty() => {
            let times: Vec<Duration> = runs.iter().map(|r| r.elapsed).collect();
            Ok((
                median(&times),
                runs.iter().map(|r| r.max_rss_kib).max().unwrap_or(0),
            ))
        }
        Outcome::Done { .. } => Err("no runs".into()),
        Outcome::Failed(e) => Err(format!("{tool} failed: {e}")),
    }
}

fn title(results: &[CaseResult], key: &str) -> String {
    results
        .iter()
        .find(|r| r.case.key == key)
        .map(|r| format!("{} ({})", r.case.title, size(r.case.bytes)))
        .unwrap_or_else(|| match key {
            "mp4_2g_last" => "MP4 ~2 GB, moov last".into(),
            "mp4_2g_first" => "MP4 ~2 GB, moov first (faststart)".into(),
            other => other.into(),
        })
}

/// One line of the ratio table: `x ÷ y`.
struct Line {
    what: String,
    x: String,
    y: String,
    ratio: String,
    goal: String,
    result: String,
}

/// A goal on the ratio `x ÷ y` of two medians.
#[derive(Clone, Copy)]
enum Goal {
    /// Reported, no goal.
    None,
    /// The ratio must be at least this (a speed-up: the peer is `x`).
    AtLeast(f64),
    /// The ratio must be at most this (hegui is `x`, the floor `y`).
    AtMost(f64),
}

/// The ratio of the medians of tools `x` and `y` in case `key`, checked against `goal`.
fn ratio(results: &[CaseResult], key: &str, x: &str, y: &str, goal: Goal) -> Line {
    let what = format!("{}: {x} ÷ {y}", title(results, key));
    let goal_text = match goal {
        Goal::None => "none".to_string(),
        Goal::AtLeast(m) => format!("≥ {m}×"),
        Goal::AtMost(m) => format!("≤ {m}×"),
    };
    let (sx, sy) = (stat(results, key, x), stat(results, key, y));
    match (&sx, &sy) {
        (Ok((dx, _)), Ok((dy, _))) => {
            let r = dx.as_secs_f64() / dy.as_secs_f64();
            let pass = match goal {
                Goal::None => None,
                Goal::AtLeast(m) => Some(r >= m),
                Goal::AtMost(m) => Some(r <= m),
            };
            Line {
                what,
                x: ms(*dx),
                y: ms(*dy),
                ratio: if r >= 10.0 {
                    format!("{r:.1}×")
                } else {
                    format!("{r:.2}×")
                },
                goal: goal_text,
                result: match pass {
                    Some(true) => "PASS".into(),
                    Some(false) => "MISS".into(),
                    None => "—".into(),
                },
            }
        }
        _ => {
            let not_run = [&sx, &sy]
                .iter()
                .any(|s| matches!(s, Err(e) if e == "not run"));
            let hegui_failed = [(x, &sx), (y, &sy)]
                .iter()
                .any(|(t, s)| t.starts_with("hegui") && s.is_err());
            Line {
                what,
                x: sx
                    .as_ref()
                    .map(|(d, _)| ms(*d))
                    .unwrap_or_else(|e| short(e)),
                y: sy
                    .as_ref()
                    .map(|(d, _)| ms(*d))
                    .unwrap_or_else(|e| short(e)),
                ratio: "—".into(),
                result: if not_run {
                    "not run".into()
                } else if hegui_failed && !matches!(goal, Goal::None) {
                    "MISS (hegui failed)".into()
                } else {
                    "—".into()
                },
                goal: goal_text,
            }
        }
    }
}

fn rss_line(results: &[CaseResult], key: &str, max_kib: u64) -> Line {
    let what = format!("{}: peak RSS, hegui vs others", title(results, key));
    let goal = format!("< {}", mib(max_kib));
    let others: Vec<String> = ["cp", "ffmpeg"]
        .iter()
        .map(|t| match stat(results, key, t) {
            Ok((_, kib)) => format!("{t} {}", mib(kib)),
            Err(e) if e == "not run" => format!("{t}: not run"),
            Err(e) => short(&e),
        })
        .collect();
    match stat(results, key, "hegui") {
        Ok((_, kib)) => Line {
            what,
            x: mib(kib),
            y: others.join(", "),
            ratio: "—".into(),
            goal,
            result: if kib < max_kib { "PASS" } else { "MISS" }.into(),
        },
        Err(e) => Line {
            what,
            y: others.join(", "),
            ratio: "—".into(),
            goal,
            result: if e == "not run" {
                "not run (--quick)".into()
            } else {
                "MISS (hegui failed)".into()
            },
            x: short(&e),
        },
    }
}

/// Prints the whole report (Markdown) on stdout.
pub fn print(r: &Report<'_>) {
    let m = r.machine;
    let res = r.results;
    println!();
    println!("## hegui-bench results");
    println!();
    println!(
        "Machine: nproc {}, {}, {} RAM, Linux {}, data on {} (`target/bench-data/`), {}. \
         Load average (1/5/15 min) before: {}, after: {}.",
        m.nproc, m.cpu, m.mem, m.kernel, m.fs, m.dirty, r.load.0, r.load.1
    );
    println!();
    println!(
        "Tools: {}. The hegui binary: {}.",
        m.tools.join("; "),
        m.tree
    );
    println!();
    println!(
        "Measured: wall time of one process per run, spawn to exit (process start-up included), \
         median of {} runs after one untimed warm-up run per command, commands interleaved \
         round-robin; inputs read once first (page cache warm); every run writes a new file (each \
         output deleted before and right after its run){}; outputs in a fresh directory on the inputs' filesystem. Peak RSS = `ru_maxrss` of \
         the command (getrusage RUSAGE_CHILDREN in a one-child wrapper), the maximum over the runs{}. \
         \"label in output\" = the producer code is found in the warm-up run's output. \
         hegui ran without `--key` (unsigned) except in the `hegui --key` rows.",
        r.opts.reps,
        if r.opts.sync {
            "; before each run, untimed: `sync`, then a wait (≤ 3 s) until the data disk has no \
             request in flight"
        } else {
            ""
        },
        match r.floor {
            Some(f) => format!(
                "; floor of the method (`true`): {}, {}",
                ms(f.elapsed),
                mib(f.max_rss_kib)
            ),
            None => String::new(),
        }
    );
    println!();
    println!("| input | size | tool | median | min | max | runs | peak RSS | label in output |");
    println!("|---|---:|---|---:|---:|---:|---:|---:|---|");
    for cr in res {
        for (c, o) in cr.case.contenders.iter().zip(&cr.outcomes) {
            let bytes = if cr.case.bytes == 0 {
                "—".to_string()
            } else {
                size(cr.case.bytes)
            };
            let head = format!("| {} | {} | {} ", cr.case.title, bytes, c.tool);
            match o {
                Outcome::Done { runs, label } if !runs.is_empty() => {
                    let t: Vec<Duration> = runs.iter().map(|r| r.elapsed).collect();
                    let min = t.iter().min().copied().unwrap_or_default();
                    let max = t.iter().max().copied().unwrap_or_default();
                    let rss = runs.iter().map(|r| r.max_rss_kib).max().unwrap_or(0);
                    println!(
                        "{head}| {} | {} | {} | {} | {} | {} |",
                        ms(median(&t)),
                        ms(min),
                        ms(max),
                        runs.len(),
                        mib(rss),
                        label.as_deref().unwrap_or(c.note)
                    );
                }
                Outcome::Done { .. } => println!("{head}| no runs | | | 0 | | |"),
                Outcome::Failed(e) => {
                    println!("{head}| {} failed: {} | | | | | |", c.tool, cell(e));
                }
            }
        }
    }

    let mut lines = Vec::new();
    for key in ["hd_jpg", "uhd_jpg", "hd_png", "uhd_png"] {
        lines.push(ratio(res, key, "exiftool", "hegui", Goal::AtLeast(20.0)));
    }
    lines.push(ratio(res, "batch_jpg", "exiftool", "hegui", Goal::None));
    for key in ["mp4_200_last", "mp4_200_first"] {
        lines.push(ratio(res, key, "ffmpeg", "hegui", Goal::AtLeast(5.0)));
        // The most any writer that copies the file can gain over ffmpeg.
        lines.push(ratio(res, key, "ffmpeg", "cp", Goal::None));
    }
    lines.push(ratio(res, "mp3", "ffmpeg", "hegui", Goal::None));
    for key in ["mp4_2g_last", "mp4_2g_first"] {
        lines.push(ratio(res, key, "ffmpeg", "hegui", Goal::None));
    }
    for key in [
        "mp4_200_last",
        "mp4_200_first",
        "mp4_2g_last",
        "mp4_2g_first",
    ] {
        lines.push(ratio(res, key, "hegui", "cp", Goal::AtMost(1.5)));
        lines.push(ratio(res, key, "hegui", "cp+fsync", Goal::None));
    }
    for key in ["hd_jpg", "uhd_jpg", "hd_png", "uhd_png", "mp3"] {
        lines.push(ratio(res, key, "hegui", "cp", Goal::None));
        lines.push(ratio(res, key, "hegui", "cp+fsync", Goal::None));
    }
    for key in ["hd_jpg", "mp4_200_last"] {
        lines.push(ratio(res, key, "hegui --key", "hegui", Goal::None));
    }
    for key in ["mp4_2g_last", "mp4_2g_first"] {
        lines.push(rss_line(res, key, 64 * 1024));
    }
    // Comparisons without a goal whose input was not built (--quick) say nothing: drop them.
    lines.retain(|l| !(l.result == "not run" && l.goal == "none"));
    println!();
    println!("| comparison X ÷ Y | X | Y | ratio | goal | result |");
    println!("|---|---:|---:|---:|---|---|");
    for l in &lines {
        println!(
            "| {} | {} | {} | {} | {} | {} |",
            l.what, l.x, l.y, l.ratio, l.goal, l.result
        );
    }
    let pass = lines.iter().filter(|l| l.result == "PASS").count();
    let miss = lines
        .iter()
        .filter(|l| l.result.starts_with("MISS"))
        .count();
    let not_run = lines
        .iter()
        .filter(|l| l.result.starts_with("not run"))
        .count();
    println!();
    println!("Goals: {pass} PASS, {miss} MISS, {not_run} not run.");
    println!();
    println!("What the comparison cannot make equal:");
    for note in NOTES {
        println!("- {note}");
    }
}

/// Differences between the tools that the method cannot remove (no figures: those are above).
const NOTES: &[&str] = &[
    "hegui writes a temp file, reads the label back, fsyncs the file and its directory and renames; \
     exiftool, ffmpeg and cp do not fsync. The `cp+fsync` rows (coreutils `sync FILE` after `cp`) show \
     what durability alone costs; the goals are still checked against plain `cp` as set.",
    "`cp` copies inside the kernel (copy_file_range); exiftool and ffmpeg copy through user space, \
     and so did hegui's writers when this bench was written (`std::io::copy` into a `dyn Write`).",
    "Batch: hegui labels the directory's files in parallel on all cores (rayon); exiftool does one \
     file after another in its single process.",
    "exiftool and ffmpeg get the same unsigned label JSON on the command line; hegui builds its own \
     (a fresh ProduceID per file) and validates it. `hegui --key` adds the SM3 content hash and two \
     SM2 signatures.",
    "Peak RSS includes shared-library pages (ffmpeg maps many libraries, exiftool a Perl interpreter) \
     and the measuring wrapper's floor shown above.",
    "An output bigger than the kernel's dirty-page limit (above) is written back to disk during \
     the copy even without fsync; below it, plain `cp` only fills the page cache.",
    "The machine may be shared with other work: the load average above and the min/max columns show \
     how noisy the run was.",
];
