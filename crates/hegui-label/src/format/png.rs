//! PNG: the label is the `TC260:AIGC` property of the XMP packet, stored in ONE uncompressed
//! `iTXt` chunk with keyword `XML:com.adobe.xmp` (empty language tag and translated keyword).
//!
//! Placement: the writer puts that chunk immediately before the first `IDAT` (or `fcTL`, for
//! APNG), which is after `IHDR` and after every chunk that has to precede the image data
//! (`PLTE`, `iCCP`, `acTL` …), so streaming readers see the metadata before the pixels.
//!
//! Key decisions:
//! * Merge, never overwrite: an existing XMP packet (even a compressed `iTXt`, a `tEXt`/`zTXt`
//!   one, or one stored after `IDAT`) is read, merged with [`crate::xmp::merge_label`] so its
//!   other properties survive, and its chunk is dropped in favour of the single new one.
//! * Legacy `tEXt`/`zTXt`/`iTXt` chunks with keyword `AIGC` (Doubao, the image guide's Annex B)
//!   are dropped, so one label site remains (GB 45438 §6.1 c).
//! * Every other chunk (IDAT, PLTE, iCCP, eXIf, C2PA `caBX` …) is copied byte for byte, CRC
//!   included; the new chunk gets a fresh CRC.

use super::{FormatError, MAX_SITE_BYTES, RawSite, ReadSeek, Scan, SitePayload, WriteSeek, io};
use std::collections::HashSet;
use std::io::{Read, SeekFrom, Write};

/// The PNG file signature.
const SIGNATURE: [u8; 8] = *b"\x89PNG\r\n\x1a\n";
/// The keyword of the XMP text chunk.
const XMP_KEYWORD: &[u8] = b"XML:com.adobe.xmp";
/// The keyword of the legacy label text chunks.
const AIGC_KEYWORD: &[u8] = b"AIGC";
/// Largest chunk length the PNG specification allows (2^31 - 1).
const MAX_CHUNK_LEN: u32 = 0x7FFF_FFFF;

/// A chunk header: where the chunk starts (its length field), its data length and type.
#[derive(Debug, Clone, Copy)]
struct Chunk {
    offset: u64,
    len: u32,
    ty: [u8; 4],
}

impl Chunk {
    /// Offset just past the CRC.
    fn end(&self) -> u64 {
        // offset <= file length and len < 2^31, so this cannot overflow a u64.
        self.offset + 12 + u64::from(self.len)
    }

    fn type_str(&self) -> String {
        String::from_utf8_lossy(&self.ty).into_owned()
    }
}

/// Walks the chunks of a PNG stream after the signature.
struct Walker {
    file_len: u64,
    pos: u64,
}

impl Walker {
    /// Checks the signature and positions the walker on the first chunk.
    fn start(src: &mut dyn ReadSeek) -> Result<Self, FormatError> {
        src.seek(SeekFrom::Start(0))?;
        let file_len = io::len(src)?;
        let mut sig = [0u8; 8];
        io::read_exact(src, &mut sig, "PNG signature")?;
        if sig != SIGNATURE {
            return Err(FormatError::malformed("not a PNG file (bad signature)"));
        }
        Ok(Walker { file_len, pos: 8 })
    }

    /// Reads the next chunk header (leaving `src` at the chunk data), or `None` at end of file.
    fn next(&mut self, src: &mut dyn ReadSeek) -> Result<Option<Chunk>, FormatError> {
        if self.pos >= self.file_len {
            return Ok(None);
        }
        src.seek(SeekFrom::Start(self.pos))?;
        let mut h = [0u8; 8];
        io::read_exact(src, &mut h, "PNG chunk header")?;
        let [l0, l1, l2, l3, t0, t1, t2, t3] = h;
        let len = u32::from_be_bytes([l0, l1, l2, l3]);
        let ty = [t0, t1, t2, t3];
        if len > MAX_CHUNK_LEN {
            return Err(FormatError::malformed(format!(
                "PNG chunk length {len} exceeds 2^31-1"
            )));
        }
        if !ty.iter().all(u8::is_ascii_alphabetic) {
            return Err(FormatError::malformed(format!(
                "PNG chunk type {:?} at offset {} is not four letters",
                String::from_utf8_lossy(&ty),
                self.pos
            )));
        }
        let chunk = Chunk {
            offset: self.pos,
            len,
            ty,
        };
        if chunk.end() > self.file_len {
            return Err(FormatError::Truncated("PNG chunk"));
        }
        self.pos = chunk.end();
        Ok(Some(chunk))
    }
}

