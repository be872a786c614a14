//! C2PA manifests beside the GB 45438 implicit label (labeling.md §9, acceptance checks G1–G3),
//! built on the `c2pa` crate 0.90 with pure-Rust crypto and no network (no TSA, no OCSP fetch,
//! no remote manifests, no thumbnail).
//!
//! The key decision is the order. A C2PA hard binding (data hash, BMFF hash) covers every byte
//! outside the manifest store, the XMP packet and `moov/udta/meta` included, so the GB label is
//! written FIRST and the manifest signed SECOND ([`sign_created`]). The manifest lives in its
//! own box, chunk, segment or frame (PNG `caBX`, JPEG APP11, RIFF `C2PA`, BMFF `uuid`, ID3
//! `GEOB`), so signing leaves the GB label site untouched and the file still holds exactly one.
//! A platform that later fills the propagator fields changes hashed bytes and breaks the earlier
//! manifest (G2); [`sign_propagated`] then signs a new manifest that names the earlier one as its
//! parent ingredient, so the chain validates again and the provenance is kept rather than
//! dropped.
//!
//! Every signature is read back with [`read`] before success is reported: a manifest that does
//! not validate is an error, never a silent success. `signingCredential.untrusted` is not a
//! failure here (a certificate outside the C2PA trust list, such as a test or in-house CA, is
//! still a valid signature); it is reported as a note.

use crate::format::Format;
use ::c2pa::{
    BoxedSigner, Builder, BuilderIntent, Context, DigitalSourceType, Reader, SigningAlg,
    ValidationState,
};
use std::fs::{File, OpenOptions};
use std::io::{BufReader, Read, Write};
use std::path::{Path, PathBuf};

/// The IPTC digital source type for content made by a trained model (GB 45438 "AI-generated").
pub const TRAINED_ALGORITHMIC_MEDIA: &str =
    "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia";

/// The validation status code of a certificate that does not chain to a configured trust anchor.
const UNTRUSTED: &str = "signingCredential.untrusted";

/// How deep [`read`] follows parent ingredients to find the original `digitalSourceType`; a
/// bound, because a manifest store is untrusted input.
const MAX_PARENT_DEPTH: usize = 16;

/// Why a C2PA manifest could not be signed, embedded or loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum C2paError {
    /// A file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The signing certificate chain or private key is unusable.
    #[error("{what}: {reason}")]
    Key {
        /// Which input (a path, or "certificate chain" / "private key" for in-memory PEM).
        what: String,
        /// What is wrong and, where possible, how to fix it.
        reason: String,
    },
    /// The requested signing algorithm is unknown or does not fit the key.
    #[error("signing algorithm {given:?}: {reason}")]
    Algorithm {
        /// The algorithm name as given.
        given: String,
        /// Why it cannot be used.
        reason: String,
    },
    /// hegui does not embed C2PA manifests in this format with c2pa 0.90: either the SDK has no
    /// embedding for it, or its output is broken (see `reason`).
    #[error("{format}: C2PA signing is not supported for this format: {reason}")]
    Unsupported {
        /// The format.
        format: Format,
        /// Why.
        reason: &'static str,
    },
    /// Source and destination are the same file; signing streams from one into the other, so the
    /// caller must give a separate (temporary) destination.
    #[error("{}: source and destination are the same file; sign into a temporary file", path.display())]
    SamePath {
        /// The file.
        path: PathBuf,
    },
    /// [`sign_created`] was asked to sign a file that already carries a C2PA manifest; a new
    /// "created" manifest would drop that provenance. Use [`sign_propagated`], which keeps the
    /// earlier manifest as its parent ingredient.
    #[error("{}: already carries a C2PA manifest ({manifest}); use sign_propagated to keep it as the parent ingredient", path.display())]
    HasManifest {
        /// The file.
        path: PathBuf,
        /// The existing active manifest's label (or a description when it has none).
        manifest: String,
    },
    /// The c2pa SDK refused to build, sign or embed the manifest.
    #[error("{}: c2pa: {source}", path.display())]
    Sdk {
        /// The file being signed.
        path: PathBuf,
        /// The SDK's error (boxed: it is large).
        source: Box<::c2pa::Error>,
    },
    /// The signed output did not read back as one valid manifest.
    #[error("{}: the signed file did not validate: {reason}", path.display())]
    ReadBack {
        /// The output file.
        path: PathBuf,
        /// The validation failures found.
        reason: String,
    },
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> C2paError + '_ {
    move |source| C2paError::Io {
        path: path.to_path_buf(),
        source,
    }
}

// ---------------------------------------------------------------------------------------------
// Signer

/// The kind of private key, as read from its PKCS#8 / SEC1 / PKCS#1 structure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum KeyKind {
    P256,
    P384,
    P521,
    Ed25519,
    Rsa,
}

impl KeyKind {
    fn default_alg(self) -> SigningAlg {
        match self {
            KeyKind::P256 => SigningAlg::Es256,
            KeyKind::P384 => SigningAlg::Es384,
            KeyKind::P521 => SigningAlg::Es512,
            KeyKind::Ed25519 => SigningAlg::Ed25519,
            KeyKind::Rsa => SigningAlg::Ps256,
        }
    }

    fn fits(self, alg: SigningAlg) -> bool {
        matches!(
            (self, alg),
            (KeyKind::P256, SigningAlg::Es256)
                | (KeyKind::P384, SigningAlg::Es384)
                | (KeyKind::P521, SigningAlg::Es512)
                | (KeyKind::Ed25519, SigningAlg::Ed25519)
                | (
                    KeyKind::Rsa,
                    SigningAlg::Ps256 | SigningAlg::Ps384 | SigningAlg::Ps512
                )
        )
    }

    fn name(self) -> &'static str {
        match self {
            KeyKind::P256 => "EC P-256",
            KeyKind::P384 => "EC P-384",
            KeyKind::P521 => "EC P-521",
            KeyKind::Ed25519 => "Ed25519",
            KeyKind::Rsa => "RSA",
        }
    }
}

/// A C2PA claim signer: an X.509 certificate chain (end-entity first) and its private key. No
/// time-stamp authority is used (hegui signs offline), so validators accept the signature only
/// while the certificate is valid and report no trusted timestamp.
pub struct C2paSigner {
    signer: BoxedSigner,
    alg: SigningAlg,
}

impl std::fmt::Debug for C2paSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("C2paSigner")
            .field("alg", &self.alg.to_string())
            .finish_non_exhaustive()
    }
}

impl C2paSigner {
    /// Loads a signer from a certificate chain PEM file (end-entity certificate first, then
    /// intermediates) and a private key PEM file (PKCS#8 `PRIVATE KEY`, SEC1 `EC PRIVATE KEY` or
    /// PKCS#1 `RSA PRIVATE KEY`; not encrypted). `alg` (`es256`, `es384`, `es512`, `ps256`,
    /// `ps384`, `ps512`, `ed25519`, any case) overrides the algorithm detected from the key:
    /// ES256/ES384/ES512 for EC P-256/P-384/P-521, Ed25519, PS256 for RSA.
    pub fn from_pem_files(cert: &Path, key: &Path, alg: Option<&str>) -> Result<Self, C2paError> {
        let cert_pem = std::fs::read(cert).map_err(io_err(cert))?;
        let key_pem = std::fs::read(key).map_err(io_err(key))?;
        Self::load(
            &cert_pem,
            &key_pem,
            alg,
            &cert.display().to_string(),
            &key.display().to_string(),
        )
    }

    /// Like [`C2paSigner::from_pem_files`], from PEM text in memory.
    pub fn from_pem(
        cert_chain_pem: &[u8],
        key_pem: &[u8],
        alg: Option<&str>,
    ) -> Result<Self, C2paError> {
        Self::load(
            cert_chain_pem,
            key_pem,
            alg,
            "certificate chain",
            "private key",
        )
    }

    /// The signing algorithm in use (`es256`, `ps256`, `ed25519` …).
    pub fn algorithm(&self) -> String {
        self.alg.to_string()
    }

