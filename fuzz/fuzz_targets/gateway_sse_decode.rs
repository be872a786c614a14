//! Fuzz target: the decoder of upstream event streams never panics, and where the bytes are cut
//! does not change the events it yields.
#![no_main]
use hegui_gateway::sse::SseDecoder;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Some((&cut, bytes)) = data.split_first() else { return };
    let mut whole = SseDecoder::new();
    let mut a = whole.push(bytes);
    a.extend(whole.finish());
    let at = usize::from(cut) % (bytes.len() + 1);
    let mut split = SseDecoder::new();
    let mut b = split.push(&bytes[..at]);
    b.extend(split.push(&bytes[at..]));
    b.extend(split.finish());
    assert_eq!(a, b);
});
