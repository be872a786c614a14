//! MP3: the label is an ID3v2 `TXXX` (user-defined text) frame with description `AIGC` whose
//! value is the label JSON (audio practice guide PG-202510A), in the ID3v2 tag at the file start.
//!
//! Key decisions:
//! * An existing ID3v2.3 or v2.4 tag is rewritten in place: every other frame is copied byte for
//!   byte (we never re-encode frames we do not own), an old `TXXX:AIGC` is replaced where it
//!   stood, and the tag keeps its version. The new frame uses encoding 0x03 (UTF-8) in v2.4 and
//!   0x00 (ISO-8859-1) in v2.3, since label values are ASCII (UTF-16 with BOM in v2.3 otherwise).
//!   A file without a tag gets a fresh v2.4 tag. ID3v2.2 tags are read but never written.
//! * The tag keeps its size when the new frames fit in the old padding, so the audio does not
//!   move; otherwise the tag grows without new padding.
//! * Tag-level unsynchronisation is honoured: a v2.3 tag is de-unsynchronised, rebuilt and
//!   unsynchronised again; in v2.4 (where unsynchronisation is per frame) our frame carries the
//!   frame-level flag, which is a no-op for UTF-8 text as it never contains 0xFF. A v2.3 extended
//!   header (padding size and frame CRC, both stale after a rewrite) is dropped; of a v2.4 one only
//!   the "tag is an update" flag survives (its CRC would be stale and a restriction could forbid
//!   our frame). Anything we cannot walk safely (junk between frames, v2.4 tags with the old
//!   iTunes non-syncsafe frame sizes, unknown tag flags) is refused with `Unsupported`.
//! * The MPEG frames and trailers (ID3v1, APEv2, Lyrics3) are a streaming byte copy.
//!
//! Variants the reader also reports (non-canonical, removed on write): `TXXX` whose description
//! is `AIGC` in another letter case, `COMM` frames described `AIGC`, labels in a second ID3v2 tag,
//! and an APEv2 item `AIGC`. XMP packets in a `PRIV` frame owned by `XMP` are returned as
//! [`SitePayload::Xmp`]; a write refuses a file whose ID3 XMP or APEv2 tag carries a label, because
//! removing it there is not something this module can do without changing the content selection.
//!
//! The ID3v2 helpers are also used by `flac`, whose files sometimes start with an ID3v2 tag.

use super::{FormatError, MAX_SITE_BYTES, RawSite, ReadSeek, Scan, SitePayload, WriteSeek, io};
use std::borrow::Cow;
use std::io::{Read, SeekFrom, Write};

/// The `TXXX` description that names the label.
const DESCRIPTION: &str = "AIGC";

/// ID3v2 header (and footer) length.
const HEADER_LEN: usize = 10;

/// How many back-to-back ID3v2 tags at the file start the reader and writer look at.
const MAX_CHAINED_TAGS: usize = 8;

/// Largest tag size an ID3v2 header can express (28-bit syncsafe).
const MAX_SYNCSAFE: usize = (1 << 28) - 1;

/// Decodes a 4-byte syncsafe integer (7 bits per byte); `None` when a high bit is set.
fn syncsafe(b: &[u8]) -> Option<u32> {
    if b.len() != 4 || b.iter().any(|&x| x & 0x80 != 0) {
        return None;
    }
    Some(b.iter().fold(0u32, |acc, &x| (acc << 7) | u32::from(x)))
}

/// Encodes `n` as a 4-byte syncsafe integer.
fn to_syncsafe(n: usize, what: &'static str) -> Result<[u8; 4], FormatError> {
    if n > MAX_SYNCSAFE {
        return Err(FormatError::TooLarge {
            what,
            size: n as u64,
            limit: MAX_SYNCSAFE as u64,
        });
    }
    // Each shifted value is masked to 7 bits, so the casts cannot truncate.
    Ok([
        ((n >> 21) & 0x7F) as u8,
        ((n >> 14) & 0x7F) as u8,
        ((n >> 7) & 0x7F) as u8,
        (n & 0x7F) as u8,
    ])
}

/// Reverses unsynchronisation: every `FF 00` becomes `FF`.
fn deunsynchronise(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len());
    let mut prev_ff = false;
    for &b in data {
        if prev_ff && b == 0 {
            prev_ff = false;
            continue;
        }
        out.push(b);
        prev_ff = b == 0xFF;
    }
    out
}

/// Applies unsynchronisation: a zero byte after every `FF` that is followed by `00`, by a byte
/// of `E0` or above (a false MPEG sync), or by nothing (the tag must not end in `FF`).
fn unsynchronise(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + data.len() / 64 + 1);
    for (i, &b) in data.iter().enumerate() {
        out.push(b);
        if b == 0xFF {
            match data.get(i + 1) {
                Some(&n) if n != 0 && n < 0xE0 => {}
                _ => out.push(0),
            }
        }
    }
    out
}

/// The 10-byte ID3v2 tag header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TagHeader {
    major: u8,
    revision: u8,
    flags: u8,
    /// Size of the tag body (everything after the header, excluding a v2.4 footer).
    size: u32,
}

impl TagHeader {
    /// Parses a header; `Ok(None)` when the bytes do not start with `ID3`.
    fn parse(b: &[u8; HEADER_LEN]) -> Result<Option<TagHeader>, FormatError> {
        if &b[0..3] != b"ID3" {
            return Ok(None);
        }
        let (major, revision, flags) = (b[3], b[4], b[5]);
        if major == 0xFF || revision == 0xFF {
            return Err(FormatError::malformed("ID3v2 header version byte is 0xFF"));
        }
        let size = syncsafe(&b[6..10])
            .ok_or_else(|| FormatError::malformed("ID3v2 tag size is not a syncsafe integer"))?;
        Ok(Some(TagHeader {
            major,
            revision,
            flags,
            size,
        }))
    }

    fn unsync(&self) -> bool {
        self.flags & 0x80 != 0
    }

    fn extended(&self) -> bool {
        // In v2.2 bit 6 means "compressed", which has no defined scheme.
        self.major >= 3 && self.flags & 0x40 != 0
    }

    fn footer(&self) -> bool {
        self.major == 4 && self.flags & 0x10 != 0
    }

    /// Header + body + footer.
    pub(crate) fn total_len(&self) -> u64 {
        let footer = if self.footer() { HEADER_LEN as u64 } else { 0 };
        HEADER_LEN as u64 + u64::from(self.size) + footer
    }

    fn version(&self) -> String {
        format!("ID3v2.{}", self.major)
    }
}

