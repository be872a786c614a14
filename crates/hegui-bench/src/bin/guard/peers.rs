//! The Python peers (`pyahocorasick`, `flashtext` from PyPI), run through
//! `crates/hegui-bench/peers/guard_peers.py` in a venv under `target/bench-data/guard/venv`.
//!
//! The script times only its scan loop and prints one JSON object; this module installs the
//! packages when they are missing, runs the script once per peer and parses its answer with a
//! small JSON reader (the bench crate has no serde dependency, and the answer is one flat object).

use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The PyPI packages the script imports.
pub const PACKAGES: &[&str] = &["pyahocorasick", "flashtext"];

/// What one peer measured.
#[derive(Debug, Clone, Default)]
pub struct PeerResult {
    /// `pyahocorasick` or `flashtext`.
    pub peer: String,
    /// Package version.
    pub version: String,
    /// Python version.
    pub python: String,
    /// Seconds to build the automaton or keyword trie (not part of the scan).
    pub build_s: f64,
    /// Seconds per scan repetition.
    pub scan_s: Vec<f64>,
    /// Hits counted in the last repetition.
    pub hits: u64,
    /// UTF-8 bytes of the lines the script read (must equal the Rust count).
    pub bytes: u64,
    /// Lines the script read.
    pub lines: u64,
    /// Terms the script read.
    pub terms: u64,
}

/// Makes sure the venv at `dir/venv` exists and imports both peers; returns its python.
pub fn ensure_venv(dir: &Path) -> Result<PathBuf> {
    let venv = dir.join("venv");
    let python = venv.join("bin/python");
    if !python.exists() {
        eprintln!("guard-bench: creating {}", venv.display());
        let st = Command::new("python3")
            .args(["-m", "venv"])
            .arg(&venv)
            .status()
            .context("running python3 -m venv (is python3 with venv installed?)")?;
        if !st.success() {
            bail!("python3 -m venv {} failed", venv.display());
        }
    }
    let imports = || {
        Command::new(&python)
            .args(["-c", "import ahocorasick, flashtext"])
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    if !imports() {
        eprintln!("guard-bench: pip install {}", PACKAGES.join(" "));
        let st = Command::new(&python)
            .args([
                "-m",
                "pip",
                "install",
                "--disable-pip-version-check",
                "--quiet",
            ])
            .args(PACKAGES)
            .status()
            .context("running pip")?;
        if !st.success() || !imports() {
            bail!(
                "could not install {} into {}",
                PACKAGES.join(", "),
                venv.display()
            );
        }
    }
    Ok(python)
}

/// Runs `script` for `peer`.
pub fn run(
    python: &Path,
    script: &Path,
    peer: &str,
    terms: &Path,
    corpus: &Path,
    reps: usize,
) -> Result<PeerResult> {
    let out = Command::new(python)
        .arg(script)
        .args(["--peer", peer, "--reps", &reps.to_string()])
        .arg("--terms")
        .arg(terms)
        .arg("--corpus")
        .arg(corpus)
        .stderr(Stdio::inherit())
        .output()
        .with_context(|| format!("running {}", script.display()))?;
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .rev()
        .find(|l| l.trim_start().starts_with('{'))
        .with_context(|| format!("{peer}: no JSON on stdout (exit {})", out.status))?;
    let v = Json::parse(line).with_context(|| format!("{peer}: bad JSON {line:?}"))?;
    if let Some(e) = v.get("error").and_then(Json::as_str) {
        bail!("{peer}: {e}");
    }
    let num = |k: &str| v.get(k).and_then(Json::as_f64).unwrap_or(f64::NAN);
    let string = |k: &str| v.get(k).and_then(Json::as_str).unwrap_or("?").to_string();
    let scan_s = match v.get("scan_s") {
        Some(Json::Arr(a)) => a.iter().filter_map(Json::as_f64).collect(),
        _ => bail!("{peer}: no scan_s in {line:?}"),
    };
    Ok(PeerResult {
        peer: string("peer"),
        version: string("version"),
        python: string("python"),
        build_s: num("build_s"),
        scan_s,
        hits: num("hits") as u64,
        bytes: num("bytes") as u64,
        lines: num("lines") as u64,
        terms: num("terms") as u64,
    })
}

/// A JSON value.
#[derive(Debug, Clone, PartialEq)]
pub enum Json {
    /// `null`.
    Null,
    /// `true` / `false`.
    Bool(bool),
    /// A number.
    Num(f64),
    /// A string.
    Str(String),
    /// An array.
    Arr(Vec<Json>),
    /// An object, keys in order.
    Obj(Vec<(String, Json)>),
}

impl Json {
    /// Parses one JSON text.
    pub fn parse(s: &str) -> Result<Json> {
        let mut p = Parser {
            s: s.as_bytes(),
            i: 0,
        };
        let v = p.value()?;
        p.ws();
        if p.i != p.s.len() {
            bail!("trailing characters at byte {}", p.i);
        }
        Ok(v)
    }

    /// The member `k` of an object.
    pub fn get(&self, k: &str) -> Option<&Json> {
        match self {
            Json::Obj(m) => m.iter().find(|(key, _)| key == k).map(|(_, v)| v),
            _ => None,
        }
    }

    /// The number, if this is one.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Json::Num(n) => Some(*n),
            _ => None,
        }
    }

    /// The string, if this is one.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Json::Str(s) => Some(s),
            _ => None,
        }
    }
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
}

