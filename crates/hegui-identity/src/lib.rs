//! Real-name identity building blocks for DS-9 and GAI-9 (真实身份信息认证).
//!
//! The law lets a provider check a user's real identity by mobile number, resident identity
//! number (公民身份号码), unified social credit code (统一社会信用代码) or the national network
//! identity service (国家网络身份认证公共服务, 网号/网证). This crate holds the pieces that need
//! no network, no database and no async runtime:
//!
//! - [`resident_id`]: GB 11643-1999 numbers (MOD 11-2 check, birth date, sex, age, residence
//!   permits, foreign permanent residents, 15-digit upgrade).
//! - [`uscc`]: GB 32100-2015 codes, including the letter authorities `A`, `N` and `Y`.
//! - [`mobile`]: mainland mobile numbers (prefix table of libphonenumber, MVNO blocks).
//! - [`mask`]: display masks and [`SubjectHasher`] (peppered HMAC-SHA256), so that what is stored
//!   is an HMAC plus a mask, never the plaintext (GB/T 35273 lists ID numbers as sensitive PI).
//! - [`verify`]: verification providers behind one synchronous trait,
//!   [`VerificationProvider`]: SMS one-time code, 网号/网证 token, vendor three-element check,
//!   plus vendor result-code tables and the account-level real-name rules.
//!
//! Validators are pure: "today" and "now" are always passed in (from a `hegui_core::Clock`), so
//! every rule is testable at any date.

pub mod mask;
pub mod mobile;
pub mod resident_id;
pub mod uscc;
pub mod verify;

#[cfg(test)]
mod tests;

pub use mask::{StoredSubject, SubjectHasher, mask_mobile, mask_name, mask_resident_id};
pub use mobile::{Mobile, MobileError, is_mvno, normalize_mobile};
pub use resident_id::{
    BirthDateError, IdError, IdKind, IdWarning, PermitFrom, ResidentId, Sex, shanghai_date,
    upgrade_15, validate_resident_id,
};
pub use uscc::{Uscc, UsccError, UsccWarning, validate_uscc};
pub use verify::{
    Attributes, Evidence, Method, MismatchDetail, VerificationOutcome, VerificationProvider,
    VerificationRequest, VerificationResult,
};

/// Folds full-width ASCII (`１３８`, `Ｘ`) to ASCII and lower-case letters to upper case, so that
/// numbers typed on a Chinese keyboard validate like any other.
pub(crate) fn fold_char(c: char) -> char {
    let c = match c {
        '\u{FF01}'..='\u{FF5E}' => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
        '\u{3000}' => ' ',
        _ => c,
    };
    c.to_ascii_uppercase()
}
