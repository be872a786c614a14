//! ISO base media file format (ISO/IEC 14496-12) boxes: the bounded reader and writer shared by
//! [`super::mp4`] (MP4/MOV/M4A) and [`super::heif`] (HEIF/HEIC/AVIF).
//!
//! Both writers follow one plan: walk the top-level boxes by their headers only, load the one
//! metadata box they must change (`moov` or `meta`, bounded), rebuild it in memory, then stream
//! the file to the output box by box, copying media boxes (`mdat`) byte for byte. Growing a box
//! shifts every later byte, so every absolute file offset the file stores is remapped through an
//! [`OffsetMap`]: `stco`/`co64`/`saio` chunk offsets in `moov`, explicit `tfhd`
//! base_data_offset in `moof`, `tfra` moof offsets in `mfra`, and (in `heif`) `iloc` extents.
//!
//! Box sizes: 32-bit `size`, 64-bit `largesize` (`size == 1`) and `size == 0` ("to the end of the
//! enclosing box or file") are all accepted; boxes are written with the compact 32-bit form when
//! they fit.

use super::{FormatError, ReadSeek, io};
use std::io::{Read, SeekFrom, Write};

/// Largest `moov` (MP4) a writer or reader loads into memory. A two-hour film's `moov` is a few
/// MiB; anything larger is refused with [`FormatError::TooLarge`] rather than risking memory.
pub(crate) const MAX_IN_MEMORY_BOX: u64 = 64 << 20;

/// Most children parsed from one in-memory container; bounds the index we build for hostile
/// input (a 64 MiB box of empty 8-byte boxes would otherwise yield 8 million entries).
const MAX_CHILDREN: usize = 1 << 18;

/// `uuid` usertype of an XMP packet box (Adobe XMP specification part 3, MP4/MOV).
pub(crate) const XMP_UUID: [u8; 16] = [
    0xBE, 0x7A, 0xCF, 0xCB, 0x97, 0xA9, 0x42, 0xE8, 0x9C, 0x71, 0x99, 0x94, 0x91, 0xE3, 0xAF, 0xAC,
];

/// `uuid` usertype of a C2PA manifest store box (C2PA specification, BMFF embedding).
pub(crate) const C2PA_UUID: [u8; 16] = [
    0xD8, 0xFE, 0xC3, 0xD6, 0x1B, 0x0E, 0x48, 0x3C, 0x92, 0x97, 0x58, 0x28, 0x77, 0xEC, 0x48, 0x81,
];

/// Scan note for a file carrying a C2PA manifest store.
pub(crate) const C2PA_NOTE: &str = "C2PA manifest store (uuid box) present: it is kept, but \
     changing the label invalidates its hash binding unless the file is re-signed";

/// A box header read from a stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct BoxHeader {
    /// The four-character box type.
    pub typ: [u8; 4],
    /// Absolute offset of the first header byte.
    pub start: u64,
    /// 8, or 16 with a `largesize` (the `uuid` usertype is not counted: it is payload).
    pub header_len: u64,
    /// Total size including the header (resolved for `size == 0`).
    pub size: u64,
    /// True when the header says `size == 0` (the box runs to the end of the file).
    pub to_eof: bool,
    /// The usertype of a `uuid` box.
    pub uuid: Option<[u8; 16]>,
}

impl BoxHeader {
    /// Absolute offset just past the box.
    pub fn end(&self) -> u64 {
        // `read_header` checked that start + size does not exceed the file length.
        self.start.saturating_add(self.size)
    }

    /// Absolute offset of the payload (after size, type and largesize).
    pub fn payload_start(&self) -> u64 {
        self.start.saturating_add(self.header_len)
    }

    /// Payload length (the `uuid` usertype included).
    pub fn payload_len(&self) -> u64 {
        self.size.saturating_sub(self.header_len)
    }

    /// The header bytes exactly as they were in the file (same size encoding).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(16);
        if self.to_eof {
            out.extend_from_slice(&0u32.to_be_bytes());
            out.extend_from_slice(&self.typ);
        } else if self.header_len == 16 {
            out.extend_from_slice(&1u32.to_be_bytes());
            out.extend_from_slice(&self.typ);
            out.extend_from_slice(&self.size.to_be_bytes());
        } else {
            // header_len 8 means the size fitted in 32 bits when read.
            out.extend_from_slice(&u32::try_from(self.size).unwrap_or(0).to_be_bytes());
            out.extend_from_slice(&self.typ);
        }
        out
    }
}

/// A printable form of a box type for messages and locations (`©` for 0xA9).
pub(crate) fn fourcc(typ: &[u8; 4]) -> String {
    typ.iter()
        .map(|&b| {
            if b == 0xA9 {
                '©'
            } else if b.is_ascii_graphic() || b == b' ' {
                char::from(b)
            } else {
                '?'
            }
        })
        .collect()
}

