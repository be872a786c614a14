//! FLAC: the label is one `AIGC=<json>` entry in the VORBIS_COMMENT metadata block (type 4), as
//! the audio practice guide PG-202510A names it.
//!
//! Key decisions:
//! * Metadata blocks are rewritten in order; only VORBIS_COMMENT blocks change (the first gets the
//!   label where an old `AIGC` entry stood, any others lose their `AIGC` entries) and, when there
//!   is none, a new one (vendor `hegui`) goes right after STREAMINFO. Other comments and the
//!   vendor string stay. Every other block (STREAMINFO, SEEKTABLE, PICTURE, …) and the audio
//!   frames are byte copies.
//! * The first PADDING block absorbs the size change when it can, so the audio frames keep their
//!   offset; when it cannot, the file simply grows. The last-metadata-block flag is recomputed.
//! * A leading ID3v2 tag (written by some taggers before `fLaC`) is kept byte for byte, unless it
//!   carries an `AIGC` frame: then it is rewritten without it so one label site remains.

use super::mp3;
use super::ogg::{Comments, build_comments};
use super::{FormatError, RawSite, ReadSeek, Scan, SitePayload, WriteSeek, io};
use std::io::{Read, SeekFrom, Write};

/// Metadata block types we treat specially.
const STREAMINFO: u8 = 0;
const PADDING: u8 = 1;
const VORBIS_COMMENT: u8 = 4;

/// Largest metadata block payload (24-bit length).
const MAX_BLOCK: usize = 0xFF_FFFF;

/// More metadata blocks than any real encoder writes; a bound for hostile files.
const MAX_BLOCKS: usize = 4096;

/// Vendor string of a VORBIS_COMMENT block we create.
const VENDOR: &[u8] = b"hegui";

/// One metadata block as found in the file.
#[derive(Debug, Clone, Copy)]
struct Block {
    kind: u8,
    /// Offset of the payload (after the 4-byte block header).
    offset: u64,
    len: u32,
}

/// Where things are in a FLAC file.
#[derive(Debug)]
struct Layout {
    /// Length of a leading ID3v2 tag (0 when none).
    id3_len: u64,
    blocks: Vec<Block>,
    /// First byte after the last metadata block.
    audio_start: u64,
}

/// Walks the metadata block headers, seeking over payloads. Expects the position just before
/// `fLaC`.
fn read_layout(src: &mut dyn ReadSeek, id3_len: u64) -> Result<Layout, FormatError> {
    let file_len = io::len(src)?;
    let mut magic = [0u8; 4];
    io::read_exact(src, &mut magic, "FLAC marker")?;
    if &magic != b"fLaC" {
        return Err(FormatError::malformed("not a FLAC file (no fLaC marker)"));
    }
    let mut blocks = Vec::new();
    loop {
        if blocks.len() >= MAX_BLOCKS {
            return Err(FormatError::Unsupported(format!(
                "more than {MAX_BLOCKS} FLAC metadata blocks"
            )));
        }
        let mut h = [0u8; 4];
        io::read_exact(src, &mut h, "FLAC metadata block header")?;
        let last = h[0] & 0x80 != 0;
        let kind = h[0] & 0x7F;
        if kind == 127 {
            return Err(FormatError::malformed(
                "FLAC metadata block type 127 is invalid",
            ));
        }
        let len = u32::from_be_bytes([0, h[1], h[2], h[3]]);
        let offset = src.stream_position()?;
        let end = offset + u64::from(len);
        if end > file_len {
            return Err(FormatError::Truncated("FLAC metadata block"));
        }
        if blocks.is_empty() && (kind != STREAMINFO || len != 34) {
            return Err(FormatError::malformed(
                "FLAC metadata does not start with a 34-byte STREAMINFO block",
            ));
        }
        blocks.push(Block { kind, offset, len });
        src.seek(SeekFrom::Start(end))?;
        if last {
            break;
        }
    }
    Ok(Layout {
        id3_len,
        blocks,
        audio_start: src.stream_position()?,
    })
}

