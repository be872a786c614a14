//! Anti-tampering (DS-18): a TC260-style `SecurityData` string in `ReservedCode1` (producer) or
//! `ReservedCode2` (propagator), signed with SM3withSM2.
//!
//! The security guide (TC260-PG-202511A) names SM3withSM2 (OID 1.2.156.10197.1.501, user ID
//! `1234567812345678`), a TBS string made of the label members, and a content binding by SM3 hash
//! over a content selection. hegui writes two signatures: one over the members alone (the guide's
//! Annex A.1 TBS, so a verifier that knows only the guide can check it) and one over the members
//! plus the content hash, so that editing the media payload is detected too; the binding would be
//! worthless if it were not itself signed. The JSON is compact and contains no space or backslash,
//! so it survives Annex E j) once embedded as a string (`"` becomes the allowed `\"`).
//!
//! The public key is embedded so that integrity can be checked without configuration; that proves
//! only that nobody edited the file after a signer signed it. Pinning the producer's public key
//! (`--pubkey`) is what proves *who* signed.

use sm2::dsa::signature::{Signer, Verifier};
use sm2::dsa::{Signature, SigningKey, VerifyingKey};
use sm2::elliptic_curve::Generate;
use sm2::pkcs8::{
    DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey, LineEnding,
};
use sm3::{Digest, Sm3};

/// The SM2 distinguishing identifier (user ID) the guide uses by default.
pub const SM2_USER_ID: &str = "1234567812345678";
/// OID of SM3withSM2.
pub const ALG_SM3_WITH_SM2: &str = "1.2.156.10197.1.501";
/// OID of SM3.
pub const ALG_SM3: &str = "1.2.156.10197.1.401";

/// Key handling or signature failures.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// The PEM text is not an SM2 private key (PKCS#8).
    #[error("not an SM2 private key in PKCS#8 PEM: {0}")]
    PrivateKey(String),
    /// The PEM text is not an SM2 public key (SPKI).
    #[error("not an SM2 public key in SPKI PEM: {0}")]
    PublicKey(String),
    /// Key generation or encoding failed.
    #[error("SM2 key generation failed: {0}")]
    Generate(String),
}

/// Whose protection a `SecurityData` is: it decides which members are signed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignerRole {
    /// The generation service, in `ReservedCode1`: signs Label, ContentProducer, ProduceID.
    Producer,
    /// The platform, in `ReservedCode2`: signs every member up to PropagateID.
    Propagator,
}

impl SignerRole {
    fn name(self) -> &'static str {
        match self {
            SignerRole::Producer => "Producer",
            SignerRole::Propagator => "Propagator",
        }
    }
}

/// An SM2 key pair in PEM form, as `hegui keygen` writes it.
#[derive(Debug, Clone)]
pub struct KeyPairPem {
    /// PKCS#8 private key.
    pub private_pem: String,
    /// SPKI public key.
    pub public_pem: String,
}

/// Generates a fresh SM2 key pair from the operating system's random source.
pub fn generate_key_pair() -> Result<KeyPairPem, KeyError> {
    let secret = sm2::SecretKey::try_generate().map_err(|e| KeyError::Generate(e.to_string()))?;
    let private_pem = secret
        .to_pkcs8_pem(LineEnding::LF)
        .map_err(|e| KeyError::Generate(e.to_string()))?
        .to_string();
    let public_pem = secret
        .public_key()
        .to_public_key_pem(LineEnding::LF)
        .map_err(|e| KeyError::Generate(e.to_string()))?;
    Ok(KeyPairPem {
        private_pem,
        public_pem,
    })
}

/// A private key that signs labels.
#[derive(Clone)]
pub struct LabelSigner {
    key: SigningKey,
    public: LabelVerifier,
}

impl std::fmt::Debug for LabelSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LabelSigner")
            .field("key_id", &self.public.key_id)
            .finish_non_exhaustive()
    }
}

impl LabelSigner {
    /// Loads a PKCS#8 PEM private key.
    pub fn from_pem(pem: &str) -> Result<Self, KeyError> {
        let secret = sm2::SecretKey::from_pkcs8_pem(pem.trim())
            .map_err(|e| KeyError::PrivateKey(e.to_string()))?;
        let key = SigningKey::new(SM2_USER_ID, &secret)
            .map_err(|e| KeyError::PrivateKey(e.to_string()))?;
        let public = LabelVerifier::from_key(secret.public_key())?;
        Ok(Self { key, public })
    }

