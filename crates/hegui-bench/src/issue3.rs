//! Issue 3's comparisons, measured in the same run and reported in their own section:
//!
//! * the explicit (visible) image label, `hegui label --explicit=image`, against ImageMagick
//!   `convert … -annotate` on the bench's 1080p and 2160p JPEGs and its 1080p PNG, with
//!   hegui's implicit-only run beside it so that the explicit stage's own cost shows;
//! * the explicit video label on a 60-second 1080p25 clip, `hegui label --explicit=video`,
//!   against a full `ffmpeg -vf drawtext` re-encode (at most [`VIDEO_REPS`] timed runs; skipped
//!   with `--quick`);
//! * `hegui label --in-place` on a scratch copy of the 200 MB MP4s (moov last and faststart)
//!   against the ffmpeg remux into a new file.
//!
//! Sizes. hegui draws the label with its glyph ink at least `ceil(5% × min(W, H))` pixels tall
//! (rows a glyph covers at least half of). The ImageMagick point size and the drawtext font size
//! are calibrated to the same measure at run time: `convert -pointsize P label:'ＡＩ生成'`
//! trimmed with `-fuzz 50%` (the half-covered rows) gives the ink height at `P`, and the smallest
//! `P` whose ink reaches the target is used. The margin is hegui's: 2% of the shortest side.