/// Reads a block's payload.
fn read_block(src: &mut dyn ReadSeek, b: &Block) -> Result<Vec<u8>, FormatError> {
    src.seek(SeekFrom::Start(b.offset))?;
    io::read_vec(src, u64::from(b.len), "FLAC metadata block")
}

/// Finds the `AIGC=` comments (and labels in a leading ID3v2 tag).
pub(crate) fn scan(src: &mut dyn ReadSeek) -> Result<Scan, FormatError> {
    src.seek(SeekFrom::Start(0))?;
    let mut scan = Scan::default();
    let id3 = mp3::read_tag(src)?;
    if let Some(tag) = &id3 {
        scan.notes.push("flac: ID3v2 tag before fLaC".into());
        tag.sites("flac:ID3v2", false, &mut scan);
    }
    let id3_len = id3.as_ref().map_or(0, |t| t.header().total_len());
    let layout = read_layout(src, id3_len)?;
    let mut comment_blocks = 0;
    for b in layout.blocks.iter().filter(|b| b.kind == VORBIS_COMMENT) {
        comment_blocks += 1;
        let payload = read_block(src, b)?;
        let comments = Comments::parse(&payload)?;
        for (name, value) in comments.labels() {
            scan.sites.push(RawSite {
                location: format!("flac:VORBIS_COMMENT:{name}"),
                canonical: true,
                payload: SitePayload::Json(value),
            });
        }
    }
    if comment_blocks > 1 {
        scan.notes.push(format!(
            "flac: {comment_blocks} VORBIS_COMMENT blocks (the format allows one)"
        ));
    }
    let mut sync = [0u8; 2];
    src.seek(SeekFrom::Start(layout.audio_start))?;
    if src.read(&mut sync)? == 2 && !(sync[0] == 0xFF && sync[1] & 0xFE == 0xF8) {
        scan.notes
            .push("flac: no frame sync right after the metadata blocks".into());
    }
    Ok(scan)
}

/// What goes out for one metadata block.
enum Out {
    /// The original payload of a block.
    Copy(Block),
    /// A new payload.
    Bytes(u8, Vec<u8>),
    /// A padding block of this many zero bytes.
    Zeros(u32),
}

impl Out {
    fn kind(&self) -> u8 {
        match self {
            Out::Copy(b) => b.kind,
            Out::Bytes(k, _) => *k,
            Out::Zeros(_) => PADDING,
        }
    }

    fn len(&self) -> u64 {
        match self {
            Out::Copy(b) => u64::from(b.len),
            Out::Bytes(_, v) => v.len() as u64,
            Out::Zeros(n) => u64::from(*n),
        }
    }
}

