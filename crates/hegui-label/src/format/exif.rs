//! A small, bounded TIFF/EXIF IFD parser shared by the JPEG (Exif APP1) and TIFF modules.
//!
//! It reads a TIFF header and image file directories (IFDs) from any seekable source, with all
//! offsets relative to a `base` (0 for a TIFF file, the start of the TIFF header inside a JPEG
//! `Exif\0\0` APP1 payload). Every count and offset is checked; entry tables are capped at
//! [`MAX_ENTRIES`] and value reads go through [`io::read_vec`] (capped at `MAX_SITE_BYTES`), so a
//! hostile file costs at most a few MB.
//!
//! It also knows the EXIF text fields where labels are found in the wild: `UserComment` (0x9286,
//! an 8-byte charset prefix then text; many Chinese generators store `{"AIGC":{…}}` there) and
//! `ImageDescription` (0x010E). [`find_text_labels`] reports them only when the text looks like a
//! label, so an ordinary comment is never a label site, and [`ExifTextLabel::blanked`] gives the
//! same-length replacement a writer puts in place so that no EXIF offset moves.

use super::{FormatError, ReadSeek, io};

use std::io::SeekFrom;

/// Most entries hegui reads from one IFD (a classic TIFF IFD cannot hold more).
pub(crate) const MAX_ENTRIES: u64 = 65_535;
/// Most IFDs followed along a chain before giving up (guards against loops and absurd files).
pub(crate) const MAX_IFDS: usize = 1024;

/// Tag `ImageDescription`.
pub(crate) const TAG_IMAGE_DESCRIPTION: u16 = 0x010E;
/// Tag `StripOffsets`.
pub(crate) const TAG_STRIP_OFFSETS: u16 = 0x0111;
/// Tag `StripByteCounts`.
pub(crate) const TAG_STRIP_BYTE_COUNTS: u16 = 0x0117;
/// Tag `TileOffsets`.
pub(crate) const TAG_TILE_OFFSETS: u16 = 0x0144;
/// Tag `TileByteCounts`.
pub(crate) const TAG_TILE_BYTE_COUNTS: u16 = 0x0145;
/// Tag `XMP` (XMP packet, type UNDEFINED or BYTE).
pub(crate) const TAG_XMP: u16 = 0x02BC;
/// Tag `ExifIFD` (pointer to the EXIF sub-IFD).
pub(crate) const TAG_EXIF_IFD: u16 = 0x8769;
/// Tag `UserComment` (in the EXIF sub-IFD).
pub(crate) const TAG_USER_COMMENT: u16 = 0x9286;
/// Tag used by C2PA for a manifest store in TIFF.
pub(crate) const TAG_C2PA: u16 = 0xCD41;

/// Field type `UNDEFINED`.
pub(crate) const TYPE_UNDEFINED: u16 = 7;

/// The byte order declared by a TIFF header (`II` little, `MM` big).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ByteOrder {
    /// `II`: Intel, little-endian.
    Little,
    /// `MM`: Motorola, big-endian.
    Big,
}

impl ByteOrder {
    /// Decodes a `u16`.
    pub(crate) fn u16(self, b: [u8; 2]) -> u16 {
        match self {
            ByteOrder::Little => u16::from_le_bytes(b),
            ByteOrder::Big => u16::from_be_bytes(b),
        }
    }

    /// Decodes a `u32`.
    pub(crate) fn u32(self, b: [u8; 4]) -> u32 {
        match self {
            ByteOrder::Little => u32::from_le_bytes(b),
            ByteOrder::Big => u32::from_be_bytes(b),
        }
    }

    /// Decodes a `u64`.
    pub(crate) fn u64(self, b: [u8; 8]) -> u64 {
        match self {
            ByteOrder::Little => u64::from_le_bytes(b),
            ByteOrder::Big => u64::from_be_bytes(b),
        }
    }

    /// Encodes a `u16`.
    pub(crate) fn put_u16(self, v: u16) -> [u8; 2] {
        match self {
            ByteOrder::Little => v.to_le_bytes(),
            ByteOrder::Big => v.to_be_bytes(),
        }
    }

    /// Encodes a `u32`.
    pub(crate) fn put_u32(self, v: u32) -> [u8; 4] {
        match self {
            ByteOrder::Little => v.to_le_bytes(),
            ByteOrder::Big => v.to_be_bytes(),
        }
    }
}

