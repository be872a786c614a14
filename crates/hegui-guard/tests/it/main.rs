//! Integration tests of the moderation engine: the evasion suite over the shipped library, the
//! clean corpus, stream = batch for any chunking, the crisis detector's labelled set, and the
//! library workflow end to end.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod clean;
mod crisis_eval;
mod duties;
mod evasion;
mod stream;
mod support;
