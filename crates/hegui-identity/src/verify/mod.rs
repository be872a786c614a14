//! Verification providers behind one synchronous trait.
//!
//! Every authoritative check, whatever it talks to, answers in the same provider-neutral shape: a
//! [`VerificationResult`] (`Match`, `Mismatch`, `NoRecord`, `InvalidInput`, `ProviderError`,
//! `RateLimited`) and [`Evidence`] (provider, request id, time, HMACs of the inputs) that can be
//! kept as proof of the check. Evidence never holds plaintext names, numbers, codes or ID images.
//!
//! Providers here:
//! - [`SmsOtp`]: a six-digit one-time code sent through a pluggable [`SmsSender`]; proves
//!   possession of a (carrier real-name registered) mobile number.
//! - [`NetworkIdentity`]: a 网号/网证 token from the national network identity service, checked
//!   through a pluggable [`NetworkIdentityApi`]; result only, no plaintext identity.
//! - [`ThreeElement`]: a carrier three-element check (name + ID number + mobile, 运营商三要素)
//!   through a pluggable [`ThreeElementApi`], with local input validation and throttling.
//!
//! The trait is synchronous; an HTTP-backed API implementation lives in the service layer and is
//! called from a blocking context there. [`vendor`] maps Tencent and Aliyun result codes into the
//! shared result, [`policy`] turns outcomes into an account's real-name level, and [`fake`] holds
//! in-memory APIs for tests and demos.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};

use hegui_core::UnixMillis;
use jiff::civil::Date;
use serde::{Deserialize, Serialize};

use crate::mask::{mask_middle, mask_mobile, mask_name, mask_resident_id};

pub mod fake;
mod nnid;
pub mod policy;
mod sms;
#[cfg(test)]
mod tests;
mod three;
pub mod vendor;

pub use nnid::{NetworkIdentity, NetworkIdentityApi, NnidAssertion, NnidError};
pub use policy::{
    ConsentKind, PlaintextBasis, PlaintextIdError, RealNameLevel, plaintext_id_access,
    real_name_level,
};
pub use sms::{
    CodeCheck, IssuedCode, MemorySender, OtpError, SendError, SentSms, SmsOtp, SmsOtpConfig,
    SmsSender,
};
pub use three::{
    ThreeElement, ThreeElementApi, ThreeElementConfig, ThreeElementQuery, VendorAnswer,
};

/// An authoritative identity check: one trait for every provider, so the service can swap vendors
/// and record the same evidence whatever answered.
pub trait VerificationProvider: Send + Sync {
    /// Stable provider name, recorded in [`Evidence::provider`].
    fn name(&self) -> &str;

    /// Runs the check. Never panics and never fails: transport and vendor errors are
    /// [`VerificationResult::ProviderError`], a request this provider does not handle is
    /// [`VerificationResult::InvalidInput`] with field `request`.
    fn verify(&self, req: &VerificationRequest) -> VerificationOutcome;
}

/// What the user presents.
///
/// `Debug` masks every element (answer, token, name, numbers).
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum VerificationRequest {
    /// The answer to an SMS one-time code issued earlier by [`SmsOtp::issue`].
    SmsCode {
        /// The pending code as persisted by the caller (attempts as currently stored).
        pending: IssuedCode,
        /// What the user typed.
        answer: String,
    },
    /// A 网号/网证 token handed over by the national network identity app or SDK.
    NetworkIdentity {
        /// The opaque token.
        token: String,
    },
    /// Carrier three-element check (运营商三要素): name, resident ID number, mobile.
    ThreeElement {
        /// Name as on the ID card.
        name: String,
        /// Resident identity number (公民身份号码), as typed.
        id_number: String,
        /// Mobile number, as typed.
        mobile: String,
    },
}

impl VerificationRequest {
    /// The verification method this request asks for.
    pub fn method(&self) -> Method {
        match self {
            Self::SmsCode { .. } => Method::SmsOtp,
            Self::NetworkIdentity { .. } => Method::NetworkIdentity,
            Self::ThreeElement { .. } => Method::ThreeElement,
        }
    }
}

impl fmt::Debug for VerificationRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::SmsCode { pending, answer } => f
                .debug_struct("SmsCode")
                .field("pending", pending)
                .field("answer", &"*".repeat(answer.chars().count()))
                .finish(),
            Self::NetworkIdentity { token } => f
                .debug_struct("NetworkIdentity")
                .field("token", &format_args!("<{} chars>", token.chars().count()))
                .finish(),
            Self::ThreeElement {
                name,
                id_number,
                mobile,
            } => f
                .debug_struct("ThreeElement")
                .field("name", &mask_name(name))
                .field("id_number", &mask_resident_id(id_number.trim()))
                .field("mobile", &mask_mobile(mobile.trim()))
                .finish(),
        }
    }
}

