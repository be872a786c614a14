//! The admission procedure (入库程序): import, approve, activate, retire.
//!
//! DS-10 asks for admission standards, rules and procedures. Here the procedure is a small state
//! machine on each [`Entry`]: `draft → approved → active → retired`. The one rule that matters for
//! the duty is that an entry is only matched when someone *other than its author* approved it;
//! every path into `active` checks it (including `activate` on a hand-edited file).
//!
//! Every batch operation is all-or-nothing: it validates every id first and changes nothing when
//! one of them is refused, so a half-applied batch never reaches a snapshot. The methods change the
//! library in memory only; [`FeatureLibrary::commit`] then bumps the version and writes the
//! snapshot.

use super::io::rfc3339;
use super::{Entry, EntryKind, FeatureLibrary, LibraryError, RuleAction, Status};
use crate::decision::{Audience, Scope};
use crate::normalize::fold;
use crate::pattern::Pattern;
use serde::de::DeserializeOwned;
use std::collections::{BTreeSet, HashSet};
use std::fmt;

/// Who does a workflow step, and when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    /// The person's name.
    pub name: String,
    /// When, in milliseconds since the epoch.
    pub at: hegui_core::UnixMillis,
}

impl Actor {
    /// An actor named `name` acting at `at`.
    pub fn new(name: impl Into<String>, at: hegui_core::UnixMillis) -> Self {
        Self {
            name: name.into(),
            at,
        }
    }
}

/// True when `approver` may approve an entry written by `author`: a non-blank name that is not the
/// author's. Names are compared trimmed and case-insensitively, so `Li` cannot approve `li`'s work.
pub(crate) fn is_independent_approver(author: &str, approver: &str) -> bool {
    let approver = approver.trim();
    !approver.is_empty() && !approver.eq_ignore_ascii_case(author.trim())
}

/// Settings for the entries an import creates. `#! key=value` directive lines in the imported text
/// override `action`, `scope`, `audience` and `pinyin` for the lines that follow them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportOptions {
    /// Taxonomy id every imported entry gets.
    pub category: String,
    /// What a match asks for.
    pub action: RuleAction,
    /// Input, output or both.
    pub scope: Scope,
    /// All users, minors or the elderly.
    pub audience: Audience,
    /// Also match pinyin spellings and initials.
    pub pinyin: bool,
    /// The admission reason (入库理由) recorded on every entry.
    pub reason: String,
}

impl ImportOptions {
    /// Options for `category` with its default action (see [`default_action`]), scope `both`,
    /// audience `all`, no pinyin and the reason `"imported term list"`.
    pub fn new(category: &str) -> Self {
        Self {
            category: category.to_string(),
            action: default_action(category),
            scope: Scope::Both,
            audience: Audience::All,
            pinyin: false,
            reason: "imported term list".to_string(),
        }
    }
}

/// The action an imported term of `category` gets unless a directive says otherwise:
/// A1.\*, A2.\*, A4.1, C1 and C4 block; A3.\*, A4.2–A4.7, A5.\*, C2 and C3 go to review; C5 and C6
/// flag; R1 refutes (辟谣); P\* mask; anything else goes to review.
pub fn default_action(category: &str) -> RuleAction {
    match category {
        "A4.1" | "C1" | "C4" => RuleAction::Block,
        c if c.starts_with("A1.") || c.starts_with("A2.") => RuleAction::Block,
        "C2" | "C3" => RuleAction::Review,
        c if c.starts_with("A3.") || c.starts_with("A4.") || c.starts_with("A5.") => {
            RuleAction::Review
        }
        "C5" | "C6" => RuleAction::Flag,
        "R1" => RuleAction::Refute,
        c if c.starts_with('P') => RuleAction::Mask,
        _ => RuleAction::Review,
    }
}

/// What an import did.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ImportReport {
    /// Ids of the entries created, in input order.
    pub added: Vec<String>,
    /// Lines skipped because the same (folded) pattern is already in a non-retired entry of the
    /// same category and kind, or earlier in the same input.
    pub duplicates: usize,
    /// Lines that were not imported: 1-based line number and the reason (bad pattern, bad
    /// directive).
    pub invalid: Vec<(usize, String)>,
}

