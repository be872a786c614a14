//! The evasion suite: every variant of every term of the shipped library is found, with its span
//! starting where the variant starts (DS-10, GAI-15: the library must not be dodged by spelling).

use hegui_guard::library::{Actor, ImportOptions};
use hegui_guard::pattern::Pattern;
use hegui_guard::{Audience, Context, EntryKind, FeatureLibrary, Matcher, Scope, default_library};
use std::collections::HashMap;
use std::sync::LazyLock;

/// Simplified → one traditional form, from the inverse of the vendored table.
static TRAD: LazyLock<HashMap<char, char>> = LazyLock::new(|| {
    let mut m = HashMap::new();
    for l in include_str!("../../tables/VARIANT_NORM.txt").lines() {
        let Some((t, s)) = l.split_once('\t') else {
            continue;
        };
        let (mut t, mut s) = (t.chars(), s.chars());
        if let (Some(tc), None, Some(sc), None) = (t.next(), t.next(), s.next(), s.next()) {
            // Only BMP CJK pairs; keep the first.
            if ('\u{4e00}'..='\u{9fff}').contains(&tc) {
                m.entry(sc).or_insert(tc);
            }
        }
    }
    m
});

const HOMOGLYPH: &[(char, char)] = &[
    ('a', 'а'),
    ('c', 'с'),
    ('e', 'е'),
    ('o', 'о'),
    ('p', 'р'),
    ('x', 'х'),
    ('y', 'у'),
    ('s', 'ѕ'),
    ('i', 'і'),
];

const SPLIT: &[(char, &str)] = &[
    ('强', "弓虽"),
    ('奸', "女干"),
    ('炸', "火乍"),
    ('枪', "木仓"),
    ('赌', "贝者"),
    ('骗', "马扁"),
];

fn map_chars(t: &str, f: impl Fn(char) -> Option<String>) -> String {
    t.chars()
        .map(|c| f(c).unwrap_or_else(|| c.to_string()))
        .collect()
}

/// Every evasion variant of a term, by name.
fn variants(term: &str) -> Vec<(&'static str, String)> {
    let chars: Vec<char> = term.chars().collect();
    let join = |sep: &str| {
        chars
            .iter()
            .map(char::to_string)
            .collect::<Vec<_>>()
            .join(sep)
    };
    let mut v = vec![
        ("original", term.to_string()),
        ("spaces", join(" ")),
        ("symbols", join("!@#")),
        ("fullwidth-punct", join("，")),
        ("zero-width", join("\u{200b}")),
        ("bom-and-wj", join("\u{feff}\u{2060}")),
        ("emoji", join("😀")),
        (
            "repeats",
            // Digits are never collapsed (numbers and PII need them intact), so a character
            // that folds to a digit (一, ①) is not repeated.
            chars
                .iter()
                .map(|c| {
                    let to_digit = hegui_guard::normalize::fold(&c.to_string())
                        .chars()
                        .all(|d| d.is_ascii_digit());
                    if to_digit {
                        c.to_string()
                    } else {
                        format!("{c}{c}{c}")
                    }
                })
                .collect(),
        ),
        (
            "fullwidth",
            map_chars(term, |c| {
                c.is_ascii_graphic()
                    .then(|| char::from_u32(c as u32 + 0xFEE0).map(String::from))
                    .flatten()
            }),
        ),
        ("upper", term.to_uppercase()),
        (
            "traditional",
            map_chars(term, |c| TRAD.get(&c).map(char::to_string)),
        ),
        (
            "homoglyph",
            map_chars(term, |c| {
                HOMOGLYPH
                    .iter()
                    .find(|(l, _)| *l == c)
                    .map(|(_, h)| h.to_string())
            }),
        ),
        (
            "numerals",
            map_chars(term, |c| {
                let d = "〇一二三四五六七八九";
                match c {
                    '0'..='9' => d.chars().nth(c as usize - '0' as usize).map(String::from),
                    _ => d.chars().position(|x| x == c).map(|i| i.to_string()),
                }
            }),
        ),
        (
            "circled",
            map_chars(term, |c| {
                ('1'..='9')
                    .contains(&c)
                    .then(|| char::from_u32(0x2460 + c as u32 - '1' as u32).map(String::from))
                    .flatten()
            }),
        ),
        (
            "split",
            map_chars(term, |c| {
                SPLIT
                    .iter()
                    .find(|(k, _)| *k == c)
                    .map(|(_, s)| s.to_string())
            }),
        ),
    ];
    v.dedup_by(|a, b| a.1 == b.1 && a.0 != "original" && b.0 != "original");
    v
}