/// What a text chunk is to us.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    /// An XMP packet (keyword `XML:com.adobe.xmp`).
    Xmp,
    /// A legacy label (keyword `AIGC`, any case).
    Aigc,
}

/// A text chunk that carries XMP or a label.
#[derive(Debug, Clone)]
struct Found {
    chunk: Chunk,
    role: Role,
    keyword: String,
    /// The decoded text (inflated if compressed; Latin-1 for tEXt/zTXt, UTF-8 for iTXt).
    text: String,
    /// False when an iTXt text was not valid UTF-8 (then `text` is a lossy decoding).
    utf8_ok: bool,
    compressed: bool,
    after_idat: bool,
}

/// Everything the reader and writer need to know about a PNG's metadata.
#[derive(Debug, Default)]
struct Survey {
    found: Vec<Found>,
    /// Offset of the first `IDAT` or `fcTL` chunk: where the XMP chunk goes.
    first_image: Option<u64>,
    notes: Vec<String>,
}

/// Reads the chunk list and every XMP/AIGC text chunk. Fails on a truncated or malformed file.
fn survey(src: &mut dyn ReadSeek) -> Result<Survey, FormatError> {
    let mut w = Walker::start(src)?;
    let mut s = Survey::default();
    let mut seen_idat = false;
    let mut first = true;
    let mut held: u64 = 0;
    let mut ended = false;
    while let Some(c) = w.next(src)? {
        if first && &c.ty != b"IHDR" {
            return Err(FormatError::malformed("PNG does not start with IHDR"));
        }
        first = false;
        match &c.ty {
            b"IDAT" | b"fcTL" => {
                if s.first_image.is_none() {
                    s.first_image = Some(c.offset);
                }
                seen_idat |= &c.ty == b"IDAT";
            }
            b"tEXt" | b"zTXt" | b"iTXt" => {
                if let Some(f) = read_text_chunk(src, c, seen_idat, &mut s.notes)? {
                    held = held.saturating_add(f.text.len() as u64);
                    if held > MAX_SITE_BYTES {
                        return Err(FormatError::TooLarge {
                            what: "PNG XMP/AIGC text chunks",
                            size: held,
                            limit: MAX_SITE_BYTES,
                        });
                    }
                    s.found.push(f);
                }
            }
            b"caBX" => s.notes.push(
                "C2PA manifest store (caBX chunk) present; relabelling invalidates its hash".into(),
            ),
            b"IEND" => {
                ended = true;
                break;
            }
            _ => {}
        }
    }
    if !ended {
        return Err(FormatError::Truncated("PNG (no IEND chunk)"));
    }
    let trailing = w.file_len.saturating_sub(w.pos);
    if trailing > 0 {
        s.notes
            .push(format!("{trailing} bytes after IEND (kept as they are)"));
    }
    Ok(s)
}

