//! The feature library (特征库, DS-10): entries, their workflow, and the file format.
//!
//! # File format (`hegui-library/1`)
//!
//! JSON Lines, UTF-8, one object per line, so that a change to one entry is a one-line diff:
//!
//! ```text
//! {"format":"hegui-library/1","name":"default","version":3,"updated_at":"2026-11-22T10:00:00Z"}
//! {"id":"A1.6-000001","kind":"rule","category":"A1.6","patterns":["裸聊"],"action":"block","scope":"both","audience":"all","status":"active","author":"li","approver":"wang","reason":"import terms.txt","created_at":"…","approved_at":"…","activated_at":"…"}
//! {"id":"X-000001","kind":"exempt","category":"A1.4","patterns":["反恐怖主义法"],…}
//! ```
//!
//! The first line is the header; every further non-blank line is an [`Entry`], sorted by id.
//! Writers emit fields in the order of the struct and omit empty optional fields. Pattern syntax is
//! in [`crate::pattern`]. An `exempt` entry is an allow-list term: a rule match lying inside an
//! exemption's match is dropped (known false positives such as 反恐怖主义法 for 恐怖主义).
//!
//! Every change (import, approve, activate, retire) bumps `version` and writes an immutable
//! snapshot `PATH.versions/vNNNNNN.jsonl` beside the library, which [`diff`](crate::library::diff)
//! compares. Only `active` entries are matched.

mod coverage;
mod diff;
mod io;
mod lint;
mod workflow;

pub use coverage::{Coverage, CoverageRow, TOTAL_MINIMUM};
pub use diff::{Change, FieldChange, LibraryDiff};
pub use io::{snapshot_dir, snapshot_path};
pub use lint::{LintIssue, LintLevel};
pub use workflow::{Actor, ImportOptions, ImportReport, default_action};

use crate::decision::{Audience, Scope};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::ops::Range;

/// The format tag on a library's header line.
pub const FORMAT: &str = "hegui-library/1";

/// Whether an entry finds content or exempts known false positives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum EntryKind {
    /// Finds content; its action applies.
    #[default]
    Rule,
    /// Allow-list (豁免): drops rule matches that lie inside its own match.
    Exempt,
}

/// What a matching rule asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum RuleAction {
    /// Refuse the text.
    #[default]
    Block,
    /// Hold for human review.
    Review,
    /// Record only.
    Flag,
    /// Mask the matched span and release.
    Mask,
    /// A known rumour: release with the refutation attached (辟谣, DS-11); decision-level `flag`.
    Refute,
}

impl RuleAction {
    /// The decision-level action this rule action contributes.
    pub fn decision_action(self) -> crate::Action {
        match self {
            RuleAction::Block => crate::Action::Block,
            RuleAction::Review => crate::Action::Review,
            RuleAction::Flag | RuleAction::Refute => crate::Action::Flag,
            RuleAction::Mask => crate::Action::Mask,
        }
    }
}

/// Where an entry is in the admission procedure (入库程序).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default,
)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Proposed; not matched.
    #[default]
    Draft,
    /// Approved by someone other than the author; not yet matched.
    Approved,
    /// Matched.
    Active,
    /// Withdrawn; kept for the record, not matched.
    Retired,
}

/// One entry of the library.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// Stable id, unique in the library (e.g. `A1.6-000123`).
    pub id: String,
    /// Rule or exemption.
    #[serde(default)]
    pub kind: EntryKind,
    /// Taxonomy id (see [`crate::taxonomy`]).
    pub category: String,
    /// Patterns; any one matching makes the entry match (syntax: [`crate::pattern`]).
    pub patterns: Vec<String>,
    /// What a match asks for.
    #[serde(default)]
    pub action: RuleAction,
    /// Input, output or both.
    #[serde(default)]
    pub scope: Scope,
    /// All users, or only minors or the elderly (stricter entries).
    #[serde(default)]
    pub audience: Audience,
    /// Also match the pinyin spellings and initials of literal terms (opt-in: short pinyin
    /// initials collide with ordinary words).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub pinyin: bool,
    /// Workflow state.
    #[serde(default)]
    pub status: Status,
    /// Who proposed the entry.
    pub author: String,
    /// Who approved it (never the author).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approver: Option<String>,
    /// Why the entry exists (入库理由) or why it changed last.
    #[serde(default)]
    pub reason: String,
    /// RFC 3339 UTC.
    pub created_at: String,
    /// RFC 3339 UTC.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approved_at: Option<String>,
    /// RFC 3339 UTC.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub activated_at: Option<String>,
    /// RFC 3339 UTC.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retired_at: Option<String>,
}

