//! Reading and writing the `hegui-library/1` JSON Lines file, atomically, and its snapshots.

use super::{Entry, FORMAT, FeatureLibrary, Header, LibraryError};
use crate::pattern::Pattern;
use hegui_core::UnixMillis;
use std::io::Write;
use std::path::{Path, PathBuf};

/// RFC 3339 UTC text for a time, as written in library files.
pub(crate) fn rfc3339(ms: UnixMillis) -> String {
    match jiff::Timestamp::from_millisecond(ms) {
        Ok(t) => t.to_string(),
        Err(_) => ms.to_string(),
    }
}

/// The directory that holds a library's snapshots: `PATH.versions`.
pub fn snapshot_dir(library: &Path) -> PathBuf {
    let mut s = library.as_os_str().to_owned();
    s.push(".versions");
    PathBuf::from(s)
}

/// The snapshot file of `version`: `PATH.versions/vNNNNNN.jsonl`.
pub fn snapshot_path(library: &Path, version: u64) -> PathBuf {
    snapshot_dir(library).join(format!("v{version:06}.jsonl"))
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> LibraryError + '_ {
    move |source| LibraryError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// Writes `bytes` to `path` through a temp file in the same directory, fsync and rename, so a
/// reader never sees half a library and a failed write leaves the old file intact.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), LibraryError> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result.map_err(io_err(path))
}

impl FeatureLibrary {
    /// Parses a library file's text, validating every entry (known category, patterns parse,
    /// unique ids). Errors name the line.
    pub fn parse(text: &str) -> Result<Self, LibraryError> {
        let mut lines = text
            .lines()
            .enumerate()
            .map(|(i, l)| (i + 1, l))
            .filter(|(_, l)| !l.trim().is_empty());
        let Some((hline, hl)) = lines.next() else {
            return Err(LibraryError::NotALibrary);
        };
        let header: Header = serde_json::from_str(hl).map_err(|e| syntax(hline, hl, &e))?;
        if header.format != FORMAT {
            return Err(LibraryError::NotALibrary);
        }
        let mut lib = FeatureLibrary {
            header,
            entries: Default::default(),
        };
        for (line, l) in lines {
            let entry: Entry = serde_json::from_str(l).map_err(|e| syntax(line, l, &e))?;
            entry.validate()?;
            if lib.entries.contains_key(&entry.id) {
                return Err(LibraryError::DuplicateId { line, id: entry.id });
            }
            lib.entries.insert(entry.id.clone(), entry);
        }
        Ok(lib)
    }

    /// The file text: header line, then one line per entry sorted by id.
    pub fn to_jsonl(&self) -> String {
        let mut out = String::new();
        // Serialising our own plain structs cannot fail.
        out.push_str(&serde_json::to_string(&self.header).unwrap_or_default());
        out.push('\n');
        for e in self.entries.values() {
            out.push_str(&serde_json::to_string(e).unwrap_or_default());
            out.push('\n');
        }
        out
    }

    /// Reads and parses a library file.
    pub fn load(path: &Path) -> Result<Self, LibraryError> {
        let text = std::fs::read_to_string(path).map_err(io_err(path))?;
        Self::parse(&text)
    }

    /// Writes the library to `path` atomically (no snapshot, no version change).
    pub fn save(&self, path: &Path) -> Result<(), LibraryError> {
        write_atomic(path, self.to_jsonl().as_bytes())
    }

    /// Writes the immutable snapshot of the current version. Writing the same content again is a
    /// no-op; different content under an existing version is refused.
    pub fn write_snapshot(&self, library: &Path) -> Result<PathBuf, LibraryError> {
        let path = snapshot_path(library, self.header.version);
        let text = self.to_jsonl();
        match std::fs::read_to_string(&path) {
            Ok(existing) if existing == text => return Ok(path),
            Ok(_) => {
                return Err(LibraryError::SnapshotExists {
                    path: path.display().to_string(),
                });
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_err(&path)(e)),
        }
        let dir = snapshot_dir(library);
        std::fs::create_dir_all(&dir).map_err(io_err(&dir))?;
        write_atomic(&path, text.as_bytes())?;
        Ok(path)
    }

    /// Records a change: bumps the version, stamps `updated_at`, saves `path` atomically and
    /// writes the new version's snapshot.
    pub fn commit(&mut self, path: &Path, now: UnixMillis) -> Result<PathBuf, LibraryError> {
        self.header.version += 1;
        self.header.updated_at = Some(rfc3339(now));
        self.save(path)?;
        self.write_snapshot(path)
    }
}

impl Entry {
    /// Checks the category and every pattern.
    pub fn validate(&self) -> Result<(), LibraryError> {
        if crate::taxonomy::get(&self.category).is_none() {
            return Err(LibraryError::UnknownCategory {
                id: self.id.clone(),
                category: self.category.clone(),
            });
        }
        for p in &self.patterns {
            Pattern::parse(p).map_err(|e| LibraryError::Pattern {
                id: self.id.clone(),
                pattern: p.clone(),
                span: e.span,
                message: e.message,
            })?;
        }
        Ok(())
    }
}

fn syntax(line: usize, text: &str, e: &serde_json::Error) -> LibraryError {
    // serde_json reports a 1-based column in characters of this one-line document.
    let col = e.column().saturating_sub(1);
    let start = text.char_indices().nth(col).map_or(text.len(), |(i, _)| i);
    LibraryError::Syntax {
        line,
        span: start..text.len().min(start + 1).max(start),
        message: e.to_string(),
    }
}
