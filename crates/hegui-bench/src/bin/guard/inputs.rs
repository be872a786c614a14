//! The benchmark's inputs: the Chinese corpus, the term libraries and the 100-character
//! messages, all deterministic (a fixed seed) and cached under `target/bench-data/guard/`.
//!
//! Key decision: everything is derived from the *source lines* (the `TEXT` column of
//! `../shared/data/cold/train.csv` plus `hegui-guard/test_data/clean/*.txt`), not from the
//! assembled corpus, so the term list and the messages are the same whatever `--mb` is and a
//! `--quick` run measures the same library as a full one. The corpus is those lines repeated, each
//! round in a fresh shuffled order. Cache file names carry a hash of what they were made from, so
//! a change to the COLD data or to the default library makes a new file instead of reusing a stale
//! one.

use anyhow::{Context, Result, bail};
use hegui_guard::library::{Actor, ImportOptions};
use hegui_guard::normalize::fold;
use hegui_guard::pattern::Pattern;
use hegui_guard::{EntryKind, FeatureLibrary};
use std::collections::HashSet;
use std::path::{Path, PathBuf};

/// The seed of every random choice in the benchmark.
pub const SEED: u64 = 0x6865_6775_695f_6763; // "hegui_gc"

/// The category the benchmark library is imported into.
pub const CATEGORY: &str = "A1.6";