impl fmt::Display for ImportReport {
    /// `N added, M duplicates skipped, K invalid lines`, then one `line L: message` per invalid
    /// line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} added, {} duplicates skipped, {} invalid lines",
            self.added.len(),
            self.duplicates,
            self.invalid.len()
        )?;
        for (line, message) in &self.invalid {
            write!(f, "\nline {line}: {message}")?;
        }
        Ok(())
    }
}

/// The key under which two patterns count as the same: folded text, except for regular
/// expressions, where folding (case, whitespace) would change the meaning.
fn dedup_key(pattern: &str) -> String {
    if pattern.starts_with("re:") {
        pattern.to_string()
    } else {
        fold(pattern)
    }
}

/// Parses a directive value through the enum's serde name (`block`, `input`, `minor` …), so the
/// directive vocabulary is exactly the file format's.
fn parse_wire<T: DeserializeOwned>(key: &str, value: &str) -> Result<T, String> {
    serde_json::from_value(serde_json::Value::String(value.to_ascii_lowercase()))
        .map_err(|_| format!("directive: {key}={value:?} is not a valid {key}"))
}

/// Applies one `#! key=value …` directive to `opts`. All-or-nothing per line: a line with one bad
/// setting changes nothing, so a typo cannot silently apply half its settings.
fn apply_directive(rest: &str, opts: &mut ImportOptions) -> Result<(), String> {
    let mut next = opts.clone();
    let mut any = false;
    for token in rest.split_whitespace() {
        any = true;
        let Some((key, value)) = token.split_once('=') else {
            return Err(format!("directive: expected key=value, found {token:?}"));
        };
        match key {
            "action" => next.action = parse_wire(key, value)?,
            "scope" => next.scope = parse_wire(key, value)?,
            "audience" => next.audience = parse_wire(key, value)?,
            "pinyin" => {
                next.pinyin = match value.to_ascii_lowercase().as_str() {
                    "true" => true,
                    "false" => false,
                    _ => return Err(format!("directive: pinyin={value:?} is not true or false")),
                }
            }
            _ => {
                return Err(format!(
                    "directive: unknown key {key:?} (known: action, scope, audience, pinyin)"
                ));
            }
        }
    }
    if !any {
        return Err("directive: empty; expected #! key=value …".to_string());
    }
    *opts = next;
    Ok(())
}

impl FeatureLibrary {
    /// Imports a plain term list into `opts.category`: one rule entry per pattern line.
    ///
    /// The text has one [pattern](crate::pattern) per non-blank line (trimmed). Lines starting
    /// with `#` are comments, except directive lines `#! key=value …` (keys `action`, `scope`,
    /// `audience`, `pinyin=true|false`) which change the settings for the following lines. Bad
    /// patterns and bad directives are reported in [`ImportReport::invalid`] and skipped; a
    /// pattern already present (after folding) in a non-retired entry of the same category is
    /// counted as a duplicate and skipped. Ids are `{category}-{n:06}` with the next free `n`.
    ///
    /// Without `approved_by` the entries are drafts. With it they are recorded as approved by that
    /// person and active at the approver's time (DS-10: the approver must not be the author, or
    /// [`LibraryError::SelfApproval`] is returned and nothing changes). An unknown category is
    /// [`LibraryError::UnknownCategory`], also without any change.
    pub fn import_terms(
        &mut self,
        text: &str,
        opts: &ImportOptions,
        author: &Actor,
        approved_by: Option<&Actor>,
    ) -> Result<ImportReport, LibraryError> {
        self.import_kind(EntryKind::Rule, text, opts, author, approved_by)
    }

