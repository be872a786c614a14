//! Carrier three-element check (运营商三要素): does this mobile number belong, in the carrier's
//! real-name records, to this name and this resident ID number?
//!
//! Inputs are validated here before any vendor call (vendors bill per call, and a malformed ID or
//! an MVNO number cannot be verified anyway): a bad ID number or mobile, or a virtual-operator
//! number the vendor does not support, comes back as `InvalidInput` with no call made. Identical
//! inputs repeated faster than the configured rate (default 10 per minute, as e签宝 throttles) are
//! refused locally with `RateLimited`.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};

use hegui_core::{Clock, UnixMillis};
use serde::{Deserialize, Serialize};

use super::{
    Attributes, Evidence, Method, VerificationOutcome, VerificationProvider, VerificationRequest,
    VerificationResult, invalid, local_request_id, unsupported,
};
use crate::mask::{SubjectHasher, mask_mobile, mask_name, mask_resident_id};
use crate::mobile::{MobileError, normalize_mobile};
use crate::resident_id::{IdError, ResidentId, shanghai_date, validate_resident_id};

/// The normalised elements sent to the vendor. `Debug` masks them.
#[derive(Clone, PartialEq, Eq)]
pub struct ThreeElementQuery {
    /// Name, trimmed.
    pub name: String,
    /// Normalised 18-character resident ID number.
    pub id_number: String,
    /// Normalised 11-digit mobile number.
    pub mobile: String,
}

impl fmt::Debug for ThreeElementQuery {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ThreeElementQuery")
            .field("name", &mask_name(&self.name))
            .field("id_number", &mask_resident_id(&self.id_number))
            .field("mobile", &mask_mobile(&self.mobile))
            .finish()
    }
}

/// A vendor's answer, already mapped to the shared result (see [`super::vendor`] for the code
/// tables). Transport failures are `ProviderError { retryable: true, .. }`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VendorAnswer {
    /// The mapped result.
    pub result: VerificationResult,
    /// The vendor's request id.
    pub request_id: String,
    /// Whether the vendor bills this answer.
    pub billable: bool,
}

/// A vendor's three-element API (Tencent `PhoneVerification`, Aliyun `Mobile3MetaSimpleVerify`
/// …), implemented outside this crate.
pub trait ThreeElementApi: Send + Sync {
    /// Vendor name for the evidence, e.g. `tencent`.
    fn vendor(&self) -> &str;

    /// Whether the vendor can check MVNO numbers (170/171/162/165/167). Most cannot.
    fn supports_mvno(&self) -> bool {
        false
    }

    /// Runs the check.
    fn check(&self, query: &ThreeElementQuery) -> VendorAnswer;
}

/// Settings of [`ThreeElement`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ThreeElementConfig {
    /// Vendor calls allowed with identical inputs within `window_ms` (default 10).
    pub max_identical: u32,
    /// The throttling window in milliseconds (default 60 000).
    pub window_ms: i64,
}

impl Default for ThreeElementConfig {
    fn default() -> Self {
        Self {
            max_identical: 10,
            window_ms: 60_000,
        }
    }
}

/// Entries kept by the throttle before a full sweep of stale keys.
const SWEEP_AT: usize = 4096;

/// The three-element provider.
pub struct ThreeElement {
    api: Arc<dyn ThreeElementApi>,
    hasher: SubjectHasher,
    clock: Arc<dyn Clock>,
    config: ThreeElementConfig,
    name: String,
    /// Recent vendor calls per HMAC of the inputs (no plaintext held).
    recent: Mutex<HashMap<String, VecDeque<UnixMillis>>>,
}

impl ThreeElement {
    /// A provider over `api` with the default throttle; `hasher` holds the deployment's pepper.
    pub fn new(
        api: Arc<dyn ThreeElementApi>,
        hasher: SubjectHasher,
        clock: Arc<dyn Clock>,
    ) -> Self {
        let name = format!("three_element:{}", api.vendor());
        Self {
            api,
            hasher,
            clock,
            config: ThreeElementConfig::default(),
            name,
            recent: Mutex::new(HashMap::new()),
        }
    }

    /// Replaces the throttle settings.
    pub fn with_config(mut self, config: ThreeElementConfig) -> Self {
        self.config = config;
        self
    }

