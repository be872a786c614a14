//! The image explicit label (显式标识, GB 45438 §5.2, acceptance check B-EXPL1): the wording drawn
//! at a corner or edge of a JPEG, PNG or WebP image on a contrasting backing, re-encoded in the
//! same format with the file's metadata carried over.
//!
//! Sizing. The rule is about the characters a person sees, so the text height is the height of
//! the glyphs' ink (rows where a rasterised glyph covers at least half a pixel), not the nominal
//! em size: the font scale is raised until every line's ink is at least
//! `max(ceil(min_height_fraction × min(W, H)), 12 px)`. When the wording is too wide for the
//! image it is wrapped onto up to three lines at that height; only if that fails too is the text
//! shrunk, and the report says so (below the 12 px legibility floor, or, when the wording cannot
//! fit at all, below the 5% rule).
//!
//! Glyphs. The bundled Droid Sans Fallback subset has the GB2312 level-1 hanzi and full-width
//! forms but no ASCII letters or digits (the fallback font never had them), so ASCII is drawn
//! with its full-width forms (`AI` → `ＡＩ`) set proportionally. A character the font cannot
//! draw at all is an error naming it, never a missing-glyph box.
//!
//! Legibility. The text is opaque white on a 70%-opaque black backing, or opaque black on a
//! 70%-opaque white backing, chosen from the mean luminance under the backing. At 70% the
//! backing's worst case (a white background under the black backing, a black one under the white
//! backing) still gives a contrast ratio of 8.5:1 or more, so B-EXPL1's 4.5:1 holds on any
//! background, noise included. [`render_label_rgba`] returns the same backing-and-text image so
//! that the video helper burns in an identical label.
//!
//! Orientation. When Exif says the picture is displayed rotated or mirrored, the label is drawn
//! in the displayed frame (and the pixels turned back), so it lands in the corner a viewer sees.
//! The report's coordinates are in that displayed frame.
//!
//! Encoding, per format:
//! * JPEG: `jpeg-encoder` (SIMD), baseline, quality = the input's estimated IJG quality clamped
//!   to 90..=95 (never below 90; no point in spending bits above what the source had), with the
//!   input's chroma subsampling (4:2:0 when it cannot be read) and box-filtered chroma. CMYK
//!   JPEGs are refused: converting them would change their colours.
//! * PNG: the `image` crate, same colour type and bit depth as decoded (16-bit stays 16-bit;
//!   palette and sub-8-bit images come out as 8-bit truecolour or grey, with a warning).
//! * WebP: lossless (VP8L) through the `image` crate, which has no lossy WebP encoder; the
//!   warning gives the size change. Animated WebP and APNG are refused.
//!
//! Metadata carry-over. The kept segments and chunks are copied byte for byte from the input:
//! JPEG APP1 (Exif, standard and extended XMP), APP2 ICC (every chunk), APP13 (IPTC), the other
//! application segments and COM; PNG `iCCP`, `sRGB`, `gAMA`, `cHRM`, `cICP`, `mDCV`, `cLLI`,
//! `pHYs`, `eXIf`, `tEXt`, `zTXt`, `iTXt` and every other safe-to-copy chunk (placed before
//! `IDAT`); WebP `ICCP`, `EXIF`, `XMP ` and unknown chunks, with the `VP8X` flags set to match.
//! Three things are deliberately not carried over, each with a warning:
//! * C2PA manifests (JPEG APP11 JUMBF, PNG `caBX`, WebP `C2PA`): their hard binding hashes the
//!   old pixels, so after re-encoding every validator would report the file as tampered. The C2PA
//!   stage, when enabled, signs a new manifest with the original file as its parent ingredient.
//! * Exif thumbnails (IFD1): they would show the picture without its label, so IFD0's next-IFD
//!   link is zeroed in place (no other Exif offset moves). JFIF/JFXX thumbnails likewise.
//! * JPEG MPF (multi-picture) segments: they point at secondary images this encoder does not
//!   write.
//!
//! The segment and chunk walkers here are small and work on the in-memory file (the pixels are
//! decoded into memory anyway); the format modules' walkers are private to them. Exif is read
//! with the crate's `format::exif` reader.

use super::{ExplicitError, LabelText, Position};
use crate::Format;
use crate::format::exif;
use ab_glyph::{Font, FontRef, GlyphId, PxScale, ScaleFont, point};
use image::metadata::Orientation;
use image::{DynamicImage, ImageFormat, RgbaImage};
use std::io::Cursor;
use std::path::Path;
use std::sync::OnceLock;

/// The bundled font: Droid Sans Fallback subset to GB2312 level 1 (Apache-2.0, see
/// `fonts/README.md`). Of ASCII it has only the space; see [`glyph_for`].
const FONT_BYTES: &[u8] = include_bytes!("../../fonts/DroidSansFallback-GB2312L1.ttf");

/// The smallest text height, in pixels, that is drawn when the image has room for it: below
/// this, CJK strokes merge and the label stops being 清晰可辨 (clearly legible) whatever the 5%
/// rule says for a small image.
pub const LEGIBLE_MIN_TEXT_PX: u32 = 12;

/// Opacity of the backing (179/255 ≈ 70%): enough for 8.5:1 contrast on any background while
/// still letting the picture show through.
const BACKING_ALPHA: u8 = 179;

/// Largest text height [`render_label_rgba`] draws: 5% of an 8K frame's short side is 216 px, so
/// 512 leaves room while bounding the memory a long wording takes.
pub const MAX_RENDER_TEXT_PX: u32 = 512;

/// Most characters a label may have: a label is a short phrase, and the bound keeps rendering
/// memory bounded.
pub const MAX_LABEL_CHARS: usize = 64;

/// Most lines a label is wrapped onto before the text is shrunk instead.
const MAX_LINES: usize = 3;

/// Fraction of the shortest side between the image edge and the backing.
const MARGIN_FRACTION: f32 = 0.02;

/// Cap on margin + padding per axis, as a fraction of that dimension, so that the ink stays in
/// the 10% edge band B-EXPL1 measures even when the 12 px floor makes the text large.
const EDGE_BUDGET_FRACTION: f32 = 0.08;

/// How the label is drawn on an image.
#[derive(Debug, Clone, PartialEq)]
pub struct ImageLabelOptions {
    /// The wording (validated to carry both GB 45438 elements).
    pub text: LabelText,
    /// The corner or edge.
    pub position: Position,
    /// Minimum text height as a fraction of the shortest side (GB 45438 §5.2 e: 0.05). Must be
    /// in (0, 0.5].
    pub min_height_fraction: f32,
}

impl Default for ImageLabelOptions {
    fn default() -> Self {
        Self {
            text: LabelText::default(),
            position: Position::default(),
            min_height_fraction: 0.05,
        }
    }
}

/// What [`label_image`] drew, in the displayed frame (after any Exif orientation).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ImageLabelReport {
    /// Displayed width of the image.
    pub width: u32,
    /// Displayed height of the image.
    pub height: u32,
    /// `(x, y, w, h)` of the text's ink: every pixel a glyph covers at least half of.
    pub text_box: (u32, u32, u32, u32),
    /// `(x, y, w, h)` of the backing rectangle: the only pixels drawn on (a lossless output is
    /// identical to the input outside it).
    pub backing_box: (u32, u32, u32, u32),
    /// Ink height of the text: the smallest over its lines when it was wrapped.
    pub text_height_px: u32,
    /// What the caller should know: wrapping, shrinking, metadata left out, lossless WebP.
    pub warnings: Vec<String>,
}

/// The text height GB 45438 §5.2 e requires for a `width`×`height` picture:
/// `ceil(min_height_fraction × min(width, height))`, at least 1.
pub fn required_text_height_px(width: u32, height: u32, min_height_fraction: f32) -> u32 {
    let side = width.min(height) as f32;
    // The product is at most 2^32 × 0.5 for valid fractions, so the cast saturates harmlessly.
    ((side * min_height_fraction).ceil() as u32).max(1)
}

/// Checks that the bundled font can draw every character of `text`, so that no label is
/// rendered with missing-glyph boxes (豆腐块), and that it is at most [`MAX_LABEL_CHARS`]
/// characters long. The error names the characters.
pub fn check_label_glyphs(text: &LabelText) -> Result<(), ExplicitError> {
    let n = text.as_str().chars().count();
    if n > MAX_LABEL_CHARS {
        return Err(ExplicitError::Invalid(format!(
            "label text is {n} characters long; an image or video label has at most \
             {MAX_LABEL_CHARS}"
        )));
    }
    let mut missing: Vec<char> = Vec::new();
    for c in text.as_str().chars() {
        if !c.is_whitespace() && glyph_for(c).0 == GlyphId(0) && !missing.contains(&c) {
            missing.push(c);
        }
    }
    if missing.is_empty() {
        return Ok(());
    }
    let list: Vec<String> = missing
        .iter()
        .map(|c| format!("'{c}' (U+{:04X})", u32::from(*c)))
        .collect();
    Err(ExplicitError::Invalid(format!(
        "label text {:?} has characters the bundled font (GB2312 level-1 hanzi and ASCII) cannot \
         draw: {}; use common simplified Chinese or ASCII wording",
        text.as_str(),
        list.join(", ")
    )))
}

/// Renders `text` on one line as the image label looks: white glyphs whose ink is at least
/// `text_height_px` tall (clamped to 1..=[`MAX_RENDER_TEXT_PX`]) on a 70%-opaque black backing with the same
/// padding [`label_image`] uses. The returned image is exactly the backing rectangle; glyph
/// pixels are opaque, backing pixels have alpha 179, nothing is fully transparent.
///
/// The video helper composites it (straight alpha, e.g. ffmpeg `overlay`) so that video and
/// image labels look the same. Characters the font lacks are skipped; call
/// [`check_label_glyphs`] first to refuse them instead.
pub fn render_label_rgba(text: &LabelText, text_height_px: u32) -> RgbaImage {
    let t = text_height_px.clamp(1, MAX_RENDER_TEXT_PX);
    let lines = vec![normalise_spaces(text.as_str())];
    let block = block_for_height(&lines, &reference_block(&lines), t);
    let pad = pad_for(t);
    paint(&block, pad, pad, Theme::Dark)
}

/// Draws the label onto the image at `src` and writes the result to `dst` in the same `format`
/// (JPEG, PNG or WebP), carrying the metadata over (see the module doc for what is kept).
///
/// `dst` is written in one go; the caller owns temporary files, the atomic rename and the
/// implicit label that follows this stage.
pub fn label_image(
    src: &Path,
    dst: &Path,
    format: Format,
    opts: &ImageLabelOptions,
) -> Result<ImageLabelReport, ExplicitError> {
    let data = std::fs::read(src).map_err(|e| {
        ExplicitError::Io(std::io::Error::new(
            e.kind(),
            format!("reading {}: {e}", src.display()),
        ))
    })?;
    let (out, report) = label_bytes(&data, format, opts).map_err(|e| match e {
        ExplicitError::Decode(m) => ExplicitError::Decode(format!("{}: {m}", src.display())),
        other => other,
    })?;
    std::fs::write(dst, &out).map_err(|e| {
        ExplicitError::Io(std::io::Error::new(
            e.kind(),
            format!("writing {}: {e}", dst.display()),
        ))
    })?;
    Ok(report)
}

/// [`label_image`] on an in-memory file: returns the labelled file and the report.
pub(crate) fn label_bytes(
    data: &[u8],
    format: Format,
    opts: &ImageLabelOptions,
) -> Result<(Vec<u8>, ImageLabelReport), ExplicitError> {
    let f = opts.min_height_fraction;
    if !(f > 0.0 && f <= 0.5) {
        return Err(ExplicitError::Invalid(format!(
            "min_height_fraction {f} is not in (0, 0.5] (GB 45438 §5.2 e uses 0.05)"
        )));
    }
    check_label_glyphs(&opts.text)?;
    let head = data.get(..data.len().min(16)).unwrap_or_default();
    let sniffed = Format::sniff(head, None);
    let mut warnings = Vec::new();
    let meta = match format {
        Format::Jpeg | Format::Png | Format::WebP => {
            if sniffed != Some(format) {
                return Err(ExplicitError::Decode(format!(
                    "the file is not a {} image (its first bytes say {})",
                    format.name(),
                    sniffed.map_or("unknown", Format::name)
                )));
            }
            Meta::read(format, data, &mut warnings)?
        }
        other => {
            return Err(ExplicitError::Unsupported(format!(
                "image labels are drawn on JPEG, PNG and WebP, not {}",
                other.name()
            )));
        }
    };
    let mut img = decode(data, format)?;
    let orientation = meta
        .exif()
        .and_then(exif_orientation)
        .unwrap_or(Orientation::NoTransforms);
    if orientation != Orientation::NoTransforms {
        img.apply_orientation(orientation);
    }
    let placed = draw_label(&mut img, opts, &mut warnings)?;
    if orientation != Orientation::NoTransforms {
        img.apply_orientation(inverse(orientation));
    }
    let out = match format {
        Format::Jpeg => encode_jpeg(&img, &meta)?,
        Format::Png => encode_png(&img, &meta, &mut warnings)?,
        _ => encode_webp(&img, &meta, data.len(), &mut warnings)?,
    };
    Ok((
        out,
        ImageLabelReport {
            width: placed.width,
            height: placed.height,
            text_box: placed.text_box,
            backing_box: placed.backing_box,
            text_height_px: placed.text_height,
            warnings,
        },
    ))
}