    /// Imports an exemption list (豁免, known false positives such as 反恐怖主义法) into
    /// `category`: like [`import_terms`](Self::import_terms) but creates
    /// [`EntryKind::Exempt`] entries with ids `X-{n:06}`. Their action is recorded as `flag`; the
    /// matcher ignores it.
    pub fn import_exemptions(
        &mut self,
        text: &str,
        category: &str,
        author: &Actor,
        approved_by: Option<&Actor>,
    ) -> Result<ImportReport, LibraryError> {
        let mut opts = ImportOptions::new(category);
        opts.action = RuleAction::Flag;
        opts.reason = "imported exemption list".to_string();
        self.import_kind(EntryKind::Exempt, text, &opts, author, approved_by)
    }

    /// The shared import of rules and exemptions.
    fn import_kind(
        &mut self,
        kind: EntryKind,
        text: &str,
        opts: &ImportOptions,
        author: &Actor,
        approved_by: Option<&Actor>,
    ) -> Result<ImportReport, LibraryError> {
        let category = opts.category.as_str();
        let prefix = match kind {
            EntryKind::Rule => category.to_string(),
            EntryKind::Exempt => "X".to_string(),
        };
        let mut n = self.last_id_number(&prefix);
        if crate::taxonomy::get(category).is_none() {
            return Err(LibraryError::UnknownCategory {
                id: format!("{prefix}-{:06}", n + 1),
                category: category.to_string(),
            });
        }
        if let Some(approver) = approved_by
            && !is_independent_approver(&author.name, &approver.name)
        {
            return Err(LibraryError::SelfApproval {
                id: format!("{prefix}-{:06}", n + 1),
                approver: approver.name.clone(),
            });
        }

        let mut seen: HashSet<String> = self
            .entries
            .values()
            .filter(|e| e.kind == kind && e.category == category && e.status != Status::Retired)
            .flat_map(|e| e.patterns.iter().map(|p| dedup_key(p)))
            .collect();
        let created_at = rfc3339(author.at);
        let (status, approver, approved_at) = match approved_by {
            Some(a) => (
                Status::Active,
                Some(a.name.trim().to_string()),
                Some(rfc3339(a.at)),
            ),
            None => (Status::Draft, None, None),
        };

        let mut report = ImportReport::default();
        let mut current = opts.clone();
        for (i, raw) in text.lines().enumerate() {
            let line_no = i + 1;
            let line = raw.trim_start_matches('\u{feff}').trim();
            if line.is_empty() {
                continue;
            }
            if let Some(rest) = line.strip_prefix("#!") {
                if let Err(message) = apply_directive(rest, &mut current) {
                    report.invalid.push((line_no, message));
                }
                continue;
            }
            if line.starts_with('#') {
                continue;
            }
            if let Err(e) = Pattern::parse(line) {
                report
                    .invalid
                    .push((line_no, format!("pattern {line:?}: {e}")));
                continue;
            }
            if !seen.insert(dedup_key(line)) {
                report.duplicates += 1;
                continue;
            }
            n += 1;
            let id = format!("{prefix}-{n:06}");
            let entry = Entry {
                id: id.clone(),
                kind,
                category: category.to_string(),
                patterns: vec![line.to_string()],
                action: current.action,
                scope: current.scope,
                audience: current.audience,
                pinyin: current.pinyin,
                status,
                author: author.name.trim().to_string(),
                approver: approver.clone(),
                reason: current.reason.clone(),
                created_at: created_at.clone(),
                approved_at: approved_at.clone(),
                activated_at: approved_at.clone(),
                retired_at: None,
            };
            self.entries.insert(id.clone(), entry);
            report.added.push(id);
        }
        Ok(report)
    }

    /// The highest `n` among ids `{prefix}-{n}` (0 when none), so new ids never reuse a number,
    /// not even a retired entry's.
    fn last_id_number(&self, prefix: &str) -> u64 {
        let lead = format!("{prefix}-");
        self.entries
            .range(lead.clone()..)
            .take_while(|(id, _)| id.starts_with(&lead))
            .filter_map(|(id, _)| {
                let digits = &id[lead.len()..];
                if digits.bytes().all(|b| b.is_ascii_digit()) {
                    digits.parse::<u64>().ok()
                } else {
                    None
                }
            })
            .max()
            .unwrap_or(0)
    }

