//! A throwaway local PostgreSQL for the store conformance tests (`HEGUI_TEST_DATABASE_URL`).
//!
//! [`start_postgres`] finds the server binaries (Debian's `/usr/lib/postgresql/*/bin`, else
//! `PATH`), installs the `postgresql` package with apt-get when there are none, creates a cluster
//! under `target/pg/data` with trust authentication for local connections only, starts it on a
//! free port near 54329 (listening on 127.0.0.1, socket in the data directory) and returns its
//! URL. A server it started earlier is reused, so calling it again is cheap.
//!
//! The cluster runs with `fsync=off`: it holds test data only, and the tests kill gateway
//! processes, never the database server or the machine.

use crate::{apt_install, is_root, run};
use anyhow::{Context, Result, bail};
use std::ffi::OsStr;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// First port tried; the next few are tried when it is taken by something else.
const BASE_PORT: u16 = 54329;

/// Starts (or reuses) a local PostgreSQL server for tests and returns its URL,
/// `postgres://postgres@127.0.0.1:PORT/postgres` (trust authentication, no password).
pub fn start_postgres(target_dir: &Path) -> Result<String> {
    let bin = find_or_install_bin()?;
    let root = is_root();
    let base = pg_base(target_dir, root)?;
    let data = base.join("data");
    let log = base.join("server.log");

    // Reuse a server this function started before.
    if data.join("PG_VERSION").exists()
        && let Some(port) = running_port(&bin, &data, root)
    {
        wait_ready(port, Duration::from_secs(30))?;
        return Ok(url(port));
    }

    std::fs::create_dir_all(&base).with_context(|| format!("creating {}", base.display()))?;
    if root {
        // initdb and postgres refuse to run as root: the cluster belongs to the `postgres` user.
        ensure_postgres_user()?;
        run(Command::new("chown")
            .args(["-R", "postgres:postgres"])
            .arg(&base))?;
    }
    if !data.join("PG_VERSION").exists() {
        if data.exists() {
            // A half-made cluster from an interrupted run.
            std::fs::remove_dir_all(&data)
                .with_context(|| format!("removing {}", data.display()))?;
        }
        let args = [
            OsStr::new("-D"),
            data.as_os_str(),
            OsStr::new("-U"),
            OsStr::new("postgres"),
            OsStr::new("--auth=trust"),
            OsStr::new("--encoding=UTF8"),
            OsStr::new("--locale=C"),
        ];
        run(pg_command(&bin.join("initdb"), &args, root).stdout(Stdio::null()))?;
    }

    let port = free_port()?;
    let options = format!(
        "-p {port} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off \
         -c max_connections=300",
        data.display()
    );
    let args = [
        OsStr::new("-D"),
        data.as_os_str(),
        OsStr::new("-l"),
        log.as_os_str(),
        OsStr::new("-w"),
        OsStr::new("-t"),
        OsStr::new("60"),
        OsStr::new("-o"),
        OsStr::new(&options),
        OsStr::new("start"),
    ];
    if let Err(e) = run(pg_command(&bin.join("pg_ctl"), &args, root).stdout(Stdio::null())) {
        let tail = std::fs::read_to_string(&log).unwrap_or_default();
        let tail: Vec<&str> = tail.lines().rev().take(20).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        bail!("{e:#}\n{} says:\n{}", log.display(), tail.join("\n"));
    }
    wait_ready(port, Duration::from_secs(60))?;
    Ok(url(port))
}

fn url(port: u16) -> String {
    format!("postgres://postgres@127.0.0.1:{port}/postgres")
}

/// `target/pg`, or a directory under the system temp dir when the `postgres` user cannot reach
/// the target directory (a home directory with mode 700, say).
fn pg_base(target_dir: &Path, root: bool) -> Result<PathBuf> {
    std::fs::create_dir_all(target_dir)
        .with_context(|| format!("creating {}", target_dir.display()))?;
    let target_dir = target_dir
        .canonicalize()
        .with_context(|| format!("resolving {}", target_dir.display()))?;
    let base = target_dir.join("pg");
    if !root || reachable_by_postgres(&target_dir) {
        return Ok(base);
    }
    let fallback = std::env::temp_dir().join("hegui-pg");
    eprintln!(
        "xtask: the postgres user cannot reach {}; using {}",
        target_dir.display(),
        fallback.display()
    );
    Ok(fallback)
}

