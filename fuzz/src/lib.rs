//! Shared bodies of the fuzz targets: readers never panic on any bytes, and whenever a write
//! succeeds, the result reads back as exactly one label site holding the label written.

use hegui_label::format::{Format, scan_bytes, write_bytes};
use hegui_label::sites::labels_in;

/// A valid label used by the round-trip checks.
pub const LABEL: &str = r#"{"Label":"1","ContentProducer":"001191440300708461136T1XGW3","ProduceID":"fuzz","ReservedCode1":"","ContentPropagator":"","PropagateID":"","ReservedCode2":""}"#;

/// Reads `data` as `format`; if a label can be written into it, checks the round trip.
pub fn read_and_roundtrip(format: Format, data: &[u8]) {
    let Ok(scan) = scan_bytes(format, data) else {
        return;
    };
    let _ = labels_in(&scan);
    if let Ok(out) = write_bytes(format, data, LABEL) {
        let back = scan_bytes(format, &out).expect("a file hegui wrote must scan");
        let found = labels_in(&back);
        assert_eq!(found.len(), 1, "exactly one label site after a write");
        let label = found[0].label().expect("the written label parses");
        assert_eq!(label.to_json_unchecked(), LABEL);
    }
}
