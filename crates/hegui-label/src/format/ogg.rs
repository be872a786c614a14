//! Ogg Vorbis and Ogg Opus: the label is one `AIGC=<json>` entry in the stream's comment header
//! packet (`\x03vorbis…` or `OpusTags…`), as the audio practice guide PG-202510A names it.
//!
//! Key decisions:
//! * Only the comment packet changes. The identification page is copied byte for byte; the pages
//!   that carry the comment packet (and, for Vorbis, the setup header that shares them) are
//!   repaginated the way libogg flushes headers: packets back to back, at most 255 lacing values
//!   per page, granule position 0 on pages where a header packet ends and -1 on pages where none
//!   does (Ogg framing spec), fresh CRCs. Audio pages are copied byte for byte, unless the number
//!   of header pages changed: then their sequence numbers shift by that difference and their
//!   CRCs are recomputed; granule positions never change.
//! * Opus comment padding (trailing data whose first byte has the low bit clear) is shrunk or
//!   grown to keep the packet size, so the pages usually keep their layout; Opus "preserve" data
//!   (low bit set) and the Vorbis framing byte are kept.
//! * One logical stream only: a multiplexed or chained file is refused on write, and the reader
//!   looks at the first stream. Ogg FLAC and Speex comments are read but not written.
//!
//! The Vorbis comment structure (vendor string plus `NAME=value` entries, names compared
//! case-insensitively) is shared with `flac`, whose VORBIS_COMMENT block uses the same layout.

use super::{FormatError, MAX_SITE_BYTES, RawSite, ReadSeek, Scan, SitePayload, WriteSeek, io};
use std::io::{SeekFrom, Write};

/// The comment field name that holds the label.
const FIELD: &str = "AIGC";

/// Length of an Ogg page header before the lacing table.
const PAGE_HEADER_LEN: usize = 27;

/// Header-type flag: this page continues a packet from the previous page.
const CONTINUED: u8 = 0x01;
/// Header-type flag: first page of a logical stream.
const BOS: u8 = 0x02;
/// Header-type flag: last page of a logical stream.
const EOS: u8 = 0x04;

// ---------------------------------------------------------------------------------------------
// Vorbis comments (shared with FLAC)
// ---------------------------------------------------------------------------------------------

/// A parsed Vorbis comment structure: `vendor_len vendor count (len entry)*` in little endian,
/// followed by `tail` (the Vorbis framing byte, Opus padding, or nothing in FLAC).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Comments<'a> {
    /// The vendor string bytes.
    pub(crate) vendor: &'a [u8],
    /// The bytes of the entry list (each entry with its length prefix).
    list: &'a [u8],
    /// Bytes after the last entry.
    pub(crate) tail: &'a [u8],
}

fn u32_le(data: &[u8], at: usize) -> Option<u32> {
    let b = data.get(at..at.checked_add(4)?)?;
    Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}

