//! Feature extraction: a light fold of the text, character n-grams, and the hashing trick.
//!
//! Everything here is part of the model file's contract: a model trained with one fold or hash
//! only works with the same fold and hash, so both are fixed and documented, and neither depends
//! on the platform, the Rust release or a random seed.
//!
//! * **Fold** (per character, in this order): full-width ASCII U+FF01..=U+FF5E becomes its ASCII
//!   counterpart (code point − 0xFEE0); whitespace (`char::is_whitespace`, which includes U+3000),
//!   control characters and the invisible format characters U+200B..=U+200F, U+2060 and U+FEFF
//!   are dropped; what remains is lowercased (`char::to_lowercase`; CJK, kana, Yi and Hangul have
//!   no case and skip the lookup).
//! * **n-grams**: every run of `n` consecutive folded characters for `n` in `ngram_min..=ngram_max`.
//! * **Hash**: FNV-1a 64 (offset basis `0xcbf29ce484222325`, prime `0x100000001b3`) over the
//!   UTF-8 bytes of the n-gram's characters; the bucket is `(h ^ (h >> 32)) mod 2^bucket_bits`.
//! * **Values** ([`Weighting`]): per distinct bucket 1 (binary) or `1 + ln(count)`, or per
//!   occurrence 1; the vector is then L2-normalised.

/// FNV-1a 64 offset basis.
pub const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
/// FNV-1a 64 prime.
pub const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

/// The largest n-gram length a model may use.
pub const MAX_NGRAM: u8 = 8;
/// The smallest and largest number of bucket bits a model may use.
pub const BUCKET_BITS: std::ops::RangeInclusive<u8> = 8..=24;

/// FNV-1a 64 over `bytes`, continuing from `h` (start with [`FNV_OFFSET`]).
#[inline]
pub fn fnv1a64(mut h: u64, bytes: &[u8]) -> u64 {
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(FNV_PRIME);
    }
    h
}

/// How the n-grams of a text become feature values (before L2 normalisation).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Weighting {
    /// 1 for every bucket that occurs at least once.
    Binary,
    /// `1 + ln(count)` for every bucket that occurs.
    LogCount,
    /// The raw count of every bucket (each occurrence adds 1); needs no deduplication, so
    /// inference does not sort.
    Count,
}

impl Weighting {
    /// The byte stored in the model file.
    pub fn to_byte(self) -> u8 {
        match self {
            Weighting::Binary => 0,
            Weighting::LogCount => 1,
            Weighting::Count => 2,
        }
    }

    /// The weighting for a model-file byte.
    pub fn from_byte(b: u8) -> Option<Self> {
        match b {
            0 => Some(Weighting::Binary),
            1 => Some(Weighting::LogCount),
            2 => Some(Weighting::Count),
            _ => None,
        }
    }

    /// The name used on the command line and in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Weighting::Binary => "binary",
            Weighting::LogCount => "log-count",
            Weighting::Count => "count",
        }
    }
}

impl std::str::FromStr for Weighting {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "binary" => Ok(Weighting::Binary),
            "log-count" | "logcount" => Ok(Weighting::LogCount),
            "count" => Ok(Weighting::Count),
            other => Err(format!(
                "unknown weighting {other:?} (expected binary, log-count or count)"
            )),
        }
    }
}

/// What a model's features are: n-gram range, number of buckets and value weighting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FeatureSpec {
    /// The model has `2^bucket_bits` weights (within [`BUCKET_BITS`]).
    pub bucket_bits: u8,
    /// Shortest n-gram, at least 1.
    pub ngram_min: u8,
    /// Longest n-gram, at most [`MAX_NGRAM`].
    pub ngram_max: u8,
    /// How occurrences become values.
    pub weighting: Weighting,
}

impl FeatureSpec {
    /// Whether the fields are within range (`1 <= ngram_min <= ngram_max <= 8`, bits in 8..=24).
    pub fn is_valid(&self) -> bool {
        BUCKET_BITS.contains(&self.bucket_bits)
            && self.ngram_min >= 1
            && self.ngram_min <= self.ngram_max
            && self.ngram_max <= MAX_NGRAM
    }

