//! For any split of a text into chunks, the stream finds exactly what the batch finds, and it never
//! releases text from a blocked phrase on (DS-10: output review that holds even when a phrase is
//! split across upstream chunks).

use crate::support::small_library;
use hegui_guard::{Action, Context, Matcher};
use proptest::prelude::*;
use std::sync::LazyLock;

static MATCHER: LazyLock<Matcher> =
    LazyLock::new(|| Matcher::build(&small_library(false)).unwrap());
static WITH_REGEX: LazyLock<Matcher> =
    LazyLock::new(|| Matcher::build(&small_library(true)).unwrap());

fn piece() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("裸聊".to_string()),
        Just("裸 聊".to_string()),
        Just("裸！！聊".to_string()),
        Just("約炮".to_string()),
        Just("恐怖主义".to_string()),
        Just("反恐怖主义法".to_string()),
        Just("sb".to_string()),
        Just("ＳＢ".to_string()),
        Just("usb".to_string()),
        Just("赌博".to_string()),
        Just("网站".to_string()),
        Just("打击".to_string()),
        Just("炸药".to_string()),
        Just("配方".to_string()),
        Just("家庭住址".to_string()),
        Just("QQ群123456789".to_string()),
        Just("13812345678".to_string()),
        Just("138 1234 5678".to_string()),
        Just("11010519491231002X".to_string()),
        Just("zhang.san@example.com".to_string()),
        Just("想死".to_string()),
        "[a-z ]{1,4}",
        "[一-龥]{1,4}",
        "[0-9]{1,4}",
        "[，。！？ \u{200b}😀]{1,2}",
    ]
}

fn text() -> impl Strategy<Value = String> {
    prop::collection::vec(piece(), 0..12).prop_map(|v| v.concat())
}

fn chunks(s: &str, cuts: &[usize]) -> Vec<String> {
    let chars: Vec<char> = s.chars().collect();
    let mut points: Vec<usize> = cuts.iter().map(|c| c % (chars.len() + 1)).collect();
    points.sort_unstable();
    points.dedup();
    let mut out = Vec::new();
    let mut last = 0;
    for p in points {
        out.push(chars[last..p].iter().collect());
        last = p;
    }
    out.push(chars[last..].iter().collect());
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn ds10_stream_equals_batch_for_any_chunking(t in text(), cuts in prop::collection::vec(0usize..200, 0..8)) {
        for (m, ctx) in [(&*MATCHER, Context::default()), (&*MATCHER, Context::input()), (&*WITH_REGEX, Context::output())] {
            let batch = m.check(&t, &ctx);
            let mut s = m.stream(ctx);
            let mut released = String::new();
            let mut blocked = false;
            for c in chunks(&t, &cuts) {
                let step = s.feed(&c);
                released.push_str(&step.release);
                blocked |= step.blocked;
            }
            let step = s.finish();
            released.push_str(&step.release);
            blocked |= step.blocked;
            let streamed = s.decision();
            prop_assert_eq!(&streamed, &batch);
            prop_assert_eq!(blocked, batch.action == Action::Block || batch.findings.iter().any(|f| f.action == Action::Block));
            // Per blocking rule, the span that completed it (the last part of a combination).
            let mut last: std::collections::HashMap<&str, usize> = Default::default();
            for f in batch.findings.iter().filter(|f| f.action == Action::Block) {
                let e = last.entry(&*f.rule).or_insert(0);
                *e = (*e).max(f.start);
            }
            if let Some(b) = last.values().copied().min() {
                // Nothing from the phrase that completed a blocking rule on was released.
                prop_assert!(released.chars().count() <= b, "released {:?} past block at {}", released, b);
                prop_assert!(batch.masked.starts_with(&released));
            } else {
                prop_assert_eq!(&released, &batch.masked);
            }
        }
    }
}

#[test]
fn ds10_split_phrase_is_held_back_until_decided() {
    let mut s = MATCHER.stream(Context::output());
    let a = s.feed("你好，我们来裸");
    assert_eq!(a.release, "你好，我们来");
    let b = s.feed("聊吧");
    assert!(b.blocked);
    assert_eq!(b.release, "");
    assert_eq!(s.finish().release, "");
}

#[test]
fn ds10_exemption_defers_then_releases() {
    let mut s = MATCHER.stream(Context::output());
    let a = s.feed("全国人大审议反恐怖主义");
    assert!(!a.blocked);
    assert_eq!(a.release, "全国人大审议");
    let b = s.feed("法修正案");
    assert!(!b.blocked, "{b:?}");
    let rest = s.finish();
    assert_eq!(
        format!("{}{}{}", a.release, b.release, rest.release),
        "全国人大审议反恐怖主义法修正案"
    );
}

#[test]
fn gai11_pii_is_masked_in_the_stream() {
    let mut s = MATCHER.stream(Context::input());
    let mut out = String::new();
    for c in ["我的手机是138", "1234", "5678，谢谢"] {
        out.push_str(&s.feed(c).release);
    }
    out.push_str(&s.finish().release);
    assert!(!out.contains("13812345678"), "{out}");
    assert!(out.starts_with("我的手机是138****5678"), "{out}");
}

proptest! {
    #[test]
    fn ds10_checking_never_fails_on_arbitrary_text(t in "\\PC{0,200}") {
        let m = &*MATCHER;
        let d = m.check(&t, &Context::default());
        prop_assert_eq!(d.masked.chars().count(), t.chars().count());
        for f in &d.findings {
            prop_assert!(f.start < f.end && f.end <= t.chars().count());
        }
    }
}
