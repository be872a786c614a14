//! Markdown: the label is the `AIGC` key of the YAML front matter at the head of the file
//! (TC260-PG-20258A §6.5):
//!
//! ```text
//! ---
//! AIGC:
//!   Label: '1'
//!   ContentProducer: '001191440300708461136T1XGW3'
//!   … the other five Annex E keys, in Annex E order, single-quoted …
//! ---
//! ```
//!
//! Key decisions:
//! * Front matter is recognised only when the very first line (after an optional UTF-8 BOM) is
//!   `---`, the next line is not blank (Pandoc's rule: `---` followed by a blank line is a
//!   thematic break), a closing `---` or `...` line follows within [`MAX_SITE_BYTES`], and every
//!   top-level line in between looks like a YAML mapping line (`key:`, indented continuation,
//!   `- ` item, comment or blank). Anything else is body text, and the writer prepends a new
//!   block instead of editing it.
//! * When front matter exists, the writer merges: every `AIGC` entry is removed (block mapping,
//!   flow mapping or JSON string value alike) and one canonical block is inserted as the first
//!   key, so the file starts with `---\nAIGC:\n` as E-MD1 asks. The other lines of the front
//!   matter, the closing line and the body are copied byte for byte. The line ending of the
//!   opening line (or of the file's first line) is used for the inserted lines, and a UTF-8 BOM
//!   is kept in front.
//! * The body is never modified: it is the content selection. Labels seen inside the body (an
//!   HTML comment holding AIGC JSON, an `AIGC: {…}` line) are reported as non-canonical sites,
//!   but the writer leaves them, because removing text from the body would change the content.
//! * The visible end-of-file label is an explicit label and is not written here.

use super::{FormatError, MAX_SITE_BYTES, RawSite, ReadSeek, Scan, SitePayload, WriteSeek, io};
use std::io::{SeekFrom, Write};

/// The Annex E keys, in Annex E order.
const KEYS: [&str; 7] = [
    "Label",
    "ContentProducer",
    "ProduceID",
    "ReservedCode1",
    "ContentPropagator",
    "PropagateID",
    "ReservedCode2",
];

/// How deep nested YAML mappings are followed when reading a label.
const MAX_DEPTH: usize = 4;

/// One line of the head buffer: `start..end` is the text without its terminator, `next` is where
/// the following line starts.
#[derive(Debug, Clone, Copy)]
struct Line {
    start: usize,
    end: usize,
    next: usize,
}

/// Splits `buf[from..]` into lines (`\n` or `\r\n` terminated; the last one may be unterminated).
fn lines_from(buf: &[u8], from: usize) -> impl Iterator<Item = Line> + '_ {
    let mut pos = from;
    std::iter::from_fn(move || {
        if pos >= buf.len() {
            return None;
        }
        let start = pos;
        let rest = buf.get(start..)?;
        let (end, next) = match rest.iter().position(|&b| b == b'\n') {
            Some(i) => {
                let nl = start + i;
                let end = if nl > start && buf.get(nl - 1) == Some(&b'\r') {
                    nl - 1
                } else {
                    nl
                };
                (end, nl + 1)
            }
            None => (buf.len(), buf.len()),
        };
        pos = next;
        Some(Line { start, end, next })
    })
}

fn text(buf: &[u8], l: Line) -> &[u8] {
    buf.get(l.start..l.end).unwrap_or(&[])
}

fn trim_end_ws(s: &[u8]) -> &[u8] {
    let mut e = s.len();
    while e > 0 && matches!(s.get(e - 1), Some(b' ' | b'\t')) {
        e -= 1;
    }
    s.get(..e).unwrap_or(&[])
}

fn is_blank(s: &[u8]) -> bool {
    s.iter().all(|b| matches!(b, b' ' | b'\t'))
}

/// What a top-level line of the front matter is.
#[derive(Debug, Clone, PartialEq)]
enum TopLine {
    Blank,
    Comment,
    /// Indented line or `- ` item: belongs to the previous key.
    Continuation,
    /// `key:`; `value_at` is the offset in the line just after the `:`.
    Key {
        key: String,
        value_at: usize,
    },
    /// Not something a YAML mapping has at the top level.
    Bad,
}

/// Parses `key:` at the start of `s`. Returns the key and the offset after the colon.
fn parse_key(s: &[u8]) -> Option<(String, usize)> {
    let first = *s.first()?;
    if first == b'\'' || first == b'"' {
        let (key, used) = parse_quoted(s)?;
        let mut i = used;
        while matches!(s.get(i), Some(b' ' | b'\t')) {
            i += 1;
        }
        return (s.get(i) == Some(&b':')).then_some((key, i + 1));
    }
    if b"[]{}&*!|>%@`#,-?:".contains(&first)
        && !(first == b'-' && s.get(1).is_some_and(|b| !b.is_ascii_whitespace()))
    {
        return None;
    }
    let mut i = 0;
    while i < s.len() {
        if s.get(i) == Some(&b':') && matches!(s.get(i + 1), None | Some(b' ' | b'\t')) {
            let key = String::from_utf8_lossy(trim_end_ws(s.get(..i)?)).into_owned();
            if key.is_empty() {
                return None;
            }
            return Some((key, i + 1));
        }
        if s.get(i) == Some(&b'#') && i > 0 && matches!(s.get(i - 1), Some(b' ' | b'\t')) {
            return None;
        }
        i += 1;
    }
    None
}