    fn load(
        cert_pem: &[u8],
        key_pem: &[u8],
        alg: Option<&str>,
        cert_name: &str,
        key_name: &str,
    ) -> Result<Self, C2paError> {
        let key_err = |what: &str, reason: String| C2paError::Key {
            what: what.to_string(),
            reason,
        };
        let certs: Vec<Vec<u8>> = pem_blocks(&String::from_utf8_lossy(cert_pem))
            .map_err(|e| key_err(cert_name, e))?
            .into_iter()
            .filter(|(label, _)| label == "CERTIFICATE")
            .map(|(_, der)| der)
            .collect();
        if certs.is_empty() {
            return Err(key_err(
                cert_name,
                "no CERTIFICATE block; give the signing certificate chain in PEM, end-entity first"
                    .into(),
            ));
        }
        let chain_pem: String = certs.iter().map(|der| to_pem("CERTIFICATE", der)).collect();

        let (kind, pkcs8) = private_key_pkcs8(&String::from_utf8_lossy(key_pem))
            .map_err(|e| key_err(key_name, e))?;
        let alg = match alg {
            None => kind.default_alg(),
            Some(given) => {
                let parsed: SigningAlg =
                    given
                        .to_ascii_lowercase()
                        .parse()
                        .map_err(|_| C2paError::Algorithm {
                            given: given.to_string(),
                            reason:
                                "unknown; use es256, es384, es512, ps256, ps384, ps512 or ed25519"
                                    .into(),
                        })?;
                if !kind.fits(parsed) {
                    return Err(C2paError::Algorithm {
                        given: given.to_string(),
                        reason: format!(
                            "does not fit the {} key (that key signs with {})",
                            kind.name(),
                            kind.default_alg()
                        ),
                    });
                }
                parsed
            }
        };
        let signer = ::c2pa::create_signer::from_keys(
            chain_pem.as_bytes(),
            to_pem("PRIVATE KEY", &pkcs8).as_bytes(),
            alg,
            None,
        )
        .map_err(|e| key_err(key_name, format!("c2pa cannot use the key: {e}")))?;
        Ok(Self { signer, alg })
    }
}

// ---------------------------------------------------------------------------------------------
// Reports

/// One ingredient of the active manifest.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct C2paIngredient {
    /// `parentOf`, `componentOf` or `inputTo`.
    pub relationship: String,
    /// The label of the ingredient's own manifest, when it carried one.
    pub manifest: Option<String>,
    /// The ingredient's title, when recorded.
    pub title: Option<String>,
    /// Failure codes recorded for the ingredient when it was added. After a GB propagation the
    /// earlier manifest's `assertion.dataHash.mismatch` / `assertion.bmffHash.mismatch` is
    /// expected here: the platform changed the label bytes that manifest had bound.
    pub recorded_failures: Vec<String>,
}

/// What [`read`] found: the C2PA state of a file, for `hegui inspect`.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct C2paStatus {
    /// A C2PA manifest store is embedded. False also when c2pa could not parse the container
    /// at all; `notes` then says so (unknown is not the same as absent).
    pub present: bool,
    /// `Some(true)` when the active manifest validates (failures empty), `Some(false)` when it
    /// does not, `None` when there is no manifest or it could not be evaluated.
    pub valid: Option<bool>,
    /// c2pa's validation state: `Valid`, `Trusted` or `Invalid`.
    pub validation_state: Option<String>,
    /// Validation status codes that are failures (e.g. `assertion.dataHash.mismatch`),
    /// `signingCredential.untrusted` excepted (see `notes`). Ingredient failures not already
    /// recorded in the ingredient are prefixed `ingredient:`.
    pub failures: Vec<String>,
    /// The `digitalSourceType` of the `c2pa.created` action, from the active manifest or, when it
    /// is an edit, from the nearest parent manifest that has one.
    pub digital_source_type: Option<String>,
    /// The active manifest's label (`urn:c2pa:…`).
    pub active_manifest: Option<String>,
    /// The active manifest's actions in order (`c2pa.created`, `c2pa.opened`, …).
    pub actions: Vec<String>,
    /// The active manifest's ingredients.
    pub ingredients: Vec<C2paIngredient>,
    /// Noteworthy facts that are not failures: untrusted signer, signer name, signing time, and
    /// why nothing could be read.
    pub notes: Vec<String>,
}

/// What [`sign_created`] or [`sign_propagated`] wrote.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct C2paReport {
    /// The MIME type the manifest was embedded as.
    pub mime: &'static str,
    /// The signing algorithm.
    pub alg: String,
    /// Size of the embedded manifest store (JUMBF), in bytes.
    pub manifest_bytes: usize,
    /// The earlier manifest kept as the parent ingredient (sign_propagated only).
    pub parent: Option<String>,
    /// The read-back of the written file.
    pub status: C2paStatus,
}

// ---------------------------------------------------------------------------------------------
// Formats

/// The MIME type c2pa 0.90 embeds `format` as, or `None` when it cannot. BMFF and HEIF look at
/// the major brand so a MOV or M4A is not recorded as `video/mp4`.
fn mime_for(format: Format, path: &Path) -> Option<&'static str> {
    Some(match format {
        Format::Png => "image/png",
        Format::Jpeg => "image/jpeg",
        Format::WebP => "image/webp",
        Format::Gif => "image/gif",
        Format::Tiff => "image/tiff",
        Format::Mp3 => "audio/mpeg",
        Format::Wav => "audio/wav",
        Format::Flac => "audio/flac",
        Format::Heif => match major_brand(path).as_ref() {
            Some(b"avif" | b"avis") => "image/avif",
            Some(b"heic" | b"heix" | b"heim" | b"heis") => "image/heic",
            _ => "image/heif",
        },
        Format::Mp4 => match major_brand(path).as_ref() {
            Some(b"qt  ") => "video/quicktime",
            Some(b"M4A " | b"M4B " | b"M4P ") => "audio/mp4",
            _ => "video/mp4",
        },
        // No `ogg_io` handler; PDF is read-only (and needs the `pdf` feature); OOXML and Markdown
        // have no C2PA embedding at all.
        Format::Ogg | Format::Pdf | Format::Ooxml | Format::Markdown => return None,
    })
}

fn major_brand(path: &Path) -> Option<[u8; 4]> {
    let mut head = [0u8; 12];
    File::open(path).ok()?.read_exact(&mut head).ok()?;
    (&head[4..8] == b"ftyp").then(|| [head[8], head[9], head[10], head[11]])
}

/// Why hegui refuses to sign `format`, or `None` when it signs it. Reading is wider: [`read`]
/// also evaluates manifests that other tools put into TIFF and HEIF files.
fn unsigned_reason(format: Format) -> Option<&'static str> {
    match format {
        Format::Png
        | Format::Jpeg
        | Format::WebP
        | Format::Gif
        | Format::Mp4
        | Format::Mp3
        | Format::Wav => None,
        // Measured: c2pa 0.90 embeds into FLAC by prepending an ID3v2 tag (GEOB frame) before
        // `fLaC`. libFLAC skips it, but the signed file then sniffs as MP3 and the Vorbis-comment
        // GB label is no longer found, which breaks G1.
        Format::Flac => Some(
            "c2pa 0.90 prepends an ID3v2 tag to FLAC, after which the GB label is not found (the file sniffs as MP3)",
        ),
        // Measured: the extra IFD c2pa 0.90 appends for its manifest lacks ImageLength, so
        // libtiff (ImageMagick, libvips …) rejects the signed file (contentauth/c2pa-rs#1894).
        Format::Tiff => Some(
            "c2pa 0.90 appends an IFD that libtiff rejects (missing ImageLength; c2pa-rs issue 1894)",
        ),
        // Measured: c2pa 0.90 shifts an iloc item's base_offset even when it is 0 and then also
        // its extent_offset, so items placed by extent offset (as hegui's HEIF writer and libheif
        // place them) point past the end of the signed file (asset_handlers/bmff_io.rs).
        Format::Heif => Some(
            "c2pa 0.90 relocates iloc items with base_offset 0 twice, so the signed image no longer decodes",
        ),
        Format::Ogg => Some("c2pa 0.90 has no Ogg embedding"),
        Format::Pdf => Some("c2pa 0.90 reads PDF manifests but cannot write them"),
        Format::Ooxml | Format::Markdown => Some("C2PA defines no embedding for this format"),
    }
}

