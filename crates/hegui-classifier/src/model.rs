//! The trained model: inference, quantisation and the `HGCLS1` binary file format.
//!
//! # File format (all integers and floats little-endian)
//!
//! | offset | size | field |
//! |---|---|---|
//! | 0 | 8 | magic `HGCLS1\0\0` |
//! | 8 | 1 | bucket bits `B` (8..=24); the model has `2^B` weights |
//! | 9 | 1 | shortest n-gram (≥ 1) |
//! | 10 | 1 | longest n-gram (≤ 8) |
//! | 11 | 1 | weighting: 0 binary, 1 log-count, 2 count (see [`Weighting`]) |
//! | 12 | 1 | weight width in bytes: 1 (`i8`) or 2 (`i16`) |
//! | 13 | 3 | reserved, zero |
//! | 16 | 4 | decision threshold, `f32` probability in `[0, 1]` |
//! | 20 | 4 | weight scale, `f32`, finite and > 0: weight = stored integer × scale |
//! | 24 | 4 | bias, `f32`, finite (not quantised) |
//! | 28 | 4 | number of weights, `u32`, must equal `2^B` |
//! | 32 | `2^B × width` | the quantised weights, bucket order |
//! | end − 8 | 8 | FNV-1a 64 of every preceding byte, `u64` |
//!
//! The probability of a text is `sigmoid(bias + scale × Σ q[bucket] × value)` where the values
//! are the text's L2-normalised features (see [`crate::features`]). Readers reject any other
//! length, magic, out-of-range field, non-zero reserved byte or checksum mismatch; they never
//! panic on any input.

use crate::features::{FNV_OFFSET, FeatureSpec, Weighting, fnv1a64};
use std::cell::RefCell;

/// The 8-byte magic at the start of a model file.
pub const MAGIC: [u8; 8] = *b"HGCLS1\0\0";
/// Header length in bytes.
const HEADER: usize = 32;
/// Checksum trailer length in bytes.
const TRAILER: usize = 8;

/// How weights are stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Quantisation {
    /// One signed byte per weight.
    I8,
    /// Two bytes per weight.
    I16,
}

impl Quantisation {
    /// Bytes per weight.
    pub fn width(self) -> usize {
        match self {
            Quantisation::I8 => 1,
            Quantisation::I16 => 2,
        }
    }

    /// The largest stored magnitude.
    fn max_q(self) -> f32 {
        match self {
            Quantisation::I8 => f32::from(i8::MAX),
            Quantisation::I16 => f32::from(i16::MAX),
        }
    }
}

/// Why model bytes were rejected.
#[derive(Debug, thiserror::Error, PartialEq)]
#[non_exhaustive]
pub enum ModelError {
    /// Fewer bytes than a header and trailer.
    #[error("model file too short: {len} bytes, a header and checksum need {min}")]
    TooShort {
        /// Bytes given.
        len: usize,
        /// Bytes needed at least.
        min: usize,
    },
    /// The first 8 bytes are not `HGCLS1\0\0`.
    #[error("not a hegui classifier model (bad magic)")]
    BadMagic,
    /// A header field is out of range.
    #[error("invalid model header: {field} = {value}")]
    BadField {
        /// Which field.
        field: &'static str,
        /// Its value, rendered.
        value: String,
    },
    /// The file length does not match the header.
    #[error("model file is {found} bytes, its header implies {expected}")]
    Length {
        /// Length implied by the header.
        expected: usize,
        /// Actual length.
        found: usize,
    },
    /// The stored checksum does not match the content.
    #[error("model checksum mismatch (file corrupt or truncated)")]
    Checksum,
}

/// The stored weights.
#[derive(Clone, PartialEq)]
enum Weights {
    I8(Box<[i8]>),
    I16(Box<[i16]>),
}

/// A trained, quantised hashed character n-gram logistic-regression model.
#[derive(Clone, PartialEq)]
pub struct Model {
    spec: FeatureSpec,
    threshold: f32,
    scale: f32,
    bias: f32,
    weights: Weights,
}

