//! SMS one-time codes (短信验证码): proof that the user holds a mobile number.
//!
//! Mainland numbers are registered under the holder's real name, so a passed code ties the account
//! to a real-name number (the "mobile number" path of DS-9). [`SmsOtp::issue`] draws a uniform
//! six-digit code from the OS random source, sends it through an [`SmsSender`] and returns an
//! [`IssuedCode`] for the caller to persist: an HMAC of the code bound to the mobile's HMAC and
//! the expiry, never the code or the number. [`SmsOtp::check`] compares in constant time and
//! enforces expiry (default 5 minutes) and the attempt limit (default 5). The caller deletes the
//! pending code after a match (codes are single-use) and stores the new attempt count after a miss.

use std::sync::{Arc, Mutex, PoisonError};

use hegui_core::{Clock, UnixMillis};
use serde::{Deserialize, Serialize};

use super::{
    Attributes, Evidence, Method, VerificationOutcome, VerificationProvider, VerificationRequest,
    VerificationResult, invalid, local_request_id, unsupported,
};
use crate::mask::SubjectHasher;
use crate::mobile::Mobile;

/// Sends a text message. Implementations wrap an SMS gateway; the text already holds the code.
pub trait SmsSender: Send + Sync {
    /// Sends `text` to the 11-digit mainland `mobile`.
    fn send(&self, mobile: &str, text: &str) -> Result<(), SendError>;
}

/// Why a message was not sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SendError {
    /// The gateway refused this message (blocked number, template not approved …).
    #[error("SMS rejected: {0}")]
    Rejected(String),
    /// The gateway could not be reached or failed; trying again may work.
    #[error("SMS gateway unavailable: {0}")]
    Unavailable(String),
}

/// One message recorded by [`MemorySender`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentSms {
    /// Recipient.
    pub mobile: String,
    /// Text as sent.
    pub text: String,
}

/// An [`SmsSender`] that keeps messages in memory, for tests and demos. It holds plaintext numbers
/// and codes: never use it in production.
#[derive(Debug, Default)]
pub struct MemorySender {
    sent: Mutex<Vec<SentSms>>,
}

impl MemorySender {
    /// An empty outbox.
    pub fn new() -> Self {
        Self::default()
    }

    /// Every message sent so far, oldest first.
    pub fn messages(&self) -> Vec<SentSms> {
        self.sent
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The six-digit code in the latest message to `mobile`, if any.
    pub fn last_code(&self, mobile: &str) -> Option<String> {
        let sent = self.sent.lock().unwrap_or_else(PoisonError::into_inner);
        let text = &sent.iter().rev().find(|m| m.mobile == mobile)?.text;
        let chars: Vec<char> = text.chars().collect();
        chars
            .windows(6)
            .enumerate()
            .find(|(i, w)| {
                w.iter().all(char::is_ascii_digit)
                    && !chars.get(i + 6).is_some_and(char::is_ascii_digit)
                    && (*i == 0 || !chars[i - 1].is_ascii_digit())
            })
            .map(|(_, w)| w.iter().collect())
    }
}

impl SmsSender for MemorySender {
    fn send(&self, mobile: &str, text: &str) -> Result<(), SendError> {
        self.sent
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(SentSms {
                mobile: mobile.to_owned(),
                text: text.to_owned(),
            });
        Ok(())
    }
}

/// Settings of [`SmsOtp`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SmsOtpConfig {
    /// Validity of a code in milliseconds (default 5 minutes).
    pub ttl_ms: i64,
    /// Wrong answers allowed before the code is dead (default 5).
    pub max_attempts: u32,
    /// Message text; `{code}` and `{minutes}` are replaced. The SMS signature (【…】) is the
    /// gateway's business.
    pub template: String,
}

impl Default for SmsOtpConfig {
    fn default() -> Self {
        Self {
            ttl_ms: 5 * 60 * 1000,
            max_attempts: 5,
            template: "验证码 {code}，{minutes} 分钟内有效。请勿告诉他人。".to_owned(),
        }
    }
}

/// A pending code as the caller persists it: nothing in it reveals the code or the number.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IssuedCode {
    /// HMAC of the mobile number ([`SubjectHasher::hash`]).
    pub subject: String,
    /// HMAC of the code, bound to `subject`, `issued_at` and `expires_at`.
    pub code_mac: String,
    /// When the code was issued.
    pub issued_at: UnixMillis,
    /// First instant at which the code no longer works.
    pub expires_at: UnixMillis,
    /// Wrong answers so far.
    pub attempts: u32,
}

/// Result of [`SmsOtp::check`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodeCheck {
    /// Correct and in time: delete the pending code now.
    Match,
    /// Wrong (or malformed) answer; persist `attempts` as the new count.
    Wrong {
        /// Attempt count to store.
        attempts: u32,
    },
    /// Too late; issue a new code.
    Expired,
    /// The attempt limit was reached; issue a new code.
    Exhausted,
}

