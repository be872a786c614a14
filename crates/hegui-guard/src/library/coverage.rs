//! The coverage report against TC260-003 §8.1 (≥ 10,000 terms; ≥ 200 per A.1 risk and ≥ 100 per
//! A.2 risk).
//!
//! A "term" is one pattern of an active rule entry, the same count as
//! [`FeatureLibrary::active_terms`]: drafts, approved-but-inactive and retired entries and
//! exemptions do not count, because they do not block anything.

use super::{EntryKind, FeatureLibrary};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::fmt;

/// The standard's minimum total of library terms.
pub const TOTAL_MINIMUM: usize = 10_000;

/// Terms of one category against its minimum.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CoverageRow {
    /// Taxonomy id.
    pub category: &'static str,
    /// Active rule terms.
    pub terms: usize,
    /// The standard's minimum (0 when none).
    pub minimum: u32,
}

impl CoverageRow {
    /// True when the row has at least its minimum.
    pub fn is_ok(&self) -> bool {
        self.terms >= self.minimum as usize
    }

    /// The category's Chinese name from the taxonomy (empty if unknown).
    pub fn zh(&self) -> &'static str {
        crate::taxonomy::get(self.category).map_or("", |c| c.zh)
    }
}

/// The coverage report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Coverage {
    /// Active rule terms in all.
    pub total_terms: usize,
    /// The standard's total minimum (10,000).
    pub total_minimum: usize,
    /// One row per taxonomy category.
    pub rows: Vec<CoverageRow>,
}

impl FeatureLibrary {
    /// Counts active rule patterns per taxonomy category: one row for every category, in taxonomy
    /// order, with the standard's minimum.
    pub fn coverage(&self) -> Coverage {
        let mut per: HashMap<&str, usize> = HashMap::new();
        for e in self.active().filter(|e| e.kind == EntryKind::Rule) {
            *per.entry(e.category.as_str()).or_default() += e.patterns.len();
        }
        let rows = crate::taxonomy::all()
            .iter()
            .map(|c| CoverageRow {
                category: c.id,
                terms: per.get(c.id).copied().unwrap_or(0),
                minimum: c.min_terms,
            })
            .collect();
        Coverage {
            // Counted over all entries, so a term under a category unknown to the taxonomy still
            // shows in the total as it does in `active_terms`.
            total_terms: per.values().sum(),
            total_minimum: TOTAL_MINIMUM,
            rows,
        }
    }
}

impl Coverage {
    /// True when the library meets §8.1: the total reaches its minimum and every category reaches
    /// its own.
    pub fn meets_standard(&self) -> bool {
        self.total_terms >= self.total_minimum && self.rows.iter().all(CoverageRow::is_ok)
    }

    /// The rows below their minimum, in taxonomy order.
    pub fn shortfalls(&self) -> Vec<&CoverageRow> {
        self.rows.iter().filter(|r| !r.is_ok()).collect()
    }

    /// The report as JSON: `{"total_terms","total_minimum","meets_standard","shortfalls":[ids],
    /// "rows":[{"category","zh","terms","minimum","ok"}]}`.
    pub fn to_json(&self) -> Value {
        json!({
            "total_terms": self.total_terms,
            "total_minimum": self.total_minimum,
            "meets_standard": self.meets_standard(),
            "shortfalls": self.shortfalls().iter().map(|r| r.category).collect::<Vec<_>>(),
            "rows": self.rows.iter().map(|r| json!({
                "category": r.category,
                "zh": r.zh(),
                "terms": r.terms,
                "minimum": r.minimum,
                "ok": r.is_ok(),
            })).collect::<Vec<_>>(),
        })
    }
}

