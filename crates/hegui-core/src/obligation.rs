//! Obligation identifiers such as `DS-16` or `AIAI-7(3)`.
//!
//! The register lives in `shared/obligations.md`; code and tests cite its IDs so that the
//! compliance report can map every duty to its control and evidence.

use std::fmt;

/// The ID of one duty in the obligations register, e.g. `DS-16` or `AIAI-7(3)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ObligationId(&'static str);

impl ObligationId {
    /// Implicit metadata label on all generated content (深度合成 art. 16).
    pub const DS_16: Self = Self("DS-16");
    /// Explicit, prominent label (显著标识) (深度合成 art. 17).
    pub const DS_17: Self = Self("DS-17");
    /// No deletion, tampering or hiding of labels (深度合成 art. 18).
    pub const DS_18: Self = Self("DS-18");

    /// The ID as written in the register.
    pub const fn as_str(self) -> &'static str {
        self.0
    }
}

impl fmt::Display for ObligationId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}
