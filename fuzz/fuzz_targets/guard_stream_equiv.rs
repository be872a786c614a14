//! Fuzz target: for any text and any chunking, the streaming check equals the batch check, and
//! nothing from a blocking phrase on is released. The first byte picks the chunk size.
#![no_main]
use hegui_guard::{Action, Context, Matcher};
use std::sync::LazyLock;

static MATCHER: LazyLock<Matcher> =
    LazyLock::new(|| Matcher::build(hegui_guard::default_library()).expect("default library builds"));

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Some((&k, rest)) = data.split_first() else { return };
    let text = String::from_utf8_lossy(rest);
    let ctx = Context::output();
    let batch = MATCHER.check(&text, &ctx);
    let mut s = MATCHER.stream(ctx);
    let chars: Vec<char> = text.chars().collect();
    let size = usize::from(k % 16) + 1;
    let mut released = String::new();
    for chunk in chars.chunks(size) {
        released.push_str(&s.feed(&chunk.iter().collect::<String>()).release);
    }
    released.push_str(&s.finish().release);
    assert_eq!(s.decision(), batch);
    if !batch.findings.iter().any(|f| f.action == Action::Block) {
        assert_eq!(released, batch.masked);
    } else {
        assert!(batch.masked.starts_with(&released));
    }
});