impl<'a> Comments<'a> {
    /// Parses and bounds-checks every entry.
    pub(crate) fn parse(data: &'a [u8]) -> Result<Comments<'a>, FormatError> {
        let bad = |what: &str| FormatError::malformed(format!("Vorbis comment: {what}"));
        let vendor_len = u32_le(data, 0).ok_or_else(|| bad("no vendor length"))? as usize;
        let vendor = data
            .get(4..4usize.saturating_add(vendor_len))
            .ok_or_else(|| bad("vendor string runs past the end"))?;
        let count_at = 4 + vendor_len;
        let count = u32_le(data, count_at).ok_or_else(|| bad("no comment count"))?;
        let list_start = count_at + 4;
        let mut pos = list_start;
        for _ in 0..count {
            let len = u32_le(data, pos).ok_or_else(|| bad("comment list runs past the end"))?;
            pos = (pos + 4)
                .checked_add(len as usize)
                .filter(|&e| e <= data.len())
                .ok_or_else(|| bad("comment runs past the end"))?;
        }
        Ok(Comments {
            vendor,
            list: data.get(list_start..pos).unwrap_or_default(),
            tail: data.get(pos..).unwrap_or_default(),
        })
    }

    /// The raw entries (`NAME=value` bytes).
    pub(crate) fn entries(&self) -> impl Iterator<Item = &'a [u8]> + 'a {
        let list = self.list;
        let mut pos = 0usize;
        std::iter::from_fn(move || {
            let len = u32_le(list, pos)? as usize;
            let entry = list.get(pos + 4..(pos + 4).checked_add(len)?)?;
            pos += 4 + len;
            Some(entry)
        })
    }

    /// Every entry whose field name is `AIGC` in any letter case, as (name, value).
    pub(crate) fn labels(&self) -> Vec<(String, String)> {
        self.entries()
            .filter(|e| is_label_entry(e))
            .map(|e| {
                let eq = e.iter().position(|&b| b == b'=').unwrap_or(0);
                let (name, value) = e.split_at(eq);
                (
                    String::from_utf8_lossy(name).into_owned(),
                    String::from_utf8_lossy(value.get(1..).unwrap_or_default()).into_owned(),
                )
            })
            .collect()
    }

    /// Vendor and entries (no tail) with every label entry removed and, when `label` is given,
    /// one `AIGC=<label>` entry where the first label entry was (or at the end).
    pub(crate) fn rebuild(&self, label: Option<&str>) -> Result<Vec<u8>, FormatError> {
        let new_entry = label.map(|l| format!("{FIELD}={l}").into_bytes());
        let mut entries: Vec<&[u8]> = Vec::new();
        let mut placed = false;
        for e in self.entries() {
            if is_label_entry(e) {
                if !placed && let Some(n) = &new_entry {
                    entries.push(n);
                }
                placed = true;
            } else {
                entries.push(e);
            }
        }
        if !placed && let Some(n) = &new_entry {
            entries.push(n);
        }
        build_comments(self.vendor, &entries)
    }
}

/// True when the entry's field name (before `=`) is `AIGC`, compared case-insensitively as the
/// Vorbis comment spec requires.
pub(crate) fn is_label_entry(entry: &[u8]) -> bool {
    entry
        .iter()
        .position(|&b| b == b'=')
        .and_then(|eq| entry.get(..eq))
        .is_some_and(|name| name.eq_ignore_ascii_case(FIELD.as_bytes()))
}

fn len_u32(n: usize, what: &'static str) -> Result<[u8; 4], FormatError> {
    u32::try_from(n)
        .map(u32::to_le_bytes)
        .map_err(|_| FormatError::TooLarge {
            what,
            size: n as u64,
            limit: u64::from(u32::MAX),
        })
}

/// Serialises a vendor string and entries (without framing byte).
pub(crate) fn build_comments(vendor: &[u8], entries: &[&[u8]]) -> Result<Vec<u8>, FormatError> {
    let total = vendor.len() + 8 + entries.iter().map(|e| e.len() + 4).sum::<usize>();
    let mut out = Vec::with_capacity(total);
    out.extend_from_slice(&len_u32(vendor.len(), "Vorbis comment vendor")?);
    out.extend_from_slice(vendor);
    out.extend_from_slice(&len_u32(entries.len(), "Vorbis comment count")?);
    for e in entries {
        out.extend_from_slice(&len_u32(e.len(), "Vorbis comment")?);
        out.extend_from_slice(e);
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------------------
// Ogg pages
// ---------------------------------------------------------------------------------------------

/// The Ogg CRC-32 table: polynomial 0x04C11DB7, MSB first (no reflection).
const CRC_TABLE: [u32; 256] = {
    let mut table = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut r = (i as u32) << 24;
        let mut bit = 0;
        while bit < 8 {
            r = if r & 0x8000_0000 != 0 {
                (r << 1) ^ 0x04C1_1DB7
            } else {
                r << 1
            };
            bit += 1;
        }
        table[i] = r;
        i += 1;
    }
    table
};

/// Continues an Ogg CRC (initial value 0, no final xor).
fn crc_update(mut crc: u32, data: &[u8]) -> u32 {
    for &b in data {
        crc = (crc << 8) ^ CRC_TABLE[usize::from((crc >> 24) as u8 ^ b)];
    }
    crc
}

/// One Ogg page, held whole (at most 27 + 255 + 255·255 bytes).
#[derive(Debug, Clone)]
struct Page {
    header: [u8; PAGE_HEADER_LEN],
    lacing: Vec<u8>,
    body: Vec<u8>,
}

impl Page {
    fn header_type(&self) -> u8 {
        self.header[5]
    }

    #[cfg(test)]
    fn granule(&self) -> u64 {
        let mut b = [0u8; 8];
        b.copy_from_slice(&self.header[6..14]);
        u64::from_le_bytes(b)
    }

    fn serial(&self) -> u32 {
        u32::from_le_bytes([
            self.header[14],
            self.header[15],
            self.header[16],
            self.header[17],
        ])
    }

    fn seq(&self) -> u32 {
        u32::from_le_bytes([
            self.header[18],
            self.header[19],
            self.header[20],
            self.header[21],
        ])
    }

    fn stored_crc(&self) -> u32 {
        u32::from_le_bytes([
            self.header[22],
            self.header[23],
            self.header[24],
            self.header[25],
        ])
    }

    /// The CRC the page should carry.
    fn computed_crc(&self) -> u32 {
        let mut h = self.header;
        h[22..26].fill(0);
        let crc = crc_update(0, &h);
        let crc = crc_update(crc, &self.lacing);
        crc_update(crc, &self.body)
    }

    fn set_seq(&mut self, seq: u32) {
        self.header[18..22].copy_from_slice(&seq.to_le_bytes());
        let crc = self.computed_crc();
        self.header[22..26].copy_from_slice(&crc.to_le_bytes());
    }

    /// Builds a page and fills in its CRC.
    fn new(flags: u8, granule: u64, serial: u32, seq: u32, lacing: Vec<u8>, body: Vec<u8>) -> Page {
        let mut header = [0u8; PAGE_HEADER_LEN];
        header[0..4].copy_from_slice(b"OggS");
        header[5] = flags;
        header[6..14].copy_from_slice(&granule.to_le_bytes());
        header[14..18].copy_from_slice(&serial.to_le_bytes());
        // The lacing table never exceeds 255 entries here (see `paginate`).
        header[26] = u8::try_from(lacing.len()).unwrap_or(u8::MAX);
        let mut page = Page {
            header,
            lacing,
            body,
        };
        page.set_seq(seq);
        page
    }

    fn write_to(&self, dst: &mut dyn Write) -> Result<(), FormatError> {
        dst.write_all(&self.header)?;
        dst.write_all(&self.lacing)?;
        dst.write_all(&self.body)?;
        Ok(())
    }

    /// The page's segments as (body range, ends a packet).
    fn segments(&self) -> impl Iterator<Item = (std::ops::Range<usize>, bool)> + '_ {
        let mut off = 0usize;
        self.lacing.iter().map(move |&l| {
            let r = off..off + usize::from(l);
            off += usize::from(l);
            (r, l < 255)
        })
    }
}

/// What comes next in the file.
enum Next {
    Page(Page),
    /// Clean end of file.
    End,
    /// Bytes that are not an Ogg page, starting at this offset.
    Junk(u64),
}

/// Reads the next page, telling a clean end and non-page bytes apart from a truncated page.
fn next_page(src: &mut dyn ReadSeek) -> Result<Next, FormatError> {
    let start = src.stream_position()?;
    let mut header = [0u8; PAGE_HEADER_LEN];
    let mut got = 0;
    while got < PAGE_HEADER_LEN {
        let Some(rest) = header.get_mut(got..) else {
            break;
        };
        match src.read(rest) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e.into()),
        }
    }
    if got == 0 {
        return Ok(Next::End);
    }
    let magic_len = got.min(4);
    if header.get(..magic_len) != b"OggS".get(..magic_len) {
        return Ok(Next::Junk(start));
    }
    if got < PAGE_HEADER_LEN {
        return Err(FormatError::Truncated("Ogg page header"));
    }
    if header[4] != 0 {
        return Err(FormatError::malformed(format!(
            "Ogg page at {start} has stream structure version {}",
            header[4]
        )));
    }
    let mut lacing = vec![0u8; usize::from(header[26])];
    io::read_exact(src, &mut lacing, "Ogg lacing table")?;
    let body_len: u64 = lacing.iter().map(|&l| u64::from(l)).sum();
    let body = io::read_vec(src, body_len, "Ogg page")?;
    Ok(Next::Page(Page {
        header,
        lacing,
        body,
    }))
}