    /// The matching public key.
    pub fn verifier(&self) -> &LabelVerifier {
        &self.public
    }

    fn sign_hex(&self, msg: &[u8]) -> String {
        let sig: Signature = self.key.sign(msg);
        hex::encode(sig.to_bytes())
    }

    /// Builds the `SecurityData` string for `role`: signatures over `members` (the TBS of the
    /// role) and over `members` bound to the SM3 hash of the content selection.
    pub fn security_data(&self, role: SignerRole, members: &str, content: &ContentHash) -> String {
        let key_id = &self.public.key_id;
        let sig_md = self.sign_hex(members.as_bytes());
        let sig_bound = self.sign_hex(bound_tbs(members, content).as_bytes());
        // Built by hand so that the member order is fixed and no escaping is ever needed: every
        // value is hex, an OID or a fixed word.
        format!(
            concat!(
                "{{\"SecurityData\":{{\"Type\":\"TC260PG\",\"Version\":\"1.0\",\"Role\":\"{role}\",",
                "\"PubSD\":[",
                "{{\"Type\":\"PubKey\",\"KeyID\":\"{kid}\",\"AlgID\":\"{alg}\",\"KeyValue\":\"{kv}\"}},",
                "{{\"Type\":\"DS\",\"KeyID\":\"{kid}\",\"AlgID\":\"{alg}\",\"TBSData\":{{\"Type\":\"Md\"}},\"Signature\":\"{s1}\"}},",
                "{{\"Type\":\"DS\",\"KeyID\":\"{kid}\",\"AlgID\":\"{alg}\",\"TBSData\":{{\"Type\":\"MdCntSel\"}},\"Signature\":\"{s2}\"}}],",
                "\"Bindings\":[{{\"BType\":\"CntSel\",\"Sel\":\"{sel}\",\"AlgID\":\"{h}\",\"Hash\":\"{hash}\"}}]}}}}"
            ),
            role = role.name(),
            kid = key_id,
            alg = ALG_SM3_WITH_SM2,
            kv = self.public.public_hex,
            s1 = sig_md,
            s2 = sig_bound,
            sel = content.selection,
            h = ALG_SM3,
            hash = content.hex,
        )
    }
}

/// A public key that checks label signatures.
#[derive(Debug, Clone)]
pub struct LabelVerifier {
    key: VerifyingKey,
    key_id: String,
    public_hex: String,
}

impl PartialEq for LabelVerifier {
    fn eq(&self, other: &Self) -> bool {
        self.public_hex == other.public_hex
    }
}

impl Eq for LabelVerifier {}

impl LabelVerifier {
    /// Loads an SPKI PEM public key.
    pub fn from_pem(pem: &str) -> Result<Self, KeyError> {
        let key = sm2::PublicKey::from_public_key_pem(pem.trim())
            .map_err(|e| KeyError::PublicKey(e.to_string()))?;
        Self::from_key(key)
    }

    /// Loads an uncompressed SEC1 public key given as hex (the `KeyValue` of `SecurityData`).
    pub fn from_hex(hex_key: &str) -> Result<Self, KeyError> {
        let bytes = hex::decode(hex_key).map_err(|e| KeyError::PublicKey(e.to_string()))?;
        let key = sm2::PublicKey::from_sec1_bytes(&bytes)
            .map_err(|e| KeyError::PublicKey(e.to_string()))?;
        Self::from_key(key)
    }

    fn from_key(key: sm2::PublicKey) -> Result<Self, KeyError> {
        let vk =
            VerifyingKey::new(SM2_USER_ID, key).map_err(|e| KeyError::PublicKey(e.to_string()))?;
        let sec1 = vk.to_sec1_bytes();
        // A short fingerprint: the first 8 bytes of SM3 over the SEC1 encoding.
        let key_id = hex::encode(&Sm3::digest(&sec1)[..8]);
        Ok(Self {
            key: vk,
            key_id,
            public_hex: hex::encode(&sec1),
        })
    }

    /// The key fingerprint written as `KeyID`.
    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    fn verify_hex(&self, msg: &[u8], sig_hex: &str) -> bool {
        let Ok(bytes) = hex::decode(sig_hex) else {
            return false;
        };
        let Ok(sig) = Signature::from_slice(&bytes) else {
            return false;
        };
        self.key.verify(msg, &sig).is_ok()
    }
}