/// A parsed TIFF header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Header {
    /// Byte order of every multi-byte value.
    pub(crate) order: ByteOrder,
    /// True for BigTIFF (version 43: 8-byte offsets and counts, 20-byte entries).
    pub(crate) big: bool,
    /// Offset of IFD0, relative to the base.
    pub(crate) first_ifd: u64,
}

impl Header {
    /// Size of one IFD entry.
    fn entry_size(&self) -> u64 {
        if self.big { 20 } else { 12 }
    }

    /// Size of the inline value field of an entry (values that fit are stored there).
    pub(crate) fn inline_size(&self) -> u64 {
        if self.big { 8 } else { 4 }
    }
}

/// One IFD entry, exactly as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Entry {
    /// The tag number.
    pub(crate) tag: u16,
    /// The field type (1 BYTE, 2 ASCII, 3 SHORT, 4 LONG, 7 UNDEFINED, 16 LONG8 …).
    pub(crate) typ: u16,
    /// Number of values of `typ`.
    pub(crate) count: u64,
    /// The raw value/offset field (4 bytes used in classic TIFF, 8 in BigTIFF).
    pub(crate) raw: [u8; 8],
    /// Offset of the entry itself, relative to the base.
    pub(crate) pos: u64,
}

impl Entry {
    /// Total size of the value in bytes, or `None` for an unknown type or an overflow.
    pub(crate) fn byte_len(&self) -> Option<u64> {
        type_size(self.typ)?.checked_mul(self.count)
    }

    /// Where the value's bytes are, relative to the base: inside the entry when they fit,
    /// otherwise at the offset stored in the entry.
    pub(crate) fn data_offset(&self, h: &Header) -> Option<u64> {
        if self.byte_len()? <= h.inline_size() {
            // tag(2) + type(2) + count(4 or 8)
            self.pos.checked_add(if h.big { 12 } else { 8 })
        } else {
            Some(self.offset_value(h))
        }
    }

    /// The value field read as an offset (u32, or u64 in BigTIFF).
    pub(crate) fn offset_value(&self, h: &Header) -> u64 {
        if h.big {
            h.order.u64(self.raw)
        } else {
            let [a, b, c, d, ..] = self.raw;
            u64::from(h.order.u32([a, b, c, d]))
        }
    }
}

/// The size in bytes of one value of a TIFF field type.
pub(crate) fn type_size(typ: u16) -> Option<u64> {
    match typ {
        1 | 2 | 6 | 7 => Some(1),
        3 | 8 => Some(2),
        4 | 9 | 11 | 13 => Some(4),
        5 | 10 | 12 | 16 | 17 | 18 => Some(8),
        _ => None,
    }
}

/// One image file directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Ifd {
    /// Where the IFD starts, relative to the base.
    pub(crate) offset: u64,
    /// Its entries, in stored order.
    pub(crate) entries: Vec<Entry>,
    /// Offset of the next IFD (0 = none), relative to the base.
    pub(crate) next: u64,
}

impl Ifd {
    /// The first entry with `tag`.
    pub(crate) fn get(&self, tag: u16) -> Option<&Entry> {
        self.entries.iter().find(|e| e.tag == tag)
    }
}

/// Reads IFDs from `src`, where the TIFF header starts at absolute position `base`.
pub(crate) struct Reader<'a> {
    src: &'a mut dyn ReadSeek,
    base: u64,
    /// The parsed header.
    pub(crate) header: Header,
}

impl<'a> Reader<'a> {
    /// Parses the TIFF header at `base`.
    pub(crate) fn new(src: &'a mut dyn ReadSeek, base: u64) -> Result<Self, FormatError> {
        src.seek(SeekFrom::Start(base))?;
        let mut h = [0u8; 8];
        io::read_exact(src, &mut h, "TIFF header")?;
        let order = match [h[0], h[1]] {
            [b'I', b'I'] => ByteOrder::Little,
            [b'M', b'M'] => ByteOrder::Big,
            _ => {
                return Err(FormatError::malformed(
                    "TIFF header: byte order is not II or MM",
                ));
            }
        };
        let header = match order.u16([h[2], h[3]]) {
            42 => Header {
                order,
                big: false,
                first_ifd: u64::from(order.u32([h[4], h[5], h[6], h[7]])),
            },
            43 => {
                // BigTIFF: u16 offset size (8), u16 reserved (0), u64 first IFD.
                if order.u16([h[4], h[5]]) != 8 {
                    return Err(FormatError::malformed(
                        "BigTIFF header: offset size is not 8",
                    ));
                }
                let mut o = [0u8; 8];
                io::read_exact(src, &mut o, "BigTIFF header")?;
                Header {
                    order,
                    big: true,
                    first_ifd: order.u64(o),
                }
            }
            v => {
                return Err(FormatError::malformed(format!(
                    "TIFF header: version {v} is neither 42 nor 43"
                )));
            }
        };
        Ok(Reader { src, base, header })
    }

