//! WebP: the label is the `TC260:AIGC` property of the XMP packet in the `XMP ` chunk
//! (TC260-PG-20259A), which only the extended layout (`VP8X` first, XMP flag 0x04) can carry.
//!
//! The key decision is that every output is extended and its `XMP ` chunk is the last chunk of
//! the file, which puts it after the image data (`VP8 `/`VP8L`/`ALPH`/`ANIM`/`ANMF`) and after
//! `EXIF` as the container spec orders them, and keeps every other chunk exactly where and as it
//! was. A simple lossy (`VP8 `) or lossless (`VP8L`) file gets a `VP8X` chunk in front, with the
//! canvas size from the bitstream header and the XMP flag set (plus alpha, ICC and EXIF flags for
//! what the file holds); an extended file gets the flag set in its own `VP8X`. An existing XMP
//! packet is merged (other properties survive) and every old `XMP ` chunk is removed, so one
//! remains. Chunks are streamed, so an animation of any length costs a copy.
//!
//! Variant read and migrated: an `EXIF` chunk whose `UserComment`/`ImageDescription` holds a
//! label (the JPEG practice of many Chinese generators, carried over by converters) is reported
//! as a non-canonical site, and on write that field is blanked in place (same length, charset
//! prefix kept) so no EXIF offset moves and one label site remains.

use super::riff::{self, Chunk, Riff};
use super::{FormatError, RawSite, ReadSeek, Scan, SitePayload, WriteSeek, exif, io};
use crate::xmp;
use std::io::{Cursor, SeekFrom, Write};

const XMP: &[u8; 4] = b"XMP ";
const FLAG_ICC: u8 = 0x20;
const FLAG_ALPHA: u8 = 0x10;
const FLAG_EXIF: u8 = 0x08;
const FLAG_XMP: u8 = 0x04;

/// Chunks whose bytes make up the image (the content selection).
fn is_image_chunk(id: &[u8; 4]) -> bool {
    matches!(id, b"VP8 " | b"VP8L" | b"ALPH" | b"ANIM" | b"ANMF")
}

fn open(src: &mut dyn ReadSeek) -> Result<Riff, FormatError> {
    riff::open(src, b"WEBP", "WebP")
}

/// What the writer needs to know about a source file (gathered in its first pass).
struct Layout {
    riff: Riff,
    /// The `VP8X` flags of an extended file; `None` for a simple one.
    vp8x_flags: Option<u8>,
    /// Canvas width and height from the bitstream header of a simple file.
    canvas: (u32, u32),
    /// Flags a new `VP8X` chunk needs besides XMP (alpha, ICC, EXIF).
    derived_flags: u8,
    /// The first XMP packet, to merge into.
    xmp: Option<Vec<u8>>,
    /// Bytes the kept chunks take in the output.
    kept_len: u64,
}

/// Reads the canvas size of a `VP8 ` key frame (RFC 6386 §9.1): 14-bit width and height.
fn vp8_canvas(src: &mut dyn ReadSeek, chunk: &Chunk) -> Result<(u32, u32), FormatError> {
    if chunk.len < 10 {
        return Err(FormatError::malformed(
            "WebP VP8 chunk too short for a frame header",
        ));
    }
    src.seek(SeekFrom::Start(chunk.data_offset()))?;
    let mut h = [0u8; 10];
    io::read_exact(src, &mut h, "WebP VP8 frame header")?;
    if h[0] & 1 != 0 {
        return Err(FormatError::malformed(
            "WebP VP8 bitstream does not start with a key frame",
        ));
    }
    if h[3..6] != [0x9d, 0x01, 0x2a] {
        return Err(FormatError::malformed("WebP VP8 start code missing"));
    }
    let w = u32::from(u16::from_le_bytes([h[6], h[7]]) & 0x3fff);
    let ht = u32::from(u16::from_le_bytes([h[8], h[9]]) & 0x3fff);
    if w == 0 || ht == 0 {
        return Err(FormatError::malformed(
            "WebP VP8 frame has a zero dimension",
        ));
    }
    Ok((w, ht))
}

/// Reads the canvas size and alpha hint of a `VP8L` bitstream (signature 0x2f, then 14-bit
/// width-1, 14-bit height-1, 1 alpha bit, 3 version bits).
fn vp8l_canvas(src: &mut dyn ReadSeek, chunk: &Chunk) -> Result<(u32, u32, bool), FormatError> {
    if chunk.len < 5 {
        return Err(FormatError::malformed(
            "WebP VP8L chunk too short for a header",
        ));
    }
    src.seek(SeekFrom::Start(chunk.data_offset()))?;
    let mut h = [0u8; 5];
    io::read_exact(src, &mut h, "WebP VP8L header")?;
    if h[0] != 0x2f {
        return Err(FormatError::malformed("WebP VP8L signature missing"));
    }
    let bits = u32::from_le_bytes([h[1], h[2], h[3], h[4]]);
    if bits >> 29 != 0 {
        return Err(FormatError::malformed("WebP VP8L version is not 0"));
    }
    Ok((
        (bits & 0x3fff) + 1,
        ((bits >> 14) & 0x3fff) + 1,
        (bits >> 28) & 1 == 1,
    ))
}

