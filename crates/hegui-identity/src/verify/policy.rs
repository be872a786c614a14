//! Account-level real-name rules built on verification outcomes.
//!
//! - [`real_name_level`]: what a set of matched checks proves. 网号/网证 and "SMS code + carrier
//!   three-element on the same number" both reach [`RealNameLevel::Identity`], so a user who
//!   declines 网号/网证 gets exactly the same standing, and therefore the same features (equal
//!   service, 管理办法). An SMS code alone proves a real-name registered mobile number
//!   ([`RealNameLevel::Mobile`]), the mobile path DS-9 allows.
//! - [`plaintext_id_access`]: after 网号/网证, plaintext identity may be asked for only with a
//!   legal basis or the user's separate consent (单独同意).

use serde::{Deserialize, Serialize};

use super::{Method, VerificationOutcome};

/// How far an account's real identity is established.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RealNameLevel {
    /// Nothing matched.
    Unverified,
    /// The user holds a mainland mobile number (SMS code); carriers register numbers under real
    /// names.
    Mobile,
    /// The person is identified: 网号/网证, or a carrier three-element match on a number whose
    /// possession an SMS code proved.
    Identity,
}

/// The real-name level the matched outcomes in `outcomes` prove. Mismatches and errors add
/// nothing. Three-element and SMS outcomes are tied by the `mobile` HMAC in their evidence, so
/// both providers must share one [`crate::SubjectHasher`] pepper; a three-element match without a
/// matching SMS code proves no possession and does not count.
pub fn real_name_level(outcomes: &[VerificationOutcome]) -> RealNameLevel {
    let matched: Vec<&VerificationOutcome> = outcomes.iter().filter(|o| o.is_match()).collect();
    let by = |m: Method| matched.iter().filter(move |o| o.evidence.method == m);
    if by(Method::NetworkIdentity).next().is_some() {
        return RealNameLevel::Identity;
    }
    let held: Vec<&str> = by(Method::SmsOtp)
        .filter_map(|o| o.evidence.input("mobile"))
        .collect();
    if by(Method::ThreeElement).any(|o| {
        o.evidence
            .input("mobile")
            .is_some_and(|m| held.contains(&m))
    }) {
        return RealNameLevel::Identity;
    }
    if held.is_empty() {
        RealNameLevel::Unverified
    } else {
        RealNameLevel::Mobile
    }
}

/// Kind of consent a refused request needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ConsentKind {
    /// Separate consent (单独同意, PIPL art. 29): its own action, never bundled or pre-ticked.
    Separate,
}

/// Why the platform may hold a user's plaintext identity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PlaintextBasis {
    /// The user did not verify through 网号/网证; the minimisation rule of the 管理办法 does not
    /// apply (PIPL still does).
    NotNetworkIdentity,
    /// A configured law or administrative regulation requires it (named in the value).
    LegalBasis(String),
    /// The user's separate consent (the consent record id).
    SeparateConsent(String),
}

/// A demand for plaintext identity that must be refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PlaintextIdError {
    /// The user verified with 网号/网证 and there is neither a legal basis nor consent.
    #[error(
        "plaintext identity after 网号/网证 verification needs {kind:?} consent or a legal basis"
    )]
    ConsentRequired {
        /// The consent to ask for.
        kind: ConsentKind,
    },
}

/// Whether an API may demand a user's plaintext identity (ID number, name). `verified_via` is how
/// the account was verified; `legal_basis` a configured rule that requires retention;
/// `separate_consent` the id of the user's separate-consent record, if given. Empty strings count
/// as absent.
pub fn plaintext_id_access(
    verified_via: Method,
    legal_basis: Option<&str>,
    separate_consent: Option<&str>,
) -> Result<PlaintextBasis, PlaintextIdError> {
    if verified_via != Method::NetworkIdentity {
        return Ok(PlaintextBasis::NotNetworkIdentity);
    }
    let given = |s: Option<&str>| {
        s.map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    };
    if let Some(rule) = given(legal_basis) {
        return Ok(PlaintextBasis::LegalBasis(rule));
    }
    if let Some(consent) = given(separate_consent) {
        return Ok(PlaintextBasis::SeparateConsent(consent));
    }
    Err(PlaintextIdError::ConsentRequired {
        kind: ConsentKind::Separate,
    })
}
