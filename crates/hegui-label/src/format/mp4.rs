//! MP4 / MOV / M4A (ISO BMFF and QuickTime): the label is a QuickTime metadata item.
//!
//! Placement (TC260-PG-20257A, labeling.md §5.2): `moov/udta/meta` with a `hdlr` of `mdta`, a
//! `keys` entry (namespace `mdta`, value `AIGC`) and the `ilst` item whose type is that key's
//! 1-based index, holding a `data` atom of type 1 (UTF-8) with the bare 7-key JSON. This is
//! byte for byte what `ffmpeg -metadata AIGC=<json> -movflags use_metadata_tags -c copy`
//! writes, so ffprobe shows `TAG:AIGC=<json>`.
//!
//! Key decisions:
//!
//! * **An existing mdta `meta` is edited in place**: the AIGC key is (re)appended, other keys and
//!   items survive and are renumbered when an old AIGC key is removed.
//! * **An iTunes-style `meta` (`hdlr` `mdir`, the one every ffmpeg and Apple M4A has) is left
//!   untouched and a second, mdta `meta` is added right after it in the same `udta`.** Converting
//!   the iTunes list to mdta would make Apple players lose title/artist/cover tags, and mixing
//!   `keys` into an `mdir` list is undefined. The mdta `meta` is placed *after* the `mdir` one
//!   because ffmpeg's reader switches into "keys" mode once it has seen an mdta handler; in this
//!   order it reads both lists (verified by the ffprobe interop tests) and exiftool reads both
//!   (its `-validate` lint reports "Duplicate tag 'meta'", a cosmetic warning). The alternative,
//!   Apple's place for mdta metadata (`moov/meta`), validates cleanly but is not the guide's
//!   `moov/udta/meta` and would fail C-MP4-1 for every ffmpeg-made file.
//! * Streaming: only `moov` is loaded (bounded by [`bmff::MAX_IN_MEMORY_BOX`]); `mdat` is copied
//!   with [`io::copy_n`]. When `moov` precedes `mdat` the growth shifts the media, so every
//!   `stco`/`co64`/`saio` offset is remapped (and, in fragmented files, explicit `tfhd`
//!   base_data_offset values and `mfra/tfra` moof offsets). When `moov` follows `mdat`, nothing
//!   before it moves.
//! * Variants read and migrated away on write (labeling.md C-MP4-3): `moov/meta` (Doubao iOS),
//!   keyless iTunes items `AIGC`/`©AIG`, free-form `----` items named AIGC, a bare `udta/AIGC`
//!   JSON atom (what AigcTotal looks for), and XMP in a `uuid`
//!   (BE7ACFCB-…) box or `udta/XMP_` (the AIGC property is removed, the rest of the packet is
//!   kept). A C2PA `uuid` box is copied verbatim.
//! * **In place** ([`label_in_place`]): a moov-last, unfragmented file is labelled without
//!   copying the media: the new `moov` (the same bytes [`write`] would produce) is appended and
//!   the old one retyped `free`, or, when it fits, written over the old one via a temporary copy
//!   at the end; every intermediate state is a valid file. A file with two `moov` boxes (what an
//!   interrupted in-place edit can leave) is read like players read it: the first counts, a
//!   label in a later one is reported as not canonical, and [`write`] drops the later ones.

use super::bmff::{self, BoxHeader, C2PA_NOTE, Child, OffsetMap, Rewrite, XMP_UUID};
use super::{FormatError, RawSite, ReadSeek, Scan, SitePayload, WriteSeek, io};
use std::io::{Seek, SeekFrom, Write};

/// The key name GB 45438 items use.
const KEY: &[u8] = b"AIGC";

/// `ilst` data type 1: UTF-8 text without a count or NUL.
const DATA_TYPE_UTF8: u32 = 1;

/// Finds every label site: the canonical mdta item and the variants listed in the module doc.
pub(crate) fn scan(src: &mut dyn ReadSeek) -> Result<Scan, FormatError> {
    src.seek(SeekFrom::Start(0))?;
    let total = io::len(src)?;
    let mut scan = Scan::default();
    let mut top = bmff::TopLevel::new(total);
    let (mut moovs, mut moofs, mut mdat_seen) = (0usize, 0usize, false);
    while let Some(h) = top.next_box(src)? {
        match &h.typ {
            b"moov" => {
                moovs += 1;
                if mdat_seen && moovs == 1 {
                    scan.notes.push("moov follows mdat (not fast-start)".into());
                }
                let buf = bmff::read_payload(src, &h, bmff::MAX_IN_MEMORY_BOX, "moov box")?;
                if moovs == 1 {
                    scan_moov(&buf, &mut scan)?;
                } else {
                    // Players read only the first moov (ffmpeg: "Found duplicated MOOV Atom.
                    // Skipped it"), so a label in a later one is reported but never canonical;
                    // the writer drops the later moov boxes.
                    let mut extra = Scan::default();
                    scan_moov(&buf, &mut extra)?;
                    for mut site in extra.sites {
                        site.canonical = false;
                        if let Some(rest) = site.location.strip_prefix("mp4:moov/") {
                            site.location = format!("mp4:moov#{moovs}/{rest}");
                        }
                        scan.sites.push(site);
                    }
                    scan.notes.extend(extra.notes);
                }
            }
            b"uuid" if h.uuid == Some(bmff::C2PA_UUID) => scan.notes.push(C2PA_NOTE.into()),
            b"uuid" if h.uuid == Some(XMP_UUID) => {
                let buf = bmff::read_payload(src, &h, super::MAX_SITE_BYTES, "XMP uuid box")?;
                push_xmp(&mut scan, "mp4:uuid:XMP", buf.get(16..).unwrap_or(&[]));
            }
            b"meta" => {
                let buf = bmff::read_payload(src, &h, super::MAX_SITE_BYTES, "meta box")?;
                scan_meta(&buf, "meta", false, &mut scan)?;
            }
            b"moof" => moofs += 1,
            b"mdat" => mdat_seen = true,
            _ => {}
        }
    }
    if moovs == 0 {
        scan.notes.push("no moov box".into());
    } else if moovs > 1 {
        scan.notes.push(format!(
            "{moovs} moov boxes: players read only the first, a label in a later one is not \
             canonical (an interrupted in-place label leaves two; relabelling removes the later)"
        ));
    }
    if moofs > 0 {
        scan.notes.push(format!("fragmented ({moofs} moof boxes)"));
    }
    if top.trailing > 0 {
        scan.notes
            .push(format!("{} stray bytes after the last box", top.trailing));
    }
    Ok(scan)
}

/// Copies `src` to `dst` with exactly one label: the mdta item in `moov/udta/meta`.
pub(crate) fn write(
    src: &mut dyn ReadSeek,
    dst: &mut dyn WriteSeek,
    label_json: &str,
) -> Result<(), FormatError> {
    src.seek(SeekFrom::Start(0))?;
    let total = io::len(src)?;

    // Pass 1: headers only; load the boxes we rewrite.
    let mut top = bmff::TopLevel::new(total);
    let mut moov: Option<BoxHeader> = None;
    let mut replacements: Vec<(BoxHeader, Vec<u8>)> = Vec::new();
    while let Some(h) = top.next_box(src)? {
        match &h.typ {
            b"moov" => {
                if moov.is_some() {
                    // Players use the first moov and ignore the rest; a later one is left by an
                    // interrupted in-place label (see [`label_in_place`]). Drop it.
                    replacements.push((h, Vec::new()));
                } else {
                    moov = Some(h);
                }
            }
            b"uuid" if h.uuid == Some(XMP_UUID) => {
                let buf = bmff::read_payload(src, &h, super::MAX_SITE_BYTES, "XMP uuid box")?;
                if let Some(new) = strip_xmp_payload(buf.get(16..).unwrap_or(&[]), "uuid XMP")? {
                    let mut payload = XMP_UUID.to_vec();
                    payload.extend_from_slice(&new);
                    replacements.push((h, bmff::make_box(*b"uuid", &payload)));
                }
            }
            b"meta" => {
                let buf = bmff::read_payload(src, &h, super::MAX_SITE_BYTES, "meta box")?;
                match edit_meta(&buf, Edit::Remove)? {
                    Edited::Same => {}
                    Edited::New(p) => replacements.push((h, bmff::make_box(*b"meta", &p))),
                    Edited::Drop => replacements.push((h, Vec::new())),
                }
            }
            _ => {}
        }
    }
    let moov =
        moov.ok_or_else(|| FormatError::malformed("no moov box (not a playable MP4/MOV)"))?;
    let moov_payload = bmff::read_payload(src, &moov, bmff::MAX_IN_MEMORY_BOX, "moov box")?;
    let mut new_moov = edit_moov(&moov_payload, label_json)?;

    let mut map = OffsetMap::default();
    for (h, bytes) in &replacements {
        map.replace(h.start, h.end(), bytes.len() as u64);
    }
    map.replace(
        moov.start,
        moov.end(),
        bmff::boxed_len(new_moov.len() as u64),
    );
    bmff::patch_moov_offsets(&mut new_moov, &map)?;
    replacements.push((moov, bmff::make_box(*b"moov", &new_moov)));

    // Pass 2: stream everything, mdat byte for byte.
    src.seek(SeekFrom::Start(0))?;
    bmff::stream_rewrite(
        src,
        dst,
        total,
        &Rewrite {
            replacements: &replacements,
            map: &map,
            patches: &[],
            appending: false,
        },
    )?;
    dst.flush()?;
    Ok(())
}

/// Feeds the content selection to `sink`: the payload bytes (headers excluded) of every
/// top-level `mdat` box, in file order. Labelling only rewrites `moov` and metadata boxes, so
/// this is identical for the input and every labelled output.
pub(crate) fn content_digest(
    src: &mut dyn ReadSeek,
    sink: &mut dyn Write,
) -> Result<(), FormatError> {
    src.seek(SeekFrom::Start(0))?;
    let total = io::len(src)?;
    let mut top = bmff::TopLevel::new(total);
    while let Some(h) = top.next_box(src)? {
        if &h.typ == b"mdat" {
            src.seek(SeekFrom::Start(h.payload_start()))?;
            io::copy_n(src, sink, h.payload_len(), "mdat box")?;
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Reading

fn scan_moov(buf: &[u8], scan: &mut Scan) -> Result<(), FormatError> {
    let (kids, _) = bmff::children(buf)?;
    for k in kids {
        match &k.typ {
            b"udta" => scan_udta(k.payload(buf), scan)?,
            b"meta" => scan_meta(k.payload(buf), "moov/meta", false, scan)?,
            b"uuid" if k.uuid(buf) == Some(XMP_UUID) => {
                push_xmp(
                    scan,
                    "mp4:moov/uuid:XMP",
                    k.payload(buf).get(16..).unwrap_or(&[]),
                );
            }
            b"cmov" => scan
                .notes
                .push("compressed moov (cmov): metadata not readable".into()),
            _ => {}
        }
    }
    Ok(())
}

fn scan_udta(buf: &[u8], scan: &mut Scan) -> Result<(), FormatError> {
    let (kids, _) = bmff::children(buf)?;
    let mut mdta_metas = 0usize;
    for k in kids {
        match &k.typ {
            b"meta" => {
                let m = Meta::parse(k.payload(buf))?;
                if m.handler == Some(*b"mdta") {
                    mdta_metas += 1;
                }
                scan_parsed_meta(&m, "moov/udta/meta", true, scan);
            }
            b"XMP_" => push_xmp(scan, "mp4:moov/udta/XMP_", k.payload(buf)),
            // A bare JSON atom named AIGC in udta (read by AigcTotal; seen as a variant).
            t if t.eq_ignore_ascii_case(KEY) => scan.sites.push(RawSite {
                location: format!("mp4:moov/udta/{}", bmff::fourcc(t)),
                canonical: false,
                payload: SitePayload::Json(String::from_utf8_lossy(k.payload(buf)).into_owned()),
            }),
            b"uuid" if k.uuid(buf) == Some(XMP_UUID) => {
                push_xmp(
                    scan,
                    "mp4:moov/udta/uuid:XMP",
                    k.payload(buf).get(16..).unwrap_or(&[]),
                );
            }
            _ => {}
        }
    }
    if mdta_metas > 1 {
        scan.notes
            .push(format!("{mdta_metas} mdta meta boxes in moov/udta"));
    }
    Ok(())
}

fn scan_meta(buf: &[u8], path: &str, in_udta: bool, scan: &mut Scan) -> Result<(), FormatError> {
    let m = Meta::parse(buf)?;
    scan_parsed_meta(&m, path, in_udta, scan);
    Ok(())
}

fn scan_parsed_meta(m: &Meta<'_>, path: &str, in_udta: bool, scan: &mut Scan) {
    for item in &m.items {
        let kind = m.classify(item);
        let (location, canonical_site) = match &kind {
            ItemKind::Keyed { index } => {
                let Some((ns, value)) = m.key(*index) else {
                    continue;
                };
                if !value.eq_ignore_ascii_case(KEY) {
                    continue;
                }
                let canonical =
                    in_udta && m.handler == Some(*b"mdta") && &ns == b"mdta" && value == KEY;
                (
                    format!("mp4:{path}/keys:{}", String::from_utf8_lossy(value)),
                    canonical,
                )
            }
            ItemKind::FourCcLabel => (
                format!("mp4:{path}/ilst/{}", bmff::fourcc(&item.typ)),
                false,
            ),
            ItemKind::FreeformLabel { mean } => (
                format!(
                    "mp4:{path}/ilst/----:{}:AIGC",
                    String::from_utf8_lossy(mean)
                ),
                false,
            ),
            ItemKind::Other => continue,
        };
        let datas = item_datas(item.body);
        if datas.is_empty() {
            scan.notes
                .push(format!("{location}: item without a data atom"));
        }
        for (data_type, value) in datas {
            let text = decode_data(data_type, value);
            if data_type != DATA_TYPE_UTF8 {
                scan.notes.push(format!(
                    "{location}: data atom type {data_type} (expected 1, UTF-8)"
                ));
            }
            scan.sites.push(RawSite {
                location: location.clone(),
                canonical: canonical_site && data_type == DATA_TYPE_UTF8,
                payload: SitePayload::Json(text),
            });
        }
    }
}

fn push_xmp(scan: &mut Scan, location: &str, bytes: &[u8]) {
    let text = String::from_utf8_lossy(bytes);
    let packet = text.trim_end_matches('\0').to_string();
    scan.sites.push(RawSite {
        location: location.into(),
        canonical: false,
        payload: SitePayload::Xmp(packet),
    });
}

/// The `(type, value)` of every `data` atom in an `ilst` item.
fn item_datas(body: &[u8]) -> Vec<(u32, &[u8])> {
    let Ok((kids, _)) = bmff::children(body) else {
        return Vec::new();
    };
    kids.iter()
        .filter(|k| &k.typ == b"data")
        .filter_map(|k| {
            let p = k.payload(body);
            let ty = bmff::be_u32(p, 0).ok()? & 0x00FF_FFFF;
            Some((ty, p.get(8..)?))
        })
        .collect()
}

fn decode_data(data_type: u32, value: &[u8]) -> String {
    if data_type == 2 {
        // UTF-16 BE
        let units: Vec<u16> = value
            .chunks_exact(2)
            .map(|c| u16::from_be_bytes([c[0], c[1]]))
            .collect();
        return String::from_utf16_lossy(&units);
    }
    String::from_utf8_lossy(value).into_owned()
}

/// A `keys` entry: namespace and key value.
type KeyEntry<'a> = ([u8; 4], &'a [u8]);

/// A `keys` box: version/flags and entries.
type Keys<'a> = ([u8; 4], Vec<KeyEntry<'a>>);

/// A parsed `meta` box (ISO full box, or QuickTime's plain box without version/flags).
struct Meta<'a> {
    buf: &'a [u8],
    /// Length of the version/flags prefix: 4 (ISO/ffmpeg) or 0 (QuickTime).
    prefix: usize,
    kids: Vec<Child>,
    trailing: usize,
    handler: Option<[u8; 4]>,
    /// The `keys` version/flags and entries `(namespace, value)`.
    keys: Option<Keys<'a>>,
    items: Vec<Item<'a>>,
}