/// Reads the box header at `start`, a box that must end by `end`.
pub(crate) fn read_header(
    src: &mut dyn ReadSeek,
    start: u64,
    end: u64,
) -> Result<BoxHeader, FormatError> {
    src.seek(SeekFrom::Start(start))?;
    let mut h = [0u8; 8];
    io::read_exact(src, &mut h, "box header")?;
    let size32 = u32::from_be_bytes([h[0], h[1], h[2], h[3]]);
    let typ = [h[4], h[5], h[6], h[7]];
    let avail = end.saturating_sub(start);
    let (size, header_len, to_eof) = match size32 {
        0 => (avail, 8, true),
        1 => {
            let mut l = [0u8; 8];
            io::read_exact(src, &mut l, "box largesize")?;
            (u64::from_be_bytes(l), 16, false)
        }
        n => (u64::from(n), 8, false),
    };
    if size < header_len {
        return Err(FormatError::malformed(format!(
            "box '{}' at offset {start} declares size {size}, smaller than its header",
            fourcc(&typ)
        )));
    }
    if size > avail {
        return Err(FormatError::Truncated(
            "ISO BMFF box (its size runs past the end of the file or parent box)",
        ));
    }
    let uuid = if &typ == b"uuid" {
        if size < header_len + 16 {
            return Err(FormatError::malformed(format!(
                "uuid box at offset {start} is too small for its usertype"
            )));
        }
        let mut u = [0u8; 16];
        io::read_exact(src, &mut u, "uuid usertype")?;
        Some(u)
    } else {
        None
    };
    Ok(BoxHeader {
        typ,
        start,
        header_len,
        size,
        to_eof,
        uuid,
    })
}

/// Iterates over the top-level boxes of a file by their headers, never reading payloads.
pub(crate) struct TopLevel {
    pos: u64,
    end: u64,
    /// Bytes after the last whole box that are too few for a box header (0 when none).
    pub trailing: u64,
}

impl TopLevel {
    /// Starts at offset 0 of a file of length `end`.
    pub fn new(end: u64) -> Self {
        TopLevel {
            pos: 0,
            end,
            trailing: 0,
        }
    }

    /// The next box header, or `None` at the end (see [`TopLevel::trailing`]).
    pub fn next_box(&mut self, src: &mut dyn ReadSeek) -> Result<Option<BoxHeader>, FormatError> {
        let left = self.end.saturating_sub(self.pos);
        if left == 0 {
            return Ok(None);
        }
        if left < 8 {
            // Some muxers leave a few padding bytes; they are kept verbatim by writers.
            self.trailing = left;
            self.pos = self.end;
            return Ok(None);
        }
        let h = read_header(src, self.pos, self.end)?;
        self.pos = h.end();
        Ok(Some(h))
    }
}

/// Reads a box payload into memory, refusing payloads over `cap` bytes.
pub(crate) fn read_payload(
    src: &mut dyn ReadSeek,
    h: &BoxHeader,
    cap: u64,
    what: &'static str,
) -> Result<Vec<u8>, FormatError> {
    let n = h.payload_len();
    if n > cap {
        return Err(FormatError::TooLarge {
            what,
            size: n,
            limit: cap,
        });
    }
    src.seek(SeekFrom::Start(h.payload_start()))?;
    let mut buf = Vec::new();
    // Reading through `take` grows the buffer only as bytes arrive, so a lying header on a
    // short file cannot make us allocate `n` up front.
    let got = src.take(n).read_to_end(&mut buf)?;
    if (got as u64) < n {
        return Err(FormatError::Truncated(what));
    }
    Ok(buf)
}

/// A child box inside an in-memory container, as byte ranges of that container.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Child {
    /// The four-character box type.
    pub typ: [u8; 4],
    /// Offset of the header.
    pub start: usize,
    /// Offset of the payload (after size, type and largesize; a `uuid` usertype is payload).
    pub body: usize,
    /// Offset just past the box.
    pub end: usize,
    /// The header said `size == 0` (runs to the end of the container).
    pub to_end: bool,
}

impl Child {
    /// The payload of this child within `buf`.
    pub fn payload<'a>(&self, buf: &'a [u8]) -> &'a [u8] {
        buf.get(self.body..self.end).unwrap_or(&[])
    }

    /// The whole box within `buf`, header included.
    pub fn whole<'a>(&self, buf: &'a [u8]) -> &'a [u8] {
        buf.get(self.start..self.end).unwrap_or(&[])
    }

    /// The usertype of a `uuid` child.
    pub fn uuid(&self, buf: &[u8]) -> Option<[u8; 16]> {
        if &self.typ != b"uuid" {
            return None;
        }
        self.payload(buf).get(..16)?.try_into().ok()
    }

    /// Appends this child to `out` unchanged, except that a `size == 0` header is made explicit
    /// (so the box stays valid if something is added after it).
    pub fn copy_to(&self, buf: &[u8], out: &mut Vec<u8>) {
        if self.to_end {
            push_box(out, self.typ, self.payload(buf));
        } else {
            out.extend_from_slice(self.whole(buf));
        }
    }
}