// ---------------------------------------------------------------------------------------------
// Signing

fn reader_settings(trust_anchors: Option<&str>) -> serde_json::Value {
    let mut settings = serde_json::json!({
        // Offline: never fetch OCSP responses or remote manifests.
        "verify": { "ocsp_fetch": false, "remote_manifest_fetch": false },
    });
    if let Some(anchors) = trust_anchors {
        settings["trust"] = serde_json::json!({ "trust_anchors": anchors });
    }
    settings
}

fn builder_settings() -> serde_json::Value {
    serde_json::json!({
        // The read-back below is hegui's own verify-after-sign (with the untrusted-cert rule), so
        // the SDK's strict one, which fails on any untrusted test certificate, stays off.
        "verify": { "verify_after_sign": false, "ocsp_fetch": false, "remote_manifest_fetch": false },
        // A thumbnail is a re-encode of the content; hegui never re-encodes, and it dominates
        // signing time.
        "builder": { "thumbnail": { "enabled": false } },
    })
}

fn software_agent() -> serde_json::Value {
    serde_json::json!({ "name": "hegui", "version": env!("CARGO_PKG_VERSION") })
}

fn created_action() -> serde_json::Value {
    serde_json::json!({
        "action": "c2pa.created",
        "digitalSourceType": TRAINED_ALGORITHMIC_MEDIA,
        "softwareAgent": software_agent(),
    })
}

/// Which manifest to write.
enum Mode {
    /// A generation service's first manifest: `c2pa.created`.
    Created,
    /// A platform's manifest after it changed the GB propagator fields.
    Propagated,
}

/// Signs `src` into `dst` with a new manifest recording that the content was generated by a
/// trained model: one `c2pa.actions.v2` assertion with `c2pa.created` and `digitalSourceType`
/// [`TRAINED_ALGORITHMIC_MEDIA`], claim generator `hegui/<version>`, no thumbnail.
///
/// Formats: PNG, JPEG, WebP, GIF, MP4/MOV/M4A, MP3, WAV; any other is
/// [`C2paError::Unsupported`] (TIFF, HEIF and FLAC because c2pa 0.90's output breaks the file or
/// hides the GB label; the error says how).
///
/// Run it AFTER the GB 45438 implicit label is written ([`crate::label_file`]): the manifest's
/// hard binding covers the label, and the label site itself is left untouched. `dst` must be a
/// different path from `src` (the caller owns the temporary file and the rename, and deletes
/// `dst` on error). A file that already carries a manifest is refused
/// ([`C2paError::HasManifest`]). The output is read back: the manifest must validate, and the
/// file must still sniff as `format` and hold the same GB label sites as `src`.
pub fn sign_created(
    src: &Path,
    dst: &Path,
    format: Format,
    signer: &C2paSigner,
) -> Result<C2paReport, C2paError> {
    sign(src, dst, format, signer, Mode::Created)
}

/// Signs `src` into `dst` for a platform that has just filled the GB propagator fields (which
/// breaks an earlier manifest's hard binding, check G2): a new manifest whose parent ingredient
/// is the earlier manifest, with actions `c2pa.opened` (the parent), `c2pa.edited.metadata` (the
/// label edit) and `c2pa.published`. The earlier manifest's own, now failing, hash check is
/// recorded inside the ingredient, so the new manifest validates.
///
/// A file without a manifest gets a created manifest as in [`sign_created`] plus
/// `c2pa.published`. Same path and read-back rules as [`sign_created`].
pub fn sign_propagated(
    src: &Path,
    dst: &Path,
    format: Format,
    signer: &C2paSigner,
) -> Result<C2paReport, C2paError> {
    sign(src, dst, format, signer, Mode::Propagated)
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

fn sign(
    src: &Path,
    dst: &Path,
    format: Format,
    signer: &C2paSigner,
    mode: Mode,
) -> Result<C2paReport, C2paError> {
    if let Some(reason) = unsigned_reason(format) {
        return Err(C2paError::Unsupported { format, reason });
    }
    let mime = mime_for(format, src).ok_or(C2paError::Unsupported {
        format,
        reason: "no MIME type",
    })?;
    if same_file(src, dst) {
        return Err(C2paError::SamePath {
            path: dst.to_path_buf(),
        });
    }
    let parent_in_src = existing_manifest(src, mime);
    let gb_before = gb_labels(src, format).map_err(|reason| C2paError::ReadBack {
        path: src.to_path_buf(),
        reason,
    })?;

    let published = serde_json::json!({
        "action": "c2pa.published",
        "softwareAgent": software_agent(),
    });
    let (intent, actions) = match (&mode, &parent_in_src) {
        (Mode::Created, Some(manifest)) => {
            return Err(C2paError::HasManifest {
                path: src.to_path_buf(),
                manifest: manifest.clone(),
            });
        }
        (Mode::Created, None) => (
            BuilderIntent::Create(DigitalSourceType::TrainedAlgorithmicMedia),
            vec![created_action()],
        ),
        (Mode::Propagated, None) => (
            BuilderIntent::Create(DigitalSourceType::TrainedAlgorithmicMedia),
            vec![created_action(), published],
        ),
        // Edit: the SDK adds the source's manifest store as the parentOf ingredient and puts
        // `c2pa.opened` (pointing at it) first.
        (Mode::Propagated, Some(_)) => (
            BuilderIntent::Edit,
            vec![
                serde_json::json!({
                    "action": "c2pa.edited.metadata",
                    "description": "GB 45438 implicit label: ContentPropagator and PropagateID written by the distribution platform",
                    "softwareAgent": software_agent(),
                }),
                published,
            ],
        ),
    };
    let definition = serde_json::json!({
        "claim_generator_info": [software_agent()],
        "assertions": [{ "label": "c2pa.actions.v2", "data": { "actions": actions } }],
    });

    let sdk = |source: ::c2pa::Error| C2paError::Sdk {
        path: src.to_path_buf(),
        source: Box::new(source),
    };
    let context = Context::new()
        .with_settings(builder_settings())
        .map_err(sdk)?;
    let mut builder = Builder::from_context(context)
        .with_definition(definition)
        .map_err(sdk)?;
    builder.set_intent(intent);

    let mut input = BufReader::with_capacity(256 * 1024, File::open(src).map_err(io_err(src))?);
    let mut output = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(dst)
        .map_err(io_err(dst))?;
    let manifest = builder
        .sign(signer.signer.as_ref(), mime, &mut input, &mut output)
        .map_err(sdk)?;
    output.flush().map_err(io_err(dst))?;
    output.sync_all().map_err(io_err(dst))?;
    drop(output);

    let fail = |reason: String| C2paError::ReadBack {
        path: dst.to_path_buf(),
        reason,
    };
    // The GB label comes first (labeling.md §9 rule 1): embedding the manifest must leave it
    // exactly as it was, site for site.
    let gb_after = gb_labels(dst, format).map_err(fail)?;
    // Compared by placement class and content, not location text: c2pa rewrites an MP3's ID3v2
    // tag as v2.4, which renames the site (`ID3v2.3` → `ID3v2.4`) without moving the label.
    let key = |sites: &[GbSite]| -> Vec<(bool, Option<crate::ImplicitLabel>)> {
        sites
            .iter()
            .map(|s| (s.canonical, s.label.clone()))
            .collect()
    };
    if key(&gb_after) != key(&gb_before) {
        let list = |sites: &[GbSite]| {
            sites
                .iter()
                .map(|s| s.location.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        };
        return Err(fail(format!(
            "C2PA embedding changed the GB 45438 label sites (before: [{}]; after: [{}])",
            list(&gb_before),
            list(&gb_after)
        )));
    }
    let status = read(dst, format);
    if !status.present {
        return Err(fail(format!(
            "no manifest found ({})",
            status.notes.join("; ")
        )));
    }
    if status.valid != Some(true) {
        return Err(fail(format!(
            "state {}, failures: {}",
            status.validation_state.as_deref().unwrap_or("unknown"),
            if status.failures.is_empty() {
                status.notes.join("; ")
            } else {
                status.failures.join(", ")
            }
        )));
    }
    if parent_in_src.is_some()
        && !status
            .ingredients
            .iter()
            .any(|i| i.relationship == "parentOf" && i.manifest.is_some())
    {
        return Err(fail(
            "the earlier manifest is not the parent ingredient".into(),
        ));
    }
    Ok(C2paReport {
        mime,
        alg: signer.algorithm(),
        manifest_bytes: manifest.len(),
        parent: parent_in_src,
        status,
    })
}

/// One GB 45438 label site, as compared before and after embedding.
struct GbSite {
    location: String,
    canonical: bool,
    label: Option<crate::ImplicitLabel>,
}

/// The GB 45438 label sites of `path`, after checking it still sniffs as `format` (c2pa's FLAC
/// embedding, for one, makes a file sniff as MP3).
fn gb_labels(path: &Path, format: Format) -> Result<Vec<GbSite>, String> {
    let mut opened = crate::ops::open(path).map_err(|e| e.to_string())?;
    if opened.format != Some(format) {
        return Err(format!(
            "the file reads as {} instead of {format}",
            opened.format.map_or("an unknown format", Format::name)
        ));
    }
    let scan = crate::format::scan(format, &mut opened.reader).map_err(|e| e.to_string())?;
    Ok(crate::sites::labels_in(&scan)
        .into_iter()
        .map(|f| GbSite {
            location: f.location.clone(),
            canonical: f.canonical,
            label: f.label().cloned(),
        })
        .collect())
}

// ---------------------------------------------------------------------------------------------
// Reading

/// Reads and validates the C2PA manifest store of `path` (offline, no trust list configured, so
/// any valid signature is `Valid` with a `signingCredential.untrusted` note). Never fails and
/// never panics: a file without a manifest, or of a format c2pa cannot read, is
/// `present: false` with a note saying why.
pub fn read(path: &Path, format: Format) -> C2paStatus {
    read_with_trust_anchors(path, format, None)
}

/// Like [`read`], trusting the root certificates in `trust_anchors_pem`: a manifest signed by a
/// chain to one of them validates as `Trusted` and gets no untrusted note.
pub fn read_with_trust_anchors(
    path: &Path,
    format: Format,
    trust_anchors_pem: Option<&str>,
) -> C2paStatus {
    let mut status = C2paStatus::default();
    let Some(mime) = mime_for(format, path) else {
        status.notes.push(format!(
            "c2pa 0.90 does not read C2PA manifests in {format} files"
        ));
        return status;
    };
    // c2pa is third-party code run on untrusted bytes; hegui's readers promise not to panic,
    // so a panic inside it becomes a note instead of taking the process down.
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        read_inner(path, mime, trust_anchors_pem)
    }));
    match outcome {
        Ok(s) => s,
        Err(_) => {
            status.present = true;
            status.notes.push(
                "the c2pa reader crashed on this file; its manifest could not be evaluated".into(),
            );
            status
        }
    }
}

