//! PDF: the label is the Document Information dictionary entry `/AIGC` (TC260-PG-20258A §6.3),
//! a text string holding the bare 7-key JSON, reached from the trailer's `/Info`.
//!
//! Key decisions:
//! * The writer makes an **incremental update**: the original bytes are copied unchanged, then a
//!   new definition of the Info object (same object number and generation when there was one,
//!   holding every existing entry verbatim plus `/AIGC`), a cross-reference section and a trailer
//!   (`/Prev` = the previous `startxref`, `/Size`, `/Root`, `/Info`, `/ID` kept) are appended.
//!   Earlier revisions, and so the byte ranges of existing digital signatures, stay untouched.
//!   When the newest cross-reference section is a stream, the update uses an (uncompressed)
//!   cross-reference stream too, since a classic table may only follow one in a hybrid file.
//! * Writing again appends another update whose Info replaces `/AIGC`: the file keeps one
//!   effective label site (older revisions are history, reported by `scan` only as a note).
//! * Only what is needed is parsed: the last [`TAIL`] bytes to find `startxref`, the
//!   cross-reference chain (`/Prev`, `/XRefStm`), and the few objects looked up by offset (Info,
//!   catalog, metadata, object streams holding them). Every read is bounded by
//!   [`MAX_SITE_BYTES`], nesting by [`MAX_DEPTH`] and the chain by [`MAX_REVISIONS`].
//! * Encrypted PDFs (`/Encrypt` in the trailer) are refused: the Info strings would have to be
//!   encrypted with the document key.
//! * Content selection: the file's bytes up to the start of the trailing run of "label updates"
//!   (incremental updates that redefine only the Info object — plus their own cross-reference
//!   stream — and whose Info carries `/AIGC`), without trailing whitespace. See
//!   [`content_digest`].

use super::{FormatError, MAX_SITE_BYTES, RawSite, ReadSeek, Scan, SitePayload, WriteSeek, io};
use std::collections::HashSet;
use std::io::{Read, SeekFrom, Write};

/// How many bytes at the end of the file are searched for `startxref`.
const TAIL: u64 = 1 << 20;
/// Nesting limit for arrays and dictionaries.
const MAX_DEPTH: usize = 64;
/// Longest cross-reference chain followed.
const MAX_REVISIONS: usize = 512;
/// First window read when parsing an object at an offset; it grows up to [`MAX_SITE_BYTES`].
const FIRST_WINDOW: u64 = 64 << 10;
/// Total stream bytes (raw plus decoded) one operation may process.
const DECODE_BUDGET: u64 = 256 << 20;
/// Most indirect-reference hops followed while resolving one value.
const MAX_HOPS: usize = 8;

// ---------------------------------------------------------------------------------------------
// Objects and the lexer

/// A PDF object, as far as labelling needs it.
#[derive(Debug, Clone, PartialEq)]
enum Obj {
    Null,
    Bool(bool),
    Int(i64),
    Real,
    /// A string, escapes decoded (literal) or hex-decoded.
    Str(Vec<u8>),
    /// A name, `#xx` escapes decoded, without the slash.
    Name(Vec<u8>),
    Array(Vec<Obj>),
    Dict(Dict),
    Ref(u32, u16),
}

/// A dictionary, in file order, keeping each entry's raw text for verbatim copying.
#[derive(Debug, Clone, PartialEq, Default)]
struct Dict {
    entries: Vec<Entry>,
}

#[derive(Debug, Clone, PartialEq)]
struct Entry {
    key: Vec<u8>,
    raw_key: Vec<u8>,
    value: Obj,
    raw_value: Vec<u8>,
}

impl Dict {
    fn get(&self, key: &[u8]) -> Option<&Obj> {
        self.entries.iter().find(|e| e.key == key).map(|e| &e.value)
    }

    fn raw(&self, key: &[u8]) -> Option<&[u8]> {
        self.entries
            .iter()
            .find(|e| e.key == key)
            .map(|e| e.raw_value.as_slice())
    }

    fn int(&self, key: &[u8]) -> Option<i64> {
        match self.get(key) {
            Some(Obj::Int(i)) => Some(*i),
            _ => None,
        }
    }
}

/// An object and, for a stream stored uncompressed, the file offset where its data starts.
type ObjAndData = (Obj, Option<u64>);

/// An Info dictionary and its object number and generation (`None` when it is direct).
type InfoAt = (Option<(u32, u16)>, Dict);

/// Why parsing stopped.
#[derive(Debug)]
enum PErr {
    /// The buffer ended inside an object: read more, or the file is truncated.
    Eof,
    Bad(String),
}

fn bad<T>(m: impl Into<String>) -> Result<T, PErr> {
    Err(PErr::Bad(m.into()))
}

fn is_ws(b: u8) -> bool {
    matches!(b, 0 | 9 | 10 | 12 | 13 | 32)
}

fn is_delim(b: u8) -> bool {
    matches!(
        b,
        b'(' | b')' | b'<' | b'>' | b'[' | b']' | b'{' | b'}' | b'/' | b'%'
    )
}

/// A cursor over a byte buffer that parses PDF objects.
struct Lexer<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Lexer<'a> {
    fn new(buf: &'a [u8], pos: usize) -> Self {
        Lexer { buf, pos }
    }

    fn peek(&self) -> Option<u8> {
        self.buf.get(self.pos).copied()
    }

    fn skip_ws(&mut self) {
        while let Some(b) = self.peek() {
            if is_ws(b) {
                self.pos += 1;
            } else if b == b'%' {
                while let Some(c) = self.peek() {
                    if c == b'\n' || c == b'\r' {
                        break;
                    }
                    self.pos += 1;
                }
            } else {
                break;
            }
        }
    }

    /// A regular-character token (keyword or number text) at the cursor.
    fn word(&mut self) -> &'a [u8] {
        let start = self.pos;
        while let Some(b) = self.peek() {
            if is_ws(b) || is_delim(b) {
                break;
            }
            self.pos += 1;
        }
        self.buf.get(start..self.pos).unwrap_or(&[])
    }

    /// True when the buffer ends right after the current word (it may continue in the file).
    fn at_end(&self) -> bool {
        self.pos >= self.buf.len()
    }

    fn keyword(&mut self, kw: &[u8]) -> Result<(), PErr> {
        self.skip_ws();
        let w = self.word();
        if w == kw {
            if self.at_end() {
                return Err(PErr::Eof);
            }
            Ok(())
        } else if self.at_end() && kw.starts_with(w) {
            Err(PErr::Eof)
        } else {
            bad(format!("expected `{}`", String::from_utf8_lossy(kw)))
        }
    }

    fn uint(&mut self) -> Result<u64, PErr> {
        self.skip_ws();
        let w = self.word();
        if self.at_end() {
            return Err(PErr::Eof);
        }
        std::str::from_utf8(w)
            .ok()
            .and_then(|s| s.parse::<u64>().ok())
            .map_or_else(|| bad("expected an unsigned integer"), Ok)
    }

    fn object(&mut self, depth: usize) -> Result<Obj, PErr> {
        if depth > MAX_DEPTH {
            return bad("objects nested too deeply");
        }
        self.skip_ws();
        let Some(b) = self.peek() else {
            return Err(PErr::Eof);
        };
        match b {
            b'/' => {
                self.pos += 1;
                Ok(Obj::Name(decode_name(self.word())))
            }
            b'(' => self.literal().map(Obj::Str),
            b'<' if self.buf.get(self.pos + 1) == Some(&b'<') => self.dict(depth).map(Obj::Dict),
            b'<' => self.hex().map(Obj::Str),
            b'[' => {
                self.pos += 1;
                let mut items = Vec::new();
                loop {
                    self.skip_ws();
                    match self.peek() {
                        None => return Err(PErr::Eof),
                        Some(b']') => {
                            self.pos += 1;
                            return Ok(Obj::Array(items));
                        }
                        Some(_) => items.push(self.object(depth + 1)?),
                    }
                }
            }
            b'0'..=b'9' | b'+' | b'-' | b'.' => self.number(),
            b')' | b'>' | b']' | b'{' | b'}' => bad(format!("unexpected `{}`", b as char)),
            _ => {
                let w = self.word();
                if self.at_end() {
                    return Err(PErr::Eof);
                }
                match w {
                    b"true" => Ok(Obj::Bool(true)),
                    b"false" => Ok(Obj::Bool(false)),
                    b"null" => Ok(Obj::Null),
                    _ => bad(format!(
                        "unexpected keyword `{}`",
                        String::from_utf8_lossy(w)
                    )),
                }
            }
        }
    }

    /// A number, or an indirect reference `n g R`.
    fn number(&mut self) -> Result<Obj, PErr> {
        let w = self.word();
        if self.at_end() {
            return Err(PErr::Eof);
        }
        let s = std::str::from_utf8(w).map_err(|_| PErr::Bad("bad number".into()))?;
        let Ok(n) = s.parse::<i64>() else {
            return if s.parse::<f64>().is_ok() || s.contains('.') {
                Ok(Obj::Real)
            } else {
                bad(format!("bad number `{s}`"))
            };
        };
        // Look ahead for `g R`.
        let save = self.pos;
        self.skip_ws();
        if self.peek().is_some_and(|b| b.is_ascii_digit()) {
            let g = self.word();
            if self.at_end() {
                return Err(PErr::Eof);
            }
            self.skip_ws();
            if self.peek() == Some(b'R') {
                self.pos += 1;
                if self.at_end() {
                    return Err(PErr::Eof);
                }
                if self.peek().is_some_and(|b| is_ws(b) || is_delim(b)) {
                    let generation = std::str::from_utf8(g)
                        .ok()
                        .and_then(|g| g.parse::<u16>().ok());
                    if let (Ok(num), Some(generation)) = (u32::try_from(n), generation) {
                        return Ok(Obj::Ref(num, generation));
                    }
                    return bad("bad indirect reference");
                }
            } else if self.at_end() {
                return Err(PErr::Eof);
            }
        } else if self.at_end() {
            return Err(PErr::Eof);
        }
        self.pos = save;
        Ok(Obj::Int(n))
    }

    fn dict(&mut self, depth: usize) -> Result<Dict, PErr> {
        self.pos += 2;
        let mut d = Dict::default();
        loop {
            self.skip_ws();
            match self.peek() {
                None => return Err(PErr::Eof),
                Some(b'>') => {
                    if self.buf.get(self.pos + 1) == Some(&b'>') {
                        self.pos += 2;
                        return Ok(d);
                    }
                    if self.buf.get(self.pos + 1).is_none() {
                        return Err(PErr::Eof);
                    }
                    return bad("`>` inside a dictionary");
                }
                Some(b'/') => {
                    let ks = self.pos;
                    self.pos += 1;
                    let key = decode_name(self.word());
                    let raw_key = self.buf.get(ks..self.pos).unwrap_or(&[]).to_vec();
                    self.skip_ws();
                    let vs = self.pos;
                    let value = self.object(depth + 1)?;
                    let raw_value = self.buf.get(vs..self.pos).unwrap_or(&[]).to_vec();
                    d.entries.push(Entry {
                        key,
                        raw_key,
                        value,
                        raw_value,
                    });
                }
                Some(_) => return bad("dictionary key is not a name"),
            }
        }
    }

    fn literal(&mut self) -> Result<Vec<u8>, PErr> {
        self.pos += 1;
        let mut out = Vec::new();
        let mut depth = 1usize;
        loop {
            let Some(b) = self.peek() else {
                return Err(PErr::Eof);
            };
            self.pos += 1;
            match b {
                b'(' => {
                    depth += 1;
                    out.push(b);
                }
                b')' => {
                    depth -= 1;
                    if depth == 0 {
                        return Ok(out);
                    }
                    out.push(b);
                }
                b'\r' => {
                    // An end-of-line inside a string reads as a single LF.
                    if self.peek() == Some(b'\n') {
                        self.pos += 1;
                    }
                    out.push(b'\n');
                }
                b'\\' => {
                    let Some(e) = self.peek() else {
                        return Err(PErr::Eof);
                    };
                    self.pos += 1;
                    match e {
                        b'n' => out.push(b'\n'),
                        b'r' => out.push(b'\r'),
                        b't' => out.push(b'\t'),
                        b'b' => out.push(8),
                        b'f' => out.push(12),
                        b'0'..=b'7' => {
                            let mut v = u32::from(e - b'0');
                            for _ in 0..2 {
                                match self.peek() {
                                    Some(d @ b'0'..=b'7') => {
                                        v = v * 8 + u32::from(d - b'0');
                                        self.pos += 1;
                                    }
                                    _ => break,
                                }
                            }
                            out.push((v & 0xFF) as u8);
                        }
                        b'\r' => {
                            if self.peek() == Some(b'\n') {
                                self.pos += 1;
                            }
                        }
                        b'\n' => {}
                        other => out.push(other),
                    }
                }
                other => out.push(other),
            }
        }
    }

    fn hex(&mut self) -> Result<Vec<u8>, PErr> {
        self.pos += 1;
        let mut out = Vec::new();
        let mut hi: Option<u8> = None;
        loop {
            let Some(b) = self.peek() else {
                return Err(PErr::Eof);
            };
            self.pos += 1;
            let v = match b {
                b'>' => {
                    if let Some(h) = hi {
                        out.push(h << 4);
                    }
                    return Ok(out);
                }
                b'0'..=b'9' => b - b'0',
                b'a'..=b'f' => b - b'a' + 10,
                b'A'..=b'F' => b - b'A' + 10,
                b if is_ws(b) => continue,
                _ => return bad("bad hex string"),
            };
            match hi.take() {
                Some(h) => out.push(h << 4 | v),
                None => hi = Some(v),
            }
        }
    }
}

