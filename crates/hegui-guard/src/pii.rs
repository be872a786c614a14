//! Personal-information detectors (GAI-11): resident ID (GB 11643 check digit), mainland mobile,
//! bank card (Luhn), unified social credit code (GB 32100) and e-mail, with masking.
//!
//! The scanner is sans-IO and character-at-a-time so the streaming matcher can hold back exactly
//! the characters a number could still grow into.
//!
//! # What counts as a number
//!
//! * Digits are ASCII `0-9`, full-width `０-９` and the Chinese numerals `〇零一二三四五六七八九`
//!   (plus `幺` = 1 and `○` = 0, as people read phone numbers and years); `X`, `x` or `Ｘ` directly
//!   after a digit closes the run and may be the check character of a resident ID.
//! * Between two digits one separator may stand: space, U+00A0, U+3000, `-`, `－` or a zero-width
//!   character (U+200B–U+200D, U+2060, U+FEFF). Two separators in a row, or any other character,
//!   end the run; separators at either end are not part of it.
//! * A run is judged as a whole: 15 digits in a row never yield an 11-digit phone number. The
//!   space-like separators (space, U+00A0, U+3000) split a run into groups, and when the whole run
//!   is not a number, group-aligned pieces are tried, leftmost first and longest first: in
//!   `13800138000 13900139000` both phone numbers are found, in `13800138000139` none.
//! * 18 characters with a valid GB 11643 check digit, a first digit 1–9 and a real birth date in
//!   1900–2100 are a [`PiiKind::ResidentId`]; 11 digits `1[3-9]…` are a [`PiiKind::Mobile`]
//!   (also with `86`/`+86`/`0086` in front: the span includes the prefix); 16–19 digits starting
//!   with 62, 3, 4 or 5 and passing Luhn are a [`PiiKind::BankCard`]; a valid ID wins over a card.
//! * A [`PiiKind::Uscc`] is an ASCII alphanumeric run of exactly 18 characters (either case) in the
//!   shape `[1-9ANY][0-9]{7}` + 10 characters of the GB 32100 alphabet (no I, O, Z, S, V) with a
//!   valid check character; when it also validates as a resident ID it is reported as the ID.
//! * An [`PiiKind::Email`] is `local@domain.tld` (or `＠`), local part `[A-Za-z0-9._%+-]` (at most
//!   64 characters), domain labels `[A-Za-z0-9-]` separated by dots, TLD of at least 2 letters.
//!   A number in the local part is covered by the e-mail finding; one in the domain stays its own.
//!
//! Single Chinese numerals in ordinary text (`一个`, `三三两两`) never form a number, because no
//! detector accepts fewer than 11 digits.

use std::mem;

/// What kind of personal information.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PiiKind {
    /// 居民身份证号码 (18 characters, GB 11643 check digit).
    ResidentId,
    /// 手机号码 (11 digits, 1[3-9]…, optional +86).
    Mobile,
    /// 银行卡号 (16–19 digits, Luhn).
    BankCard,
    /// 统一社会信用代码 (18 characters, GB 32100 check character).
    Uscc,
    /// 电子邮箱.
    Email,
}

impl PiiKind {
    /// Taxonomy id (`P1` … `P5`).
    pub fn category(self) -> &'static str {
        match self {
            PiiKind::ResidentId => "P1",
            PiiKind::Mobile => "P2",
            PiiKind::BankCard => "P3",
            PiiKind::Uscc => "P4",
            PiiKind::Email => "P5",
        }
    }

    /// Rule id used in findings.
    pub fn rule(self) -> &'static str {
        match self {
            PiiKind::ResidentId => "pii.resident_id",
            PiiKind::Mobile => "pii.mobile",
            PiiKind::BankCard => "pii.bank_card",
            PiiKind::Uscc => "pii.uscc",
            PiiKind::Email => "pii.email",
        }
    }

    /// Which finding wins when two kinds claim exactly the same span.
    fn priority(self) -> u8 {
        match self {
            PiiKind::ResidentId => 4,
            PiiKind::Uscc => 3,
            PiiKind::BankCard => 2,
            PiiKind::Mobile => 1,
            PiiKind::Email => 0,
        }
    }
}

/// One detected item, in characters of the original text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PiiMatch {
    /// Start character.
    pub start: usize,
    /// End character (exclusive).
    pub end: usize,
    /// Kind.
    pub kind: PiiKind,
}

// ------------------------------------------------------------------------------------------------
// Limits

/// Most digits in any number we detect (a 19-digit bank card).
const MAX_DIGITS: usize = 19;
/// Digits the number buffer holds: never more than `MAX_DIGITS` between two pushes, one more
/// while a push is deciding.
const DIGIT_BUF: usize = MAX_DIGITS + 1;
/// Groups the number buffer holds (every group has at least one digit).
const GROUP_BUF: usize = DIGIT_BUF + 1;
/// Longest e-mail local part (RFC 5321); a longer run is cut to its last 64 characters.
const MAX_LOCAL: usize = 64;
/// Longest e-mail domain (RFC 1035).
const MAX_DOMAIN: u32 = 253;
/// Length of a resident ID and of a USCC.
const CODE_LEN: usize = 18;

// ------------------------------------------------------------------------------------------------
// Character classes
//
// Every character that matters outside ASCII is one of 34 code points; they sit in a 64-slot
// perfect hash, so classifying a CJK character is one multiply, one load and one comparison with
// no data-dependent branch (a `match` over scattered code points mispredicts on running text).

/// Class of a character: a digit value `0..=9` or one of these.
const SEP_SPACE: u8 = 10;
const SEP_OTHER: u8 = 11;
const X_CHAR: u8 = 12;
const PLUS: u8 = 13;
const AT: u8 = 14;
const OTHER: u8 = 15;

/// The non-ASCII characters with a class other than [`OTHER`].
const SPECIAL: [(char, u8); 34] = [
    ('０', 0),
    ('１', 1),
    ('２', 2),
    ('３', 3),
    ('４', 4),
    ('５', 5),
    ('６', 6),
    ('７', 7),
    ('８', 8),
    ('９', 9),
    ('〇', 0),
    ('零', 0),
    ('○', 0),
    ('一', 1),
    ('幺', 1),
    ('二', 2),
    ('三', 3),
    ('四', 4),
    ('五', 5),
    ('六', 6),
    ('七', 7),
    ('八', 8),
    ('九', 9),
    ('\u{a0}', SEP_SPACE),
    ('\u{3000}', SEP_SPACE),
    ('－', SEP_OTHER),
    ('\u{200b}', SEP_OTHER),
    ('\u{200c}', SEP_OTHER),
    ('\u{200d}', SEP_OTHER),
    ('\u{2060}', SEP_OTHER),
    ('\u{feff}', SEP_OTHER),
    ('Ｘ', X_CHAR),
    ('＋', PLUS),
    ('＠', AT),
];

/// Multiplier of the perfect hash over [`SPECIAL`] (found by search; the table build below
/// fails to compile on a collision).
const HASH_MUL: u32 = 0x42f8_03f5;

#[inline]
const fn slot(c: u32) -> usize {
    (c.wrapping_mul(HASH_MUL) >> 26) as usize
}

/// `(code point, class)` per slot; an empty slot holds code point 0, which never reaches it.
const SPECIAL_TABLE: [(u32, u8); 64] = {
    let mut t = [(0u32, OTHER); 64];
    let mut i = 0;
    while i < SPECIAL.len() {
        let (c, class) = SPECIAL[i];
        let s = slot(c as u32);
        assert!(t[s].0 == 0, "perfect hash collision");
        t[s] = (c as u32, class);
        i += 1;
    }
    t
};

