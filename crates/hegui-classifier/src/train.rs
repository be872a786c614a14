//! Training: logistic regression on hashed n-gram features with AdaGrad and L2, deterministic.
//!
//! 1. Features of every sample are extracted once ([`FeatureSpec::extract`]).
//! 2. The samples are shuffled with a seeded xorshift64* generator and a `holdout` fraction is
//!    set aside (taken from the training data only: a development or test set is never seen).
//! 3. AdaGrad minimises the class-weighted log loss plus L2 (applied to the weights a sample
//!    touches), for `epochs` passes in a freshly shuffled order each time.
//! 4. The model is quantised and the threshold that maximises F1 *of the quantised model* on the
//!    held-out part is chosen.
//! 5. With `refit`, training is repeated on all samples with the same settings and the chosen
//!    threshold is kept.
//!
//! The same samples and parameters give the same model bytes on the same platform (floating
//! point `exp`/`ln` may differ in the last bit between C libraries, so bit-identity across
//! platforms is not promised; the held-out and dev metrics are).

use crate::eval::{Metrics, best_f1_threshold};
use crate::features::{BUCKET_BITS, FeatureSpec, MAX_NGRAM, Weighting};
use crate::model::{Model, Quantisation, sigmoid};

/// How the two classes are weighted in the loss.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub enum ClassWeight {
    /// Every sample counts 1.
    Uniform,
    /// Each class contributes half of the total weight (`n / (2 × n_class)` per sample).
    Balanced,
    /// Positive samples count this much, negatives 1.
    Positive(f32),
}

/// Training settings. [`TrainParams::default`] is the configuration of the shipped model.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TrainParams {
    /// Features (out-of-range values are clamped into range).
    pub features: FeatureSpec,
    /// Passes over the data.
    pub epochs: u32,
    /// AdaGrad base learning rate.
    pub learning_rate: f32,
    /// L2 penalty, applied to the weights a sample touches at each update.
    pub l2: f32,
    /// Class weighting.
    pub class_weight: ClassWeight,
    /// Fraction of the samples held out to choose the threshold (0 chooses it on the training
    /// samples themselves).
    pub holdout: f32,
    /// After choosing the threshold, retrain on all samples (held-out part included).
    pub refit: bool,
    /// Seed of the shuffles.
    pub seed: u64,
    /// How the weights are stored.
    pub quantisation: Quantisation,
    /// Weights are clipped at this quantile of the non-zero magnitudes before quantising
    /// (1.0: no clipping).
    pub clip_quantile: f32,
}

impl Default for TrainParams {
    fn default() -> Self {
        TrainParams {
            features: FeatureSpec {
                bucket_bits: 20,
                ngram_min: 1,
                ngram_max: 3,
                weighting: Weighting::Count,
            },
            epochs: 10,
            learning_rate: 0.2,
            l2: 1e-5,
            class_weight: ClassWeight::Balanced,
            holdout: 0.1,
            refit: true,
            seed: 0x6865_6775_6900_0001,
            quantisation: Quantisation::I8,
            clip_quantile: 1.0,
        }
    }
}

/// What training reports as it goes.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub enum Progress {
    /// Features extracted.
    Features {
        /// Samples used for fitting.
        train: usize,
        /// Samples held out for the threshold.
        holdout: usize,
    },
    /// One epoch finished.
    Epoch {
        /// True for the refit on all samples.
        refit: bool,
        /// 1-based epoch.
        epoch: u32,
        /// Number of epochs.
        epochs: u32,
        /// Mean class-weighted log loss over the epoch.
        loss: f64,
    },
    /// The threshold was chosen; metrics of the quantised model on the held-out part.
    Threshold(Metrics),
}

/// xorshift64* (Vigna), the seeded generator of the shuffles.
struct XorShift(u64);

impl XorShift {
    fn new(seed: u64) -> Self {
        // A zero state would stay zero.
        XorShift(if seed == 0 {
            0x9E37_79B9_7F4A_7C15
        } else {
            seed
        })
    }

    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in `0..n` (n > 0), by the multiply-shift reduction.
    fn below(&mut self, n: usize) -> usize {
        ((u128::from(self.next() >> 32) * n as u128) >> 32) as usize
    }

    /// Fisher–Yates.
    fn shuffle<T>(&mut self, v: &mut [T]) {
        for i in (1..v.len()).rev() {
            let j = self.below(i + 1);
            v.swap(i, j);
        }
    }
}

