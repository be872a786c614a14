//! A hashed character n-gram logistic-regression text classifier, and the default model that
//! scores Chinese offensive language (trained on COLD).
//!
//! Keyword libraries catch what they list; this model adds recall for the rest (DS-10: review of
//! input and output). It plugs into `hegui-guard` through [`hegui_guard::Classifier`].
//!
//! * [`features`]: a light fold (lowercase, full-width → half-width, whitespace and invisible
//!   characters dropped), character n-grams, FNV-1a 64 hashed into `2^B` buckets.
//! * [`train()`](train::train): deterministic AdaGrad logistic regression with L2 and class
//!   weights; the decision threshold maximises F1 on a held-out part of the training data.
//! * [`evaluate()`](eval::evaluate): precision, recall, F1 and accuracy of the positive class.
//! * [`Model`]: quantised weights, inference without per-call allocation (about 1–2 µs for a
//!   100-character message), and the documented `HGCLS1` file format ([`model`]).
//! * [`read_labelled_csv`]: COLD's CSV files or any CSV with `text` and `label` columns.
//!
//! # The default model
//!
//! [`default_model`] is `model/cold-offensive.hgcls`, embedded in the binary. It was trained on
//! the train split of COLD (Chinese Offensive Language Dataset, Deng et al., 2022,
//! <https://github.com/thu-coai/COLDataset>, Apache-2.0) with [`TrainParams::default`]:
//! 2^20 buckets, character 1- to 3-grams, count weighting, 10 epochs, learning rate 0.2, L2 1e-5,
//! balanced classes, i8 weights. It is 1 MiB. The same command regenerates it byte for byte (on
//! the same platform):
//!
//! ```text
//! hegui guard train --data ../shared/data/cold/train.csv \
//!     --out crates/hegui-classifier/model/cold-offensive.hgcls
//! ```
//!
//! On COLD dev (never seen in training or threshold choice) it reaches precision 0.902, recall
//! 0.903, F1 0.903 for the offensive class at its threshold 0.555 (the test
//! `ds10_shipped_classifier_reaches_f1_077_on_cold_dev` holds it to F1 ≥ 0.77).
//!
//! COLD's offensive class covers offence against races, regions and genders. Findings from this
//! model carry the rule id `classifier.cold-offensive` and the taxonomy category `A2.9` (other
//! discrimination): one model cannot tell ethnic (A2.1), regional (A2.4) and gender (A2.5)
//! discrimination apart, and its offensive class also holds plain insults, so the catch-all of
//! the discrimination risks is the honest mapping.

pub mod data;
pub mod eval;
pub mod features;
pub mod model;
pub mod train;

pub use data::{DataError, parse_labelled_csv, read_labelled_csv};
pub use eval::{Metrics, evaluate, evaluate_at};
pub use features::{FeatureSpec, Weighting};
pub use model::{Model, ModelError, Quantisation};
pub use train::{ClassWeight, Progress, TrainParams, train, train_with_progress};

use std::sync::{Arc, LazyLock};

/// Rule id of the default model's findings.
pub const COLD_OFFENSIVE_RULE: &str = "classifier.cold-offensive";
/// Taxonomy category of the default model's findings (A2.9, other discrimination).
pub const COLD_OFFENSIVE_CATEGORY: &str = "A2.9";

/// The bytes of the shipped model file.
pub static DEFAULT_MODEL_BYTES: &[u8] = include_bytes!("../model/cold-offensive.hgcls");

static DEFAULT_MODEL: LazyLock<Model> = LazyLock::new(|| {
    // The embedded file is checked by a unit test; a failure here is a build defect.
    Model::from_bytes(DEFAULT_MODEL_BYTES)
        .unwrap_or_else(|e| panic!("the embedded model cold-offensive.hgcls is invalid: {e}"))
});

/// The shipped COLD offensive-language model, parsed on first use.
pub fn default_model() -> &'static Model {
    &DEFAULT_MODEL
}

/// Rule id of the crisis model's findings.
pub const CRISIS_RULE: &str = "classifier.crisis";
/// Taxonomy category of the crisis model's findings (S2, suicide or self-harm intent; the model
/// is trained on intent, plan and major-loss messages together, which all call for intervention).
pub const CRISIS_CATEGORY: &str = "S2";

/// The bytes of the shipped crisis model, `model/crisis.hgcls`: trained by `cargo xtask
/// train-crisis` on hegui's own hand-written crisis examples (the lexicon author's
/// `detectors/sanity.txt` and the tuning half of `test_data/crisis/labelled.tsv`), with the
/// clean corpus and a sample of COLD as ordinary text. The other half of `labelled.tsv` and
/// `holdout.tsv` are never used for training and measure it.
pub static CRISIS_MODEL_BYTES: &[u8] = include_bytes!("../model/crisis.hgcls");

