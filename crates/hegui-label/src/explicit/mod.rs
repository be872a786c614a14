//! Explicit labels (显式标识, DS-17, Labelling Measures art. 4, GB 45438 §5): what a person sees or
//! hears, as opposed to the implicit metadata label of [`crate::format`].
//!
//! * [`LabelText`]: the wording, a validated value: it must carry the AI element (人工智能 / AI)
//!   and the generation element (生成 / 合成).
//! * [`text`]: prefix/suffix labels for exported text and Markdown, and the E-TXT1 check.
//! * [`image`]: the label rendered at a corner or edge, text ≥ 5% of the shortest side, on a
//!   contrasting backing; metadata carried over to the re-encoded file.
//! * [`audio`]: the rhythm label 短长短短 (Morse "AI") at the start and/or end.
//! * [`video`]: the label burned into the opening ≥ 2 s through the `ffmpeg` CLI, re-encoding only
//!   the opening segment.
//! * [`ui`]: the persistent interface label descriptor a chat client renders (E-UI1).
//!
//! Every path that re-encodes a file is followed by the implicit label (in [`crate::ops`]), so the
//! metadata label always describes the final bytes.

pub mod audio;
pub mod image;
pub mod text;
pub mod ui;
pub mod video;

use std::fmt;

/// Why an explicit label could not be made.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ExplicitError {
    /// The wording lacks an element GB 45438 requires.
    #[error(
        "label text {text:?} lacks the {missing} element (GB 45438 §5: it needs 人工智能 or AI, and 生成 or 合成)"
    )]
    Wording {
        /// The text given.
        text: String,
        /// Which element is missing.
        missing: &'static str,
    },
    /// A position name that is not one of the corners or edges.
    #[error(
        "unknown position {0:?}; use top-left, top, top-right, left, right, bottom-left, bottom or bottom-right"
    )]
    Position(String),
    /// The input could not be decoded.
    #[error("cannot decode: {0}")]
    Decode(String),
    /// The output could not be encoded.
    #[error("cannot encode: {0}")]
    Encode(String),
    /// The `ffmpeg` backend is needed for this format but is not installed.
    #[error("this needs the ffmpeg CLI (Debian package `ffmpeg`), which is not on PATH")]
    FfmpegMissing,
    /// `ffmpeg` or `ffprobe` failed.
    #[error("ffmpeg failed: {0}")]
    Ffmpeg(String),
    /// A format or variant without an explicit-label path.
    #[error("no explicit label for this file: {0}")]
    Unsupported(String),
    /// A descriptor or option is invalid.
    #[error("invalid: {0}")]
    Invalid(String),
    /// Reading or writing failed.
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// The wording of an explicit label, checked to contain both elements GB 45438 requires.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(transparent)]
pub struct LabelText(String);

impl LabelText {
    /// The short default, 「AI生成」.
    pub const DEFAULT_SHORT: &'static str = "AI生成";
    /// The long default, 「人工智能生成」.
    pub const DEFAULT_LONG: &'static str = "人工智能生成";

    /// Checks `text`: it must contain 人工智能 or AI (any case), and 生成 or 合成.
    pub fn new(text: impl Into<String>) -> Result<Self, ExplicitError> {
        let text: String = text.into();
        let t = text.trim();
        if !(t.contains("人工智能") || has_ai_word(t)) {
            return Err(ExplicitError::Wording {
                text,
                missing: "AI (人工智能 / AI)",
            });
        }
        if !(t.contains("生成") || t.contains("合成")) {
            return Err(ExplicitError::Wording {
                text,
                missing: "generation (生成 / 合成)",
            });
        }
        Ok(Self(t.to_string()))
    }

    /// The wording.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Default for LabelText {
    fn default() -> Self {
        Self(Self::DEFAULT_SHORT.to_string())
    }
}

impl fmt::Display for LabelText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// True when `t` has "AI" (any case) not inside a longer Latin word ("EMAIL" does not count).
fn has_ai_word(t: &str) -> bool {
    let chars: Vec<char> = t.chars().collect();
    chars.windows(2).enumerate().any(|(i, w)| {
        w[0].eq_ignore_ascii_case(&'a')
            && w[1].eq_ignore_ascii_case(&'i')
            && !(i > 0 && chars[i - 1].is_ascii_alphabetic())
            && !chars.get(i + 2).is_some_and(|c| c.is_ascii_alphabetic())
    })
}

/// Where on an image or frame the label goes: a corner or the middle of an edge (GB 45438 §5.2
/// c: 边或角).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Position {
    /// Top-left corner.
    TopLeft,
    /// Middle of the top edge.
    Top,
    /// Top-right corner.
    TopRight,
    /// Middle of the left edge.
    Left,
    /// Middle of the right edge.
    Right,
    /// Bottom-left corner.
    BottomLeft,
    /// Middle of the bottom edge.
    Bottom,
    /// Bottom-right corner (the common choice, as Alibaba Cloud's default).
    #[default]
    BottomRight,
}

impl Position {
    /// Every position.
    pub const ALL: [Position; 8] = [
        Position::TopLeft,
        Position::Top,
        Position::TopRight,
        Position::Left,
        Position::Right,
        Position::BottomLeft,
        Position::Bottom,
        Position::BottomRight,
    ];

    /// The kebab-case name (`bottom-right`).
    pub fn name(self) -> &'static str {
        match self {
            Position::TopLeft => "top-left",
            Position::Top => "top",
            Position::TopRight => "top-right",
            Position::Left => "left",
            Position::Right => "right",
            Position::BottomLeft => "bottom-left",
            Position::Bottom => "bottom",
            Position::BottomRight => "bottom-right",
        }
    }
}

impl std::str::FromStr for Position {
    type Err = ExplicitError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Position::ALL
            .into_iter()
            .find(|p| p.name() == s)
            .ok_or_else(|| ExplicitError::Position(s.to_string()))
    }
}

/// Which explicit label to add.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExplicitKind {
    /// A visible line in a text or Markdown file.
    Text,
    /// Rendered onto an image.
    Image,
    /// The rhythm cue in an audio file.
    Audio,
    /// Burned into the opening of a video.
    Video,
    /// Chosen from the file's format (and, for MP4, whether it has a video stream).
    Auto,
}

/// Where in an audio file the rhythm cue goes (GB 45438 §5.3 d).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AudioPlacement {
    /// Before the content.
    #[default]
    Start,
    /// After the content.
    End,
    /// Both.
    Both,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ds17_wording_needs_both_elements() {
        for ok in [
            "AI生成",
            "人工智能生成",
            "人工智能生成合成",
            "本内容由AI合成",
            "由 ai 生成",
        ] {
            assert!(LabelText::new(ok).is_ok(), "{ok}");
        }
        let e = LabelText::new("AI助手为您服务").unwrap_err();
        assert!(e.to_string().contains("generation"), "{e}");
        assert!(LabelText::new("EMAIL生成").is_err());
        let e = LabelText::new("内容生成").unwrap_err();
        assert!(e.to_string().contains("AI"), "{e}");
        assert_eq!(LabelText::default().as_str(), "AI生成");
    }

    #[test]
    fn positions_parse_by_name() {
        for p in Position::ALL {
            assert_eq!(p.name().parse::<Position>().unwrap(), p);
        }
        assert!("middle".parse::<Position>().is_err());
    }
}