/// Reads a tEXt/zTXt/iTXt chunk when its keyword is XMP or AIGC; other text chunks are skipped
/// after reading only their keyword.
fn read_text_chunk(
    src: &mut dyn ReadSeek,
    c: Chunk,
    after_idat: bool,
    notes: &mut Vec<String>,
) -> Result<Option<Found>, FormatError> {
    // Keywords are 1-79 bytes plus a NUL, so 80 bytes decide whether the chunk matters.
    let head = io::read_vec(src, u64::from(c.len.min(80)), "PNG text chunk keyword")?;
    let Some(nul) = head.iter().position(|&b| b == 0) else {
        return Ok(None);
    };
    let kw = head.get(..nul).unwrap_or(&[]);
    let role = if kw == XMP_KEYWORD {
        Role::Xmp
    } else if kw.eq_ignore_ascii_case(AIGC_KEYWORD) {
        Role::Aigc
    } else {
        return Ok(None);
    };
    let keyword = String::from_utf8_lossy(kw).into_owned();
    src.seek(SeekFrom::Start(c.offset + 8))?;
    let data = io::read_vec(src, u64::from(c.len), "PNG text chunk")?;
    let mut crc = [0u8; 4];
    io::read_exact(src, &mut crc, "PNG chunk CRC")?;
    let mut h = crc32fast::Hasher::new();
    h.update(&c.ty);
    h.update(&data);
    if h.finalize() != u32::from_be_bytes(crc) {
        notes.push(format!(
            "{} chunk {keyword:?} at offset {} has a bad CRC",
            c.type_str(),
            c.offset
        ));
    }
    let rest = data.get(nul + 1..).unwrap_or(&[]);
    let (bytes, compressed, utf8) = match &c.ty {
        b"tEXt" => (rest.to_vec(), false, false),
        b"zTXt" => {
            let (method, z) = rest
                .split_first()
                .ok_or(FormatError::Truncated("PNG zTXt chunk"))?;
            if *method != 0 {
                return Err(FormatError::malformed(format!(
                    "zTXt {keyword:?}: unknown compression method {method}"
                )));
            }
            (inflate(z, "PNG zTXt text")?, true, false)
        }
        _ => {
            // iTXt: flag, method, language tag NUL, translated keyword NUL, text.
            let [flag, method, tail @ ..] = rest else {
                return Err(FormatError::Truncated("PNG iTXt chunk"));
            };
            let lang_end = tail
                .iter()
                .position(|&b| b == 0)
                .ok_or(FormatError::Truncated("PNG iTXt language tag"))?;
            let tail = tail.get(lang_end + 1..).unwrap_or(&[]);
            let tk_end = tail
                .iter()
                .position(|&b| b == 0)
                .ok_or(FormatError::Truncated("PNG iTXt translated keyword"))?;
            let text = tail.get(tk_end + 1..).unwrap_or(&[]);
            match (flag, method) {
                (0, _) => (text.to_vec(), false, true),
                (1, 0) => (inflate(text, "PNG iTXt text")?, true, true),
                _ => {
                    return Err(FormatError::malformed(format!(
                        "iTXt {keyword:?}: unknown compression flag {flag} / method {method}"
                    )));
                }
            }
        }
    };
    let (text, utf8_ok) = if utf8 {
        match String::from_utf8(bytes) {
            Ok(t) => (t, true),
            Err(e) => (String::from_utf8_lossy(e.as_bytes()).into_owned(), false),
        }
    } else {
        // tEXt/zTXt are Latin-1.
        (bytes.iter().map(|&b| char::from(b)).collect(), true)
    };
    Ok(Some(Found {
        chunk: c,
        role,
        keyword,
        text,
        utf8_ok,
        compressed,
        after_idat,
    }))
}

/// Inflates zlib data, refusing output above [`MAX_SITE_BYTES`] (a zip bomb costs nothing).
fn inflate(z: &[u8], what: &'static str) -> Result<Vec<u8>, FormatError> {
    let mut out = Vec::new();
    flate2::read::ZlibDecoder::new(z)
        .take(MAX_SITE_BYTES + 1)
        .read_to_end(&mut out)
        .map_err(|e| FormatError::malformed(format!("{what}: bad zlib data ({e})")))?;
    if out.len() as u64 > MAX_SITE_BYTES {
        return Err(FormatError::TooLarge {
            what,
            size: out.len() as u64,
            limit: MAX_SITE_BYTES,
        });
    }
    Ok(out)
}

/// Finds the XMP packets (`png:iTXt:XML:com.adobe.xmp`) and legacy `AIGC` text chunks.
pub(crate) fn scan(src: &mut dyn ReadSeek) -> Result<Scan, FormatError> {
    let s = survey(src)?;
    let mut out = Scan {
        sites: Vec::new(),
        notes: s.notes,
    };
    let xmp_count = s.found.iter().filter(|f| f.role == Role::Xmp).count();
    if xmp_count > 1 {
        out.notes.push(format!(
            "{xmp_count} XMP chunks (a PNG should have one); writing keeps one merged packet"
        ));
    }
    for f in s.found {
        let ty = f.chunk.type_str();
        match f.role {
            Role::Xmp => {
                if f.after_idat {
                    out.notes.push(format!(
                        "XMP {ty} chunk located after IDAT (writing moves it before IDAT)"
                    ));
                }
                if f.compressed {
                    out.notes.push(format!("XMP {ty} chunk is compressed"));
                }
                if &f.chunk.ty != b"iTXt" {
                    out.notes
                        .push(format!("XMP stored in a {ty} chunk instead of iTXt"));
                }
                if !f.utf8_ok {
                    out.notes.push("XMP chunk text is not valid UTF-8".into());
                }
                out.sites.push(RawSite {
                    location: format!("png:{ty}:XML:com.adobe.xmp"),
                    canonical: &f.chunk.ty == b"iTXt" && !f.compressed,
                    payload: SitePayload::Xmp(f.text),
                });
            }
            Role::Aigc => out.sites.push(RawSite {
                location: format!("png:{ty}:{}", f.keyword),
                canonical: false,
                payload: SitePayload::Json(
                    f.text
                        .trim_matches(|c: char| c == '\0' || c.is_whitespace())
                        .to_string(),
                ),
            }),
        }
    }
    Ok(out)
}