/// Reads a page where one is required.
fn require_page(src: &mut dyn ReadSeek, what: &'static str) -> Result<Page, FormatError> {
    match next_page(src)? {
        Next::Page(p) => Ok(p),
        Next::End => Err(FormatError::Truncated(what)),
        Next::Junk(at) => Err(FormatError::malformed(format!(
            "expected an Ogg page at byte {at} ({what})"
        ))),
    }
}

/// Collects packets from pages, with a size cap on each packet.
#[derive(Default)]
struct Assembler {
    done: Vec<Vec<u8>>,
    partial: Vec<u8>,
}

impl Assembler {
    /// Adds the page's segments until `want` packets are complete. Returns true when segments
    /// are left on the page after that.
    fn feed(&mut self, page: &Page, want: usize) -> Result<bool, FormatError> {
        for (range, ends) in page.segments() {
            if self.done.len() >= want {
                return Ok(true);
            }
            let seg = page
                .body
                .get(range)
                .ok_or(FormatError::Truncated("Ogg page body"))?;
            if (self.partial.len() + seg.len()) as u64 > MAX_SITE_BYTES {
                return Err(FormatError::TooLarge {
                    what: "Ogg header packet",
                    size: (self.partial.len() + seg.len()) as u64,
                    limit: MAX_SITE_BYTES,
                });
            }
            self.partial.extend_from_slice(seg);
            if ends {
                self.done.push(std::mem::take(&mut self.partial));
            }
        }
        Ok(false)
    }
}

/// The codecs whose comment header we know.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Codec {
    Vorbis,
    Opus,
    /// Ogg FLAC mapping: the comment is a VORBIS_COMMENT metadata block packet.
    Flac,
    Speex,
}

impl Codec {
    fn detect(first_packet: &[u8]) -> Option<Codec> {
        if first_packet.starts_with(b"\x01vorbis") {
            Some(Codec::Vorbis)
        } else if first_packet.starts_with(b"OpusHead") {
            Some(Codec::Opus)
        } else if first_packet.starts_with(b"\x7fFLAC") {
            Some(Codec::Flac)
        } else if first_packet.starts_with(b"Speex   ") {
            Some(Codec::Speex)
        } else {
            None
        }
    }

    fn name(self) -> &'static str {
        match self {
            Codec::Vorbis => "vorbis",
            Codec::Opus => "opus",
            Codec::Flac => "flac",
            Codec::Speex => "speex",
        }
    }

    /// The magic that starts the comment packet.
    fn comment_magic(self) -> &'static [u8] {
        match self {
            Codec::Vorbis => b"\x03vorbis",
            Codec::Opus => b"OpusTags",
            Codec::Flac | Codec::Speex => b"",
        }
    }

    /// Where the Vorbis comment structure starts inside the comment packet.
    fn comment_body(self, packet: &[u8]) -> Result<&[u8], FormatError> {
        let body = match self {
            Codec::Flac => {
                // A metadata block: 1 byte type (4 = VORBIS_COMMENT), 3 bytes length.
                match packet.first() {
                    Some(t) if t & 0x7F == 4 => packet.get(4..),
                    _ => None,
                }
            }
            _ => packet.strip_prefix(self.comment_magic()),
        };
        body.ok_or_else(|| {
            FormatError::malformed(format!(
                "second Ogg {} packet is not a comment header",
                self.name()
            ))
        })
    }

    fn location(self) -> &'static str {
        match self {
            Codec::Vorbis => "ogg:vorbis:comment",
            Codec::Opus => "ogg:opus:OpusTags",
            Codec::Flac => "ogg:flac:VORBIS_COMMENT",
            Codec::Speex => "ogg:speex:comment",
        }
    }

    /// Number of header packets before audio, for the codecs we write.
    fn header_packets(self) -> Option<usize> {
        match self {
            Codec::Vorbis => Some(3),
            Codec::Opus => Some(2),
            Codec::Flac | Codec::Speex => None,
        }
    }
}

/// Reads the first page and identifies the codec from the identification packet, which must be
/// alone on that page.
fn first_page(src: &mut dyn ReadSeek) -> Result<(Page, Vec<u8>), FormatError> {
    src.seek(SeekFrom::Start(0))?;
    let page = match next_page(src)? {
        Next::Page(p) => p,
        Next::End => return Err(FormatError::Truncated("Ogg file")),
        Next::Junk(_) => return Err(FormatError::malformed("not an Ogg file (no OggS page)")),
    };
    if page.header_type() & BOS == 0 {
        return Err(FormatError::malformed(
            "first Ogg page is not a beginning-of-stream page",
        ));
    }
    let mut asm = Assembler::default();
    let leftover = asm.feed(&page, 1)?;
    let ident = asm.done.pop().ok_or_else(|| {
        FormatError::malformed("first Ogg page does not complete the identification packet")
    })?;
    if leftover {
        return Err(FormatError::malformed(
            "first Ogg page carries more than the identification packet",
        ));
    }
    Ok((page, ident))
}