/// Reads as many bytes as are available up to `buf.len()`.
fn read_up_to(src: &mut dyn ReadSeek, buf: &mut [u8]) -> Result<usize, FormatError> {
    let mut got = 0;
    while got < buf.len() {
        let Some(rest) = buf.get_mut(got..) else {
            break;
        };
        match src.read(rest) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(got)
}

/// Reads an ID3v2 header at the current position. Leaves the position after the header when one
/// is found and restores it otherwise.
pub(crate) fn read_header(src: &mut dyn ReadSeek) -> Result<Option<TagHeader>, FormatError> {
    let start = src.stream_position()?;
    let mut head = [0u8; HEADER_LEN];
    let n = read_up_to(src, &mut head)?;
    if n < 3 || head.get(..3) != Some(b"ID3".as_slice()) {
        src.seek(SeekFrom::Start(start))?;
        return Ok(None);
    }
    if n < HEADER_LEN {
        return Err(FormatError::Truncated("ID3v2 header"));
    }
    TagHeader::parse(&head)
}

/// One frame inside a tag body.
#[derive(Debug, Clone)]
struct FrameSpan {
    id: String,
    /// Offset of the frame header in the body.
    start: usize,
    /// Offset just past the frame data.
    end: usize,
    /// The two flag bytes (zero in v2.2).
    flags: [u8; 2],
}

/// A frame that is (or may carry) a label.
#[derive(Debug)]
enum LabelFrame {
    /// `TXXX`/`COMM` (v2.2: `TXX`/`COM`) whose description is `AIGC` in some letter case.
    Text {
        kind: String,
        description: String,
        value: String,
    },
    /// A `PRIV` frame owned by `XMP`: a whole XMP packet.
    Xmp(String),
}

/// A parsed ID3v2 tag held in memory (tags are metadata, capped at [`MAX_SITE_BYTES`]).
#[derive(Debug)]
pub(crate) struct Id3Tag {
    header: TagHeader,
    /// The tag body; de-unsynchronised when the v2.2/v2.3 tag-level flag is set.
    body: Vec<u8>,
    /// v2.4 extended header with the "tag is an update" flag.
    ext_update: bool,
    frames: Vec<FrameSpan>,
    /// Why the frame walk stopped before the end of the frames, if it did.
    junk: Option<String>,
    /// v2.4 frame sizes written as plain integers (an old iTunes bug).
    plain_sizes: bool,
}

/// Reads a whole ID3v2 tag at the current position; `Ok(None)` (position restored) when there is
/// none. Leaves the position just past the tag (and its footer).
pub(crate) fn read_tag(src: &mut dyn ReadSeek) -> Result<Option<Id3Tag>, FormatError> {
    let Some(header) = read_header(src)? else {
        return Ok(None);
    };
    let body = io::read_vec(src, u64::from(header.size), "ID3v2 tag")?;
    if header.footer() {
        let mut footer = [0u8; HEADER_LEN];
        io::read_exact(src, &mut footer, "ID3v2 footer")?;
    }
    Ok(Some(Id3Tag::parse(header, body)?))
}

impl Id3Tag {
    fn parse(header: TagHeader, raw: Vec<u8>) -> Result<Id3Tag, FormatError> {
        let body = if header.unsync() && header.major <= 3 {
            deunsynchronise(&raw)
        } else {
            raw
        };
        let mut tag = Id3Tag {
            header,
            body,
            ext_update: false,
            frames: Vec::new(),
            junk: None,
            plain_sizes: false,
        };
        if header.major < 2 || header.major > 4 {
            tag.junk = Some(format!("unknown ID3v2 version 2.{}", header.major));
            return Ok(tag);
        }
        if header.major == 2 && header.flags & 0x40 != 0 {
            tag.junk = Some("ID3v2.2 tag marked compressed (no defined scheme)".into());
            return Ok(tag);
        }
        let frames_start = if header.extended() {
            let size_bytes = tag
                .body
                .get(0..4)
                .ok_or(FormatError::Truncated("ID3v2 extended header"))?;
            if header.major == 3 {
                let n = u32::from_be_bytes([
                    size_bytes[0],
                    size_bytes[1],
                    size_bytes[2],
                    size_bytes[3],
                ]);
                (n as usize)
                    .checked_add(4)
                    .ok_or_else(|| FormatError::malformed("ID3v2.3 extended header size"))?
            } else {
                let n = syncsafe(size_bytes).ok_or_else(|| {
                    FormatError::malformed("ID3v2.4 extended header size is not syncsafe")
                })? as usize;
                if n < 6 {
                    return Err(FormatError::malformed(
                        "ID3v2.4 extended header shorter than 6 bytes",
                    ));
                }
                let flags = tag
                    .body
                    .get(5)
                    .ok_or(FormatError::Truncated("ID3v2 extended header"))?;
                tag.ext_update = flags & 0x40 != 0;
                n
            }
        } else {
            0
        };
        if frames_start > tag.body.len() {
            return Err(FormatError::Truncated("ID3v2 extended header"));
        }
        let (frames, junk) = walk_frames(&tag.body, frames_start, header.major, false);
        if junk.is_some() && header.major == 4 {
            // iTunes once wrote v2.4 tags with v2.3-style frame sizes; accept them if they walk.
            let (plain, plain_junk) = walk_frames(&tag.body, frames_start, 4, true);
            if plain_junk.is_none() {
                tag.frames = plain;
                tag.plain_sizes = true;
                return Ok(tag);
            }
        }
        tag.frames = frames;
        tag.junk = junk;
        Ok(tag)
    }

    /// The tag header.
    pub(crate) fn header(&self) -> TagHeader {
        self.header
    }

    fn frame_header_len(&self) -> usize {
        if self.header.major == 2 { 6 } else { 10 }
    }

    /// The frame's content with frame-level flags undone (grouping, data length, unsync,
    /// compression). `Err` says why it cannot be read (encryption, bad zlib data).
    fn payload(&self, f: &FrameSpan) -> Result<Cow<'_, [u8]>, String> {
        let data = self
            .body
            .get(f.start + self.frame_header_len()..f.end)
            .ok_or("frame outside the tag")?;
        let fl = f.flags[1];
        match self.header.major {
            3 => {
                let compressed = fl & 0x80 != 0;
                if fl & 0x40 != 0 {
                    return Err("encrypted frame".into());
                }
                let skip = if compressed { 4 } else { 0 } + usize::from(fl & 0x20 != 0);
                let data = data
                    .get(skip..)
                    .ok_or("frame shorter than its flag fields")?;
                if compressed {
                    inflate(data).map(Cow::Owned)
                } else {
                    Ok(Cow::Borrowed(data))
                }
            }
            4 => {
                if fl & 0x04 != 0 {
                    return Err("encrypted frame".into());
                }
                let skip = usize::from(fl & 0x40 != 0) + if fl & 0x01 != 0 { 4 } else { 0 };
                let data = data
                    .get(skip..)
                    .ok_or("frame shorter than its flag fields")?;
                let data: Cow<'_, [u8]> = if fl & 0x02 != 0 || self.header.unsync() {
                    Cow::Owned(deunsynchronise(data))
                } else {
                    Cow::Borrowed(data)
                };
                if fl & 0x08 != 0 {
                    inflate(&data).map(Cow::Owned)
                } else {
                    Ok(data)
                }
            }
            _ => Ok(Cow::Borrowed(data)),
        }
    }

    /// Recognises label-carrying frames. `Ok(None)` for every other frame.
    fn classify(&self, f: &FrameSpan) -> Result<Option<LabelFrame>, String> {
        let text_kind = matches!(f.id.as_str(), "TXXX" | "TXX");
        let comment_kind = matches!(f.id.as_str(), "COMM" | "COM");
        if !(text_kind || comment_kind || f.id == "PRIV") {
            return Ok(None);
        }
        let p = self.payload(f)?;
        if f.id == "PRIV" {
            let Some(nul) = p.iter().position(|&b| b == 0) else {
                return Ok(None);
            };
            if p.get(..nul) != Some(b"XMP".as_slice()) {
                return Ok(None);
            }
            let packet = p.get(nul + 1..).unwrap_or_default();
            return Ok(Some(LabelFrame::Xmp(
                String::from_utf8_lossy(packet).into_owned(),
            )));
        }
        let Some((&enc, rest)) = p.split_first() else {
            return Ok(None);
        };
        // COMM carries a 3-byte language code before the description.
        let rest = if comment_kind {
            rest.get(3..).unwrap_or_default()
        } else {
            rest
        };
        let Some((description, value)) = split_text(enc, rest) else {
            return Ok(None);
        };
        if !description.eq_ignore_ascii_case(DESCRIPTION) {
            return Ok(None);
        }
        Ok(Some(LabelFrame::Text {
            kind: f.id.clone(),
            description,
            value,
        }))
    }

    /// True when the tag holds any label (a text frame or an XMP packet with an AIGC property).
    pub(crate) fn has_label(&self) -> bool {
        self.frames.iter().any(|f| match self.classify(f) {
            Ok(Some(LabelFrame::Text { .. })) => true,
            Ok(Some(LabelFrame::Xmp(p))) => !crate::xmp::find_labels(&p).is_empty(),
            _ => false,
        })
    }

    /// Reports the tag's label sites as `{prefix}:{frame}:{description}`. Only an exact `TXXX`
    /// `AIGC` frame in a v2.3/v2.4 tag is canonical, and only when `canonical_allowed`.
    pub(crate) fn sites(&self, prefix: &str, canonical_allowed: bool, scan: &mut Scan) {
        let version = self.header.version();
        if let Some(junk) = &self.junk {
            scan.notes.push(format!(
                "{prefix}: {version} frames not fully readable: {junk}"
            ));
        }
        if self.plain_sizes {
            scan.notes.push(format!(
                "{prefix}: {version} tag uses non-syncsafe frame sizes (old iTunes bug)"
            ));
        }
        if self.header.major == 2 {
            scan.notes.push(format!(
                "{prefix}: ID3v2.2 tag (read-only: hegui writes v2.3/v2.4)"
            ));
        }
        for f in &self.frames {
            match self.classify(f) {
                Ok(Some(LabelFrame::Text {
                    kind,
                    description,
                    value,
                })) => {
                    let canonical = canonical_allowed
                        && kind == "TXXX"
                        && description == DESCRIPTION
                        && self.header.major >= 3;
                    scan.sites.push(RawSite {
                        location: format!("{prefix}:{kind}:{description}"),
                        canonical,
                        payload: SitePayload::Json(value),
                    });
                }
                Ok(Some(LabelFrame::Xmp(packet))) => scan.sites.push(RawSite {
                    location: format!("{prefix}:PRIV:XMP"),
                    canonical: false,
                    payload: SitePayload::Xmp(packet),
                }),
                Ok(None) => {}
                Err(why) => scan
                    .notes
                    .push(format!("{prefix}: {} frame not readable: {why}", f.id)),
            }
        }
    }

    /// The complete tag (header, body, footer) with every label frame removed and, when `label`
    /// is given, one `TXXX:AIGC` frame in place of the first one (or after the last frame).
    pub(crate) fn rebuild(&self, label: Option<&str>) -> Result<Vec<u8>, FormatError> {
        let h = self.header;
        match h.major {
            3 if h.flags & 0x1F != 0 => {
                return Err(FormatError::Unsupported(format!(
                    "ID3v2.3 tag with unknown header flags {:#04x}",
                    h.flags
                )));
            }
            4 if h.flags & 0x0F != 0 => {
                return Err(FormatError::Unsupported(format!(
                    "ID3v2.4 tag with unknown header flags {:#04x}",
                    h.flags
                )));
            }
            3 | 4 => {}
            2 => {
                return Err(FormatError::Unsupported(
                    "ID3v2.2 tags are read-only (convert the tag to ID3v2.3 or v2.4 first)".into(),
                ));
            }
            v => {
                return Err(FormatError::Unsupported(format!(
                    "unknown ID3v2 version 2.{v}"
                )));
            }
        }
        if let Some(junk) = &self.junk {
            return Err(FormatError::Unsupported(format!(
                "cannot rewrite this ID3v2 tag safely: {junk}"
            )));
        }
        if self.plain_sizes {
            return Err(FormatError::Unsupported(
                "ID3v2.4 tag with non-syncsafe frame sizes (old iTunes bug); rewriting it would \
                 mix size encodings"
                    .into(),
            ));
        }
        // In v2.4 the tag-level flag means "every frame is unsynchronised", so ours says so too.
        let new_frame = label
            .map(|l| txxx_frame(h.major, l, h.major == 4 && h.unsync()))
            .transpose()?;
        let mut body = Vec::with_capacity(self.body.len() + 512);
        if h.major == 4 && self.ext_update {
            // Size 7 (syncsafe), one flag byte, "update" flag, its empty data.
            body.extend_from_slice(&[0, 0, 0, 7, 1, 0x40, 0]);
        }
        let mut placed = false;
        for f in &self.frames {
            let raw = self
                .body
                .get(f.start..f.end)
                .ok_or_else(|| FormatError::malformed("ID3v2 frame outside the tag"))?;
            match self.classify(f) {
                Ok(Some(LabelFrame::Text { .. })) => {
                    if !placed {
                        if let Some(frame) = &new_frame {
                            body.extend_from_slice(frame);
                        }
                        placed = true;
                    }
                }
                Ok(Some(LabelFrame::Xmp(p))) if !crate::xmp::find_labels(&p).is_empty() => {
                    return Err(FormatError::Unsupported(
                        "an XMP packet in an ID3v2 PRIV frame carries an AIGC property; hegui \
                         cannot remove it there without a second label site remaining"
                            .into(),
                    ));
                }
                _ => body.extend_from_slice(raw),
            }
        }
        if !placed && let Some(frame) = &new_frame {
            body.extend_from_slice(frame);
        }
        // Keep the old size when we fit, so the audio stays where it was. A tag with a footer
        // must not carry padding (ID3v2.4 §3.4).
        if !h.footer() && body.len() < self.body.len() {
            body.resize(self.body.len(), 0);
        }
        if h.major == 3 && h.unsync() {
            body = unsynchronise(&body);
        }
        let mut flags = h.flags & !0x40;
        if h.major == 4 && self.ext_update {
            flags |= 0x40;
        }
        let size = to_syncsafe(body.len(), "ID3v2 tag")?;
        let mut out = Vec::with_capacity(body.len() + 2 * HEADER_LEN);
        out.extend_from_slice(b"ID3");
        out.extend_from_slice(&[h.major, h.revision, flags]);
        out.extend_from_slice(&size);
        out.extend_from_slice(&body);
        if h.footer() {
            out.extend_from_slice(b"3DI");
            out.extend_from_slice(&[h.major, h.revision, flags]);
            out.extend_from_slice(&size);
        }
        Ok(out)
    }
}

