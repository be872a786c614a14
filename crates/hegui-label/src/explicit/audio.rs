//! The audible rhythm label (GB 45438 §5.3 c, checks D-EXPL1 and D-EXPL3): four tone bursts,
//! short-long-short-short (Morse "AI", `·− ··`), inserted at the start, the end or both ends of an
//! audio file.
//!
//! * [`rhythm_samples`] makes the cue: sine bursts with raised-cosine ramps (no clicks), gaps, and
//!   a short silence pad on each side so that the cue never runs into the programme.
//! * [`label_audio`] inserts it. WAV is done natively: the `fmt ` chunk is read with `hound`, and
//!   the file is rewritten chunk by chunk through the RIFF walker of [`crate::format`], with the
//!   cue encoded at the file's own rate, channel count, sample format and bit depth and spliced
//!   around the original `data` bytes, which are streamed unchanged. The key decision is to splice
//!   bytes rather than re-write the file with `hound`'s writer: every other chunk (`LIST`/`INFO`,
//!   `bext`, `iXML`, `_PMX` XMP, an existing `AIGC` chunk, unknown ones) keeps its place and its
//!   bytes, the `fmt ` chunk (channel mask, valid bits, extensible sub-format) stays exactly as it
//!   was, and the programme samples are byte-identical. Chunks that count sample frames are
//!   updated: `fact` (frame count), and with the cue at the start, `cue ` and `smpl` positions and
//!   the BWF `bext` time reference move by the cue's length so markers stay on the same sound.
//! * MP3, FLAC, Ogg Vorbis/Opus and M4A (AAC/ALAC) need decoding and re-encoding. There are no
//!   pure-Rust encoders for MP3, Vorbis, Opus or AAC (and a FLAC-only path would be a second code
//!   path for one format), so these go through the `ffmpeg` CLI, detected at run time
//!   ([`ExplicitError::FfmpegMissing`] when absent): the cue is written as a WAV at the source's
//!   rate and channel layout and joined with the source by the `concat` filter, re-encoded with
//!   the source's codec at a bitrate close to the source's (from `ffprobe`). Metadata: MP3 gets
//!   the source's ID3v2 tag (and ID3v1 tail) byte for byte, M4A gets the source's `moov/udta`
//!   back byte for byte (both survive ffmpeg only partially); FLAC and Ogg keep their comments
//!   through `-map_metadata`, and FLAC its cover art.
//!
//! The caller applies the implicit label after this stage, so an implicit label in the input
//! does not need to survive here (it does in WAV, MP3 and M4A and is rewritten anyway).

use super::video::ff;
use super::{AudioPlacement, ExplicitError};
use crate::format::{FormatError, ReadSeek, riff};
use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::Path;

/// Silence before and after the four bursts, so the cue never touches the programme.
pub const PAD_MS: u32 = 150;

/// Longest raised-cosine ramp at each end of a burst.
const MAX_RAMP_MS: f32 = 10.0;

/// The rhythm cue's sound: four sine bursts, short-long-short-short.
///
/// GB 45438 fixes only the rhythm (短长短短) and that it be clearly audible; the defaults follow
/// Morse timing at a 120 ms unit (dash = 3 units) on an 800 Hz tone at −6 dBFS peak.
#[derive(Debug, Clone, PartialEq)]
pub struct RhythmCue {
    /// Tone frequency in Hz (default 800).
    pub frequency_hz: f32,
    /// Short burst length in ms (default 120).
    pub short_ms: u32,
    /// Long burst length in ms (default 360).
    pub long_ms: u32,
    /// Silence between bursts in ms (default 120).
    pub gap_ms: u32,
    /// Peak level of the tone in dBFS (default −6).
    pub amplitude_dbfs: f32,
}

impl Default for RhythmCue {
    fn default() -> Self {
        RhythmCue {
            frequency_hz: 800.0,
            short_ms: 120,
            long_ms: 360,
            gap_ms: 120,
            amplitude_dbfs: -6.0,
        }
    }
}

impl RhythmCue {
    /// Checks that the cue is a recognisable, audible rhythm at `sample_rate`: the long burst at
    /// least twice the short one (D-EXPL1), bursts and gaps of at least 30 ms, a tone between
    /// 100 Hz and 45% of the sample rate, and a peak between −20 and 0 dBFS.
    pub fn validate(&self, sample_rate: u32) -> Result<(), ExplicitError> {
        let bad = |m: String| Err(ExplicitError::Invalid(format!("rhythm cue: {m}")));
        if self.short_ms < 30 || self.gap_ms < 30 {
            return bad(format!(
                "short burst {} ms and gap {} ms must each be at least 30 ms to be heard as separate",
                self.short_ms, self.gap_ms
            ));
        }
        if u64::from(self.long_ms) < 2 * u64::from(self.short_ms) {
            return bad(format!(
                "long burst {} ms must be at least twice the short one ({} ms)",
                self.long_ms, self.short_ms
            ));
        }
        if self.long_ms > 5_000 || self.gap_ms > 5_000 {
            return bad("bursts and gaps are limited to 5 s".into());
        }
        let nyquist_room = sample_rate as f32 * 0.45;
        if !(self.frequency_hz >= 100.0 && self.frequency_hz <= nyquist_room) {
            return bad(format!(
                "tone {} Hz must be between 100 Hz and {nyquist_room:.0} Hz at {sample_rate} Hz",
                self.frequency_hz
            ));
        }
        if !(-20.0..=0.0).contains(&self.amplitude_dbfs) {
            return bad(format!(
                "peak {} dBFS must be between -20 and 0 dBFS to be clearly audible without clipping",
                self.amplitude_dbfs
            ));
        }
        Ok(())
    }

    /// Length of the whole cue (bursts, gaps and both silence pads) in seconds.
    pub fn duration_s(&self) -> f64 {
        f64::from(2 * PAD_MS + 3 * self.short_ms + self.long_ms + 3 * self.gap_ms) / 1000.0
    }
}

/// The cue as mono samples in [−1, 1] at `sample_rate`: silence pad, short, gap, long, gap,
/// short, gap, short, silence pad. Each burst rises and falls with a raised-cosine ramp of up to
/// 10 ms so it starts and ends without a click.
pub fn rhythm_samples(cue: &RhythmCue, sample_rate: u32) -> Vec<f32> {
    let ms = |v: u32| (u64::from(v) * u64::from(sample_rate)).div_ceil(1000) as usize;
    let amp = 10f32.powf(cue.amplitude_dbfs.min(0.0) / 20.0);
    let w = std::f64::consts::TAU * f64::from(cue.frequency_hz) / f64::from(sample_rate);
    let mut out = Vec::with_capacity(ms(2 * PAD_MS
        + 3 * cue.short_ms
        + cue.long_ms
        + 3 * cue.gap_ms));
    out.resize(ms(PAD_MS), 0.0);
    let bursts = [cue.short_ms, cue.long_ms, cue.short_ms, cue.short_ms];
    for (i, &len_ms) in bursts.iter().enumerate() {
        if i > 0 {
            out.resize(out.len() + ms(cue.gap_ms), 0.0);
        }
        let n = ms(len_ms);
        // A quarter of the burst at most, so a very short burst still reaches full level.
        let ramp = ((MAX_RAMP_MS * sample_rate as f32 / 1000.0) as usize)
            .min(n / 4)
            .max(1);
        for k in 0..n {
            let edge = k.min(n - 1 - k);
            let gain = if edge < ramp {
                0.5 - 0.5 * (std::f32::consts::PI * edge as f32 / ramp as f32).cos()
            } else {
                1.0
            };
            out.push(amp * gain * (w * k as f64).sin() as f32);
        }
    }
    out.resize(out.len() + ms(PAD_MS), 0.0);
    out
}

