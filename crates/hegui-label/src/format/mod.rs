//! Where the implicit label lives in each file format, and how to put it there.
//!
//! Every format module exposes the same three functions, dispatched from here:
//!
//! * `scan(src) -> Scan`: find every label site (the canonical one and the variants seen in the
//!   wild), reading only the metadata structures and seeking past media payloads. Never panics on
//!   any bytes; allocations are bounded by [`MAX_SITE_BYTES`].
//! * `write(src, dst, label_json)`: stream `src` to `dst` with exactly one label site, the one the
//!   TC260 practice guide names for the format, holding `label_json` (the bare 7-key object).
//!   Legacy sites of the same file are migrated away so one site remains (GB 45438 §6.1 c).
//!   Media payloads are copied byte for byte; other metadata survives.
//! * `content_digest(src, sink)`: feed the "content selection" (the media payload bytes that
//!   labelling never touches) to `sink`, so a signature can bind label and content (DS-18).
//!
//! The key decision: writers are streaming copies (`src` is read once, front to back, except for
//! bounded metadata look-ups), so labelling a 2 GB video costs about a `cp` and a few MB of memory.

use std::io::{Read, Seek, Write};
use std::path::Path;

pub(crate) mod bmff;
pub(crate) mod exif;
pub(crate) mod flac;
pub(crate) mod gif;
pub(crate) mod heif;
pub(crate) mod jpeg;
pub(crate) mod markdown;
pub(crate) mod mp3;
pub(crate) mod mp4;
pub(crate) mod ogg;
pub(crate) mod ooxml;
pub(crate) mod pdf;
pub(crate) mod png;
pub(crate) mod riff;
pub(crate) mod tiff;
pub(crate) mod wav;
pub(crate) mod webp;

/// Largest label site (XMP packet, comment, JSON string) a reader will allocate for.
pub(crate) const MAX_SITE_BYTES: u64 = 16 << 20;

/// A seekable byte source.
pub trait ReadSeek: Read + Seek {}
impl<T: Read + Seek + ?Sized> ReadSeek for T {}

/// A seekable byte sink.
pub trait WriteSeek: Write + Seek {}
impl<T: Write + Seek + ?Sized> WriteSeek for T {}

/// A file format hegui can label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Format {
    /// PNG: XMP in an `iTXt` chunk.
    Png,
    /// JPEG: XMP in an APP1 segment.
    Jpeg,
    /// WebP: `XMP ` chunk in the extended (VP8X) layout.
    WebP,
    /// GIF: `XMP Data` application extension.
    Gif,
    /// TIFF: IFD0 tag 700.
    Tiff,
    /// HEIF/HEIC/AVIF: an XMP metadata item.
    Heif,
    /// MP4/MOV/M4A: `moov/udta/meta` keys + ilst item `AIGC`.
    Mp4,
    /// MP3: ID3v2 `TXXX` frame `AIGC`.
    Mp3,
    /// WAV: top-level RIFF chunk `AIGC`.
    Wav,
    /// FLAC: Vorbis comment `AIGC=`.
    Flac,
    /// Ogg Vorbis / Opus: comment header `AIGC=`.
    Ogg,
    /// PDF: Info dictionary `/AIGC`, written as an incremental update.
    Pdf,
    /// DOCX/XLSX/PPTX: custom property `AIGC` in `docProps/custom.xml`.
    Ooxml,
    /// Markdown: YAML front matter key `AIGC`.
    Markdown,
}

impl Format {
    /// Every format, in a stable order.
    pub const ALL: [Format; 14] = [
        Format::Png,
        Format::Jpeg,
        Format::WebP,
        Format::Gif,
        Format::Tiff,
        Format::Heif,
        Format::Mp4,
        Format::Mp3,
        Format::Wav,
        Format::Flac,
        Format::Ogg,
        Format::Pdf,
        Format::Ooxml,
        Format::Markdown,
    ];