// ------------------------------------------------------------------------------------------------
// Text: font, line breaking, rasterisation.

fn font() -> &'static FontRef<'static> {
    static FONT: OnceLock<FontRef<'static>> = OnceLock::new();
    // The font is compiled in; `bundled_font_parses_and_covers_the_defaults` proves it parses.
    FONT.get_or_init(|| FontRef::try_from_slice(FONT_BYTES).expect("the bundled font parses"))
}

/// The glyph for `c`, and whether it is a full-width stand-in. The bundled subset has no ASCII
/// glyphs besides the space (Droid Sans Fallback is a CJK font and carries none), so printable
/// ASCII falls back to its full-width form (`A` → `Ａ`, U+FF21), the way Chinese typesetting
/// shows Latin letters.
fn glyph_for(c: char) -> (GlyphId, bool) {
    let f = font();
    let id = f.glyph_id(c);
    if id != GlyphId(0) || !c.is_ascii_graphic() {
        return (id, false);
    }
    match char::from_u32(u32::from(c) + 0xFEE0).map(|w| f.glyph_id(w)) {
        Some(w) if w != GlyphId(0) => (w, true),
        _ => (id, false),
    }
}

/// Lays `s` out on a baseline in font units: each drawable glyph with its pen position, and the
/// total advance. Full-width stand-ins for ASCII get a proportional advance (their ink plus a
/// small side bearing) so that "AI" reads as a word rather than two spaced-out letters.
fn layout_units(s: &str) -> (Vec<(GlyphId, f32)>, f32) {
    let f = font();
    let side = 0.06 * f.height_unscaled();
    let mut x = 0.0f32;
    let mut prev: Option<GlyphId> = None;
    let mut out = Vec::new();
    for c in s.chars() {
        let (id, stand_in) = glyph_for(c);
        if id == GlyphId(0) {
            continue;
        }
        let bounds = if stand_in {
            f.outline(id).map(|o| o.bounds)
        } else {
            None
        };
        match bounds {
            Some(b) => {
                out.push((id, x + side - b.min.x));
                x += b.width() + 2.0 * side;
                prev = None;
            }
            None => {
                if let Some(p) = prev {
                    x += f.kern_unscaled(p, id);
                }
                out.push((id, x));
                x += f.h_advance_unscaled(id);
                prev = Some(id);
            }
        }
    }
    (out, x)
}