static CRISIS_MODEL: LazyLock<Model> = LazyLock::new(|| {
    Model::from_bytes(CRISIS_MODEL_BYTES)
        .unwrap_or_else(|e| panic!("the embedded model crisis.hgcls is invalid: {e}"))
});

/// The shipped crisis-intent model (AIAI-7(1)), parsed on first use.
pub fn crisis_model() -> &'static Model {
    &CRISIS_MODEL
}

/// Where an [`NgramClassifier`] keeps its model.
#[derive(Debug, Clone)]
enum Source {
    Static(&'static Model),
    Shared(Arc<Model>),
}

/// A [`Model`] with the rule id and category its findings carry: the
/// [`hegui_guard::Classifier`] implementation.
#[derive(Debug, Clone)]
pub struct NgramClassifier {
    model: Source,
    rule: String,
    category: &'static str,
}

impl NgramClassifier {
    /// The shipped model: rule `classifier.cold-offensive`, category `A2.9`.
    pub fn cold_offensive() -> NgramClassifier {
        NgramClassifier {
            model: Source::Static(default_model()),
            rule: COLD_OFFENSIVE_RULE.to_string(),
            category: COLD_OFFENSIVE_CATEGORY,
        }
    }

    /// The shipped crisis model: rule `classifier.crisis`, category `S2`. Attach it with
    /// `Matcher::with_crisis_model` (threshold: `GuardConfig::crisis_threshold`).
    pub fn crisis() -> NgramClassifier {
        NgramClassifier {
            model: Source::Static(crisis_model()),
            rule: CRISIS_RULE.to_string(),
            category: CRISIS_CATEGORY,
        }
    }

    /// Any model, with the rule id and taxonomy category of its findings.
    pub fn new(
        model: impl Into<Arc<Model>>,
        rule: impl Into<String>,
        category: &'static str,
    ) -> NgramClassifier {
        NgramClassifier {
            model: Source::Shared(model.into()),
            rule: rule.into(),
            category,
        }
    }

    /// The model.
    pub fn model(&self) -> &Model {
        match &self.model {
            Source::Static(m) => m,
            Source::Shared(m) => m,
        }
    }

    /// The model's own decision threshold (the F1-optimal one from training), a good `flag`
    /// threshold for [`hegui_guard::ClassifierThresholds`].
    pub fn threshold(&self) -> f32 {
        self.model().threshold()
    }
}

impl Default for NgramClassifier {
    fn default() -> Self {
        NgramClassifier::cold_offensive()
    }
}

impl hegui_guard::Classifier for NgramClassifier {
    fn rule(&self) -> &str {
        &self.rule
    }

    fn category(&self) -> &'static str {
        self.category
    }

    fn score(&self, text: &str) -> f32 {
        self.model().score(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hegui_guard::Classifier;

    #[test]
    fn the_embedded_crisis_model_parses() {
        let m = Model::from_bytes(CRISIS_MODEL_BYTES).unwrap();
        assert_eq!(m.to_bytes(), CRISIS_MODEL_BYTES);
        assert_eq!(NgramClassifier::crisis().category(), "S2");
        assert!(hegui_guard::taxonomy::get(CRISIS_CATEGORY).is_some());
    }

    #[test]
    fn the_embedded_model_parses_and_round_trips() {
        let m = Model::from_bytes(DEFAULT_MODEL_BYTES).unwrap();
        assert_eq!(m.to_bytes(), DEFAULT_MODEL_BYTES);
        assert_eq!(m.spec(), &TrainParams::default().features);
        assert!(DEFAULT_MODEL_BYTES.len() <= 4 << 20);
    }

    #[test]
    fn the_default_classifier_names_its_rule_and_category() {
        let c = NgramClassifier::default();
        assert_eq!(c.rule(), "classifier.cold-offensive");
        assert_eq!(c.category(), "A2.9");
        assert!(hegui_guard::taxonomy::get("A2.9").is_some());
        for t in ["", " ", "\u{0}", "😀", &"长".repeat(10_000)] {
            assert!((0.0..=1.0).contains(&c.score(t)));
        }
        let custom = NgramClassifier::new(default_model().clone(), "classifier.x", "A2.4");
        assert_eq!((custom.rule(), custom.category()), ("classifier.x", "A2.4"));
    }
}