/// Parses the children of an in-memory container. Returns them and the offset where unparsable
/// trailing bytes (fewer than 8, e.g. QuickTime's 32-bit zero terminator in `udta`) begin.
pub(crate) fn children(buf: &[u8]) -> Result<(Vec<Child>, usize), FormatError> {
    let mut out = Vec::new();
    let mut pos = 0usize;
    while buf.len().saturating_sub(pos) >= 8 {
        if out.len() >= MAX_CHILDREN {
            return Err(FormatError::TooLarge {
                what: "box children",
                size: out.len() as u64,
                limit: MAX_CHILDREN as u64,
            });
        }
        let size32 = be_u32(buf, pos)?;
        let typ = fourcc_at(buf, pos + 4)?;
        let left = buf.len() - pos;
        let (size, header, to_end) = match size32 {
            0 => (left, 8usize, true),
            1 => {
                let large = be_u64(buf, pos + 8)?;
                (usize::try_from(large).unwrap_or(usize::MAX), 16, false)
            }
            n => (usize::try_from(n).unwrap_or(usize::MAX), 8, false),
        };
        if size < header || size > left {
            return Err(FormatError::malformed(format!(
                "box '{}' declares size {size} but {left} bytes remain in its parent",
                fourcc(&typ)
            )));
        }
        out.push(Child {
            typ,
            start: pos,
            body: pos + header,
            end: pos + size,
            to_end,
        });
        pos += size;
    }
    Ok((out, pos))
}

/// The bytes of a box with a compact header (or a `largesize` one when it does not fit).
pub(crate) fn make_box(typ: [u8; 4], payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() + 16);
    push_box(&mut out, typ, payload);
    out
}

/// Appends a box to `out` (see [`make_box`]).
pub(crate) fn push_box(out: &mut Vec<u8>, typ: [u8; 4], payload: &[u8]) {
    let total = payload.len() as u64 + 8;
    match u32::try_from(total) {
        Ok(n) => {
            out.extend_from_slice(&n.to_be_bytes());
            out.extend_from_slice(&typ);
        }
        Err(_) => {
            out.extend_from_slice(&1u32.to_be_bytes());
            out.extend_from_slice(&typ);
            out.extend_from_slice(&(total + 8).to_be_bytes());
        }
    }
    out.extend_from_slice(payload);
}

/// The total size [`make_box`] gives a payload of `len` bytes.
pub(crate) fn boxed_len(len: u64) -> u64 {
    if len + 8 <= u64::from(u32::MAX) {
        len + 8
    } else {
        len + 16
    }
}

/// Reads a big-endian `u16` at `at`.
pub(crate) fn be_u16(buf: &[u8], at: usize) -> Result<u16, FormatError> {
    let b = slice(buf, at, 2)?;
    Ok(u16::from_be_bytes([b[0], b[1]]))
}

/// Reads a big-endian `u32` at `at`.
pub(crate) fn be_u32(buf: &[u8], at: usize) -> Result<u32, FormatError> {
    let b = slice(buf, at, 4)?;
    Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
}

/// Reads a big-endian `u64` at `at`.
pub(crate) fn be_u64(buf: &[u8], at: usize) -> Result<u64, FormatError> {
    let b = slice(buf, at, 8)?;
    let mut a = [0u8; 8];
    a.copy_from_slice(b);
    Ok(u64::from_be_bytes(a))
}

/// Reads four bytes at `at` as a box type.
pub(crate) fn fourcc_at(buf: &[u8], at: usize) -> Result<[u8; 4], FormatError> {
    let b = slice(buf, at, 4)?;
    Ok([b[0], b[1], b[2], b[3]])
}

/// `buf[at..at + n]`, or a truncation error.
pub(crate) fn slice(buf: &[u8], at: usize, n: usize) -> Result<&[u8], FormatError> {
    at.checked_add(n)
        .and_then(|end| buf.get(at..end))
        .ok_or(FormatError::Truncated("box field"))
}

/// A forward reader over an in-memory box payload.
pub(crate) struct Cursor<'a> {
    buf: &'a [u8],
    /// Current offset in the buffer.
    pub pos: usize,
}

impl<'a> Cursor<'a> {
    /// Reads `buf` from offset 0.
    pub fn new(buf: &'a [u8]) -> Self {
        Cursor { buf, pos: 0 }
    }

    /// Bytes not yet read.
    pub fn remaining(&self) -> usize {
        self.buf.len().saturating_sub(self.pos)
    }

