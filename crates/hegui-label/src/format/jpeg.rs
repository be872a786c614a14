//! JPEG: the label is the `TC260:AIGC` property of the standard XMP packet, stored in ONE APP1
//! segment with header `http://ns.adobe.com/xap/1.0/\0`.
//!
//! Placement: the writer puts that segment right after SOI and the leading APP0 (JFIF/JFXX) and
//! Exif APP1 segments, before everything else (ICC APP2, DQT, SOF, SOS …), as the XMP
//! specification part 3 recommends.
//!
//! Key decisions:
//! * Merge, never overwrite: an existing standard XMP packet is merged with
//!   [`crate::xmp::merge_label`] (other properties survive) and its segment replaced. The packet
//!   must fit one segment (≤ 65,502 bytes); a larger merged packet is an error rather than a
//!   silent split, because Extended XMP (`http://ns.adobe.com/xmp/extension/`) is left untouched.
//! * Variant sites found in the wild are migrated away so one site remains (GB 45438 §6.1 c):
//!   an EXIF `UserComment`/`ImageDescription` holding a label is overwritten IN PLACE with spaces
//!   (same length, charset prefix kept) so no EXIF offset moves; a segment holding a bare
//!   `AIGC{…}` blob is dropped, or blanked in place when the blob is only part of it.
//! * Everything else (Exif, ICC APP2, APP11/JUMBF C2PA, Extended XMP, tables) is copied byte for
//!   byte, and everything from the first SOS marker to the end of the file is a raw copy.

use super::exif;
use super::{FormatError, MAX_SITE_BYTES, RawSite, ReadSeek, Scan, SitePayload, WriteSeek, io};
use std::collections::BTreeMap;
use std::io::{Cursor, SeekFrom, Write};

/// Header of the standard XMP APP1 segment (29 bytes).
const XMP_HEADER: &[u8] = b"http://ns.adobe.com/xap/1.0/\0";
/// Header of an Extended XMP APP1 segment (35 bytes).
const XMP_EXT_HEADER: &[u8] = b"http://ns.adobe.com/xmp/extension/\0";
/// Header of the Exif APP1 segment.
const EXIF_HEADER: &[u8] = b"Exif\0\0";
/// Header of an ICC profile APP2 segment.
const ICC_HEADER: &[u8] = b"ICC_PROFILE\0";
/// Header of a multi-picture format (CIPA DC-007) APP2 segment.
const MPF_HEADER: &[u8] = b"MPF\0";
/// Largest XMP packet one APP1 segment carries (XMP specification part 3).
pub(crate) const MAX_XMP_PACKET: usize = 65_502;
/// Most marker segments read before SOS (real files have a few dozen).
const MAX_SEGMENTS: usize = 65_536;

const SOI: u8 = 0xD8;
const EOI: u8 = 0xD9;
const SOS: u8 = 0xDA;
const APP0: u8 = 0xE0;
const APP1: u8 = 0xE1;
const APP2: u8 = 0xE2;
const APP11: u8 = 0xEB;
const COM: u8 = 0xFE;

/// One item of the marker sequence before the first SOS.
#[derive(Debug, Clone, Copy)]
enum Item {
    /// A marker segment: offset of its `FF xx` marker, marker byte, length field (≥ 2).
    Segment { offset: u64, marker: u8, len: u16 },
    /// A marker without a length (RSTn, TEM).
    Standalone { marker: u8 },
    /// The first SOS marker: offset of its `FF DA`.
    Sos { offset: u64 },
}

/// Walks the marker segments from SOI up to the first SOS.
struct Walker {
    file_len: u64,
    pos: u64,
}

impl Walker {
    /// Checks SOI and positions the walker after it.
    fn start(src: &mut dyn ReadSeek) -> Result<Self, FormatError> {
        src.seek(SeekFrom::Start(0))?;
        let file_len = io::len(src)?;
        let mut soi = [0u8; 2];
        io::read_exact(src, &mut soi, "JPEG SOI marker")?;
        if soi != [0xFF, SOI] {
            return Err(FormatError::malformed("not a JPEG file (no SOI marker)"));
        }
        Ok(Walker { file_len, pos: 2 })
    }

    fn next(&mut self, src: &mut dyn ReadSeek) -> Result<Item, FormatError> {
        src.seek(SeekFrom::Start(self.pos))?;
        let mut b = [0u8; 1];
        io::read_exact(src, &mut b, "JPEG marker")?;
        if b[0] != 0xFF {
            return Err(FormatError::malformed(format!(
                "JPEG: expected a marker at offset {}, found 0x{:02X}",
                self.pos, b[0]
            )));
        }
        // Any number of 0xFF fill bytes may precede the marker code.
        let mut offset = self.pos;
        loop {
            io::read_exact(src, &mut b, "JPEG marker")?;
            if b[0] != 0xFF {
                break;
            }
            offset += 1;
            if offset - self.pos > 65_536 {
                return Err(FormatError::malformed(format!(
                    "JPEG: more than 64 KiB of 0xFF fill bytes at offset {}",
                    self.pos
                )));
            }
        }
        let marker = b[0];
        match marker {
            SOS => return Ok(Item::Sos { offset }),
            0x01 | 0xD0..=0xD7 => {
                self.pos = offset + 2;
                return Ok(Item::Standalone { marker });
            }
            EOI => {
                return Err(FormatError::malformed("JPEG ends (EOI) before any SOS"));
            }
            SOI | 0x00 => {
                return Err(FormatError::malformed(format!(
                    "JPEG: unexpected marker 0x{marker:02X} at offset {offset}"
                )));
            }
            _ => {}
        }
        let mut l = [0u8; 2];
        io::read_exact(src, &mut l, "JPEG segment length")?;
        let len = u16::from_be_bytes(l);
        if len < 2 {
            return Err(FormatError::malformed(format!(
                "JPEG segment 0x{marker:02X} at offset {offset} has length {len}"
            )));
        }
        let end = offset + 2 + u64::from(len);
        if end > self.file_len {
            return Err(FormatError::Truncated("JPEG marker segment"));
        }
        self.pos = end;
        Ok(Item::Segment {
            offset,
            marker,
            len,
        })
    }
}