/// The header line of a library file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Header {
    /// Always [`FORMAT`].
    pub format: String,
    /// A name for people.
    #[serde(default)]
    pub name: String,
    /// Bumped by every change; snapshots are named after it.
    pub version: u64,
    /// RFC 3339 UTC time of the last change.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<String>,
}

/// A feature library in memory: a header and entries by id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeatureLibrary {
    /// The header.
    pub header: Header,
    /// Entries by id (sorted, as written).
    pub entries: BTreeMap<String, Entry>,
}

impl Default for FeatureLibrary {
    fn default() -> Self {
        Self::new("")
    }
}

impl FeatureLibrary {
    /// An empty library at version 0.
    pub fn new(name: &str) -> Self {
        Self {
            header: Header {
                format: FORMAT.to_string(),
                name: name.to_string(),
                version: 0,
                updated_at: None,
            },
            entries: BTreeMap::new(),
        }
    }

    /// The entries that are matched.
    pub fn active(&self) -> impl Iterator<Item = &Entry> {
        self.entries.values().filter(|e| e.status == Status::Active)
    }

    /// Number of active rule patterns (the "terms" the standard counts).
    pub fn active_terms(&self) -> usize {
        self.active()
            .filter(|e| e.kind == EntryKind::Rule)
            .map(|e| e.patterns.len())
            .sum()
    }
}

/// Errors reading, changing or compiling a library.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LibraryError {
    /// The file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A line is not valid JSON or not a valid entry.
    #[error("line {line}: {message}")]
    Syntax {
        /// 1-based line number.
        line: usize,
        /// Byte span within the line.
        span: Range<usize>,
        /// What is wrong.
        message: String,
    },
    /// The header line is missing or names another format.
    #[error("not a hegui library (expected a first line with \"format\":\"{FORMAT}\")")]
    NotALibrary,
    /// Two entries share an id.
    #[error("line {line}: duplicate entry id {id}")]
    DuplicateId {
        /// 1-based line number of the second one.
        line: usize,
        /// The id.
        id: String,
    },
    /// A pattern does not parse.
    #[error("entry {id}: pattern {pattern:?}: {message}")]
    Pattern {
        /// The entry.
        id: String,
        /// The pattern.
        pattern: String,
        /// Byte span within the pattern.
        span: Range<usize>,
        /// What is wrong.
        message: String,
    },
    /// A category id is not in the taxonomy.
    #[error("entry {id}: unknown category {category}")]
    UnknownCategory {
        /// The entry.
        id: String,
        /// The category id given.
        category: String,
    },
    /// No entry has this id.
    #[error("no entry {0}")]
    NoSuchEntry(String),
    /// DS-10 admission procedure: the approver must not be the author.
    #[error("entry {id}: {approver} wrote it and cannot also approve it")]
    SelfApproval {
        /// The entry.
        id: String,
        /// The would-be approver.
        approver: String,
    },
    /// The entry is not in a state that allows the requested change.
    #[error("entry {id} is {status:?}: cannot {wanted}")]
    InvalidTransition {
        /// The entry.
        id: String,
        /// Its status.
        status: Status,
        /// What was asked.
        wanted: &'static str,
    },
    /// A snapshot with this version already exists and differs (snapshots are immutable).
    #[error("snapshot {path} already exists and differs; snapshots are immutable")]
    SnapshotExists {
        /// The snapshot file.
        path: String,
    },
}
