//! In-memory stand-ins for the vendor and national-service APIs, for tests and demos. They hold
//! plaintext test identities and count their calls, so a test can prove that a check was (or was
//! not) forwarded. Never wire them into production.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::nnid::{NetworkIdentityApi, NnidAssertion, NnidError};
use super::three::{ThreeElementApi, ThreeElementQuery, VendorAnswer};
use super::{MismatchDetail, VerificationResult};

/// A carrier with a list of real-name registrations `(name, id_number, mobile)`.
#[derive(Debug, Default)]
pub struct FakeThreeElementApi {
    people: Vec<(String, String, String)>,
    mvno: bool,
    fixed: Option<VerificationResult>,
    calls: AtomicUsize,
}

impl FakeThreeElementApi {
    /// A carrier with no registrations and no MVNO support.
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers `mobile` to `name` and `id_number` (normalised forms).
    pub fn with_person(mut self, name: &str, id_number: &str, mobile: &str) -> Self {
        self.people
            .push((name.to_owned(), id_number.to_owned(), mobile.to_owned()));
        self
    }

    /// Claims MVNO support, so MVNO numbers are forwarded.
    pub fn supporting_mvno(mut self) -> Self {
        self.mvno = true;
        self
    }

    /// Answers every call with `result` (an outage, a vendor rate limit …).
    pub fn always(mut self, result: VerificationResult) -> Self {
        self.fixed = Some(result);
        self
    }

    /// Calls received so far.
    pub fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }
}

impl ThreeElementApi for FakeThreeElementApi {
    fn vendor(&self) -> &str {
        "fake"
    }

    fn supports_mvno(&self) -> bool {
        self.mvno
    }

    fn check(&self, q: &ThreeElementQuery) -> VendorAnswer {
        let n = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
        let request_id = format!("fake-3e-{n}");
        if let Some(result) = &self.fixed {
            return VendorAnswer {
                result: result.clone(),
                request_id,
                billable: false,
            };
        }
        let Some((name, id, _)) = self.people.iter().find(|p| p.2 == q.mobile) else {
            return VendorAnswer {
                result: VerificationResult::NoRecord,
                request_id,
                billable: false,
            };
        };
        let result = match (*name == q.name, *id == q.id_number) {
            (true, true) => VerificationResult::Match,
            (true, false) => VerificationResult::Mismatch {
                detail: Some(MismatchDetail::MobileIdMismatch),
            },
            (false, true) => VerificationResult::Mismatch {
                detail: Some(MismatchDetail::MobileNameMismatch),
            },
            (false, false) => VerificationResult::Mismatch {
                detail: Some(MismatchDetail::MobileMatchesNeither),
            },
        };
        VendorAnswer {
            result,
            request_id,
            billable: true,
        }
    }
}

/// A national network identity service that knows a fixed set of tokens; unknown tokens are
/// [`NnidError::InvalidToken`].
#[derive(Debug, Default)]
pub struct FakeNetworkIdentityApi {
    tokens: HashMap<String, Result<(bool, String), NnidError>>,
    calls: AtomicUsize,
}

impl FakeNetworkIdentityApi {
    /// A service with no tokens.
    pub fn new() -> Self {
        Self::default()
    }

    /// `token` verifies and stands for `network_id` (a 网号).
    pub fn with_token(mut self, token: &str, network_id: &str) -> Self {
        self.tokens
            .insert(token.to_owned(), Ok((true, network_id.to_owned())));
        self
    }

    /// `token` is known but does not verify (failed authentication).
    pub fn with_refused_token(mut self, token: &str) -> Self {
        self.tokens
            .insert(token.to_owned(), Ok((false, String::new())));
        self
    }

    /// `token` makes the service fail with `error`.
    pub fn with_error(mut self, token: &str, error: NnidError) -> Self {
        self.tokens.insert(token.to_owned(), Err(error));
        self
    }

    /// Calls received so far.
    pub fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }
}

impl NetworkIdentityApi for FakeNetworkIdentityApi {
    fn verify_token(&self, token: &str) -> Result<NnidAssertion, NnidError> {
        let n = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
        match self.tokens.get(token) {
            None => Err(NnidError::InvalidToken),
            Some(Err(e)) => Err(e.clone()),
            Some(Ok((verified, network_id))) => Ok(NnidAssertion {
                verified: *verified,
                transaction_id: format!("fake-nnid-{n}"),
                network_id: network_id.clone(),
            }),
        }
    }
}
