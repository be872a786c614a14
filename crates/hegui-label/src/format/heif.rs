//! HEIF / HEIC / AVIF (ISO/IEC 23008-12): the label is an XMP metadata item.
//!
//! Placement (TC260-PG-20259A "per ISO/IEC 23008-12", labeling.md §5.1): an item with `infe`
//! item_type `mime` and content_type `application/rdf+xml`, located by `iloc` and linked to the
//! primary item by a `cdsc` reference; its data is an XMP packet holding `TC260:AIGC` (built with
//! [`crate::xmp::merge_label`], so other XMP properties survive).
//!
//! Key decisions:
//!
//! * **The XMP data goes in a new `mdat` appended at the end of the file** (construction method
//!   0, absolute file offsets), not in `idat`. That is where libheif and exiftool put metadata,
//!   it works with every `iloc` version (version 0 has no construction method at all, so `idat`
//!   would force an `iloc` upgrade), and it leaves the image `mdat` byte-identical. The growth of
//!   `meta` (one `infe`, one `iloc` entry, one `cdsc` reference) shifts everything after it, so
//!   every construction-method-0 `iloc` extent is remapped (base_offset when the item uses one,
//!   else extent_offset), widening `iloc` offset fields to 64 bits only if a value no longer fits.
//! * An existing XMP item is merged into and keeps its item ID. When the merged packet fits in
//!   the item's old bytes it is written there, padded with whitespace before the
//!   `<?xpacket end` trailer (the XMP in-place update convention), so relabelling (e.g. a
//!   propagator filling its fields) neither grows the file nor changes `meta`. Otherwise it goes
//!   to the new `mdat` and the old bytes are overwritten with zeros so no stale label lingers
//!   (only when no other item shares those bytes). Appended packets get 512 bytes of padding
//!   for later in-place updates. Further XMP items that carry an AIGC property have it removed.
//! * Streaming: only `meta` is loaded (≤ [`MAX_SITE_BYTES`]); `mdat` is copied with
//!   [`io::copy_n`]. Image sequences (`moov`) and fragments get their offsets remapped too.

use super::bmff::{self, BoxHeader, C2PA_NOTE, Child, Cursor, OffsetMap, Rewrite, XMP_UUID};
use super::{FormatError, MAX_SITE_BYTES, RawSite, ReadSeek, Scan, SitePayload, WriteSeek, io};
use std::io::{Read, SeekFrom, Write};

/// The content type of an XMP item.
const XMP_MIME: &str = "application/rdf+xml";

/// Most items we index; HEIF files with 16-bit item IDs cannot exceed this.
const MAX_ITEMS: u64 = 1 << 16;

/// Most extents over all items (a tiled image has one or a few per tile).
const MAX_EXTENTS: usize = 1 << 20;

/// Finds every XMP item (canonical) and XMP `uuid` box (variant).
pub(crate) fn scan(src: &mut dyn ReadSeek) -> Result<Scan, FormatError> {
    src.seek(SeekFrom::Start(0))?;
    let total = io::len(src)?;
    let mut scan = Scan::default();
    let mut top = bmff::TopLevel::new(total);
    let mut metas = 0usize;
    while let Some(h) = top.next_box(src)? {
        match &h.typ {
            b"meta" => {
                metas += 1;
                let payload = bmff::read_payload(src, &h, MAX_SITE_BYTES, "meta box")?;
                let heif = Heif::parse(&payload)?;
                scan_items(&heif, src, total, &mut scan)?;
                // Read the position back: scan_items seeks around.
                src.seek(SeekFrom::Start(h.end()))?;
            }
            b"uuid" if h.uuid == Some(bmff::C2PA_UUID) => scan.notes.push(C2PA_NOTE.into()),
            b"uuid" if h.uuid == Some(XMP_UUID) => {
                let buf = bmff::read_payload(src, &h, MAX_SITE_BYTES, "XMP uuid box")?;
                scan.sites.push(RawSite {
                    location: "heif:uuid:XMP".into(),
                    canonical: false,
                    payload: SitePayload::Xmp(packet_text(buf.get(16..).unwrap_or(&[]))),
                });
            }
            _ => {}
        }
    }
    if metas == 0 {
        scan.notes.push("no top-level meta box".into());
    } else if metas > 1 {
        scan.notes.push(format!("{metas} top-level meta boxes"));
    }
    if top.trailing > 0 {
        scan.notes
            .push(format!("{} stray bytes after the last box", top.trailing));
    }
    Ok(scan)
}