/// What a writer does with a segment.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Action {
    Keep,
    Drop,
    /// Replace the payload with these bytes (same length).
    Replace(Vec<u8>),
    /// Turn the segment into a COM segment of the same length holding spaces. Used instead of
    /// dropping a segment that follows an MPF (APP2 `MPF\0`) segment, whose offsets to the
    /// images after EOI count the bytes in between.
    Neutralize,
}

/// A pre-SOS segment and its fate.
#[derive(Debug)]
struct Seg {
    item: Item,
    /// True for APP0 and Exif APP1: the new XMP segment goes after the leading run of these.
    leading: bool,
    action: Action,
}

/// What the reader and writer need to know about a JPEG's metadata.
#[derive(Debug, Default)]
struct Survey {
    segs: Vec<Seg>,
    sos: u64,
    /// The first standard XMP packet (the one merged into) and whether it was valid UTF-8.
    existing_xmp: Option<(String, bool)>,
    sites: Vec<RawSite>,
    notes: Vec<String>,
}

/// Reads every segment before SOS, finds label sites and decides what a writer does with each.
fn survey(src: &mut dyn ReadSeek) -> Result<Survey, FormatError> {
    let mut w = Walker::start(src)?;
    let mut s = Survey::default();
    let mut standard_xmp = 0usize;
    let mut ext: BTreeMap<Vec<u8>, Vec<(u32, Vec<u8>)>> = BTreeMap::new();
    let mut ext_bytes: u64 = 0;
    let mut jumbf = false;
    let mut mpf = false;
    loop {
        if s.segs.len() >= MAX_SEGMENTS {
            return Err(FormatError::TooLarge {
                what: "JPEG marker segments before SOS",
                size: s.segs.len() as u64,
                limit: MAX_SEGMENTS as u64,
            });
        }
        let item = w.next(src)?;
        let (offset, marker, len) = match item {
            Item::Sos { offset } => {
                s.sos = offset;
                break;
            }
            Item::Standalone { .. } => {
                s.segs.push(Seg {
                    item,
                    leading: false,
                    action: Action::Keep,
                });
                continue;
            }
            Item::Segment {
                offset,
                marker,
                len,
            } => (offset, marker, len),
        };
        let mut seg = Seg {
            item,
            leading: false,
            action: Action::Keep,
        };
        let is_meta = matches!(marker, 0xE0..=0xEF | COM);
        if !is_meta {
            s.segs.push(seg);
            continue;
        }
        src.seek(SeekFrom::Start(offset + 4))?;
        let payload = io::read_vec(src, u64::from(len) - 2, "JPEG marker segment")?;
        let name = if marker == COM {
            "COM".to_string()
        } else {
            format!("APP{}", marker - APP0)
        };
        if marker == APP0 {
            seg.leading = true;
        } else if marker == APP1 && payload.starts_with(EXIF_HEADER) {
            seg.leading = true;
            let tiff = payload.get(EXIF_HEADER.len()..).unwrap_or(&[]);
            let labels = exif_labels(tiff, &mut s.notes);
            if !labels.is_empty() {
                let mut new = payload.clone();
                for l in labels {
                    s.sites.push(RawSite {
                        location: format!("jpeg:APP1:Exif:{}", l.field),
                        canonical: false,
                        payload: SitePayload::Json(l.json.clone()),
                    });
                    let start = usize::try_from(l.offset)
                        .ok()
                        .and_then(|o| o.checked_add(EXIF_HEADER.len()));
                    let range =
                        start.and_then(|a| Some(a..a.checked_add(usize::try_from(l.len).ok()?)?));
                    if let Some(r) = range
                        && let Some(slot) = new.get_mut(r)
                    {
                        let blank = l.blanked(slot);
                        slot.copy_from_slice(&blank);
                    }
                }
                seg.action = Action::Replace(new);
            }
        } else if marker == APP1 && payload.starts_with(XMP_HEADER) {
            standard_xmp += 1;
            let raw = payload.get(XMP_HEADER.len()..).unwrap_or(&[]);
            let raw = trim_nul_end(raw);
            let (text, ok) = match std::str::from_utf8(raw) {
                Ok(t) => (t.to_string(), true),
                Err(_) => (String::from_utf8_lossy(raw).into_owned(), false),
            };
            if !ok {
                s.notes
                    .push("standard XMP packet is not valid UTF-8".into());
            }
            if s.existing_xmp.is_none() {
                s.existing_xmp = Some((text.clone(), ok));
            }
            s.sites.push(RawSite {
                location: "jpeg:APP1:XMP".into(),
                canonical: true,
                payload: SitePayload::Xmp(text),
            });
            seg.action = Action::Drop;
        } else if marker == APP1 && payload.starts_with(XMP_EXT_HEADER) {
            // GUID (32 hex chars), full length u32, offset u32, then the piece.
            let rest = payload.get(XMP_EXT_HEADER.len()..).unwrap_or(&[]);
            match (rest.get(..32), rest.get(36..40), rest.get(40..)) {
                (Some(guid), Some(off), Some(piece)) => {
                    ext_bytes = ext_bytes.saturating_add(piece.len() as u64);
                    if ext_bytes > MAX_SITE_BYTES {
                        return Err(FormatError::TooLarge {
                            what: "JPEG Extended XMP",
                            size: ext_bytes,
                            limit: MAX_SITE_BYTES,
                        });
                    }
                    let off = off.try_into().map_or(0, u32::from_be_bytes);
                    ext.entry(guid.to_vec())
                        .or_default()
                        .push((off, piece.to_vec()));
                }
                _ => s.notes.push("Extended XMP segment too short".into()),
            }
        } else if marker == APP2 && payload.starts_with(ICC_HEADER) {
            // ICC profile: binary, never a label site.
        } else if marker == APP2 && payload.starts_with(MPF_HEADER) {
            s.notes.push(
                "MPF (multi-picture) segment present; segments after it keep their size".into(),
            );
            s.segs.push(seg);
            mpf = true;
            continue;
        } else if marker == APP11 {
            jumbf = true;
        } else {
            // Every `AIGC{…}` blob of the segment is a site; all of them are migrated.
            let mut blobs = Vec::new();
            let mut from = 0;
            while let Some(b) = find_blob(&payload, from) {
                from = b.end.max(b.start + 1);
                s.sites.push(RawSite {
                    location: format!("jpeg:{name}:AIGC"),
                    canonical: false,
                    payload: SitePayload::Json(String::from_utf8_lossy(&b.json).into_owned()),
                });
                blobs.push(b);
            }
            if let (Some(first), Some(last)) = (blobs.first(), blobs.last()) {
                let before = payload.get(..first.start).unwrap_or(&[]);
                let after = payload.get(last.end..).unwrap_or(&[]);
                let dedicated = blobs.len() == 1
                    && first.start <= 16
                    && is_blank(after)
                    && before
                        .iter()
                        .all(|c| c.is_ascii_graphic() || *c == 0 || c.is_ascii_whitespace());
                if dedicated {
                    seg.action = Action::Drop;
                } else {
                    let mut new = payload.clone();
                    for b in &blobs {
                        if let Some(slot) = new.get_mut(b.start..b.end) {
                            slot.fill(b' ');
                        }
                    }
                    seg.action = Action::Replace(new);
                }
            }
        }
        if mpf && seg.action == Action::Drop {
            seg.action = Action::Neutralize;
        }
        s.segs.push(seg);
    }
    if standard_xmp > 1 {
        s.notes.push(format!(
            "{standard_xmp} standard XMP APP1 segments (a JPEG should have one); writing keeps one merged packet"
        ));
    }
    for (guid, mut pieces) in ext {
        pieces.sort_by_key(|p| p.0);
        let text: Vec<u8> = pieces.into_iter().flat_map(|p| p.1).collect();
        s.notes.push(format!(
            "Extended XMP ({} bytes, GUID {}) present; hegui keeps it untouched",
            text.len(),
            String::from_utf8_lossy(&guid)
        ));
        s.sites.push(RawSite {
            location: "jpeg:APP1:XMP-extension".into(),
            canonical: false,
            payload: SitePayload::Xmp(String::from_utf8_lossy(&text).into_owned()),
        });
    }
    if jumbf {
        s.notes
            .push("APP11 JUMBF (C2PA manifest) present; relabelling invalidates its hash".into());
    }
    Ok(s)
}

