//! Hash-chained, append-only audit records (日志留存; DS-16, DVH-15, Cybersecurity Law ≥ 6 months).
//!
//! Every record carries the SHA-256 of its predecessor, so editing, deleting or reordering a
//! stored record breaks the chain at that point and [`verify`] names it. The hash covers one
//! canonical encoding ([`AuditRecord::leaf`]), versioned by `v`, so the store may hold records in
//! any row format as long as it gives the same fields back.
//!
//! Retention: a purge deletes the oldest records and appends a [`PURGE_KIND`] record whose body
//! names the last deleted record (`through_seq`, `through_hash`). The oldest surviving record's
//! `prev` must equal that hash, so a purge keeps the rest verifiable while deleting records any
//! other way is still detected.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Kind of the record a retention purge appends.
pub const PURGE_KIND: &str = "audit.purged";

/// The `prev` of the very first record: 64 zeros.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Version of the canonical encoding that the hash covers.
pub const ENCODING_VERSION: u32 = 1;

/// What a caller appends: everything but the position in the chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// When it happened (Unix milliseconds).
    pub at: hegui_core::UnixMillis,
    /// What happened, dotted: `request.chat`, `decision.output`, `disposal.set`, `admin.app.create` …
    pub kind: String,
    /// Application (tenant) id, if any.
    pub app: Option<String>,
    /// Pseudonymous subject (end user) reference, if any. Never a real name or ID number.
    pub subject: Option<String>,
    /// Request id (`X-Hegui-Request-Id`) the record belongs to, if any.
    pub request_id: Option<String>,
    /// Details as a JSON object, already free of plaintext personal data.
    pub body: serde_json::Value,
}

impl AuditEntry {
    /// An entry of `kind` at `at` with an empty body and no app, subject or request.
    pub fn new(at: hegui_core::UnixMillis, kind: impl Into<String>) -> Self {
        Self {
            at,
            kind: kind.into(),
            app: None,
            subject: None,
            request_id: None,
            body: serde_json::Value::Object(serde_json::Map::new()),
        }
    }
}

/// One stored record: an entry at its place in the chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditRecord {
    /// Position in the chain, from 0, without gaps.
    pub seq: u64,
    /// When it happened (Unix milliseconds).
    pub at: hegui_core::UnixMillis,
    /// What happened.
    pub kind: String,
    /// Application id.
    pub app: Option<String>,
    /// Pseudonymous subject reference.
    pub subject: Option<String>,
    /// Request id.
    pub request_id: Option<String>,
    /// Details as compact JSON text, exactly as hashed.
    pub body: String,
    /// Hash of the previous record ([`GENESIS`] for seq 0), lowercase hex.
    pub prev: String,
    /// SHA-256 of [`AuditRecord::leaf`], lowercase hex.
    pub hash: String,
}

/// The canonical encoding, in field order; `body` is the stored JSON text, not re-encoded.
#[derive(Serialize)]
struct Leaf<'a> {
    v: u32,
    seq: u64,
    at: i64,
    kind: &'a str,
    app: Option<&'a str>,
    subject: Option<&'a str>,
    request_id: Option<&'a str>,
    body: &'a str,
    prev: &'a str,
}

impl AuditRecord {
    /// Places `entry` after the record `head` (`None` for the first record of a chain).
    pub fn chain(head: Option<(u64, &str)>, entry: AuditEntry) -> Self {
        let (seq, prev) = match head {
            Some((seq, hash)) => (seq + 1, hash.to_owned()),
            None => (0, GENESIS.to_owned()),
        };
        let mut record = AuditRecord {
            seq,
            at: entry.at,
            kind: entry.kind,
            app: entry.app,
            subject: entry.subject,
            request_id: entry.request_id,
            body: entry.body.to_string(),
            prev,
            hash: String::new(),
        };
        record.hash = record.compute_hash();
        record
    }

    /// Places `entries` one after another after `head`, in order.
    pub fn chain_all(
        head: Option<(u64, &str)>,
        entries: impl IntoIterator<Item = AuditEntry>,
    ) -> Vec<AuditRecord> {
        let mut out: Vec<AuditRecord> = Vec::new();
        for entry in entries {
            let prev = out.last().map(|r| (r.seq, r.hash.as_str())).or(head);
            let record = AuditRecord::chain(prev, entry);
            out.push(record);
        }
        out
    }

    /// The canonical bytes the hash covers: one line of JSON.
    pub fn leaf(&self) -> Vec<u8> {
        let leaf = Leaf {
            v: ENCODING_VERSION,
            seq: self.seq,
            at: self.at,
            kind: &self.kind,
            app: self.app.as_deref(),
            subject: self.subject.as_deref(),
            request_id: self.request_id.as_deref(),
            body: &self.body,
            prev: &self.prev,
        };
        // Serialising a struct of strings and integers cannot fail.
        serde_json::to_vec(&leaf).unwrap_or_default()
    }