/// How to label an audio file.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AudioLabelOptions {
    /// Where the cue goes (start, end or both).
    pub placement: AudioPlacement,
    /// The cue's sound.
    pub cue: RhythmCue,
}

/// What [`label_audio`] did.
#[derive(Debug, Clone, PartialEq)]
pub struct AudioLabelReport {
    /// Where each inserted cue (silence pads included) starts in the output, in seconds.
    pub cue_starts_s: Vec<f64>,
    /// Length of the input audio in seconds.
    pub duration_in_s: f64,
    /// Length of the output audio in seconds.
    pub duration_out_s: f64,
    /// `"native-wav"` or `"ffmpeg"`.
    pub backend: &'static str,
    /// Things the caller should know (dropped chunks, metadata that could not be carried).
    pub warnings: Vec<String>,
}

/// Inserts the rhythm cue into `src` and writes the result to `dst` (which the caller owns and
/// deletes on error). WAV is handled natively; MP3, FLAC, Ogg and M4A need the `ffmpeg` CLI.
pub fn label_audio(
    src: &Path,
    dst: &Path,
    format: crate::Format,
    opts: &AudioLabelOptions,
) -> Result<AudioLabelReport, ExplicitError> {
    use crate::Format;
    match format {
        Format::Wav => label_wav(src, dst, opts),
        Format::Mp3 | Format::Flac | Format::Ogg | Format::Mp4 => {
            label_with_ffmpeg(src, dst, format, opts)
        }
        other => Err(ExplicitError::Unsupported(format!(
            "{other:?} is not an audio format with a rhythm-label path"
        ))),
    }
}

/// D-EXPL3: a voice assistant (high-frequency interactive audio, GB 45438 §5.3 Note 3) must either
/// play the cue in every turn or show the persistent interface label; refuses a configuration
/// with neither.
pub fn check_voice_mode(
    per_turn_cue: bool,
    ui_persistent_label: bool,
) -> Result<(), ExplicitError> {
    if per_turn_cue || ui_persistent_label {
        Ok(())
    } else {
        Err(ExplicitError::Invalid(
            "voice interaction needs the rhythm or speech label in every turn, or a persistent \
             interface label (GB 45438 §5.3 Note 3); neither is enabled"
                .into(),
        ))
    }
}

/// How many cues go before and after the programme.
fn cue_counts(p: AudioPlacement) -> (u64, u64) {
    match p {
        AudioPlacement::Start => (1, 0),
        AudioPlacement::End => (0, 1),
        AudioPlacement::Both => (1, 1),
    }
}

/// Where the cues start, for a programme of `prog_s` seconds and a cue of `cue_s` seconds.
fn cue_starts(p: AudioPlacement, cue_s: f64, prog_s: f64) -> Vec<f64> {
    match p {
        AudioPlacement::Start => vec![0.0],
        AudioPlacement::End => vec![prog_s],
        AudioPlacement::Both => vec![0.0, cue_s + prog_s],
    }
}

fn format_err(e: FormatError) -> ExplicitError {
    match e {
        FormatError::Io(e) => ExplicitError::Io(e),
        FormatError::Unsupported(m) => ExplicitError::Unsupported(m),
        other => ExplicitError::Decode(format!("WAV: {other}")),
    }
}

// ---------------------------------------------------------------------------------------------
// WAV, natively
// ---------------------------------------------------------------------------------------------

/// How one sample is stored in the `data` chunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct SampleLayout {
    float: bool,
    /// Bytes per sample in the container.
    bytes: u16,
    /// Significant bits (≤ 8 × bytes); integer samples are left-justified in the container.
    valid_bits: u16,
    channels: u16,
    rate: u32,
}

impl SampleLayout {
    fn block_align(&self) -> u64 {
        u64::from(self.bytes) * u64::from(self.channels)
    }

    /// Encodes mono samples as interleaved frames (the same value in every channel).
    fn encode(&self, mono: &[f32]) -> Vec<u8> {
        let mut out = Vec::with_capacity(mono.len() * self.block_align() as usize);
        let bytes = usize::from(self.bytes);
        let shift = 8 * u32::from(self.bytes) - u32::from(self.valid_bits);
        let full = ((1i64 << (self.valid_bits - 1)) - 1) as f64;
        for &x in mono {
            let x = x.clamp(-1.0, 1.0);
            let mut one = [0u8; 8];
            if self.float {
                one[..4].copy_from_slice(&x.to_le_bytes());
            } else if bytes == 1 {
                // 8-bit WAV is unsigned with 128 as silence.
                one[0] = (128.0 + (f64::from(x) * 127.0).round()) as u8;
            } else {
                let v = ((f64::from(x) * full).round() as i64) << shift;
                one = v.to_le_bytes();
            }
            for _ in 0..self.channels {
                out.extend_from_slice(&one[..bytes]);
            }
        }
        out
    }
}

fn hound_err(e: hound::Error) -> ExplicitError {
    match e {
        hound::Error::IoError(e) => ExplicitError::Io(e),
        hound::Error::Unsupported => ExplicitError::Unsupported(
            "WAV sample format (only PCM integer 8/16/24/32-bit and 32-bit float are supported)"
                .into(),
        ),
        other => ExplicitError::Decode(format!("WAV: {other}")),
    }
}

/// Reads the sample layout from the `fmt ` chunk payload. `hound` validates it (format tag,
/// extensible sub-format, bit depth); it is given the chunk alone with an empty `data` chunk, so
/// that a streamed or oddly sized `data` chunk, which the RIFF walker tolerates, does not matter.
fn wav_layout(fmt: &[u8]) -> Result<SampleLayout, ExplicitError> {
    let fmt_len = u32::try_from(fmt.len())
        .map_err(|_| ExplicitError::Decode("WAV fmt chunk is too large".into()))?;
    let mut probe = Vec::with_capacity(fmt.len() + 28);
    probe.extend_from_slice(b"RIFF");
    probe.extend_from_slice(&(fmt_len + 20 + (fmt_len & 1)).to_le_bytes());
    probe.extend_from_slice(b"WAVE");
    riff::write_chunk(&mut probe, b"fmt ", fmt).map_err(format_err)?;
    probe.extend_from_slice(b"data\0\0\0\0");
    let spec = hound::WavReader::new(std::io::Cursor::new(probe))
        .map_err(hound_err)?
        .spec();
    let block_align = fmt
        .get(12..14)
        .map(|b| u16::from_le_bytes([b[0], b[1]]))
        .unwrap_or(0);
    let bytes = block_align / spec.channels.max(1);
    let float = spec.sample_format == hound::SampleFormat::Float;
    if float && bytes != 4 {
        return Err(ExplicitError::Unsupported(format!(
            "{bytes}-byte float WAV samples"
        )));
    }
    if !float && !(1..=4).contains(&bytes) {
        return Err(ExplicitError::Unsupported(format!(
            "{bytes}-byte integer WAV samples"
        )));
    }
    let valid_bits = if float {
        32
    } else {
        spec.bits_per_sample.clamp(1, bytes * 8)
    };
    Ok(SampleLayout {
        float,
        bytes,
        valid_bits,
        channels: spec.channels,
        rate: spec.sample_rate,
    })
}

