//! RIFF chunk walking shared by the WebP and WAV modules.
//!
//! A RIFF file is `RIFF` + little-endian u32 size + a four-byte form type (`WEBP`, `WAVE`),
//! followed by chunks: a FourCC, a u32 payload size, the payload and a pad byte when the size is
//! odd. [`open`] reads the header and decides where the chunk region ends; [`Chunks`] walks the
//! chunks of a region (the whole file, or the payload of a `LIST`) one header at a time, so a
//! caller can read or copy a chunk's payload between steps without the walker borrowing `src`.
//!
//! The key decision is tolerance of a RIFF size that disagrees with the file length, because
//! real files get it wrong (streaming recorders write 0 or 0xFFFFFFFF; tools append a chunk and
//! forget the size): when the chunks tile the whole file cleanly the region is the whole file,
//! otherwise it is what the header declares, and bytes after it are "trailing data" that writers
//! carry over unchanged. Either way a note says so. RF64/BW64 (64-bit sizes) and big-endian RIFX
//! are refused as unsupported.

use super::{FormatError, ReadSeek, io};
use std::io::{SeekFrom, Write};

/// How many chunk headers [`open`] reads when checking whether the chunks tile the file.
const PROBE_STEPS: u32 = 100_000;

/// The header of a RIFF file and the byte range its chunks occupy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Riff {
    /// The form type after the size (`WEBP`, `WAVE`).
    pub(crate) form: [u8; 4],
    /// The size field of the header, as stored.
    pub(crate) declared_size: u32,
    /// The length of the whole file.
    pub(crate) file_len: u64,
    /// The end (exclusive) of the chunk region; chunks start at offset 12.
    pub(crate) end: u64,
    /// Observations about the header (size disagreements, trailing data).
    pub(crate) notes: Vec<String>,
}

impl Riff {
    /// A walker over the top-level chunks.
    pub(crate) fn chunks(&self) -> Chunks {
        Chunks::new(12, self.end)
    }

    /// Bytes after the chunk region that are not part of the RIFF (kept by writers).
    pub(crate) fn trailing(&self) -> u64 {
        self.file_len.saturating_sub(self.end)
    }
}

/// One chunk as found in the source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Chunk {
    /// The FourCC.
    pub(crate) id: [u8; 4],
    /// Offset of the chunk header in the source.
    pub(crate) offset: u64,
    /// The payload size as declared in the header.
    pub(crate) size: u32,
    /// Payload bytes actually present (less than `size` only when the chunk is truncated).
    pub(crate) len: u64,
    /// Whether the source has the pad byte after an odd payload (some writers omit the last one).
    pub(crate) pad: bool,
}

impl Chunk {
    /// Offset of the payload in the source.
    pub(crate) fn data_offset(&self) -> u64 {
        self.offset + 8
    }

    /// The chunk's size on disk when well formed: header, payload and pad byte.
    pub(crate) fn padded_size(&self) -> u64 {
        padded(u64::from(self.size))
    }

    /// True when the region ends before the declared payload does.
    pub(crate) fn truncated(&self) -> bool {
        self.len < u64::from(self.size)
    }

    /// The FourCC for messages and locations (non-printable bytes escaped).
    pub(crate) fn id_str(&self) -> String {
        fourcc_str(&self.id)
    }
}

/// Header, payload and pad byte of a chunk with a `payload`-byte payload.
pub(crate) fn padded(payload: u64) -> u64 {
    8 + payload + (payload & 1)
}

/// A FourCC for people: printable ASCII as is, other bytes as `\xNN`.
pub(crate) fn fourcc_str(id: &[u8; 4]) -> String {
    id.iter()
        .map(|&b| {
            if (0x20..0x7f).contains(&b) {
                char::from(b).to_string()
            } else {
                format!("\\x{b:02x}")
            }
        })
        .collect()
}

/// A cursor over the chunks of the byte range `[start, end)`.
///
/// Each step reads one 8-byte header; the number of steps is bounded by the range length / 8.
#[derive(Debug, Clone)]
pub(crate) struct Chunks {
    pos: u64,
    end: u64,
    stray: Option<(u64, u64)>,
}

impl Chunks {
    /// A walker over the chunks stored in `[start, end)`.
    pub(crate) fn new(start: u64, end: u64) -> Self {
        Chunks {
            pos: start,
            end,
            stray: None,
        }
    }