/// The SM3 hash of a file's content selection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContentHash {
    /// Which selection was hashed (the format name, e.g. `png`), so verifiers recompute the same.
    pub selection: String,
    /// Lower-case hex SM3.
    pub hex: String,
}

/// An `std::io::Write` sink that hashes the content selection with SM3.
#[derive(Default)]
pub struct ContentHasher(Sm3);

impl ContentHasher {
    /// A fresh hasher.
    pub fn new() -> Self {
        Self(Sm3::new())
    }

    /// The finished hash for `selection`.
    pub fn finish(self, selection: &str) -> ContentHash {
        ContentHash {
            selection: selection.to_string(),
            hex: hex::encode(self.0.finalize()),
        }
    }
}

impl std::io::Write for ContentHasher {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.update(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn bound_tbs(members: &str, content: &ContentHash) -> String {
    format!(
        "{members},\"CntSel\":\"{}\",\"Hash\":\"{}\"",
        content.selection, content.hex
    )
}

/// A parsed `SecurityData` string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecurityData {
    /// `Producer` or `Propagator` as written.
    pub role: String,
    /// The embedded public key (hex SEC1) and its id.
    pub key_id: String,
    /// Hex SEC1 public key, if embedded.
    pub key_value: Option<String>,
    /// Signature over the members alone.
    pub sig_members: Option<String>,
    /// Signature over members + content binding.
    pub sig_bound: Option<String>,
    /// The content binding.
    pub binding: Option<ContentHash>,
}

impl SecurityData {
    /// Parses a `SecurityData` string; `None` when it is something else (an opaque vendor value).
    pub fn parse(text: &str) -> Option<Self> {
        let v: serde_json::Value = serde_json::from_str(text).ok()?;
        let sd = v.get("SecurityData")?;
        let role = sd
            .get("Role")
            .and_then(|r| r.as_str())
            .unwrap_or("")
            .to_string();
        let mut out = SecurityData {
            role,
            key_id: String::new(),
            key_value: None,
            sig_members: None,
            sig_bound: None,
            binding: None,
        };
        for item in sd.get("PubSD")?.as_array()? {
            let s = |k: &str| item.get(k).and_then(|x| x.as_str()).map(str::to_string);
            match s("Type").as_deref() {
                Some("PubKey") => {
                    out.key_id = s("KeyID").unwrap_or_default();
                    out.key_value = s("KeyValue");
                }
                Some("DS") => {
                    let tbs = item
                        .get("TBSData")
                        .and_then(|t| t.get("Type"))
                        .and_then(|t| t.as_str());
                    match tbs {
                        Some("Md") => out.sig_members = s("Signature"),
                        Some("MdCntSel") => out.sig_bound = s("Signature"),
                        _ => {}
                    }
                    if out.key_id.is_empty() {
                        out.key_id = s("KeyID").unwrap_or_default();
                    }
                }
                _ => {}
            }
        }
        if let Some(b) = sd
            .get("Bindings")
            .and_then(|b| b.as_array())
            .and_then(|b| b.first())
        {
            let sel = b.get("Sel").and_then(|x| x.as_str());
            let hash = b.get("Hash").and_then(|x| x.as_str());
            if let (Some(sel), Some(hash)) = (sel, hash) {
                out.binding = Some(ContentHash {
                    selection: sel.to_string(),
                    hex: hash.to_string(),
                });
            }
        }
        Some(out)
    }
}

/// The outcome of checking one `SecurityData`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignatureCheck {
    /// Both signatures verify and the content hash matches.
    Valid {
        /// Whether the key was pinned by the caller (else only the embedded key was used).
        pinned: bool,
    },
    /// A signature fails or the content hash differs: what was found.
    Invalid(String),
    /// The field holds something that is not hegui/TC260 `SecurityData`.
    Unchecked(String),
}

