//! Sealing of message content at rest: ChaCha20-Poly1305 with a random nonce per message.
//!
//! The key lives outside the database (a file in the gateway's data directory or a secret in
//! the config), so a copy of the database alone reveals no dialogue. Sealed form:
//! `nonce (12 bytes) ‖ ciphertext+tag`.

use chacha20poly1305::aead::{Aead, KeyInit};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};

/// Why content could not be sealed or opened.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SealError {
    /// The key is not 32 bytes of hex.
    #[error("content key must be 64 hex digits (32 bytes)")]
    BadKey,
    /// The system random source failed.
    #[error("no randomness for a nonce")]
    Random,
    /// Wrong key, or the ciphertext was edited or truncated.
    #[error("content cannot be opened: wrong key or edited ciphertext")]
    Open,
}

/// Seals and opens message content with one 256-bit key.
#[derive(Clone)]
pub struct Sealer {
    cipher: ChaCha20Poly1305,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sealer(..)")
    }
}

impl Sealer {
    /// A sealer from 32 raw key bytes.
    pub fn new(key: &[u8; 32]) -> Self {
        Self {
            cipher: ChaCha20Poly1305::new(&Key::from(*key)),
        }
    }

    /// A sealer from 64 hex digits.
    pub fn from_hex(key: &str) -> Result<Self, SealError> {
        let bytes = hex::decode(key.trim()).map_err(|_| SealError::BadKey)?;
        let key: [u8; 32] = bytes.try_into().map_err(|_| SealError::BadKey)?;
        Ok(Self::new(&key))
    }

    /// A fresh random key, as 64 hex digits.
    pub fn generate_hex() -> Result<String, SealError> {
        let mut key = [0u8; 32];
        getrandom::fill(&mut key).map_err(|_| SealError::Random)?;
        Ok(hex::encode(key))
    }

    /// Seals `plain`.
    pub fn seal(&self, plain: &str) -> Result<Vec<u8>, SealError> {
        let mut nonce = [0u8; 12];
        getrandom::fill(&mut nonce).map_err(|_| SealError::Random)?;
        let ct = self
            .cipher
            .encrypt(&Nonce::from(nonce), plain.as_bytes())
            .map_err(|_| SealError::Open)?;
        let mut out = Vec::with_capacity(12 + ct.len());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ct);
        Ok(out)
    }

    /// Opens what [`Sealer::seal`] produced.
    pub fn open(&self, sealed: &[u8]) -> Result<String, SealError> {
        if sealed.len() < 12 {
            return Err(SealError::Open);
        }
        let (nonce, ct) = sealed.split_at(12);
        let nonce: [u8; 12] = nonce.try_into().map_err(|_| SealError::Open)?;
        let plain = self
            .cipher
            .decrypt(&Nonce::from(nonce), ct)
            .map_err(|_| SealError::Open)?;
        String::from_utf8(plain).map_err(|_| SealError::Open)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gai_11_sealed_content_round_trips_and_hides_plaintext() {
        let s = Sealer::from_hex(&Sealer::generate_hex().unwrap()).unwrap();
        let sealed = s.seal("你好，世界").unwrap();
        assert!(!sealed.windows(3).any(|w| w == "你".as_bytes()));
        assert_eq!(s.open(&sealed).unwrap(), "你好，世界");
        let other = Sealer::new(&[7; 32]);
        assert_eq!(other.open(&sealed), Err(SealError::Open));
        let mut edited = sealed.clone();
        edited[14] ^= 1;
        assert_eq!(s.open(&edited), Err(SealError::Open));
    }
}