    /// Fewer than 8 bytes left over at the end of the range (offset, length), if the walk met any.
    /// They cannot hold a chunk; writers drop them.
    pub(crate) fn stray(&self) -> Option<(u64, u64)> {
        self.stray
    }

    /// The next chunk, or `None` at the end of the range. A chunk whose payload runs past the
    /// range is returned once with [`Chunk::truncated`] set, and ends the walk.
    pub(crate) fn next(&mut self, src: &mut dyn ReadSeek) -> Result<Option<Chunk>, FormatError> {
        if self.pos >= self.end {
            return Ok(None);
        }
        let left = self.end - self.pos;
        if left < 8 {
            self.stray = Some((self.pos, left));
            self.pos = self.end;
            return Ok(None);
        }
        src.seek(SeekFrom::Start(self.pos))?;
        let mut head = [0u8; 8];
        io::read_exact(src, &mut head, "RIFF chunk header")?;
        let id = [head[0], head[1], head[2], head[3]];
        let size = u32::from_le_bytes([head[4], head[5], head[6], head[7]]);
        let offset = self.pos;
        let data_offset = offset + 8;
        let room = self.end - data_offset;
        let len = u64::from(size).min(room);
        let mut pad = false;
        if len < u64::from(size) {
            self.pos = self.end;
        } else {
            let mut next = data_offset + len;
            if size & 1 == 1 && next < self.end {
                pad = true;
                next += 1;
            }
            self.pos = next;
        }
        Ok(Some(Chunk {
            id,
            offset,
            size,
            len,
            pad,
        }))
    }
}

/// Reads the RIFF header, checks the form type and decides the chunk region (see the module doc).
///
/// `what` names the format in errors (`"WebP"`, `"WAV"`).
pub(crate) fn open(
    src: &mut dyn ReadSeek,
    form: &[u8; 4],
    what: &'static str,
) -> Result<Riff, FormatError> {
    src.seek(SeekFrom::Start(0))?;
    let file_len = io::len(src)?;
    let mut head = [0u8; 12];
    io::read_exact(src, &mut head, "RIFF header")?;
    let magic = [head[0], head[1], head[2], head[3]];
    match &magic {
        b"RIFF" => {}
        b"RF64" | b"BW64" => {
            return Err(FormatError::Unsupported(format!(
                "{} ({what} with 64-bit sizes) is not supported; only classic RIFF files up to 4 GiB are",
                fourcc_str(&magic)
            )));
        }
        b"RIFX" => {
            return Err(FormatError::Unsupported(
                "RIFX (big-endian RIFF) is not supported".into(),
            ));
        }
        _ => {
            return Err(FormatError::malformed(format!(
                "{what}: not a RIFF file (starts with {})",
                fourcc_str(&magic)
            )));
        }
    }
    let form_found = [head[8], head[9], head[10], head[11]];
    if &form_found != form {
        return Err(FormatError::malformed(format!(
            "{what}: RIFF form type is {}, expected {}",
            fourcc_str(&form_found),
            fourcc_str(form)
        )));
    }
    let declared_size = u32::from_le_bytes([head[4], head[5], head[6], head[7]]);
    let declared_end = 8 + u64::from(declared_size);
    let mut notes = Vec::new();
    let end = if declared_end == file_len {
        file_len
    } else if declared_size == 0 || declared_size == u32::MAX || declared_end > file_len {
        notes.push(format!(
            "RIFF size field says {declared_end} bytes but the file has {file_len} \
             (streamed or truncated); walking chunks to the end of the file"
        ));
        file_len
    } else if declared_end < 12 {
        return Err(FormatError::malformed(format!(
            "{what}: RIFF size {declared_size} is smaller than the form type"
        )));
    } else if tiles(src, 12, file_len)? {
        notes.push(format!(
            "RIFF size field says {declared_end} bytes but chunks continue to the end of the \
             file ({file_len} bytes); all of them are used"
        ));
        file_len
    } else {
        notes.push(format!(
            "{} bytes of trailing data after the RIFF end at offset {declared_end}",
            file_len - declared_end
        ));
        declared_end
    };
    Ok(Riff {
        form: form_found,
        declared_size,
        file_len,
        end,
        notes,
    })
}

/// True when printable-FourCC chunks cover `[start, end)` exactly (a missing final pad allowed).
fn tiles(src: &mut dyn ReadSeek, start: u64, end: u64) -> Result<bool, FormatError> {
    let mut walk = Chunks::new(start, end);
    for _ in 0..PROBE_STEPS {
        match walk.next(src)? {
            None => return Ok(walk.stray().is_none()),
            Some(c) => {
                if c.truncated() || !c.id.iter().all(|b| (0x20..0x7f).contains(b)) {
                    return Ok(false);
                }
            }
        }
    }
    Ok(false)
}

