//! End-to-end tests of the public API over every fixture format: label, relabel, propagate,
//! sign, tamper, truncate. One integration binary (matklad's "delete cargo integration tests").
//!
//! Fixtures are the committed files under `test_data/` (one or more per format, made with the
//! real encoders) plus PNG, JPEG, GIF and TIFF images generated here with the `image` crate.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod fixtures;
mod mutations;
mod propagate;
mod roundtrip;
mod signatures;
mod truncated;