/// Class of each ASCII character.
const ASCII_CLASS: [u8; 128] = {
    let mut t = [OTHER; 128];
    let mut d = 0;
    while d < 10 {
        t[b'0' as usize + d] = d as u8;
        d += 1;
    }
    t[b' ' as usize] = SEP_SPACE;
    t[b'-' as usize] = SEP_OTHER;
    t[b'X' as usize] = X_CHAR;
    t[b'x' as usize] = X_CHAR;
    t[b'+' as usize] = PLUS;
    t[b'@' as usize] = AT;
    t
};

/// Class of `c`: digit value `0..=9`, [`SEP_SPACE`], [`SEP_OTHER`], [`X_CHAR`], [`PLUS`], [`AT`]
/// or [`OTHER`].
#[inline]
fn class(c: char) -> u8 {
    let u = c as u32;
    if u < 128 {
        ASCII_CLASS[u as usize]
    } else {
        let (k, class) = SPECIAL_TABLE[slot(u)];
        if k == u { class } else { OTHER }
    }
}

/// A separator allowed between two digits; `Some(true)` for the space-like ones that split groups.
#[inline]
fn separator(c: char) -> Option<bool> {
    match class(c) {
        SEP_SPACE => Some(true),
        SEP_OTHER => Some(false),
        _ => None,
    }
}

#[inline]
fn is_plus(c: char) -> bool {
    c == '+' || c == '＋'
}

#[inline]
fn is_at(c: char) -> bool {
    c == '@' || c == '＠'
}

/// ASCII character allowed in an e-mail local part.
#[inline]
fn is_local_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '%' | '+' | '-')
}

/// Whether `c` can begin anything when no candidate is open: the scanner's fast path.
#[inline]
fn may_start(c: char) -> bool {
    let u = c as u32;
    if u < 128 {
        is_local_char(c)
    } else {
        let (k, class) = SPECIAL_TABLE[slot(u)];
        k == u && (class <= 9 || class == PLUS)
    }
}

/// A character that masking replaces (everything but separators and `+`).
fn is_significant(c: char) -> bool {
    separator(c).is_none() && !is_plus(c)
}

// ------------------------------------------------------------------------------------------------
// Validators

/// GB 11643 weights `2^(18-i) mod 11`.
const ID_WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];

/// A resident ID: 17 digits `body` and the check value `check` (10 for `X`).
fn resident_id_ok(body: &[u8], check: u8) -> bool {
    if body.len() != 17 || body[0] == 0 {
        return false;
    }
    let sum: u32 = body
        .iter()
        .zip(ID_WEIGHTS)
        .map(|(&d, w)| u32::from(d) * w)
        .sum();
    if (12 - sum % 11) % 11 != u32::from(check) {
        return false;
    }
    let num = |r: std::ops::Range<usize>| body[r].iter().fold(0u32, |a, &d| a * 10 + u32::from(d));
    date_ok(num(6..10), num(10..12), num(12..14))
}

fn date_ok(year: u32, month: u32, day: u32) -> bool {
    if !(1900..=2100).contains(&year) {
        return false;
    }
    let leap = year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400));
    let days = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return false,
    };
    (1..=days).contains(&day)
}

/// `1[3-9]` + 9 digits.
fn mobile_ok(d: &[u8]) -> bool {
    d.len() == 11 && d[0] == 1 && d[1] >= 3
}

/// Issuer prefix (62, 3, 4, 5) and Luhn.
fn card_ok(d: &[u8]) -> bool {
    let prefix = matches!(d, [6, 2, ..] | [3..=5, ..]);
    prefix && luhn_ok(d)
}