/// One `ilst` child.
struct Item<'a> {
    typ: [u8; 4],
    whole: &'a [u8],
    body: &'a [u8],
}

enum ItemKind<'a> {
    /// Type is a 1-based index into `keys`.
    Keyed {
        index: u32,
    },
    /// iTunes-style item whose type names AIGC.
    FourCcLabel,
    /// Free-form `----` item whose name is AIGC.
    FreeformLabel {
        mean: &'a [u8],
    },
    Other,
}

impl<'a> Meta<'a> {
    fn parse(buf: &'a [u8]) -> Result<Self, FormatError> {
        // QuickTime's `meta` has no version/flags: its first child (hdlr) starts at once.
        let quicktime = buf.get(4..8) == Some(b"hdlr")
            && bmff::be_u32(buf, 0).is_ok_and(|n| n >= 8 && n as usize <= buf.len());
        let prefix = if quicktime { 0 } else { 4 };
        let body = buf
            .get(prefix..)
            .ok_or(FormatError::Truncated("meta box"))?;
        let (mut kids, trailing) = bmff::children(body)?;
        for k in &mut kids {
            k.start += prefix;
            k.body += prefix;
            k.end += prefix;
        }
        let mut meta = Meta {
            buf,
            prefix,
            kids,
            trailing: trailing + prefix,
            handler: None,
            keys: None,
            items: Vec::new(),
        };
        for k in meta.kids.clone() {
            let p = k.payload(buf);
            match &k.typ {
                b"hdlr" if meta.handler.is_none() => {
                    meta.handler = Some(bmff::fourcc_at(p, 8)?);
                }
                b"keys" if meta.keys.is_none() => {
                    meta.keys = Some(parse_keys(p)?);
                }
                b"ilst" if meta.items.is_empty() => {
                    let (items, _) = bmff::children(p)?;
                    meta.items = items
                        .iter()
                        .map(|i| Item {
                            typ: i.typ,
                            whole: i.whole(p),
                            body: i.payload(p),
                        })
                        .collect();
                }
                _ => {}
            }
        }
        Ok(meta)
    }

    fn key(&self, index: u32) -> Option<([u8; 4], &'a [u8])> {
        let (_, entries) = self.keys.as_ref()?;
        let i = usize::try_from(index).ok()?.checked_sub(1)?;
        entries.get(i).copied()
    }

    fn key_count(&self) -> usize {
        self.keys.as_ref().map_or(0, |(_, e)| e.len())
    }

    fn classify(&self, item: &Item<'a>) -> ItemKind<'a> {
        let index = u32::from_be_bytes(item.typ);
        if self.keys.is_some() && index >= 1 && (index as usize) <= self.key_count() {
            return ItemKind::Keyed { index };
        }
        if &item.typ == b"----" {
            if let Some(mean) = freeform_label_mean(item.body) {
                return ItemKind::FreeformLabel { mean };
            }
            return ItemKind::Other;
        }
        let name = &item.typ[..];
        if name.eq_ignore_ascii_case(KEY) || name == b"\xA9AIG" {
            return ItemKind::FourCcLabel;
        }
        ItemKind::Other
    }

    fn is_label(&self, item: &Item<'a>) -> bool {
        match self.classify(item) {
            ItemKind::Keyed { index } => self
                .key(index)
                .is_some_and(|(_, v)| v.eq_ignore_ascii_case(KEY)),
            ItemKind::FourCcLabel | ItemKind::FreeformLabel { .. } => true,
            ItemKind::Other => false,
        }
    }
}

fn parse_keys(p: &[u8]) -> Result<Keys<'_>, FormatError> {
    let mut c = bmff::Cursor::new(p);
    let vf = c.bytes(4)?;
    let count = c.u32()?;
    let mut entries = Vec::new();
    for _ in 0..count {
        if c.remaining() == 0 {
            break;
        }
        let size = c.u32()? as usize;
        let ns = c.bytes(4)?;
        let value = c.bytes(size.checked_sub(8).ok_or_else(|| {
            FormatError::malformed(format!("keys entry size {size} is smaller than 8"))
        })?)?;
        entries.push(([ns[0], ns[1], ns[2], ns[3]], value));
    }
    if entries.len() as u64 != u64::from(count) {
        return Err(FormatError::Truncated("keys box"));
    }
    Ok(([vf[0], vf[1], vf[2], vf[3]], entries))
}

/// The `mean` of a `----` item whose `name` is AIGC.
fn freeform_label_mean(body: &[u8]) -> Option<&[u8]> {
    let (kids, _) = bmff::children(body).ok()?;
    let field = |t: &[u8; 4]| {
        kids.iter()
            .find(|k| &k.typ == t)
            .and_then(|k| k.payload(body).get(4..))
    };
    let name = field(b"name")?;
    name.eq_ignore_ascii_case(KEY)
        .then(|| field(b"mean").unwrap_or(&[]))
}

// ---------------------------------------------------------------------------------------------
// Writing

#[derive(Clone, Copy)]
enum Edit<'a> {
    /// Make this meta hold the label (it must be an mdta meta).
    Set(&'a str),
    /// Remove every label item from this meta.
    Remove,
}

enum Edited {
    Same,
    New(Vec<u8>),
    Drop,
}

/// The new `moov` payload: the label set in `udta`, every other site removed.
fn edit_moov(buf: &[u8], label: &str) -> Result<Vec<u8>, FormatError> {
    let (kids, trailing) = bmff::children(buf)?;
    let mut out = Vec::with_capacity(buf.len() + label.len() + 512);
    let mut placed = false;
    for k in &kids {
        match &k.typ {
            b"cmov" => {
                return Err(FormatError::Unsupported(
                    "compressed QuickTime movie header (cmov)".into(),
                ));
            }
            b"udta" => {
                let set = if placed { None } else { Some(label) };
                placed = true;
                bmff::push_box(&mut out, *b"udta", &edit_udta(k.payload(buf), set)?);
            }
            b"meta" => match edit_meta(k.payload(buf), Edit::Remove)? {
                Edited::Same => k.copy_to(buf, &mut out),
                Edited::New(p) => bmff::push_box(&mut out, *b"meta", &p),
                Edited::Drop => {}
            },
            b"uuid" if k.uuid(buf) == Some(XMP_UUID) => push_stripped_uuid(buf, k, &mut out)?,
            _ => k.copy_to(buf, &mut out),
        }
    }
    if !placed {
        bmff::push_box(&mut out, *b"udta", &new_mdta_meta_box(label));
    }
    out.extend_from_slice(buf.get(trailing..).unwrap_or(&[]));
    Ok(out)
}

/// The new `udta` payload. With `label`, the first mdta `meta` gets it (or a new mdta `meta`
/// is added after the last existing `meta`); every other label item and XMP label is removed.
fn edit_udta(buf: &[u8], label: Option<&str>) -> Result<Vec<u8>, FormatError> {
    let (kids, trailing) = bmff::children(buf)?;
    let mut target = None;
    let mut last_meta = None;
    for (i, k) in kids.iter().enumerate() {
        if &k.typ == b"meta" {
            last_meta = Some(i);
            if target.is_none() && Meta::parse(k.payload(buf))?.handler == Some(*b"mdta") {
                target = Some(i);
            }
        }
    }
    let mut out = Vec::with_capacity(buf.len() + 512);
    let insert_after = match (label, target) {
        (Some(_), None) => last_meta,
        _ => None,
    };
    for (i, k) in kids.iter().enumerate() {
        match &k.typ {
            b"meta" => {
                let edit = match (label, target == Some(i)) {
                    (Some(l), true) => Edit::Set(l),
                    _ => Edit::Remove,
                };
                match edit_meta(k.payload(buf), edit)? {
                    Edited::Same => k.copy_to(buf, &mut out),
                    Edited::New(p) => bmff::push_box(&mut out, *b"meta", &p),
                    Edited::Drop => {}
                }
            }
            t if t.eq_ignore_ascii_case(KEY) => {}
            b"XMP_" => match strip_xmp_payload(k.payload(buf), "udta/XMP_")? {
                Some(p) => bmff::push_box(&mut out, *b"XMP_", &p),
                None => k.copy_to(buf, &mut out),
            },
            b"uuid" if k.uuid(buf) == Some(XMP_UUID) => push_stripped_uuid(buf, k, &mut out)?,
            _ => k.copy_to(buf, &mut out),
        }
        if insert_after == Some(i)
            && let Some(l) = label
        {
            out.extend_from_slice(&new_mdta_meta_box(l));
        }
    }
    if let (Some(l), None, None) = (label, target, last_meta) {
        out.extend_from_slice(&new_mdta_meta_box(l));
    }
    // QuickTime may end a udta list with a 32-bit zero; it stays last.
    out.extend_from_slice(buf.get(trailing..).unwrap_or(&[]));
    Ok(out)
}

fn push_stripped_uuid(buf: &[u8], k: &Child, out: &mut Vec<u8>) -> Result<(), FormatError> {
    let p = k.payload(buf);
    match strip_xmp_payload(p.get(16..).unwrap_or(&[]), "uuid XMP")? {
        Some(new) => {
            let mut payload = XMP_UUID.to_vec();
            payload.extend_from_slice(&new);
            bmff::push_box(out, *b"uuid", &payload);
        }
        None => k.copy_to(buf, out),
    }
    Ok(())
}

/// The packet with its AIGC properties removed, or `None` when it holds none.
fn strip_xmp_payload(bytes: &[u8], what: &str) -> Result<Option<Vec<u8>>, FormatError> {
    let Ok(text) = std::str::from_utf8(bytes) else {
        if bytes.windows(4).any(|w| w == KEY) {
            return Err(FormatError::Unsupported(format!(
                "{what} XMP packet mentions AIGC but is not UTF-8; cannot migrate it"
            )));
        }
        return Ok(None);
    };
    // Some writers NUL-terminate the packet; keep the terminator.
    let body = text.trim_end_matches('\0');
    let tail = &text[body.len()..];
    Ok(bmff::strip_xmp_labels(body)?.map(|s| {
        let mut v = s.into_bytes();
        v.extend_from_slice(tail.as_bytes());
        v
    }))
}

