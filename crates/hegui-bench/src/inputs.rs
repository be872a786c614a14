//! The benchmark inputs, built once into `target/bench-data/` with ffmpeg and reused.
//!
//! Each file is written under a temporary name and renamed when complete, so an interrupted
//! build is never mistaken for a finished input.

use anyhow::{Context, Result, bail, ensure};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Where the inputs are.
#[derive(Debug, Clone)]
pub struct Inputs {
    /// 1920×1080 JPEG, quality 90.
    pub hd_jpg: PathBuf,
    /// 3840×2160 JPEG, quality 90.
    pub uhd_jpg: PathBuf,
    /// 1920×1080 PNG.
    pub hd_png: PathBuf,
    /// 3840×2160 PNG.
    pub uhd_png: PathBuf,
    /// A directory of 40 different 1920×1080 JPEGs (quality 90).
    pub batch_dir: PathBuf,
    /// ~200 MB 1080p H.264 + AAC, moov after mdat (ffmpeg's default).
    pub mp4_200_moov_last: PathBuf,
    /// The same, `-movflags +faststart` (moov first).
    pub mp4_200_moov_first: PathBuf,
    /// A few MB of MP3 (sine).
    pub mp3: PathBuf,
    /// ~2 GB MP4, moov last and moov first; `None` with `--quick`.
    pub mp4_2g: Option<(PathBuf, PathBuf)>,
    /// 60 s of 1080p25 H.264 (veryfast, keyframe every 2 s) with AAC audio, for the explicit
    /// video label; `None` with `--quick`.
    pub clip_60s: Option<PathBuf>,
}

/// Number of JPEGs in the batch directory.
pub const BATCH_FILES: usize = 40;

/// Builds whatever is missing under `dir`; the 2 GB files and the 60 s clip only when `full`.
pub fn build(dir: &Path, full: bool) -> Result<Inputs> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let p = |name: &str| dir.join(name);
    let inputs = Inputs {
        hd_jpg: p("hd-1920x1080.jpg"),
        uhd_jpg: p("uhd-3840x2160.jpg"),
        hd_png: p("hd-1920x1080.png"),
        uhd_png: p("uhd-3840x2160.png"),
        batch_dir: p("batch-40-jpeg"),
        mp4_200_moov_last: p("video-200mb-moovlast.mp4"),
        mp4_200_moov_first: p("video-200mb-faststart.mp4"),
        mp3: p("audio-sine.mp3"),
        mp4_2g: full.then(|| (p("video-2gb-moovlast.mp4"), p("video-2gb-faststart.mp4"))),
        clip_60s: full.then(|| p("video-60s-1080p25.mp4")),
    };

    for (path, w, h) in [(&inputs.hd_png, 1920, 1080), (&inputs.uhd_png, 3840, 2160)] {
        once(path, |tmp| {
            ffmpeg(
                &[
                    "-f",
                    "lavfi",
                    "-i",
                    &picture_source(w, h),
                    "-frames:v",
                    "1",
                    "-c:v",
                    "png",
                ],
                tmp,
            )
        })?;
    }
    for (path, w, h) in [(&inputs.hd_jpg, 1920, 1080), (&inputs.uhd_jpg, 3840, 2160)] {
        once(path, |tmp| {
            raw_frames(&picture_source(w, h), w, h, 1, |_, frame| {
                write_jpeg(tmp, w, h, frame)
            })
        })?;
    }
    once(&inputs.batch_dir, |tmp| {
        std::fs::create_dir_all(tmp)?;
        // The mandelbrot source zooms, so every frame (and every file) differs.
        raw_frames(
            &picture_source(1920, 1080),
            1920,
            1080,
            BATCH_FILES,
            |i, frame| write_jpeg(&tmp.join(format!("img-{i:02}.jpg")), 1920, 1080, frame),
        )
    })?;

    // A ~20 MB clip encoded fast, then stream-copied in a loop up to ~200 MB.
    let clip = p("video-clip-20s.mp4");
    once(&clip, |tmp| {
        ffmpeg(
            &[
                "-f",
                "lavfi",
                "-i",
                "testsrc2=s=1920x1080:r=30,noise=alls=6:allf=t",
                "-f",
                "lavfi",
                "-i",
                "sine=frequency=440:sample_rate=48000",
                "-t",
                "20",
                "-c:v",
                "libx264",
                "-preset",
                "ultrafast",
                "-b:v",
                "8M",
                "-maxrate",
                "8M",
                "-bufsize",
                "16M",
                "-pix_fmt",
                "yuv420p",
                "-c:a",
                "aac",
                "-b:a",
                "128k",
                "-shortest",
            ],
            tmp,
        )
    })?;
    let clip_len = std::fs::metadata(&clip)?.len().max(1);
    let loops = (200_000_000u64.div_ceil(clip_len))
        .saturating_sub(1)
        .to_string();
    once(&inputs.mp4_200_moov_last, |tmp| {
        ffmpeg(
            &[
                "-stream_loop",
                &loops,
                "-i",
                &s(&clip),
                "-c",
                "copy",
                "-map",
                "0",
            ],
            tmp,
        )
    })?;
    once(&inputs.mp4_200_moov_first, |tmp| {
        ffmpeg(
            &[
                "-i",
                &s(&inputs.mp4_200_moov_last),
                "-c",
                "copy",
                "-map",
                "0",
                "-movflags",
                "+faststart",
            ],
            tmp,
        )
    })?;
    once(&inputs.mp3, |tmp| {
        ffmpeg(
            &[
                "-f",
                "lavfi",
                "-i",
                "sine=frequency=440:sample_rate=44100:duration=240",
                "-c:a",
                "libmp3lame",
                "-b:a",
                "192k",
            ],
            tmp,
        )
    })?;
    if let Some(clip) = &inputs.clip_60s {
        once(clip, |tmp| {
            ffmpeg(
                &[
                    "-f",
                    "lavfi",
                    "-i",
                    "testsrc2=size=1920x1080:rate=25",
                    "-f",
                    "lavfi",
                    "-i",
                    "sine=frequency=440",
                    "-t",
                    "60",
                    "-c:v",
                    "libx264",
                    "-preset",
                    "veryfast",
                    "-g",
                    "50",
                    "-c:a",
                    "aac",
                    "-shortest",
                ],
                tmp,
            )
        })?;
    }
    if let Some((last, first)) = &inputs.mp4_2g {
        once(last, |tmp| {
            ffmpeg(
                &[
                    "-stream_loop",
                    "9",
                    "-i",
                    &s(&inputs.mp4_200_moov_last),
                    "-c",
                    "copy",
                    "-map",
                    "0",
                ],
                tmp,
            )
        })?;
        once(first, |tmp| {
            ffmpeg(
                &[
                    "-i",
                    &s(last),
                    "-c",
                    "copy",
                    "-map",
                    "0",
                    "-movflags",
                    "+faststart",
                ],
                tmp,
            )
        })?;
    }
    Ok(inputs)
}