/// The active manifest label (or a description) when `path` carries a C2PA manifest store. Parses
/// the store without validating it: whether it still validates does not change what the
/// signer must do with it, and validation is a full pass over the file.
fn existing_manifest(path: &Path, mime: &str) -> Option<String> {
    let settings = serde_json::json!({
        "verify": {
            "verify_after_reading": false,
            "ocsp_fetch": false,
            "remote_manifest_fetch": false,
        },
    });
    let context = Context::new().with_settings(settings).ok()?;
    let file = File::open(path).ok()?;
    let probe = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        Reader::from_context(context)
            .with_stream(mime, BufReader::new(file))
            .ok()
            .map(|r| {
                r.active_label()
                    .map(str::to_string)
                    .unwrap_or_else(|| "a manifest store without an active manifest".into())
            })
    }));
    probe.ok().flatten()
}

fn read_inner(path: &Path, mime: &str, trust_anchors: Option<&str>) -> C2paStatus {
    let mut status = C2paStatus::default();
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) => {
            status
                .notes
                .push(format!("cannot open {}: {e}", path.display()));
            return status;
        }
    };
    let context = match Context::new().with_settings(reader_settings(trust_anchors)) {
        Ok(c) => c,
        Err(e) => {
            status.notes.push(format!("c2pa settings rejected: {e}"));
            return status;
        }
    };
    let reader = match Reader::from_context(context).with_stream(mime, BufReader::new(file)) {
        Ok(r) => r,
        Err(::c2pa::Error::JumbfNotFound | ::c2pa::Error::ProvenanceMissing) => {
            return status;
        }
        Err(
            e @ (::c2pa::Error::InvalidAsset(_)
            | ::c2pa::Error::IoError(_)
            | ::c2pa::Error::UnsupportedType
            | ::c2pa::Error::NotFound),
        ) => {
            // The container itself could not be walked (truncated, malformed): whether it holds
            // a manifest is unknown, which is not the same as "no manifest".
            status.notes.push(format!(
                "c2pa could not parse the file, so whether it carries a manifest is unknown: {e}"
            ));
            return status;
        }
        Err(e) => {
            // A store was found (or the container could not be walked) but not decoded: report
            // it as present and unevaluable rather than absent, as the GB inspector does (F4).
            status.present = true;
            status.valid = Some(false);
            status.validation_state = Some("Invalid".into());
            status.failures.push(format!("c2pa: {e}"));
            return status;
        }
    };
    status.present = reader.active_manifest().is_some() || !reader.manifests().is_empty();
    if !status.present {
        return status;
    }
    let state = reader.validation_state();
    status.validation_state = Some(
        match state {
            ValidationState::Valid => "Valid",
            ValidationState::Trusted => "Trusted",
            ValidationState::Invalid => "Invalid",
        }
        .into(),
    );

    let mut untrusted = false;
    let push_failure = |code: String, failures: &mut Vec<String>| {
        if !failures.contains(&code) {
            failures.push(code);
        }
    };
    if let Some(results) = reader.validation_results() {
        if let Some(active) = results.active_manifest() {
            for s in active.failure() {
                if s.code() == UNTRUSTED {
                    untrusted = true;
                } else {
                    push_failure(s.code().to_string(), &mut status.failures);
                }
            }
        }
        for delta in results.ingredient_deltas().into_iter().flatten() {
            for s in delta.validation_deltas().failure() {
                if s.code() == UNTRUSTED {
                    untrusted = true;
                } else {
                    push_failure(format!("ingredient:{}", s.code()), &mut status.failures);
                }
            }
        }
    } else if let Some(list) = reader.validation_status() {
        // The v1 report lists errors only.
        for s in list {
            if s.code() == UNTRUSTED {
                untrusted = true;
            } else {
                push_failure(s.code().to_string(), &mut status.failures);
            }
        }
    }
    status.valid = Some(state != ValidationState::Invalid && status.failures.is_empty());
    if untrusted {
        status.notes.push(format!(
            "{UNTRUSTED}: the signing certificate does not chain to a configured C2PA trust anchor (expected for self-signed, test or in-house certificates; not counted as a failure)"
        ));
    }

    if let Some(manifest) = reader.active_manifest() {
        status.active_manifest = manifest.label().map(str::to_string);
        status.actions = action_names(manifest);
        status.ingredients = manifest
            .ingredients()
            .iter()
            .map(|i| C2paIngredient {
                relationship: relationship_name(i.relationship()),
                manifest: i.active_manifest().map(str::to_string),
                title: i.title().map(str::to_string),
                recorded_failures: recorded_failures(i),
            })
            .collect();
        status.digital_source_type = source_type_in_chain(&reader, manifest);
        if let Some(issuer) = manifest.issuer() {
            let who = manifest
                .common_name()
                .map(|cn| format!("{cn} (issuer {issuer})"))
                .unwrap_or(issuer);
            status.notes.push(format!("signed by {who}"));
        }
        // The time comes from an RFC 3161 time-stamp token, which hegui's offline signing has none of.
        match manifest.time() {
            Some(t) => status.notes.push(format!("time-stamped at {t}")),
            None => status.notes.push(
                "no time-stamp: the signature counts only while the signing certificate is unexpired"
                    .into(),
            ),
        }
    }
    status
}