/// Copies `src` to `dst` with exactly one label: `TC260:AIGC` in the XMP item.
pub(crate) fn write(
    src: &mut dyn ReadSeek,
    dst: &mut dyn WriteSeek,
    label_json: &str,
) -> Result<(), FormatError> {
    src.seek(SeekFrom::Start(0))?;
    let total = io::len(src)?;

    // Pass 1: headers only.
    let mut top = bmff::TopLevel::new(total);
    let mut meta_h: Option<BoxHeader> = None;
    let mut replacements: Vec<(BoxHeader, Vec<u8>)> = Vec::new();
    // Payload ranges of the top-level mdat boxes: the only file bytes an item update may
    // overwrite, so that a malformed extent reaching into a box header cannot break the file.
    let mut mdat_payloads: Vec<(u64, u64)> = Vec::new();
    while let Some(h) = top.next_box(src)? {
        if &h.typ == b"mdat" {
            mdat_payloads.push((h.start + h.header_len, h.size.saturating_sub(h.header_len)));
        }
        match &h.typ {
            b"meta" => {
                if meta_h.is_some() {
                    return Err(FormatError::malformed("more than one top-level meta box"));
                }
                meta_h = Some(h);
            }
            b"uuid" if h.uuid == Some(XMP_UUID) => {
                let buf = bmff::read_payload(src, &h, MAX_SITE_BYTES, "XMP uuid box")?;
                let packet = packet_text(buf.get(16..).unwrap_or(&[]));
                if let Some(stripped) = bmff::strip_xmp_labels(&packet)? {
                    let mut p = XMP_UUID.to_vec();
                    p.extend_from_slice(stripped.as_bytes());
                    replacements.push((h, bmff::make_box(*b"uuid", &p)));
                }
            }
            _ => {}
        }
    }
    let stray = top.trailing;
    let meta_h =
        meta_h.ok_or_else(|| FormatError::malformed("no top-level meta box (not a HEIF file)"))?;
    let meta_payload = bmff::read_payload(src, &meta_h, MAX_SITE_BYTES, "meta box")?;
    let heif = Heif::parse(&meta_payload)?;
    let primary = heif.pitm.ok_or_else(|| {
        FormatError::Unsupported("HEIF file without a primary item (pitm)".into())
    })?;
    let iloc = heif
        .iloc
        .clone()
        .ok_or_else(|| FormatError::malformed("HEIF meta without an iloc box"))?;
    if heif.iinf.is_none() {
        return Err(FormatError::malformed("HEIF meta without an iinf box"));
    }

    // The XMP items, the one that gets the label, and the new packets.
    let xmp_ids: Vec<u32> = heif
        .infes
        .iter()
        .filter(|i| i.is_xmp())
        .map(|i| i.id)
        .collect();
    let target = xmp_ids
        .iter()
        .copied()
        .find(|&id| heif.has_ref(b"cdsc", id, primary))
        .or_else(|| xmp_ids.first().copied());
    // New packets of existing items (the target, and others stripped of a label).
    let mut rewrites: Vec<(u32, String)> = Vec::new();
    for &id in &xmp_ids {
        let Some(packet) = read_xmp_item(&heif, &iloc, id, src, total)? else {
            if Some(id) == target {
                // Unreadable (unknown content encoding): its data is replaced by a fresh packet.
                let fresh = crate::xmp::merge_label(None, label_json)
                    .map_err(|e| FormatError::malformed(e.to_string()))?;
                rewrites.push((id, fresh));
            }
            continue;
        };
        if Some(id) == target {
            let base = bmff::unpad_xmp(&bmff::strip_xmp_labels(&packet)?.unwrap_or(packet));
            let merged = crate::xmp::merge_label(Some(&base), label_json)
                .map_err(|e| FormatError::malformed(format!("XMP item {id}: {e}")))?;
            rewrites.push((id, merged));
        } else if let Some(stripped) = bmff::strip_xmp_labels(&packet)? {
            rewrites.push((id, stripped));
        }
    }

    // Where each packet goes: over its old bytes when it fits there (padded, as XMP packets are
    // meant to be updated), else into the appended mdat with its old bytes zeroed.
    let idat_len = heif.idat_len();
    let mut new_data: Vec<(u32, Vec<u8>)> = Vec::new();
    let mut file_patches: Vec<(u64, Vec<u8>)> = Vec::new();
    let mut idat_patches: Vec<(u64, Vec<u8>)> = Vec::new();
    for (id, packet) in &rewrites {
        let item = iloc.items.iter().find(|i| i.id == *id);
        let ranges = match item {
            Some(it) => exclusive_ranges(&iloc, it, total, idat_len)?.filter(|ranges| {
                // Bytes outside every mdat payload (a malformed extent) are never rewritten:
                // the packet then goes to the appended mdat and the old bytes stay as they are.
                it.method != 0
                    || ranges.iter().all(|&(start, len)| {
                        mdat_payloads
                            .iter()
                            .any(|&(ps, pl)| start >= ps && start + len <= ps + pl)
                    })
            }),
            None => None,
        };
        let capacity: u64 = ranges.iter().flatten().map(|r| r.1).sum();
        let patches = if item.is_some_and(|i| i.method == 1) {
            &mut idat_patches
        } else {
            &mut file_patches
        };
        match ranges {
            Some(ranges) if packet.len() as u64 <= capacity => {
                let padded = pad_packet(packet, usize::try_from(capacity).unwrap_or(0));
                let mut at = 0usize;
                for (start, len) in ranges {
                    let n = usize::try_from(len).unwrap_or(0);
                    patches.push((start, padded.get(at..at + n).unwrap_or(&[]).to_vec()));
                    at += n;
                }
            }
            other => {
                for (start, len) in other.into_iter().flatten() {
                    patches.push((start, vec![0; usize::try_from(len).unwrap_or(0)]));
                }
                new_data.push((*id, pad_packet(packet, packet.len() + PACKET_PADDING)));
            }
        }
    }
    let new_item = match target {
        Some(_) => None,
        None => {
            let id = heif
                .max_item_id(&iloc)
                .checked_add(1)
                .ok_or_else(|| FormatError::Unsupported("no free item ID".into()))?;
            let packet = crate::xmp::merge_label(None, label_json)
                .map_err(|e| FormatError::malformed(e.to_string()))?;
            new_data.push((id, pad_packet(&packet, packet.len() + PACKET_PADDING)));
            Some(id)
        }
    };
    let need_cdsc = match (target, new_item) {
        (Some(t), _) if !heif.has_ref(b"cdsc", t, primary) => Some(t),
        (_, Some(n)) => Some(n),
        _ => None,
    };
    let appending = !new_data.is_empty();
    if appending && stray > 0 {
        // The new mdat would follow the stray bytes and be unreachable for box walkers.
        return Err(FormatError::malformed(format!(
            "{stray} stray bytes after the last box"
        )));
    }
    // Items whose bytes are now a plain packet (their infe loses any content encoding).
    let rewritten: Vec<u32> = rewrites.iter().map(|(id, _)| *id).collect();

    // Build the new meta; widen iloc fields and retry if a relocated value does not fit.
    let mut sizes = IlocSizes::of(&iloc);
    let mut built = None;
    for _ in 0..4 {
        let mut loc = iloc.clone();
        sizes.apply(&mut loc);
        for (id, data) in &new_data {
            loc.set_single_extent(*id, data.len() as u64);
        }
        let placeholder = heif.rebuild(
            &loc,
            &rewritten,
            new_item,
            need_cdsc,
            primary,
            &idat_patches,
        )?;
        let mut map = OffsetMap::default();
        for (h, bytes) in &replacements {
            map.replace(h.start, h.end(), bytes.len() as u64);
        }
        map.replace(meta_h.start, meta_h.end(), placeholder.len() as u64);
        let new_total = u64::try_from(i128::from(total) + map.total_delta())
            .map_err(|_| FormatError::malformed("file size underflow"))?;
        // The appended mdat holds the packets in `new_data` order after its 8-byte header.
        let mut next = new_total
            .checked_add(8)
            .ok_or(FormatError::Truncated("file"))?;
        let mut placed = Vec::with_capacity(new_data.len());
        for (id, data) in &new_data {
            placed.push((*id, next));
            next += data.len() as u64;
        }
        let mut overflow = Overflow::default();
        for item in &mut loc.items {
            if let Some(&(_, abs)) = placed.iter().find(|(id, _)| *id == item.id) {
                item.place(abs, &sizes, &mut overflow);
            } else if item.method == 0 && item.data_ref == 0 {
                item.relocate(&map, &sizes, &mut overflow)?;
            }
        }
        if overflow.any() {
            sizes.widen(&overflow);
            continue;
        }
        let meta_box = heif.rebuild(
            &loc,
            &rewritten,
            new_item,
            need_cdsc,
            primary,
            &idat_patches,
        )?;
        if meta_box.len() != placeholder.len() {
            return Err(FormatError::malformed(
                "internal: meta size changed while placing offsets",
            ));
        }
        built = Some((meta_box, map));
        break;
    }
    let (meta_box, map) =
        built.ok_or_else(|| FormatError::Unsupported("iloc offsets do not fit".into()))?;
    replacements.push((meta_h, meta_box));

    // Pass 2: stream, then append the metadata mdat.
    src.seek(SeekFrom::Start(0))?;
    bmff::stream_rewrite(
        src,
        dst,
        total,
        &Rewrite {
            replacements: &replacements,
            map: &map,
            patches: &file_patches,
            appending,
        },
    )?;
    if !appending {
        dst.flush()?;
        return Ok(());
    }
    let payload_len: usize = new_data.iter().map(|(_, d)| d.len()).sum();
    let mut header = Vec::with_capacity(8);
    header.extend_from_slice(
        &u32::try_from(payload_len + 8)
            .map_err(|_| FormatError::TooLarge {
                what: "XMP data",
                size: payload_len as u64,
                limit: u64::from(u32::MAX),
            })?
            .to_be_bytes(),
    );
    header.extend_from_slice(b"mdat");
    dst.write_all(&header)?;
    for (_, d) in &new_data {
        dst.write_all(d)?;
    }
    dst.flush()?;
    Ok(())
}

