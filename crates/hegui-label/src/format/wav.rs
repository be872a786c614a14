//! WAV: the label is a top-level RIFF chunk with the FourCC `AIGC` whose payload is the bare
//! label JSON (TC260-PG-202510A), padded to an even length.
//!
//! The key decision is to append the chunk after every existing chunk: the writer is a streaming
//! copy of the chunks that are kept (so `fmt ` and `data`, header and payload, are byte for byte
//! the same) followed by the new chunk, with the RIFF size recomputed. The guide gives no
//! position, and the end is the one place that never moves audio data.
//!
//! Variants read and migrated away on write: a previous top-level `AIGC` chunk (replaced), and an
//! `AIGC` sub-chunk of `LIST`/`INFO` (gtkit/aigc writes both, which is a duplicate under
//! GB 45438 §6.1 c): that sub-chunk is dropped, the `LIST` size fixed, and a `LIST` left empty is
//! dropped. An XMP `_PMX` chunk (exiftool writes XMP there) is reported as an XMP site; on write
//! it is kept with only its AIGC property removed, so the `AIGC` chunk is the one label site. RF64/BW64 files are refused as unsupported. A recording streamed with an unknown
//! size (RIFF and `data` sizes 0xFFFFFFFF, data running to the end of the file) gets its `data`
//! size set to the bytes present, because a chunk can only follow a `data` chunk of known size.

use super::riff::{self, Chunk, Chunks, Riff};
use super::{FormatError, RawSite, ReadSeek, Scan, SitePayload, WriteSeek, io};
use std::io::{Cursor, SeekFrom, Write};

/// The label chunk's FourCC.
const AIGC: &[u8; 4] = b"AIGC";

/// What the writer does with one top-level chunk of the source.
enum Action {
    /// Copy it unchanged.
    Copy,
    /// Leave it out (an old label chunk, or a `LIST` whose only content was a label).
    Drop,
    /// Write a `LIST` with this payload instead (the label sub-chunk removed).
    Rewrite(Vec<u8>),
    /// Write a `_PMX` chunk with this XMP packet instead (its AIGC property removed, because the
    /// `AIGC` chunk is the one label site).
    RewriteXmp(Vec<u8>),
    /// The `data` chunk runs to the end of the file with a too-large size: write the bytes present
    /// under a corrected size.
    FixSize,
}

fn open(src: &mut dyn ReadSeek) -> Result<Riff, FormatError> {
    riff::open(src, b"WAVE", "WAV")
}

/// Reads a JSON label payload, dropping the NUL terminators INFO strings usually carry.
fn read_json(src: &mut dyn ReadSeek, chunk: &Chunk) -> Result<(String, bool), FormatError> {
    src.seek(SeekFrom::Start(chunk.data_offset()))?;
    let bytes = io::read_vec(src, chunk.len, "WAV AIGC chunk")?;
    let mut text = match String::from_utf8(bytes) {
        Ok(t) => t,
        Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
    };
    let had_nul = text.ends_with('\0');
    while text.ends_with('\0') {
        text.pop();
    }
    Ok((text, had_nul))
}

/// The list type of a `LIST` chunk, if it has one.
fn list_type(src: &mut dyn ReadSeek, chunk: &Chunk) -> Result<Option<[u8; 4]>, FormatError> {
    if &chunk.id != b"LIST" || chunk.len < 4 {
        return Ok(None);
    }
    src.seek(SeekFrom::Start(chunk.data_offset()))?;
    let mut t = [0u8; 4];
    io::read_exact(src, &mut t, "WAV LIST type")?;
    Ok(Some(t))
}