/// Builds the complete `iTXt` chunk (length, type, data, CRC) holding `packet`.
fn xmp_chunk(packet: &str) -> Result<Vec<u8>, FormatError> {
    let mut data = Vec::with_capacity(XMP_KEYWORD.len() + 5 + packet.len());
    data.extend_from_slice(XMP_KEYWORD);
    // NUL, compression flag 0, method 0, empty language tag, empty translated keyword.
    data.extend_from_slice(&[0, 0, 0, 0, 0]);
    data.extend_from_slice(packet.as_bytes());
    let len = u32::try_from(data.len())
        .ok()
        .filter(|&l| l <= MAX_CHUNK_LEN)
        .ok_or(FormatError::TooLarge {
            what: "PNG XMP chunk",
            size: data.len() as u64,
            limit: u64::from(MAX_CHUNK_LEN),
        })?;
    let mut h = crc32fast::Hasher::new();
    h.update(b"iTXt");
    h.update(&data);
    let mut out = Vec::with_capacity(data.len() + 12);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(b"iTXt");
    out.extend_from_slice(&data);
    out.extend_from_slice(&h.finalize().to_be_bytes());
    Ok(out)
}

/// Copies the PNG with one XMP `iTXt` chunk (merged with any existing XMP) before the first
/// `IDAT`, dropping the old XMP and legacy `AIGC` text chunks; everything else byte for byte.
pub(crate) fn write(
    src: &mut dyn ReadSeek,
    dst: &mut dyn WriteSeek,
    label_json: &str,
) -> Result<(), FormatError> {
    src.seek(SeekFrom::Start(0))?;
    let s = survey(src)?;
    let insert_at = s
        .first_image
        .ok_or_else(|| FormatError::malformed("PNG has no IDAT chunk"))?;
    // Merge into the iTXt packet when there is one (the real XMP), else any XMP text chunk.
    let existing = s
        .found
        .iter()
        .find(|f| f.role == Role::Xmp && &f.chunk.ty == b"iTXt")
        .or_else(|| s.found.iter().find(|f| f.role == Role::Xmp));
    if let Some(f) = existing
        && !f.utf8_ok
    {
        return Err(FormatError::malformed(
            "existing XMP iTXt chunk is not valid UTF-8; cannot merge the label into it",
        ));
    }
    let packet = crate::xmp::merge_label(existing.map(|f| f.text.as_str()), label_json)
        .map_err(|e| FormatError::malformed(e.to_string()))?;
    let chunk = xmp_chunk(&packet)?;
    let drop: HashSet<u64> = s.found.iter().map(|f| f.chunk.offset).collect();

    let mut w = Walker::start(src)?;
    dst.write_all(&SIGNATURE)?;
    while let Some(c) = w.next(src)? {
        if c.offset == insert_at {
            dst.write_all(&chunk)?;
        }
        if drop.contains(&c.offset) {
            continue;
        }
        src.seek(SeekFrom::Start(c.offset))?;
        io::copy_n(src, dst, c.end() - c.offset, "PNG chunk")?;
        if &c.ty == b"IEND" {
            // Bytes after IEND are not ours to judge; keep them.
            io::copy_rest(src, dst)?;
            break;
        }
    }
    dst.flush()?;
    Ok(())
}

