//! The file-level operations: label a generated file (DS-16, Labelling Measures art. 5) and
//! propagate a label on a platform (art. 6), each a streaming copy into a temp file that is read
//! back and checked before it replaces anything.
//!
//! There is deliberately no operation that removes or blanks a label (art. 10, DS-18): `label`
//! refuses a file that another producer labelled, and `propagate` keeps the producer's members
//! byte-identical and only fills the propagator's.

use crate::explicit::audio::{self, AudioLabelOptions, AudioLabelReport};
use crate::explicit::image::{self, ImageLabelOptions, ImageLabelReport};
use crate::explicit::text::{self, TextPlacement};
use crate::explicit::video::{self, VideoLabelOptions, VideoLabelReport};
use crate::explicit::{AudioPlacement, ExplicitError, ExplicitKind, LabelText, Position};
use crate::format::{self, Format, ReadSeek};
use crate::fs::{SeekBufReader, write_atomic};
use crate::label::{AigcClass, ImplicitLabel, LabelError};
use crate::provider::{ProviderCode, ProviderCodeError, ServiceType};
use crate::security::{ContentHash, ContentHasher, LabelSigner, SignerRole};
use crate::sites::{FoundLabel, labels_in};
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

/// Why a file could not be labelled, propagated or inspected.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The file is of no format hegui labels.
    #[error("{}: not a file format hegui can label", path.display())]
    UnknownFormat {
        /// The file.
        path: PathBuf,
    },
    /// The format reader or writer refused the file (truncated, malformed, unsupported variant).
    #[error("{}: {format}: {source}", path.display())]
    Format {
        /// The file.
        path: PathBuf,
        /// Its format.
        format: Format,
        /// The cause.
        source: format::FormatError,
    },
    /// The label to write is not valid Annex E.
    #[error("invalid label: {0}")]
    Label(#[from] LabelError),
    /// A provider code given by the caller is invalid.
    #[error("{role} code {code:?}: {source}")]
    ProviderCode {
        /// producer or propagator.
        role: &'static str,
        /// The code given.
        code: String,
        /// The cause.
        source: ProviderCodeError,
    },
    /// The provider code's service digit does not match the role.
    #[error(
        "{role} code {code} has service digit for {actual}; a {role} code ends its USCC with service digit {expected}"
    )]
    ServiceDigit {
        /// producer or propagator.
        role: &'static str,
        /// The code given.
        code: String,
        /// What the digit says.
        actual: &'static str,
        /// What the role needs.
        expected: char,
    },
    /// The file already carries another producer's label, which nobody may replace.
    #[error("{}: already labelled by producer {producer}; nobody may replace another producer's label (DS-18); a platform adds its fields with `propagate`", path.display())]
    LabelledByOther {
        /// The file.
        path: PathBuf,
        /// The producer named in the existing label.
        producer: String,
    },
    /// The existing label cannot be carried forward as it is.
    #[error("{}: existing label is not usable: {reason}", path.display())]
    ExistingLabel {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// No label and no basis for a Label 2/3 was given.
    #[error("{}: no implicit label found; say whether the user declared it AI-generated (--declared) or a detector found traces (--detected)", path.display())]
    NoLabel {
        /// The file.
        path: PathBuf,
    },
    /// The explicit (visible/audible) label could not be made.
    #[error("{}: explicit label: {source}", path.display())]
    Explicit {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: crate::explicit::ExplicitError,
    },
    /// The written file did not read back as exactly one correct label.
    #[error("{}: read-back after writing failed: {reason}", path.display())]
    ReadBack {
        /// The file.
        path: PathBuf,
        /// What was found instead.
        reason: String,
    },
}

fn io_err(path: &Path) -> impl Fn(std::io::Error) -> Error + '_ {
    move |source| Error::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// A file opened for reading with its detected format.
pub(crate) struct Opened {
    pub(crate) reader: SeekBufReader<File>,
    pub(crate) format: Option<Format>,
}

pub(crate) fn open(path: &Path) -> Result<Opened, Error> {
    let file = File::open(path).map_err(io_err(path))?;
    let mut reader = SeekBufReader::with_capacity(256 * 1024, file);
    let mut head = [0u8; 64];
    let mut n = 0;
    while n < head.len() {
        match reader.read(&mut head[n..]).map_err(io_err(path))? {
            0 => break,
            k => n += k,
        }
    }
    reader.seek(SeekFrom::Start(0)).map_err(io_err(path))?;
    let format = Format::sniff(&head[..n], Some(path));
    Ok(Opened { reader, format })
}

