//! Unified social credit codes (统一社会信用代码, GB 32100-2015), the real-name key of an
//! organisation.
//!
//! Eighteen characters from the 31-symbol set `0-9A-HJ-NPQRTUWXY` (no I, O, S, V, Z): the
//! registration authority (登记管理部门代码: `1`–`9`, or the letters `A`, `N`, `Y`, which some
//! validators wrongly refuse), the organisation category, a six-digit region code, the nine-character
//! subject code (GB 11714 organisation code) and a check character with weights `3^(i-1) mod 31`.
//! A few early pilot codes are real yet fail the check; they pass only through an explicit
//! allow-list, with a warning.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::fold_char;

/// The GB 32100 alphabet; a symbol's value is its index.
const ALPHABET: &[u8; 31] = b"0123456789ABCDEFGHJKLMNPQRTUWXY";
/// Weights `3^(i-1) mod 31` for positions 1..=17.
const WEIGHTS: [u32; 17] = [
    1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28,
];

/// Why a string is not a valid USCC.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UsccError {
    /// Not 18 characters after removing blanks.
    #[error("a unified social credit code has 18 characters, got {found}")]
    Length {
        /// Characters found.
        found: usize,
    },
    /// A character not allowed at its position (1-based): authority `1-9ANY`, then seven digits,
    /// then symbols of the 31-character set (no I, O, S, V, Z).
    #[error(
        "character {found:?} is not allowed at position {position} of a unified social credit code"
    )]
    Charset {
        /// 1-based position of the first offending character.
        position: usize,
        /// The character found there.
        found: char,
    },
    /// The check character does not match and the code is not allow-listed.
    #[error("check character of the unified social credit code is wrong (expected {expected})")]
    Checksum {
        /// The check character the first 17 symbols call for.
        expected: char,
    },
}

/// A doubt that does not make the code invalid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum UsccWarning {
    /// The check character is wrong but the code is on the caller's allow-list (real pilot codes
    /// issued before the rule settled, e.g. `91350100M0001TGQXM`).
    ChecksumOverridden {
        /// The check character the first 17 symbols call for.
        expected: char,
    },
}

/// A validated unified social credit code.
#[derive(Clone, PartialEq, Eq)]
pub struct Uscc {
    code: String,
    warnings: Vec<UsccWarning>,
}

impl Uscc {
    /// The 18 characters, blanks removed, upper case.
    pub fn as_str(&self) -> &str {
        &self.code
    }

    /// Registration authority code (position 1).
    pub fn authority(&self) -> char {
        char::from(self.code.as_bytes()[0])
    }

    /// Name of the registration authority (登记管理部门).
    pub fn authority_name(&self) -> &'static str {
        match self.authority() {
            '1' => "机构编制",
            '2' => "外交",
            '3' => "司法行政",
            '4' => "文化",
            '5' => "民政",
            '6' => "旅游",
            '7' => "宗教",
            '8' => "工会",
            '9' => "工商/市场监管",
            'A' => "中央军委改革和编制办公室",
            'N' => "农业",
            _ => "其他",
        }
    }

    /// Organisation category code (机构类别代码, position 2), read together with the authority.
    pub fn category(&self) -> char {
        char::from(self.code.as_bytes()[1])
    }

    /// Region code of the registering authority (positions 3–8, GB/T 2260).
    pub fn region(&self) -> &str {
        &self.code[2..8]
    }

    /// Subject identification code (主体标识码, positions 9–17, a GB 11714 organisation code).
    pub fn org_code(&self) -> &str {
        &self.code[8..17]
    }

    /// Doubts that did not make the code invalid.
    pub fn warnings(&self) -> &[UsccWarning] {
        &self.warnings
    }
}

impl fmt::Debug for Uscc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // An organisation code is public registry data, not personal information.
        f.debug_struct("Uscc")
            .field("code", &self.code)
            .field("warnings", &self.warnings)
            .finish()
    }
}

impl fmt::Display for Uscc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.code)
    }
}

fn clean(s: &str) -> String {
    s.chars()
        .map(fold_char)
        .filter(|c| !c.is_whitespace())
        .collect()
}

/// Validates a unified social credit code (统一社会信用代码). Blanks are removed and letters
/// upper-cased. A checksum failure is an error unless the cleaned code is in `allow_list` (entries
/// are cleaned the same way), in which case the result carries
/// [`UsccWarning::ChecksumOverridden`].
pub fn validate_uscc(s: &str, allow_list: &[&str]) -> Result<Uscc, UsccError> {
    let code = clean(s);
    let found = code.chars().count();
    if found != 18 {
        return Err(UsccError::Length { found });
    }
    for (i, c) in code.chars().enumerate() {
        let ok = match i {
            0 => matches!(c, '1'..='9' | 'A' | 'N' | 'Y'),
            1..=7 => c.is_ascii_digit(),
            _ => c.is_ascii() && ALPHABET.contains(&(c as u8)),
        };
        if !ok {
            return Err(UsccError::Charset {
                position: i + 1,
                found: c,
            });
        }
    }
    let value = |c: u8| ALPHABET.iter().position(|&a| a == c).unwrap_or(0) as u32;
    let b = code.as_bytes();
    let sum: u32 = b[..17]
        .iter()
        .zip(WEIGHTS)
        .map(|(&c, w)| value(c) * w)
        .sum();
    let expected = char::from(ALPHABET[((31 - sum % 31) % 31) as usize]);
    let mut warnings = Vec::new();
    if char::from(b[17]) != expected {
        if !allow_list.iter().any(|a| clean(a) == code) {
            return Err(UsccError::Checksum { expected });
        }
        warnings.push(UsccWarning::ChecksumOverridden { expected });
    }
    Ok(Uscc { code, warnings })
}
