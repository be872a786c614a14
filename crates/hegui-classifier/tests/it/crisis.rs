//! The shipped crisis detector — the lexicon of `hegui-guard` plus the crisis model — on the
//! labelled sets it was not tuned or trained on (AIAI-7(1)): the odd lines of
//! `hegui-guard/test_data/crisis/labelled.tsv` and all of `holdout.tsv`. "Needs intervention" =
//! intent, plan or loss; predicted when the highest crisis severity reaches the intervention
//! threshold.

use hegui_classifier::NgramClassifier;
use hegui_guard::crisis::INTERVENTION_SEVERITY;
use hegui_guard::{Context, FeatureLibrary, GuardConfig, Matcher};
use std::sync::Arc;

fn rows(data: &'static str) -> Vec<(&'static str, &'static str)> {
    data.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| l.split_once('\t').expect("LABEL<TAB>TEXT"))
        .collect()
}

fn measure(m: &Matcher, rows: &[(&str, &str)]) -> (f64, f64, Vec<String>) {
    let (mut tp, mut fp, mut fn_) = (0usize, 0usize, 0usize);
    let mut misses = Vec::new();
    for (label, text) in rows {
        let truth = matches!(*label, "intent" | "plan" | "loss");
        let pred = m
            .check(text, &Context::input())
            .crisis_severity()
            .is_some_and(|s| s >= INTERVENTION_SEVERITY);
        match (truth, pred) {
            (true, true) => tp += 1,
            (false, true) => fp += 1,
            (true, false) => {
                fn_ += 1;
                misses.push(format!("{label}\t{text}"));
            }
            _ => {}
        }
    }
    let p = tp as f64 / (tp + fp).max(1) as f64;
    let r = tp as f64 / (tp + fn_).max(1) as f64;
    (p, r, misses)
}

#[test]
fn aiai_7_1_crisis_detector_reaches_recall_095_on_unseen_sets() {
    let config = GuardConfig::default();
    let m = Matcher::build(&FeatureLibrary::new("empty"))
        .unwrap()
        .with_crisis_model(Arc::new(NgramClassifier::crisis()), config.crisis_threshold);
    let labelled = rows(include_str!(
        "../../../hegui-guard/test_data/crisis/labelled.tsv"
    ));
    let test: Vec<_> = labelled.iter().skip(1).step_by(2).copied().collect();
    let holdout = rows(include_str!(
        "../../../hegui-guard/test_data/crisis/holdout.tsv"
    ));
    let mut failed = Vec::new();
    for (name, set) in [("test half", &test), ("holdout", &holdout)] {
        let (p, r, misses) = measure(&m, set);
        eprintln!(
            "crisis detector (lexicon + model at {}), {name}: precision {p:.3} recall {r:.3} ({} texts)",
            config.crisis_threshold,
            set.len()
        );
        if r < 0.95 {
            failed.push(format!(
                "{name}: recall {r:.3}; misses:\n{}",
                misses.join("\n")
            ));
        }
    }
    assert!(failed.is_empty(), "{}", failed.join("\n"));
}

/// The rule that picked `GuardConfig::crisis_threshold`: the highest threshold that keeps recall
/// ≥ 0.98 on the validation half. A retrained model or a changed lexicon must still honour it.
#[test]
fn aiai_7_1_crisis_threshold_keeps_validation_recall_098() {
    let labelled = rows(include_str!(
        "../../../hegui-guard/test_data/crisis/labelled.tsv"
    ));
    let validation: Vec<_> = labelled.iter().skip(1).step_by(2).copied().collect();
    let t = GuardConfig::default().crisis_threshold;
    let m = Matcher::build(&FeatureLibrary::new("empty"))
        .unwrap()
        .with_crisis_model(Arc::new(NgramClassifier::crisis()), t);
    let (p, r, misses) = measure(&m, &validation);
    eprintln!("threshold {t}: validation precision {p:.3} recall {r:.3}");
    assert!(
        r >= 0.98,
        "recall {r:.3} at {t}; misses:\n{}",
        misses.join("\n")
    );
}
