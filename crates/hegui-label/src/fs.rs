//! Writing a file without ever exposing a partial one: temp file in the target's directory,
//! fsync, rename. An input is never modified unless the caller names it as the output, and then
//! only through the same rename, so a crash or an error leaves the original intact.

use std::fs::File;
use std::io::{BufWriter, Read, Seek, SeekFrom, Write};
use std::path::Path;

/// A buffered reader whose seeks stay inside the buffer when they can.
///
/// `std::io::BufReader::seek` discards its buffer on every call, so a container walker that
/// reads an 8-byte chunk header and seeks past an 8 KiB payload refills the whole buffer per
/// chunk: on a PNG with thousands of IDAT chunks that reads the file dozens of times over. Here a
/// seek to a position still in the buffer only moves the cursor, and large reads bypass the
/// buffer (`BufReader::seek_relative` would help only callers that know the concrete type; the
/// format modules see `&mut dyn ReadSeek`).
pub struct SeekBufReader<R> {
    inner: R,
    buf: Box<[u8]>,
    /// Absolute offset of `buf[0]` in `inner`.
    buf_start: u64,
    /// Cursor inside `buf`.
    pos: usize,
    /// Valid bytes in `buf`.
    filled: usize,
}

impl<R: Read + Seek> SeekBufReader<R> {
    /// Wraps `inner` (positioned at its start) with a buffer of `capacity` bytes.
    pub fn with_capacity(capacity: usize, inner: R) -> Self {
        Self {
            inner,
            buf: vec![0; capacity.max(64)].into_boxed_slice(),
            buf_start: 0,
            pos: 0,
            filled: 0,
        }
    }

    fn position(&self) -> u64 {
        self.buf_start + self.pos as u64
    }
}

impl<R: Read + Seek> Read for SeekBufReader<R> {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        if self.pos == self.filled {
            let at = self.position();
            if out.len() >= self.buf.len() {
                // A large read gains nothing from the buffer.
                let n = self.inner.read(out)?;
                self.buf_start = at + n as u64;
                self.pos = 0;
                self.filled = 0;
                return Ok(n);
            }
            self.buf_start = at;
            self.pos = 0;
            self.filled = self.inner.read(&mut self.buf)?;
        }
        let n = out.len().min(self.filled - self.pos);
        out[..n].copy_from_slice(&self.buf[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

impl<R: Read + Seek> Seek for SeekBufReader<R> {
    fn seek(&mut self, to: SeekFrom) -> std::io::Result<u64> {
        let target = match to {
            SeekFrom::Start(n) => Some(n),
            SeekFrom::Current(d) => self.position().checked_add_signed(d),
            SeekFrom::End(_) => None,
        };
        if let Some(t) = target
            && t >= self.buf_start
            && t <= self.buf_start + self.filled as u64
        {
            // Within the buffer (the difference is at most `filled`, so it fits a usize).
            self.pos = usize::try_from(t - self.buf_start).unwrap_or(self.filled);
            return Ok(t);
        }
        // The inner reader sits at `buf_start + filled`; express relative seeks from the
        // logical position, which is where the caller thinks it is.
        let abs = match to {
            SeekFrom::Current(d) => {
                let here = self.position();
                self.inner.seek(SeekFrom::Start(here))?;
                self.inner.seek(SeekFrom::Current(d))?
            }
            other => self.inner.seek(other)?,
        };
        self.buf_start = abs;
        self.pos = 0;
        self.filled = 0;
        Ok(abs)
    }
}

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
    use std::io::Cursor;

    #[test]
    fn seek_buf_reader_reads_like_the_data() {
        let data: Vec<u8> = (0..10_000u32).map(|i| (i * 7 % 251) as u8).collect();
        let mut r = SeekBufReader::with_capacity(100, Cursor::new(data.clone()));
        let mut b = [0u8; 10];
        r.read_exact(&mut b).unwrap();
        assert_eq!(&b, &data[..10]);
        r.seek(SeekFrom::Current(30)).unwrap();
        r.read_exact(&mut b).unwrap();
        assert_eq!(&b, &data[40..50]);
        r.seek(SeekFrom::Start(5_000)).unwrap();
        r.read_exact(&mut b).unwrap();
        assert_eq!(&b, &data[5_000..5_010]);
        r.seek(SeekFrom::Current(-2_000)).unwrap();
        r.read_exact(&mut b).unwrap();
        assert_eq!(&b, &data[3_010..3_020]);
        assert_eq!(r.seek(SeekFrom::End(-5)).unwrap(), 9_995);
        let mut rest = Vec::new();
        r.read_to_end(&mut rest).unwrap();
        assert_eq!(rest, &data[9_995..]);
        let mut big = vec![0u8; 500];
        r.seek(SeekFrom::Start(1)).unwrap();
        r.read_exact(&mut big).unwrap();
        assert_eq!(big, &data[1..501]);
        assert_eq!(r.stream_position().unwrap(), 501);
    }

    proptest::proptest! {
        #[test]
        fn seek_buf_reader_matches_cursor(ops in proptest::collection::vec((0u8..4, 0u64..3000, 1usize..400), 1..40)) {
            let data: Vec<u8> = (0..2_500u32).map(|i| (i % 253) as u8).collect();
            let mut a = SeekBufReader::with_capacity(128, Cursor::new(data.clone()));
            let mut b = Cursor::new(data);
            for (op, n, len) in ops {
                let to = match op {
                    0 => SeekFrom::Start(n),
                    1 => SeekFrom::Current(n as i64 - 1500),
                    2 => SeekFrom::End(-((n % 2500) as i64)),
                    _ => SeekFrom::Current(0),
                };
                let ra = a.seek(to).ok();
                let rb = b.seek(to).ok();
                proptest::prop_assert_eq!(ra, rb);
                if rb.is_none() { break; }
                let mut x = vec![0; len];
                let mut y = vec![0; len];
                let na = a.read(&mut x).unwrap();
                let nb = b.read(&mut y).unwrap();
                // Short reads are allowed; compare what each returned against the data.
                proptest::prop_assert_eq!(&x[..na.min(nb)], &y[..na.min(nb)]);
                if na != nb {
                    let p = b.position() - nb as u64 + na as u64;
                    b.seek(SeekFrom::Start(p)).unwrap();
                }
            }
        }
    }

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