/// Splits packets into pages of at most 255 lacing values, starting at sequence `first_seq`.
fn paginate(packets: &[Vec<u8>], serial: u32, first_seq: u32) -> Vec<Page> {
    // (lacing value, ends a packet)
    let mut segments: Vec<(u8, bool)> = Vec::new();
    for p in packets {
        segments.extend(std::iter::repeat_n((255u8, false), p.len() / 255));
        // The remainder is below 255 by construction.
        segments.push(((p.len() % 255) as u8, true));
    }
    let data: Vec<u8> = packets.concat();
    let mut pages = Vec::new();
    let mut offset = 0usize;
    let mut continued = false;
    let mut seq = first_seq;
    for chunk in segments.chunks(255) {
        let body_len: usize = chunk.iter().map(|&(l, _)| usize::from(l)).sum();
        let ends_packet = chunk.iter().any(|&(_, e)| e);
        let body = data
            .get(offset..offset + body_len)
            .unwrap_or_default()
            .to_vec();
        let lacing = chunk.iter().map(|&(l, _)| l).collect();
        // Header packets have granule 0; a page on which no packet ends carries -1.
        let granule = if ends_packet { 0 } else { u64::MAX };
        let flags = if continued { CONTINUED } else { 0 };
        pages.push(Page::new(flags, granule, serial, seq, lacing, body));
        continued = !chunk.last().is_some_and(|&(_, e)| e);
        offset += body_len;
        seq = seq.wrapping_add(1);
    }
    pages
}

/// The new comment packet for `codec`: magic, rebuilt comments, and the tail handled per codec.
fn new_comment_packet(
    codec: Codec,
    old: &[u8],
    label: Option<&str>,
) -> Result<Vec<u8>, FormatError> {
    let comments = Comments::parse(codec.comment_body(old)?)?;
    let mut packet = codec.comment_magic().to_vec();
    packet.extend_from_slice(&comments.rebuild(label)?);
    match codec {
        Codec::Vorbis => {
            // The framing bit must follow the comments; keep whatever followed it.
            if comments.tail.is_empty() {
                packet.push(1);
            } else {
                packet.extend_from_slice(comments.tail);
            }
        }
        Codec::Opus => match comments.tail.first() {
            // Low bit set: data an editor should preserve.
            Some(b) if b & 1 == 1 => packet.extend_from_slice(comments.tail),
            // Padding: resize it so the packet keeps its length where possible.
            Some(_) => {
                let target = old.len();
                if packet.len() < target {
                    packet.resize(target, 0);
                }
            }
            None => {}
        },
        Codec::Flac | Codec::Speex => {}
    }
    Ok(packet)
}

/// Finds the `AIGC=` entries of the first logical stream's comment header.
pub(crate) fn scan(src: &mut dyn ReadSeek) -> Result<Scan, FormatError> {
    let mut scan = Scan::default();
    let (page0, ident) = first_page(src)?;
    let Some(codec) = Codec::detect(&ident) else {
        let magic: String = ident
            .iter()
            .take(8)
            .map(|&b| {
                if b.is_ascii_graphic() {
                    char::from(b)
                } else {
                    '.'
                }
            })
            .collect();
        scan.notes.push(format!(
            "ogg: first stream is not Vorbis, Opus, FLAC or Speex (starts {magic:?}); not read"
        ));
        return Ok(scan);
    };
    let serial = page0.serial();
    let mut asm = Assembler::default();
    let mut multiplexed = false;
    while asm.done.is_empty() {
        let page = require_page(src, "Ogg comment header")?;
        if page.serial() != serial {
            if page.header_type() & BOS != 0 && !multiplexed {
                multiplexed = true;
                scan.notes
                    .push("ogg: multiplexed logical streams; only the first was read".into());
            }
            continue;
        }
        if page.stored_crc() != page.computed_crc() {
            scan.notes
                .push(format!("ogg: CRC mismatch on header page {}", page.seq()));
        }
        asm.feed(&page, 1)?;
        if asm.done.is_empty() && page.header_type() & EOS != 0 {
            return Err(FormatError::Truncated("Ogg comment header"));
        }
    }
    let packet = asm.done.first().map(Vec::as_slice).unwrap_or_default();
    let comments = Comments::parse(codec.comment_body(packet)?)?;
    for (name, value) in comments.labels() {
        scan.sites.push(RawSite {
            location: format!("{}:{name}", codec.location()),
            canonical: true,
            payload: SitePayload::Json(value),
        });
    }
    if codec.header_packets().is_none() {
        scan.notes.push(format!(
            "ogg: {} stream: hegui reads but does not write its comments",
            codec.name()
        ));
    }
    Ok(scan)
}

/// Rewrites the comment header of the single logical stream with one `AIGC=` entry.
pub(crate) fn write(
    src: &mut dyn ReadSeek,
    dst: &mut dyn WriteSeek,
    label_json: &str,
) -> Result<(), FormatError> {
    rewrite_comments(src, dst, &|codec, old| {
        new_comment_packet(codec, old, Some(label_json))
    })
}

/// Maps a codec's old comment packet to the new one.
type CommentEdit<'a> = dyn Fn(Codec, &[u8]) -> Result<Vec<u8>, FormatError> + 'a;