/// Feeds the content selection to `sink`: the data of every item that is not metadata (image
/// items, thumbnails, alpha/depth planes, grid/overlay descriptors; i.e. every item except
/// `mime`, `Exif` and `uri ` items), in ascending item-ID order, each item's extents in `iloc`
/// order. Labelling only adds or moves metadata items, so this is identical for the input and
/// every labelled output. (Image-sequence tracks in `moov` are not part of the selection.)
pub(crate) fn content_digest(
    src: &mut dyn ReadSeek,
    sink: &mut dyn Write,
) -> Result<(), FormatError> {
    src.seek(SeekFrom::Start(0))?;
    let total = io::len(src)?;
    let mut top = bmff::TopLevel::new(total);
    let mut meta_h = None;
    while let Some(h) = top.next_box(src)? {
        if &h.typ == b"meta" && meta_h.is_none() {
            meta_h = Some(h);
        }
    }
    let meta_h = meta_h.ok_or_else(|| FormatError::malformed("no top-level meta box"))?;
    let payload = bmff::read_payload(src, &meta_h, MAX_SITE_BYTES, "meta box")?;
    let heif = Heif::parse(&payload)?;
    let iloc = heif
        .iloc
        .as_ref()
        .ok_or_else(|| FormatError::malformed("HEIF meta without an iloc box"))?;
    let mut items: Vec<&IlocItem> = iloc
        .items
        .iter()
        .filter(|it| {
            heif.infes
                .iter()
                .find(|i| i.id == it.id)
                .is_none_or(|i| !i.is_metadata())
        })
        .collect();
    items.sort_by_key(|it| it.id);
    for item in items {
        if item.data_ref != 0 {
            return Err(FormatError::Unsupported(format!(
                "item {} is stored in an external file",
                item.id
            )));
        }
        match item.method {
            0 => {
                for (start, len) in item.file_ranges(total)? {
                    src.seek(SeekFrom::Start(start))?;
                    io::copy_n(src, sink, len, "item data")?;
                }
            }
            1 => {
                for (start, len) in item.idat_ranges(heif.idat_len())? {
                    sink.write_all(heif.idat_slice(start, len)?)?;
                }
            }
            m => {
                return Err(FormatError::Unsupported(format!(
                    "item {} uses iloc construction method {m}",
                    item.id
                )));
            }
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Reading

fn scan_items(
    heif: &Heif<'_>,
    src: &mut dyn ReadSeek,
    total: u64,
    scan: &mut Scan,
) -> Result<(), FormatError> {
    let Some(iloc) = heif.iloc.as_ref() else {
        if heif.infes.iter().any(|i| i.is_xmp()) {
            scan.notes.push("XMP item without an iloc box".into());
        }
        return Ok(());
    };
    let xmp: Vec<&Infe> = heif.infes.iter().filter(|i| i.is_xmp()).collect();
    if xmp.len() > 1 {
        scan.notes.push(format!("{} XMP items", xmp.len()));
    }
    for infe in xmp {
        let Some(packet) = read_xmp_item(heif, iloc, infe.id, src, total)? else {
            scan.notes.push(format!(
                "XMP item {} could not be read (no location or unknown content encoding)",
                infe.id
            ));
            continue;
        };
        if let Some(primary) = heif.pitm
            && !heif.has_ref(b"cdsc", infe.id, primary)
        {
            scan.notes.push(format!(
                "XMP item {} is not linked to the primary item {primary} (no cdsc reference)",
                infe.id
            ));
        }
        scan.sites.push(RawSite {
            location: format!("heif:meta/item[{}]:mime:{XMP_MIME}", infe.id),
            canonical: true,
            payload: SitePayload::Xmp(packet),
        });
    }
    Ok(())
}

/// The decoded packet of XMP item `id`, or `None` when it has no location or an unknown
/// content encoding.
fn read_xmp_item(
    heif: &Heif<'_>,
    iloc: &Iloc,
    id: u32,
    src: &mut dyn ReadSeek,
    total: u64,
) -> Result<Option<String>, FormatError> {
    let Some(item) = iloc.items.iter().find(|i| i.id == id) else {
        return Ok(None);
    };
    if item.data_ref != 0 {
        return Ok(None);
    }
    let mut data = Vec::new();
    match item.method {
        0 => {
            for (start, len) in item.file_ranges(total)? {
                if data.len() as u64 + len > MAX_SITE_BYTES {
                    return Err(FormatError::TooLarge {
                        what: "XMP item",
                        size: data.len() as u64 + len,
                        limit: MAX_SITE_BYTES,
                    });
                }
                src.seek(SeekFrom::Start(start))?;
                data.extend_from_slice(&io::read_vec(src, len, "XMP item data")?);
            }
        }
        1 => {
            for (start, len) in item.idat_ranges(heif.idat_len())? {
                data.extend_from_slice(heif.idat_slice(start, len)?);
            }
        }
        _ => return Ok(None),
    }
    let encoding = heif
        .infes
        .iter()
        .find(|i| i.id == id)
        .map(|i| {
            String::from_utf8_lossy(&i.encoding)
                .trim()
                .to_ascii_lowercase()
        })
        .unwrap_or_default();
    let data = match encoding.as_str() {
        "" => data,
        "deflate" => inflate(&data)?,
        _ => return Ok(None),
    };
    Ok(Some(packet_text(&data)))
}

/// Inflates zlib (HTTP "deflate") data, falling back to raw deflate, bounded.
fn inflate(data: &[u8]) -> Result<Vec<u8>, FormatError> {
    let mut out = Vec::new();
    let zlib = flate2::read::ZlibDecoder::new(data)
        .take(MAX_SITE_BYTES + 1)
        .read_to_end(&mut out);
    if zlib.is_err() {
        out.clear();
        flate2::read::DeflateDecoder::new(data)
            .take(MAX_SITE_BYTES + 1)
            .read_to_end(&mut out)
            .map_err(|e| FormatError::malformed(format!("deflated XMP item: {e}")))?;
    }
    if out.len() as u64 > MAX_SITE_BYTES {
        return Err(FormatError::TooLarge {
            what: "inflated XMP item",
            size: out.len() as u64,
            limit: MAX_SITE_BYTES,
        });
    }
    Ok(out)
}

fn packet_text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes)
        .trim_end_matches('\0')
        .to_string()
}

// ---------------------------------------------------------------------------------------------
// Structures

/// One `infe`.
#[derive(Debug, Clone)]
struct Infe {
    id: u32,
    flags: u32,
    protection: u16,
    item_type: [u8; 4],
    name: Vec<u8>,
    content_type: Vec<u8>,
    encoding: Vec<u8>,
    /// Index in the `iinf` children.
    child: usize,
}

impl Infe {
    fn is_xmp(&self) -> bool {
        if &self.item_type != b"mime" {
            return false;
        }
        let ct = String::from_utf8_lossy(&self.content_type);
        let base = ct.split(';').next().unwrap_or("").trim();
        base.eq_ignore_ascii_case(XMP_MIME)
    }

    fn is_metadata(&self) -> bool {
        matches!(&self.item_type, b"mime" | b"Exif" | b"uri ")
    }

    fn parse(p: &[u8], child: usize) -> Result<Self, FormatError> {
        let mut c = Cursor::new(p);
        let vf = c.u32()?;
        let version = (vf >> 24) as u8;
        let flags = vf & 0x00FF_FFFF;
        let mut infe = Infe {
            id: 0,
            flags,
            protection: 0,
            item_type: *b"mime",
            name: Vec::new(),
            content_type: Vec::new(),
            encoding: Vec::new(),
            child,
        };
        match version {
            0 | 1 => {
                infe.id = u32::from(c.u16()?);
                infe.protection = c.u16()?;
                infe.name = c.cstr().to_vec();
                infe.content_type = c.cstr().to_vec();
                infe.encoding = c.cstr().to_vec();
            }
            2 | 3 => {
                infe.id = if version == 2 {
                    u32::from(c.u16()?)
                } else {
                    c.u32()?
                };
                infe.protection = c.u16()?;
                infe.item_type = bmff::fourcc_at(c.bytes(4)?, 0)?;
                infe.name = c.cstr().to_vec();
                if &infe.item_type == b"mime" {
                    infe.content_type = c.cstr().to_vec();
                    infe.encoding = c.cstr().to_vec();
                }
            }
            v => {
                return Err(FormatError::Unsupported(format!("infe version {v}")));
            }
        }
        Ok(infe)
    }

    /// The box bytes (v2, or v3 for 32-bit IDs; a v0/v1 entry is upgraded to v2).
    fn to_box(&self) -> Vec<u8> {
        let version: u8 = if self.id > 0xFFFF { 3 } else { 2 };
        let mut p = Vec::with_capacity(64);
        p.push(version);
        p.extend_from_slice(&self.flags.to_be_bytes()[1..]);
        if version == 3 {
            p.extend_from_slice(&self.id.to_be_bytes());
        } else {
            p.extend_from_slice(&(self.id as u16).to_be_bytes());
        }
        p.extend_from_slice(&self.protection.to_be_bytes());
        p.extend_from_slice(&self.item_type);
        p.extend_from_slice(&self.name);
        p.push(0);
        if &self.item_type == b"mime" {
            p.extend_from_slice(&self.content_type);
            p.push(0);
            if !self.encoding.is_empty() {
                p.extend_from_slice(&self.encoding);
                p.push(0);
            }
        }
        bmff::make_box(*b"infe", &p)
    }
}

/// One `iloc` extent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Extent {
    index: u64,
    offset: u64,
    length: u64,
}

/// One `iloc` item.
#[derive(Debug, Clone, PartialEq, Eq)]
struct IlocItem {
    id: u32,
    method: u8,
    data_ref: u16,
    base: u64,
    extents: Vec<Extent>,
}

/// Which `iloc` field widths overflowed.
#[derive(Debug, Default)]
struct Overflow {
    offset: bool,
    base: bool,
    length: bool,
}

impl Overflow {
    fn any(&self) -> bool {
        self.offset || self.base || self.length
    }
}

fn fits(v: u64, size: u8) -> bool {
    match size {
        0 => v == 0,
        4 => v <= u64::from(u32::MAX),
        8 => true,
        _ => false,
    }
}

