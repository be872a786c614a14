//! Fuzz target: any sequence of upstream stream events is relayed or refused, never a panic,
//! and whatever is sent is built only from checked text.
#![no_main]
use hegui_guard::Matcher;
use std::sync::OnceLock;

fn matcher() -> &'static Matcher {
    static M: OnceLock<Matcher> = OnceLock::new();
    M.get_or_init(|| Matcher::build(hegui_guard::default_library()).expect("default library builds"))
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let mut relay = hegui_gateway::relay::Relay::new(matcher(), true, None, None);
    for line in text.lines() {
        let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else { continue };
        match relay.chunk(&v) {
            Ok(out) if out.blocked => return,
            Ok(_) => {}
            Err(_) => return,
        }
    }
    let _ = relay.end();
    let _ = relay.decisions();
});