/// Writes `label_json` as the one `AIGC=` entry of the VORBIS_COMMENT block.
pub(crate) fn write(
    src: &mut dyn ReadSeek,
    dst: &mut dyn WriteSeek,
    label_json: &str,
) -> Result<(), FormatError> {
    src.seek(SeekFrom::Start(0))?;
    let id3 = mp3::read_tag(src)?;
    let id3_len = id3.as_ref().map_or(0, |t| t.header().total_len());
    let layout = read_layout(src, id3_len)?;

    let mut plan: Vec<Out> = Vec::with_capacity(layout.blocks.len() + 1);
    let mut labelled = false;
    for b in &layout.blocks {
        if b.kind != VORBIS_COMMENT {
            plan.push(Out::Copy(*b));
            continue;
        }
        let payload = read_block(src, b)?;
        let comments = Comments::parse(&payload)?;
        if !labelled {
            plan.push(Out::Bytes(
                VORBIS_COMMENT,
                comments.rebuild(Some(label_json))?,
            ));
            labelled = true;
        } else if comments.labels().is_empty() {
            plan.push(Out::Copy(*b));
        } else {
            plan.push(Out::Bytes(VORBIS_COMMENT, comments.rebuild(None)?));
        }
    }
    if !labelled {
        let entry = format!("AIGC={label_json}");
        let fresh = build_comments(VENDOR, &[entry.as_bytes()])?;
        // STREAMINFO is always first (checked by `read_layout`).
        plan.insert(1.min(plan.len()), Out::Bytes(VORBIS_COMMENT, fresh));
    }
    if let Some(big) = plan.iter().find(|o| o.len() > MAX_BLOCK as u64) {
        return Err(FormatError::TooLarge {
            what: "FLAC VORBIS_COMMENT block",
            size: big.len(),
            limit: MAX_BLOCK as u64,
        });
    }
    absorb_in_padding(&layout, &mut plan);

    // Output: the ID3v2 tag, the marker, the blocks, the frames.
    match &id3 {
        Some(tag) if tag.has_label() => dst.write_all(&tag.rebuild(None)?)?,
        Some(_) => {
            src.seek(SeekFrom::Start(0))?;
            io::copy_n(src, dst, layout.id3_len, "ID3v2 tag")?;
        }
        None => {}
    }
    dst.write_all(b"fLaC")?;
    let count = plan.len();
    for (i, out) in plan.iter().enumerate() {
        let last = if i + 1 == count { 0x80 } else { 0 };
        // Lengths were checked against MAX_BLOCK above (or come from a 24-bit field).
        let len = u32::try_from(out.len()).unwrap_or(u32::MAX).to_be_bytes();
        dst.write_all(&[last | out.kind(), len[1], len[2], len[3]])?;
        match out {
            Out::Copy(b) => {
                src.seek(SeekFrom::Start(b.offset))?;
                io::copy_n(src, dst, u64::from(b.len), "FLAC metadata block")?;
            }
            Out::Bytes(_, v) => dst.write_all(v)?,
            Out::Zeros(n) => {
                std::io::copy(&mut std::io::repeat(0).take(u64::from(*n)), dst)?;
            }
        }
    }
    src.seek(SeekFrom::Start(layout.audio_start))?;
    io::copy_rest(src, dst)?;
    Ok(())
}

/// Shrinks or grows the first PADDING block by the metadata size change, when the result is a
/// valid padding length, so the audio frames stay at their offset.
fn absorb_in_padding(layout: &Layout, plan: &mut [Out]) {
    let old: u64 = layout.blocks.iter().map(|b| 4 + u64::from(b.len)).sum();
    let new: u64 = plan.iter().map(|o| 4 + o.len()).sum();
    let delta = i128::from(new) - i128::from(old);
    if let Some(pad) = plan.iter_mut().find(|o| o.kind() == PADDING) {
        let resized = i128::from(pad.len()) - delta;
        if let Ok(n) = u32::try_from(resized)
            && n as usize <= MAX_BLOCK
        {
            *pad = Out::Zeros(n);
        }
    }
}

