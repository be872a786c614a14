//! Shared helpers: a small hand-made library that exercises every rule shape.

use hegui_guard::library::{Actor, ImportOptions};
use hegui_guard::{FeatureLibrary, RuleAction};

/// A library with literal CJK terms, an ASCII term, AND / NOT combinations, an exemption, a mask
/// rule and, optionally, a regular expression (which makes streams hold back more).
pub fn small_library(with_regex: bool) -> FeatureLibrary {
    let mut lib = FeatureLibrary::new("test");
    let a = Actor::new("li", 0);
    let b = Actor::new("wang", 0);
    let mut o = ImportOptions::new("A1.6");
    lib.import_terms(
        "裸聊\n约炮\n恐怖主义\nsb\n赌博&网站~打击\n炸药&配方\n",
        &o,
        &a,
        Some(&b),
    )
    .unwrap();
    o = ImportOptions::new("A4.6");
    o.action = RuleAction::Mask;
    lib.import_terms("家庭住址\n", &o, &a, Some(&b)).unwrap();
    if with_regex {
        o = ImportOptions::new("A1.8");
        o.action = RuleAction::Review;
        lib.import_terms("re:[Qq][Qq]群\\d{5,11}\n", &o, &a, Some(&b))
            .unwrap();
    }
    lib.import_exemptions("反恐怖主义法\n", "A1.4", &a, Some(&b))
        .unwrap();
    lib
}