    /// Reads `n` bytes.
    pub fn bytes(&mut self, n: usize) -> Result<&'a [u8], FormatError> {
        let b = slice(self.buf, self.pos, n)?;
        self.pos += n;
        Ok(b)
    }

    /// Reads one byte.
    pub fn u8(&mut self) -> Result<u8, FormatError> {
        Ok(self.bytes(1)?[0])
    }

    /// Reads a big-endian `u16`.
    pub fn u16(&mut self) -> Result<u16, FormatError> {
        let v = be_u16(self.buf, self.pos)?;
        self.pos += 2;
        Ok(v)
    }

    /// Reads a big-endian `u32`.
    pub fn u32(&mut self) -> Result<u32, FormatError> {
        let v = be_u32(self.buf, self.pos)?;
        self.pos += 4;
        Ok(v)
    }

    /// Reads a big-endian unsigned integer of 0, 1, 2, 4 or 8 bytes.
    pub fn uint(&mut self, n: u8) -> Result<u64, FormatError> {
        match n {
            0 => Ok(0),
            1 => Ok(u64::from(self.u8()?)),
            2 => Ok(u64::from(self.u16()?)),
            4 => Ok(u64::from(self.u32()?)),
            8 => {
                let v = be_u64(self.buf, self.pos)?;
                self.pos += 8;
                Ok(v)
            }
            other => Err(FormatError::malformed(format!(
                "invalid integer field width {other}"
            ))),
        }
    }

    /// Reads a NUL-terminated string; a missing terminator ends the string at the buffer end
    /// (some writers omit the last NUL).
    pub fn cstr(&mut self) -> &'a [u8] {
        let rest = self.buf.get(self.pos..).unwrap_or(&[]);
        match rest.iter().position(|&b| b == 0) {
            Some(i) => {
                self.pos += i + 1;
                &rest[..i]
            }
            None => {
                self.pos = self.buf.len();
                rest
            }
        }
    }
}

/// Appends an unsigned integer of `n` bytes (0, 1, 2, 4 or 8), failing when it does not fit.
pub(crate) fn put_uint(out: &mut Vec<u8>, n: u8, v: u64) -> Result<(), FormatError> {
    let too_big = || FormatError::Unsupported(format!("value {v} does not fit in {n} bytes"));
    match n {
        0 if v == 0 => {}
        0 => return Err(too_big()),
        1 => out.push(u8::try_from(v).map_err(|_| too_big())?),
        2 => out.extend_from_slice(&u16::try_from(v).map_err(|_| too_big())?.to_be_bytes()),
        4 => out.extend_from_slice(&u32::try_from(v).map_err(|_| too_big())?.to_be_bytes()),
        8 => out.extend_from_slice(&v.to_be_bytes()),
        _ => return Err(too_big()),
    }
    Ok(())
}

/// One top-level box being replaced by new bytes of a possibly different length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Change {
    old_start: u64,
    old_end: u64,
    new_len: u64,
}

/// Maps absolute offsets of the input file to the output file when some top-level boxes are
/// replaced by longer or shorter ones. Offsets inside unchanged boxes move with their box;
/// offsets inside a replaced box have no image and are an error.
#[derive(Debug, Clone, Default)]
pub(crate) struct OffsetMap {
    changes: Vec<Change>,
}

impl OffsetMap {
    /// Records that the top-level box `[old_start, old_end)` becomes `new_len` bytes long.
    pub fn replace(&mut self, old_start: u64, old_end: u64, new_len: u64) {
        self.changes.push(Change {
            old_start,
            old_end,
            new_len,
        });
        self.changes.sort_by_key(|c| c.old_start);
    }

    /// True when no offset moves.
    pub fn is_identity(&self) -> bool {
        self.changes
            .iter()
            .all(|c| c.old_end.saturating_sub(c.old_start) == c.new_len)
    }

    /// Total growth of the file (may be negative).
    pub fn total_delta(&self) -> i128 {
        self.changes
            .iter()
            .map(|c| i128::from(c.new_len) - i128::from(c.old_end) + i128::from(c.old_start))
            .sum()
    }

    /// The output offset of input offset `old`.
    pub fn map(&self, old: u64) -> Result<u64, FormatError> {
        let mut delta: i128 = 0;
        for c in &self.changes {
            if old >= c.old_end {
                delta += i128::from(c.new_len) - i128::from(c.old_end) + i128::from(c.old_start);
            } else if old >= c.old_start {
                return Err(FormatError::Unsupported(format!(
                    "a stored file offset ({old}) points into a metadata box that is being \
                     rewritten; cannot relocate it"
                )));
            } else {
                break;
            }
        }
        u64::try_from(i128::from(old) + delta)
            .map_err(|_| FormatError::malformed(format!("file offset {old} cannot be relocated")))
    }
}

/// Rewrites every absolute offset inside a `moov` payload: `stco`, `co64` and `saio` (whose
/// offsets are absolute when in `moov`) in every `trak/mdia/minf/stbl`.
pub(crate) fn patch_moov_offsets(moov: &mut [u8], map: &OffsetMap) -> Result<(), FormatError> {
    if map.is_identity() {
        return Ok(());
    }
    for trak in of_type(moov, b"trak")? {
        let trak_buf = sub(moov, &trak)?;
        for mdia in of_type(trak_buf, b"mdia")? {
            let mdia_buf = sub(trak_buf, &mdia)?;
            for minf in of_type(mdia_buf, b"minf")? {
                let minf_buf = sub(mdia_buf, &minf)?;
                for stbl in of_type(minf_buf, b"stbl")? {
                    let stbl_buf = sub(minf_buf, &stbl)?;
                    let (kids, _) = children(stbl_buf)?;
                    for k in kids {
                        let body = sub(stbl_buf, &k)?;
                        match &k.typ {
                            b"stco" => patch_offset_table(body, 4, map, "stco")?,
                            b"co64" => patch_offset_table(body, 8, map, "co64")?,
                            b"saio" => patch_saio(body, map)?,
                            _ => {}
                        }
                    }
                }
            }
        }
    }
    Ok(())
}

