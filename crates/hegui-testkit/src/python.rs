//! A Python interpreter with the official `openai` package, for tests that drive the gateway (or
//! the fake) with the real client.
//!
//! [`openai_python`] uses `HEGUI_PYTHON` when it is set. Otherwise it creates, once, a virtual
//! environment at `<target>/py-openai` with `openai==`[`OPENAI_VERSION`] from PyPI. A file lock
//! (`<target>/py-openai.lock`) serialises parallel test threads and processes, and a marker file
//! written last says the environment is complete, so an interrupted install is redone.

use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

/// The pinned version of the official `openai` package.
pub const OPENAI_VERSION: &str = "2.54.0";

/// The environment variable that names a ready interpreter and skips the install.
pub const PYTHON_ENV: &str = "HEGUI_PYTHON";

const MARKER: &str = "hegui-openai-ready";

/// The path of a Python interpreter that can `import openai`; see the module docs.
///
/// The error says what failed (with the tool's output) and how to get around it.
pub fn openai_python() -> Result<PathBuf, String> {
    openai_python_inner()
}

/// Runs `script` with the `openai` interpreter and `args`, for tests against local servers: no
/// proxy and no `OPENAI_*` settings from the environment leak in. Returns (success, stdout,
/// stderr).
pub fn run_openai_script(
    script: &std::path::Path,
    args: &[String],
) -> Result<(bool, String, String), String> {
    let python = openai_python()?;
    let out = std::process::Command::new(&python)
        .arg(script)
        .args(args)
        // Local servers: never route them through a proxy from the environment.
        .env_remove("HTTP_PROXY")
        .env_remove("HTTPS_PROXY")
        .env_remove("ALL_PROXY")
        .env_remove("http_proxy")
        .env_remove("https_proxy")
        .env_remove("all_proxy")
        .env_remove("OPENAI_API_KEY")
        .env_remove("OPENAI_BASE_URL")
        .output()
        .map_err(|e| format!("running {}: {e}", python.display()))?;
    Ok((
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    ))
}

fn openai_python_inner() -> Result<PathBuf, String> {
    if let Some(python) = std::env::var_os(PYTHON_ENV).filter(|p| !p.is_empty()) {
        return Ok(PathBuf::from(python));
    }
    static READY: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    READY
        .get_or_init(|| ensure_venv(&target_dir().join("py-openai")))
        .clone()
}

/// The workspace's target directory: `CARGO_TARGET_DIR` (relative to the workspace root when it is
/// relative) or `<workspace>/target`.
pub fn target_dir() -> PathBuf {
    let root = workspace_root();
    match std::env::var_os("CARGO_TARGET_DIR").filter(|d| !d.is_empty()) {
        Some(dir) => root.join(dir),
        None => root.join("target"),
    }
}

/// The nearest ancestor of this crate whose `Cargo.toml` declares `[workspace]`.
fn workspace_root() -> PathBuf {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    here.ancestors()
        .find(|dir| {
            fs::read_to_string(dir.join("Cargo.toml")).is_ok_and(|t| t.contains("[workspace]"))
        })
        .unwrap_or(here)
        .to_path_buf()
}

fn venv_python(venv: &Path) -> PathBuf {
    if cfg!(windows) {
        venv.join("Scripts").join("python.exe")
    } else {
        venv.join("bin").join("python")
    }
}

fn is_ready(venv: &Path) -> bool {
    venv_python(venv).is_file()
        && fs::read_to_string(venv.join(MARKER)).is_ok_and(|v| v.trim() == OPENAI_VERSION)
}

fn ensure_venv(venv: &Path) -> Result<PathBuf, String> {
    let python = venv_python(venv);
    if is_ready(venv) {
        return Ok(python);
    }
    let parent = venv.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(parent).map_err(|e| format!("creating {}: {e}", parent.display()))?;
    let lock_path = parent.join("py-openai.lock");
    let lock =
        File::create(&lock_path).map_err(|e| format!("opening {}: {e}", lock_path.display()))?;
    lock.lock()
        .map_err(|e| format!("locking {}: {e}", lock_path.display()))?;
    // Another thread or process may have finished the install while we waited.
    if is_ready(venv) {
        return Ok(python);
    }
    if venv.exists() {
        fs::remove_dir_all(venv).map_err(|e| format!("removing {}: {e}", venv.display()))?;
    }
    let bootstrap = if cfg!(windows) { "python" } else { "python3" };
    run(Command::new(bootstrap).arg("-m").arg("venv").arg(venv))?;
    run(Command::new(&python).args([
        "-m",
        "pip",
        "install",
        "--disable-pip-version-check",
        "--no-input",
        "--quiet",
        &format!("openai=={OPENAI_VERSION}"),
    ]))?;
    run(Command::new(&python).args(["-c", "import openai"]))?;
    let tmp = venv.join(format!("{MARKER}.tmp"));
    fs::write(&tmp, OPENAI_VERSION)
        .and_then(|()| fs::rename(&tmp, venv.join(MARKER)))
        .map_err(|e| format!("writing the marker in {}: {e}", venv.display()))?;
    Ok(python)
}

fn run(cmd: &mut Command) -> Result<Output, String> {
    let shown = format!("{cmd:?}");
    let out = cmd.output().map_err(|e| {
        format!("{shown}: {e} (set {PYTHON_ENV} to a Python that has `openai` installed)")
    })?;
    if out.status.success() {
        return Ok(out);
    }
    Err(format!(
        "{shown} failed with {}:\n{}{}\n(set {PYTHON_ENV} to a Python that has `openai` installed)",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_workspace_target_dir() {
        let root = workspace_root();
        assert!(
            root.join("crates").join("hegui-testkit").is_dir(),
            "{}",
            root.display()
        );
        assert!(target_dir().starts_with(&root) || std::env::var_os("CARGO_TARGET_DIR").is_some());
    }
}