/// First writer pass: validates the layout and collects what the output header needs.
fn inspect(src: &mut dyn ReadSeek) -> Result<Layout, FormatError> {
    let riff = open(src)?;
    let mut walk = riff.chunks();
    let mut layout = Layout {
        riff: riff.clone(),
        vp8x_flags: None,
        canvas: (0, 0),
        derived_flags: 0,
        xmp: None,
        kept_len: 0,
    };
    let mut first = true;
    while let Some(chunk) = walk.next(src)? {
        if chunk.truncated() {
            return Err(FormatError::Truncated(
                "WebP chunk (payload runs past the end of the file)",
            ));
        }
        if first {
            first = false;
            match &chunk.id {
                b"VP8X" => {
                    if chunk.len < 10 {
                        return Err(FormatError::malformed(
                            "WebP VP8X chunk shorter than 10 bytes",
                        ));
                    }
                    src.seek(SeekFrom::Start(chunk.data_offset()))?;
                    let mut flags = [0u8; 1];
                    io::read_exact(src, &mut flags, "WebP VP8X flags")?;
                    layout.vp8x_flags = Some(flags[0]);
                }
                b"VP8 " => layout.canvas = vp8_canvas(src, &chunk)?,
                b"VP8L" => {
                    let (w, h, alpha) = vp8l_canvas(src, &chunk)?;
                    layout.canvas = (w, h);
                    if alpha {
                        layout.derived_flags |= FLAG_ALPHA;
                    }
                }
                _ => {
                    return Err(FormatError::malformed(format!(
                        "WebP first chunk is `{}`, expected VP8X, VP8 or VP8L",
                        chunk.id_str()
                    )));
                }
            }
        }
        match &chunk.id {
            b"ALPH" => layout.derived_flags |= FLAG_ALPHA,
            b"ICCP" => layout.derived_flags |= FLAG_ICC,
            b"EXIF" => layout.derived_flags |= FLAG_EXIF,
            b"ANIM" | b"ANMF" if layout.vp8x_flags.is_none() => {
                return Err(FormatError::malformed(
                    "WebP animation chunks without a VP8X chunk",
                ));
            }
            _ => {}
        }
        if &chunk.id == XMP {
            if layout.xmp.is_none() {
                src.seek(SeekFrom::Start(chunk.data_offset()))?;
                layout.xmp = Some(io::read_vec(src, chunk.len, "WebP XMP chunk")?);
            }
        } else {
            layout.kept_len += chunk.padded_size();
        }
    }
    if first {
        return Err(FormatError::malformed("WebP file has no chunks"));
    }
    Ok(layout)
}

/// Label text fields in an `EXIF` chunk payload (a TIFF structure, optionally behind the
/// non-standard `Exif\0\0` prefix some writers copy from JPEG), with their byte ranges in
/// `payload`. Problems reading the EXIF become notes: it is not the canonical site.
fn exif_labels(
    payload: &[u8],
    notes: &mut Vec<String>,
) -> Vec<(exif::ExifTextLabel, std::ops::Range<usize>)> {
    let shift = if payload.starts_with(b"Exif\0\0") {
        6
    } else {
        0
    };
    let tiff = payload.get(shift..).unwrap_or_default();
    let mut c = Cursor::new(tiff);
    let parsed = exif::Reader::new(&mut c, 0).and_then(|mut r| {
        let first = r.header.first_ifd;
        let ifd0 = r.read_ifd(first)?;
        let mut n = Vec::new();
        let labels = exif::find_text_labels(&mut r, &ifd0, &mut n);
        Ok((labels, n))
    });
    let labels = match parsed {
        Ok((labels, n)) => {
            notes.extend(n);
            labels
        }
        Err(e) => {
            notes.push(format!("EXIF chunk unreadable: {e}"));
            return Vec::new();
        }
    };
    labels
        .into_iter()
        .filter_map(|l| {
            let start = usize::try_from(l.offset).ok()?.checked_add(shift)?;
            let end = start.checked_add(usize::try_from(l.len).ok()?)?;
            (end <= payload.len()).then_some((l, start..end))
        })
        .collect()
}

/// Reads an `EXIF` chunk's payload (bounded by `read_vec`).
fn read_payload(src: &mut dyn ReadSeek, chunk: &Chunk) -> Result<Vec<u8>, FormatError> {
    src.seek(SeekFrom::Start(chunk.data_offset()))?;
    io::read_vec(src, chunk.len, "WebP EXIF chunk")
}

/// The complete packet to write: the existing one (if any) with the label merged in.
fn packet(existing: Option<&[u8]>, label_json: &str) -> Result<String, FormatError> {
    let existing = match existing {
        None => None,
        Some(bytes) => {
            let text = std::str::from_utf8(bytes)
                .map_err(|_| FormatError::malformed("existing WebP XMP packet is not UTF-8"))?;
            Some(text.trim_end_matches('\0'))
        }
    };
    xmp::merge_label(existing, label_json).map_err(|e| FormatError::malformed(format!("WebP: {e}")))
}