/// Verifies `security_data` (a ReservedCode value) against the label `members` and the freshly
/// computed `content` hash. With `pinned`, the key must be that one.
pub fn verify(
    security_data: &str,
    members: &str,
    content: Option<&ContentHash>,
    pinned: Option<&LabelVerifier>,
) -> SignatureCheck {
    let Some(sd) = SecurityData::parse(security_data) else {
        return SignatureCheck::Unchecked("not a SecurityData JSON string".into());
    };
    let key = match (pinned, sd.key_value.as_deref()) {
        (Some(p), _) => {
            if !sd.key_id.is_empty() && sd.key_id != p.key_id {
                return SignatureCheck::Invalid(format!(
                    "signed by key {} but key {} is pinned",
                    sd.key_id, p.key_id
                ));
            }
            p.clone()
        }
        (None, Some(kv)) => match LabelVerifier::from_hex(kv) {
            Ok(k) => k,
            Err(e) => return SignatureCheck::Invalid(format!("embedded key unusable: {e}")),
        },
        (None, None) => {
            return SignatureCheck::Unchecked("no embedded key and none pinned".into());
        }
    };
    let Some(sig_members) = sd.sig_members.as_deref() else {
        return SignatureCheck::Invalid("no signature over the label members".into());
    };
    if !key.verify_hex(members.as_bytes(), sig_members) {
        return SignatureCheck::Invalid("signature over the label fields does not verify".into());
    }
    match (&sd.binding, sd.sig_bound.as_deref()) {
        (Some(binding), Some(sig_bound)) => {
            if !key.verify_hex(bound_tbs(members, binding).as_bytes(), sig_bound) {
                return SignatureCheck::Invalid(
                    "signature over the content binding does not verify".into(),
                );
            }
            if let Some(actual) = content
                && (actual.selection != binding.selection || actual.hex != binding.hex)
            {
                return SignatureCheck::Invalid(format!(
                    "content changed: {} hash is {} but {} was signed",
                    actual.selection, actual.hex, binding.hex
                ));
            }
        }
        _ => return SignatureCheck::Invalid("no signed content binding".into()),
    }
    SignatureCheck::Valid {
        pinned: pinned.is_some(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::label::ImplicitLabel;
    use crate::test_support::SAMPLE_LABEL;

    fn content(hex: &str) -> ContentHash {
        ContentHash {
            selection: "png".into(),
            hex: hex.into(),
        }
    }

    #[test]
    fn ds18_sign_verify_and_detect_edits() {
        let pair = generate_key_pair().unwrap();
        let signer = LabelSigner::from_pem(&pair.private_pem).unwrap();
        let pinned = LabelVerifier::from_pem(&pair.public_pem).unwrap();
        assert_eq!(signer.verifier(), &pinned);
        let label = ImplicitLabel::parse(SAMPLE_LABEL).unwrap().label;
        let tbs = label.producer_tbs();
        let c = content("00ff");
        let sd = signer.security_data(SignerRole::Producer, &tbs, &c);
        assert!(!sd.contains(' ') && !sd.contains('\\'), "{sd}");
        assert_eq!(
            verify(&sd, &tbs, Some(&c), Some(&pinned)),
            SignatureCheck::Valid { pinned: true }
        );
        assert_eq!(
            verify(&sd, &tbs, Some(&c), None),
            SignatureCheck::Valid { pinned: false }
        );
        // F3: a one-character change to ProduceID fails.
        let mut edited = label.clone();
        edited.produce_id.push('x');
        assert!(matches!(
            verify(&sd, &edited.producer_tbs(), Some(&c), None),
            SignatureCheck::Invalid(_)
        ));
        // Content edit.
        assert!(
            matches!(verify(&sd, &tbs, Some(&content("00fe")), None), SignatureCheck::Invalid(m) if m.contains("content changed"))
        );
        // Another key pinned.
        let other = LabelVerifier::from_pem(&generate_key_pair().unwrap().public_pem).unwrap();
        assert!(matches!(
            verify(&sd, &tbs, Some(&c), Some(&other)),
            SignatureCheck::Invalid(_)
        ));
        // A forged binding hash without a new signature.
        let forged = sd.replace("\"Hash\":\"00ff\"", "\"Hash\":\"00fe\"");
        assert!(matches!(
            verify(&forged, &tbs, Some(&content("00fe")), None),
            SignatureCheck::Invalid(_)
        ));
        // The string survives as a label value (Annex E j).
        let mut l = label;
        l.reserved_code1 = sd;
        l.validate().unwrap();
    }

    #[test]
    fn ds18_opaque_vendor_value_is_unchecked() {
        assert!(matches!(
            verify("e862483430d978cbf828b8b24296ef9328d843a0", "x", None, None),
            SignatureCheck::Unchecked(_)
        ));
    }

    #[test]
    fn bad_pem_is_an_error() {
        assert!(LabelSigner::from_pem("nope").is_err());
        assert!(LabelVerifier::from_pem("nope").is_err());
        assert!(LabelVerifier::from_hex("zz").is_err());
    }
}
