//! Fuzz target: folding is idempotent and every folded character maps into the original.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let once = hegui_guard::normalize::fold(&text);
    assert_eq!(hegui_guard::normalize::fold(&once), once);
    let n = text.chars().count() as u32;
    for f in hegui_guard::normalize::fold_with_map(&text) {
        assert!(f.origin < n);
    }
});