/// How an identity was checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Method {
    /// SMS one-time code: possession of the mobile number.
    SmsOtp,
    /// National network identity service (国家网络身份认证公共服务, 网号/网证).
    NetworkIdentity,
    /// Carrier three-element check (name + ID number + mobile).
    ThreeElement,
}

/// Provider-neutral result of a check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "snake_case")]
#[non_exhaustive]
pub enum VerificationResult {
    /// The elements belong together (一致).
    Match,
    /// The authority has a record and the elements do not match (不一致).
    Mismatch {
        /// Which element failed, when the vendor says.
        detail: Option<MismatchDetail>,
    },
    /// The authority has no record (查无记录).
    NoRecord,
    /// An input was refused before or by the authority; nothing was verified.
    InvalidInput {
        /// `name`, `id_number`, `mobile`, `code`, `token` or `request`.
        field: String,
        /// Machine-readable reason, e.g. `checksum`, `mvno_unsupported`, `expired`.
        reason: String,
    },
    /// The provider could not answer.
    ProviderError {
        /// Whether trying again later may succeed.
        retryable: bool,
        /// Diagnostic text without personal data.
        message: String,
    },
    /// Refused by a local or vendor rate limit (identical inputs repeated, daily cap, too many
    /// wrong codes).
    RateLimited,
}

/// Which element of a three-element check failed (Aliyun `SubCode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum MismatchDetail {
    /// `201`: the mobile matches neither the name nor the ID number.
    MobileMatchesNeither,
    /// `202`: the mobile matches the name but not the ID number.
    MobileIdMismatch,
    /// `203`: the mobile matches the ID number but not the name.
    MobileNameMismatch,
}

/// Proof that a check ran, safe to keep: no plaintext inputs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Evidence {
    /// [`VerificationProvider::name`] of the provider that answered.
    pub provider: String,
    /// The method.
    pub method: Method,
    /// The vendor's transaction id, or a local id (`hg-…`) when no vendor was called.
    pub request_id: String,
    /// When the check ran (from the injected clock).
    pub at: UnixMillis,
    /// `field:hex` HMACs ([`crate::SubjectHasher`]) of the normalised inputs, e.g.
    /// `mobile:5f…`.
    pub hashed_inputs: Vec<String>,
    /// Whether the vendor bills this answer.
    pub billable: bool,
}

impl Evidence {
    /// The HMAC recorded for `field`, if any.
    pub fn input(&self, field: &str) -> Option<&str> {
        self.hashed_inputs.iter().find_map(|h| {
            h.strip_prefix(field)
                .and_then(|rest| rest.strip_prefix(':'))
        })
    }
}

/// What a successful check teaches about the person, minimised.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attributes {
    /// Birth date, when the checked elements carry it (a matched ID number); drives minors mode.
    pub birth_date: Option<Date>,
    /// HMAC of the stable subject key (the ID number, or the 网号), to bind the account.
    pub subject_ref: Option<String>,
}

/// Result, evidence and attributes of one check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VerificationOutcome {
    /// The provider-neutral result.
    pub result: VerificationResult,
    /// What to keep as proof.
    pub evidence: Evidence,
    /// What was learnt; empty unless the result is a match.
    pub attributes: Attributes,
}

impl VerificationOutcome {
    /// True for [`VerificationResult::Match`].
    pub fn is_match(&self) -> bool {
        self.result == VerificationResult::Match
    }
}

/// An `InvalidInput` result.
pub(crate) fn invalid(field: &str, reason: &str) -> VerificationResult {
    VerificationResult::InvalidInput {
        field: field.to_owned(),
        reason: reason.to_owned(),
    }
}

/// The result for a request kind a provider does not handle.
pub(crate) fn unsupported() -> VerificationResult {
    invalid("request", "unsupported_method")
}

/// A local request id: 16 random bytes in hex, or, if the system has no randomness to give, a
/// process-unique counter (ids only need to be unique, not secret).
pub(crate) fn local_request_id(now: UnixMillis) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut bytes = [0u8; 16];
    match getrandom::fill(&mut bytes) {
        Ok(()) => format!("hg-{}", hex::encode(bytes)),
        Err(_) => format!("hg-{now}-{}", COUNTER.fetch_add(1, Ordering::Relaxed)),
    }
}

/// Masks an opaque identifier for `Debug` output.
pub(crate) fn mask_opaque(s: &str) -> String {
    mask_middle(s, 2, 2)
}
