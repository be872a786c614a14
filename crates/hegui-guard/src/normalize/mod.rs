//! Evasion-resistant normalisation with a map back to the original text.
//!
//! Each original character folds to zero or more characters:
//!
//! * dropped: punctuation, symbols, emoji, whitespace and zero-width characters (Unicode categories
//!   C, M, P, S, Z), so `傻!@#$逼`, `傻 逼` and `傻\u{200b}逼` fold alike;
//! * NFKD, case folding and confusable homoglyphs: `ＳＢ`, `Ｓｂ`, Cyrillic `ѕb` → `sb`;
//! * traditional and variant characters → simplified (`發` → `发`);
//! * numerals → digits (`①` → `1`, `壹` → `1`, `三` → `3`);
//! * repeats collapse: a character equal to the previous kept one is dropped (`傻傻傻逼` → `傻逼`),
//!   except digits, which PII detection and numbers need intact.
//!
//! Terms are folded the same way, so a term matches every spelling that folds like it. Every folded
//! character remembers the index of the original character it came from, which is how matches are
//! reported in original offsets. The tables come from `matcher_rs` (see `tables/README.md`).

mod tables;

pub use tables::fold_char;

/// One folded character.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FoldedChar {
    /// The folded character.
    pub c: char,
    /// Index (in characters) of the original character it came from.
    pub origin: u32,
    /// True when a dropped character (space, symbol …) came between it and the previous folded
    /// character: a word boundary for ASCII terms.
    pub gap: bool,
}

/// Streaming folder: feed original characters one at a time.
#[derive(Debug, Clone, Default)]
pub struct Folder {
    prev: Option<char>,
    gap: bool,
    next_origin: u32,
}

impl Folder {
    /// A folder at the start of a text.
    pub fn new() -> Self {
        Self::default()
    }

    /// Folds the next original character, calling `emit` for each folded character.
    #[inline]
    pub fn push(&mut self, c: char, mut emit: impl FnMut(FoldedChar)) {
        let origin = self.next_origin;
        self.next_origin += 1;
        let mut one = |f: char, this: &mut Self| {
            if Some(f) == this.prev && !f.is_ascii_digit() {
                return;
            }
            this.prev = Some(f);
            emit(FoldedChar {
                c: f,
                origin,
                gap: std::mem::take(&mut this.gap),
            });
        };
        match fold_char(c) {
            tables::Folded::Same => one(c, self),
            tables::Folded::Char(f) => one(f, self),
            tables::Folded::Str(s) => {
                for f in s.chars() {
                    one(f, self);
                }
            }
            tables::Folded::Drop => self.gap = true,
        }
    }

    /// Number of original characters fed so far.
    pub fn fed(&self) -> usize {
        self.next_origin as usize
    }
}

/// Folds a whole text, keeping the map to original character indices.
pub fn fold_with_map(text: &str) -> Vec<FoldedChar> {
    let mut out = Vec::with_capacity(text.len() / 2);
    let mut f = Folder::new();
    for c in text.chars() {
        f.push(c, |fc| out.push(fc));
    }
    out
}

/// Folds a term or text to its matching form.
pub fn fold(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut f = Folder::new();
    for c in text.chars() {
        f.push(c, |fc| out.push(fc.c));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn ds10_folds_the_common_evasions() {
        let cases = [
            ("傻!@#$逼", "傻逼"),
            ("傻 逼", "傻逼"),
            ("傻\u{200b}逼\u{feff}", "傻逼"),
            ("傻傻傻逼", "傻逼"),
            ("ＳＢ", "sb"),
            ("Ѕb", "sb"),
            ("發財", "发财"),
            ("①③⑧", "138"),
            ("壹叁捌", "138"),
            ("一三八", "138"),
            ("裸😀聊", "裸聊"),
            ("𝐒𝐁", "sb"),
            ("1388", "1388"),
        ];
        for (raw, want) in cases {
            assert_eq!(fold(raw), want, "{raw}");
        }
    }

    #[test]
    fn origins_point_into_the_original() {
        let m = fold_with_map("a, 發!①");
        let got: Vec<(char, u32, bool)> = m.iter().map(|f| (f.c, f.origin, f.gap)).collect();
        assert_eq!(got, vec![('a', 0, false), ('发', 3, true), ('1', 5, true)]);
    }

    proptest! {
        #[test]
        fn normalize_is_idempotent(s in "\\PC{0,40}") {
            let once = fold(&s);
            prop_assert_eq!(fold(&once), once);
        }

        #[test]
        fn normalize_is_idempotent_on_cjk_and_symbols(s in "[一-龥０-９ａ-ｚ①-⑳!-/ 　\u{200b}a-zA-Z0-9發財後裏]{0,40}") {
            let once = fold(&s);
            prop_assert_eq!(fold(&once), once);
        }

        #[test]
        fn origins_are_monotonic_and_in_range(s in "\\PC{0,40}") {
            let n = s.chars().count() as u32;
            let m = fold_with_map(&s);
            for w in m.windows(2) {
                prop_assert!(w[0].origin <= w[1].origin);
            }
            for f in &m {
                prop_assert!(f.origin < n);
            }
        }
    }
}