/// Finds every label site: top-level `AIGC` chunks (canonical), `LIST`/`INFO` sub-chunks `AIGC`,
/// and `_PMX` XMP packets.
pub(crate) fn scan(src: &mut dyn ReadSeek) -> Result<Scan, FormatError> {
    src.seek(SeekFrom::Start(0))?;
    let riff = open(src)?;
    let mut scan = Scan {
        notes: riff.notes.clone(),
        ..Scan::default()
    };
    let mut walk = riff.chunks();
    let mut seen_data = false;
    while let Some(chunk) = walk.next(src)? {
        if chunk.truncated() {
            if &chunk.id == AIGC || &chunk.id == b"LIST" || &chunk.id == b"_PMX" {
                return Err(FormatError::Truncated("WAV metadata chunk"));
            }
            scan.notes.push(format!(
                "chunk `{}` declares {} bytes but only {} are present",
                chunk.id_str(),
                chunk.size,
                chunk.len
            ));
            continue;
        }
        match &chunk.id {
            b"data" => seen_data = true,
            b"C2PA" => scan.notes.push(
                "C2PA manifest store (C2PA chunk) present; relabelling invalidates its hash".into(),
            ),
            b"AIGC" => {
                let (json, had_nul) = read_json(src, &chunk)?;
                if had_nul {
                    scan.notes.push("AIGC chunk ends with NUL bytes".into());
                }
                scan.sites.push(RawSite {
                    location: "wav:RIFF/AIGC".into(),
                    canonical: true,
                    payload: SitePayload::Json(json),
                });
            }
            b"_PMX" => {
                src.seek(SeekFrom::Start(chunk.data_offset()))?;
                let bytes = io::read_vec(src, chunk.len, "WAV _PMX chunk")?;
                scan.sites.push(RawSite {
                    location: "wav:_PMX".into(),
                    canonical: false,
                    payload: SitePayload::Xmp(String::from_utf8_lossy(&bytes).into_owned()),
                });
            }
            b"LIST" if list_type(src, &chunk)?.as_ref() == Some(b"INFO") => {
                let mut sub = Chunks::new(chunk.data_offset() + 4, chunk.data_offset() + chunk.len);
                while let Some(s) = sub.next(src)? {
                    if &s.id == AIGC {
                        if s.truncated() {
                            return Err(FormatError::Truncated("WAV LIST/INFO AIGC sub-chunk"));
                        }
                        let (json, _) = read_json(src, &s)?;
                        scan.sites.push(RawSite {
                            location: "wav:LIST/INFO/AIGC".into(),
                            canonical: false,
                            payload: SitePayload::Json(json),
                        });
                    }
                }
            }
            _ => {}
        }
        if &chunk.id == AIGC && !seen_data {
            scan.notes
                .push("AIGC chunk placed before the data chunk".into());
        }
    }
    if let Some((at, n)) = walk.stray() {
        scan.notes.push(format!(
            "{n} stray bytes at offset {at} (too short for a chunk)"
        ));
    }
    Ok(scan)
}

/// Decides what the writer does with `chunk` (called identically by both writer passes).
fn action(src: &mut dyn ReadSeek, riff: &Riff, chunk: &Chunk) -> Result<Action, FormatError> {
    if chunk.truncated() {
        // Only a `data` chunk that runs to the end of the file (a streamed recording) can be
        // repaired; anything else would lose bytes.
        if &chunk.id == b"data" && chunk.data_offset() + chunk.len == riff.file_len {
            return Ok(Action::FixSize);
        }
        return Err(FormatError::Truncated(
            "WAV chunk (payload runs past the end of the file)",
        ));
    }
    if &chunk.id == AIGC {
        return Ok(Action::Drop);
    }
    if &chunk.id == b"_PMX" {
        src.seek(SeekFrom::Start(chunk.data_offset()))?;
        let bytes = io::read_vec(src, chunk.len, "WAV _PMX chunk")?;
        let packet = String::from_utf8_lossy(&bytes);
        if crate::xmp::find_labels(&packet).is_empty() {
            return Ok(Action::Copy);
        }
        let cleaned = crate::xmp::remove_labels(&packet)
            .map_err(|e| FormatError::malformed(format!("WAV _PMX XMP: {e}")))?;
        return Ok(Action::RewriteXmp(cleaned.into_bytes()));
    }
    if list_type(src, chunk)?.as_ref() != Some(b"INFO") {
        return Ok(Action::Copy);
    }
    let start = chunk.data_offset() + 4;
    let end = chunk.data_offset() + chunk.len;
    let mut sub = Chunks::new(start, end);
    let mut has_label = false;
    while let Some(s) = sub.next(src)? {
        has_label |= &s.id == AIGC;
    }
    if !has_label {
        return Ok(Action::Copy);
    }
    // The list is small metadata: rebuild it in memory (bounded by read_vec).
    src.seek(SeekFrom::Start(start))?;
    let body = io::read_vec(src, end - start, "WAV LIST/INFO chunk")?;
    let mut list = Cursor::new(body.as_slice());
    let mut sub = Chunks::new(0, body.len() as u64);
    let mut out = b"INFO".to_vec();
    let mut kept = 0usize;
    while let Some(s) = sub.next(&mut list)? {
        if s.truncated() {
            return Err(FormatError::malformed(
                "WAV LIST/INFO sub-chunk runs past the end of the list",
            ));
        }
        if &s.id != AIGC {
            riff::copy_chunk(&mut list, &mut out, &s)?;
            kept += 1;
        }
    }
    Ok(if kept == 0 {
        Action::Drop
    } else {
        Action::Rewrite(out)
    })
}

