//! Integration tests of the gateway over HTTP, against a fake upstream.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod audit;
mod chat;
mod companion;
mod identity;
mod media;
mod moderation;
mod openai_py;
mod postgres;
mod support;