impl std::fmt::Debug for Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Model")
            .field("spec", &self.spec)
            .field("threshold", &self.threshold)
            .field("scale", &self.scale)
            .field("bias", &self.bias)
            .field("quantisation", &self.quantisation())
            .finish_non_exhaustive()
    }
}

thread_local! {
    /// Reused bucket buffer for the weightings that deduplicate.
    static SCRATCH: RefCell<Vec<u32>> = const { RefCell::new(Vec::new()) };
}

/// A scratch buffer larger than this is released after use.
const SCRATCH_KEEP: usize = 1 << 16;

impl Model {
    /// Quantises float weights (`weights.len()` must be `2^bucket_bits`; missing weights count as
    /// zero, extra ones are ignored). Weights beyond `clip` in magnitude are clipped; `clip <= 0`
    /// or non-finite means "the largest magnitude".
    pub fn quantise(
        spec: FeatureSpec,
        weights: &[f32],
        bias: f32,
        threshold: f32,
        quantisation: Quantisation,
        clip: f32,
    ) -> Model {
        let n = spec.buckets();
        let max_abs = weights
            .iter()
            .take(n)
            .fold(0f32, |m, w| if w.is_finite() { m.max(w.abs()) } else { m });
        let clip = if clip > 0.0 && clip.is_finite() {
            clip.min(max_abs)
        } else {
            max_abs
        };
        let scale = if clip > 0.0 {
            clip / quantisation.max_q()
        } else {
            1.0
        };
        let q = |i: usize| -> f32 {
            let w = weights.get(i).copied().unwrap_or(0.0);
            let w = if w.is_finite() { w } else { 0.0 };
            (w / scale)
                .round()
                .clamp(-quantisation.max_q(), quantisation.max_q())
        };
        let weights = match quantisation {
            Quantisation::I8 => Weights::I8((0..n).map(|i| q(i) as i8).collect()),
            Quantisation::I16 => Weights::I16((0..n).map(|i| q(i) as i16).collect()),
        };
        Model {
            spec,
            threshold: if threshold.is_finite() {
                threshold.clamp(0.0, 1.0)
            } else {
                0.5
            },
            scale,
            bias: if bias.is_finite() { bias } else { 0.0 },
            weights,
        }
    }

    /// The feature specification.
    pub fn spec(&self) -> &FeatureSpec {
        &self.spec
    }

    /// The decision threshold chosen in training: a text is positive when its score reaches it.
    pub fn threshold(&self) -> f32 {
        self.threshold
    }

    /// The same model with another decision threshold (clamped to `[0, 1]`).
    pub fn with_threshold(mut self, threshold: f32) -> Model {
        if threshold.is_finite() {
            self.threshold = threshold.clamp(0.0, 1.0);
        }
        self
    }

    /// The bias term.
    pub fn bias(&self) -> f32 {
        self.bias
    }

    /// The weight scale (weight = stored integer × scale).
    pub fn scale(&self) -> f32 {
        self.scale
    }

    /// How the weights are stored.
    pub fn quantisation(&self) -> Quantisation {
        match self.weights {
            Weights::I8(_) => Quantisation::I8,
            Weights::I16(_) => Quantisation::I16,
        }
    }

    /// The dequantised weight of bucket `i` (0 outside the table).
    pub fn weight(&self, i: usize) -> f32 {
        let q = match &self.weights {
            Weights::I8(w) => w.get(i).map_or(0.0, |&q| f32::from(q)),
            Weights::I16(w) => w.get(i).map_or(0.0, |&q| f32::from(q)),
        };
        q * self.scale
    }

    /// The probability in `[0, 1]` that `text` is positive. Never panics.
    pub fn score(&self, text: &str) -> f32 {
        sigmoid(self.logit(text))
    }

    /// Whether `text` scores at or above the model's threshold.
    pub fn predict(&self, text: &str) -> bool {
        self.score(text) >= self.threshold
    }