impl Parser<'_> {
    fn ws(&mut self) {
        while self.s.get(self.i).is_some_and(u8::is_ascii_whitespace) {
            self.i += 1;
        }
    }

    fn eat(&mut self, lit: &str) -> Result<()> {
        if self.s[self.i..].starts_with(lit.as_bytes()) {
            self.i += lit.len();
            Ok(())
        } else {
            bail!("expected {lit} at byte {}", self.i)
        }
    }

    fn value(&mut self) -> Result<Json> {
        self.ws();
        match self.s.get(self.i) {
            None => bail!("unexpected end"),
            Some(b'n') => self.eat("null").map(|_| Json::Null),
            Some(b't') => self.eat("true").map(|_| Json::Bool(true)),
            Some(b'f') => self.eat("false").map(|_| Json::Bool(false)),
            Some(b'"') => self.string().map(Json::Str),
            Some(b'[') => {
                self.i += 1;
                let mut a = Vec::new();
                self.ws();
                if self.s.get(self.i) == Some(&b']') {
                    self.i += 1;
                    return Ok(Json::Arr(a));
                }
                loop {
                    a.push(self.value()?);
                    self.ws();
                    match self.s.get(self.i) {
                        Some(b',') => self.i += 1,
                        Some(b']') => {
                            self.i += 1;
                            return Ok(Json::Arr(a));
                        }
                        _ => bail!("expected , or ] at byte {}", self.i),
                    }
                }
            }
            Some(b'{') => {
                self.i += 1;
                let mut m = Vec::new();
                self.ws();
                if self.s.get(self.i) == Some(&b'}') {
                    self.i += 1;
                    return Ok(Json::Obj(m));
                }
                loop {
                    self.ws();
                    let k = self.string()?;
                    self.ws();
                    self.eat(":")?;
                    let v = self.value()?;
                    m.push((k, v));
                    self.ws();
                    match self.s.get(self.i) {
                        Some(b',') => self.i += 1,
                        Some(b'}') => {
                            self.i += 1;
                            return Ok(Json::Obj(m));
                        }
                        _ => bail!("expected , or }} at byte {}", self.i),
                    }
                }
            }
            Some(_) => {
                let start = self.i;
                while self
                    .s
                    .get(self.i)
                    .is_some_and(|b| b.is_ascii_digit() || b"+-.eE".contains(b))
                {
                    self.i += 1;
                }
                let t = std::str::from_utf8(&self.s[start..self.i])?;
                t.parse::<f64>()
                    .map(Json::Num)
                    .with_context(|| format!("bad number {t:?} at byte {start}"))
            }
        }
    }

    fn hex4(&mut self) -> Result<u32> {
        let h = self.s.get(self.i..self.i + 4).context("short \\u escape")?;
        self.i += 4;
        Ok(u32::from_str_radix(std::str::from_utf8(h)?, 16)?)
    }

    fn string(&mut self) -> Result<String> {
        self.eat("\"")?;
        let mut out = Vec::new();
        loop {
            let Some(&b) = self.s.get(self.i) else {
                bail!("unterminated string")
            };
            self.i += 1;
            match b {
                b'"' => return Ok(String::from_utf8(out)?),
                b'\\' => {
                    let Some(&e) = self.s.get(self.i) else {
                        bail!("unterminated escape")
                    };
                    self.i += 1;
                    let c = match e {
                        b'"' => '"',
                        b'\\' => '\\',
                        b'/' => '/',
                        b'b' => '\u{8}',
                        b'f' => '\u{c}',
                        b'n' => '\n',
                        b'r' => '\r',
                        b't' => '\t',
                        b'u' => {
                            let hi = self.hex4()?;
                            let code = if (0xd800..0xdc00).contains(&hi)
                                && self.s[self.i..].starts_with(b"\\u")
                            {
                                self.i += 2;
                                let lo = self.hex4()?;
                                0x10000 + ((hi - 0xd800) << 10) + (lo.wrapping_sub(0xdc00) & 0x3ff)
                            } else {
                                hi
                            };
                            char::from_u32(code).unwrap_or('\u{fffd}')
                        }
                        _ => bail!("bad escape at byte {}", self.i),
                    };
                    let mut buf = [0u8; 4];
                    out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                }
                _ => out.push(b),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_script_answer() {
        let v = Json::parse(
            r#"{"peer": "flashtext", "version": "2.7", "build_s": 0.5, "scan_s": [1.0, 2e-1], "hits": 12, "e": "\u4e2d\ud83d\ude00"}"#,
        )
        .unwrap();
        assert_eq!(v.get("peer").and_then(Json::as_str), Some("flashtext"));
        assert_eq!(v.get("hits").and_then(Json::as_f64), Some(12.0));
        assert_eq!(
            v.get("scan_s"),
            Some(&Json::Arr(vec![Json::Num(1.0), Json::Num(0.2)]))
        );
        assert_eq!(v.get("e").and_then(Json::as_str), Some("中😀"));
    }
}