/// The writer proper: `edit` maps the old comment packet to the new one.
fn rewrite_comments(
    src: &mut dyn ReadSeek,
    dst: &mut dyn Write,
    edit: &CommentEdit<'_>,
) -> Result<(), FormatError> {
    let (page0, ident) = first_page(src)?;
    let codec = Codec::detect(&ident);
    let Some((codec, header_packets)) = codec.and_then(|c| c.header_packets().map(|n| (c, n)))
    else {
        return Err(FormatError::Unsupported(format!(
            "Ogg stream codec {}: hegui writes labels into Vorbis and Opus only",
            codec.map_or("unknown", Codec::name)
        )));
    };
    let serial = page0.serial();
    let multiplexed = || {
        FormatError::Unsupported(
            "multiplexed or chained Ogg (more than one logical stream) is not written".into(),
        )
    };
    // Collect the header packets after the identification packet.
    let mut asm = Assembler::default();
    let mut header_pages: u32 = 0;
    while asm.done.len() < header_packets - 1 {
        let page = require_page(src, "Ogg header packets")?;
        if page.serial() != serial || page.header_type() & BOS != 0 {
            return Err(multiplexed());
        }
        header_pages += 1;
        if asm.feed(&page, header_packets - 1)? {
            return Err(FormatError::Unsupported(
                "audio data shares a page with the last header packet (non-conforming stream)"
                    .into(),
            ));
        }
        if asm.done.len() < header_packets - 1 && page.header_type() & EOS != 0 {
            return Err(FormatError::Truncated("Ogg header packets"));
        }
    }
    let mut packets = asm.done;
    let old_comment = packets.first().map(Vec::as_slice).unwrap_or_default();
    let new_comment = edit(codec, old_comment)?;
    if let Some(first) = packets.first_mut() {
        *first = new_comment;
    }
    let pages = paginate(&packets, serial, page0.seq().wrapping_add(1));
    let delta = i64::try_from(pages.len()).unwrap_or(i64::MAX) - i64::from(header_pages);
    let delta = i32::try_from(delta)
        .map_err(|_| FormatError::malformed("Ogg header page count out of range"))?;
    page0.write_to(dst)?;
    for p in &pages {
        p.write_to(dst)?;
    }
    // Audio pages: copied, or renumbered when the header page count changed.
    let mut ended = false;
    loop {
        match next_page(src)? {
            Next::End => break,
            Next::Junk(at) => {
                if !ended {
                    return Err(FormatError::malformed(format!(
                        "expected an Ogg page at byte {at}"
                    )));
                }
                // Trailing bytes after the last page (e.g. an ID3v1 tag) are kept as they are.
                src.seek(SeekFrom::Start(at))?;
                io::copy_rest(src, dst)?;
                break;
            }
            Next::Page(mut page) => {
                if ended || page.serial() != serial || page.header_type() & BOS != 0 {
                    return Err(multiplexed());
                }
                if delta != 0 {
                    page.set_seq(page.seq().wrapping_add_signed(delta));
                }
                page.write_to(dst)?;
                ended = page.header_type() & EOS != 0;
            }
        }
    }
    Ok(())
}