    /// The short lower-case name used in reports (`png`, `mp4`, …).
    pub fn name(self) -> &'static str {
        match self {
            Format::Png => "png",
            Format::Jpeg => "jpeg",
            Format::WebP => "webp",
            Format::Gif => "gif",
            Format::Tiff => "tiff",
            Format::Heif => "heif",
            Format::Mp4 => "mp4",
            Format::Mp3 => "mp3",
            Format::Wav => "wav",
            Format::Flac => "flac",
            Format::Ogg => "ogg",
            Format::Pdf => "pdf",
            Format::Ooxml => "ooxml",
            Format::Markdown => "markdown",
        }
    }

    /// Recognises a format from the first bytes of a file (at least 16 are useful), falling back
    /// to the file extension only for formats without a magic number (Markdown).
    pub fn sniff(head: &[u8], path: Option<&Path>) -> Option<Format> {
        let starts = |m: &[u8]| head.starts_with(m);
        if starts(b"\x89PNG\r\n\x1a\n") {
            return Some(Format::Png);
        }
        if starts(&[0xFF, 0xD8, 0xFF]) {
            return Some(Format::Jpeg);
        }
        if head.len() >= 12 && &head[0..4] == b"RIFF" {
            match &head[8..12] {
                b"WEBP" => return Some(Format::WebP),
                b"WAVE" => return Some(Format::Wav),
                _ => {}
            }
        }
        if starts(b"GIF87a") || starts(b"GIF89a") {
            return Some(Format::Gif);
        }
        if starts(b"II*\0") || starts(b"MM\0*") {
            return Some(Format::Tiff);
        }
        if head.len() >= 12 && &head[4..8] == b"ftyp" {
            let brand = &head[8..12];
            const HEIF_BRANDS: [&[u8; 4]; 8] = [
                b"heic", b"heix", b"mif1", b"msf1", b"avif", b"avis", b"heim", b"heis",
            ];
            if HEIF_BRANDS.iter().any(|b| brand == *b) {
                return Some(Format::Heif);
            }
            return Some(Format::Mp4);
        }
        if head.len() >= 8 && matches!(&head[4..8], b"moov" | b"mdat" | b"wide" | b"free") {
            // Old QuickTime files start without `ftyp`.
            return Some(Format::Mp4);
        }
        if starts(b"ID3") {
            return Some(Format::Mp3);
        }
        if head.len() >= 2 && head[0] == 0xFF && (head[1] & 0xE0) == 0xE0 {
            return Some(Format::Mp3);
        }
        if starts(b"fLaC") {
            return Some(Format::Flac);
        }
        if starts(b"OggS") {
            return Some(Format::Ogg);
        }
        if starts(b"%PDF-") {
            return Some(Format::Pdf);
        }
        let ext = path
            .and_then(|p| p.extension())
            .and_then(|e| e.to_str())
            .map(|e| e.to_ascii_lowercase());
        if starts(b"PK\x03\x04") {
            // Any ZIP could be OOXML; the extension or [Content_Types].xml decides in `ooxml`.
            return Some(Format::Ooxml);
        }
        match ext.as_deref() {
            Some("md" | "markdown") => Some(Format::Markdown),
            _ => None,
        }
    }
}

impl std::fmt::Display for Format {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// One place in a file where a label (or a candidate carrier such as an XMP packet) was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawSite {
    /// Where it is, for people: e.g. `png:iTXt:XML:com.adobe.xmp`, `mp4:moov/udta/meta:AIGC`.
    pub location: String,
    /// True when this is the site the TC260 guide names for the format (the one hegui writes).
    pub canonical: bool,
    /// What the site holds.
    pub payload: SitePayload,
}

/// The text held by a label site.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SitePayload {
    /// A JSON string (bare 7-key object or `{"AIGC":{…}}`), exactly as stored.
    Json(String),
    /// A whole XMP packet; the label is the `AIGC` property of the TC260 namespace, if any.
    Xmp(String),
}

/// What a format reader found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scan {
    /// Every label site and XMP packet found, in file order.
    pub sites: Vec<RawSite>,
    /// Observations about the file that a report should show (e.g. "XMP after IDAT").
    pub notes: Vec<String>,
}