    /// The log-odds `bias + w·x` of `text`.
    pub fn logit(&self, text: &str) -> f32 {
        let dot = match &self.weights {
            Weights::I8(w) => self.dot(text, w),
            Weights::I16(w) => self.dot(text, w),
        };
        self.bias + self.scale * dot
    }

    /// `Σ q[bucket] × value` over the normalised features of `text`, in units of `scale`.
    #[inline]
    fn dot<Q: Copy + Into<i32>>(&self, text: &str, w: &[Q]) -> f32 {
        let q = |b: u32| w.get(b as usize).map_or(0, |&q| q.into());
        if self.spec.weighting == Weighting::Count {
            // No deduplication: each occurrence adds its weight; the norm is √(occurrences).
            let (mut sum, mut n) = (0i64, 0u64);
            self.spec.for_each_bucket(text, |b| {
                sum += i64::from(q(b));
                n += 1;
            });
            return if n == 0 {
                0.0
            } else {
                sum as f32 / (n as f32).sqrt()
            };
        }
        let run = |buf: &mut Vec<u32>| -> f32 {
            buf.clear();
            self.spec.for_each_bucket(text, |b| buf.push(b));
            buf.sort_unstable();
            let (mut acc, mut norm2) = (0f32, 0f32);
            for run in buf.chunk_by(|a, b| a == b) {
                let v = self.spec.value(run.len());
                acc += q(run[0]) as f32 * v;
                norm2 += v * v;
            }
            if buf.capacity() > SCRATCH_KEEP {
                *buf = Vec::new();
            }
            if norm2 > 0.0 { acc / norm2.sqrt() } else { 0.0 }
        };
        SCRATCH
            .try_with(|s| match s.try_borrow_mut() {
                Ok(mut buf) => run(&mut buf),
                Err(_) => run(&mut Vec::new()),
            })
            .unwrap_or_else(|_| run(&mut Vec::new()))
    }

    /// The model file (see the module docs).
    pub fn to_bytes(&self) -> Vec<u8> {
        let q = self.quantisation();
        let n = self.spec.buckets();
        let mut out = Vec::with_capacity(HEADER + n * q.width() + TRAILER);
        out.extend_from_slice(&MAGIC);
        out.push(self.spec.bucket_bits);
        out.push(self.spec.ngram_min);
        out.push(self.spec.ngram_max);
        out.push(self.spec.weighting.to_byte());
        out.push(q.width() as u8);
        out.extend_from_slice(&[0, 0, 0]);
        out.extend_from_slice(&self.threshold.to_le_bytes());
        out.extend_from_slice(&self.scale.to_le_bytes());
        out.extend_from_slice(&self.bias.to_le_bytes());
        out.extend_from_slice(&(n as u32).to_le_bytes());
        match &self.weights {
            Weights::I8(w) => out.extend(w.iter().map(|&q| q as u8)),
            Weights::I16(w) => {
                for q in w.iter() {
                    out.extend_from_slice(&q.to_le_bytes());
                }
            }
        }
        let sum = fnv1a64(FNV_OFFSET, &out);
        out.extend_from_slice(&sum.to_le_bytes());
        out
    }