/// Bytes `action` makes the chunk take in the output.
fn out_len(chunk: &Chunk, action: &Action) -> u64 {
    match action {
        Action::Copy => chunk.padded_size(),
        Action::Drop => 0,
        Action::Rewrite(body) | Action::RewriteXmp(body) => riff::padded(body.len() as u64),
        Action::FixSize => riff::padded(chunk.len),
    }
}

/// Streams `src` to `dst` with one top-level `AIGC` chunk holding `label_json`, appended after
/// the kept chunks; old label chunks and `LIST`/`INFO` `AIGC` sub-chunks are removed.
pub(crate) fn write(
    src: &mut dyn ReadSeek,
    dst: &mut dyn WriteSeek,
    label_json: &str,
) -> Result<(), FormatError> {
    src.seek(SeekFrom::Start(0))?;
    let riff = open(src)?;

    // Pass 1: the output size, so the header is written once and `dst` never seeks.
    let mut total = riff::padded(label_json.len() as u64);
    let mut walk = riff.chunks();
    while let Some(chunk) = walk.next(src)? {
        let a = action(src, &riff, &chunk)?;
        total += out_len(&chunk, &a);
    }
    let size = riff::riff_size(total)?;

    // Pass 2: the copy.
    dst.write_all(b"RIFF")?;
    dst.write_all(&size.to_le_bytes())?;
    dst.write_all(b"WAVE")?;
    let mut walk = riff.chunks();
    while let Some(chunk) = walk.next(src)? {
        match action(src, &riff, &chunk)? {
            Action::Copy => riff::copy_chunk(src, dst, &chunk)?,
            Action::Drop => {}
            Action::Rewrite(body) => riff::write_chunk(dst, b"LIST", &body)?,
            Action::RewriteXmp(body) => riff::write_chunk(dst, b"_PMX", &body)?,
            Action::FixSize => {
                // len < size <= u32::MAX, so it fits.
                let len = u32::try_from(chunk.len)
                    .map_err(|_| FormatError::malformed("WAV data size"))?;
                riff::write_header(dst, &chunk.id, len)?;
                src.seek(SeekFrom::Start(chunk.data_offset()))?;
                io::copy_n(src, dst, chunk.len, "WAV data chunk")?;
                if len & 1 == 1 {
                    dst.write_all(&[0])?;
                }
            }
        }
    }
    riff::write_chunk(dst, AIGC, label_json.as_bytes())?;
    if riff.trailing() > 0 {
        src.seek(SeekFrom::Start(riff.end))?;
        io::copy_n(src, dst, riff.trailing(), "WAV trailing data")?;
    }
    dst.flush()?;
    Ok(())
}

