//! Helpers for the crate's own tests: sample labels and third-party tool discovery.
//!
//! Interop tests call real tools (exiftool, ffprobe, qpdf …). The README's test command installs
//! them; when a tool is missing a test prints why it skipped, unless `HEGUI_REQUIRE_TOOLS=1`
//! (set by CI), in which case a missing tool fails the test instead of hiding it.

#![allow(clippy::unwrap_used)]

use std::path::PathBuf;
use std::process::Command;

/// A valid bare label JSON (Annex E order, producer fields filled).
pub(crate) const SAMPLE_LABEL: &str = r#"{"Label":"1","ContentProducer":"001191440300708461136T1XGW3","ProduceID":"16b7bc9fc94e20a3_87f202bb","ReservedCode1":"","ContentPropagator":"","PropagateID":"","ReservedCode2":""}"#;

/// A second, different valid label (as after propagation).
pub(crate) const SAMPLE_LABEL_2: &str = r#"{"Label":"1","ContentProducer":"001191440300708461136T1XGW3","ProduceID":"16b7bc9fc94e20a3_87f202bb","ReservedCode1":"","ContentPropagator":"001191110102MACQD9K64028705","PropagateID":"7642551196644884771","ReservedCode2":""}"#;

/// Finds `name` on PATH. `None` means the caller should skip (or fail under CI).
pub(crate) fn tool(name: &str) -> Option<PathBuf> {
    // Debian's own binary first: some machines shadow tools in /usr/local/bin (e.g. a `convert`
    // stand-in that is not ImageMagick).
    let debian = PathBuf::from("/usr/bin").join(name);
    if debian.is_file() {
        return Some(debian);
    }
    let found = Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {name}"))
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim().to_string()));
    if found.is_none() {
        if std::env::var_os("HEGUI_REQUIRE_TOOLS").is_some() {
            panic!("{name} is required (HEGUI_REQUIRE_TOOLS is set) but not on PATH");
        }
        eprintln!("skipping: {name} not on PATH (the README's test command installs it)");
    }
    found
}

/// Path of a file under `crates/hegui-label/test_data/`.
pub(crate) fn test_data(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("test_data")
        .join(name)
}

/// The exiftool config that teaches it the TC260 namespace.
pub(crate) fn exiftool_config() -> PathBuf {
    test_data("exiftool-tc260.config")
}