/// Walks frames from `start`; returns the frames and why the walk stopped early (if it did).
/// Reaching a zero byte (padding) or the end of the body is a clean stop.
fn walk_frames(
    body: &[u8],
    start: usize,
    major: u8,
    plain_sizes: bool,
) -> (Vec<FrameSpan>, Option<String>) {
    let (id_len, header_len) = if major == 2 { (3, 6) } else { (4, 10) };
    let mut frames = Vec::new();
    let mut pos = start;
    while let Some(&first) = body.get(pos) {
        if first == 0 {
            break;
        }
        let Some(head) = body.get(pos..pos + header_len) else {
            return (
                frames,
                Some(format!("frame header at {pos} runs past the tag end")),
            );
        };
        let id = &head[..id_len];
        if !id
            .iter()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
        {
            return (frames, Some(format!("invalid frame id at byte {pos}")));
        }
        let size = match major {
            2 => Some(u32::from_be_bytes([0, head[3], head[4], head[5]])),
            3 => Some(u32::from_be_bytes([head[4], head[5], head[6], head[7]])),
            _ if plain_sizes => Some(u32::from_be_bytes([head[4], head[5], head[6], head[7]])),
            _ => syncsafe(&head[4..8]),
        };
        let id = String::from_utf8_lossy(id).into_owned();
        let Some(size) = size else {
            return (frames, Some(format!("frame {id} size is not syncsafe")));
        };
        let end = (pos + header_len).checked_add(size as usize);
        let Some(end) = end.filter(|&e| e <= body.len()) else {
            return (frames, Some(format!("frame {id} runs past the tag end")));
        };
        let flags = if major == 2 {
            [0, 0]
        } else {
            [head[8], head[9]]
        };
        frames.push(FrameSpan {
            id,
            start: pos,
            end,
            flags,
        });
        pos = end;
    }
    (frames, None)
}

/// Inflates a zlib-compressed frame, refusing output over [`MAX_SITE_BYTES`].
fn inflate(data: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    flate2::read::ZlibDecoder::new(data)
        .take(MAX_SITE_BYTES + 1)
        .read_to_end(&mut out)
        .map_err(|e| format!("bad compressed frame: {e}"))?;
    if out.len() as u64 > MAX_SITE_BYTES {
        return Err("compressed frame inflates past the size limit".into());
    }
    Ok(out)
}

/// Splits `description NUL value` in text encoding `enc`; the value stops at its first
/// terminator (v2.4 lists) and missing terminators are tolerated.
fn split_text(enc: u8, data: &[u8]) -> Option<(String, String)> {
    match enc {
        0 | 3 => {
            let nul = data.iter().position(|&b| b == 0)?;
            let (desc, rest) = (data.get(..nul)?, data.get(nul + 1..)?);
            let value = rest.split(|&b| b == 0).next().unwrap_or_default();
            let decode = |b: &[u8]| -> String {
                if enc == 0 {
                    b.iter().map(|&c| char::from(c)).collect()
                } else {
                    String::from_utf8_lossy(b).into_owned()
                }
            };
            Some((decode(desc), decode(value)))
        }
        1 | 2 => {
            let nul = utf16_terminator(data)?;
            let (desc, rest) = (data.get(..nul)?, data.get(nul + 2..)?);
            let (desc, big_endian) = decode_utf16(desc, enc == 2, false);
            let value = rest.get(..utf16_terminator(rest).unwrap_or(rest.len()))?;
            let (value, _) = decode_utf16(value, enc == 2, big_endian);
            Some((desc, value))
        }
        _ => None,
    }
}

/// Offset of the first aligned `00 00` pair.
fn utf16_terminator(data: &[u8]) -> Option<usize> {
    data.chunks_exact(2)
        .position(|c| c == [0, 0])
        .map(|i| i * 2)
}