/// Content selection for WAV: the payload of the first `fmt ` chunk followed by the payload of
/// the first `data` chunk (in file order; headers and pad bytes excluded). A streamed `data`
/// chunk whose size runs past the end of the file contributes the bytes present.
pub(crate) fn content_digest(
    src: &mut dyn ReadSeek,
    sink: &mut dyn Write,
) -> Result<(), FormatError> {
    src.seek(SeekFrom::Start(0))?;
    let riff = open(src)?;
    let mut walk = riff.chunks();
    let (mut fmt, mut data) = (false, false);
    while let Some(chunk) = walk.next(src)? {
        let take = match &chunk.id {
            b"fmt " if !fmt => {
                fmt = true;
                true
            }
            b"data" if !data => {
                data = true;
                true
            }
            _ => false,
        };
        if take {
            if chunk.truncated() && &chunk.id == b"fmt " {
                return Err(FormatError::Truncated("WAV fmt chunk"));
            }
            src.seek(SeekFrom::Start(chunk.data_offset()))?;
            io::copy_n(src, sink, chunk.len, "WAV chunk payload")?;
        }
    }
    if !fmt || !data {
        return Err(FormatError::malformed(
            "WAV without a `fmt ` and a `data` chunk",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use crate::test_support::{SAMPLE_LABEL, SAMPLE_LABEL_2, tool};
    use proptest::prelude::*;
    use std::process::Command;

    /// A small PCM WAV: 16-bit mono 8 kHz, `samples` samples of a ramp.
    fn pcm(samples: usize) -> (Vec<u8>, Vec<u8>) {
        let mut fmt = Vec::new();
        fmt.extend_from_slice(&1u16.to_le_bytes()); // PCM
        fmt.extend_from_slice(&1u16.to_le_bytes()); // channels
        fmt.extend_from_slice(&8000u32.to_le_bytes());
        fmt.extend_from_slice(&16000u32.to_le_bytes());
        fmt.extend_from_slice(&2u16.to_le_bytes());
        fmt.extend_from_slice(&16u16.to_le_bytes());
        let data: Vec<u8> = (0..samples)
            .flat_map(|i| ((i as i16).wrapping_mul(97)).to_le_bytes())
            .collect();
        (fmt, data)
    }

    fn wav(samples: usize) -> Vec<u8> {
        let (fmt, data) = pcm(samples);
        riff::build(b"WAVE", &[(b"fmt ", &fmt), (b"data", &data)])
    }

    fn info_list(entries: &[(&[u8; 4], &[u8])]) -> Vec<u8> {
        let mut body = b"INFO".to_vec();
        for (id, data) in entries {
            riff::write_chunk(&mut body, id, data).unwrap();
        }
        body
    }

    fn label(input: &[u8], json: &str) -> Vec<u8> {
        let mut out = Cursor::new(Vec::new());
        write(&mut Cursor::new(input.to_vec()), &mut out, json).unwrap();
        out.into_inner()
    }

    fn scan_bytes(bytes: &[u8]) -> Scan {
        scan(&mut Cursor::new(bytes.to_vec())).unwrap()
    }

    fn chunks(bytes: &[u8]) -> Vec<(String, Vec<u8>)> {
        let mut src = Cursor::new(bytes.to_vec());
        let r = open(&mut src).unwrap();
        let mut w = r.chunks();
        let mut out = Vec::new();
        while let Some(c) = w.next(&mut src).unwrap() {
            let s = c.data_offset() as usize;
            out.push((c.id_str(), bytes[s..s + c.len as usize].to_vec()));
        }
        out
    }

    fn digest(bytes: &[u8]) -> Vec<u8> {
        let mut sink = Vec::new();
        content_digest(&mut Cursor::new(bytes.to_vec()), &mut sink).unwrap();
        sink
    }

    fn json_sites(s: &Scan) -> Vec<(&str, bool, &str)> {
        s.sites
            .iter()
            .map(|site| match &site.payload {
                SitePayload::Json(j) => (site.location.as_str(), site.canonical, j.as_str()),
                SitePayload::Xmp(x) => (site.location.as_str(), site.canonical, x.as_str()),
            })
            .collect()
    }

    #[test]
    fn ds16_wav_roundtrip_one_site() {
        let input = wav(101);
        assert!(scan_bytes(&input).sites.is_empty());
        let out = label(&input, SAMPLE_LABEL);
        let s = scan_bytes(&out);
        assert_eq!(json_sites(&s), vec![("wav:RIFF/AIGC", true, SAMPLE_LABEL)]);
        assert!(s.notes.is_empty(), "{:?}", s.notes);
    }

    #[test]
    fn ds16_wav_chunk_layout_and_riff_size() {
        let input = wav(10);
        // An odd-length label needs a pad byte.
        let odd = if SAMPLE_LABEL.len() % 2 == 1 {
            SAMPLE_LABEL.to_string()
        } else {
            format!("{SAMPLE_LABEL} ")
        };
        assert_eq!(odd.len() % 2, 1);
        let out = label(&input, &odd);
        let ids: Vec<String> = chunks(&out).into_iter().map(|c| c.0).collect();
        assert_eq!(ids, ["fmt ", "data", "AIGC"]);
        assert_eq!(
            u32::from_le_bytes(out[4..8].try_into().unwrap()) as usize,
            out.len() - 8
        );
        assert_eq!(out.len() % 2, 0);
        assert_eq!(out.last(), Some(&0));
        let tail = &out[input.len()..];
        assert_eq!(&tail[..4], b"AIGC");
        assert_eq!(
            u32::from_le_bytes(tail[4..8].try_into().unwrap()) as usize,
            odd.len()
        );
        assert_eq!(&tail[8..8 + odd.len()], odd.as_bytes());
    }

    #[test]
    fn ds16_wav_payload_byte_identical() {
        let input = wav(333);
        let out = label(&input, SAMPLE_LABEL);
        // The whole input is a prefix of the output: fmt and data, headers included, untouched.
        assert_eq!(&out[8..input.len()], &input[8..]);
        assert_eq!(digest(&input), digest(&out));
        let (fmt, data) = pcm(333);
        assert_eq!(digest(&input), [fmt, data].concat());
    }

    #[test]
    fn ds16_wav_write_twice_one_site() {
        let input = wav(20);
        let once = label(&input, SAMPLE_LABEL);
        let twice = label(&once, SAMPLE_LABEL_2);
        let s = scan_bytes(&twice);
        assert_eq!(
            json_sites(&s),
            vec![("wav:RIFF/AIGC", true, SAMPLE_LABEL_2)]
        );
        let chunk = riff::padded(SAMPLE_LABEL_2.len() as u64) as usize;
        assert_eq!(twice.len(), input.len() + chunk);
        assert_eq!(digest(&once), digest(&twice));
    }

    #[test]
    fn ds16_wav_replaces_label_chunk_before_data() {
        let (fmt, data) = pcm(7);
        let input = riff::build(
            b"WAVE",
            &[
                (b"fmt ", &fmt),
                (AIGC, SAMPLE_LABEL.as_bytes()),
                (b"data", &data),
            ],
        );
        let s = scan_bytes(&input);
        assert_eq!(s.sites.len(), 1);
        assert!(s.notes.iter().any(|n| n.contains("before the data")));
        let out = label(&input, SAMPLE_LABEL_2);
        let ids: Vec<String> = chunks(&out).into_iter().map(|c| c.0).collect();
        assert_eq!(ids, ["fmt ", "data", "AIGC"]);
        assert_eq!(
            json_sites(&scan_bytes(&out)),
            vec![("wav:RIFF/AIGC", true, SAMPLE_LABEL_2)]
        );
    }

    #[test]
    fn ds16_wav_migrates_list_info() {
        let (fmt, data) = pcm(9);
        let mut info_aigc = SAMPLE_LABEL.as_bytes().to_vec();
        info_aigc.push(0);
        let list = info_list(&[
            (b"ISFT", b"Lavf61\0"),
            (AIGC, &info_aigc),
            (b"INAM", b"tone\0"),
        ]);
        let input = riff::build(
            b"WAVE",
            &[(b"fmt ", &fmt), (b"LIST", &list), (b"data", &data)],
        );
        let s = scan_bytes(&input);
        assert_eq!(
            json_sites(&s),
            vec![("wav:LIST/INFO/AIGC", false, SAMPLE_LABEL)]
        );

        let out = label(&input, SAMPLE_LABEL_2);
        let s = scan_bytes(&out);
        assert_eq!(
            json_sites(&s),
            vec![("wav:RIFF/AIGC", true, SAMPLE_LABEL_2)]
        );
        let c = chunks(&out);
        assert_eq!(c[1].0, "LIST");
        assert_eq!(
            c[1].1,
            info_list(&[(b"ISFT", b"Lavf61\0"), (b"INAM", b"tone\0")])
        );
        assert_eq!(digest(&input), digest(&out));
    }

    #[test]
    fn ds16_wav_migrates_list_info_dropping_empty_list() {
        let (fmt, data) = pcm(9);
        let list = info_list(&[(AIGC, SAMPLE_LABEL.as_bytes())]);
        let input = riff::build(
            b"WAVE",
            &[
                (b"fmt ", &fmt),
                (b"data", &data),
                (b"LIST", &list),
                (AIGC, SAMPLE_LABEL.as_bytes()),
            ],
        );
        assert_eq!(scan_bytes(&input).sites.len(), 2);
        let out = label(&input, SAMPLE_LABEL);
        let ids: Vec<String> = chunks(&out).into_iter().map(|c| c.0).collect();
        assert_eq!(ids, ["fmt ", "data", "AIGC"]);
        assert_eq!(scan_bytes(&out).sites.len(), 1);
    }

    #[test]
    fn ds16_wav_keeps_other_lists_and_chunks() {
        let (fmt, data) = pcm(5);
        let adtl = b"adtlnote\x05\0\0\0abcde\0".to_vec();
        let input = riff::build(
            b"WAVE",
            &[
                (b"fmt ", &fmt),
                (b"bext", &[7; 13]),
                (b"data", &data),
                (b"LIST", &adtl),
            ],
        );
        let out = label(&input, SAMPLE_LABEL);
        assert_eq!(&out[8..input.len()], &input[8..]);
    }

    #[test]
    fn wav_streamed_sizes_are_repaired() {
        let (fmt, data) = pcm(11);
        let mut input = riff::build(b"WAVE", &[(b"fmt ", &fmt)]);
        input[4..8].copy_from_slice(&u32::MAX.to_le_bytes());
        input.extend_from_slice(b"data\xff\xff\xff\xff");
        input.extend_from_slice(&data);
        let s = scan_bytes(&input);
        assert!(!s.notes.is_empty());
        let out = label(&input, SAMPLE_LABEL);
        let c = chunks(&out);
        assert_eq!(c[1], ("data".to_string(), data.clone()));
        assert_eq!(c[2].0, "AIGC");
        assert_eq!(
            u32::from_le_bytes(out[4..8].try_into().unwrap()) as usize,
            out.len() - 8
        );
        assert_eq!(digest(&input), digest(&out));
    }

    #[test]
    fn wav_trailing_data_is_kept_after_the_riff() {
        let mut input = wav(4);
        let riff_len = input.len();
        input.extend_from_slice(b"TAGsome id3v1 junk that is not a chunk");
        let out = label(&input, SAMPLE_LABEL);
        assert!(out.ends_with(b"TAGsome id3v1 junk that is not a chunk"));
        let size = u32::from_le_bytes(out[4..8].try_into().unwrap()) as usize;
        assert_eq!(
            size + 8,
            riff_len + riff::padded(SAMPLE_LABEL.len() as u64) as usize
        );
        assert!(
            scan_bytes(&input)
                .notes
                .iter()
                .any(|n| n.contains("trailing"))
        );
    }

    #[test]
    fn wav_rf64_is_unsupported() {
        let mut input = wav(4);
        input[0..4].copy_from_slice(b"RF64");
        let err = scan(&mut Cursor::new(input.clone())).unwrap_err();
        assert!(
            matches!(err, FormatError::Unsupported(ref m) if m.contains("RF64")),
            "{err}"
        );
        let err = write(
            &mut Cursor::new(input),
            &mut Cursor::new(Vec::new()),
            SAMPLE_LABEL,
        )
        .unwrap_err();
        assert!(matches!(err, FormatError::Unsupported(_)), "{err}");
    }

    #[test]
    fn wav_truncated_is_error() {
        let input = wav(50);
        // Cut inside the fmt chunk: the data chunk header is gone and fmt is short.
        let cut = &input[..20];
        assert!(
            write(
                &mut Cursor::new(cut.to_vec()),
                &mut Cursor::new(Vec::new()),
                SAMPLE_LABEL
            )
            .is_err()
        );
        assert!(content_digest(&mut Cursor::new(cut.to_vec()), &mut Vec::new()).is_err());
        assert!(matches!(
            scan(&mut Cursor::new(input[..7].to_vec())),
            Err(FormatError::Truncated(_))
        ));
        // A label chunk cut short is an error, not "no label".
        let labelled = label(&input, SAMPLE_LABEL);
        let cut = &labelled[..labelled.len() - 20];
        assert!(matches!(
            scan(&mut Cursor::new(cut.to_vec())),
            Err(FormatError::Truncated(_))
        ));
        // Not a WAV at all.
        assert!(scan(&mut Cursor::new(b"RIFF\x04\0\0\0WEBP".to_vec())).is_err());
    }

    #[test]
    fn wav_scan_reads_pmx_xmp() {
        let (fmt, data) = pcm(3);
        let input = riff::build(
            b"WAVE",
            &[
                (b"fmt ", &fmt),
                (b"data", &data),
                (b"_PMX", b"<x:xmpmeta/>"),
            ],
        );
        let s = scan_bytes(&input);
        assert_eq!(s.sites.len(), 1);
        assert!(!s.sites[0].canonical);
        assert_eq!(s.sites[0].payload, SitePayload::Xmp("<x:xmpmeta/>".into()));
    }

    #[test]
    fn ds16_wav_pmx_label_is_migrated_to_the_chunk() {
        let (fmt, data) = pcm(3);
        let packet = crate::xmp::merge_label(None, SAMPLE_LABEL).unwrap();
        let input = riff::build(
            b"WAVE",
            &[
                (b"fmt ", &fmt),
                (b"data", &data),
                (b"_PMX", packet.as_bytes()),
            ],
        );
        let mut out = Cursor::new(Vec::new());
        write(&mut Cursor::new(input), &mut out, SAMPLE_LABEL).unwrap();
        let found = crate::sites::labels_in(&scan_bytes(out.get_ref()));
        assert_eq!(found.len(), 1);
        assert!(found[0].canonical);
    }

    proptest! {
        #[test]
        fn wav_scan_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let mut data = b"RIFF".to_vec();
            data.extend_from_slice(&bytes);
            let _ = scan(&mut Cursor::new(data.clone()));
            let _ = content_digest(&mut Cursor::new(data.clone()), &mut Vec::new());
            let _ = write(&mut Cursor::new(data), &mut Cursor::new(Vec::new()), SAMPLE_LABEL);
        }

        #[test]
        fn wav_scan_never_panics_on_damaged_labelled_file(
            cut in 0usize..400,
            flips in proptest::collection::vec((0usize..400, any::<u8>()), 0..6),
        ) {
            let (fmt, data) = pcm(40);
            let list = info_list(&[(b"ISFT", b"x\0"), (AIGC, SAMPLE_LABEL.as_bytes())]);
            let mut bytes = riff::build(b"WAVE", &[(b"fmt ", &fmt), (b"LIST", &list), (b"data", &data)]);
            bytes = label(&bytes, SAMPLE_LABEL);
            for (at, v) in flips {
                if let Some(b) = bytes.get_mut(at) {
                    *b = v;
                }
            }
            bytes.truncate(cut.min(bytes.len()));
            let _ = scan(&mut Cursor::new(bytes.clone()));
            let _ = content_digest(&mut Cursor::new(bytes.clone()), &mut Vec::new());
            if let Ok(()) = write(&mut Cursor::new(bytes.clone()), &mut Cursor::new(Vec::new()), SAMPLE_LABEL) {
                let out = label(&bytes, SAMPLE_LABEL);
                let s = scan(&mut Cursor::new(out)).unwrap();
                prop_assert_eq!(s.sites.iter().filter(|s| matches!(s.payload, SitePayload::Json(_))).count(), 1);
            }
        }
    }

    /// Makes a real WAV with ffmpeg (1 s of a 440 Hz tone with INFO tags) or `None` to skip.
    fn ffmpeg_wav(dir: &std::path::Path) -> Option<std::path::PathBuf> {
        let ffmpeg = tool("ffmpeg")?;
        let path = dir.join("in.wav");
        let ok = Command::new(ffmpeg)
            .args([
                "-loglevel",
                "error",
                "-y",
                "-f",
                "lavfi",
                "-i",
                "sine=frequency=440:duration=1.003",
            ])
            .args([
                "-ar",
                "11025",
                "-metadata",
                "title=tone",
                "-metadata",
                "comment=x",
            ])
            .arg(&path)
            .status()
            .unwrap()
            .success();
        assert!(ok, "ffmpeg failed");
        Some(path)
    }

    fn label_file(input: &std::path::Path, output: &std::path::Path, json: &str) {
        let mut src = std::io::BufReader::new(std::fs::File::open(input).unwrap());
        let mut dst = std::io::BufWriter::new(std::fs::File::create(output).unwrap());
        write(&mut src, &mut dst, json).unwrap();
    }

    fn ffprobe_duration(ffprobe: &std::path::Path, path: &std::path::Path) -> String {
        let out = Command::new(ffprobe)
            .args([
                "-v",
                "error",
                "-show_entries",
                "format=duration",
                "-of",
                "csv=p=0",
            ])
            .arg(path)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    }

    #[test]
    fn ds16_wav_interop_ffprobe_same_duration() {
        let dir = tempfile::tempdir().unwrap();
        let Some(input) = ffmpeg_wav(dir.path()) else {
            return;
        };
        let Some(ffprobe) = tool("ffprobe") else {
            return;
        };
        let output = dir.path().join("out.wav");
        label_file(&input, &output, SAMPLE_LABEL);
        let before = ffprobe_duration(&ffprobe, &input);
        let after = ffprobe_duration(&ffprobe, &output);
        assert!(!before.is_empty());
        assert_eq!(before, after);
        // And what we read from an ffmpeg-made file.
        let bytes = std::fs::read(&output).unwrap();
        assert_eq!(
            json_sites(&scan_bytes(&bytes)),
            vec![("wav:RIFF/AIGC", true, SAMPLE_LABEL)]
        );
        assert_eq!(digest(&std::fs::read(&input).unwrap()), digest(&bytes));
        // The INFO tags ffmpeg wrote survive.
        let out = Command::new(&ffprobe)
            .args([
                "-v",
                "error",
                "-show_entries",
                "format_tags=title",
                "-of",
                "csv=p=0",
            ])
            .arg(&output)
            .output()
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "tone");
    }

    #[test]
    fn ds16_wav_interop_exiftool_opens() {
        let dir = tempfile::tempdir().unwrap();
        let Some(input) = ffmpeg_wav(dir.path()) else {
            return;
        };
        let Some(exiftool) = tool("exiftool") else {
            return;
        };
        let output = dir.path().join("out.wav");
        label_file(&input, &output, SAMPLE_LABEL);
        let out = Command::new(exiftool)
            .args([
                "-validate",
                "-warning",
                "-error",
                "-a",
                "-G1",
                "-Duration",
                "-SampleRate",
            ])
            .arg(&output)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{text}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(!text.contains("Error"), "{text}");
        assert!(!text.contains("Warning"), "{text}");
        assert!(text.contains("11025"), "{text}");
        assert!(text.contains("Validate") && text.contains(": OK"), "{text}");
    }
}
