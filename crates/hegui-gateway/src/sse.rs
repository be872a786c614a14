//! Server-sent events: a decoder for upstream streams and the frames the gateway sends.
//!
//! Hand-written because the whole protocol the OpenAI streams use is `data:` lines separated by
//! blank lines; a crate would add a dependency for thirty lines.

use bytes::Bytes;

/// Incremental SSE decoder: push bytes as they arrive, take complete `data` payloads.
#[derive(Debug, Default)]
pub struct SseDecoder {
    buf: Vec<u8>,
    data: Vec<u8>,
    has_data: bool,
}

impl SseDecoder {
    /// A decoder with nothing buffered.
    pub fn new() -> Self {
        Self::default()
    }

    /// Pushes bytes; returns the `data` payloads of every event completed by them.
    pub fn push(&mut self, bytes: &[u8]) -> Vec<String> {
        self.buf.extend_from_slice(bytes);
        let mut out = Vec::new();
        while let Some(nl) = self.buf.iter().position(|&b| b == b'\n') {
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
            }
            // Comments (`:`), `event:`, `id:` and `retry:` carry nothing the OpenAI format uses.
        }
        out
    }

    /// End of input: a final event without its blank line still counts.
    pub fn finish(&mut self) -> Option<String> {
        if !self.buf.is_empty() {
            let rest = std::mem::take(&mut self.buf);
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