/// Decodes UTF-16 honouring a BOM; without one, big-endian when `be_default`. Returns the text
/// and whether it was big-endian (a value without BOM follows its description's byte order).
fn decode_utf16(data: &[u8], no_bom_encoding: bool, be_default: bool) -> (String, bool) {
    let (data, be) = match data {
        [0xFF, 0xFE, rest @ ..] if !no_bom_encoding => (rest, false),
        [0xFE, 0xFF, rest @ ..] if !no_bom_encoding => (rest, true),
        _ => (data, no_bom_encoding || be_default),
    };
    let units: Vec<u16> = data
        .chunks_exact(2)
        .map(|c| {
            if be {
                u16::from_be_bytes([c[0], c[1]])
            } else {
                u16::from_le_bytes([c[0], c[1]])
            }
        })
        .collect();
    (String::from_utf16_lossy(&units), be)
}

/// A `TXXX` frame with description `AIGC` for tag version `major`.
fn txxx_frame(major: u8, label: &str, frame_unsync_flag: bool) -> Result<Vec<u8>, FormatError> {
    let mut data = Vec::with_capacity(label.len() * 2 + 16);
    if major == 4 {
        data.push(3);
        data.extend_from_slice(DESCRIPTION.as_bytes());
        data.push(0);
        data.extend_from_slice(label.as_bytes());
    } else if label.is_ascii() {
        data.push(0);
        data.extend_from_slice(DESCRIPTION.as_bytes());
        data.push(0);
        data.extend_from_slice(label.as_bytes());
    } else {
        // v2.3 has no UTF-8: UTF-16 with a BOM on each string.
        data.push(1);
        for (i, s) in [DESCRIPTION, label].into_iter().enumerate() {
            data.extend_from_slice(&[0xFF, 0xFE]);
            data.extend(s.encode_utf16().flat_map(u16::to_le_bytes));
            if i == 0 {
                data.extend_from_slice(&[0, 0]);
            }
        }
    }
    let mut frame = Vec::with_capacity(data.len() + HEADER_LEN);
    frame.extend_from_slice(b"TXXX");
    if major == 4 {
        frame.extend_from_slice(&to_syncsafe(data.len(), "ID3v2 TXXX frame")?);
        frame.extend_from_slice(&[0, if frame_unsync_flag { 0x02 } else { 0 }]);
    } else {
        let size = u32::try_from(data.len()).map_err(|_| FormatError::TooLarge {
            what: "ID3v2 TXXX frame",
            size: data.len() as u64,
            limit: u64::from(u32::MAX),
        })?;
        frame.extend_from_slice(&size.to_be_bytes());
        frame.extend_from_slice(&[0, 0]);
    }
    frame.extend_from_slice(&data);
    Ok(frame)
}

/// A fresh ID3v2.4 tag holding only the label frame.
fn fresh_tag(label: &str) -> Result<Vec<u8>, FormatError> {
    let frame = txxx_frame(4, label, false)?;
    let mut out = Vec::with_capacity(frame.len() + HEADER_LEN);
    out.extend_from_slice(b"ID3\x04\x00\x00");
    out.extend_from_slice(&to_syncsafe(frame.len(), "ID3v2 tag")?);
    out.extend_from_slice(&frame);
    Ok(out)
}

/// True when `b` starts with an MPEG audio frame sync (11 set bits).
fn is_frame_sync(b: &[u8]) -> bool {
    matches!(b, [0xFF, second, ..] if second & 0xE0 == 0xE0)
}

/// What the end-of-file trailers hold.
#[derive(Debug, Default)]
struct Trailers {
    ape_label: bool,
}

/// Looks for ID3v1, APEv2 and an appended ID3v2 footer at the end of the file (after `floor`,
/// the end of the leading tags), noting them and reporting an APEv2 `AIGC` item as a site.
fn scan_trailers(
    src: &mut dyn ReadSeek,
    floor: u64,
    scan: &mut Scan,
) -> Result<Trailers, FormatError> {
    let mut found = Trailers::default();
    let len = io::len(src)?;
    let mut end = len;
    if len >= floor + 128 {
        let mut b = [0u8; 3];
        src.seek(SeekFrom::Start(len - 128))?;
        io::read_exact(src, &mut b, "ID3v1 tag")?;
        if &b == b"TAG" {
            scan.notes.push("mp3: ID3v1 tag at the end".into());
            end = len - 128;
        }
    }
    if end >= floor + 32 {
        let mut footer = [0u8; 32];
        src.seek(SeekFrom::Start(end - 32))?;
        io::read_exact(src, &mut footer, "APEv2 footer")?;
        if footer.starts_with(b"APETAGEX") {
            scan.notes.push("mp3: APEv2 tag at the end".into());
            let size = u64::from(u32::from_le_bytes([
                footer[12], footer[13], footer[14], footer[15],
            ]));
            if size >= 32 && end >= floor + size {
                let items = read_vec_at(src, end - size, size - 32, "APEv2 items")?;
                for (key, value) in ape_items(&items) {
                    if key.eq_ignore_ascii_case(DESCRIPTION) {
                        found.ape_label = true;
                        scan.sites.push(RawSite {
                            location: format!("mp3:APEv2:{key}"),
                            canonical: false,
                            payload: SitePayload::Json(value),
                        });
                    }
                }
            } else {
                scan.notes
                    .push("mp3: APEv2 tag size is inconsistent; items not read".into());
            }
        }
    }
    if end >= floor + HEADER_LEN as u64 {
        let mut b = [0u8; 3];
        src.seek(SeekFrom::Start(end - HEADER_LEN as u64))?;
        io::read_exact(src, &mut b, "ID3v2 footer")?;
        if &b == b"3DI" {
            scan.notes
                .push("mp3: an ID3v2.4 tag is appended at the end (not read)".into());
        }
    }
    Ok(found)
}

/// Reads `n` bytes at `offset`.
fn read_vec_at(
    src: &mut dyn ReadSeek,
    offset: u64,
    n: u64,
    what: &'static str,
) -> Result<Vec<u8>, FormatError> {
    src.seek(SeekFrom::Start(offset))?;
    io::read_vec(src, n, what)
}

/// APEv2 items as (key, UTF-8 value); stops at the first inconsistent item.
fn ape_items(data: &[u8]) -> Vec<(String, String)> {
    let mut items = Vec::new();
    let mut pos = 0usize;
    while let Some(head) = data.get(pos..pos + 8) {
        let size = u32::from_le_bytes([head[0], head[1], head[2], head[3]]) as usize;
        let key_start = pos + 8;
        let Some(key_len) = data
            .get(key_start..)
            .and_then(|r| r.iter().position(|&b| b == 0))
        else {
            break;
        };
        let value_start = key_start + key_len + 1;
        let Some(value) = value_start
            .checked_add(size)
            .and_then(|end| data.get(value_start..end))
        else {
            break;
        };
        let key =
            String::from_utf8_lossy(data.get(key_start..key_start + key_len).unwrap_or_default());
        items.push((
            key.into_owned(),
            String::from_utf8_lossy(value).into_owned(),
        ));
        pos = value_start + size;
    }
    items
}

/// Reads the back-to-back ID3v2 tags after the first one (up to [`MAX_CHAINED_TAGS`]). Leaves
/// the position after the last tag read.
fn read_chained_tags(src: &mut dyn ReadSeek) -> Result<Vec<Id3Tag>, FormatError> {
    let mut tags = Vec::new();
    while tags.len() < MAX_CHAINED_TAGS {
        match read_tag(src)? {
            Some(tag) => tags.push(tag),
            None => break,
        }
    }
    Ok(tags)
}

/// Finds the label sites: frames of the leading ID3v2 tag(s) and an APEv2 item.
pub(crate) fn scan(src: &mut dyn ReadSeek) -> Result<Scan, FormatError> {
    src.seek(SeekFrom::Start(0))?;
    let mut scan = Scan::default();
    let first = read_tag(src)?;
    let mut floor = 0;
    if let Some(tag) = &first {
        tag.sites(&format!("mp3:{}", tag.header.version()), true, &mut scan);
        let more = read_chained_tags(src)?;
        if !more.is_empty() {
            scan.notes.push(format!(
                "mp3: {} ID3v2 tags back to back at the start",
                more.len() + 1
            ));
        }
        for (i, tag) in more.iter().enumerate() {
            tag.sites(
                &format!("mp3:{}#{}", tag.header.version(), i + 2),
                false,
                &mut scan,
            );
        }
        floor = src.stream_position()?;
    }
    let mut head = [0u8; 4];
    let n = read_up_to(src, &mut head)?;
    let head = head.get(..n).unwrap_or_default();
    if !is_frame_sync(head) {
        if first.is_none() {
            return Err(FormatError::malformed(
                "not an MP3 file: no ID3v2 tag and no MPEG frame sync at the start",
            ));
        }
        scan.notes
            .push("mp3: no MPEG frame sync right after the ID3v2 tag".into());
    }
    scan_trailers(src, floor, &mut scan)?;
    Ok(scan)
}