fn check_entry(m: &Matcher, id: &str, parts: &[String], ctx: &Context, failures: &mut Vec<String>) {
    for (i, part) in parts.iter().enumerate() {
        for (name, var) in variants(part) {
            // The other parts of a combination stay plain, after a separator.
            let mut text = var.clone();
            for (j, other) in parts.iter().enumerate() {
                if j != i {
                    text.push('｜');
                    text.push_str(other);
                }
            }
            let d = m.check(&text, ctx);
            let ok = d
                .findings
                .iter()
                .any(|f| &*f.rule == id && f.start == 0 && f.end > 0);
            if !ok {
                failures.push(format!(
                    "{id} {name}: {text:?} -> {:?}",
                    d.findings
                        .iter()
                        .map(|f| (&f.rule, f.start, f.end))
                        .collect::<Vec<_>>()
                ));
            }
        }
    }
}

fn run_suite(lib: &FeatureLibrary) -> (usize, Vec<String>) {
    let m = Matcher::build(lib).unwrap();
    let mut failures = Vec::new();
    let mut checked = 0;
    for e in lib.active().filter(|e| e.kind == EntryKind::Rule) {
        let ctx = Context {
            scope: Scope::Both,
            audience: if e.audience == Audience::All {
                Audience::All
            } else {
                e.audience
            },
            exit_requested: true,
        };
        for p in &e.patterns {
            match Pattern::parse(p).unwrap() {
                Pattern::Literal(t) => check_entry(&m, &e.id, &[t], &ctx, &mut failures),
                Pattern::Combo { all, none: _ } => {
                    check_entry(&m, &e.id, &all, &ctx, &mut failures)
                }
                Pattern::Regex(_) => continue,
            }
            checked += 1;
        }
    }
    (checked, failures)
}

#[test]
fn ds10_every_variant_of_every_shipped_term_is_found() {
    let (checked, failures) = run_suite(default_library());
    assert!(
        checked > 1000,
        "only {checked} patterns in the shipped library"
    );
    assert!(
        failures.is_empty(),
        "{} of {checked} patterns missed a variant, e.g.:\n{}",
        failures.len(),
        failures
            .iter()
            .take(40)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
}

#[test]
fn ds10_pinyin_variants_for_entries_that_opt_in() {
    let mut lib = FeatureLibrary::new("py");
    let mut o = ImportOptions::new("C2");
    o.pinyin = true;
    lib.import_terms(
        "傻逼\n废物东西\n",
        &o,
        &Actor::new("li", 0),
        Some(&Actor::new("wang", 0)),
    )
    .unwrap();
    let m = Matcher::build(&lib).unwrap();
    for text in [
        "你真是个shabi",
        "你真是个 SB!",
        "你真是个sha逼",
        "你真是个s.b",
        "废物dongxi",
        "feiwudongxi",
        "fwdx",
    ] {
        let d = m.check(text, &Context::default());
        assert!(!d.findings.is_empty(), "{text}");
    }
    // Initials only match as a word: not inside "usb" or "sbc".
    for text in ["usb接口", "sbc电脑", "我是shabix"] {
        let d = m.check(text, &Context::default());
        assert!(d.findings.is_empty(), "{text}: {:?}", d.findings);
    }
    // Entries that did not opt in do not match pinyin.
    let (_, failures) = run_suite(&lib);
    assert!(failures.is_empty(), "{failures:?}");
}