/// Rewrites explicit `tfhd` base_data_offset values inside a `moof` payload. Fragments whose
/// track runs are relative to the `moof` (no explicit base) move with it and need nothing.
pub(crate) fn patch_moof_offsets(moof: &mut [u8], map: &OffsetMap) -> Result<(), FormatError> {
    if map.is_identity() {
        return Ok(());
    }
    for traf in of_type(moof, b"traf")? {
        let traf_buf = sub(moof, &traf)?;
        for tfhd in of_type(traf_buf, b"tfhd")? {
            let body = sub(traf_buf, &tfhd)?;
            let flags = be_u32(body, 0)? & 0x00FF_FFFF;
            if flags & 0x01 != 0 {
                // version/flags (4) + track_ID (4), then the 64-bit base_data_offset.
                let old = be_u64(body, 8)?;
                let new = map.map(old)?;
                write_at(body, 8, &new.to_be_bytes())?;
            }
        }
    }
    Ok(())
}

/// Rewrites the absolute `moof` offsets of every `tfra` inside an `mfra` payload.
pub(crate) fn patch_mfra_offsets(mfra: &mut [u8], map: &OffsetMap) -> Result<(), FormatError> {
    if map.is_identity() {
        return Ok(());
    }
    for tfra in of_type(mfra, b"tfra")? {
        let body = sub(mfra, &tfra)?;
        let version = slice(body, 0, 1)?[0];
        let sizes = be_u32(body, 8)?;
        let count = be_u32(body, 12)?;
        let wide = if version == 1 { 8 } else { 4 };
        let traf = (((sizes >> 4) & 3) + 1) as usize;
        let trun = (((sizes >> 2) & 3) + 1) as usize;
        let sample = ((sizes & 3) + 1) as usize;
        let entry = 2 * wide + traf + trun + sample;
        let mut pos = 16usize;
        for _ in 0..count {
            let at = pos + wide;
            let old = if wide == 8 {
                be_u64(body, at)?
            } else {
                u64::from(be_u32(body, at)?)
            };
            let new = map.map(old)?;
            write_offset(body, at, wide, new, "tfra moof_offset")?;
            pos = pos
                .checked_add(entry)
                .ok_or(FormatError::Truncated("tfra"))?;
        }
    }
    Ok(())
}

fn patch_offset_table(
    body: &mut [u8],
    width: usize,
    map: &OffsetMap,
    what: &'static str,
) -> Result<(), FormatError> {
    let count = be_u32(body, 4)? as usize;
    let need = count
        .checked_mul(width)
        .and_then(|n| n.checked_add(8))
        .ok_or(FormatError::Truncated(what))?;
    if need > body.len() {
        return Err(FormatError::Truncated(what));
    }
    for i in 0..count {
        let at = 8 + i * width;
        let old = if width == 8 {
            be_u64(body, at)?
        } else {
            u64::from(be_u32(body, at)?)
        };
        write_offset(body, at, width, map.map(old)?, what)?;
    }
    Ok(())
}

fn patch_saio(body: &mut [u8], map: &OffsetMap) -> Result<(), FormatError> {
    let version = slice(body, 0, 1)?[0];
    let flags = be_u32(body, 0)? & 0x00FF_FFFF;
    let mut pos = 4usize;
    if flags & 1 != 0 {
        pos += 8; // aux_info_type + aux_info_type_parameter
    }
    let count = be_u32(body, pos)? as usize;
    pos += 4;
    let width = if version == 0 { 4 } else { 8 };
    for i in 0..count {
        let at = i
            .checked_mul(width)
            .and_then(|n| n.checked_add(pos))
            .ok_or(FormatError::Truncated("saio"))?;
        let old = if width == 8 {
            be_u64(body, at)?
        } else {
            u64::from(be_u32(body, at)?)
        };
        write_offset(body, at, width, map.map(old)?, "saio")?;
    }
    Ok(())
}

fn write_offset(
    body: &mut [u8],
    at: usize,
    width: usize,
    v: u64,
    what: &'static str,
) -> Result<(), FormatError> {
    if width == 8 {
        write_at(body, at, &v.to_be_bytes())
    } else {
        let v32 = u32::try_from(v).map_err(|_| {
            FormatError::Unsupported(format!(
                "{what} offset {v} no longer fits in 32 bits after relocation (the table would \
                 have to become 64-bit)"
            ))
        })?;
        write_at(body, at, &v32.to_be_bytes())
    }
}

fn write_at(body: &mut [u8], at: usize, bytes: &[u8]) -> Result<(), FormatError> {
    let end = at
        .checked_add(bytes.len())
        .ok_or(FormatError::Truncated("box field"))?;
    body.get_mut(at..end)
        .ok_or(FormatError::Truncated("box field"))?
        .copy_from_slice(bytes);
    Ok(())
}