fn classify(s: &[u8]) -> TopLine {
    if is_blank(s) {
        return TopLine::Blank;
    }
    match s.first() {
        Some(b'#') => TopLine::Comment,
        Some(b' ' | b'\t') => TopLine::Continuation,
        Some(b'-') if matches!(s.get(1), None | Some(b' ' | b'\t')) => TopLine::Continuation,
        _ => match parse_key(s) {
            Some((key, value_at)) => TopLine::Key { key, value_at },
            None => TopLine::Bad,
        },
    }
}

/// The parsed head of the file.
#[derive(Debug)]
struct Head {
    /// Length of the UTF-8 BOM (0 or 3).
    bom: usize,
    /// Line ending to use for inserted lines.
    eol: &'static [u8],
    /// The front matter, when there is one.
    fm: Option<FrontMatter>,
}

#[derive(Debug)]
struct FrontMatter {
    /// The opening `---` line.
    open: Line,
    /// The lines between the opening and the closing line, classified.
    inner: Vec<(Line, TopLine)>,
    /// The closing line.
    close: Line,
}

impl Head {
    /// Where the body (the content selection) starts.
    fn body_start(&self) -> usize {
        match &self.fm {
            Some(fm) => fm.close.next,
            None => self.bom,
        }
    }
}

/// Reads at most [`MAX_SITE_BYTES`] from the start of `src`.
fn read_head(src: &mut dyn ReadSeek) -> Result<(Vec<u8>, u64), FormatError> {
    let total = io::len(src)?;
    src.seek(SeekFrom::Start(0))?;
    let buf = io::read_vec(src, total.min(MAX_SITE_BYTES), "markdown head")?;
    Ok((buf, total))
}

fn parse_head(buf: &[u8]) -> Head {
    let bom = if buf.starts_with(b"\xEF\xBB\xBF") {
        3
    } else {
        0
    };
    let mut lines = lines_from(buf, bom);
    let first = lines.next();
    let eol: &'static [u8] = match first {
        Some(l) if l.next > l.end && l.next - l.end == 2 => b"\r\n",
        _ => b"\n",
    };
    let fm = first.and_then(|open| {
        if trim_end_ws(text(buf, open)) != b"---" || open.next == open.end {
            return None;
        }
        let mut inner = Vec::new();
        for l in lines.by_ref() {
            let t = trim_end_ws(text(buf, l));
            if t == b"---" || t == b"..." {
                if inner.is_empty() {
                    return None; // "---\n---": two thematic breaks, not an empty block
                }
                return Some(FrontMatter {
                    open,
                    inner,
                    close: l,
                });
            }
            let kind = classify(text(buf, l));
            if inner.is_empty() && kind == TopLine::Blank {
                return None;
            }
            let has_key = inner.iter().any(|(_, k)| matches!(k, TopLine::Key { .. }));
            match kind {
                TopLine::Bad => return None,
                TopLine::Continuation if !has_key => return None,
                _ => {}
            }
            inner.push((l, kind));
        }
        None
    });
    Head { bom, eol, fm }
}

/// Index ranges (into `fm.inner`) of every top-level `AIGC` entry, with the key line's value offset.
fn aigc_blocks(fm: &FrontMatter) -> Vec<(std::ops::Range<usize>, usize)> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < fm.inner.len() {
        if let Some((_, TopLine::Key { key, value_at })) = fm.inner.get(i)
            && key == "AIGC"
        {
            let mut end = i + 1;
            let mut j = i + 1;
            while let Some((_, kind)) = fm.inner.get(j) {
                match kind {
                    TopLine::Key { .. } | TopLine::Bad => break,
                    TopLine::Continuation => end = j + 1,
                    TopLine::Blank | TopLine::Comment => {}
                }
                j += 1;
            }
            out.push((i..end, *value_at));
            i = end;
            continue;
        }
        i += 1;
    }
    out
}

// ---------------------------------------------------------------------------------------------
// YAML scalars and mappings (the small subset labels use)

/// A YAML value as far as label reading needs it.
#[derive(Debug, Clone, PartialEq)]
enum YVal {
    /// A quoted scalar (always a string).
    Quoted(String),
    /// A plain scalar (type decided by the YAML core schema).
    Plain(String),
    /// A mapping, in file order.
    Map(Vec<(String, YVal)>),
    /// Something else (sequence, anchor …) that a label cannot be.
    Other,
}

