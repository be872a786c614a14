//! Server-sent events: a decoder for upstream streams and the frames the gateway sends.
//!
//! Hand-written because the whole protocol the OpenAI streams use is `data:` lines separated by
//! blank lines; a crate would add a dependency for thirty lines.

use bytes::Bytes;

/// Longest line accepted from an upstream (an event's JSON is far smaller).
pub const MAX_LINE: usize = 1 << 20;
/// Largest event accepted (the `data` lines of one event together).
pub const MAX_EVENT: usize = 4 << 20;

/// An upstream sent a line or event over the limits: the stream is not read further.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TooLarge;

/// Incremental SSE decoder: push bytes as they arrive, take complete `data` payloads.
#[derive(Debug, Default)]
pub struct SseDecoder {
    buf: Vec<u8>,
    /// Bytes of `buf` already searched for a newline (each byte is scanned once).
    scanned: usize,
    data: Vec<u8>,
    has_data: bool,
    too_large: bool,
}

impl SseDecoder {
    /// A decoder with nothing buffered.
    pub fn new() -> Self {
        Self::default()
    }

    /// Pushes bytes; returns the `data` payloads of every event completed by them. Once a line
    /// or an event is over the limits it returns nothing more and [`SseDecoder::too_large`] is
    /// true.
    pub fn push(&mut self, bytes: &[u8]) -> Vec<String> {
        let mut out = Vec::new();
        if self.too_large {
            return out;
        }
        self.buf.extend_from_slice(bytes);
        loop {
            let Some(rel) = self.buf[self.scanned..].iter().position(|&b| b == b'\n') else {
                self.scanned = self.buf.len();
                if self.buf.len() > MAX_LINE {
                    self.too_large = true;
                }
                break;
            };
            let nl = self.scanned + rel;
            self.scanned = 0;
            let mut line: Vec<u8> = self.buf.drain(..=nl).collect();
            line.pop();
            if line.last() == Some(&b'\r') {
                line.pop();
            }
            if line.is_empty() {
                if self.has_data {
                    out.push(String::from_utf8_lossy(&self.data).into_owned());
                    self.data.clear();
                    self.has_data = false;
                }
                continue;
            }
            if let Some(rest) = line.strip_prefix(b"data:") {
                let rest = rest.strip_prefix(b" ").unwrap_or(rest);
                if self.has_data {
                    self.data.push(b'\n');
                }
                self.data.extend_from_slice(rest);
                self.has_data = true;
                if self.data.len() > MAX_EVENT {
                    self.too_large = true;
                    break;
                }
            }
            // Comments (`:`), `event:`, `id:` and `retry:` carry nothing the OpenAI format uses.
        }
        out
    }

    /// True once the upstream sent a line or event over the limits.
    pub fn too_large(&self) -> bool {
        self.too_large
    }

    /// End of input: a final event without its blank line still counts.
    pub fn finish(&mut self) -> Option<String> {
        if self.too_large {
            return None;
        }
        if !self.buf.is_empty() {
            let rest = std::mem::take(&mut self.buf);
            self.scanned = 0;
            let mut out = self.push(&rest);
            out.extend(self.push(b"\n\n"));
            return out.pop();
        }
        if self.has_data {
            self.has_data = false;
            return Some(String::from_utf8_lossy(&std::mem::take(&mut self.data)).into_owned());
        }
        None
    }
}

/// One `data:` frame.
pub fn frame(json: &serde_json::Value) -> Bytes {
    Bytes::from(format!("data: {json}\n\n"))
}

/// The terminator OpenAI clients wait for.
pub fn done() -> Bytes {
    Bytes::from_static(b"data: [DONE]\n\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endless_lines_and_events_are_cut_off() {
        let mut d = SseDecoder::new();
        for _ in 0..(MAX_LINE / 4096 + 2) {
            assert!(d.push(&[b'x'; 4096]).is_empty());
        }
        assert!(d.too_large());
        let mut d = SseDecoder::new();
        let line = format!("data: {}\n", "y".repeat(64 * 1024));
        for _ in 0..(MAX_EVENT / line.len() + 2) {
            d.push(line.as_bytes());
        }
        assert!(d.too_large());
        assert!(d.push(b"\n\n").is_empty());
    }

    #[test]
    fn events_split_anywhere_decode_the_same() {
        let wire =
            "data: {\"a\":1}\n\n: keep-alive\n\ndata: {\"b\":\"x\\ny\"}\r\n\r\ndata: [DONE]\n\n";
        for cut in 0..wire.len() {
            let mut d = SseDecoder::new();
            let mut got = d.push(&wire.as_bytes()[..cut]);
            got.extend(d.push(&wire.as_bytes()[cut..]));
            assert_eq!(
                got,
                vec!["{\"a\":1}", "{\"b\":\"x\\ny\"}", "[DONE]"],
                "cut {cut}"
            );
        }
    }
}