fn luhn_ok(d: &[u8]) -> bool {
    let sum: u32 = d
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &x)| {
            let x = u32::from(x);
            if i % 2 == 1 {
                let y = x * 2;
                if y > 9 { y - 9 } else { y }
            } else {
                x
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

/// The GB 32100 alphabet; a character's value is its index.
const USCC_CHARSET: &[u8; 31] = b"0123456789ABCDEFGHJKLMNPQRTUWXY";
/// GB 32100 weights `3^(i-1) mod 31`.
const USCC_WEIGHTS: [u32; 17] = [
    1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28,
];
/// Marks an ASCII character outside the alphabet.
const NOT_USCC: u8 = u8::MAX;
/// Value of each ASCII character in the GB 32100 alphabet (either case), or [`NOT_USCC`].
const USCC_VALUE: [u8; 128] = {
    let mut t = [NOT_USCC; 128];
    let mut i = 0;
    while i < USCC_CHARSET.len() {
        let c = USCC_CHARSET[i];
        t[c as usize] = i as u8;
        t[c.to_ascii_lowercase() as usize] = i as u8;
        i += 1;
    }
    t
};
/// Value of `X` in the GB 32100 alphabet.
const USCC_X: u8 = 29;

/// Shape `[1-9ANY][0-9]{7}…` and the GB 32100 check character.
fn uscc_ok(v: &[u8; CODE_LEN]) -> bool {
    let authority_ok = matches!(v[0], 1..=9 | 10 | 22 | 30); // 1-9, A, N, Y
    if !authority_ok || v[1..8].iter().any(|&x| x > 9) {
        return false;
    }
    let sum: u32 = v[..17]
        .iter()
        .zip(USCC_WEIGHTS)
        .map(|(&x, w)| u32::from(x) * w)
        .sum();
    (31 - sum % 31) % 31 == u32::from(v[17])
}

/// Whether the 18 GB 32100 values spell a valid resident ID.
fn uscc_is_resident_id(v: &[u8; CODE_LEN]) -> bool {
    let check = match v[17] {
        x @ 0..=9 => x,
        USCC_X => 10,
        _ => return false,
    };
    v[..17].iter().all(|&x| x <= 9) && resident_id_ok(&v[..17], check)
}

// ------------------------------------------------------------------------------------------------
// Scanner internals

/// A finding on its way out. `at` is the `@` of an e-mail (the end for other kinds): an e-mail
/// covers numbers in its local part only.
#[derive(Debug, Clone, Copy)]
struct Found {
    m: PiiMatch,
    at: usize,
}

impl Found {
    fn number(start: usize, end: usize, kind: PiiKind) -> Self {
        Found {
            m: PiiMatch { start, end, kind },
            at: end,
        }
    }

    /// Whether `self` makes `other` redundant.
    fn covers(&self, other: &Found) -> bool {
        let end = if self.m.kind == PiiKind::Email && other.m.kind != PiiKind::Email {
            self.at
        } else {
            self.m.end
        };
        other.m.start >= self.m.start && other.m.end <= end
    }

    fn same_span(&self, other: &Found) -> bool {
        self.m.start == other.m.start && self.m.end == other.m.end
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum NumState {
    /// Not in a run.
    Idle,
    /// Last character was a digit.
    Digit,
    /// Last character was a separator after a digit.
    Sep { space: bool },
}

/// A group of digits between space-like separators.
#[derive(Debug, Clone, Copy, Default)]
struct Group {
    /// Original index of its first digit.
    start: usize,
    /// Original index after its last digit.
    end: usize,
    /// Offset of its first digit in `NumberRun::digits`.
    off: u8,
}

/// What a window of digits is.
struct Hit {
    kind: PiiKind,
    /// The `+` before the run belongs to the span.
    plus: bool,
    /// The closing `X` belongs to the span.
    x: bool,
}

/// The digit-run tracker. Holds the undecided groups of the current run: never more than
/// [`MAX_DIGITS`] digits, because once the buffered digits exceed that, the first group's
/// windows are all known and it is decided and dropped.
#[derive(Debug, Clone)]
struct NumberRun {
    state: NumState,
    /// The current group has more than `MAX_DIGITS` digits: ignore it up to the next space.
    skipping: bool,
    /// The first buffered group starts the run and a `+` precedes it.
    prefix_plus: bool,
    len: usize,
    digits: [u8; DIGIT_BUF],
    ngroups: usize,
    groups: [Group; GROUP_BUF],
}

impl Default for NumberRun {
    fn default() -> Self {
        NumberRun {
            state: NumState::Idle,
            skipping: false,
            prefix_plus: false,
            len: 0,
            digits: [0; DIGIT_BUF],
            ngroups: 0,
            groups: [Group::default(); GROUP_BUF],
        }
    }
}

impl NumberRun {
    fn digit(&mut self, d: u8, idx: usize, plus_before: bool, found: &mut Vec<Found>) {
        match self.state {
            NumState::Idle => {
                self.len = 0;
                self.ngroups = 0;
                self.skipping = false;
                self.prefix_plus = plus_before;
                self.open_group(idx);
            }
            NumState::Sep { space: true } => {
                self.skipping = false;
                self.open_group(idx);
            }
            NumState::Digit | NumState::Sep { space: false } => {}
        }
        self.state = NumState::Digit;
        if self.skipping || self.ngroups == 0 {
            return;
        }
        let g = self.ngroups - 1;
        let group_off = usize::from(self.groups[g].off);
        if self.len >= DIGIT_BUF || self.len - group_off >= MAX_DIGITS {
            // The current group grows past any number: no window can contain it. The windows
            // before it are final now.
            self.ngroups = g;
            self.len = group_off;
            self.decide_all(None, found);
            self.skipping = true;
            self.prefix_plus = false;
            return;
        }
        self.digits[self.len] = d;
        self.len += 1;
        self.groups[g].end = idx + 1;
        // Windows containing the growing last group are too long: the first group is decidable.
        while self.len > MAX_DIGITS && self.ngroups > 1 {
            self.decide_first(self.ngroups - 1, None, found);
        }
    }

    fn open_group(&mut self, idx: usize) {
        if self.ngroups < GROUP_BUF {
            self.groups[self.ngroups] = Group {
                start: idx,
                end: idx,
                off: self.len as u8,
            };
            self.ngroups += 1;
        }
    }

    fn sep(&mut self, space: bool, found: &mut Vec<Found>) {
        match self.state {
            NumState::Digit => self.state = NumState::Sep { space },
            NumState::Sep { .. } => self.end_run(None, found),
            NumState::Idle => {}
        }
    }

    /// `X` at `idx`: closes the run, as the ID check character if directly after a digit.
    fn x(&mut self, idx: usize, found: &mut Vec<Found>) {
        match self.state {
            NumState::Digit => self.end_run(Some(idx), found),
            NumState::Sep { .. } => self.end_run(None, found),
            NumState::Idle => {}
        }
    }

    fn end_run(&mut self, x: Option<usize>, found: &mut Vec<Found>) {
        if self.state != NumState::Idle {
            self.decide_all(x, found);
            self.state = NumState::Idle;
        }
    }

    fn decide_all(&mut self, x: Option<usize>, found: &mut Vec<Found>) {
        while self.ngroups > 0 {
            self.decide_first(self.ngroups, x, found);
        }
        self.len = 0;
    }

    /// Decides the windows starting at the first group and ending before group `limit`: the
    /// longest number wins; then drops the groups it used (or just the first).
    fn decide_first(&mut self, limit: usize, x: Option<usize>, found: &mut Vec<Found>) {
        let mut used = 1;
        for j in (0..limit.min(self.ngroups)).rev() {
            let n = if j + 1 < self.ngroups {
                usize::from(self.groups[j + 1].off)
            } else {
                self.len
            };
            if n > MAX_DIGITS {
                continue;
            }
            if n < 11 {
                break;
            }
            let xj = if j + 1 == self.ngroups { x } else { None };
            if let Some(hit) = classify(&self.digits[..n], xj.is_some(), self.prefix_plus) {
                let start = self.groups[0].start - usize::from(hit.plus);
                let end = match xj {
                    Some(xi) if hit.x => xi + 1,
                    _ => self.groups[j].end,
                };
                found.push(Found::number(start, end, hit.kind));
                used = j + 1;
                break;
            }
        }
        self.drop_groups(used);
    }

    fn drop_groups(&mut self, k: usize) {
        self.prefix_plus = false;
        if k >= self.ngroups {
            self.ngroups = 0;
            self.len = 0;
            return;
        }
        let off = self.groups[k].off;
        self.digits.copy_within(usize::from(off)..self.len, 0);
        self.len -= usize::from(off);
        self.groups.copy_within(k..self.ngroups, 0);
        self.ngroups -= k;
        for g in &mut self.groups[..self.ngroups] {
            g.off -= off;
        }
    }

    /// Earliest index an undecided window could include.
    fn pending(&self) -> Option<usize> {
        (self.ngroups > 0).then(|| self.groups[0].start - usize::from(self.prefix_plus))
    }
}

/// Classifies one window of digits; `x`: an `X` follows it; `plus_ok`: a `+` precedes it.
fn classify(d: &[u8], x: bool, plus_ok: bool) -> Option<Hit> {
    let hit = |kind, plus, x| Some(Hit { kind, plus, x });
    let n = d.len();
    if x && n == 17 && resident_id_ok(d, 10) {
        return hit(PiiKind::ResidentId, false, true);
    }
    match n {
        11 if mobile_ok(d) => hit(PiiKind::Mobile, false, false),
        13 if d[..2] == [8, 6] && mobile_ok(&d[2..]) => hit(PiiKind::Mobile, plus_ok, false),
        15 if d[..4] == [0, 0, 8, 6] && mobile_ok(&d[4..]) => hit(PiiKind::Mobile, false, false),
        18 if resident_id_ok(&d[..17], d[17]) => hit(PiiKind::ResidentId, false, false),
        16..=19 if card_ok(d) => hit(PiiKind::BankCard, false, false),
        _ => None,
    }
}

/// The USCC tracker: the current ASCII alphanumeric run while it may still be a code.
#[derive(Debug, Clone, Default)]
struct CodeRun {
    active: bool,
    alive: bool,
    start: usize,
    len: usize,
    vals: [u8; CODE_LEN],
}

impl CodeRun {
    fn step(&mut self, c: char, idx: usize, found: &mut Vec<Found>) {
        if c.is_ascii_alphanumeric() {
            if !self.active {
                self.active = true;
                self.alive = true;
                self.start = idx;
                self.len = 0;
            }
            if self.alive {
                let v = USCC_VALUE[c as usize];
                if v == NOT_USCC || self.len == CODE_LEN {
                    self.alive = false;
                } else {
                    self.vals[self.len] = v;
                    self.len += 1;
                }
            }
        } else if self.active {
            self.end(found);
        }
    }

    fn end(&mut self, found: &mut Vec<Found>) {
        if self.alive
            && self.len == CODE_LEN
            && uscc_ok(&self.vals)
            && !uscc_is_resident_id(&self.vals)
        {
            let end = self.start + CODE_LEN;
            found.push(Found::number(self.start, end, PiiKind::Uscc));
        }
        self.active = false;
        self.alive = false;
    }

    fn pending(&self) -> Option<usize> {
        (self.active && self.alive).then_some(self.start)
    }
}

/// The domain part of an e-mail being read.
#[derive(Debug, Clone, Copy)]
struct Domain {
    start: usize,
    at: usize,
    labels: u32,
    label_len: u32,
    label_alpha: bool,
    len: u32,
    /// End of the longest valid domain so far.
    valid_end: Option<usize>,
}

impl Domain {
    fn close_label(&mut self, idx: usize) {
        if self.label_len > 0 {
            if self.labels >= 1 && self.label_alpha && self.label_len >= 2 {
                self.valid_end = Some(idx);
            }
            self.labels += 1;
            self.label_len = 0;
            self.label_alpha = true;
        }
    }
}

/// The e-mail tracker: the current local-part run, and the domain after an `@`.
#[derive(Debug, Clone, Default)]
struct Mail {
    local: Option<usize>,
    /// End of the last e-mail: the next local part starts no earlier.
    floor: usize,
    dom: Option<Domain>,
}

impl Mail {
    fn step(&mut self, c: char, at: bool, idx: usize, found: &mut Vec<Found>) {
        if let Some(d) = &mut self.dom {
            let ends = if (c.is_ascii_alphanumeric() || c == '-') && d.len < MAX_DOMAIN {
                d.label_len += 1;
                d.label_alpha &= c.is_ascii_alphabetic();
                d.len += 1;
                false
            } else if c == '.' && d.label_len > 0 && d.len < MAX_DOMAIN {
                d.close_label(idx);
                d.len += 1;
                false
            } else {
                true
            };
            if ends {
                self.end_domain(idx, found);
            }
        }
        if is_local_char(c) {
            let lo = self.floor.max((idx + 1).saturating_sub(MAX_LOCAL));
            self.local = Some(self.local.unwrap_or(idx).max(lo));
        } else {
            if at
                && let Some(s) = self.local.map(|s| s.max(self.floor))
                && s < idx
            {
                self.dom = Some(Domain {
                    start: s,
                    at: idx,
                    labels: 0,
                    label_len: 0,
                    label_alpha: true,
                    len: 0,
                    valid_end: None,
                });
            }
            self.local = None;
        }
    }

    fn end_domain(&mut self, idx: usize, found: &mut Vec<Found>) {
        if let Some(mut d) = self.dom.take() {
            d.close_label(idx);
            if let Some(end) = d.valid_end {
                found.push(Found {
                    m: PiiMatch {
                        start: d.start,
                        end,
                        kind: PiiKind::Email,
                    },
                    at: d.at,
                });
                self.floor = end;
            }
        }
    }

    fn pending(&self) -> Option<usize> {
        match self.dom {
            Some(d) => Some(d.start),
            None => self.local,
        }
    }
}

fn min_opt(a: Option<usize>, b: Option<usize>) -> Option<usize> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, None) => a,
        (None, b) => b,
    }
}

// ------------------------------------------------------------------------------------------------
// The scanner

/// Sans-IO PII scanner: feed the original text one character at a time, get back matches as soon
/// as they are final, in order of their start.
///
/// While nothing is open (no digit run, no ASCII word that may be an e-mail local part or a USCC)
/// a character that cannot start one costs a couple of comparisons. The only buffer is the
/// current digit run's undecided groups (at most 19 digits, fixed size); nothing is allocated per
/// character.
///
/// ```text
/// let mut s = PiiScanner::new();
/// let mut out = Vec::new();
/// for c in chunk.chars() { s.push(c, &mut out); }
/// // text before s.pending_from() can be released; `out` holds the final matches so far
/// s.finish(&mut out);
/// ```
#[derive(Debug, Clone, Default)]
pub struct PiiScanner {
    /// Index of the next character.
    idx: usize,
    /// Some tracker is open or a finding is held: take the slow path.
    busy: bool,
    /// Index of the previous character when it was `+`.
    plus_at: Option<usize>,
    num: NumberRun,
    code: CodeRun,
    mail: Mail,
    /// Findings of this step, before settling.
    scratch: Vec<Found>,
    /// Final findings waiting for an open candidate that may cover or precede them.
    held: Vec<Found>,
    /// The last finding reported.
    last_out: Option<Found>,
}

impl PiiScanner {
    /// A scanner at the start of a text.
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds the next character of the ORIGINAL text (index = number of chars fed before).
    /// Matches that became final are appended to `out`, ordered by start.
    #[inline]
    pub fn push(&mut self, c: char, out: &mut Vec<PiiMatch>) {
        let idx = self.idx;
        self.idx += 1;
        if !self.busy && !may_start(c) {
            return;
        }
        self.step(c, idx, out);
    }

    fn step(&mut self, c: char, idx: usize, out: &mut Vec<PiiMatch>) {
        let plus_before = self.plus_at.is_some();
        let k = class(c);
        match k {
            0..=9 => self.num.digit(k, idx, plus_before, &mut self.scratch),
            SEP_SPACE => self.num.sep(true, &mut self.scratch),
            SEP_OTHER => self.num.sep(false, &mut self.scratch),
            X_CHAR => self.num.x(idx, &mut self.scratch),
            _ => self.num.end_run(None, &mut self.scratch),
        }
        self.code.step(c, idx, &mut self.scratch);
        self.mail.step(c, k == AT, idx, &mut self.scratch);
        self.plus_at = (k == PLUS).then_some(idx);
        self.settle(out);
    }

    /// End of text: flush what is pending. The scanner is then ready for a new text (indices
    /// start again at 0).
    pub fn finish(&mut self, out: &mut Vec<PiiMatch>) {
        self.num.end_run(None, &mut self.scratch);
        self.code.end(&mut self.scratch);
        self.mail.end_domain(self.idx, &mut self.scratch);
        self.mail.local = None;
        self.plus_at = None;
        self.settle(out);
        debug_assert!(self.held.is_empty());
        self.idx = 0;
        self.mail.floor = 0;
        self.last_out = None;
        self.busy = false;
    }

    /// Earliest original char index that a not-yet-reported match could still include (None
    /// when nothing pending). Text before it can be released.
    pub fn pending_from(&self) -> Option<usize> {
        let held = self.held.first().map(|f| f.m.start);
        min_opt(min_opt(self.open_from(), held), self.plus_at)
    }

    /// Earliest start of an open candidate.
    fn open_from(&self) -> Option<usize> {
        min_opt(
            min_opt(self.num.pending(), self.code.pending()),
            self.mail.pending(),
        )
    }

    /// Moves this step's findings into `held`, then reports those no open candidate can cover
    /// or precede.
    fn settle(&mut self, out: &mut Vec<PiiMatch>) {
        if !self.scratch.is_empty() {
            let mut fresh = mem::take(&mut self.scratch);
            for f in fresh.drain(..) {
                self.hold(f);
            }
            self.scratch = fresh;
        }
        if !self.held.is_empty() {
            let open = self.open_from();
            let n = self
                .held
                .partition_point(|h| open.is_none_or(|o| h.m.start < o));
            for f in self.held.drain(..n) {
                out.push(f.m);
                self.last_out = Some(f);
            }
        }
        self.busy = self.num.state != NumState::Idle
            || self.code.active
            || self.mail.local.is_some()
            || self.mail.dom.is_some()
            || self.plus_at.is_some()
            || !self.held.is_empty();
    }

    fn hold(&mut self, f: Found) {
        if self.last_out.is_some_and(|l| l.covers(&f)) {
            return;
        }
        let beaten = |h: &Found| {
            h.covers(&f) && !(h.same_span(&f) && f.m.kind.priority() > h.m.kind.priority())
        };
        if self.held.iter().any(beaten) {
            return;
        }
        self.held.retain(|h| !f.covers(h));
        let pos = self.held.partition_point(|h| h.m.start <= f.m.start);
        self.held.insert(pos, f);
    }
}

// ------------------------------------------------------------------------------------------------
// Batch API and masking

/// Every PII item in `text`, sorted by start (character offsets).
pub fn detect(text: &str) -> Vec<PiiMatch> {
    scan(text.chars())
}

fn scan(chars: impl Iterator<Item = char>) -> Vec<PiiMatch> {
    let mut s = PiiScanner::new();
    let mut out = Vec::new();
    for c in chars {
        s.push(c, &mut out);
    }
    s.finish(&mut out);
    out
}

/// Masks one detected span with `*`, keeping the same number of characters. Separators and `+`
/// stay as they are. Mobile: the prefix (`+86`), the first 3 and the last 4 digits stay
/// (`138****5678`); resident ID: first 6 and last 4 (`110105********002X`); bank card: last 4;
/// USCC: first 2 and last 2; e-mail: the first character of the local part and the domain
/// (`z***@example.com`). A span too short for its rule is masked completely.
pub fn mask_span(kind: PiiKind, original: &str) -> String {
    let mut chars: Vec<char> = original.chars().collect();
    mask_chars(kind, &mut chars);
    chars.into_iter().collect()
}

fn mask_chars(kind: PiiKind, chars: &mut [char]) {
    let significant = chars.iter().filter(|&&c| is_significant(c)).count();
    let (first, last) = match kind {
        PiiKind::Email => {
            let at = chars.iter().position(|&c| is_at(c)).unwrap_or(chars.len());
            for c in chars.iter_mut().take(at).skip(1) {
                *c = '*';
            }
            return;
        }
        PiiKind::Mobile => (significant.saturating_sub(11) + 3, 4),
        PiiKind::ResidentId => (6, 4),
        PiiKind::BankCard => (0, 4),
        PiiKind::Uscc => (2, 2),
    };
    let (first, last) = if first + last >= significant {
        (0, 0)
    } else {
        (first, last)
    };
    mask_significant(chars, first, significant - last);
}

/// Replaces significant characters number `from..to` (counting significant ones only).
fn mask_significant(chars: &mut [char], from: usize, to: usize) {
    let mut k = 0;
    for c in chars.iter_mut() {
        if is_significant(*c) {
            if k >= from && k < to {
                *c = '*';
            }
            k += 1;
        }
    }
}

/// Masks every detected span of `text` ([`mask_span`] rules; overlapping spans mask the union).
/// Digits a rule keeps could join neighbouring digits into a new number; masking repeats until
/// no resident ID, mobile, bank card or USCC is detectable in the result.
pub fn mask(text: &str) -> String {
    let found = detect(text);
    if found.is_empty() {
        return text.to_owned();
    }
    let mut chars: Vec<char> = text.chars().collect();
    for m in &found {
        mask_chars(m.kind, &mut chars[m.start..m.end]);
    }
    // Each later round masks at least one more character, so this ends.
    for round in 0.. {
        let again: Vec<PiiMatch> = scan(chars.iter().copied())
            .into_iter()
            .filter(|m| m.kind != PiiKind::Email)
            .collect();
        if again.is_empty() {
            break;
        }
        for m in again {
            let span = &mut chars[m.start..m.end];
            if round < 2 {
                mask_chars(m.kind, span);
            } else {
                mask_significant(span, 0, usize::MAX);
            }
        }
    }
    chars.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// (kind, matched text) of every finding.
    fn found(text: &str) -> Vec<(PiiKind, String)> {
        let chars: Vec<char> = text.chars().collect();
        detect(text)
            .into_iter()
            .map(|m| (m.kind, chars[m.start..m.end].iter().collect()))
            .collect()
    }

    fn assert_one(text: &str, kind: PiiKind, span: &str) {
        assert_eq!(found(text), vec![(kind, span.to_string())], "in {text:?}");
    }

    /// GB 11643 check character, written independently of the scanner (spec §1.1 table).
    fn id_check(body: &[u8]) -> u8 {
        let w = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
        let s: u32 = body.iter().zip(w).map(|(&d, w)| u32::from(d) * w).sum();
        [1, 0, 10, 9, 8, 7, 6, 5, 4, 3, 2][(s % 11) as usize]
    }

    /// Appends the Luhn digit.
    fn luhn_complete(prefix: &[u8]) -> Vec<u8> {
        (0..10u8)
            .map(|c| {
                let mut v = prefix.to_vec();
                v.push(c);
                v
            })
            .find(|v| luhn_ok(v))
            .expect("one digit completes")
    }

    fn ascii(d: &[u8]) -> String {
        d.iter()
            .map(|&x| if x == 10 { 'X' } else { char::from(b'0' + x) })
            .collect()
    }

    #[test]
    fn gai11_character_classes() {
        for (i, c) in "0123456789".chars().enumerate() {
            assert_eq!(usize::from(class(c)), i);
        }
        for (i, c) in "０１２３４５６７８９".chars().enumerate() {
            assert_eq!(usize::from(class(c)), i);
        }
        for (i, c) in "〇一二三四五六七八九".chars().enumerate() {
            assert_eq!(usize::from(class(c)), i);
        }
        assert_eq!(class('零'), 0);
        assert_eq!(class('幺'), 1);
        for c in [' ', '\u{a0}', '\u{3000}'] {
            assert_eq!(class(c), SEP_SPACE);
        }
        for c in [
            '-', '－', '\u{200b}', '\u{200c}', '\u{200d}', '\u{2060}', '\u{feff}',
        ] {
            assert_eq!(class(c), SEP_OTHER);
        }
        assert_eq!(class('Ｘ'), X_CHAR);
        assert_eq!(class('＋'), PLUS);
        assert_eq!(class('＠'), AT);
        // Everything else is OTHER, and only digits and '+' start something outside ASCII.
        for u in 0x80..0x11_0000u32 {
            if let Some(c) = char::from_u32(u) {
                let special = SPECIAL.iter().any(|&(s, _)| s == c);
                assert_eq!(class(c) != OTHER, special, "{c:?}");
                assert_eq!(may_start(c), special && (class(c) <= 9 || class(c) == PLUS));
            }
        }
    }

    #[test]
    fn gai11_resident_id_with_valid_check_digit_is_found() {
        for id in [
            "11010519491231002X",
            "11010519491231002x",
            "440308199901101512",
            "360426199101010071",
            "44011320141005001x",
            "810000199408230021",
            "830000199201300022",
            "11010120120304001X",
            "110101201203040028",
            "911560199001010017",
        ] {
            assert_one(&format!("身份证号：{id}，请核对"), PiiKind::ResidentId, id);
            assert_one(id, PiiKind::ResidentId, id);
        }
        // Separators, full width, Chinese numerals, and letters around it.
        assert_one(
            "证件 110105 19491231 002X 已提交",
            PiiKind::ResidentId,
            "110105 19491231 002X",
        );
        assert_one(
            "ID:１１０１０５１９４９１２３１００２Ｘ",
            PiiKind::ResidentId,
            "１１０１０５１９４９１２３１００２Ｘ",
        );
        assert_one(
            "一一〇一〇五一九四九一二三一〇〇二X",
            PiiKind::ResidentId,
            "一一〇一〇五一九四九一二三一〇〇二X",
        );
        assert_one(
            "abc360426199101010071def",
            PiiKind::ResidentId,
            "360426199101010071",
        );
        // The spec's check-digit walk-through agrees with the scanner's.
        let body: Vec<u8> = "11010519491231002".bytes().map(|b| b - b'0').collect();
        assert_eq!(id_check(&body), 10);
        assert!(resident_id_ok(&body, 10));
    }

    #[test]
    fn gai11_invalid_check_digit_is_not() {
        for (id, why) in [
            ("440308199901101513", "checksum (expected 2)"),
            ("36042619910102009X", "checksum (expected 3)"),
            ("360426199113010079", "month 13"),
            ("440308199902301512", "Feb 30"),
            ("44030819990110", "length"),
            ("11010519491231002Y", "Y is no check character"),
            ("01010519491231002X", "address code starts with 0"),
        ] {
            let kinds: Vec<PiiKind> = detect(id).into_iter().map(|m| m.kind).collect();
            assert!(!kinds.contains(&PiiKind::ResidentId), "{id}: {why}");
        }
        assert!(found("号码440308199901101513结束").is_empty());
        assert!(found("号码360426199113010079结束").is_empty());
        // An ID with a digit glued on is a 19-digit run, not an ID.
        assert!(found("3604261991010100715").is_empty());
    }

    #[test]
    fn gai11_mobile_with_spaces_and_fullwidth() {
        for m in [
            "13800138000",
            "19212345678",
            "14512345678",
            "16212345678",
            "17012345678",
            "17400123456",
            "138 0013 8000",
            "138-0013-8000",
            "138－0013－8000",
            "138\u{200b}0013\u{200b}8000",
            "138\u{3000}0013\u{3000}8000",
            "１３８００１３８０００",
            "１３８ ００１３ ８０００",
            "1３8０0１3８0０0",
        ] {
            assert_one(&format!("我的手机{m}，谢谢"), PiiKind::Mobile, m);
        }
        for m in [
            "+8613800138000",
            "008613800138000",
            "8613800138000",
            "+86 138 0013 8000",
        ] {
            assert_one(&format!("电话:{m}。"), PiiKind::Mobile, m);
        }
        assert_one(
            "电话＋８６１３８００１３８０００",
            PiiKind::Mobile,
            "＋８６１３８００１３８０００",
        );
        assert_one(
            "tel:+86-138-0013-8000;",
            PiiKind::Mobile,
            "+86-138-0013-8000",
        );
        // Not numbers: wrong second digit, too short, separators doubled or at the ends.
        for t in ["12345678901", "1380013800", "10012345678"] {
            assert!(found(t).is_empty(), "{t}");
        }
        assert!(found("138  0013 8000").is_empty());
        assert_one("- 13800138000 -", PiiKind::Mobile, "13800138000");
        assert_one("13800138000--", PiiKind::Mobile, "13800138000");
    }

    #[test]
    fn gai11_chinese_numeral_mobile() {
        assert_one(
            "加我一三八〇〇一三八〇〇〇",
            PiiKind::Mobile,
            "一三八〇〇一三八〇〇〇",
        );
        assert_one(
            "电话：幺三八 零零幺三 八零零零 晚上打",
            PiiKind::Mobile,
            "幺三八 零零幺三 八零零零",
        );
        assert_one("一三八0013八000", PiiKind::Mobile, "一三八0013八000");
        // Ordinary text with numerals is untouched.
        for t in [
            "一二三四五六七八九十",
            "三三两两，一五一十地说了",
            "一九四九年十月一日",
            "第一二三四五六七八九条",
        ] {
            assert!(found(t).is_empty(), "{t}");
            assert_eq!(mask(t), t);
        }
    }

    #[test]
    fn gai11_bank_card_luhn() {
        for card in [
            "4111111111111111",
            "5500000000000004",
            "4111 1111 1111 1111",
            "4111-1111-1111-1111",
        ] {
            assert_one(&format!("卡号{card}。"), PiiKind::BankCard, card);
        }
        for len in 16..=19 {
            let mut prefix = vec![6, 2, 2, 2, 0, 2];
            prefix.resize(len - 1, 7);
            let card = ascii(&luhn_complete(&prefix));
            assert_one(&format!("银行卡 {card} 尾号"), PiiKind::BankCard, &card);
            // One digit off breaks Luhn.
            let mut bad = card.clone().into_bytes();
            bad[3] = if bad[3] == b'9' { b'0' } else { bad[3] + 1 };
            let bad = String::from_utf8(bad).expect("ascii");
            let kinds: Vec<PiiKind> = detect(&bad).into_iter().map(|m| m.kind).collect();
            assert!(!kinds.contains(&PiiKind::BankCard), "{bad}");
        }
        // Luhn-valid but not a card issuer prefix, or the wrong length.
        let nine = ascii(&luhn_complete(&[
            9, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1, 2, 3, 4,
        ]));
        assert!(found(&nine).is_empty(), "{nine}");
        assert!(found("378282246310005").is_empty(), "15 digits");
        // An 18-digit number that is a valid ID and passes Luhn is an ID.
        let mut id = None;
        'seek: for seq in 0..1000u32 {
            let body: Vec<u8> = format!("44030819990110{seq:03}")
                .bytes()
                .map(|b| b - b'0')
                .collect();
            let mut v = body.clone();
            v.push(id_check(&body));
            if v[17] != 10 && luhn_ok(&v) {
                id = Some(ascii(&v));
                break 'seek;
            }
        }
        let id = id.expect("some sequence number gives a Luhn-valid ID");
        assert_one(&id, PiiKind::ResidentId, &id);
    }

    #[test]
    fn gai11_uscc() {
        for code in [
            "91110000600037341L",
            "121200004013590816",
            "91310115MA1K3BTP2B",
            "9144030071526726XG",
            "91620105L015101280",
            "N2330100MA0000007H",
            "Y1110000MA0000015C",
            "A1110000100000008H",
            "91310115ma1k3btp2b",
        ] {
            assert_one(&format!("统一社会信用代码：{code}。"), PiiKind::Uscc, code);
            assert_one(code, PiiKind::Uscc, code);
        }
        for bad in [
            "91110000600037341N", // checksum (expected L)
            "9111000060003IOZSV", // charset
            "91350100M0001TGQXM", // real pilot code failing the checksum
            "12345",
            "X91110000600037341L",  // 19 characters
            "91110000600037341Lab", // part of a longer token
        ] {
            assert!(found(bad).is_empty(), "{bad}");
        }
        // An 18-digit USCC that is also a valid resident ID is reported as the ID.
        let both = (0..1000u32)
            .map(|seq| {
                let body: Vec<u8> = format!("11010519491231{seq:03}")
                    .bytes()
                    .map(|b| b - b'0')
                    .collect();
                let mut v = body.clone();
                v.push(id_check(&body));
                ascii(&v)
            })
            .find(|id| uscc_ok(&code_values(id)))
            .expect("some ID is also a USCC");
        assert_one(&format!("代码{both}。"), PiiKind::ResidentId, &both);
    }

    fn code_values(s: &str) -> [u8; CODE_LEN] {
        let mut v = [0; CODE_LEN];
        for (slot, b) in v.iter_mut().zip(s.bytes()) {
            *slot = USCC_VALUE[usize::from(b)];
        }
        v
    }

    #[test]
    fn gai11_email() {
        assert_one(
            "请联系zhang.san@example.com。",
            PiiKind::Email,
            "zhang.san@example.com",
        );
        assert_one(
            "mail: a_b+tag%x-y@mail.sub-domain.example.cn, thanks",
            PiiKind::Email,
            "a_b+tag%x-y@mail.sub-domain.example.cn",
        );
        assert_one(
            "邮箱zhang＠example.com",
            PiiKind::Email,
            "zhang＠example.com",
        );
        assert_one("write to a@b.com.", PiiKind::Email, "a@b.com");
        assert_one("<x@y.org.z9>", PiiKind::Email, "x@y.org");
        // A mobile used as the local part is covered by the e-mail.
        assert_one("13800138000@163.com", PiiKind::Email, "13800138000@163.com");
        for bad in [
            "a@b",
            "a@b.c",
            "@example.com",
            "a@.com",
            "a@b..com",
            "a@b.c0m",
        ] {
            assert!(found(bad).is_empty(), "{bad}");
        }
        // Two addresses, one after the other.
        assert_eq!(
            found("a@b.cn;c@d.cn"),
            vec![
                (PiiKind::Email, "a@b.cn".to_string()),
                (PiiKind::Email, "c@d.cn".to_string())
            ]
        );
    }

    #[test]
    fn gai11_no_false_positive_on_dates_prices_order_numbers() {
        for t in [
            "订单号20241120123456789",
            "订单号202411201234567890",
            "订单号：2024112012345678901",
            "日期 2024-11-20 13:45:00",
            "2024年11月20日 下午3点",
            "价格¥1,380.00元，优惠13800元",
            "共计 1380013800 元",
            "版本 3.14.159.26535",
            "QQ 123456789",
            "快递单号 SF1234567890123",
            "发票号码 04400170011112345678",
            "uuid 550e8400-e29b-41d4-a716-446655440000",
            "sha256 3a7bd3e2360a3d29eea436fcfb7e44c735d117c42d1c1835420b6b9942dd4f1b",
            "2024 11 20 13 45 00",
            "手机尾号8000",
            "电话 010-12345678",
        ] {
            assert!(found(t).is_empty(), "{t}: {:?}", found(t));
            assert_eq!(mask(t), t);
        }
    }

    #[test]
    fn gai11_each_run_is_judged_whole_then_by_groups() {
        // 15, 12 and 14 digits in a row: no phone number inside.
        for t in ["138001380001234", "013800138000", "13800138000139"] {
            assert!(found(t).is_empty(), "{t}");
        }
        // Space-separated groups: the whole run first, then group-aligned pieces.
        assert_eq!(
            found("电话13800138000 13900139000。"),
            vec![
                (PiiKind::Mobile, "13800138000".to_string()),
                (PiiKind::Mobile, "13900139000".to_string())
            ]
        );
        assert_one("138 0013 8000 2024", PiiKind::Mobile, "138 0013 8000");
        assert_one("2024 138 0013 8000", PiiKind::Mobile, "138 0013 8000");
        assert_eq!(
            found("4111 1111 1111 1111 13800138000"),
            vec![
                (PiiKind::BankCard, "4111 1111 1111 1111".to_string()),
                (PiiKind::Mobile, "13800138000".to_string())
            ]
        );
        // A long space-separated list is read through (the buffer slides).
        let list = "13800138000 13900139000 13700137000 13600136000 13500135000 13400134000";
        assert_eq!(detect(list).len(), 6);
        // A group longer than any number is skipped, the next group is read.
        assert_one(
            "12345678901234567890123 13800138000",
            PiiKind::Mobile,
            "13800138000",
        );
    }

    #[test]
    fn gai11_mask_span_keeps_the_agreed_characters() {
        assert_eq!(mask_span(PiiKind::Mobile, "13812345678"), "138****5678");
        assert_eq!(mask_span(PiiKind::Mobile, "138 1234 5678"), "138 **** 5678");
        assert_eq!(
            mask_span(PiiKind::Mobile, "+86 138 1234 5678"),
            "+86 138 **** 5678"
        );
        assert_eq!(
            mask_span(PiiKind::ResidentId, "11010519491231002X"),
            "110105********002X"
        );
        assert_eq!(
            mask_span(PiiKind::BankCard, "4111 1111 1111 1111"),
            "**** **** **** 1111"
        );
        assert_eq!(
            mask_span(PiiKind::Uscc, "91110000600037341L"),
            "91**************1L"
        );
        assert_eq!(
            mask_span(PiiKind::Email, "zhang@example.com"),
            "z****@example.com"
        );
        assert_eq!(
            mask_span(PiiKind::Mobile, "一三八一二三四五六七八"),
            "一三八****五六七八"
        );
        // Too short for the rule: everything significant goes.
        assert_eq!(mask_span(PiiKind::BankCard, "1234"), "****");
        assert_eq!(mask_span(PiiKind::Mobile, ""), "");
    }

    #[test]
    fn gai11_mask_text() {
        let text =
            "张三，身份证11010519491231002X，手机+86 138 0013 8000，邮箱zhang.san@example.com。";
        let masked = mask(text);
        assert_eq!(
            masked,
            "张三，身份证110105********002X，手机+86 138 **** 8000，邮箱z********@example.com。"
        );
        assert_eq!(masked.chars().count(), text.chars().count());
        assert!(detect(&masked).iter().all(|m| m.kind == PiiKind::Email));
        // Kept digits must not join their neighbours into a new number.
        let tricky = "13912345 13800138000";
        let masked = mask(tricky);
        assert!(detect(&masked).is_empty(), "{masked}");
        assert!(!masked.contains("13800138000"));
    }

    #[test]
    fn gai11_scanner_holds_back_only_what_can_still_grow() {
        let mut s = PiiScanner::new();
        let mut out = Vec::new();
        for c in "你好，电话138".chars() {
            s.push(c, &mut out);
        }
        assert_eq!(s.pending_from(), Some(5));
        for c in "00138000".chars() {
            s.push(c, &mut out);
        }
        // 11 digits, but a 12th would make it no phone number.
        assert!(out.is_empty());
        assert_eq!(s.pending_from(), Some(5));
        s.push('，', &mut out);
        assert_eq!(
            out,
            vec![PiiMatch {
                start: 5,
                end: 16,
                kind: PiiKind::Mobile
            }]
        );
        assert_eq!(s.pending_from(), None);
        // A trailing '+' may begin a +86 number; an ASCII word may be an e-mail local part.
        s.push('+', &mut out);
        assert_eq!(s.pending_from(), Some(17));
        s.push('好', &mut out);
        assert_eq!(s.pending_from(), None);
        for c in "mail zhang".chars() {
            s.push(c, &mut out);
        }
        assert_eq!(s.pending_from(), Some(24));
        for c in "@example.com".chars() {
            s.push(c, &mut out);
        }
        assert_eq!(s.pending_from(), Some(24));
        s.finish(&mut out);
        assert_eq!(s.pending_from(), None);
        assert_eq!(out.len(), 2);
        assert_eq!(
            out[1],
            PiiMatch {
                start: 24,
                end: 41,
                kind: PiiKind::Email
            }
        );
        // Plain Chinese text holds nothing back.
        let mut s = PiiScanner::new();
        for c in "今天天气很好，我们去公园散步吧".chars() {
            s.push(c, &mut out);
            assert_eq!(s.pending_from(), None);
        }
    }

    // ---------------------------------------------------------------------------- properties

    /// A valid resident ID as values (10 = X).
    fn id_value() -> impl Strategy<Value = Vec<u8>> {
        (
            1u8..=8,
            prop::collection::vec(0u8..10, 5),
            1900u32..=2100,
            1u32..=12,
            1u32..=28,
            prop::collection::vec(0u8..10, 3),
        )
            .prop_map(|(p, region, y, m, d, seq)| {
                let mut v = vec![p];
                v.extend(region);
                let date = format!("{y:04}{m:02}{d:02}");
                v.extend(date.bytes().map(|b| b - b'0'));
                v.extend(seq);
                let check = id_check(&v);
                v.push(check);
                v
            })
    }

    fn mobile_value() -> impl Strategy<Value = Vec<u8>> {
        (3u8..=9, prop::collection::vec(0u8..10, 9)).prop_map(|(second, rest)| {
            let mut v = vec![1, second];
            v.extend(rest);
            v
        })
    }

    fn card_value() -> impl Strategy<Value = Vec<u8>> {
        (
            prop::sample::select(vec![vec![6u8, 2], vec![4], vec![5]]),
            16usize..=19,
            prop::collection::vec(0u8..10, 19),
        )
            .prop_map(|(prefix, len, fill)| {
                let mut v = prefix;
                v.extend(fill);
                v.truncate(len - 1);
                luhn_complete(&v)
            })
    }

    /// Renders digit values: `style` 0 ASCII, 1 full width, 2 Chinese numerals, 3 mixed;
    /// separators between the given groups.
    fn render(v: &[u8], style: u8, groups: &[usize], sep: Option<char>) -> String {
        const CJK: [char; 10] = ['〇', '一', '二', '三', '四', '五', '六', '七', '八', '九'];
        let mut s = String::new();
        let mut cuts = Vec::new();
        let mut acc = 0;
        for g in groups {
            acc += g;
            cuts.push(acc);
        }
        for (i, &x) in v.iter().enumerate() {
            if i > 0
                && cuts.contains(&i)
                && let Some(sep) = sep
            {
                s.push(sep);
            }
            let st = if style == 3 { (i % 3) as u8 } else { style };
            s.push(match (x, st) {
                (10, _) => 'X',
                (x, 0) => char::from(b'0' + x),
                (x, 1) => char::from_u32('０' as u32 + u32::from(x)).expect("full-width digit"),
                (x, _) => CJK[usize::from(x)],
            });
        }
        s
    }

    /// A valid ID, mobile or card, rendered in one of the accepted spellings.
    fn item() -> impl Strategy<Value = String> {
        let sep = prop::option::of(prop::sample::select(vec![' ', '-', '\u{200b}', '\u{3000}']));
        (
            prop_oneof![
                id_value().prop_map(|v| (v, vec![6, 8, 4])),
                mobile_value().prop_map(|v| (v, vec![3, 4, 4])),
                card_value().prop_map(|v| (v, vec![4, 4, 4, 4])),
            ],
            0u8..4,
            sep,
        )
            .prop_map(|((v, groups), style, sep)| render(&v, style, &groups, sep))
    }

    const ALPHABET: &[char] = &[
        '0', '1', '3', '8', '9', '6', '2', '4', '5', '7', '０', '１', '八', '一', '三', '〇', ' ',
        '-', '\u{200b}', '\u{3000}', '+', '＋', 'X', 'x', 'a', 'Z', 'b', 'c', 'N', '@', '＠', '.',
        '_', '你', '好', '，', '号', ':', '\n',
    ];

    /// Filler: CJK, ASCII, separators, digits, e-mail punctuation.
    fn filler() -> impl Strategy<Value = String> {
        prop::collection::vec(
            prop_oneof![
                3 => prop::sample::select(ALPHABET),
                1 => any::<char>(),
                1 => proptest::char::range('\u{4e00}', '\u{9fa5}'),
            ],
            0..12,
        )
        .prop_map(|v| v.into_iter().collect())
    }

    /// Characters that end any number next to them.
    fn boundary() -> impl Strategy<Value = char> {
        prop::sample::select(vec!['，', '。', '号', 'a', 'Z', ':', '(', '你'])
    }

    /// Text rich in near-numbers, valid items and e-mail shapes.
    fn rich_text() -> impl Strategy<Value = String> {
        prop::collection::vec(
            prop_oneof![
                4 => prop::sample::select(ALPHABET).prop_map(String::from),
                1 => item(),
                1 => prop::sample::select(vec!["@ex.cn", "+86", "0086", "zhang.san", "＠"])
                    .prop_map(String::from),
                1 => Just("91110000600037341L".to_string()),
            ],
            0..40,
        )
        .prop_map(|v| v.concat())
    }

    proptest! {
        #[test]
        fn gai11_masking_never_leaves_a_detected_id_or_phone(
            parts in prop::collection::vec((filler(), boundary(), item(), boundary()), 1..6),
            tail in filler(),
        ) {
            let mut text = String::new();
            let mut items = Vec::new();
            for (f, b1, it, b2) in &parts {
                text.push_str(f);
                text.push(*b1);
                text.push_str(it);
                text.push(*b2);
                items.push(it.clone());
            }
            text.push_str(&tail);
            let masked = mask(&text);
            prop_assert_eq!(masked.chars().count(), text.chars().count());
            for m in detect(&masked) {
                prop_assert!(
                    !matches!(m.kind, PiiKind::ResidentId | PiiKind::Mobile | PiiKind::BankCard),
                    "{:?} left in {:?} (from {:?})", m, masked, text
                );
            }
            for it in &items {
                prop_assert!(!masked.contains(it.as_str()), "{:?} left in {:?}", it, masked);
            }
        }

        #[test]
        fn pii_scanner_char_by_char_equals_detect(text in prop_oneof![rich_text(), any::<String>()]) {
            let mut s = PiiScanner::new();
            let mut out = Vec::new();
            for c in text.chars() {
                s.push(c, &mut out);
            }
            s.finish(&mut out);
            prop_assert_eq!(s.pending_from(), None);
            let batch = detect(&text);
            prop_assert_eq!(&out, &batch);
            let n = text.chars().count();
            prop_assert!(batch.windows(2).all(|w| w[0].start <= w[1].start), "{:?}", batch);
            prop_assert!(batch.iter().all(|m| m.start < m.end && m.end <= n));
            prop_assert_eq!(mask(&text).chars().count(), n);
        }

        #[test]
        fn pii_scanner_pending_from_covers_every_later_match(text in rich_text()) {
            // The streaming contract: after any prefix, every match not yet reported starts at
            // or after `pending_from` (or after the prefix when nothing is pending).
            let all = detect(&text);
            let mut s = PiiScanner::new();
            let mut out = Vec::new();
            for (i, c) in text.chars().enumerate() {
                s.push(c, &mut out);
                let from = s.pending_from().unwrap_or(i + 1);
                prop_assert!(from <= i + 1);
                prop_assert_eq!(&all[..out.len()], &out[..]);
                for m in &all[out.len()..] {
                    prop_assert!(m.start >= from, "{:?} before pending {} at {}", m, from, i);
                }
            }
        }

        #[test]
        fn gai11_pii_never_panics_on_arbitrary_unicode(text in any::<String>(), k in 0usize..5) {
            let kinds = [
                PiiKind::ResidentId,
                PiiKind::Mobile,
                PiiKind::BankCard,
                PiiKind::Uscc,
                PiiKind::Email,
            ];
            let _ = detect(&text);
            let masked = mask(&text);
            prop_assert_eq!(masked.chars().count(), text.chars().count());
            let span = mask_span(kinds[k], &text);
            prop_assert_eq!(span.chars().count(), text.chars().count());
        }
    }
}
