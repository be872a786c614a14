//! Differences between two library versions.
//!
//! Snapshots are whole libraries, so a diff is a merge walk over two id-sorted maps. Entries are
//! compared field by field, and the rendering names every changed field, timestamps and author
//! included: a diff that hid a rewritten `approved_at` or `author` would hide exactly the edits an
//! audit of the admission procedure looks for.

use super::{Entry, FeatureLibrary};
use serde_json::{Value, json};
use std::cmp::Ordering;
use std::fmt;

/// One changed entry.
// A diff holds few changes and is built once per report; boxing would only make matching on it
// clumsier.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// Only in the newer library.
    Added(Entry),
    /// Only in the older library.
    Removed(Entry),
    /// In both, different.
    Changed {
        /// Before.
        old: Entry,
        /// After.
        new: Entry,
    },
}

/// One field that differs between the old and new version of an entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldChange {
    /// The field's name in the file format (`status`, `patterns` …).
    pub field: &'static str,
    /// The old value as it is written in the file (`null` when absent).
    pub old: Value,
    /// The new value.
    pub new: Value,
}

/// The fields compared, in the order they are reported: the ones a reviewer cares about first,
/// then authorship and timestamps.
const FIELDS: [&str; 15] = [
    "patterns",
    "status",
    "action",
    "scope",
    "audience",
    "category",
    "approver",
    "reason",
    "kind",
    "pinyin",
    "author",
    "created_at",
    "approved_at",
    "activated_at",
    "retired_at",
];

/// The value of `field` of `e` as JSON (`null` for an absent optional field).
fn field_value(e: &Entry, field: &str) -> Value {
    fn v<T: serde::Serialize>(x: &T) -> Value {
        serde_json::to_value(x).unwrap_or(Value::Null)
    }
    match field {
        "patterns" => v(&e.patterns),
        "status" => v(&e.status),
        "action" => v(&e.action),
        "scope" => v(&e.scope),
        "audience" => v(&e.audience),
        "category" => v(&e.category),
        "approver" => v(&e.approver),
        "reason" => v(&e.reason),
        "kind" => v(&e.kind),
        "pinyin" => v(&e.pinyin),
        "author" => v(&e.author),
        "created_at" => v(&e.created_at),
        "approved_at" => v(&e.approved_at),
        "activated_at" => v(&e.activated_at),
        "retired_at" => v(&e.retired_at),
        _ => Value::Null,
    }
}

/// Renders a value for the text diff: `-` for absent, free text (`reason`) quoted so that
/// whitespace and emptiness show, lists as compact JSON, other strings bare.
fn render(field: &str, v: &Value) -> String {
    match v {
        Value::Null => "-".to_string(),
        Value::String(s) if field != "reason" => s.clone(),
        other => other.to_string(),
    }
}

/// The wire name of a status (`draft`, `active` …).
fn status_name(e: &Entry) -> String {
    render("status", &field_value(e, "status"))
}

impl Change {
    /// The entry id the change is about.
    pub fn id(&self) -> &str {
        match self {
            Change::Added(e) | Change::Removed(e) => &e.id,
            Change::Changed { new, .. } => &new.id,
        }
    }

    /// The differing fields of a [`Change::Changed`], in report order; empty for added and removed
    /// entries.
    pub fn fields(&self) -> Vec<FieldChange> {
        let Change::Changed { old, new } = self else {
            return Vec::new();
        };
        FIELDS
            .iter()
            .filter_map(|&field| {
                let (o, n) = (field_value(old, field), field_value(new, field));
                (o != n).then_some(FieldChange {
                    field,
                    old: o,
                    new: n,
                })
            })
            .collect()
    }

    /// The change as JSON: `{"op":"added"|"removed","id","entry"}` or
    /// `{"op":"changed","id","fields":[{"field","old","new"}]}`.
    pub fn to_json(&self) -> Value {
        match self {
            Change::Added(e) => json!({"op": "added", "id": e.id, "entry": e}),
            Change::Removed(e) => json!({"op": "removed", "id": e.id, "entry": e}),
            Change::Changed { .. } => {
                let fields: Vec<Value> = self
                    .fields()
                    .into_iter()
                    .map(|f| json!({"field": f.field, "old": f.old, "new": f.new}))
                    .collect();
                json!({"op": "changed", "id": self.id(), "fields": fields})
            }
        }
    }
}

/// The differences between two libraries, by entry id.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LibraryDiff {
    /// Version of the older library.
    pub from_version: u64,
    /// Version of the newer library.
    pub to_version: u64,
    /// Changes sorted by id.
    pub changes: Vec<Change>,
}

impl LibraryDiff {
    /// The entry-by-entry differences from `old` to `new` (header changes other than the version
    /// are not reported).
    pub fn between(old: &FeatureLibrary, new: &FeatureLibrary) -> LibraryDiff {
        let mut changes = Vec::new();
        let mut a = old.entries.values().peekable();
        let mut b = new.entries.values().peekable();
        loop {
            let order = match (a.peek(), b.peek()) {
                (None, None) => break,
                (Some(_), None) => Ordering::Less,
                (None, Some(_)) => Ordering::Greater,
                (Some(x), Some(y)) => x.id.cmp(&y.id),
            };
            match order {
                Ordering::Less => {
                    if let Some(x) = a.next() {
                        changes.push(Change::Removed(x.clone()));
                    }
                }
                Ordering::Greater => {
                    if let Some(y) = b.next() {
                        changes.push(Change::Added(y.clone()));
                    }
                }
                Ordering::Equal => {
                    if let (Some(x), Some(y)) = (a.next(), b.next())
                        && x != y
                    {
                        changes.push(Change::Changed {
                            old: x.clone(),
                            new: y.clone(),
                        });
                    }
                }
            }
        }
        LibraryDiff {
            from_version: old.header.version,
            to_version: new.header.version,
            changes,
        }
    }