/// Why a format reader or writer could not handle a file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FormatError {
    /// The file ends before a structure it announces.
    #[error("truncated {0}")]
    Truncated(&'static str),
    /// A structure is present but invalid.
    #[error("malformed {0}")]
    Malformed(String),
    /// A structure is larger than hegui is willing to allocate for.
    #[error("{what} is too large ({size} bytes, limit {limit})")]
    TooLarge {
        /// What was too large.
        what: &'static str,
        /// Its announced size.
        size: u64,
        /// The limit.
        limit: u64,
    },
    /// A valid file of a variant hegui does not write (e.g. an encrypted PDF).
    #[error("unsupported: {0}")]
    Unsupported(String),
    /// Reading or writing failed.
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

impl FormatError {
    /// Shorthand for [`FormatError::Malformed`].
    pub(crate) fn malformed(what: impl Into<String>) -> Self {
        FormatError::Malformed(what.into())
    }
}

/// Finds every label site in `src`.
pub(crate) fn scan(format: Format, src: &mut dyn ReadSeek) -> Result<Scan, FormatError> {
    match format {
        Format::Png => png::scan(src),
        Format::Jpeg => jpeg::scan(src),
        Format::WebP => webp::scan(src),
        Format::Gif => gif::scan(src),
        Format::Tiff => tiff::scan(src),
        Format::Heif => heif::scan(src),
        Format::Mp4 => mp4::scan(src),
        Format::Mp3 => mp3::scan(src),
        Format::Wav => wav::scan(src),
        Format::Flac => flac::scan(src),
        Format::Ogg => ogg::scan(src),
        Format::Pdf => pdf::scan(src),
        Format::Ooxml => ooxml::scan(src),
        Format::Markdown => markdown::scan(src),
    }
}

/// Copies `src` to `dst` with exactly one label site holding `label_json`.
pub(crate) fn write(
    format: Format,
    src: &mut dyn ReadSeek,
    dst: &mut dyn WriteSeek,
    label_json: &str,
) -> Result<(), FormatError> {
    match format {
        Format::Png => png::write(src, dst, label_json),
        Format::Jpeg => jpeg::write(src, dst, label_json),
        Format::WebP => webp::write(src, dst, label_json),
        Format::Gif => gif::write(src, dst, label_json),
        Format::Tiff => tiff::write(src, dst, label_json),
        Format::Heif => heif::write(src, dst, label_json),
        Format::Mp4 => mp4::write(src, dst, label_json),
        Format::Mp3 => mp3::write(src, dst, label_json),
        Format::Wav => wav::write(src, dst, label_json),
        Format::Flac => flac::write(src, dst, label_json),
        Format::Ogg => ogg::write(src, dst, label_json),
        Format::Pdf => pdf::write(src, dst, label_json),
        Format::Ooxml => ooxml::write(src, dst, label_json),
        Format::Markdown => markdown::write(src, dst, label_json),
    }
}

/// Feeds the content selection of `src` (the bytes labelling never changes) to `sink`.
pub(crate) fn content_digest(
    format: Format,
    src: &mut dyn ReadSeek,
    sink: &mut dyn Write,
) -> Result<(), FormatError> {
    match format {
        Format::Png => png::content_digest(src, sink),
        Format::Jpeg => jpeg::content_digest(src, sink),
        Format::WebP => webp::content_digest(src, sink),
        Format::Gif => gif::content_digest(src, sink),
        Format::Tiff => tiff::content_digest(src, sink),
        Format::Heif => heif::content_digest(src, sink),
        Format::Mp4 => mp4::content_digest(src, sink),
        Format::Mp3 => mp3::content_digest(src, sink),
        Format::Wav => wav::content_digest(src, sink),
        Format::Flac => flac::content_digest(src, sink),
        Format::Ogg => ogg::content_digest(src, sink),
        Format::Pdf => pdf::content_digest(src, sink),
        Format::Ooxml => ooxml::content_digest(src, sink),
        Format::Markdown => markdown::content_digest(src, sink),
    }
}

/// Scans an in-memory file: the entry point of the fuzz targets and of callers that already hold
/// the bytes.
pub fn scan_bytes(format: Format, data: &[u8]) -> Result<Scan, FormatError> {
    scan(format, &mut std::io::Cursor::new(data))
}

/// Labels an in-memory file (see [`Format`] for placements); `label_json` must be a valid bare
/// label. Used by the fuzz round-trip targets.
pub fn write_bytes(format: Format, data: &[u8], label_json: &str) -> Result<Vec<u8>, FormatError> {
    let mut out = std::io::Cursor::new(Vec::with_capacity(data.len() + 1024));
    write(
        format,
        &mut std::io::Cursor::new(data),
        &mut out,
        label_json,
    )?;
    Ok(out.into_inner())
}

/// The content selection of an in-memory file (what the signature's content hash covers).
pub fn content_bytes(format: Format, data: &[u8]) -> Result<Vec<u8>, FormatError> {
    let mut out = Vec::new();
    content_digest(format, &mut std::io::Cursor::new(data), &mut out)?;
    Ok(out)
}

/// Byte helpers shared by the format modules.
pub(crate) mod io {
    use super::{FormatError, MAX_SITE_BYTES, ReadSeek};
    use std::io::{Read, SeekFrom, Write};

    /// Reads exactly `n` bytes, refusing sizes above [`MAX_SITE_BYTES`] and mapping a short read
    /// to [`FormatError::Truncated`].
    pub(crate) fn read_vec(
        src: &mut dyn ReadSeek,
        n: u64,
        what: &'static str,
    ) -> Result<Vec<u8>, FormatError> {
        if n > MAX_SITE_BYTES {
            return Err(FormatError::TooLarge {
                what,
                size: n,
                limit: MAX_SITE_BYTES,
            });
        }
        let mut buf = Vec::new();
        // n is bounded above, so the cast cannot truncate on 64-bit or 32-bit targets.
        let got = src.take(n).read_to_end(&mut buf)?;
        if (got as u64) < n {
            return Err(FormatError::Truncated(what));
        }
        Ok(buf)
    }

    /// Reads exactly `buf.len()` bytes or reports which structure was truncated.
    pub(crate) fn read_exact(
        src: &mut dyn ReadSeek,
        buf: &mut [u8],
        what: &'static str,
    ) -> Result<(), FormatError> {
        src.read_exact(buf).map_err(|e| match e.kind() {
            std::io::ErrorKind::UnexpectedEof => FormatError::Truncated(what),
            _ => FormatError::Io(e),
        })
    }

    /// Bytes moved per read/write in the bulk copies: as large as the callers' buffers, so that
    /// both buffered layers pass the data straight through (one user-space copy, few syscalls).
    const COPY_CHUNK: usize = 256 * 1024;

    /// Copies exactly `n` bytes from `src` to `dst` (a streaming copy in 256 KiB pieces).
    pub(crate) fn copy_n(
        src: &mut dyn ReadSeek,
        dst: &mut dyn Write,
        n: u64,
        what: &'static str,
    ) -> Result<(), FormatError> {
        let mut buf = vec![
            0u8;
            COPY_CHUNK
                .min(usize::try_from(n).unwrap_or(COPY_CHUNK))
                .max(1)
        ];
        let mut left = n;
        while left > 0 {
            let want = buf.len().min(usize::try_from(left).unwrap_or(buf.len()));
            let got = match src.read(&mut buf[..want]) {
                Ok(0) => return Err(FormatError::Truncated(what)),
                Ok(k) => k,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(FormatError::Io(e)),
            };
            dst.write_all(&buf[..got])?;
            left -= got as u64;
        }
        Ok(())
    }

    /// Copies everything from the current position to the end.
    pub(crate) fn copy_rest(
        src: &mut dyn ReadSeek,
        dst: &mut dyn Write,
    ) -> Result<u64, FormatError> {
        let mut buf = vec![0u8; COPY_CHUNK];
        let mut total = 0u64;
        loop {
            let got = match src.read(&mut buf) {
                Ok(0) => return Ok(total),
                Ok(k) => k,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(FormatError::Io(e)),
            };
            dst.write_all(&buf[..got])?;
            total += got as u64;
        }
    }

    /// The total length of `src`, leaving the position where it was.
    pub(crate) fn len(src: &mut dyn ReadSeek) -> Result<u64, FormatError> {
        let here = src.stream_position()?;
        let end = src.seek(SeekFrom::End(0))?;
        src.seek(SeekFrom::Start(here))?;
        Ok(end)
    }
}