    /// Checks every id of a batch with `check` before anything changes; returns the distinct ids
    /// in input order.
    fn validate_batch(
        &self,
        ids: &[String],
        check: impl Fn(&Entry) -> Result<(), LibraryError>,
    ) -> Result<Vec<String>, LibraryError> {
        let mut distinct = Vec::with_capacity(ids.len());
        let mut seen = BTreeSet::new();
        for id in ids {
            let entry = self
                .entries
                .get(id)
                .ok_or_else(|| LibraryError::NoSuchEntry(id.clone()))?;
            check(entry)?;
            if seen.insert(id.as_str()) {
                distinct.push(id.clone());
            }
        }
        Ok(distinct)
    }

    /// Approves drafts: `draft → approved`, recording the approver and time. The approver must
    /// not be the author ([`LibraryError::SelfApproval`]); an entry that is not a draft is
    /// [`LibraryError::InvalidTransition`]. All-or-nothing: one refused id changes nothing.
    /// Returns how many entries changed.
    pub fn approve(&mut self, ids: &[String], approver: &Actor) -> Result<usize, LibraryError> {
        let ids = self.validate_batch(ids, |e| {
            if e.status != Status::Draft {
                return Err(LibraryError::InvalidTransition {
                    id: e.id.clone(),
                    status: e.status,
                    wanted: "approve an entry that is not a draft",
                });
            }
            if !is_independent_approver(&e.author, &approver.name) {
                return Err(LibraryError::SelfApproval {
                    id: e.id.clone(),
                    approver: approver.name.clone(),
                });
            }
            Ok(())
        })?;
        let at = rfc3339(approver.at);
        for id in &ids {
            if let Some(e) = self.entries.get_mut(id) {
                e.status = Status::Approved;
                e.approver = Some(approver.name.trim().to_string());
                e.approved_at = Some(at.clone());
            }
        }
        Ok(ids.len())
    }

    /// Activates approved entries: `approved → active`, stamping `activated_at` with the actor's
    /// time. A draft is [`LibraryError::InvalidTransition`]; so is an entry already active or
    /// retired. The recorded approver must exist and differ from the author
    /// ([`LibraryError::SelfApproval`]), which guards against hand-edited files. All-or-nothing.
    /// Returns how many entries changed.
    pub fn activate(&mut self, ids: &[String], actor: &Actor) -> Result<usize, LibraryError> {
        let ids = self.validate_batch(ids, |e| {
            let wanted = match e.status {
                Status::Approved => None,
                Status::Draft => Some("activate an entry that is not approved"),
                Status::Active => Some("activate an entry that is already active"),
                Status::Retired => Some("activate a retired entry"),
            };
            if let Some(wanted) = wanted {
                return Err(LibraryError::InvalidTransition {
                    id: e.id.clone(),
                    status: e.status,
                    wanted,
                });
            }
            match &e.approver {
                Some(a) if is_independent_approver(&e.author, a) => Ok(()),
                other => Err(LibraryError::SelfApproval {
                    id: e.id.clone(),
                    approver: other.clone().unwrap_or_else(|| e.author.clone()),
                }),
            }
        })?;
        let at = rfc3339(actor.at);
        for id in &ids {
            if let Some(e) = self.entries.get_mut(id) {
                e.status = Status::Active;
                e.activated_at = Some(at.clone());
            }
        }
        Ok(ids.len())
    }

    /// Retires entries in any state but `retired`: they stay in the file for the record and are no
    /// longer matched. `retired_at` is the actor's time and `reason` replaces the entry's reason.
    /// An entry already retired is [`LibraryError::InvalidTransition`]. All-or-nothing. Returns
    /// how many entries changed.
    pub fn retire(
        &mut self,
        ids: &[String],
        actor: &Actor,
        reason: &str,
    ) -> Result<usize, LibraryError> {
        let ids = self.validate_batch(ids, |e| {
            if e.status == Status::Retired {
                return Err(LibraryError::InvalidTransition {
                    id: e.id.clone(),
                    status: e.status,
                    wanted: "retire an entry that is already retired",
                });
            }
            Ok(())
        })?;
        let at = rfc3339(actor.at);
        for id in &ids {
            if let Some(e) = self.entries.get_mut(id) {
                e.status = Status::Retired;
                e.retired_at = Some(at.clone());
                e.reason = reason.to_string();
            }
        }
        Ok(ids.len())
    }