fn format_err(path: &Path, format: Format) -> impl FnOnce(format::FormatError) -> Error + '_ {
    move |source| Error::Format {
        path: path.to_path_buf(),
        format,
        source,
    }
}

/// Hashes the content selection of `src` with SM3.
pub(crate) fn content_hash(
    path: &Path,
    format: Format,
    src: &mut dyn ReadSeek,
) -> Result<ContentHash, Error> {
    let mut hasher = ContentHasher::new();
    format::content_digest(format, src, &mut hasher).map_err(format_err(path, format))?;
    Ok(hasher.finish(format.name()))
}

/// A new unique content ID for `ProduceID`/`PropagateID`: milliseconds since the epoch and 64
/// random bits, in the Annex E charset.
pub fn new_content_id() -> String {
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0);
    let mut rnd = [0u8; 8];
    if getrandom::fill(&mut rnd).is_err() {
        // No OS randomness: fall back to a process-local counter so IDs stay unique here.
        static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        rnd = COUNTER
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
            .to_be_bytes();
    }
    format!("{ms:012x}_{}", hex::encode(rnd))
}

fn check_code(code: &str, role: &'static str, expected: ServiceType) -> Result<(), Error> {
    let parsed = ProviderCode::parse(code).map_err(|source| Error::ProviderCode {
        role,
        code: code.to_string(),
        source,
    })?;
    if parsed.service_type() != expected {
        let (actual, digit) = match expected {
            ServiceType::Generation => ("propagation", '1'),
            ServiceType::Propagation => ("generation", '2'),
        };
        return Err(Error::ServiceDigit {
            role,
            code: code.to_string(),
            actual,
            expected: digit,
        });
    }
    Ok(())
}

/// What a producer asks for when labelling a generated file.
#[derive(Debug, Clone)]
pub struct LabelRequest {
    /// The producer's provider code (service digit 1).
    pub producer: String,
    /// The content ID; generated when `None` (an existing label of the same producer keeps its).
    pub produce_id: Option<String>,
    /// The `Label` class; a generation service writes [`AigcClass::Is`].
    pub class: AigcClass,
    /// When set, `ReservedCode1` carries a signed `SecurityData`.
    pub signer: Option<LabelSigner>,
    /// When set, an explicit label (DS-17) is added first and the implicit label describes the
    /// result.
    pub explicit: Option<ExplicitRequest>,
}

/// The explicit label to add in the same run as the implicit one.
#[derive(Debug, Clone)]
pub struct ExplicitRequest {
    /// Which kind; [`ExplicitKind::Auto`] picks it from the format.
    pub kind: ExplicitKind,
    /// The wording.
    pub text: LabelText,
    /// Corner or edge for images and video.
    pub position: Position,
    /// Start, end or both for audio.
    pub audio_placement: AudioPlacement,
    /// Start or end for text.
    pub text_placement: TextPlacement,
}

impl Default for ExplicitRequest {
    fn default() -> Self {
        Self {
            kind: ExplicitKind::Auto,
            text: LabelText::default(),
            position: Position::default(),
            audio_placement: AudioPlacement::default(),
            text_placement: TextPlacement::default(),
        }
    }
}

/// Which explicit label was added, with its measurements.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum ExplicitDone {
    /// A visible line in Markdown.
    Text,
    /// Rendered onto an image.
    Image(ImageLabelReport),
    /// The rhythm cue in audio.
    Audio(AudioLabelReport),
    /// Burned into the opening of a video.
    Video(VideoLabelReport),
}

impl ExplicitDone {
    /// Warnings the explicit stage raised (e.g. a clip shorter than 2 s).
    pub fn warnings(&self) -> &[String] {
        match self {
            ExplicitDone::Text => &[],
            ExplicitDone::Image(r) => &r.warnings,
            ExplicitDone::Audio(r) => &r.warnings,
            ExplicitDone::Video(r) => &r.warnings,
        }
    }
}

