//! Real media for the fake's image and speech endpoints: a PNG writer (zlib through flate2,
//! CRC-32 through crc32fast) and a WAV tone through hound.

use flate2::{Compression, write::ZlibEncoder};
use std::io::{self, Cursor, Write};

/// An RGB8 PNG of `width` × `height` whose pixels are a gradient coloured by `seed`, so that
/// different prompts give different (but deterministic) pictures.
pub(crate) fn png(width: u32, height: u32, seed: u64) -> io::Result<Vec<u8>> {
    let [s0, s1, s2, ..] = seed.to_le_bytes();
    let (w, h) = (u64::from(width.max(1)), u64::from(height.max(1)));
    let mut zlib = ZlibEncoder::new(Vec::new(), Compression::fast());
    let mut row = Vec::with_capacity(1 + 3 * width as usize);
    for y in 0..u64::from(height) {
        row.clear();
        row.push(0); // filter type: None
        for x in 0..u64::from(width) {
            let fx = (x * 255 / w) as u8;
            let fy = (y * 255 / h) as u8;
            let ring = (((x * x + y * y) / (w / 8 + 1)) % 256) as u8;
            row.extend_from_slice(&[fx ^ s0, fy ^ s1, ring.wrapping_add(s2)]);
        }
        zlib.write_all(&row)?;
    }
    let idat = zlib.finish()?;

    let mut ihdr = Vec::with_capacity(13);
    ihdr.extend_from_slice(&width.to_be_bytes());
    ihdr.extend_from_slice(&height.to_be_bytes());
    // Bit depth 8, colour type 2 (RGB), compression 0, filter 0, no interlace.
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]);

    let mut out = Vec::with_capacity(idat.len() + 64);
    out.extend_from_slice(b"\x89PNG\r\n\x1a\n");
    png_chunk(&mut out, b"IHDR", &ihdr);
    png_chunk(&mut out, b"IDAT", &idat);
    png_chunk(&mut out, b"IEND", &[]);
    Ok(out)
}

fn png_chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    // A chunk is far below 4 GiB here (images are capped at 2048 × 2048).
    out.extend_from_slice(&(data.len() as u32).to_be_bytes());
    out.extend_from_slice(kind);
    out.extend_from_slice(data);
    let mut crc = crc32fast::Hasher::new();
    crc.update(kind);
    crc.update(data);
    out.extend_from_slice(&crc.finalize().to_be_bytes());
}

/// Sample rate of the speech the fake returns.
pub(crate) const SPEECH_SAMPLE_RATE: u32 = 16_000;

/// A WAV file (16-bit PCM, mono, 16 kHz) of a 0.5 s tone whose pitch depends on `seed`, with
/// short fades so that it does not click.
pub(crate) fn wav(seed: u64) -> Result<Vec<u8>, hound::Error> {
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: SPEECH_SAMPLE_RATE,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let rate = f64::from(SPEECH_SAMPLE_RATE);
    let frames = SPEECH_SAMPLE_RATE / 2;
    let fade = f64::from(SPEECH_SAMPLE_RATE / 100);
    let freq = 330.0 + (seed % 8) as f64 * 55.0;
    let mut file = Cursor::new(Vec::new());
    let mut writer = hound::WavWriter::new(&mut file, spec)?;
    for i in 0..frames {
        let t = f64::from(i);
        let envelope = (t / fade).min(f64::from(frames - i) / fade).min(1.0);
        let sample = (t * freq * std::f64::consts::TAU / rate).sin() * envelope * 0.3;
        writer.write_sample((sample * f64::from(i16::MAX)) as i16)?;
    }
    writer.finalize()?;
    Ok(file.into_inner())
}