fn trim_nul_end(b: &[u8]) -> &[u8] {
    let end = b.iter().rposition(|&c| c != 0).map_or(0, |i| i + 1);
    b.get(..end).unwrap_or(b)
}

fn is_blank(b: &[u8]) -> bool {
    b.iter().all(|&c| c == 0 || c.is_ascii_whitespace())
}

/// The label text fields of an Exif TIFF structure; problems become notes.
fn exif_labels(tiff: &[u8], notes: &mut Vec<String>) -> Vec<exif::ExifTextLabel> {
    let mut c = Cursor::new(tiff);
    let parsed = exif::Reader::new(&mut c, 0).and_then(|mut r| {
        let first = r.header.first_ifd;
        let ifd0 = r.read_ifd(first)?;
        let mut n = Vec::new();
        let l = exif::find_text_labels(&mut r, &ifd0, &mut n);
        Ok((l, n))
    });
    match parsed {
        Ok((l, n)) => {
            notes.extend(n);
            l
        }
        Err(e) => {
            notes.push(format!("Exif APP1 unreadable: {e}"));
            Vec::new()
        }
    }
}

/// An `AIGC` label blob inside a segment payload.
struct Blob {
    /// Start of the blob (the `AIGC` of `AIGC{…}`, or the `{` of `{"AIGC":…}`).
    start: usize,
    /// End of the blob (after the closing brace, or the end of the text when unbalanced).
    end: usize,
    /// The JSON part.
    json: Vec<u8>,
}

/// Finds the first `AIGC{…}` (bare blob, also `AIGC:{…}`/`AIGC={…}`) or `{"AIGC":{…}}` in `p`
/// whose `AIGC` starts at or after `from`.
fn find_blob(p: &[u8], mut from: usize) -> Option<Blob> {
    while let Some(i) = p
        .get(from..)
        .and_then(|t| t.windows(4).position(|w| w == b"AIGC"))
        .map(|i| i + from)
    {
        from = i + 4;
        let quoted = i > 0 && p.get(i - 1) == Some(&b'"') && p.get(i + 4) == Some(&b'"');
        let (start, json_start) = if quoted {
            // {"AIGC": …}: the object starts at the `{` before the key.
            let before = p.get(..i - 1)?;
            let k = before.iter().rposition(|c| !c.is_ascii_whitespace())?;
            if before.get(k) != Some(&b'{') {
                continue;
            }
            (k, k)
        } else {
            let after = p.get(i + 4..)?;
            let skip = after
                .iter()
                .position(|c| !(c.is_ascii_whitespace() || *c == b':' || *c == b'='))?;
            if after.get(skip) != Some(&b'{') {
                continue;
            }
            (i, i + 4 + skip)
        };
        let end =
            balanced_end(p, json_start).unwrap_or_else(|| trim_nul_end(p).len().max(json_start));
        let json = p.get(json_start..end)?.to_vec();
        return Some(Blob { start, end, json });
    }
    None
}

