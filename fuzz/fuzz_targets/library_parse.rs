//! Fuzz target: the library parser never panics, and what it accepts round-trips.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(lib) = hegui_guard::FeatureLibrary::parse(text) {
        let again = hegui_guard::FeatureLibrary::parse(&lib.to_jsonl()).expect("own output parses");
        assert_eq!(again, lib);
    }
});