/// Content selection: the 34-byte STREAMINFO payload followed by every byte after the last
/// metadata block (the audio frames and any trailer), exactly as stored. A leading ID3v2 tag and
/// all other metadata blocks are excluded.
pub(crate) fn content_digest(
    src: &mut dyn ReadSeek,
    sink: &mut dyn Write,
) -> Result<(), FormatError> {
    src.seek(SeekFrom::Start(0))?;
    let id3_len = match mp3::read_header(src)? {
        Some(h) => {
            src.seek(SeekFrom::Start(h.total_len()))?;
            h.total_len()
        }
        None => 0,
    };
    let layout = read_layout(src, id3_len)?;
    let streaminfo = layout
        .blocks
        .first()
        .ok_or_else(|| FormatError::malformed("FLAC file without STREAMINFO"))?;
    sink.write_all(&read_block(src, streaminfo)?)?;
    src.seek(SeekFrom::Start(layout.audio_start))?;
    io::copy_rest(src, sink)?;
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

    fn fixture() -> Vec<u8> {
        std::fs::read(test_data("flac-plain.flac")).unwrap()
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

    /// (last flag, kind, payload) of every metadata block, and the audio bytes; `data` may start
    /// with an ID3v2 tag.
    /// (last flag, kind, payload) of each metadata block.
    type Blocks = Vec<(bool, u8, Vec<u8>)>;

    fn split(data: &[u8]) -> (Blocks, Vec<u8>) {
        let mut c = Cursor::new(data);
        let id3_len = mp3::read_header(&mut c)
            .unwrap()
            .map_or(0, |h| h.total_len());
        c.set_position(id3_len);
        let layout = read_layout(&mut c, id3_len).unwrap();
        let n = layout.blocks.len();
        let blocks = layout
            .blocks
            .iter()
            .enumerate()
            .map(|(i, b)| {
                let start = b.offset as usize;
                let h = data[start - 4];
                assert_eq!(h & 0x80 != 0, i + 1 == n, "last-block flag on block {i}");
                (
                    h & 0x80 != 0,
                    b.kind,
                    data[start..start + b.len as usize].to_vec(),
                )
            })
            .collect();
        (blocks, data[layout.audio_start as usize..].to_vec())
    }

    /// Builds a FLAC file from (kind, payload) blocks and audio bytes.
    fn assemble(blocks: &[(u8, Vec<u8>)], audio: &[u8]) -> Vec<u8> {
        let mut out = b"fLaC".to_vec();
        for (i, (kind, p)) in blocks.iter().enumerate() {
            let last = if i + 1 == blocks.len() { 0x80 } else { 0 };
            let len = (p.len() as u32).to_be_bytes();
            out.extend([last | kind, len[1], len[2], len[3]]);
            out.extend(p);
        }
        out.extend(audio);
        out
    }

    fn fixture_without(kinds: &[u8]) -> Vec<u8> {
        let (blocks, audio) = split(&fixture());
        let kept: Vec<_> = blocks
            .into_iter()
            .filter(|(_, k, _)| !kinds.contains(k))
            .map(|(_, k, p)| (k, p))
            .collect();
        assemble(&kept, &audio)
    }

    fn comments_of(data: &[u8]) -> Vec<Vec<String>> {
        split(data)
            .0
            .iter()
            .filter(|(_, k, _)| *k == VORBIS_COMMENT)
            .map(|(_, _, p)| {
                let c = Comments::parse(p).unwrap();
                let mut v = vec![String::from_utf8_lossy(c.vendor).into_owned()];
                v.extend(c.entries().map(|e| String::from_utf8_lossy(e).into_owned()));
                v
            })
            .collect()
    }

    fn assert_one_canonical(data: &[u8], json: &str) {
        let s = scan_bytes(data);
        assert_eq!(s.sites.len(), 1, "{:?}", s.sites);
        assert!(s.sites[0].canonical);
        assert_eq!(s.sites[0].location, "flac:VORBIS_COMMENT:AIGC");
        assert_eq!(s.sites[0].payload, SitePayload::Json(json.into()));
    }

    #[test]
    fn ds16_flac_roundtrip_one_site() {
        let input = fixture();
        assert!(scan_bytes(&input).sites.is_empty());
        let out = label(&input, SAMPLE_LABEL).unwrap();
        assert_one_canonical(&out, SAMPLE_LABEL);
        let aigc: Vec<_> = comments_of(&out)[0]
            .iter()
            .filter(|c| c.starts_with("AIGC="))
            .cloned()
            .collect();
        assert_eq!(aigc, [format!("AIGC={SAMPLE_LABEL}")]);
    }

    #[test]
    fn ds16_flac_keeps_vendor_and_other_comments() {
        let out = label(&fixture(), SAMPLE_LABEL).unwrap();
        assert_eq!(
            comments_of(&out),
            [vec![
                "reference libFLAC 1.4.2 20221022".to_string(),
                "title=hegui".into(),
                "artist=Fixture".into(),
                format!("AIGC={SAMPLE_LABEL}"),
            ]]
        );
    }

    #[test]
    fn ds16_flac_streaminfo_and_frames_byte_identical() {
        let input = fixture();
        let out = label(&input, SAMPLE_LABEL).unwrap();
        let (in_blocks, in_audio) = split(&input);
        let (out_blocks, out_audio) = split(&out);
        assert_eq!(in_audio, out_audio);
        assert_eq!(in_blocks[0], out_blocks[0], "STREAMINFO");
        assert_eq!(in_blocks[1], out_blocks[1], "SEEKTABLE");
        // The padding absorbed the growth: the frames did not move.
        assert_eq!(out.len(), input.len());
        assert_eq!(out_blocks.last().unwrap().1, PADDING);
        assert_eq!(digest(&out), digest(&input));
        assert_eq!(&digest(&input)[..34], in_blocks[0].2.as_slice());
    }

    #[test]
    fn ds16_flac_write_twice_one_site() {
        let once = label(&fixture(), SAMPLE_LABEL).unwrap();
        let twice = label(&once, SAMPLE_LABEL_2).unwrap();
        assert_one_canonical(&twice, SAMPLE_LABEL_2);
        assert_eq!(twice.len(), fixture().len());
        assert_eq!(label(&twice, SAMPLE_LABEL_2).unwrap(), twice, "idempotent");
        assert_eq!(digest(&twice), digest(&fixture()));
    }

    #[test]
    fn ds16_flac_creates_comment_block_after_streaminfo() {
        // No VORBIS_COMMENT, PADDING still there: it absorbs the new block.
        let input = fixture_without(&[VORBIS_COMMENT]);
        let out = label(&input, SAMPLE_LABEL).unwrap();
        assert_one_canonical(&out, SAMPLE_LABEL);
        let kinds: Vec<_> = split(&out).0.iter().map(|b| b.1).collect();
        assert_eq!(kinds, [STREAMINFO, VORBIS_COMMENT, 3, PADDING]);
        assert_eq!(out.len(), input.len());
        assert_eq!(comments_of(&out)[0][0], "hegui");
        assert_eq!(digest(&out), digest(&input));

        // STREAMINFO only: the new block becomes the last one.
        let input = fixture_without(&[VORBIS_COMMENT, PADDING, 3]);
        let out = label(&input, SAMPLE_LABEL).unwrap();
        let blocks = split(&out).0;
        assert_eq!(
            blocks.iter().map(|b| (b.0, b.1)).collect::<Vec<_>>(),
            [(false, STREAMINFO), (true, VORBIS_COMMENT)]
        );
        assert_one_canonical(&out, SAMPLE_LABEL);
        assert_eq!(digest(&out), digest(&input));
    }

    #[test]
    fn ds16_flac_padding_too_small_grows_file() {
        let (blocks, audio) = split(&fixture());
        let blocks: Vec<_> = blocks
            .into_iter()
            .map(|(_, k, p)| {
                if k == PADDING {
                    (k, vec![0; 10])
                } else {
                    (k, p)
                }
            })
            .collect();
        let input = assemble(&blocks, &audio);
        let out = label(&input, SAMPLE_LABEL).unwrap();
        assert!(out.len() > input.len());
        assert_one_canonical(&out, SAMPLE_LABEL);
        assert_eq!(split(&out).0.last().unwrap().2, vec![0; 10]);
    }

    #[test]
    fn ds16_flac_migrates_case_variants_and_duplicate_blocks() {
        let (blocks, audio) = split(&fixture());
        let mut blocks: Vec<_> = blocks.into_iter().map(|(_, k, p)| (k, p)).collect();
        let first = build_comments(
            b"vendor",
            &[
                b"title=x",
                format!("aigc={SAMPLE_LABEL}").as_bytes(),
                b"AIGCX=not a label",
            ],
        )
        .unwrap();
        let second = build_comments(b"v2", &[format!("AiGc={SAMPLE_LABEL}").as_bytes()]).unwrap();
        blocks[2] = (VORBIS_COMMENT, first);
        blocks.insert(3, (VORBIS_COMMENT, second));
        let input = assemble(&blocks, &audio);
        let s = scan_bytes(&input);
        let locs: Vec<_> = s.sites.iter().map(|s| s.location.as_str()).collect();
        assert_eq!(
            locs,
            ["flac:VORBIS_COMMENT:aigc", "flac:VORBIS_COMMENT:AiGc"]
        );
        assert!(s.notes.iter().any(|n| n.contains("2 VORBIS_COMMENT")));
        let out = label(&input, SAMPLE_LABEL_2).unwrap();
        assert_one_canonical(&out, SAMPLE_LABEL_2);
        assert_eq!(
            comments_of(&out),
            [
                vec![
                    "vendor".to_string(),
                    "title=x".into(),
                    format!("AIGC={SAMPLE_LABEL_2}"),
                    "AIGCX=not a label".into()
                ],
                vec!["v2".to_string()]
            ]
        );
    }

    fn id3_tag(frames: &[u8]) -> Vec<u8> {
        let mut t = b"ID3\x04\x00\x00".to_vec();
        let n = frames.len();
        t.extend([
            (n >> 21) as u8 & 0x7F,
            (n >> 14) as u8 & 0x7F,
            (n >> 7) as u8 & 0x7F,
            n as u8 & 0x7F,
        ]);
        t.extend(frames);
        t
    }

    fn id3_frame(id: &[u8], data: &[u8]) -> Vec<u8> {
        let mut f = id.to_vec();
        let n = data.len();
        f.extend([
            (n >> 21) as u8 & 0x7F,
            (n >> 14) as u8 & 0x7F,
            (n >> 7) as u8 & 0x7F,
            n as u8 & 0x7F,
        ]);
        f.extend([0, 0]);
        f.extend(data);
        f
    }

    #[test]
    fn ds16_flac_leading_id3v2_is_kept() {
        let tag = id3_tag(&id3_frame(b"TIT2", b"\x03title"));
        let mut input = tag.clone();
        input.extend(fixture());
        let out = label(&input, SAMPLE_LABEL).unwrap();
        assert!(out.starts_with(&tag));
        assert_one_canonical(&out, SAMPLE_LABEL);
        assert!(scan_bytes(&out).notes.iter().any(|n| n.contains("ID3v2")));
        assert_eq!(digest(&out), digest(&fixture()));
    }

    #[test]
    fn ds16_flac_leading_id3v2_label_is_migrated() {
        let mut txxx = b"\x03AIGC\0".to_vec();
        txxx.extend(SAMPLE_LABEL.as_bytes());
        let mut frames = id3_frame(b"TIT2", b"\x03title");
        frames.extend(id3_frame(b"TXXX", &txxx));
        let mut input = id3_tag(&frames);
        input.extend(fixture());
        let s = scan_bytes(&input);
        assert_eq!(s.sites.len(), 1);
        assert_eq!(s.sites[0].location, "flac:ID3v2:TXXX:AIGC");
        assert!(!s.sites[0].canonical);
        let out = label(&input, SAMPLE_LABEL_2).unwrap();
        assert_one_canonical(&out, SAMPLE_LABEL_2);
        // The tag keeps TIT2 (and its size, as padding).
        let tag = mp3::read_tag(&mut Cursor::new(&out)).unwrap().unwrap();
        assert_eq!(tag.header().total_len(), id3_tag(&frames).len() as u64);
        assert!(out[10..].starts_with(&id3_frame(b"TIT2", b"\x03title")));
        assert_eq!(digest(&out), digest(&input));
    }

    #[test]
    fn flac_truncated_is_error() {
        let out = label(&fixture(), SAMPLE_LABEL).unwrap();
        for cut in [0, 3, 6, 30, 42, 60, 100, 400] {
            let part = &out[..cut];
            assert!(scan(&mut Cursor::new(part)).is_err(), "cut {cut}");
            assert!(label(part, SAMPLE_LABEL).is_err(), "cut {cut}");
            assert!(
                content_digest(&mut Cursor::new(part), &mut Vec::new()).is_err(),
                "cut {cut}"
            );
        }
    }

    #[test]
    fn flac_malformed_is_error() {
        assert!(matches!(
            scan(&mut Cursor::new(b"OggS not flac")),
            Err(FormatError::Malformed(_))
        ));
        // First block not STREAMINFO.
        let bad = assemble(&[(PADDING, vec![0; 34])], b"");
        assert!(matches!(
            scan(&mut Cursor::new(&bad)),
            Err(FormatError::Malformed(_))
        ));
        assert!(matches!(
            label(&bad, SAMPLE_LABEL),
            Err(FormatError::Malformed(_))
        ));
        // A comment count that runs past the block.
        let (blocks, audio) = split(&fixture());
        let mut blocks: Vec<_> = blocks.into_iter().map(|(_, k, p)| (k, p)).collect();
        blocks[2].1 = b"\x01\x00\x00\x00v\xff\xff\x00\x00".to_vec();
        let bad = assemble(&blocks, &audio);
        assert!(matches!(
            scan(&mut Cursor::new(&bad)),
            Err(FormatError::Malformed(_))
        ));
        assert!(matches!(
            label(&bad, SAMPLE_LABEL),
            Err(FormatError::Malformed(_))
        ));
    }

    proptest::proptest! {
        #[test]
        fn flac_scan_never_panics(data in proptest::collection::vec(proptest::num::u8::ANY, 0..400)) {
            let mut flac = b"fLaC".to_vec();
            flac.extend(&data);
            for d in [&data, &flac] {
                let _ = scan(&mut Cursor::new(d));
                let _ = label(d, SAMPLE_LABEL);
                let _ = content_digest(&mut Cursor::new(d), &mut Vec::new());
            }
        }

        #[test]
        fn flac_scan_never_panics_on_damaged_labelled_file(
            cut in 0usize..12000,
            flips in proptest::collection::vec((0usize..500, proptest::num::u8::ANY), 0..6),
        ) {
            let mut data = label(&fixture(), SAMPLE_LABEL).unwrap();
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

    /// The labelled variants the interop tests check: plain, no comment block, STREAMINFO only,
    /// and with a leading ID3v2 tag.
    fn labelled_variants(dir: &Path) -> Vec<std::path::PathBuf> {
        let mut with_id3 = id3_tag(&id3_frame(b"TIT2", b"\x03title"));
        with_id3.extend(fixture());
        let inputs = [
            ("plain", fixture()),
            ("nocomment", fixture_without(&[VORBIS_COMMENT])),
            ("bare", fixture_without(&[VORBIS_COMMENT, PADDING, 3])),
            ("id3", with_id3),
        ];
        inputs
            .iter()
            .map(|(name, data)| {
                let path = dir.join(format!("{name}.flac"));
                std::fs::write(&path, label(data, SAMPLE_LABEL).unwrap()).unwrap();
                path
            })
            .collect()
    }

    #[test]
    fn ds16_flac_interop_flac_test_passes() {
        let Some(flac) = tool("flac") else { return };
        let dir = tempfile::tempdir().unwrap();
        for path in labelled_variants(dir.path()) {
            let out = Command::new(&flac)
                .args(["-t", "-s"])
                .arg(&path)
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{}: {}",
                path.display(),
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }

    #[test]
    fn ds16_flac_interop_metaflac_lists_comment() {
        let Some(metaflac) = tool("metaflac") else {
            return;
        };
        let dir = tempfile::tempdir().unwrap();
        for path in labelled_variants(dir.path()) {
            let out = Command::new(&metaflac)
                .arg("--list")
                .arg(&path)
                .output()
                .unwrap();
            let stdout = String::from_utf8_lossy(&out.stdout);
            assert!(out.status.success(), "{}", path.display());
            assert_eq!(
                stdout.matches(&format!("AIGC={SAMPLE_LABEL}")).count(),
                1,
                "{stdout}"
            );
        }
    }

    #[test]
    fn ds16_flac_interop_ffprobe_shows_tag() {
        let Some(ffprobe) = tool("ffprobe") else {
            return;
        };
        let dir = tempfile::tempdir().unwrap();
        for path in labelled_variants(dir.path()) {
            let out = Command::new(&ffprobe)
                .args(["-v", "error", "-show_format"])
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
                "{stdout}"
            );
        }
    }

    #[test]
    fn ds16_flac_interop_reads_ffmpeg_metadata() {
        let Some(ffmpeg) = tool("ffmpeg") else { return };
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ff.flac");
        let status = Command::new(&ffmpeg)
            .args(["-v", "error", "-y", "-i"])
            .arg(test_data("flac-plain.flac"))
            .args(["-c", "copy", "-metadata"])
            .arg(format!("AIGC={SAMPLE_LABEL}"))
            .arg(&path)
            .status()
            .unwrap();
        assert!(status.success());
        let data = std::fs::read(&path).unwrap();
        assert_one_canonical(&data, SAMPLE_LABEL);
        let out = label(&data, SAMPLE_LABEL_2).unwrap();
        assert_one_canonical(&out, SAMPLE_LABEL_2);
        assert_eq!(digest(&out), digest(&data));
    }
}