/// The failure codes stored in an ingredient assertion (v2 results, else the v1 status list).
fn recorded_failures(ingredient: &::c2pa::Ingredient) -> Vec<String> {
    let mut codes: Vec<String> = match ingredient.validation_results() {
        Some(results) => results
            .active_manifest()
            .map(|a| {
                a.failure()
                    .iter()
                    .map(|s| s.code().to_string())
                    .filter(|c| c != UNTRUSTED)
                    .collect()
            })
            .unwrap_or_default(),
        None => ingredient
            .validation_status()
            .unwrap_or_default()
            .iter()
            .filter(|s| !s.passed() && s.code() != UNTRUSTED)
            .map(|s| s.code().to_string())
            .collect(),
    };
    codes.dedup();
    codes
}

fn relationship_name(r: &::c2pa::Relationship) -> String {
    serde_json::to_value(r)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_else(|| format!("{r:?}"))
}

/// The actions assertions of `manifest` as JSON arrays (v1 and v2 labels, any instance).
fn actions_of(manifest: &::c2pa::Manifest) -> Vec<serde_json::Value> {
    manifest
        .assertions()
        .iter()
        .filter(|a| a.label().starts_with("c2pa.actions"))
        .filter_map(|a| a.value().ok())
        .filter_map(|v| v.get("actions").and_then(|a| a.as_array()).cloned())
        .flatten()
        .collect()
}

fn action_names(manifest: &::c2pa::Manifest) -> Vec<String> {
    actions_of(manifest)
        .iter()
        .filter_map(|a| a.get("action").and_then(|s| s.as_str()).map(str::to_string))
        .collect()
}

fn source_type_of(manifest: &::c2pa::Manifest) -> Option<String> {
    actions_of(manifest).iter().find_map(|a| {
        a.get("digitalSourceType")
            .and_then(|s| s.as_str())
            .map(str::to_string)
    })
}

/// The digital source type of `manifest` or, for an edit, of its nearest parent that has one.
fn source_type_in_chain(reader: &Reader, manifest: &::c2pa::Manifest) -> Option<String> {
    let mut current = manifest;
    for _ in 0..MAX_PARENT_DEPTH {
        if let Some(t) = source_type_of(current) {
            return Some(t);
        }
        let label = current.parent()?.active_manifest()?;
        current = reader.get_manifest(label)?;
    }
    None
}

// ---------------------------------------------------------------------------------------------
// PEM and DER, just enough to find the key type and hand c2pa a PKCS#8 key.

/// Every `-----BEGIN X-----` … `-----END X-----` block as (label, DER), ignoring text around
/// them (test keys carry a warning line before the block).
fn pem_blocks(text: &str) -> Result<Vec<(String, Vec<u8>)>, String> {
    let mut out = Vec::new();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        let Some(label) = line
            .trim()
            .strip_prefix("-----BEGIN ")
            .and_then(|l| l.strip_suffix("-----"))
        else {
            continue;
        };
        let end = format!("-----END {label}-----");
        let mut body = String::new();
        let mut closed = false;
        for l in lines.by_ref() {
            if l.trim() == end {
                closed = true;
                break;
            }
            if l.contains(':') {
                // RFC 1421 headers (Proc-Type, DEK-Info) mark an encrypted legacy key.
                return Err(format!(
                    "the {label} block is encrypted; decrypt it first (openssl pkcs8 -topk8 -nocrypt)"
                ));
            }
            body.push_str(l.trim());
        }
        if !closed {
            return Err(format!("the {label} block has no END line"));
        }
        let der =
            base64_decode(&body).ok_or_else(|| format!("the {label} block is not valid base64"))?;
        out.push((label.to_string(), der));
    }
    Ok(out)
}

fn private_key_pkcs8(text: &str) -> Result<(KeyKind, Vec<u8>), String> {
    let blocks = pem_blocks(text)?;
    let Some((label, der)) = blocks.into_iter().find(|(l, _)| l.ends_with("PRIVATE KEY")) else {
        return Err("no PRIVATE KEY block; give the private key in PEM".into());
    };
    match label.as_str() {
        "PRIVATE KEY" => Ok((pkcs8_kind(&der)?, der)),
        "EC PRIVATE KEY" => {
            let (kind, curve_oid) = sec1_curve(&der)?;
            // PKCS#8 wrapper: version 0, {id-ecPublicKey, curve}, OCTET STRING(SEC1 key).
            let alg = der_tlv(
                0x30,
                &[der_tlv(0x06, OID_EC_PUBLIC_KEY), der_tlv(0x06, &curve_oid)].concat(),
            );
            Ok((
                kind,
                der_tlv(
                    0x30,
                    &[der_tlv(0x02, &[0]), alg, der_tlv(0x04, &der)].concat(),
                ),
            ))
        }
        "RSA PRIVATE KEY" => {
            let alg = der_tlv(0x30, &[der_tlv(0x06, OID_RSA), der_tlv(0x05, &[])].concat());
            Ok((
                KeyKind::Rsa,
                der_tlv(
                    0x30,
                    &[der_tlv(0x02, &[0]), alg, der_tlv(0x04, &der)].concat(),
                ),
            ))
        }
        "ENCRYPTED PRIVATE KEY" => {
            Err("the key is encrypted; decrypt it first (openssl pkcs8 -topk8 -nocrypt)".into())
        }
        other => Err(format!("unsupported key block {other:?}")),
    }
}

const OID_EC_PUBLIC_KEY: &[u8] = &[0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x02, 0x01];
const OID_P256: &[u8] = &[0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x03, 0x01, 0x07];
const OID_P384: &[u8] = &[0x2B, 0x81, 0x04, 0x00, 0x22];
const OID_P521: &[u8] = &[0x2B, 0x81, 0x04, 0x00, 0x23];
const OID_ED25519: &[u8] = &[0x2B, 0x65, 0x70];
const OID_RSA: &[u8] = &[0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x01, 0x01];
const OID_RSA_PSS: &[u8] = &[0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x01, 0x0A];

fn curve_kind(oid: &[u8]) -> Result<KeyKind, String> {
    match oid {
        OID_P256 => Ok(KeyKind::P256),
        OID_P384 => Ok(KeyKind::P384),
        OID_P521 => Ok(KeyKind::P521),
        _ => Err("EC key on a curve C2PA does not allow (use P-256, P-384 or P-521)".into()),
    }
}

/// PrivateKeyInfo ::= SEQUENCE { version, AlgorithmIdentifier { algorithm, parameters }, … }.
fn pkcs8_kind(der: &[u8]) -> Result<KeyKind, String> {
    let bad = || "not a PKCS#8 private key".to_string();
    let (tag, info, _) = der_read(der).ok_or_else(bad)?;
    if tag != 0x30 {
        return Err(bad());
    }
    let (_, _, rest) = der_read(info).ok_or_else(bad)?; // version
    let (tag, alg_id, _) = der_read(rest).ok_or_else(bad)?;
    if tag != 0x30 {
        return Err(bad());
    }
    let (tag, oid, params) = der_read(alg_id).ok_or_else(bad)?;
    if tag != 0x06 {
        return Err(bad());
    }
    match oid {
        OID_EC_PUBLIC_KEY => {
            let (tag, curve, _) = der_read(params).ok_or_else(bad)?;
            if tag != 0x06 {
                return Err("EC key without a named curve".into());
            }
            curve_kind(curve)
        }
        OID_ED25519 => Ok(KeyKind::Ed25519),
        OID_RSA | OID_RSA_PSS => Ok(KeyKind::Rsa),
        _ => Err(
            "unsupported key algorithm (C2PA signs with EC P-256/384/521, Ed25519 or RSA)".into(),
        ),
    }
}

/// ECPrivateKey ::= SEQUENCE { version 1, privateKey OCTET STRING, [0] curve OID, [1] … }.
fn sec1_curve(der: &[u8]) -> Result<(KeyKind, Vec<u8>), String> {
    let bad = || "not a SEC1 EC private key".to_string();
    let (tag, seq, _) = der_read(der).ok_or_else(bad)?;
    if tag != 0x30 {
        return Err(bad());
    }
    let (_, _, rest) = der_read(seq).ok_or_else(bad)?; // version
    let (_, _, mut rest) = der_read(rest).ok_or_else(bad)?; // key
    while !rest.is_empty() {
        let (tag, content, next) = der_read(rest).ok_or_else(bad)?;
        if tag == 0xA0 {
            let (tag, oid, _) = der_read(content).ok_or_else(bad)?;
            if tag == 0x06 {
                return Ok((curve_kind(oid)?, oid.to_vec()));
            }
        }
        rest = next;
    }
    Err("the EC key does not name its curve; convert it with openssl pkcs8 -topk8 -nocrypt".into())
}