/// Parses a quoted scalar at the start of `s`; returns the value and the bytes used.
fn parse_quoted(s: &[u8]) -> Option<(String, usize)> {
    let q = *s.first()?;
    let mut out = Vec::new();
    let mut i = 1;
    if q == b'\'' {
        loop {
            match s.get(i)? {
                b'\'' if s.get(i + 1) == Some(&b'\'') => {
                    out.push(b'\'');
                    i += 2;
                }
                b'\'' => return Some((String::from_utf8_lossy(&out).into_owned(), i + 1)),
                &b => {
                    out.push(b);
                    i += 1;
                }
            }
        }
    }
    if q != b'"' {
        return None;
    }
    let mut chars = String::new();
    loop {
        match s.get(i)? {
            b'"' => {
                chars.push_str(&String::from_utf8_lossy(&out));
                return Some((chars, i + 1));
            }
            b'\\' => {
                chars.push_str(&String::from_utf8_lossy(&out));
                out.clear();
                let e = *s.get(i + 1)?;
                i += 2;
                let hex = |n: usize, i: usize| -> Option<char> {
                    let h = std::str::from_utf8(s.get(i..i + n)?).ok()?;
                    char::from_u32(u32::from_str_radix(h, 16).ok()?)
                };
                let c = match e {
                    b'n' => '\n',
                    b't' | b'\t' => '\t',
                    b'r' => '\r',
                    b'0' => '\0',
                    b'a' => '\x07',
                    b'b' => '\x08',
                    b'e' => '\x1b',
                    b'f' => '\x0c',
                    b'v' => '\x0b',
                    b' ' => ' ',
                    b'/' => '/',
                    b'"' => '"',
                    b'\\' => '\\',
                    b'N' => '\u{85}',
                    b'_' => '\u{a0}',
                    b'x' => {
                        let c = hex(2, i)?;
                        i += 2;
                        c
                    }
                    b'u' => {
                        let c = hex(4, i)?;
                        i += 4;
                        c
                    }
                    b'U' => {
                        let c = hex(8, i)?;
                        i += 8;
                        c
                    }
                    _ => return None,
                };
                chars.push(c);
            }
            &b => {
                out.push(b);
                i += 1;
            }
        }
    }
}

/// Parses a single-line scalar value (`'x'`, `"x"` or plain, with an optional trailing comment).
fn parse_scalar(s: &[u8]) -> YVal {
    let s = trim_ws(s);
    match s.first() {
        Some(b'\'' | b'"') => match parse_quoted(s) {
            Some((v, _)) => YVal::Quoted(v),
            None => YVal::Plain(String::from_utf8_lossy(s).into_owned()),
        },
        Some(b'&' | b'*' | b'!' | b'[' | b'|' | b'>') => YVal::Other,
        _ => {
            let mut end = s.len();
            for i in 1..s.len() {
                if s.get(i) == Some(&b'#') && matches!(s.get(i - 1), Some(b' ' | b'\t')) {
                    end = i;
                    break;
                }
            }
            YVal::Plain(String::from_utf8_lossy(trim_ws(s.get(..end).unwrap_or(&[]))).into_owned())
        }
    }
}

fn trim_ws(s: &[u8]) -> &[u8] {
    let mut a = 0;
    while matches!(s.get(a), Some(b' ' | b'\t' | b'\r' | b'\n')) {
        a += 1;
    }
    let mut e = s.len();
    while e > a && matches!(s.get(e - 1), Some(b' ' | b'\t' | b'\r' | b'\n')) {
        e -= 1;
    }
    s.get(a..e).unwrap_or(&[])
}

fn indent_of(s: &[u8]) -> usize {
    s.iter().take_while(|&&b| b == b' ').count()
}

/// Parses a block mapping from `lines` (each already without terminator), all of which are more
/// indented than the parent key. Lines deeper than the mapping's own indentation belong to the
/// previous key.
fn parse_block_map(lines: &[&[u8]], depth: usize) -> YVal {
    if depth > MAX_DEPTH {
        return YVal::Other;
    }
    let content: Vec<&[u8]> = lines
        .iter()
        .copied()
        .filter(|l| !is_blank(l) && trim_ws(l).first() != Some(&b'#'))
        .collect();
    let Some(first) = content.first() else {
        return YVal::Plain(String::new());
    };
    let ind = indent_of(first);
    let mut out: Vec<(String, YVal)> = Vec::new();
    let mut i = 0;
    while let Some(line) = content.get(i) {
        let this = indent_of(line);
        let body = line.get(this..).unwrap_or(&[]);
        if this != ind {
            i += 1; // a deeper line without a key in front, or a dedent: not a label shape
            continue;
        }
        let Some((key, at)) = parse_key(body) else {
            return YVal::Other;
        };
        let mut j = i + 1;
        while content.get(j).is_some_and(|l| indent_of(l) > ind) {
            j += 1;
        }
        let rest = body.get(at..).unwrap_or(&[]);
        let nested = content.get(i + 1..j).unwrap_or(&[]);
        let value = value_of(rest, nested, depth + 1);
        out.push((key, value));
        i = j;
    }
    YVal::Map(out)
}