/// All samples' feature vectors in one flat array.
struct Features {
    pairs: Vec<(u32, f32)>,
    ends: Vec<usize>,
}

impl Features {
    fn get(&self, i: usize) -> &[(u32, f32)] {
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        &self.pairs[start..self.ends[i]]
    }
}

/// Trains a model (see the module docs). Never panics; degenerate input (no samples, one
/// class) gives a model that still scores every text.
pub fn train(samples: &[(String, bool)], params: &TrainParams) -> Model {
    train_with_progress(samples, params, |_| {})
}

/// [`train`], reporting progress to `progress`.
pub fn train_with_progress(
    samples: &[(String, bool)],
    params: &TrainParams,
    mut progress: impl FnMut(Progress),
) -> Model {
    let mut spec = params.features;
    spec.bucket_bits = spec
        .bucket_bits
        .clamp(*BUCKET_BITS.start(), *BUCKET_BITS.end());
    spec.ngram_max = spec.ngram_max.clamp(1, MAX_NGRAM);
    spec.ngram_min = spec.ngram_min.clamp(1, spec.ngram_max);

    let feats = {
        let (mut scratch, mut one) = (Vec::new(), Vec::new());
        let mut pairs = Vec::new();
        let mut ends = Vec::with_capacity(samples.len());
        for (text, _) in samples {
            spec.extract(text, &mut scratch, &mut one);
            pairs.extend_from_slice(&one);
            ends.push(pairs.len());
        }
        Features { pairs, ends }
    };
    let labels: Vec<bool> = samples.iter().map(|(_, y)| *y).collect();

    let mut rng = XorShift::new(params.seed);
    let mut order: Vec<usize> = (0..samples.len()).collect();
    rng.shuffle(&mut order);
    let holdout_fraction = if params.holdout.is_finite() {
        params.holdout.clamp(0.0, 0.9)
    } else {
        0.0
    };
    let n_hold = (samples.len() as f64 * f64::from(holdout_fraction)).round() as usize;
    let (held, fit_on) = order.split_at(n_hold);
    progress(Progress::Features {
        train: fit_on.len(),
        holdout: held.len(),
    });

    let fit =
        |idx: &[usize], rng: &mut XorShift, refit: bool, progress: &mut dyn FnMut(Progress)| {
            fit(&feats, &labels, idx, &spec, params, rng, refit, progress)
        };
    let (w, b) = fit(fit_on, &mut rng, false, &mut progress);
    let model = Model::quantise(
        spec,
        &w,
        b,
        0.5,
        params.quantisation,
        clip_at(&w, params.clip_quantile),
    );
    let pick_on = if held.is_empty() { fit_on } else { held };
    let scored = pick_on
        .iter()
        .map(|&i| (model.score(&samples[i].0), labels[i]))
        .collect();
    let chosen = best_f1_threshold(scored);
    progress(Progress::Threshold(chosen));
    if params.refit && !held.is_empty() {
        let (w, b) = fit(&order, &mut rng, true, &mut progress);
        Model::quantise(
            spec,
            &w,
            b,
            chosen.threshold,
            params.quantisation,
            clip_at(&w, params.clip_quantile),
        )
    } else {
        model.with_threshold(chosen.threshold)
    }
}

/// The magnitude at quantile `q` of the non-zero weights (0 = no clipping).
fn clip_at(w: &[f32], q: f32) -> f32 {
    if !(q > 0.0 && q < 1.0) {
        return 0.0;
    }
    let mut mags: Vec<f32> = w
        .iter()
        .filter(|x| **x != 0.0 && x.is_finite())
        .map(|x| x.abs())
        .collect();
    if mags.is_empty() {
        return 0.0;
    }
    let k = ((mags.len() - 1) as f64 * f64::from(q)).round() as usize;
    let (_, v, _) = mags.select_nth_unstable_by(k, f32::total_cmp);
    *v
}