/// A `meta` box exactly as ffmpeg's `use_metadata_tags` writes it, holding only the label.
fn new_mdta_meta_box(label: &str) -> Vec<u8> {
    let mut payload = vec![0u8; 4]; // version/flags (ISO full box, as ffmpeg writes)
    payload.extend_from_slice(&mdta_hdlr());
    payload.extend_from_slice(&keys_box([0; 4], &[(*b"mdta", KEY)]));
    let mut ilst = Vec::new();
    push_label_item(&mut ilst, 1, label);
    bmff::push_box(&mut payload, *b"ilst", &ilst);
    bmff::make_box(*b"meta", &payload)
}

/// ffmpeg's 33-byte `hdlr` for mdta metadata.
fn mdta_hdlr() -> Vec<u8> {
    let mut p = Vec::with_capacity(25);
    p.extend_from_slice(&[0; 8]); // version/flags, pre_defined
    p.extend_from_slice(b"mdta");
    p.extend_from_slice(&[0; 12]); // reserved
    p.push(0); // empty name
    bmff::make_box(*b"hdlr", &p)
}

fn keys_box(vf: [u8; 4], entries: &[([u8; 4], &[u8])]) -> Vec<u8> {
    let mut p = vf.to_vec();
    p.extend_from_slice(&(entries.len() as u32).to_be_bytes());
    for (ns, value) in entries {
        p.extend_from_slice(&(value.len() as u32 + 8).to_be_bytes());
        p.extend_from_slice(ns);
        p.extend_from_slice(value);
    }
    bmff::make_box(*b"keys", &p)
}

fn push_label_item(ilst: &mut Vec<u8>, index: u32, label: &str) {
    let mut data = Vec::with_capacity(label.len() + 8);
    data.extend_from_slice(&DATA_TYPE_UTF8.to_be_bytes());
    data.extend_from_slice(&0u32.to_be_bytes()); // locale: default
    data.extend_from_slice(label.as_bytes());
    let item = bmff::make_box(*b"data", &data);
    bmff::push_box(ilst, index.to_be_bytes(), &item);
}

/// Removes every label item from a `meta` payload and, for [`Edit::Set`], appends the AIGC key
/// and its item. Other keys keep their order; items are renumbered to match.
fn edit_meta(buf: &[u8], edit: Edit<'_>) -> Result<Edited, FormatError> {
    let m = Meta::parse(buf)?;
    let has_label = m.items.iter().any(|i| m.is_label(i))
        || m.keys
            .as_ref()
            .is_some_and(|(_, e)| e.iter().any(|(_, v)| v.eq_ignore_ascii_case(KEY)));
    if matches!(edit, Edit::Remove) && !has_label {
        return Ok(Edited::Same);
    }
    if matches!(edit, Edit::Set(_)) && m.handler != Some(*b"mdta") {
        return Err(FormatError::malformed(
            "label target meta is not an mdta meta",
        ));
    }

    // New key list without AIGC keys, and old index -> new index.
    let old_keys: &[([u8; 4], &[u8])] = m.keys.as_ref().map_or(&[], |(_, e)| e.as_slice());
    let mut new_keys: Vec<([u8; 4], &[u8])> = Vec::with_capacity(old_keys.len() + 1);
    let mut renumber: Vec<Option<u32>> = Vec::with_capacity(old_keys.len());
    for &(ns, v) in old_keys {
        if v.eq_ignore_ascii_case(KEY) {
            renumber.push(None);
        } else {
            new_keys.push((ns, v));
            renumber.push(Some(new_keys.len() as u32));
        }
    }
    let label_index = match edit {
        Edit::Set(_) => {
            new_keys.push((*b"mdta", KEY));
            Some(new_keys.len() as u32)
        }
        Edit::Remove => None,
    };

    let mut ilst = Vec::new();
    let mut kept_items = 0usize;
    for item in &m.items {
        if m.is_label(item) {
            continue;
        }
        match m.classify(item) {
            ItemKind::Keyed { index } => {
                let new_index = usize::try_from(index)
                    .ok()
                    .and_then(|i| i.checked_sub(1))
                    .and_then(|i| renumber.get(i).copied().flatten());
                if let Some(n) = new_index {
                    bmff::push_box(&mut ilst, n.to_be_bytes(), item.body);
                    kept_items += 1;
                }
            }
            _ => {
                // An index beyond the key table is already unreadable; drop it only if it would
                // now collide with the label's index.
                if label_index.is_some_and(|l| l.to_be_bytes() == item.typ) {
                    continue;
                }
                ilst.extend_from_slice(item.whole);
                kept_items += 1;
            }
        }
    }
    if let (Edit::Set(label), Some(index)) = (edit, label_index) {
        push_label_item(&mut ilst, index, label);
    }

    let only_list_boxes = m
        .kids
        .iter()
        .all(|k| matches!(&k.typ, b"hdlr" | b"keys" | b"ilst" | b"free"));
    if matches!(edit, Edit::Remove) && kept_items == 0 && new_keys.is_empty() && only_list_boxes {
        return Ok(Edited::Drop);
    }

    let mut out = Vec::with_capacity(buf.len() + 256);
    out.extend_from_slice(buf.get(..m.prefix).unwrap_or(&[]));
    let (mut wrote_keys, mut wrote_ilst) = (false, false);
    let keys_vf = m.keys.as_ref().map_or([0; 4], |(vf, _)| *vf);
    let emit_keys = |out: &mut Vec<u8>| {
        if !new_keys.is_empty() || m.keys.is_some() {
            out.extend_from_slice(&keys_box(keys_vf, &new_keys));
        }
    };
    for k in &m.kids {
        match &k.typ {
            b"keys" if !wrote_keys => {
                emit_keys(&mut out);
                wrote_keys = true;
            }
            b"keys" => {}
            b"ilst" if !wrote_ilst => {
                if !wrote_keys {
                    emit_keys(&mut out);
                    wrote_keys = true;
                }
                bmff::push_box(&mut out, *b"ilst", &ilst);
                wrote_ilst = true;
            }
            b"ilst" => {}
            _ => k.copy_to(m.buf, &mut out),
        }
        if &k.typ == b"hdlr" && !wrote_keys && m.keys.is_none() && label_index.is_some() {
            emit_keys(&mut out);
            wrote_keys = true;
        }
    }
    if !wrote_keys {
        emit_keys(&mut out);
    }
    if !wrote_ilst && !ilst.is_empty() {
        bmff::push_box(&mut out, *b"ilst", &ilst);
    }
    out.extend_from_slice(m.buf.get(m.trailing..).unwrap_or(&[]));
    Ok(Edited::New(out))
}

// ---------------------------------------------------------------------------------------------
// In-place labelling (moov-last files)

/// What [`label_in_place`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum InPlace {
    /// The file now carries the label; `old_len` is its length before the edit.
    Done {
        /// The file length before labelling.
        old_len: u64,
    },
    /// The file was not touched; the full rewrite ([`write`]) is needed, for the reason given.
    NotApplicable(String),
}

/// Labels a moov-last MP4/MOV/M4A in place, without copying the media: O(`moov`) reads and
/// writes however large `mdat` is.
///
/// Applicable when the file has exactly one top-level `moov`, no `moof`, no `mdat` after the
/// `moov`, nothing after the `moov` but `free`/`skip` boxes (with explicit sizes), no stray
/// trailing bytes, no label site outside `moov` (top-level XMP `uuid` or `meta`) and no chunk
/// offset pointing at or past the `moov`. Then the new `moov` is exactly what [`write`] would
/// produce (same edit, including variant migration inside `moov`), and no sample moves.
/// Otherwise returns [`InPlace::NotApplicable`] without touching the file.
///
/// The edit is a sequence of small steps, each followed by `sync_data`, such that the file is a
/// valid, playable file that loses nothing after every step (assuming a 4-byte write within a
/// sector is not torn, the same assumption as any header flip):
///
/// * **Append** (the general case): grow the file by the new `moov`'s length (zeros: a
///   size-0, type-0 box, which readers skip), write the new `moov` there typed `free`, retype it
///   `moov` (now two `moov` boxes: players use the first, the original), retype the old one
///   `free` (the commit: its size stays, so its bytes become padding), then zero that padding so
///   no stale label text lingers.
/// * **Overwrite** (the new `moov` fits the old one's space plus the `free` boxes right after
///   it, exactly or with room for an 8-byte `free` header): the same first three steps give a
///   second, live copy at the end; then the old `moov` is retyped `free` and merged with the
///   following `free` boxes, the new `moov` body and the leftover `free` header are written
///   inside that dead space, the region's size and then its type are flipped to make it the
///   `moov` (two identical `moov` boxes), and the copy at the end is cut off. The file keeps its
///   length, so relabelling with a label of the same length does not grow it.
///
/// `file` must be open for reading and writing, not in append mode (writes go to offsets).
///
/// On any error the steps done so far are undone in reverse order (each undo also synced, so a
/// crash during the rollback leaves one of the same valid states) and the file is restored byte
/// for byte before the error is returned.
pub(crate) fn label_in_place(
    file: &mut std::fs::File,
    label_json: &str,
) -> Result<InPlace, FormatError> {
    label_in_place_with(file, label_json, Hook::None)
}

/// Test hooks for [`label_in_place`]: stop as if power were lost after a step, or fail a step
/// half-way through to exercise the rollback.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(not(test), allow(dead_code))]
enum Hook {
    None,
    CrashAfter(usize),
    FailAt(usize),
}

/// One durable step of an in-place edit.
#[derive(Debug)]
enum Op {
    /// Grow the file to this length (the new bytes read as zeros). Undone by cutting the file
    /// back to its old length.
    Extend(u64),
    /// Write `new` at `at`; undone by writing `old` back (`None`: the range is in the
    /// extension, which the undo of [`Op::Extend`] removes).
    Write {
        at: u64,
        new: Vec<u8>,
        old: Option<Vec<u8>>,
    },
    /// Cut the file to this length (removes the temporary copy). Undone by redoing the first
    /// `redo` steps (extend, write the copy, retype it `moov`) so that a live `moov` exists
    /// again before the earlier steps are undone.
    Truncate { len: u64, redo: usize },
}

/// The steps of an in-place edit and the file length before it.
struct Plan {
    old_len: u64,
    ops: Vec<Op>,
}

fn label_in_place_with(
    file: &mut std::fs::File,
    label_json: &str,
    hook: Hook,
) -> Result<InPlace, FormatError> {
    match plan_in_place(file, label_json)? {
        Err(reason) => Ok(InPlace::NotApplicable(reason)),
        Ok(plan) => run_plan(file, &plan, hook),
    }
}

