//! The seam a trained text classifier plugs into (implemented by `hegui-classifier`), and the
//! per-action thresholds that turn its probability into a finding.

use crate::decision::Action;
use serde::{Deserialize, Serialize};

/// A text classifier: the probability that a text belongs to its category.
pub trait Classifier: Send + Sync {
    /// Rule id used in findings, e.g. `classifier.cold-offensive`.
    fn rule(&self) -> &str;
    /// Taxonomy id of what it detects.
    fn category(&self) -> &'static str;
    /// Probability in `[0, 1]`. Must not panic on any input.
    fn score(&self, text: &str) -> f32;
}

/// Probability thresholds per action; the strongest threshold reached wins. `None` disables it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ClassifierThresholds {
    /// Flag at or above this probability.
    pub flag: Option<f32>,
    /// Send to review at or above this probability.
    pub review: Option<f32>,
    /// Block at or above this probability.
    pub block: Option<f32>,
}

impl Default for ClassifierThresholds {
    fn default() -> Self {
        // A model alone never blocks by default: it has no explainable span, and its precision
        // (0.90 on COLD dev, lower on topics it was not trained on) is not good enough to refuse
        // on; it flags and, when very confident, asks a person. 0.7 is above the F1-optimal 0.555 because
        // short everyday messages outside COLD's topics score high more often than COLD does.
        Self {
            flag: Some(0.7),
            review: Some(0.95),
            block: None,
        }
    }
}

impl ClassifierThresholds {
    /// The action for probability `p`.
    pub fn action(&self, p: f32) -> Action {
        let reached = |t: Option<f32>| t.is_some_and(|t| p >= t);
        if reached(self.block) {
            Action::Block
        } else if reached(self.review) {
            Action::Review
        } else if reached(self.flag) {
            Action::Flag
        } else {
            Action::Pass
        }
    }
}
