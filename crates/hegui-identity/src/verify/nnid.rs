//! 网号/网证: the national network identity authentication public service
//! (国家网络身份认证公共服务, 《国家网络身份认证公共服务管理办法》, in force 2025-07-15).
//!
//! The user enrols in the state app and hands the platform a token; the platform asks the service
//! whether it verifies. The 网号 is a letters-and-digits identifier with no plaintext identity in it.
//! The rules are data minimisation: a platform that accepts 网号/网证 must not then demand plaintext
//! identity unless a law requires it or the user gives separate consent (单独同意), and users who do
//! not use it must get equal service through other methods ([`super::policy`]).
//!
//! **The developer-side contract of the service (SDK flow, fields, app-scoped identifiers, age
//! claims) is not public to us.** [`NetworkIdentityApi`] therefore models only what the measures
//! guarantee: a pass/fail result, a transaction id and a stable pseudonymous identifier. The
//! outcome keeps only an HMAC of that identifier ([`super::Attributes::subject_ref`]) and never any
//! plaintext identity; receiving plaintext fields (with separate consent) is deliberately not part
//! of this provider.

use std::fmt;
use std::sync::Arc;

use hegui_core::Clock;

use super::{
    Attributes, Evidence, Method, VerificationOutcome, VerificationProvider, VerificationRequest,
    VerificationResult, invalid, local_request_id, mask_opaque, unsupported,
};
use crate::mask::SubjectHasher;

/// What the national service says about a token (result-only mode).
#[derive(Clone, PartialEq, Eq)]
pub struct NnidAssertion {
    /// The token verified (认证通过).
    pub verified: bool,
    /// The service's transaction id, kept as evidence.
    pub transaction_id: String,
    /// The 网号 or app-scoped application identifier (网络身份应用标识): pseudonymous, stable.
    pub network_id: String,
}

impl fmt::Debug for NnidAssertion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NnidAssertion")
            .field("verified", &self.verified)
            .field("transaction_id", &self.transaction_id)
            .field("network_id", &mask_opaque(&self.network_id))
            .finish()
    }
}

/// Why the service gave no assertion.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NnidError {
    /// The token is malformed or unknown to the service.
    #[error("network identity token is invalid")]
    InvalidToken,
    /// The token was valid but has expired or was already used.
    #[error("network identity token has expired")]
    ExpiredToken,
    /// The service throttled the platform.
    #[error("network identity service rate limit")]
    RateLimited,
    /// The service could not be reached or failed.
    #[error("network identity service unavailable: {0}")]
    Unavailable(String),
}

/// The platform's connection to the national service (SDK or HTTP client, implemented outside
/// this crate).
pub trait NetworkIdentityApi: Send + Sync {
    /// Asks the service to verify `token`.
    fn verify_token(&self, token: &str) -> Result<NnidAssertion, NnidError>;
}

/// The 网号/网证 provider.
pub struct NetworkIdentity {
    api: Arc<dyn NetworkIdentityApi>,
    hasher: SubjectHasher,
    clock: Arc<dyn Clock>,
}

impl NetworkIdentity {
    /// A provider over `api`; `hasher` holds the deployment's pepper.
    pub fn new(
        api: Arc<dyn NetworkIdentityApi>,
        hasher: SubjectHasher,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self { api, hasher, clock }
    }
}

impl fmt::Debug for NetworkIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NetworkIdentity").finish_non_exhaustive()
    }
}

/// Upper bound on a token's length; anything longer is not a token.
const MAX_TOKEN: usize = 4096;

impl VerificationProvider for NetworkIdentity {
    fn name(&self) -> &str {
        "network_identity"
    }

    fn verify(&self, req: &VerificationRequest) -> VerificationOutcome {
        let now = self.clock.now_millis();
        let mut hashed_inputs = Vec::new();
        let mut attributes = Attributes::default();
        let mut request_id = None;
        let result = match req {
            VerificationRequest::NetworkIdentity { token } => {
                let token = token.trim();
                if token.is_empty() || token.len() > MAX_TOKEN {
                    invalid("token", "format")
                } else {
                    hashed_inputs.push(format!("token:{}", self.hasher.hash(token)));
                    match self.api.verify_token(token) {
                        Ok(a) => {
                            request_id = Some(a.transaction_id);
                            if a.verified {
                                let subject = self.hasher.hash(&a.network_id);
                                hashed_inputs.push(format!("network_id:{subject}"));
                                attributes.subject_ref = Some(subject);
                                VerificationResult::Match
                            } else {
                                VerificationResult::Mismatch { detail: None }
                            }
                        }
                        Err(NnidError::InvalidToken) => invalid("token", "invalid"),
                        Err(NnidError::ExpiredToken) => invalid("token", "expired"),
                        Err(NnidError::RateLimited) => VerificationResult::RateLimited,
                        Err(NnidError::Unavailable(message)) => VerificationResult::ProviderError {
                            retryable: true,
                            message,
                        },
                    }
                }
            }
            _ => unsupported(),
        };
        VerificationOutcome {
            result,
            evidence: Evidence {
                provider: self.name().to_owned(),
                method: Method::NetworkIdentity,
                request_id: request_id.unwrap_or_else(|| local_request_id(now)),
                at: now,
                hashed_inputs,
                billable: false,
            },
            attributes,
        }
    }
}
