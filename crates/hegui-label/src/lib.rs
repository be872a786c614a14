//! GB 45438-2025 implicit labels (隐式标识) for AI-generated files: write, read, sign, inspect and
//! propagate them in images, audio, video and documents.
//!
//! Start with [`label_file`] (a generation service labels its output, DS-16), [`propagate_file`]
//! (a platform adds its members, Labelling Measures art. 6) and [`inspect_file`] (a platform
//! checks an upload). The per-format placements live in [`format`]; the Annex E value type is
//! [`ImplicitLabel`]; signatures are in [`security`].
//!
//! This crate knows nothing of HTTP, async runtimes or databases; it does plain file IO. It never
//! modifies an input in place except through an atomic rename, its readers never panic on any
//! bytes, and it has no operation that removes or blanks a label.

#[cfg(feature = "c2pa")]
pub mod c2pa;
pub mod explicit;
pub mod format;
pub mod fs;
pub mod inspect;
pub mod label;
pub mod ops;
pub mod provider;
pub mod security;
pub mod sites;
pub mod xmp;

pub use format::Format;
pub use inspect::{InspectOptions, Inspection, SignatureStatus, Verdict, inspect_file};
pub use label::{AigcClass, ImplicitLabel, LabelError};
pub use ops::{
    Error, LabelRequest, PropagateRequest, Propagated, PropagationBasis, Written, label_file,
    new_content_id, propagate_file,
};
pub use security::{LabelSigner, LabelVerifier, generate_key_pair};

#[cfg(test)]
pub(crate) mod test_support;