/// Finds every XMP packet in `XMP ` chunks (the canonical site), noting misplaced ones.
pub(crate) fn scan(src: &mut dyn ReadSeek) -> Result<Scan, FormatError> {
    src.seek(SeekFrom::Start(0))?;
    let riff = open(src)?;
    let mut scan = Scan {
        notes: riff.notes.clone(),
        ..Scan::default()
    };
    let mut walk = riff.chunks();
    let mut vp8x_flags = None;
    let mut first = true;
    let mut seen_image = false;
    while let Some(chunk) = walk.next(src)? {
        if first && &chunk.id == b"VP8X" && chunk.len >= 1 {
            src.seek(SeekFrom::Start(chunk.data_offset()))?;
            let mut f = [0u8; 1];
            io::read_exact(src, &mut f, "WebP VP8X flags")?;
            vp8x_flags = Some(f[0]);
        }
        first = false;
        if chunk.truncated() {
            if &chunk.id == XMP {
                return Err(FormatError::Truncated("WebP XMP chunk"));
            }
            scan.notes.push(format!(
                "chunk `{}` declares {} bytes but only {} are present",
                chunk.id_str(),
                chunk.size,
                chunk.len
            ));
            continue;
        }
        if is_image_chunk(&chunk.id) {
            seen_image = true;
        }
        if &chunk.id == b"C2PA" {
            scan.notes.push(
                "C2PA manifest store (C2PA chunk) present; relabelling invalidates its hash".into(),
            );
        }
        if &chunk.id == b"EXIF" {
            let payload = read_payload(src, &chunk)?;
            for (l, _) in exif_labels(&payload, &mut scan.notes) {
                scan.sites.push(RawSite {
                    location: format!("webp:EXIF:{}", l.field),
                    canonical: false,
                    payload: SitePayload::Json(l.json),
                });
            }
            continue;
        }
        if &chunk.id != XMP {
            continue;
        }
        src.seek(SeekFrom::Start(chunk.data_offset()))?;
        let bytes = io::read_vec(src, chunk.len, "WebP XMP chunk")?;
        let packet = match String::from_utf8(bytes) {
            Ok(t) => t,
            Err(e) => {
                scan.notes.push("XMP chunk is not valid UTF-8".into());
                String::from_utf8_lossy(e.as_bytes()).into_owned()
            }
        };
        match vp8x_flags {
            None => scan
                .notes
                .push("XMP chunk in a simple (non-VP8X) WebP: readers may ignore it".into()),
            Some(f) if f & FLAG_XMP == 0 => scan
                .notes
                .push("XMP chunk present but the VP8X XMP flag is not set".into()),
            Some(_) => {}
        }
        if !seen_image {
            scan.notes.push("XMP chunk before the image data".into());
        }
        scan.sites.push(RawSite {
            location: "webp:XMP ".into(),
            canonical: true,
            payload: SitePayload::Xmp(packet.trim_end_matches('\0').to_string()),
        });
    }
    let xmp_chunks = scan.sites.iter().filter(|s| s.canonical).count();
    if xmp_chunks > 1 {
        scan.notes.push(format!("{xmp_chunks} XMP chunks"));
    }
    if let Some((at, n)) = walk.stray() {
        scan.notes.push(format!(
            "{n} stray bytes at offset {at} (too short for a chunk)"
        ));
    }
    Ok(scan)
}

/// Streams `src` to `dst` as an extended WebP whose last chunk is `XMP ` holding the label.
pub(crate) fn write(
    src: &mut dyn ReadSeek,
    dst: &mut dyn WriteSeek,
    label_json: &str,
) -> Result<(), FormatError> {
    src.seek(SeekFrom::Start(0))?;
    let layout = inspect(src)?;
    let packet = packet(layout.xmp.as_deref(), label_json)?;
    let new_vp8x = layout.vp8x_flags.is_none();
    let mut total = layout.kept_len + riff::padded(packet.len() as u64);
    if new_vp8x {
        total += riff::padded(10);
    }
    let size = riff::riff_size(total)?;

    dst.write_all(b"RIFF")?;
    dst.write_all(&size.to_le_bytes())?;
    dst.write_all(b"WEBP")?;
    if new_vp8x {
        let (w, h) = layout.canvas;
        let mut vp8x = [0u8; 10];
        vp8x[0] = FLAG_XMP | layout.derived_flags;
        // Canvas fields hold width-1 and height-1 as 24-bit little-endian; the 14-bit bitstream
        // sizes always fit.
        vp8x[4..7].copy_from_slice(&(w - 1).to_le_bytes()[..3]);
        vp8x[7..10].copy_from_slice(&(h - 1).to_le_bytes()[..3]);
        riff::write_chunk(dst, b"VP8X", &vp8x)?;
    }
    let mut walk = layout.riff.chunks();
    let mut first = true;
    while let Some(chunk) = walk.next(src)? {
        let is_first = std::mem::replace(&mut first, false);
        if &chunk.id == XMP {
            continue;
        }
        if is_first && &chunk.id == b"VP8X" {
            // Same chunk with the XMP flag set; the flags are its first payload byte.
            src.seek(SeekFrom::Start(chunk.offset))?;
            io::copy_n(src, dst, 8, "WebP VP8X chunk")?;
            let mut flags = [0u8; 1];
            io::read_exact(src, &mut flags, "WebP VP8X flags")?;
            dst.write_all(&[flags[0] | FLAG_XMP])?;
            io::copy_n(src, dst, chunk.len - 1, "WebP VP8X chunk")?;
            if chunk.size & 1 == 1 {
                dst.write_all(&[0])?;
            }
            continue;
        }
        if &chunk.id == b"EXIF" {
            let mut payload = read_payload(src, &chunk)?;
            let labels = exif_labels(&payload, &mut Vec::new());
            if !labels.is_empty() {
                for (l, range) in labels {
                    if let Some(slot) = payload.get_mut(range) {
                        let blank = l.blanked(slot);
                        slot.copy_from_slice(&blank);
                    }
                }
                riff::write_chunk(dst, b"EXIF", &payload)?;
                continue;
            }
        }
        riff::copy_chunk(src, dst, &chunk)?;
    }
    riff::write_chunk(dst, XMP, packet.as_bytes())?;
    if layout.riff.trailing() > 0 {
        src.seek(SeekFrom::Start(layout.riff.end))?;
        io::copy_n(src, dst, layout.riff.trailing(), "WebP trailing data")?;
    }
    dst.flush()?;
    Ok(())
}