/// The index after the `}` that closes the `{` at `start`, honouring JSON strings.
fn balanced_end(p: &[u8], start: usize) -> Option<usize> {
    let mut depth = 0usize;
    let mut in_str = false;
    let mut esc = false;
    for (i, &c) in p.iter().enumerate().skip(start) {
        if in_str {
            match (esc, c) {
                (true, _) => esc = false,
                (false, b'\\') => esc = true,
                (false, b'"') => in_str = false,
                _ => {}
            }
            continue;
        }
        match c {
            b'"' => in_str = true,
            b'{' => depth += 1,
            b'}' => {
                depth = depth.checked_sub(1)?;
                if depth == 0 {
                    return Some(i + 1);
                }
            }
            _ => {}
        }
    }
    None
}

/// Finds the standard XMP packet (canonical), Extended XMP, EXIF UserComment/ImageDescription
/// labels and bare `AIGC{…}` blobs in APP/COM segments.
pub(crate) fn scan(src: &mut dyn ReadSeek) -> Result<Scan, FormatError> {
    let s = survey(src)?;
    Ok(Scan {
        sites: s.sites,
        notes: s.notes,
    })
}

/// Builds the standard XMP APP1 segment for `packet`, or explains why it does not fit.
fn xmp_segment(packet: &str) -> Result<Vec<u8>, FormatError> {
    if packet.len() > MAX_XMP_PACKET {
        return Err(FormatError::TooLarge {
            what: "merged XMP packet for one JPEG APP1 segment (Extended XMP is not written)",
            size: packet.len() as u64,
            limit: MAX_XMP_PACKET as u64,
        });
    }
    // 2 (length) + 29 + packet <= 65,533, so the cast is exact.
    let len = (2 + XMP_HEADER.len() + packet.len()) as u16;
    let mut out = Vec::with_capacity(usize::from(len) + 2);
    out.extend_from_slice(&[0xFF, APP1]);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(XMP_HEADER);
    out.extend_from_slice(packet.as_bytes());
    Ok(out)
}

/// Copies the JPEG with one standard XMP APP1 segment (merged with any existing one) after
/// SOI/APP0/Exif, migrating EXIF and `AIGC{…}` label variants; from SOS on a raw copy.
pub(crate) fn write(
    src: &mut dyn ReadSeek,
    dst: &mut dyn WriteSeek,
    label_json: &str,
) -> Result<(), FormatError> {
    src.seek(SeekFrom::Start(0))?;
    let s = survey(src)?;
    if let Some((_, false)) = &s.existing_xmp {
        return Err(FormatError::malformed(
            "existing XMP APP1 packet is not valid UTF-8; cannot merge the label into it",
        ));
    }
    let existing = s.existing_xmp.as_ref().map(|(t, _)| t.as_str());
    let packet = crate::xmp::merge_label(existing, label_json)
        .map_err(|e| FormatError::malformed(e.to_string()))?;
    let xmp = xmp_segment(&packet)?;

    dst.write_all(&[0xFF, SOI])?;
    let mut inserted = false;
    for seg in &s.segs {
        if !inserted && !seg.leading && seg.action != Action::Drop {
            dst.write_all(&xmp)?;
            inserted = true;
        }
        match (seg.item, &seg.action) {
            (_, Action::Drop) => {}
            (Item::Standalone { marker }, _) => dst.write_all(&[0xFF, marker])?,
            (
                Item::Segment {
                    offset,
                    marker,
                    len,
                },
                action,
            ) => {
                let marker = if *action == Action::Neutralize {
                    COM
                } else {
                    marker
                };
                dst.write_all(&[0xFF, marker])?;
                dst.write_all(&len.to_be_bytes())?;
                match action {
                    Action::Replace(p) => dst.write_all(p)?,
                    Action::Neutralize => dst.write_all(&vec![b' '; usize::from(len) - 2])?,
                    _ => {
                        src.seek(SeekFrom::Start(offset + 4))?;
                        io::copy_n(src, dst, u64::from(len) - 2, "JPEG marker segment")?;
                    }
                }
            }
            (Item::Sos { .. }, _) => {}
        }
    }
    if !inserted {
        dst.write_all(&xmp)?;
    }
    src.seek(SeekFrom::Start(s.sos))?;
    io::copy_rest(src, dst)?;
    dst.flush()?;
    Ok(())
}

/// Reads `src` in 64 KiB blocks and passes every byte it consumes on to `sink`.
struct Tee<'a> {
    src: &'a mut dyn ReadSeek,
    sink: &'a mut dyn Write,
    buf: Vec<u8>,
    pos: usize,
    filled: usize,
}

impl Tee<'_> {
    fn fill(&mut self) -> Result<bool, FormatError> {
        if self.pos < self.filled {
            return Ok(true);
        }
        self.sink
            .write_all(self.buf.get(..self.filled).unwrap_or(&[]))?;
        self.pos = 0;
        self.filled = self.src.read(&mut self.buf)?;
        Ok(self.filled > 0)
    }

    fn byte(&mut self) -> Result<u8, FormatError> {
        if !self.fill()? {
            return Err(FormatError::Truncated("JPEG scan data (no EOI marker)"));
        }
        let b = self.buf.get(self.pos).copied().unwrap_or(0);
        self.pos += 1;
        Ok(b)
    }

    fn skip(&mut self, mut n: usize) -> Result<(), FormatError> {
        while n > 0 {
            if !self.fill()? {
                return Err(FormatError::Truncated("JPEG marker segment"));
            }
            let k = n.min(self.filled - self.pos);
            self.pos += k;
            n -= k;
        }
        Ok(())
    }

    fn finish(self) -> Result<(), FormatError> {
        self.sink
            .write_all(self.buf.get(..self.pos).unwrap_or(&[]))?;
        Ok(())
    }
}

