//! GIF: the label is the `TC260:AIGC` property of the XMP packet carried by the `XMP Data`
//! application extension (TC260-PG-20259A; XMP spec part 3).
//!
//! That extension is `0x21 0xFF 0x0B "XMP DataXMP"` followed by the packet as raw bytes and a
//! 258-byte "magic trailer" (`0x01`, `0xFF` down to `0x00`, then the block terminator `0x00`).
//! The packet is not split into sub-blocks: a reader that does not know XMP walks its bytes as if
//! they were sub-block lengths, and the descending trailer always steers that walk onto the final
//! terminator. This module reads it the same way (walking the "sub-blocks", keeping the raw bytes,
//! then cutting the trailer off), so its idea of where the extension ends is every decoder's.
//!
//! The key decision is placement: the new extension goes right after the logical screen
//! descriptor, global color table and any leading application/comment extensions (such as the
//! `NETSCAPE2.0` loop block, which some players want first), i.e. before the first graphic
//! control extension or image. Every old `XMP Data` extension is removed wherever it was (its
//! packet is merged first), so one remains. Image data and all other blocks are copied byte for
//! byte. A `GIF87a` header becomes `GIF89a`, since extensions are a GIF89a feature.

use super::{FormatError, MAX_SITE_BYTES, RawSite, ReadSeek, Scan, SitePayload, WriteSeek, io};
use crate::xmp;
use std::io::{SeekFrom, Write};

/// The application identifier and authentication code of the XMP extension.
const XMP_APP: &[u8; 11] = b"XMP DataXMP";
/// More `XMP Data` extensions than this in one file is treated as hostile.
const MAX_XMP_BLOCKS: usize = 64;

/// The 258-byte magic trailer: 0x01, 0xFF down to 0x00, and the block terminator.
fn magic_trailer() -> [u8; 258] {
    let mut t = [0u8; 258];
    t[0] = 0x01;
    for (i, b) in t[1..257].iter_mut().enumerate() {
        // i runs 0..256, so 255 - i is 255..=0.
        *b = u8::try_from(255 - i).unwrap_or(0);
    }
    t
}

/// Reads `src` front to back, keeping the offset.
struct Reader<'a> {
    src: &'a mut dyn ReadSeek,
    pos: u64,
}

/// What to do with the bytes of a run of data sub-blocks.
enum Out<'b> {
    /// Nothing (skip them).
    Skip,
    /// Write every byte, length bytes and terminator included.
    Sink(&'b mut dyn Write),
    /// Append length bytes and data (not the terminator), up to [`MAX_SITE_BYTES`].
    Collect(&'b mut Vec<u8>),
}

impl Reader<'_> {
    fn read(&mut self, buf: &mut [u8], what: &'static str) -> Result<(), FormatError> {
        io::read_exact(self.src, buf, what)?;
        self.pos += buf.len() as u64;
        Ok(())
    }

    fn byte(&mut self, what: &'static str) -> Result<u8, FormatError> {
        let mut b = [0u8; 1];
        self.read(&mut b, what)?;
        Ok(b[0])
    }

    /// Walks data sub-blocks through the zero-length terminator.
    fn sub_blocks(&mut self, mut out: Out<'_>) -> Result<(), FormatError> {
        let mut buf = [0u8; 256];
        loop {
            let n = usize::from(self.byte("GIF data sub-block")?);
            buf[0] = u8::try_from(n).unwrap_or(0);
            let block = buf
                .get_mut(..=n)
                .ok_or(FormatError::Truncated("GIF data sub-block"))?;
            if let Some(data) = block.get_mut(1..) {
                io::read_exact(self.src, data, "GIF data sub-block")?;
                self.pos += n as u64;
            }
            match &mut out {
                Out::Skip => {}
                Out::Sink(w) => w.write_all(block)?,
                Out::Collect(v) => {
                    if v.len() as u64 + block.len() as u64 > MAX_SITE_BYTES {
                        return Err(FormatError::TooLarge {
                            what: "GIF XMP Data extension",
                            size: v.len() as u64 + block.len() as u64,
                            limit: MAX_SITE_BYTES,
                        });
                    }
                    if n > 0 {
                        v.extend_from_slice(block);
                    }
                }
            }
            if n == 0 {
                return Ok(());
            }
        }
    }
}