    /// Seeks to `off` (relative to the base).
    fn seek(&mut self, off: u64) -> Result<(), FormatError> {
        let abs = self
            .base
            .checked_add(off)
            .ok_or_else(|| FormatError::malformed("TIFF offset overflows"))?;
        self.src.seek(SeekFrom::Start(abs))?;
        Ok(())
    }

    /// Reads the IFD at `offset` (relative to the base).
    pub(crate) fn read_ifd(&mut self, offset: u64) -> Result<Ifd, FormatError> {
        let h = self.header;
        self.seek(offset)?;
        let count = if h.big {
            let mut b = [0u8; 8];
            io::read_exact(self.src, &mut b, "TIFF IFD entry count")?;
            h.order.u64(b)
        } else {
            let mut b = [0u8; 2];
            io::read_exact(self.src, &mut b, "TIFF IFD entry count")?;
            u64::from(h.order.u16(b))
        };
        if count > MAX_ENTRIES {
            return Err(FormatError::TooLarge {
                what: "TIFF IFD entry count",
                size: count,
                limit: MAX_ENTRIES,
            });
        }
        let es = h.entry_size();
        // count <= 65535 and es <= 20, so the product cannot overflow.
        let table = io::read_vec(self.src, count * es, "TIFF IFD entries")?;
        let first_entry = offset
            .checked_add(if h.big { 8 } else { 2 })
            .ok_or_else(|| FormatError::malformed("TIFF IFD offset overflows"))?;
        let mut entries = Vec::new();
        for (i, e) in table.chunks_exact(es as usize).enumerate() {
            entries.push(parse_entry(&h, e, first_entry + (i as u64) * es)?);
        }
        let next = if h.big {
            let mut b = [0u8; 8];
            io::read_exact(self.src, &mut b, "TIFF next-IFD offset")?;
            h.order.u64(b)
        } else {
            let mut b = [0u8; 4];
            io::read_exact(self.src, &mut b, "TIFF next-IFD offset")?;
            u64::from(h.order.u32(b))
        };
        Ok(Ifd {
            offset,
            entries,
            next,
        })
    }

    /// The IFD chain starting at IFD0 (IFD0, IFD1, …), stopping at a loop or after [`MAX_IFDS`].
    #[cfg(test)]
    pub(crate) fn chain(&mut self) -> Result<Vec<Ifd>, FormatError> {
        let mut seen = std::collections::HashSet::new();
        let mut out = Vec::new();
        let mut next = self.header.first_ifd;
        while next != 0 && out.len() < MAX_IFDS && seen.insert(next) {
            let ifd = self.read_ifd(next)?;
            next = ifd.next;
            out.push(ifd);
        }
        Ok(out)
    }

    /// The value bytes of `e`, refusing values above `limit` bytes.
    pub(crate) fn read_bytes(
        &mut self,
        e: &Entry,
        limit: u64,
        what: &'static str,
    ) -> Result<Vec<u8>, FormatError> {
        let h = self.header;
        let len = e.byte_len().ok_or_else(|| {
            FormatError::malformed(format!("TIFF tag {}: unknown type {}", e.tag, e.typ))
        })?;
        if len > limit {
            return Err(FormatError::TooLarge {
                what,
                size: len,
                limit,
            });
        }
        let off = e
            .data_offset(&h)
            .ok_or_else(|| FormatError::malformed("TIFF value offset overflows"))?;
        self.seek(off)?;
        io::read_vec(self.src, len, what)
    }

