//! The default feature library shipped with hegui: the hand-written term lists in
//! `library/terms/<category>.txt` and `library/exemptions.tsv`, compiled into a library at first
//! use. Operators extend it or replace it with their own (`hegui library import`).

use crate::library::{Actor, FeatureLibrary, ImportOptions};
use std::sync::LazyLock;

/// The term lists, one per category.
pub const TERM_FILES: &[(&str, &str)] = &[
    ("A1.1", include_str!("../library/terms/A1.1.txt")),
    ("A1.2", include_str!("../library/terms/A1.2.txt")),
    ("A1.3", include_str!("../library/terms/A1.3.txt")),
    ("A1.4", include_str!("../library/terms/A1.4.txt")),
    ("A1.5", include_str!("../library/terms/A1.5.txt")),
    ("A1.6", include_str!("../library/terms/A1.6.txt")),
    ("A1.7", include_str!("../library/terms/A1.7.txt")),
    ("A1.8", include_str!("../library/terms/A1.8.txt")),
    ("A2.1", include_str!("../library/terms/A2.1.txt")),
    ("A2.2", include_str!("../library/terms/A2.2.txt")),
    ("A2.3", include_str!("../library/terms/A2.3.txt")),
    ("A2.4", include_str!("../library/terms/A2.4.txt")),
    ("A2.5", include_str!("../library/terms/A2.5.txt")),
    ("A2.6", include_str!("../library/terms/A2.6.txt")),
    ("A2.7", include_str!("../library/terms/A2.7.txt")),
    ("A2.8", include_str!("../library/terms/A2.8.txt")),
    ("A2.9", include_str!("../library/terms/A2.9.txt")),
    ("A3.1", include_str!("../library/terms/A3.1.txt")),
    ("A3.2", include_str!("../library/terms/A3.2.txt")),
    ("A3.3", include_str!("../library/terms/A3.3.txt")),
    ("A3.4", include_str!("../library/terms/A3.4.txt")),
    ("A3.5", include_str!("../library/terms/A3.5.txt")),
    ("A4.1", include_str!("../library/terms/A4.1.txt")),
    ("A4.2", include_str!("../library/terms/A4.2.txt")),
    ("A4.3", include_str!("../library/terms/A4.3.txt")),
    ("A4.4", include_str!("../library/terms/A4.4.txt")),
    ("A4.5", include_str!("../library/terms/A4.5.txt")),
    ("A4.6", include_str!("../library/terms/A4.6.txt")),
    ("A4.7", include_str!("../library/terms/A4.7.txt")),
    ("A5.1", include_str!("../library/terms/A5.1.txt")),
    ("A5.2", include_str!("../library/terms/A5.2.txt")),
    ("C1", include_str!("../library/terms/C1.txt")),
    ("C2", include_str!("../library/terms/C2.txt")),
    ("C3", include_str!("../library/terms/C3.txt")),
    ("C4", include_str!("../library/terms/C4.txt")),
    ("C5", include_str!("../library/terms/C5.txt")),
    ("C6", include_str!("../library/terms/C6.txt")),
    ("R1", include_str!("../library/terms/R1.txt")),
];

static EXEMPTIONS: &str = include_str!("../library/exemptions.tsv");

/// Who wrote and who reviewed the shipped lists, as recorded in the entries.
const AUTHOR: &str = "hegui-maintainers";
const REVIEWER: &str = "hegui-review";
/// 2026-11-22T00:00:00Z: the shipped entries carry a fixed time so the library is reproducible.
const SHIPPED_AT: i64 = 1_795_305_600_000;

static DEFAULT: LazyLock<FeatureLibrary> = LazyLock::new(build);

fn build() -> FeatureLibrary {
    let mut lib = FeatureLibrary::new("hegui default");
    let author = Actor::new(AUTHOR, SHIPPED_AT);
    let reviewer = Actor::new(REVIEWER, SHIPPED_AT);
    for (category, text) in TERM_FILES {
        let mut opts = ImportOptions::new(category);
        opts.reason = format!("hegui default list library/terms/{category}.txt");
        // The lists are checked by tests; a bad line is reported there, never here.
        let _ = lib.import_terms(text, &opts, &author, Some(&reviewer));
    }
    let mut by_category: std::collections::BTreeMap<&str, String> = Default::default();
    for line in EXEMPTIONS.lines() {
        if line.starts_with('#') {
            continue;
        }
        if let Some((cat, term)) = line.split_once('\t') {
            let buf = by_category.entry(cat.trim()).or_default();
            buf.push_str(term.trim());
            buf.push('\n');
        }
    }
    for (cat, terms) in by_category {
        let _ = lib.import_exemptions(&terms, cat, &author, Some(&reviewer));
    }
    lib.header.version = 1;
    lib
}

/// The shipped default library (built once).
pub fn default_library() -> &'static FeatureLibrary {
    &DEFAULT
}