/// Collapses every whitespace run to one space (LabelText is already trimmed).
fn normalise_spaces(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Splits text into the units a line may break between: a run of ASCII non-space characters
/// (a Latin word such as "AI" stays whole), a space, or any other single character (CJK text
/// breaks between any two characters).
fn break_units(s: &str) -> Vec<String> {
    let mut units: Vec<String> = Vec::new();
    let mut word = String::new();
    for c in s.chars() {
        if c.is_ascii_graphic() {
            word.push(c);
            continue;
        }
        if !word.is_empty() {
            units.push(std::mem::take(&mut word));
        }
        units.push(c.to_string());
    }
    if !word.is_empty() {
        units.push(word);
    }
    units
}

/// Advance width of `s` in units of the font's ascent-to-descent height (for line balancing).
fn advance_width(s: &str) -> f32 {
    layout_units(s).1 / font().height_unscaled()
}

/// Breaks `text` into at most `n` lines of balanced width (the widest line as narrow as
/// possible). Spaces at line ends are dropped.
fn wrap(text: &str, n: usize) -> Vec<String> {
    let units = break_units(text);
    let widths: Vec<f32> = units.iter().map(|u| advance_width(u)).collect();
    let greedy = |limit: f32| -> Vec<String> {
        let mut lines: Vec<String> = Vec::new();
        let mut cur = String::new();
        let mut cur_w = 0.0;
        for (u, w) in units.iter().zip(&widths) {
            if !cur.trim().is_empty() && cur_w + w > limit && u != " " {
                lines.push(cur.trim().to_string());
                cur.clear();
                cur_w = 0.0;
            }
            if cur.is_empty() && u == " " {
                continue;
            }
            cur.push_str(u);
            cur_w += w;
        }
        if !cur.trim().is_empty() {
            lines.push(cur.trim().to_string());
        }
        lines
    };
    let total: f32 = widths.iter().sum();
    if n <= 1 {
        return vec![text.to_string()];
    }
    let (mut lo, mut hi) = (0.0f32, total);
    for _ in 0..40 {
        let mid = (lo + hi) / 2.0;
        if greedy(mid).len() <= n {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    greedy(hi)
}

/// One rasterised line: coverage over the union of its glyphs' pixel bounds.
#[derive(Debug, Clone)]
struct LineRaster {
    w: u32,
    h: u32,
    /// Row-major coverage in 0..=1.
    cov: Vec<f32>,
    /// Ink box `[x0, y0, x1, y1)` (coverage ≥ 0.5), if any pixel is ink.
    ink: Option<[u32; 4]>,
}

/// Rasterises `text` at `scale` (pixels per ascent-to-descent height). Characters the font
/// lacks are skipped.
fn raster_line(text: &str, scale: f32) -> LineRaster {
    let f = font();
    let px_per_unit = f.as_scaled(PxScale::from(scale)).h_scale_factor();
    let glyphs: Vec<_> = layout_units(text)
        .0
        .into_iter()
        .filter_map(|(id, x)| {
            f.outline_glyph(id.with_scale_and_position(scale, point(x * px_per_unit, 0.0)))
        })
        .collect();
    let empty = LineRaster {
        w: 0,
        h: 0,
        cov: Vec::new(),
        ink: None,
    };
    let Some(first) = glyphs.first() else {
        return empty;
    };
    let mut b = first.px_bounds();
    for g in &glyphs {
        let r = g.px_bounds();
        b.min.x = b.min.x.min(r.min.x);
        b.min.y = b.min.y.min(r.min.y);
        b.max.x = b.max.x.max(r.max.x);
        b.max.y = b.max.y.max(r.max.y);
    }
    // px_bounds are whole pixels, so these are exact.
    let w = (b.max.x - b.min.x).max(0.0) as u32;
    let h = (b.max.y - b.min.y).max(0.0) as u32;
    let mut cov = vec![0.0f32; w as usize * h as usize];
    for g in &glyphs {
        let r = g.px_bounds();
        let ox = (r.min.x - b.min.x) as u32;
        let oy = (r.min.y - b.min.y) as u32;
        g.draw(|gx, gy, c| {
            let (px, py) = (ox + gx, oy + gy);
            if px < w && py < h {
                let i = py as usize * w as usize + px as usize;
                cov[i] = (cov[i] + c).min(1.0);
            }
        });
    }
    let ink = ink_box(&cov, w, h);
    LineRaster { w, h, cov, ink }
}

/// The box of pixels with coverage ≥ 0.5, `[x0, y0, x1, y1)`.
fn ink_box(cov: &[f32], w: u32, h: u32) -> Option<[u32; 4]> {
    let mut b: Option<[u32; 4]> = None;
    for y in 0..h {
        for x in 0..w {
            if cov[y as usize * w as usize + x as usize] >= 0.5 {
                b = Some(match b {
                    None => [x, y, x + 1, y + 1],
                    Some([x0, y0, x1, y1]) => [x0.min(x), y0.min(y), x1.max(x + 1), y1.max(y + 1)],
                });
            }
        }
    }
    b
}

/// Lines stacked and centred: the text part of a label, without padding.
#[derive(Debug, Clone)]
struct Block {
    w: u32,
    h: u32,
    cov: Vec<f32>,
    /// Union of the lines' ink boxes, `[x0, y0, x1, y1)`.
    ink: [u32; 4],
    /// Smallest ink height over the lines.
    text_height: u32,
    lines: usize,
}

fn gap_for(t: u32) -> u32 {
    ((t as f32 * 0.25).round() as u32).max(1)
}

fn pad_for(t: u32) -> u32 {
    ((t as f32 * 0.25).round() as u32).max(2)
}

/// Rasterises `lines` at `scale` and stacks them, centred, `gap_for(t)` apart.
fn build_block(lines: &[String], scale: f32, t: u32) -> Block {
    let rasters: Vec<LineRaster> = lines.iter().map(|l| raster_line(l, scale)).collect();
    let gap = gap_for(t);
    let w = rasters.iter().map(|r| r.w).max().unwrap_or(0);
    let h =
        rasters.iter().map(|r| r.h).sum::<u32>() + gap * (rasters.len() as u32).saturating_sub(1);
    let mut cov = vec![0.0f32; w as usize * h as usize];
    let mut ink: Option<[u32; 4]> = None;
    let mut text_height = u32::MAX;
    let mut y = 0;
    for r in &rasters {
        let x = (w - r.w) / 2;
        for ry in 0..r.h {
            let src = &r.cov[(ry * r.w) as usize..((ry + 1) * r.w) as usize];
            let at = ((y + ry) * w + x) as usize;
            cov[at..at + r.w as usize].copy_from_slice(src);
        }
        if let Some([x0, y0, x1, y1]) = r.ink {
            text_height = text_height.min(y1 - y0);
            let b = [x + x0, y + y0, x + x1, y + y1];
            ink = Some(match ink {
                None => b,
                Some(a) => [
                    a[0].min(b[0]),
                    a[1].min(b[1]),
                    a[2].max(b[2]),
                    a[3].max(b[3]),
                ],
            });
        }
        y += r.h + gap;
    }
    Block {
        w,
        h,
        cov,
        ink: ink.unwrap_or([0, 0, 0, 0]),
        text_height: if text_height == u32::MAX {
            0
        } else {
            text_height
        },
        lines: rasters.len(),
    }
}

/// Scale of the reference rasterisation the final scale is extrapolated from.
const REF_SCALE: f32 = 100.0;

/// `lines` rasterised at [`REF_SCALE`]: the ink height is proportional to the scale up to pixel
/// rounding, so this predicts the size at any other height without rasterising at that size.
fn reference_block(lines: &[String]) -> Block {
    build_block(lines, REF_SCALE, (REF_SCALE * 0.9) as u32)
}

/// Whether `reference`, scaled to text height `t`, could fit a `w`×`h` image (with a little
/// slack for rounding). It keeps the search from rasterising labels far larger than the image.
fn plausible(reference: &Block, t: u32, w: u32, h: u32) -> bool {
    if reference.text_height == 0 {
        return false;
    }
    let f = t as f32 / reference.text_height as f32;
    reference.w as f32 * f <= w as f32 * 1.05 + 4.0
        && reference.h as f32 * f <= h as f32 * 1.05 + 4.0
}

/// The smallest scale at which every line's ink is at least `t` pixels tall, and its block.
fn block_for_height(lines: &[String], reference: &Block, t: u32) -> Block {
    let k = (reference.text_height.max(1) as f32) / REF_SCALE;
    let mut scale = (t as f32 + 0.5) / k;
    let mut block = build_block(lines, scale, t);
    // Pixel rounding can leave the ink a pixel short; a few small steps settle it.
    for _ in 0..64 {
        if block.text_height >= t || block.text_height == 0 {
            break;
        }
        scale += ((t - block.text_height) as f32 / k).max(0.25);
        block = build_block(lines, scale, t);
    }
    block
}

// ------------------------------------------------------------------------------------------------
// Placement and painting.

/// Dark: white text on a black backing; Light: black text on a white backing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Theme {
    Dark,
    Light,
}

impl Theme {
    fn backing(self) -> f32 {
        match self {
            Theme::Dark => 0.0,
            Theme::Light => 1.0,
        }
    }
    fn text(self) -> f32 {
        1.0 - self.backing()
    }
}

/// Paints a block on its backing: an RGBA image of the backing rectangle in straight alpha.
fn paint(block: &Block, pad_x: u32, pad_y: u32, theme: Theme) -> RgbaImage {
    let (bw, bh) = (block.w + 2 * pad_x, block.h + 2 * pad_y);
    let a = f32::from(BACKING_ALPHA) / 255.0;
    let (tc, bc) = (theme.text(), theme.backing());
    let mut img = RgbaImage::from_pixel(
        bw,
        bh,
        image::Rgba([
            (bc * 255.0) as u8,
            (bc * 255.0) as u8,
            (bc * 255.0) as u8,
            BACKING_ALPHA,
        ]),
    );
    for y in 0..block.h {
        for x in 0..block.w {
            let c = block.cov[(y * block.w + x) as usize];
            if c <= 0.0 {
                continue;
            }
            // Text over backing, both over nothing: the single straight-alpha pixel that
            // composites like drawing the backing and then the text.
            let la = a + c * (1.0 - a);
            let colour = (tc * c + bc * a * (1.0 - c)) / la;
            let v = (colour * 255.0).round().clamp(0.0, 255.0) as u8;
            let al = (la * 255.0).round().clamp(0.0, 255.0) as u8;
            img.put_pixel(x + pad_x, y + pad_y, image::Rgba([v, v, v, al]));
        }
    }
    img
}

/// Where the label went, in the displayed frame.
struct Placed {
    width: u32,
    height: u32,
    text_box: (u32, u32, u32, u32),
    backing_box: (u32, u32, u32, u32),
    text_height: u32,
}

/// Padding and margin along one axis of length `d` for content of length `content`: the
/// preferred values, cut so that the label fits and margin + padding stays within
/// [`EDGE_BUDGET_FRACTION`] of `d`.
fn axis_spacing(d: u32, content: u32, pad_pref: u32, margin_pref: u32) -> (u32, u32) {
    let free = d.saturating_sub(content);
    let budget = ((d as f32 * EDGE_BUDGET_FRACTION).floor() as u32).max(1);
    let pad = pad_pref.min(budget).min(free / 2).max(u32::from(free >= 2));
    let margin = margin_pref
        .min(budget.saturating_sub(pad))
        .min(free.saturating_sub(2 * pad) / 2);
    (pad, margin)
}

/// Offset of a box of length `len` along an axis of length `d`: at the start, the middle or the
/// end, `margin` from the edge.
fn along(d: u32, len: u32, margin: u32, side: i8) -> u32 {
    match side {
        -1 => margin.min(d.saturating_sub(len)),
        0 => d.saturating_sub(len) / 2,
        _ => d.saturating_sub(len).saturating_sub(margin),
    }
}

/// Horizontal and vertical side of a position: -1 start, 0 middle, 1 end.
fn sides(p: Position) -> (i8, i8) {
    match p {
        Position::TopLeft => (-1, -1),
        Position::Top => (0, -1),
        Position::TopRight => (1, -1),
        Position::Left => (-1, 0),
        Position::Right => (1, 0),
        Position::BottomLeft => (-1, 1),
        Position::Bottom => (0, 1),
        Position::BottomRight => (1, 1),
    }
}

/// True when `block` fits a `w`×`h` image with at least one pixel of padding.
fn fits(block: &Block, w: u32, h: u32) -> bool {
    block.text_height > 0 && block.w + 2 <= w && block.h + 2 <= h
}

/// Sizes the text (see the module doc), places it and composites it onto `img`.
fn draw_label(
    img: &mut DynamicImage,
    opts: &ImageLabelOptions,
    warnings: &mut Vec<String>,
) -> Result<Placed, ExplicitError> {
    let (w, h) = (img.width(), img.height());
    let text = normalise_spaces(opts.text.as_str());
    let required = required_text_height_px(w, h, opts.min_height_fraction);
    let want = required.max(LEGIBLE_MIN_TEXT_PX);

    let mut layouts: Vec<(Vec<String>, Block)> = Vec::new();
    for n in 1..=MAX_LINES {
        let lines = wrap(&text, n);
        if !layouts.iter().any(|(l, _)| *l == lines) {
            let reference = reference_block(&lines);
            layouts.push((lines, reference));
        }
    }
    let fitting = |t: u32| -> Option<Block> {
        layouts
            .iter()
            .filter(|(_, reference)| plausible(reference, t, w, h))
            .map(|(lines, reference)| block_for_height(lines, reference, t))
            .find(|b| fits(b, w, h))
    };
    let block = match fitting(want) {
        Some(b) => b,
        None => {
            // Shrink: the largest height in [1, want) at which some layout fits.
            let (mut lo, mut hi) = (0u32, want);
            let mut best: Option<Block> = None;
            while hi - lo > 1 {
                let mid = lo + (hi - lo) / 2;
                match fitting(mid) {
                    Some(b) => {
                        lo = mid;
                        best = Some(b);
                    }
                    None => hi = mid,
                }
            }
            let Some(b) = best else {
                return Err(ExplicitError::Invalid(format!(
                    "a {w}×{h} image is too small to carry the label {text:?}"
                )));
            };
            if b.text_height >= required {
                warnings.push(format!(
                    "text height {} px is below the {LEGIBLE_MIN_TEXT_PX} px legibility floor \
                     because a {w}×{h} image has no room for more (the 5% rule needs {required} px)",
                    b.text_height
                ));
            } else {
                warnings.push(format!(
                    "GB 45438 §5.2 e not met: text height {} px is below the required {required} px \
                     ({} of the shortest side); the wording {text:?} does not fit a {w}×{h} image \
                     even on {MAX_LINES} lines, use a shorter wording",
                    b.text_height, opts.min_height_fraction
                ));
            }
            b
        }
    };
    if block.lines > 1 {
        warnings.push(format!(
            "the label is wrapped onto {} lines: on one line at {} px it is wider than the \
             {w}-px-wide image",
            block.lines, block.text_height
        ));
    }

    let t = block.text_height;
    let margin = (w.min(h) as f32 * MARGIN_FRACTION).round() as u32;
    let (pad_x, margin_x) = axis_spacing(w, block.w, pad_for(t), margin);
    let (pad_y, margin_y) = axis_spacing(h, block.h, pad_for(t), margin);
    let (bw, bh) = (block.w + 2 * pad_x, block.h + 2 * pad_y);
    let (sx, sy) = sides(opts.position);
    let x = along(w, bw, margin_x, sx);
    let y = along(h, bh, margin_y, sy);
    let theme = if mean_luma(img, x, y, bw.min(w - x), bh.min(h - y)) > 0.5 {
        Theme::Light
    } else {
        Theme::Dark
    };
    let label = paint(&block, pad_x, pad_y, theme);
    composite(img, &label, x, y);
    let [ix0, iy0, ix1, iy1] = block.ink;
    Ok(Placed {
        width: w,
        height: h,
        text_box: (x + pad_x + ix0, y + pad_y + iy0, ix1 - ix0, iy1 - iy0),
        backing_box: (x, y, label.width(), label.height()),
        text_height: t,
    })
}

/// Mean luma (0..1, Rec. 709 weights on the encoded values) of a region.
fn mean_luma(img: &DynamicImage, x: u32, y: u32, w: u32, h: u32) -> f32 {
    if w == 0 || h == 0 {
        return 0.0;
    }
    let region = img.crop_imm(x, y, w, h).into_luma8();
    let sum: u64 = region.as_raw().iter().map(|&v| u64::from(v)).sum();
    sum as f32 / (region.as_raw().len() as f32 * 255.0)
}

/// Composites `label` (straight alpha) over `img` at `(x, y)`, source-over, at the image's own
/// sample type, so that a 16-bit PNG stays 16-bit and no pixel outside the label changes.
fn composite(img: &mut DynamicImage, label: &RgbaImage, x: u32, y: u32) {
    let w = img.width();
    let to8 = |v: f32| v.round().clamp(0.0, 255.0) as u8;
    let to16 = |v: f32| v.round().clamp(0.0, 65535.0) as u16;
    let (f8, f16) = (|v: u8| f32::from(v), |v: u16| f32::from(v));
    match img {
        DynamicImage::ImageLuma8(b) => blend(b, w, 1, false, 255.0, label, x, y, f8, to8),
        DynamicImage::ImageLumaA8(b) => blend(b, w, 2, true, 255.0, label, x, y, f8, to8),
        DynamicImage::ImageRgb8(b) => blend(b, w, 3, false, 255.0, label, x, y, f8, to8),
        DynamicImage::ImageRgba8(b) => blend(b, w, 4, true, 255.0, label, x, y, f8, to8),
        DynamicImage::ImageLuma16(b) => blend(b, w, 1, false, 65535.0, label, x, y, f16, to16),
        DynamicImage::ImageLumaA16(b) => blend(b, w, 2, true, 65535.0, label, x, y, f16, to16),
        DynamicImage::ImageRgb16(b) => blend(b, w, 3, false, 65535.0, label, x, y, f16, to16),
        DynamicImage::ImageRgba16(b) => blend(b, w, 4, true, 65535.0, label, x, y, f16, to16),
        other => {
            // Not produced by the JPEG, PNG or WebP decoders; kept total by converting.
            let mut rgba = other.to_rgba8();
            blend(&mut rgba, w, 4, true, 255.0, label, x, y, f8, to8);
            *other = DynamicImage::ImageRgba8(rgba);
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn blend<S: Copy>(
    buf: &mut [S],
    img_w: u32,
    channels: usize,
    has_alpha: bool,
    max: f32,
    label: &RgbaImage,
    x0: u32,
    y0: u32,
    get: impl Fn(S) -> f32,
    put: impl Fn(f32) -> S,
) {
    let colour_channels = if has_alpha { channels - 1 } else { channels };
    for (lx, ly, p) in label.enumerate_pixels() {
        let la = f32::from(p[3]) / 255.0;
        if la <= 0.0 {
            continue;
        }
        // The label is grey, so its red sample stands for every colour channel.
        let lc = f32::from(p[0]) / 255.0;
        let i = ((y0 + ly) as usize * img_w as usize + (x0 + lx) as usize) * channels;
        let Some(px) = buf.get_mut(i..i + channels) else {
            continue;
        };
        if has_alpha {
            let ba = get(px[channels - 1]) / max;
            let oa = la + ba * (1.0 - la);
            for s in px.iter_mut().take(colour_channels) {
                let bc = get(*s) / max;
                let oc = (lc * la + bc * ba * (1.0 - la)) / oa;
                *s = put(oc * max);
            }
            px[channels - 1] = put(oa * max);
        } else {
            for s in px.iter_mut() {
                let bc = get(*s) / max;
                *s = put((lc * la + bc * (1.0 - la)) * max);
            }
        }
    }
}

// ------------------------------------------------------------------------------------------------
// Decoding and orientation.

fn decode(data: &[u8], format: Format) -> Result<DynamicImage, ExplicitError> {
    let f = match format {
        Format::Jpeg => ImageFormat::Jpeg,
        Format::Png => ImageFormat::Png,
        _ => ImageFormat::WebP,
    };
    image::ImageReader::with_format(Cursor::new(data), f)
        .decode()
        .map_err(|e| ExplicitError::Decode(e.to_string()))
}

/// The undoing of an orientation: 90° and 270° swap, the others are their own inverse.
fn inverse(o: Orientation) -> Orientation {
    match o {
        Orientation::Rotate90 => Orientation::Rotate270,
        Orientation::Rotate270 => Orientation::Rotate90,
        other => other,
    }
}

/// The TIFF block of an Exif payload (skips a leading `Exif\0\0` when present).
fn tiff_part(exif: &[u8]) -> &[u8] {
    exif.strip_prefix(b"Exif\0\0".as_slice()).unwrap_or(exif)
}

/// The Exif Orientation (IFD0 tag 0x0112) of an Exif payload, if valid.
fn exif_orientation(exif: &[u8]) -> Option<Orientation> {
    let tiff = tiff_part(exif);
    let mut cur = Cursor::new(tiff);
    let mut r = exif::Reader::new(&mut cur, 0).ok()?;
    let h = r.header;
    let ifd0 = r.read_ifd(h.first_ifd).ok()?;
    let e = ifd0.get(0x0112)?;
    if e.typ != 3 || e.count != 1 {
        return None;
    }
    let v = h.order.u16([e.raw[0], e.raw[1]]);
    Orientation::from_exif(u8::try_from(v).ok()?)
}

/// Unlinks the Exif thumbnail (IFD1) by zeroing IFD0's next-IFD offset in place, so a preview
/// never shows the picture without its label. Returns true when a thumbnail was linked.
fn drop_exif_thumbnail(exif: &mut [u8]) -> bool {
    let skip = exif.len() - tiff_part(exif).len();
    let tiff = &mut exif[skip..];
    let at = {
        let mut cur = Cursor::new(&*tiff);
        let Ok(mut r) = exif::Reader::new(&mut cur, 0) else {
            return false;
        };
        let h = r.header;
        let Ok(ifd0) = r.read_ifd(h.first_ifd) else {
            return false;
        };
        if ifd0.next == 0 {
            return false;
        }
        let (count_len, entry_len, link_len) = if h.big { (8, 20, 8) } else { (2, 12, 4) };
        let Some(at) = ifd0
            .offset
            .checked_add(count_len + entry_len * ifd0.entries.len() as u64)
            .and_then(|a| usize::try_from(a).ok())
        else {
            return false;
        };
        (at, link_len)
    };
    match tiff.get_mut(at.0..at.0 + at.1) {
        Some(link) => {
            link.fill(0);
            true
        }
        None => false,
    }
}

// ------------------------------------------------------------------------------------------------
// Metadata read from the input.

/// The input metadata to carry over.
enum Meta {
    Jpeg(JpegMeta),
    Png(PngMeta),
    WebP(WebpMeta),
}

impl Meta {
    fn read(
        format: Format,
        data: &[u8],
        warnings: &mut Vec<String>,
    ) -> Result<Self, ExplicitError> {
        Ok(match format {
            Format::Jpeg => Meta::Jpeg(JpegMeta::read(data, warnings)?),
            Format::Png => Meta::Png(PngMeta::read(data, warnings)?),
            _ => Meta::WebP(WebpMeta::read(data, warnings)?),
        })
    }

    /// The Exif payload, for the orientation.
    fn exif(&self) -> Option<&[u8]> {
        match self {
            Meta::Jpeg(m) => m
                .segments
                .iter()
                .find(|(mk, p)| *mk == 0xE1 && p.starts_with(b"Exif\0\0"))
                .map(|(_, p)| p.as_slice()),
            Meta::Png(m) => m
                .keep
                .iter()
                .find(|c| &c.ty == b"eXIf")
                .map(|c| c.data.as_slice()),
            Meta::WebP(m) => m
                .chunks
                .iter()
                .find(|(id, _)| id == b"EXIF")
                .map(|(_, p)| p.as_slice()),
        }
    }
}

/// JPEG: the segments to copy, the JFIF density, the chroma sampling and the luma table.
struct JpegMeta {
    /// Kept segments in input order: marker byte and payload (without the length field).
    segments: Vec<(u8, Vec<u8>)>,
    /// The input's JFIF density (unit, x, y), when it had a JFIF APP0.
    jfif: Option<(u8, u16, u16)>,
    /// Sampling factors of the luma component when both chroma components are 1×1.
    luma_sampling: Option<(u8, u8)>,
    /// Estimated IJG quality of the luma quantisation table.
    quality: Option<u8>,
}

/// The IJG (Annex K.1) luminance quantisation table, whose scaled copies most encoders use.
const STD_LUMA_Q: [u16; 64] = [
    16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55, 14, 13, 16, 24, 40, 57, 69, 56,
    14, 17, 22, 29, 51, 87, 80, 62, 18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113,
    92, 49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99,
];

impl JpegMeta {
    fn read(data: &[u8], warnings: &mut Vec<String>) -> Result<Self, ExplicitError> {
        let bad = |what: &str| ExplicitError::Decode(format!("malformed JPEG: {what}"));
        let mut m = JpegMeta {
            segments: Vec::new(),
            jfif: None,
            luma_sampling: None,
            quality: None,
        };
        let mut pos = 2usize;
        let mut dropped_c2pa = false;
        let mut dropped_other: Vec<&'static str> = Vec::new();
        loop {
            // Markers may be preceded by fill bytes 0xFF.
            while data.get(pos) == Some(&0xFF) && data.get(pos + 1) == Some(&0xFF) {
                pos += 1;
            }
            let (Some(&0xFF), Some(&marker)) = (data.get(pos), data.get(pos + 1)) else {
                return Err(bad("no start of scan"));
            };
            if marker == 0xDA || marker == 0xD9 {
                break;
            }
            if (0xD0..=0xD7).contains(&marker) || marker == 0x01 {
                pos += 2;
                continue;
            }
            let len = match data.get(pos + 2..pos + 4) {
                Some(&[a, b]) => usize::from(u16::from_be_bytes([a, b])),
                _ => return Err(bad("truncated segment header")),
            };
            let payload = data
                .get(pos + 4..pos + 2 + len.max(2))
                .ok_or_else(|| bad("truncated segment"))?;
            match marker {
                0xC0..=0xCF if !matches!(marker, 0xC4 | 0xC8 | 0xCC) => {
                    let n = usize::from(*payload.get(5).unwrap_or(&0));
                    if n == 4 {
                        return Err(ExplicitError::Unsupported(
                            "CMYK/YCCK JPEG: re-encoding it as RGB would change its colours".into(),
                        ));
                    }
                    let comp = |i: usize| payload.get(6 + 3 * i + 1).map(|hv| (hv >> 4, hv & 15));
                    if n == 3
                        && comp(1) == Some((1, 1))
                        && comp(2) == Some((1, 1))
                        && let Some(y) = comp(0)
                    {
                        m.luma_sampling = Some(y);
                    }
                }
                0xDB => {
                    // A DQT segment holds one or more tables: Pq/Tq byte, then 64 entries.
                    let mut p = 0usize;
                    while let Some(&pt) = payload.get(p) {
                        let wide = pt >> 4 != 0;
                        let size = if wide { 128 } else { 64 };
                        let Some(t) = payload.get(p + 1..p + 1 + size) else {
                            break;
                        };
                        if pt & 15 == 0 {
                            let sum: u32 = if wide {
                                t.chunks_exact(2)
                                    .map(|c| u32::from(u16::from_be_bytes([c[0], c[1]])))
                                    .sum()
                            } else {
                                t.iter().map(|&v| u32::from(v)).sum()
                            };
                            m.quality = Some(ijg_quality(sum));
                        }
                        p += 1 + size;
                    }
                }
                0xE0 => {
                    if payload.starts_with(b"JFIF\0") && payload.len() >= 12 {
                        let d = |i: usize| u16::from_be_bytes([payload[i], payload[i + 1]]);
                        m.jfif = Some((payload[7], d(8), d(10)));
                    } else if payload.starts_with(b"JFXX\0") {
                        dropped_other.push("JFXX thumbnail");
                    } else {
                        m.segments.push((marker, payload.to_vec()));
                    }
                }
                0xE1 if payload.starts_with(b"Exif\0\0") => {
                    let mut p = payload.to_vec();
                    if drop_exif_thumbnail(&mut p) {
                        dropped_other.push("Exif thumbnail");
                    }
                    m.segments.push((marker, p));
                }
                0xE2 if payload.starts_with(b"MPF\0") => {
                    dropped_other.push("MPF multi-picture index (secondary images)");
                }
                0xEB => {
                    if payload.windows(4).any(|w| w == b"c2pa") {
                        dropped_c2pa = true;
                    } else {
                        dropped_other.push("APP11 (JPEG XT/JUMBF)");
                    }
                }
                0xEE if payload.starts_with(b"Adobe") => {
                    // The colour-transform flag belongs to the encoder that wrote the scans.
                }
                0xE1..=0xEF | 0xFE => m.segments.push((marker, payload.to_vec())),
                _ => {}
            }
            pos += 2 + len;
        }
        note_dropped(warnings, dropped_c2pa, &dropped_other);
        Ok(m)
    }
}

/// The IJG quality whose scaled Annex K luma table has entries summing to `sum`.
fn ijg_quality(sum: u32) -> u8 {
    let std: u32 = STD_LUMA_Q.iter().map(|&v| u32::from(v)).sum();
    let s = sum as f32 * 100.0 / std as f32;
    let q = if s <= 100.0 {
        (200.0 - s) / 2.0
    } else {
        5000.0 / s
    };
    q.round().clamp(1.0, 100.0) as u8
}

fn note_dropped(warnings: &mut Vec<String>, c2pa: bool, other: &[&'static str]) {
    if c2pa {
        warnings.push(
            "the C2PA manifest was not carried over: re-encoding invalidates its hard binding, \
             so validators would report the file as tampered; sign a new manifest with the \
             original as its parent ingredient"
                .into(),
        );
    }
    let mut seen: Vec<&str> = Vec::new();
    for o in other {
        if !seen.contains(o) {
            seen.push(o);
        }
    }
    if !seen.is_empty() {
        warnings.push(format!(
            "not carried over because it would show or describe the unlabelled picture: {}",
            seen.join(", ")
        ));
    }
}

/// One PNG chunk.
struct PngChunk {
    ty: [u8; 4],
    data: Vec<u8>,
}

/// PNG: the chunks to copy and the input's colour type and bit depth.
struct PngMeta {
    keep: Vec<PngChunk>,
    /// IHDR colour type and bit depth of the input.
    layout: (u8, u8),
    /// bKGD/sBIT, kept only when the output layout equals the input's.
    layout_bound: Vec<PngChunk>,
}

/// A PNG chunk in memory: its type and data.
type ChunkRef<'a> = ([u8; 4], &'a [u8]);

/// Walks PNG chunks in memory, up to IEND.
fn png_chunks(data: &[u8]) -> Result<Vec<ChunkRef<'_>>, ExplicitError> {
    let bad = |what: &str| ExplicitError::Decode(format!("malformed PNG: {what}"));
    let mut out = Vec::new();
    let mut pos = 8usize;
    while pos < data.len() {
        let head = data
            .get(pos..pos + 8)
            .ok_or_else(|| bad("truncated chunk header"))?;
        let len = u32::from_be_bytes([head[0], head[1], head[2], head[3]]) as usize;
        let ty = [head[4], head[5], head[6], head[7]];
        let body = data
            .get(pos + 8..pos + 8 + len)
            .ok_or_else(|| bad("truncated chunk"))?;
        if data.len() < pos + 12 + len {
            return Err(bad("chunk without CRC"));
        }
        out.push((ty, body));
        pos += 12 + len;
        if &ty == b"IEND" {
            break;
        }
    }
    Ok(out)
}

impl PngMeta {
    fn read(data: &[u8], warnings: &mut Vec<String>) -> Result<Self, ExplicitError> {
        let mut m = PngMeta {
            keep: Vec::new(),
            layout: (0, 0),
            layout_bound: Vec::new(),
        };
        let mut dropped_c2pa = false;
        let mut dropped_other = Vec::new();
        for (ty, body) in png_chunks(data)? {
            let chunk = || PngChunk {
                ty,
                data: body.to_vec(),
            };
            match &ty {
                b"IHDR" => {
                    if let (Some(&depth), Some(&colour)) = (body.get(8), body.get(9)) {
                        m.layout = (colour, depth);
                    }
                }
                b"acTL" | b"fcTL" | b"fdAT" => {
                    return Err(ExplicitError::Unsupported(
                        "animated PNG (APNG): only its first frame would be labelled".into(),
                    ));
                }
                b"caBX" => dropped_c2pa = true,
                b"eXIf" => {
                    let mut c = chunk();
                    if drop_exif_thumbnail(&mut c.data) {
                        dropped_other.push("Exif thumbnail");
                    }
                    m.keep.push(c);
                }
                b"bKGD" | b"sBIT" => m.layout_bound.push(chunk()),
                // Colour and text chunks whose meaning does not depend on the pixel values
                // (some are "unsafe to copy" by the letter of the spec, but only because an
                // editor might change the colour space, which this one does not).
                b"iCCP" | b"sRGB" | b"gAMA" | b"cHRM" | b"cICP" | b"mDCV" | b"cLLI" | b"pHYs"
                | b"tEXt" | b"zTXt" | b"iTXt" => m.keep.push(chunk()),
                // Otherwise the spec's rule: an editor that changed the image data may copy an
                // ancillary chunk only when it is marked safe-to-copy (lower-case fourth letter).
                _ if ty[0].is_ascii_lowercase() && ty[3].is_ascii_lowercase() => {
                    m.keep.push(chunk());
                }
                _ => {}
            }
        }
        note_dropped(warnings, dropped_c2pa, &dropped_other);
        Ok(m)
    }
}

/// WebP: the metadata and unknown chunks to copy.
struct WebpMeta {
    /// `ICCP`, `EXIF`, `XMP ` and unknown chunks, in input order.
    chunks: Vec<([u8; 4], Vec<u8>)>,
}

impl WebpMeta {
    fn read(data: &[u8], warnings: &mut Vec<String>) -> Result<Self, ExplicitError> {
        let bad = |e: crate::format::FormatError| ExplicitError::Decode(format!("WebP: {e}"));
        let mut cur = Cursor::new(data);
        let riff = crate::format::riff::open(&mut cur, b"WEBP", "WebP").map_err(bad)?;
        let mut walk = riff.chunks();
        let mut m = WebpMeta { chunks: Vec::new() };
        let mut dropped_c2pa = false;
        let mut dropped_other = Vec::new();
        while let Some(c) = walk.next(&mut cur).map_err(bad)? {
            let start = usize::try_from(c.data_offset()).unwrap_or(usize::MAX);
            let end = start.saturating_add(usize::try_from(c.len).unwrap_or(usize::MAX));
            let payload = data.get(start..end).unwrap_or_default();
            match &c.id {
                b"VP8X" => {
                    if payload.first().is_some_and(|f| f & 0x02 != 0) {
                        return Err(ExplicitError::Unsupported(
                            "animated WebP: only its first frame would be labelled".into(),
                        ));
                    }
                }
                b"ANIM" | b"ANMF" => {
                    return Err(ExplicitError::Unsupported(
                        "animated WebP: only its first frame would be labelled".into(),
                    ));
                }
                b"VP8 " | b"VP8L" | b"ALPH" => {}
                b"C2PA" => dropped_c2pa = true,
                b"EXIF" => {
                    let mut p = payload.to_vec();
                    if drop_exif_thumbnail(&mut p) {
                        dropped_other.push("Exif thumbnail");
                    }
                    m.chunks.push((c.id, p));
                }
                _ => m.chunks.push((c.id, payload.to_vec())),
            }
        }
        note_dropped(warnings, dropped_c2pa, &dropped_other);
        Ok(m)
    }
}

// ------------------------------------------------------------------------------------------------
// Encoding.

fn encode_jpeg(img: &DynamicImage, meta: &Meta) -> Result<Vec<u8>, ExplicitError> {
    use jpeg_encoder::{ChromaSubsamplingMethod, ColorType, Encoder, SamplingFactor};
    let Meta::Jpeg(m) = meta else {
        return Err(ExplicitError::Encode("JPEG metadata expected".into()));
    };
    let (w, h) = (img.width(), img.height());
    let too_big = || ExplicitError::Encode(format!("{w}×{h} exceeds JPEG's 65535-pixel limit"));
    let (w16, h16) = (
        u16::try_from(w).map_err(|_| too_big())?,
        u16::try_from(h).map_err(|_| too_big())?,
    );
    let quality = m.quality.unwrap_or(90).clamp(90, 95);
    let mut encoded = Vec::with_capacity(w as usize * h as usize / 4);
    let mut enc = Encoder::new(&mut encoded, quality);
    // Same chroma resolution as the input, so flat colours do not bleed more than before;
    // 4:2:0, the photo default, when the input's factors are unusual.
    let sampling = m
        .luma_sampling
        .and_then(|(hh, vv)| match (hh, vv) {
            (1, 1) | (2, 1) | (1, 2) | (2, 2) => SamplingFactor::from_factors(hh, vv),
            _ => None,
        })
        .unwrap_or(SamplingFactor::F_2_2);
    enc.set_sampling_factor(sampling);
    enc.set_chroma_subsampling_method(ChromaSubsamplingMethod::Average);
    if let Some((unit, x, y)) = m.jfif {
        use jpeg_encoder::{PixelDensity, PixelDensityUnit};
        let unit = match unit {
            1 => PixelDensityUnit::Inches,
            2 => PixelDensityUnit::Centimeters,
            _ => PixelDensityUnit::PixelAspectRatio,
        };
        enc.set_density(PixelDensity {
            density: (x.max(1), y.max(1)),
            unit,
        });
    }
    let result = match img {
        DynamicImage::ImageLuma8(b) => enc.encode(b.as_raw(), w16, h16, ColorType::Luma),
        DynamicImage::ImageRgb8(b) => enc.encode(b.as_raw(), w16, h16, ColorType::Rgb),
        other => enc.encode(other.to_rgb8().as_raw(), w16, h16, ColorType::Rgb),
    };
    result.map_err(|e| ExplicitError::Encode(format!("JPEG: {e}")))?;
    // The encoder writes SOI and a JFIF APP0 first. Keep that APP0 only when the input had one
    // (an Exif-only camera file stays Exif-only) and put the kept segments right after it.
    let app0_len = match encoded.get(2..6) {
        Some(&[0xFF, 0xE0, a, b]) => 2 + usize::from(u16::from_be_bytes([a, b])),
        _ => return Err(ExplicitError::Encode("JPEG encoder wrote no APP0".into())),
    };
    let extra: usize = m.segments.iter().map(|(_, p)| p.len() + 4).sum();
    let mut out = Vec::with_capacity(encoded.len() + extra);
    out.extend_from_slice(&encoded[..2]);
    if m.jfif.is_some() {
        out.extend_from_slice(&encoded[2..2 + app0_len]);
    }
    for (marker, payload) in &m.segments {
        // Each payload came from a segment of the input, so its length fits the u16 field.
        let len = u16::try_from(payload.len() + 2)
            .map_err(|_| ExplicitError::Encode("JPEG segment too large".into()))?;
        out.extend_from_slice(&[0xFF, *marker]);
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(payload);
    }
    out.extend_from_slice(&encoded[2 + app0_len..]);
    Ok(out)
}

fn png_layout(img: &DynamicImage) -> (u8, u8) {
    match img {
        DynamicImage::ImageLuma8(_) => (0, 8),
        DynamicImage::ImageLumaA8(_) => (4, 8),
        DynamicImage::ImageRgb8(_) => (2, 8),
        DynamicImage::ImageLuma16(_) => (0, 16),
        DynamicImage::ImageLumaA16(_) => (4, 16),
        DynamicImage::ImageRgb16(_) => (2, 16),
        DynamicImage::ImageRgba16(_) => (6, 16),
        _ => (6, 8),
    }
}

fn png_chunk_bytes(out: &mut Vec<u8>, ty: &[u8; 4], data: &[u8]) {
    // Chunk data came from a PNG chunk or the encoder, so it is below 2^31 bytes.
    out.extend_from_slice(&(data.len() as u32).to_be_bytes());
    out.extend_from_slice(ty);
    out.extend_from_slice(data);
    let mut crc = crc32fast::Hasher::new();
    crc.update(ty);
    crc.update(data);
    out.extend_from_slice(&crc.finalize().to_be_bytes());
}

fn encode_png(
    img: &DynamicImage,
    meta: &Meta,
    warnings: &mut Vec<String>,
) -> Result<Vec<u8>, ExplicitError> {
    use image::codecs::png::{CompressionType, FilterType, PngEncoder};
    let Meta::Png(m) = meta else {
        return Err(ExplicitError::Encode("PNG metadata expected".into()));
    };
    let mut encoded = Vec::new();
    let img = match img {
        DynamicImage::ImageLuma8(_)
        | DynamicImage::ImageLumaA8(_)
        | DynamicImage::ImageRgb8(_)
        | DynamicImage::ImageRgba8(_)
        | DynamicImage::ImageLuma16(_)
        | DynamicImage::ImageLumaA16(_)
        | DynamicImage::ImageRgb16(_)
        | DynamicImage::ImageRgba16(_) => std::borrow::Cow::Borrowed(img),
        other => std::borrow::Cow::Owned(DynamicImage::ImageRgba8(other.to_rgba8())),
    };
    img.write_with_encoder(PngEncoder::new_with_quality(
        &mut encoded,
        CompressionType::Default,
        FilterType::Adaptive,
    ))
    .map_err(|e| ExplicitError::Encode(format!("PNG: {e}")))?;
    let out_layout = png_layout(&img);
    if out_layout != m.layout {
        warnings.push(format!(
            "PNG colour type {} at {} bits is written as colour type {} at {} bits (the decoder \
             expands palettes, transparency chunks and low bit depths)",
            m.layout.0, m.layout.1, out_layout.0, out_layout.1
        ));
    }
    let chunks = png_chunks(&encoded)?;
    let mut out = Vec::with_capacity(encoded.len() + 4096);
    out.extend_from_slice(&encoded[..8]);
    let mut inserted = false;
    for (ty, body) in chunks {
        png_chunk_bytes(&mut out, &ty, body);
        if &ty == b"IHDR" && !inserted {
            inserted = true;
            for c in &m.keep {
                png_chunk_bytes(&mut out, &c.ty, &c.data);
            }
            if out_layout == m.layout {
                for c in &m.layout_bound {
                    png_chunk_bytes(&mut out, &c.ty, &c.data);
                }
            }
        }
    }
    Ok(out)
}

fn encode_webp(
    img: &DynamicImage,
    meta: &Meta,
    input_len: usize,
    warnings: &mut Vec<String>,
) -> Result<Vec<u8>, ExplicitError> {
    use crate::format::riff;
    let Meta::WebP(m) = meta else {
        return Err(ExplicitError::Encode("WebP metadata expected".into()));
    };
    let (w, h) = (img.width(), img.height());
    let has_alpha = img.color().has_alpha();
    let mut encoded = Vec::new();
    let enc = image::codecs::webp::WebPEncoder::new_lossless(&mut encoded);
    let res = if has_alpha {
        enc.encode(
            img.to_rgba8().as_raw(),
            w,
            h,
            image::ExtendedColorType::Rgba8,
        )
    } else {
        enc.encode(img.to_rgb8().as_raw(), w, h, image::ExtendedColorType::Rgb8)
    };
    res.map_err(|e| ExplicitError::Encode(format!("WebP: {e}")))?;
    let ferr = |e: crate::format::FormatError| ExplicitError::Encode(format!("WebP: {e}"));
    let out = if m.chunks.is_empty() {
        encoded
    } else {
        // Rebuild as extended WebP: VP8X, ICCP, the image, EXIF, XMP, unknown chunks (the
        // container spec's order), with the VP8X flags matching what is present.
        let mut cur = Cursor::new(encoded.as_slice());
        let r = riff::open(&mut cur, b"WEBP", "WebP").map_err(ferr)?;
        let mut walk = r.chunks();
        let mut image_chunks = Vec::new();
        while let Some(c) = walk.next(&mut cur).map_err(ferr)? {
            let s = c.data_offset() as usize;
            let payload = encoded.get(s..s + c.len as usize).unwrap_or_default();
            if matches!(&c.id, b"VP8L" | b"VP8 " | b"ALPH") {
                image_chunks.push((c.id, payload));
            }
        }
        let find = |id: &'static [u8; 4]| m.chunks.iter().filter(move |(i, _)| i == id);
        let mut flags = 0u8;
        if find(b"ICCP").next().is_some() {
            flags |= 0x20;
        }
        if has_alpha {
            flags |= 0x10;
        }
        if find(b"EXIF").next().is_some() {
            flags |= 0x08;
        }
        if find(b"XMP ").next().is_some() {
            flags |= 0x04;
        }
        let mut vp8x = [0u8; 10];
        vp8x[0] = flags;
        vp8x[4..7].copy_from_slice(&(w - 1).to_le_bytes()[..3]);
        vp8x[7..10].copy_from_slice(&(h - 1).to_le_bytes()[..3]);
        let mut body: Vec<u8> = Vec::new();
        riff::write_chunk(&mut body, b"VP8X", &vp8x).map_err(ferr)?;
        for (id, p) in find(b"ICCP").take(1) {
            riff::write_chunk(&mut body, id, p).map_err(ferr)?;
        }
        for (id, p) in &image_chunks {
            riff::write_chunk(&mut body, id, p).map_err(ferr)?;
        }
        for (id, p) in find(b"EXIF").take(1).chain(find(b"XMP ").take(1)) {
            riff::write_chunk(&mut body, id, p).map_err(ferr)?;
        }
        for (id, p) in &m.chunks {
            if !matches!(id, b"ICCP" | b"EXIF" | b"XMP ") {
                riff::write_chunk(&mut body, id, p).map_err(ferr)?;
            }
        }
        let size = riff::riff_size(body.len() as u64).map_err(ferr)?;
        let mut out = Vec::with_capacity(body.len() + 12);
        out.extend_from_slice(b"RIFF");
        out.extend_from_slice(&size.to_le_bytes());
        out.extend_from_slice(b"WEBP");
        out.extend_from_slice(&body);
        out
    };
    warnings.push(format!(
        "WebP re-encoded losslessly (VP8L; the image crate has no lossy WebP encoder): {} KB → {} KB",
        input_len.div_ceil(1024),
        out.len().div_ceil(1024)
    ));
    Ok(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::test_support::{SAMPLE_LABEL, tool};
    use image::{GenericImageView, Rgb, RgbImage, Rgba};
    use std::process::Command;

    /// A deterministic "photo": smooth gradients, a soft texture and mild noise.
    fn photo(w: u32, h: u32) -> RgbImage {
        let mut seed = 0x2545_F491_u32;
        RgbImage::from_fn(w, h, |x, y| {
            seed ^= seed << 13;
            seed ^= seed >> 17;
            seed ^= seed << 5;
            let n = (seed % 9) as f32 - 4.0;
            let (fx, fy) = (x as f32 / w as f32, y as f32 / h as f32);
            let t = ((x as f32 * 0.05).sin() * (y as f32 * 0.07).cos()) * 30.0;
            let c = |v: f32| (v + t + n).clamp(0.0, 255.0) as u8;
            Rgb([
                c(40.0 + 180.0 * fx),
                c(60.0 + 150.0 * fy),
                c(200.0 - 120.0 * fx * fy),
            ])
        })
    }

    fn solid(w: u32, h: u32, v: u8) -> RgbImage {
        RgbImage::from_pixel(w, h, Rgb([v, v, v]))
    }

    fn noise(w: u32, h: u32) -> RgbImage {
        let mut seed = 0x9E37_79B9_u32;
        RgbImage::from_fn(w, h, |_, _| {
            seed ^= seed << 13;
            seed ^= seed >> 17;
            seed ^= seed << 5;
            let v = seed.to_le_bytes();
            Rgb([v[0], v[1], v[2]])
        })
    }

    fn png_of(img: &DynamicImage) -> Vec<u8> {
        let mut out = Vec::new();
        img.write_with_encoder(image::codecs::png::PngEncoder::new(&mut out))
            .unwrap();
        out
    }

    fn jpeg_of(img: &RgbImage, quality: u8, sampling: jpeg_encoder::SamplingFactor) -> Vec<u8> {
        let mut out = Vec::new();
        let mut enc = jpeg_encoder::Encoder::new(&mut out, quality);
        enc.set_sampling_factor(sampling);
        enc.encode(
            img.as_raw(),
            img.width() as u16,
            img.height() as u16,
            jpeg_encoder::ColorType::Rgb,
        )
        .unwrap();
        out
    }

    fn decode_any(data: &[u8]) -> DynamicImage {
        image::load_from_memory(data).unwrap()
    }

    fn opts(position: Position) -> ImageLabelOptions {
        ImageLabelOptions {
            position,
            ..ImageLabelOptions::default()
        }
    }

    fn lum(v: f32) -> f32 {
        let c = v / 255.0;
        if c <= 0.04045 {
            c / 12.92
        } else {
            ((c + 0.055) / 1.055).powf(2.4)
        }
    }

    fn contrast(a: f32, b: f32) -> f32 {
        let (la, lb) = (lum(a), lum(b));
        (la.max(lb) + 0.05) / (la.min(lb) + 0.05)
    }

    /// What the label did to the pixels, measured independently of the renderer: inside the
    /// backing box every pixel is either the backing composited over the input
    /// (`in·(1−α) + B·α`) or moves towards the text colour `255 − B`; "ink" is a pixel that
    /// moved at least 30% of the way, the text box is their bounding box.
    struct Measured {
        dark: bool,
        ink: Option<(u32, u32, u32, u32)>,
    }

    fn measure(input: &RgbImage, output: &RgbImage, backing: (u32, u32, u32, u32)) -> Measured {
        let a = f32::from(BACKING_ALPHA) / 255.0;
        let (bx, by, bw, bh) = backing;
        let expect = |v: u8, b: f32| f32::from(v) * (1.0 - a) + b * a;
        let (mut near_dark, mut near_light) = (0u32, 0u32);
        for y in by..by + bh {
            for x in bx..bx + bw {
                let (i, o) = (input.get_pixel(x, y), output.get_pixel(x, y));
                let d0 = (0..3)
                    .map(|k| (f32::from(o[k]) - expect(i[k], 0.0)).abs())
                    .sum::<f32>();
                let d1 = (0..3)
                    .map(|k| (f32::from(o[k]) - expect(i[k], 255.0)).abs())
                    .sum::<f32>();
                if d0 < d1 {
                    near_dark += 1;
                } else {
                    near_light += 1;
                }
            }
        }
        let dark = near_dark >= near_light;
        let (b, t) = if dark { (0.0, 255.0) } else { (255.0, 0.0) };
        let mut ink: Option<(u32, u32, u32, u32)> = None;
        for y in by..by + bh {
            for x in bx..bx + bw {
                let (i, o) = (input.get_pixel(x, y), output.get_pixel(x, y));
                let moved = (0..3)
                    .map(|k| {
                        let e = expect(i[k], b);
                        (f32::from(o[k]) - e) / (t - e)
                    })
                    .fold(f32::INFINITY, f32::min);
                if moved >= 0.3 {
                    ink = Some(match ink {
                        None => (x, y, x + 1, y + 1),
                        Some((x0, y0, x1, y1)) => {
                            (x0.min(x), y0.min(y), x1.max(x + 1), y1.max(y + 1))
                        }
                    });
                }
            }
        }
        Measured {
            dark,
            ink: ink.map(|(x0, y0, x1, y1)| (x0, y0, x1 - x0, y1 - y0)),
        }
    }

    /// Asserts the B-EXPL1 geometry for `pos`: the box is within 10% of the edge(s) the
    /// position names, and centred (±2 px) along an edge it sits in the middle of.
    fn assert_in_band(b: (u32, u32, u32, u32), w: u32, h: u32, pos: Position, ctx: &str) {
        let (x, y, bw, bh) = b;
        let (sx, sy) = sides(pos);
        let band_x = (w as f32 * 0.10).floor() as u32;
        let band_y = (h as f32 * 0.10).floor() as u32;
        let check = |side: i8, start: u32, len: u32, d: u32, band: u32, axis: &str| match side {
            -1 => assert!(start <= band, "{ctx}: {axis} gap {start} > 10% band {band}"),
            1 => {
                let gap = d - (start + len);
                assert!(gap <= band, "{ctx}: {axis} far gap {gap} > 10% band {band}");
            }
            _ => {
                let c = 2 * start + len;
                assert!(
                    c.abs_diff(d) <= 4,
                    "{ctx}: {axis} not centred ({start}+{len} in {d})"
                );
            }
        };
        check(sx, x, bw, w, band_x, "x");
        check(sy, y, bh, h, band_y, "y");
    }

    fn within(inner: (u32, u32, u32, u32), outer: (u32, u32, u32, u32)) -> bool {
        inner.0 >= outer.0
            && inner.1 >= outer.1
            && inner.0 + inner.2 <= outer.0 + outer.2
            && inner.1 + inner.3 <= outer.1 + outer.3
    }

    #[test]
    fn bundled_font_parses_and_covers_the_defaults() {
        for t in [
            LabelText::DEFAULT_SHORT,
            LabelText::DEFAULT_LONG,
            "人工智能生成合成",
            "本内容由AI合成",
        ] {
            check_label_glyphs(&LabelText::new(t).unwrap()).unwrap();
        }
        assert!(font().glyph_count() > 4000);
    }

    #[test]
    fn ds17_image_label_height_at_least_5_percent() {
        for (w, h) in [
            (97, 61),
            (640, 480),
            (1920, 1080),
            (1080, 1920),
            (4000, 300),
        ] {
            let input = photo(w, h);
            let png = png_of(&DynamicImage::ImageRgb8(input.clone()));
            let required = required_text_height_px(w, h, 0.05);
            for pos in Position::ALL {
                let ctx = format!("{w}×{h} {}", pos.name());
                let (out, report) = label_bytes(&png, Format::Png, &opts(pos)).unwrap();
                let output = decode_any(&out).to_rgb8();
                assert_eq!((report.width, report.height), (w, h), "{ctx}");
                let m = measure(&input, &output, report.backing_box);
                let ink = m.ink.unwrap_or_else(|| panic!("{ctx}: no ink found"));
                assert!(
                    ink.3 >= required,
                    "{ctx}: measured text height {} < {required}",
                    ink.3
                );
                assert!(
                    report.text_height_px >= required.max(LEGIBLE_MIN_TEXT_PX),
                    "{ctx}"
                );
                assert!(
                    within(report.text_box, ink),
                    "{ctx}: {:?} vs {ink:?}",
                    report.text_box
                );
                assert!(within(ink, report.backing_box), "{ctx}");
                assert_in_band(ink, w, h, pos, &ctx);
                assert!(report.warnings.is_empty(), "{ctx}: {:?}", report.warnings);
            }
            // The same through JPEG (measured with its compression noise).
            let jpeg = jpeg_of(&input, 92, jpeg_encoder::SamplingFactor::F_2_2);
            let jin = decode_any(&jpeg).to_rgb8();
            let (out, report) =
                label_bytes(&jpeg, Format::Jpeg, &opts(Position::BottomRight)).unwrap();
            let ink = measure(&jin, &decode_any(&out).to_rgb8(), report.backing_box)
                .ink
                .unwrap();
            assert!(ink.3 >= required, "{w}×{h} JPEG: {} < {required}", ink.3);
            assert_in_band(ink, w, h, Position::BottomRight, &format!("{w}×{h} JPEG"));
        }
    }

    #[test]
    fn ds17_image_label_contrast() {
        for (name, img) in [
            ("white", solid(640, 480, 255)),
            ("black", solid(640, 480, 0)),
            ("noisy", noise(640, 480)),
            ("mid-grey", solid(640, 480, 128)),
        ] {
            let png = png_of(&DynamicImage::ImageRgb8(img.clone()));
            let (out, report) =
                label_bytes(&png, Format::Png, &ImageLabelOptions::default()).unwrap();
            let output = decode_any(&out).to_rgb8();
            let m = measure(&img, &output, report.backing_box);
            let text = if m.dark { 255.0 } else { 0.0 };
            // The backing's worst pixel: its padding ring, outside the ink box grown by 2 px.
            let (bx, by, bw, bh) = report.backing_box;
            let (ix, iy, iw, ih) = m.ink.unwrap();
            let mut worst = f32::INFINITY;
            let mut text_px = 0;
            for y in by..by + bh {
                for x in bx..bx + bw {
                    let p = output.get_pixel(x, y);
                    let v = 0.2126 * f32::from(p[0])
                        + 0.7152 * f32::from(p[1])
                        + 0.0722 * f32::from(p[2]);
                    let in_ink = x + 2 >= ix && x < ix + iw + 2 && y + 2 >= iy && y < iy + ih + 2;
                    if in_ink {
                        text_px += u32::from(p[0] == text as u8);
                    } else {
                        worst = worst.min(contrast(v, text));
                    }
                }
            }
            assert!(text_px > 20, "{name}: solid text pixels found: {text_px}");
            assert!(worst >= 4.5, "{name}: contrast {worst:.2} < 4.5");
            eprintln!(
                "{name}: {} theme, worst text/backing contrast {worst:.2}:1",
                if m.dark { "dark" } else { "light" }
            );
        }
        // White and black pictures get the backing that blends in.
        let white = png_of(&DynamicImage::ImageRgb8(solid(64, 64, 255)));
        let (out, r) = label_bytes(&white, Format::Png, &ImageLabelOptions::default()).unwrap();
        let m = measure(
            &solid(64, 64, 255),
            &decode_any(&out).to_rgb8(),
            r.backing_box,
        );
        assert!(!m.dark);
    }

    #[test]
    fn ds17_image_wording_is_checked() {
        assert!(LabelText::new("AI助手为您服务").is_err());
        let png = png_of(&DynamicImage::ImageRgb8(photo(200, 100)));
        let bad = ImageLabelOptions {
            text: LabelText::new("AI生成😀").unwrap(),
            ..ImageLabelOptions::default()
        };
        let e = label_bytes(&png, Format::Png, &bad).unwrap_err();
        assert!(matches!(e, ExplicitError::Invalid(_)), "{e}");
        assert!(e.to_string().contains("U+1F600"), "{e}");
        let long = ImageLabelOptions {
            text: LabelText::new("本图片由人工智能生成").unwrap(),
            ..ImageLabelOptions::default()
        };
        label_bytes(&png, Format::Png, &long).unwrap();
        for f in [0.0, -0.1, 0.6, f32::NAN] {
            let o = ImageLabelOptions {
                min_height_fraction: f,
                ..ImageLabelOptions::default()
            };
            assert!(matches!(
                label_bytes(&png, Format::Png, &o),
                Err(ExplicitError::Invalid(_))
            ));
        }
    }

    fn psnr_outside(a: &RgbImage, b: &RgbImage, skip: (u32, u32, u32, u32)) -> f64 {
        let (sx, sy, sw, sh) = skip;
        let (mut se, mut n) = (0.0f64, 0u64);
        for (x, y, p) in a.enumerate_pixels() {
            if x >= sx && x < sx + sw && y >= sy && y < sy + sh {
                continue;
            }
            let q = b.get_pixel(x, y);
            for k in 0..3 {
                let d = f64::from(p[k]) - f64::from(q[k]);
                se += d * d;
                n += 1;
            }
        }
        10.0 * (255.0f64 * 255.0 / (se / n as f64)).log10()
    }

    /// Luma sampling factors of the first SOF.
    fn jpeg_sampling(data: &[u8]) -> (u8, u8) {
        let mut pos = 2;
        loop {
            let marker = data[pos + 1];
            let len = usize::from(u16::from_be_bytes([data[pos + 2], data[pos + 3]]));
            if (0xC0..=0xC2).contains(&marker) {
                let hv = data[pos + 4 + 7];
                return (hv >> 4, hv & 15);
            }
            pos += 2 + len;
        }
    }

    #[test]
    fn ds17_image_label_jpeg_quality() {
        use jpeg_encoder::SamplingFactor;
        for (q, sampling, want) in [
            (90, SamplingFactor::F_2_2, (2, 2)),
            (95, SamplingFactor::F_1_1, (1, 1)),
            (80, SamplingFactor::F_2_1, (2, 1)),
        ] {
            let img = photo(1280, 720);
            let jpeg = jpeg_of(&img, q, sampling);
            let (out, report) =
                label_bytes(&jpeg, Format::Jpeg, &ImageLabelOptions::default()).unwrap();
            assert_eq!(jpeg_sampling(&out), want, "q{q}");
            let before = decode_any(&jpeg).to_rgb8();
            let after = decode_any(&out).to_rgb8();
            let psnr = psnr_outside(&before, &after, report.backing_box);
            eprintln!(
                "input q{q} {want:?}: PSNR outside the label {psnr:.1} dB, {} → {} bytes",
                jpeg.len(),
                out.len()
            );
            // 38 dB on this textured picture is well above what a viewer can tell apart.
            assert!(psnr >= 38.0, "q{q}: PSNR {psnr:.1} dB");
        }
        assert_eq!(
            ijg_quality(STD_LUMA_Q.iter().map(|&v| u32::from(v)).sum()),
            50
        );
        // A greyscale JPEG stays one-component.
        let grey = DynamicImage::ImageRgb8(photo(320, 240)).to_luma8();
        let mut jpeg = Vec::new();
        jpeg_encoder::Encoder::new(&mut jpeg, 90)
            .encode(grey.as_raw(), 320, 240, jpeg_encoder::ColorType::Luma)
            .unwrap();
        let (out, _) = label_bytes(&jpeg, Format::Jpeg, &ImageLabelOptions::default()).unwrap();
        assert_eq!(decode_any(&out).color(), image::ColorType::L8);
    }

    #[test]
    fn ds17_image_label_png_pixels_outside_box_identical() {
        let base = photo(300, 200);
        let rgba = DynamicImage::ImageRgba8(image::RgbaImage::from_fn(300, 200, |x, y| {
            let p = base.get_pixel(x, y);
            Rgba([p[0], p[1], p[2], ((x + y) % 256) as u8])
        }));
        let rgb16 = DynamicImage::ImageRgb16(image::ImageBuffer::from_fn(300, 200, |x, y| {
            let p = base.get_pixel(x, y);
            image::Rgb([
                u16::from(p[0]) * 257 + 3,
                u16::from(p[1]) * 257,
                u16::from(p[2]) * 256,
            ])
        }));
        for img in [
            DynamicImage::ImageRgb8(base.clone()),
            rgba,
            rgb16,
            DynamicImage::ImageLuma8(DynamicImage::ImageRgb8(base.clone()).to_luma8()),
            DynamicImage::ImageLumaA16(DynamicImage::ImageRgb8(base.clone()).to_luma_alpha16()),
        ] {
            let (out, r) =
                label_bytes(&png_of(&img), Format::Png, &opts(Position::TopLeft)).unwrap();
            let got = decode_any(&out);
            assert_eq!(got.color(), img.color(), "colour type kept");
            let (bx, by, bw, bh) = r.backing_box;
            let mut changed_inside = 0;
            for (x, y, p) in img.pixels() {
                let inside = x >= bx && x < bx + bw && y >= by && y < by + bh;
                if inside {
                    changed_inside += u32::from(got.get_pixel(x, y) != p);
                } else {
                    assert_eq!(got.get_pixel(x, y), p, "{:?} at {x},{y}", img.color());
                }
            }
            assert!(changed_inside > bw * bh / 2, "{:?}", img.color());
            // 16-bit data is composited at 16 bits, not rounded through 8.
            if let (DynamicImage::ImageRgb16(a), DynamicImage::ImageRgb16(_)) = (&img, &got) {
                assert_eq!(a.get_pixel(299, 199)[0] % 257, 3);
            }
        }
    }

    /// A small valid ICC v2 display profile (header, desc, cprt, wtpt), padded with a private
    /// tag to `pad` extra bytes so it can span several JPEG APP2 segments.
    fn test_icc(desc: &str, pad: usize) -> Vec<u8> {
        let mut d = b"desc\0\0\0\0".to_vec();
        d.extend(((desc.len() + 1) as u32).to_be_bytes());
        d.extend(desc.as_bytes());
        d.push(0);
        d.extend([0u8; 8 + 3 + 67]);
        let mut c = b"text\0\0\0\0".to_vec();
        c.extend(b"test data, no rights reserved\0");
        let mut wp = b"XYZ \0\0\0\0".to_vec();
        for v in [0x0000_F6D6u32, 0x0001_0000, 0x0000_D32D] {
            wp.extend(v.to_be_bytes());
        }
        let mut tags: Vec<(&[u8; 4], Vec<u8>)> = vec![(b"desc", d), (b"cprt", c), (b"wtpt", wp)];
        if pad > 0 {
            let mut z = b"zzzz\0\0\0\0".to_vec();
            z.extend((0..pad).map(|i| (i * 7 % 251) as u8));
            tags.push((b"zzzz", z));
        }
        let mut data = Vec::new();
        let mut table = Vec::new();
        let mut off = 128 + 4 + 12 * tags.len();
        for (sig, body) in &tags {
            table.extend(sig.iter());
            table.extend((off as u32).to_be_bytes());
            table.extend((body.len() as u32).to_be_bytes());
            data.extend(body);
            while data.len() % 4 != 0 {
                data.push(0);
            }
            off = 128 + 4 + 12 * tags.len() + data.len();
        }
        let total = 128 + 4 + table.len() + data.len();
        let mut h = vec![0u8; 128];
        h[0..4].copy_from_slice(&(total as u32).to_be_bytes());
        h[8..12].copy_from_slice(&[2, 0x10, 0, 0]);
        h[12..16].copy_from_slice(b"mntr");
        h[16..20].copy_from_slice(b"RGB ");
        h[20..24].copy_from_slice(b"XYZ ");
        h[24..36].copy_from_slice(&[0x07, 0xE9, 0, 9, 0, 1, 0, 0, 0, 0, 0, 0]);
        h[36..40].copy_from_slice(b"acsp");
        h[68..80].copy_from_slice(&[0, 0, 0xF6, 0xD6, 0, 1, 0, 0, 0, 0, 0xD3, 0x2D]);
        let mut out = h;
        out.extend(((tags.len()) as u32).to_be_bytes());
        out.extend(table);
        out.extend(data);
        out
    }

    fn exiftool_tags(exiftool: &Path, file: &Path) -> String {
        let o = Command::new(exiftool)
            .args([
                "-s",
                "-G1",
                "-Make",
                "-Model",
                "-DateTimeOriginal",
                "-ProfileDescription",
                "-XMP-dc:Title",
                "-ThumbnailImage",
                "-Orientation#",
            ])
            .arg(file)
            .output()
            .unwrap();
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    #[test]
    fn ds17_image_label_keeps_exif_and_icc() {
        let Some(exiftool) = tool("exiftool") else {
            return;
        };
        let dir = tempfile::tempdir().unwrap();
        let icc = dir.path().join("test.icc");
        std::fs::write(&icc, test_icc("hegui test profile", 0)).unwrap();
        let thumb = dir.path().join("thumb.jpg");
        std::fs::write(
            &thumb,
            jpeg_of(&photo(32, 24), 80, jpeg_encoder::SamplingFactor::F_2_2),
        )
        .unwrap();
        let img = photo(320, 240);
        let inputs = [
            (
                Format::Jpeg,
                "in.jpg",
                jpeg_of(&img, 90, jpeg_encoder::SamplingFactor::F_2_2),
            ),
            (
                Format::Png,
                "in.png",
                png_of(&DynamicImage::ImageRgb8(img.clone())),
            ),
            (Format::WebP, "in.webp", {
                let mut v = Vec::new();
                DynamicImage::ImageRgb8(img.clone())
                    .write_with_encoder(image::codecs::webp::WebPEncoder::new_lossless(&mut v))
                    .unwrap();
                v
            }),
        ];
        for (format, name, bytes) in inputs {
            let src = dir.path().join(name);
            std::fs::write(&src, bytes).unwrap();
            let mut args = vec![
                "-q".to_string(),
                "-overwrite_original".into(),
                "-Make=HeguiCam".into(),
                "-Model=Model 7".into(),
                "-DateTimeOriginal=2025:09:01 12:34:56".into(),
                "-XMP-dc:Title=keep me".into(),
                format!("-ICC_Profile<={}", icc.display()),
            ];
            if format == Format::Jpeg {
                args.push(format!("-ThumbnailImage<={}", thumb.display()));
            }
            let st = Command::new(&exiftool)
                .args(&args)
                .arg(&src)
                .status()
                .unwrap();
            assert!(st.success(), "{name}: exiftool could not prepare the input");
            let before = exiftool_tags(&exiftool, &src);
            for want in [
                "HeguiCam",
                "Model 7",
                "2025:09:01 12:34:56",
                "hegui test profile",
                "keep me",
            ] {
                assert!(
                    before.contains(want),
                    "{name}: input lacks {want}: {before}"
                );
            }
            let dst = dir.path().join(format!("out-{name}"));
            let report = label_image(&src, &dst, format, &ImageLabelOptions::default()).unwrap();
            let after = exiftool_tags(&exiftool, &dst);
            for want in [
                "HeguiCam",
                "Model 7",
                "2025:09:01 12:34:56",
                "hegui test profile",
                "keep me",
            ] {
                assert!(
                    after.contains(want),
                    "{name}: output lost {want}:\n{after}\n{report:?}"
                );
            }
            if format == Format::Jpeg {
                assert!(before.contains("ThumbnailImage"), "{before}");
                assert!(
                    !after.contains("ThumbnailImage"),
                    "{name}: stale thumbnail kept: {after}"
                );
                assert!(
                    report.warnings.iter().any(|w| w.contains("Exif thumbnail")),
                    "{report:?}"
                );
            }
            // exiftool finds nothing wrong with the structure it reads back.
            let o = Command::new(&exiftool)
                .args(["-validate", "-warning", "-a", "-s"])
                .arg(&dst)
                .output()
                .unwrap();
            let v = String::from_utf8_lossy(&o.stdout);
            assert!(!v.contains("Error"), "{name}: {v}");
        }
    }

    /// ICC_PROFILE APP2 payloads of a JPEG, in order.
    fn icc_segments(data: &[u8]) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        let mut pos = 2;
        while pos + 4 <= data.len() && data[pos] == 0xFF && data[pos + 1] != 0xDA {
            let len = usize::from(u16::from_be_bytes([data[pos + 2], data[pos + 3]]));
            let p = &data[pos + 4..pos + 2 + len];
            if data[pos + 1] == 0xE2 && p.starts_with(b"ICC_PROFILE\0") {
                out.push(p.to_vec());
            }
            pos += 2 + len;
        }
        out
    }

    /// Inserts raw segments after SOI.
    fn with_segments(jpeg: &[u8], segs: &[(u8, Vec<u8>)]) -> Vec<u8> {
        let mut out = jpeg[..2].to_vec();
        for (m, p) in segs {
            out.extend([0xFF, *m]);
            out.extend(((p.len() + 2) as u16).to_be_bytes());
            out.extend(p);
        }
        out.extend(&jpeg[2..]);
        out
    }

    #[test]
    fn jpeg_multi_segment_icc_and_app_segments_survive_c2pa_and_mpf_do_not() {
        let icc = test_icc("big profile", 150_000);
        let chunks: Vec<&[u8]> = icc.chunks(65_519).collect();
        let mut segs: Vec<(u8, Vec<u8>)> = chunks
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let mut p = b"ICC_PROFILE\0".to_vec();
                p.extend([i as u8 + 1, chunks.len() as u8]);
                p.extend(*c);
                (0xE2, p)
            })
            .collect();
        segs.push((0xED, b"Photoshop 3.0\0IPTC-ish".to_vec()));
        segs.push((0xFE, b"a comment".to_vec()));
        segs.push((
            0xEB,
            b"JP\0\x01\0\0\0\x01\0\0\0\x20jumbc2pa and the rest".to_vec(),
        ));
        segs.push((0xE2, b"MPF\0II*\0".to_vec()));
        // A camera-style file: no JFIF APP0, metadata segments straight after SOI.
        let plain = jpeg_of(&photo(200, 150), 90, jpeg_encoder::SamplingFactor::F_2_2);
        let app0 = 2 + usize::from(u16::from_be_bytes([plain[4], plain[5]]));
        let no_jfif = [&plain[..2], &plain[2 + app0..]].concat();
        let jpeg = with_segments(&no_jfif, &segs);
        let (out, r) = label_bytes(&jpeg, Format::Jpeg, &ImageLabelOptions::default()).unwrap();
        let got = icc_segments(&out);
        assert_eq!(got.len(), 3);
        assert_eq!(got, icc_segments(&jpeg));
        assert!(out.windows(22).any(|w| w == b"Photoshop 3.0\0IPTC-ish"));
        assert!(out.windows(9).any(|w| w == b"a comment"));
        assert!(!out.windows(4).any(|w| w == b"c2pa"));
        assert!(!out.windows(4).any(|w| w == b"MPF\0"));
        assert!(
            r.warnings.iter().any(|w| w.contains("C2PA")),
            "{:?}",
            r.warnings
        );
        assert!(
            r.warnings.iter().any(|w| w.contains("MPF")),
            "{:?}",
            r.warnings
        );
        // The input had no JFIF APP0, so neither has the output: the ICC segment follows SOI.
        assert_eq!(&out[..4], &[0xFF, 0xD8, 0xFF, 0xE2]);
    }

    #[test]
    fn ds16_implicit_label_written_after_the_explicit_one_reads_back() {
        let img = photo(240, 160);
        let xmp_png = {
            // An input with its own XMP, so the merge after the explicit stage is exercised.
            let plain = png_of(&DynamicImage::ImageRgb8(img.clone()));
            crate::format::write_bytes(Format::Png, &plain, SAMPLE_LABEL).unwrap()
        };
        let mut webp = Vec::new();
        DynamicImage::ImageRgb8(img.clone())
            .write_with_encoder(image::codecs::webp::WebPEncoder::new_lossless(&mut webp))
            .unwrap();
        for (format, input) in [
            (
                Format::Jpeg,
                jpeg_of(&img, 90, jpeg_encoder::SamplingFactor::F_2_2),
            ),
            (Format::Png, xmp_png),
            (Format::WebP, webp),
        ] {
            let (out, _) = label_bytes(&input, format, &ImageLabelOptions::default()).unwrap();
            let labelled = crate::format::write_bytes(format, &out, SAMPLE_LABEL).unwrap();
            let scan = crate::format::scan_bytes(format, &labelled).unwrap();
            let canonical: Vec<_> = scan.sites.iter().filter(|s| s.canonical).collect();
            assert_eq!(canonical.len(), 1, "{format}: {scan:?}");
            let crate::format::SitePayload::Xmp(x) = &canonical[0].payload else {
                panic!("{format}: not XMP")
            };
            assert!(x.contains("001191440300708461136T1XGW3"), "{format}");
            decode_any(&labelled);
        }
    }

    #[test]
    fn ds17_image_label_follows_exif_orientation() {
        // Stored 300×200, displayed rotated 90° clockwise (Exif 6): 200×300 on screen.
        let stored = photo(300, 200);
        let mut tiff = b"MM\0\x2a\0\0\0\x08\0\x01".to_vec();
        tiff.extend([0x01, 0x12, 0, 3, 0, 0, 0, 1, 0, 6, 0, 0]);
        tiff.extend([0, 0, 0, 0]);
        let mut exif = b"Exif\0\0".to_vec();
        exif.extend(&tiff);
        let jpeg = with_segments(
            &jpeg_of(&stored, 92, jpeg_encoder::SamplingFactor::F_1_1),
            &[(0xE1, exif)],
        );
        let (out, r) = label_bytes(&jpeg, Format::Jpeg, &opts(Position::BottomRight)).unwrap();
        assert_eq!((r.width, r.height), (200, 300));
        let mut before = decode_any(&jpeg);
        let mut after = decode_any(&out);
        assert_eq!(
            (after.width(), after.height()),
            (300, 200),
            "pixels stay stored as they were"
        );
        before.apply_orientation(Orientation::Rotate90);
        after.apply_orientation(Orientation::Rotate90);
        let m = measure(&before.to_rgb8(), &after.to_rgb8(), r.backing_box);
        let ink = m.ink.unwrap();
        assert_in_band(ink, 200, 300, Position::BottomRight, "displayed frame");
        assert!(ink.3 >= 12);
    }

    #[test]
    fn ds17_image_label_wraps_or_warns_when_the_wording_is_long() {
        let long = LabelText::new("本图片内容由人工智能生成合成").unwrap();
        // At 10% of the 450-px side the text is 45 px: fourteen characters need ~700 px.
        let o = ImageLabelOptions {
            text: long.clone(),
            min_height_fraction: 0.1,
            ..ImageLabelOptions::default()
        };
        let img = photo(450, 1200);
        let (out, r) = label_bytes(
            &png_of(&DynamicImage::ImageRgb8(img.clone())),
            Format::Png,
            &o,
        )
        .unwrap();
        assert!(r.text_height_px >= 45, "{r:?}");
        assert!(
            r.warnings.iter().any(|w| w.contains("wrapped onto")),
            "{:?}",
            r.warnings
        );
        let ink = measure(&img, &decode_any(&out).to_rgb8(), r.backing_box)
            .ink
            .unwrap();
        assert!(ink.3 >= 2 * 45, "two lines: {ink:?}");
        assert!(ink.2 < 450);
        // A sliver where even three lines cannot hold it: shrunk, and the report says why.
        let img = photo(60, 50);
        let (_, r) = label_bytes(&png_of(&DynamicImage::ImageRgb8(img)), Format::Png, &o).unwrap();
        assert!(
            r.warnings
                .iter()
                .any(|w| w.contains("legibility floor") || w.contains("not met")),
            "{r:?}"
        );
    }

    #[test]
    fn render_label_rgba_matches_the_image_label() {
        let t = LabelText::default();
        let label = render_label_rgba(&t, 40);
        assert_eq!(label.get_pixel(0, 0)[3], BACKING_ALPHA);
        let (mut y0, mut y1) = (u32::MAX, 0);
        for (_, y, p) in label.enumerate_pixels() {
            // Ink: at least half covered, i.e. more than half-way from the backing to white.
            if p[0] >= 128 && p[3] > BACKING_ALPHA {
                y0 = y0.min(y);
                y1 = y1.max(y + 1);
            }
        }
        assert!(y1 - y0 >= 40, "ink height {}", y1 - y0);
        // The same pixels as the label drawn on a picture whose side makes 40 px the 5% rule.
        let img = solid(800, 800, 20);
        let (out, r) = label_bytes(
            &png_of(&DynamicImage::ImageRgb8(img)),
            Format::Png,
            &ImageLabelOptions::default(),
        )
        .unwrap();
        assert_eq!(r.text_height_px, label_text_height(&label));
        assert_eq!((r.backing_box.2, r.backing_box.3), label.dimensions());
        decode_any(&out);
    }

    fn label_text_height(label: &RgbaImage) -> u32 {
        let rows: Vec<u32> = label
            .enumerate_pixels()
            .filter(|(_, _, p)| p[0] >= 128 && p[3] > BACKING_ALPHA)
            .map(|(_, y, _)| y)
            .collect();
        rows.iter().max().unwrap() + 1 - rows.iter().min().unwrap()
    }

    #[test]
    fn refuses_animation_cmyk_and_wrong_formats() {
        let anim = std::fs::read(crate::test_support::test_data("webp-anim.webp")).unwrap();
        let e = label_bytes(&anim, Format::WebP, &ImageLabelOptions::default()).unwrap_err();
        assert!(matches!(e, ExplicitError::Unsupported(_)), "{e}");
        let mut cmyk = Vec::new();
        jpeg_encoder::Encoder::new(&mut cmyk, 90)
            .encode(&[10u8; 16 * 16 * 4], 16, 16, jpeg_encoder::ColorType::Cmyk)
            .unwrap();
        let e = label_bytes(&cmyk, Format::Jpeg, &ImageLabelOptions::default()).unwrap_err();
        assert!(matches!(e, ExplicitError::Unsupported(_)), "{e}");
        let png = png_of(&DynamicImage::ImageRgb8(photo(64, 64)));
        assert!(matches!(
            label_bytes(&png, Format::Jpeg, &ImageLabelOptions::default()),
            Err(ExplicitError::Decode(_))
        ));
        assert!(matches!(
            label_bytes(&png, Format::Gif, &ImageLabelOptions::default()),
            Err(ExplicitError::Unsupported(_))
        ));
        assert!(matches!(
            label_bytes(&png[..100], Format::Png, &ImageLabelOptions::default()),
            Err(ExplicitError::Decode(_))
        ));
    }

    #[test]
    fn webp_lossy_alpha_input_comes_out_lossless_with_metadata_flags() {
        let input = std::fs::read(crate::test_support::test_data("webp-lossy-alpha.webp")).unwrap();
        let with_xmp = crate::format::write_bytes(Format::WebP, &input, SAMPLE_LABEL).unwrap();
        let (out, r) = label_bytes(&with_xmp, Format::WebP, &ImageLabelOptions::default()).unwrap();
        assert!(r.warnings.iter().any(|w| w.contains("losslessly")));
        assert_eq!(&out[12..16], b"VP8X");
        assert_eq!(out[20] & 0x14, 0x14, "alpha and XMP flags");
        assert!(out.windows(4).any(|w| w == b"VP8L"));
        let img = decode_any(&out);
        assert!(img.color().has_alpha());
        if let Some(dwebp) = tool("dwebp") {
            let dir = tempfile::tempdir().unwrap();
            let p = dir.path().join("o.webp");
            std::fs::write(&p, &out).unwrap();
            let st = Command::new(dwebp)
                .arg(&p)
                .arg("-o")
                .arg(dir.path().join("o.png"))
                .output()
                .unwrap();
            assert!(
                st.status.success(),
                "{}",
                String::from_utf8_lossy(&st.stderr)
            );
        }
    }

    #[test]
    fn png_c2pa_and_unsafe_chunks_are_dropped_safe_ones_kept() {
        let plain = png_of(&DynamicImage::ImageRgb8(photo(120, 90)));
        // Insert after IHDR: caBX (C2PA), tIME (unsafe-to-copy), vpAg (safe-to-copy), gAMA.
        let mut png = plain[..33].to_vec();
        png_chunk_bytes(&mut png, b"caBX", b"jumb c2pa");
        png_chunk_bytes(&mut png, b"tIME", &[7, 233, 9, 1, 0, 0, 0]);
        png_chunk_bytes(&mut png, b"vpAg", &[0, 0, 0, 120, 0, 0, 0, 90, 0]);
        png_chunk_bytes(&mut png, b"gAMA", &45455u32.to_be_bytes());
        png.extend(&plain[33..]);
        let (out, r) = label_bytes(&png, Format::Png, &ImageLabelOptions::default()).unwrap();
        let types: Vec<[u8; 4]> = png_chunks(&out)
            .unwrap()
            .into_iter()
            .map(|(t, _)| t)
            .collect();
        assert!(types.contains(b"gAMA") && types.contains(b"vpAg"));
        assert!(!types.contains(b"caBX") && !types.contains(b"tIME"));
        let first_idat = types.iter().position(|t| t == b"IDAT").unwrap();
        assert!(types.iter().position(|t| t == b"gAMA").unwrap() < first_idat);
        assert!(r.warnings.iter().any(|w| w.contains("C2PA")));
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(40))]
        #[test]
        fn ds17_image_label_never_panics(
            w in 16u32..400,
            h in 16u32..400,
            pos in 0usize..8,
            frac in 0.01f32..0.5,
            text in 0usize..4,
            jpeg in proptest::bool::ANY,
        ) {
            let texts = ["AI生成", "人工智能生成", "本内容由 AI 合成", "本图片内容由人工智能生成合成，仅供参考"];
            let o = ImageLabelOptions {
                text: LabelText::new(texts[text]).unwrap(),
                position: Position::ALL[pos],
                min_height_fraction: frac,
            };
            let img = photo(w, h);
            let (data, format) = if jpeg {
                (jpeg_of(&img, 90, jpeg_encoder::SamplingFactor::F_2_2), Format::Jpeg)
            } else {
                (png_of(&DynamicImage::ImageRgb8(img)), Format::Png)
            };
            if let Ok((out, r)) = label_bytes(&data, format, &o) {
                let (bx, by, bw, bh) = r.backing_box;
                proptest::prop_assert!(bx + bw <= w && by + bh <= h);
                proptest::prop_assert!(within(r.text_box, r.backing_box));
                let required = required_text_height_px(w, h, frac);
                if r.text_height_px < required {
                    proptest::prop_assert!(r.warnings.iter().any(|m| m.contains("not met")));
                }
                let back = decode_any(&out);
                proptest::prop_assert_eq!((back.width(), back.height()), (w, h));
            }
        }
    }
}
