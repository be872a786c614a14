//! Writing a file without ever exposing a partial one: temp file in the target's directory,
//! fsync, rename. An input is never modified unless the caller names it as the output, and then
//! only through the same rename, so a crash or an error leaves the original intact.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

/// Writes `target` atomically: `fill` writes into a buffered temporary file in the same
/// directory; only if it succeeds is the file flushed, fsynced and renamed over `target`.
/// On any error the temporary file is removed and `target` is untouched. `on_io` turns the
/// function's own IO failures into the caller's error type.
pub fn write_atomic<E>(
    target: &Path,
    permissions_from: Option<&Path>,
    on_io: impl Fn(std::io::Error) -> E,
    fill: impl FnOnce(&mut BufWriter<File>) -> Result<(), E>,
) -> Result<(), E> {
    let dir = match target.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let tmp = tempfile::Builder::new()
        .prefix(".hegui-")
        .suffix(".tmp")
        .tempfile_in(dir)
        .map_err(&on_io)?;
    let (file, tmp_path) = tmp.into_parts();
    let mut out = BufWriter::with_capacity(256 * 1024, file);
    fill(&mut out)?;
    out.flush().map_err(&on_io)?;
    let file = out.into_inner().map_err(|e| on_io(e.into_error()))?;
    if let Some(meta) = permissions_from.and_then(|src| std::fs::metadata(src).ok()) {
        file.set_permissions(meta.permissions()).map_err(&on_io)?;
    }
    file.sync_all().map_err(&on_io)?;
    drop(file);
    tmp_path.persist(target).map_err(|e| on_io(e.error))?;
    // Make the rename itself durable where the platform allows syncing a directory.
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failed_write_leaves_target_and_no_temp() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("a.bin");
        std::fs::write(&target, b"original").unwrap();
        let r: Result<(), std::io::Error> = write_atomic(
            &target,
            None,
            |e| e,
            |w| {
                w.write_all(b"partial")?;
                Err(std::io::Error::other("boom"))
            },
        );
        assert!(r.is_err());
        assert_eq!(std::fs::read(&target).unwrap(), b"original");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn successful_write_replaces() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("a.bin");
        std::fs::write(&target, b"original").unwrap();
        write_atomic(&target, Some(&target), |e| e, |w| w.write_all(b"new")).unwrap();
        assert_eq!(std::fs::read(&target).unwrap(), b"new");
    }
}