/// Content selection for WebP: every `VP8 `, `VP8L`, `ALPH`, `ANIM` and `ANMF` chunk in file
/// order, each as its 8-byte header followed by its payload (pad bytes excluded). Labelling
/// never touches these chunks; `VP8X` (whose flags change) and metadata chunks are left out.
pub(crate) fn content_digest(
    src: &mut dyn ReadSeek,
    sink: &mut dyn Write,
) -> Result<(), FormatError> {
    src.seek(SeekFrom::Start(0))?;
    let riff = open(src)?;
    let mut walk = riff.chunks();
    let mut any = false;
    while let Some(chunk) = walk.next(src)? {
        if !is_image_chunk(&chunk.id) {
            continue;
        }
        if chunk.truncated() {
            return Err(FormatError::Truncated("WebP image chunk"));
        }
        any = true;
        src.seek(SeekFrom::Start(chunk.offset))?;
        io::copy_n(src, sink, 8 + chunk.len, "WebP image chunk")?;
    }
    if !any {
        return Err(FormatError::malformed("WebP without image data"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use crate::test_support::{SAMPLE_LABEL, SAMPLE_LABEL_2, exiftool_config, test_data, tool};
    use proptest::prelude::*;
    use std::io::Cursor;
    use std::path::Path;
    use std::process::Command;

    fn fixture(name: &str) -> Vec<u8> {
        std::fs::read(test_data(name)).unwrap()
    }

    /// A minimal valid packet with no properties.
    const EMPTY_XMP: &str = "<x:xmpmeta xmlns:x=\"adobe:ns:meta/\"><rdf:RDF xmlns:rdf=\"http://www.w3.org/1999/02/22-rdf-syntax-ns#\"></rdf:RDF></x:xmpmeta>";

    fn label(input: &[u8], json: &str) -> Vec<u8> {
        let mut out = Cursor::new(Vec::new());
        write(&mut Cursor::new(input.to_vec()), &mut out, json).unwrap();
        out.into_inner()
    }

    fn scan_bytes(bytes: &[u8]) -> Scan {
        scan(&mut Cursor::new(bytes.to_vec())).unwrap()
    }

    fn digest(bytes: &[u8]) -> Vec<u8> {
        let mut sink = Vec::new();
        content_digest(&mut Cursor::new(bytes.to_vec()), &mut sink).unwrap();
        sink
    }

    /// (id, payload) of every chunk, asserting the file is well formed: RIFF size = length - 8,
    /// every chunk padded, nothing left over.
    fn chunks(bytes: &[u8]) -> Vec<([u8; 4], Vec<u8>)> {
        assert_eq!(
            u32::from_le_bytes(bytes[4..8].try_into().unwrap()) as usize,
            bytes.len() - 8,
            "RIFF size"
        );
        let mut src = Cursor::new(bytes.to_vec());
        let r = open(&mut src).unwrap();
        assert!(r.notes.is_empty(), "{:?}", r.notes);
        let mut w = r.chunks();
        let mut out = Vec::new();
        while let Some(c) = w.next(&mut src).unwrap() {
            assert!(!c.truncated());
            assert!(c.size % 2 == 0 || c.pad, "chunk {} not padded", c.id_str());
            let s = c.data_offset() as usize;
            out.push((c.id, bytes[s..s + c.len as usize].to_vec()));
        }
        assert!(w.stray().is_none());
        out
    }

    fn ids(bytes: &[u8]) -> Vec<String> {
        chunks(bytes)
            .iter()
            .map(|(id, _)| riff::fourcc_str(id))
            .collect()
    }

    fn xmp_sites(bytes: &[u8]) -> Vec<String> {
        scan_bytes(bytes)
            .sites
            .into_iter()
            .map(|s| {
                assert!(s.canonical);
                match s.payload {
                    SitePayload::Xmp(p) => p,
                    other => panic!("unexpected {other:?}"),
                }
            })
            .collect()
    }

    fn lossless(alpha: bool) -> Vec<u8> {
        let mut out = Vec::new();
        let (w, h) = (19u32, 7u32);
        if alpha {
            let img = image::RgbaImage::from_fn(w, h, |x, y| {
                image::Rgba([x as u8 * 13, y as u8 * 31, 90, (x * 12) as u8])
            });
            img.write_with_encoder(image::codecs::webp::WebPEncoder::new_lossless(&mut out))
                .unwrap();
        } else {
            let img =
                image::RgbImage::from_fn(w, h, |x, y| image::Rgb([x as u8 * 13, y as u8 * 31, 90]));
            img.write_with_encoder(image::codecs::webp::WebPEncoder::new_lossless(&mut out))
                .unwrap();
        }
        out
    }

    fn decode(bytes: &[u8]) -> image::RgbaImage {
        image::load_from_memory_with_format(bytes, image::ImageFormat::WebP)
            .unwrap()
            .to_rgba8()
    }

    /// An extended file with EXIF (odd size) and an old XMP packet placed before the image data.
    fn with_exif_and_old_xmp(old_xmp: &str) -> Vec<u8> {
        let src = chunks(&fixture("webp-lossy-alpha.webp"));
        let mut vp8x = src[0].1.clone();
        vp8x[0] |= FLAG_EXIF | FLAG_XMP;
        let exif = b"II*\0\x08\0\0\0\0\0\0\0\0\0\x01".to_vec();
        let mut list: Vec<(&[u8; 4], &[u8])> = vec![(b"VP8X", &vp8x), (XMP, old_xmp.as_bytes())];
        for (id, data) in &src[1..] {
            list.push((id, data));
        }
        list.push((b"EXIF", &exif));
        riff::build(b"WEBP", &list)
    }

    #[test]
    fn ds16_webp_lossy_simple_becomes_vp8x() {
        let input = fixture("webp-lossy.webp");
        assert_eq!(ids(&input), ["VP8 "]);
        let out = label(&input, SAMPLE_LABEL);
        let c = chunks(&out);
        assert_eq!(ids(&out), ["VP8X", "VP8 ", "XMP "]);
        let vp8x = &c[0].1;
        assert_eq!(vp8x.len(), 10);
        assert_eq!(vp8x[0], FLAG_XMP);
        assert_eq!(&vp8x[1..4], &[0, 0, 0]);
        // The fixture is 33x17: canvas fields are W-1 and H-1, 24-bit little-endian.
        assert_eq!(&vp8x[4..7], &[32, 0, 0]);
        assert_eq!(&vp8x[7..10], &[16, 0, 0]);
        assert_eq!(c[1], chunks(&input)[0]);
        assert_eq!(
            xmp_sites(&out),
            vec![xmp::merge_label(None, SAMPLE_LABEL).unwrap()]
        );
        assert_eq!(decode(&input), decode(&out));
    }

    #[test]
    fn ds16_webp_lossless_alpha_flag() {
        for alpha in [false, true] {
            let input = lossless(alpha);
            assert_eq!(ids(&input), ["VP8L"]);
            let out = label(&input, SAMPLE_LABEL);
            let c = chunks(&out);
            assert_eq!(ids(&out), ["VP8X", "VP8L", "XMP "]);
            let expect = if alpha {
                FLAG_XMP | FLAG_ALPHA
            } else {
                FLAG_XMP
            };
            assert_eq!(c[0].1[0], expect, "alpha={alpha}");
            assert_eq!(&c[0].1[4..10], &[18, 0, 0, 6, 0, 0]);
            assert_eq!(c[1], chunks(&input)[0]);
            assert_eq!(decode(&input), decode(&out));
        }
    }

    #[test]
    fn ds16_webp_extended_alpha_sets_xmp_flag() {
        let input = fixture("webp-lossy-alpha.webp");
        assert_eq!(ids(&input), ["VP8X", "ALPH", "VP8 "]);
        let out = label(&input, SAMPLE_LABEL);
        assert_eq!(ids(&out), ["VP8X", "ALPH", "VP8 ", "XMP "]);
        let (ci, co) = (chunks(&input), chunks(&out));
        assert_eq!(co[0].1[0], ci[0].1[0] | FLAG_XMP);
        assert_eq!(co[0].1[1..], ci[0].1[1..]);
        assert_eq!(co[1..3], ci[1..3]);
        assert_eq!(decode(&input), decode(&out));
    }

    #[test]
    fn ds16_webp_animated_keeps_frames() {
        let input = fixture("webp-anim.webp");
        let out = label(&input, SAMPLE_LABEL);
        let (ci, co) = (chunks(&input), chunks(&out));
        assert_eq!(co.len(), ci.len() + 1);
        assert_eq!(co[1..ci.len()], ci[1..]);
        assert_eq!(&co.last().unwrap().0, XMP);
        assert_eq!(co[0].1[0], ci[0].1[0] | FLAG_XMP);
        assert_eq!(digest(&input), digest(&out));
        let frames = |b: &[u8]| {
            use image::AnimationDecoder;
            image::codecs::webp::WebPDecoder::new(Cursor::new(b.to_vec()))
                .unwrap()
                .into_frames()
                .collect_frames()
                .unwrap()
                .into_iter()
                .map(|f| f.into_buffer())
                .collect::<Vec<_>>()
        };
        let (fi, fo) = (frames(&input), frames(&out));
        assert_eq!(fi.len(), 2);
        assert_eq!(fi, fo);
    }

    #[test]
    fn ds16_webp_exif_before_xmp_and_merge() {
        let old = "<x:xmpmeta xmlns:x=\"adobe:ns:meta/\"><rdf:RDF xmlns:rdf=\"http://www.w3.org/1999/02/22-rdf-syntax-ns#\"><rdf:Description rdf:about=\"\" xmlns:dc=\"http://purl.org/dc/elements/1.1/\" dc:format=\"image/webp\"/></rdf:RDF></x:xmpmeta>";
        let input = with_exif_and_old_xmp(old);
        let s = scan_bytes(&input);
        assert_eq!(s.sites.len(), 1);
        assert!(
            s.notes.iter().any(|n| n.contains("before the image")),
            "{:?}",
            s.notes
        );
        let out = label(&input, SAMPLE_LABEL);
        assert_eq!(ids(&out), ["VP8X", "ALPH", "VP8 ", "EXIF", "XMP "]);
        let c = chunks(&out);
        assert_eq!(
            c[3].1.len() % 2,
            1,
            "the fixture's EXIF chunk is odd-sized (padded)"
        );
        assert_eq!(c[3], chunks(&input)[4]);
        assert_eq!(
            xmp_sites(&out),
            vec![xmp::merge_label(Some(old), SAMPLE_LABEL).unwrap()]
        );
        assert!(scan_bytes(&out).notes.is_empty());
        assert_eq!(digest(&input), digest(&out));
    }

    #[test]
    fn ds16_webp_migrates_exif_user_comment() {
        let wrapped = format!("{{\"AIGC\":{SAMPLE_LABEL}}}");
        let mut comment = b"ASCII\0\0\0".to_vec();
        comment.extend_from_slice(wrapped.as_bytes());
        let entry = (exif::TAG_USER_COMMENT, 7, comment.len() as u32, comment);
        let make = (0x010F, 2, 6, b"Hegui\0".to_vec());
        let tiff = exif::tests::build_tiff(exif::ByteOrder::Big, &[make], &[entry]);
        for prefix in [&b""[..], b"Exif\0\0"] {
            let payload = [prefix, tiff.as_slice()].concat();
            let src = chunks(&fixture("webp-lossy.webp"));
            let input = riff::build(b"WEBP", &[(b"VP8 ", &src[0].1), (b"EXIF", &payload)]);
            let s = scan_bytes(&input);
            assert_eq!(s.sites.len(), 1, "{:?}", s.notes);
            assert_eq!(s.sites[0].location, "webp:EXIF:UserComment");
            assert!(!s.sites[0].canonical);
            assert_eq!(s.sites[0].payload, SitePayload::Json(wrapped.clone()));

            let out = label(&input, SAMPLE_LABEL);
            assert_eq!(ids(&out), ["VP8X", "VP8 ", "EXIF", "XMP "]);
            let c = chunks(&out);
            assert_eq!(c[0].1[0], FLAG_XMP | FLAG_EXIF);
            assert_eq!(c[2].1.len(), payload.len());
            assert!(!String::from_utf8_lossy(&c[2].1).contains("AIGC"));
            assert!(String::from_utf8_lossy(&c[2].1).contains("Hegui"));
            let s = scan_bytes(&out);
            assert_eq!(s.sites.len(), 1);
            assert!(s.sites[0].canonical);
            assert_eq!(digest(&input), digest(&out));
        }
    }

    #[test]
    fn ds16_webp_roundtrip_one_site() {
        let input = fixture("webp-lossy-alpha.webp");
        assert!(scan_bytes(&input).sites.is_empty());
        let out = label(&input, SAMPLE_LABEL);
        let s = scan_bytes(&out);
        assert_eq!(s.sites.len(), 1);
        assert_eq!(s.sites[0].location, "webp:XMP ");
        assert!(s.notes.is_empty(), "{:?}", s.notes);
    }

    #[test]
    fn ds16_webp_write_twice_one_site() {
        let input = fixture("webp-lossy.webp");
        let once = label(&input, SAMPLE_LABEL);
        let twice = label(&once, SAMPLE_LABEL_2);
        assert_eq!(ids(&twice), ["VP8X", "VP8 ", "XMP "]);
        let first = xmp_sites(&once).remove(0);
        assert_eq!(
            xmp_sites(&twice),
            vec![xmp::merge_label(Some(&first), SAMPLE_LABEL_2).unwrap()]
        );
        assert_eq!(chunks(&once)[0], chunks(&twice)[0]);
    }

    #[test]
    fn ds16_webp_migrates_extra_xmp_chunks() {
        let input = fixture("webp-lossy-alpha.webp");
        let c = chunks(&input);
        let mut list: Vec<(&[u8; 4], &[u8])> = c.iter().map(|(id, d)| (id, d.as_slice())).collect();
        list.push((XMP, EMPTY_XMP.as_bytes()));
        list.push((XMP, EMPTY_XMP.as_bytes()));
        let input = riff::build(b"WEBP", &list);
        let s = scan_bytes(&input);
        assert_eq!(s.sites.len(), 2);
        assert!(s.notes.iter().any(|n| n.contains("2 XMP chunks")));
        let out = label(&input, SAMPLE_LABEL);
        assert_eq!(ids(&out), ["VP8X", "ALPH", "VP8 ", "XMP "]);
    }

    #[test]
    fn ds16_webp_payload_byte_identical() {
        for name in ["webp-lossy.webp", "webp-lossy-alpha.webp", "webp-anim.webp"] {
            let input = fixture(name);
            let out = label(&input, SAMPLE_LABEL);
            assert_eq!(digest(&input), digest(&out), "{name}");
            let twice = label(&out, SAMPLE_LABEL_2);
            assert_eq!(digest(&input), digest(&twice), "{name}");
        }
        // The selection is the image chunks, headers included.
        let input = fixture("webp-lossy.webp");
        assert_eq!(digest(&input), input[12..].to_vec());
    }

    #[test]
    fn webp_riff_size_mismatch_is_tolerated() {
        let mut input = fixture("webp-lossy.webp");
        input[4..8].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(!scan_bytes(&input).notes.is_empty());
        let out = label(&input, SAMPLE_LABEL);
        assert_eq!(ids(&out), ["VP8X", "VP8 ", "XMP "]);
    }

    #[test]
    fn webp_truncated_is_error() {
        let input = fixture("webp-lossy.webp");
        let cut = input[..input.len() - 10].to_vec();
        assert!(matches!(
            write(
                &mut Cursor::new(cut.clone()),
                &mut Cursor::new(Vec::new()),
                SAMPLE_LABEL
            ),
            Err(FormatError::Truncated(_))
        ));
        assert!(content_digest(&mut Cursor::new(cut), &mut Vec::new()).is_err());
        assert!(matches!(
            scan(&mut Cursor::new(input[..10].to_vec())),
            Err(FormatError::Truncated(_))
        ));
        let labelled = label(&input, SAMPLE_LABEL);
        let cut = labelled[..labelled.len() - 30].to_vec();
        assert!(matches!(
            scan(&mut Cursor::new(cut)),
            Err(FormatError::Truncated(_))
        ));
    }

    #[test]
    fn webp_malformed_is_error() {
        let not_webp = riff::build(b"WEBP", &[(b"JUNK", b"abcd")]);
        assert!(matches!(
            write(
                &mut Cursor::new(not_webp),
                &mut Cursor::new(Vec::new()),
                SAMPLE_LABEL
            ),
            Err(FormatError::Malformed(_))
        ));
        let bad_vp8 = riff::build(b"WEBP", &[(b"VP8 ", &[0u8; 12])]);
        assert!(matches!(
            write(
                &mut Cursor::new(bad_vp8),
                &mut Cursor::new(Vec::new()),
                SAMPLE_LABEL
            ),
            Err(FormatError::Malformed(_))
        ));
        let wav = riff::build(b"WAVE", &[(b"data", b"abcd")]);
        assert!(scan(&mut Cursor::new(wav)).is_err());
    }

    proptest! {
        #[test]
        fn webp_scan_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let mut data = b"RIFF".to_vec();
            data.extend_from_slice(&(bytes.len() as u32 + 4).to_le_bytes());
            data.extend_from_slice(b"WEBP");
            data.extend_from_slice(&bytes);
            let _ = scan(&mut Cursor::new(data.clone()));
            let _ = content_digest(&mut Cursor::new(data.clone()), &mut Vec::new());
            let _ = write(&mut Cursor::new(data), &mut Cursor::new(Vec::new()), SAMPLE_LABEL);
        }

        #[test]
        fn webp_scan_never_panics_on_damaged_labelled_file(
            cut in 0usize..1200,
            flips in proptest::collection::vec((0usize..1200, any::<u8>()), 0..6),
        ) {
            let mut bytes = label(&with_exif_and_old_xmp(EMPTY_XMP), SAMPLE_LABEL);
            for (at, v) in flips {
                if let Some(b) = bytes.get_mut(at) {
                    *b = v;
                }
            }
            bytes.truncate(cut.min(bytes.len()));
            let _ = scan(&mut Cursor::new(bytes.clone()));
            let _ = content_digest(&mut Cursor::new(bytes.clone()), &mut Vec::new());
            let mut out = Cursor::new(Vec::new());
            if write(&mut Cursor::new(bytes), &mut out, SAMPLE_LABEL).is_ok() {
                prop_assert_eq!(scan(&mut Cursor::new(out.into_inner())).unwrap().sites.len(), 1);
            }
        }
    }

    fn label_file(input: &Path, output: &Path, json: &str) {
        let mut src = std::io::BufReader::new(std::fs::File::open(input).unwrap());
        let mut dst = std::io::BufWriter::new(std::fs::File::create(output).unwrap());
        write(&mut src, &mut dst, json).unwrap();
    }

    fn exiftool_label(exiftool: &Path, path: &Path) -> String {
        let out = Command::new(exiftool)
            .arg("-config")
            .arg(exiftool_config())
            .args(["-XMP-TC260:AIGC", "-b"])
            .arg(path)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    #[test]
    fn ds16_webp_interop_dwebp_decodes() {
        let Some(dwebp) = tool("dwebp") else { return };
        let dir = tempfile::tempdir().unwrap();
        for name in ["webp-lossy.webp", "webp-lossy-alpha.webp"] {
            let output = dir.path().join(format!("out-{name}"));
            label_file(&test_data(name), &output, SAMPLE_LABEL);
            for (path, png) in [(test_data(name), "in.pam"), (output.clone(), "out.pam")] {
                let st = Command::new(&dwebp)
                    .arg(&path)
                    .arg("-pam")
                    .arg("-o")
                    .arg(dir.path().join(png))
                    .output()
                    .unwrap();
                assert!(
                    st.status.success(),
                    "{name}: {}",
                    String::from_utf8_lossy(&st.stderr)
                );
            }
            let a = std::fs::read(dir.path().join("in.pam")).unwrap();
            let b = std::fs::read(dir.path().join("out.pam")).unwrap();
            assert_eq!(a, b, "{name}: decoded pixels differ");
        }
        // Animated files: webpmux -info parses the container.
        if let Some(webpmux) = tool("webpmux") {
            let output = dir.path().join("anim.webp");
            label_file(&test_data("webp-anim.webp"), &output, SAMPLE_LABEL);
            let out = Command::new(webpmux)
                .arg("-info")
                .arg(&output)
                .output()
                .unwrap();
            let text = String::from_utf8_lossy(&out.stdout);
            assert!(out.status.success(), "{text}");
            assert!(text.contains("Number of frames: 2"), "{text}");
            assert!(text.contains("XMP"), "{text}");
        }
    }

    #[test]
    fn ds16_webp_interop_exiftool_reads() {
        let Some(exiftool) = tool("exiftool") else {
            return;
        };
        let dir = tempfile::tempdir().unwrap();
        for name in ["webp-lossy.webp", "webp-anim.webp"] {
            let output = dir.path().join(format!("out-{name}"));
            label_file(&test_data(name), &output, SAMPLE_LABEL);
            assert_eq!(exiftool_label(&exiftool, &output), SAMPLE_LABEL, "{name}");
            let out = Command::new(&exiftool)
                .args(["-validate", "-warning", "-error", "-a"])
                .arg(&output)
                .output()
                .unwrap();
            let text = String::from_utf8_lossy(&out.stdout);
            assert!(
                text.contains("Validate") && text.contains(": OK"),
                "{name}: {text}"
            );
        }
    }

    #[test]
    fn ds16_webp_interop_reads_exiftool_xmp() {
        let Some(exiftool) = tool("exiftool") else {
            return;
        };
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tool.webp");
        std::fs::copy(test_data("webp-lossy.webp"), &path).unwrap();
        let out = Command::new(&exiftool)
            .arg("-config")
            .arg(exiftool_config())
            .arg(format!("-XMP-TC260:AIGC={SAMPLE_LABEL}"))
            .arg("-XMP-dc:Title=kept")
            .args(["-overwrite_original"])
            .arg(&path)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let bytes = std::fs::read(&path).unwrap();
        let sites = xmp_sites(&bytes);
        assert_eq!(sites.len(), 1);
        assert!(
            sites[0].contains("http://www.tc260.org.cn/ns/AIGC/1.0/"),
            "{}",
            sites[0]
        );
        assert!(
            sites[0].contains("16b7bc9fc94e20a3_87f202bb"),
            "{}",
            sites[0]
        );
        assert_eq!(digest(&fixture("webp-lossy.webp")), digest(&bytes));

        // Relabel what exiftool wrote: still one XMP chunk, the other property survives.
        let output = dir.path().join("relabelled.webp");
        label_file(&path, &output, SAMPLE_LABEL_2);
        let relabelled = std::fs::read(&output).unwrap();
        assert_eq!(ids(&relabelled).iter().filter(|i| *i == "XMP ").count(), 1);
        assert_eq!(exiftool_label(&exiftool, &output), SAMPLE_LABEL_2);
        let out = Command::new(&exiftool)
            .args(["-XMP-dc:Title", "-b"])
            .arg(&output)
            .output()
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stdout), "kept");
    }
}