    /// Parses a model file. The bytes are untrusted: every field is checked, and a bad file
    /// gives an error, never a panic.
    pub fn from_bytes(bytes: &[u8]) -> Result<Model, ModelError> {
        if bytes.len() < HEADER + TRAILER {
            return Err(ModelError::TooShort {
                len: bytes.len(),
                min: HEADER + TRAILER,
            });
        }
        let (header, rest) = bytes.split_at(HEADER);
        if header[..8] != MAGIC {
            return Err(ModelError::BadMagic);
        }
        let bad = |field: &'static str, value: String| ModelError::BadField { field, value };
        let f32_at =
            |o: usize| f32::from_le_bytes([header[o], header[o + 1], header[o + 2], header[o + 3]]);
        let weighting = Weighting::from_byte(header[11])
            .ok_or_else(|| bad("weighting", header[11].to_string()))?;
        let spec = FeatureSpec {
            bucket_bits: header[8],
            ngram_min: header[9],
            ngram_max: header[10],
            weighting,
        };
        if !crate::features::BUCKET_BITS.contains(&spec.bucket_bits) {
            return Err(bad("bucket bits", spec.bucket_bits.to_string()));
        }
        if !spec.is_valid() {
            return Err(bad(
                "n-gram range",
                format!("{}..={}", spec.ngram_min, spec.ngram_max),
            ));
        }
        let quantisation = match header[12] {
            1 => Quantisation::I8,
            2 => Quantisation::I16,
            w => return Err(bad("weight width", w.to_string())),
        };
        if header[13..16] != [0, 0, 0] {
            return Err(bad("reserved", format!("{:?}", &header[13..16])));
        }
        let threshold = f32_at(16);
        if !(0.0..=1.0).contains(&threshold) {
            return Err(bad("threshold", threshold.to_string()));
        }
        let scale = f32_at(20);
        if !(scale.is_finite() && scale > 0.0) {
            return Err(bad("scale", scale.to_string()));
        }
        let bias = f32_at(24);
        if !bias.is_finite() {
            return Err(bad("bias", bias.to_string()));
        }
        let count = u32::from_le_bytes([header[28], header[29], header[30], header[31]]) as usize;
        let n = spec.buckets();
        if count != n {
            return Err(bad("weight count", count.to_string()));
        }
        let expected = HEADER + n * quantisation.width() + TRAILER;
        if bytes.len() != expected {
            return Err(ModelError::Length {
                expected,
                found: bytes.len(),
            });
        }
        let (body, trailer) = rest.split_at(rest.len() - TRAILER);
        let mut stored = [0u8; 8];
        stored.copy_from_slice(trailer);
        if fnv1a64(FNV_OFFSET, &bytes[..bytes.len() - TRAILER]) != u64::from_le_bytes(stored) {
            return Err(ModelError::Checksum);
        }
        let weights = match quantisation {
            Quantisation::I8 => Weights::I8(body.iter().map(|&b| b as i8).collect()),
            Quantisation::I16 => Weights::I16(
                body.chunks_exact(2)
                    .map(|c| i16::from_le_bytes([c[0], c[1]]))
                    .collect(),
            ),
        };
        Ok(Model {
            spec,
            threshold,
            scale,
            bias,
            weights,
        })
    }
}

