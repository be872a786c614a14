//! TIFF: the label is the `TC260:AIGC` property of the XMP packet in IFD0 tag 700 (0x02BC),
//! field type 7 (UNDEFINED), count = packet length. Both byte orders are handled.
//!
//! Key decision: write without moving existing data. The input is copied byte for byte, then
//! the merged XMP packet and a rewritten copy of IFD0 (tag 700 added or replaced, entries sorted
//! by tag, next-IFD link unchanged) are appended, word-aligned, and the header's first-IFD offset
//! is pointed at the new IFD0. Every strip, tile, sub-IFD and later IFD keeps its offset, so
//! nothing else needs patching. The superseded XMP packet (if any) is overwritten in place with
//! spaces so no stale label text stays in the file.
//!
//! Other details:
//! * Merge, never overwrite: the existing packet goes through [`crate::xmp::merge_label`].
//! * An EXIF `UserComment`/`ImageDescription` label (a variant seen in camera-style files) is
//!   blanked in place (same length, charset prefix kept) so one label site remains.
//! * Reading accepts tag 700 stored as BYTE (type 1, what exiftool writes) as well as UNDEFINED.
//! * BigTIFF (version 43) is read; writing it returns [`FormatError::Unsupported`].

use super::exif::{self, Reader};
use super::{FormatError, MAX_SITE_BYTES, RawSite, ReadSeek, Scan, SitePayload, WriteSeek, io};
use std::collections::HashSet;
use std::io::{SeekFrom, Write};

/// Most strips or tiles read for the content selection (each offset/count array entry).
const MAX_STRIPS: u64 = MAX_SITE_BYTES / 8;

/// Finds the XMP packet in IFD0 tag 700 (canonical) and EXIF text-field labels.
pub(crate) fn scan(src: &mut dyn ReadSeek) -> Result<Scan, FormatError> {
    src.seek(SeekFrom::Start(0))?;
    let mut out = Scan::default();
    let mut r = Reader::new(src, 0)?;
    let h = r.header;
    if h.first_ifd == 0 {
        return Err(FormatError::malformed(
            "TIFF has no IFD0 (first-IFD offset is 0)",
        ));
    }
    let ifd0 = r.read_ifd(h.first_ifd)?;
    if h.big {
        out.notes
            .push("BigTIFF: hegui reads it but does not write it".into());
    }
    if let Some(e) = ifd0.get(exif::TAG_XMP) {
        if e.typ != exif::TYPE_UNDEFINED {
            out.notes.push(format!(
                "XMP tag 700 has field type {} (the guide names 7, UNDEFINED)",
                e.typ
            ));
        }
        if exif::type_size(e.typ) != Some(1) {
            return Err(FormatError::malformed(format!(
                "TIFF XMP tag 700 has non-byte field type {}",
                e.typ
            )));
        }
        let bytes = r.read_bytes(e, MAX_SITE_BYTES, "TIFF XMP packet")?;
        let text = match String::from_utf8(bytes) {
            Ok(t) => t,
            Err(err) => {
                out.notes.push("XMP packet is not valid UTF-8".into());
                String::from_utf8_lossy(err.as_bytes()).into_owned()
            }
        };
        out.sites.push(RawSite {
            location: "tiff:IFD0:XMP".into(),
            canonical: true,
            payload: SitePayload::Xmp(text.trim_end_matches('\0').to_string()),
        });
    }
    for l in exif::find_text_labels(&mut r, &ifd0, &mut out.notes) {
        let ifd = if l.field == "UserComment" {
            "Exif"
        } else {
            "IFD0"
        };
        out.sites.push(RawSite {
            location: format!("tiff:{ifd}:{}", l.field),
            canonical: false,
            payload: SitePayload::Json(l.json),
        });
    }
    if ifd0.get(exif::TAG_C2PA).is_some() {
        out.notes
            .push("C2PA manifest (tag 0xCD41) present; relabelling invalidates its hash".into());
    }
    // Later IFDs (pages, thumbnails) are not label sites; say so if one carries XMP.
    let mut seen = HashSet::from([ifd0.offset]);
    let mut next = ifd0.next;
    let mut n = 1usize;
    while next != 0 && n < exif::MAX_IFDS && seen.insert(next) {
        match r.read_ifd(next) {
            Ok(ifd) => {
                if ifd.get(exif::TAG_XMP).is_some() {
                    out.notes.push(format!(
                        "IFD{n} also carries an XMP packet (tag 700); only IFD0 is the label site"
                    ));
                }
                next = ifd.next;
            }
            Err(e) => {
                out.notes.push(format!("IFD{n} unreadable: {e}"));
                break;
            }
        }
        n += 1;
    }
    Ok(out)
}

