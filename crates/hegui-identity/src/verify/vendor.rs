//! Vendor result codes mapped into the shared [`VerificationResult`], for the adapters that
//! implement [`super::ThreeElementApi`] and friends. Tables from the vendors' API references
//! (`shared/spec/identity.md` §1.5); an unknown code is a non-retryable `ProviderError` naming it.

use super::{MismatchDetail, VerificationResult, invalid};

/// A vendor code mapped: the result and whether the vendor bills it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mapped {
    /// The shared result.
    pub result: VerificationResult,
    /// Whether the vendor charges for this answer.
    pub billable: bool,
}

fn billed(result: VerificationResult) -> Mapped {
    Mapped {
        result,
        billable: true,
    }
}

fn free(result: VerificationResult) -> Mapped {
    Mapped {
        result,
        billable: false,
    }
}

fn provider_error(retryable: bool, message: &str) -> VerificationResult {
    VerificationResult::ProviderError {
        retryable,
        message: message.to_owned(),
    }
}

fn unknown(api: &str, code: &str) -> Mapped {
    free(VerificationResult::ProviderError {
        retryable: false,
        message: format!("{api}: unknown result code {code:?}"),
    })
}

/// Tencent Cloud `PhoneVerification` (carrier three elements), field `Result`.
pub fn tencent_phone_verification(result: &str) -> Mapped {
    match result.trim() {
        "0" => billed(VerificationResult::Match),
        "-4" => billed(VerificationResult::Mismatch { detail: None }),
        "-6" => free(invalid("mobile", "vendor_rejected")),
        "-7" => free(invalid("id_number", "vendor_rejected")),
        "-8" => free(invalid("name", "vendor_rejected")),
        "-9" => free(VerificationResult::NoRecord),
        "-11" => free(provider_error(true, "tencent: verification centre busy")),
        "-12" => free(VerificationResult::RateLimited),
        other => unknown("tencent PhoneVerification", other),
    }
}

/// Tencent Cloud `IdCardVerification` (name + ID number), field `Result`.
pub fn tencent_id_card_verification(result: &str) -> Mapped {
    match result.trim() {
        "0" => billed(VerificationResult::Match),
        "-1" => billed(VerificationResult::Mismatch { detail: None }),
        "-2" => free(invalid("id_number", "vendor_rejected")),
        "-3" => free(invalid("name", "vendor_rejected")),
        "-4" => free(provider_error(true, "tencent: ID database service error")),
        "-5" => free(VerificationResult::NoRecord),
        "-6" => free(provider_error(true, "tencent: authority system upgrading")),
        "-7" => free(VerificationResult::RateLimited),
        other => unknown("tencent IdCardVerification", other),
    }
}

/// Aliyun `Mobile3MetaSimpleVerify`/`Mobile3MetaDetailVerify`: `BizCode` 1 match (billed), 2
/// mismatch (billed, `SubCode` says which element), 3 no record (free).
pub fn aliyun_mobile_3meta(biz_code: &str, sub_code: Option<&str>) -> Mapped {
    match biz_code.trim() {
        "1" => billed(VerificationResult::Match),
        "2" => billed(VerificationResult::Mismatch {
            detail: match sub_code.map(str::trim) {
                Some("201") => Some(MismatchDetail::MobileMatchesNeither),
                Some("202") => Some(MismatchDetail::MobileIdMismatch),
                Some("203") => Some(MismatchDetail::MobileNameMismatch),
                _ => None,
            },
        }),
        "3" => free(VerificationResult::NoRecord),
        other => unknown("aliyun MOBILE_3META", other),
    }
}

/// Default face-compare threshold on Tencent FaceID's `Sim` scale (0–100): at 70 the false accept
/// rate is 1/1000 (80 gives 1/10 000). Thresholds belong to one model; never reuse across models.
pub const DEFAULT_FACE_THRESHOLD: f64 = 70.0;

/// Face compare: a match when `similarity >= threshold` (greater **or equal** passes). A score
/// that is not a number is a provider error, never a pass.
pub fn face_similarity(similarity: f64, threshold: f64) -> VerificationResult {
    if similarity.is_nan() || threshold.is_nan() {
        provider_error(false, "face compare: score is not a number")
    } else if similarity >= threshold {
        VerificationResult::Match
    } else {
        VerificationResult::Mismatch { detail: None }
    }
}