fn decode_name(raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while let Some(&b) = raw.get(i) {
        if b == b'#' {
            let h = raw
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok());
            if let Some(v) = h {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(b);
        i += 1;
    }
    out
}

/// Decodes a PDF text string: UTF-16BE with BOM, UTF-8 with BOM (PDF 2.0) or PDFDocEncoding.
fn decode_text(b: &[u8]) -> String {
    if let Some(rest) = b.strip_prefix(&[0xFE, 0xFF]) {
        let units: Vec<u16> = rest
            .chunks(2)
            .map(|c| {
                u16::from_be_bytes([
                    c.first().copied().unwrap_or(0),
                    c.get(1).copied().unwrap_or(0),
                ])
            })
            .collect();
        return String::from_utf16_lossy(&units);
    }
    if let Some(rest) = b.strip_prefix(&[0xEF, 0xBB, 0xBF]) {
        return String::from_utf8_lossy(rest).into_owned();
    }
    b.iter().map(|&c| pdfdoc_char(c)).collect()
}

/// PDFDocEncoding (ISO 32000-2 Annex D.3): Latin-1 except 0x18–0x1F and 0x80–0xA0.
fn pdfdoc_char(c: u8) -> char {
    const LOW: [char; 8] = [
        '\u{02D8}', '\u{02C7}', '\u{02C6}', '\u{02D9}', '\u{02DD}', '\u{02DB}', '\u{02DA}',
        '\u{02DC}',
    ];
    const HIGH: [char; 33] = [
        '\u{2022}', '\u{2020}', '\u{2021}', '\u{2026}', '\u{2014}', '\u{2013}', '\u{0192}',
        '\u{2044}', '\u{2039}', '\u{203A}', '\u{2212}', '\u{2030}', '\u{201E}', '\u{201C}',
        '\u{201D}', '\u{2018}', '\u{2019}', '\u{201A}', '\u{2122}', '\u{FB01}', '\u{FB02}',
        '\u{0141}', '\u{0152}', '\u{0160}', '\u{0178}', '\u{017D}', '\u{0131}', '\u{0142}',
        '\u{0153}', '\u{0161}', '\u{017E}', '\u{FFFD}', '\u{20AC}',
    ];
    match c {
        0x18..=0x1F => LOW
            .get(usize::from(c - 0x18))
            .copied()
            .unwrap_or('\u{FFFD}'),
        0x80..=0xA0 => HIGH
            .get(usize::from(c - 0x80))
            .copied()
            .unwrap_or('\u{FFFD}'),
        0xAD => '\u{FFFD}',
        _ => char::from(c),
    }
}

/// Encodes `s` as a PDF text string: a literal string when it is printable ASCII, otherwise a
/// UTF-16BE hex string with a byte-order mark.
fn encode_text(s: &str) -> Vec<u8> {
    if s.bytes().all(|b| (0x20..0x7F).contains(&b)) {
        let mut out = Vec::with_capacity(s.len() + 2);
        out.push(b'(');
        for b in s.bytes() {
            if matches!(b, b'(' | b')' | b'\\') {
                out.push(b'\\');
            }
            out.push(b);
        }
        out.push(b')');
        return out;
    }
    let mut out = b"<FEFF".to_vec();
    for u in s.encode_utf16() {
        out.extend_from_slice(format!("{u:04X}").as_bytes());
    }
    out.push(b'>');
    out
}

// ---------------------------------------------------------------------------------------------
// Cross-reference chain

/// Where an object is, according to one cross-reference section.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum XEntry {
    Free,
    InUse { offset: u64, generation: u16 },
    Compressed { stream: u32, index: u64 },
}

/// One classic-table subsection: objects `first..first+count`, entries at `pos`, `stride` bytes.
#[derive(Debug, Clone)]
struct Subsection {
    first: u64,
    count: u64,
    pos: u64,
    stride: u64,
}

#[derive(Debug, Clone)]
enum XrefKind {
    Table(Vec<Subsection>),
    /// A cross-reference stream object at this offset (its decoded data is read on demand).
    Stream,
}

/// One cross-reference section and its trailer (for a stream, the stream dictionary).
#[derive(Debug, Clone)]
struct Section {
    offset: u64,
    kind: XrefKind,
    trailer: Dict,
    /// A hybrid file's `/XRefStm` section, consulted after the table.
    aux: Option<Box<Section>>,
}

impl Section {
    fn prev(&self) -> Option<u64> {
        self.trailer
            .int(b"Prev")
            .and_then(|p| u64::try_from(p).ok())
    }
}

/// A PDF opened for label reading: its length and cross-reference chain, newest first.
struct Pdf<'a> {
    src: &'a mut dyn ReadSeek,
    len: u64,
    /// The newest `startxref` value.
    startxref: u64,
    chain: Vec<Section>,
    notes: Vec<String>,
    /// Stream bytes still allowed to be read and decoded (bounds the work a hostile file can
    /// cause through many revisions of compressed cross-reference streams).
    budget: u64,
    /// Classic-table subsections read so far (bounded).
    subsections: usize,
}

fn perr(e: PErr, what: &'static str) -> FormatError {
    match e {
        PErr::Eof => FormatError::Truncated(what),
        PErr::Bad(m) => FormatError::malformed(format!("{what}: {m}")),
    }
}

fn find_last(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).rposition(|w| w == needle)
}