/// The value of a key whose line continues with `rest` and is followed by `nested` lines.
fn value_of(rest: &[u8], nested: &[&[u8]], depth: usize) -> YVal {
    let r = trim_ws(rest);
    match r.first() {
        None | Some(b'#') => parse_block_map(nested, depth),
        Some(b'{') => {
            let mut t = r.to_vec();
            for l in nested {
                t.push(b'\n');
                t.extend_from_slice(l);
            }
            parse_flow(&t, depth).map(|(v, _)| v).unwrap_or(YVal::Other)
        }
        Some(b'|' | b'>') => {
            let folded = r.first() == Some(&b'>');
            let ind = nested
                .iter()
                .filter(|l| !is_blank(l))
                .map(|l| indent_of(l))
                .min()
                .unwrap_or(0);
            let parts: Vec<String> = nested
                .iter()
                .map(|l| String::from_utf8_lossy(l.get(ind..).unwrap_or(&[])).into_owned())
                .collect();
            YVal::Quoted(
                parts
                    .join(if folded { " " } else { "\n" })
                    .trim_end()
                    .to_string(),
            )
        }
        Some(b'\'' | b'"') if !nested.is_empty() => {
            // A quoted scalar folded over several lines: join with spaces (YAML line folding).
            let mut t = r.to_vec();
            for l in nested {
                t.push(b' ');
                t.extend_from_slice(trim_ws(l));
            }
            parse_scalar(&t)
        }
        _ if !nested.is_empty() => {
            // A plain scalar folded over several lines.
            let mut t = r.to_vec();
            for l in nested {
                t.push(b' ');
                t.extend_from_slice(trim_ws(l));
            }
            parse_scalar(&t)
        }
        _ => parse_scalar(r),
    }
}

/// Parses a flow mapping `{k: v, …}` at the start of `s` (after whitespace). Returns the value and
/// the bytes used.
fn parse_flow(s: &[u8], depth: usize) -> Option<(YVal, usize)> {
    if depth > MAX_DEPTH {
        return None;
    }
    let skip = |mut i: usize| {
        while matches!(s.get(i), Some(b' ' | b'\t' | b'\r' | b'\n')) {
            i += 1;
        }
        i
    };
    let mut i = skip(0);
    if s.get(i) != Some(&b'{') {
        return None;
    }
    i += 1;
    let mut out = Vec::new();
    loop {
        i = skip(i);
        match s.get(i)? {
            b'}' => return Some((YVal::Map(out), i + 1)),
            b',' => {
                i += 1;
                continue;
            }
            _ => {}
        }
        let key = match s.get(i)? {
            b'\'' | b'"' => {
                let (k, used) = parse_quoted(s.get(i..)?)?;
                i += used;
                k
            }
            _ => {
                let start = i;
                while let Some(&b) = s.get(i) {
                    if b == b','
                        || b == b'}'
                        || (b == b':'
                            && matches!(
                                s.get(i + 1),
                                None | Some(
                                    b' ' | b'\t' | b'\r' | b'\n' | b',' | b'}' | b'"' | b'\''
                                )
                            ))
                    {
                        break;
                    }
                    i += 1;
                }
                String::from_utf8_lossy(trim_ws(s.get(start..i)?)).into_owned()
            }
        };
        i = skip(i);
        if s.get(i) != Some(&b':') {
            out.push((key, YVal::Plain(String::new())));
            continue;
        }
        i = skip(i + 1);
        let value = match s.get(i)? {
            b'\'' | b'"' => {
                let (v, used) = parse_quoted(s.get(i..)?)?;
                i += used;
                YVal::Quoted(v)
            }
            b'{' => {
                let (v, used) = parse_flow(s.get(i..)?, depth + 1)?;
                i += used;
                v
            }
            _ => {
                let start = i;
                while let Some(&b) = s.get(i) {
                    if b == b',' || b == b'}' {
                        break;
                    }
                    i += 1;
                }
                YVal::Plain(String::from_utf8_lossy(trim_ws(s.get(start..i)?)).into_owned())
            }
        };
        out.push((key, value));
    }
}

/// A plain scalar the YAML core schema reads as an integer and JSON can write as a number.
fn plain_is_int(s: &str) -> bool {
    let d = s.strip_prefix('-').unwrap_or(s);
    !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()) && (d == "0" || !d.starts_with('0'))
}

/// Turns the parsed value of an `AIGC` key into the JSON text the common layer reads.
///
/// A string value (quoted, plain or block scalar) is returned as stored: it is expected to be a
/// JSON object. A mapping becomes a bare JSON object with the Annex E keys found, in Annex E
/// order (missing keys are left out so the common layer reports them; a plain integer scalar
/// becomes a JSON number so the type error is visible).
fn label_json(v: &YVal, notes: &mut Vec<String>) -> String {
    let map = match v {
        YVal::Quoted(s) | YVal::Plain(s) => return s.clone(),
        YVal::Other => {
            notes.push(
                "markdown: the AIGC front-matter value is neither a mapping nor a string".into(),
            );
            return String::new();
        }
        YVal::Map(m) => m,
    };
    // `AIGC: {AIGC: {…}}` (the Annex E wrapper written as YAML): read the inner mapping.
    if let [(k, inner @ YVal::Map(_))] = map.as_slice()
        && k == "AIGC"
    {
        return label_json(inner, notes);
    }
    let mut parts = Vec::new();
    for key in KEYS {
        let mut found = map.iter().filter(|(k, _)| k == key);
        let Some((_, val)) = found.next() else {
            continue;
        };
        if found.next().is_some() {
            notes.push(format!(
                "markdown: duplicate key {key} in the AIGC front matter; the first is used"
            ));
        }
        let json_val = match val {
            YVal::Quoted(s) => serde_json::Value::String(s.clone()).to_string(),
            YVal::Plain(s) if plain_is_int(s) => s.clone(),
            YVal::Plain(s) => serde_json::Value::String(s.clone()).to_string(),
            _ => {
                notes.push(format!("markdown: AIGC key {key} is not a scalar"));
                continue;
            }
        };
        parts.push(format!(
            "{}:{json_val}",
            serde_json::Value::String(key.into())
        ));
    }
    for (k, _) in map {
        if !KEYS.contains(&k.as_str()) {
            notes.push(format!(
                "markdown: unknown key {k:?} in the AIGC front matter"
            ));
        }
    }
    format!("{{{}}}", parts.join(","))
}

