//! A clean corpus of ordinary Chinese (news and chat, `test_data/clean/`) produces no library hits
//! beyond what the exemptions allow (DS-10: the library must not drown reviewers in false
//! positives).

use hegui_guard::{Context, EntryKind, FeatureLibrary, Matcher, default_library};

fn library_hits(m: &Matcher, lines: &[&str]) -> Vec<String> {
    let mut hits = Vec::new();
    for l in lines {
        let d = m.check(l, &Context::default());
        for f in d.findings {
            if !(f.rule.starts_with("crisis.")
                || f.rule.starts_with("exit.")
                || f.rule.starts_with("pii."))
            {
                hits.push(format!("{} {:?} in {l}", f.rule, f.text));
            }
        }
    }
    hits
}

#[test]
fn ds10_clean_corpus_has_no_library_hits_beyond_exemptions() {
    let news = include_str!("../../test_data/clean/news.txt");
    let chat = include_str!("../../test_data/clean/chat.txt");
    let lines: Vec<&str> = news
        .lines()
        .chain(chat.lines())
        .filter(|l| !l.trim().is_empty())
        .collect();
    assert!(lines.len() >= 800, "{} lines", lines.len());
    let lib = default_library();
    let with = Matcher::build(lib).unwrap();
    let hits = library_hits(&with, &lines);
    // The same library without its exemptions, to show what they allow.
    let mut bare: FeatureLibrary = lib.clone();
    bare.entries.retain(|_, e| e.kind != EntryKind::Exempt);
    let without = library_hits(&Matcher::build(&bare).unwrap(), &lines);
    eprintln!(
        "clean corpus: {} lines, {} library hits, {} without exemptions",
        lines.len(),
        hits.len(),
        without.len()
    );
    assert!(hits.is_empty(), "{} hits:\n{}", hits.len(), hits.join("\n"));
}