    /// Recomputes the hash from the fields.
    pub fn compute_hash(&self) -> String {
        hex::encode(Sha256::digest(self.leaf()))
    }

    /// The body parsed back into JSON (an empty object if it was edited into garbage).
    pub fn body_json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or(serde_json::Value::Null)
    }
}

/// The body of a [`PURGE_KIND`] record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PurgeBody {
    /// Seq of the last record deleted.
    pub through_seq: u64,
    /// Hash of the last record deleted: the `prev` of the oldest surviving record.
    pub through_hash: String,
    /// Records deleted by this purge.
    pub deleted: u64,
    /// The cutoff: records before this time were deleted.
    pub before: hegui_core::UnixMillis,
}

/// Why a chain does not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VerifyError {
    /// A record's stored hash differs from the hash of its fields: it was edited.
    #[error("record {seq}: contents edited (stored hash {stored}, computed {computed})")]
    Edited {
        /// The record.
        seq: u64,
        /// Hash stored with it.
        stored: String,
        /// Hash of its fields now.
        computed: String,
    },
    /// A record does not link to the one before it.
    #[error("record {seq}: chain broken (prev {found}, expected {expected})")]
    Break {
        /// The record whose `prev` is wrong.
        seq: u64,
        /// The hash it should point to.
        expected: String,
        /// What it points to.
        found: String,
    },
    /// Sequence numbers jump: records between were deleted.
    #[error("records {from}..{to} missing (deleted outside a retention purge)")]
    Gap {
        /// First missing seq.
        from: u64,
        /// First seq present again.
        to: u64,
    },
    /// The oldest record is not seq 0 and no purge record accounts for the ones before it.
    #[error("records before {first} missing and no purge record accounts for them")]
    UnaccountedStart {
        /// The oldest seq present.
        first: u64,
    },
    /// The stored head (count and last hash) does not match the records: the tail was cut.
    #[error("chain head says seq {expected_seq} ({expected_hash}), records end at {found}")]
    Truncated {
        /// Head seq recorded by the store.
        expected_seq: u64,
        /// Head hash recorded by the store.
        expected_hash: String,
        /// Last seq found (or "none").
        found: String,
    },
}

/// What a successful verification saw.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct VerifyReport {
    /// Records checked.
    pub records: u64,
    /// Oldest seq present.
    pub first_seq: Option<u64>,
    /// Newest seq present.
    pub last_seq: Option<u64>,
    /// Hash of the newest record.
    pub head: Option<String>,
    /// Records accounted for by retention purges.
    pub purged: u64,
}

/// Incremental verifier: feed records in seq order, then [`Verifier::finish`].
///
/// It holds O(1) state plus the purge claims, so a store can stream millions of records through it.
#[derive(Debug, Default)]
pub struct Verifier {
    report: VerifyReport,
    last: Option<(u64, String)>,
    /// (first seq, prev) of the oldest record, checked against purge claims at the end.
    start: Option<(u64, String)>,
    purge_claims: Vec<(u64, String)>,
}

impl Verifier {
    /// A verifier that has seen nothing.
    pub fn new() -> Self {
        Self::default()
    }

    /// Checks one record against itself and its predecessor.
    pub fn push(&mut self, record: &AuditRecord) -> Result<(), VerifyError> {
        let computed = record.compute_hash();
        if computed != record.hash {
            return Err(VerifyError::Edited {
                seq: record.seq,
                stored: record.hash.clone(),
                computed,
            });
        }
        match &self.last {
            Some((seq, hash)) => {
                if record.seq != seq + 1 {
                    return Err(VerifyError::Gap {
                        from: seq + 1,
                        to: record.seq,
                    });
                }
                if &record.prev != hash {
                    return Err(VerifyError::Break {
                        seq: record.seq,
                        expected: hash.clone(),
                        found: record.prev.clone(),
                    });
                }
            }
            None => {
                if record.seq == 0 && record.prev != GENESIS {
                    return Err(VerifyError::Break {
                        seq: 0,
                        expected: GENESIS.to_owned(),
                        found: record.prev.clone(),
                    });
                }
                self.start = Some((record.seq, record.prev.clone()));
                self.report.first_seq = Some(record.seq);
            }
        }
        if record.kind == PURGE_KIND
            && let Ok(body) = serde_json::from_str::<PurgeBody>(&record.body)
        {
            self.purge_claims
                .push((body.through_seq, body.through_hash));
        }
        self.report.records += 1;
        self.report.last_seq = Some(record.seq);
        self.report.head = Some(record.hash.clone());
        self.last = Some((record.seq, record.hash.clone()));
        Ok(())
    }

