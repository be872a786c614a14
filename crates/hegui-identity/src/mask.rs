//! What may be shown and what may be stored of an identifier.
//!
//! Resident ID numbers and mobile numbers are (sensitive) personal information (GB/T 35273-2020
//! Annex B lists 身份证件号码). hegui keeps a peppered HMAC-SHA256 of the normalised value, which
//! lets it find the same person again without being able to read the number back, plus a masked
//! display form. Plaintext is kept only where a law requires retention, and not by this crate.

use std::fmt;

use hmac::digest::KeyInit;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::mobile::Mobile;
use crate::resident_id::ResidentId;

/// Keeps the first `head` and last `tail` characters and stars the rest; a value too short to
/// keep anything is starred entirely.
pub fn mask_middle(s: &str, head: usize, tail: usize) -> String {
    let n = s.chars().count();
    if n <= head + tail {
        return "*".repeat(n);
    }
    s.chars()
        .enumerate()
        .map(|(i, c)| if i < head || i >= n - tail { c } else { '*' })
        .collect()
}

/// `11010519491231002X` → `110105********002X`: the address code and the last four characters
/// stay, the birth date goes.
pub fn mask_resident_id(number: &str) -> String {
    mask_middle(number, 6, 4)
}

/// `13800138000` → `138****8000`.
pub fn mask_mobile(number: &str) -> String {
    mask_middle(number, 3, 4)
}

/// `张三丰` → `张**`: the first character and a star for each other one (at least one star).
pub fn mask_name(name: &str) -> String {
    let mut chars = name.trim().chars();
    match chars.next() {
        None => String::new(),
        Some(first) => {
            let stars = chars.count().max(1);
            let mut out = String::with_capacity(first.len_utf8() + stars);
            out.push(first);
            out.push_str(&"*".repeat(stars));
            out
        }
    }
}

/// The stored form of an identifier: an HMAC to match on and a mask to show.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredSubject {
    /// Lower-case hex HMAC-SHA256 of the normalised value under the deployment's pepper.
    pub hmac: String,
    /// Masked display form.
    pub masked: String,
}

/// HMAC-SHA256 under a secret pepper, the only form in which hegui stores identifiers.
///
/// The pepper must be secret, random (32 bytes or more) and stable for the life of the data: a
/// new pepper makes every stored HMAC unmatchable. `Debug` never prints it.
#[derive(Clone)]
pub struct SubjectHasher {
    mac: Hmac<Sha256>,
}

impl SubjectHasher {
    /// A hasher keyed with `key` (standard HMAC: any length works; a key longer than the 64-byte
    /// block is hashed first).
    pub fn new(key: &[u8]) -> Self {
        // Build the block-sized key exactly as RFC 2104 does, so construction cannot fail.
        let mut block = [0u8; 64];
        if key.len() > block.len() {
            block[..32].copy_from_slice(&Sha256::digest(key));
        } else {
            block[..key.len()].copy_from_slice(key);
        }
        Self {
            mac: <Hmac<Sha256> as KeyInit>::new(&block.into()),
        }
    }

    /// Lower-case hex HMAC of an already normalised value (a [`ResidentId::number`], a
    /// [`Mobile::as_str`], a 网号 …).
    pub fn hash(&self, normalised: &str) -> String {
        hex::encode(self.mac_bytes(normalised.as_bytes()))
    }

    /// Raw HMAC bytes, for callers that verify in constant time.
    pub(crate) fn mac_bytes(&self, data: &[u8]) -> [u8; 32] {
        let mut mac = self.mac.clone();
        mac.update(data);
        mac.finalize().into_bytes().into()
    }

    /// Constant-time check of `data` against a stored lower-case hex HMAC.
    pub(crate) fn verify_hex(&self, data: &[u8], stored_hex: &str) -> bool {
        let Ok(stored) = hex::decode(stored_hex) else {
            return false;
        };
        let mut mac = self.mac.clone();
        mac.update(data);
        mac.verify_slice(&stored).is_ok()
    }

    /// Stored form of a resident ID number.
    pub fn stored_id(&self, id: &ResidentId) -> StoredSubject {
        StoredSubject {
            hmac: self.hash(id.number()),
            masked: id.masked(),
        }
    }

    /// Stored form of a mobile number.
    pub fn stored_mobile(&self, mobile: &Mobile) -> StoredSubject {
        StoredSubject {
            hmac: self.hash(mobile.as_str()),
            masked: mobile.masked(),
        }
    }
}

impl fmt::Debug for SubjectHasher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SubjectHasher(<pepper>)")
    }
}