    /// The number of buckets (weights).
    pub fn buckets(&self) -> usize {
        1usize << self.bucket_bits
    }

    /// Calls `f` with the bucket of every n-gram occurrence in `text`, in text order (for each
    /// start position, shorter n-grams first). Allocates nothing.
    #[inline]
    pub fn for_each_bucket(&self, text: &str, mut f: impl FnMut(u32)) {
        let mask = (1u64 << self.bucket_bits) - 1;
        let k = usize::from(self.ngram_max);
        let lo = usize::from(self.ngram_min);
        // The last `k` folded characters, as (UTF-8 bytes, length), indexed by position mod 8.
        let mut ring = [([0u8; 4], 0u8); MAX_NGRAM as usize];
        let mut seen = 0usize;
        let mut emit = |ring: &[([u8; 4], u8); MAX_NGRAM as usize], start: usize, avail: usize| {
            let mut h = FNV_OFFSET;
            for j in 0..avail.min(k) {
                let (bytes, len) = &ring[(start + j) & (MAX_NGRAM as usize - 1)];
                h = fnv1a64(h, &bytes[..usize::from(*len)]);
                if j + 1 >= lo {
                    f(((h ^ (h >> 32)) & mask) as u32);
                }
            }
        };
        fold(text, |c| {
            let mut bytes = [0u8; 4];
            let len = c.encode_utf8(&mut bytes).len() as u8;
            ring[seen & (MAX_NGRAM as usize - 1)] = (bytes, len);
            seen += 1;
            if seen >= k {
                emit(&ring, seen - k, k);
            }
        });
        // The last start positions, which have fewer than `k` characters after them.
        for start in seen.saturating_sub(k - 1)..seen {
            emit(&ring, start, seen - start);
        }
    }

    /// The L2-normalised sparse feature vector of `text`, sorted by bucket, into `out`
    /// (`scratch` is a reusable buffer). Used by training; inference computes the same dot
    /// product without building the vector.
    pub fn extract(&self, text: &str, scratch: &mut Vec<u32>, out: &mut Vec<(u32, f32)>) {
        scratch.clear();
        out.clear();
        self.for_each_bucket(text, |b| scratch.push(b));
        scratch.sort_unstable();
        let mut norm2 = 0f32;
        for run in scratch.chunk_by(|a, b| a == b) {
            let v = self.value(run.len());
            norm2 += v * v;
            out.push((run[0], v));
        }
        if norm2 > 0.0 {
            let inv = 1.0 / norm2.sqrt();
            for (_, v) in out.iter_mut() {
                *v *= inv;
            }
        }
    }

    /// The value of a bucket that occurs `count` (≥ 1) times, before normalisation.
    #[inline]
    pub(crate) fn value(&self, count: usize) -> f32 {
        match self.weighting {
            Weighting::Binary => 1.0,
            Weighting::LogCount => 1.0 + (count as f32).ln(),
            Weighting::Count => count as f32,
        }
    }
}

/// Whether `c` certainly has no lowercase mapping and is not whitespace (CJK radicals to Yi
/// except U+3000, Hangul syllables, the supplementary ideographs).
#[inline]
fn caseless(c: char) -> bool {
    matches!(c as u32, 0x2E80..=0x2FFF | 0x3001..=0xA4FF | 0xAC00..=0xD7FF | 0x20000..=0x3FFFF)
}

/// Calls `f` with each character of the folded text (see the module docs).
#[inline]
pub fn fold(text: &str, mut f: impl FnMut(char)) {
    for c in text.chars() {
        let c = match c as u32 {
            0xFF01..=0xFF5E => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
            _ => c,
        };
        if c.is_ascii() {
            if !c.is_ascii_whitespace() && !c.is_ascii_control() {
                f(c.to_ascii_lowercase());
            }
        } else if caseless(c) {
            f(c);
        } else if !(c.is_whitespace()
            || c.is_control()
            || matches!(c, '\u{200B}'..='\u{200F}' | '\u{2060}' | '\u{FEFF}'))
        {
            for l in c.to_lowercase() {
                f(l);
            }
        }
    }
}