impl IlocItem {
    /// Absolute file ranges of a construction-method-0 item (length 0 = to the end of file).
    fn file_ranges(&self, total: u64) -> Result<Vec<(u64, u64)>, FormatError> {
        self.extents
            .iter()
            .map(|e| {
                let start = self
                    .base
                    .checked_add(e.offset)
                    .filter(|&s| s <= total)
                    .ok_or(FormatError::Truncated("iloc extent (outside the file)"))?;
                let len = if e.length == 0 {
                    total - start
                } else {
                    e.length
                };
                if start.checked_add(len).is_none_or(|end| end > total) {
                    return Err(FormatError::Truncated("iloc extent (outside the file)"));
                }
                Ok((start, len))
            })
            .collect()
    }

    /// Ranges in the `idat` payload of a construction-method-1 item.
    fn idat_ranges(&self, idat_len: u64) -> Result<Vec<(u64, u64)>, FormatError> {
        self.file_ranges(idat_len)
            .map_err(|_| FormatError::Truncated("iloc extent (outside idat)"))
    }

    /// Points a rewritten item at `abs` (its single extent).
    fn place(&mut self, abs: u64, sizes: &IlocSizes, overflow: &mut Overflow) {
        self.method = 0;
        self.data_ref = 0;
        if sizes.offset > 0 {
            self.base = 0;
            if let Some(e) = self.extents.first_mut() {
                e.offset = abs;
                overflow.offset |= !fits(abs, sizes.offset);
            }
        } else if sizes.base > 0 {
            self.base = abs;
            if let Some(e) = self.extents.first_mut() {
                e.offset = 0;
            }
            overflow.base |= !fits(abs, sizes.base);
        } else {
            overflow.offset = true;
        }
    }

    /// Moves a method-0 item's extents to where `map` puts their bytes.
    fn relocate(
        &mut self,
        map: &OffsetMap,
        sizes: &IlocSizes,
        overflow: &mut Overflow,
    ) -> Result<(), FormatError> {
        let mut shifts = Vec::with_capacity(self.extents.len());
        for e in &self.extents {
            let old = self
                .base
                .checked_add(e.offset)
                .ok_or(FormatError::Truncated("iloc extent"))?;
            shifts.push(i128::from(map.map(old)?) - i128::from(old));
        }
        let Some(&first) = shifts.first() else {
            // No extent: the item's data is empty; a base offset alone still moves.
            if self.base != 0 {
                let nb = map.map(self.base)?;
                overflow.base |= !fits(nb, sizes.base);
                self.base = nb;
            }
            return Ok(());
        };
        let shift_u = |v: u64, s: i128| {
            u64::try_from(i128::from(v) + s)
                .map_err(|_| FormatError::malformed("iloc offset underflow"))
        };
        if shifts.iter().all(|&s| s == first) {
            if first == 0 {
                return Ok(());
            }
            if sizes.base > 0 && (self.base != 0 || sizes.offset == 0) {
                self.base = shift_u(self.base, first)?;
                overflow.base |= !fits(self.base, sizes.base);
            } else if sizes.offset > 0 {
                for e in &mut self.extents {
                    e.offset = shift_u(e.offset, first)?;
                    overflow.offset |= !fits(e.offset, sizes.offset);
                }
            } else {
                overflow.offset = true;
            }
        } else {
            if sizes.offset == 0 {
                overflow.offset = true;
                return Ok(());
            }
            for (e, s) in self.extents.iter_mut().zip(shifts) {
                e.offset = shift_u(e.offset, s)?;
                overflow.offset |= !fits(e.offset, sizes.offset);
            }
        }
        Ok(())
    }
}

/// A parsed `iloc`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Iloc {
    version: u8,
    flags: u32,
    offset_size: u8,
    length_size: u8,
    base_size: u8,
    index_size: u8,
    items: Vec<IlocItem>,
}

/// The `iloc` field widths in use (widened when a value no longer fits).
#[derive(Debug, Clone, Copy)]
struct IlocSizes {
    offset: u8,
    length: u8,
    base: u8,
}

impl IlocSizes {
    fn of(iloc: &Iloc) -> Self {
        IlocSizes {
            offset: iloc.offset_size,
            length: iloc.length_size,
            base: iloc.base_size,
        }
    }

    fn apply(&self, iloc: &mut Iloc) {
        iloc.offset_size = self.offset;
        iloc.length_size = self.length;
        iloc.base_size = self.base;
    }

    fn widen(&mut self, o: &Overflow) {
        let up = |s: &mut u8| *s = if *s == 0 { 4 } else { 8 };
        if o.offset {
            up(&mut self.offset);
        }
        if o.base {
            up(&mut self.base);
        }
        if o.length {
            up(&mut self.length);
        }
    }
}

impl Iloc {
    fn parse(p: &[u8]) -> Result<Self, FormatError> {
        let mut c = Cursor::new(p);
        let vf = c.u32()?;
        let version = (vf >> 24) as u8;
        if version > 2 {
            return Err(FormatError::Unsupported(format!("iloc version {version}")));
        }
        let a = c.u8()?;
        let b = c.u8()?;
        let (offset_size, length_size, base_size) = (a >> 4, a & 15, b >> 4);
        let index_size = if version >= 1 { b & 15 } else { 0 };
        for s in [offset_size, length_size, base_size, index_size] {
            if !matches!(s, 0 | 4 | 8) {
                return Err(FormatError::malformed(format!("iloc field size {s}")));
            }
        }
        let count = if version < 2 {
            u64::from(c.u16()?)
        } else {
            u64::from(c.u32()?)
        };
        if count > MAX_ITEMS {
            return Err(FormatError::TooLarge {
                what: "iloc item count",
                size: count,
                limit: MAX_ITEMS,
            });
        }
        let mut items = Vec::new();
        let mut extents_total = 0usize;
        for _ in 0..count {
            let id = if version < 2 {
                u32::from(c.u16()?)
            } else {
                c.u32()?
            };
            let method = if version >= 1 {
                (c.u16()? & 0x0F) as u8
            } else {
                0
            };
            let data_ref = c.u16()?;
            let base = c.uint(base_size)?;
            let n = c.u16()? as usize;
            extents_total += n;
            if extents_total > MAX_EXTENTS {
                return Err(FormatError::TooLarge {
                    what: "iloc extents",
                    size: extents_total as u64,
                    limit: MAX_EXTENTS as u64,
                });
            }
            let mut extents = Vec::with_capacity(n.min(c.remaining()));
            for _ in 0..n {
                let index = if index_size > 0 {
                    c.uint(index_size)?
                } else {
                    0
                };
                let offset = c.uint(offset_size)?;
                let length = c.uint(length_size)?;
                extents.push(Extent {
                    index,
                    offset,
                    length,
                });
            }
            items.push(IlocItem {
                id,
                method,
                data_ref,
                base,
                extents,
            });
        }
        Ok(Iloc {
            version,
            flags: vf & 0x00FF_FFFF,
            offset_size,
            length_size,
            base_size,
            index_size,
            items,
        })
    }

    fn to_payload(&self) -> Result<Vec<u8>, FormatError> {
        let mut version = self.version;
        if self.items.iter().any(|i| i.id > 0xFFFF) || self.items.len() > 0xFFFF {
            version = 2;
        }
        let mut p = Vec::with_capacity(16 + self.items.len() * 24);
        p.push(version);
        p.extend_from_slice(&self.flags.to_be_bytes()[1..]);
        p.push((self.offset_size << 4) | self.length_size);
        let index_size = if version >= 1 { self.index_size } else { 0 };
        p.push((self.base_size << 4) | index_size);
        if version < 2 {
            bmff::put_uint(&mut p, 2, self.items.len() as u64)?;
        } else {
            bmff::put_uint(&mut p, 4, self.items.len() as u64)?;
        }
        for it in &self.items {
            bmff::put_uint(&mut p, if version < 2 { 2 } else { 4 }, u64::from(it.id))?;
            if version >= 1 {
                p.extend_from_slice(&u16::from(it.method).to_be_bytes());
            } else if it.method != 0 {
                return Err(FormatError::malformed(
                    "iloc v0 cannot hold a construction method",
                ));
            }
            p.extend_from_slice(&it.data_ref.to_be_bytes());
            bmff::put_uint(&mut p, self.base_size, it.base)?;
            bmff::put_uint(&mut p, 2, it.extents.len() as u64)?;
            for e in &it.extents {
                if index_size > 0 {
                    bmff::put_uint(&mut p, index_size, e.index)?;
                }
                bmff::put_uint(&mut p, self.offset_size, e.offset)?;
                bmff::put_uint(&mut p, self.length_size, e.length)?;
            }
        }
        Ok(p)
    }

