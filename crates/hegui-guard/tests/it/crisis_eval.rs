//! The crisis detector against hand-written labelled sets, written independently of the lexicon
//! (AIAI-7(1)). "Needs intervention" = intent, plan or loss; the detector predicts it when the
//! highest severity reaches `INTERVENTION_SEVERITY`.
//!
//! `test_data/crisis/labelled.tsv` is split by line: even data lines may be used to tune the
//! lexicon ("dev", its misses are printed), odd lines are never looked at while tuning ("test").
//! `holdout.tsv` was written later by another author and never used for tuning. All three are
//! reported. This is the lexicon alone: it must reach 0.95 on the half it was tuned on; on unseen
//! phrasing it reaches about 0.7, which is why the shipped detector adds the crisis model
//! (`hegui-classifier`, whose `tests/it/crisis.rs` holds the full detector to 0.95 on the unseen
//! sets).

use hegui_guard::crisis::INTERVENTION_SEVERITY;
use hegui_guard::{Context, FeatureLibrary, Matcher};

#[derive(Default, Debug)]
struct Counts {
    tp: usize,
    fp: usize,
    fn_: usize,
    tn: usize,
    misses: Vec<String>,
    false_alarms: Vec<String>,
}

impl Counts {
    fn precision(&self) -> f64 {
        self.tp as f64 / (self.tp + self.fp).max(1) as f64
    }
    fn recall(&self) -> f64 {
        self.tp as f64 / (self.tp + self.fn_).max(1) as f64
    }
    fn add(&mut self, label: &str, text: &str, predicted: bool) {
        let truth = matches!(label, "intent" | "plan" | "loss");
        match (truth, predicted) {
            (true, true) => self.tp += 1,
            (false, true) => {
                self.fp += 1;
                self.false_alarms.push(format!("{label}\t{text}"));
            }
            (true, false) => {
                self.fn_ += 1;
                self.misses.push(format!("{label}\t{text}"));
            }
            (false, false) => self.tn += 1,
        }
    }
}

fn rows(data: &'static str) -> impl Iterator<Item = (&'static str, &'static str)> {
    data.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            l.split_once('\t')
                .unwrap_or_else(|| panic!("bad line {l:?}"))
        })
}

#[test]
fn aiai_7_1_crisis_detector_recall_at_the_intervention_threshold() {
    // Library-free: only the built-in detectors, as the gateway runs them on user input.
    let m = Matcher::build(&FeatureLibrary::new("empty")).unwrap();
    let intervene = |text: &str| {
        m.check(text, &Context::input())
            .crisis_severity()
            .is_some_and(|s| s >= INTERVENTION_SEVERITY)
    };
    let (mut dev, mut test, mut holdout) =
        (Counts::default(), Counts::default(), Counts::default());
    for (n, (label, text)) in rows(include_str!("../../test_data/crisis/labelled.tsv")).enumerate()
    {
        let c = if n % 2 == 0 { &mut dev } else { &mut test };
        c.add(label, text, intervene(text));
    }
    for (label, text) in rows(include_str!("../../test_data/crisis/holdout.tsv")) {
        holdout.add(label, text, intervene(text));
    }
    for (name, c) in [("dev", &dev), ("test", &test), ("holdout", &holdout)] {
        eprintln!(
            "crisis {name}: precision {:.3} recall {:.3} (tp {} fp {} fn {} tn {})",
            c.precision(),
            c.recall(),
            c.tp,
            c.fp,
            c.fn_,
            c.tn
        );
    }
    assert!(
        dev.recall() >= 0.95,
        "dev recall {:.3}; misses:\n{}\nfalse alarms:\n{}",
        dev.recall(),
        dev.misses.join("\n"),
        dev.false_alarms.join("\n")
    );
    // Regression floor for the lexicon alone on phrasing it has not seen.
    for (name, c) in [("test", &test), ("holdout", &holdout)] {
        assert!(
            c.recall() >= 0.7 && c.precision() >= 0.9,
            "{name}: recall {:.3}, precision {:.3} ({} misses)",
            c.recall(),
            c.precision(),
            c.misses.len()
        );
    }
}
