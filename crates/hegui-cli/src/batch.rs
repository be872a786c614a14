//! Running one operation over many files: directory walking, output paths, parallelism, a
//! progress bar on a terminal, and a failure list that never stops the batch.

use anyhow::{Context, Result, bail};
use indicatif::{ProgressBar, ProgressStyle};
use rayon::prelude::*;
use std::path::{Path, PathBuf};

/// One file to process and where its result goes.
#[derive(Debug, Clone)]
pub struct Job {
    /// The input.
    pub input: PathBuf,
    /// The output (equal to `input` in place).
    pub output: PathBuf,
}

/// Expands files and directories into inputs. Files named explicitly are always included;
/// files found by recursion are included when `keep` says so (e.g. a format hegui knows).
pub fn expand(paths: &[PathBuf], keep: impl Fn(&Path) -> bool) -> Result<Vec<(PathBuf, PathBuf)>> {
    let mut out = Vec::new();
    for root in paths {
        let meta = std::fs::metadata(root).with_context(|| format!("{}", root.display()))?;
        if meta.is_dir() {
            let mut stack = vec![root.clone()];
            while let Some(dir) = stack.pop() {
                let mut entries: Vec<_> = std::fs::read_dir(&dir)
                    .with_context(|| format!("{}", dir.display()))?
                    .collect::<Result<_, _>>()
                    .with_context(|| format!("{}", dir.display()))?;
                entries.sort_by_key(|e| e.file_name());
                for entry in entries {
                    let path = entry.path();
                    let ft = entry
                        .file_type()
                        .with_context(|| format!("{}", path.display()))?;
                    if ft.is_dir() {
                        stack.push(path);
                    } else if ft.is_file() && keep(&path) {
                        let rel = path.strip_prefix(root).unwrap_or(&path).to_path_buf();
                        out.push((path, rel));
                    }
                }
            }
        } else {
            let name = root
                .file_name()
                .map(PathBuf::from)
                .unwrap_or_else(|| root.clone());
            out.push((root.clone(), name));
        }
    }
    Ok(out)
}

/// Pairs inputs with outputs under `out_dir`, or with themselves in place.
pub fn jobs(inputs: Vec<(PathBuf, PathBuf)>, out_dir: Option<&Path>) -> Result<Vec<Job>> {
    let mut jobs = Vec::with_capacity(inputs.len());
    for (input, rel) in inputs {
        let output = match out_dir {
            Some(dir) => {
                let out = dir.join(rel);
                if let Some(parent) = out.parent() {
                    std::fs::create_dir_all(parent)
                        .with_context(|| format!("creating {}", parent.display()))?;
                }
                if same_file(&input, &out) {
                    bail!(
                        "{}: the output directory holds the input itself; use --in-place to replace inputs",
                        input.display()
                    );
                }
                out
            }
            None => input.clone(),
        };
        jobs.push(Job { input, output });
    }
    Ok(jobs)
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (std::fs::canonicalize(a), std::fs::canonicalize(b)) {
        (Ok(x), Ok(y)) => x == y,
        _ => false,
    }
}

/// Runs `f` over `items` in parallel with a progress bar (drawn only on a terminal) and returns
/// the results in input order.
pub fn run<T: Sync, R: Send>(items: &[T], verb: &str, f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let bar = ProgressBar::new(items.len() as u64);
    if let Ok(style) = ProgressStyle::with_template("{msg} {bar:40} {pos}/{len} [{elapsed}]") {
        bar.set_style(style);
    }
    bar.set_message(verb.to_string());
    let results = items
        .par_iter()
        .map(|item| {
            let r = f(item);
            bar.inc(1);
            r
        })
        .collect();
    bar.finish_and_clear();
    results
}