/// Copies the TIFF and appends the merged XMP packet and a new IFD0 pointing at it (see the
/// module doc); blanks superseded label bytes in place.
pub(crate) fn write(
    src: &mut dyn ReadSeek,
    dst: &mut dyn WriteSeek,
    label_json: &str,
) -> Result<(), FormatError> {
    src.seek(SeekFrom::Start(0))?;
    let file_len = io::len(src)?;
    let mut r = Reader::new(src, 0)?;
    let h = r.header;
    if h.big {
        return Err(FormatError::Unsupported(
            "writing BigTIFF (version 43) is not supported; hegui reads its label only".into(),
        ));
    }
    if h.first_ifd == 0 {
        return Err(FormatError::malformed(
            "TIFF has no IFD0 (first-IFD offset is 0)",
        ));
    }
    let ifd0 = r.read_ifd(h.first_ifd)?;
    let order = h.order;

    // The existing packet (merged into) and, when stored out of line, its bytes' location.
    let mut existing = None;
    let mut old_packet: Option<(u64, u64)> = None;
    if let Some(e) = ifd0.get(exif::TAG_XMP) {
        if exif::type_size(e.typ) != Some(1) {
            return Err(FormatError::malformed(format!(
                "TIFF XMP tag 700 has non-byte field type {}",
                e.typ
            )));
        }
        let bytes = r.read_bytes(e, MAX_SITE_BYTES, "TIFF XMP packet")?;
        let text = String::from_utf8(bytes).map_err(|_| {
            FormatError::malformed(
                "existing TIFF XMP packet is not valid UTF-8; cannot merge the label into it",
            )
        })?;
        existing = Some(text.trim_end_matches('\0').to_string());
        let len = e.byte_len().unwrap_or(0);
        if len > h.inline_size() {
            old_packet = Some((e.offset_value(&h), len));
        }
    }
    let mut notes = Vec::new();
    let text_labels = exif::find_text_labels(&mut r, &ifd0, &mut notes);
    let mut blanks: Vec<(u64, Vec<u8>)> = Vec::new();
    for l in &text_labels {
        src.seek(SeekFrom::Start(l.offset))?;
        let orig = io::read_vec(src, l.len, "EXIF text field")?;
        blanks.push((l.offset, l.blanked(&orig)));
    }
    if let Some((off, len)) = old_packet {
        // `len` was already read successfully, so it is bounded by MAX_SITE_BYTES.
        blanks.push((off, vec![b' '; usize::try_from(len).unwrap_or(0)]));
    }

    let packet = crate::xmp::merge_label(existing.as_deref(), label_json)
        .map_err(|e| FormatError::malformed(e.to_string()))?;
    let packet = packet.as_bytes();

    // Layout of the appended part: [pad] packet [pad] IFD0'.
    let xmp_off = file_len + (file_len & 1);
    let packet_len = packet.len() as u64;
    let after_packet = xmp_off + packet_len;
    let ifd_off = after_packet + (after_packet & 1);
    let mut entries: Vec<exif::Entry> = ifd0
        .entries
        .iter()
        .filter(|e| e.tag != exif::TAG_XMP)
        .cloned()
        .collect();
    let too_large = |size: u64| FormatError::TooLarge {
        what: "labelled TIFF (classic TIFF offsets are 32-bit; BigTIFF is not written)",
        size,
        limit: u64::from(u32::MAX),
    };
    let mut raw = [0u8; 8];
    let xmp_off32 = u32::try_from(xmp_off).map_err(|_| too_large(xmp_off))?;
    raw[..4].copy_from_slice(&order.put_u32(xmp_off32));
    entries.push(exif::Entry {
        tag: exif::TAG_XMP,
        typ: exif::TYPE_UNDEFINED,
        count: packet_len,
        raw,
        pos: 0,
    });
    entries.sort_by_key(|e| e.tag);
    let n = u16::try_from(entries.len())
        .map_err(|_| FormatError::malformed("TIFF IFD0 would exceed 65,535 entries"))?;
    let ifd_len = 2 + 12 * u64::from(n) + 4;
    let end = ifd_off + ifd_len;
    if end > u64::from(u32::MAX) {
        return Err(too_large(end));
    }
    let mut ifd = Vec::with_capacity(usize::try_from(ifd_len).unwrap_or(0));
    ifd.extend_from_slice(&order.put_u16(n));
    for e in &entries {
        ifd.extend_from_slice(&order.put_u16(e.tag));
        ifd.extend_from_slice(&order.put_u16(e.typ));
        // Classic TIFF counts are u32 (they were read from 4 bytes; the packet is < 16 MiB).
        ifd.extend_from_slice(&order.put_u32(u32::try_from(e.count).unwrap_or(u32::MAX)));
        ifd.extend_from_slice(raw_value(e));
    }
    // The next-IFD link stays, so IFD1 and later pages are still reachable.
    ifd.extend_from_slice(&order.put_u32(u32::try_from(ifd0.next).unwrap_or(0)));

    let base = dst.stream_position()?;
    src.seek(SeekFrom::Start(0))?;
    io::copy_n(src, dst, file_len, "TIFF file")?;
    if file_len & 1 == 1 {
        dst.write_all(&[0])?;
    }
    dst.write_all(packet)?;
    if after_packet & 1 == 1 {
        dst.write_all(&[0])?;
    }
    dst.write_all(&ifd)?;
    // Point the header at the new IFD0 (ifd_off <= u32::MAX was checked above).
    dst.seek(SeekFrom::Start(base + 4))?;
    dst.write_all(&order.put_u32(u32::try_from(ifd_off).unwrap_or(0)))?;
    for (off, bytes) in blanks {
        if off
            .checked_add(bytes.len() as u64)
            .is_some_and(|e| e <= file_len)
        {
            dst.seek(SeekFrom::Start(base + off))?;
            dst.write_all(&bytes)?;
        }
    }
    dst.seek(SeekFrom::End(0))?;
    dst.flush()?;
    Ok(())
}