/// What was written.
#[derive(Debug, Clone)]
pub struct Written {
    /// The file's format.
    pub format: Format,
    /// The label now in the file.
    pub label: ImplicitLabel,
    /// Whether the input already carried a label of this producer, now replaced.
    pub replaced: bool,
    /// The explicit label added, if one was asked for.
    pub explicit: Option<ExplicitDone>,
}

/// Labels `input` into `output` (which may be `input` itself for in-place labelling).
pub fn label_file(input: &Path, output: &Path, req: &LabelRequest) -> Result<Written, Error> {
    check_code(&req.producer, "producer", ServiceType::Generation)?;
    let mut opened = open(input)?;
    let format = opened.format.ok_or_else(|| Error::UnknownFormat {
        path: input.to_path_buf(),
    })?;
    let scan = format::scan(format, &mut opened.reader).map_err(format_err(input, format))?;
    let existing = labels_in(&scan);
    let mut kept_id = None;
    for found in &existing {
        if let Some(l) = found.label() {
            if !l.content_producer.is_empty() && l.content_producer != req.producer {
                return Err(Error::LabelledByOther {
                    path: input.to_path_buf(),
                    producer: l.content_producer.clone(),
                });
            }
            if l.content_producer == req.producer && !l.produce_id.is_empty() {
                kept_id.get_or_insert_with(|| l.produce_id.clone());
            }
        }
    }
    // The explicit stage re-encodes into a temp file beside the output; the implicit label is
    // then written from that file, so it describes the bytes that are delivered.
    let mut explicit = None;
    let staged = match &req.explicit {
        Some(ex) => {
            let (tmp, done) = stage_explicit(input, output, format, ex)?;
            opened = open(&tmp)?;
            explicit = Some(done);
            Some(tmp)
        }
        None => None,
    };
    let mut label = ImplicitLabel {
        label: req.class.label_value().to_string(),
        content_producer: req.producer.clone(),
        produce_id: req
            .produce_id
            .clone()
            .or(kept_id)
            .unwrap_or_else(new_content_id),
        ..ImplicitLabel::default()
    };
    if let Some(signer) = &req.signer {
        let hash = content_hash(input, format, &mut opened.reader)?;
        label.reserved_code1 =
            signer.security_data(SignerRole::Producer, &label.producer_tbs(), &hash);
    }
    if staged.is_some() {
        write_checked(input, output, format, &mut opened.reader, &label)?;
    } else if !in_place(input, output, format, &label)? {
        // Reopened: an attempted in-place update may have changed the file under the buffer.
        let mut fresh = open(input)?;
        write_checked(input, output, format, &mut fresh.reader, &label)?;
    }
    drop(staged);
    Ok(Written {
        format,
        label,
        replaced: !existing.is_empty(),
        explicit,
    })
}

/// Adds the explicit label of `ex` to `input` into a temp file in `output`'s directory (same
/// extension, which ffmpeg reads the container from). The temp file is deleted when dropped.
fn stage_explicit(
    input: &Path,
    output: &Path,
    format: Format,
    ex: &ExplicitRequest,
) -> Result<(tempfile::TempPath, ExplicitDone), Error> {
    let explicit_err = |source| Error::Explicit {
        path: input.to_path_buf(),
        source,
    };
    let kind = match ex.kind {
        ExplicitKind::Auto => auto_kind(input, format).map_err(explicit_err)?,
        k => k,
    };
    let dir = match output.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let ext = input
        .extension()
        .map(|e| format!(".{}", e.to_string_lossy()))
        .unwrap_or_default();
    let tmp = tempfile::Builder::new()
        .prefix(".hegui-explicit-")
        .suffix(&ext)
        .tempfile_in(dir)
        .map_err(io_err(output))?
        .into_temp_path();
    let done = match kind {
        ExplicitKind::Image => {
            let opts = ImageLabelOptions {
                text: ex.text.clone(),
                position: ex.position,
                ..ImageLabelOptions::default()
            };
            ExplicitDone::Image(
                image::label_image(input, &tmp, format, &opts).map_err(explicit_err)?,
            )
        }
        ExplicitKind::Audio => {
            let opts = AudioLabelOptions {
                placement: ex.audio_placement,
                ..AudioLabelOptions::default()
            };
            ExplicitDone::Audio(
                audio::label_audio(input, &tmp, format, &opts).map_err(explicit_err)?,
            )
        }
        ExplicitKind::Video => {
            let opts = VideoLabelOptions {
                text: ex.text.clone(),
                position: ex.position,
                ..VideoLabelOptions::default()
            };
            ExplicitDone::Video(video::label_video(input, &tmp, &opts).map_err(explicit_err)?)
        }
        ExplicitKind::Text => {
            if format != Format::Markdown {
                return Err(explicit_err(ExplicitError::Unsupported(format!(
                    "a text label needs a text file; this is {format}"
                ))));
            }
            let md = read_text(input)?;
            let labelled = text::label_markdown(&md, &ex.text, ex.text_placement);
            std::fs::write(&tmp, labelled).map_err(io_err(output))?;
            ExplicitDone::Text
        }
        ExplicitKind::Auto => {
            return Err(explicit_err(ExplicitError::Invalid(
                "the explicit kind was not resolved".into(),
            )));
        }
    };
    Ok((tmp, done))
}