/// Content selection: the bytes of every audio packet of the first logical stream (all packets
/// after the header packets: 3 for Vorbis, 2 for Opus), concatenated in stream order. Page
/// headers, lacing and the header packets are excluded, so the selection does not depend on how
/// the headers are paged. Other logical streams and bytes after the last page are ignored.
pub(crate) fn content_digest(
    src: &mut dyn ReadSeek,
    sink: &mut dyn Write,
) -> Result<(), FormatError> {
    let (page0, ident) = first_page(src)?;
    let Some(header_packets) = Codec::detect(&ident).and_then(Codec::header_packets) else {
        return Err(FormatError::Unsupported(
            "content selection is defined for Ogg Vorbis and Opus only".into(),
        ));
    };
    let serial = page0.serial();
    // The identification packet on page 0 is the first header packet.
    let mut completed = 1usize;
    // Bytes after the last page (or a non-page) end the selection.
    while let Next::Page(page) = next_page(src)? {
        if page.serial() != serial {
            continue;
        }
        for (range, ends) in page.segments() {
            if completed >= header_packets {
                let seg = page
                    .body
                    .get(range)
                    .ok_or(FormatError::Truncated("Ogg page body"))?;
                sink.write_all(seg)?;
            }
            if ends {
                completed = completed.saturating_add(1);
            }
        }
        if page.header_type() & EOS != 0 {
            break;
        }
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::test_support::{SAMPLE_LABEL, SAMPLE_LABEL_2, test_data, tool};
    use std::io::Cursor;
    use std::path::Path;
    use std::process::Command;

    const FIXTURES: [(&str, &str); 2] = [
        ("ogg-vorbis.ogg", "ogg:vorbis:comment:AIGC"),
        ("ogg-opus.opus", "ogg:opus:OpusTags:AIGC"),
    ];

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

    fn pages(data: &[u8]) -> Vec<Page> {
        let mut c = Cursor::new(data);
        let mut out = Vec::new();
        while let Next::Page(p) = next_page(&mut c).unwrap() {
            out.push(p);
        }
        out
    }

    /// Checks CRCs and contiguous sequence numbers; returns (number of header pages, granules
    /// of the audio pages).
    fn check_pages(data: &[u8], header_packets: usize) -> (usize, Vec<u64>) {
        let pages = pages(data);
        let mut completed = 0;
        let mut header_pages = 0;
        let mut granules = Vec::new();
        for (i, p) in pages.iter().enumerate() {
            assert_eq!(p.stored_crc(), p.computed_crc(), "CRC of page {i}");
            assert_eq!(p.seq(), i as u32, "sequence number of page {i}");
            if completed >= header_packets {
                granules.push(p.granule());
            } else {
                header_pages += 1;
            }
            completed += p.lacing.iter().filter(|&&l| l < 255).count();
        }
        (header_pages, granules)
    }

    fn header_packets(name: &str) -> usize {
        if name.ends_with(".opus") { 2 } else { 3 }
    }

    fn assert_one_canonical(data: &[u8], json: &str, location: &str) {
        let s = scan_bytes(data);
        assert_eq!(s.sites.len(), 1, "{:?}", s.sites);
        assert!(s.sites[0].canonical);
        assert_eq!(s.sites[0].location, location);
        assert_eq!(s.sites[0].payload, SitePayload::Json(json.into()));
    }

    /// Rewrites the comment header with extra entries (to build test inputs).
    fn with_entries(input: &[u8], extra: &[Vec<u8>]) -> Vec<u8> {
        let mut out = Vec::new();
        rewrite_comments(&mut Cursor::new(input), &mut out, &|codec, old| {
            let c = Comments::parse(codec.comment_body(old)?)?;
            let mut entries: Vec<&[u8]> = c.entries().collect();
            entries.extend(extra.iter().map(Vec::as_slice));
            let mut p = codec.comment_magic().to_vec();
            p.extend(build_comments(c.vendor, &entries)?);
            if codec == Codec::Vorbis {
                p.push(1);
            }
            Ok(p)
        })
        .unwrap();
        out
    }

    #[test]
    fn ds16_ogg_crc_matches_reference() {
        // CRC-32/POSIX check value without the final xor.
        assert_eq!(crc_update(0, b"123456789"), 0x765E_7680 ^ 0xFFFF_FFFF);
        for (name, _) in FIXTURES {
            for p in pages(&fixture(name)) {
                assert_eq!(p.stored_crc(), p.computed_crc(), "{name}");
            }
        }
    }

    #[test]
    fn ds16_ogg_roundtrip_one_site() {
        for (name, loc) in FIXTURES {
            let input = fixture(name);
            assert!(scan_bytes(&input).sites.is_empty(), "{name}");
            let out = label(&input, SAMPLE_LABEL).unwrap();
            assert_one_canonical(&out, SAMPLE_LABEL, loc);
        }
    }

    #[test]
    fn ds16_ogg_pages_valid_and_granules_unchanged() {
        for (name, _) in FIXTURES {
            let input = fixture(name);
            let out = label(&input, SAMPLE_LABEL).unwrap();
            let (in_headers, in_granules) = check_pages(&input, header_packets(name));
            let (out_headers, out_granules) = check_pages(&out, header_packets(name));
            assert_eq!(in_granules, out_granules, "{name}");
            assert_eq!(in_headers, out_headers, "{name}");
            // Same page count: the audio pages are byte copies.
            let audio_in = &pages(&input)[in_headers..];
            let audio_out = &pages(&out)[out_headers..];
            for (a, b) in audio_in.iter().zip(audio_out) {
                assert_eq!(
                    (a.header, &a.lacing, &a.body),
                    (b.header, &b.lacing, &b.body)
                );
            }
            assert_eq!(
                pages(&out)[0].header,
                pages(&input)[0].header,
                "identification page"
            );
        }
    }

    #[test]
    fn ds16_ogg_audio_packets_byte_identical() {
        for (name, _) in FIXTURES {
            let input = fixture(name);
            let out = label(&input, SAMPLE_LABEL).unwrap();
            let d = digest(&input);
            assert!(!d.is_empty());
            assert_eq!(d, digest(&out), "{name}");
            // The selection is exactly the audio page bodies here.
            let (h, _) = check_pages(&input, header_packets(name));
            let bodies: Vec<u8> = pages(&input)[h..]
                .iter()
                .flat_map(|p| p.body.clone())
                .collect();
            assert_eq!(d, bodies);
        }
    }

    #[test]
    fn ds16_ogg_write_twice_one_site() {
        for (name, loc) in FIXTURES {
            let once = label(&fixture(name), SAMPLE_LABEL).unwrap();
            let twice = label(&once, SAMPLE_LABEL_2).unwrap();
            assert_one_canonical(&twice, SAMPLE_LABEL_2, loc);
            assert_eq!(
                label(&twice, SAMPLE_LABEL_2).unwrap(),
                twice,
                "{name}: idempotent"
            );
            assert_eq!(digest(&twice), digest(&fixture(name)));
        }
    }

    #[test]
    fn ds16_ogg_keeps_vendor_and_other_comments() {
        for (name, _) in FIXTURES {
            let input = fixture(name);
            let out = label(
                &with_entries(&input, &[format!("aigc={SAMPLE_LABEL_2}").into_bytes()]),
                SAMPLE_LABEL,
            )
            .unwrap();
            let comment = |data: &[u8]| -> (Vec<u8>, Vec<String>) {
                let (_, ident) = first_page(&mut Cursor::new(data)).unwrap();
                let codec = Codec::detect(&ident).unwrap();
                let mut c = Cursor::new(data);
                first_page(&mut c).unwrap();
                let mut asm = Assembler::default();
                while asm.done.is_empty() {
                    let Next::Page(p) = next_page(&mut c).unwrap() else {
                        panic!()
                    };
                    asm.feed(&p, 1).unwrap();
                }
                let body = codec.comment_body(&asm.done[0]).unwrap().to_vec();
                let parsed = Comments::parse(&body).unwrap();
                let entries = parsed
                    .entries()
                    .map(|e| String::from_utf8_lossy(e).into_owned())
                    .collect();
                (parsed.vendor.to_vec(), entries)
            };
            let (v_in, mut e_in) = comment(&input);
            let (v_out, e_out) = comment(&out);
            assert_eq!(v_in, v_out, "{name}");
            e_in.push(format!("AIGC={SAMPLE_LABEL}"));
            assert_eq!(e_in, e_out, "{name}");
        }
    }

    #[test]
    fn ds16_ogg_opus_padding_absorbs_label() {
        let input = fixture("ogg-opus.opus");
        let out = label(&input, SAMPLE_LABEL).unwrap();
        // opusenc pads OpusTags; the label fits in that padding, so the file keeps its size.
        assert_eq!(out.len(), input.len());
    }

    /// A filler entry that makes the Vorbis header pages sit just under a page boundary, so the
    /// label pushes them onto one more page.
    fn vorbis_at_page_boundary() -> Vec<u8> {
        let input = fixture("ogg-vorbis.ogg");
        for n in (60_000..66_000).step_by(50) {
            let filler = format!("FILLER={}", "x".repeat(n)).into_bytes();
            let candidate = with_entries(&input, &[filler]);
            let (before, _) = check_pages(&candidate, 3);
            let (after, _) = check_pages(&label(&candidate, SAMPLE_LABEL).unwrap(), 3);
            if before == 2 && after == 3 {
                return candidate;
            }
        }
        panic!("no filler size crosses a page boundary");
    }

    #[test]
    fn ds16_ogg_renumbers_pages_when_header_page_count_changes() {
        let input = vorbis_at_page_boundary();
        let out = label(&input, SAMPLE_LABEL).unwrap();
        let (h_in, g_in) = check_pages(&input, 3);
        let (h_out, g_out) = check_pages(&out, 3);
        assert_eq!((h_in + 1, g_in.clone()), (h_out, g_out));
        assert_eq!(digest(&out), digest(&input));
        assert_one_canonical(&out, SAMPLE_LABEL, "ogg:vorbis:comment:AIGC");
        // A page on which no header packet ends has granule -1, the others 0.
        let ps = pages(&out);
        for p in &ps[1..h_out] {
            let ends = p.lacing.iter().any(|&l| l < 255);
            assert_eq!(p.granule(), if ends { 0 } else { u64::MAX });
        }
        // And back: a smaller label brings the page count down again.
        let mut c = Cursor::new(Vec::new());
        write(&mut Cursor::new(&out), &mut c, "{}").unwrap();
        let (h_back, g_back) = check_pages(&c.into_inner(), 3);
        assert_eq!((h_back, g_back), (h_in, g_in));
    }

    #[test]
    fn ds16_ogg_comment_spanning_many_pages() {
        for (name, loc) in FIXTURES {
            let big = format!("BIG={}", "y".repeat(200_000)).into_bytes();
            let input = with_entries(&fixture(name), &[big]);
            let (h, g) = check_pages(&input, header_packets(name));
            assert!(h >= 4, "{name}: {h} header pages");
            let out = label(&input, SAMPLE_LABEL).unwrap();
            assert_eq!(check_pages(&out, header_packets(name)).1, g);
            assert_one_canonical(&out, SAMPLE_LABEL, loc);
            assert_eq!(digest(&out), digest(&input));
        }
    }

    #[test]
    fn ogg_multiplexed_and_chained_are_not_written() {
        let vorbis = label(&fixture("ogg-vorbis.ogg"), SAMPLE_LABEL).unwrap();
        let opus = fixture("ogg-opus.opus");
        // Chained: one stream after the other.
        let mut chained = vorbis.clone();
        chained.extend(&opus);
        assert!(matches!(
            label(&chained, SAMPLE_LABEL_2),
            Err(FormatError::Unsupported(_))
        ));
        assert_one_canonical(&chained, SAMPLE_LABEL, "ogg:vorbis:comment:AIGC");
        // Multiplexed: both BOS pages first, then the rest.
        let (v, o) = (pages(&vorbis), pages(&opus));
        let mut muxed = Vec::new();
        for p in [&v[0], &o[0]]
            .into_iter()
            .chain(v[1..].iter())
            .chain(o[1..].iter())
        {
            p.write_to(&mut muxed).unwrap();
        }
        assert!(matches!(
            label(&muxed, SAMPLE_LABEL_2),
            Err(FormatError::Unsupported(_))
        ));
        let s = scan_bytes(&muxed);
        assert_eq!(s.sites.len(), 1);
        assert!(s.notes.iter().any(|n| n.contains("multiplexed")));
        assert_eq!(digest(&muxed), digest(&fixture("ogg-vorbis.ogg")));
    }

    #[test]
    fn ogg_trailing_bytes_after_last_page_are_kept() {
        let mut input = fixture("ogg-vorbis.ogg");
        input.extend(b"TAG trailing junk");
        let out = label(&input, SAMPLE_LABEL).unwrap();
        assert!(out.ends_with(b"TAG trailing junk"));
        assert_eq!(digest(&out), digest(&input));
    }

    #[test]
    fn ogg_other_codecs_are_read_only() {
        // An Ogg FLAC style stream: identification packet, then a VORBIS_COMMENT block packet.
        let vc = build_comments(b"v", &[format!("AIGC={SAMPLE_LABEL}").as_bytes()]).unwrap();
        let mut block = vec![0x84, 0, 0, vc.len() as u8];
        block.extend(&vc);
        let mut data = Vec::new();
        let mut p0 = paginate(&[ident_packet_flac()], 7, 0).remove(0);
        p0.header[5] = BOS;
        p0.set_seq(0);
        p0.write_to(&mut data).unwrap();
        for p in paginate(&[block], 7, 1) {
            p.write_to(&mut data).unwrap();
        }
        let s = scan_bytes(&data);
        assert_eq!(s.sites.len(), 1);
        assert_eq!(s.sites[0].location, "ogg:flac:VORBIS_COMMENT:AIGC");
        assert!(matches!(
            label(&data, SAMPLE_LABEL),
            Err(FormatError::Unsupported(_))
        ));
        assert!(matches!(
            content_digest(&mut Cursor::new(&data), &mut Vec::new()),
            Err(FormatError::Unsupported(_))
        ));
    }

    fn ident_packet_flac() -> Vec<u8> {
        let mut ident = b"\x7fFLAC\x01\x00\x00\x01fLaC".to_vec();
        ident.extend([0x00, 0, 0, 34]);
        ident.extend([0u8; 34]);
        ident
    }

    #[test]
    fn ogg_truncated_is_error() {
        for (name, _) in FIXTURES {
            let out = label(&fixture(name), SAMPLE_LABEL).unwrap();
            for cut in [0, 3, 20, 27, 40, 70, 120, 300] {
                let part = &out[..cut];
                assert!(scan(&mut Cursor::new(part)).is_err(), "{name} cut {cut}");
                assert!(label(part, SAMPLE_LABEL).is_err(), "{name} cut {cut}");
            }
            // Cut inside an audio page: the writer notices.
            let part = &out[..out.len() - 10];
            assert!(matches!(
                label(part, SAMPLE_LABEL),
                Err(FormatError::Truncated(_))
            ));
        }
        assert!(matches!(
            scan(&mut Cursor::new(b"RIFF....WAVE")),
            Err(FormatError::Malformed(_))
        ));
    }

    proptest::proptest! {
        #[test]
        fn ogg_scan_never_panics(data in proptest::collection::vec(proptest::num::u8::ANY, 0..400)) {
            let mut ogg = b"OggS\x00\x02".to_vec();
            ogg.extend(&data);
            for d in [&data, &ogg] {
                let _ = scan(&mut Cursor::new(d));
                let _ = label(d, SAMPLE_LABEL);
                let _ = content_digest(&mut Cursor::new(d), &mut Vec::new());
            }
        }

        #[test]
        fn ogg_scan_never_panics_on_damaged_labelled_file(
            opus in proptest::bool::ANY,
            cut in 0usize..5000,
            flips in proptest::collection::vec((0usize..800, proptest::num::u8::ANY), 0..6),
        ) {
            let name = if opus { "ogg-opus.opus" } else { "ogg-vorbis.ogg" };
            let mut data = label(&fixture(name), SAMPLE_LABEL).unwrap();
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

    /// Labelled outputs: both fixtures, plus the renumbered and many-page variants.
    fn labelled_variants(dir: &Path) -> Vec<std::path::PathBuf> {
        let big = format!("BIG={}", "y".repeat(200_000)).into_bytes();
        let inputs = [
            ("vorbis.ogg", fixture("ogg-vorbis.ogg")),
            ("opus.opus", fixture("ogg-opus.opus")),
            ("boundary.ogg", vorbis_at_page_boundary()),
            (
                "big.ogg",
                with_entries(&fixture("ogg-vorbis.ogg"), std::slice::from_ref(&big)),
            ),
            ("big.opus", with_entries(&fixture("ogg-opus.opus"), &[big])),
        ];
        inputs
            .iter()
            .map(|(name, data)| {
                let path = dir.join(name);
                std::fs::write(&path, label(data, SAMPLE_LABEL).unwrap()).unwrap();
                path
            })
            .collect()
    }

    #[test]
    fn ds16_ogg_interop_ogginfo_clean() {
        let Some(ogginfo) = tool("ogginfo") else {
            return;
        };
        let dir = tempfile::tempdir().unwrap();
        for path in labelled_variants(dir.path()) {
            let out = Command::new(&ogginfo).arg(&path).output().unwrap();
            let text = format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            assert!(out.status.success(), "{}: {text}", path.display());
            assert!(
                !text.contains("WARNING") && !text.contains("ERROR"),
                "{}: {text}",
                path.display()
            );
            assert!(
                text.contains(&format!("AIGC={SAMPLE_LABEL}")),
                "{}: {text}",
                path.display()
            );
        }
    }

    #[test]
    fn ds16_ogg_interop_ffmpeg_decodes_cleanly() {
        let Some(ffmpeg) = tool("ffmpeg") else { return };
        let dir = tempfile::tempdir().unwrap();
        for path in labelled_variants(dir.path()) {
            let out = Command::new(&ffmpeg)
                .args(["-v", "error", "-i"])
                .arg(&path)
                .args(["-f", "null", "-"])
                .output()
                .unwrap();
            assert!(out.status.success(), "{}", path.display());
            assert!(
                out.stderr.is_empty(),
                "{}: {}",
                path.display(),
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }

    #[test]
    fn ds16_ogg_interop_ffprobe_shows_tag() {
        let Some(ffprobe) = tool("ffprobe") else {
            return;
        };
        let dir = tempfile::tempdir().unwrap();
        for path in labelled_variants(dir.path()) {
            let out = Command::new(&ffprobe)
                .args(["-v", "error", "-show_streams", "-show_format"])
                .arg(&path)
                .output()
                .unwrap();
            let stdout = String::from_utf8_lossy(&out.stdout);
            assert!(
                out.status.success() && out.stderr.is_empty(),
                "{}",
                path.display()
            );
            assert!(
                stdout.contains(&format!("TAG:AIGC={SAMPLE_LABEL}")),
                "{}: {stdout}",
                path.display()
            );
        }
    }

    #[test]
    fn ds16_ogg_interop_reads_ffmpeg_metadata() {
        let Some(ffmpeg) = tool("ffmpeg") else { return };
        let dir = tempfile::tempdir().unwrap();
        for (name, loc) in FIXTURES {
            let path = dir.path().join(format!("ff-{name}"));
            let status = Command::new(&ffmpeg)
                .args(["-v", "error", "-y", "-i"])
                .arg(test_data(name))
                .args(["-c", "copy", "-metadata"])
                .arg(format!("AIGC={SAMPLE_LABEL}"))
                .arg(&path)
                .status()
                .unwrap();
            assert!(status.success());
            let data = std::fs::read(&path).unwrap();
            assert_one_canonical(&data, SAMPLE_LABEL, loc);
            let out = label(&data, SAMPLE_LABEL_2).unwrap();
            assert_one_canonical(&out, SAMPLE_LABEL_2, loc);
            assert_eq!(digest(&out), digest(&data));
        }
    }
}