impl<'a> Pdf<'a> {
    fn open(src: &'a mut dyn ReadSeek) -> Result<Self, FormatError> {
        src.seek(SeekFrom::Start(0))?;
        let len = io::len(src)?;
        let mut head = [0u8; 5];
        io::read_exact(src, &mut head, "PDF header")?;
        if &head != b"%PDF-" {
            return Err(FormatError::malformed("not a PDF (no %PDF- header)"));
        }
        let tail_len = len.min(TAIL);
        src.seek(SeekFrom::Start(len - tail_len))?;
        let tail = io::read_vec(src, tail_len, "PDF tail")?;
        let at =
            find_last(&tail, b"startxref").ok_or(FormatError::Truncated("PDF (no startxref)"))?;
        let mut lx = Lexer::new(&tail, at + 9);
        let startxref = match lx.uint() {
            Ok(v) => v,
            // The number may end the file with no EOL after it.
            Err(PErr::Eof) => std::str::from_utf8(tail.get(at + 9..).unwrap_or(&[]))
                .ok()
                .and_then(|s| s.trim().parse().ok())
                .ok_or(FormatError::Truncated("PDF startxref"))?,
            Err(e) => return Err(perr(e, "PDF startxref")),
        };
        let mut pdf = Pdf {
            src,
            len,
            startxref,
            chain: Vec::new(),
            notes: Vec::new(),
            budget: DECODE_BUDGET,
            subsections: 0,
        };
        let mut seen = HashSet::new();
        let mut next = Some(startxref);
        while let Some(off) = next {
            if !seen.insert(off) {
                pdf.notes
                    .push("pdf: the /Prev chain loops; stopped following it".into());
                break;
            }
            if pdf.chain.len() >= MAX_REVISIONS {
                pdf.notes.push(format!(
                    "pdf: more than {MAX_REVISIONS} revisions; older ones ignored"
                ));
                break;
            }
            let mut sec = pdf.load_section(off)?;
            if let Some(x) = sec
                .trailer
                .int(b"XRefStm")
                .and_then(|x| u64::try_from(x).ok())
                && seen.insert(x)
            {
                let aux = pdf.load_section(x)?;
                if matches!(aux.kind, XrefKind::Stream) {
                    sec.aux = Some(Box::new(aux));
                }
            }
            next = sec.prev();
            pdf.chain.push(sec);
        }
        Ok(pdf)
    }

    /// Reads up to `n` bytes at `off` (fewer at the end of the file).
    fn read_at(&mut self, off: u64, n: u64) -> Result<Vec<u8>, FormatError> {
        if off > self.len {
            return Err(FormatError::malformed(format!(
                "offset {off} is past the end of the file"
            )));
        }
        let n = n.min(self.len - off);
        self.src.seek(SeekFrom::Start(off))?;
        io::read_vec(self.src, n, "PDF object")
    }

    /// Runs `f` over a window at `off`, growing the window while `f` needs more bytes.
    fn with_window<T>(
        &mut self,
        off: u64,
        what: &'static str,
        mut f: impl FnMut(&[u8]) -> Result<T, PErr>,
    ) -> Result<T, FormatError> {
        let mut window = FIRST_WINDOW;
        loop {
            let buf = self.read_at(off, window)?;
            let complete = off + (buf.len() as u64) >= self.len;
            match f(&buf) {
                Ok(v) => return Ok(v),
                Err(PErr::Eof) if !complete && window < MAX_SITE_BYTES => {
                    window = (window * 4).min(MAX_SITE_BYTES);
                }
                Err(PErr::Eof) if !complete => {
                    return Err(FormatError::TooLarge {
                        what,
                        size: window,
                        limit: MAX_SITE_BYTES,
                    });
                }
                Err(e) => return Err(perr(e, what)),
            }
        }
    }

    /// Parses `n g obj <object>` at `off`; for a stream, also returns where its data starts.
    fn object_at(&mut self, off: u64) -> Result<(u32, u16, Obj, Option<u64>), FormatError> {
        self.with_window(off, "PDF object", |buf| {
            let mut lx = Lexer::new(buf, 0);
            let num = lx.uint()?;
            let generation = lx.uint()?;
            lx.keyword(b"obj")?;
            let obj = lx.object(0)?;
            let save = lx.pos;
            lx.skip_ws();
            let stream = if lx.buf.get(lx.pos..lx.pos + 6) == Some(b"stream") {
                let mut p = lx.pos + 6;
                match (buf.get(p), buf.get(p + 1)) {
                    (Some(b'\r'), Some(b'\n')) => p += 2,
                    (Some(b'\n'), _) | (Some(b'\r'), _) => p += 1,
                    (None, _) | (Some(_), None) => return Err(PErr::Eof),
                    _ => {}
                }
                Some(off + p as u64)
            } else {
                lx.pos = save;
                None
            };
            let num =
                u32::try_from(num).map_err(|_| PErr::Bad("object number too large".into()))?;
            let generation =
                u16::try_from(generation).map_err(|_| PErr::Bad("generation too large".into()))?;
            Ok((num, generation, obj, stream))
        })
    }

    fn load_section(&mut self, off: u64) -> Result<Section, FormatError> {
        let head = self.read_at(off, 16)?;
        let skip = head.iter().take_while(|&&b| is_ws(b)).count();
        if head.get(skip..skip + 4) == Some(b"xref") {
            return self.load_table(off, off + (skip as u64) + 4);
        }
        let (_, _, obj, data) = self.object_at(off)?;
        match (obj, data) {
            (Obj::Dict(d), Some(_)) if d.get(b"Type") == Some(&Obj::Name(b"XRef".to_vec())) => {
                Ok(Section {
                    offset: off,
                    kind: XrefKind::Stream,
                    trailer: d,
                    aux: None,
                })
            }
            _ => Err(FormatError::malformed(format!(
                "startxref/Prev offset {off} points to neither an xref table nor an xref stream"
            ))),
        }
    }

    fn load_table(&mut self, off: u64, mut pos: u64) -> Result<Section, FormatError> {
        let mut subs = Vec::new();
        loop {
            let buf = self.read_at(pos, 128)?;
            let mut lx = Lexer::new(&buf, 0);
            lx.skip_ws();
            if buf.get(lx.pos..lx.pos + 7) == Some(b"trailer") {
                let at = pos + lx.pos as u64 + 7;
                let trailer = self.with_window(at, "PDF trailer", |b| {
                    let mut lx = Lexer::new(b, 0);
                    lx.skip_ws();
                    match lx.object(0)? {
                        Obj::Dict(d) => Ok(d),
                        _ => bad("trailer is not a dictionary"),
                    }
                })?;
                return Ok(Section {
                    offset: off,
                    kind: XrefKind::Table(subs),
                    trailer,
                    aux: None,
                });
            }
            let first = lx.uint().map_err(|e| perr(e, "xref subsection"))?;
            let count = lx.uint().map_err(|e| perr(e, "xref subsection"))?;
            // The entries start after the header's end of line.
            while lx.peek().is_some_and(|b| b == b' ' || b == b'\t') {
                lx.pos += 1;
            }
            if lx.peek() == Some(b'\r') {
                lx.pos += 1;
            }
            if lx.peek() == Some(b'\n') {
                lx.pos += 1;
            }
            let entries = pos + lx.pos as u64;
            // Entries are 20 bytes; tolerate 19-byte ones (single-byte EOL) as readers do.
            let stride = if count == 0 {
                20
            } else {
                let e = self.read_at(entries, 20)?;
                if e.len() < 19 {
                    return Err(FormatError::Truncated("xref entry"));
                }
                match (e.get(18), e.get(19)) {
                    (Some(b'\r' | b'\n'), Some(b'0'..=b'9' | b't')) => 19,
                    (Some(b'\r' | b'\n'), None) => 19,
                    _ => 20,
                }
            };
            let size = count
                .checked_mul(stride)
                .and_then(|s| s.checked_add(entries))
                .filter(|&end| end <= self.len)
                .ok_or(FormatError::Truncated("xref subsection"))?;
            self.subsections += 1;
            if self.subsections > 1 << 20 {
                return Err(FormatError::malformed("too many xref subsections"));
            }
            subs.push(Subsection {
                first,
                count,
                pos: entries,
                stride,
            });
            pos = size;
        }
    }

    /// The decoded data of the stream whose dictionary is `d` and data starts at `data`.
    fn stream_data(&mut self, d: &Dict, data: u64, hops: usize) -> Result<Vec<u8>, FormatError> {
        let len = match d.get(b"Length") {
            Some(Obj::Int(n)) => *n,
            Some(Obj::Ref(n, _)) if hops < MAX_HOPS => match self.object(*n, 0, hops + 1)? {
                Some(Obj::Int(n)) => n,
                _ => return Err(FormatError::malformed("stream /Length is not an integer")),
            },
            _ => return Err(FormatError::malformed("stream without a usable /Length")),
        };
        let len =
            u64::try_from(len).map_err(|_| FormatError::malformed("negative stream /Length"))?;
        self.spend(len)?;
        let raw = self.read_at(data, len)?;
        if (raw.len() as u64) < len {
            return Err(FormatError::Truncated("PDF stream"));
        }
        let out = decode_stream(d, raw)?;
        self.spend(out.len() as u64)?;
        Ok(out)
    }

    fn spend(&mut self, n: u64) -> Result<(), FormatError> {
        self.budget = self.budget.checked_sub(n).ok_or(FormatError::TooLarge {
            what: "PDF streams read for one operation",
            size: DECODE_BUDGET.saturating_add(n),
            limit: DECODE_BUDGET,
        })?;
        Ok(())
    }

    /// Looks up object `num` in the chain, starting at revision `from` (0 = newest).
    fn lookup(&mut self, num: u32, from: usize) -> Result<Option<XEntry>, FormatError> {
        for i in from..self.chain.len() {
            let Some(sec) = self.chain.get(i).cloned() else {
                break;
            };
            if let Some(e) = self.lookup_in(&sec, num)? {
                if e == XEntry::Free {
                    if let Some(aux) = &sec.aux
                        && let Some(x) = self.lookup_in(aux, num)?
                    {
                        return Ok((x != XEntry::Free).then_some(x));
                    }
                    return Ok(None);
                }
                return Ok(Some(e));
            }
            if let Some(aux) = &sec.aux
                && let Some(e) = self.lookup_in(aux, num)?
            {
                return Ok((e != XEntry::Free).then_some(e));
            }
        }
        Ok(None)
    }

