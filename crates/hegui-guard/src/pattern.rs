//! Pattern syntax of library entries.
//!
//! * `裸聊`: a literal term, matched after [normalisation](crate::normalize) on both sides, so
//!   `裸 聊`, `裸！聊` and `裸聊` all match. A term that begins or ends with an ASCII letter or
//!   digit only matches at a word boundary there (`sb` does not match inside `usb`).
//! * `习&下台`: every `&` part must occur somewhere in the text (any order).
//! * `赌博&网站~打击`: `~` parts must not occur; the first part is always positive.
//! * `re:QQ群\d{6,10}`: a regular expression ([`regex`] syntax) over the original text, for
//!   structured data. A streaming check holds back [`REGEX_WINDOW`] characters while such rules
//!   exist, so keep them for shapes no literal can express.
//!
//! `\&`, `\~` and `\\` escape the operators.

use std::ops::Range;

/// How many trailing characters a stream holds back for regular-expression rules: a regex match
/// longer than this may be missed by a streaming check (and is flagged by `library lint`).
pub const REGEX_WINDOW: usize = 64;

/// A parsed pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pattern {
    /// One term.
    Literal(String),
    /// All of `all` occur and none of `none`.
    Combo {
        /// Terms that must all occur.
        all: Vec<String>,
        /// Terms that must not occur.
        none: Vec<String>,
    },
    /// A regular expression over the original text.
    Regex(String),
}

/// Why a pattern does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message} (bytes {}..{})", span.start, span.end)]
pub struct PatternError {
    /// Byte span within the pattern.
    pub span: Range<usize>,
    /// What is wrong.
    pub message: String,
}

impl Pattern {
    /// Parses one pattern.
    pub fn parse(src: &str) -> Result<Pattern, PatternError> {
        if let Some(re) = src.strip_prefix("re:") {
            return match regex::Regex::new(re) {
                Ok(_) if re.is_empty() => Err(PatternError {
                    span: 0..src.len(),
                    message: "empty regular expression".into(),
                }),
                Ok(_) => Ok(Pattern::Regex(re.to_string())),
                Err(e) => Err(PatternError {
                    span: 3..src.len(),
                    message: format!("invalid regular expression: {e}"),
                }),
            };
        }
        let mut parts: Vec<(bool, String, Range<usize>)> = Vec::new();
        let mut positive = true;
        let mut cur = String::new();
        let mut cur_start = 0;
        let mut chars = src.char_indices().peekable();
        while let Some((i, c)) = chars.next() {
            match c {
                '\\' => match chars.next() {
                    Some((_, e @ ('&' | '~' | '\\'))) => cur.push(e),
                    Some((j, e)) => {
                        return Err(PatternError {
                            span: i..j + e.len_utf8(),
                            message: format!("unknown escape \\{e}; only \\&, \\~ and \\\\"),
                        });
                    }
                    None => {
                        return Err(PatternError {
                            span: i..src.len(),
                            message: "pattern ends with a lone backslash".into(),
                        });
                    }
                },
                '&' | '~' => {
                    parts.push((positive, std::mem::take(&mut cur), cur_start..i));
                    positive = c == '&';
                    cur_start = i + 1;
                }
                _ => cur.push(c),
            }
        }
        parts.push((positive, cur, cur_start..src.len()));
        for (_, term, span) in &parts {
            if term.trim().is_empty() {
                return Err(PatternError {
                    span: span.clone(),
                    message: "empty term".into(),
                });
            }
        }
        if parts.len() == 1 {
            let (_, term, _) = parts.remove(0);
            return Ok(Pattern::Literal(term));
        }
        let mut all = Vec::new();
        let mut none = Vec::new();
        for (pos, term, _) in parts {
            if pos { all.push(term) } else { none.push(term) }
        }
        Ok(Pattern::Combo { all, none })
    }

    /// Every literal term the pattern mentions, positive and negative.
    pub fn terms(&self) -> Vec<&str> {
        match self {
            Pattern::Literal(t) => vec![t.as_str()],
            Pattern::Combo { all, none } => all.iter().chain(none).map(String::as_str).collect(),
            Pattern::Regex(_) => Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literal_combo_regex_and_escapes() {
        assert_eq!(
            Pattern::parse("裸聊").unwrap(),
            Pattern::Literal("裸聊".into())
        );
        assert_eq!(
            Pattern::parse("赌博&网站~打击~举报").unwrap(),
            Pattern::Combo {
                all: vec!["赌博".into(), "网站".into()],
                none: vec!["打击".into(), "举报".into()]
            }
        );
        assert_eq!(
            Pattern::parse(r"R\&D").unwrap(),
            Pattern::Literal("R&D".into())
        );
        assert_eq!(
            Pattern::parse(r"re:\d{6}").unwrap(),
            Pattern::Regex(r"\d{6}".into())
        );
    }

    #[test]
    fn errors_carry_spans() {
        let e = Pattern::parse("赌博&&网站").unwrap_err();
        assert_eq!(e.span, 7..7);
        assert!(Pattern::parse("re:(").is_err());
        assert!(Pattern::parse(r"a\x").is_err());
        assert!(Pattern::parse("").is_err());
    }
}
