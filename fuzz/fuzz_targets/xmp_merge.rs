//! Fuzz target: XMP find and merge never panic, and a merged packet holds exactly one label.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = hegui_label::xmp::find_labels(text);
        if let Ok(merged) = hegui_label::xmp::merge_label(Some(text), hegui_fuzz::LABEL) {
            let found = hegui_label::xmp::find_labels(&merged);
            assert_eq!(found.len(), 1);
        }
    }
});