    /// The unsigned integer values of `e` (types BYTE, SHORT, LONG, LONG8, IFD, IFD8), at most
    /// `max_count` of them.
    pub(crate) fn read_uints(
        &mut self,
        e: &Entry,
        max_count: u64,
        what: &'static str,
    ) -> Result<Vec<u64>, FormatError> {
        if e.count > max_count {
            return Err(FormatError::TooLarge {
                what,
                size: e.count,
                limit: max_count,
            });
        }
        let size = match e.typ {
            1 | 3 | 4 | 13 | 16 | 18 => type_size(e.typ).unwrap_or(1),
            t => {
                return Err(FormatError::malformed(format!(
                    "TIFF tag {}: type {t} is not an unsigned integer",
                    e.tag
                )));
            }
        };
        let bytes = self.read_bytes(e, crate::format::MAX_SITE_BYTES, what)?;
        let order = self.header.order;
        let vals = bytes
            .chunks_exact(size as usize)
            .map(|c| match *c {
                [a] => u64::from(a),
                [a, b] => u64::from(order.u16([a, b])),
                [a, b, c, d] => u64::from(order.u32([a, b, c, d])),
                [a, b, c, d, e, f, g, h] => order.u64([a, b, c, d, e, f, g, h]),
                _ => 0,
            })
            .collect();
        Ok(vals)
    }
}

/// Decodes one raw IFD entry located at `pos`.
fn parse_entry(h: &Header, e: &[u8], pos: u64) -> Result<Entry, FormatError> {
    let trunc = || FormatError::Truncated("TIFF IFD entry");
    let b2 = |i: usize| -> Result<[u8; 2], FormatError> {
        e.get(i..i + 2)
            .and_then(|s| s.try_into().ok())
            .ok_or_else(trunc)
    };
    let tag = h.order.u16(b2(0)?);
    let typ = h.order.u16(b2(2)?);
    let mut raw = [0u8; 8];
    let count = if h.big {
        let c: [u8; 8] = e
            .get(4..12)
            .and_then(|s| s.try_into().ok())
            .ok_or_else(trunc)?;
        raw.copy_from_slice(e.get(12..20).ok_or_else(trunc)?);
        h.order.u64(c)
    } else {
        let c: [u8; 4] = e
            .get(4..8)
            .and_then(|s| s.try_into().ok())
            .ok_or_else(trunc)?;
        if let (Some(dst), Some(src)) = (raw.get_mut(0..4), e.get(8..12)) {
            dst.copy_from_slice(src);
        }
        u64::from(h.order.u32(c))
    };
    Ok(Entry {
        tag,
        typ,
        count,
        raw,
        pos,
    })
}

/// How the text of an EXIF label field is encoded, so a writer can blank it correctly.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TextKind {
    /// Single-byte text (ASCII, UTF-8, JIS, or undefined charset).
    Bytes,
    /// UTF-16 big-endian (`UNICODE\0` prefix).
    Utf16Be,
    /// UTF-16 little-endian (`UNICODE\0` prefix).
    Utf16Le,
}

/// An EXIF text field that holds an AIGC label.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ExifTextLabel {
    /// `UserComment` or `ImageDescription`.
    pub(crate) field: &'static str,
    /// The label text (prefix and padding removed), as stored.
    pub(crate) json: String,
    /// Where the field's value starts, relative to the TIFF base.
    pub(crate) offset: u64,
    /// The field's value length in bytes.
    pub(crate) len: u64,
    /// Length of the charset prefix kept when blanking (8 for a UserComment with a prefix).
    pub(crate) prefix_len: usize,
    /// How the text after the prefix is encoded.
    pub(crate) kind: TextKind,
}

impl ExifTextLabel {
    /// The same-length replacement for the field's value: the charset prefix is kept and the text
    /// becomes spaces (a trailing NUL of an ASCII field stays), so no EXIF offset moves and the
    /// field reads as an empty comment.
    pub(crate) fn blanked(&self, original: &[u8]) -> Vec<u8> {
        let mut out = original.to_vec();
        let start = self.prefix_len.min(out.len());
        let ends_nul = out.last() == Some(&0) && self.field == "ImageDescription";
        let Some(tail) = out.get_mut(start..) else {
            return out;
        };
        match self.kind {
            TextKind::Bytes => tail.fill(b' '),
            TextKind::Utf16Be => {
                for pair in tail.chunks_mut(2) {
                    if let [a, b] = pair {
                        *a = 0;
                        *b = b' ';
                    } else {
                        pair.fill(0);
                    }
                }
            }
            TextKind::Utf16Le => {
                for pair in tail.chunks_mut(2) {
                    if let [a, b] = pair {
                        *a = b' ';
                        *b = 0;
                    } else {
                        pair.fill(0);
                    }
                }
            }
        }
        if ends_nul && let Some(last) = out.last_mut() {
            *last = 0;
        }
        out
    }
}