/// The explicit kind that fits a format: images get a rendered label, audio the rhythm cue,
/// MP4 the burned-in label when it has a video stream (else the cue), Markdown a text line.
fn auto_kind(input: &Path, format: Format) -> Result<ExplicitKind, ExplicitError> {
    Ok(match format {
        Format::Png | Format::Jpeg | Format::WebP => ExplicitKind::Image,
        Format::Mp3 | Format::Wav | Format::Flac | Format::Ogg => ExplicitKind::Audio,
        Format::Markdown => ExplicitKind::Text,
        Format::Mp4 => {
            let probe = video::ff::probe(input)?;
            let has_video = video::ff::streams(&probe)
                .iter()
                .any(|st| video::ff::s(st, "codec_type") == Some("video"));
            if has_video {
                ExplicitKind::Video
            } else {
                ExplicitKind::Audio
            }
        }
        other => {
            return Err(ExplicitError::Unsupported(format!(
                "no explicit label path for {other}; add the visible label when the file is generated"
            )));
        }
    })
}

/// Largest text file the text label reads into memory.
const MAX_TEXT_BYTES: u64 = 64 << 20;

fn read_text(path: &Path) -> Result<String, Error> {
    let file = File::open(path).map_err(io_err(path))?;
    let mut bytes = Vec::new();
    file.take(MAX_TEXT_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(io_err(path))?;
    if bytes.len() as u64 > MAX_TEXT_BYTES {
        return Err(Error::Explicit {
            path: path.to_path_buf(),
            source: ExplicitError::Unsupported("text larger than 64 MiB".into()),
        });
    }
    String::from_utf8(bytes).map_err(|_| Error::Explicit {
        path: path.to_path_buf(),
        source: ExplicitError::Unsupported("text is not UTF-8".into()),
    })
}

/// Adds a visible label line to a plain-text file (`.txt`), which has no metadata container for
/// an implicit label: the explicit label is all such a file can carry (GB 45438 §5.1).
pub fn label_plain_text_file(
    input: &Path,
    output: &Path,
    text: &LabelText,
    placement: TextPlacement,
) -> Result<(), Error> {
    let body = read_text(input)?;
    let labelled = text::label_plain_text(&body, text, placement);
    let permissions_from = (input == output).then_some(input);
    write_atomic(output, permissions_from, io_err(output), |dst| {
        std::io::Write::write_all(dst, labelled.as_bytes()).map_err(io_err(output))
    })
}

/// The in-place fast path (`--in-place` only): formats whose label can be updated without copying
/// the media, through a sequence in which every intermediate state is a valid file (today MP4/MOV
/// with `moov` after `mdat`, see `format::mp4::label_in_place`). Returns false when the path does
/// not apply, or when its read-back disagrees; the caller then does the full rewrite, which also
/// repairs whatever the fast path left.
fn in_place(
    input: &Path,
    output: &Path,
    format: Format,
    label: &ImplicitLabel,
) -> Result<bool, Error> {
    if input != output || format != Format::Mp4 {
        return Ok(false);
    }
    let json = label.to_json()?;
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(output)
        .map_err(io_err(output))?;
    match format::mp4::label_in_place(&mut file, &json).map_err(format_err(input, format))? {
        format::mp4::InPlace::NotApplicable(_) => Ok(false),
        format::mp4::InPlace::Done { .. } => {
            file.seek(SeekFrom::Start(0)).map_err(io_err(output))?;
            let mut back = SeekBufReader::with_capacity(64 * 1024, &file);
            let ok = format::scan(format, &mut back)
                .ok()
                .is_some_and(|scan| check_read_back(output, &labels_in(&scan), label).is_ok());
            Ok(ok)
        }
    }
}

/// Writes `label` into a temp copy of `src`, reads it back, and only then renames it to `output`.
fn write_checked(
    input: &Path,
    output: &Path,
    format: Format,
    src: &mut SeekBufReader<File>,
    label: &ImplicitLabel,
) -> Result<(), Error> {
    let json = label.to_json()?;
    let permissions_from = (input == output).then_some(input);
    write_atomic(output, permissions_from, io_err(output), |dst| {
        format::write(format, src, dst, &json).map_err(format_err(input, format))?;
        std::io::Write::flush(dst).map_err(io_err(output))?;
        // C-MP4-2: a write that did not land (as ffmpeg without use_metadata_tags) must not pass
        // as success, so the temp file is scanned before it replaces anything.
        let file = dst.get_mut();
        file.seek(SeekFrom::Start(0)).map_err(io_err(output))?;
        let mut back = SeekBufReader::with_capacity(64 * 1024, &*file);
        let scan = format::scan(format, &mut back).map_err(|e| Error::ReadBack {
            path: output.to_path_buf(),
            reason: e.to_string(),
        })?;
        check_read_back(output, &labels_in(&scan), label)?;
        file.seek(SeekFrom::End(0)).map_err(io_err(output))?;
        Ok(())
    })
}

fn check_read_back(path: &Path, found: &[FoundLabel], label: &ImplicitLabel) -> Result<(), Error> {
    let fail = |reason: String| Error::ReadBack {
        path: path.to_path_buf(),
        reason,
    };
    match found {
        [one] if one.canonical && one.label() == Some(label) => Ok(()),
        [one] => Err(fail(format!(
            "the one site at {} holds {}",
            one.location,
            one.label()
                .map(|l| l.to_json_unchecked())
                .unwrap_or_else(|| "an unreadable label".into())
        ))),
        [] => Err(fail("no label site".into())),
        many => Err(fail(format!(
            "{} label sites ({}); GB 45438 §6.1 c) allows one",
            many.len(),
            many.iter()
                .map(|f| f.location.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}

/// Why a platform writes a label for content that arrived without one (art. 6 (2), (3)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PropagationBasis {
    /// The user declared the content AI-generated: `Label` "2" (可能为).
    Declared,
    /// A detector found explicit labels or other traces: `Label` "3" (疑似).
    Detected,
}

/// What a platform asks for when distributing a file.
#[derive(Debug, Clone)]
pub struct PropagateRequest {
    /// The platform's provider code (service digit 2).
    pub propagator: String,
    /// The platform's content ID; generated when `None`.
    pub propagate_id: Option<String>,
    /// Used only when the file carries no label.
    pub basis: Option<PropagationBasis>,
    /// When set, `ReservedCode2` carries a signed `SecurityData`.
    pub signer: Option<LabelSigner>,
}

/// What propagation wrote and what the platform must show.
#[derive(Debug, Clone)]
pub struct Propagated {
    /// The file's format.
    pub format: Format,
    /// The label now in the file.
    pub label: ImplicitLabel,
    /// The art. 6 class; its [`AigcClass::prompt`] is the word the platform shows.
    pub class: AigcClass,
    /// True when the file carried a producer label that was kept.
    pub label_was_present: bool,
    /// Things the platform should know, e.g. that a C2PA manifest no longer validates because
    /// the propagation members changed bytes it hashed (labeling.md §9 G2).
    pub warnings: Vec<String>,
}

/// Adds the platform's propagation members to `input`'s label (or writes a Label 2/3 one).
pub fn propagate_file(
    input: &Path,
    output: &Path,
    req: &PropagateRequest,
) -> Result<Propagated, Error> {
    check_code(&req.propagator, "propagator", ServiceType::Propagation)?;
    let mut opened = open(input)?;
    let format = opened.format.ok_or_else(|| Error::UnknownFormat {
        path: input.to_path_buf(),
    })?;
    let scan = format::scan(format, &mut opened.reader).map_err(format_err(input, format))?;
    let found = labels_in(&scan);
    let existing = pick_existing(input, &found)?;
    let warnings: Vec<String> = scan
        .notes
        .iter()
        .filter(|n| n.contains("C2PA"))
        .map(|_| {
            "the file's C2PA manifest no longer validates after propagation; re-sign it with the \
             earlier manifest as ingredient (hegui propagate --c2pa …)"
                .to_string()
        })
        .take(1)
        .collect();
    let label_was_present = existing.is_some();
    let mut label = match existing {
        Some(l) => l,
        None => {
            let basis = req.basis.ok_or_else(|| Error::NoLabel {
                path: input.to_path_buf(),
            })?;
            let class = match basis {
                PropagationBasis::Declared => AigcClass::Possibly,
                PropagationBasis::Detected => AigcClass::Suspected,
            };
            ImplicitLabel {
                label: class.label_value().to_string(),
                ..ImplicitLabel::default()
            }
        }
    };
    let class = label.class().ok_or_else(|| Error::ExistingLabel {
        path: input.to_path_buf(),
        reason: format!("Label {:?} is not 1, 2 or 3", label.label),
    })?;
    label.content_propagator = req.propagator.clone();
    label.propagate_id = req.propagate_id.clone().unwrap_or_else(new_content_id);
    label.reserved_code2 = String::new();
    if let Some(signer) = &req.signer {
        let hash = content_hash(input, format, &mut opened.reader)?;
        label.reserved_code2 =
            signer.security_data(SignerRole::Propagator, &label.propagator_tbs(), &hash);
    }
    if !in_place(input, output, format, &label)? {
        let mut fresh = open(input)?;
        write_checked(input, output, format, &mut fresh.reader, &label)?;
    }
    Ok(Propagated {
        format,
        label,
        class,
        label_was_present,
        warnings,
    })
}

/// The one label a platform carries forward, or `None` when there is none. Several sites that
/// agree are one label (the write consolidates them); sites that disagree are refused rather
/// than guessed between.
fn pick_existing(path: &Path, found: &[FoundLabel]) -> Result<Option<ImplicitLabel>, Error> {
    let mut chosen: Option<ImplicitLabel> = None;
    for f in found {
        let Some(l) = f.label() else {
            return Err(Error::ExistingLabel {
                path: path.to_path_buf(),
                reason: format!("the label at {} cannot be read", f.location),
            });
        };
        match &chosen {
            None => chosen = Some(l.clone()),
            Some(c)
                if c.producer_tbs() == l.producer_tbs() && c.reserved_code1 == l.reserved_code1 => {
            }
            Some(_) => {
                return Err(Error::ExistingLabel {
                    path: path.to_path_buf(),
                    reason: "label sites disagree on the producer members".into(),
                });
            }
        }
    }
    if let Some(problem) = chosen.as_ref().and_then(|l| {
        l.problems()
            .into_iter()
            .find(|p| !matches!(p, LabelError::NoProvider))
    }) {
        return Err(Error::ExistingLabel {
            path: path.to_path_buf(),
            reason: format!("{problem}; the producer's members cannot be carried unchanged"),
        });
    }
    Ok(chosen)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ds16_a6_content_ids_are_unique() {
        let ids: std::collections::HashSet<String> =
            (0..10_000).map(|_| new_content_id()).collect();
        assert_eq!(ids.len(), 10_000);
        let l = ImplicitLabel {
            label: "1".into(),
            content_producer: "001191440300708461136T1XGW3".into(),
            produce_id: new_content_id(),
            ..Default::default()
        };
        l.validate().unwrap();
    }

    #[test]
    fn codes_must_match_roles() {
        assert!(matches!(
            check_code(
                "001191110102MACQD9K64028705",
                "producer",
                ServiceType::Generation
            ),
            Err(Error::ServiceDigit { .. })
        ));
        assert!(
            check_code(
                "001191110102MACQD9K64028705",
                "propagator",
                ServiceType::Propagation
            )
            .is_ok()
        );
        assert!(matches!(
            check_code("Minimax Agent AI", "producer", ServiceType::Generation),
            Err(Error::ProviderCode { .. })
        ));
    }
}
