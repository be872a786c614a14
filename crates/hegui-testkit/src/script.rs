//! The scripting language read from the last user message (or an image prompt, or a speech
//! input): `[[name:arg]]` directives that let any client, in any language, drive the fake.

use std::time::Duration;

/// What a message asks the fake upstream to do.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Script {
    /// `[[status:N]]`: answer with this HTTP status and an OpenAI error envelope.
    pub status: Option<u16>,
    /// `[[hang]]`: never answer.
    pub hang: bool,
    /// `[[delay_ms:N]]`: delay between streamed chunks.
    pub delay: Option<Duration>,
    /// `[[chunks:A|B|C]]`: the exact content deltas. `[[chunks_b64:BASE64]]` is the same with the
    /// `A|B|C` text base64-encoded, so a client can script a reply whose words do not appear in
    /// its own message (a gateway that checks input would otherwise see them first).
    pub chunks: Option<Vec<String>>,
    /// `[[reply:TEXT]]`: the reply text.
    pub reply: Option<String>,
    /// `[[echo]]`: reply with the message itself.
    pub echo: bool,
}

impl Script {
    /// Reads every `[[…]]` directive in `text`; unknown or malformed ones are left as plain text.
    /// When a directive is repeated, the first one wins.
    pub fn parse(text: &str) -> Script {
        let mut script = Script::default();
        let mut rest = text;
        while let Some(open) = rest.find("[[") {
            let after = &rest[open + 2..];
            let Some(close) = after.find("]]") else { break };
            let inner = &after[..close];
            rest = &after[close + 2..];
            let (name, arg) = match inner.split_once(':') {
                Some((name, arg)) => (name.trim(), Some(arg)),
                None => (inner.trim(), None),
            };
            match (name, arg) {
                ("chunks", Some(arg)) if script.chunks.is_none() => {
                    script.chunks = Some(arg.split('|').map(str::to_owned).collect());
                }
                ("chunks_b64", Some(arg)) if script.chunks.is_none() => {
                    use base64::Engine;
                    if let Some(text) = base64::engine::general_purpose::STANDARD
                        .decode(arg.trim())
                        .ok()
                        .and_then(|b| String::from_utf8(b).ok())
                    {
                        script.chunks = Some(text.split('|').map(str::to_owned).collect());
                    }
                }
                ("reply", Some(arg)) if script.reply.is_none() => {
                    script.reply = Some(arg.to_owned());
                }
                ("delay_ms", Some(arg)) if script.delay.is_none() => {
                    script.delay = arg.trim().parse().ok().map(Duration::from_millis);
                }
                ("status", Some(arg)) if script.status.is_none() => {
                    script.status = arg.trim().parse().ok();
                }
                ("hang", None) => script.hang = true,
                ("echo", None) => script.echo = true,
                _ => {}
            }
        }
        script
    }

    /// The content deltas of the reply: the scripted chunks as given, or the reply text (scripted,
    /// echoed, or the default) split into `pieces` parts on character boundaries.
    pub fn pieces(&self, message: &str, default_reply: &str, pieces: usize) -> Vec<String> {
        if let Some(chunks) = &self.chunks {
            return chunks.clone();
        }
        let text = match (&self.reply, self.echo) {
            (Some(reply), _) => reply.as_str(),
            (None, true) => message,
            (None, false) => default_reply,
        };
        split_even(text, pieces)
    }
}

/// Splits `text` into at most `n` non-empty parts of nearly equal character counts.
pub(crate) fn split_even(text: &str, n: usize) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    if chars.is_empty() {
        return Vec::new();
    }
    let n = n.clamp(1, chars.len());
    let (base, extra) = (chars.len() / n, chars.len() % n);
    let mut out = Vec::with_capacity(n);
    let mut at = 0;
    for i in 0..n {
        let len = base + usize::from(i < extra);
        out.push(chars[at..at + len].iter().collect());
        at += len;
    }
    out
}

/// A rough token count in the spirit of OpenAI's tokenizers: one token per non-ASCII character
/// (CJK text is about that), one per four ASCII bytes.
pub(crate) fn approx_tokens(text: &str) -> u64 {
    let (mut wide, mut ascii) = (0u64, 0u64);
    for c in text.chars() {
        if c.is_ascii() {
            ascii += 1;
        } else {
            wide += 1;
        }
    }
    wide + ascii.div_ceil(4)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_directive() {
        let s =
            Script::parse("hi [[chunks:a|b||c]] [[delay_ms: 25]][[status:429]] [[hang]][[echo]]");
        assert_eq!(
            s.chunks,
            Some(vec!["a".into(), "b".into(), String::new(), "c".into()])
        );
        assert_eq!(s.delay, Some(Duration::from_millis(25)));
        assert_eq!(s.status, Some(429));
        assert!(s.hang && s.echo);
        assert_eq!(
            Script::parse("[[reply:你好：世界]]").reply.as_deref(),
            Some("你好：世界")
        );
    }

    #[test]
    fn leaves_plain_and_malformed_text_alone() {
        assert_eq!(
            Script::parse("no directives [here] [[unclosed"),
            Script::default()
        );
        assert_eq!(
            Script::parse("[[status:abc]] [[unknown:1]] [[hang:1]]"),
            Script::default()
        );
    }

    #[test]
    fn base64_chunks_hide_the_reply_from_the_message() {
        // "冰毒|货源" base64-encoded.
        let s = Script::parse("[[chunks_b64:5Yaw5q+SfOi0p+a6kA==]]");
        assert_eq!(s.pieces("m", "d", 5), vec!["冰毒", "货源"]);
        assert_eq!(Script::parse("[[chunks_b64:!!]]"), Script::default());
    }

    #[test]
    fn chunks_win_over_reply_and_echo() {
        let s = Script::parse("[[echo]][[reply:r]][[chunks:x|y]]");
        assert_eq!(s.pieces("msg", "default", 5), vec!["x", "y"]);
        let s = Script::parse("[[echo]][[reply:r]]");
        assert_eq!(s.pieces("msg", "default", 5), vec!["r"]);
        let s = Script::parse("[[echo]] ab");
        assert_eq!(s.pieces("[[echo]] ab", "default", 1), vec!["[[echo]] ab"]);
        assert_eq!(
            Script::default().pieces("m", "默认回复", 2),
            vec!["默认", "回复"]
        );
    }

    #[test]
    fn split_is_even_and_lossless_on_char_boundaries() {
        let text = "合规网关测试abc";
        for n in 0..12 {
            let parts = split_even(text, n);
            assert_eq!(parts.concat(), text);
            assert_eq!(parts.len(), n.clamp(1, 9));
            let lens: Vec<usize> = parts.iter().map(|p| p.chars().count()).collect();
            assert!(lens.iter().max().unwrap() - lens.iter().min().unwrap() <= 1);
        }
        assert!(split_even("", 4).is_empty());
    }

    #[test]
    fn token_estimate() {
        assert_eq!(approx_tokens(""), 0);
        assert_eq!(approx_tokens("你好"), 2);
        assert_eq!(approx_tokens("hello world"), 3);
    }
}
