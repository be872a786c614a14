//! The risk taxonomy as data (`taxonomy.tsv`): the 31 risks of TC260-003 Appendix A (A1.1 … A5.2)
//! plus companion (C1–C6), PII (P1–P5), crisis (S1–S5), exit (E1) and rumour (R1) categories.
//! Every finding carries one of these ids.

use std::sync::LazyLock;

/// One category of the taxonomy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Category {
    /// Machine id, e.g. `A1.6`.
    pub id: &'static str,
    /// Group: `core-values` (A.1), `discrimination` (A.2), `commercial`, `rights`,
    /// `service-safety`, `companion`, `pii`, `crisis`, `exit`, `rumour`.
    pub group: &'static str,
    /// Minimum keyword-library terms the standard asks for (200 for A.1, 100 for A.2, else 0).
    pub min_terms: u32,
    /// Name as in the standard (中文).
    pub zh: &'static str,
    /// English name.
    pub en: &'static str,
    /// Obligation ids this category serves, e.g. `["AIAI-5"]`.
    pub obligations: Vec<&'static str>,
}

static TSV: &str = include_str!("../taxonomy.tsv");

static CATEGORIES: LazyLock<Vec<Category>> = LazyLock::new(|| {
    TSV.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(|l| {
            let f: Vec<&'static str> = l.split('\t').collect();
            // The file is ours and checked by a test; a malformed line is skipped, not a panic.
            let [id, group, min, zh, en, obl] = f.as_slice() else {
                return None;
            };
            Some(Category {
                id,
                group,
                min_terms: min.parse().ok()?,
                zh,
                en,
                obligations: obl.split(',').collect(),
            })
        })
        .collect()
});

/// Every category, in file order.
pub fn all() -> &'static [Category] {
    &CATEGORIES
}

/// The category with this id.
pub fn get(id: &str) -> Option<&'static Category> {
    CATEGORIES.iter().find(|c| c.id == id)
}

/// The `'static` id string for `id`, if it is a known category.
pub fn intern(id: &str) -> Option<&'static str> {
    get(id).map(|c| c.id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ds10_taxonomy_has_the_31_appendix_a_risks_and_the_companion_categories() {
        let appendix: Vec<_> = all().iter().filter(|c| c.id.starts_with('A')).collect();
        assert_eq!(appendix.len(), 31);
        assert_eq!(all().iter().filter(|c| c.min_terms == 200).count(), 8);
        assert_eq!(all().iter().filter(|c| c.min_terms == 100).count(), 9);
        for id in [
            "C1", "C2", "C3", "C4", "C5", "C6", "P1", "P5", "S1", "S5", "E1", "R1",
        ] {
            assert!(get(id).is_some(), "{id}");
        }
        assert_eq!(
            all().len(),
            TSV.lines().filter(|l| !l.starts_with('#')).count()
        );
    }
}