/// The kinds of block the walker distinguishes.
#[derive(Debug, PartialEq, Eq)]
enum Kind {
    /// An `XMP Data` extension with its raw bytes (packet and trailer, as walked).
    Xmp(Vec<u8>),
    /// Another application extension.
    App,
    /// A comment extension.
    Comment,
    /// A graphic control, plain text or unknown extension.
    OtherExt,
    /// An image descriptor with its color table and LZW data.
    Image,
    /// The trailer byte 0x3B.
    Trailer,
    /// The end of the file where a block should start (a GIF without its trailer).
    Eof,
}

/// Reads the signature, logical screen descriptor and global color table.
fn header(r: &mut Reader<'_>) -> Result<(), FormatError> {
    let mut sig = [0u8; 6];
    r.read(&mut sig, "GIF header")?;
    if &sig != b"GIF87a" && &sig != b"GIF89a" {
        return Err(FormatError::malformed("not a GIF87a/GIF89a file"));
    }
    let mut lsd = [0u8; 7];
    r.read(&mut lsd, "GIF logical screen descriptor")?;
    if lsd[4] & 0x80 != 0 {
        let mut table = [0u8; 768];
        let n = 3usize << ((lsd[4] & 7) + 1);
        r.read(
            table.get_mut(..n).unwrap_or_default(),
            "GIF global color table",
        )?;
    }
    Ok(())
}

/// Reads the block at the current position. Image bytes (introducer through terminator) go to
/// `image_sink` when given.
fn block(r: &mut Reader<'_>, image_sink: Option<&mut dyn Write>) -> Result<Kind, FormatError> {
    let intro = match r.byte("GIF block") {
        Ok(b) => b,
        Err(FormatError::Truncated(_)) => return Ok(Kind::Eof),
        Err(e) => return Err(e),
    };
    match intro {
        0x3B => Ok(Kind::Trailer),
        0x2C => {
            let mut desc = [0u8; 10];
            desc[0] = 0x2C;
            r.read(&mut desc[1..], "GIF image descriptor")?;
            let mut table = [0u8; 768];
            let n = if desc[9] & 0x80 != 0 {
                3usize << ((desc[9] & 7) + 1)
            } else {
                0
            };
            let table = table.get_mut(..n).unwrap_or_default();
            r.read(table, "GIF local color table")?;
            let lzw = r.byte("GIF LZW minimum code size")?;
            match image_sink {
                Some(sink) => {
                    sink.write_all(&desc)?;
                    sink.write_all(table)?;
                    sink.write_all(&[lzw])?;
                    r.sub_blocks(Out::Sink(sink))?;
                }
                None => r.sub_blocks(Out::Skip)?,
            }
            Ok(Kind::Image)
        }
        0x21 => {
            let label = r.byte("GIF extension label")?;
            match label {
                0xFF => {
                    let n = r.byte("GIF application extension")?;
                    if n == 11 {
                        let mut id = [0u8; 11];
                        r.read(&mut id, "GIF application identifier")?;
                        if &id == XMP_APP {
                            let mut raw = Vec::new();
                            r.sub_blocks(Out::Collect(&mut raw))?;
                            return Ok(Kind::Xmp(raw));
                        }
                        r.sub_blocks(Out::Skip)?;
                    } else if n > 0 {
                        // An odd header block: skip it, then the rest.
                        let mut skip = [0u8; 255];
                        r.read(
                            skip.get_mut(..usize::from(n)).unwrap_or_default(),
                            "GIF application extension",
                        )?;
                        r.sub_blocks(Out::Skip)?;
                    }
                    Ok(Kind::App)
                }
                0xFE => {
                    r.sub_blocks(Out::Skip)?;
                    Ok(Kind::Comment)
                }
                _ => {
                    r.sub_blocks(Out::Skip)?;
                    Ok(Kind::OtherExt)
                }
            }
        }
        other => Err(FormatError::malformed(format!(
            "GIF block introducer 0x{other:02X} at offset {}",
            r.pos - 1
        ))),
    }
}