/// Checks applicability and builds the steps, reading only box headers, the `moov` and the
/// few bytes the steps overwrite.
fn plan_in_place(
    file: &mut std::fs::File,
    label_json: &str,
) -> Result<Result<Plan, String>, FormatError> {
    let old_len = file.metadata()?.len();
    file.seek(SeekFrom::Start(0))?;
    let mut top = bmff::TopLevel::new(old_len);
    let mut moov: Option<BoxHeader> = None;
    let mut after: Vec<BoxHeader> = Vec::new();
    while let Some(h) = top.next_box(file)? {
        match &h.typ {
            b"moof" => return Ok(Err("fragmented file (moof boxes)".into())),
            b"moov" if moov.is_some() => return Ok(Err("more than one moov box".into())),
            b"moov" => {
                moov = Some(h);
                continue;
            }
            b"mdat" if moov.is_some() => {
                return Ok(Err("an mdat follows the moov".into()));
            }
            b"uuid" if h.uuid == Some(XMP_UUID) => {
                let buf = bmff::read_payload(file, &h, super::MAX_SITE_BYTES, "XMP uuid box")?;
                if strip_xmp_payload(buf.get(16..).unwrap_or(&[]), "uuid XMP")?.is_some() {
                    return Ok(Err(
                        "a top-level XMP uuid box holds a label to migrate".into()
                    ));
                }
            }
            b"meta" => {
                let buf = bmff::read_payload(file, &h, super::MAX_SITE_BYTES, "meta box")?;
                if !matches!(edit_meta(&buf, Edit::Remove)?, Edited::Same) {
                    return Ok(Err("a top-level meta box holds a label to migrate".into()));
                }
            }
            _ => {}
        }
        if moov.is_some() {
            after.push(h);
        }
    }
    let moov =
        moov.ok_or_else(|| FormatError::malformed("no moov box (not a playable MP4/MOV)"))?;
    if top.trailing > 0 {
        return Ok(Err(format!(
            "{} stray bytes after the last box",
            top.trailing
        )));
    }
    if moov.to_eof {
        return Ok(Err(
            "the moov box has size 0 (runs to the end of the file)".into()
        ));
    }
    if let Some(h) = after
        .iter()
        .find(|h| !matches!(&h.typ, b"free" | b"skip") || h.to_eof)
    {
        return Ok(Err(format!(
            "a '{}' box{} follows the moov",
            bmff::fourcc(&h.typ),
            if h.to_eof { " of size 0" } else { "" }
        )));
    }

    let payload = bmff::read_payload(file, &moov, bmff::MAX_IN_MEMORY_BOX, "moov box")?;
    let mut new_payload = edit_moov(&payload, label_json)?;
    // Nothing moves, but the old moov's bytes (and, when overwriting, the free space after it)
    // change: refuse if any sample offset points there. A map that has no image for offsets at
    // or past the moov makes the offset patcher report exactly that (and changes nothing else).
    let mut guard = OffsetMap::default();
    guard.replace(moov.start, u64::MAX, 0);
    if let Err(e) = bmff::patch_moov_offsets(&mut new_payload, &guard) {
        return Ok(Err(format!(
            "the moov's offsets cannot stay as they are: {e}"
        )));
    }
    // The new moov's size field (8-byte header: at most 64 MiB of input plus the label).
    let n = new_payload.len() as u64 + 8;
    if n > u64::from(u32::MAX) {
        return Ok(Err("the new moov does not fit a 32-bit box size".into()));
    }
    let body = new_payload.as_slice();
    let (s, t) = (moov.start, old_len);
    let tail_len = t
        .checked_add(n)
        .ok_or_else(|| FormatError::malformed("file length overflows"))?;
    let u32_be = |v: u64| u32::try_from(v).unwrap_or(0).to_be_bytes().to_vec();

    // The region the new moov may overwrite: the old moov and the free boxes right after it,
    // as long as the merged free box still has a 32-bit size.
    let mut region_end = moov.end();
    for h in &after {
        if h.start == region_end && h.end() - s <= u64::from(u32::MAX) {
            region_end = h.end();
        } else {
            break;
        }
    }
    let r = region_end - s;
    let overwrite =
        moov.header_len == 8 && moov.size <= u64::from(u32::MAX) && (r == n || r >= n + 8);

    // Steps 1-3 (both ways): a second, complete moov at the end of the file.
    let mut tail = u32_be(n);
    tail.extend_from_slice(b"free");
    tail.extend_from_slice(body);
    let mut ops = vec![
        Op::Extend(tail_len),
        Op::Write {
            at: t,
            new: tail,
            old: None,
        },
        Op::Write {
            at: t + 4,
            new: b"moov".to_vec(),
            old: Some(b"free".to_vec()),
        },
        // The commit: the old moov becomes padding; the one at the end is now the only moov.
        Op::Write {
            at: s + 4,
            new: b"free".to_vec(),
            old: Some(b"moov".to_vec()),
        },
    ];
    if !overwrite {
        // Zero the old moov's bytes so no stale label lingers in the padding.
        let at = moov.payload_start();
        ops.push(Op::Write {
            at,
            new: vec![0; payload.len()],
            old: Some(payload),
        });
        return Ok(Ok(Plan { old_len, ops }));
    }

    // Merge the dead moov with the free boxes after it into one free box.
    if r != moov.size {
        ops.push(Op::Write {
            at: s,
            new: u32_be(r),
            old: Some(u32_be(moov.size)),
        });
    }
    // Inside that free box: the new moov's body, the leftover's free header, zeros over the
    // rest of the old moov.
    let rem = r - n;
    let mut inner = body.to_vec();
    if rem > 0 {
        inner.extend_from_slice(&u32_be(rem));
        inner.extend_from_slice(b"free");
        let zeros_to = moov.end().max(s + n + 8);
        inner.resize(usize::try_from(zeros_to - s - 8).unwrap_or(0), 0);
    }
    let mut old = vec![0u8; inner.len()];
    file.seek(SeekFrom::Start(s + 8))?;
    io::read_exact(file, &mut old, "free space after the moov")?;
    ops.push(Op::Write {
        at: s + 8,
        new: inner,
        old: Some(old),
    });
    // Shrink the free box to the new moov's size (the leftover header is already in place),
    // then make it the moov: now two identical moov boxes.
    if rem > 0 {
        ops.push(Op::Write {
            at: s,
            new: u32_be(n),
            old: Some(u32_be(r)),
        });
    }
    ops.push(Op::Write {
        at: s + 4,
        new: b"moov".to_vec(),
        old: Some(b"free".to_vec()),
    });
    ops.push(Op::Truncate { len: t, redo: 3 });
    Ok(Ok(Plan { old_len, ops }))
}

/// Runs the steps, syncing after each; on an error undoes what was done and returns it.
fn run_plan(file: &mut std::fs::File, plan: &Plan, hook: Hook) -> Result<InPlace, FormatError> {
    for (i, op) in plan.ops.iter().enumerate() {
        let fail = hook == Hook::FailAt(i);
        let step = apply_op(file, op, fail).and_then(|()| file.sync_data());
        if let Err(e) = step {
            return Err(match rollback(file, plan, i) {
                Ok(()) => FormatError::Io(e),
                Err(re) => FormatError::Io(std::io::Error::new(
                    e.kind(),
                    format!("{e}; restoring the file also failed: {re}"),
                )),
            });
        }
        if hook == Hook::CrashAfter(i) {
            break;
        }
    }
    Ok(InPlace::Done {
        old_len: plan.old_len,
    })
}

fn apply_op(file: &mut std::fs::File, op: &Op, fail: bool) -> std::io::Result<()> {
    let injected = || std::io::Error::other("injected failure (test)");
    match op {
        Op::Extend(len) => {
            if fail {
                return Err(injected());
            }
            file.set_len(*len)
        }
        Op::Write { at, new, .. } => {
            if fail {
                // Half the bytes reach the disk, as in a torn write.
                write_at(file, *at, new.get(..new.len() / 2).unwrap_or(&[]))?;
                return Err(injected());
            }
            write_at(file, *at, new)
        }
        Op::Truncate { len, .. } => {
            file.set_len(*len)?;
            if fail {
                return Err(injected());
            }
            Ok(())
        }
    }
}

/// Undoes steps `0..=failed` in reverse order, syncing after each undo.
fn rollback(file: &mut std::fs::File, plan: &Plan, failed: usize) -> std::io::Result<()> {
    for op in plan.ops.iter().take(failed + 1).rev() {
        match op {
            Op::Extend(_) => file.set_len(plan.old_len)?,
            Op::Write {
                at, old: Some(old), ..
            } => write_at(file, *at, old)?,
            Op::Write { old: None, .. } => continue,
            Op::Truncate { redo, .. } => {
                for op in plan.ops.iter().take(*redo) {
                    apply_op(file, op, false)?;
                    file.sync_data()?;
                }
                continue;
            }
        }
        file.sync_data()?;
    }
    file.set_len(plan.old_len)?;
    file.sync_data()
}