/// Content selection: the concatenated data of every `IDAT` chunk, in file order (chunk
/// lengths, types and CRCs excluded). It is the compressed image, which labelling never touches.
/// APNG frames after the default image (`fdAT`) are not included.
pub(crate) fn content_digest(
    src: &mut dyn ReadSeek,
    sink: &mut dyn Write,
) -> Result<(), FormatError> {
    let mut w = Walker::start(src)?;
    let mut ended = false;
    while let Some(c) = w.next(src)? {
        match &c.ty {
            b"IDAT" => io::copy_n(src, sink, u64::from(c.len), "PNG IDAT chunk")?,
            b"IEND" => {
                ended = true;
                break;
            }
            _ => {}
        }
    }
    if !ended {
        return Err(FormatError::Truncated("PNG (no IEND chunk)"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::format::exif::test_util::{exiftool_read_aigc, exiftool_write_aigc, unescape_xml};
    use crate::test_support::{SAMPLE_LABEL, SAMPLE_LABEL_2};
    use std::io::Cursor;

    /// A small RGBA PNG made by the `image` crate.
    fn sample_png() -> Vec<u8> {
        let img = image::RgbaImage::from_fn(13, 7, |x, y| {
            image::Rgba([
                (x * 19) as u8,
                (y * 31) as u8,
                ((x ^ y) * 7) as u8,
                200 + x as u8,
            ])
        });
        let mut out = Vec::new();
        img.write_to(&mut Cursor::new(&mut out), image::ImageFormat::Png)
            .unwrap();
        out
    }

    /// Parses chunks, asserting every CRC is valid.
    fn chunks(png: &[u8]) -> Vec<([u8; 4], Vec<u8>)> {
        assert_eq!(&png[..8], &SIGNATURE);
        let mut out = Vec::new();
        let mut p = 8;
        while p < png.len() {
            let len = u32::from_be_bytes(png[p..p + 4].try_into().unwrap()) as usize;
            let ty: [u8; 4] = png[p + 4..p + 8].try_into().unwrap();
            let data = png[p + 8..p + 8 + len].to_vec();
            let crc = u32::from_be_bytes(png[p + 8 + len..p + 12 + len].try_into().unwrap());
            let mut h = crc32fast::Hasher::new();
            h.update(&ty);
            h.update(&data);
            assert_eq!(
                h.finalize(),
                crc,
                "bad CRC in {}",
                String::from_utf8_lossy(&ty)
            );
            out.push((ty, data));
            p += 12 + len;
        }
        out
    }

    fn chunk_bytes(ty: &[u8; 4], data: &[u8]) -> Vec<u8> {
        let mut h = crc32fast::Hasher::new();
        h.update(ty);
        h.update(data);
        let mut out = (data.len() as u32).to_be_bytes().to_vec();
        out.extend_from_slice(ty);
        out.extend_from_slice(data);
        out.extend_from_slice(&h.finalize().to_be_bytes());
        out
    }

    /// Inserts a chunk before the first chunk of type `before`.
    fn insert_chunk(png: &[u8], before: &[u8; 4], ty: &[u8; 4], data: &[u8]) -> Vec<u8> {
        let mut p = 8;
        loop {
            let len = u32::from_be_bytes(png[p..p + 4].try_into().unwrap()) as usize;
            if &png[p + 4..p + 8] == before {
                break;
            }
            p += 12 + len;
        }
        let mut out = png[..p].to_vec();
        out.extend_from_slice(&chunk_bytes(ty, data));
        out.extend_from_slice(&png[p..]);
        out
    }

    fn zlib(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    fn itxt(keyword: &str, text: &str, compressed: bool) -> Vec<u8> {
        let mut d = keyword.as_bytes().to_vec();
        d.extend_from_slice(&[0, u8::from(compressed), 0, 0, 0]);
        if compressed {
            d.extend_from_slice(&zlib(text.as_bytes()));
        } else {
            d.extend_from_slice(text.as_bytes());
        }
        d
    }

    fn label_png(png: &[u8], label: &str) -> Vec<u8> {
        let mut out = Cursor::new(Vec::new());
        write(&mut Cursor::new(png.to_vec()), &mut out, label).unwrap();
        out.into_inner()
    }

    fn scan_bytes(png: &[u8]) -> Scan {
        scan(&mut Cursor::new(png.to_vec())).unwrap()
    }

    fn digest(png: &[u8]) -> Vec<u8> {
        let mut d = Vec::new();
        content_digest(&mut Cursor::new(png.to_vec()), &mut d).unwrap();
        d
    }

    fn xmp_packet(body: &str) -> String {
        format!(
            "<?xpacket begin=\"\u{feff}\" id=\"W5M0MpCehiHzreSzNTczkc9d\"?><x:xmpmeta xmlns:x=\"adobe:ns:meta/\"><rdf:RDF xmlns:rdf=\"http://www.w3.org/1999/02/22-rdf-syntax-ns#\">{body}</rdf:RDF></x:xmpmeta><?xpacket end=\"w\"?>"
        )
    }

    fn wrapped(label: &str) -> String {
        format!("{{\"AIGC\":{label}}}")
    }

    fn assert_one_canonical_site(s: &Scan, label: &str) -> String {
        assert_eq!(s.sites.len(), 1, "{s:?}");
        let site = &s.sites[0];
        assert!(site.canonical);
        assert_eq!(site.location, "png:iTXt:XML:com.adobe.xmp");
        let SitePayload::Xmp(p) = &site.payload else {
            panic!("not XMP: {site:?}")
        };
        assert!(p.contains(crate::xmp::TC260_NS));
        assert!(unescape_xml(p).contains(label), "{p}");
        p.clone()
    }

    #[test]
    fn ds16_png_roundtrip_one_site() {
        let png = sample_png();
        assert!(scan_bytes(&png).sites.is_empty());
        let out = label_png(&png, SAMPLE_LABEL);
        assert_one_canonical_site(&scan_bytes(&out), SAMPLE_LABEL);
    }

    /// B-PNG1: one uncompressed iTXt XMP chunk with empty language and translated keyword,
    /// after IHDR and before the first IDAT; all CRCs valid.
    #[test]
    fn ds16_png_chunk_layout() {
        let out = label_png(&sample_png(), SAMPLE_LABEL);
        let cs = chunks(&out);
        let xmp: Vec<usize> = cs
            .iter()
            .enumerate()
            .filter(|(_, (t, d))| t == b"iTXt" && d.starts_with(b"XML:com.adobe.xmp\0"))
            .map(|(i, _)| i)
            .collect();
        assert_eq!(xmp.len(), 1);
        let i = xmp[0];
        let d = &cs[i].1;
        assert_eq!(&d[17..22], &[0, 0, 0, 0, 0]);
        assert_eq!(&cs[0].0, b"IHDR");
        let first_idat = cs.iter().position(|(t, _)| t == b"IDAT").unwrap();
        assert!(i > 0 && i < first_idat);
    }

    /// B-PNG1: IDAT and every other chunk byte-identical, pixels identical, digest unchanged.
    #[test]
    fn ds16_png_payload_byte_identical() {
        let png = insert_chunk(&sample_png(), b"IDAT", b"tIME", &[7, 233, 1, 2, 3, 4, 5]);
        let out = label_png(&png, SAMPLE_LABEL);
        let strip = |b: &[u8]| -> Vec<([u8; 4], Vec<u8>)> {
            chunks(b)
                .into_iter()
                .filter(|(t, d)| !(t == b"iTXt" && d.starts_with(b"XML:com.adobe.xmp\0")))
                .collect()
        };
        assert_eq!(strip(&png), strip(&out));
        assert_eq!(digest(&png), digest(&out));
        assert!(!digest(&png).is_empty());
        let a = image::load_from_memory(&png).unwrap().to_rgba8();
        let b = image::load_from_memory(&out).unwrap().to_rgba8();
        assert_eq!(a, b);
    }

    #[test]
    fn ds16_png_write_twice_one_site() {
        let once = label_png(&sample_png(), SAMPLE_LABEL);
        let twice = label_png(&once, SAMPLE_LABEL_2);
        let p = assert_one_canonical_site(&scan_bytes(&twice), SAMPLE_LABEL_2);
        assert!(!unescape_xml(&p).contains(SAMPLE_LABEL));
        assert_eq!(digest(&once), digest(&twice));
    }

    /// B-PNG3: legacy tEXt/zTXt/iTXt `AIGC` chunks are read (bare or wrapped) and migrated away.
    #[test]
    fn ds16_png_migrates_text_chunk() {
        let mut png = sample_png();
        let mut t = b"AIGC\0".to_vec();
        t.extend_from_slice(wrapped(SAMPLE_LABEL).as_bytes());
        png = insert_chunk(&png, b"IDAT", b"tEXt", &t);
        let mut z = b"AIGC\0\0".to_vec();
        z.extend_from_slice(&zlib(SAMPLE_LABEL.as_bytes()));
        png = insert_chunk(&png, b"IEND", b"zTXt", &z);
        png = insert_chunk(&png, b"IEND", b"iTXt", &itxt("AIGC", SAMPLE_LABEL, true));
        let s = scan_bytes(&png);
        let locs: Vec<&str> = s.sites.iter().map(|s| s.location.as_str()).collect();
        assert_eq!(locs, ["png:tEXt:AIGC", "png:zTXt:AIGC", "png:iTXt:AIGC"]);
        assert!(s.sites.iter().all(|s| !s.canonical));
        assert_eq!(s.sites[0].payload, SitePayload::Json(wrapped(SAMPLE_LABEL)));
        assert_eq!(s.sites[1].payload, SitePayload::Json(SAMPLE_LABEL.into()));
        let out = label_png(&png, SAMPLE_LABEL);
        assert_one_canonical_site(&scan_bytes(&out), SAMPLE_LABEL);
        assert!(
            chunks(&out)
                .iter()
                .all(|(t, d)| !(t == b"tEXt" || t == b"zTXt" || d.starts_with(b"AIGC\0")))
        );
    }

    /// B-PNG2: an existing XMP packet is merged (its properties survive), one XMP chunk remains.
    #[test]
    fn ds16_png_merges_existing_xmp() {
        let body = r#"<rdf:Description rdf:about="" xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:Iptc4xmpExt="http://iptc.org/std/Iptc4xmpExt/2008-02-29/"><dc:title><rdf:Alt><rdf:li xml:lang="x-default">Sunset test</rdf:li></rdf:Alt></dc:title><Iptc4xmpExt:DigitalSourceType>http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia</Iptc4xmpExt:DigitalSourceType></rdf:Description>"#;
        let png = insert_chunk(
            &sample_png(),
            b"IDAT",
            b"iTXt",
            &itxt("XML:com.adobe.xmp", &xmp_packet(body), false),
        );
        let out = label_png(&png, SAMPLE_LABEL);
        let p = assert_one_canonical_site(&scan_bytes(&out), SAMPLE_LABEL);
        assert!(p.contains("Sunset test"), "{p}");
        assert!(p.contains("trainedAlgorithmicMedia"), "{p}");
    }

    /// B-PNG3: XMP after IDAT and compressed XMP are found, and the writer leaves one chunk
    /// before IDAT.
    #[test]
    fn ds16_png_reads_xmp_after_idat_and_compressed() {
        let attr = format!(
            "<rdf:Description rdf:about=\"\" xmlns:tc260=\"{}\" tc260:AIGC=\"{}\"/>",
            crate::xmp::TC260_NS,
            SAMPLE_LABEL.replace('"', "&quot;")
        );
        for compressed in [false, true] {
            let png = insert_chunk(
                &sample_png(),
                b"IEND",
                b"iTXt",
                &itxt("XML:com.adobe.xmp", &xmp_packet(&attr), compressed),
            );
            let s = scan_bytes(&png);
            assert_eq!(s.sites.len(), 1);
            assert_eq!(s.sites[0].canonical, !compressed);
            let SitePayload::Xmp(p) = &s.sites[0].payload else {
                panic!()
            };
            assert!(p.contains("tc260:AIGC="));
            assert!(
                s.notes.iter().any(|n| n.contains("after IDAT")),
                "{:?}",
                s.notes
            );
            let out = label_png(&png, SAMPLE_LABEL_2);
            assert_one_canonical_site(&scan_bytes(&out), SAMPLE_LABEL_2);
            let cs = chunks(&out);
            let i = cs.iter().position(|(t, _)| t == b"iTXt").unwrap();
            assert!(i < cs.iter().position(|(t, _)| t == b"IDAT").unwrap());
        }
    }

    #[test]
    fn png_element_form_packet_returned_whole() {
        let el = format!(
            "<rdf:Description rdf:about=\"\" xmlns:TC260=\"{}\"><TC260:AIGC>{}</TC260:AIGC></rdf:Description>",
            crate::xmp::TC260_NS,
            SAMPLE_LABEL
        );
        let packet = xmp_packet(&el);
        let png = insert_chunk(
            &sample_png(),
            b"IDAT",
            b"iTXt",
            &itxt("XML:com.adobe.xmp", &packet, false),
        );
        assert_eq!(scan_bytes(&png).sites[0].payload, SitePayload::Xmp(packet));
    }

    #[test]
    fn png_c2pa_chunk_noted_and_kept() {
        let png = insert_chunk(&sample_png(), b"IDAT", b"caBX", b"jumbf-bytes");
        let s = scan_bytes(&png);
        assert!(s.sites.is_empty());
        assert!(s.notes.iter().any(|n| n.contains("caBX")));
        let out = label_png(&png, SAMPLE_LABEL);
        assert!(
            chunks(&out)
                .iter()
                .any(|(t, d)| t == b"caBX" && d == b"jumbf-bytes")
        );
    }

    #[test]
    fn png_trailing_bytes_kept() {
        let mut png = sample_png();
        png.extend_from_slice(b"trailer");
        let out = label_png(&png, SAMPLE_LABEL);
        assert!(out.ends_with(b"IEND\xaeB`\x82trailer"));
        assert!(
            scan_bytes(&png)
                .notes
                .iter()
                .any(|n| n.contains("after IEND"))
        );
    }

    #[test]
    fn png_truncated_is_error() {
        let out = label_png(&sample_png(), SAMPLE_LABEL);
        for cut in [
            0,
            5,
            8,
            12,
            20,
            40,
            out.len() / 2,
            out.len() - 13,
            out.len() - 1,
        ] {
            let t = &out[..cut];
            assert!(scan(&mut Cursor::new(t.to_vec())).is_err(), "cut {cut}");
            let mut dst = Cursor::new(Vec::new());
            assert!(write(&mut Cursor::new(t.to_vec()), &mut dst, SAMPLE_LABEL).is_err());
            assert!(content_digest(&mut Cursor::new(t.to_vec()), &mut Vec::new()).is_err());
        }
    }

    #[test]
    fn png_malformed_is_error() {
        let png = sample_png();
        let mut bad_len = png.clone();
        bad_len[8..12].copy_from_slice(&0xFFFF_FFF0u32.to_be_bytes());
        let mut bad_type = png.clone();
        bad_type[12] = b'1';
        let mut no_ihdr = png.clone();
        no_ihdr[12..16].copy_from_slice(b"tEXt");
        for b in [bad_len, bad_type, no_ihdr, b"GIF89a".to_vec()] {
            assert!(matches!(
                scan(&mut Cursor::new(b)),
                Err(FormatError::Malformed(_) | FormatError::Truncated(_))
            ));
        }
    }

    #[test]
    fn png_compressed_bomb_is_bounded() {
        let bomb = zlib(&vec![b' '; (MAX_SITE_BYTES + 10) as usize]);
        let mut d = b"XML:com.adobe.xmp\0\x01\0\0\0".to_vec();
        d.extend_from_slice(&bomb);
        let png = insert_chunk(&sample_png(), b"IDAT", b"iTXt", &d);
        assert!(matches!(
            scan(&mut Cursor::new(png)),
            Err(FormatError::TooLarge { .. })
        ));
    }

    #[test]
    fn ds16_png_interop_exiftool_reads() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("labelled.png");
        std::fs::write(&path, label_png(&sample_png(), SAMPLE_LABEL)).unwrap();
        if let Some(v) = exiftool_read_aigc(&path) {
            assert_eq!(v, SAMPLE_LABEL);
        }
    }

    /// The reverse: a PNG labelled by exiftool is scanned and its XMP packet returned.
    #[test]
    fn ds16_png_interop_exiftool_written_is_scanned() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("by-exiftool.png");
        std::fs::write(&path, sample_png()).unwrap();
        if !exiftool_write_aigc(&path, SAMPLE_LABEL) {
            return;
        }
        let bytes = std::fs::read(&path).unwrap();
        let s = scan_bytes(&bytes);
        assert_eq!(s.sites.len(), 1, "{s:?}");
        let SitePayload::Xmp(p) = &s.sites[0].payload else {
            panic!()
        };
        assert!(p.contains(crate::xmp::TC260_NS));
        assert!(unescape_xml(p).contains(SAMPLE_LABEL), "{p}");
        // And we relabel it into one site that exiftool reads back.
        let out = label_png(&bytes, SAMPLE_LABEL_2);
        assert_one_canonical_site(&scan_bytes(&out), SAMPLE_LABEL_2);
        std::fs::write(&path, &out).unwrap();
        assert_eq!(exiftool_read_aigc(&path).unwrap(), SAMPLE_LABEL_2);
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]
        #[test]
        fn png_scan_never_panics(data in proptest::collection::vec(proptest::num::u8::ANY, 0..256)) {
            let mut d = SIGNATURE.to_vec();
            d.extend_from_slice(&data);
            let _ = scan(&mut Cursor::new(data));
            let _ = scan(&mut Cursor::new(d.clone()));
            let _ = write(&mut Cursor::new(d), &mut Cursor::new(Vec::new()), SAMPLE_LABEL);
        }

        #[test]
        fn png_mutated_labelled_never_panics(
            cut in 0usize..2000,
            flips in proptest::collection::vec((0usize..2000, proptest::num::u8::ANY), 0..4),
        ) {
            let mut png = insert_chunk(&sample_png(), b"IEND", b"zTXt", &{
                let mut z = b"AIGC\0\0".to_vec();
                z.extend_from_slice(&zlib(SAMPLE_LABEL.as_bytes()));
                z
            });
            png = label_png(&png, SAMPLE_LABEL);
            for (i, b) in flips {
                let n = png.len();
                png[i % n] = b;
            }
            png.truncate(cut.min(png.len()));
            let _ = scan(&mut Cursor::new(png.clone()));
            let _ = content_digest(&mut Cursor::new(png.clone()), &mut Vec::new());
            let mut out = Cursor::new(Vec::new());
            if write(&mut Cursor::new(png), &mut out, SAMPLE_LABEL).is_ok() {
                // Whenever a write succeeds, exactly one label remains.
                let back = scan(&mut Cursor::new(out.into_inner())).unwrap();
                let found = crate::sites::labels_in(&back);
                proptest::prop_assert_eq!(found.len(), 1, "{:?}", back);
            }
        }
    }
}