use crate::{Case, Contender, Env, PRODUCER, Section, bytes_of, inputs, os};
use anyhow::{Context, Result};
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The ImageMagick binary compared (the Debian package's, not a wrapper earlier on `PATH`).
pub const CONVERT: &str = "/usr/bin/convert";
/// The font both ImageMagick and drawtext draw with (Debian `fonts-droid-fallback`). It has no
/// Latin glyphs, hence the full-width ＡＩ in [`TEXT`]; hegui's bundled subset of the same font
/// draws `AI` as ＡＩ too.
pub const FONT: &str = "/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf";
/// The wording ImageMagick and drawtext draw.
pub const TEXT: &str = "ＡＩ生成";
/// Most timed runs of the 60 s video case (an ffmpeg re-encode of it takes 30–40 s).
pub const VIDEO_REPS: usize = 3;
/// hegui's minimum text height, as a fraction of the shortest side (GB 45438 §5.2 e).
const HEIGHT_FRACTION: f64 = 0.05;
/// hegui's margin between the image edge and the label's backing, fraction of the shortest side.
const MARGIN_FRACTION: f64 = 0.02;
/// Point size of the first calibration measurement.
const PROBE_POINTS: u32 = 200;

/// The label size used for one shortest side.
#[derive(Debug, Clone)]
pub struct Size {
    /// Shortest side of the picture, pixels.
    pub short_side: u32,
    /// hegui's minimum ink height for it: `ceil(5% × short_side)`.
    pub target_px: u32,
    /// The ImageMagick point size (and drawtext font size) used.
    pub points: u32,
    /// The ink height ImageMagick draws at `points`, measured; `None` when it could not be.
    pub ink_px: Option<u32>,
    /// Margin from the right and bottom edges, pixels.
    pub margin: u32,
}

/// What the section needs to say about its set-up.
#[derive(Debug, Clone)]
pub struct Setup {
    /// `convert -version`'s first line, or why ImageMagick cannot run.
    pub convert: Result<String, String>,
    /// Why the drawtext re-encode cannot run (the font is missing), if so.
    pub drawtext_missing: Option<String>,
    /// Sizes for short sides 1080 and 2160.
    pub sizes: Vec<Size>,
    /// The bench-data directory (shortened to `target/bench-data` in the printed commands).
    pub data: PathBuf,
}

impl Setup {
    /// The size for a picture whose shortest side is `short_side`.
    pub fn size(&self, short_side: u32) -> Option<&Size> {
        self.sizes.iter().find(|s| s.short_side == short_side)
    }
}

/// Probes ImageMagick and the font and calibrates the text sizes.
pub fn setup(data: &Path) -> Setup {
    let font_missing = (!Path::new(FONT).exists())
        .then(|| format!("font {FONT} missing (apt-get install fonts-droid-fallback)"));
    let convert = if !Path::new(CONVERT).exists() {
        Err(format!(
            "convert missing: {CONVERT} not found (apt-get install imagemagick)"
        ))
    } else if let Some(f) = &font_missing {
        Err(f.clone())
    } else {
        Command::new(CONVERT)
            .arg("-version")
            .output()
            .ok()
            .and_then(|o| {
                String::from_utf8_lossy(&o.stdout)
                    .lines()
                    .next()
                    .map(|l| l.trim().trim_start_matches("Version: ").to_string())
            })
            .ok_or_else(|| format!("{CONVERT} -version failed"))
    };
    let probe = convert.is_ok().then(|| ink_height(PROBE_POINTS)).flatten();
    let sizes = [1080u32, 2160]
        .into_iter()
        .map(|short_side| {
            let target_px = (f64::from(short_side) * HEIGHT_FRACTION).ceil() as u32;
            let margin = (f64::from(short_side) * MARGIN_FRACTION).round() as u32;
            let (points, ink_px) = match probe {
                Some(h) if h > 0 => calibrate(target_px, h),
                // Not calibrated: the font size equal to the target, as a person would guess.
                _ => (target_px, None),
            };
            Size {
                short_side,
                target_px,
                points,
                ink_px,
                margin,
            }
        })
        .collect();
    Setup {
        convert,
        drawtext_missing: font_missing,
        sizes,
        data: data.to_path_buf(),
    }
}

/// Ink height (rows at least half covered) of [`TEXT`] drawn by ImageMagick at `points`.
fn ink_height(points: u32) -> Option<u32> {
    let out = Command::new(CONVERT)
        .args(["-font", FONT, "-pointsize"])
        .arg(points.to_string())
        .arg(format!("label:{TEXT}"))
        .args(["-fuzz", "50%", "-trim", "+repage", "-format", "%h", "info:"])
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    String::from_utf8_lossy(&out.stdout).trim().parse().ok()
}

/// The smallest point size whose ink is at least `target` pixels, starting from the linear
/// estimate given the ink height at [`PROBE_POINTS`]; with the ink measured at that size.
fn calibrate(target: u32, probe_ink: u32) -> (u32, Option<u32>) {
    let mut p = ((f64::from(target) * f64::from(PROBE_POINTS) / f64::from(probe_ink)).round()
        as u32)
        .max(1);
    let mut ink = ink_height(p);
    for _ in 0..8 {
        match ink {
            Some(h) if h < target => {
                p += 1;
                ink = ink_height(p);
            }
            Some(_) if p > 1 => match ink_height(p - 1) {
                Some(h) if h >= target => {
                    p -= 1;
                    ink = Some(h);
                }
                _ => break,
            },
            _ => break,
        }
    }
    (p, ink)
}

fn name(input: &Path) -> Result<&std::ffi::OsStr> {
    input.file_name().context("input without a name")
}

/// `hegui label --explicit=KIND -o DIR INPUT`.
fn hegui_explicit(env: &Env, key: &str, input: &Path, kind: &str) -> Result<Contender> {
    let tool = format!("hegui --explicit={kind}");
    let dir = env.dir(key, &tool)?;
    Ok(Contender {
        argv: os(&[
            &env.hegui,
            &"label",
            &"--producer",
            &PRODUCER,
            &format!("--explicit={kind}"),
            &"-o",
            &dir,
            &input,
        ]),
        clean: dir.join(name(input)?),
        tool,
        clean_is_dir: false,
        labels: true,
        note: "",
        prepare: None,
        unavailable: None,
    })
}

/// ImageMagick drawing the label in the bottom-right corner, re-encoded at quality 90.
fn convert(env: &Env, key: &str, input: &Path, setup: &Setup, short: u32) -> Result<Contender> {
    let outp = env.out_file(key, "convert", input)?;
    let size = setup.size(short).context("no calibrated size")?;
    Ok(Contender {
        tool: "convert".into(),
        argv: os(&[
            &CONVERT,
            &input,
            &"-gravity",
            &"southeast",
            &"-font",
            &FONT,
            &"-pointsize",
            &size.points.to_string(),
            &"-fill",
            &"white",
            &"-undercolor",
            &"#000000B3",
            &"-annotate",
            &format!("+{0}+{0}", size.margin),
            &TEXT,
            &"-quality",
            &"90",
            &outp,
        ]),
        clean: outp,
        clean_is_dir: false,
        labels: false,
        note: "— (visible label only)",
        prepare: None,
        unavailable: setup.convert.as_ref().err().cloned(),
    })
}

/// The way teams label video today: every frame re-encoded with the text drawn on.
fn ffmpeg_drawtext(env: &Env, key: &str, input: &Path, setup: &Setup) -> Result<Contender> {
    let outp = env.out_file(key, "ffmpeg drawtext", input)?;
    let size = setup.size(1080).context("no calibrated size")?;
    let filter = format!(
        "drawtext=fontfile={FONT}:text='{TEXT}':fontsize={}:fontcolor=white:box=1:\
         boxcolor=black@0.7:x=w-tw-{m}:y=h-th-{m}",
        size.points,
        m = size.margin
    );
    Ok(Contender {
        tool: "ffmpeg drawtext".into(),
        argv: os(&[
            &"ffmpeg",
            &"-v",
            &"error",
            &"-y",
            &"-i",
            &input,
            &"-vf",
            &filter,
            &"-c:v",
            &"libx264",
            &"-preset",
            &"veryfast",
            &"-c:a",
            &"copy",
            &outp,
        ]),
        clean: outp,
        clean_is_dir: false,
        labels: false,
        note: "— (visible label only)",
        prepare: None,
        unavailable: setup.drawtext_missing.clone(),
    })
}

/// `hegui label --in-place SCRATCH`, the scratch file copied from `input` before every run.
fn hegui_in_place(env: &Env, key: &str, input: &Path) -> Result<Contender> {
    let tool = "hegui --in-place";
    let scratch = env.dir(key, tool)?.join(name(input)?);
    Ok(Contender {
        tool: tool.into(),
        argv: os(&[
            &env.hegui,
            &"label",
            &"--producer",
            &PRODUCER,
            &"--in-place",
            &scratch,
        ]),
        clean: scratch.clone(),
        clean_is_dir: false,
        labels: true,
        note: "",
        prepare: Some((input.to_path_buf(), scratch)),
        unavailable: None,
    })
}

fn case(
    key: &'static str,
    title: &str,
    input: &Path,
    contenders: Vec<Contender>,
    max_reps: Option<usize>,
) -> Case {
    Case {
        key,
        title: title.to_string(),
        bytes: bytes_of(input),
        warm: vec![input.to_path_buf()],
        contenders,
        section: Section::Issue3,
        max_reps,
    }
}

/// The section's cases. The video case is left out when its clip was not built (`--quick`).
pub fn cases(env: &Env, i: &inputs::Inputs, setup: &Setup) -> Result<Vec<Case>> {
    let mut cases = Vec::new();
    for (key, title, input, short) in [
        ("x_hd_jpg", "JPEG 1920×1080 q90", &i.hd_jpg, 1080),
        ("x_uhd_jpg", "JPEG 3840×2160 q90", &i.uhd_jpg, 2160),
        ("x_hd_png", "PNG 1920×1080", &i.hd_png, 1080),
    ] {
        cases.push(case(
            key,
            title,
            input,
            vec![
                hegui_explicit(env, key, input, "image")?,
                convert(env, key, input, setup, short)?,
                env.hegui(key, input, false)?,
            ],
            None,
        ));
    }
    if let Some(clip) = &i.clip_60s {
        let key = "x_clip60";
        cases.push(case(
            key,
            &format!("{}, keyframe every 2 s", crate::report::VIDEO_TITLE),
            clip,
            vec![
                hegui_explicit(env, key, clip, "video")?,
                ffmpeg_drawtext(env, key, clip, setup)?,
                env.hegui(key, clip, false)?,
            ],
            Some(VIDEO_REPS),
        ));
    }
    for (key, title, input) in [
        (
            "inplace_200_last",
            "MP4 1080p H.264+AAC, moov last",
            &i.mp4_200_moov_last,
        ),
        (
            "inplace_200_first",
            "MP4 1080p H.264+AAC, moov first (faststart)",
            &i.mp4_200_moov_first,
        ),
    ] {
        cases.push(case(
            key,
            title,
            input,
            vec![
                hegui_in_place(env, key, input)?,
                env.ffmpeg(key, input)?,
                env.cp(key, input)?,
            ],
            None,
        ));
    }
    Ok(cases)
}

/// A command line as a person would type it: arguments quoted when needed, the data directory
/// shortened to `target/bench-data`, the run's output directory to `OUT`.
pub fn shell(argv: &[OsString], setup: &Setup) -> String {
    let data = setup.data.to_string_lossy().into_owned();
    argv.iter()
        .map(|a| {
            let mut s = a.to_string_lossy().into_owned();
            if let Some(rest) = s.strip_prefix(&data) {
                // `…/bench-data/out-XXXX/<case>/<tool>/file` → `OUT/file`.
                let rest = rest.trim_start_matches('/');
                s = if rest.starts_with("out-") {
                    let file = rest.rsplit('/').next().unwrap_or(rest);
                    if Path::new(a).is_dir() {
                        "OUT".into()
                    } else {
                        format!("OUT/{file}")
                    }
                } else {
                    format!("target/bench-data/{rest}")
                };
            } else if s.ends_with("/release/hegui") {
                s = "target/release/hegui".into();
            }
            let plain = s
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_./=+:,@%".contains(c));
            if plain {
                s
            } else {
                format!("'{}'", s.replace('\'', "'\\''"))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}