fn s(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}

/// A photo-like still: the Mandelbrot set's smooth gradients plus film-grain noise, so the
/// encoders see sizes close to a real photo's rather than a flat test pattern's.
fn picture_source(w: u32, h: u32) -> String {
    format!("mandelbrot=s={w}x{h}:rate=25,noise=alls=10:allf=t+u,format=rgb24")
}

/// Builds `path` with `make` unless it exists; `make` writes to a temporary sibling that keeps
/// the extension (ffmpeg picks the container from it) and is renamed at the end.
fn once(path: &Path, make: impl FnOnce(&Path) -> Result<()>) -> Result<()> {
    if path.exists() {
        return Ok(());
    }
    let name = path
        .file_name()
        .context("input without a name")?
        .to_string_lossy();
    let tmp = path.with_file_name(format!(".partial-{name}"));
    if tmp.is_dir() {
        std::fs::remove_dir_all(&tmp)?;
    } else if tmp.exists() {
        std::fs::remove_file(&tmp)?;
    }
    eprintln!("building {} …", path.display());
    make(&tmp).with_context(|| format!("building {}", path.display()))?;
    std::fs::rename(&tmp, path)?;
    Ok(())
}

fn ffmpeg(args: &[&str], out: &Path) -> Result<()> {
    let status = Command::new("ffmpeg")
        .args(["-nostdin", "-v", "error", "-y"])
        .args(args)
        .arg(out)
        .status()
        .context("running ffmpeg (install it: apt-get install ffmpeg)")?;
    ensure!(status.success(), "ffmpeg failed ({status})");
    Ok(())
}

/// Hands `n` RGB24 frames of `source` from ffmpeg to `each`, one at a time.
fn raw_frames(
    source: &str,
    w: u32,
    h: u32,
    n: usize,
    mut each: impl FnMut(usize, Vec<u8>) -> Result<()>,
) -> Result<()> {
    let mut child = Command::new("ffmpeg")
        .args([
            "-nostdin",
            "-v",
            "error",
            "-f",
            "lavfi",
            "-i",
            source,
            "-frames:v",
        ])
        .arg(n.to_string())
        .args(["-f", "rawvideo", "-pix_fmt", "rgb24", "-"])
        .stdout(Stdio::piped())
        .spawn()
        .context("running ffmpeg (install it: apt-get install ffmpeg)")?;
    let mut stdout = child.stdout.take().context("ffmpeg stdout")?;
    let frame_len = usize::try_from(u64::from(w) * u64::from(h) * 3)?;
    for i in 0..n {
        let mut buf = vec![0u8; frame_len];
        stdout
            .read_exact(&mut buf)
            .context("reading a frame from ffmpeg")?;
        each(i, buf)?;
    }
    drop(stdout);
    let status = child.wait()?;
    if !status.success() {
        bail!("ffmpeg failed ({status})");
    }
    Ok(())
}

fn write_jpeg(path: &Path, w: u32, h: u32, rgb: Vec<u8>) -> Result<()> {
    let img = image::RgbImage::from_raw(w, h, rgb).context("frame size")?;
    let file = std::io::BufWriter::new(std::fs::File::create(path)?);
    image::codecs::jpeg::JpegEncoder::new_with_quality(file, 90)
        .encode_image(&img)
        .with_context(|| format!("encoding {}", path.display()))?;
    Ok(())
}