    /// Gives item `id` (adding it if absent) one extent of `len` bytes at a placeholder offset,
    /// widening the length field if needed.
    fn set_single_extent(&mut self, id: u32, len: u64) {
        if !fits(len, self.length_size) {
            self.length_size = if len <= u64::from(u32::MAX) { 4 } else { 8 };
        }
        let extent = Extent {
            index: 0,
            offset: 0,
            length: len,
        };
        let item = IlocItem {
            id,
            method: 0,
            data_ref: 0,
            base: 0,
            extents: vec![extent],
        };
        match self.items.iter_mut().find(|i| i.id == id) {
            Some(i) => *i = item,
            None => self.items.push(item),
        }
    }
}

/// One `iref` reference.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Reference {
    typ: [u8; 4],
    from: u32,
    to: Vec<u32>,
}

fn parse_iref(p: &[u8]) -> Result<(u8, u32, Vec<Reference>), FormatError> {
    let vf = bmff::be_u32(p, 0)?;
    let version = (vf >> 24) as u8;
    let wide = version != 0;
    let (kids, _) = bmff::children(p.get(4..).unwrap_or(&[]))?;
    let body = p.get(4..).unwrap_or(&[]);
    let mut refs = Vec::with_capacity(kids.len());
    for k in kids {
        let mut c = Cursor::new(k.payload(body));
        let id = |c: &mut Cursor<'_>| -> Result<u32, FormatError> {
            if wide {
                c.u32()
            } else {
                Ok(u32::from(c.u16()?))
            }
        };
        let from = id(&mut c)?;
        let n = c.u16()?;
        let mut to = Vec::with_capacity(usize::from(n).min(c.remaining()));
        for _ in 0..n {
            to.push(id(&mut c)?);
        }
        refs.push(Reference {
            typ: k.typ,
            from,
            to,
        });
    }
    Ok((version, vf & 0x00FF_FFFF, refs))
}

fn iref_payload(version: u8, flags: u32, refs: &[Reference]) -> Vec<u8> {
    let wide = version != 0
        || refs
            .iter()
            .any(|r| r.from > 0xFFFF || r.to.iter().any(|&t| t > 0xFFFF));
    let mut p = vec![u8::from(wide)];
    p.extend_from_slice(&flags.to_be_bytes()[1..]);
    for r in refs {
        let mut b = Vec::new();
        let push_id = |b: &mut Vec<u8>, v: u32| {
            if wide {
                b.extend_from_slice(&v.to_be_bytes());
            } else {
                b.extend_from_slice(&(v as u16).to_be_bytes());
            }
        };
        push_id(&mut b, r.from);
        b.extend_from_slice(&(r.to.len().min(0xFFFF) as u16).to_be_bytes());
        for &t in r.to.iter().take(0xFFFF) {
            push_id(&mut b, t);
        }
        bmff::push_box(&mut p, r.typ, &b);
    }
    p
}

/// The parts of a HEIF `meta` this module reads and rewrites.
struct Heif<'a> {
    buf: &'a [u8],
    kids: Vec<Child>,
    trailing: usize,
    pitm: Option<u32>,
    /// `iinf`: child index, version/flags word.
    iinf: Option<(usize, u32)>,
    infes: Vec<Infe>,
    iloc: Option<Iloc>,
    /// `iref`: child index, version, flags, references.
    iref: Option<(usize, u8, u32, Vec<Reference>)>,
    idat: Option<usize>,
}

impl<'a> Heif<'a> {
    fn parse(buf: &'a [u8]) -> Result<Self, FormatError> {
        let body = buf.get(4..).ok_or(FormatError::Truncated("meta box"))?;
        let (mut kids, trailing) = bmff::children(body)?;
        for k in &mut kids {
            k.start += 4;
            k.body += 4;
            k.end += 4;
        }
        let mut h = Heif {
            buf,
            kids,
            trailing: trailing + 4,
            pitm: None,
            iinf: None,
            infes: Vec::new(),
            iloc: None,
            iref: None,
            idat: None,
        };
        for (i, k) in h.kids.clone().iter().enumerate() {
            let p = k.payload(buf);
            match &k.typ {
                b"pitm" if h.pitm.is_none() => {
                    let v = bmff::slice(p, 0, 1)?[0];
                    h.pitm = Some(if v == 0 {
                        u32::from(bmff::be_u16(p, 4)?)
                    } else {
                        bmff::be_u32(p, 4)?
                    });
                }
                b"iinf" if h.iinf.is_none() => {
                    let vf = bmff::be_u32(p, 0)?;
                    let skip = if vf >> 24 == 0 { 6 } else { 8 };
                    let list = p.get(skip..).ok_or(FormatError::Truncated("iinf box"))?;
                    let (entries, _) = bmff::children(list)?;
                    for (j, e) in entries.iter().enumerate() {
                        if &e.typ == b"infe" {
                            h.infes.push(Infe::parse(e.payload(list), j)?);
                        }
                    }
                    h.iinf = Some((i, vf));
                }
                b"iloc" if h.iloc.is_none() => h.iloc = Some(Iloc::parse(p)?),
                b"iref" if h.iref.is_none() => {
                    let (v, f, refs) = parse_iref(p)?;
                    h.iref = Some((i, v, f, refs));
                }
                b"idat" if h.idat.is_none() => h.idat = Some(i),
                _ => {}
            }
        }
        Ok(h)
    }

    fn has_ref(&self, typ: &[u8; 4], from: u32, to: u32) -> bool {
        self.iref.as_ref().is_some_and(|(_, _, _, refs)| {
            refs.iter()
                .any(|r| &r.typ == typ && r.from == from && r.to.contains(&to))
        })
    }

    fn max_item_id(&self, iloc: &Iloc) -> u32 {
        let a = self.infes.iter().map(|i| i.id).max().unwrap_or(0);
        let b = iloc.items.iter().map(|i| i.id).max().unwrap_or(0);
        a.max(b)
    }