/// The 4-byte value field of a classic entry.
fn raw_value(e: &exif::Entry) -> &[u8] {
    e.raw.get(..4).unwrap_or(&[0, 0, 0, 0])
}

/// Content selection: the image data of IFD0, i.e. the bytes of every strip (`StripOffsets` /
/// `StripByteCounts`) or, for tiled images, every tile (`TileOffsets` / `TileByteCounts`),
/// concatenated in the order the arrays list them. Labelling never moves or changes them.
pub(crate) fn content_digest(
    src: &mut dyn ReadSeek,
    sink: &mut dyn Write,
) -> Result<(), FormatError> {
    src.seek(SeekFrom::Start(0))?;
    let file_len = io::len(src)?;
    let mut r = Reader::new(src, 0)?;
    let first = r.header.first_ifd;
    if first == 0 {
        return Err(FormatError::malformed(
            "TIFF has no IFD0 (first-IFD offset is 0)",
        ));
    }
    let ifd0 = r.read_ifd(first)?;
    let pair = match (
        ifd0.get(exif::TAG_STRIP_OFFSETS),
        ifd0.get(exif::TAG_STRIP_BYTE_COUNTS),
        ifd0.get(exif::TAG_TILE_OFFSETS),
        ifd0.get(exif::TAG_TILE_BYTE_COUNTS),
    ) {
        (Some(o), Some(c), _, _) | (_, _, Some(o), Some(c)) => (o.clone(), c.clone()),
        _ => {
            return Err(FormatError::malformed(
                "TIFF IFD0 has neither strips nor tiles",
            ));
        }
    };
    let offsets = r.read_uints(&pair.0, MAX_STRIPS, "TIFF strip/tile offsets")?;
    let counts = r.read_uints(&pair.1, MAX_STRIPS, "TIFF strip/tile byte counts")?;
    if offsets.len() != counts.len() {
        return Err(FormatError::malformed(format!(
            "TIFF has {} strip/tile offsets but {} byte counts",
            offsets.len(),
            counts.len()
        )));
    }
    for (off, n) in offsets.into_iter().zip(counts) {
        if off.checked_add(n).is_none_or(|e| e > file_len) {
            return Err(FormatError::Truncated("TIFF strip or tile"));
        }
        src.seek(SeekFrom::Start(off))?;
        io::copy_n(src, sink, n, "TIFF strip or tile")?;
    }
    Ok(())
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
    use std::io::Cursor;

    const W: u32 = 6;
    const H: u32 = 4;

    fn pixels() -> Vec<u8> {
        (0..W * H * 3).map(|i| (i * 7 % 251) as u8).collect()
    }

    /// A little-endian RGB TIFF made by the `image` crate.
    fn sample_le() -> Vec<u8> {
        let img = image::RgbImage::from_raw(W, H, pixels()).unwrap();
        let mut out = Vec::new();
        img.write_to(&mut Cursor::new(&mut out), image::ImageFormat::Tiff)
            .unwrap();
        assert!(out.starts_with(b"II*\0"));
        out
    }

    fn short(tag: u16, v: u16, order: ByteOrder) -> TestEntry {
        (tag, 3, 1, order.put_u16(v).to_vec())
    }

    /// A hand-built uncompressed RGB TIFF in either byte order, with extra IFD0 and EXIF entries.
    fn sample(order: ByteOrder, extra: &[TestEntry], exif: &[TestEntry]) -> Vec<u8> {
        let build = |strip: u32| {
            let mut bps = Vec::new();
            for _ in 0..3 {
                bps.extend_from_slice(&order.put_u16(8));
            }
            let mut e = vec![
                short(256, W as u16, order),
                short(257, H as u16, order),
                (258, 3, 3, bps),
                short(259, 1, order),
                short(262, 2, order),
                (273, 4, 1, order.put_u32(strip).to_vec()),
                short(277, 3, order),
                short(278, H as u16, order),
                (279, 4, 1, order.put_u32(W * H * 3).to_vec()),
                short(284, 1, order),
            ];
            e.extend_from_slice(extra);
            build_tiff(order, &e, exif)
        };
        let len = build(0).len() as u32;
        let mut t = build(len);
        t.extend_from_slice(&pixels());
        t
    }

    fn label(t: &[u8], l: &str) -> Vec<u8> {
        let mut out = Cursor::new(Vec::new());
        write(&mut Cursor::new(t.to_vec()), &mut out, l).unwrap();
        out.into_inner()
    }

    fn scan_bytes(t: &[u8]) -> Scan {
        scan(&mut Cursor::new(t.to_vec())).unwrap()
    }

    fn digest(t: &[u8]) -> Vec<u8> {
        let mut d = Vec::new();
        content_digest(&mut Cursor::new(t.to_vec()), &mut d).unwrap();
        d
    }

    fn ifd_chain(t: &[u8]) -> (exif::Header, Vec<exif::Ifd>) {
        let mut c = Cursor::new(t.to_vec());
        let mut r = Reader::new(&mut c, 0).unwrap();
        let chain = r.chain().unwrap();
        (r.header, chain)
    }

    fn assert_one_canonical_site(s: &Scan, l: &str) -> String {
        assert_eq!(s.sites.len(), 1, "{s:?}");
        assert!(s.sites[0].canonical);
        assert_eq!(s.sites[0].location, "tiff:IFD0:XMP");
        let SitePayload::Xmp(p) = &s.sites[0].payload else {
            panic!()
        };
        assert!(p.contains(crate::xmp::TC260_NS));
        assert!(unescape_xml(p).contains(l), "{p}");
        p.clone()
    }

    fn wrapped(label: &str) -> String {
        format!("{{\"AIGC\":{label}}}")
    }

    #[test]
    fn ds16_tiff_roundtrip_one_site() {
        for t in [sample_le(), sample(ByteOrder::Big, &[], &[])] {
            assert!(scan_bytes(&t).sites.is_empty());
            let out = label(&t, SAMPLE_LABEL);
            assert_one_canonical_site(&scan_bytes(&out), SAMPLE_LABEL);
        }
    }

    /// B-TIFF1: IFD0 tag 700, type 7, count = packet length, entries sorted; the original bytes
    /// are a prefix of the output (nothing moved), strips decode identically.
    #[test]
    fn ds16_tiff_ifd0_tag700_type7_payload_byte_identical() {
        for t in [
            sample_le(),
            sample(ByteOrder::Big, &[], &[]),
            sample(ByteOrder::Little, &[], &[]),
        ] {
            let out = label(&t, SAMPLE_LABEL);
            assert_eq!(&out[..4], &t[..4]);
            assert_eq!(&out[8..t.len()], &t[8..]);
            let (h, chain) = ifd_chain(&out);
            assert_eq!(h.first_ifd % 2, 0);
            let ifd0 = &chain[0];
            let tags: Vec<u16> = ifd0.entries.iter().map(|e| e.tag).collect();
            let mut sorted = tags.clone();
            sorted.sort();
            assert_eq!(tags, sorted);
            let e = ifd0.get(exif::TAG_XMP).unwrap();
            assert_eq!(e.typ, 7);
            let SitePayload::Xmp(p) = &scan_bytes(&out).sites[0].payload else {
                panic!()
            };
            assert_eq!(e.count, p.len() as u64);
            assert_eq!(e.offset_value(&h) % 2, 0);
            assert_eq!(digest(&t), digest(&out));
            assert_eq!(digest(&t), pixels());
            let a = image::load_from_memory(&t).unwrap().to_rgb8();
            let b = image::load_from_memory(&out).unwrap().to_rgb8();
            assert_eq!(a, b);
        }
    }

    /// Other IFDs stay valid: IFD0's next link is kept.
    #[test]
    fn ds16_tiff_keeps_ifd1() {
        for order in [ByteOrder::Little, ByteOrder::Big] {
            let mut t = sample(order, &[], &[]);
            // Append IFD1 (a copy of IFD0's entries) and link it from IFD0.
            let (h, chain) = ifd_chain(&t);
            let ifd0 = &chain[0];
            let ifd1_off = t.len() as u32 + (t.len() as u32 & 1);
            if t.len() % 2 == 1 {
                t.push(0);
            }
            t.extend_from_slice(&order.put_u16(ifd0.entries.len() as u16));
            for e in &ifd0.entries {
                t.extend_from_slice(&order.put_u16(e.tag));
                t.extend_from_slice(&order.put_u16(e.typ));
                t.extend_from_slice(&order.put_u32(e.count as u32));
                t.extend_from_slice(&e.raw[..4]);
            }
            t.extend_from_slice(&[0, 0, 0, 0]);
            let next_pos = (h.first_ifd + 2 + 12 * ifd0.entries.len() as u64) as usize;
            t[next_pos..next_pos + 4].copy_from_slice(&order.put_u32(ifd1_off));
            let out = label(&t, SAMPLE_LABEL);
            let (_, chain) = ifd_chain(&out);
            assert_eq!(chain.len(), 2);
            assert_eq!(chain[1].offset, u64::from(ifd1_off));
            assert_eq!(chain[1].entries, ifd_chain(&t).1[1].entries);
        }
    }

    #[test]
    fn ds16_tiff_write_twice_one_site() {
        let once = label(&sample_le(), SAMPLE_LABEL);
        let twice = label(&once, SAMPLE_LABEL_2);
        let p = assert_one_canonical_site(&scan_bytes(&twice), SAMPLE_LABEL_2);
        assert!(!unescape_xml(&p).contains(SAMPLE_LABEL));
        // The superseded packet was blanked: the first label's text is nowhere in the file.
        let all = unescape_xml(&String::from_utf8_lossy(&twice));
        assert!(!all.contains(SAMPLE_LABEL));
        assert_eq!(digest(&once), digest(&twice));
        image::load_from_memory(&twice).unwrap();
    }

    /// An EXIF UserComment label is a variant site; the writer blanks it in place.
    #[test]
    fn ds16_tiff_migrates_exif_user_comment() {
        let mut uc = b"ASCII\0\0\0".to_vec();
        uc.extend_from_slice(wrapped(SAMPLE_LABEL).as_bytes());
        let t = sample(
            ByteOrder::Big,
            &[],
            &[(exif::TAG_USER_COMMENT, 7, uc.len() as u32, uc)],
        );
        let s = scan_bytes(&t);
        assert_eq!(s.sites.len(), 1);
        assert_eq!(s.sites[0].location, "tiff:Exif:UserComment");
        assert_eq!(s.sites[0].payload, SitePayload::Json(wrapped(SAMPLE_LABEL)));
        let out = label(&t, SAMPLE_LABEL);
        assert_one_canonical_site(&scan_bytes(&out), SAMPLE_LABEL);
        assert!(!String::from_utf8_lossy(&out).contains("{\"AIGC\""));
        assert_eq!(digest(&t), digest(&out));
    }

    /// Tag 700 stored as BYTE (type 1, as exiftool writes it) is read; the writer stores type 7.
    #[test]
    fn ds16_tiff_reads_byte_type_xmp_and_merges() {
        let packet = format!(
            "<x:xmpmeta xmlns:x=\"adobe:ns:meta/\"><rdf:RDF xmlns:rdf=\"http://www.w3.org/1999/02/22-rdf-syntax-ns#\"><rdf:Description rdf:about=\"\" xmlns:dc=\"http://purl.org/dc/elements/1.1/\" xmlns:tc260=\"{}\" tc260:AIGC=\"{}\"><dc:title><rdf:Alt><rdf:li xml:lang=\"x-default\">Glacier</rdf:li></rdf:Alt></dc:title></rdf:Description></rdf:RDF></x:xmpmeta>",
            crate::xmp::TC260_NS,
            SAMPLE_LABEL.replace('"', "&quot;")
        );
        let p = packet.as_bytes().to_vec();
        let t = sample(
            ByteOrder::Little,
            &[(exif::TAG_XMP, 1, p.len() as u32, p)],
            &[],
        );
        let s = scan_bytes(&t);
        assert_eq!(s.sites.len(), 1);
        assert!(s.sites[0].canonical);
        assert_eq!(s.sites[0].payload, SitePayload::Xmp(packet));
        assert!(s.notes.iter().any(|n| n.contains("field type 1")));
        let out = label(&t, SAMPLE_LABEL_2);
        let merged = assert_one_canonical_site(&scan_bytes(&out), SAMPLE_LABEL_2);
        assert!(merged.contains("Glacier"), "{merged}");
        let (_, chain) = ifd_chain(&out);
        assert_eq!(chain[0].get(exif::TAG_XMP).unwrap().typ, 7);
    }

    #[test]
    fn tiff_bigtiff_read_only() {
        // BigTIFF: header (16), IFD0 at 16 with one entry: tag 700, type 7, count 5, inline.
        let mut b = b"II\x2b\x00\x08\x00\x00\x00".to_vec();
        b.extend_from_slice(&16u64.to_le_bytes());
        b.extend_from_slice(&1u64.to_le_bytes());
        b.extend_from_slice(&exif::TAG_XMP.to_le_bytes());
        b.extend_from_slice(&7u16.to_le_bytes());
        b.extend_from_slice(&5u64.to_le_bytes());
        b.extend_from_slice(b"<x/>\n\0\0\0");
        b.extend_from_slice(&0u64.to_le_bytes());
        let s = scan_bytes(&b);
        assert_eq!(s.sites[0].payload, SitePayload::Xmp("<x/>\n".into()));
        let mut dst = Cursor::new(Vec::new());
        let e = write(&mut Cursor::new(b), &mut dst, SAMPLE_LABEL).unwrap_err();
        assert!(matches!(e, FormatError::Unsupported(_)), "{e}");
    }

    #[test]
    fn tiff_truncated_is_error() {
        let out = label(&sample(ByteOrder::Big, &[], &[]), SAMPLE_LABEL);
        for cut in [0, 3, 7, 9, out.len() - 3] {
            let t = out[..cut].to_vec();
            assert!(scan(&mut Cursor::new(t.clone())).is_err(), "cut {cut}");
            assert!(
                write(
                    &mut Cursor::new(t.clone()),
                    &mut Cursor::new(Vec::new()),
                    SAMPLE_LABEL
                )
                .is_err()
            );
        }
        // Strips cut off: the content selection fails.
        let t = sample(ByteOrder::Little, &[], &[]);
        let cut = t[..t.len() - 1].to_vec();
        assert!(content_digest(&mut Cursor::new(cut), &mut Vec::new()).is_err());
    }

    #[test]
    fn tiff_malformed_is_error() {
        let mut bad = sample_le();
        bad[2] = 0x30;
        let mut zero = sample_le();
        zero[4..8].copy_from_slice(&[0, 0, 0, 0]);
        for b in [bad, zero, b"MM\0*\xff\xff\xff\xf0".to_vec()] {
            assert!(scan(&mut Cursor::new(b.clone())).is_err());
            assert!(
                write(
                    &mut Cursor::new(b),
                    &mut Cursor::new(Vec::new()),
                    SAMPLE_LABEL
                )
                .is_err()
            );
        }
    }

    #[test]
    fn ds16_tiff_interop_exiftool_reads() {
        let dir = tempfile::tempdir().unwrap();
        for (name, t) in [
            ("le.tif", sample_le()),
            ("be.tif", sample(ByteOrder::Big, &[], &[])),
        ] {
            let path = dir.path().join(name);
            std::fs::write(&path, label(&t, SAMPLE_LABEL)).unwrap();
            let Some(v) = exiftool_read_aigc(&path) else {
                return;
            };
            assert_eq!(v, SAMPLE_LABEL);
            let meta = exiftool_json(&path, &["-IFD0:ImageWidth", "-Warning"]).unwrap();
            assert_eq!(meta["IFD0:ImageWidth"], W, "{meta}");
            assert!(meta.get("ExifTool:Warning").is_none(), "{meta}");
        }
    }

    /// The reverse: a TIFF labelled by exiftool is scanned and its XMP packet returned.
    #[test]
    fn ds16_tiff_interop_exiftool_written_is_scanned() {
        let dir = tempfile::tempdir().unwrap();
        for (name, t) in [
            ("le.tif", sample_le()),
            ("be.tif", sample(ByteOrder::Big, &[], &[])),
        ] {
            let path = dir.path().join(name);
            std::fs::write(&path, &t).unwrap();
            if !exiftool_write_aigc(&path, SAMPLE_LABEL) {
                return;
            }
            let bytes = std::fs::read(&path).unwrap();
            assert_one_canonical_site(&scan_bytes(&bytes), SAMPLE_LABEL);
            let out = label(&bytes, SAMPLE_LABEL_2);
            assert_one_canonical_site(&scan_bytes(&out), SAMPLE_LABEL_2);
            std::fs::write(&path, &out).unwrap();
            assert_eq!(exiftool_read_aigc(&path).unwrap(), SAMPLE_LABEL_2);
            let a = image::load_from_memory(&t).unwrap().to_rgb8();
            let b = image::load_from_memory(&out).unwrap().to_rgb8();
            assert_eq!(a, b);
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]
        #[test]
        fn tiff_scan_never_panics(data in proptest::collection::vec(proptest::num::u8::ANY, 0..256)) {
            for head in [&b"II*\0"[..], b"MM\0*", b"II+\0\x08\0\0\0"] {
                let mut d = head.to_vec();
                d.extend_from_slice(&data);
                let _ = scan(&mut Cursor::new(d.clone()));
                let _ = content_digest(&mut Cursor::new(d.clone()), &mut Vec::new());
                let _ = write(&mut Cursor::new(d), &mut Cursor::new(Vec::new()), SAMPLE_LABEL);
            }
        }

        #[test]
        fn tiff_mutated_labelled_never_panics(
            cut in 0usize..1500,
            flips in proptest::collection::vec((0usize..1500, proptest::num::u8::ANY), 0..4),
        ) {
            let mut t = label(&sample(ByteOrder::Big, &[], &[]), SAMPLE_LABEL);
            for (i, b) in flips {
                let n = t.len();
                t[i % n] = b;
            }
            t.truncate(cut.min(t.len()));
            let _ = scan(&mut Cursor::new(t.clone()));
            let _ = content_digest(&mut Cursor::new(t.clone()), &mut Vec::new());
            let mut out = Cursor::new(Vec::new());
            if write(&mut Cursor::new(t), &mut out, SAMPLE_LABEL).is_ok() {
                // Whenever a write succeeds, exactly one label remains.
                let back = scan(&mut Cursor::new(out.into_inner())).unwrap();
                let found = crate::sites::labels_in(&back);
                proptest::prop_assert_eq!(found.len(), 1, "{:?}", back);
            }
        }
    }
}