// ---------------------------------------------------------------------------------------------
// Labels in the body (non-canonical)

/// Finds the JSON object starting at the first `{` of `s`, matching braces outside strings.
fn json_object_at(s: &[u8]) -> Option<&[u8]> {
    let start = s.iter().position(|&b| b == b'{')?;
    let mut depth = 0usize;
    let mut in_str = false;
    let mut esc = false;
    for (i, &b) in s.iter().enumerate().skip(start) {
        if in_str {
            match (esc, b) {
                (true, _) => esc = false,
                (false, b'\\') => esc = true,
                (false, b'"') => in_str = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_str = true,
            b'{' => depth += 1,
            b'}' => {
                depth = depth.checked_sub(1)?;
                if depth == 0 {
                    return s.get(start..=i);
                }
            }
            _ => {}
        }
    }
    None
}

fn find(hay: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    hay.get(from..)?
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|p| p + from)
}

/// Labels in the body: HTML comments holding AIGC JSON and `AIGC: {…}` lines outside code fences.
fn body_sites(buf: &[u8], from: usize, sites: &mut Vec<RawSite>) {
    let mut fence: Option<u8> = None;
    let mut in_comment_until = 0usize;
    for l in lines_from(buf, from) {
        if l.start < in_comment_until {
            continue;
        }
        let t = text(buf, l);
        let lead = indent_of(t);
        let body = t.get(lead..).unwrap_or(&[]);
        if lead < 4 && (body.starts_with(b"```") || body.starts_with(b"~~~")) {
            let c = body.first().copied();
            fence = match fence {
                None => c,
                Some(f) if Some(f) == c => None,
                other => other,
            };
            continue;
        }
        if fence.is_some() {
            continue;
        }
        if let Some(open) = find(t, b"<!--", 0) {
            let abs = l.start + open;
            let close = find(buf, b"-->", abs + 4).unwrap_or(buf.len());
            let comment = buf.get(abs + 4..close).unwrap_or(&[]);
            if find(comment, b"AIGC", 0).is_some()
                && let Some(json) = json_object_at(comment)
            {
                sites.push(RawSite {
                    location: "markdown:html-comment".into(),
                    canonical: false,
                    payload: SitePayload::Json(String::from_utf8_lossy(json).into_owned()),
                });
            }
            in_comment_until = close;
            continue;
        }
        if let Some(rest) = body.strip_prefix(b"AIGC:")
            && trim_ws(rest).first() == Some(&b'{')
            && let Some(json) = json_object_at(rest)
        {
            sites.push(RawSite {
                location: "markdown:body-line:AIGC".into(),
                canonical: false,
                payload: SitePayload::Json(String::from_utf8_lossy(json).into_owned()),
            });
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The three entry points

/// Finds the front-matter `AIGC` entry (canonical) and labels in the body (non-canonical).
pub(crate) fn scan(src: &mut dyn ReadSeek) -> Result<Scan, FormatError> {
    let (buf, total) = read_head(src)?;
    let head = parse_head(&buf);
    let mut out = Scan::default();
    if let Some(fm) = &head.fm {
        let blocks = aigc_blocks(fm);
        if blocks.len() > 1 {
            out.notes.push(
                "markdown: the front matter has the AIGC key more than once (invalid YAML)".into(),
            );
        }
        for (range, value_at) in blocks {
            let Some((key_line, _)) = fm.inner.get(range.start) else {
                continue;
            };
            let rest = text(&buf, *key_line).get(value_at..).unwrap_or(&[]);
            let nested: Vec<&[u8]> = fm
                .inner
                .get(range.start + 1..range.end)
                .unwrap_or(&[])
                .iter()
                .map(|(l, _)| text(&buf, *l))
                .collect();
            let value = value_of(rest, &nested, 0);
            let json = label_json(&value, &mut out.notes);
            out.sites.push(RawSite {
                location: "markdown:front-matter:AIGC".into(),
                canonical: true,
                payload: SitePayload::Json(json),
            });
        }
        if fm.inner.iter().any(|(_, k)| matches!(k, TopLine::Key { key, .. } if key != "AIGC" && key.eq_ignore_ascii_case("aigc"))) {
            out.notes.push("markdown: a front-matter key spelled differently from `AIGC` (case) is ignored".into());
        }
    }
    body_sites(&buf, head.body_start(), &mut out.sites);
    if total > buf.len() as u64 {
        out.notes.push(format!(
            "markdown: only the first {} bytes were searched for labels in the body",
            buf.len()
        ));
    }
    Ok(out)
}

/// Single-quotes a YAML scalar (doubling `'`), or double-quotes it with JSON escapes when it holds
/// characters a single-quoted scalar cannot carry literally.
fn yaml_quote(v: &str) -> String {
    if v.chars().any(|c| c.is_control() || c == '\u{feff}') {
        return serde_json::Value::String(v.into()).to_string();
    }
    format!("'{}'", v.replace('\'', "''"))
}

/// The canonical block: `AIGC:` and the seven keys, each line ended with `eol`.
fn label_block(label_json: &str, eol: &[u8]) -> Result<Vec<u8>, FormatError> {
    let v: serde_json::Value = serde_json::from_str(label_json)
        .map_err(|e| FormatError::malformed(format!("label JSON: {e}")))?;
    let obj = v
        .as_object()
        .ok_or_else(|| FormatError::malformed("label JSON is not an object"))?;
    let mut out = b"AIGC:".to_vec();
    out.extend_from_slice(eol);
    let mut write_kv = |k: &str, val: &serde_json::Value| {
        let s = match val {
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        out.extend_from_slice(format!("  {k}: {}", yaml_quote(&s)).as_bytes());
        out.extend_from_slice(eol);
    };
    for k in KEYS {
        if let Some(val) = obj.get(k) {
            write_kv(k, val);
        }
    }
    for (k, val) in obj {
        if !KEYS.contains(&k.as_str()) {
            write_kv(k, val);
        }
    }
    Ok(out)
}

/// Writes the file with one front-matter `AIGC` entry, first in the front matter.
pub(crate) fn write(
    src: &mut dyn ReadSeek,
    dst: &mut dyn WriteSeek,
    label_json: &str,
) -> Result<(), FormatError> {
    let (buf, _) = read_head(src)?;
    let head = parse_head(&buf);
    let block = label_block(label_json, head.eol)?;
    let slice = |a: usize, b: usize| buf.get(a..b).ok_or(FormatError::Truncated("markdown head"));
    dst.write_all(slice(0, head.bom)?)?;
    match &head.fm {
        None => {
            dst.write_all(b"---")?;
            dst.write_all(head.eol)?;
            dst.write_all(&block)?;
            dst.write_all(b"---")?;
            dst.write_all(head.eol)?;
        }
        Some(fm) => {
            dst.write_all(slice(fm.open.start, fm.open.next)?)?;
            dst.write_all(&block)?;
            let drop = aigc_blocks(fm);
            for (i, (l, _)) in fm.inner.iter().enumerate() {
                if drop.iter().any(|(r, _)| r.contains(&i)) {
                    continue;
                }
                dst.write_all(slice(l.start, l.next)?)?;
            }
            dst.write_all(slice(fm.close.start, fm.close.next)?)?;
            if fm.close.next == fm.close.end {
                // The closing line ended the file without a line break: the body is empty, but
                // the front matter still needs its terminator to stay front matter.
                dst.write_all(head.eol)?;
            }
        }
    }
    src.seek(SeekFrom::Start(head.body_start() as u64))?;
    io::copy_rest(src, dst)?;
    Ok(())
}

/// Content selection: the body, i.e. every byte after the front matter's closing line (or after
/// the UTF-8 BOM when there is no front matter), up to the end of the file. Labelling only ever
/// edits the BOM-to-closing-line head, so this is identical for the input and every output.
pub(crate) fn content_digest(
    src: &mut dyn ReadSeek,
    sink: &mut dyn Write,
) -> Result<(), FormatError> {
    let (buf, _) = read_head(src)?;
    let head = parse_head(&buf);
    src.seek(SeekFrom::Start(head.body_start() as u64))?;
    io::copy_rest(src, sink)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::test_support::{SAMPLE_LABEL, SAMPLE_LABEL_2, test_data};
    use proptest::prelude::*;
    use std::io::Cursor;

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

    fn canonical_json(s: &Scan) -> Vec<String> {
        s.sites
            .iter()
            .filter(|x| x.canonical)
            .map(|x| match &x.payload {
                SitePayload::Json(j) => j.clone(),
                SitePayload::Xmp(p) => p.clone(),
            })
            .collect()
    }

    const EXPECTED_BLOCK: &str = "---\nAIGC:\n  Label: '1'\n  ContentProducer: '001191440300708461136T1XGW3'\n  ProduceID: '16b7bc9fc94e20a3_87f202bb'\n  ReservedCode1: ''\n  ContentPropagator: ''\n  PropagateID: ''\n  ReservedCode2: ''\n---\n";

    #[test]
    fn ds16_markdown_roundtrip_one_site() {
        let input = b"# Title\n\nSome text.\n";
        let out = run_write(input, SAMPLE_LABEL);
        assert!(
            out.starts_with(EXPECTED_BLOCK.as_bytes()),
            "{}",
            String::from_utf8_lossy(&out)
        );
        assert!(out.ends_with(input));
        let s = run_scan(&out);
        assert_eq!(s.sites.len(), 1, "{s:?}");
        assert_eq!(canonical_json(&s), vec![SAMPLE_LABEL.to_string()]);
        assert!(run_scan(input).sites.is_empty());
    }

    #[test]
    fn ds16_markdown_payload_byte_identical() {
        let input = "# 标题\n\n正文。\n---\n\nmore\n".as_bytes();
        let out = run_write(input, SAMPLE_LABEL);
        assert_eq!(digest(input), input);
        assert_eq!(digest(&out), digest(input));
        assert!(out.ends_with(input));
    }

    #[test]
    fn ds16_markdown_write_twice_one_site() {
        let input = b"---\ntitle: Hello\ntags:\n- a\n- b\n---\nBody\n";
        let once = run_write(input, SAMPLE_LABEL);
        let twice = run_write(&once, SAMPLE_LABEL_2);
        let s = run_scan(&twice);
        assert_eq!(canonical_json(&s), vec![SAMPLE_LABEL_2.to_string()]);
        assert_eq!(s.sites.len(), 1);
        let text = String::from_utf8(twice.clone()).unwrap();
        assert!(text.starts_with("---\nAIGC:\n  Label: '1'\n"), "{text}");
        assert!(
            text.contains("title: Hello\ntags:\n- a\n- b\n---\nBody\n"),
            "{text}"
        );
        assert_eq!(text.matches("---\n").count(), 2);
        assert_eq!(digest(&twice), b"Body\n");
        assert_eq!(digest(input), b"Body\n");
    }

    #[test]
    fn ds16_markdown_merges_into_existing_front_matter() {
        let input = b"---\ntitle: 'It''s'\nAIGC: {Label: '2', ContentProducer: x}\nlayout: post\n---\n\nBody text\n";
        let before = run_scan(input);
        assert_eq!(
            canonical_json(&before),
            vec![r#"{"Label":"2","ContentProducer":"x"}"#.to_string()]
        );
        let out = run_write(input, SAMPLE_LABEL);
        let text = String::from_utf8(out.clone()).unwrap();
        let expected = format!(
            "{}title: 'It''s'\nlayout: post\n---\n\nBody text\n",
            EXPECTED_BLOCK.trim_end_matches("---\n")
        );
        assert_eq!(text, expected);
        assert_eq!(
            canonical_json(&run_scan(&out)),
            vec![SAMPLE_LABEL.to_string()]
        );
    }

    #[test]
    fn ds16_markdown_replaces_json_string_value() {
        let input = format!("---\nAIGC: '{SAMPLE_LABEL_2}'\nx: 1\n---\nB\n");
        assert_eq!(
            canonical_json(&run_scan(input.as_bytes())),
            vec![SAMPLE_LABEL_2.to_string()]
        );
        let input2 = format!(
            "---\nAIGC: {}\n---\nB\n",
            serde_json::Value::String(SAMPLE_LABEL_2.into())
        );
        assert_eq!(
            canonical_json(&run_scan(input2.as_bytes())),
            vec![SAMPLE_LABEL_2.to_string()]
        );
        let input3 = format!("---\nAIGC: {SAMPLE_LABEL_2}\n---\nB\n");
        assert_eq!(
            canonical_json(&run_scan(input3.as_bytes())),
            vec![SAMPLE_LABEL_2.to_string()],
            "a JSON object is a YAML flow mapping"
        );
        for inp in [input, input2, input3] {
            let out = run_write(inp.as_bytes(), SAMPLE_LABEL);
            let s = run_scan(&out);
            assert_eq!(canonical_json(&s), vec![SAMPLE_LABEL.to_string()]);
            assert!(out.ends_with(b"---\nB\n"));
        }
    }

    #[test]
    fn ds16_markdown_reads_minimax_label() {
        let input = std::fs::read(test_data("markdown-minimax.md")).unwrap();
        let s = run_scan(&input);
        assert_eq!(s.sites.len(), 1);
        let json = &canonical_json(&s)[0];
        let v: serde_json::Value = serde_json::from_str(json).unwrap();
        assert_eq!(v["Label"], "AIGC");
        assert_eq!(v["ContentProducer"], "Minimax Agent AI");
        assert_eq!(v["ProduceID"], "00000000000000000000000000000000");
        assert!(
            v["ReservedCode1"]
                .as_str()
                .unwrap()
                .starts_with("3046022100")
        );
        // Annex E order, whatever the file's order.
        assert!(
            json.starts_with(r#"{"Label":"AIGC","ContentProducer":"Minimax Agent AI","ProduceID""#),
            "{json}"
        );
        let out = run_write(&input, SAMPLE_LABEL);
        assert_eq!(
            canonical_json(&run_scan(&out)),
            vec![SAMPLE_LABEL.to_string()]
        );
        assert_eq!(digest(&out), digest(&input));
        assert!(
            String::from_utf8(out)
                .unwrap()
                .contains("description: A test document\n---\n")
        );
    }

    #[test]
    fn ds16_markdown_crlf_and_bom() {
        let input = b"\xEF\xBB\xBF---\r\ntitle: x\r\n---\r\nBody\r\n";
        let out = run_write(input, SAMPLE_LABEL);
        assert!(out.starts_with(b"\xEF\xBB\xBF---\r\nAIGC:\r\n  Label: '1'\r\n"));
        assert!(out.ends_with(b"  ReservedCode2: ''\r\ntitle: x\r\n---\r\nBody\r\n"));
        assert!(
            !String::from_utf8_lossy(&out)
                .replace("\r\n", "")
                .contains('\n')
        );
        assert_eq!(
            canonical_json(&run_scan(&out)),
            vec![SAMPLE_LABEL.to_string()]
        );
        assert_eq!(digest(&out), b"Body\r\n");

        let plain = b"\xEF\xBB\xBFHello\r\nWorld\r\n";
        let out = run_write(plain, SAMPLE_LABEL);
        assert!(out.starts_with(b"\xEF\xBB\xBF---\r\nAIGC:\r\n"));
        assert!(out.ends_with(b"---\r\nHello\r\nWorld\r\n"));
        assert_eq!(digest(&out), digest(plain));
        assert_eq!(digest(plain), b"Hello\r\nWorld\r\n");
    }

    #[test]
    fn ds16_markdown_thematic_break_is_not_front_matter() {
        for input in [
            &b"---\n\nParagraph\n\n---\n"[..],
            b"---\nJust a sentence without colon\n---\n",
            b"---\n---\n",
            b"---\ntitle: never closed\n",
        ] {
            let out = run_write(input, SAMPLE_LABEL);
            assert!(out.starts_with(EXPECTED_BLOCK.as_bytes()));
            assert_eq!(&out[EXPECTED_BLOCK.len()..], input);
            assert_eq!(digest(&out), digest(input));
            assert_eq!(run_scan(&out).sites.len(), 1);
        }
    }

    #[test]
    fn ds16_markdown_quotes_and_escapes_values() {
        let label = r#"{"Label":"1","ContentProducer":"it's","ProduceID":"a\"b","ReservedCode1":"","ContentPropagator":"","PropagateID":"","ReservedCode2":""}"#;
        let out = run_write(b"x\n", label);
        let text = String::from_utf8(out.clone()).unwrap();
        assert!(text.contains("  ContentProducer: 'it''s'\n"), "{text}");
        assert!(text.contains("  ProduceID: 'a\"b'\n"), "{text}");
        assert_eq!(canonical_json(&run_scan(&out)), vec![label.to_string()]);
    }

    #[test]
    fn ds16_markdown_reads_variants() {
        // Unquoted and double-quoted scalars, comments, a nested wrapper, a numeric Label.
        let input =
            b"---\nAIGC:\n  AIGC:\n    Label: 1 # number\n    ContentProducer: \"a\\u0041\"\n---\n";
        let s = run_scan(input);
        assert_eq!(
            canonical_json(&s),
            vec![r#"{"Label":1,"ContentProducer":"aA"}"#.to_string()]
        );
        // A block scalar holding JSON.
        let input = format!("---\nAIGC: |\n  {SAMPLE_LABEL}\n---\n");
        assert_eq!(
            canonical_json(&run_scan(input.as_bytes())),
            vec![SAMPLE_LABEL.to_string()]
        );
        // Labels in the body are reported, not canonical, and code fences are skipped.
        let input = format!(
            "Text\n<!-- AIGC {SAMPLE_LABEL} -->\n```\nAIGC: {{\"Label\":\"9\"}}\n```\nAIGC: {SAMPLE_LABEL_2}\n"
        );
        let s = run_scan(input.as_bytes());
        assert_eq!(s.sites.len(), 2, "{s:?}");
        assert!(s.sites.iter().all(|x| !x.canonical));
        assert_eq!(s.sites[0].payload, SitePayload::Json(SAMPLE_LABEL.into()));
        assert_eq!(s.sites[1].payload, SitePayload::Json(SAMPLE_LABEL_2.into()));
    }

    #[test]
    fn markdown_non_utf8_and_empty_input_are_fine() {
        assert!(run_scan(b"").sites.is_empty());
        let out = run_write(b"", SAMPLE_LABEL);
        assert_eq!(out, EXPECTED_BLOCK.as_bytes());
        let junk = b"---\n\xff\xfe: \xff\n---\n\xff";
        let out = run_write(junk, SAMPLE_LABEL);
        assert_eq!(digest(&out), digest(junk));
        assert_eq!(
            canonical_json(&run_scan(&out)),
            vec![SAMPLE_LABEL.to_string()]
        );
    }

    proptest! {
        #[test]
        fn markdown_scan_never_panics(data in proptest::collection::vec(any::<u8>(), 0..2048)) {
            let _ = scan(&mut Cursor::new(data.clone()));
            let _ = content_digest(&mut Cursor::new(data), &mut Vec::new());
        }

        #[test]
        fn markdown_scan_survives_mutations(cut in 0usize..400, flips in proptest::collection::vec((0usize..400, any::<u8>()), 0..8)) {
            let mut data = run_write(b"---\ntitle: 'x'\nAIGC: {a: [b}\n---\nbody\n", SAMPLE_LABEL);
            for (i, b) in flips {
                if let Some(x) = data.get_mut(i) { *x = b; }
            }
            data.truncate(cut.min(data.len()));
            let _ = scan(&mut Cursor::new(data.clone()));
            let mut dst = Cursor::new(Vec::new());
            if write(&mut Cursor::new(data.clone()), &mut dst, SAMPLE_LABEL).is_ok() {
                let out = dst.into_inner();
                let s = scan(&mut Cursor::new(out.clone())).unwrap();
                prop_assert_eq!(s.sites.iter().filter(|x| x.canonical).count(), 1);
                let mut a = Vec::new();
                let mut b = Vec::new();
                content_digest(&mut Cursor::new(data), &mut a).unwrap();
                content_digest(&mut Cursor::new(out), &mut b).unwrap();
                prop_assert_eq!(a, b);
            }
        }
    }
}