/// Writes `label_json` as the one `TXXX:AIGC` frame of the leading ID3v2 tag.
pub(crate) fn write(
    src: &mut dyn ReadSeek,
    dst: &mut dyn WriteSeek,
    label_json: &str,
) -> Result<(), FormatError> {
    src.seek(SeekFrom::Start(0))?;
    let first = read_tag(src)?;
    let audio_start = src.stream_position()?;
    let mut probe = Scan::default();
    let mut floor = audio_start;
    if first.is_some() {
        // A label in a second tag would survive as a second site; we do not merge tags.
        let more = read_chained_tags(src)?;
        if more.iter().any(Id3Tag::has_label) {
            return Err(FormatError::Unsupported(
                "a second ID3v2 tag after the first holds an AIGC label; merge the tags first"
                    .into(),
            ));
        }
        floor = src.stream_position()?;
    } else {
        let mut head = [0u8; 2];
        let n = read_up_to(src, &mut head)?;
        if !is_frame_sync(head.get(..n).unwrap_or_default()) {
            return Err(FormatError::malformed(
                "not an MP3 file: no ID3v2 tag and no MPEG frame sync at the start",
            ));
        }
    }
    if scan_trailers(src, floor, &mut probe)?.ape_label {
        return Err(FormatError::Unsupported(
            "the APEv2 tag at the end holds an AIGC item; hegui keeps trailers byte-identical, so \
             remove it first to keep one label site"
                .into(),
        ));
    }
    let tag = match &first {
        Some(tag) => tag.rebuild(Some(label_json))?,
        None => fresh_tag(label_json)?,
    };
    dst.write_all(&tag)?;
    src.seek(SeekFrom::Start(audio_start))?;
    io::copy_rest(src, dst)?;
    Ok(())
}