/// Writes a chunk header.
pub(crate) fn write_header(
    dst: &mut dyn Write,
    id: &[u8; 4],
    size: u32,
) -> Result<(), FormatError> {
    dst.write_all(id)?;
    dst.write_all(&size.to_le_bytes())?;
    Ok(())
}

/// Writes a whole chunk (header, `data`, pad byte if odd). Fails if `data` exceeds a u32 size.
pub(crate) fn write_chunk(
    dst: &mut dyn Write,
    id: &[u8; 4],
    data: &[u8],
) -> Result<(), FormatError> {
    let size = u32::try_from(data.len()).map_err(|_| FormatError::TooLarge {
        what: "RIFF chunk",
        size: data.len() as u64,
        limit: u64::from(u32::MAX),
    })?;
    write_header(dst, id, size)?;
    dst.write_all(data)?;
    if size & 1 == 1 {
        dst.write_all(&[0])?;
    }
    Ok(())
}

/// Copies a complete (not truncated) chunk from `src` to `dst` byte for byte, supplying a zero
/// pad byte when the source omitted it.
pub(crate) fn copy_chunk(
    src: &mut dyn ReadSeek,
    dst: &mut dyn Write,
    chunk: &Chunk,
) -> Result<(), FormatError> {
    if chunk.truncated() {
        return Err(FormatError::Truncated("RIFF chunk data"));
    }
    src.seek(SeekFrom::Start(chunk.offset))?;
    io::copy_n(src, dst, 8 + chunk.len, "RIFF chunk data")?;
    if chunk.size & 1 == 1 {
        if chunk.pad {
            io::copy_n(src, dst, 1, "RIFF pad byte")?;
        } else {
            dst.write_all(&[0])?;
        }
    }
    Ok(())
}

/// The RIFF size field for a file whose chunks (after the form type) take `chunks_len` bytes.
pub(crate) fn riff_size(chunks_len: u64) -> Result<u32, FormatError> {
    let total = chunks_len + 4;
    u32::try_from(total).map_err(|_| FormatError::TooLarge {
        what: "RIFF file (a 32-bit RIFF size field)",
        size: total,
        limit: u64::from(u32::MAX),
    })
}

