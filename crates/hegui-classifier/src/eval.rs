//! Evaluation: precision, recall and F1 of the positive (for COLD: offensive) class.

use crate::model::Model;
use serde::Serialize;

/// Confusion counts and scores for the positive class at one threshold.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Metrics {
    /// `tp / (tp + fp)`, 0 when nothing was predicted positive.
    pub precision: f64,
    /// `tp / (tp + fn)`, 0 when there are no positives.
    pub recall: f64,
    /// Harmonic mean of precision and recall, `2tp / (2tp + fp + fn)`.
    pub f1: f64,
    /// `(tp + tn) / total`.
    pub accuracy: f64,
    /// Positives predicted positive.
    pub tp: u64,
    /// Negatives predicted positive.
    pub fp: u64,
    /// Positives predicted negative.
    #[serde(rename = "fn")]
    pub fn_: u64,
    /// Negatives predicted negative.
    pub tn: u64,
    /// The probability threshold used (positive when score ≥ threshold).
    pub threshold: f32,
}

impl Metrics {
    /// Metrics from confusion counts.
    pub fn from_counts(tp: u64, fp: u64, fn_: u64, tn: u64, threshold: f32) -> Metrics {
        let ratio = |a: u64, b: u64| if b == 0 { 0.0 } else { a as f64 / b as f64 };
        Metrics {
            precision: ratio(tp, tp + fp),
            recall: ratio(tp, tp + fn_),
            f1: ratio(2 * tp, 2 * tp + fp + fn_),
            accuracy: ratio(tp + tn, tp + fp + fn_ + tn),
            tp,
            fp,
            fn_,
            tn,
            threshold,
        }
    }

    /// Metrics of `(score, is_positive)` pairs at `threshold`.
    pub fn of_scores(scores: impl IntoIterator<Item = (f32, bool)>, threshold: f32) -> Metrics {
        let (mut tp, mut fp, mut fn_, mut tn) = (0, 0, 0, 0);
        for (s, y) in scores {
            match (s >= threshold, y) {
                (true, true) => tp += 1,
                (true, false) => fp += 1,
                (false, true) => fn_ += 1,
                (false, false) => tn += 1,
            }
        }
        Metrics::from_counts(tp, fp, fn_, tn, threshold)
    }
}

impl std::fmt::Display for Metrics {
    /// `precision 0.xxx  recall 0.xxx  f1 0.xxx  (tp N fp N fn N tn N, threshold 0.xxx)`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "precision {:.3}  recall {:.3}  f1 {:.3}  (tp {} fp {} fn {} tn {}, threshold {:.3})",
            self.precision,
            self.recall,
            self.f1,
            self.tp,
            self.fp,
            self.fn_,
            self.tn,
            self.threshold
        )
    }
}

/// Scores `samples` with `model` at the model's own threshold.
pub fn evaluate(model: &Model, samples: &[(String, bool)]) -> Metrics {
    evaluate_at(model, samples, model.threshold())
}

/// Scores `samples` with `model` at `threshold`.
pub fn evaluate_at(model: &Model, samples: &[(String, bool)], threshold: f32) -> Metrics {
    Metrics::of_scores(samples.iter().map(|(t, y)| (model.score(t), *y)), threshold)
}

/// The threshold that maximises F1 over `(score, is_positive)` pairs, with its metrics. Ties go
/// to the higher threshold; the threshold sits halfway between the last score counted positive
/// and the next lower one. With no positives it is 0.5.
pub fn best_f1_threshold(mut scored: Vec<(f32, bool)>) -> Metrics {
    let pos = scored.iter().filter(|(_, y)| *y).count() as u64;
    let total = scored.len() as u64;
    if pos == 0 {
        return Metrics::of_scores(scored, 0.5);
    }
    scored.sort_unstable_by(|a, b| b.0.total_cmp(&a.0));
    let (mut tp, mut fp) = (0u64, 0u64);
    let mut best: Option<(f64, usize)> = None;
    let mut i = 0;
    while i < scored.len() {
        let s = scored[i].0;
        while i < scored.len() && scored[i].0 == s {
            if scored[i].1 {
                tp += 1;
            } else {
                fp += 1;
            }
            i += 1;
        }
        let f1 = 2.0 * tp as f64 / (tp + pos + fp) as f64;
        if best.is_none_or(|(b, _)| f1 > b) {
            best = Some((f1, i));
        }
    }
    let cut = best.map_or(scored.len(), |(_, i)| i);
    let last = scored[cut - 1].0;
    let threshold = match scored.get(cut) {
        Some(&(next, _)) => {
            let mid = last / 2.0 + next / 2.0;
            if mid > next && mid <= last { mid } else { last }
        }
        None => last,
    };
    let (tp, fp) = scored[..cut].iter().fold(
        (0, 0),
        |(t, f), (_, y)| if *y { (t + 1, f) } else { (t, f + 1) },
    );
    Metrics::from_counts(tp, fp, pos - tp, total - pos - fp, threshold)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_give_the_textbook_scores() {
        let m = Metrics::from_counts(8, 2, 4, 6, 0.5);
        assert!((m.precision - 0.8).abs() < 1e-12);
        assert!((m.recall - 8.0 / 12.0).abs() < 1e-12);
        assert!((m.f1 - 16.0 / 22.0).abs() < 1e-12);
        assert!((m.accuracy - 0.7).abs() < 1e-12);
        let z = Metrics::from_counts(0, 0, 0, 0, 0.5);
        assert_eq!((z.precision, z.recall, z.f1), (0.0, 0.0, 0.0));
    }

    #[test]
    fn best_threshold_separates_separable_scores() {
        let s = vec![
            (0.9, true),
            (0.8, true),
            (0.3, false),
            (0.7, true),
            (0.1, false),
        ];
        let m = best_f1_threshold(s.clone());
        assert_eq!((m.tp, m.fp, m.fn_, m.tn), (3, 0, 0, 2));
        assert!(m.threshold > 0.3 && m.threshold <= 0.7);
        assert_eq!(Metrics::of_scores(s, m.threshold), m);
    }

    #[test]
    fn best_threshold_agrees_with_of_scores_on_ties() {
        let s = vec![
            (0.5, true),
            (0.5, false),
            (0.5, true),
            (0.2, false),
            (0.9, false),
        ];
        let m = best_f1_threshold(s.clone());
        assert_eq!(Metrics::of_scores(s, m.threshold), m);
    }
}