/// AdaGrad over the samples `idx`; returns the float weights and bias.
#[allow(clippy::too_many_arguments)]
fn fit(
    feats: &Features,
    labels: &[bool],
    idx: &[usize],
    spec: &FeatureSpec,
    params: &TrainParams,
    rng: &mut XorShift,
    refit: bool,
    progress: &mut dyn FnMut(Progress),
) -> (Vec<f32>, f32) {
    let n = spec.buckets();
    let mut w = vec![0f32; n];
    let mut g2 = vec![0f32; n];
    let (mut b, mut gb) = (0f32, 0f32);
    let pos = idx.iter().filter(|&&i| labels[i]).count();
    let neg = idx.len() - pos;
    let (wp, wn) = match params.class_weight {
        ClassWeight::Uniform => (1.0, 1.0),
        ClassWeight::Balanced if pos > 0 && neg > 0 => (
            idx.len() as f32 / (2.0 * pos as f32),
            idx.len() as f32 / (2.0 * neg as f32),
        ),
        ClassWeight::Balanced => (1.0, 1.0),
        ClassWeight::Positive(p) if p.is_finite() && p > 0.0 => (p, 1.0),
        ClassWeight::Positive(_) => (1.0, 1.0),
    };
    let lr = if params.learning_rate.is_finite() && params.learning_rate > 0.0 {
        params.learning_rate
    } else {
        0.1
    };
    let l2 = if params.l2.is_finite() && params.l2 > 0.0 {
        params.l2
    } else {
        0.0
    };
    const EPS: f32 = 1e-6;
    let mut order = idx.to_vec();
    for epoch in 1..=params.epochs {
        rng.shuffle(&mut order);
        let mut loss = 0f64;
        for &i in &order {
            let x = feats.get(i);
            let y = labels[i];
            let z = b + x.iter().map(|&(j, v)| w[j as usize] * v).sum::<f32>();
            let p = sigmoid(z);
            let cw = if y { wp } else { wn };
            let pt = if y { p } else { 1.0 - p };
            loss += f64::from(cw) * -f64::from(pt.max(1e-7)).ln();
            let g = cw * (p - if y { 1.0 } else { 0.0 });
            for &(j, v) in x {
                let j = j as usize;
                let grad = g * v + l2 * w[j];
                g2[j] += grad * grad;
                w[j] -= lr * grad / (g2[j].sqrt() + EPS);
            }
            gb += g * g;
            b -= lr * g / (gb.sqrt() + EPS);
        }
        progress(Progress::Epoch {
            refit,
            epoch,
            epochs: params.epochs,
            loss: loss / order.len().max(1) as f64,
        });
    }
    (w, b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eval::evaluate;

    fn toy() -> Vec<(String, bool)> {
        let bad = [
            "你这个傻逼",
            "滚蛋吧垃圾",
            "真是个废物",
            "傻逼东西",
            "垃圾废物滚",
        ];
        let good = [
            "今天天气很好",
            "谢谢你的帮助",
            "我们去吃饭吧",
            "天气不错呀",
            "帮助别人很快乐",
        ];
        bad.iter()
            .map(|t| (t.to_string(), true))
            .chain(good.iter().map(|t| (t.to_string(), false)))
            .collect()
    }

    fn params() -> TrainParams {
        TrainParams {
            features: FeatureSpec {
                bucket_bits: 12,
                ..TrainParams::default().features
            },
            holdout: 0.0,
            ..TrainParams::default()
        }
    }

    #[test]
    fn training_separates_a_toy_set() {
        let data = toy();
        let m = train(&data, &params());
        let r = evaluate(&m, &data);
        assert_eq!((r.tp, r.tn), (5, 5), "{r}");
        assert!(m.score("傻逼垃圾") > m.score("今天很好"));
    }

    #[test]
    fn training_is_deterministic() {
        let data = toy();
        let p = TrainParams {
            holdout: 0.2,
            ..params()
        };
        assert_eq!(train(&data, &p).to_bytes(), train(&data, &p).to_bytes());
    }

    #[test]
    fn degenerate_input_still_gives_a_model() {
        let m = train(&[], &params());
        assert!((0.0..=1.0).contains(&m.score("任何文字")));
        let one = vec![("只有一类".to_string(), true)];
        let m = train(&one, &params());
        assert!((0.0..=1.0).contains(&m.score("只有一类")));
        let wild = TrainParams {
            features: FeatureSpec {
                bucket_bits: 3,
                ngram_min: 9,
                ngram_max: 0,
                weighting: Weighting::Count,
            },
            learning_rate: f32::NAN,
            holdout: f32::INFINITY,
            ..params()
        };
        let m = train(&toy(), &wild);
        assert!(m.spec().is_valid());
    }

    #[test]
    fn shuffle_is_a_permutation() {
        let mut v: Vec<usize> = (0..100).collect();
        XorShift::new(7).shuffle(&mut v);
        assert_ne!(v, (0..100).collect::<Vec<_>>());
        v.sort_unstable();
        assert_eq!(v, (0..100).collect::<Vec<_>>());
    }
}