/// A small deterministic generator (SplitMix64): the benchmark needs reproducible shuffles, not
/// cryptographic randomness, and pulling in `rand` for that is not worth a dependency.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator started at `seed`.
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n > 0`); the modulo bias is irrelevant at these sizes.
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    /// Fisher–Yates shuffle.
    pub fn shuffle<T>(&mut self, v: &mut [T]) {
        for i in (1..v.len()).rev() {
            let j = self.below(i + 1);
            v.swap(i, j);
        }
    }
}

/// FNV-1a, for cache keys.
pub fn fnv(parts: &[&[u8]]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for p in parts {
        for b in *p {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        h ^= 0xff;
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// Where the source data lives.
#[derive(Debug, Clone)]
pub struct Sources {
    /// `../shared/data/cold/train.csv`.
    pub cold: PathBuf,
    /// `crates/hegui-guard/test_data/clean/*.txt`.
    pub clean: Vec<PathBuf>,
}

impl Sources {
    /// Locates the sources from the workspace root.
    pub fn locate(root: &Path) -> Result<Sources> {
        let cold = [
            root.join("../shared/data/cold/train.csv"),
            PathBuf::from("/work/shared/data/cold/train.csv"),
        ]
        .into_iter()
        .find(|p| p.exists())
        .context("../shared/data/cold/train.csv not found next to the repository")?;
        let dir = root.join("crates/hegui-guard/test_data/clean");
        let mut clean: Vec<PathBuf> = std::fs::read_dir(&dir)
            .with_context(|| format!("reading {}", dir.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "txt"))
            .collect();
        clean.sort();
        Ok(Sources { cold, clean })
    }

    /// The source messages, one per element, with line breaks inside a message turned into
    /// spaces (the corpus has one message per line) and blank ones dropped; plus a hash of them.
    pub fn lines(&self) -> Result<(Vec<String>, u64)> {
        let csv = std::fs::read_to_string(&self.cold)
            .with_context(|| format!("reading {}", self.cold.display()))?;
        let mut out =
            csv_column(&csv, "TEXT").with_context(|| format!("parsing {}", self.cold.display()))?;
        for p in &self.clean {
            let t =
                std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?;
            out.extend(t.lines().map(str::to_string));
        }
        let mut lines: Vec<String> = out
            .into_iter()
            .map(|l| l.replace(['\n', '\r'], " ").trim().to_string())
            .filter(|l| !l.is_empty())
            .collect();
        lines.shrink_to_fit();
        let hash = {
            let refs: Vec<&[u8]> = lines.iter().map(|l| l.as_bytes()).collect();
            fnv(&refs)
        };
        Ok((lines, hash))
    }
}

/// The values of column `name` of a CSV text (RFC 4180 quoting, a leading BOM tolerated).
fn csv_column(text: &str, name: &str) -> Result<Vec<String>> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut records = Vec::new();
    let mut record = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if quoted {
            match c {
                '"' if chars.peek() == Some(&'"') => {
                    field.push('"');
                    chars.next();
                }
                '"' => quoted = false,
                _ => field.push(c),
            }
            continue;
        }
        match c {
            '"' if field.is_empty() => quoted = true,
            ',' => record.push(std::mem::take(&mut field)),
            '\r' => {}
            '\n' => {
                record.push(std::mem::take(&mut field));
                records.push(std::mem::take(&mut record));
            }
            _ => field.push(c),
        }
    }
    if !field.is_empty() || !record.is_empty() {
        record.push(field);
        records.push(record);
    }
    let mut it = records.into_iter();
    let header = it.next().context("empty CSV")?;
    let Some(col) = header
        .iter()
        .position(|h| h.trim().eq_ignore_ascii_case(name))
    else {
        bail!("no column {name} in the header {header:?}");
    };
    Ok(it
        .filter_map(|mut r| (col < r.len()).then(|| r.swap_remove(col)))
        .collect())
}

/// Writes `path` through a temp file and a rename, so an interrupted run leaves no half file.
fn write_once(path: &Path, make: impl FnOnce() -> String) -> Result<()> {
    if path.exists() {
        return Ok(());
    }
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, make()).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("renaming to {}", path.display()))?;
    Ok(())
}

/// The corpus: about `mb` × 10^6 bytes of messages, one per line, cached.
pub fn corpus(dir: &Path, lines: &[String], hash: u64, mb: usize) -> Result<(PathBuf, String)> {
    let path = dir.join(format!("corpus-{mb}mb-{hash:016x}.txt"));
    let target = mb * 1_000_000;
    write_once(&path, || {
        let mut rng = Rng::new(SEED);
        let mut order: Vec<usize> = (0..lines.len()).collect();
        let mut text = String::with_capacity(target + 4096);
        'rounds: loop {
            rng.shuffle(&mut order);
            for &i in &order {
                text.push_str(&lines[i]);
                text.push('\n');
                if text.len() >= target {
                    break 'rounds;
                }
            }
        }
        text
    })?;
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    Ok((path, text))
}

/// The literal terms of the shipped default library's active rules, in library order: the
/// patterns a plain term list can carry (combinations, regular expressions and anything with
/// pattern operators are left out), distinct after folding.
pub fn default_terms() -> (Vec<String>, usize) {
    let mut skipped = 0;
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for e in hegui_guard::default_library().active() {
        if e.kind != EntryKind::Rule {
            continue;
        }
        for p in &e.patterns {
            let term = match Pattern::parse(p) {
                Ok(Pattern::Literal(t)) => t,
                _ => {
                    skipped += 1;
                    continue;
                }
            };
            let plain = !term.is_empty()
                && !term.starts_with('#')
                && !term.starts_with("re:")
                && !term.contains(['&', '~', '\\', '\n']);
            let key = fold(&term);
            if !plain || key.is_empty() {
                skipped += 1;
                continue;
            }
            if seen.insert(key) {
                out.push(term.trim().to_string());
            }
        }
    }
    (out, skipped)
}

fn is_cjk(c: char) -> bool {
    matches!(c, '\u{4e00}'..='\u{9fff}' | '\u{3400}'..='\u{4dbf}')
}

/// `base` plus distinct 2–4-character CJK substrings sampled from `lines` until there are `n`
/// terms. A sample is kept only when folding leaves it unchanged (so `哈哈` → `哈` or `一二` → `12`
/// cannot turn a sampled term into a different, shorter one for hegui than for the plain scans) and
/// when its folded form is new, so hegui's import keeps every term.
pub fn sampled_terms(base: &[String], lines: &[String], n: usize) -> Result<Vec<String>> {
    let mut seen: HashSet<String> = base.iter().map(|t| fold(t)).collect();
    let mut out: Vec<String> = base.to_vec();
    let chars: Vec<Vec<char>> = lines.iter().map(|l| l.chars().collect()).collect();
    let mut rng = Rng::new(SEED ^ 0x7465_726d);
    let mut tries = 0usize;
    while out.len() < n {
        tries += 1;
        if tries > n.saturating_mul(200) {
            bail!("could only sample {} distinct terms of {n}", out.len());
        }
        let line = &chars[rng.below(chars.len())];
        let k = 2 + rng.below(3);
        if line.len() < k {
            continue;
        }
        let at = rng.below(line.len() - k + 1);
        let piece = &line[at..at + k];
        if !piece.iter().all(|c| is_cjk(*c)) {
            continue;
        }
        let s: String = piece.iter().collect();
        if fold(&s) != s || seen.contains(&s) {
            continue;
        }
        seen.insert(s.clone());
        out.push(s);
    }
    Ok(out)
}

/// `n` distinct random 2–4-character strings of CJK ideographs drawn uniformly from U+4E00–U+9FA5,
/// each unchanged by folding: a library of the same size as the main one that almost never
/// matches ordinary text (the "sparse" case, for contrast with the dense sampled library).
pub fn random_terms(n: usize) -> Vec<String> {
    let mut rng = Rng::new(SEED ^ 0x7370_6172);
    let mut seen = HashSet::new();
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        let k = 2 + rng.below(3);
        let s: String = (0..k)
            .filter_map(|_| char::from_u32(0x4e00 + rng.below(0x9fa5 - 0x4e00 + 1) as u32))
            .collect();
        if s.chars().count() == k && fold(&s) == s && seen.insert(s.clone()) {
            out.push(s);
        }
    }
    out
}

/// Writes (once) and returns the term list file for `terms`.
pub fn term_file(dir: &Path, terms: &[String]) -> Result<PathBuf> {
    let refs: Vec<&[u8]> = terms.iter().map(|t| t.as_bytes()).collect();
    let path = dir.join(format!("terms-{}-{:016x}.txt", terms.len(), fnv(&refs)));
    write_once(&path, || {
        let mut s = terms.join("\n");
        s.push('\n');
        s
    })?;
    Ok(path)
}

/// A library with every term as an active rule of [`CATEGORY`]: imported by one actor and
/// approved by another (DS-10), as `hegui library import --approved-by` does.
pub fn library(terms: &[String]) -> Result<FeatureLibrary> {
    let mut lib = FeatureLibrary::new("guard-bench");
    let author = Actor::new("bench-author", 1_795_305_600_000);
    let reviewer = Actor::new("bench-reviewer", 1_795_305_600_000);
    let mut opts = ImportOptions::new(CATEGORY);
    opts.reason = "guard-bench term list".to_string();
    let mut text = terms.join("\n");
    text.push('\n');
    let report = lib
        .import_terms(&text, &opts, &author, Some(&reviewer))
        .context("importing the term list")?;
    if report.added.len() != terms.len() {
        bail!(
            "the import kept {} of {} terms: {report}",
            report.added.len(),
            terms.len()
        );
    }
    Ok(lib)
}

/// `count` messages of exactly `len` characters, cut from the source lines taken in a shuffled
/// order and concatenated (a message may span two source lines).
pub fn messages(lines: &[String], count: usize, len: usize) -> Vec<String> {
    if lines.iter().all(|l| l.is_empty()) || len == 0 {
        return Vec::new();
    }
    let mut rng = Rng::new(SEED ^ 0x6d73_6773);
    let mut order: Vec<usize> = (0..lines.len()).collect();
    rng.shuffle(&mut order);
    let mut out = Vec::with_capacity(count);
    let mut buf: Vec<char> = Vec::new();
    let mut next = order.iter().cycle();
    while out.len() < count {
        while buf.len() < len {
            let Some(&i) = next.next() else { break };
            buf.extend(lines[i].chars());
        }
        out.push(buf.drain(..len).collect());
        // Skip a random short stretch so consecutive messages do not share line boundaries.
        let skip = rng.below(40).min(buf.len());
        buf.drain(..skip);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_quotes_and_bom() {
        let t = "\u{feff},a,TEXT\n1,x,\"he said \"\"hi\"\", ok\nbye\"\n2,y,plain\n";
        let col = csv_column(t, "TEXT").unwrap();
        assert_eq!(
            col,
            vec!["he said \"hi\", ok\nbye".to_string(), "plain".to_string()]
        );
    }

    #[test]
    fn messages_have_exact_length() {
        let lines = vec!["一二三四五六七八九十".to_string(), "甲乙丙".to_string()];
        for m in messages(&lines, 50, 7) {
            assert_eq!(m.chars().count(), 7);
        }
    }
}