/// The logistic function, safe for any input (NaN gives 0.5).
#[inline]
pub(crate) fn sigmoid(z: f32) -> f32 {
    if z.is_nan() {
        0.5
    } else if z >= 0.0 {
        1.0 / (1.0 + (-z).exp())
    } else {
        let e = z.exp();
        e / (1.0 + e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn small(q: Quantisation) -> Model {
        let spec = FeatureSpec {
            bucket_bits: 8,
            ngram_min: 1,
            ngram_max: 3,
            weighting: Weighting::Binary,
        };
        let w: Vec<f32> = (0..256)
            .map(|i| ((i * 37 % 101) as f32 - 50.0) / 25.0)
            .collect();
        Model::quantise(spec, &w, -0.25, 0.42, q, 0.0)
    }

    #[test]
    fn quantisation_round_trips_through_bytes() {
        for q in [Quantisation::I8, Quantisation::I16] {
            let m = small(q);
            let bytes = m.to_bytes();
            assert_eq!(bytes.len(), 32 + 256 * q.width() + 8);
            assert_eq!(&bytes[..8], b"HGCLS1\0\0");
            let back = Model::from_bytes(&bytes).unwrap();
            assert_eq!(back, m);
            assert_eq!(back.to_bytes(), bytes);
            assert_eq!(back.score("你好"), m.score("你好"));
        }
    }

    #[test]
    fn quantised_weights_are_close_to_the_floats() {
        let spec = FeatureSpec {
            bucket_bits: 8,
            ngram_min: 1,
            ngram_max: 2,
            weighting: Weighting::LogCount,
        };
        let w: Vec<f32> = (0..256).map(|i| (i as f32 - 128.0) / 64.0).collect();
        for (q, tol) in [
            (Quantisation::I8, 2.0 / 127.0),
            (Quantisation::I16, 2.0 / 32767.0),
        ] {
            let m = Model::quantise(spec, &w, 0.0, 0.5, q, 0.0);
            for (i, &f) in w.iter().enumerate() {
                assert!(
                    (m.weight(i) - f).abs() <= tol * 0.5 + 1e-6,
                    "{i} {f} {}",
                    m.weight(i)
                );
            }
        }
    }

    #[test]
    fn every_error_is_reported_not_panicked() {
        let good = small(Quantisation::I8).to_bytes();
        assert!(matches!(
            Model::from_bytes(&[]),
            Err(ModelError::TooShort { .. })
        ));
        let mut b = good.clone();
        b[0] = b'X';
        assert_eq!(Model::from_bytes(&b), Err(ModelError::BadMagic));
        let mut b = good.clone();
        b[8] = 30;
        assert!(matches!(
            Model::from_bytes(&b),
            Err(ModelError::BadField {
                field: "bucket bits",
                ..
            })
        ));
        let mut b = good.clone();
        b[10] = 0;
        assert!(matches!(
            Model::from_bytes(&b),
            Err(ModelError::BadField { .. })
        ));
        let mut b = good.clone();
        b[12] = 4;
        assert!(matches!(
            Model::from_bytes(&b),
            Err(ModelError::BadField {
                field: "weight width",
                ..
            })
        ));
        let mut b = good.clone();
        b[16..20].copy_from_slice(&f32::NAN.to_le_bytes());
        assert!(matches!(
            Model::from_bytes(&b),
            Err(ModelError::BadField {
                field: "threshold",
                ..
            })
        ));
        let mut b = good.clone();
        b[20..24].copy_from_slice(&0f32.to_le_bytes());
        assert!(matches!(
            Model::from_bytes(&b),
            Err(ModelError::BadField { field: "scale", .. })
        ));
        let b = &good[..good.len() - 1];
        assert!(matches!(
            Model::from_bytes(b),
            Err(ModelError::Length { .. })
        ));
        let mut b = good.clone();
        b[100] ^= 1;
        assert_eq!(Model::from_bytes(&b), Err(ModelError::Checksum));
    }

    #[test]
    fn sigmoid_is_total() {
        assert_eq!(sigmoid(f32::NAN), 0.5);
        assert_eq!(sigmoid(f32::INFINITY), 1.0);
        assert_eq!(sigmoid(f32::NEG_INFINITY), 0.0);
        assert!((sigmoid(0.0) - 0.5).abs() < 1e-7);
    }

    proptest! {
        #[test]
        fn from_bytes_never_panics_on_garbage(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
            let _ = Model::from_bytes(&bytes);
        }

        #[test]
        fn from_bytes_rejects_truncated_and_mutated_models(cut in 0usize..296, pos in 0usize..296, bit in 0u8..8) {
            let good = small(Quantisation::I8).to_bytes();
            prop_assert!(Model::from_bytes(&good[..cut]).is_err());
            let mut b = good.clone();
            b[pos] ^= 1 << bit;
            prop_assert!(Model::from_bytes(&b).is_err());
        }

        #[test]
        fn garbage_with_a_valid_header_is_rejected(body in proptest::collection::vec(any::<u8>(), 0..400)) {
            let mut b = small(Quantisation::I8).to_bytes()[..32].to_vec();
            b.extend_from_slice(&body);
            prop_assert!(Model::from_bytes(&b).is_err());
        }

        #[test]
        fn score_is_a_probability_for_any_text(text in ".{0,200}") {
            let m = small(Quantisation::I16);
            let p = m.score(&text);
            prop_assert!((0.0..=1.0).contains(&p));
        }
    }
}