/// One DER TLV: (tag, content, rest). Single-byte tags, definite lengths up to 4 bytes.
fn der_read(data: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = data.split_first()?;
    let (&first, mut rest) = rest.split_first()?;
    let len = if first < 0x80 {
        usize::from(first)
    } else {
        let n = usize::from(first & 0x7F);
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let len = rest[..n]
            .iter()
            .fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
        rest = &rest[n..];
        len
    };
    if rest.len() < len {
        return None;
    }
    Some((tag, &rest[..len], &rest[len..]))
}

fn der_tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = content.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|&&b| b == 0).count();
        out.push(0x80 | (bytes.len() - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
    out.extend_from_slice(content);
    out
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

fn base64_decode(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let mut acc = 0u32;
    let mut bits = 0u32;
    for c in text.bytes().filter(|c| !c.is_ascii_whitespace()) {
        if c == b'=' {
            break;
        }
        let v = B64.iter().position(|&b| b == c)? as u32;
        acc = (acc << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

fn to_pem(label: &str, der: &[u8]) -> String {
    let mut b64 = String::with_capacity(der.len() * 4 / 3 + 4);
    for chunk in der.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, &b)| acc | (u32::from(b) << (16 - 8 * i)));
        for i in 0..4 {
            if i <= chunk.len() {
                b64.push(B64[((n >> (18 - 6 * i)) & 0x3F) as usize] as char);
            } else {
                b64.push('=');
            }
        }
    }
    let mut pem = format!("-----BEGIN {label}-----\n");
    for line in b64.as_bytes().chunks(64) {
        pem.push_str(&String::from_utf8_lossy(line));
        pem.push('\n');
    }
    pem.push_str(&format!("-----END {label}-----\n"));
    pem
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::format::{self, SitePayload};
    use crate::test_support::test_data;
    use crate::{
        AigcClass, ImplicitLabel, InspectOptions, LabelRequest, LabelSigner, PropagateRequest,
        SignatureStatus, Verdict, generate_key_pair, inspect_file, label_file, propagate_file,
    };

    const PRODUCER: &str = "001191440300708461136T1XGW3";
    const PROPAGATOR: &str = "001191110102MACQD9K64028705";

    fn test_signer() -> C2paSigner {
        C2paSigner::from_pem_files(
            &test_data("c2pa-test-es256.pem"),
            &test_data("c2pa-test-es256.key"),
            None,
        )
        .unwrap()
    }

    /// A small image of `format` made with the `image` crate.
    fn image_fixture(dir: &Path, name: &str, format: image::ImageFormat) -> PathBuf {
        let img = image::RgbImage::from_fn(64, 48, |x, y| {
            image::Rgb([(x * 4) as u8, (y * 5) as u8, ((x + y) * 2) as u8])
        });
        let path = dir.join(name);
        img.save_with_format(&path, format).unwrap();
        path
    }

    /// (name, format, path) of a fresh copy of each fixture in `dir`.
    fn fixtures(dir: &Path, names: &[&str]) -> Vec<(String, Format, PathBuf)> {
        names
            .iter()
            .map(|&name| {
                let path = match name {
                    "png" => image_fixture(dir, "in.png", image::ImageFormat::Png),
                    "jpeg" => image_fixture(dir, "in.jpg", image::ImageFormat::Jpeg),
                    "gif" => image_fixture(dir, "in.gif", image::ImageFormat::Gif),
                    "tiff" => image_fixture(dir, "in.tif", image::ImageFormat::Tiff),
                    other => {
                        let file = match other {
                            "webp" => "webp-lossy.webp",
                            "webp-alpha" => "webp-lossy-alpha.webp",
                            "webp-anim" => "webp-anim.webp",
                            "mp4-fragmented" => "bmff-fragmented.mp4",
                            "mp4" => "bmff-faststart.mp4",
                            "mp4-moovlast" => "bmff-moovlast.mp4",
                            "mov" => "bmff-faststart.mov",
                            "m4a" => "bmff-audio.m4a",
                            "heic" => "bmff-xmp.heic",
                            "avif" => "bmff-tiny.avif",
                            "wav" => "wav-pcm.wav",
                            "mp3" => "mp3-id3v23.mp3",
                            "mp3-v24" => "mp3-id3v24.mp3",
                            "mp3-plain" => "mp3-plain.mp3",
                            "flac" => "flac-plain.flac",
                            "ogg" => "ogg-vorbis.ogg",
                            _ => panic!("no fixture {other}"),
                        };
                        let to = dir.join(format!("in-{file}"));
                        std::fs::copy(test_data(file), &to).unwrap();
                        to
                    }
                };
                let format = crate::ops::open(&path).unwrap().format.unwrap();
                (name.to_string(), format, path)
            })
            .collect()
    }

    fn gb_label(path: &Path, signer: &LabelSigner) -> ImplicitLabel {
        let req = LabelRequest {
            producer: PRODUCER.into(),
            produce_id: None,
            class: AigcClass::Is,
            signer: Some(signer.clone()),
            explicit: None,
        };
        label_file(path, path, &req).unwrap().label
    }

    /// G1/G3 on the GB side: the inspector sees exactly the label written, at one site, with its
    /// SM2 signatures still valid; for XMP formats the packet still holds `TC260:AIGC`.
    fn assert_gb_intact(what: &str, path: &Path, format: Format, expected: &ImplicitLabel) {
        let report = inspect_file(path, &InspectOptions::default()).unwrap();
        assert_eq!(report.verdict, Verdict::Labeled, "{what}: {report:?}");
        assert_eq!(report.sites.len(), 1, "{what}: {:?}", report.sites);
        assert_eq!(report.label.as_ref(), Some(expected), "{what}");
        assert_eq!(
            report.signature,
            SignatureStatus::Valid,
            "{what}: {report:?}"
        );
        let mut f = BufReader::new(File::open(path).unwrap());
        let scan = format::scan(format, &mut f).unwrap();
        for site in &scan.sites {
            if let SitePayload::Xmp(packet) = &site.payload {
                let labels = crate::xmp::find_labels(packet);
                assert_eq!(labels.len(), 1, "{what}: {packet}");
                assert!(labels[0].conforming_namespace, "{what}");
                assert_eq!(
                    ImplicitLabel::parse(&labels[0].value)
                        .ok()
                        .map(|p| p.label)
                        .as_ref(),
                    Some(expected),
                    "{what}"
                );
            }
        }
    }

    fn assert_valid(what: &str, status: &C2paStatus) {
        assert!(status.present, "{what}: {status:?}");
        assert_eq!(status.valid, Some(true), "{what}: {status:?}");
        assert!(status.failures.is_empty(), "{what}: {status:?}");
        assert_eq!(status.validation_state.as_deref(), Some("Valid"), "{what}");
        assert_eq!(
            status.digital_source_type.as_deref(),
            Some(TRAINED_ALGORITHMIC_MEDIA),
            "{what}"
        );
        // The test chain is not on any trust list: reported, not failed.
        assert!(
            status.notes.iter().any(|n| n.starts_with(UNTRUSTED)),
            "{what}: {:?}",
            status.notes
        );
    }

    /// G1 + G3: GB label first, then C2PA; both readers are satisfied.
    fn g1(names: &[&str]) {
        let dir = tempfile::tempdir().unwrap();
        let gb = LabelSigner::from_pem(&generate_key_pair().unwrap().private_pem).unwrap();
        let signer = test_signer();
        for (name, format, path) in fixtures(dir.path(), names) {
            let label = gb_label(&path, &gb);
            let out = dir.path().join(format!("signed-{name}"));
            let report = sign_created(&path, &out, format, &signer)
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_valid(&name, &report.status);
            assert_eq!(report.status.actions, ["c2pa.created"], "{name}");
            assert!(report.status.ingredients.is_empty(), "{name}");
            assert!(report.parent.is_none());
            assert!(report.manifest_bytes > 1000, "{name}: {report:?}");
            assert_valid(&name, &read(&out, format));
            assert_gb_intact(&name, &out, format, &label);
        }
    }

    #[test]
    fn ds18_c2pa_g1_gb_label_then_c2pa_valid() {
        g1(&["png", "jpeg", "webp", "mp4", "wav", "mp3"]);
    }

    #[test]
    fn ds18_c2pa_g1_other_formats_c2pa_supports() {
        g1(&[
            "gif",
            "webp-alpha",
            "webp-anim",
            "mov",
            "m4a",
            "mp4-moovlast",
            "mp4-fragmented",
            "mp3-v24",
            "mp3-plain",
        ]);
    }

    #[test]
    fn ds18_c2pa_g2_editing_gb_label_breaks_c2pa() {
        let dir = tempfile::tempdir().unwrap();
        let gb = LabelSigner::from_pem(&generate_key_pair().unwrap().private_pem).unwrap();
        let signer = test_signer();
        for (name, format, path) in
            fixtures(dir.path(), &["png", "jpeg", "webp", "mp4", "wav", "mp3"])
        {
            gb_label(&path, &gb);
            let signed = dir.path().join(format!("signed-{name}"));
            let first = sign_created(&path, &signed, format, &signer).unwrap();
            let first_label = first.status.active_manifest.clone().unwrap();

            // A platform fills the propagator fields in place: the hard binding breaks (G2).
            let req = PropagateRequest {
                propagator: PROPAGATOR.into(),
                propagate_id: None,
                basis: None,
                signer: None,
            };
            let propagated = propagate_file(&signed, &signed, &req).unwrap();
            let broken = read(&signed, format);
            assert!(
                broken.present,
                "{name}: the C2PA store must survive propagation"
            );
            assert_eq!(broken.valid, Some(false), "{name}: {broken:?}");
            assert_eq!(
                broken.validation_state.as_deref(),
                Some("Invalid"),
                "{name}"
            );
            assert!(
                broken.failures.iter().any(|f| f.ends_with("Hash.mismatch")),
                "{name}: {:?}",
                broken.failures
            );

            // Re-sign: a new manifest with the earlier one as parent validates again.
            let resigned = dir.path().join(format!("resigned-{name}"));
            let report = sign_propagated(&signed, &resigned, format, &signer)
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(
                report.parent.as_deref(),
                Some(first_label.as_str()),
                "{name}"
            );
            let status = read(&resigned, format);
            assert_valid(&name, &status);
            assert_ne!(
                status.active_manifest.as_ref(),
                Some(&first_label),
                "{name}"
            );
            assert_eq!(
                status.actions,
                ["c2pa.opened", "c2pa.edited.metadata", "c2pa.published"],
                "{name}"
            );
            assert_eq!(status.ingredients.len(), 1, "{name}: {status:?}");
            assert_eq!(status.ingredients[0].relationship, "parentOf");
            assert_eq!(status.ingredients[0].manifest.as_ref(), Some(&first_label));
            assert!(
                status.ingredients[0]
                    .recorded_failures
                    .iter()
                    .any(|f| f.ends_with("Hash.mismatch")),
                "{name}: {:?}",
                status.ingredients[0]
            );
            // The GB label (now with the propagator) is untouched by the re-sign.
            let report = inspect_file(&resigned, &InspectOptions::default()).unwrap();
            assert_eq!(report.verdict, Verdict::Labeled, "{name}: {report:?}");
            assert_eq!(report.sites.len(), 1, "{name}");
            assert_eq!(report.label.as_ref(), Some(&propagated.label), "{name}");
            assert_eq!(report.label.unwrap().content_propagator, PROPAGATOR);
        }
    }

    #[test]
    fn ds18_c2pa_g2_propagated_without_earlier_manifest_is_created_and_published() {
        let dir = tempfile::tempdir().unwrap();
        let (_, format, path) = fixtures(dir.path(), &["png"]).remove(0);
        let gb = LabelSigner::from_pem(&generate_key_pair().unwrap().private_pem).unwrap();
        gb_label(&path, &gb);
        let out = dir.path().join("out.png");
        let report = sign_propagated(&path, &out, format, &test_signer()).unwrap();
        assert!(report.parent.is_none());
        assert_valid("png", &report.status);
        assert_eq!(report.status.actions, ["c2pa.created", "c2pa.published"]);
        assert!(report.status.ingredients.is_empty());
    }

    #[test]
    fn ds18_c2pa_sign_created_refuses_to_drop_an_existing_manifest() {
        let dir = tempfile::tempdir().unwrap();
        let (_, format, path) = fixtures(dir.path(), &["jpeg"]).remove(0);
        let signer = test_signer();
        let once = dir.path().join("once.jpg");
        sign_created(&path, &once, format, &signer).unwrap();
        let twice = dir.path().join("twice.jpg");
        let err = sign_created(&once, &twice, format, &signer).unwrap_err();
        assert!(matches!(err, C2paError::HasManifest { .. }), "{err}");
    }

    #[test]
    fn c2pa_read_of_plain_and_unsupported_files() {
        let dir = tempfile::tempdir().unwrap();
        let plain = [
            "png", "jpeg", "gif", "tiff", "heic", "mp4", "wav", "mp3", "flac", "ogg",
        ];
        for (name, format, path) in fixtures(dir.path(), &plain) {
            let status = read(&path, format);
            assert!(!status.present, "{name}: {status:?}");
            assert_eq!(status.valid, None, "{name}");
            assert!(status.failures.is_empty(), "{name}");
        }
        let (_, format, ogg) = fixtures(dir.path(), &["ogg"]).remove(0);
        assert!(read(&ogg, format).notes[0].contains("does not read"));
        // TIFF and HEIF are refused with the reason; nothing is written.
        for name in ["ogg", "tiff", "heic", "avif", "flac"] {
            let (_, format, path) = fixtures(dir.path(), &[name]).remove(0);
            let out = dir.path().join(format!("o-{name}"));
            let err = sign_created(&path, &out, format, &test_signer()).unwrap_err();
            assert!(
                matches!(&err, C2paError::Unsupported { format: f, .. } if *f == format),
                "{err}"
            );
            assert!(!out.exists(), "{name}");
        }
        // Garbage, truncated and missing inputs never panic; unknown is not reported as absent
        // silently.
        let junk = dir.path().join("junk.png");
        std::fs::write(&junk, b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR").unwrap();
        let status = read(&junk, Format::Png);
        assert!(!status.present && status.valid.is_none());
        assert!(status.notes[0].contains("could not parse"), "{status:?}");
        let status = read(&dir.path().join("missing.png"), Format::Png);
        assert!(!status.present && status.notes[0].contains("cannot open"));
    }

    #[test]
    fn c2pa_truncated_signed_file_is_not_valid() {
        let dir = tempfile::tempdir().unwrap();
        let signer = test_signer();
        for (name, format, path) in fixtures(dir.path(), &["png", "jpeg", "mp4", "wav", "mp3"]) {
            let signed = dir.path().join(format!("signed-{name}"));
            sign_created(&path, &signed, format, &signer).unwrap();
            let bytes = std::fs::read(&signed).unwrap();
            for cut in [bytes.len() - 1, bytes.len() * 3 / 4, bytes.len() / 2, 40] {
                let t = dir.path().join(format!("cut-{name}"));
                std::fs::write(&t, &bytes[..cut]).unwrap();
                let status = read(&t, format);
                assert_ne!(status.valid, Some(true), "{name} cut at {cut}: {status:?}");
            }
        }
    }

    #[test]
    fn c2pa_same_path_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let (_, format, path) = fixtures(dir.path(), &["png"]).remove(0);
        let before = std::fs::read(&path).unwrap();
        let err = sign_created(&path, &path, format, &test_signer()).unwrap_err();
        assert!(matches!(err, C2paError::SamePath { .. }), "{err}");
        assert_eq!(std::fs::read(&path).unwrap(), before);
    }

    #[test]
    fn c2pa_signer_detects_and_checks_the_algorithm() {
        let cert = std::fs::read(test_data("c2pa-test-es256.pem")).unwrap();
        let key = std::fs::read(test_data("c2pa-test-es256.key")).unwrap();
        assert_eq!(
            C2paSigner::from_pem(&cert, &key, None).unwrap().algorithm(),
            "es256"
        );
        assert_eq!(
            C2paSigner::from_pem(&cert, &key, Some("ES256"))
                .unwrap()
                .algorithm(),
            "es256"
        );
        for bad in ["ed25519", "ps256", "es384", "sm2"] {
            let err = C2paSigner::from_pem(&cert, &key, Some(bad)).unwrap_err();
            assert!(matches!(err, C2paError::Algorithm { .. }), "{bad}: {err}");
        }
        let err = C2paSigner::from_pem(b"", &key, None).unwrap_err();
        assert!(matches!(err, C2paError::Key { .. }), "{err}");
        let err = C2paSigner::from_pem(&cert, &cert, None).unwrap_err();
        assert!(err.to_string().contains("PRIVATE KEY"), "{err}");
        let err = C2paSigner::from_pem_files(Path::new("/nonexistent.pem"), Path::new("k"), None)
            .unwrap_err();
        assert!(matches!(err, C2paError::Io { .. }), "{err}");

        // The same key as SEC1 `EC PRIVATE KEY` (what `openssl ecparam -genkey` writes): the
        // PKCS#8 body wraps a SEC1 key without the curve, so add `[0] prime256v1` back.
        let (_, pkcs8) = private_key_pkcs8(&String::from_utf8_lossy(&key)).unwrap();
        let (_, info, _) = der_read(&pkcs8).unwrap();
        let (_, _, rest) = der_read(info).unwrap();
        let (_, _, rest) = der_read(rest).unwrap();
        let (_, sec1, _) = der_read(rest).unwrap();
        let (_, fields, _) = der_read(sec1).unwrap();
        let (_, _, after_version) = der_read(fields).unwrap();
        let (_, _, after_key) = der_read(after_version).unwrap();
        let head = &fields[..fields.len() - after_key.len()];
        let with_curve = [head, &der_tlv(0xA0, &der_tlv(0x06, OID_P256)), after_key].concat();
        let sec1_pem = to_pem("EC PRIVATE KEY", &der_tlv(0x30, &with_curve));
        let signer = C2paSigner::from_pem(&cert, sec1_pem.as_bytes(), None).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let (_, format, path) = fixtures(dir.path(), &["png"]).remove(0);
        let out = dir.path().join("sec1.png");
        sign_created(&path, &out, format, &signer).unwrap();
    }

    #[test]
    fn c2pa_invalid_credentials_fail_the_read_back() {
        // The intermediate CA certificate as the signing certificate with the leaf's key: a CA
        // certificate may not sign claims and the key does not match it either.
        let chain = std::fs::read_to_string(test_data("c2pa-test-es256.pem")).unwrap();
        let blocks = pem_blocks(&chain).unwrap();
        let ca_only = to_pem("CERTIFICATE", &blocks[1].1);
        let key = std::fs::read(test_data("c2pa-test-es256.key")).unwrap();
        let signer = C2paSigner::from_pem(ca_only.as_bytes(), &key, None).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let (_, format, path) = fixtures(dir.path(), &["png"]).remove(0);
        let err = sign_created(&path, &dir.path().join("bad.png"), format, &signer).unwrap_err();
        assert!(
            matches!(err, C2paError::ReadBack { .. } | C2paError::Sdk { .. }),
            "{err}"
        );
    }

    #[test]
    fn c2pa_trust_anchor_makes_the_test_chain_trusted() {
        let dir = tempfile::tempdir().unwrap();
        let (_, format, path) = fixtures(dir.path(), &["png"]).remove(0);
        let out = dir.path().join("t.png");
        sign_created(&path, &out, format, &test_signer()).unwrap();
        let root = std::fs::read_to_string(test_data("c2pa-test-root.pem")).unwrap();
        let status = read_with_trust_anchors(&out, format, Some(&root));
        assert_eq!(
            status.validation_state.as_deref(),
            Some("Trusted"),
            "{status:?}"
        );
        assert_eq!(status.valid, Some(true));
        assert!(!status.notes.iter().any(|n| n.starts_with(UNTRUSTED)));
    }

    #[test]
    fn c2pa_pem_helpers_round_trip() {
        for len in 0..70 {
            let data: Vec<u8> = (0..len).map(|i| (i * 37 + 11) as u8).collect();
            let pem = to_pem("X", &data);
            assert_eq!(pem_blocks(&pem).unwrap(), vec![("X".to_string(), data)]);
        }
        assert_eq!(
            der_read(&der_tlv(0x04, &[7u8; 300])).unwrap().1,
            &[7u8; 300][..]
        );
        assert!(der_read(&[0x30, 0x84, 0xFF, 0xFF, 0xFF, 0xFF]).is_none());
        assert!(pem_blocks("-----BEGIN X-----\nAAAA\n").is_err());
    }

    /// What a real decoder makes of `path`: ImageMagick's pixel signature for images, ffmpeg's
    /// MD5 of every decoded stream for audio and video.
    fn decoded(path: &Path, format: Format, convert: &Path, ffmpeg: &Path) -> String {
        let out = if matches!(
            format,
            Format::Png | Format::Jpeg | Format::WebP | Format::Gif
        ) {
            std::process::Command::new(convert)
                .arg(path)
                .args(["-quiet", "-format", "%#\\n", "info:"])
                .output()
                .unwrap()
        } else {
            std::process::Command::new(ffmpeg)
                .args(["-v", "error", "-i"])
                .arg(path)
                .args(["-map", "0", "-f", "md5", "-"])
                .output()
                .unwrap()
        };
        assert!(
            out.status.success(),
            "{}: {}",
            path.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// The signed file decodes to exactly what the GB-labelled input decodes to (the manifest
    /// is metadata only), checked with ImageMagick and ffmpeg.
    #[test]
    fn ds18_c2pa_signed_files_decode_like_their_input() {
        let (Some(convert), Some(ffmpeg)) = (
            crate::test_support::tool("convert"),
            crate::test_support::tool("ffmpeg"),
        ) else {
            return;
        };
        let dir = tempfile::tempdir().unwrap();
        let signer = test_signer();
        let all = [
            "png",
            "jpeg",
            "gif",
            "webp",
            "webp-alpha",
            "mp4",
            "mp4-moovlast",
            "mp4-fragmented",
            "mov",
            "m4a",
            "wav",
            "mp3",
            "mp3-plain",
        ];
        for (name, format, path) in fixtures(dir.path(), &all) {
            let req = LabelRequest {
                producer: PRODUCER.into(),
                produce_id: None,
                class: AigcClass::Is,
                signer: None,
                explicit: None,
            };
            label_file(&path, &path, &req).unwrap();
            let out = dir.path().join(format!("signed-{name}"));
            sign_created(&path, &out, format, &signer).unwrap();
            let before = decoded(&path, format, &convert, &ffmpeg);
            assert!(!before.is_empty(), "{name}");
            assert_eq!(decoded(&out, format, &convert, &ffmpeg), before, "{name}");
        }
    }

    /// Optional interop: c2patool (not installed by default, and not a CI tool) reads our
    /// manifest as valid with the trainedAlgorithmicMedia source type.
    #[test]
    fn ds18_c2pa_g1_c2patool_cross_check() {
        let found = std::process::Command::new("sh")
            .args(["-c", "command -v c2patool"])
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false);
        if !found {
            eprintln!("skipping: c2patool not on PATH (optional)");
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let signer = test_signer();
        for (name, format, path) in
            fixtures(dir.path(), &["png", "jpeg", "webp", "mp4", "wav", "mp3"])
        {
            let out = dir.path().join(format!("signed-{name}.{}", format.name()));
            sign_created(&path, &out, format, &signer).unwrap();
            let o = std::process::Command::new("c2patool")
                .arg(&out)
                .output()
                .unwrap();
            let text = String::from_utf8_lossy(&o.stdout);
            assert!(o.status.success(), "{name}: {text}");
            assert!(text.contains("trainedAlgorithmicMedia"), "{name}: {text}");
            assert!(!text.contains("Hash.mismatch"), "{name}: {text}");
        }
    }
}