    fn idat_payload(&self) -> &'a [u8] {
        self.idat
            .and_then(|i| self.kids.get(i))
            .map_or(&[], |k| k.payload(self.buf))
    }

    fn idat_len(&self) -> u64 {
        self.idat_payload().len() as u64
    }

    fn idat_slice(&self, start: u64, len: u64) -> Result<&'a [u8], FormatError> {
        let s = usize::try_from(start).map_err(|_| FormatError::Truncated("idat"))?;
        let n = usize::try_from(len).map_err(|_| FormatError::Truncated("idat"))?;
        bmff::slice(self.idat_payload(), s, n)
    }

    /// The new `meta` box: `iloc` replaced, rewritten `infe`s without content encoding, the new
    /// XMP `infe`, the `cdsc` reference, and stale `idat` bytes zeroed.
    #[allow(clippy::too_many_arguments)]
    fn rebuild(
        &self,
        iloc: &Iloc,
        rewritten: &[u32],
        new_item: Option<u32>,
        cdsc_from: Option<u32>,
        primary: u32,
        idat_patches: &[(u64, Vec<u8>)],
    ) -> Result<Vec<u8>, FormatError> {
        let buf = self.buf;
        let mut out = buf.get(..4).unwrap_or(&[0; 4]).to_vec();
        let new_ref = cdsc_from.map(|from| Reference {
            typ: *b"cdsc",
            from,
            to: vec![primary],
        });
        for (i, k) in self.kids.iter().enumerate() {
            match &k.typ {
                b"iloc" if self.iloc.is_some() && self.first_of(b"iloc") == Some(i) => {
                    bmff::push_box(&mut out, *b"iloc", &iloc.to_payload()?);
                }
                b"iinf" if self.iinf.is_some_and(|(j, _)| j == i) => {
                    out.extend_from_slice(&self.rebuild_iinf(k, rewritten, new_item)?);
                    if self.iref.is_none()
                        && let Some(r) = &new_ref
                    {
                        bmff::push_box(
                            &mut out,
                            *b"iref",
                            &iref_payload(0, 0, std::slice::from_ref(r)),
                        );
                    }
                }
                b"iref" if self.iref.as_ref().is_some_and(|(j, ..)| *j == i) => {
                    let Some((_, v, f, refs)) = &self.iref else {
                        continue;
                    };
                    let mut refs = refs.clone();
                    if let Some(r) = &new_ref {
                        refs.push(r.clone());
                    }
                    bmff::push_box(&mut out, *b"iref", &iref_payload(*v, *f, &refs));
                }
                b"idat" if self.idat == Some(i) && !idat_patches.is_empty() => {
                    let mut p = k.payload(buf).to_vec();
                    for (start, bytes) in idat_patches {
                        let s = usize::try_from(*start).unwrap_or(usize::MAX);
                        if let Some(r) = s.checked_add(bytes.len()).and_then(|e| p.get_mut(s..e)) {
                            r.copy_from_slice(bytes);
                        }
                    }
                    bmff::push_box(&mut out, *b"idat", &p);
                }
                _ => k.copy_to(buf, &mut out),
            }
        }
        out.extend_from_slice(buf.get(self.trailing..).unwrap_or(&[]));
        Ok(bmff::make_box(*b"meta", &out))
    }

    fn first_of(&self, typ: &[u8; 4]) -> Option<usize> {
        self.kids.iter().position(|k| &k.typ == typ)
    }

    fn rebuild_iinf(
        &self,
        k: &Child,
        rewritten: &[u32],
        new_item: Option<u32>,
    ) -> Result<Vec<u8>, FormatError> {
        let p = k.payload(self.buf);
        let vf = bmff::be_u32(p, 0)?;
        let skip = if vf >> 24 == 0 { 6 } else { 8 };
        let list = p.get(skip..).ok_or(FormatError::Truncated("iinf box"))?;
        let (entries, trailing) = bmff::children(list)?;
        let mut body = Vec::with_capacity(list.len() + 64);
        let mut count = 0u64;
        for (j, e) in entries.iter().enumerate() {
            let infe = self
                .infes
                .iter()
                .find(|i| i.child == j && &e.typ == b"infe");
            match infe {
                // The packet is rewritten uncompressed, so drop the content encoding.
                Some(i) if !i.encoding.is_empty() && rewritten.contains(&i.id) => {
                    let mut plain = i.clone();
                    plain.encoding.clear();
                    body.extend_from_slice(&plain.to_box());
                }
                _ => e.copy_to(list, &mut body),
            }
            if &e.typ == b"infe" {
                count += 1;
            }
        }
        // Stray bytes after the last entry (too short to be a box) are kept as they are, except
        // when an entry is appended: behind them it would be misparsed, so they are dropped.
        if new_item.is_none() {
            body.extend_from_slice(list.get(trailing..).unwrap_or(&[]));
        }
        if let Some(id) = new_item {
            let infe = Infe {
                id,
                // Hidden: metadata is not an image to display (as exiftool writes it).
                flags: 1,
                protection: 0,
                item_type: *b"mime",
                name: Vec::new(),
                content_type: XMP_MIME.as_bytes().to_vec(),
                encoding: Vec::new(),
                child: usize::MAX,
            };
            body.extend_from_slice(&infe.to_box());
            count += 1;
        }
        let mut payload = Vec::with_capacity(body.len() + 8);
        let mut version = (vf >> 24) as u8;
        if version == 0 && count > 0xFFFF {
            version = 1;
        }
        payload.push(version);
        payload.extend_from_slice(&vf.to_be_bytes()[1..]);
        bmff::put_uint(&mut payload, if version == 0 { 2 } else { 4 }, count)?;
        payload.extend_from_slice(&body);
        Ok(bmff::make_box(*b"iinf", &payload))
    }
}

/// The data ranges of `item` (file ranges for construction method 0, `idat` ranges for 1), or
/// `None` when some byte of them is also used by another item or the method is not 0/1.
fn exclusive_ranges(
    iloc: &Iloc,
    item: &IlocItem,
    total: u64,
    idat_len: u64,
) -> Result<Option<Vec<(u64, u64)>>, FormatError> {
    let ranges = |it: &IlocItem| -> Result<Option<Vec<(u64, u64)>>, FormatError> {
        match it.method {
            0 if it.data_ref == 0 => it.file_ranges(total).map(Some),
            1 => it.idat_ranges(idat_len).map(Some),
            _ => Ok(None),
        }
    };
    let Some(mine) = ranges(item)? else {
        return Ok(None);
    };
    let overlaps = |a: (u64, u64), b: (u64, u64)| a.0 < b.0 + b.1 && b.0 < a.0 + a.1;
    for other in iloc
        .items
        .iter()
        .filter(|o| o.id != item.id && o.method == item.method)
    {
        let theirs = ranges(other).ok().flatten().unwrap_or_default();
        if mine.iter().any(|&m| theirs.iter().any(|&t| overlaps(m, t))) {
            return Ok(None);
        }
    }
    Ok(Some(mine))
}

/// Room left in appended packets so a later update (e.g. a propagator filling its fields) can
/// be written in place.
const PACKET_PADDING: usize = 512;

