//! Checks a library for problems that parse fine but hurt matching.
//!
//! Lint looks at every entry that is not retired (drafts too: they are about to be matched). The
//! checks compare *folded* terms ([`crate::normalize::fold`]) because that is what the matcher
//! compares: two spellings that fold alike are one term to the matcher, and a term that folds to
//! a single character matches nearly everything.

use super::workflow::is_independent_approver;
use super::{EntryKind, FeatureLibrary, Status};
use crate::normalize::fold;
use crate::pattern::{Pattern, REGEX_WINDOW};
use daachorse::CharwiseDoubleArrayAhoCorasick;
use std::collections::{BTreeSet, HashMap};
use std::fmt;

/// How serious a lint finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum LintLevel {
    /// Worth a look.
    Warning,
    /// Will misbehave.
    Error,
}

impl LintLevel {
    /// `warning` or `error`.
    pub fn as_str(self) -> &'static str {
        match self {
            LintLevel::Warning => "warning",
            LintLevel::Error => "error",
        }
    }
}

impl fmt::Display for LintLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One lint finding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LintIssue {
    /// Severity.
    pub level: LintLevel,
    /// The entry.
    pub id: String,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for LintIssue {
    /// `error ID: message` or `warning ID: message`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}: {}", self.level, self.id, self.message)
    }
}

/// True for a Chinese character (CJK unified ideographs, extensions and compatibility
/// ideographs): the only characters with a pinyin reading.
fn is_cjk(c: char) -> bool {
    matches!(c,
        '\u{3400}'..='\u{4DBF}'
        | '\u{4E00}'..='\u{9FFF}'
        | '\u{F900}'..='\u{FAFF}'
        | '\u{20000}'..='\u{2FA1F}'
        | '\u{30000}'..='\u{323AF}')
}

/// Finds which folded texts contain an active rule term. Built once per lint: an Aho-Corasick
/// automaton over the folded literal terms (falling back to a plain scan should the automaton
/// refuse to build), plus the active regular expressions, which are tried on the exemption's
/// original text.
struct RuleTerms {
    automaton: Option<CharwiseDoubleArrayAhoCorasick<u32>>,
    terms: Vec<String>,
    regexes: Vec<regex::Regex>,
}

impl RuleTerms {
    fn new(lib: &FeatureLibrary) -> Self {
        let mut terms = BTreeSet::new();
        let mut regexes = Vec::new();
        for e in lib.active().filter(|e| e.kind == EntryKind::Rule) {
            for p in &e.patterns {
                match Pattern::parse(p) {
                    Ok(Pattern::Literal(t)) => {
                        terms.insert(fold(&t));
                    }
                    Ok(Pattern::Combo { all, .. }) => terms.extend(all.iter().map(|t| fold(t))),
                    Ok(Pattern::Regex(r)) => regexes.extend(regex::Regex::new(&r).ok()),
                    Err(_) => {}
                }
            }
        }
        let terms: Vec<String> = terms.into_iter().filter(|t| !t.is_empty()).collect();
        let automaton = if terms.is_empty() {
            None
        } else {
            CharwiseDoubleArrayAhoCorasick::new(&terms).ok()
        };
        Self {
            automaton,
            terms,
            regexes,
        }
    }

    /// True when some active rule would match inside `term` (original) / `folded`.
    fn any_in(&self, term: &str, folded: &str) -> bool {
        let literal = match &self.automaton {
            // Standard (non-overlapping) search reports a match whenever any pattern occurs.
            Some(a) => a.find_iter(folded).next().is_some(),
            None => self.terms.iter().any(|t| folded.contains(t.as_str())),
        };
        literal || self.regexes.iter().any(|r| r.is_match(term))
    }
}