impl fmt::Display for Coverage {
    /// A table of `category  terms  minimum  ok|short  名称` (the Chinese name last, so that
    /// double-width characters cannot misalign the columns), a total line and a verdict line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let status = |ok: bool| if ok { "ok" } else { "short" };
        writeln!(
            f,
            "{:<8} {:>7} {:>7}  {:<6} name",
            "category", "terms", "minimum", "status"
        )?;
        for r in &self.rows {
            let minimum = if r.minimum == 0 {
                "-".to_string()
            } else {
                r.minimum.to_string()
            };
            writeln!(
                f,
                "{:<8} {:>7} {:>7}  {:<6} {}",
                r.category,
                r.terms,
                minimum,
                status(r.is_ok()),
                r.zh()
            )?;
        }
        let total_ok = self.total_terms >= self.total_minimum;
        writeln!(
            f,
            "{:<8} {:>7} {:>7}  {:<6}",
            "total",
            self.total_terms,
            self.total_minimum,
            status(total_ok)
        )?;
        if self.meets_standard() {
            write!(
                f,
                "verdict: meets TC260-003 §8.1 ({} terms; every A.1 risk ≥ 200, every A.2 risk ≥ 100)",
                self.total_terms
            )
        } else {
            let mut reasons = Vec::new();
            if !total_ok {
                reasons.push(format!(
                    "{} of {} terms",
                    self.total_terms, self.total_minimum
                ));
            }
            let short = self.shortfalls();
            if !short.is_empty() {
                let list: Vec<String> = short
                    .iter()
                    .map(|r| format!("{} {}/{}", r.category, r.terms, r.minimum))
                    .collect();
                reasons.push(format!(
                    "{} categor{} short: {}",
                    short.len(),
                    if short.len() == 1 { "y" } else { "ies" },
                    list.join(", ")
                ));
            }
            write!(
                f,
                "verdict: does not meet TC260-003 §8.1: {}",
                reasons.join("; ")
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::library::workflow::{Actor, ImportOptions};

    const T0: i64 = 1_795_000_000_000;

    fn add(lib: &mut FeatureLibrary, category: &str, n: usize, active: bool) {
        let tag = if active { "词" } else { "草稿" };
        let text: String = (0..n).map(|i| format!("{category}{tag}{i}\n")).collect();
        let wang = Actor::new("wang", T0);
        let approver = active.then_some(&wang);
        let r = lib
            .import_terms(
                &text,
                &ImportOptions::new(category),
                &Actor::new("li", T0),
                approver,
            )
            .unwrap();
        assert_eq!(r.added.len(), n);
    }

    #[test]
    fn ds10_coverage_report_counts_terms_against_the_200_and_100_minimums() {
        let mut lib = FeatureLibrary::new("t");
        add(&mut lib, "A1.1", 200, true);
        add(&mut lib, "A1.2", 199, true);
        add(&mut lib, "A1.2", 50, false); // drafts do not count
        add(&mut lib, "A2.1", 100, true);
        add(&mut lib, "A2.2", 99, true);
        add(&mut lib, "C1", 7, true);
        lib.import_exemptions(
            "反恐怖主义法\n",
            "A1.4",
            &Actor::new("li", T0),
            Some(&Actor::new("wang", T0)),
        )
        .unwrap();

        let c = lib.coverage();
        assert_eq!(c.rows.len(), crate::taxonomy::all().len());
        assert_eq!(c.rows[0].category, "A1.1");
        assert_eq!(c.total_terms, 200 + 199 + 100 + 99 + 7);
        assert_eq!(c.total_terms, lib.active_terms());
        assert_eq!(c.total_minimum, 10_000);
        let row = |id: &str| c.rows.iter().find(|r| r.category == id).unwrap().clone();
        assert_eq!(
            (row("A1.1").terms, row("A1.1").minimum, row("A1.1").is_ok()),
            (200, 200, true)
        );
        assert_eq!((row("A1.2").terms, row("A1.2").is_ok()), (199, false));
        assert_eq!(
            (row("A2.1").terms, row("A2.1").minimum, row("A2.1").is_ok()),
            (100, 100, true)
        );
        assert_eq!((row("A2.2").terms, row("A2.2").is_ok()), (99, false));
        assert_eq!(
            (row("C1").terms, row("C1").minimum, row("C1").is_ok()),
            (7, 0, true)
        );
        assert_eq!(row("A1.4").terms, 0);
        // 17 risks have minimums; A1.1 and A2.1 meet theirs.
        let short: Vec<&str> = c.shortfalls().iter().map(|r| r.category).collect();
        assert_eq!(short.len(), 15);
        assert!(short.contains(&"A1.2") && short.contains(&"A2.2") && !short.contains(&"A1.1"));
        assert!(!c.meets_standard());

        let text = c.to_string();
        assert!(
            text.contains("A1.2         199     200  short  危害国家安全和利益、损害国家形象"),
            "{text}"
        );
        assert!(
            text.contains("C1             7       -  ok     鼓励、美化、暗示自杀自残"),
            "{text}"
        );
        assert!(text.contains("total        605   10000  short"), "{text}");
        assert!(text.contains("verdict: does not meet TC260-003 §8.1: 605 of 10000 terms; 15 categories short: A1.2 199/200"), "{text}");
        let j = c.to_json();
        assert_eq!(j["meets_standard"], false);
        assert_eq!(j["total_terms"], 605);
        assert_eq!(j["rows"][1]["category"], "A1.2");
        assert_eq!(j["rows"][1]["ok"], false);
        assert_eq!(j["shortfalls"][0], "A1.2");
    }

    #[test]
    fn ds10_coverage_meets_the_standard_with_every_minimum_and_10000_terms() {
        let mut lib = FeatureLibrary::new("t");
        let mut total = 0;
        for c in crate::taxonomy::all().iter().filter(|c| c.min_terms > 0) {
            add(&mut lib, c.id, c.min_terms as usize, true);
            total += c.min_terms as usize;
        }
        let c = lib.coverage();
        assert!(c.shortfalls().is_empty());
        assert!(!c.meets_standard(), "the total is still short");
        add(&mut lib, "A3.1", 10_000 - total, true);
        let c = lib.coverage();
        assert_eq!(c.total_terms, 10_000);
        assert!(c.meets_standard());
        assert!(c.to_string().ends_with("verdict: meets TC260-003 §8.1 (10000 terms; every A.1 risk ≥ 200, every A.2 risk ≥ 100)"));
        assert_eq!(c.to_json()["meets_standard"], true);
    }
}