/// Builds a RIFF file from chunks, for tests. Odd payloads get a pad byte.
#[cfg(test)]
#[allow(clippy::unwrap_used)]
pub(crate) fn build(form: &[u8; 4], chunks: &[(&[u8; 4], &[u8])]) -> Vec<u8> {
    let mut body = Vec::new();
    for (id, data) in chunks {
        write_chunk(&mut body, id, data).unwrap();
    }
    let mut out = b"RIFF".to_vec();
    out.extend_from_slice(&((body.len() + 4) as u32).to_le_bytes());
    out.extend_from_slice(form);
    out.extend_from_slice(&body);
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::io::Cursor;

    fn walk(bytes: &[u8], form: &[u8; 4]) -> (Riff, Vec<Chunk>) {
        let mut src = Cursor::new(bytes.to_vec());
        let riff = open(&mut src, form, "test").unwrap();
        let mut chunks = Vec::new();
        let mut walk = riff.chunks();
        while let Some(c) = walk.next(&mut src).unwrap() {
            chunks.push(c);
        }
        (riff, chunks)
    }

    #[test]
    fn riff_walks_chunks_with_padding() {
        let file = build(b"WAVE", &[(b"fmt ", &[1, 2, 3]), (b"data", &[9; 4])]);
        let (riff, chunks) = walk(&file, b"WAVE");
        assert!(riff.notes.is_empty());
        assert_eq!(riff.end, file.len() as u64);
        assert_eq!(chunks.len(), 2);
        assert_eq!(&chunks[0].id, b"fmt ");
        assert_eq!(chunks[0].offset, 12);
        assert_eq!(chunks[0].size, 3);
        assert!(chunks[0].pad);
        assert_eq!(chunks[0].padded_size(), 12);
        assert_eq!(chunks[1].offset, 24);
        assert_eq!(chunks[1].data_offset(), 32);
    }

    #[test]
    fn riff_missing_final_pad_is_tolerated() {
        let mut file = build(b"WAVE", &[(b"data", &[1, 2, 3])]);
        file.pop();
        let size = (file.len() - 8) as u32;
        file[4..8].copy_from_slice(&size.to_le_bytes());
        let (_, chunks) = walk(&file, b"WAVE");
        assert_eq!(chunks.len(), 1);
        assert!(!chunks[0].pad);
        assert!(!chunks[0].truncated());
        let mut out = Vec::new();
        copy_chunk(&mut Cursor::new(file), &mut out, &chunks[0]).unwrap();
        assert_eq!(out, b"data\x03\0\0\0\x01\x02\x03\0");
    }

    #[test]
    fn riff_size_too_small_but_chunks_tile_uses_whole_file() {
        let mut file = build(b"WAVE", &[(b"fmt ", &[0; 4]), (b"data", &[0; 4])]);
        file[4..8].copy_from_slice(&16u32.to_le_bytes());
        let (riff, chunks) = walk(&file, b"WAVE");
        assert_eq!(chunks.len(), 2);
        assert_eq!(riff.end, file.len() as u64);
        assert_eq!(riff.notes.len(), 1);
    }

    #[test]
    fn riff_trailing_junk_is_outside_the_region() {
        let mut file = build(b"WAVE", &[(b"data", &[0; 4])]);
        let riff_len = file.len() as u64;
        file.extend_from_slice(b"TAG\x01\x02\x03\x04\x05 junk after the riff");
        let (riff, chunks) = walk(&file, b"WAVE");
        assert_eq!(chunks.len(), 1);
        assert_eq!(riff.end, riff_len);
        assert_eq!(riff.trailing(), file.len() as u64 - riff_len);
        assert_eq!(riff.notes.len(), 1);
    }

    #[test]
    fn riff_streamed_size_walks_to_eof_and_flags_truncation() {
        let mut file = build(b"WAVE", &[(b"fmt ", &[0; 4])]);
        file[4..8].copy_from_slice(&u32::MAX.to_le_bytes());
        file.extend_from_slice(b"data\xff\xff\xff\xff\x01\x02\x03");
        let (riff, chunks) = walk(&file, b"WAVE");
        assert_eq!(riff.notes.len(), 1);
        assert_eq!(chunks.len(), 2);
        assert!(chunks[1].truncated());
        assert_eq!(chunks[1].len, 3);
    }

    #[test]
    fn riff_stray_bytes_end_the_walk() {
        let mut file = build(b"WAVE", &[(b"data", &[0; 4])]);
        file.extend_from_slice(&[0, 0, 0]);
        let size = (file.len() - 8) as u32;
        file[4..8].copy_from_slice(&size.to_le_bytes());
        let mut src = Cursor::new(file);
        let riff = open(&mut src, b"WAVE", "test").unwrap();
        let mut w = riff.chunks();
        assert!(w.next(&mut src).unwrap().is_some());
        assert!(w.next(&mut src).unwrap().is_none());
        assert_eq!(w.stray(), Some((24, 3)));
    }

    #[test]
    fn riff_rf64_and_wrong_form_are_refused() {
        let mut file = build(b"WAVE", &[(b"data", &[0; 4])]);
        file[0..4].copy_from_slice(b"RF64");
        let err = open(&mut Cursor::new(file.clone()), b"WAVE", "WAV").unwrap_err();
        assert!(
            matches!(err, FormatError::Unsupported(ref m) if m.contains("RF64")),
            "{err}"
        );
        file[0..4].copy_from_slice(b"RIFF");
        let err = open(&mut Cursor::new(file), b"WEBP", "WebP").unwrap_err();
        assert!(matches!(err, FormatError::Malformed(_)), "{err}");
        let err = open(&mut Cursor::new(b"RIFF\x04".to_vec()), b"WAVE", "WAV").unwrap_err();
        assert!(matches!(err, FormatError::Truncated(_)), "{err}");
    }

    proptest::proptest! {
        #[test]
        fn riff_walk_never_panics(
            size in proptest::num::u32::ANY,
            bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..200),
        ) {
            let mut data = b"RIFF".to_vec();
            data.extend_from_slice(&size.to_le_bytes());
            data.extend_from_slice(b"WAVE");
            data.extend_from_slice(&bytes);
            let mut src = Cursor::new(data);
            if let Ok(riff) = open(&mut src, b"WAVE", "test") {
                let mut w = riff.chunks();
                for _ in 0..100 {
                    match w.next(&mut src) {
                        Ok(Some(_)) => {}
                        _ => break,
                    }
                }
            }
        }
    }
}