fn label_wav(
    src: &Path,
    dst: &Path,
    opts: &AudioLabelOptions,
) -> Result<AudioLabelReport, ExplicitError> {
    let mut input = BufReader::with_capacity(256 << 10, File::open(src)?);
    let riff = riff::open(&mut input, b"WAVE", "WAV").map_err(format_err)?;
    let mut warnings = riff.notes.clone();
    let mut chunks = Vec::new();
    let mut walk = riff.chunks();
    while let Some(c) = walk.next(&mut input).map_err(format_err)? {
        chunks.push(c);
    }
    if let Some((at, n)) = walk.stray() {
        warnings.push(format!(
            "{n} stray bytes at offset {at} (too few for a chunk) dropped"
        ));
    }
    let data = *chunks
        .iter()
        .find(|c| &c.id == b"data")
        .ok_or_else(|| ExplicitError::Decode("WAV has no data chunk".into()))?;
    let fmt = chunks
        .iter()
        .find(|c| &c.id == b"fmt " && !c.truncated())
        .ok_or_else(|| ExplicitError::Decode("WAV has no fmt chunk".into()))?;
    let layout = wav_layout(&payload(&mut input, fmt)?)?;
    opts.cue.validate(layout.rate)?;

    let ba = layout.block_align();
    let frames_in = data.len / ba;
    let partial = data.len % ba;
    let cue = layout.encode(&rhythm_samples(&opts.cue, layout.rate));
    let cue_frames = cue.len() as u64 / ba;
    let (pre, post) = cue_counts(opts.placement);
    // A trailing partial frame would shift the end cue off the frame grid: complete it with zeros.
    let fill = if post > 0 && partial > 0 {
        ba - partial
    } else {
        0
    };
    if fill > 0 {
        warnings.push(format!(
            "the data chunk ended with a partial frame ({partial} of {ba} bytes); it was completed \
             with silence before the end cue"
        ));
    }
    let new_len = (pre + post) * cue.len() as u64 + data.len + fill;
    let new_size = u32::try_from(new_len).map_err(|_| {
        ExplicitError::Unsupported(format!(
            "the labelled data chunk ({new_len} bytes) would exceed the 4 GiB WAV limit"
        ))
    })?;
    let shift = pre * cue_frames;
    let frames_out = frames_in + (pre + post) * cue_frames + u64::from(fill > 0);

    let mut out = BufWriter::with_capacity(256 << 10, File::create(dst)?);
    out.write_all(b"RIFF\0\0\0\0WAVE")?;
    let mut written = 12u64;
    for c in &chunks {
        if c.offset == data.offset {
            riff::write_header(&mut out, b"data", new_size).map_err(format_err)?;
            if pre > 0 {
                out.write_all(&cue)?;
            }
            input.seek(SeekFrom::Start(data.data_offset()))?;
            copy_n(&mut input, &mut out, data.len)?;
            out.write_all(&vec![0u8; fill as usize])?;
            if post > 0 {
                out.write_all(&cue)?;
            }
            if new_len & 1 == 1 {
                out.write_all(&[0])?;
            }
            written += riff::padded(new_len);
            continue;
        }
        if c.truncated() {
            warnings.push(format!(
                "chunk '{}' at offset {} is truncated ({} of {} bytes) and was dropped",
                c.id_str(),
                c.offset,
                c.len,
                c.size
            ));
            continue;
        }
        let rewritten = match &c.id {
            b"fact" => Some(patch_u32(&mut input, c, 0, |_| {
                u32::try_from(frames_out).ok()
            })?),
            b"cue " if shift > 0 => Some(shift_sample_table(
                &mut input,
                c,
                &CUE_POINTS,
                shift,
                &mut warnings,
            )?),
            b"smpl" if shift > 0 => Some(shift_sample_table(
                &mut input,
                c,
                &SMPL_LOOPS,
                shift,
                &mut warnings,
            )?),
            b"bext" if shift > 0 => Some(shift_bext(&mut input, c, shift, &mut warnings)?),
            _ => None,
        };
        match rewritten {
            Some(payload) => {
                riff::write_chunk(&mut out, &c.id, &payload).map_err(format_err)?;
                written += riff::padded(payload.len() as u64);
            }
            None => {
                riff::copy_chunk(&mut input, &mut out, c).map_err(format_err)?;
                written += c.padded_size();
            }
        }
    }
    let riff_size = riff::riff_size(written - 8 - 4).map_err(format_err)?;
    if riff.trailing() > 0 {
        // Bytes after the RIFF (an appended ID3 tag, say) are not ours to drop.
        input.seek(SeekFrom::Start(riff.end))?;
        copy_n(&mut input, &mut out, riff.trailing())?;
    }
    let mut file = out.into_inner().map_err(|e| e.into_error())?;
    file.seek(SeekFrom::Start(4))?;
    file.write_all(&riff_size.to_le_bytes())?;
    file.sync_all()?;

    let rate = f64::from(layout.rate);
    let cue_s = cue_frames as f64 / rate;
    let prog_s = (frames_in + u64::from(fill > 0)) as f64 / rate;
    Ok(AudioLabelReport {
        cue_starts_s: cue_starts(opts.placement, cue_s, prog_s),
        duration_in_s: frames_in as f64 / rate,
        duration_out_s: frames_out as f64 / rate,
        backend: "native-wav",
        warnings,
    })
}

fn copy_n(src: &mut dyn ReadSeek, dst: &mut dyn Write, n: u64) -> Result<(), ExplicitError> {
    crate::format::io::copy_n(src, dst, n, "WAV data").map_err(format_err)
}

/// Reads a (small) chunk payload.
fn payload(src: &mut dyn ReadSeek, c: &riff::Chunk) -> Result<Vec<u8>, ExplicitError> {
    src.seek(SeekFrom::Start(c.data_offset()))?;
    crate::format::io::read_vec(src, c.len, "WAV chunk").map_err(format_err)
}

fn le32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

fn put32(b: &mut [u8], at: usize, v: u32) {
    if let Some(s) = b.get_mut(at..at + 4) {
        s.copy_from_slice(&v.to_le_bytes());
    }
}

/// The payload with the u32 at `at` replaced by `f(old)` (unchanged when `f` gives `None`).
fn patch_u32(
    src: &mut dyn ReadSeek,
    c: &riff::Chunk,
    at: usize,
    f: impl Fn(u32) -> Option<u32>,
) -> Result<Vec<u8>, ExplicitError> {
    let mut p = payload(src, c)?;
    if let Some(new) = le32(&p, at).and_then(f) {
        put32(&mut p, at, new);
    }
    Ok(p)
}

fn shift32(v: u32, by: u64) -> Option<u32> {
    u32::try_from(u64::from(v) + by).ok()
}

