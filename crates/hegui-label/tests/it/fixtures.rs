//! The fixture set: every valid sample file, one per format variant.

use hegui_label::format::FormatError;
use hegui_label::{Error, Format};
use std::path::{Path, PathBuf};

/// A producer code with a valid USCC (Tencent Yuanbao's, as seen in real files).
pub const PRODUCER: &str = "001191440300708461136T1XGW3";
/// A propagator code (Coze's platform code).
pub const PROPAGATOR: &str = "001191110102MACQD9K64028705";

/// A sample input file.
pub struct Fixture {
    /// Where it is (inside a temp dir owned by the caller, or test_data).
    pub path: PathBuf,
    /// Its format.
    pub format: Format,
}

fn test_data() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("test_data")
}

fn sniff(path: &Path) -> Option<Format> {
    let bytes = std::fs::read(path).ok()?;
    Format::sniff(&bytes[..bytes.len().min(64)], Some(path))
}

/// Generates images with the `image` crate into `dir`.
fn generated(dir: &Path) -> Vec<PathBuf> {
    let img = image::RgbImage::from_fn(97, 61, |x, y| {
        image::Rgb([(x * 2) as u8, (y * 4) as u8, ((x + y) * 3) as u8])
    });
    let mut out = Vec::new();
    for (name, fmt) in [
        ("gen.png", image::ImageFormat::Png),
        ("gen.jpg", image::ImageFormat::Jpeg),
        ("gen.gif", image::ImageFormat::Gif),
        ("gen.tif", image::ImageFormat::Tiff),
        ("gen-lossless.webp", image::ImageFormat::WebP),
    ] {
        let p = dir.join(name);
        img.save_with_format(&p, fmt).expect("image crate encodes");
        out.push(p);
    }
    out
}

/// Copies every valid fixture into `dir` (so tests may modify them) and returns them. Files
/// whose name marks them as deliberately broken, or that carry a third party's label, are left
/// out; `foreign_labelled` returns those with labels.
pub fn all(dir: &Path) -> Vec<Fixture> {
    let mut paths = generated(dir);
    let mut names: Vec<_> = std::fs::read_dir(test_data())
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .collect();
    names.sort();
    for p in names {
        let name = p.file_name().unwrap().to_string_lossy().to_string();
        if [
            "bad",
            "malformed",
            "trunc",
            "minimax",
            "labelled",
            "labeled",
            "ffmpeg",
            "exiftool",
        ]
        .iter()
        .any(|m| name.contains(m))
        {
            continue;
        }
        let dst = dir.join(&name);
        std::fs::copy(&p, &dst).unwrap();
        paths.push(dst);
    }
    paths
        .into_iter()
        .filter_map(|path| sniff(&path).map(|format| Fixture { path, format }))
        .collect()
}

/// True when the error says the variant is knowingly not supported for writing: a clear refusal
/// that loses nothing, which the tests accept in place of a label.
pub fn is_unsupported(e: &Error) -> bool {
    matches!(
        e,
        Error::Format {
            source: FormatError::Unsupported(_),
            ..
        }
    )
}

/// Fixtures of variants that a writer may knowingly refuse (named so in `test_data/`).
pub fn may_be_refused(path: &Path) -> bool {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    name.contains("fragmented") || name.contains("unsupported")
}