/// Returns the label JSON inside `text` when the text looks like an AIGC label: a JSON object
/// with an `"AIGC"` key or the `Label`/`ContentProducer` keys of the bare form, or an `AIGC{…}`
/// blob. Ordinary text returns `None`, so a plain comment is never mistaken for a label.
pub(crate) fn label_json_in(text: &str) -> Option<&str> {
    let t = text.trim_matches(|c: char| c == '\0' || c.is_whitespace());
    if let Some(rest) = t.strip_prefix("AIGC") {
        let rest = rest.trim_start_matches(|c: char| c == ':' || c == '=' || c.is_whitespace());
        if rest.starts_with('{') {
            return Some(rest);
        }
    }
    if t.starts_with('{')
        && (t.contains("\"AIGC\"")
            || (t.contains("\"Label\"") && t.contains("\"ContentProducer\"")))
    {
        return Some(t);
    }
    None
}

/// Largest EXIF text field hegui inspects for a label.
const MAX_TEXT_FIELD: u64 = 1 << 20;

/// Finds AIGC labels in the EXIF text fields of `ifd0` and its EXIF sub-IFD: `UserComment`
/// (either IFD) and `ImageDescription`. Problems reading the sub-IFD go to `notes` instead of
/// failing, because the label sites hegui writes do not depend on it.
pub(crate) fn find_text_labels(
    r: &mut Reader<'_>,
    ifd0: &Ifd,
    notes: &mut Vec<String>,
) -> Vec<ExifTextLabel> {
    let mut out = Vec::new();
    let mut candidates: Vec<Entry> = ifd0
        .entries
        .iter()
        .filter(|e| e.tag == TAG_USER_COMMENT || e.tag == TAG_IMAGE_DESCRIPTION)
        .cloned()
        .collect();
    if let Some(p) = ifd0.get(TAG_EXIF_IFD) {
        let h = r.header;
        let off = if p.count == 1 {
            match r.read_uints(p, 1, "EXIF IFD pointer") {
                Ok(v) => v.first().copied(),
                Err(e) => {
                    notes.push(format!("EXIF IFD pointer unreadable: {e}"));
                    None
                }
            }
        } else {
            Some(p.offset_value(&h))
        };
        if let Some(off) = off.filter(|&o| o != ifd0.offset && o != 0) {
            match r.read_ifd(off) {
                Ok(sub) => candidates.extend(
                    sub.entries
                        .into_iter()
                        .filter(|e| e.tag == TAG_USER_COMMENT),
                ),
                Err(e) => notes.push(format!("EXIF sub-IFD unreadable: {e}")),
            }
        }
    }
    for e in candidates {
        let bytes = match r.read_bytes(&e, MAX_TEXT_FIELD, "EXIF text field") {
            Ok(b) => b,
            Err(err) => {
                notes.push(format!("EXIF tag 0x{:04X} unreadable: {err}", e.tag));
                continue;
            }
        };
        let h = r.header;
        let Some(offset) = e.data_offset(&h) else {
            continue;
        };
        let (field, decoded) = if e.tag == TAG_USER_COMMENT {
            ("UserComment", decode_user_comment(&bytes, h.order))
        } else {
            (
                "ImageDescription",
                (
                    0,
                    TextKind::Bytes,
                    String::from_utf8_lossy(&bytes).into_owned(),
                ),
            )
        };
        let (prefix_len, kind, text) = decoded;
        if let Some(json) = label_json_in(&text) {
            out.push(ExifTextLabel {
                field,
                json: json.to_string(),
                offset,
                len: bytes.len() as u64,
                prefix_len,
                kind,
            });
        }
    }
    out
}