    /// True when no entry differs.
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }

    /// Counts of added, removed and changed entries.
    pub fn counts(&self) -> (usize, usize, usize) {
        let mut n = (0, 0, 0);
        for c in &self.changes {
            match c {
                Change::Added(_) => n.0 += 1,
                Change::Removed(_) => n.1 += 1,
                Change::Changed { .. } => n.2 += 1,
            }
        }
        n
    }

    /// The diff as JSON: `{"from_version","to_version","added","removed","changed","changes":[…]}`
    /// with each change as in [`Change::to_json`].
    pub fn to_json(&self) -> Value {
        let (added, removed, changed) = self.counts();
        json!({
            "from_version": self.from_version,
            "to_version": self.to_version,
            "added": added,
            "removed": removed,
            "changed": changed,
            "changes": self.changes.iter().map(Change::to_json).collect::<Vec<_>>(),
        })
    }
}

impl fmt::Display for LibraryDiff {
    /// A summary line, then one line per added or removed entry
    /// (`+ ID [category status] ["pattern", …]`, `- …`) and one line per changed field
    /// (`~ ID field: old -> new`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (added, removed, changed) = self.counts();
        write!(
            f,
            "library v{} -> v{}: ",
            self.from_version, self.to_version
        )?;
        if self.is_empty() {
            write!(f, "no changes")?;
        } else {
            write!(f, "{added} added, {removed} removed, {changed} changed")?;
        }
        for c in &self.changes {
            match c {
                Change::Added(e) | Change::Removed(e) => {
                    let sign = if matches!(c, Change::Added(_)) {
                        '+'
                    } else {
                        '-'
                    };
                    write!(
                        f,
                        "\n{sign} {} [{} {}] {}",
                        e.id,
                        e.category,
                        status_name(e),
                        render("patterns", &field_value(e, "patterns"))
                    )?;
                }
                Change::Changed { .. } => {
                    for fc in c.fields() {
                        write!(
                            f,
                            "\n~ {} {}: {} -> {}",
                            c.id(),
                            fc.field,
                            render(fc.field, &fc.old),
                            render(fc.field, &fc.new)
                        )?;
                    }
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::library::workflow::{Actor, ImportOptions};

    const T0: i64 = 1_795_000_000_000;

    fn ids(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn ds10_snapshot_diff_shows_activation() {
        let li = Actor::new("li", T0);
        let wang = Actor::new("wang", T0 + 1000);
        let mut v1 = FeatureLibrary::new("t");
        v1.import_terms("裸聊\n约炮\n", &ImportOptions::new("A1.6"), &li, None)
            .unwrap();
        v1.header.version = 1;
        let mut v2 = v1.clone();
        v2.header.version = 2;
        v2.approve(&ids(&["A1.6-000001"]), &wang).unwrap();
        v2.activate(&ids(&["A1.6-000001"]), &wang).unwrap();
        v2.retire(&ids(&["A1.6-000002"]), &wang, "too broad")
            .unwrap();
        v2.import_terms("色情直播\n", &ImportOptions::new("A1.6"), &li, None)
            .unwrap();
        v2.entries.remove("A1.6-000002");

        let d = LibraryDiff::between(&v1, &v2);
        assert_eq!(d.counts(), (1, 1, 1));
        let at = crate::library::io::rfc3339(T0 + 1000);
        let expected = format!(
            "library v1 -> v2: 1 added, 1 removed, 1 changed
~ A1.6-000001 status: draft -> active
~ A1.6-000001 approver: - -> wang
~ A1.6-000001 approved_at: - -> {at}
~ A1.6-000001 activated_at: - -> {at}
- A1.6-000002 [A1.6 draft] [\"约炮\"]
+ A1.6-000003 [A1.6 draft] [\"色情直播\"]"
        );
        assert_eq!(d.to_string(), expected);

        let j = d.to_json();
        assert_eq!(j["from_version"], 1);
        assert_eq!(j["changed"], 1);
        assert_eq!(j["changes"][0]["op"], "changed");
        assert_eq!(j["changes"][0]["fields"][0]["field"], "status");
        assert_eq!(j["changes"][0]["fields"][0]["old"], "draft");
        assert_eq!(j["changes"][0]["fields"][0]["new"], "active");
        assert_eq!(j["changes"][1]["op"], "removed");
        assert_eq!(j["changes"][2]["entry"]["patterns"][0], "色情直播");
    }

    #[test]
    fn ds10_diff_of_equal_libraries_is_empty_and_reason_is_quoted() {
        let li = Actor::new("li", T0);
        let mut a = FeatureLibrary::new("t");
        a.import_terms("裸聊\n", &ImportOptions::new("A1.6"), &li, None)
            .unwrap();
        let d = LibraryDiff::between(&a, &a.clone());
        assert!(d.is_empty());
        assert_eq!(d.to_string(), "library v0 -> v0: no changes");

        let mut b = a.clone();
        if let Some(e) = b.entries.get_mut("A1.6-000001") {
            e.reason = String::new();
            e.pinyin = true;
            e.patterns.push("裸 聊".into());
        }
        let d = LibraryDiff::between(&a, &b);
        assert_eq!(
            d.to_string(),
            "library v0 -> v0: 0 added, 0 removed, 1 changed
~ A1.6-000001 patterns: [\"裸聊\"] -> [\"裸聊\",\"裸 聊\"]
~ A1.6-000001 reason: \"imported term list\" -> \"\"
~ A1.6-000001 pinyin: false -> true"
        );
    }
}