/// The packet inside the raw bytes of an `XMP Data` extension, and a note when the trailer is
/// missing or damaged.
fn unwrap_packet(raw: &[u8]) -> (Vec<u8>, Option<&'static str>) {
    let trailer = magic_trailer();
    let body = &trailer[..257];
    if let Some(packet) = raw.strip_suffix(body) {
        return (packet.to_vec(), None);
    }
    if let Some(i) = raw.windows(3).position(|w| w == [0x01, 0xFF, 0xFE]) {
        return (
            raw.get(..i).unwrap_or_default().to_vec(),
            Some("XMP Data extension with a damaged magic trailer"),
        );
    }
    // No trailer: the writer used ordinary sub-blocks, so drop the length bytes.
    let mut data = Vec::with_capacity(raw.len());
    let mut rest = raw;
    while let Some((&n, tail)) = rest.split_first() {
        let n = usize::from(n).min(tail.len());
        data.extend_from_slice(&tail[..n]);
        rest = &tail[n..];
    }
    (
        data,
        Some("XMP Data extension without the magic trailer (read as ordinary sub-blocks)"),
    )
}

fn packet_text(bytes: Vec<u8>) -> (String, bool) {
    match String::from_utf8(bytes) {
        Ok(t) => (t, true),
        Err(e) => (String::from_utf8_lossy(e.as_bytes()).into_owned(), false),
    }
}

/// Finds every `XMP Data` extension (the canonical site), noting damaged or misplaced ones.
pub(crate) fn scan(src: &mut dyn ReadSeek) -> Result<Scan, FormatError> {
    src.seek(SeekFrom::Start(0))?;
    let mut r = Reader { src, pos: 0 };
    header(&mut r)?;
    let mut scan = Scan::default();
    let mut seen_image = false;
    loop {
        match block(&mut r, None)? {
            Kind::Xmp(raw) => {
                let (packet, note) = unwrap_packet(&raw);
                if let Some(note) = note {
                    scan.notes.push(note.into());
                }
                let (text, utf8) = packet_text(packet);
                if !utf8 {
                    scan.notes.push("XMP packet is not valid UTF-8".into());
                }
                if seen_image {
                    scan.notes
                        .push("XMP Data extension after the first image".into());
                }
                scan.sites.push(RawSite {
                    location: "gif:app:XMP DataXMP".into(),
                    canonical: true,
                    payload: SitePayload::Xmp(text),
                });
            }
            Kind::Image => seen_image = true,
            Kind::Trailer => break,
            Kind::Eof => {
                scan.notes
                    .push("GIF ends without the trailer byte 0x3B".into());
                break;
            }
            Kind::App | Kind::Comment | Kind::OtherExt => {}
        }
    }
    if scan.sites.len() > 1 {
        scan.notes
            .push(format!("{} XMP Data extensions", scan.sites.len()));
    }
    Ok(scan)
}

/// Streams `src` to `dst` with one `XMP Data` extension holding the label (see the module doc
/// for where it goes).
pub(crate) fn write(
    src: &mut dyn ReadSeek,
    dst: &mut dyn WriteSeek,
    label_json: &str,
) -> Result<(), FormatError> {
    // Pass 1: where to insert, which old XMP extensions to drop, the packet to merge into.
    src.seek(SeekFrom::Start(0))?;
    let mut r = Reader { src, pos: 0 };
    header(&mut r)?;
    let mut insert_at = None;
    let mut old: Vec<(u64, u64)> = Vec::new();
    let mut existing: Option<Vec<u8>> = None;
    loop {
        let start = r.pos;
        let kind = block(&mut r, None)?;
        let leading = matches!(kind, Kind::App | Kind::Comment | Kind::Xmp(_));
        if !leading && insert_at.is_none() {
            insert_at = Some(start);
        }
        match kind {
            Kind::Xmp(raw) => {
                if old.len() >= MAX_XMP_BLOCKS {
                    return Err(FormatError::malformed(format!(
                        "GIF has more than {MAX_XMP_BLOCKS} XMP Data extensions"
                    )));
                }
                old.push((start, r.pos));
                if existing.is_none() {
                    existing = Some(unwrap_packet(&raw).0);
                }
            }
            Kind::Trailer | Kind::Eof => break,
            _ => {}
        }
    }
    let insert_at = insert_at.unwrap_or(r.pos);

    let existing = match existing {
        None => None,
        Some(bytes) => Some(
            String::from_utf8(bytes)
                .map_err(|_| FormatError::malformed("existing GIF XMP packet is not UTF-8"))?,
        ),
    };
    let packet = xmp::merge_label(existing.as_deref(), label_json)
        .map_err(|e| FormatError::malformed(format!("GIF: {e}")))?;
    if packet.as_bytes().contains(&0) {
        // A NUL would end the sub-block walk of XMP-unaware decoders inside the packet.
        return Err(FormatError::malformed("XMP packet contains a NUL byte"));
    }

    // Pass 2: copy everything but the old extensions, inserting the new one.
    let src = r.src;
    src.seek(SeekFrom::Start(6))?;
    dst.write_all(b"GIF89a")?;
    let mut pos = 6u64;
    let copy_to = |src: &mut dyn ReadSeek, dst: &mut dyn WriteSeek, pos: &mut u64, to: u64| {
        let n = to.saturating_sub(*pos);
        io::copy_n(src, dst, n, "GIF data").map(|()| *pos += n)
    };
    let mut inserted = false;
    for (start, end) in old {
        if !inserted && insert_at <= start {
            copy_to(src, dst, &mut pos, insert_at)?;
            write_extension(dst, &packet)?;
            inserted = true;
        }
        copy_to(src, dst, &mut pos, start)?;
        src.seek(SeekFrom::Start(end))?;
        pos = end;
    }
    if !inserted {
        copy_to(src, dst, &mut pos, insert_at)?;
        write_extension(dst, &packet)?;
    }
    io::copy_rest(src, dst)?;
    dst.flush()?;
    Ok(())
}