/// Where a chunk keeps a table of sample positions: the count's offset, the first record's
/// offset, and the offsets (within a 24-byte record) of the positions to move.
struct SampleTable {
    name: &'static str,
    count_at: usize,
    first_record: usize,
    fields: [usize; 2],
}

/// `cue ` (cue points): dwPosition and dwSampleOffset of each point.
const CUE_POINTS: SampleTable = SampleTable {
    name: "cue",
    count_at: 0,
    first_record: 4,
    fields: [4, 20],
};

/// `smpl` (sampler loops): each loop's start and end.
const SMPL_LOOPS: SampleTable = SampleTable {
    name: "smpl",
    count_at: 28,
    first_record: 36,
    fields: [8, 12],
};

/// Moves every sample position of `table` in chunk `c` by the cue's length.
fn shift_sample_table(
    src: &mut dyn ReadSeek,
    c: &riff::Chunk,
    table: &SampleTable,
    by: u64,
    warnings: &mut Vec<String>,
) -> Result<Vec<u8>, ExplicitError> {
    const RECORD: usize = 24;
    let mut p = payload(src, c)?;
    let n = le32(&p, table.count_at).unwrap_or(0) as usize;
    if p.len() < table.first_record + n.saturating_mul(RECORD) {
        warnings.push(format!(
            "the {} chunk is shorter than its entry count; copied unchanged",
            table.name
        ));
        return Ok(p);
    }
    for i in 0..n {
        let base = table.first_record + RECORD * i;
        for at in table.fields.map(|f| base + f) {
            if let Some(v) = le32(&p, at).and_then(|v| shift32(v, by)) {
                put32(&mut p, at, v);
            }
        }
    }
    Ok(p)
}

/// `bext` (Broadcast WAV): TimeReference is the first sample's time of day in samples; the
/// programme now starts `by` samples later, so the reference moves back to keep its timecode.
fn shift_bext(
    src: &mut dyn ReadSeek,
    c: &riff::Chunk,
    by: u64,
    warnings: &mut Vec<String>,
) -> Result<Vec<u8>, ExplicitError> {
    const AT: usize = 256 + 32 + 32 + 10 + 8;
    let mut p = payload(src, c)?;
    let Some(old) = p
        .get(AT..AT + 8)
        .and_then(|b| b.try_into().ok())
        .map(u64::from_le_bytes)
    else {
        return Ok(p);
    };
    match old.checked_sub(by) {
        Some(new) => p[AT..AT + 8].copy_from_slice(&new.to_le_bytes()),
        None if old != 0 => warnings.push(format!(
            "bext TimeReference {old} is smaller than the cue ({by} samples); left unchanged"
        )),
        None => {}
    }
    Ok(p)
}

// ---------------------------------------------------------------------------------------------
// Other formats, through ffmpeg
// ---------------------------------------------------------------------------------------------

/// How to re-encode one source codec.
struct Plan {
    encoder: &'static str,
    args: Vec<String>,
    muxer: &'static str,
    /// Map the source's cover-art stream (FLAC writes it as a PICTURE block).
    cover: bool,
}

fn plan(
    format: crate::Format,
    codec: &str,
    stream: &serde_json::Value,
    probe: &serde_json::Value,
) -> Result<Plan, ExplicitError> {
    use crate::Format;
    let fmt_tags = probe.get("format").and_then(|f| f.get("tags"));
    let bitrate = ff::num(stream, "bit_rate")
        .or_else(|| probe.get("format").and_then(|f| ff::num(f, "bit_rate")))
        .filter(|b| *b >= 8_000.0)
        .map(|b| format!("{}k", (b / 1000.0).round() as u64));
    let br = |default: &str| {
        vec![
            "-b:a".to_string(),
            bitrate.clone().unwrap_or(default.into()),
        ]
    };
    let sample_fmt = ff::s(stream, "sample_fmt").map(str::to_string);
    let keep_fmt = || match &sample_fmt {
        Some(f) => vec!["-sample_fmt".to_string(), f.clone()],
        None => Vec::new(),
    };
    let muxer = match format {
        Format::Mp3 => "mp3",
        Format::Flac => "flac",
        Format::Ogg => "ogg",
        _ => {
            let brand = fmt_tags.and_then(|t| ff::s(t, "major_brand")).unwrap_or("");
            if brand.starts_with("M4A") || brand.starts_with("M4B") {
                "ipod"
            } else if brand.starts_with("qt") {
                "mov"
            } else {
                "mp4"
            }
        }
    };
    let (encoder, args) = match codec {
        "mp3" => ("libmp3lame", {
            let mut a = br("192k");
            // The source's ID3 tags are put back byte for byte afterwards.
            a.extend(["-id3v2_version", "0", "-write_id3v1", "0"].map(String::from));
            a
        }),
        "flac" => ("flac", keep_fmt()),
        "vorbis" => (
            "libvorbis",
            match &bitrate {
                Some(b) => vec!["-b:a".into(), b.clone()],
                None => vec!["-q:a".into(), "5".into()],
            },
        ),
        "opus" => ("libopus", br("96k")),
        "aac" => ("aac", br("192k")),
        "alac" => ("alac", keep_fmt()),
        other => {
            return Err(ExplicitError::Unsupported(format!(
                "audio codec {other} in a {format:?} container has no rhythm-label path \
                 (mp3, flac, vorbis, opus, aac and alac do)"
            )));
        }
    };
    Ok(Plan {
        encoder,
        args,
        muxer,
        cover: format == Format::Flac,
    })
}