    /// Ids of the entries in `status`, sorted.
    pub fn ids_with_status(&self, status: Status) -> Vec<String> {
        self.entries
            .values()
            .filter(|e| e.status == status)
            .map(|e| e.id.clone())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::library::LibraryDiff;

    const T0: i64 = 1_795_000_000_000;

    fn li() -> Actor {
        Actor::new("li", T0)
    }

    fn wang() -> Actor {
        Actor::new("wang", T0 + 60_000)
    }

    fn ids(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    fn drafts(text: &str) -> FeatureLibrary {
        let mut lib = FeatureLibrary::new("t");
        lib.import_terms(text, &ImportOptions::new("A1.6"), &li(), None)
            .unwrap();
        lib
    }

    #[test]
    fn default_actions_follow_the_category() {
        for (c, a) in [
            ("A1.1", RuleAction::Block),
            ("A2.9", RuleAction::Block),
            ("A4.1", RuleAction::Block),
            ("C1", RuleAction::Block),
            ("C4", RuleAction::Block),
            ("A3.2", RuleAction::Review),
            ("A4.2", RuleAction::Review),
            ("A4.7", RuleAction::Review),
            ("A5.1", RuleAction::Review),
            ("C2", RuleAction::Review),
            ("C3", RuleAction::Review),
            ("C5", RuleAction::Flag),
            ("C6", RuleAction::Flag),
            ("R1", RuleAction::Refute),
            ("P2", RuleAction::Mask),
            ("S1", RuleAction::Review),
            ("E1", RuleAction::Review),
        ] {
            assert_eq!(ImportOptions::new(c).action, a, "{c}");
        }
    }

    #[test]
    fn ds10_import_with_approver_is_active_and_without_is_draft() {
        let mut lib = FeatureLibrary::new("t");
        let r = lib
            .import_terms("裸聊\n约炮\n", &ImportOptions::new("A1.6"), &li(), None)
            .unwrap();
        assert_eq!(r.added, ids(&["A1.6-000001", "A1.6-000002"]));
        let e = &lib.entries["A1.6-000001"];
        assert_eq!(e.status, Status::Draft);
        assert_eq!(e.approver, None);
        assert_eq!(e.created_at, rfc3339(T0));
        assert_eq!(e.approved_at, None);
        assert_eq!(e.reason, "imported term list");
        assert_eq!(lib.active_terms(), 0);

        let mut opts = ImportOptions::new("A1.6");
        opts.reason = "import terms.txt".into();
        let r = lib
            .import_terms("色情直播\n", &opts, &li(), Some(&wang()))
            .unwrap();
        assert_eq!(r.added, ids(&["A1.6-000003"]));
        let e = &lib.entries["A1.6-000003"];
        assert_eq!(e.status, Status::Active);
        assert_eq!(e.kind, EntryKind::Rule);
        assert_eq!(e.action, RuleAction::Block);
        assert_eq!(e.author, "li");
        assert_eq!(e.approver.as_deref(), Some("wang"));
        assert_eq!(
            e.approved_at.as_deref(),
            Some(rfc3339(T0 + 60_000).as_str())
        );
        assert_eq!(e.activated_at, e.approved_at);
        assert_eq!(e.reason, "import terms.txt");
        assert_eq!(lib.active_terms(), 1);

        // Self-approval at import is refused and nothing changes.
        let before = lib.clone();
        let err = lib
            .import_terms("新词\n", &opts, &li(), Some(&Actor::new(" Li ", T0)))
            .unwrap_err();
        assert!(matches!(err, LibraryError::SelfApproval { .. }), "{err}");
        assert_eq!(lib, before);

        // Unknown category.
        let err = lib
            .import_terms("x\n", &ImportOptions::new("Z9"), &li(), None)
            .unwrap_err();
        assert!(matches!(err, LibraryError::UnknownCategory { .. }), "{err}");
        assert_eq!(lib, before);
    }

    #[test]
    fn ds10_import_directives_set_action_scope_audience() {
        let text = "\
# comment line, ignored
默认词
#! action=review scope=output audience=minor
审核词
#! pinyin=true
拼音词
#! action=mask pinyin=false
#! colour=red
#! action=blok scope=input
#!
遮盖词
坏模式&&
";
        let mut lib = FeatureLibrary::new("t");
        let r = lib
            .import_terms(text, &ImportOptions::new("A1.6"), &li(), None)
            .unwrap();
        assert_eq!(r.added.len(), 4);
        let e = |i: usize| &lib.entries[&r.added[i]];
        assert_eq!(
            (
                e(0).patterns[0].as_str(),
                e(0).action,
                e(0).scope,
                e(0).audience,
                e(0).pinyin
            ),
            (
                "默认词",
                RuleAction::Block,
                Scope::Both,
                Audience::All,
                false
            )
        );
        assert_eq!(
            (e(1).action, e(1).scope, e(1).audience, e(1).pinyin),
            (RuleAction::Review, Scope::Output, Audience::Minor, false)
        );
        assert_eq!(
            (e(2).action, e(2).scope, e(2).audience, e(2).pinyin),
            (RuleAction::Review, Scope::Output, Audience::Minor, true)
        );
        // The bad directive on line 9 applied none of its settings (scope stays output).
        assert_eq!(
            (e(3).action, e(3).scope, e(3).audience, e(3).pinyin),
            (RuleAction::Mask, Scope::Output, Audience::Minor, false)
        );
        let lines: Vec<usize> = r.invalid.iter().map(|(l, _)| *l).collect();
        assert_eq!(lines, vec![8, 9, 10, 12], "{r}");
        assert!(r.invalid[0].1.contains("unknown key"), "{r}");
        assert!(r.invalid[1].1.contains("action"), "{r}");
        assert!(r.invalid[3].1.contains("empty term"), "{r}");
    }

    #[test]
    fn ds10_import_skips_duplicates_after_folding() {
        let mut lib = drafts("裸聊\n");
        let r = lib
            .import_terms(
                "裸 聊\n裸聊\nABC\nabc\nre:\\d{6}\nre:\\D{6}\n",
                &ImportOptions::new("A1.6"),
                &li(),
                None,
            )
            .unwrap();
        assert_eq!(r.duplicates, 3);
        assert_eq!(r.added, ids(&["A1.6-000002", "A1.6-000003", "A1.6-000004"]));
        // Another category is not a duplicate; a retired entry no longer blocks re-import.
        let r = lib
            .import_terms("裸聊\n", &ImportOptions::new("A1.7"), &li(), None)
            .unwrap();
        assert_eq!(r.added, ids(&["A1.7-000001"]));
        lib.retire(&ids(&["A1.6-000001"]), &wang(), "wrong")
            .unwrap();
        let r = lib
            .import_terms("裸聊\n", &ImportOptions::new("A1.6"), &li(), None)
            .unwrap();
        // Numbers are never reused.
        assert_eq!((r.added, r.duplicates), (ids(&["A1.6-000005"]), 0));
    }

    #[test]
    fn ds10_import_exemptions_creates_exempt_entries() {
        let mut lib = FeatureLibrary::new("t");
        let r = lib
            .import_exemptions("反恐怖主义法\n反恐怖主义法\n", "A1.4", &li(), Some(&wang()))
            .unwrap();
        assert_eq!((r.added.clone(), r.duplicates), (ids(&["X-000001"]), 1));
        let e = &lib.entries["X-000001"];
        assert_eq!(
            (e.kind, e.status, e.category.as_str()),
            (EntryKind::Exempt, Status::Active, "A1.4")
        );
        // Exemptions do not count as terms, and a rule with the same text is not a duplicate.
        assert_eq!(lib.active_terms(), 0);
        let r = lib
            .import_terms("反恐怖主义法\n", &ImportOptions::new("A1.4"), &li(), None)
            .unwrap();
        assert_eq!(r.added, ids(&["A1.4-000001"]));
    }

    #[test]
    fn ds10_entry_cannot_go_active_without_a_different_approver() {
        let mut lib = drafts("裸聊\n约炮\n");
        let both = ids(&["A1.6-000001", "A1.6-000002"]);
        // A draft cannot be activated.
        let err = lib.activate(&both, &wang()).unwrap_err();
        assert!(
            matches!(
                err,
                LibraryError::InvalidTransition {
                    wanted: "activate an entry that is not approved",
                    ..
                }
            ),
            "{err}"
        );
        // The author cannot approve.
        let err = lib.approve(&both, &Actor::new("li", T0)).unwrap_err();
        assert!(matches!(err, LibraryError::SelfApproval { .. }), "{err}");
        let err = lib.approve(&both, &Actor::new("  ", T0)).unwrap_err();
        assert!(matches!(err, LibraryError::SelfApproval { .. }), "{err}");
        assert_eq!(lib.ids_with_status(Status::Draft), both);

        assert_eq!(lib.approve(&both, &wang()).unwrap(), 2);
        assert_eq!(lib.ids_with_status(Status::Approved), both);
        assert_eq!(lib.entries["A1.6-000001"].approver.as_deref(), Some("wang"));
        // Approving twice is not a transition.
        assert!(matches!(
            lib.approve(&both, &wang()),
            Err(LibraryError::InvalidTransition { .. })
        ));

        // A hand-edited file where the author "approved" their own entry cannot be activated.
        lib.entries.get_mut("A1.6-000002").unwrap().approver = Some("li".into());
        let err = lib.activate(&both, &wang()).unwrap_err();
        assert!(matches!(err, LibraryError::SelfApproval { .. }), "{err}");
        lib.entries.get_mut("A1.6-000002").unwrap().approver = None;
        assert!(matches!(
            lib.activate(&both, &wang()),
            Err(LibraryError::SelfApproval { .. })
        ));
        assert_eq!(lib.ids_with_status(Status::Active), Vec::<String>::new());

        assert_eq!(lib.activate(&ids(&["A1.6-000001"]), &li()).unwrap(), 1);
        let e = &lib.entries["A1.6-000001"];
        assert_eq!(e.status, Status::Active);
        assert_eq!(e.activated_at.as_deref(), Some(rfc3339(T0).as_str()));
        assert!(matches!(
            lib.activate(&ids(&["A1.6-000001"]), &li()),
            Err(LibraryError::InvalidTransition { .. })
        ));
    }

    #[test]
    fn ds10_batches_are_all_or_nothing() {
        let mut lib = drafts("裸聊\n约炮\n");
        let before = lib.clone();
        let batch = ids(&["A1.6-000001", "A1.6-999999", "A1.6-000002"]);
        let err = lib.approve(&batch, &wang()).unwrap_err();
        assert!(
            matches!(err, LibraryError::NoSuchEntry(ref id) if id == "A1.6-999999"),
            "{err}"
        );
        assert_eq!(lib, before);
        assert!(lib.retire(&batch, &wang(), "x").is_err());
        assert_eq!(lib, before);
        // A repeated id is counted once.
        let twice = ids(&["A1.6-000001", "A1.6-000001"]);
        assert_eq!(lib.approve(&twice, &wang()).unwrap(), 1);
        // One approved entry in a batch of drafts blocks the whole activation.
        assert!(
            lib.activate(&ids(&["A1.6-000001", "A1.6-000002"]), &wang())
                .is_err()
        );
        assert_eq!(lib.entries["A1.6-000001"].status, Status::Approved);
    }

    #[test]
    fn ds10_retire_keeps_the_entry_and_records_why() {
        let mut lib = FeatureLibrary::new("t");
        lib.import_terms(
            "裸聊\n约炮\n",
            &ImportOptions::new("A1.6"),
            &li(),
            Some(&wang()),
        )
        .unwrap();
        let later = Actor::new("zhao", T0 + 3_600_000);
        assert_eq!(
            lib.retire(&ids(&["A1.6-000002"]), &later, "false positives")
                .unwrap(),
            1
        );
        let e = &lib.entries["A1.6-000002"];
        assert_eq!(e.status, Status::Retired);
        assert_eq!(e.reason, "false positives");
        assert_eq!(
            e.retired_at.as_deref(),
            Some(rfc3339(T0 + 3_600_000).as_str())
        );
        assert_eq!(lib.active_terms(), 1);
        assert_eq!(lib.ids_with_status(Status::Retired), ids(&["A1.6-000002"]));
        assert!(matches!(
            lib.retire(&ids(&["A1.6-000002"]), &later, "again"),
            Err(LibraryError::InvalidTransition { .. })
        ));
        // Drafts can be retired too.
        lib.import_terms("草稿\n", &ImportOptions::new("A1.6"), &li(), None)
            .unwrap();
        assert_eq!(
            lib.retire(&ids(&["A1.6-000003"]), &later, "dropped")
                .unwrap(),
            1
        );
    }

    #[test]
    fn ds10_commit_writes_snapshot_and_bumps_version() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lib.jsonl");
        let mut lib = FeatureLibrary::new("t");
        lib.import_terms("裸聊\n", &ImportOptions::new("A1.6"), &li(), None)
            .unwrap();
        let snap1 = lib.commit(&path, T0).unwrap();
        assert_eq!(lib.header.version, 1);
        assert_eq!(snap1, crate::library::snapshot_path(&path, 1));
        let text1 = std::fs::read_to_string(&path).unwrap();
        assert_eq!(std::fs::read_to_string(&snap1).unwrap(), text1);

        let mut lib = FeatureLibrary::load(&path).unwrap();
        lib.approve(&ids(&["A1.6-000001"]), &wang()).unwrap();
        lib.activate(&ids(&["A1.6-000001"]), &wang()).unwrap();
        let snap2 = lib.commit(&path, T0 + 120_000).unwrap();
        assert_eq!(lib.header.version, 2);
        assert_eq!(
            lib.header.updated_at.as_deref(),
            Some(rfc3339(T0 + 120_000).as_str())
        );
        assert_eq!(FeatureLibrary::load(&path).unwrap(), lib);
        // The first snapshot is untouched and the diff between them shows the activation.
        assert_eq!(std::fs::read_to_string(&snap1).unwrap(), text1);
        let old = FeatureLibrary::load(&snap1).unwrap();
        let new = FeatureLibrary::load(&snap2).unwrap();
        let d = LibraryDiff::between(&old, &new);
        assert!(
            d.to_string()
                .contains("~ A1.6-000001 status: draft -> active"),
            "{d}"
        );
    }

    #[test]
    fn ds10_snapshots_are_immutable() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lib.jsonl");
        let mut lib = FeatureLibrary::new("t");
        lib.import_terms("裸聊\n", &ImportOptions::new("A1.6"), &li(), None)
            .unwrap();
        let snap = lib.commit(&path, T0).unwrap();
        let text = std::fs::read_to_string(&snap).unwrap();
        // Re-writing the same version with the same content is a no-op.
        assert_eq!(lib.write_snapshot(&path).unwrap(), snap);
        // A change without a version bump cannot overwrite the snapshot.
        lib.approve(&ids(&["A1.6-000001"]), &wang()).unwrap();
        assert!(matches!(
            lib.write_snapshot(&path),
            Err(LibraryError::SnapshotExists { .. })
        ));
        assert_eq!(std::fs::read_to_string(&snap).unwrap(), text);
        // Committing bumps the version and leaves v1 alone.
        lib.commit(&path, T0 + 1).unwrap();
        assert_eq!(std::fs::read_to_string(&snap).unwrap(), text);
        assert!(crate::library::snapshot_path(&path, 2).exists());
    }
}