    /// Validates the three elements; the error is the `InvalidInput` result to return.
    fn validate(
        &self,
        name: &str,
        id_number: &str,
        mobile: &str,
        now: UnixMillis,
    ) -> Result<(ThreeElementQuery, ResidentId), VerificationResult> {
        let name = name.trim();
        let len = name.chars().count();
        if len == 0 {
            return Err(invalid("name", "empty"));
        }
        if len > 64 {
            return Err(invalid("name", "too_long"));
        }
        if name.chars().any(|c| c.is_control() || c.is_ascii_digit()) {
            return Err(invalid("name", "format"));
        }
        let id = validate_resident_id(id_number, shanghai_date(now)).map_err(|e| {
            let reason = match e {
                IdError::Length { .. } => "length",
                IdError::Checksum { .. } => "checksum",
                IdError::BirthDate { .. } => "birth_date",
                _ => "format",
            };
            invalid("id_number", reason)
        })?;
        let mobile = normalize_mobile(mobile).map_err(|e| {
            let reason = match e {
                MobileError::Length { .. } => "length",
                MobileError::Prefix { .. } => "prefix",
                MobileError::CountryCode => "country_code",
                _ => "format",
            };
            invalid("mobile", reason)
        })?;
        if mobile.is_mvno() && !self.api.supports_mvno() {
            return Err(invalid("mobile", "mvno_unsupported"));
        }
        let query = ThreeElementQuery {
            name: name.to_owned(),
            id_number: id.number().to_owned(),
            mobile: mobile.as_str().to_owned(),
        };
        Ok((query, id))
    }

    /// Records a vendor call for `key` unless the identical-input limit is reached.
    fn admit(&self, key: String, now: UnixMillis) -> bool {
        let mut recent = self.recent.lock().unwrap_or_else(PoisonError::into_inner);
        let cutoff = now.saturating_sub(self.config.window_ms);
        if recent.len() >= SWEEP_AT {
            recent.retain(|_, calls| calls.back().is_some_and(|&t| t > cutoff));
        }
        let calls = recent.entry(key).or_default();
        while calls.front().is_some_and(|&t| t <= cutoff) {
            calls.pop_front();
        }
        if calls.len() >= self.config.max_identical as usize {
            return false;
        }
        calls.push_back(now);
        true
    }

    fn run(&self, name: &str, id_number: &str, mobile: &str, now: UnixMillis) -> Run {
        let (query, id) = match self.validate(name, id_number, mobile, now) {
            Ok(v) => v,
            Err(result) => return Run::local(result),
        };
        let hashed_inputs = vec![
            format!("name:{}", self.hasher.hash(&query.name)),
            format!("id_number:{}", self.hasher.hash(&query.id_number)),
            format!("mobile:{}", self.hasher.hash(&query.mobile)),
        ];
        let key = self.hasher.hash(&format!(
            "hegui-3e-v1\n{}\n{}\n{}",
            query.name, query.id_number, query.mobile
        ));
        if !self.admit(key, now) {
            return Run {
                hashed_inputs,
                ..Run::local(VerificationResult::RateLimited)
            };
        }
        let answer = self.api.check(&query);
        let attributes = if answer.result == VerificationResult::Match {
            Attributes {
                birth_date: Some(id.birth_date()),
                subject_ref: Some(self.hasher.hash(id.number())),
            }
        } else {
            Attributes::default()
        };
        Run {
            result: answer.result,
            request_id: Some(answer.request_id),
            billable: answer.billable,
            hashed_inputs,
            attributes,
        }
    }
}

/// The parts of an outcome one run produces.
struct Run {
    result: VerificationResult,
    request_id: Option<String>,
    billable: bool,
    hashed_inputs: Vec<String>,
    attributes: Attributes,
}

impl Run {
    /// A result decided without calling the vendor.
    fn local(result: VerificationResult) -> Self {
        Self {
            result,
            request_id: None,
            billable: false,
            hashed_inputs: Vec::new(),
            attributes: Attributes::default(),
        }
    }
}

impl fmt::Debug for ThreeElement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ThreeElement")
            .field("name", &self.name)
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl VerificationProvider for ThreeElement {
    fn name(&self) -> &str {
        &self.name
    }

    fn verify(&self, req: &VerificationRequest) -> VerificationOutcome {
        let now = self.clock.now_millis();
        let run = match req {
            VerificationRequest::ThreeElement {
                name,
                id_number,
                mobile,
            } => self.run(name, id_number, mobile, now),
            _ => Run::local(unsupported()),
        };
        VerificationOutcome {
            result: run.result,
            evidence: Evidence {
                provider: self.name.clone(),
                method: Method::ThreeElement,
                request_id: run.request_id.unwrap_or_else(|| local_request_id(now)),
                at: now,
                hashed_inputs: run.hashed_inputs,
                billable: run.billable,
            },
            attributes: run.attributes,
        }
    }
}