fn label_with_ffmpeg(
    src: &Path,
    dst: &Path,
    format: crate::Format,
    opts: &AudioLabelOptions,
) -> Result<AudioLabelReport, ExplicitError> {
    ff::require_both()?;
    let probe = ff::probe(src)?;
    let streams = ff::streams(&probe);
    if let Some(v) = streams
        .iter()
        .find(|s| ff::codec_type(s) == "video" && !ff::is_attached_pic(s))
    {
        return Err(ExplicitError::Unsupported(format!(
            "the file has a video stream ({}); label it as a video",
            ff::s(v, "codec_name").unwrap_or("unknown codec")
        )));
    }
    let stream = streams
        .iter()
        .find(|s| ff::codec_type(s) == "audio")
        .ok_or_else(|| ExplicitError::Decode("no audio stream found".into()))?;
    let index = stream.get("index").and_then(|i| i.as_u64()).unwrap_or(0);
    let codec = ff::s(stream, "codec_name").unwrap_or("unknown");
    let rate = ff::num(stream, "sample_rate")
        .filter(|r| *r >= 1000.0 && *r <= 768_000.0)
        .ok_or_else(|| ExplicitError::Decode("the audio stream has no sample rate".into()))?
        as u32;
    let channels = stream
        .get("channels")
        .and_then(|c| c.as_u64())
        .filter(|c| (1..=64).contains(c))
        .ok_or_else(|| ExplicitError::Decode("the audio stream has no channel count".into()))?
        as u16;
    let layout = ff::s(stream, "channel_layout")
        .map(str::to_string)
        .unwrap_or_else(|| format!("{channels}c"));
    opts.cue.validate(rate)?;
    let plan = plan(format, codec, stream, &probe)?;
    let duration_in = ff::num(stream, "duration")
        .or_else(|| probe.get("format").and_then(|f| ff::num(f, "duration")))
        .unwrap_or(0.0);
    let mut warnings = Vec::new();
    let pics: Vec<u64> = streams
        .iter()
        .filter(|s| ff::is_attached_pic(s))
        .filter_map(|s| s.get("index").and_then(|i| i.as_u64()))
        .collect();
    if !pics.is_empty() && format == crate::Format::Ogg {
        warnings.push("cover art in the Ogg comments is not carried over".into());
    }

    let parent = dst
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let tmp = tempfile::Builder::new()
        .prefix(".hegui-audio-")
        .tempdir_in(parent)?;
    let cue_path = tmp.path().join("cue.wav");
    write_cue_wav(&cue_path, &opts.cue, rate, channels)?;
    let post_process = matches!(format, crate::Format::Mp3 | crate::Format::Mp4);
    let produced = if post_process {
        tmp.path().join("encoded")
    } else {
        dst.to_path_buf()
    };

    // Both inputs are brought to the source's rate and layout so `concat` joins like with like.
    let same = format!("aformat=sample_rates={rate}:channel_layouts={layout}");
    let graph = match opts.placement {
        AudioPlacement::Start => {
            format!("[1:a]{same}[c];[0:{index}]{same}[s];[c][s]concat=n=2:v=0:a=1[a]")
        }
        AudioPlacement::End => {
            format!("[1:a]{same}[c];[0:{index}]{same}[s];[s][c]concat=n=2:v=0:a=1[a]")
        }
        AudioPlacement::Both => format!(
            "[1:a]{same},asplit=2[c1][c2];[0:{index}]{same}[s];[c1][s][c2]concat=n=3:v=0:a=1[a]"
        ),
    };
    let mut cmd = ff::ffmpeg();
    cmd.arg("-i").arg(src).arg("-i").arg(&cue_path).args([
        "-filter_complex",
        &graph,
        "-map",
        "[a]",
    ]);
    if plan.cover {
        for p in &pics {
            cmd.args(["-map", &format!("0:{p}")]);
        }
        if !pics.is_empty() {
            cmd.args(["-c:v", "copy"]);
        }
    }
    cmd.args(["-c:a", plan.encoder])
        .args(&plan.args)
        .args(["-map_metadata", "0"])
        .args(["-map_metadata:s:a:0", &format!("0:s:{index}")])
        .args(["-f", plan.muxer])
        .arg(&produced);
    ff::run(&mut cmd, "ffmpeg (rhythm cue)")?;

    // Put back the metadata ffmpeg only partly carries (ID3 for MP3, moov/udta for M4A).
    if format == crate::Format::Mp3 && transplant_id3(src, &produced, dst)? {
        warnings.push("the APEv2 tag at the end of the MP3 was not carried over".into());
    }
    if format == crate::Format::Mp4 {
        warnings.extend(super::video::carry_mp4_metadata(src, &produced, dst)?);
    }
    let out_probe = ff::probe(dst)?;
    let duration_out = ff::streams(&out_probe)
        .iter()
        .find(|s| ff::codec_type(s) == "audio")
        .and_then(|s| ff::num(s, "duration"))
        .or_else(|| out_probe.get("format").and_then(|f| ff::num(f, "duration")))
        .unwrap_or(0.0);
    let cue_s = rhythm_samples(&opts.cue, rate).len() as f64 / f64::from(rate);
    Ok(AudioLabelReport {
        cue_starts_s: cue_starts(opts.placement, cue_s, duration_in),
        duration_in_s: duration_in,
        duration_out_s: duration_out,
        backend: "ffmpeg",
        warnings,
    })
}

/// Writes the cue as a 32-bit float WAV with `channels` identical channels.
fn write_cue_wav(
    path: &Path,
    cue: &RhythmCue,
    rate: u32,
    channels: u16,
) -> Result<(), ExplicitError> {
    let spec = hound::WavSpec {
        channels,
        sample_rate: rate,
        bits_per_sample: 32,
        sample_format: hound::SampleFormat::Float,
    };
    let enc = |e: hound::Error| ExplicitError::Encode(format!("cue WAV: {e}"));
    let mut w = hound::WavWriter::create(path, spec).map_err(enc)?;
    for x in rhythm_samples(cue, rate) {
        for _ in 0..channels {
            w.write_sample(x).map_err(enc)?;
        }
    }
    w.finalize().map_err(enc)
}

/// Length of the ID3v2 tag at the start of an MP3 (0 when there is none).
fn id3v2_len(src: &mut dyn ReadSeek) -> Result<u64, ExplicitError> {
    src.seek(SeekFrom::Start(0))?;
    let mut h = [0u8; 10];
    if src.read_exact(&mut h).is_err()
        || &h[..3] != b"ID3"
        || h[6..10].iter().any(|b| b & 0x80 != 0)
    {
        return Ok(0);
    }
    let size = h[6..10]
        .iter()
        .fold(0u64, |acc, &b| (acc << 7) | u64::from(b));
    let footer = if h[5] & 0x10 != 0 { 10 } else { 0 };
    Ok(10 + size + footer)
}

