//! Mainland China mobile numbers (手机号码).
//!
//! Eleven digits starting with `1`; the first three (sometimes four) digits are the operator block
//! (号段). Normalising strips blanks and dashes and the country code (`+86`, `0086`, or a bare `86`
//! before eleven digits). Validity follows libphonenumber's CN mobile pattern
//! (`1(?:610\d|740[0-5])\d{6}|1(?:[38]\d|4[57]|[59][0-35-9]|6[25-7]|7[0-35-8])\d{8}`, python
//! `phonenumbers` 9.0.43). A valid prefix is only a soft check: possession is proven by an SMS
//! one-time code, and the identity behind the number by a carrier three-element check.

use std::fmt;

use crate::fold_char;
use crate::mask::mask_mobile;

/// Blocks of mobile virtual network operators (虚拟运营商, 虚商). Carrier three-element checks
/// usually cannot verify them (Aliyun: "不支持虚商号码核验 … 170、171、162、165").
const MVNO_BLOCKS: [&str; 5] = ["170", "171", "162", "165", "167"];

/// Why a string is not a mainland mobile number.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MobileError {
    /// A country code other than +86: not a mainland number.
    #[error("not a mainland China number (country code other than +86)")]
    CountryCode,
    /// A character other than digits, blanks and dashes (or a `+` not at the start).
    #[error("mobile number contains {found:?}")]
    Format {
        /// The offending character.
        found: char,
    },
    /// Not 11 digits after removing the country code.
    #[error("a mainland mobile number has 11 digits, got {found}")]
    Length {
        /// Digits found.
        found: usize,
    },
    /// Eleven digits, but not in an allocated mobile block.
    #[error("{block} is not a mainland mobile number block")]
    Prefix {
        /// The first three digits.
        block: String,
    },
}

/// A normalised mainland mobile number (11 digits).
///
/// `Debug` prints the masked form only; use [`Mobile::as_str`] deliberately.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Mobile {
    number: String,
}

impl Mobile {
    /// The 11 digits. Personal information: store [`crate::SubjectHasher`] output and
    /// [`Mobile::masked`], not this.
    pub fn as_str(&self) -> &str {
        &self.number
    }

    /// The operator block, the first three digits (号段).
    pub fn block(&self) -> &str {
        &self.number[..3]
    }

    /// Display form: `138****8000`.
    pub fn masked(&self) -> String {
        mask_mobile(&self.number)
    }

    /// True for MVNO blocks 170, 171, 162, 165, 167, which carrier three-element checks do not
    /// support.
    pub fn is_mvno(&self) -> bool {
        MVNO_BLOCKS.contains(&self.block())
    }
}

impl fmt::Debug for Mobile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Mobile").field(&self.masked()).finish()
    }
}

/// Normalises and validates a mainland mobile number: `+86 138-0013-8000`, `008613800138000` and
/// `8613800138000` all give `13800138000`.
pub fn normalize_mobile(s: &str) -> Result<Mobile, MobileError> {
    let mut digits = String::with_capacity(16);
    let mut plus = false;
    for c in s.chars().map(fold_char) {
        match c {
            c if c.is_whitespace() || c == '-' => {}
            '+' if digits.is_empty() && !plus => plus = true,
            c if c.is_ascii_digit() => digits.push(c),
            found => return Err(MobileError::Format { found }),
        }
    }
    let number = if plus {
        digits
            .strip_prefix("86")
            .ok_or(MobileError::CountryCode)?
            .to_owned()
    } else if digits.len() == 15 && digits.starts_with("0086") {
        digits[4..].to_owned()
    } else if digits.len() == 13 && digits.starts_with("86") {
        digits[2..].to_owned()
    } else if digits.starts_with("00") {
        return Err(MobileError::CountryCode);
    } else {
        digits
    };
    if number.len() != 11 {
        return Err(MobileError::Length {
            found: number.len(),
        });
    }
    if !cn_mobile_pattern(number.as_bytes()) {
        return Err(MobileError::Prefix {
            block: number[..3].to_owned(),
        });
    }
    Ok(Mobile { number })
}

/// True when `s` normalises to a mobile number in an MVNO block (see [`Mobile::is_mvno`]).
pub fn is_mvno(s: &str) -> bool {
    normalize_mobile(s).is_ok_and(|m| m.is_mvno())
}

/// libphonenumber's CN mobile pattern over exactly 11 ASCII digits.
fn cn_mobile_pattern(d: &[u8]) -> bool {
    if d.len() != 11 || d[0] != b'1' {
        return false;
    }
    if d.starts_with(b"1610") || (d.starts_with(b"1740") && (b'0'..=b'5').contains(&d[4])) {
        return true;
    }
    matches!(
        (d[1], d[2]),
        (b'3' | b'8', _)
            | (b'4', b'5' | b'7')
            | (b'5' | b'9', b'0'..=b'3' | b'5'..=b'9')
            | (b'6', b'2' | b'5'..=b'7')
            | (b'7', b'0'..=b'3' | b'5'..=b'8')
    )
}