fn of_type(buf: &[u8], typ: &[u8; 4]) -> Result<Vec<Child>, FormatError> {
    Ok(children(buf)?
        .0
        .into_iter()
        .filter(|c| &c.typ == typ)
        .collect())
}

fn sub<'a>(buf: &'a mut [u8], c: &Child) -> Result<&'a mut [u8], FormatError> {
    buf.get_mut(c.body..c.end)
        .ok_or(FormatError::Truncated("box"))
}

/// A function that remaps the absolute offsets inside a box payload.
type OffsetPatcher = fn(&mut [u8], &OffsetMap) -> Result<(), FormatError>;

/// What [`stream_rewrite`] should do with the top-level boxes.
pub(crate) struct Rewrite<'a> {
    /// Top-level boxes replaced by new bytes (empty bytes drop the box), by old start offset.
    pub replacements: &'a [(BoxHeader, Vec<u8>)],
    /// The offset map implied by `replacements`.
    pub map: &'a OffsetMap,
    /// Bytes to write over input ranges `(start, bytes)` while copying (metadata updated in
    /// place inside `mdat`, or zeros over stale metadata). Patches must not overlap.
    pub patches: &'a [(u64, Vec<u8>)],
    /// Something will be appended after the last box: a `size == 0` box gets an explicit size.
    pub appending: bool,
}

/// Streams `src` to `dst` box by box: replaced boxes are written from memory, `moov`, `moof`
/// and `mfra` get their absolute offsets remapped, everything else (`mdat` in particular) is
/// copied byte for byte. Returns the number of bytes written.
pub(crate) fn stream_rewrite(
    src: &mut dyn ReadSeek,
    dst: &mut dyn Write,
    total: u64,
    rw: &Rewrite<'_>,
) -> Result<u64, FormatError> {
    let mut top = TopLevel::new(total);
    let mut written = 0u64;
    while let Some(h) = top.next_box(src)? {
        if let Some((_, bytes)) = rw.replacements.iter().find(|(r, _)| r.start == h.start) {
            dst.write_all(bytes)?;
            written += bytes.len() as u64;
            continue;
        }
        let patch: Option<OffsetPatcher> = match &h.typ {
            _ if rw.map.is_identity() => None,
            b"moov" => Some(patch_moov_offsets),
            b"moof" => Some(patch_moof_offsets),
            b"mfra" => Some(patch_mfra_offsets),
            _ => None,
        };
        if let Some(patch) = patch {
            let mut payload = read_payload(src, &h, MAX_IN_MEMORY_BOX, "box with file offsets")?;
            patch(&mut payload, rw.map)?;
            let header = if h.to_eof && rw.appending {
                explicit_header(&h)?
            } else {
                h.encode()
            };
            dst.write_all(&header)?;
            dst.write_all(&payload)?;
            written += header.len() as u64 + payload.len() as u64;
            continue;
        }
        let from = if h.to_eof && rw.appending {
            let header = explicit_header(&h)?;
            dst.write_all(&header)?;
            written += header.len() as u64;
            h.payload_start()
        } else {
            h.start
        };
        copy_with_patches(src, dst, from, h.end() - from, rw.patches)?;
        written += h.end() - from;
    }
    if top.trailing > 0 {
        src.seek(SeekFrom::Start(total - top.trailing))?;
        io::copy_n(src, dst, top.trailing, "trailing bytes")?;
        written += top.trailing;
    }
    Ok(written)
}

/// The same header with `size == 0` replaced by the real size, at the same length.
fn explicit_header(h: &BoxHeader) -> Result<Vec<u8>, FormatError> {
    let size = u32::try_from(h.size).map_err(|_| {
        FormatError::Unsupported(format!(
            "the last box '{}' runs to the end of the file and is over 4 GiB; giving it an \
             explicit size would move its payload",
            fourcc(&h.typ)
        ))
    })?;
    let mut out = Vec::with_capacity(8);
    out.extend_from_slice(&size.to_be_bytes());
    out.extend_from_slice(&h.typ);
    Ok(out)
}

/// Copies `len` bytes from input offset `start`, replacing the parts covered by `patches`
/// (`(offset, bytes)`, non-overlapping, in any order) with the patch bytes.
pub(crate) fn copy_with_patches(
    src: &mut dyn ReadSeek,
    dst: &mut dyn Write,
    start: u64,
    len: u64,
    patches: &[(u64, Vec<u8>)],
) -> Result<(), FormatError> {
    let end = start
        .checked_add(len)
        .ok_or(FormatError::Truncated("box"))?;
    let mut cuts: Vec<(u64, &[u8])> = patches
        .iter()
        .filter(|(s, b)| *s < end && s.saturating_add(b.len() as u64) > start)
        .map(|(s, b)| (*s, b.as_slice()))
        .collect();
    cuts.sort_unstable_by_key(|c| c.0);
    src.seek(SeekFrom::Start(start))?;
    let mut pos = start;
    for (s, bytes) in cuts {
        let e = s.saturating_add(bytes.len() as u64).min(end);
        if e <= pos {
            continue;
        }
        if s > pos {
            io::copy_n(src, dst, s - pos, "box payload")?;
            pos = s;
        }
        // `pos - s` and `e - s` are within `bytes` (pos >= s, e <= s + len).
        let from = usize::try_from(pos - s).unwrap_or(usize::MAX);
        let to = usize::try_from(e - s).unwrap_or(usize::MAX);
        dst.write_all(bytes.get(from..to).unwrap_or(&[]))?;
        src.seek(SeekFrom::Start(e))?;
        pos = e;
    }
    io::copy_n(src, dst, end - pos, "box payload")?;
    Ok(())
}