/// `packet` grown to `len` bytes with whitespace padding before its `<?xpacket end` trailer
/// (the XMP in-place update convention), or after it when there is no trailer.
fn pad_packet(packet: &str, len: usize) -> Vec<u8> {
    let fill = len.saturating_sub(packet.len());
    let mut pad = Vec::with_capacity(fill);
    for i in 0..fill {
        // Lines of 100 characters, as Adobe writers pad.
        pad.push(if i % 100 == 99 { b'\n' } else { b' ' });
    }
    let mut out = Vec::with_capacity(len.max(packet.len()));
    match packet.rfind("<?xpacket end") {
        Some(at) => {
            out.extend_from_slice(&packet.as_bytes()[..at]);
            out.extend_from_slice(&pad);
            out.extend_from_slice(&packet.as_bytes()[at..]);
        }
        None => {
            out.extend_from_slice(packet.as_bytes());
            out.extend_from_slice(&pad);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use crate::test_support::{SAMPLE_LABEL, SAMPLE_LABEL_2, exiftool_config, test_data, tool};
    use proptest::prelude::*;
    use std::io::Cursor as IoCursor;
    use std::process::Command;

    const FIXTURES: [&str; 3] = ["bmff-tiny.heic", "bmff-tiny.avif", "bmff-xmp.heic"];

    fn fixture(name: &str) -> Vec<u8> {
        std::fs::read(test_data(name)).unwrap()
    }

    fn label(input: &[u8], json: &str) -> Vec<u8> {
        let mut out = IoCursor::new(Vec::new());
        write(&mut IoCursor::new(input.to_vec()), &mut out, json).unwrap();
        out.into_inner()
    }

    fn scan_bytes(bytes: &[u8]) -> Scan {
        scan(&mut IoCursor::new(bytes.to_vec())).unwrap()
    }

    fn digest(bytes: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        content_digest(&mut IoCursor::new(bytes.to_vec()), &mut out).unwrap();
        out
    }

    /// Labels found in XMP sites, with the site's canonical flag.
    fn labels(s: &Scan) -> Vec<(String, bool)> {
        s.sites
            .iter()
            .flat_map(|site| match &site.payload {
                SitePayload::Xmp(p) => crate::xmp::find_labels(p)
                    .into_iter()
                    .map(|l| (l.value, site.canonical))
                    .collect::<Vec<_>>(),
                SitePayload::Json(j) => vec![(j.clone(), site.canonical)],
            })
            .collect()
    }

    fn meta_of(file: &[u8]) -> Vec<u8> {
        let (kids, _) = bmff::children(file).unwrap();
        kids.iter()
            .find(|k| &k.typ == b"meta")
            .unwrap()
            .payload(file)
            .to_vec()
    }

    /// B-HEIF1: the XMP item exists with the right type, is linked to the primary item, and every
    /// iloc extent of every item lies inside the file.
    fn assert_structure(file: &[u8]) {
        let meta = meta_of(file);
        let heif = Heif::parse(&meta).unwrap();
        let xmp: Vec<&Infe> = heif.infes.iter().filter(|i| i.is_xmp()).collect();
        assert_eq!(xmp.len(), 1);
        assert_eq!(xmp[0].content_type, b"application/rdf+xml");
        let primary = heif.pitm.unwrap();
        assert!(heif.has_ref(b"cdsc", xmp[0].id, primary));
        let iloc = heif.iloc.as_ref().unwrap();
        for it in &iloc.items {
            if it.method == 0 {
                it.file_ranges(file.len() as u64).unwrap();
            }
        }
        assert!(iloc.items.iter().any(|i| i.id == xmp[0].id));
        // The top level still parses box by box to the end.
        let (_, trailing) = bmff::children(file).unwrap();
        assert_eq!(trailing, file.len());
    }

    fn assert_one_label(file: &[u8], json: &str) {
        let s = scan_bytes(file);
        assert_eq!(labels(&s), vec![(json.to_string(), true)], "{:?}", s.sites);
        assert_structure(file);
    }

    #[test]
    fn ds16_heif_roundtrip_one_site() {
        for name in FIXTURES {
            let input = fixture(name);
            assert!(labels(&scan_bytes(&input)).is_empty(), "{name}");
            let out = label(&input, SAMPLE_LABEL);
            assert_one_label(&out, SAMPLE_LABEL);
            let s = scan_bytes(&out);
            assert!(
                s.sites[0].location.starts_with("heif:meta/item["),
                "{}",
                s.sites[0].location
            );
        }
    }

    #[test]
    fn ds16_heif_payload_byte_identical() {
        for name in FIXTURES {
            let input = fixture(name);
            let out = label(&input, SAMPLE_LABEL);
            assert!(!digest(&input).is_empty());
            assert_eq!(digest(&input), digest(&out), "{name}");
            // The image mdat is copied verbatim (fresh files: no stale metadata inside it).
            if name != "bmff-xmp.heic" {
                let (kids, _) = bmff::children(&input).unwrap();
                let mdat = kids
                    .iter()
                    .find(|k| &k.typ == b"mdat")
                    .unwrap()
                    .whole(&input);
                assert!(out.windows(mdat.len()).any(|w| w == mdat), "{name}");
            }
        }
    }

    #[test]
    fn ds16_heif_write_twice_one_site_and_no_stale_label() {
        for name in FIXTURES {
            let input = fixture(name);
            let once = label(&input, SAMPLE_LABEL_2);
            let twice = label(&once, SAMPLE_LABEL);
            assert_one_label(&twice, SAMPLE_LABEL);
            assert_eq!(digest(&input), digest(&twice));
            // The propagator code exists only in SAMPLE_LABEL_2: its old bytes were zeroed.
            let needle = b"MACQD9K64028705";
            assert!(!twice.windows(needle.len()).any(|w| w == needle), "{name}");
            // Relabelling updates the padded packet in place: the file does not grow.
            assert_eq!(twice.len(), once.len(), "{name}");
            assert_eq!(label(&twice, SAMPLE_LABEL_2).len(), once.len(), "{name}");
            // The item ID is reused: still one more item than the input had (or as many).
            let ids = |f: &[u8]| Heif::parse(&meta_of(f)).unwrap().infes.len();
            assert_eq!(ids(&once), ids(&twice));
        }
    }

    #[test]
    fn ds16_heif_merges_into_existing_xmp_item() {
        let input = fixture("bmff-xmp.heic");
        let before_meta = meta_of(&input);
        let before = Heif::parse(&before_meta).unwrap();
        let xmp_id = before.infes.iter().find(|i| i.is_xmp()).unwrap().id;
        let out = label(&input, SAMPLE_LABEL);
        let after_meta = meta_of(&out);
        let after = Heif::parse(&after_meta).unwrap();
        assert_eq!(after.infes.len(), before.infes.len());
        assert_eq!(after.infes.iter().find(|i| i.is_xmp()).unwrap().id, xmp_id);
        let s = scan_bytes(&out);
        let SitePayload::Xmp(packet) = &s.sites[0].payload else {
            panic!("not XMP")
        };
        assert!(packet.contains("Hello"), "dc:title kept: {packet}");
        assert!(packet.contains("hegui test"), "dc:creator kept");
    }

    #[test]
    fn ds16_heif_migrates_uuid_xmp_variant() {
        let mut input = fixture("bmff-tiny.heic");
        let packet = crate::xmp::merge_label(None, SAMPLE_LABEL_2).unwrap();
        let mut p = XMP_UUID.to_vec();
        p.extend_from_slice(packet.as_bytes());
        bmff::push_box(&mut input, *b"uuid", &p);
        let s = scan_bytes(&input);
        assert_eq!(labels(&s), vec![(SAMPLE_LABEL_2.to_string(), false)]);
        let out = label(&input, SAMPLE_LABEL);
        assert_one_label(&out, SAMPLE_LABEL);
    }

    #[test]
    fn ds16_heif_preserves_c2pa_uuid_box() {
        let mut input = fixture("bmff-tiny.heic");
        let mut c2pa = bmff::C2PA_UUID.to_vec();
        c2pa.extend_from_slice(b"\0\0\0\0jumbf manifest store bytes");
        let c2pa_box = bmff::make_box(*b"uuid", &c2pa);
        input.extend_from_slice(&c2pa_box);
        assert!(scan_bytes(&input).notes.iter().any(|n| n.contains("C2PA")));
        let out = label(&input, SAMPLE_LABEL);
        assert!(out.windows(c2pa_box.len()).any(|w| w == &c2pa_box[..]));
        assert_one_label(&out, SAMPLE_LABEL);
    }

    /// A synthetic HEIF (not decodable) with iloc v1: item 1 in mdat, XMP item 2 in idat
    /// (construction method 1), deflate-free, linked by cdsc; `size0` makes mdat run to EOF.
    fn synthetic(packet: &str, size0: bool) -> Vec<u8> {
        let image = b"fake coded image bytes".to_vec();
        let mut meta = vec![0u8; 4];
        let mut hdlr = vec![0u8; 8];
        hdlr.extend_from_slice(b"pict");
        hdlr.extend_from_slice(&[0; 13]);
        bmff::push_box(&mut meta, *b"hdlr", &hdlr);
        bmff::push_box(&mut meta, *b"pitm", &[0, 0, 0, 0, 0, 1]);
        // iinf v0 with two infe v2.
        let mut iinf = vec![0u8, 0, 0, 0, 0, 2];
        let infe1 = Infe {
            id: 1,
            flags: 0,
            protection: 0,
            item_type: *b"hvc1",
            name: Vec::new(),
            content_type: Vec::new(),
            encoding: Vec::new(),
            child: 0,
        };
        let infe2 = Infe {
            id: 2,
            item_type: *b"mime",
            content_type: XMP_MIME.as_bytes().to_vec(),
            ..infe1.clone()
        };
        iinf.extend_from_slice(&infe1.to_box());
        iinf.extend_from_slice(&infe2.to_box());
        let mut iref = vec![0u8; 4];
        bmff::push_box(&mut iref, *b"cdsc", &[0, 2, 0, 1, 0, 1]);
        let idat = packet.as_bytes().to_vec();
        // The iloc is built twice: its size is needed for the mdat offset.
        let build = |mdat_payload_at: u64| {
            let iloc = Iloc {
                version: 1,
                flags: 0,
                offset_size: 4,
                length_size: 4,
                base_size: 4,
                index_size: 0,
                items: vec![
                    IlocItem {
                        id: 1,
                        method: 0,
                        data_ref: 0,
                        base: mdat_payload_at,
                        extents: vec![Extent {
                            index: 0,
                            offset: 0,
                            length: image.len() as u64,
                        }],
                    },
                    IlocItem {
                        id: 2,
                        method: 1,
                        data_ref: 0,
                        base: 0,
                        extents: vec![Extent {
                            index: 0,
                            offset: 0,
                            length: idat.len() as u64,
                        }],
                    },
                ],
            };
            let mut m = meta.clone();
            bmff::push_box(&mut m, *b"iloc", &iloc.to_payload().unwrap());
            bmff::push_box(&mut m, *b"iinf", &iinf);
            bmff::push_box(&mut m, *b"iref", &iref);
            bmff::push_box(&mut m, *b"idat", &idat);
            let mut f = bmff::make_box(*b"ftyp", b"heic\0\0\0\0mif1heic");
            bmff::push_box(&mut f, *b"meta", &m);
            f
        };
        let head = build(0);
        let mut file = build(head.len() as u64 + 8);
        let mut mdat = bmff::make_box(*b"mdat", &image);
        if size0 {
            mdat[..4].copy_from_slice(&[0; 4]);
        }
        file.extend_from_slice(&mdat);
        file
    }

    #[test]
    fn ds16_heif_idat_xmp_item_is_read_and_moved() {
        for size0 in [false, true] {
            // The new label is longer than the old packet's room: the item moves.
            let input = synthetic(&crate::xmp::merge_label(None, SAMPLE_LABEL).unwrap(), size0);
            assert_eq!(
                labels(&scan_bytes(&input)),
                vec![(SAMPLE_LABEL.to_string(), true)]
            );
            assert_eq!(digest(&input), b"fake coded image bytes");
            let out = label(&input, SAMPLE_LABEL_2);
            assert_one_label(&out, SAMPLE_LABEL_2);
            assert_eq!(digest(&out), b"fake coded image bytes");
            // Only SAMPLE_LABEL has an empty ContentPropagator: its old bytes were zeroed.
            let needle = b"ContentPropagator&quot;:&quot;&quot;";
            assert!(input.windows(needle.len()).any(|w| w == needle));
            assert!(
                !out.windows(needle.len()).any(|w| w == needle),
                "idat bytes zeroed"
            );
            let heif_meta = meta_of(&out);
            let heif = Heif::parse(&heif_meta).unwrap();
            let xmp = heif
                .iloc
                .as_ref()
                .unwrap()
                .items
                .iter()
                .find(|i| i.id == 2)
                .unwrap();
            assert_eq!(xmp.method, 0, "moved to the appended mdat");
        }
    }

    #[test]
    fn ds16_heif_padded_idat_xmp_item_is_updated_in_place() {
        let packet = crate::xmp::merge_label(None, SAMPLE_LABEL_2).unwrap();
        let padded = String::from_utf8(pad_packet(&packet, packet.len() + 1024)).unwrap();
        let input = synthetic(&padded, false);
        let out = label(&input, SAMPLE_LABEL);
        assert_eq!(out.len(), input.len());
        assert_one_label(&out, SAMPLE_LABEL);
        let heif_meta = meta_of(&out);
        let heif = Heif::parse(&heif_meta).unwrap();
        let xmp = heif
            .iloc
            .as_ref()
            .unwrap()
            .items
            .iter()
            .find(|i| i.id == 2)
            .unwrap();
        assert_eq!(xmp.method, 1, "still in idat");
        assert_eq!(digest(&out), b"fake coded image bytes");
    }

    #[test]
    fn heif_truncated_is_error() {
        let input = fixture("bmff-tiny.heic");
        for cut in [20, 40, 200, input.len() - 10] {
            let t = input[..cut].to_vec();
            let mut out = IoCursor::new(Vec::new());
            assert!(
                scan(&mut IoCursor::new(t.clone())).is_err(),
                "scan cut {cut}"
            );
            assert!(write(&mut IoCursor::new(t.clone()), &mut out, SAMPLE_LABEL).is_err());
            assert!(content_digest(&mut IoCursor::new(t), &mut Vec::new()).is_err());
        }
    }

    #[test]
    fn heif_malformed_is_error() {
        // No meta at all.
        let only_ftyp = bmff::make_box(*b"ftyp", b"heic\0\0\0\0mif1heic");
        let mut out = IoCursor::new(Vec::new());
        let err = write(&mut IoCursor::new(only_ftyp), &mut out, SAMPLE_LABEL).unwrap_err();
        assert!(err.to_string().contains("no top-level meta"), "{err}");
        // An iloc extent pointing past the end of the file.
        let mut bad = synthetic("<x/>", false);
        let n = bad.len();
        bad.truncate(n - 5);
        let mut out = IoCursor::new(Vec::new());
        assert!(write(&mut IoCursor::new(bad), &mut out, SAMPLE_LABEL).is_err());
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]
        #[test]
        fn heif_scan_never_panics_on_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..1024)) {
            let _ = scan(&mut IoCursor::new(bytes.clone()));
            let _ = content_digest(&mut IoCursor::new(bytes.clone()), &mut Vec::new());
            let _ = write(&mut IoCursor::new(bytes), &mut IoCursor::new(Vec::new()), SAMPLE_LABEL);
        }

        #[test]
        fn heif_scan_never_panics_on_damaged_labelled_file(
            which in 0usize..3,
            cut in 0usize..5000,
            flips in proptest::collection::vec((0usize..5000, any::<u8>()), 0..8),
        ) {
            let mut bytes = label(&fixture(FIXTURES[which]), SAMPLE_LABEL);
            for (at, v) in flips {
                let n = bytes.len();
                bytes[at % n] = v;
            }
            bytes.truncate(cut.min(bytes.len()));
            let _ = scan(&mut IoCursor::new(bytes.clone()));
            let _ = content_digest(&mut IoCursor::new(bytes.clone()), &mut Vec::new());
            let _ = write(&mut IoCursor::new(bytes), &mut IoCursor::new(Vec::new()), SAMPLE_LABEL);
        }
    }

    // ---- interop with libheif and exiftool ---------------------------------------------

    fn decode_png(
        heif_convert: &std::path::Path,
        input: &std::path::Path,
        dir: &std::path::Path,
    ) -> Vec<u8> {
        let png = dir.join(format!(
            "{}.png",
            input.file_name().unwrap().to_string_lossy()
        ));
        let o = Command::new(heif_convert)
            .arg(input)
            .arg(&png)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        image::open(&png).unwrap().to_rgba8().into_raw()
    }

    #[test]
    fn ds16_heif_interop_libheif_reads_metadata_and_decodes() {
        let Some(heif_info) = tool("heif-info") else {
            return;
        };
        let dir = tempfile::tempdir().unwrap();
        for name in FIXTURES {
            let out = dir.path().join(format!("out-{name}"));
            std::fs::write(
                &out,
                label(&label(&fixture(name), SAMPLE_LABEL_2), SAMPLE_LABEL),
            )
            .unwrap();
            let o = Command::new(&heif_info).arg(&out).output().unwrap();
            let text = String::from_utf8_lossy(&o.stdout);
            assert!(
                o.status.success(),
                "{name}: {}",
                String::from_utf8_lossy(&o.stderr)
            );
            assert!(text.contains("primary"), "{name}: {text}");
            assert!(text.contains("XMP:"), "{name}: {text}");
            if let Some(heif_convert) = tool("heif-convert") {
                let want = decode_png(&heif_convert, &test_data(name), dir.path());
                let got = decode_png(&heif_convert, &out, dir.path());
                assert!(!want.is_empty());
                assert_eq!(want, got, "{name}: decoded pixels differ");
            }
        }
    }

    #[test]
    fn ds16_heif_interop_exiftool_reads() {
        let Some(exiftool) = tool("exiftool") else {
            return;
        };
        let dir = tempfile::tempdir().unwrap();
        for name in FIXTURES {
            let out = dir.path().join(format!("out-{name}"));
            std::fs::write(&out, label(&fixture(name), SAMPLE_LABEL)).unwrap();
            let o = Command::new(&exiftool)
                .arg("-config")
                .arg(exiftool_config())
                .args(["-s3", "-XMP-TC260:AIGC"])
                .arg(&out)
                .output()
                .unwrap();
            assert!(o.status.success());
            assert_eq!(
                String::from_utf8_lossy(&o.stdout).trim(),
                SAMPLE_LABEL,
                "{name}"
            );
            let w = Command::new(&exiftool)
                .args(["-validate", "-warning", "-a"])
                .arg(&out)
                .output()
                .unwrap();
            let text = String::from_utf8_lossy(&w.stdout);
            assert!(!text.contains("Warning"), "{name}: {text}");
        }
        // Other XMP of the exiftool-made fixture survives.
        let out = dir.path().join("out-bmff-xmp.heic");
        let o = Command::new(&exiftool)
            .args(["-s3", "-XMP-dc:Title"])
            .arg(&out)
            .output()
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), "Hello");
    }

    #[test]
    fn ds16_heif_interop_reads_exiftool_written_label() {
        let Some(exiftool) = tool("exiftool") else {
            return;
        };
        let dir = tempfile::tempdir().unwrap();
        for name in ["bmff-tiny.heic", "bmff-tiny.avif"] {
            let path = dir.path().join(name);
            std::fs::write(&path, fixture(name)).unwrap();
            let o = Command::new(&exiftool)
                .arg("-config")
                .arg(exiftool_config())
                .args(["-q", "-overwrite_original"])
                .arg(format!("-XMP-TC260:AIGC={SAMPLE_LABEL_2}"))
                .arg(&path)
                .output()
                .unwrap();
            assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
            let bytes = std::fs::read(&path).unwrap();
            assert_eq!(
                labels(&scan_bytes(&bytes)),
                vec![(SAMPLE_LABEL_2.to_string(), true)]
            );
            let relabelled = label(&bytes, SAMPLE_LABEL);
            assert_one_label(&relabelled, SAMPLE_LABEL);
            assert_eq!(digest(&bytes), digest(&relabelled));
        }
    }
}