    /// Ends the walk. `head` is the store's own record of the newest (seq, hash), if it keeps one;
    /// it detects a cut tail.
    pub fn finish(mut self, head: Option<(u64, &str)>) -> Result<VerifyReport, VerifyError> {
        if let Some((first, prev)) = &self.start
            && *first > 0
        {
            let accounted = self
                .purge_claims
                .iter()
                .any(|(seq, hash)| seq + 1 == *first && hash == prev);
            if !accounted {
                return Err(VerifyError::UnaccountedStart { first: *first });
            }
            self.report.purged = *first;
        }
        if let Some((seq, hash)) = head {
            let ok = matches!(&self.last, Some((s, h)) if *s == seq && h == hash);
            if !ok {
                return Err(VerifyError::Truncated {
                    expected_seq: seq,
                    expected_hash: hash.to_owned(),
                    found: self
                        .last
                        .as_ref()
                        .map_or_else(|| "none".to_owned(), |(s, _)| s.to_string()),
                });
            }
        }
        Ok(self.report)
    }
}

/// Verifies a whole chain in seq order; `head` as in [`Verifier::finish`].
pub fn verify<'a>(
    records: impl IntoIterator<Item = &'a AuditRecord>,
    head: Option<(u64, &str)>,
) -> Result<VerifyReport, VerifyError> {
    let mut v = Verifier::new();
    for r in records {
        v.push(r)?;
    }
    v.finish(head)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain(n: u64) -> Vec<AuditRecord> {
        let mut out: Vec<AuditRecord> = Vec::new();
        for i in 0..n {
            let head = out.last().map(|r| (r.seq, r.hash.as_str()));
            let mut e = AuditEntry::new(1_000 + i as i64, "request.chat");
            e.body = serde_json::json!({"i": i});
            out.push(AuditRecord::chain(head, e));
        }
        out
    }

    #[test]
    fn ds_16_intact_chain_verifies() {
        let c = chain(10);
        let r = verify(&c, Some((9, &c[9].hash))).unwrap();
        assert_eq!(r.records, 10);
        assert_eq!(r.last_seq, Some(9));
    }

    #[test]
    fn ds_16_edited_record_is_found() {
        let mut c = chain(5);
        c[2].body = r#"{"i":99}"#.into();
        assert!(matches!(
            verify(&c, None),
            Err(VerifyError::Edited { seq: 2, .. })
        ));
    }

    #[test]
    fn ds_16_rehashed_edit_breaks_the_link() {
        let mut c = chain(5);
        c[2].body = r#"{"i":99}"#.into();
        c[2].hash = c[2].compute_hash();
        assert!(matches!(
            verify(&c, None),
            Err(VerifyError::Break { seq: 3, .. })
        ));
    }

    #[test]
    fn ds_16_deleted_record_is_found() {
        let mut c = chain(5);
        c.remove(2);
        assert!(matches!(
            verify(&c, None),
            Err(VerifyError::Gap { from: 2, to: 3 })
        ));
        let c = chain(5);
        assert!(matches!(
            verify(&c[1..], None),
            Err(VerifyError::UnaccountedStart { first: 1 })
        ));
        assert!(matches!(
            verify(&c[..4], Some((4, &c[4].hash))),
            Err(VerifyError::Truncated { .. })
        ));
    }

    #[test]
    fn ds_16_purge_keeps_the_rest_verifiable() {
        let mut c = chain(6);
        let body = PurgeBody {
            through_seq: 2,
            through_hash: c[2].hash.clone(),
            deleted: 3,
            before: 1_003,
        };
        let mut e = AuditEntry::new(2_000, PURGE_KIND);
        e.body = serde_json::to_value(&body).unwrap();
        let head = c.last().map(|r| (r.seq, r.hash.clone())).unwrap();
        c.push(AuditRecord::chain(Some((head.0, &head.1)), e));
        let survivors = &c[3..];
        let r = verify(survivors, Some((6, &c[6].hash))).unwrap();
        assert_eq!(r.purged, 3);
        // A purge record does not excuse a different cut.
        assert!(verify(&c[4..], None).is_err());
    }

    #[test]
    fn leaf_encoding_is_stable() {
        let e = AuditEntry::new(0, "x");
        let r = AuditRecord::chain(None, e);
        assert_eq!(
            String::from_utf8(r.leaf()).unwrap(),
            format!(
                r#"{{"v":1,"seq":0,"at":0,"kind":"x","app":null,"subject":null,"request_id":null,"body":"{{}}","prev":"{GENESIS}"}}"#
            )
        );
    }
}