    fn lookup_in(&mut self, sec: &Section, num: u32) -> Result<Option<XEntry>, FormatError> {
        let n = u64::from(num);
        match &sec.kind {
            XrefKind::Table(subs) => {
                // The last subsection that lists an object wins.
                let Some(sub) = subs
                    .iter()
                    .rev()
                    .find(|s| n >= s.first && n - s.first < s.count)
                else {
                    return Ok(None);
                };
                let at = sub.pos + (n - sub.first) * sub.stride;
                let e = self.read_at(at, 18)?;
                let text =
                    std::str::from_utf8(&e).map_err(|_| FormatError::malformed("xref entry"))?;
                let mut parts = text.split_ascii_whitespace();
                let off = parts.next().and_then(|p| p.parse::<u64>().ok());
                let generation = parts.next().and_then(|p| p.parse::<u32>().ok());
                match (off, generation, parts.next()) {
                    (Some(offset), Some(generation), Some("n")) => Ok(Some(XEntry::InUse {
                        offset,
                        generation: u16::try_from(generation).unwrap_or(u16::MAX),
                    })),
                    (Some(_), Some(_), Some("f")) => Ok(Some(XEntry::Free)),
                    _ => Err(FormatError::malformed(format!(
                        "xref entry for object {num}"
                    ))),
                }
            }
            XrefKind::Stream => {
                let entries = self.xref_stream_entries(sec)?;
                Ok(entries
                    .into_iter()
                    .rev()
                    .find(|(k, _)| *k == n)
                    .map(|(_, e)| e))
            }
        }
    }

    /// Every entry of a cross-reference stream section, as (object number, entry).
    fn xref_stream_entries(&mut self, sec: &Section) -> Result<Vec<(u64, XEntry)>, FormatError> {
        let (_, _, obj, data) = self.object_at(sec.offset)?;
        let (Obj::Dict(d), Some(data)) = (obj, data) else {
            return Err(FormatError::malformed("xref stream"));
        };
        let bytes = self.stream_data(&d, data, 0)?;
        let w: Vec<u64> = match d.get(b"W") {
            Some(Obj::Array(a)) => a
                .iter()
                .map(|o| match o {
                    Obj::Int(i) => u64::try_from(*i).ok().filter(|&v| v <= 8),
                    _ => None,
                })
                .collect::<Option<_>>()
                .ok_or_else(|| FormatError::malformed("xref stream /W"))?,
            _ => return Err(FormatError::malformed("xref stream without /W")),
        };
        let [w0, w1, w2] = w.as_slice() else {
            return Err(FormatError::malformed(
                "xref stream /W must have three entries",
            ));
        };
        let (w0, w1, w2) = (*w0 as usize, *w1 as usize, *w2 as usize);
        let row = w0 + w1 + w2;
        if row == 0 {
            return Err(FormatError::malformed("xref stream /W is all zero"));
        }
        let size = d
            .int(b"Size")
            .and_then(|s| u64::try_from(s).ok())
            .unwrap_or(0);
        let index: Vec<u64> = match d.get(b"Index") {
            Some(Obj::Array(a)) => a
                .iter()
                .map(|o| match o {
                    Obj::Int(i) => u64::try_from(*i).ok(),
                    _ => None,
                })
                .collect::<Option<_>>()
                .ok_or_else(|| FormatError::malformed("xref stream /Index"))?,
            _ => vec![0, size],
        };
        let field = |b: &[u8]| b.iter().fold(0u64, |acc, &x| (acc << 8) | u64::from(x));
        let mut out = Vec::new();
        let mut rows = bytes.chunks_exact(row);
        for pair in index.chunks(2) {
            let [first, count] = pair else { break };
            for k in 0..*count {
                let Some(r) = rows.next() else {
                    return Ok(out);
                };
                let t = if w0 == 0 {
                    1
                } else {
                    field(r.get(..w0).unwrap_or(&[]))
                };
                let f2 = field(r.get(w0..w0 + w1).unwrap_or(&[]));
                let f3 = field(r.get(w0 + w1..row).unwrap_or(&[]));
                let e = match t {
                    0 => XEntry::Free,
                    1 => XEntry::InUse {
                        offset: f2,
                        generation: u16::try_from(f3).unwrap_or(u16::MAX),
                    },
                    2 => XEntry::Compressed {
                        stream: u32::try_from(f2)
                            .map_err(|_| FormatError::malformed("object stream number"))?,
                        index: f3,
                    },
                    _ => continue, // reserved types are ignored (null references)
                };
                out.push((first.saturating_add(k), e));
            }
        }
        Ok(out)
    }

    /// The object `num` as of revision `from`, following `hops` references so far.
    fn object(&mut self, num: u32, from: usize, hops: usize) -> Result<Option<Obj>, FormatError> {
        Ok(self.object_with_stream(num, from, hops)?.map(|(o, _)| o))
    }

    /// The object and, for an uncompressed stream, where its data starts.
    fn object_with_stream(
        &mut self,
        num: u32,
        from: usize,
        hops: usize,
    ) -> Result<Option<ObjAndData>, FormatError> {
        if hops > MAX_HOPS {
            return Err(FormatError::malformed("too many indirect references"));
        }
        match self.lookup(num, from)? {
            None | Some(XEntry::Free) => Ok(None),
            Some(XEntry::InUse { offset, .. }) => {
                let (n, _, obj, data) = self.object_at(offset)?;
                if n != num {
                    return Err(FormatError::malformed(format!(
                        "xref says object {num} is at offset {offset}, but object {n} is there"
                    )));
                }
                Ok(Some((obj, data)))
            }
            Some(XEntry::Compressed { stream, index }) => {
                let Some((Obj::Dict(sd), Some(data))) =
                    self.object_with_stream(stream, from, hops + 1)?
                else {
                    return Err(FormatError::malformed(format!(
                        "object stream {stream} is missing"
                    )));
                };
                let bytes = self.stream_data(&sd, data, hops + 1)?;
                let n = sd
                    .int(b"N")
                    .and_then(|n| usize::try_from(n).ok())
                    .unwrap_or(0);
                let first = sd
                    .int(b"First")
                    .and_then(|n| usize::try_from(n).ok())
                    .unwrap_or(0);
                let mut lx = Lexer::new(&bytes, 0);
                let mut found = None;
                for i in 0..n {
                    let (Ok(objnum), Ok(rel)) = (lx.uint(), lx.uint()) else {
                        return Err(FormatError::malformed("object stream header"));
                    };
                    if objnum == u64::from(num) && (found.is_none() || i as u64 == index) {
                        found = Some(rel);
                    }
                }
                let rel = found.ok_or_else(|| {
                    FormatError::malformed(format!("object {num} is not in object stream {stream}"))
                })?;
                let at = usize::try_from(rel)
                    .ok()
                    .and_then(|r| r.checked_add(first))
                    .filter(|&a| a <= bytes.len())
                    .ok_or_else(|| FormatError::malformed("object stream offset"))?;
                // Pad so a trailing number is not mistaken for a truncated one.
                let mut padded = bytes;
                padded.push(b'\n');
                let mut lx = Lexer::new(&padded, at);
                let obj = lx
                    .object(0)
                    .map_err(|e| perr(e, "object in object stream"))?;
                Ok(Some((obj, None)))
            }
        }
    }

    /// A trailer key of revision `from`, falling back to older trailers when it is missing.
    fn trailer_key(&self, key: &[u8], from: usize) -> Option<(Obj, Vec<u8>)> {
        self.chain.iter().skip(from).find_map(|s| {
            let v = s.trailer.get(key)?.clone();
            Some((v, s.trailer.raw(key).unwrap_or_default().to_vec()))
        })
    }

    /// The Info dictionary of revision `from`: where it is and what it holds.
    fn info(&mut self, from: usize) -> Result<Option<InfoAt>, FormatError> {
        match self.trailer_key(b"Info", from).map(|(v, _)| v) {
            Some(Obj::Ref(n, g)) => match self.object(n, from, 0)? {
                Some(Obj::Dict(d)) => Ok(Some((Some((n, g)), d))),
                Some(Obj::Null) | None => Ok(None),
                Some(_) => Err(FormatError::malformed(
                    "the /Info object is not a dictionary",
                )),
            },
            Some(Obj::Dict(d)) => Ok(Some((None, d))),
            _ => Ok(None),
        }
    }

    /// Resolves a direct or indirect value to a string.
    fn string_value(&mut self, v: &Obj, from: usize) -> Result<Option<Vec<u8>>, FormatError> {
        match v {
            Obj::Str(s) => Ok(Some(s.clone())),
            Obj::Ref(n, _) => match self.object(*n, from, 1)? {
                Some(Obj::Str(s)) => Ok(Some(s)),
                _ => Ok(None),
            },
            _ => Ok(None),
        }
    }
}

/// Applies the stream's filters (none or FlateDecode, with PNG predictors).
fn decode_stream(d: &Dict, raw: Vec<u8>) -> Result<Vec<u8>, FormatError> {
    let filters: Vec<Vec<u8>> = match d.get(b"Filter") {
        None | Some(Obj::Null) => Vec::new(),
        Some(Obj::Name(n)) => vec![n.clone()],
        Some(Obj::Array(a)) => a
            .iter()
            .map(|o| match o {
                Obj::Name(n) => Ok(n.clone()),
                _ => Err(FormatError::malformed("stream /Filter")),
            })
            .collect::<Result<_, _>>()?,
        Some(_) => return Err(FormatError::malformed("stream /Filter")),
    };
    let parms = match d.get(b"DecodeParms") {
        Some(Obj::Dict(p)) => Some(p.clone()),
        Some(Obj::Array(a)) => match a.first() {
            Some(Obj::Dict(p)) => Some(p.clone()),
            _ => None,
        },
        _ => None,
    };
    let mut data = raw;
    for (i, f) in filters.iter().enumerate() {
        match f.as_slice() {
            b"FlateDecode" | b"Fl" => {
                let mut out = Vec::new();
                let mut z =
                    flate2::read::ZlibDecoder::new(data.as_slice()).take(MAX_SITE_BYTES + 1);
                // A damaged tail still yields the bytes before it, as PDF readers accept.
                if let Err(e) = z.read_to_end(&mut out)
                    && out.is_empty()
                {
                    return Err(FormatError::malformed(format!("FlateDecode: {e}")));
                }
                if out.len() as u64 > MAX_SITE_BYTES {
                    return Err(FormatError::TooLarge {
                        what: "decoded PDF stream",
                        size: out.len() as u64,
                        limit: MAX_SITE_BYTES,
                    });
                }
                data = out;
                if i == 0
                    && let Some(p) = &parms
                {
                    data = unpredict(p, data)?;
                }
            }
            other => {
                return Err(FormatError::Unsupported(format!(
                    "PDF stream filter /{}",
                    String::from_utf8_lossy(other)
                )));
            }
        }
    }
    Ok(data)
}