/// The folded text as a string (for inspection and tests).
pub fn folded(text: &str) -> String {
    let mut s = String::with_capacity(text.len());
    fold(text, |c| s.push(c));
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(lo: u8, hi: u8) -> FeatureSpec {
        FeatureSpec {
            bucket_bits: 20,
            ngram_min: lo,
            ngram_max: hi,
            weighting: Weighting::Binary,
        }
    }

    /// The reference: n-grams by slicing the folded characters.
    fn naive(text: &str, s: &FeatureSpec) -> Vec<u32> {
        let chars: Vec<char> = folded(text).chars().collect();
        let mut out = Vec::new();
        for start in 0..chars.len() {
            for n in s.ngram_min..=s.ngram_max {
                let n = usize::from(n);
                if start + n > chars.len() {
                    break;
                }
                let g: String = chars[start..start + n].iter().collect();
                let h = fnv1a64(FNV_OFFSET, g.as_bytes());
                out.push(((h ^ (h >> 32)) & ((1 << s.bucket_bits) - 1)) as u32);
            }
        }
        out
    }

    fn streamed(text: &str, s: &FeatureSpec) -> Vec<u32> {
        let mut v = Vec::new();
        s.for_each_bucket(text, |b| v.push(b));
        v
    }

    #[test]
    fn fnv1a64_matches_the_published_vectors() {
        assert_eq!(fnv1a64(FNV_OFFSET, b""), 0xcbf29ce484222325);
        assert_eq!(fnv1a64(FNV_OFFSET, b"a"), 0xaf63dc4c8601ec8c);
        assert_eq!(fnv1a64(FNV_OFFSET, b"foobar"), 0x85944171f73967e8);
    }

    #[test]
    fn fold_handles_width_case_and_spaces() {
        assert_eq!(folded("ＡＢｃ　d\u{200B}E\tÉ 你好"), "abcdeé你好");
        assert_eq!(folded(""), "");
    }

    #[test]
    fn caseless_ranges_really_have_no_case() {
        for cp in (0x2E80..=0x2FFF)
            .chain(0x3001..=0xA4FF)
            .chain(0xAC00..=0xD7FF)
            .chain(0x20000..=0x3FFFF)
        {
            if let Some(c) = char::from_u32(cp) {
                assert!(
                    c.to_lowercase().eq(std::iter::once(c))
                        && !c.is_whitespace()
                        && !c.is_control(),
                    "U+{cp:04X} has a lowercase or is a space"
                );
            }
        }
    }

    #[test]
    fn streaming_ngrams_equal_the_naive_slicing() {
        let texts = [
            "",
            "a",
            "ab",
            "abc",
            "你好世界，ＨＥＬＬＯ world",
            "地域黑真的是太恶心了 哈哈哈哈",
        ];
        for (lo, hi) in [(1, 1), (1, 3), (2, 4), (1, 8), (3, 3)] {
            let s = spec(lo, hi);
            for t in texts {
                let mut a = naive(t, &s);
                let mut b = streamed(t, &s);
                a.sort_unstable();
                b.sort_unstable();
                assert_eq!(a, b, "{t:?} {lo}..={hi}");
            }
        }
    }

    #[test]
    fn extract_is_unit_length_and_sorted() {
        let s = FeatureSpec {
            weighting: Weighting::LogCount,
            ..spec(1, 3)
        };
        let (mut scratch, mut out) = (Vec::new(), Vec::new());
        s.extract("哈哈哈哈哈，好", &mut scratch, &mut out);
        let n: f32 = out.iter().map(|(_, v)| v * v).sum();
        assert!((n - 1.0).abs() < 1e-5);
        assert!(out.windows(2).all(|w| w[0].0 < w[1].0));
        s.extract("", &mut scratch, &mut out);
        assert!(out.is_empty());
    }
}