/// Splits a UserComment value into (prefix length, encoding, text). The standard 8-byte charset
/// prefixes are recognised; a value that starts directly with a label has no prefix; any other
/// 8 bytes in front of a label are treated as an (unknown) prefix.
fn decode_user_comment(bytes: &[u8], order: ByteOrder) -> (usize, TextKind, String) {
    let head = bytes.get(..8);
    let body = bytes.get(8..).unwrap_or(&[]);
    if head == Some(b"UNICODE\0") {
        // EXIF leaves the UTF-16 byte order open; writers use the TIFF order, but a zero high
        // byte on the first (ASCII) character tells us for sure.
        let kind = match (body.first(), body.get(1)) {
            (Some(0), Some(b)) if *b != 0 => TextKind::Utf16Be,
            (Some(a), Some(0)) if *a != 0 => TextKind::Utf16Le,
            _ if order == ByteOrder::Big => TextKind::Utf16Be,
            _ => TextKind::Utf16Le,
        };
        let units = body.chunks_exact(2).map(|c| match (kind, c) {
            (TextKind::Utf16Be, [a, b]) => u16::from_be_bytes([*a, *b]),
            (_, [a, b]) => u16::from_le_bytes([*a, *b]),
            _ => 0,
        });
        let text: String = char::decode_utf16(units)
            .map(|r| r.unwrap_or(char::REPLACEMENT_CHARACTER))
            .collect();
        return (8, kind, text);
    }
    let known = matches!(
        head,
        Some(b"ASCII\0\0\0") | Some(b"JIS\0\0\0\0\0") | Some([0, 0, 0, 0, 0, 0, 0, 0])
    );
    let whole = String::from_utf8_lossy(bytes);
    if !known && label_json_in(&whole).is_some() {
        return (0, TextKind::Bytes, whole.into_owned());
    }
    if head.is_some() {
        (
            8,
            TextKind::Bytes,
            String::from_utf8_lossy(body).into_owned(),
        )
    } else {
        (0, TextKind::Bytes, whole.into_owned())
    }
}

