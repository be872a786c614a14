//! Fuzz target: the webp reader never panics, and writes read back as one site.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    hegui_fuzz::read_and_roundtrip(hegui_label::Format::WebP, data)
});