fn write_at(file: &mut std::fs::File, at: u64, bytes: &[u8]) -> std::io::Result<()> {
    file.seek(SeekFrom::Start(at))?;
    file.write_all(bytes)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use crate::test_support::{SAMPLE_LABEL, SAMPLE_LABEL_2, exiftool_config, test_data, tool};
    use proptest::prelude::*;
    use std::io::{Cursor, Read, Seek};
    use std::process::Command;

    fn fixture(name: &str) -> Vec<u8> {
        std::fs::read(test_data(name)).unwrap()
    }

    fn label(input: &[u8], json: &str) -> Vec<u8> {
        let mut out = Cursor::new(Vec::new());
        write(&mut Cursor::new(input.to_vec()), &mut out, json).unwrap();
        out.into_inner()
    }

    fn scan_bytes(bytes: &[u8]) -> Scan {
        scan(&mut Cursor::new(bytes.to_vec())).unwrap()
    }

    /// Sites that actually carry a label (XMP packets without an AIGC property do not).
    fn label_sites(s: &Scan) -> Vec<&RawSite> {
        s.sites
            .iter()
            .filter(|site| match &site.payload {
                SitePayload::Json(_) => true,
                SitePayload::Xmp(p) => !crate::xmp::find_labels(p).is_empty(),
            })
            .collect()
    }

    fn assert_one_canonical(bytes: &[u8], json: &str) {
        let s = scan_bytes(bytes);
        let sites = label_sites(&s);
        assert_eq!(sites.len(), 1, "sites: {:?}", s.sites);
        assert!(sites[0].canonical);
        assert_eq!(sites[0].location, "mp4:moov/udta/meta/keys:AIGC");
        assert_eq!(sites[0].payload, SitePayload::Json(json.to_string()));
    }

    fn digest(bytes: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        content_digest(&mut Cursor::new(bytes.to_vec()), &mut out).unwrap();
        out
    }

    /// Payload of the first box along `path` (a `meta` payload keeps its version/flags).
    fn find<'a>(buf: &'a [u8], path: &[&[u8; 4]]) -> Option<&'a [u8]> {
        let (first, rest) = path.split_first()?;
        let (kids, _) = bmff::children(buf).ok()?;
        let k = kids.iter().find(|k| &k.typ == *first)?;
        let p = k.payload(buf);
        if rest.is_empty() {
            return Some(p);
        }
        let inner = if *first == b"meta" { p.get(4..)? } else { p };
        find(inner, rest)
    }

    fn all<'a>(buf: &'a [u8], typ: &[u8; 4]) -> Vec<&'a [u8]> {
        let (kids, _) = bmff::children(buf).unwrap();
        kids.iter()
            .filter(|k| &k.typ == typ)
            .map(|k| k.payload(buf))
            .collect()
    }

    /// Chunk offsets of every track, in track order.
    fn chunk_offsets(file: &[u8]) -> Vec<Vec<u64>> {
        let moov = find(file, &[b"moov"]).unwrap();
        all(moov, b"trak")
            .into_iter()
            .map(|trak| {
                let stbl = find(trak, &[b"mdia", b"minf", b"stbl"]).unwrap();
                if let Some(stco) = find(stbl, &[b"stco"]) {
                    let n = bmff::be_u32(stco, 4).unwrap() as usize;
                    (0..n)
                        .map(|i| u64::from(bmff::be_u32(stco, 8 + 4 * i).unwrap()))
                        .collect()
                } else {
                    let co64 = find(stbl, &[b"co64"]).unwrap();
                    let n = bmff::be_u32(co64, 4).unwrap() as usize;
                    (0..n)
                        .map(|i| bmff::be_u64(co64, 8 + 8 * i).unwrap())
                        .collect()
                }
            })
            .collect()
    }

    /// Every chunk offset of `out` points at the same bytes as the one of `input`.
    fn assert_chunks_follow(input: &[u8], out: &[u8]) {
        let (a, b) = (chunk_offsets(input), chunk_offsets(out));
        assert_eq!(a.len(), b.len());
        for (ta, tb) in a.iter().zip(&b) {
            assert_eq!(ta.len(), tb.len());
            for (&oa, &ob) in ta.iter().zip(tb) {
                let (oa, ob) = (oa as usize, ob as usize);
                assert_eq!(input[oa..oa + 16], out[ob..ob + 16]);
            }
        }
    }

    /// Rebuilds the file with `f` applied to the `moov` payload (only for moov-last files, where
    /// no chunk offset moves).
    fn edit_moov_payload(file: &[u8], f: impl Fn(&[u8]) -> Vec<u8>) -> Vec<u8> {
        let (kids, _) = bmff::children(file).unwrap();
        let mut out = Vec::new();
        for k in kids {
            if &k.typ == b"moov" {
                bmff::push_box(&mut out, *b"moov", &f(k.payload(file)));
            } else {
                out.extend_from_slice(k.whole(file));
            }
        }
        out
    }

    /// Rebuilds a container payload with `f` applied to the first child of type `typ`.
    fn edit_child(buf: &[u8], typ: &[u8; 4], f: impl Fn(&[u8]) -> Vec<u8>) -> Vec<u8> {
        let (kids, _) = bmff::children(buf).unwrap();
        let mut out = Vec::new();
        let mut done = false;
        for k in kids {
            if &k.typ == typ && !done {
                bmff::push_box(&mut out, k.typ, &f(k.payload(buf)));
                done = true;
            } else {
                out.extend_from_slice(k.whole(buf));
            }
        }
        out
    }

    fn data_atom(ty: u32, value: &[u8]) -> Vec<u8> {
        let mut p = ty.to_be_bytes().to_vec();
        p.extend_from_slice(&[0; 4]);
        p.extend_from_slice(value);
        bmff::make_box(*b"data", &p)
    }

    fn xmp_with_label(json: &str) -> String {
        crate::xmp::merge_label(
            Some(r#"<?xpacket begin="" id="W5M0MpCehiHzreSzNTczkc9d"?><x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description rdf:about="" xmlns:dc="http://purl.org/dc/elements/1.1/" dc:format="video/mp4"/></rdf:RDF></x:xmpmeta><?xpacket end="w"?>"#),
            json,
        )
        .unwrap()
    }

    #[test]
    fn ds16_mp4_roundtrip_one_site() {
        for name in [
            "bmff-faststart.mp4",
            "bmff-moovlast.mp4",
            "bmff-faststart.mov",
            "bmff-audio.m4a",
            "bmff-fragmented.mp4",
        ] {
            let input = fixture(name);
            assert!(label_sites(&scan_bytes(&input)).is_empty(), "{name}");
            let out = label(&input, SAMPLE_LABEL);
            assert_one_canonical(&out, SAMPLE_LABEL);
            // C-MP4-1 structure: hdlr mdta, keys entry mdta/AIGC, ilst item with data type 1.
            let metas = all(
                find(find(&out, &[b"moov"]).unwrap(), &[b"udta"]).unwrap(),
                b"meta",
            );
            let m = metas
                .iter()
                .map(|p| Meta::parse(p).unwrap())
                .find(|m| m.handler == Some(*b"mdta"))
                .unwrap();
            let (_, keys) = m.keys.as_ref().unwrap();
            let idx = keys
                .iter()
                .position(|(ns, v)| ns == b"mdta" && *v == b"AIGC")
                .unwrap();
            let item = m
                .items
                .iter()
                .find(|i| u32::from_be_bytes(i.typ) as usize == idx + 1)
                .unwrap();
            assert_eq!(item_datas(item.body), vec![(1, SAMPLE_LABEL.as_bytes())]);
        }
    }

    #[test]
    fn ds16_mp4_payload_byte_identical_and_offsets_patched() {
        for name in ["bmff-faststart.mp4", "bmff-faststart.mov", "bmff-audio.m4a"] {
            let input = fixture(name);
            let out = label(&input, SAMPLE_LABEL);
            assert!(out.len() > input.len());
            assert_eq!(digest(&input), digest(&out), "{name}");
            assert!(!digest(&input).is_empty());
            // moov precedes mdat: every chunk offset moved by the growth and still points at
            // the same sample bytes.
            let delta = (out.len() - input.len()) as u64;
            for (a, b) in chunk_offsets(&input).iter().zip(chunk_offsets(&out)) {
                assert!(a.iter().zip(&b).all(|(x, y)| x + delta == *y), "{name}");
            }
            assert_chunks_follow(&input, &out);
        }
    }

    #[test]
    fn ds16_mp4_moov_last_leaves_offsets_and_mdat_in_place() {
        let input = fixture("bmff-moovlast.mp4");
        let out = label(&input, SAMPLE_LABEL);
        assert_eq!(chunk_offsets(&input), chunk_offsets(&out));
        let moov_at = input.windows(4).position(|w| w == b"moov").unwrap() - 4;
        assert_eq!(input[..moov_at], out[..moov_at]);
        assert_eq!(digest(&input), digest(&out));
    }

    #[test]
    fn ds16_mp4_write_twice_one_site() {
        for name in ["bmff-faststart.mp4", "bmff-moovlast.mp4", "bmff-audio.m4a"] {
            let input = fixture(name);
            let once = label(&input, SAMPLE_LABEL);
            let twice = label(&once, SAMPLE_LABEL_2);
            assert_one_canonical(&twice, SAMPLE_LABEL_2);
            assert_eq!(digest(&input), digest(&twice));
            assert_chunks_follow(&input, &twice);
            // Same-length rewrite converges: writing the same label again is a fixed point.
            assert_eq!(label(&twice, SAMPLE_LABEL_2), twice);
            let udta = find(find(&twice, &[b"moov"]).unwrap(), &[b"udta"]).unwrap();
            let mdta = all(udta, b"meta")
                .iter()
                .filter(|p| Meta::parse(p).unwrap().handler == Some(*b"mdta"))
                .count();
            assert_eq!(mdta, 1, "{name}");
        }
    }

    #[test]
    fn ds16_mp4_keeps_itunes_meta_and_adds_mdta_meta_after_it() {
        let input = fixture("bmff-audio.m4a");
        let in_udta = find(find(&input, &[b"moov"]).unwrap(), &[b"udta"]).unwrap();
        let in_meta = all(in_udta, b"meta")[0].to_vec();
        let out = label(&input, SAMPLE_LABEL);
        let udta = find(find(&out, &[b"moov"]).unwrap(), &[b"udta"]).unwrap();
        let metas = all(udta, b"meta");
        assert_eq!(metas.len(), 2);
        assert_eq!(metas[0], &in_meta[..], "the mdir meta is byte-identical");
        assert_eq!(Meta::parse(metas[1]).unwrap().handler, Some(*b"mdta"));
    }

    #[test]
    fn ds16_mp4_edits_existing_mdta_meta_keeping_other_keys() {
        // An mdta meta with keys [title, AIGC(old), encoder], as ffmpeg writes with
        // use_metadata_tags.
        let input = fixture("bmff-moovlast.mp4");
        let mut ilst = Vec::new();
        bmff::push_box(&mut ilst, 1u32.to_be_bytes(), &data_atom(1, b"My clip"));
        bmff::push_box(
            &mut ilst,
            2u32.to_be_bytes(),
            &data_atom(1, SAMPLE_LABEL_2.as_bytes()),
        );
        bmff::push_box(&mut ilst, 3u32.to_be_bytes(), &data_atom(1, b"Lavf"));
        let mut meta = vec![0u8; 4];
        meta.extend_from_slice(&mdta_hdlr());
        meta.extend_from_slice(&keys_box(
            [0; 4],
            &[
                (*b"mdta", b"title"),
                (*b"mdta", b"AIGC"),
                (*b"mdta", b"encoder"),
            ],
        ));
        bmff::push_box(&mut meta, *b"ilst", &ilst);
        let with_meta = edit_moov_payload(&input, |moov| {
            edit_child(moov, b"udta", |_| bmff::make_box(*b"meta", &meta))
        });
        let before = scan_bytes(&with_meta);
        assert_eq!(label_sites(&before).len(), 1);
        assert!(before.sites[0].canonical);

        let out = label(&with_meta, SAMPLE_LABEL);
        assert_one_canonical(&out, SAMPLE_LABEL);
        let udta = find(find(&out, &[b"moov"]).unwrap(), &[b"udta"]).unwrap();
        let metas = all(udta, b"meta");
        assert_eq!(metas.len(), 1);
        let m = Meta::parse(metas[0]).unwrap();
        let (_, keys) = m.keys.as_ref().unwrap();
        let names: Vec<&[u8]> = keys.iter().map(|(_, v)| *v).collect();
        assert_eq!(names, vec![&b"title"[..], b"encoder", b"AIGC"]);
        let values: Vec<(u32, Vec<u8>)> = m
            .items
            .iter()
            .map(|i| (u32::from_be_bytes(i.typ), item_datas(i.body)[0].1.to_vec()))
            .collect();
        assert_eq!(
            values,
            vec![
                (1, b"My clip".to_vec()),
                (2, b"Lavf".to_vec()),
                (3, SAMPLE_LABEL.as_bytes().to_vec())
            ]
        );
    }

    #[test]
    fn ds16_mp4_migrates_moov_meta_variant() {
        // Doubao iOS style: QuickTime `meta` (no version/flags) directly under moov.
        let input = fixture("bmff-moovlast.mp4");
        let mut ilst = Vec::new();
        bmff::push_box(&mut ilst, 1u32.to_be_bytes(), &data_atom(1, b"Apple"));
        bmff::push_box(
            &mut ilst,
            2u32.to_be_bytes(),
            &data_atom(1, SAMPLE_LABEL_2.as_bytes()),
        );
        let mut meta = mdta_hdlr();
        meta.extend_from_slice(&keys_box(
            [0; 4],
            &[(*b"mdta", b"com.apple.quicktime.make"), (*b"mdta", b"AIGC")],
        ));
        bmff::push_box(&mut meta, *b"ilst", &ilst);
        let variant = edit_moov_payload(&input, |moov| {
            let mut m = moov.to_vec();
            bmff::push_box(&mut m, *b"meta", &meta);
            m
        });
        let s = scan_bytes(&variant);
        let sites = label_sites(&s);
        assert_eq!(sites.len(), 1);
        assert!(!sites[0].canonical);
        assert_eq!(sites[0].location, "mp4:moov/meta/keys:AIGC");
        assert_eq!(sites[0].payload, SitePayload::Json(SAMPLE_LABEL_2.into()));

        let out = label(&variant, SAMPLE_LABEL);
        assert_one_canonical(&out, SAMPLE_LABEL);
        let kept = Meta::parse(find(find(&out, &[b"moov"]).unwrap(), &[b"meta"]).unwrap()).unwrap();
        assert_eq!(kept.prefix, 0, "QuickTime style kept");
        assert_eq!(
            kept.keys.as_ref().unwrap().1,
            vec![(*b"mdta", &b"com.apple.quicktime.make"[..])]
        );
        assert_eq!(kept.items.len(), 1);
        assert_eq!(item_datas(kept.items[0].body)[0].1, b"Apple");
    }

    #[test]
    fn ds16_mp4_migrates_itunes_item_variants() {
        let input = fixture("bmff-moovlast.mp4");
        // Free-form item: mean com.apple.iTunes, name AIGC.
        let mut free = Vec::new();
        let mut mean = vec![0u8; 4];
        mean.extend_from_slice(b"com.apple.iTunes");
        bmff::push_box(&mut free, *b"mean", &mean);
        let mut name = vec![0u8; 4];
        name.extend_from_slice(b"AIGC");
        bmff::push_box(&mut free, *b"name", &name);
        free.extend_from_slice(&data_atom(1, SAMPLE_LABEL.as_bytes()));
        let variant = edit_moov_payload(&input, |moov| {
            edit_child(moov, b"udta", |udta| {
                edit_child(udta, b"meta", |meta| {
                    let mut m = meta[..4].to_vec();
                    m.extend_from_slice(&edit_child(&meta[4..], b"ilst", |ilst| {
                        let mut l = ilst.to_vec();
                        bmff::push_box(&mut l, *b"AIGC", &data_atom(1, SAMPLE_LABEL.as_bytes()));
                        bmff::push_box(&mut l, *b"\xA9AIG", &data_atom(1, SAMPLE_LABEL.as_bytes()));
                        bmff::push_box(&mut l, *b"----", &free);
                        l
                    }));
                    m
                })
            })
        });
        let s = scan_bytes(&variant);
        let mut locations: Vec<&str> = label_sites(&s)
            .iter()
            .map(|s| s.location.as_str())
            .collect();
        locations.sort_unstable();
        assert_eq!(
            locations,
            vec![
                "mp4:moov/udta/meta/ilst/----:com.apple.iTunes:AIGC",
                "mp4:moov/udta/meta/ilst/AIGC",
                "mp4:moov/udta/meta/ilst/©AIG",
            ]
        );
        assert!(label_sites(&s).iter().all(|s| !s.canonical));

        let out = label(&variant, SAMPLE_LABEL);
        assert_one_canonical(&out, SAMPLE_LABEL);
        // The ©too (encoder) item of the iTunes list survives.
        let udta = find(find(&out, &[b"moov"]).unwrap(), &[b"udta"]).unwrap();
        let mdir = Meta::parse(all(udta, b"meta")[0]).unwrap();
        assert_eq!(mdir.handler, Some(*b"mdir"));
        let types: Vec<[u8; 4]> = mdir.items.iter().map(|i| i.typ).collect();
        assert_eq!(types, vec![*b"\xA9too"]);
    }

    #[test]
    fn ds16_mp4_migrates_raw_udta_atom() {
        let input = fixture("bmff-moovlast.mp4");
        let variant = edit_moov_payload(&input, |moov| {
            edit_child(moov, b"udta", |udta| {
                let mut u = udta.to_vec();
                bmff::push_box(&mut u, *b"AIGC", SAMPLE_LABEL_2.as_bytes());
                u
            })
        });
        let s = scan_bytes(&variant);
        let sites = label_sites(&s);
        assert_eq!(sites.len(), 1);
        assert_eq!(sites[0].location, "mp4:moov/udta/AIGC");
        assert!(!sites[0].canonical);
        let out = label(&variant, SAMPLE_LABEL);
        assert_one_canonical(&out, SAMPLE_LABEL);
    }

    #[test]
    fn ds16_mp4_migrates_xmp_variants_keeping_other_xmp() {
        let input = fixture("bmff-moovlast.mp4");
        let packet = xmp_with_label(SAMPLE_LABEL_2);
        let mut uuid = XMP_UUID.to_vec();
        uuid.extend_from_slice(packet.as_bytes());
        let mut variant = edit_moov_payload(&input, |moov| {
            edit_child(moov, b"udta", |udta| {
                let mut u = udta.to_vec();
                bmff::push_box(&mut u, *b"XMP_", packet.as_bytes());
                u
            })
        });
        bmff::push_box(&mut variant, *b"uuid", &uuid);
        let s = scan_bytes(&variant);
        let mut locations: Vec<&str> = label_sites(&s)
            .iter()
            .map(|s| s.location.as_str())
            .collect();
        locations.sort_unstable();
        assert_eq!(locations, vec!["mp4:moov/udta/XMP_", "mp4:uuid:XMP"]);

        let out = label(&variant, SAMPLE_LABEL);
        assert_one_canonical(&out, SAMPLE_LABEL);
        let s = scan_bytes(&out);
        let xmps: Vec<&String> = s
            .sites
            .iter()
            .filter_map(|s| match &s.payload {
                SitePayload::Xmp(p) => Some(p),
                SitePayload::Json(_) => None,
            })
            .collect();
        assert_eq!(xmps.len(), 2, "both XMP boxes kept");
        assert!(xmps.iter().all(|p| p.contains("dc:format=\"video/mp4\"")));
    }

    #[test]
    fn ds16_mp4_preserves_c2pa_uuid_box() {
        let mut input = fixture("bmff-faststart.mp4");
        let mut c2pa = bmff::C2PA_UUID.to_vec();
        c2pa.extend_from_slice(b"\0\0\0\0jumbf manifest store bytes");
        let c2pa_box = bmff::make_box(*b"uuid", &c2pa);
        input.extend_from_slice(&c2pa_box);
        assert!(scan_bytes(&input).notes.iter().any(|n| n.contains("C2PA")));
        let out = label(&input, SAMPLE_LABEL);
        assert!(out.ends_with(&c2pa_box));
        assert_one_canonical(&out, SAMPLE_LABEL);
    }

    #[test]
    fn ds16_mp4_fragmented_patches_tfhd_and_tfra() {
        let input = fixture("bmff-fragmented.mp4");
        let out = label(&input, SAMPLE_LABEL);
        assert_eq!(digest(&input), digest(&out));
        let (kids, _) = bmff::children(&out).unwrap();
        let moofs: Vec<&Child> = kids.iter().filter(|k| &k.typ == b"moof").collect();
        assert!(!moofs.is_empty());
        for moof in &moofs {
            let traf = find(moof.payload(&out), &[b"traf"]).unwrap();
            let tfhd = find(traf, &[b"tfhd"]).unwrap();
            assert_eq!(
                bmff::be_u32(tfhd, 0).unwrap() & 1,
                1,
                "explicit base offset"
            );
            assert_eq!(bmff::be_u64(tfhd, 8).unwrap(), moof.start as u64);
        }
        let tfra = find(find(&out, &[b"mfra"]).unwrap(), &[b"tfra"]).unwrap();
        // version 1: time (8) then moof_offset (8) of the first entry.
        assert_eq!(bmff::be_u64(tfra, 16 + 8).unwrap(), moofs[0].start as u64);
    }

    #[test]
    fn ds16_mp4_largesize_and_size_zero_mdat() {
        let input = fixture("bmff-faststart.mp4");
        // `free`(8) + `mdat`(8-byte header) -> `mdat` with a 16-byte largesize header: the
        // payload stays at the same offset, so the chunk offsets stay right.
        let free_at = input.windows(4).position(|w| w == b"free").unwrap() - 4;
        let mdat_len = (input.len() - free_at - 8) as u64;
        let mut large = input[..free_at].to_vec();
        large.extend_from_slice(&1u32.to_be_bytes());
        large.extend_from_slice(b"mdat");
        large.extend_from_slice(&(mdat_len + 8).to_be_bytes());
        large.extend_from_slice(&input[free_at + 16..]);
        assert_eq!(large.len(), input.len());
        assert_eq!(digest(&large), digest(&input));
        let out = label(&large, SAMPLE_LABEL);
        assert_one_canonical(&out, SAMPLE_LABEL);
        assert_eq!(digest(&out), digest(&input));
        assert_chunks_follow(&large, &out);

        // size 0: mdat runs to the end of the file.
        let mdat_at = input.windows(4).position(|w| w == b"mdat").unwrap() - 4;
        let mut zero = input.clone();
        zero[mdat_at..mdat_at + 4].copy_from_slice(&0u32.to_be_bytes());
        assert_eq!(digest(&zero), digest(&input));
        let out = label(&zero, SAMPLE_LABEL);
        assert_one_canonical(&out, SAMPLE_LABEL);
        assert_eq!(digest(&out), digest(&input));
        assert_chunks_follow(&zero, &out);
    }

    #[test]
    fn mp4_truncated_is_error() {
        let input = fixture("bmff-faststart.mp4");
        let moov_at = input.windows(4).position(|w| w == b"moov").unwrap();
        for cut in [moov_at + 10, moov_at + 600, input.len() - 100] {
            let t = &input[..cut];
            assert!(
                scan(&mut Cursor::new(t.to_vec())).is_err(),
                "scan cut {cut}"
            );
            let mut out = Cursor::new(Vec::new());
            assert!(write(&mut Cursor::new(t.to_vec()), &mut out, SAMPLE_LABEL).is_err());
            assert!(content_digest(&mut Cursor::new(t.to_vec()), &mut Vec::new()).is_err());
        }
    }

    #[test]
    fn mp4_malformed_is_error() {
        // A box smaller than its header, a keys entry smaller than 8, no moov.
        let mut bad = bmff::make_box(*b"ftyp", b"isom\0\0\0\0");
        bad.extend_from_slice(&[0, 0, 0, 4, b'm', b'o', b'o', b'v']);
        assert!(scan(&mut Cursor::new(bad)).is_err());
        let no_moov = bmff::make_box(*b"ftyp", b"isom\0\0\0\0");
        let mut out = Cursor::new(Vec::new());
        let err = write(&mut Cursor::new(no_moov), &mut out, SAMPLE_LABEL).unwrap_err();
        assert!(err.to_string().contains("no moov"), "{err}");
        let mut keys = vec![0u8; 4];
        keys.extend_from_slice(&1u32.to_be_bytes());
        keys.extend_from_slice(&4u32.to_be_bytes());
        keys.extend_from_slice(b"mdta");
        let mut meta = vec![0u8; 4];
        meta.extend_from_slice(&mdta_hdlr());
        bmff::push_box(&mut meta, *b"keys", &keys);
        let file = edit_moov_payload(&fixture("bmff-moovlast.mp4"), |moov| {
            edit_child(moov, b"udta", |_| bmff::make_box(*b"meta", &meta))
        });
        assert!(scan(&mut Cursor::new(file)).is_err());
    }

    #[test]
    fn mp4_moov_over_limit_is_too_large() {
        // A moov header claiming 100 MiB is refused before allocation.
        let mut f = bmff::make_box(*b"ftyp", b"isom\0\0\0\0");
        f.extend_from_slice(&(100u32 << 20).to_be_bytes());
        f.extend_from_slice(b"moov");
        let mut src = Sparse {
            head: f,
            len: 24 + (100 << 20),
            pos: 0,
        };
        match scan(&mut src) {
            Err(FormatError::TooLarge { .. }) => {}
            other => panic!("{other:?}"),
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]
        #[test]
        fn mp4_scan_never_panics_on_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..1024)) {
            let _ = scan(&mut Cursor::new(bytes.clone()));
            let _ = content_digest(&mut Cursor::new(bytes.clone()), &mut Vec::new());
            let _ = write(&mut Cursor::new(bytes), &mut Cursor::new(Vec::new()), SAMPLE_LABEL);
        }

        #[test]
        fn mp4_scan_never_panics_on_damaged_labelled_file(
            cut in 0usize..8000,
            flips in proptest::collection::vec((0usize..8000, any::<u8>()), 0..8),
        ) {
            let mut bytes = label(&fixture("bmff-faststart.mp4"), SAMPLE_LABEL);
            for (at, v) in flips {
                let n = bytes.len();
                bytes[at % n] = v;
            }
            bytes.truncate(cut.min(bytes.len()));
            let _ = scan(&mut Cursor::new(bytes.clone()));
            let _ = write(&mut Cursor::new(bytes), &mut Cursor::new(Vec::new()), SAMPLE_LABEL);
        }
    }

    /// A virtual file: `head` followed by zeros up to `len` (no memory for the zeros).
    struct Sparse {
        head: Vec<u8>,
        len: u64,
        pos: u64,
    }

    impl Read for Sparse {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let left = self.len.saturating_sub(self.pos);
            let n = (buf.len() as u64).min(left) as usize;
            let buf = &mut buf[..n];
            buf.fill(0);
            let hl = self.head.len() as u64;
            if self.pos < hl {
                let m = ((hl - self.pos) as usize).min(n);
                buf[..m].copy_from_slice(&self.head[self.pos as usize..self.pos as usize + m]);
            }
            self.pos += n as u64;
            Ok(n)
        }
    }

    impl Seek for Sparse {
        fn seek(&mut self, to: SeekFrom) -> std::io::Result<u64> {
            self.pos = match to {
                SeekFrom::Start(p) => p,
                SeekFrom::End(d) => self.len.checked_add_signed(d).unwrap(),
                SeekFrom::Current(d) => self.pos.checked_add_signed(d).unwrap(),
            };
            Ok(self.pos)
        }
    }

    /// Counts and checksums what is written, keeping nothing.
    #[derive(Default)]
    struct CountingSink {
        len: u64,
        pos: u64,
        head: Vec<u8>,
        nonzero_tail: u64,
    }

    impl Write for CountingSink {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            if self.head.len() < 1 << 16 {
                self.head
                    .extend_from_slice(&buf[..buf.len().min((1 << 16) - self.head.len())]);
            }
            if self.pos > 1 << 20 {
                // memcmp against zeros: fast even in an unoptimised test build.
                const ZEROS: [u8; 4096] = [0; 4096];
                for c in buf.chunks(4096) {
                    if c != &ZEROS[..c.len()] {
                        self.nonzero_tail += 1;
                    }
                }
            }
            self.pos += buf.len() as u64;
            self.len = self.len.max(self.pos);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl Seek for CountingSink {
        fn seek(&mut self, to: SeekFrom) -> std::io::Result<u64> {
            match to {
                SeekFrom::Current(0) => Ok(self.pos),
                _ => Err(std::io::Error::other("sink is not seekable")),
            }
        }
    }

    fn vm_hwm_kib() -> Option<u64> {
        let status = std::fs::read_to_string("/proc/self/status").ok()?;
        let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
        line.split_whitespace().nth(1)?.parse().ok()
    }

    /// The body of `ds16_mp4_2gb_streams_under_64mb`, run alone in a child process so that the
    /// peak RSS it reports is its own; in the ordinary test run it does nothing.
    #[test]
    fn mp4_2gb_child() {
        if std::env::var_os("HEGUI_MP4_2GB_CHILD").is_none() {
            return;
        }
        // The fast-start fixture with its mdat grown to 2 GiB of zeros after the real samples.
        let input = fixture("bmff-faststart.mp4");
        let mdat_at = input.windows(4).position(|w| w == b"mdat").unwrap() - 4;
        let extra: u64 = 2 << 30;
        let old_mdat = bmff::be_u32(&input, mdat_at).unwrap() as u64;
        let mut head = input.clone();
        head[mdat_at..mdat_at + 4].copy_from_slice(&((old_mdat + extra) as u32).to_be_bytes());
        let total = input.len() as u64 + extra;
        let mut src = Sparse {
            head,
            len: total,
            pos: 0,
        };
        let mut sink = CountingSink::default();
        write(&mut src, &mut sink, SAMPLE_LABEL).unwrap();
        assert!(sink.len > total);
        assert_eq!(sink.nonzero_tail, 0, "mdat tail copied as zeros");
        // The head holds ftyp + moov (fast start); scan its moov directly.
        let moov_at = sink.head.windows(4).position(|w| w == b"moov").unwrap() - 4;
        let moov_len = bmff::be_u32(&sink.head, moov_at).unwrap() as usize;
        let mut s = Scan::default();
        scan_moov(&sink.head[moov_at + 8..moov_at + moov_len], &mut s).unwrap();
        assert_eq!(s.sites.len(), 1);
        assert!(s.sites[0].canonical);
        let hwm = vm_hwm_kib().unwrap();
        println!("VmHWM {hwm} KiB");
        assert!(hwm < 64 * 1024, "peak RSS {hwm} KiB");
    }

    #[test]
    fn ds16_mp4_2gb_streams_under_64mb() {
        let exe = std::env::current_exe().unwrap();
        let out = Command::new(exe)
            .env("HEGUI_MP4_2GB_CHILD", "1")
            .args([
                "--exact",
                "format::mp4::tests::mp4_2gb_child",
                "--nocapture",
            ])
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(stdout.contains("1 passed"), "{stdout}");
    }

    // ---- interop with ffmpeg / ffprobe / exiftool ---------------------------------------

    fn run(cmd: &std::path::Path, args: &[&std::ffi::OsStr]) -> std::process::Output {
        Command::new(cmd).args(args).output().unwrap()
    }

    fn tags(ffprobe: &std::path::Path, file: &std::path::Path) -> Vec<String> {
        let o = run(
            ffprobe,
            &[
                "-v".as_ref(),
                "error".as_ref(),
                "-show_format".as_ref(),
                file.as_os_str(),
            ],
        );
        assert!(o.status.success());
        String::from_utf8_lossy(&o.stdout)
            .lines()
            .filter(|l| l.starts_with("TAG:"))
            .map(str::to_string)
            .collect()
    }

    fn framemd5(ffmpeg: &std::path::Path, file: &std::path::Path) -> String {
        let o = run(
            ffmpeg,
            &[
                "-v".as_ref(),
                "error".as_ref(),
                "-i".as_ref(),
                file.as_os_str(),
                "-f".as_ref(),
                "framemd5".as_ref(),
                "-".as_ref(),
            ],
        );
        assert!(o.status.success());
        String::from_utf8_lossy(&o.stdout)
            .lines()
            .filter(|l| !l.starts_with('#'))
            .collect::<Vec<_>>()
            .join("\n")
    }

    const ALL_FIXTURES: [&str; 5] = [
        "bmff-faststart.mp4",
        "bmff-moovlast.mp4",
        "bmff-faststart.mov",
        "bmff-audio.m4a",
        "bmff-fragmented.mp4",
    ];

    #[test]
    fn ds16_mp4_interop_ffprobe_reads_and_other_tags_survive() {
        let Some(ffprobe) = tool("ffprobe") else {
            return;
        };
        let dir = tempfile::tempdir().unwrap();
        for name in ALL_FIXTURES {
            let out_path = dir.path().join(name);
            std::fs::write(&out_path, label(&fixture(name), SAMPLE_LABEL)).unwrap();
            let after = tags(&ffprobe, &out_path);
            assert!(
                after.contains(&format!("TAG:AIGC={SAMPLE_LABEL}")),
                "{name}: {after:?}"
            );
            for t in tags(&ffprobe, &test_data(name)) {
                assert!(after.contains(&t), "{name}: lost {t}");
            }
        }
    }

    #[test]
    fn ds16_mp4_interop_output_plays_with_identical_frames() {
        let Some(ffmpeg) = tool("ffmpeg") else { return };
        let dir = tempfile::tempdir().unwrap();
        for name in ALL_FIXTURES {
            let out_path = dir.path().join(name);
            let twice = label(&label(&fixture(name), SAMPLE_LABEL), SAMPLE_LABEL_2);
            std::fs::write(&out_path, twice).unwrap();
            let o = run(
                &ffmpeg,
                &[
                    "-v".as_ref(),
                    "error".as_ref(),
                    "-i".as_ref(),
                    out_path.as_os_str(),
                    "-f".as_ref(),
                    "null".as_ref(),
                    "-".as_ref(),
                ],
            );
            assert!(o.status.success(), "{name}");
            assert!(
                o.stderr.is_empty(),
                "{name}: {}",
                String::from_utf8_lossy(&o.stderr)
            );
            assert_eq!(
                framemd5(&ffmpeg, &test_data(name)),
                framemd5(&ffmpeg, &out_path),
                "{name}: decoded frames differ"
            );
        }
    }

    fn ffmpeg_label(
        ffmpeg: &std::path::Path,
        input: &std::path::Path,
        out: &std::path::Path,
        json: &str,
        umt: bool,
    ) {
        let meta = format!("AIGC={json}");
        let mut args: Vec<&std::ffi::OsStr> = vec![
            "-v".as_ref(),
            "error".as_ref(),
            "-y".as_ref(),
            "-i".as_ref(),
            input.as_os_str(),
            "-c".as_ref(),
            "copy".as_ref(),
            "-metadata".as_ref(),
            meta.as_ref(),
        ];
        if umt {
            args.push(std::ffi::OsStr::new("-movflags"));
            args.push(std::ffi::OsStr::new("use_metadata_tags"));
        }
        args.push(out.as_os_str());
        let o = run(ffmpeg, &args);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }

    #[test]
    fn ds16_mp4_interop_reads_ffmpeg_labelled_file() {
        let Some(ffmpeg) = tool("ffmpeg") else { return };
        let dir = tempfile::tempdir().unwrap();
        for name in ["bmff-faststart.mp4", "bmff-faststart.mov", "bmff-audio.m4a"] {
            let out = dir.path().join(name);
            ffmpeg_label(&ffmpeg, &test_data(name), &out, SAMPLE_LABEL, true);
            let bytes = std::fs::read(&out).unwrap();
            assert_one_canonical(&bytes, SAMPLE_LABEL);
            // Relabelling ffmpeg's output edits its meta in place: one site, other keys kept.
            let relabelled = label(&bytes, SAMPLE_LABEL_2);
            assert_one_canonical(&relabelled, SAMPLE_LABEL_2);
            let count_keys = |b: &[u8]| {
                let udta = find(find(b, &[b"moov"]).unwrap(), &[b"udta"]).unwrap();
                let metas = all(udta, b"meta");
                assert_eq!(metas.len(), 1);
                Meta::parse(metas[0]).unwrap().key_count()
            };
            assert_eq!(count_keys(&bytes), count_keys(&relabelled));
            if let Some(ffprobe) = tool("ffprobe") {
                let p = dir.path().join(format!("re-{name}"));
                std::fs::write(&p, &relabelled).unwrap();
                let before = tags(&ffprobe, &out);
                let after = tags(&ffprobe, &p);
                assert_eq!(before.len(), after.len());
                assert!(after.contains(&format!("TAG:AIGC={SAMPLE_LABEL_2}")));
            }
        }
    }

    #[test]
    fn ds16_mp4_interop_ffmpeg_without_use_metadata_tags_has_no_site() {
        let Some(ffmpeg) = tool("ffmpeg") else { return };
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("dropped.mp4");
        ffmpeg_label(
            &ffmpeg,
            &test_data("bmff-faststart.mp4"),
            &out,
            SAMPLE_LABEL,
            false,
        );
        let s = scan_bytes(&std::fs::read(&out).unwrap());
        assert!(label_sites(&s).is_empty(), "{:?}", s.sites);
    }

    #[test]
    fn ds16_mp4_interop_exiftool_reads() {
        let Some(exiftool) = tool("exiftool") else {
            return;
        };
        let dir = tempfile::tempdir().unwrap();
        for name in ["bmff-faststart.mp4", "bmff-faststart.mov", "bmff-audio.m4a"] {
            let out = dir.path().join(name);
            std::fs::write(&out, label(&fixture(name), SAMPLE_LABEL)).unwrap();
            let o = run(
                &exiftool,
                &[
                    "-config".as_ref(),
                    exiftool_config().as_os_str(),
                    "-s3".as_ref(),
                    "-Keys:AIGC".as_ref(),
                    out.as_os_str(),
                ],
            );
            assert!(o.status.success());
            assert_eq!(
                String::from_utf8_lossy(&o.stdout).trim(),
                SAMPLE_LABEL,
                "{name}"
            );
            // Every metadata tag exiftool saw in the input (iTunes list, user data) survives.
            // Note: `exiftool -validate` reports "Duplicate tag 'meta'" when an iTunes meta and
            // our mdta meta share udta; both are read (see the module doc).
            let meta_tags = |p: &std::path::Path| -> Vec<String> {
                let o = run(
                    &exiftool,
                    &["-a".as_ref(), "-G1".as_ref(), "-s".as_ref(), p.as_os_str()],
                );
                String::from_utf8_lossy(&o.stdout)
                    .lines()
                    .filter(|l| {
                        l.starts_with("[ItemList]")
                            || l.starts_with("[UserData]")
                            || l.starts_with("[Keys]")
                    })
                    .map(str::to_string)
                    .collect()
            };
            let after = meta_tags(&out);
            for t in meta_tags(&test_data(name)) {
                assert!(after.contains(&t), "{name}: lost {t}");
            }
        }
    }

    // ---- in-place labelling of moov-last files ----------------------------------------------

    /// A labelled copy of a fixture in a temp dir, opened read-write.
    fn temp_copy(bytes: &[u8]) -> (tempfile::TempDir, std::path::PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f.mp4");
        std::fs::write(&path, bytes).unwrap();
        (dir, path)
    }

    fn open_rw(path: &std::path::Path) -> std::fs::File {
        std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)
            .unwrap()
    }

    fn in_place(path: &std::path::Path, json: &str, hook: Hook) -> Result<InPlace, FormatError> {
        label_in_place_with(&mut open_rw(path), json, hook)
    }

    /// A label whose ProduceID has `n` characters (to vary the moov size).
    fn label_len(n: usize) -> String {
        SAMPLE_LABEL.replace("16b7bc9fc94e20a3_87f202bb", &"a".repeat(n))
    }

    fn top_types(bytes: &[u8]) -> Vec<String> {
        bmff::children(bytes)
            .unwrap()
            .0
            .iter()
            .map(|k| bmff::fourcc(&k.typ))
            .collect()
    }

    fn moov_box(bytes: &[u8]) -> Vec<u8> {
        let (kids, _) = bmff::children(bytes).unwrap();
        let moovs: Vec<&Child> = kids.iter().filter(|k| &k.typ == b"moov").collect();
        assert_eq!(moovs.len(), 1, "{:?}", top_types(bytes));
        moovs[0].whole(bytes).to_vec()
    }

    /// `ffmpeg -v error` decodes the file without a word.
    fn assert_decodes_silently(ffmpeg: &std::path::Path, file: &std::path::Path, what: &str) {
        let o = run(
            ffmpeg,
            &[
                "-v".as_ref(),
                "error".as_ref(),
                "-i".as_ref(),
                file.as_os_str(),
                "-f".as_ref(),
                "null".as_ref(),
                "-".as_ref(),
            ],
        );
        assert!(o.status.success(), "{what}");
        assert!(
            o.stderr.is_empty(),
            "{what}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    }

    /// The number of steps the in-place edit of `path` would take (None: not applicable).
    fn step_count(path: &std::path::Path, json: &str) -> Option<usize> {
        plan_in_place(&mut open_rw(path), json)
            .unwrap()
            .ok()
            .map(|p| p.ops.len())
    }

    #[test]
    fn ds16_mp4_in_place_labels_moov_last_file() {
        let input = fixture("bmff-moovlast.mp4");
        let moov_at = input.windows(4).position(|w| w == b"moov").unwrap() - 4;
        let (_dir, path) = temp_copy(&input);
        let r = in_place(&path, SAMPLE_LABEL, Hook::None).unwrap();
        assert_eq!(
            r,
            InPlace::Done {
                old_len: input.len() as u64
            }
        );
        let out = std::fs::read(&path).unwrap();
        assert_one_canonical(&out, SAMPLE_LABEL);
        // Nothing before the old moov changed; the mdat is byte-identical; the old moov is now
        // zeroed padding and the new one, equal to what the streaming writer makes, follows it.
        assert_eq!(out[..moov_at], input[..moov_at]);
        assert_eq!(digest(&out), digest(&input));
        assert_eq!(top_types(&out), ["ftyp", "free", "mdat", "free", "moov"]);
        assert_eq!(&out[moov_at + 4..moov_at + 8], b"free");
        let old_moov_len = input.len() - moov_at;
        assert!(
            out[moov_at + 8..moov_at + old_moov_len]
                .iter()
                .all(|&b| b == 0)
        );
        assert_eq!(moov_box(&out), moov_box(&label(&input, SAMPLE_LABEL)));
        assert_eq!(chunk_offsets(&out), chunk_offsets(&input));
        assert!(
            scan_bytes(&out)
                .notes
                .iter()
                .all(|n| !n.contains("moov boxes"))
        );

        if let Some(ffprobe) = tool("ffprobe") {
            let t = tags(&ffprobe, &path);
            assert!(t.contains(&format!("TAG:AIGC={SAMPLE_LABEL}")), "{t:?}");
        }
        if let Some(ffmpeg) = tool("ffmpeg") {
            assert_decodes_silently(&ffmpeg, &path, "in place");
            let original = test_data("bmff-moovlast.mp4");
            assert_eq!(framemd5(&ffmpeg, &original), framemd5(&ffmpeg, &path));
        }
    }

    #[test]
    fn ds16_mp4_in_place_twice_one_site_and_same_length_relabel_keeps_size() {
        let input = fixture("bmff-moovlast.mp4");
        let (_dir, path) = temp_copy(&input);
        in_place(&path, SAMPLE_LABEL, Hook::None).unwrap();
        let once = std::fs::read(&path).unwrap();
        // A second label: whatever its size, one moov and one site.
        assert!(matches!(
            in_place(&path, SAMPLE_LABEL_2, Hook::None).unwrap(),
            InPlace::Done { .. }
        ));
        let twice = std::fs::read(&path).unwrap();
        assert_one_canonical(&twice, SAMPLE_LABEL_2);
        assert_eq!(digest(&twice), digest(&input));
        assert_eq!(moov_box(&twice), moov_box(&label(&once, SAMPLE_LABEL_2)));
        // The same label again fits the moov exactly: it is overwritten, the file keeps its
        // length and converges.
        in_place(&path, SAMPLE_LABEL_2, Hook::None).unwrap();
        let thrice = std::fs::read(&path).unwrap();
        assert_eq!(thrice.len(), twice.len());
        assert_eq!(thrice, twice);
        assert_one_canonical(&thrice, SAMPLE_LABEL_2);
        if let Some(ffprobe) = tool("ffprobe") {
            let t = tags(&ffprobe, &path);
            assert!(t.contains(&format!("TAG:AIGC={SAMPLE_LABEL_2}")), "{t:?}");
        }
        if let Some(ffmpeg) = tool("ffmpeg") {
            assert_decodes_silently(&ffmpeg, &path, "relabelled in place");
        }
    }

    #[test]
    fn ds16_mp4_in_place_overwrite_shrinks_and_reuses_free_space() {
        let input = fixture("bmff-moovlast.mp4");
        let (_dir, path) = temp_copy(&input);
        let (long, short, medium) = (label_len(200), label_len(10), label_len(100));
        in_place(&path, &long, Hook::None).unwrap();
        let len = std::fs::metadata(&path).unwrap().len();
        // Shorter: written over the old moov, the leftover becomes a free box.
        in_place(&path, &short, Hook::None).unwrap();
        let out = std::fs::read(&path).unwrap();
        assert_eq!(out.len() as u64, len);
        assert_eq!(
            top_types(&out),
            ["ftyp", "free", "mdat", "free", "moov", "free"]
        );
        assert_one_canonical(&out, &short);
        // No stale label text in the padding.
        assert_eq!(
            out.windows(long.len())
                .filter(|w| *w == long.as_bytes())
                .count(),
            0
        );
        // Longer again, but within the moov plus the free box after it.
        in_place(&path, &medium, Hook::None).unwrap();
        let out = std::fs::read(&path).unwrap();
        assert_eq!(out.len() as u64, len);
        assert_one_canonical(&out, &medium);
        assert_eq!(digest(&out), digest(&input));
        // Longer than the space: appended, the file grows by the new moov.
        in_place(&path, &label_len(300), Hook::None).unwrap();
        let out = std::fs::read(&path).unwrap();
        assert!(out.len() as u64 > len);
        assert_one_canonical(&out, &label_len(300));
        if let Some(ffmpeg) = tool("ffmpeg") {
            assert_decodes_silently(&ffmpeg, &path, "after overwrites");
        }
    }

    #[test]
    fn ds16_mp4_in_place_not_applicable_leaves_file_untouched() {
        let moovlast = fixture("bmff-moovlast.mp4");
        let moov_at = moovlast.windows(4).position(|w| w == b"moov").unwrap() - 4;
        // A labelled XMP uuid box outside moov (it must be migrated: full rewrite).
        let mut xmp_uuid = XMP_UUID.to_vec();
        xmp_uuid.extend_from_slice(xmp_with_label(SAMPLE_LABEL_2).as_bytes());
        let mut with_xmp = moovlast[..moov_at].to_vec();
        bmff::push_box(&mut with_xmp, *b"uuid", &xmp_uuid);
        with_xmp.extend_from_slice(&moovlast[moov_at..]);
        // A C2PA box after the moov.
        let mut c2pa = bmff::C2PA_UUID.to_vec();
        c2pa.extend_from_slice(b"\0\0\0\0manifest");
        let mut c2pa_after = moovlast.clone();
        bmff::push_box(&mut c2pa_after, *b"uuid", &c2pa);
        // Two moov boxes; stray trailing bytes; a free box of size 0 after the moov.
        let mut two = moovlast.clone();
        two.extend_from_slice(&moovlast[moov_at..]);
        let mut stray = moovlast.clone();
        stray.extend_from_slice(&[0, 0, 0]);
        let mut free0 = moovlast.clone();
        free0.extend_from_slice(&[0, 0, 0, 0, b'f', b'r', b'e', b'e', 1, 2, 3]);
        let cases: Vec<(&str, Vec<u8>, &str)> = vec![
            ("faststart", fixture("bmff-faststart.mp4"), "mdat follows"),
            (
                "faststart mov",
                fixture("bmff-faststart.mov"),
                "mdat follows",
            ),
            ("m4a", fixture("bmff-audio.m4a"), "mdat follows"),
            ("fragmented", fixture("bmff-fragmented.mp4"), "fragmented"),
            ("xmp uuid", with_xmp, "XMP uuid"),
            ("c2pa after moov", c2pa_after, "'uuid' box"),
            ("two moov", two, "more than one moov"),
            ("stray bytes", stray, "stray bytes"),
            ("free size 0", free0, "size 0"),
        ];
        for (name, bytes, why) in cases {
            let (_dir, path) = temp_copy(&bytes);
            match in_place(&path, SAMPLE_LABEL, Hook::None).unwrap() {
                InPlace::NotApplicable(reason) => assert!(reason.contains(why), "{name}: {reason}"),
                other => panic!("{name}: {other:?}"),
            }
            assert_eq!(std::fs::read(&path).unwrap(), bytes, "{name}");
        }
        // Malformed input is an error, as for the streaming writer, and nothing is written.
        let truncated = &moovlast[..moovlast.len() - 10];
        let (_dir, path) = temp_copy(truncated);
        assert!(in_place(&path, SAMPLE_LABEL, Hook::None).is_err());
        assert_eq!(std::fs::read(&path).unwrap(), truncated);
    }

    #[test]
    fn ds16_mp4_in_place_migrates_variants_inside_moov() {
        // A bare udta/AIGC atom and an XMP_ label inside moov are migrated in place.
        let input = fixture("bmff-moovlast.mp4");
        let variant = edit_moov_payload(&input, |moov| {
            edit_child(moov, b"udta", |udta| {
                let mut u = udta.to_vec();
                bmff::push_box(&mut u, *b"AIGC", SAMPLE_LABEL_2.as_bytes());
                bmff::push_box(&mut u, *b"XMP_", xmp_with_label(SAMPLE_LABEL_2).as_bytes());
                u
            })
        });
        assert_eq!(label_sites(&scan_bytes(&variant)).len(), 2);
        let (_dir, path) = temp_copy(&variant);
        assert!(matches!(
            in_place(&path, SAMPLE_LABEL, Hook::None).unwrap(),
            InPlace::Done { .. }
        ));
        let out = std::fs::read(&path).unwrap();
        assert_one_canonical(&out, SAMPLE_LABEL);
        assert_eq!(moov_box(&out), moov_box(&label(&variant, SAMPLE_LABEL)));
    }

    /// The three files whose in-place edits exercise every kind of step: the first label
    /// (append), a same-size relabel (exact overwrite) and a relabel that merges the free box
    /// after the moov and leaves a shorter leftover (overwrite with merge and shrink).
    fn in_place_scenarios() -> Vec<(&'static str, Vec<u8>, String)> {
        let input = fixture("bmff-moovlast.mp4");
        let (_dir, path) = temp_copy(&input);
        in_place(&path, SAMPLE_LABEL, Hook::None).unwrap();
        let labelled = std::fs::read(&path).unwrap();
        in_place(&path, &label_len(200), Hook::None).unwrap();
        in_place(&path, &label_len(10), Hook::None).unwrap();
        let with_free = std::fs::read(&path).unwrap();
        assert_eq!(
            top_types(&with_free),
            ["ftyp", "free", "mdat", "free", "free", "moov", "free"]
        );
        vec![
            ("append", input, SAMPLE_LABEL.to_string()),
            ("overwrite exact", labelled, SAMPLE_LABEL.to_string()),
            ("overwrite merge", with_free, label_len(100)),
        ]
    }

    #[test]
    fn ds16_mp4_in_place_crash_after_any_step_leaves_a_valid_file() {
        let ffmpeg = tool("ffmpeg");
        let ffprobe = tool("ffprobe");
        for (name, start, json) in in_place_scenarios() {
            let (_d, p) = temp_copy(&start);
            let steps = step_count(&p, &json).unwrap();
            assert!(steps >= 5, "{name}: {steps}");
            let before = label_sites(&scan_bytes(&start))
                .first()
                .map(|s| s.payload.clone());
            for crash in 0..steps {
                let what = format!("{name}, crash after step {crash}");
                let (_dir, path) = temp_copy(&start);
                in_place(&path, &json, Hook::CrashAfter(crash)).unwrap();
                let bytes = std::fs::read(&path).unwrap();
                assert_eq!(digest(&bytes), digest(&start), "{what}");
                // hegui reads it: the first moov's label (old or new) is canonical; a label in a
                // second moov is reported as such and not canonical.
                let s = scan(&mut Cursor::new(bytes.clone())).unwrap();
                let canonical: Vec<&RawSite> = label_sites(&s)
                    .into_iter()
                    .filter(|x| x.canonical)
                    .collect();
                assert!(canonical.len() <= 1, "{what}: {:?}", s.sites);
                let first = canonical.first().map(|x| x.payload.clone());
                let new = Some(SitePayload::Json(json.clone()));
                assert!(first == before || first == new, "{what}: {first:?}");
                for x in label_sites(&s).iter().filter(|x| !x.canonical) {
                    assert!(x.location.starts_with("mp4:moov#2/"), "{what}: {x:?}");
                    assert!(s.notes.iter().any(|n| n.contains("2 moov boxes")), "{what}");
                }
                if let Some(ffmpeg) = &ffmpeg {
                    assert_decodes_silently(ffmpeg, &path, &what);
                }
                if let (Some(ffprobe), Some(SitePayload::Json(j))) = (&ffprobe, &first) {
                    assert!(
                        tags(ffprobe, &path).contains(&format!("TAG:AIGC={j}")),
                        "{what}"
                    );
                }
                // The streaming writer cleans up: one moov, one site.
                let fixed = label(&bytes, SAMPLE_LABEL_2);
                assert_one_canonical(&fixed, SAMPLE_LABEL_2);
                moov_box(&fixed);
                assert_eq!(digest(&fixed), digest(&start), "{what}");
                // So does running the in-place edit again, when it applies.
                match in_place(&path, SAMPLE_LABEL_2, Hook::None).unwrap() {
                    InPlace::Done { .. } => {
                        assert_one_canonical(&std::fs::read(&path).unwrap(), SAMPLE_LABEL_2);
                    }
                    InPlace::NotApplicable(reason) => assert!(
                        reason.contains("more than one moov") || reason.contains("box"),
                        "{what}: {reason}"
                    ),
                }
            }
        }
    }

    #[test]
    fn ds16_mp4_in_place_failure_at_any_step_restores_the_file() {
        for (name, start, json) in in_place_scenarios() {
            let (_d, p) = temp_copy(&start);
            let steps = step_count(&p, &json).unwrap();
            for fail in 0..steps {
                let (_dir, path) = temp_copy(&start);
                let r = in_place(&path, &json, Hook::FailAt(fail));
                assert!(
                    matches!(r, Err(FormatError::Io(ref e)) if e.to_string().contains("injected")),
                    "{name} step {fail}: {r:?}"
                );
                assert!(
                    std::fs::read(&path).unwrap() == start,
                    "{name}: failing step {fail} was not rolled back"
                );
            }
        }
    }

    #[test]
    fn ds16_mp4_second_moov_is_reported_and_dropped_by_write() {
        // What an interrupted in-place label leaves: the original moov, then a labelled one.
        let input = fixture("bmff-moovlast.mp4");
        let moov_at = input.windows(4).position(|w| w == b"moov").unwrap() - 4;
        let mut two = input.clone();
        two.extend_from_slice(&moov_box(&label(&input, SAMPLE_LABEL)));
        let s = scan_bytes(&two);
        let sites = label_sites(&s);
        assert_eq!(sites.len(), 1);
        assert!(!sites[0].canonical);
        assert_eq!(sites[0].location, "mp4:moov#2/udta/meta/keys:AIGC");
        assert!(
            s.notes.iter().any(|n| n.starts_with("2 moov boxes")),
            "{:?}",
            s.notes
        );
        let out = label(&two, SAMPLE_LABEL_2);
        assert_one_canonical(&out, SAMPLE_LABEL_2);
        assert_eq!(out[..moov_at], input[..moov_at]);
        assert_eq!(top_types(&out), ["ftyp", "free", "mdat", "moov"]);
        // A second moov before the mdat is dropped too and the offsets follow.
        let fast = fixture("bmff-faststart.mp4");
        let moov = moov_box(&fast);
        let mut shifted = moov[8..].to_vec();
        let mut map = OffsetMap::default();
        map.replace(32, 32, moov.len() as u64);
        bmff::patch_moov_offsets(&mut shifted, &map).unwrap();
        let mut dup = fast[..32].to_vec();
        bmff::push_box(&mut dup, *b"moov", &shifted);
        dup.extend_from_slice(&fast[32..]);
        let out = label(&dup, SAMPLE_LABEL);
        assert_one_canonical(&out, SAMPLE_LABEL);
        assert_chunks_follow(&dup, &out);
        assert_eq!(out, label(&fast, SAMPLE_LABEL));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        /// Damaged moov-last files: no panic, and unless the edit is done the file is untouched.
        #[test]
        fn mp4_in_place_never_panics_on_damaged_file(
            cut in 0usize..8000,
            flips in proptest::collection::vec((0usize..8000, any::<u8>()), 0..8),
        ) {
            let mut bytes = label(&fixture("bmff-moovlast.mp4"), SAMPLE_LABEL);
            for (at, v) in flips {
                let n = bytes.len();
                bytes[at % n] = v;
            }
            bytes.truncate(cut.min(bytes.len()));
            let (_dir, path) = temp_copy(&bytes);
            match in_place(&path, SAMPLE_LABEL_2, Hook::None) {
                Ok(InPlace::Done { old_len }) => {
                    prop_assert_eq!(old_len, bytes.len() as u64);
                    let _ = scan_bytes(&std::fs::read(&path).unwrap());
                }
                Ok(InPlace::NotApplicable(_)) | Err(_) => {
                    prop_assert!(std::fs::read(&path).unwrap() == bytes);
                }
            }
        }
    }
}
