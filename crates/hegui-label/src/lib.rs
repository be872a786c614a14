//! GB 45438-2025 implicit labels (隐式标识) for AI-generated files.
//!
//! Being written.

pub mod format;
pub mod label;
pub mod provider;
pub mod security;
pub mod xmp;

#[cfg(test)]
pub(crate) mod test_support;