impl FeatureLibrary {
    /// Checks every non-retired entry and returns the findings sorted by id:
    ///
    /// * error: an active entry without an approver, or approved by its own author (DS-10);
    /// * error: an unknown category or a pattern that does not parse (hand-edited files);
    /// * warning: a term that folds to fewer than 2 characters (matches too much);
    /// * warning: the same folded literal in two rule entries (names both ids);
    /// * warning: a regular expression (a stream holds back only
    ///   [`REGEX_WINDOW`] characters, so longer matches are missed when streaming);
    /// * warning: an exemption term that contains no active rule term (exempts nothing);
    /// * warning: `pinyin` on an entry whose terms are not all Chinese characters.
    ///
    /// Approved entries waiting for activation are not an issue.
    pub fn lint(&self) -> Vec<LintIssue> {
        let mut issues = Vec::new();
        let rule_terms = RuleTerms::new(self);
        // Folded literal → the first rule entry that has it.
        let mut literal_owner: HashMap<String, &str> = HashMap::new();

        for e in self
            .entries
            .values()
            .filter(|e| e.status != Status::Retired)
        {
            let mut push = |level, message: String| {
                issues.push(LintIssue {
                    level,
                    id: e.id.clone(),
                    message,
                })
            };
            if e.status == Status::Active {
                match &e.approver {
                    None => push(
                        LintLevel::Error,
                        "active without an approver (DS-10 needs one other than the author)"
                            .to_string(),
                    ),
                    Some(a) if !is_independent_approver(&e.author, a) => push(
                        LintLevel::Error,
                        format!("active but approved by its author {a:?} (DS-10)"),
                    ),
                    Some(_) => {}
                }
            }
            if crate::taxonomy::get(&e.category).is_none() {
                push(
                    LintLevel::Error,
                    format!("unknown category {:?}", e.category),
                );
            }
            if e.patterns.is_empty() {
                push(LintLevel::Error, "no patterns; matches nothing".to_string());
            }

            let mut non_cjk_for_pinyin: Option<String> = None;
            for p in &e.patterns {
                let pattern = match Pattern::parse(p) {
                    Ok(pattern) => pattern,
                    Err(err) => {
                        push(
                            LintLevel::Error,
                            format!("pattern {p:?} does not parse: {err}"),
                        );
                        continue;
                    }
                };
                if e.pinyin && non_cjk_for_pinyin.is_none() {
                    let all_cjk = !pattern.terms().is_empty()
                        && pattern.terms().iter().all(|t| t.trim().chars().all(is_cjk));
                    if !all_cjk {
                        non_cjk_for_pinyin = Some(p.clone());
                    }
                }
                match (&pattern, e.kind) {
                    (Pattern::Regex(_), _) => push(
                        LintLevel::Warning,
                        format!(
                            "regular expression {p:?}: a stream holds back only \
                             {REGEX_WINDOW} characters, so matches longer than that are missed \
                             when streaming; prefer literal terms"
                        ),
                    ),
                    (_, EntryKind::Rule) => {
                        let positive: &[String] = match &pattern {
                            Pattern::Literal(t) => std::slice::from_ref(t),
                            Pattern::Combo { all, .. } => all,
                            Pattern::Regex(_) => &[],
                        };
                        for t in positive {
                            let n = fold(t).chars().count();
                            if n < 2 {
                                push(
                                    LintLevel::Warning,
                                    format!(
                                        "term {t:?} folds to {n} character{}: matches too much",
                                        if n == 1 { "" } else { "s" }
                                    ),
                                );
                            }
                        }
                        if let Pattern::Literal(t) = &pattern {
                            let folded = fold(t);
                            match literal_owner.get(folded.as_str()) {
                                Some(&first) if first == e.id => push(
                                    LintLevel::Warning,
                                    format!("term {t:?} appears twice in this entry"),
                                ),
                                Some(&first) => push(
                                    LintLevel::Warning,
                                    format!(
                                        "term {t:?} is also in {first} (same after folding); \
                                         {first} and {} both match it",
                                        e.id
                                    ),
                                ),
                                None => {
                                    literal_owner.insert(folded, &e.id);
                                }
                            }
                        }
                    }
                    (_, EntryKind::Exempt) => {
                        let exempt_terms: &[String] = match &pattern {
                            Pattern::Literal(t) => std::slice::from_ref(t),
                            Pattern::Combo { all, .. } => all,
                            Pattern::Regex(_) => &[],
                        };
                        if !exempt_terms.iter().any(|t| rule_terms.any_in(t, &fold(t))) {
                            push(
                                LintLevel::Warning,
                                format!(
                                    "exemption {p:?} contains no active rule term: exempts nothing"
                                ),
                            );
                        }
                    }
                }
            }
            if let Some(p) = non_cjk_for_pinyin {
                push(
                    LintLevel::Warning,
                    format!(
                        "pinyin is set but {p:?} is not all Chinese characters; only Chinese \
                         terms get pinyin forms"
                    ),
                );
            }
        }
        // Stable: the findings of one entry keep their check order.
        issues.sort_by(|a, b| a.id.cmp(&b.id));
        issues
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::library::workflow::{Actor, ImportOptions};

    const T0: i64 = 1_795_000_000_000;

    fn lib_with(rules: &str, category: &str, exempt: &str) -> FeatureLibrary {
        let li = Actor::new("li", T0);
        let wang = Actor::new("wang", T0);
        let mut lib = FeatureLibrary::new("t");
        lib.import_terms(rules, &ImportOptions::new(category), &li, Some(&wang))
            .unwrap();
        lib.import_exemptions(exempt, category, &li, Some(&wang))
            .unwrap();
        lib
    }

    fn lines(lib: &FeatureLibrary) -> Vec<String> {
        lib.lint().iter().map(ToString::to_string).collect()
    }

    #[test]
    fn ds10_lint_clean_library_has_no_issues() {
        let lib = lib_with("恐怖主义\n赌博&网站~打击\n", "A1.4", "反恐怖主义法\n");
        assert_eq!(lines(&lib), Vec::<String>::new());
    }

    #[test]
    fn ds10_lint_flags_short_terms_duplicates_and_regexes() {
        let mut lib = lib_with("操\n ab \nre:QQ群\\d{6,10}\n", "A1.6", "");
        let li = Actor::new("li", T0);
        lib.import_terms("AB\n", &ImportOptions::new("A1.7"), &li, None)
            .unwrap();
        let got = lines(&lib);
        assert_eq!(got.len(), 3, "{got:#?}");
        assert!(
            got[0].starts_with("warning A1.6-000001: term \"操\" folds to 1 character"),
            "{got:#?}"
        );
        assert!(
            got[1].starts_with("warning A1.6-000003: regular expression"),
            "{got:#?}"
        );
        assert!(got[1].contains("64 characters"), "{got:#?}");
        assert!(
            got[2].starts_with("warning A1.7-000001: term \"AB\" is also in A1.6-000002"),
            "{got:#?}"
        );
        // Retired entries are not linted.
        lib.retire(&["A1.6-000001".to_string()], &li, "x").unwrap();
        assert_eq!(lines(&lib).len(), 2);
    }

    #[test]
    fn ds10_lint_errors_on_active_entries_without_independent_approver() {
        let mut lib = lib_with("裸聊\n约炮\n", "A1.6", "");
        lib.entries.get_mut("A1.6-000001").unwrap().approver = None;
        lib.entries.get_mut("A1.6-000002").unwrap().approver = Some("LI".into());
        let got = lines(&lib);
        assert_eq!(
            got,
            vec![
                "error A1.6-000001: active without an approver (DS-10 needs one other than the author)",
                "error A1.6-000002: active but approved by its author \"LI\" (DS-10)",
            ]
        );
        assert!(lib.lint().iter().all(|i| i.level == LintLevel::Error));
    }

    #[test]
    fn ds10_lint_flags_exemptions_that_exempt_nothing_and_bad_pinyin() {
        let mut lib = lib_with(
            "恐怖主义\nre:\\d{11}\n",
            "A1.4",
            "反恐怖主义法\n天气预报\n电话13800000000\n",
        );
        lib.entries.get_mut("A1.4-000001").unwrap().pinyin = true;
        let li = Actor::new("li", T0);
        let mut opts = ImportOptions::new("A1.6");
        opts.pinyin = true;
        lib.import_terms("sb\n傻逼\n", &opts, &li, None).unwrap();
        let got = lines(&lib);
        assert_eq!(got.len(), 3, "{got:#?}");
        assert!(
            got[0].starts_with("warning A1.4-000002: regular expression"),
            "{got:#?}"
        );
        assert!(
            got[1].starts_with("warning A1.6-000001: pinyin is set but \"sb\""),
            "{got:#?}"
        );
        assert_eq!(
            got[2],
            "warning X-000002: exemption \"天气预报\" contains no active rule term: exempts nothing"
        );
    }

    #[test]
    fn ds10_lint_reports_hand_edited_errors() {
        let mut lib = lib_with("裸聊\n", "A1.6", "");
        let e = lib.entries.get_mut("A1.6-000001").unwrap();
        e.category = "Z1".into();
        e.patterns.push("a&&b".into());
        let got = lines(&lib);
        assert_eq!(got.len(), 2, "{got:#?}");
        assert!(got[0].starts_with("error A1.6-000001: unknown category"));
        assert!(got[1].starts_with("error A1.6-000001: pattern \"a&&b\" does not parse"));
    }
}