/// Undoes a PNG predictor (`/Predictor` ≥ 10); predictor 1 is none.
fn unpredict(p: &Dict, data: Vec<u8>) -> Result<Vec<u8>, FormatError> {
    let pred = p.int(b"Predictor").unwrap_or(1);
    if pred <= 1 {
        return Ok(data);
    }
    if pred < 10 {
        return Err(FormatError::Unsupported(format!("PDF predictor {pred}")));
    }
    let get = |k: &[u8], d: i64| p.int(k).unwrap_or(d);
    let (colors, bpc, columns) = (
        get(b"Colors", 1),
        get(b"BitsPerComponent", 8),
        get(b"Columns", 1),
    );
    let bits = colors
        .checked_mul(bpc)
        .and_then(|b| b.checked_mul(columns))
        .filter(|&b| b > 0 && b < (1 << 24))
        .ok_or_else(|| FormatError::malformed("predictor parameters"))?;
    let row =
        usize::try_from((bits + 7) / 8).map_err(|_| FormatError::malformed("predictor row"))?;
    let bpp = usize::try_from((colors * bpc + 7) / 8).unwrap_or(1).max(1);
    let mut out = Vec::with_capacity(data.len());
    let mut prev = vec![0u8; row];
    for chunk in data.chunks(row + 1) {
        let Some((&ft, line)) = chunk.split_first() else {
            break;
        };
        let mut cur = line.to_vec();
        cur.resize(row, 0);
        for i in 0..row {
            let a = if i >= bpp {
                cur.get(i - bpp).copied().unwrap_or(0)
            } else {
                0
            };
            let b = prev.get(i).copied().unwrap_or(0);
            let c = if i >= bpp {
                prev.get(i - bpp).copied().unwrap_or(0)
            } else {
                0
            };
            let add = match ft {
                0 => 0,
                1 => a,
                2 => b,
                3 => ((u16::from(a) + u16::from(b)) / 2) as u8,
                4 => {
                    let pa = (i16::from(b) - i16::from(c)).abs();
                    let pb = (i16::from(a) - i16::from(c)).abs();
                    let pc = (i16::from(a) + i16::from(b) - 2 * i16::from(c)).abs();
                    if pa <= pb && pa <= pc {
                        a
                    } else if pb <= pc {
                        b
                    } else {
                        c
                    }
                }
                _ => {
                    return Err(FormatError::malformed(format!(
                        "PNG predictor row type {ft}"
                    )));
                }
            };
            if let Some(x) = cur.get_mut(i) {
                *x = x.wrapping_add(add);
            }
        }
        out.extend_from_slice(&cur);
        prev = cur;
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------------------
// Label entries

/// True for Info keys the writer replaces: `AIGC` in any case, and keys containing `AIGC` whose
/// value mentions `Label` (label variants).
fn is_label_key(key: &[u8], value: Option<&[u8]>) -> bool {
    key.eq_ignore_ascii_case(b"AIGC")
        || (mentions_aigc(key) && value.is_some_and(|v| v.windows(5).any(|w| w == b"Label")))
}

/// True when a key contains `AIGC` in any case.
fn mentions_aigc(key: &[u8]) -> bool {
    key.windows(4).any(|w| w.eq_ignore_ascii_case(b"aigc"))
}

fn value_bytes(o: &Obj) -> Option<&[u8]> {
    match o {
        Obj::Str(s) => Some(s),
        _ => None,
    }
}

/// Finds the label in the effective Info dictionary and notes older or XMP mentions.
pub(crate) fn scan(src: &mut dyn ReadSeek) -> Result<Scan, FormatError> {
    let mut pdf = Pdf::open(src)?;
    let mut out = Scan::default();
    if pdf.trailer_key(b"Encrypt", 0).is_some() {
        return Err(FormatError::Unsupported(
            "encrypted PDF: its Info strings are encrypted, so the label cannot be read".into(),
        ));
    }
    let info = pdf.info(0)?;
    let info_loc = info.as_ref().and_then(|(l, _)| *l);
    if let Some((_, d)) = &info {
        for e in &d.entries {
            if !mentions_aigc(&e.key) {
                continue;
            }
            let raw = match pdf.string_value(&e.value, 0) {
                Ok(r) => r,
                Err(err) => {
                    out.notes.push(format!(
                        "pdf: Info /{} could not be read: {err}",
                        String::from_utf8_lossy(&e.key)
                    ));
                    None
                }
            };
            if !is_label_key(&e.key, raw.as_deref()) {
                continue;
            }
            let canonical = e.key == b"AIGC";
            let Some(raw) = raw else {
                out.notes.push(format!(
                    "pdf: Info /{} is not a string",
                    String::from_utf8_lossy(&e.key)
                ));
                continue;
            };
            out.sites.push(RawSite {
                location: format!("pdf:trailer/Info:{}", String::from_utf8_lossy(&e.key)),
                canonical,
                payload: SitePayload::Json(decode_text(&raw)),
            });
        }
    }
    // Earlier revisions: history, not label sites.
    let current = match info_loc {
        Some((n, _)) => pdf.lookup(n, 0)?,
        None => None,
    };
    // Bounded: a note about history needs no more than the recent revisions.
    for rev in 1..pdf.chain.len().min(64) {
        let Ok(Some((loc, d))) = pdf.info(rev) else {
            continue;
        };
        let same = match (loc, current) {
            (Some((n, _)), Some(cur)) => pdf.lookup(n, rev).ok().flatten() == Some(cur),
            _ => false,
        };
        if !same
            && d.entries
                .iter()
                .any(|e| is_label_key(&e.key, value_bytes(&e.value)))
        {
            let off = pdf.chain.get(rev).map_or(0, |s| s.offset);
            out.notes.push(format!(
                "pdf: an earlier revision (xref at offset {off}) has an /AIGC entry in its Info dictionary; it is superseded by the newest revision"
            ));
        }
    }
    if let Some(note) = xmp_note(&mut pdf) {
        out.notes.push(note);
    }
    out.notes.append(&mut pdf.notes);
    Ok(out)
}

/// A note when the catalog's XMP metadata stream mentions AIGC (not a PDF label site).
fn xmp_note(pdf: &mut Pdf<'_>) -> Option<String> {
    let Some((Obj::Ref(root, _), _)) = pdf.trailer_key(b"Root", 0) else {
        return None;
    };
    let Ok(Some(Obj::Dict(cat))) = pdf.object(root, 0, 0) else {
        return None;
    };
    let Some(Obj::Ref(m, _)) = cat.get(b"Metadata") else {
        return None;
    };
    let Ok(Some((Obj::Dict(sd), Some(data)))) = pdf.object_with_stream(*m, 0, 0) else {
        return None;
    };
    match pdf.stream_data(&sd, data, 0) {
        Ok(bytes) if bytes.windows(4).any(|w| w == b"AIGC") => Some(
            "pdf: the XMP metadata stream mentions AIGC; GB 45438 readers use the Info /AIGC entry"
                .into(),
        ),
        Ok(_) => None,
        Err(e) => Some(format!(
            "pdf: the XMP metadata stream could not be read: {e}"
        )),
    }
}

/// Appends an incremental update whose Info dictionary carries `/AIGC`.
pub(crate) fn write(
    src: &mut dyn ReadSeek,
    dst: &mut dyn WriteSeek,
    label_json: &str,
) -> Result<(), FormatError> {
    let mut pdf = Pdf::open(src)?;
    if pdf.trailer_key(b"Encrypt", 0).is_some() {
        return Err(FormatError::Unsupported(
            "encrypted PDF: hegui does not write labels into encrypted PDFs (the Info strings would need the document key)".into(),
        ));
    }
    let size = pdf
        .trailer_key(b"Size", 0)
        .and_then(|(v, _)| match v {
            Obj::Int(i) => u32::try_from(i).ok(),
            _ => None,
        })
        .ok_or_else(|| FormatError::malformed("trailer without a valid /Size"))?;
    let root = match pdf.trailer_key(b"Root", 0) {
        Some((Obj::Ref(..), raw)) => raw,
        _ => return Err(FormatError::malformed("trailer without a /Root reference")),
    };
    let id = pdf.trailer_key(b"ID", 0).map(|(_, raw)| raw);
    let info = pdf.info(0)?;
    let (num, generation) = match info.as_ref().and_then(|(l, _)| *l) {
        Some(l) => l,
        None => (size, 0),
    };
    let new_size = size.max(
        num.checked_add(1)
            .ok_or_else(|| FormatError::malformed("object number"))?,
    );

    // The new Info dictionary: existing entries verbatim, label entries replaced.
    let mut dict = b"<<".to_vec();
    if let Some((_, d)) = &info {
        for e in &d.entries {
            // Only keys that mention AIGC are resolved (other values are copied verbatim), and an
            // unreadable value is kept unless the key itself is the label's.
            if e.key.eq_ignore_ascii_case(b"AIGC") {
                continue;
            }
            if mentions_aigc(&e.key) {
                let raw = pdf.string_value(&e.value, 0).ok().flatten();
                if is_label_key(&e.key, raw.as_deref()) {
                    continue;
                }
            }
            dict.push(b' ');
            dict.extend_from_slice(&e.raw_key);
            dict.push(b' ');
            dict.extend_from_slice(&e.raw_value);
        }
    }
    dict.extend_from_slice(b" /AIGC ");
    dict.extend_from_slice(&encode_text(label_json));
    dict.extend_from_slice(b" >>");

    let last_is_eol = if pdf.len > 0 {
        matches!(pdf.read_at(pdf.len - 1, 1)?.first(), Some(b'\n' | b'\r'))
    } else {
        false
    };
    let stream_xref = matches!(pdf.chain.first().map(|s| &s.kind), Some(XrefKind::Stream));
    let prev = pdf.startxref;
    let len = pdf.len;

    pdf.src.seek(SeekFrom::Start(0))?;
    io::copy_n(pdf.src, dst, len, "PDF")?;
    // Everything appended is built in memory first (it is small), so offsets are plain sums.
    let mut update: Vec<u8> = Vec::new();
    if !last_is_eol {
        update.push(b'\n');
    }
    let info_off = len + update.len() as u64;
    update.extend_from_slice(format!("{num} {generation} obj\n").as_bytes());
    update.extend_from_slice(&dict);
    update.extend_from_slice(b"\nendobj\n");
    let xref_off = len + update.len() as u64;
    let mut trailer_keys = b" /Root ".to_vec();
    trailer_keys.extend_from_slice(&root);
    trailer_keys.extend_from_slice(format!(" /Info {num} {generation} R").as_bytes());
    if let Some(raw) = &id {
        trailer_keys.extend_from_slice(b" /ID ");
        trailer_keys.extend_from_slice(raw);
    }
    trailer_keys.extend_from_slice(format!(" /Prev {prev}").as_bytes());
    if stream_xref {
        // A cross-reference stream (uncompressed) listing the Info object and itself.
        let xnum = new_size;
        let final_size = xnum
            .checked_add(1)
            .ok_or_else(|| FormatError::malformed("object number"))?;
        let width = (1..8usize).find(|w| xref_off >> (8 * w) == 0).unwrap_or(8);
        let mut data = Vec::new();
        for (off, g) in [(info_off, generation), (xref_off, 0)] {
            data.push(1u8);
            data.extend_from_slice(off.to_be_bytes().get(8 - width..).unwrap_or(&[]));
            data.extend_from_slice(&g.to_be_bytes());
        }
        update.extend_from_slice(
            format!("{xnum} 0 obj\n<< /Type /XRef /Size {final_size} /W [1 {width} 2] /Index [{num} 1 {xnum} 1]").as_bytes(),
        );
        update.extend_from_slice(&trailer_keys);
        update.extend_from_slice(format!(" /Length {} >>\nstream\r\n", data.len()).as_bytes());
        update.extend_from_slice(&data);
        update.extend_from_slice(b"\r\nendstream\nendobj\n");
    } else {
        update.extend_from_slice(
            format!(
                "xref\n{num} 1\n{info_off:010} {generation:05} n\r\ntrailer\n<< /Size {new_size}"
            )
            .as_bytes(),
        );
        update.extend_from_slice(&trailer_keys);
        update.extend_from_slice(b" >>\n");
    }
    update.extend_from_slice(format!("startxref\n{xref_off}\n%%EOF\n").as_bytes());
    dst.write_all(&update)?;
    Ok(())
}

/// Content selection: the file's bytes from the start up to the first byte of the trailing run
/// of label updates, with trailing whitespace (PDF white-space characters) removed.
///
/// A "label update" is an incremental update (its trailer has `/Prev`) whose cross-reference
/// section defines exactly one object besides its own cross-reference stream, that object is the
/// trailer's `/Info`, and that Info dictionary has an `/AIGC` entry. This is exactly what
/// [`write`] appends (and what other tools that only edit the Info dictionary append), so the
/// selection is the same for the unlabelled input and every labelled output, and it covers
/// every byte of the original document, including its earlier revisions. It is identified by
/// structure, not by the label's absence, so a file that was labelled by a full rewrite is
/// selected whole (that rewrite is part of its content).
pub(crate) fn content_digest(
    src: &mut dyn ReadSeek,
    sink: &mut dyn Write,
) -> Result<(), FormatError> {
    let mut pdf = Pdf::open(src)?;
    let mut end = pdf.len;
    for i in 0..pdf.chain.len() {
        match label_update_start(&mut pdf, i)? {
            Some(start) => end = end.min(start),
            None => break,
        }
    }
    // Back off over trailing white space, reading backwards in bounded chunks.
    while end > 0 {
        let chunk = end.min(FIRST_WINDOW);
        let buf = pdf.read_at(end - chunk, chunk)?;
        let ws = buf.iter().rev().take_while(|&&b| is_ws(b)).count() as u64;
        end -= ws;
        if ws < chunk {
            break;
        }
    }
    pdf.src.seek(SeekFrom::Start(0))?;
    io::copy_n(pdf.src, sink, end, "PDF")?;
    Ok(())
}

/// If revision `i` is a label update, the offset where it starts.
fn label_update_start(pdf: &mut Pdf<'_>, i: usize) -> Result<Option<u64>, FormatError> {
    let Some(sec) = pdf.chain.get(i).cloned() else {
        return Ok(None);
    };
    if sec.prev().is_none() || sec.aux.is_some() {
        return Ok(None);
    }
    let Some(Obj::Ref(info, _)) = sec.trailer.get(b"Info").cloned() else {
        return Ok(None);
    };
    let defined: Vec<(u64, XEntry)> = match &sec.kind {
        XrefKind::Table(subs) => {
            let mut v = Vec::new();
            for s in subs {
                if s.count > 4 {
                    return Ok(None);
                }
                for k in 0..s.count {
                    let n = u32::try_from(s.first + k)
                        .map_err(|_| FormatError::malformed("object number"))?;
                    if let Some(e) = pdf.lookup_in(&sec, n)? {
                        v.push((u64::from(n), e));
                    }
                }
            }
            v
        }
        XrefKind::Stream => pdf.xref_stream_entries(&sec)?,
    };
    let mut start = sec.offset;
    let mut has_info = false;
    for (n, e) in defined {
        match e {
            XEntry::Free if n == 0 => {}
            XEntry::InUse { offset, .. } if n == u64::from(info) => {
                has_info = true;
                start = start.min(offset);
            }
            XEntry::InUse { offset, .. }
                if offset == sec.offset && matches!(sec.kind, XrefKind::Stream) => {}
            _ => return Ok(None),
        }
    }
    if !has_info {
        return Ok(None);
    }
    // The update must lie after the revision it updates.
    if sec.prev().is_some_and(|p| start <= p) {
        return Ok(None);
    }
    match pdf.object_at(start) {
        Ok((n, _, Obj::Dict(d), None)) if n == info && d.get(b"AIGC").is_some() => Ok(Some(start)),
        _ => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::test_support::{SAMPLE_LABEL, SAMPLE_LABEL_2, test_data, tool};
    use proptest::prelude::*;
    use std::io::Cursor;
    use std::path::Path;
    use std::process::Command;

    fn fixture(name: &str) -> Vec<u8> {
        std::fs::read(test_data(name)).unwrap()
    }

    fn run_write(input: &[u8], label: &str) -> Vec<u8> {
        let mut dst = Cursor::new(Vec::new());
        write(&mut Cursor::new(input.to_vec()), &mut dst, label).unwrap();
        dst.into_inner()
    }

    fn run_scan(input: &[u8]) -> Scan {
        scan(&mut Cursor::new(input.to_vec())).unwrap()
    }

    fn digest(input: &[u8]) -> Vec<u8> {
        let mut sink = Vec::new();
        content_digest(&mut Cursor::new(input.to_vec()), &mut sink).unwrap();
        sink
    }

    fn canonical(s: &Scan) -> Vec<String> {
        s.sites
            .iter()
            .filter(|x| x.canonical)
            .map(|x| match &x.payload {
                SitePayload::Json(j) | SitePayload::Xmp(j) => j.clone(),
            })
            .collect()
    }

    /// A one-page PDF with a classic xref table; `info` is the Info dictionary text, if any.
    fn make_pdf(info: Option<&str>, trailing: &str) -> Vec<u8> {
        let content = "BT /F1 24 Tf 20 100 Td (Hello) Tj ET";
        let mut objs = vec![
            "<< /Type /Catalog /Pages 2 0 R >>".to_string(),
            "<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_string(),
            "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 200 200] /Contents 4 0 R >>".to_string(),
            format!(
                "<< /Length {} >>\nstream\n{content}\nendstream",
                content.len()
            ),
        ];
        if let Some(i) = info {
            objs.push(i.to_string());
        }
        let mut out = b"%PDF-1.4\n".to_vec();
        let mut offs = Vec::new();
        for (i, o) in objs.iter().enumerate() {
            offs.push(out.len());
            out.extend_from_slice(format!("{} 0 obj\n{o}\nendobj\n", i + 1).as_bytes());
        }
        let x = out.len();
        out.extend_from_slice(
            format!("xref\n0 {}\n0000000000 65535 f \n", objs.len() + 1).as_bytes(),
        );
        for o in offs {
            out.extend_from_slice(format!("{o:010} 00000 n \n").as_bytes());
        }
        let info_ref = if info.is_some() { " /Info 5 0 R" } else { "" };
        out.extend_from_slice(
            format!(
                "trailer\n<< /Size {} /Root 1 0 R{info_ref} >>\nstartxref\n{x}\n%%EOF{trailing}",
                objs.len() + 1
            )
            .as_bytes(),
        );
        out
    }

    #[test]
    fn ds16_pdf_roundtrip_one_site() {
        for name in ["pdf-classic.pdf", "pdf-objstm.pdf"] {
            let input = fixture(name);
            assert!(run_scan(&input).sites.is_empty(), "{name}");
            let out = run_write(&input, SAMPLE_LABEL);
            let s = run_scan(&out);
            assert_eq!(canonical(&s), vec![SAMPLE_LABEL.to_string()], "{name}");
            assert_eq!(s.sites.len(), 1);
            assert!(s.notes.is_empty(), "{name}: {:?}", s.notes);
            // The incremental update keeps the other Info entries.
            let tail = String::from_utf8_lossy(&out[input.len()..]).into_owned();
            assert!(tail.contains("/Title (Hegui \\(test\\))"), "{name}: {tail}");
            assert!(tail.contains(&format!("/AIGC ({SAMPLE_LABEL})")), "{tail}");
        }
    }

    #[test]
    fn ds16_pdf_payload_byte_identical() {
        for name in ["pdf-classic.pdf", "pdf-objstm.pdf"] {
            let input = fixture(name);
            let out = run_write(&input, SAMPLE_LABEL);
            assert!(out.starts_with(&input), "{name}: earlier bytes changed");
            let d = digest(&input);
            assert_eq!(digest(&out), d, "{name}");
            assert_eq!(d, input.strip_suffix(b"\n").unwrap(), "{name}");
            let twice = run_write(&out, SAMPLE_LABEL_2);
            assert!(twice.starts_with(&out));
            assert_eq!(digest(&twice), d, "{name}");
        }
        // No EOL after %%EOF, and trailing garbage.
        for trailing in ["", "\r\n\r\n", "\n\0\0garbage"] {
            let input = make_pdf(Some("<< /Producer (x) >>"), trailing);
            let out = run_write(&input, SAMPLE_LABEL);
            assert!(out.starts_with(&input));
            assert_eq!(digest(&out), digest(&input), "{trailing:?}");
            assert_eq!(canonical(&run_scan(&out)), vec![SAMPLE_LABEL.to_string()]);
        }
    }

    #[test]
    fn ds16_pdf_write_twice_one_site() {
        for name in ["pdf-classic.pdf", "pdf-objstm.pdf"] {
            let once = run_write(&fixture(name), SAMPLE_LABEL);
            let twice = run_write(&once, SAMPLE_LABEL_2);
            let s = run_scan(&twice);
            assert_eq!(canonical(&s), vec![SAMPLE_LABEL_2.to_string()], "{name}");
            assert_eq!(s.sites.len(), 1);
            assert_eq!(s.notes.len(), 1, "{:?}", s.notes);
            assert!(s.notes[0].contains("earlier revision"), "{:?}", s.notes);
            let tail = String::from_utf8_lossy(&twice[once.len()..]).into_owned();
            assert_eq!(tail.matches("/AIGC").count(), 1, "{tail}");
        }
    }

    #[test]
    fn ds16_pdf_without_info_gets_one() {
        let input = make_pdf(None, "\n");
        let out = run_write(&input, SAMPLE_LABEL);
        assert_eq!(canonical(&run_scan(&out)), vec![SAMPLE_LABEL.to_string()]);
        let tail = String::from_utf8_lossy(&out[input.len()..]).into_owned();
        assert!(tail.starts_with("5 0 obj\n<< /AIGC ("), "{tail}");
        assert!(
            tail.contains("/Size 6 /Root 1 0 R /Info 5 0 R /Prev "),
            "{tail}"
        );
        assert_eq!(digest(&out), digest(&input));
    }

    #[test]
    fn ds16_pdf_migrates_variant_keys() {
        let input = make_pdf(
            Some(r#"<< /aigc (x) /AIGC_Meta ({"Label":"2"}) /AIGCModel (gpt) >>"#),
            "\n",
        );
        let s = run_scan(&input);
        assert_eq!(s.sites.len(), 2, "{s:?}");
        assert!(s.sites.iter().all(|x| !x.canonical));
        let out = run_write(&input, SAMPLE_LABEL);
        let s = run_scan(&out);
        assert_eq!(s.sites.len(), 1, "{s:?}");
        assert_eq!(canonical(&s), vec![SAMPLE_LABEL.to_string()]);
        let tail = String::from_utf8_lossy(&out[input.len()..]).into_owned();
        assert!(
            tail.contains("/AIGCModel (gpt)"),
            "unrelated keys survive: {tail}"
        );
    }

    #[test]
    fn ds16_pdf_reads_string_encodings() {
        let label_with_parens = r#"{"Label":"1","ContentProducer":"a(b)\\c"}"#;
        let hex: String = SAMPLE_LABEL.bytes().map(|b| format!("{b:02x}")).collect();
        let utf16: String = SAMPLE_LABEL
            .encode_utf16()
            .map(|u| format!("{u:04X}"))
            .collect();
        let cases = [
            (format!("<< /AIGC <{hex}> >>"), SAMPLE_LABEL.to_string()),
            (
                format!("<< /AIGC <FEFF{utf16}> >>"),
                SAMPLE_LABEL.to_string(),
            ),
            (
                "<< /AIGC (a\\(b\\)\\\\c\\101\\
d) >>"
                    .to_string(),
                "a(b)\\cAd".to_string(),
            ),
            (
                format!(
                    "<< /AIGC {} >>",
                    String::from_utf8(encode_text(label_with_parens)).unwrap()
                ),
                label_with_parens.to_string(),
            ),
            (
                format!(
                    "<< /AIGC {} >>",
                    String::from_utf8(encode_text("标识")).unwrap()
                ),
                "标识".to_string(),
            ),
        ];
        for (info, expected) in cases {
            let input = make_pdf(Some(&info), "\n");
            assert_eq!(
                canonical(&run_scan(&input)),
                vec![expected.clone()],
                "{info}"
            );
        }
        // An indirect string value.
        let mut input = make_pdf(Some("<< /AIGC 6 0 R >>"), "\n");
        let pos = input.windows(6).position(|w| w == b"\nxref\n").unwrap() + 1;
        let obj6 = format!("6 0 obj\n({SAMPLE_LABEL})\nendobj\n");
        input.splice(pos..pos, obj6.bytes());
        let input = String::from_utf8(input).unwrap();
        // Rebuild the xref with object 6 (offsets moved by the insertion).
        let x = input.find("\nxref\n").unwrap() + 1;
        let mut offs = Vec::new();
        for n in 1..=6 {
            offs.push(input.find(&format!("\n{n} 0 obj")).map_or(9, |p| p + 1));
        }
        let mut fixed = input[..x].to_string();
        fixed.push_str("xref\n0 7\n0000000000 65535 f \n");
        for o in offs {
            fixed.push_str(&format!("{o:010} 00000 n \n"));
        }
        fixed.push_str(&format!(
            "trailer\n<< /Size 7 /Root 1 0 R /Info 5 0 R >>\nstartxref\n{x}\n%%EOF\n"
        ));
        assert_eq!(
            canonical(&run_scan(fixed.as_bytes())),
            vec![SAMPLE_LABEL.to_string()]
        );
    }

    /// A hybrid-reference file: a classic table whose trailer's `/XRefStm` names a
    /// cross-reference stream, which alone lists the Info dictionary (inside an object stream).
    fn make_hybrid() -> Vec<u8> {
        let mut out = b"%PDF-1.5\n".to_vec();
        let mut offs = std::collections::BTreeMap::new();
        for (n, body) in [
            (1, "<< /Type /Catalog /Pages 2 0 R >>"),
            (2, "<< /Type /Pages /Kids [3 0 R] /Count 1 >>"),
            (3, "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 200 200] >>"),
        ] {
            offs.insert(n, out.len());
            out.extend_from_slice(format!("{n} 0 obj\n{body}\nendobj\n").as_bytes());
        }
        let objstm = "5 0 << /Title (hybrid) /Producer (hand) >>";
        offs.insert(6, out.len());
        out.extend_from_slice(
            format!("6 0 obj\n<< /Type /ObjStm /N 1 /First 4 /Length {} >>\nstream\n{objstm}\nendstream\nendobj\n", objstm.len()).as_bytes(),
        );
        let off7 = out.len();
        offs.insert(7, off7);
        let data = [2u8, 0, 6, 0, 1, (off7 >> 8) as u8, (off7 & 0xFF) as u8, 0];
        out.extend_from_slice(
            b"7 0 obj\n<< /Type /XRef /Size 8 /W [1 2 1] /Index [5 1 7 1] /Length 8 >>\nstream\n",
        );
        out.extend_from_slice(&data);
        out.extend_from_slice(b"\nendstream\nendobj\n");
        let x = out.len();
        out.extend_from_slice(b"xref\n0 4\n0000000000 65535 f \n");
        for n in 1..=3 {
            out.extend_from_slice(format!("{:010} 00000 n \n", offs[&n]).as_bytes());
        }
        out.extend_from_slice(
            format!(
                "6 2\n{:010} 00000 n \n{:010} 00000 n \n",
                offs[&6], offs[&7]
            )
            .as_bytes(),
        );
        out.extend_from_slice(
            format!("trailer\n<< /Size 8 /Root 1 0 R /Info 5 0 R /XRefStm {off7} >>\nstartxref\n{x}\n%%EOF\n").as_bytes(),
        );
        out
    }

    #[test]
    fn ds16_pdf_hybrid_reference_file() {
        let input = make_hybrid();
        assert!(run_scan(&input).sites.is_empty());
        let out = run_write(&input, SAMPLE_LABEL);
        let tail = String::from_utf8_lossy(&out[input.len()..]).into_owned();
        assert!(
            tail.starts_with("5 0 obj\n<< /Title (hybrid) /Producer (hand) /AIGC ("),
            "{tail}"
        );
        assert!(
            tail.contains("\nxref\n5 1\n"),
            "a classic table follows a hybrid file: {tail}"
        );
        assert_eq!(canonical(&run_scan(&out)), vec![SAMPLE_LABEL.to_string()]);
        assert_eq!(digest(&out), digest(&input));
        if let Some(qpdf) = tool("qpdf") {
            let dir = tempfile::tempdir().unwrap();
            for (name, bytes) in [("in.pdf", &input), ("out.pdf", &out)] {
                let p = dir.path().join(name);
                std::fs::write(&p, bytes).unwrap();
                qpdf_ok(&qpdf, &p);
            }
        }
    }

    #[test]
    fn ds16_pdf_encrypted_is_unsupported() {
        let input = make_pdf(Some("<< /Producer (x) >>"), "\n");
        let s = String::from_utf8(input)
            .unwrap()
            .replace("/Root 1 0 R", "/Root 1 0 R /Encrypt 5 0 R");
        let mut dst = Cursor::new(Vec::new());
        let err = write(
            &mut Cursor::new(s.as_bytes().to_vec()),
            &mut dst,
            SAMPLE_LABEL,
        )
        .unwrap_err();
        assert!(
            matches!(&err, FormatError::Unsupported(m) if m.contains("encrypted")),
            "{err}"
        );
        assert!(matches!(
            scan(&mut Cursor::new(s.into_bytes())),
            Err(FormatError::Unsupported(_))
        ));
    }

    #[test]
    fn pdf_truncated_is_error() {
        let input = fixture("pdf-objstm.pdf");
        for cut in [0, 4, 100, input.len() / 2, input.len() - 30] {
            assert!(
                scan(&mut Cursor::new(input[..cut].to_vec())).is_err(),
                "cut {cut}"
            );
        }
        assert!(scan(&mut Cursor::new(b"not a pdf".to_vec())).is_err());
    }

    #[test]
    fn pdf_prev_loop_is_bounded() {
        let input = make_pdf(Some("<< /Producer (x) >>"), "\n");
        let x: usize = String::from_utf8_lossy(&input)
            .rsplit("startxref\n")
            .next()
            .unwrap()
            .trim()
            .trim_end_matches("%%EOF")
            .trim()
            .parse()
            .unwrap();
        let s = String::from_utf8(input)
            .unwrap()
            .replace("/Info 5 0 R", &format!("/Info 5 0 R /Prev {x}"));
        let scan = run_scan(s.as_bytes());
        assert!(scan.notes.iter().any(|n| n.contains("loops")), "{scan:?}");
    }

    fn qpdf_ok(qpdf: &Path, file: &Path) {
        let o = Command::new(qpdf)
            .arg("--check")
            .arg(file)
            .output()
            .unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        assert!(o.status.success(), "qpdf --check failed: {text}");
        assert!(
            text.contains("No syntax or stream encoding errors"),
            "{text}"
        );
        assert!(!text.contains("WARNING"), "{text}");
    }

    #[test]
    fn ds16_pdf_interop_qpdf_check() {
        let Some(qpdf) = tool("qpdf") else { return };
        let dir = tempfile::tempdir().unwrap();
        let linearized = dir.path().join("lin.pdf");
        Command::new(&qpdf)
            .arg("--linearize")
            .arg(test_data("pdf-classic.pdf"))
            .arg(&linearized)
            .status()
            .unwrap();
        let inputs = [
            ("classic", fixture("pdf-classic.pdf")),
            ("objstm", fixture("pdf-objstm.pdf")),
            ("noinfo", make_pdf(None, "")),
            ("linearized", std::fs::read(&linearized).unwrap()),
        ];
        for (name, input) in inputs {
            let once = run_write(&input, SAMPLE_LABEL);
            let twice = run_write(&once, SAMPLE_LABEL_2);
            for (tag, bytes, label) in [
                ("once", &once, SAMPLE_LABEL),
                ("twice", &twice, SAMPLE_LABEL_2),
            ] {
                let p = dir.path().join(format!("{name}-{tag}.pdf"));
                std::fs::write(&p, bytes).unwrap();
                qpdf_ok(&qpdf, &p);
                // qpdf's JSON view shows /AIGC in the trailer's Info dictionary.
                let o = Command::new(&qpdf)
                    .args(["--json", "--json-key=qpdf"])
                    .arg(&p)
                    .output()
                    .unwrap();
                let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
                let objs = &v["qpdf"][1];
                let trailer = &objs["trailer"]["value"];
                let info_ref = trailer["/Info"].as_str().unwrap();
                let info = &objs[format!("obj:{info_ref}")]["value"];
                assert_eq!(
                    info["/AIGC"].as_str().unwrap(),
                    format!("u:{label}"),
                    "{name}/{tag}: {info}"
                );
                assert_eq!(canonical(&run_scan(bytes)), vec![label.to_string()]);
            }
            // qpdf rewriting the labelled file keeps the label readable by us.
            let p = dir.path().join(format!("{name}-rewritten.pdf"));
            let src = dir.path().join(format!("{name}-twice.pdf"));
            Command::new(&qpdf).arg(&src).arg(&p).status().unwrap();
            assert_eq!(
                canonical(&run_scan(&std::fs::read(&p).unwrap())),
                vec![SAMPLE_LABEL_2.to_string()],
                "{name}"
            );
        }
    }

    #[test]
    fn ds16_pdf_interop_qpdf_show_trailer() {
        let Some(qpdf) = tool("qpdf") else { return };
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("l.pdf");
        std::fs::write(&p, run_write(&fixture("pdf-classic.pdf"), SAMPLE_LABEL)).unwrap();
        let o = Command::new(&qpdf)
            .args(["--show-object=trailer"])
            .arg(&p)
            .output()
            .unwrap();
        let t = String::from_utf8_lossy(&o.stdout).into_owned();
        let info = t
            .split("/Info ")
            .nth(1)
            .unwrap()
            .split(" R")
            .next()
            .unwrap()
            .to_string();
        let num = info.split(' ').next().unwrap();
        let o = Command::new(&qpdf)
            .arg(format!("--show-object={num}"))
            .arg(&p)
            .output()
            .unwrap();
        let t = String::from_utf8_lossy(&o.stdout).into_owned();
        assert!(t.contains("/AIGC ("), "{t}");
        assert!(t.contains("Label"), "{t}");
    }

    #[test]
    fn ds16_pdf_interop_exiftool_reads() {
        let Some(exiftool) = tool("exiftool") else {
            return;
        };
        let dir = tempfile::tempdir().unwrap();
        for name in ["pdf-classic.pdf", "pdf-objstm.pdf"] {
            let p = dir.path().join(name);
            std::fs::write(
                &p,
                run_write(&run_write(&fixture(name), SAMPLE_LABEL_2), SAMPLE_LABEL),
            )
            .unwrap();
            let o = Command::new(&exiftool)
                .args(["-j", "-PDF:AIGC"])
                .arg(&p)
                .output()
                .unwrap();
            let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
            assert_eq!(v[0]["AIGC"], SAMPLE_LABEL, "{name}: {v}");
        }
    }

    /// exiftool writes an incremental update with a new Info dictionary; we read its label,
    /// replace it, and keep exiftool's bytes as a prefix.
    #[test]
    fn ds16_pdf_interop_reads_exiftool_written() {
        let Some(exiftool) = tool("exiftool") else {
            return;
        };
        let dir = tempfile::tempdir().unwrap();
        let cfg = dir.path().join("pdf-aigc.config");
        std::fs::write(
            &cfg,
            "%Image::ExifTool::UserDefined = ('Image::ExifTool::PDF::Info' => { AIGC => { } });\n1;\n",
        )
        .unwrap();
        for name in ["pdf-classic.pdf", "pdf-objstm.pdf"] {
            let p = dir.path().join(name);
            std::fs::write(&p, fixture(name)).unwrap();
            let o = Command::new(&exiftool)
                .arg("-config")
                .arg(&cfg)
                .arg(format!("-PDF:AIGC={SAMPLE_LABEL_2}"))
                .args(["-overwrite_original"])
                .arg(&p)
                .output()
                .unwrap();
            assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
            let by_exiftool = std::fs::read(&p).unwrap();
            assert!(
                by_exiftool.starts_with(&fixture(name)),
                "exiftool writes incrementally"
            );
            let s = run_scan(&by_exiftool);
            assert_eq!(
                canonical(&s),
                vec![SAMPLE_LABEL_2.to_string()],
                "{name}: {s:?}"
            );
            let out = run_write(&by_exiftool, SAMPLE_LABEL);
            assert!(out.starts_with(&by_exiftool));
            assert_eq!(canonical(&run_scan(&out)), vec![SAMPLE_LABEL.to_string()]);
            assert_eq!(digest(&out), digest(&by_exiftool));
            if let Some(qpdf) = tool("qpdf") {
                let q = dir.path().join(format!("hegui-{name}"));
                std::fs::write(&q, &out).unwrap();
                qpdf_ok(&qpdf, &q);
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]
        #[test]
        fn pdf_scan_never_panics(data in proptest::collection::vec(any::<u8>(), 0..1024)) {
            let mut d = b"%PDF-1.4\n".to_vec();
            d.extend_from_slice(&data);
            let _ = scan(&mut Cursor::new(data.clone()));
            let _ = scan(&mut Cursor::new(d.clone()));
            let _ = content_digest(&mut Cursor::new(d), &mut Vec::new());
        }

        #[test]
        fn pdf_scan_survives_mutations(which in 0usize..2, cut in 0usize..2000, flips in proptest::collection::vec((0usize..2000, any::<u8>()), 0..6)) {
            let name = ["pdf-classic.pdf", "pdf-objstm.pdf"][which];
            let mut data = run_write(&fixture(name), SAMPLE_LABEL);
            for (i, b) in flips {
                let n = data.len();
                if let Some(x) = data.get_mut(i % n) { *x = b; }
            }
            let keep = data.len().saturating_sub(cut % 64);
            data.truncate(keep);
            let _ = scan(&mut Cursor::new(data.clone()));
            let _ = content_digest(&mut Cursor::new(data.clone()), &mut Vec::new());
            let mut dst = Cursor::new(Vec::new());
            if write(&mut Cursor::new(data.clone()), &mut dst, SAMPLE_LABEL).is_ok() {
                prop_assert!(dst.into_inner().starts_with(&data));
            }
        }
    }
}
