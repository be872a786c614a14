//! Fuzz target: request bodies from untrusted clients are parsed or refused, never a panic.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let body = axum::body::Bytes::copy_from_slice(data);
    if let Ok(v) = hegui_gateway::chat::parse_body(Ok(body)) {
        for m in v["messages"].as_array().into_iter().flatten() {
            let _ = hegui_gateway::chat::content_text(&m["content"]);
        }
    }
});