#[cfg(test)]
pub(crate) mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::io::Cursor;

    /// One entry for [`build_tiff`]: tag, type, count, value bytes (stored inline or out of line).
    pub(crate) type TestEntry = (u16, u16, u32, Vec<u8>);

    /// Builds a classic TIFF structure (used as an Exif payload or as a file) with one IFD0 and an
    /// optional EXIF sub-IFD. Values longer than 4 bytes are placed after the IFDs.
    pub(crate) fn build_tiff(order: ByteOrder, ifd0: &[TestEntry], exif: &[TestEntry]) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(if order == ByteOrder::Little {
            b"II"
        } else {
            b"MM"
        });
        out.extend_from_slice(&order.put_u16(42));
        out.extend_from_slice(&order.put_u32(8));
        let ifd_len = |n: usize| 2 + 12 * n + 4;
        let ifd0_n = ifd0.len() + usize::from(!exif.is_empty());
        let exif_off = 8 + ifd_len(ifd0_n);
        let mut data_off = exif_off
            + if exif.is_empty() {
                0
            } else {
                ifd_len(exif.len())
            };
        let mut data = Vec::new();
        let mut write_ifd = |out: &mut Vec<u8>, entries: &[TestEntry], extra: Option<u32>| {
            let mut all: Vec<TestEntry> = entries.to_vec();
            if let Some(p) = extra {
                all.push((TAG_EXIF_IFD, 4, 1, order.put_u32(p).to_vec()));
            }
            all.sort_by_key(|e| e.0);
            out.extend_from_slice(&order.put_u16(all.len() as u16));
            for (tag, typ, count, val) in &all {
                out.extend_from_slice(&order.put_u16(*tag));
                out.extend_from_slice(&order.put_u16(*typ));
                out.extend_from_slice(&order.put_u32(*count));
                if val.len() <= 4 {
                    let mut v = val.clone();
                    v.resize(4, 0);
                    out.extend_from_slice(&v);
                } else {
                    out.extend_from_slice(&order.put_u32(data_off as u32));
                    data.extend_from_slice(val);
                    data_off += val.len();
                    if val.len() % 2 == 1 {
                        data.push(0);
                        data_off += 1;
                    }
                }
            }
            out.extend_from_slice(&order.put_u32(0));
        };
        write_ifd(
            &mut out,
            ifd0,
            (!exif.is_empty()).then_some(exif_off as u32),
        );
        if !exif.is_empty() {
            write_ifd(&mut out, exif, None);
        }
        out.extend_from_slice(&data);
        out
    }

    fn user_comment(prefix: &[u8], text: &str) -> TestEntry {
        let mut v = prefix.to_vec();
        v.extend_from_slice(text.as_bytes());
        (TAG_USER_COMMENT, 7, v.len() as u32, v)
    }

    fn labels(tiff: &[u8]) -> Vec<ExifTextLabel> {
        let mut c = Cursor::new(tiff.to_vec());
        let mut r = Reader::new(&mut c, 0).unwrap();
        let ifd0 = r.read_ifd(r.header.first_ifd).unwrap();
        let mut notes = Vec::new();
        find_text_labels(&mut r, &ifd0, &mut notes)
    }

    const WRAPPED: &str = r#"{"AIGC":{"Label":"1","ContentProducer":"x","ProduceID":"y","ReservedCode1":"","ContentPropagator":"","PropagateID":"","ReservedCode2":""}}"#;

    #[test]
    fn user_comment_ascii_prefix_is_a_label_both_orders() {
        for order in [ByteOrder::Little, ByteOrder::Big] {
            let t = build_tiff(order, &[], &[user_comment(b"ASCII\0\0\0", WRAPPED)]);
            let l = labels(&t);
            assert_eq!(l.len(), 1);
            assert_eq!(l[0].json, WRAPPED);
            assert_eq!(l[0].prefix_len, 8);
            let off = l[0].offset as usize;
            assert_eq!(&t[off..off + 8], b"ASCII\0\0\0");
        }
    }

    #[test]
    fn user_comment_bare_and_odd_prefix_and_aigc_blob() {
        let t = build_tiff(ByteOrder::Little, &[], &[user_comment(b"", WRAPPED)]);
        assert_eq!(labels(&t)[0].prefix_len, 0);
        let t = build_tiff(
            ByteOrder::Little,
            &[],
            &[user_comment(b"ascii   ", WRAPPED)],
        );
        assert_eq!(labels(&t)[0].json, WRAPPED);
        let blob = format!("AIGC{}", &WRAPPED[8..WRAPPED.len() - 1]);
        let t = build_tiff(ByteOrder::Big, &[], &[user_comment(b"ASCII\0\0\0", &blob)]);
        assert!(labels(&t)[0].json.starts_with("{\"Label\""));
    }

    #[test]
    fn ordinary_user_comment_is_not_a_label() {
        for text in [
            "Shot on a sunny day",
            "",
            "{\"note\":\"hello\"}",
            "AIGC is cool",
        ] {
            let t = build_tiff(
                ByteOrder::Little,
                &[],
                &[user_comment(b"ASCII\0\0\0", text)],
            );
            assert!(labels(&t).is_empty(), "{text}");
        }
    }

    #[test]
    fn unicode_user_comment_and_blanking() {
        let mut v = b"UNICODE\0".to_vec();
        for u in WRAPPED.encode_utf16() {
            v.extend_from_slice(&u.to_be_bytes());
        }
        let t = build_tiff(
            ByteOrder::Big,
            &[],
            &[(TAG_USER_COMMENT, 7, v.len() as u32, v.clone())],
        );
        let l = labels(&t);
        assert_eq!(l[0].json, WRAPPED);
        assert_eq!(l[0].kind, TextKind::Utf16Be);
        let b = l[0].blanked(&v);
        assert_eq!(b.len(), v.len());
        assert_eq!(&b[..8], b"UNICODE\0");
        assert!(b[8..].chunks(2).all(|c| c == [0, b' ']));
    }

    #[test]
    fn blanking_ascii_keeps_prefix() {
        let t = build_tiff(
            ByteOrder::Little,
            &[],
            &[user_comment(b"ASCII\0\0\0", WRAPPED)],
        );
        let l = labels(&t);
        let off = l[0].offset as usize;
        let orig = &t[off..off + l[0].len as usize];
        let b = l[0].blanked(orig);
        assert_eq!(&b[..8], b"ASCII\0\0\0");
        assert!(b[8..].iter().all(|&c| c == b' '));
    }

    #[test]
    fn image_description_label() {
        let mut d = WRAPPED.as_bytes().to_vec();
        d.push(0);
        let t = build_tiff(
            ByteOrder::Little,
            &[(TAG_IMAGE_DESCRIPTION, 2, d.len() as u32, d.clone())],
            &[],
        );
        let l = labels(&t);
        assert_eq!(l[0].field, "ImageDescription");
        let b = l[0].blanked(&d);
        assert_eq!(*b.last().unwrap(), 0);
    }

    #[test]
    fn bigtiff_header_and_bad_headers() {
        let mut b = b"II\x2b\x00\x08\x00\x00\x00".to_vec();
        b.extend_from_slice(&16u64.to_le_bytes());
        b.extend_from_slice(&0u64.to_le_bytes()); // IFD with 0 entries
        b.extend_from_slice(&0u64.to_le_bytes());
        let mut c = Cursor::new(b);
        let mut r = Reader::new(&mut c, 0).unwrap();
        assert!(r.header.big);
        assert_eq!(r.chain().unwrap().len(), 1);
        for bad in [&b"XX*\0\0\0\0\0"[..], b"II*", b"II\x2a\x00\xff\xff\xff\xff"] {
            let mut c = Cursor::new(bad.to_vec());
            let res = Reader::new(&mut c, 0).and_then(|mut r| r.chain());
            assert!(res.is_err(), "{bad:?}");
        }
    }

    #[test]
    fn ifd_loop_terminates() {
        // IFD0 at 8 whose next pointer is itself.
        let mut b = b"II*\0\x08\0\0\0".to_vec();
        b.extend_from_slice(&0u16.to_le_bytes());
        b.extend_from_slice(&8u32.to_le_bytes());
        let mut c = Cursor::new(b);
        let mut r = Reader::new(&mut c, 0).unwrap();
        assert_eq!(r.chain().unwrap().len(), 1);
    }

    proptest::proptest! {
        #[test]
        fn parser_never_panics(data in proptest::collection::vec(proptest::num::u8::ANY, 0..512)) {
            let mut c = Cursor::new(data);
            if let Ok(mut r) = Reader::new(&mut c, 0)
                && let Ok(chain) = r.chain()
                && let Some(ifd0) = chain.first()
            {
                let mut notes = Vec::new();
                let _ = find_text_labels(&mut r, ifd0, &mut notes);
                for e in &ifd0.entries {
                    let _ = r.read_uints(e, 1000, "x");
                }
            }
        }
    }
}