/// Writes `dst` = the source's ID3v2 tag + the encoded MPEG stream (written by ffmpeg without
/// tags) + the source's ID3v1 tail, so every tag frame survives byte for byte. Returns true when
/// the source also had an APEv2 tag, which is not carried.
fn transplant_id3(src: &Path, encoded: &Path, dst: &Path) -> Result<bool, ExplicitError> {
    let mut s = BufReader::new(File::open(src)?);
    let head = id3v2_len(&mut s)?;
    let total = s.seek(SeekFrom::End(0))?;
    let mut v1 = [0u8; 128];
    let has_v1 = total >= head + 128 && {
        s.seek(SeekFrom::Start(total - 128))?;
        s.read_exact(&mut v1)?;
        &v1[..3] == b"TAG"
    };
    // An APEv2 footer sits just before the ID3v1 tag, or at the very end.
    let ape_at = total.saturating_sub(if has_v1 { 160 } else { 32 });
    let mut footer = [0u8; 8];
    s.seek(SeekFrom::Start(ape_at))?;
    let has_ape = total >= head + 32 && s.read_exact(&mut footer).is_ok() && &footer == b"APETAGEX";
    let mut out = BufWriter::new(File::create(dst)?);
    s.seek(SeekFrom::Start(0))?;
    copy_n(&mut s, &mut out, head.min(total))?;
    let mut e = BufReader::new(File::open(encoded)?);
    std::io::copy(&mut e, &mut out)?;
    if has_v1 {
        out.write_all(&v1)?;
    }
    out.into_inner().map_err(|e| e.into_error())?.sync_all()?;
    Ok(has_ape)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::Format;
    use crate::test_support::tool;
    use std::process::Command;

    /// Bursts found by an envelope detector: RMS over 10 ms windows above −26 dBFS, merged into
    /// `(start_s, end_s)` runs.
    pub(crate) fn bursts(samples: &[f32], rate: u32) -> Vec<(f64, f64)> {
        let win = (rate / 100) as usize;
        let mut out: Vec<(f64, f64)> = Vec::new();
        let mut open: Option<f64> = None;
        for (i, w) in samples.chunks(win).enumerate() {
            let rms = (w.iter().map(|x| x * x).sum::<f32>() / w.len() as f32).sqrt();
            let t = i as f64 * 0.01;
            match (rms > 0.05, open) {
                (true, None) => open = Some(t),
                (false, Some(s)) => {
                    out.push((s, t));
                    open = None;
                }
                _ => {}
            }
        }
        if let Some(s) = open {
            out.push((s, samples.len() as f64 / f64::from(rate)));
        }
        out
    }

    /// Asserts that `b` is exactly the cue: four bursts, short-long-short-short, L/S ≥ 2, all
    /// inside `[from, to]`.
    fn assert_cue(b: &[(f64, f64)], from: f64, to: f64) {
        assert_eq!(b.len(), 4, "expected 4 bursts, found {b:?}");
        let d: Vec<f64> = b.iter().map(|(s, e)| e - s).collect();
        let short = d[0].max(d[2]).max(d[3]);
        assert!(d[1] >= 2.0 * short, "not S L S S with L/S >= 2: {d:?}");
        for (s, e) in b {
            assert!(
                *s >= from - 1e-9 && *e <= to + 1e-9,
                "burst {s}..{e} outside {from}..{to}"
            );
        }
    }

    fn peak(samples: &[f32], rate: u32, from: f64, to: f64) -> f32 {
        let r = f64::from(rate);
        let a = (from * r) as usize;
        let b = ((to * r) as usize).min(samples.len());
        samples[a..b].iter().fold(0f32, |m, x| m.max(x.abs()))
    }

    /// A mono or multichannel WAV of a continuous 300 Hz tone at −12 dBFS.
    fn tone_wav(path: &Path, spec: hound::WavSpec, seconds: f64) -> Vec<u8> {
        let mut w = hound::WavWriter::create(path, spec).unwrap();
        let n = (seconds * f64::from(spec.sample_rate)) as usize;
        for i in 0..n {
            let x = 0.25
                * (std::f64::consts::TAU * 300.0 * i as f64 / f64::from(spec.sample_rate)).sin();
            // A little deterministic dither so every sample value is distinct-ish.
            let x = x + ((i * 7919 % 101) as f64 - 50.0) * 1e-5;
            for _ in 0..spec.channels {
                match (spec.sample_format, spec.bits_per_sample) {
                    (hound::SampleFormat::Float, _) => w.write_sample(x as f32).unwrap(),
                    (_, 8) => w.write_sample((x * 127.0) as i8).unwrap(),
                    (_, 16) => w.write_sample((x * 32767.0) as i16).unwrap(),
                    (_, 24) => w.write_sample((x * 8_388_607.0) as i32).unwrap(),
                    _ => w.write_sample((x * 2_147_483_647.0) as i32).unwrap(),
                }
            }
        }
        w.finalize().unwrap();
        std::fs::read(path).unwrap()
    }

    /// First channel of a WAV as f32.
    fn read_first_channel(path: &Path) -> (Vec<f32>, u32) {
        let mut r = hound::WavReader::open(path).unwrap();
        let spec = r.spec();
        let ch = usize::from(spec.channels);
        let all: Vec<f32> = match spec.sample_format {
            hound::SampleFormat::Float => r.samples::<f32>().map(|s| s.unwrap()).collect(),
            hound::SampleFormat::Int => {
                let full = (1i64 << (spec.bits_per_sample - 1)) as f32;
                r.samples::<i32>()
                    .map(|s| s.unwrap() as f32 / full)
                    .collect()
            }
        };
        (all.into_iter().step_by(ch).collect(), spec.sample_rate)
    }

    /// The `data` chunk payload of a WAV file.
    fn data_bytes(bytes: &[u8]) -> Vec<u8> {
        let mut src = std::io::Cursor::new(bytes.to_vec());
        let r = riff::open(&mut src, b"WAVE", "t").unwrap();
        let mut w = r.chunks();
        while let Some(c) = w.next(&mut src).unwrap() {
            if &c.id == b"data" {
                let a = c.data_offset() as usize;
                return bytes[a..a + c.len as usize].to_vec();
            }
        }
        panic!("no data chunk")
    }

    fn chunk_list(bytes: &[u8]) -> Vec<([u8; 4], Vec<u8>)> {
        let mut src = std::io::Cursor::new(bytes.to_vec());
        let r = riff::open(&mut src, b"WAVE", "t").unwrap();
        assert!(r.notes.is_empty(), "{:?}", r.notes);
        let mut w = r.chunks();
        let mut out = Vec::new();
        while let Some(c) = w.next(&mut src).unwrap() {
            let a = c.data_offset() as usize;
            out.push((c.id, bytes[a..a + c.len as usize].to_vec()));
        }
        out
    }

    fn opts(placement: AudioPlacement) -> AudioLabelOptions {
        AudioLabelOptions {
            placement,
            cue: RhythmCue::default(),
        }
    }

    #[test]
    fn ds17_audio_rhythm_short_long_short_short() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("in.wav");
        let spec = hound::WavSpec {
            channels: 1,
            sample_rate: 48_000,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        tone_wav(&src, spec, 1.0);
        let cue_s = RhythmCue::default().duration_s();
        for placement in [
            AudioPlacement::Start,
            AudioPlacement::End,
            AudioPlacement::Both,
        ] {
            let dst = dir.path().join("out.wav");
            let rep = label_audio(&src, &dst, Format::Wav, &opts(placement)).unwrap();
            assert_eq!(rep.backend, "native-wav");
            let (x, rate) = read_first_channel(&dst);
            let b = bursts(&x, rate);
            let (pre, post) = cue_counts(placement);
            let prog_start = pre as f64 * cue_s;
            let prog_end = prog_start + 1.0;
            assert!((rep.duration_out_s - (1.0 + (pre + post) as f64 * cue_s)).abs() < 1e-3);
            // The programme is one long burst between the cues.
            let prog: Vec<_> = b.iter().filter(|(s, e)| e - s > 0.9).collect();
            assert_eq!(prog.len(), 1, "{b:?}");
            assert!(
                (prog[0].0 - prog_start).abs() <= 0.011 && (prog[0].1 - prog_end).abs() <= 0.011
            );
            if pre > 0 {
                assert_cue(&b[..4], 0.0, prog_start);
                assert!(peak(&x, rate, 0.0, prog_start) >= 0.1, "cue below -20 dBFS");
                assert_eq!(rep.cue_starts_s[0], 0.0);
            }
            if post > 0 {
                assert_cue(&b[b.len() - 4..], prog_end, prog_end + cue_s);
                assert!(peak(&x, rate, prog_end, prog_end + cue_s) >= 0.1);
                assert!((rep.cue_starts_s.last().unwrap() - prog_end).abs() < 1e-3);
            }
            // Measured burst lengths match the cue's (within the 10 ms window).
            let cue_bursts: Vec<f64> = b
                .iter()
                .filter(|(s, e)| e - s < 0.9)
                .map(|(s, e)| e - s)
                .collect();
            for (d, want) in cue_bursts
                .iter()
                .zip([0.12, 0.36, 0.12, 0.12].iter().cycle())
            {
                assert!((d - want).abs() <= 0.021, "burst {d} s, want {want} s");
            }
        }
    }

    #[test]
    fn ds17_audio_rhythm_has_no_clicks() {
        // Raised-cosine ramps: the sample-to-sample step never exceeds what the sine itself makes.
        let cue = RhythmCue::default();
        let x = rhythm_samples(&cue, 48_000);
        let amp = 10f32.powf(cue.amplitude_dbfs / 20.0);
        let max_step = amp * (std::f32::consts::TAU * cue.frequency_hz / 48_000.0) * 1.05;
        for w in x.windows(2) {
            assert!(
                (w[1] - w[0]).abs() <= max_step,
                "click: {} -> {}",
                w[0],
                w[1]
            );
        }
        assert_eq!(x.first(), Some(&0.0));
        assert_eq!(x.last(), Some(&0.0));
        assert!((x.len() as f64 / 48_000.0 - cue.duration_s()).abs() < 1e-3);
    }

    #[test]
    fn ds17_audio_wav_payload_preserved() {
        let dir = tempfile::tempdir().unwrap();
        let specs = [
            (1, 8, hound::SampleFormat::Int),
            (2, 16, hound::SampleFormat::Int),
            (2, 24, hound::SampleFormat::Int),
            (6, 32, hound::SampleFormat::Int),
            (2, 32, hound::SampleFormat::Float),
            (3, 16, hound::SampleFormat::Int),
        ];
        for (channels, bits, sample_format) in specs {
            let spec = hound::WavSpec {
                channels,
                sample_rate: 44_100,
                bits_per_sample: bits,
                sample_format,
            };
            let src = dir.path().join(format!("in-{channels}-{bits}.wav"));
            let original = data_bytes(&tone_wav(&src, spec, 0.5));
            for placement in [
                AudioPlacement::Start,
                AudioPlacement::End,
                AudioPlacement::Both,
            ] {
                let dst = dir.path().join("out.wav");
                label_audio(&src, &dst, Format::Wav, &opts(placement)).unwrap();
                // hound reads it back with the same spec.
                let r = hound::WavReader::open(&dst).unwrap();
                assert_eq!(r.spec(), spec);
                drop(r);
                let out = data_bytes(&std::fs::read(&dst).unwrap());
                let ba = usize::from(channels) * usize::from(bits / 8);
                let cue_len = rhythm_samples(&RhythmCue::default(), 44_100).len() * ba;
                let (pre, post) = cue_counts(placement);
                assert_eq!(out.len(), original.len() + (pre + post) as usize * cue_len);
                let at = pre as usize * cue_len;
                assert!(
                    out[at..at + original.len()] == original[..],
                    "{channels} ch {bits} bit {placement:?}: programme bytes changed"
                );
                // The cue is in every channel and audible in the file's own format.
                let (x, rate) = read_first_channel(&dst);
                let b = bursts(&x, rate);
                if pre > 0 {
                    assert_cue(&b[..4], 0.0, RhythmCue::default().duration_s());
                }
            }
        }
    }

    /// A WAV built chunk by chunk: fmt, LIST/INFO, bext, cue, data, an old AIGC chunk, iXML.
    fn rich_wav() -> (Vec<u8>, Vec<u8>, Vec<u8>) {
        let mut fmt = Vec::new();
        fmt.extend_from_slice(&1u16.to_le_bytes()); // PCM
        fmt.extend_from_slice(&1u16.to_le_bytes()); // mono
        fmt.extend_from_slice(&16_000u32.to_le_bytes());
        fmt.extend_from_slice(&32_000u32.to_le_bytes());
        fmt.extend_from_slice(&2u16.to_le_bytes());
        fmt.extend_from_slice(&16u16.to_le_bytes());
        let mut info = b"INFO".to_vec();
        riff::write_chunk(&mut info, b"INAM", b"Song title\0").unwrap();
        riff::write_chunk(&mut info, b"IART", b"Some artist\0").unwrap();
        riff::write_chunk(&mut info, b"ICMT", b"odd\0x").unwrap();
        let mut bext = vec![0u8; 602];
        bext[..5].copy_from_slice(b"desc.");
        bext[338..346].copy_from_slice(&1_000_000u64.to_le_bytes());
        let mut cue = 1u32.to_le_bytes().to_vec();
        for v in [7u32, 1600, u32::from_le_bytes(*b"data"), 0, 0, 1600] {
            cue.extend_from_slice(&v.to_le_bytes());
        }
        let data: Vec<u8> = (0..16_000u32)
            .flat_map(|i| (((i as f32 * 0.12).sin() * 8000.0) as i16).to_le_bytes())
            .collect();
        let file = riff::build(
            b"WAVE",
            &[
                (b"fmt ", &fmt),
                (b"LIST", &info),
                (b"bext", &bext),
                (b"cue ", &cue),
                (b"data", &data),
                (b"AIGC", crate::test_support::SAMPLE_LABEL.as_bytes()),
                (b"iXML", b"<BWFXML><NOTE>x</NOTE></BWFXML>"),
            ],
        );
        (file, info, data)
    }

    #[test]
    fn ds17_audio_wav_keeps_list_info() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("in.wav");
        let dst = dir.path().join("out.wav");
        let (file, info, data) = rich_wav();
        std::fs::write(&src, &file).unwrap();
        label_audio(&src, &dst, Format::Wav, &opts(AudioPlacement::Start)).unwrap();
        let before = chunk_list(&file);
        let out = std::fs::read(&dst).unwrap();
        let after = chunk_list(&out);
        let ids = |l: &[([u8; 4], Vec<u8>)]| l.iter().map(|c| c.0).collect::<Vec<_>>();
        assert_eq!(ids(&before), ids(&after), "chunk order changed");
        let cue_frames = rhythm_samples(&RhythmCue::default(), 16_000).len() as u64;
        for ((id, a), (_, b)) in before.iter().zip(&after) {
            match id {
                b"data" => assert_eq!(&b[b.len() - data.len()..], &data[..]),
                b"LIST" => assert_eq!(b, &info),
                b"bext" => {
                    assert_eq!(a[..338], b[..338]);
                    let t = u64::from_le_bytes(b[338..346].try_into().unwrap());
                    assert_eq!(
                        t,
                        1_000_000 - cue_frames,
                        "BWF time reference keeps its timecode"
                    );
                }
                b"cue " => {
                    let pos = u32::from_le_bytes(b[8..12].try_into().unwrap());
                    let off = u32::from_le_bytes(b[24..28].try_into().unwrap());
                    assert_eq!(u64::from(pos), 1600 + cue_frames);
                    assert_eq!(u64::from(off), 1600 + cue_frames);
                }
                _ => assert_eq!(a, b, "chunk {} changed", riff::fourcc_str(id)),
            }
        }
        // RIFF size matches the file, and the existing metadata reads back through a third party.
        assert_eq!(
            u64::from(u32::from_le_bytes(out[4..8].try_into().unwrap())) + 8,
            out.len() as u64
        );
        if tool("ffprobe").is_some() {
            let o = Command::new("ffprobe")
                .args([
                    "-v",
                    "error",
                    "-show_entries",
                    "format_tags=title,artist",
                    "-of",
                    "compact=p=0",
                ])
                .arg(&dst)
                .output()
                .unwrap();
            let text = String::from_utf8_lossy(&o.stdout);
            assert!(
                text.contains("Song title") && text.contains("Some artist"),
                "{text}"
            );
        }
    }

    #[test]
    fn ds17_audio_wav_refuses_bad_cue_and_formats() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("in.wav");
        let dst = dir.path().join("out.wav");
        let spec = hound::WavSpec {
            channels: 1,
            sample_rate: 8_000,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        tone_wav(&src, spec, 0.2);
        let mut o = opts(AudioPlacement::Start);
        o.cue.long_ms = 180;
        let e = label_audio(&src, &dst, Format::Wav, &o).unwrap_err();
        assert!(e.to_string().contains("twice"), "{e}");
        o.cue = RhythmCue {
            frequency_hz: 5_000.0,
            ..RhythmCue::default()
        };
        assert!(label_audio(&src, &dst, Format::Wav, &o).is_err());
        o.cue = RhythmCue {
            amplitude_dbfs: -30.0,
            ..RhythmCue::default()
        };
        assert!(label_audio(&src, &dst, Format::Wav, &o).is_err());
        let e = label_audio(&src, &dst, Format::Png, &opts(AudioPlacement::Start)).unwrap_err();
        assert!(matches!(e, ExplicitError::Unsupported(_)), "{e}");
        // ADPCM is refused by name, not mangled.
        let mut bytes = std::fs::read(&src).unwrap();
        bytes[20] = 2;
        std::fs::write(&src, &bytes).unwrap();
        let e = label_audio(&src, &dst, Format::Wav, &opts(AudioPlacement::Start)).unwrap_err();
        assert!(matches!(e, ExplicitError::Unsupported(_)), "{e}");
    }

    #[test]
    fn ds17_voice_mode_needs_cue_or_ui_label() {
        assert!(check_voice_mode(true, false).is_ok());
        assert!(check_voice_mode(false, true).is_ok());
        assert!(check_voice_mode(true, true).is_ok());
        let e = check_voice_mode(false, false).unwrap_err();
        assert!(matches!(e, ExplicitError::Invalid(_)), "{e}");
        assert!(e.to_string().contains("every turn"), "{e}");
    }

    /// Decodes the first audio stream to mono f32 at `rate` with ffmpeg.
    fn decode(path: &Path, rate: u32) -> Vec<f32> {
        let o = Command::new("ffmpeg")
            .args(["-v", "error", "-i"])
            .arg(path)
            .args([
                "-map",
                "0:a:0",
                "-ac",
                "1",
                "-ar",
                &rate.to_string(),
                "-f",
                "f32le",
                "-",
            ])
            .output()
            .unwrap();
        assert!(
            o.status.success() && o.stderr.is_empty(),
            "{}: {}",
            path.display(),
            String::from_utf8_lossy(&o.stderr)
        );
        o.stdout
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect()
    }

    fn tags(path: &Path) -> String {
        let o = Command::new("ffprobe")
            .args([
                "-v",
                "error",
                "-show_entries",
                "format_tags:stream_tags",
                "-of",
                "compact=p=0",
            ])
            .arg(path)
            .output()
            .unwrap();
        String::from_utf8_lossy(&o.stdout).to_lowercase()
    }

    /// Makes a 2 s tagged source with `args`, labels it at `placement`, and checks duration, cue
    /// position and tags.
    fn ffmpeg_roundtrip(
        name: &str,
        format: Format,
        args: &[&str],
        placement: AudioPlacement,
    ) -> Option<(tempfile::TempDir, std::path::PathBuf)> {
        if tool("ffmpeg").is_none() || tool("ffprobe").is_none() {
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join(format!("in.{name}"));
        let dst = dir.path().join(format!("out.{name}"));
        let st = Command::new("ffmpeg")
            .args([
                "-v",
                "error",
                "-f",
                "lavfi",
                "-i",
                "sine=frequency=300:duration=2:sample_rate=48000",
            ])
            .args(["-ac", "2"])
            .args([
                "-metadata",
                "title=Cue test",
                "-metadata",
                "artist=Hegui Tester",
            ])
            .args(args)
            .arg(&src)
            .status()
            .unwrap();
        assert!(st.success());
        let rep = label_audio(&src, &dst, format, &opts(placement)).unwrap();
        assert_eq!(rep.backend, "ffmpeg");
        let rate = 48_000;
        let input = decode(&src, rate);
        let output = decode(&dst, rate);
        let cue_s = RhythmCue::default().duration_s();
        let (pre, post) = cue_counts(placement);
        let want = input.len() as f64 / 48_000.0 + (pre + post) as f64 * cue_s;
        let got = output.len() as f64 / 48_000.0;
        assert!(
            (got - want).abs() <= 0.05,
            "{name}: decoded {got} s, want {want} s"
        );
        assert!(
            (rep.duration_out_s - want).abs() <= 0.06,
            "{name}: report {rep:?}"
        );
        let b = bursts(&output, rate);
        if pre > 0 {
            assert_cue(&b[..4], 0.0, cue_s);
            assert!(peak(&output, rate, 0.0, cue_s) >= 0.1);
            assert!(
                b[4].0 >= cue_s - 0.02,
                "{name}: programme starts inside the cue: {b:?}"
            );
        }
        if post > 0 {
            let end = got - cue_s;
            assert_cue(&b[b.len() - 4..], end - 0.02, got);
        }
        let t = tags(&dst);
        assert!(
            t.contains("cue test") && t.contains("hegui tester"),
            "{name}: tags lost: {t}"
        );
        Some((dir, dst))
    }

    #[test]
    fn ds17_audio_mp3_via_ffmpeg() {
        ffmpeg_roundtrip(
            "mp3",
            Format::Mp3,
            &["-c:a", "libmp3lame", "-b:a", "128k"],
            AudioPlacement::Start,
        );
    }

    #[test]
    fn ds17_audio_flac_via_ffmpeg() {
        ffmpeg_roundtrip(
            "flac",
            Format::Flac,
            &["-c:a", "flac"],
            AudioPlacement::Both,
        );
        // 24-bit FLAC stays 24-bit.
        let Some((_dir, dst)) = ffmpeg_roundtrip(
            "flac",
            Format::Flac,
            &["-sample_fmt", "s32", "-c:a", "flac"],
            AudioPlacement::Start,
        ) else {
            return;
        };
        let o = Command::new("ffprobe")
            .args([
                "-v",
                "error",
                "-show_entries",
                "stream=bits_per_raw_sample",
                "-of",
                "csv=p=0",
            ])
            .arg(&dst)
            .output()
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), "24");
    }

    #[test]
    fn ds17_audio_ogg_vorbis_via_ffmpeg() {
        ffmpeg_roundtrip(
            "ogg",
            Format::Ogg,
            &["-c:a", "libvorbis", "-q:a", "4"],
            AudioPlacement::Start,
        );
    }

    #[test]
    fn ds17_audio_opus_via_ffmpeg() {
        ffmpeg_roundtrip(
            "opus",
            Format::Ogg,
            &["-c:a", "libopus", "-b:a", "96k"],
            AudioPlacement::End,
        );
    }

    #[test]
    fn ds17_audio_m4a_via_ffmpeg() {
        ffmpeg_roundtrip(
            "m4a",
            Format::Mp4,
            &["-c:a", "aac", "-b:a", "128k"],
            AudioPlacement::Start,
        );
    }
}