fn reachable_by_postgres(dir: &Path) -> bool {
    pg_command(
        Path::new("test"),
        &[OsStr::new("-x"), dir.as_os_str()],
        true,
    )
    .status()
    .map(|s| s.success())
    .unwrap_or(false)
}

/// The port of a running server on `data`, if there is one.
fn running_port(bin: &Path, data: &Path, root: bool) -> Option<u16> {
    let args = [OsStr::new("-D"), data.as_os_str(), OsStr::new("status")];
    let ok = pg_command(&bin.join("pg_ctl"), &args, root)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if !ok {
        return None;
    }
    // postmaster.pid: pid, data dir, start time, port, socket dir, listen address, …
    let pid = std::fs::read_to_string(data.join("postmaster.pid")).ok()?;
    pid.lines().nth(3)?.trim().parse().ok()
}

fn free_port() -> Result<u16> {
    for port in BASE_PORT..BASE_PORT + 20 {
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return Ok(port);
        }
    }
    bail!("no free port in {BASE_PORT}..{}", BASE_PORT + 20)
}

fn wait_ready(port: u16, timeout: Duration) -> Result<()> {
    let start = Instant::now();
    loop {
        if TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), Duration::from_secs(1))
            .is_ok()
        {
            return Ok(());
        }
        if start.elapsed() > timeout {
            bail!("PostgreSQL did not accept connections on 127.0.0.1:{port} within {timeout:?}");
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The directory holding `initdb` and `pg_ctl`: the newest Debian version, else `PATH`, else
/// after installing the `postgresql` package.
fn find_or_install_bin() -> Result<PathBuf> {
    if let Some(bin) = find_bin() {
        return Ok(bin);
    }
    eprintln!("xtask: PostgreSQL not found; installing the Debian package `postgresql`");
    apt_install(&["postgresql"])?;
    find_bin().context("installed `postgresql` but found no initdb/pg_ctl")
}

fn find_bin() -> Option<PathBuf> {
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let version = e.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = e.path().join("bin");
            (bin.join("initdb").is_file() && bin.join("pg_ctl").is_file()).then_some((version, bin))
        })
        .collect();
    versions.sort();
    if let Some((_, bin)) = versions.pop() {
        return Some(bin);
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .find(|dir| dir.join("initdb").is_file() && dir.join("pg_ctl").is_file())
}

fn ensure_postgres_user() -> Result<()> {
    let exists = Command::new("id")
        .arg("postgres")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if !exists {
        run(Command::new("useradd")
            .args([
                "--system",
                "--user-group",
                "--no-create-home",
                "--shell",
                "/bin/sh",
            ])
            .arg("postgres"))?;
    }
    Ok(())
}

/// `program args…` as the `postgres` user when we are root (runuser, else su), as ourselves
/// otherwise.
fn pg_command(program: &Path, args: &[&OsStr], root: bool) -> Command {
    if !root {
        let mut cmd = Command::new(program);
        cmd.args(args);
        return cmd;
    }
    if Path::new("/usr/sbin/runuser").exists() || Path::new("/sbin/runuser").exists() {
        let mut cmd = Command::new("runuser");
        cmd.args(["-u", "postgres", "--"]).arg(program).args(args);
        return cmd;
    }
    let line: Vec<String> = std::iter::once(program.as_os_str())
        .chain(args.iter().copied())
        .map(|a| shell_quote(&a.to_string_lossy()))
        .collect();
    let mut cmd = Command::new("su");
    cmd.args(["-s", "/bin/sh", "-c", &line.join(" "), "postgres"]);
    cmd
}

fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}
