//! Fuzz target: the tolerant Annex E reader never panics, and what the strict writer accepts
//! reads back equal.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(parsed) = hegui_label::ImplicitLabel::parse(text) {
            if let Ok(json) = parsed.label.to_json() {
                let back = hegui_label::ImplicitLabel::parse(&json).expect("own output parses");
                assert_eq!(back.label, parsed.label);
            }
        }
    }
});