/// Content selection: the bytes from the first SOS marker (`FF DA`) through the EOI marker
/// (`FF D9`) inclusive: every scan header, the entropy-coded data, and any tables or restart
/// markers between progressive scans. Labelling only touches APPn/COM segments before SOS, so
/// these bytes are identical in the unlabelled input and every labelled output. Data after EOI
/// (e.g. an appended secondary image) is not included.
pub(crate) fn content_digest(
    src: &mut dyn ReadSeek,
    sink: &mut dyn Write,
) -> Result<(), FormatError> {
    let mut w = Walker::start(src)?;
    let sos = loop {
        if let Item::Sos { offset } = w.next(src)? {
            break offset;
        }
    };
    src.seek(SeekFrom::Start(sos))?;
    let mut t = Tee {
        src,
        sink,
        buf: vec![0u8; 64 * 1024],
        pos: 0,
        filled: 0,
    };
    loop {
        if t.byte()? != 0xFF {
            continue;
        }
        let mut m = t.byte()?;
        while m == 0xFF {
            m = t.byte()?;
        }
        match m {
            // Stuffed byte, restart markers, TEM: still inside the scan.
            0x00 | 0x01 | 0xD0..=0xD7 => {}
            EOI => return t.finish(),
            SOI => return Err(FormatError::malformed("JPEG: SOI inside the scan data")),
            _ => {
                let len = u16::from_be_bytes([t.byte()?, t.byte()?]);
                if len < 2 {
                    return Err(FormatError::malformed(format!(
                        "JPEG segment 0x{m:02X} in the scan data has length {len}"
                    )));
                }
                t.skip(usize::from(len) - 2)?;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::format::exif::ByteOrder;
    use crate::format::exif::test_util::{
        exiftool_json, exiftool_read_aigc, exiftool_write_aigc, unescape_xml,
    };
    use crate::format::exif::tests::{TestEntry, build_tiff};
    use crate::test_support::{SAMPLE_LABEL, SAMPLE_LABEL_2};
    use image::ImageEncoder;

    fn wrapped(label: &str) -> String {
        format!("{{\"AIGC\":{label}}}")
    }

    /// A minimal ICC profile (header + one `wtpt` tag) that exiftool parses.
    fn icc_profile() -> Vec<u8> {
        let mut p = vec![0u8; 164];
        p[0..4].copy_from_slice(&164u32.to_be_bytes());
        p[4..8].copy_from_slice(b"lcms");
        p[8..12].copy_from_slice(&[2, 0x10, 0, 0]);
        p[12..16].copy_from_slice(b"mntr");
        p[16..20].copy_from_slice(b"RGB ");
        p[20..24].copy_from_slice(b"XYZ ");
        p[36..40].copy_from_slice(b"acsp");
        let d50 = [0, 0, 0xF6, 0xD6, 0, 1, 0, 0, 0, 0, 0xD3, 0x2D];
        p[68..80].copy_from_slice(&d50);
        p[128..132].copy_from_slice(&1u32.to_be_bytes());
        p[132..136].copy_from_slice(b"wtpt");
        p[136..140].copy_from_slice(&144u32.to_be_bytes());
        p[140..144].copy_from_slice(&20u32.to_be_bytes());
        p[144..148].copy_from_slice(b"XYZ ");
        p[152..164].copy_from_slice(&d50);
        p
    }

    fn ascii(tag: u16, s: &str) -> TestEntry {
        let mut v = s.as_bytes().to_vec();
        v.push(0);
        (tag, 2, v.len() as u32, v)
    }

    fn user_comment(text: &str) -> TestEntry {
        let mut v = b"ASCII\0\0\0".to_vec();
        v.extend_from_slice(text.as_bytes());
        (exif::TAG_USER_COMMENT, 7, v.len() as u32, v)
    }

    /// Exif (big-endian) with Make/Artist and a UserComment holding `comment`.
    fn exif_blob(comment: &str) -> Vec<u8> {
        build_tiff(
            ByteOrder::Big,
            &[ascii(0x010F, "HeguiCam"), ascii(0x013B, "Test Artist")],
            &[user_comment(comment)],
        )
    }

    fn sample_jpeg(exif: Option<Vec<u8>>, icc: bool) -> Vec<u8> {
        let img = image::RgbImage::from_fn(24, 16, |x, y| {
            image::Rgb([(x * 10) as u8, (y * 15) as u8, ((x + y) * 5) as u8])
        });
        let mut out = Vec::new();
        let mut enc = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 90);
        if let Some(e) = exif {
            enc.set_exif_metadata(e).unwrap();
        }
        if icc {
            enc.set_icc_profile(icc_profile()).unwrap();
        }
        enc.write_image(img.as_raw(), 24, 16, image::ExtendedColorType::Rgb8)
            .unwrap();
        out
    }

    /// (marker, payload) of every segment before SOS, and the SOS offset.
    fn segments(j: &[u8]) -> (Vec<(u8, Vec<u8>)>, usize) {
        let mut out = Vec::new();
        let mut p = 2;
        loop {
            assert_eq!(j[p], 0xFF);
            let m = j[p + 1];
            if m == SOS {
                return (out, p);
            }
            let len = u16::from_be_bytes([j[p + 2], j[p + 3]]) as usize;
            out.push((m, j[p + 4..p + 2 + len].to_vec()));
            p += 2 + len;
        }
    }

    /// Inserts a raw segment right after SOI (or before the first segment with `marker`).
    fn insert_segment(j: &[u8], before_marker: Option<u8>, marker: u8, payload: &[u8]) -> Vec<u8> {
        let mut p = 2;
        if let Some(b) = before_marker {
            while j[p + 1] != b {
                p += 2 + u16::from_be_bytes([j[p + 2], j[p + 3]]) as usize;
            }
        }
        let mut out = j[..p].to_vec();
        out.extend_from_slice(&[0xFF, marker]);
        out.extend_from_slice(&((payload.len() + 2) as u16).to_be_bytes());
        out.extend_from_slice(payload);
        out.extend_from_slice(&j[p..]);
        out
    }

    fn label(j: &[u8], l: &str) -> Vec<u8> {
        let mut out = Cursor::new(Vec::new());
        write(&mut Cursor::new(j.to_vec()), &mut out, l).unwrap();
        out.into_inner()
    }

    fn scan_bytes(j: &[u8]) -> Scan {
        scan(&mut Cursor::new(j.to_vec())).unwrap()
    }

    fn digest(j: &[u8]) -> Vec<u8> {
        let mut d = Vec::new();
        content_digest(&mut Cursor::new(j.to_vec()), &mut d).unwrap();
        d
    }

    fn assert_one_canonical_site(s: &Scan, l: &str) -> String {
        assert_eq!(s.sites.len(), 1, "{s:?}");
        assert!(s.sites[0].canonical);
        assert_eq!(s.sites[0].location, "jpeg:APP1:XMP");
        let SitePayload::Xmp(p) = &s.sites[0].payload else {
            panic!()
        };
        assert!(p.contains(crate::xmp::TC260_NS));
        assert!(unescape_xml(p).contains(l), "{p}");
        p.clone()
    }

    fn xmp_packet(body: &str) -> String {
        format!(
            "<?xpacket begin=\"\u{feff}\" id=\"W5M0MpCehiHzreSzNTczkc9d\"?><x:xmpmeta xmlns:x=\"adobe:ns:meta/\"><rdf:RDF xmlns:rdf=\"http://www.w3.org/1999/02/22-rdf-syntax-ns#\">{body}</rdf:RDF></x:xmpmeta><?xpacket end=\"w\"?>"
        )
    }

    #[test]
    fn ds16_jpeg_roundtrip_one_site() {
        let j = sample_jpeg(None, false);
        assert!(scan_bytes(&j).sites.is_empty());
        let out = label(&j, SAMPLE_LABEL);
        assert_one_canonical_site(&scan_bytes(&out), SAMPLE_LABEL);
    }

    /// B-JPG1: one XMP APP1 (≤ 65,535) before SOS, after APP0/Exif; Exif and ICC preserved; bytes
    /// from SOS on identical; decodes.
    #[test]
    fn ds16_jpeg_payload_byte_identical() {
        let j = sample_jpeg(Some(exif_blob("ordinary text")), true);
        let out = label(&j, SAMPLE_LABEL);
        let (si, sos_in) = segments(&j);
        let (so, sos_out) = segments(&out);
        assert_eq!(&j[sos_in..], &out[sos_out..]);
        let xmp: Vec<usize> = so
            .iter()
            .enumerate()
            .filter(|(_, (m, p))| *m == APP1 && p.starts_with(XMP_HEADER))
            .map(|(i, _)| i)
            .collect();
        assert_eq!(xmp.len(), 1);
        assert!(so[xmp[0]].1.len() + 2 <= 65_535);
        let markers: Vec<u8> = so.iter().map(|s| s.0).collect();
        assert_eq!(&markers[..4], &[APP0, APP1, APP1, APP2]);
        assert!(so[1].1.starts_with(EXIF_HEADER) && xmp[0] == 2);
        let without: Vec<_> = so
            .iter()
            .filter(|(m, p)| !(*m == APP1 && p.starts_with(XMP_HEADER)))
            .cloned()
            .collect();
        assert_eq!(si, without);
        assert_eq!(digest(&j), digest(&out));
        assert!(digest(&j).ends_with(&[0xFF, EOI]));
        let a = image::load_from_memory(&j).unwrap().to_rgb8();
        let b = image::load_from_memory(&out).unwrap().to_rgb8();
        assert_eq!(a, b);
    }

    #[test]
    fn ds16_jpeg_write_twice_one_site() {
        let once = label(&sample_jpeg(None, true), SAMPLE_LABEL);
        let twice = label(&once, SAMPLE_LABEL_2);
        let p = assert_one_canonical_site(&scan_bytes(&twice), SAMPLE_LABEL_2);
        assert!(!unescape_xml(&p).contains(SAMPLE_LABEL));
        assert_eq!(digest(&once), digest(&twice));
    }

    /// B-JPG2: an EXIF UserComment `ASCII\0\0\0{"AIGC":…}` is a (non-canonical) site.
    #[test]
    fn ds16_jpeg_reads_exif_user_comment() {
        let j = sample_jpeg(Some(exif_blob(&wrapped(SAMPLE_LABEL))), false);
        let s = scan_bytes(&j);
        assert_eq!(s.sites.len(), 1);
        assert_eq!(s.sites[0].location, "jpeg:APP1:Exif:UserComment");
        assert!(!s.sites[0].canonical);
        assert_eq!(s.sites[0].payload, SitePayload::Json(wrapped(SAMPLE_LABEL)));
    }

    /// B-JPG2: ordinary UserComment text is not a label.
    #[test]
    fn ds16_jpeg_ordinary_user_comment_is_not_a_site() {
        for text in ["Taken with HeguiCam", "{\"camera\":\"x\"}", "AIGC rocks"] {
            let j = sample_jpeg(Some(exif_blob(text)), false);
            assert!(scan_bytes(&j).sites.is_empty(), "{text}");
        }
    }

    /// Migration: the UserComment label is blanked in place, Exif keeps its length and offsets.
    #[test]
    fn ds16_jpeg_migrates_exif_user_comment() {
        let j = sample_jpeg(Some(exif_blob(&wrapped(SAMPLE_LABEL))), true);
        let out = label(&j, SAMPLE_LABEL_2);
        assert_one_canonical_site(&scan_bytes(&out), SAMPLE_LABEL_2);
        let (si, _) = segments(&j);
        let (so, _) = segments(&out);
        let ex_in = &si.iter().find(|s| s.1.starts_with(EXIF_HEADER)).unwrap().1;
        let ex_out = &so.iter().find(|s| s.1.starts_with(EXIF_HEADER)).unwrap().1;
        assert_eq!(ex_in.len(), ex_out.len());
        let at = ex_in.windows(8).position(|w| w == b"ASCII\0\0\0").unwrap();
        assert_eq!(&ex_in[..at + 8], &ex_out[..at + 8]);
        let n = wrapped(SAMPLE_LABEL).len();
        assert!(ex_out[at + 8..at + 8 + n].iter().all(|&c| c == b' '));
        assert_eq!(&ex_in[at + 8 + n..], &ex_out[at + 8 + n..]);
        assert_eq!(digest(&j), digest(&out));
    }

    /// Bare `AIGC{…}` blobs in APP segments are sites and are migrated away.
    #[test]
    fn ds16_jpeg_migrates_aigc_blob() {
        let base = sample_jpeg(None, false);
        let blob = format!("AIGC{SAMPLE_LABEL}");
        let mut j = insert_segment(&base, Some(0xDB), 0xE9, blob.as_bytes());
        let mixed = format!("Vendor data v1; AIGC:{SAMPLE_LABEL}; again AIGC{SAMPLE_LABEL} end");
        j = insert_segment(&j, Some(0xDB), COM, mixed.as_bytes());
        let s = scan_bytes(&j);
        let locs: Vec<&str> = s.sites.iter().map(|x| x.location.as_str()).collect();
        assert_eq!(locs, ["jpeg:APP9:AIGC", "jpeg:COM:AIGC", "jpeg:COM:AIGC"]);
        assert!(
            s.sites
                .iter()
                .all(|x| x.payload == SitePayload::Json(SAMPLE_LABEL.into()))
        );
        let out = label(&j, SAMPLE_LABEL);
        assert_one_canonical_site(&scan_bytes(&out), SAMPLE_LABEL);
        let (so, _) = segments(&out);
        assert!(so.iter().all(|s| s.0 != 0xE9));
        let com = so.iter().find(|s| s.0 == COM).unwrap();
        assert_eq!(com.1.len(), mixed.len());
        assert!(com.1.starts_with(b"Vendor data v1; "));
        assert!(com.1.ends_with(b" end"));
        assert!(!String::from_utf8_lossy(&com.1).contains("AIGC"));
    }

    /// Merge into an existing standard XMP; Extended XMP, APP11 and ICC are kept byte for byte.
    #[test]
    fn ds16_jpeg_merges_xmp_keeps_extended_and_c2pa() {
        let body = r#"<rdf:Description rdf:about="" xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:title><rdf:Alt><rdf:li xml:lang="x-default">Harbour</rdf:li></rdf:Alt></dc:title></rdf:Description>"#;
        let mut std_xmp = XMP_HEADER.to_vec();
        std_xmp.extend_from_slice(xmp_packet(body).as_bytes());
        let mut ext = XMP_EXT_HEADER.to_vec();
        ext.extend_from_slice(b"0123456789ABCDEF0123456789ABCDEF");
        ext.extend_from_slice(&5u32.to_be_bytes());
        ext.extend_from_slice(&0u32.to_be_bytes());
        ext.extend_from_slice(b"<x/>\n");
        let jumbf = b"JP\x00\x01\x00\x00\x00\x01\x00\x00\x00\x08jumb".to_vec();
        let mut j = sample_jpeg(None, true);
        j = insert_segment(&j, Some(APP2), APP1, &std_xmp);
        j = insert_segment(&j, Some(0xDB), APP1, &ext);
        j = insert_segment(&j, Some(0xDB), APP11, &jumbf);
        let s = scan_bytes(&j);
        assert_eq!(s.sites.len(), 2);
        assert!(s.notes.iter().any(|n| n.contains("APP11")));
        assert!(s.notes.iter().any(|n| n.contains("Extended XMP")));
        let out = label(&j, SAMPLE_LABEL);
        let s = scan_bytes(&out);
        assert_eq!(s.sites.iter().filter(|x| x.canonical).count(), 1);
        let SitePayload::Xmp(p) = &s.sites[0].payload else {
            panic!()
        };
        assert!(
            p.contains("Harbour") && unescape_xml(p).contains(SAMPLE_LABEL),
            "{p}"
        );
        let (so, _) = segments(&out);
        assert!(so.iter().any(|x| x.0 == APP1 && x.1 == ext));
        assert!(so.iter().any(|x| x.0 == APP11 && x.1 == jumbf));
        assert!(
            so.iter()
                .any(|x| x.0 == APP2 && x.1.starts_with(ICC_HEADER))
        );
    }

    /// Segments after an MPF segment keep their size, so its offsets to the images after EOI
    /// stay valid; the old XMP there becomes a blank COM segment.
    #[test]
    fn ds16_jpeg_keeps_mpf_distances() {
        let mut old = XMP_HEADER.to_vec();
        old.extend_from_slice(xmp_packet("").as_bytes());
        let mut j = sample_jpeg(Some(exif_blob("x")), false);
        j = insert_segment(&j, Some(0xDB), APP2, b"MPF\0MM\0*\0\0\0\x08\0\0\0\0\0\0");
        j = insert_segment(&j, Some(0xDB), APP1, &old);
        j.extend_from_slice(b"second image after EOI");
        let dist = |b: &[u8]| {
            let (segs, sos) = segments(b);
            let mut p = 2;
            for (m, pl) in &segs {
                if *m == APP2 && pl.starts_with(MPF_HEADER) {
                    return (b.len() - p, sos - p);
                }
                p += 4 + pl.len();
            }
            panic!("no MPF")
        };
        let out = label(&j, SAMPLE_LABEL);
        assert_eq!(dist(&j), dist(&out));
        assert_one_canonical_site(&scan_bytes(&out), SAMPLE_LABEL);
        let (so, _) = segments(&out);
        assert_eq!(so.iter().filter(|x| x.0 == COM).count(), 1);
        assert!(out.ends_with(b"second image after EOI"));
    }

    #[test]
    fn jpeg_packet_too_large_is_clear_error() {
        let big = format!(
            "{{\"Label\":\"1\",\"ContentProducer\":\"{}\"}}",
            "A".repeat(70_000)
        );
        let mut dst = Cursor::new(Vec::new());
        let e = write(&mut Cursor::new(sample_jpeg(None, false)), &mut dst, &big).unwrap_err();
        assert!(e.to_string().contains("JPEG APP1"), "{e}");
    }

    #[test]
    fn jpeg_truncated_is_error() {
        let out = label(&sample_jpeg(Some(exif_blob("x")), true), SAMPLE_LABEL);
        let (_, sos) = segments(&out);
        for cut in [0, 1, 2, 3, 5, 30, sos - 1, sos + 1] {
            let t = out[..cut].to_vec();
            assert!(scan(&mut Cursor::new(t.clone())).is_err(), "cut {cut}");
            let mut dst = Cursor::new(Vec::new());
            assert!(
                write(&mut Cursor::new(t.clone()), &mut dst, SAMPLE_LABEL).is_err(),
                "cut {cut}"
            );
            assert!(content_digest(&mut Cursor::new(t), &mut Vec::new()).is_err());
        }
        // Cut inside the scan data: metadata is readable, the content selection is not.
        let t = out[..out.len() - 2].to_vec();
        assert!(scan(&mut Cursor::new(t.clone())).is_ok());
        assert!(content_digest(&mut Cursor::new(t), &mut Vec::new()).is_err());
    }

    #[test]
    fn jpeg_malformed_is_error() {
        let j = sample_jpeg(None, false);
        let mut bad_len = j.clone();
        bad_len[4..6].copy_from_slice(&[0, 1]);
        let mut no_marker = j.clone();
        no_marker[2] = 0x12;
        for b in [
            bad_len,
            no_marker,
            b"\xFF\xD8\xFF\xD9".to_vec(),
            b"PNG".to_vec(),
        ] {
            assert!(scan(&mut Cursor::new(b)).is_err());
        }
    }

    #[test]
    fn ds16_jpeg_interop_exiftool_reads() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("labelled.jpg");
        let j = sample_jpeg(Some(exif_blob(&wrapped(SAMPLE_LABEL))), true);
        std::fs::write(&path, label(&j, SAMPLE_LABEL)).unwrap();
        let Some(v) = exiftool_read_aigc(&path) else {
            return;
        };
        assert_eq!(v, SAMPLE_LABEL);
        // Exif and ICC survive, as exiftool sees them.
        let meta = exiftool_json(
            &path,
            &["-IFD0:all", "-ExifIFD:all", "-ICC-header:all", "-Warning"],
        )
        .unwrap();
        assert_eq!(meta["IFD0:Make"], "HeguiCam", "{meta}");
        assert_eq!(meta["IFD0:Artist"], "Test Artist", "{meta}");
        assert_eq!(
            meta["ICC-header:ProfileClass"], "Display Device Profile",
            "{meta}"
        );
        assert!(meta.get("ExifTool:Warning").is_none(), "{meta}");
        let uc = meta["ExifIFD:UserComment"].as_str().unwrap_or("");
        assert!(!uc.contains("AIGC"), "{meta}");
    }

    /// The reverse: a JPEG labelled by exiftool is scanned and its XMP packet returned.
    #[test]
    fn ds16_jpeg_interop_exiftool_written_is_scanned() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("by-exiftool.jpg");
        std::fs::write(&path, sample_jpeg(Some(exif_blob("hello")), true)).unwrap();
        if !exiftool_write_aigc(&path, SAMPLE_LABEL) {
            return;
        }
        let bytes = std::fs::read(&path).unwrap();
        let s = scan_bytes(&bytes);
        assert_one_canonical_site(&s, SAMPLE_LABEL);
        let out = label(&bytes, SAMPLE_LABEL_2);
        assert_one_canonical_site(&scan_bytes(&out), SAMPLE_LABEL_2);
        std::fs::write(&path, &out).unwrap();
        assert_eq!(exiftool_read_aigc(&path).unwrap(), SAMPLE_LABEL_2);
        image::load_from_memory(&out).unwrap();
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]
        #[test]
        fn jpeg_scan_never_panics(data in proptest::collection::vec(proptest::num::u8::ANY, 0..256)) {
            let mut d = vec![0xFF, SOI];
            d.extend_from_slice(&data);
            let _ = scan(&mut Cursor::new(data));
            let _ = scan(&mut Cursor::new(d.clone()));
            let _ = content_digest(&mut Cursor::new(d.clone()), &mut Vec::new());
            let _ = write(&mut Cursor::new(d), &mut Cursor::new(Vec::new()), SAMPLE_LABEL);
        }

        #[test]
        fn jpeg_mutated_labelled_never_panics(
            cut in 0usize..3000,
            flips in proptest::collection::vec((0usize..3000, proptest::num::u8::ANY), 0..4),
        ) {
            let mut j = label(&sample_jpeg(Some(exif_blob(&wrapped(SAMPLE_LABEL))), true), SAMPLE_LABEL);
            for (i, b) in flips {
                let n = j.len();
                j[i % n] = b;
            }
            j.truncate(cut.min(j.len()));
            let _ = scan(&mut Cursor::new(j.clone()));
            let _ = content_digest(&mut Cursor::new(j.clone()), &mut Vec::new());
            let mut out = Cursor::new(Vec::new());
            if write(&mut Cursor::new(j), &mut out, SAMPLE_LABEL).is_ok() {
                // Whenever a write succeeds, exactly one label remains.
                let back = scan(&mut Cursor::new(out.into_inner())).unwrap();
                let found = crate::sites::labels_in(&back);
                proptest::prop_assert_eq!(found.len(), 1, "{:?}", back);
            }
        }
    }
}