/// Content selection: every byte after the first ID3v2 tag (header, body and footer), i.e. the
/// MPEG frames plus any further tags and trailers (ID3v1, APEv2), exactly as stored. A file
/// without a leading tag contributes all its bytes.
pub(crate) fn content_digest(
    src: &mut dyn ReadSeek,
    sink: &mut dyn Write,
) -> Result<(), FormatError> {
    src.seek(SeekFrom::Start(0))?;
    if let Some(header) = read_header(src)? {
        let len = io::len(src)?;
        if header.total_len() > len {
            return Err(FormatError::Truncated("ID3v2 tag"));
        }
        src.seek(SeekFrom::Start(header.total_len()))?;
    }
    io::copy_rest(src, sink)?;
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::test_support::{SAMPLE_LABEL, SAMPLE_LABEL_2, exiftool_config, test_data, tool};
    use std::io::Cursor;
    use std::process::Command;

    const FIXTURES: [&str; 3] = ["mp3-plain.mp3", "mp3-id3v23.mp3", "mp3-id3v24.mp3"];

    fn fixture(name: &str) -> Vec<u8> {
        std::fs::read(test_data(name)).unwrap()
    }

    fn label(input: &[u8], json: &str) -> Result<Vec<u8>, FormatError> {
        let mut out = Cursor::new(Vec::new());
        write(&mut Cursor::new(input), &mut out, json)?;
        Ok(out.into_inner())
    }

    fn scan_bytes(data: &[u8]) -> Scan {
        scan(&mut Cursor::new(data)).unwrap()
    }

    fn digest(data: &[u8]) -> Vec<u8> {
        let mut sink = Vec::new();
        content_digest(&mut Cursor::new(data), &mut sink).unwrap();
        sink
    }

    fn tag_of(data: &[u8]) -> Id3Tag {
        read_tag(&mut Cursor::new(data)).unwrap().unwrap()
    }

    /// The raw bytes of every frame of the tag that is not a label frame.
    fn other_frames(tag: &Id3Tag) -> Vec<Vec<u8>> {
        tag.frames
            .iter()
            .filter(|f| !matches!(tag.classify(f), Ok(Some(LabelFrame::Text { .. }))))
            .map(|f| tag.body[f.start..f.end].to_vec())
            .collect()
    }

    /// The MPEG frames of the plain fixture (it starts with a frame sync, ends with ID3v1).
    fn audio() -> Vec<u8> {
        fixture("mp3-plain.mp3")
    }

    fn frame(major: u8, id: &[u8], flags: [u8; 2], data: &[u8]) -> Vec<u8> {
        let mut f = id.to_vec();
        match major {
            2 => f.extend_from_slice(&(data.len() as u32).to_be_bytes()[1..]),
            3 => f.extend_from_slice(&(data.len() as u32).to_be_bytes()),
            _ => f.extend_from_slice(&to_syncsafe(data.len(), "t").unwrap()),
        }
        if major != 2 {
            f.extend_from_slice(&flags);
        }
        f.extend_from_slice(data);
        f
    }

    fn text_frame_data(enc: u8, desc: &str, value: &str) -> Vec<u8> {
        let mut d = vec![enc];
        d.extend_from_slice(desc.as_bytes());
        d.push(0);
        d.extend_from_slice(value.as_bytes());
        d
    }

    fn tag(major: u8, flags: u8, body: &[u8]) -> Vec<u8> {
        let mut t = b"ID3".to_vec();
        t.extend_from_slice(&[major, 0, flags]);
        t.extend_from_slice(&to_syncsafe(body.len(), "t").unwrap());
        t.extend_from_slice(body);
        t
    }

    fn file(tag: &[u8]) -> Vec<u8> {
        let mut f = tag.to_vec();
        f.extend_from_slice(&audio());
        f
    }

    fn assert_one_canonical(data: &[u8], json: &str, location: &str) {
        let s = scan_bytes(data);
        assert_eq!(s.sites.len(), 1, "sites: {:?}", s.sites);
        assert!(s.sites[0].canonical);
        assert_eq!(s.sites[0].location, location);
        assert_eq!(s.sites[0].payload, SitePayload::Json(json.into()));
    }

    #[test]
    fn ds16_mp3_roundtrip_one_site() {
        for (name, loc) in FIXTURES.iter().zip([
            "mp3:ID3v2.4:TXXX:AIGC",
            "mp3:ID3v2.3:TXXX:AIGC",
            "mp3:ID3v2.4:TXXX:AIGC",
        ]) {
            let input = fixture(name);
            assert!(scan_bytes(&input).sites.is_empty(), "{name}");
            let out = label(&input, SAMPLE_LABEL).unwrap();
            assert_one_canonical(&out, SAMPLE_LABEL, loc);
        }
    }

    #[test]
    fn ds16_mp3_payload_byte_identical() {
        for name in FIXTURES {
            let input = fixture(name);
            let out = label(&input, SAMPLE_LABEL).unwrap();
            let in_start = read_header(&mut Cursor::new(&input))
                .unwrap()
                .map_or(0, |h| h.total_len() as usize);
            let out_start = tag_of(&out).header.total_len() as usize;
            assert_eq!(&out[out_start..], &input[in_start..], "{name}");
            assert_eq!(digest(&out), digest(&input), "{name}");
            assert!(is_frame_sync(&out[out_start..]));
        }
        // The ID3v1 trailer of the plain fixture survives.
        let out = label(&fixture("mp3-plain.mp3"), SAMPLE_LABEL).unwrap();
        assert_eq!(&out[out.len() - 128..out.len() - 125], b"TAG");
        assert!(scan_bytes(&out).notes.iter().any(|n| n.contains("ID3v1")));
    }

    #[test]
    fn ds16_mp3_keeps_other_frames_byte_identical() {
        for name in ["mp3-id3v23.mp3", "mp3-id3v24.mp3"] {
            let input = fixture(name);
            let out = label(&input, SAMPLE_LABEL).unwrap();
            let (before, after) = (tag_of(&input), tag_of(&out));
            assert_eq!(
                before.header.major, after.header.major,
                "{name}: version kept"
            );
            assert_eq!(other_frames(&before), other_frames(&after), "{name}");
            assert!(other_frames(&after).len() >= 4);
        }
    }

    #[test]
    fn ds16_mp3_tag_size_is_syncsafe_and_frame_sizes_follow_version() {
        for name in FIXTURES {
            let out = label(&fixture(name), SAMPLE_LABEL).unwrap();
            assert!(out[6..10].iter().all(|b| b & 0x80 == 0), "{name}");
            let t = tag_of(&out);
            let f = t
                .frames
                .iter()
                .find(|f| f.id == "TXXX" && t.classify(f).unwrap().is_some());
            let f = f.unwrap();
            let size_bytes = &t.body[f.start + 4..f.start + 8];
            let data_len = f.end - f.start - 10;
            assert!(data_len > 127, "the JSON makes the two encodings differ");
            if t.header.major == 4 {
                assert_eq!(syncsafe(size_bytes), Some(data_len as u32));
                // UTF-8 encoding byte.
                assert_eq!(t.body[f.start + 10], 3);
            } else {
                assert_eq!(
                    u32::from_be_bytes(size_bytes.try_into().unwrap()),
                    data_len as u32
                );
                assert_eq!(t.body[f.start + 10], 0);
            }
        }
    }

    #[test]
    fn ds16_mp3_write_twice_one_site() {
        for name in FIXTURES {
            let once = label(&fixture(name), SAMPLE_LABEL).unwrap();
            let twice = label(&once, SAMPLE_LABEL_2).unwrap();
            let s = scan_bytes(&twice);
            assert_eq!(s.sites.len(), 1, "{name}");
            assert_eq!(s.sites[0].payload, SitePayload::Json(SAMPLE_LABEL_2.into()));
            assert_eq!(digest(&twice), digest(&fixture(name)));
            // Rewriting the same label keeps the tag size (it fits in place).
            let again = label(&twice, SAMPLE_LABEL_2).unwrap();
            assert_eq!(again, twice, "{name}: idempotent");
        }
    }

    #[test]
    fn ds16_mp3_keeps_tag_size_when_label_fits_in_padding() {
        let mut body = frame(4, b"TIT2", [0, 0], b"\x03title");
        body.resize(2048, 0);
        let input = file(&tag(4, 0, &body));
        let out = label(&input, SAMPLE_LABEL).unwrap();
        assert_eq!(out.len(), input.len());
        assert_eq!(tag_of(&out).header.size, 2048);
        assert_one_canonical(&out, SAMPLE_LABEL, "mp3:ID3v2.4:TXXX:AIGC");
    }

    #[test]
    fn ds16_mp3_migrates_case_and_comment_variants() {
        let mut body = frame(
            4,
            b"TXXX",
            [0, 0],
            &text_frame_data(3, "aigc", SAMPLE_LABEL),
        );
        body.extend(frame(4, b"TIT2", [0, 0], b"\x03title"));
        let mut comm = vec![3];
        comm.extend_from_slice(b"eng");
        comm.extend_from_slice(b"AIGC\0");
        comm.extend_from_slice(SAMPLE_LABEL.as_bytes());
        body.extend(frame(4, b"COMM", [0, 0], &comm));
        body.extend(frame(
            4,
            b"TXXX",
            [0, 0],
            &text_frame_data(3, "AIGC", SAMPLE_LABEL),
        ));
        let input = file(&tag(4, 0, &body));
        let s = scan_bytes(&input);
        let locations: Vec<_> = s
            .sites
            .iter()
            .map(|s| (s.location.as_str(), s.canonical))
            .collect();
        assert_eq!(
            locations,
            [
                ("mp3:ID3v2.4:TXXX:aigc", false),
                ("mp3:ID3v2.4:COMM:AIGC", false),
                ("mp3:ID3v2.4:TXXX:AIGC", true)
            ]
        );
        let out = label(&input, SAMPLE_LABEL_2).unwrap();
        assert_one_canonical(&out, SAMPLE_LABEL_2, "mp3:ID3v2.4:TXXX:AIGC");
        // The label takes the place of the first old one; TIT2 follows it.
        let t = tag_of(&out);
        let ids: Vec<_> = t.frames.iter().map(|f| f.id.as_str()).collect();
        assert_eq!(ids, ["TXXX", "TIT2"]);
    }

    #[test]
    fn ds16_mp3_reads_utf16_and_latin1_txxx() {
        // v2.3, UTF-16 with BOM, little and big endian.
        for bom in [[0xFF, 0xFE], [0xFE, 0xFF]] {
            let enc = |s: &str| -> Vec<u8> {
                let mut v = bom.to_vec();
                for u in s.encode_utf16() {
                    if bom == [0xFF, 0xFE] {
                        v.extend(u.to_le_bytes());
                    } else {
                        v.extend(u.to_be_bytes());
                    }
                }
                v
            };
            let mut data = vec![1];
            data.extend(enc("AIGC"));
            data.extend([0, 0]);
            data.extend(enc(SAMPLE_LABEL));
            data.extend([0, 0]);
            let input = file(&tag(3, 0, &frame(3, b"TXXX", [0, 0], &data)));
            assert_one_canonical(&input, SAMPLE_LABEL, "mp3:ID3v2.3:TXXX:AIGC");
            let out = label(&input, SAMPLE_LABEL_2).unwrap();
            assert_one_canonical(&out, SAMPLE_LABEL_2, "mp3:ID3v2.3:TXXX:AIGC");
        }
        // v2.4 UTF-16BE without BOM (encoding 2) and ISO-8859-1.
        let mut data = vec![2];
        data.extend("AIGC".encode_utf16().flat_map(u16::to_be_bytes));
        data.extend([0, 0]);
        data.extend(SAMPLE_LABEL.encode_utf16().flat_map(u16::to_be_bytes));
        let mut body = frame(4, b"TXXX", [0, 0], &data);
        body.extend(frame(
            4,
            b"TXXX",
            [0, 0],
            &text_frame_data(0, "AIGC", SAMPLE_LABEL_2),
        ));
        let s = scan_bytes(&file(&tag(4, 0, &body)));
        let values: Vec<_> = s.sites.iter().map(|s| s.payload.clone()).collect();
        assert_eq!(
            values,
            [
                SitePayload::Json(SAMPLE_LABEL.into()),
                SitePayload::Json(SAMPLE_LABEL_2.into())
            ]
        );
    }

    #[test]
    fn ds16_mp3_v23_non_ascii_label_uses_utf16() {
        let json = SAMPLE_LABEL.replace("XGW3", "标识");
        let out = label(&fixture("mp3-id3v23.mp3"), &json).unwrap();
        assert_one_canonical(&out, &json, "mp3:ID3v2.3:TXXX:AIGC");
    }

    #[test]
    fn ds16_mp3_v23_unsynchronised_tag_stays_unsynchronised() {
        // A PRIV frame whose data holds false syncs; tag-level unsynchronisation on.
        let priv_data = b"owner\0\xFF\xE0\xFF\x00\xFF\xFB\x12\xFF".to_vec();
        let mut body = frame(3, b"TIT2", [0, 0], b"\x00title");
        body.extend(frame(3, b"PRIV", [0, 0], &priv_data));
        let input = file(&tag(3, 0x80, &unsynchronise(&body)));
        let out = label(&input, SAMPLE_LABEL).unwrap();
        let t = tag_of(&out);
        assert!(t.header.unsync());
        let end = t.header.total_len() as usize;
        let stored = &out[10..end];
        for w in stored.windows(2) {
            assert!(
                !(w[0] == 0xFF && (w[1] >= 0xE0)),
                "false sync left in the tag"
            );
        }
        assert_ne!(stored.last(), Some(&0xFF));
        let priv_frame = t.frames.iter().find(|f| f.id == "PRIV").unwrap();
        assert_eq!(
            &t.body[priv_frame.start + 10..priv_frame.end],
            priv_data.as_slice()
        );
        assert_one_canonical(&out, SAMPLE_LABEL, "mp3:ID3v2.3:TXXX:AIGC");
        assert_eq!(digest(&out), digest(&input));
    }

    #[test]
    fn ds16_mp3_v24_unsync_flag_marks_our_frame() {
        let body = frame(4, b"TIT2", [0, 0x02], b"\x03title");
        let input = file(&tag(4, 0x80, &body));
        let out = label(&input, SAMPLE_LABEL).unwrap();
        let t = tag_of(&out);
        assert!(t.header.unsync());
        let ours = t.frames.iter().find(|f| f.id == "TXXX").unwrap();
        assert_eq!(ours.flags, [0, 0x02]);
        assert_one_canonical(&out, SAMPLE_LABEL, "mp3:ID3v2.4:TXXX:AIGC");
    }

    #[test]
    fn ds16_mp3_extended_headers() {
        // v2.3 with an extended header carrying a CRC: dropped on rewrite.
        let frames = frame(3, b"TIT2", [0, 0], b"\x00title");
        let mut body = vec![0, 0, 0, 10, 0x80, 0, 0, 0, 0, 0, 0xDE, 0xAD, 0xBE, 0xEF];
        body.extend(&frames);
        let input = file(&tag(3, 0x40, &body));
        assert!(scan_bytes(&input).sites.is_empty());
        let out = label(&input, SAMPLE_LABEL).unwrap();
        let t = tag_of(&out);
        assert!(!t.header.extended());
        assert_eq!(other_frames(&t), vec![frames]);
        assert_one_canonical(&out, SAMPLE_LABEL, "mp3:ID3v2.3:TXXX:AIGC");

        // v2.4 with update + CRC flags: only "update" survives.
        let frames = frame(4, b"TIT2", [0, 0], b"\x03title");
        // Size 13: size, flag-byte count, flags, update data length (0), CRC length 5 + CRC.
        let mut body = vec![0, 0, 0, 13, 1, 0x60, 0, 5, 1, 2, 3, 4, 5];
        body.extend(&frames);
        let input = file(&tag(4, 0x40, &body));
        let out = label(&input, SAMPLE_LABEL).unwrap();
        let t = tag_of(&out);
        assert!(t.header.extended() && t.ext_update);
        assert_eq!(&t.body[..7], &[0, 0, 0, 7, 1, 0x40, 0]);
        assert_eq!(other_frames(&t), vec![frames]);
        assert_one_canonical(&out, SAMPLE_LABEL, "mp3:ID3v2.4:TXXX:AIGC");
    }

    #[test]
    fn ds16_mp3_compressed_and_grouped_frames() {
        use flate2::write::ZlibEncoder;
        let data = text_frame_data(0, "AIGC", SAMPLE_LABEL);
        let mut z = ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        z.write_all(&data).unwrap();
        let zdata = z.finish().unwrap();
        // v2.3: 4-byte decompressed size, then group id.
        let mut v23 = (data.len() as u32).to_be_bytes().to_vec();
        v23.push(7);
        v23.extend(&zdata);
        let input = file(&tag(3, 0, &frame(3, b"TXXX", [0, 0xA0], &v23)));
        assert_one_canonical(&input, SAMPLE_LABEL, "mp3:ID3v2.3:TXXX:AIGC");
        let out = label(&input, SAMPLE_LABEL_2).unwrap();
        assert_one_canonical(&out, SAMPLE_LABEL_2, "mp3:ID3v2.3:TXXX:AIGC");
        // v2.4: group id, data length indicator, compressed.
        let mut v24 = vec![7];
        v24.extend(to_syncsafe(data.len(), "t").unwrap());
        v24.extend(&zdata);
        let input = file(&tag(4, 0, &frame(4, b"TXXX", [0, 0x49], &v24)));
        assert_one_canonical(&input, SAMPLE_LABEL, "mp3:ID3v2.4:TXXX:AIGC");
        // Encrypted frames cannot be read: noted, kept.
        let input = file(&tag(4, 0, &frame(4, b"TXXX", [0, 0x04], b"\x01secret")));
        let s = scan_bytes(&input);
        assert!(s.sites.is_empty());
        assert!(s.notes.iter().any(|n| n.contains("encrypted")));
    }

    #[test]
    fn ds16_mp3_footer_tag() {
        let body = frame(4, b"TIT2", [0, 0], b"\x03title");
        let mut t = tag(4, 0x10, &body);
        t.extend_from_slice(b"3DI\x04\x00\x10");
        t.extend_from_slice(&to_syncsafe(body.len(), "t").unwrap());
        let input = file(&t);
        let out = label(&input, SAMPLE_LABEL).unwrap();
        let h = tag_of(&out).header;
        let end = h.total_len() as usize;
        assert_eq!(&out[end - 10..end - 7], b"3DI");
        assert_eq!(&out[end - 4..end], &out[6..10]);
        assert_one_canonical(&out, SAMPLE_LABEL, "mp3:ID3v2.4:TXXX:AIGC");
        assert_eq!(digest(&out), digest(&input));
    }

    #[test]
    fn ds16_mp3_xmp_in_priv_is_reported() {
        let packet = crate::xmp::merge_label(None, SAMPLE_LABEL).unwrap();
        let mut data = b"XMP\0".to_vec();
        data.extend_from_slice(packet.as_bytes());
        let input = file(&tag(4, 0, &frame(4, b"PRIV", [0, 0], &data)));
        let s = scan_bytes(&input);
        assert_eq!(s.sites.len(), 1);
        assert_eq!(s.sites[0].location, "mp3:ID3v2.4:PRIV:XMP");
        assert!(!s.sites[0].canonical);
        assert_eq!(s.sites[0].payload, SitePayload::Xmp(packet));
        assert!(matches!(
            label(&input, SAMPLE_LABEL),
            Err(FormatError::Unsupported(_))
        ));
    }

    #[test]
    fn ds16_mp3_second_tag_and_ape_labels() {
        let first = tag(4, 0, &frame(4, b"TIT2", [0, 0], b"\x03title"));
        let second = tag(
            3,
            0,
            &frame(
                3,
                b"TXXX",
                [0, 0],
                &text_frame_data(0, "AIGC", SAMPLE_LABEL),
            ),
        );
        let mut input = first.clone();
        input.extend(&second);
        input.extend(audio());
        let s = scan_bytes(&input);
        assert_eq!(s.sites.len(), 1);
        assert_eq!(s.sites[0].location, "mp3:ID3v2.3#2:TXXX:AIGC");
        assert!(!s.sites[0].canonical);
        assert!(matches!(
            label(&input, SAMPLE_LABEL),
            Err(FormatError::Unsupported(_))
        ));

        // APEv2 before the ID3v1 tag, with an AIGC item.
        let mut items = Vec::new();
        items.extend((SAMPLE_LABEL.len() as u32).to_le_bytes());
        items.extend(0u32.to_le_bytes());
        items.extend(b"AIGC\0");
        items.extend(SAMPLE_LABEL.as_bytes());
        let mut ape_footer = b"APETAGEX".to_vec();
        ape_footer.extend(2000u32.to_le_bytes());
        ape_footer.extend((items.len() as u32 + 32).to_le_bytes());
        ape_footer.extend(1u32.to_le_bytes());
        ape_footer.extend(0u32.to_le_bytes());
        ape_footer.extend([0u8; 8]);
        let plain = audio();
        let (frames, id3v1) = plain.split_at(plain.len() - 128);
        let mut input = frames.to_vec();
        input.extend(&items);
        input.extend(&ape_footer);
        input.extend(id3v1);
        let s = scan_bytes(&input);
        assert_eq!(s.sites.len(), 1);
        assert_eq!(s.sites[0].location, "mp3:APEv2:AIGC");
        assert!(s.notes.iter().any(|n| n.contains("APEv2")));
        assert!(matches!(
            label(&input, SAMPLE_LABEL),
            Err(FormatError::Unsupported(_))
        ));
    }

    #[test]
    fn mp3_v22_is_read_only() {
        let input = file(&tag(
            2,
            0,
            &frame(2, b"TXX", [0, 0], &text_frame_data(0, "AIGC", SAMPLE_LABEL)),
        ));
        let s = scan_bytes(&input);
        assert_eq!(s.sites.len(), 1);
        assert_eq!(s.sites[0].location, "mp3:ID3v2.2:TXX:AIGC");
        assert!(s.notes.iter().any(|n| n.contains("read-only")));
        match label(&input, SAMPLE_LABEL) {
            Err(FormatError::Unsupported(why)) => assert!(why.contains("ID3v2.2")),
            other => panic!("expected Unsupported, got {other:?}"),
        }
        let mut sink = Vec::new();
        content_digest(&mut Cursor::new(&input), &mut sink).unwrap();
        assert_eq!(sink, audio());
    }

    #[test]
    fn mp3_itunes_plain_frame_sizes_are_read_not_written() {
        let data = text_frame_data(3, "AIGC", SAMPLE_LABEL);
        let mut body = b"TXXX".to_vec();
        body.extend((data.len() as u32).to_be_bytes());
        body.extend([0, 0]);
        body.extend(&data);
        body.extend(frame(4, b"TIT2", [0, 0], b"\x03title"));
        let input = file(&tag(4, 0, &body));
        let s = scan_bytes(&input);
        assert_eq!(s.sites.len(), 1);
        assert!(s.notes.iter().any(|n| n.contains("iTunes")));
        assert!(matches!(
            label(&input, SAMPLE_LABEL),
            Err(FormatError::Unsupported(_))
        ));
    }

    #[test]
    fn mp3_junk_in_tag_is_not_rewritten() {
        let mut body = frame(4, b"TIT2", [0, 0], b"\x03title");
        body.extend(b"garbage!garbage!");
        let input = file(&tag(4, 0, &body));
        let s = scan_bytes(&input);
        assert!(s.notes.iter().any(|n| n.contains("not fully readable")));
        assert!(matches!(
            label(&input, SAMPLE_LABEL),
            Err(FormatError::Unsupported(_))
        ));
    }

    #[test]
    fn mp3_truncated_is_error() {
        let out = label(&fixture("mp3-id3v24.mp3"), SAMPLE_LABEL).unwrap();
        for cut in [4, 9, 20, 100] {
            let part = &out[..cut];
            assert!(scan(&mut Cursor::new(part)).is_err(), "cut {cut}");
            assert!(label(part, SAMPLE_LABEL).is_err(), "cut {cut}");
        }
        assert!(matches!(
            scan(&mut Cursor::new(b"ID3\x04\x00\x00\x00\x00\x10\x00abc")),
            Err(FormatError::Truncated(_))
        ));
        assert!(matches!(
            content_digest(
                &mut Cursor::new(b"ID3\x04\x00\x00\x00\x00\x10\x00abc"),
                &mut Vec::new()
            ),
            Err(FormatError::Truncated(_))
        ));
    }

    #[test]
    fn mp3_not_an_mp3_is_error() {
        for junk in [&b""[..], b"hello world, not audio", b"\x00\x01\x02"] {
            assert!(matches!(
                scan(&mut Cursor::new(junk)),
                Err(FormatError::Malformed(_))
            ));
            assert!(matches!(
                label(junk, SAMPLE_LABEL),
                Err(FormatError::Malformed(_))
            ));
        }
        assert!(matches!(
            scan(&mut Cursor::new(b"ID3\x04\x00\x00\x80\x00\x00\x00")),
            Err(FormatError::Malformed(_))
        ));
    }

    #[test]
    fn mp3_unsync_helpers_roundtrip() {
        let data = [0xFF, 0x00, 0xFF, 0xE0, 0x12, 0xFF, 0xFF, 0xF0, 0xFF];
        let u = unsynchronise(&data);
        assert_eq!(deunsynchronise(&u), data);
        assert_eq!(to_syncsafe(0x0FFF_FFFF, "t").unwrap(), [0x7F; 4]);
        assert!(to_syncsafe(1 << 28, "t").is_err());
        assert_eq!(syncsafe(&[0, 0, 0x02, 0x01]), Some(257));
    }

    proptest::proptest! {
        #[test]
        fn mp3_scan_never_panics(data in proptest::collection::vec(proptest::num::u8::ANY, 0..600)) {
            let _ = scan(&mut Cursor::new(&data));
            let _ = label(&data, SAMPLE_LABEL);
            let _ = content_digest(&mut Cursor::new(&data), &mut Vec::new());
            let mut with_header = b"ID3\x04\x00\x00\x00\x00\x02\x00".to_vec();
            with_header.extend(&data);
            let _ = scan(&mut Cursor::new(&with_header));
            let _ = label(&with_header, SAMPLE_LABEL);
        }

        #[test]
        fn mp3_scan_never_panics_on_damaged_labelled_file(
            cut in 0usize..3000,
            flips in proptest::collection::vec((0usize..400, proptest::num::u8::ANY), 0..6),
        ) {
            let mut data = label(&fixture("mp3-id3v23.mp3"), SAMPLE_LABEL).unwrap();
            for (at, v) in flips {
                if let Some(b) = data.get_mut(at) {
                    *b = v;
                }
            }
            data.truncate(cut.min(data.len()));
            let _ = scan(&mut Cursor::new(&data));
            let _ = label(&data, SAMPLE_LABEL_2);
            let _ = content_digest(&mut Cursor::new(&data), &mut Vec::new());
        }
    }

    // ----- interop with real tools -----

    fn labelled_file(dir: &tempfile::TempDir, fixture_name: &str) -> std::path::PathBuf {
        let out = label(&fixture(fixture_name), SAMPLE_LABEL).unwrap();
        let path = dir.path().join(format!("out-{fixture_name}"));
        std::fs::write(&path, out).unwrap();
        path
    }

    #[test]
    fn ds16_mp3_interop_ffprobe_shows_tag() {
        let Some(ffprobe) = tool("ffprobe") else {
            return;
        };
        let dir = tempfile::tempdir().unwrap();
        for name in FIXTURES {
            let path = labelled_file(&dir, name);
            let out = Command::new(&ffprobe)
                .args(["-v", "error", "-show_format"])
                .arg(&path)
                .output()
                .unwrap();
            let stdout = String::from_utf8_lossy(&out.stdout);
            assert!(
                out.status.success(),
                "{name}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            assert!(
                stdout.contains(&format!("TAG:AIGC={SAMPLE_LABEL}")),
                "{name}: {stdout}"
            );
            // The other metadata is still there.
            if name != "mp3-plain.mp3" {
                assert!(stdout.contains("TAG:title=hegui"), "{name}: {stdout}");
            }
        }
    }

    #[test]
    fn ds16_mp3_interop_ffmpeg_decodes_cleanly() {
        let Some(ffmpeg) = tool("ffmpeg") else { return };
        let dir = tempfile::tempdir().unwrap();
        for name in FIXTURES {
            let path = labelled_file(&dir, name);
            let out = Command::new(&ffmpeg)
                .args(["-v", "error", "-i"])
                .arg(&path)
                .args(["-f", "null", "-"])
                .output()
                .unwrap();
            assert!(out.status.success(), "{name}");
            assert!(
                out.stderr.is_empty(),
                "{name}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }

    #[test]
    fn ds16_mp3_interop_exiftool_reads() {
        let Some(exiftool) = tool("exiftool") else {
            return;
        };
        let dir = tempfile::tempdir().unwrap();
        for name in FIXTURES {
            let path = labelled_file(&dir, name);
            let out = Command::new(&exiftool)
                .arg("-config")
                .arg(exiftool_config())
                .args(["-a", "-G1", "-UserDefinedText"])
                .arg(&path)
                .output()
                .unwrap();
            let stdout = String::from_utf8_lossy(&out.stdout);
            assert!(
                stdout.contains(&format!("(AIGC) {SAMPLE_LABEL}")),
                "{name}: {stdout}"
            );
            assert_eq!(stdout.matches("(AIGC)").count(), 1, "{name}: {stdout}");
        }
    }

    #[test]
    fn ds16_mp3_interop_reads_ffmpeg_metadata() {
        let Some(ffmpeg) = tool("ffmpeg") else { return };
        let dir = tempfile::tempdir().unwrap();
        for version in ["3", "4"] {
            let path = dir.path().join(format!("ff-v{version}.mp3"));
            let status = Command::new(&ffmpeg)
                .args(["-v", "error", "-y", "-i"])
                .arg(test_data("mp3-id3v24.mp3"))
                .args(["-c", "copy", "-id3v2_version", version, "-metadata"])
                .arg(format!("AIGC={SAMPLE_LABEL}"))
                .arg(&path)
                .status()
                .unwrap();
            assert!(status.success());
            let data = std::fs::read(&path).unwrap();
            assert_one_canonical(
                &data,
                SAMPLE_LABEL,
                &format!("mp3:ID3v2.{version}:TXXX:AIGC"),
            );
            // And we can relabel what ffmpeg wrote, keeping one site.
            let out = label(&data, SAMPLE_LABEL_2).unwrap();
            assert_one_canonical(
                &out,
                SAMPLE_LABEL_2,
                &format!("mp3:ID3v2.{version}:TXXX:AIGC"),
            );
        }
    }
}