/// Helpers for the image-format tests (PNG, JPEG, TIFF) that drive exiftool.
#[cfg(test)]
pub(crate) mod test_util {
    #![allow(clippy::unwrap_used)]
    use crate::test_support::{exiftool_config, tool};
    use std::path::Path;
    use std::process::Command;

    /// Undoes the XML escapes an XMP writer may use, so a test can look for the label text.
    pub(crate) fn unescape_xml(s: &str) -> String {
        s.replace("&quot;", "\"")
            .replace("&#34;", "\"")
            .replace("&#x22;", "\"")
            .replace("&apos;", "'")
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&amp;", "&")
    }

    /// `exiftool -XMP-TC260:AIGC` of `path` (raw value), or `None` when exiftool is missing.
    pub(crate) fn exiftool_read_aigc(path: &Path) -> Option<String> {
        let exiftool = tool("exiftool")?;
        let out = Command::new(exiftool)
            .arg("-config")
            .arg(exiftool_config())
            .args(["-b", "-XMP-TC260:AIGC"])
            .arg(path)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        Some(String::from_utf8(out.stdout).unwrap())
    }

    /// Labels `path` in place with exiftool (`-XMP-TC260:AIGC=<json>`); false when exiftool is
    /// missing.
    pub(crate) fn exiftool_write_aigc(path: &Path, json: &str) -> bool {
        let Some(exiftool) = tool("exiftool") else {
            return false;
        };
        let out = Command::new(exiftool)
            .arg("-config")
            .arg(exiftool_config())
            .arg("-overwrite_original")
            .arg(format!("-XMP-TC260:AIGC={json}"))
            .arg(path)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        true
    }

    /// `exiftool -j -a -G1 <args> path` parsed as JSON (first object), or `None` without exiftool.
    pub(crate) fn exiftool_json(path: &Path, args: &[&str]) -> Option<serde_json::Value> {
        let exiftool = tool("exiftool")?;
        let out = Command::new(exiftool)
            .arg("-config")
            .arg(exiftool_config())
            .args(["-j", "-a", "-G1"])
            .args(args)
            .arg(path)
            .output()
            .unwrap();
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        Some(v.get(0).cloned().unwrap())
    }
}