/// Removes every AIGC label property (element or attribute form, any namespace the XMP reader
/// accepts as a label) from an XMP packet, keeping everything else. An `rdf:Description` left
/// with no property at all is removed too, so repeated relabelling does not accumulate empty
/// descriptions. Returns `None` when the packet holds no label. Used to migrate legacy XMP
/// label sites (MP4 `uuid`/`XMP_`) and to clear prefix-typo variants before
/// [`crate::xmp::merge_label`].
pub(crate) fn strip_xmp_labels(packet: &str) -> Result<Option<String>, FormatError> {
    use quick_xml::events::{BytesStart, Event};
    use quick_xml::name::ResolveResult;
    use quick_xml::reader::NsReader;
    use quick_xml::writer::Writer;

    const RDF_NS: &str = "http://www.w3.org/1999/02/22-rdf-syntax-ns#";
    if crate::xmp::find_labels(packet).is_empty() {
        return Ok(None);
    }
    let bad = |e: &dyn std::fmt::Display| {
        FormatError::malformed(format!("XMP packet holding an AIGC label: {e}"))
    };
    // The same test as the XMP reader: local name AIGC in the TC260 namespace, a known wrong
    // namespace, or a prefix that looks like TC260 (typos such as `C260`).
    let is_label = |ns: &ResolveResult<'_>, qname: &str, local: &str| {
        if local != "AIGC" {
            return false;
        }
        if let ResolveResult::Bound(n) = ns {
            let n = n.as_ref();
            if n == crate::xmp::TC260_NS || crate::xmp::WRONG_NAMESPACES.contains(&n) {
                return true;
            }
        }
        qname.to_ascii_lowercase().contains("260:")
    };
    let is_description = |ns: &ResolveResult<'_>, local: &str| {
        matches!(ns, ResolveResult::Bound(n) if n.as_ref() == RDF_NS) && local == "Description"
    };
    // A description with nothing but `rdf:about` and namespace declarations says nothing.
    let says_nothing = |e: &BytesStart<'_>| {
        e.attributes().flatten().all(|a| {
            let key = a.key.as_ref();
            key.starts_with("xmlns") || a.key.local_name().as_ref() == "about"
        })
    };
    let mut reader = NsReader::from_str(packet);
    let mut writer = Writer::new(Vec::with_capacity(packet.len()));
    let mut skip = 0usize;
    // An open rdf:Description not yet written, with the whitespace seen inside it so far.
    let mut pending: Option<(BytesStart<'static>, Vec<Event<'static>>)> = None;
    loop {
        let (ns, event) = reader.read_resolved_event().map_err(|e| bad(&e))?;
        if skip > 0 {
            match event {
                Event::Start(_) => skip += 1,
                Event::End(_) => skip -= 1,
                Event::Eof => return Err(bad(&"ends inside the AIGC element")),
                _ => {}
            }
            continue;
        }
        match event {
            Event::Start(ref e) if is_label(&ns, e.name().as_ref(), e.local_name().as_ref()) => {
                skip = 1;
                continue;
            }
            Event::Empty(ref e) if is_label(&ns, e.name().as_ref(), e.local_name().as_ref()) => {
                continue;
            }
            Event::Text(ref t) if pending.is_some() && t.trim().is_empty() => {
                if let Some((_, ws)) = pending.as_mut() {
                    ws.push(event.clone().into_owned());
                }
                continue;
            }
            Event::End(_)
                if pending
                    .as_ref()
                    .is_some_and(|(start, _)| says_nothing(start)) =>
            {
                // The description held only label properties: drop it whole.
                pending = None;
                continue;
            }
            _ => {}
        }
        if let Some((start, ws)) = pending.take() {
            writer
                .write_event(Event::Start(start))
                .map_err(|e| bad(&e))?;
            for w in ws {
                writer.write_event(w).map_err(|e| bad(&e))?;
            }
        }
        match event {
            Event::Eof => break,
            Event::Start(ref e) | Event::Empty(ref e) => {
                let description = is_description(&ns, e.local_name().as_ref());
                let mut out = BytesStart::new(e.name().as_ref().to_string());
                for attr in e.attributes() {
                    let attr = attr.map_err(|e| bad(&e))?;
                    let (ans, local) = reader.resolver().resolve_attribute(attr.key);
                    if is_label(&ans, attr.key.as_ref(), local.as_ref()) {
                        continue;
                    }
                    out.push_attribute(attr);
                }
                if matches!(event, Event::Start(_)) {
                    if description {
                        pending = Some((out.into_owned(), Vec::new()));
                    } else {
                        writer.write_event(Event::Start(out)).map_err(|e| bad(&e))?;
                    }
                } else if !(description && says_nothing(&out)) {
                    writer.write_event(Event::Empty(out)).map_err(|e| bad(&e))?;
                }
            }
            other => writer.write_event(other).map_err(|e| bad(&e))?,
        }
    }
    let out = String::from_utf8(writer.into_inner()).map_err(|e| bad(&e))?;
    if !crate::xmp::find_labels(&out).is_empty() {
        return Err(bad(&"an AIGC property could not be removed"));
    }
    Ok(Some(out))
}