/// Why a code could not be issued.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum OtpError {
    /// The OS random source failed; no code was sent.
    #[error("no randomness available to draw a code")]
    Random,
    /// The message could not be sent.
    #[error(transparent)]
    Send(#[from] SendError),
}

/// The SMS one-time code provider.
pub struct SmsOtp {
    hasher: SubjectHasher,
    sender: Arc<dyn SmsSender>,
    clock: Arc<dyn Clock>,
    config: SmsOtpConfig,
}

impl SmsOtp {
    /// A provider with the default settings. `hasher` holds the deployment's pepper; `clock`
    /// supplies "now" for [`VerificationProvider::verify`].
    pub fn new(hasher: SubjectHasher, sender: Arc<dyn SmsSender>, clock: Arc<dyn Clock>) -> Self {
        Self {
            hasher,
            sender,
            clock,
            config: SmsOtpConfig::default(),
        }
    }

    /// Replaces the settings.
    pub fn with_config(mut self, config: SmsOtpConfig) -> Self {
        self.config = config;
        self
    }

    /// Draws a code, sends it to `mobile` and returns what to persist.
    pub fn issue(&self, mobile: &Mobile, now: UnixMillis) -> Result<IssuedCode, OtpError> {
        let code = draw_code()?;
        let subject = self.hasher.hash(mobile.as_str());
        let expires_at = now.saturating_add(self.config.ttl_ms);
        let code_mac = hex::encode(
            self.hasher
                .mac_bytes(&mac_input(&subject, now, expires_at, &code)),
        );
        let minutes = (self.config.ttl_ms / 60_000).max(1).to_string();
        let text = self
            .config
            .template
            .replace("{code}", &code)
            .replace("{minutes}", &minutes);
        self.sender.send(mobile.as_str(), &text)?;
        Ok(IssuedCode {
            subject,
            code_mac,
            issued_at: now,
            expires_at,
            attempts: 0,
        })
    }

    /// Checks `answer` against `pending` at `now`, in constant time. The limit is checked first,
    /// so a correct answer after too many wrong ones is still refused.
    pub fn check(&self, pending: &IssuedCode, answer: &str, now: UnixMillis) -> CodeCheck {
        if pending.attempts >= self.config.max_attempts {
            return CodeCheck::Exhausted;
        }
        if now >= pending.expires_at {
            return CodeCheck::Expired;
        }
        let answer: String = answer
            .chars()
            .map(crate::fold_char)
            .filter(|c| !c.is_whitespace())
            .collect();
        let well_formed = answer.len() == 6 && answer.bytes().all(|b| b.is_ascii_digit());
        let input = mac_input(
            &pending.subject,
            pending.issued_at,
            pending.expires_at,
            &answer,
        );
        // Always compute the MAC, so timing does not reveal whether the answer was well formed.
        let right = self.hasher.verify_hex(&input, &pending.code_mac);
        if well_formed && right {
            CodeCheck::Match
        } else {
            CodeCheck::Wrong {
                attempts: pending.attempts.saturating_add(1),
            }
        }
    }
}

impl VerificationProvider for SmsOtp {
    fn name(&self) -> &str {
        "sms_otp"
    }

    fn verify(&self, req: &VerificationRequest) -> VerificationOutcome {
        let now = self.clock.now_millis();
        let (result, subject) = match req {
            VerificationRequest::SmsCode { pending, answer } => {
                let result = match self.check(pending, answer, now) {
                    CodeCheck::Match => VerificationResult::Match,
                    CodeCheck::Wrong { .. } => VerificationResult::Mismatch { detail: None },
                    CodeCheck::Expired => invalid("code", "expired"),
                    CodeCheck::Exhausted => VerificationResult::RateLimited,
                };
                (result, Some(pending.subject.clone()))
            }
            _ => (unsupported(), None),
        };
        VerificationOutcome {
            result,
            evidence: Evidence {
                provider: self.name().to_owned(),
                method: Method::SmsOtp,
                request_id: local_request_id(now),
                at: now,
                hashed_inputs: subject.map(|s| format!("mobile:{s}")).into_iter().collect(),
                billable: false,
            },
            attributes: Attributes::default(),
        }
    }
}

impl std::fmt::Debug for SmsOtp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmsOtp")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// The bytes the code MAC covers; domain-separated from plain subject HMACs.
fn mac_input(subject: &str, issued_at: UnixMillis, expires_at: UnixMillis, code: &str) -> Vec<u8> {
    format!("hegui-otp-v1\n{subject}\n{issued_at}\n{expires_at}\n{code}").into_bytes()
}

/// A uniform six-digit code: rejection sampling over `u32` avoids modulo bias.
fn draw_code() -> Result<String, OtpError> {
    const LIMIT: u32 = 4_294_000_000; // largest multiple of 10^6 below 2^32
    loop {
        let mut b = [0u8; 4];
        getrandom::fill(&mut b).map_err(|_| OtpError::Random)?;
        let v = u32::from_le_bytes(b);
        if v < LIMIT {
            return Ok(format!("{:06}", v % 1_000_000));
        }
    }
}
