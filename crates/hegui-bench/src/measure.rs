//! Timing one command and reading its peak RSS.
//!
//! Every measured command runs under a small wrapper: this same binary, re-executed as
//! `hegui-bench --measure-child -- PROG ARGS…`. The wrapper starts the command, waits for it and
//! prints the wall time from spawn to exit (process start-up included) and
//! `getrusage(RUSAGE_CHILDREN).ru_maxrss`. Because the wrapper has exactly one child, that is the
//! command's own peak RSS (in KiB), without `unsafe` and without `wait4`. The wrapper's own
//! start-up is outside the timed span.

use std::ffi::OsString;
use std::path::Path;
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

/// The flag that turns this binary into the measuring wrapper.
pub const CHILD_FLAG: &str = "--measure-child";

/// One run of a command.
#[derive(Debug, Clone, Copy)]
pub struct Run {
    /// Wall time from spawn to exit.
    pub elapsed: Duration,
    /// Peak resident set size of the command, KiB.
    pub max_rss_kib: u64,
}

/// The wrapper's `main`: `argv` is `PROG ARGS…` (after `--`).
pub fn child_main(argv: &[OsString]) -> ExitCode {
    let Some((prog, args)) = argv.split_first() else {
        eprintln!("{CHILD_FLAG}: no command given");
        return ExitCode::from(3);
    };
    let start = Instant::now();
    let status = Command::new(prog)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .status();
    let elapsed = start.elapsed();
    let status = match status {
        Ok(s) => s,
        Err(e) => {
            eprintln!("cannot start {}: {e}", Path::new(prog).display());
            return ExitCode::from(3);
        }
    };
    let rss = nix::sys::resource::getrusage(nix::sys::resource::UsageWho::RUSAGE_CHILDREN)
        .map(|u| u.max_rss())
        .unwrap_or(-1);
    // A signal death has no code; report it as -1 and let the parent call it a failure.
    let code = status.code().unwrap_or(-1);
    println!("{} {} {}", elapsed.as_nanos(), rss, code);
    ExitCode::SUCCESS
}

/// Runs `argv` once under the wrapper. `Err` carries the command's stderr (or why it could not
/// run) when it exits non-zero.
pub fn run_once(argv: &[OsString]) -> Result<Run, String> {
    let me = std::env::current_exe().map_err(|e| format!("cannot find the bench binary: {e}"))?;
    let out = Command::new(me)
        .arg(CHILD_FLAG)
        .arg("--")
        .args(argv)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot start the measuring wrapper: {e}"))?;
    let stderr = String::from_utf8_lossy(&out.stderr).trim().to_string();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let fields: Vec<&str> = stdout.split_whitespace().collect();
    let parsed = match fields.as_slice() {
        [ns, rss, code] => ns
            .parse::<u64>()
            .ok()
            .zip(rss.parse::<i64>().ok())
            .zip(code.parse::<i32>().ok()),
        _ => None,
    };
    let Some(((ns, rss), code)) = parsed else {
        return Err(if stderr.is_empty() {
            format!("the measuring wrapper printed {stdout:?}")
        } else {
            stderr
        });
    };
    if code != 0 {
        let why = if stderr.is_empty() {
            "(no stderr)".to_string()
        } else {
            stderr
        };
        return Err(format!("exit {code}: {why}"));
    }
    Ok(Run {
        elapsed: Duration::from_nanos(ns),
        max_rss_kib: u64::try_from(rss).unwrap_or(0),
    })
}

/// The median of `v` (the mean of the two middle values for an even count).
pub fn median(v: &[Duration]) -> Duration {
    let mut s = v.to_vec();
    s.sort();
    match s.len() {
        0 => Duration::ZERO,
        n if n % 2 == 1 => s[n / 2],
        n => (s[n / 2 - 1] + s[n / 2]) / 2,
    }
}