/// `packet` without the whitespace padding before its `<?xpacket end` trailer (so that a
/// merged packet does not carry the old padding plus new content).
pub(crate) fn unpad_xmp(packet: &str) -> String {
    match packet.rfind("<?xpacket end") {
        Some(at) => {
            let (body, trailer) = packet.split_at(at);
            format!("{}\n{trailer}", body.trim_end())
        }
        None => packet.trim_end().to_string(),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::test_support::SAMPLE_LABEL;

    #[test]
    fn bmff_children_handle_largesize_and_size_zero() {
        let mut buf = make_box(*b"free", b"abc");
        // largesize box
        buf.extend_from_slice(&1u32.to_be_bytes());
        buf.extend_from_slice(b"skip");
        buf.extend_from_slice(&20u64.to_be_bytes());
        buf.extend_from_slice(b"wxyz");
        // size-0 box to the end
        buf.extend_from_slice(&0u32.to_be_bytes());
        buf.extend_from_slice(b"mdat");
        buf.extend_from_slice(b"payload");
        let (kids, trailing) = children(&buf).unwrap();
        assert_eq!(kids.len(), 3);
        assert_eq!(kids[1].payload(&buf), b"wxyz");
        assert!(kids[2].to_end);
        assert_eq!(kids[2].payload(&buf), b"payload");
        assert_eq!(trailing, buf.len());
        let mut out = Vec::new();
        kids[2].copy_to(&buf, &mut out);
        assert_eq!(out, make_box(*b"mdat", b"payload"));
    }

    #[test]
    fn bmff_bad_sizes_are_errors() {
        let mut buf = Vec::new();
        buf.extend_from_slice(&100u32.to_be_bytes());
        buf.extend_from_slice(b"moov");
        assert!(children(&buf).is_err());
        let mut buf = Vec::new();
        buf.extend_from_slice(&4u32.to_be_bytes());
        buf.extend_from_slice(b"moov");
        assert!(children(&buf).is_err());
        let mut c = std::io::Cursor::new(buf);
        assert!(read_header(&mut c, 0, 8).is_err());
    }

    #[test]
    fn bmff_offset_map_moves_later_offsets_only() {
        let mut m = OffsetMap::default();
        m.replace(100, 200, 150);
        assert_eq!(m.map(50).unwrap(), 50);
        assert_eq!(m.map(200).unwrap(), 250);
        assert!(m.map(150).is_err());
        assert_eq!(m.total_delta(), 50);
        assert!(!m.is_identity());
    }

    #[test]
    fn bmff_strip_xmp_labels_keeps_other_properties() {
        let packet = crate::xmp::merge_label(
            Some(r#"<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description rdf:about="" xmlns:dc="http://purl.org/dc/elements/1.1/" dc:format="video/mp4"/></rdf:RDF></x:xmpmeta>"#),
            SAMPLE_LABEL,
        )
        .unwrap();
        assert_eq!(crate::xmp::find_labels(&packet).len(), 1);
        let stripped = strip_xmp_labels(&packet).unwrap().unwrap();
        assert!(crate::xmp::find_labels(&stripped).is_empty());
        assert!(stripped.contains("dc:format=\"video/mp4\""));
        assert!(strip_xmp_labels(&stripped).unwrap().is_none());
    }

    #[test]
    fn bmff_strip_then_merge_does_not_accumulate() {
        let mut p = crate::xmp::merge_label(None, SAMPLE_LABEL).unwrap();
        let first = p.len();
        for _ in 0..5 {
            let stripped = strip_xmp_labels(&p).unwrap().unwrap();
            p = crate::xmp::merge_label(Some(&unpad_xmp(&stripped)), SAMPLE_LABEL).unwrap();
        }
        assert!(p.len() <= first + 2, "{first} -> {}: {p}", p.len());
        assert_eq!(crate::xmp::find_labels(&p).len(), 1);
    }

    #[test]
    fn bmff_copy_with_patches_overwrites_ranges() {
        let data: Vec<u8> = (1..=20).collect();
        let mut src = std::io::Cursor::new(data);
        let mut out = Vec::new();
        let patches = vec![(4, vec![0, 0]), (10, vec![9; 5]), (0, vec![7])];
        copy_with_patches(&mut src, &mut out, 2, 10, &patches).unwrap();
        assert_eq!(out, vec![3, 4, 0, 0, 7, 8, 9, 10, 9, 9]);
    }
}