/// Writes an `XMP Data` application extension: header, raw packet, magic trailer.
fn write_extension(dst: &mut dyn Write, packet: &str) -> Result<(), FormatError> {
    dst.write_all(&[0x21, 0xFF, 11])?;
    dst.write_all(XMP_APP)?;
    dst.write_all(packet.as_bytes())?;
    dst.write_all(&magic_trailer())?;
    Ok(())
}

/// Content selection for GIF: every image block in file order, from its image descriptor
/// (introducer 0x2C included) through its local color table, LZW minimum code size and LZW data
/// sub-blocks up to and including the block terminator. Extensions, the header and the global
/// color table are left out (labelling can change the header version and extensions).
pub(crate) fn content_digest(
    src: &mut dyn ReadSeek,
    sink: &mut dyn Write,
) -> Result<(), FormatError> {
    src.seek(SeekFrom::Start(0))?;
    let mut r = Reader { src, pos: 0 };
    header(&mut r)?;
    let mut images = 0u64;
    loop {
        match block(&mut r, Some(&mut *sink))? {
            Kind::Image => images += 1,
            Kind::Trailer | Kind::Eof => break,
            _ => {}
        }
    }
    if images == 0 {
        return Err(FormatError::malformed("GIF without an image"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use crate::test_support::{SAMPLE_LABEL, SAMPLE_LABEL_2, exiftool_config, tool};
    use image::AnimationDecoder;
    use proptest::prelude::*;
    use std::io::Cursor;
    use std::path::Path;
    use std::process::Command;

    /// A 3-frame animated GIF (loops forever, so it has a NETSCAPE2.0 extension).
    fn animated() -> Vec<u8> {
        let mut out = Vec::new();
        {
            let mut enc = image::codecs::gif::GifEncoder::new(&mut out);
            enc.set_repeat(image::codecs::gif::Repeat::Infinite)
                .unwrap();
            let frames = (0..3u8).map(|k| {
                let img = image::RgbaImage::from_fn(23, 11, |x, y| {
                    image::Rgba([
                        (x * 10 + u32::from(k) * 40) as u8,
                        y as u8 * 20,
                        k * 80,
                        255,
                    ])
                });
                image::Frame::from_parts(img, 0, 0, image::Delay::from_numer_denom_ms(100, 1))
            });
            enc.encode_frames(frames).unwrap();
        }
        out
    }

    /// A single-image GIF87a built by hand: 2x1 pixels (black, white), 2-color global table.
    fn gif87a() -> Vec<u8> {
        let mut g = b"GIF87a\x02\x00\x01\x00\x80\x00\x00".to_vec();
        g.extend_from_slice(&[0, 0, 0, 255, 255, 255]);
        g.extend_from_slice(&[0x2C, 0, 0, 0, 0, 2, 0, 1, 0, 0]);
        // LZW minimum code size 2; 3-bit codes clear(4), 0, 1, end(5), packed LSB first.
        g.extend_from_slice(&[2, 2, 0x44, 0x0A, 0]);
        g.push(0x3B);
        g
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

    fn packets(bytes: &[u8]) -> Vec<String> {
        scan_bytes(bytes)
            .sites
            .into_iter()
            .map(|s| match s.payload {
                SitePayload::Xmp(p) => p,
                other => panic!("unexpected {other:?}"),
            })
            .collect()
    }

    fn digest(bytes: &[u8]) -> Vec<u8> {
        let mut sink = Vec::new();
        content_digest(&mut Cursor::new(bytes.to_vec()), &mut sink).unwrap();
        sink
    }

    /// Block kinds and offsets, for layout assertions.
    fn kinds(bytes: &[u8]) -> Vec<&'static str> {
        let mut src = Cursor::new(bytes.to_vec());
        let mut r = Reader {
            src: &mut src,
            pos: 0,
        };
        header(&mut r).unwrap();
        let mut out = Vec::new();
        loop {
            let k = block(&mut r, None).unwrap();
            let name = match k {
                Kind::Xmp(_) => "xmp",
                Kind::App => "app",
                Kind::Comment => "comment",
                Kind::OtherExt => "ext",
                Kind::Image => "image",
                Kind::Trailer => "trailer",
                Kind::Eof => "eof",
            };
            out.push(name);
            if matches!(name, "trailer" | "eof") {
                return out;
            }
        }
    }

    fn frames(bytes: &[u8]) -> Vec<image::RgbaImage> {
        image::codecs::gif::GifDecoder::new(Cursor::new(bytes.to_vec()))
            .unwrap()
            .into_frames()
            .collect_frames()
            .unwrap()
            .into_iter()
            .map(|f| f.into_buffer())
            .collect()
    }

    /// The extension bytes for `packet`, as an old writer would have put it anywhere.
    fn extension(packet: &str) -> Vec<u8> {
        let mut v = Vec::new();
        write_extension(&mut v, packet).unwrap();
        v
    }

    #[test]
    fn gif_magic_trailer_is_258_bytes() {
        let t = magic_trailer();
        assert_eq!(t.len(), 258);
        assert_eq!(t[0], 0x01);
        assert_eq!(t[1], 0xFF);
        assert_eq!(t[2], 0xFE);
        assert_eq!(t[255], 0x01);
        assert_eq!(t[256], 0x00);
        assert_eq!(t[257], 0x00);
    }

    #[test]
    fn ds16_gif_extension_layout() {
        let input = animated();
        let out = label(&input, SAMPLE_LABEL);
        let packet = xmp::merge_label(None, SAMPLE_LABEL).unwrap();
        let ext = extension(&packet);
        assert_eq!(&ext[..14], b"\x21\xFF\x0BXMP DataXMP");
        assert_eq!(&ext[14..14 + packet.len()], packet.as_bytes());
        assert_eq!(&ext[14 + packet.len()..], &magic_trailer());
        // Inserted once, after the NETSCAPE2.0 loop extension and before the first frame's GCE.
        let at = out
            .windows(ext.len())
            .position(|w| w == ext.as_slice())
            .unwrap();
        assert_eq!(out.len(), input.len() + ext.len());
        assert_eq!(&out[..at], &input[..at]);
        assert_eq!(&out[at + ext.len()..], &input[at..]);
        assert_eq!(kinds(&input)[..2], ["app", "ext"]);
        assert_eq!(kinds(&out)[..3], ["app", "xmp", "ext"]);
        assert_eq!(packets(&out), vec![packet]);
    }

    #[test]
    fn ds16_gif_roundtrip_one_site() {
        let input = animated();
        assert!(scan_bytes(&input).sites.is_empty());
        let out = label(&input, SAMPLE_LABEL);
        let s = scan_bytes(&out);
        assert_eq!(s.sites.len(), 1);
        assert!(s.sites[0].canonical);
        assert_eq!(s.sites[0].location, "gif:app:XMP DataXMP");
        assert!(s.notes.is_empty(), "{:?}", s.notes);
    }

    #[test]
    fn ds16_gif_payload_byte_identical() {
        let input = animated();
        let out = label(&input, SAMPLE_LABEL);
        assert_eq!(digest(&input), digest(&out));
        assert!(!digest(&input).is_empty());
        let fi = frames(&input);
        assert_eq!(fi.len(), 3);
        assert_eq!(fi, frames(&out));
    }

    #[test]
    fn ds16_gif_write_twice_one_site() {
        let once = label(&animated(), SAMPLE_LABEL);
        let twice = label(&once, SAMPLE_LABEL_2);
        let first = packets(&once).remove(0);
        assert_eq!(
            packets(&twice),
            vec![xmp::merge_label(Some(&first), SAMPLE_LABEL_2).unwrap()]
        );
        assert_eq!(kinds(&twice), kinds(&once));
        assert_eq!(digest(&once), digest(&twice));
    }

    #[test]
    fn ds16_gif_replaces_xmp_after_images() {
        // An old packet before the trailer (where some editors put it) and a second one up front.
        let old = "<x:xmpmeta xmlns:x=\"adobe:ns:meta/\"><rdf:RDF xmlns:rdf=\"http://www.w3.org/1999/02/22-rdf-syntax-ns#\"><rdf:Description rdf:about=\"\" xmlns:dc=\"http://purl.org/dc/elements/1.1/\" dc:format=\"image/gif\"/></rdf:RDF></x:xmpmeta>";
        let base = animated();
        let mut input = base[..base.len() - 1].to_vec();
        input.extend_from_slice(&extension(old));
        input.push(0x3B);
        let s = scan_bytes(&input);
        assert_eq!(s.sites.len(), 1);
        assert!(s.notes.iter().any(|n| n.contains("after the first image")));
        let out = label(&input, SAMPLE_LABEL);
        assert_eq!(
            packets(&out),
            vec![xmp::merge_label(Some(old), SAMPLE_LABEL).unwrap()]
        );
        let k = kinds(&out);
        assert_eq!(k.iter().filter(|k| **k == "xmp").count(), 1);
        assert_eq!(k[1], "xmp");
        assert_eq!(k.last(), Some(&"trailer"));
        assert_eq!(digest(&base), digest(&out));
    }

    #[test]
    fn ds16_gif_gif87a_is_upgraded() {
        let input = gif87a();
        assert_eq!(frames(&input).len(), 1);
        let out = label(&input, SAMPLE_LABEL);
        assert_eq!(&out[..6], b"GIF89a");
        assert_eq!(&out[6..19], &input[6..19]);
        assert_eq!(kinds(&out), ["xmp", "image", "trailer"]);
        assert_eq!(frames(&input), frames(&out));
        assert_eq!(digest(&input), digest(&out));
    }

    #[test]
    fn ds16_gif_reads_variant_trailers() {
        let packet = EMPTY_XMP;
        // Ordinary sub-blocks, no magic trailer.
        let mut ext = b"\x21\xFF\x0BXMP DataXMP".to_vec();
        for chunk in packet.as_bytes().chunks(10) {
            ext.push(chunk.len() as u8);
            ext.extend_from_slice(chunk);
        }
        ext.push(0);
        let mut input = gif87a();
        input.splice(19..19, ext);
        let s = scan_bytes(&input);
        assert_eq!(s.sites[0].payload, SitePayload::Xmp(packet.into()));
        assert!(
            s.notes
                .iter()
                .any(|n| n.contains("without the magic trailer"))
        );
        let out = label(&input, SAMPLE_LABEL);
        assert_eq!(kinds(&out), ["xmp", "image", "trailer"]);
    }

    #[test]
    fn gif_missing_trailer_is_tolerated() {
        let mut input = gif87a();
        input.pop();
        assert!(scan_bytes(&input).notes.iter().any(|n| n.contains("0x3B")));
        let out = label(&input, SAMPLE_LABEL);
        assert_eq!(kinds(&out), ["xmp", "image", "eof"]);
    }

    #[test]
    fn gif_truncated_is_error() {
        let input = animated();
        for cut in [3, 10, 40, input.len() / 2, input.len() - 3] {
            let part = input[..cut].to_vec();
            assert!(
                matches!(
                    scan(&mut Cursor::new(part.clone())),
                    Err(FormatError::Truncated(_))
                ),
                "cut at {cut}"
            );
            assert!(
                write(
                    &mut Cursor::new(part),
                    &mut Cursor::new(Vec::new()),
                    SAMPLE_LABEL
                )
                .is_err()
            );
        }
        let labelled = label(&input, SAMPLE_LABEL);
        let at = labelled.windows(11).position(|w| w == XMP_APP).unwrap();
        let part = labelled[..at + 100].to_vec();
        assert!(matches!(
            scan(&mut Cursor::new(part)),
            Err(FormatError::Truncated(_))
        ));
        let mut bad = gif87a();
        bad[19] = 0x99;
        assert!(matches!(
            scan(&mut Cursor::new(bad)),
            Err(FormatError::Malformed(_))
        ));
        assert!(matches!(
            scan(&mut Cursor::new(b"GIF88a".to_vec())),
            Err(FormatError::Malformed(_))
        ));
    }

    proptest! {
        #[test]
        fn gif_scan_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
            let mut data = b"GIF89a".to_vec();
            data.extend_from_slice(&bytes);
            let _ = scan(&mut Cursor::new(data.clone()));
            let _ = content_digest(&mut Cursor::new(data.clone()), &mut Vec::new());
            let _ = write(&mut Cursor::new(data), &mut Cursor::new(Vec::new()), SAMPLE_LABEL);
        }

        #[test]
        fn gif_scan_never_panics_on_damaged_labelled_file(
            cut in 0usize..2000,
            flips in proptest::collection::vec((0usize..2000, any::<u8>()), 0..6),
        ) {
            let mut bytes = label(&animated(), SAMPLE_LABEL);
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
    fn ds16_gif_interop_exiftool_reads() {
        let Some(exiftool) = tool("exiftool") else {
            return;
        };
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("in.gif");
        std::fs::write(&input, animated()).unwrap();
        let output = dir.path().join("out.gif");
        label_file(&input, &output, SAMPLE_LABEL);
        assert_eq!(exiftool_label(&exiftool, &output), SAMPLE_LABEL);
        let out = Command::new(&exiftool)
            .args(["-validate", "-warning", "-error", "-a", "-FrameCount"])
            .arg(&output)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains("Validate") && text.contains(": OK"), "{text}");
        assert!(text.contains(": 3"), "{text}");
    }

    #[test]
    fn ds16_gif_interop_ffprobe_counts_frames() {
        let Some(ffprobe) = tool("ffprobe") else {
            return;
        };
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("in.gif");
        std::fs::write(&input, animated()).unwrap();
        let output = dir.path().join("out.gif");
        label_file(&input, &output, SAMPLE_LABEL);
        let count = |p: &Path| {
            let out = Command::new(&ffprobe)
                .args(["-v", "error", "-count_frames", "-select_streams", "v:0"])
                .args(["-show_entries", "stream=nb_read_frames", "-of", "csv=p=0"])
                .arg(p)
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            String::from_utf8(out.stdout).unwrap().trim().to_string()
        };
        assert_eq!(count(&input), "3");
        assert_eq!(count(&output), "3");
    }

    #[test]
    fn ds16_gif_interop_reads_exiftool_xmp() {
        let Some(exiftool) = tool("exiftool") else {
            return;
        };
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tool.gif");
        std::fs::write(&path, animated()).unwrap();
        let out = Command::new(&exiftool)
            .arg("-config")
            .arg(exiftool_config())
            .arg(format!("-XMP-TC260:AIGC={SAMPLE_LABEL}"))
            .arg("-XMP-dc:Title=kept")
            .arg("-overwrite_original")
            .arg(&path)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let bytes = std::fs::read(&path).unwrap();
        let s = scan_bytes(&bytes);
        assert!(s.notes.is_empty(), "{:?}", s.notes);
        let p = packets(&bytes);
        assert_eq!(p.len(), 1);
        assert!(
            p[0].contains("http://www.tc260.org.cn/ns/AIGC/1.0/"),
            "{}",
            p[0]
        );
        assert!(p[0].contains("16b7bc9fc94e20a3_87f202bb"), "{}", p[0]);
        assert_eq!(digest(&animated()), digest(&bytes));

        let output = dir.path().join("relabelled.gif");
        label_file(&path, &output, SAMPLE_LABEL_2);
        let relabelled = std::fs::read(&output).unwrap();
        assert_eq!(
            kinds(&relabelled).iter().filter(|k| **k == "xmp").count(),
            1
        );
        assert_eq!(exiftool_label(&exiftool, &output), SAMPLE_LABEL_2);
        let out = Command::new(&exiftool)
            .args(["-XMP-dc:Title", "-b"])
            .arg(&output)
            .output()
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stdout), "kept");
        assert_eq!(frames(&relabelled), frames(&animated()));
    }
}
