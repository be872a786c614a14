//! The incremental scan behind both the batch [`Matcher::check`](crate::Matcher::check) and the
//! sans-IO [`StreamMatcher`].
//!
//! Text is folded character by character and fed to the automaton's stepper. An occurrence is
//! *confirmed* once nothing later can change it: its end-of-word boundary is known (for ASCII
//! terms), and no exemption that could still complete would cover it. A stream releases original
//! text only up to the earliest character that some rule could still include:
//!
//! * the automaton depth (the longest suffix that is a prefix of some pattern, library and
//!   exemptions),
//! * occurrences still waiting for confirmation,
//! * a PII candidate still growing (digits, an e-mail address),
//! * [`REGEX_WINDOW`]×2 characters when regular-expression rules exist,
//! * from the first positive part of a blocking combination with a `~` part, until the end (the
//!   `~` part may still come),
//! * and, once a `block` finding is confirmed, nothing from its start on.
//!
//! Because the same code runs in both modes and only *when* resolution happens differs, for any
//! split of a text into chunks the findings equal the batch findings (a property test).

use crate::crisis::INTERVENTION_SEVERITY;
use crate::decision::{Action, Context, Decision, Finding, Scope};
use crate::matcher::Matcher;
use crate::normalize::{FoldedChar, Folder};
use crate::pattern::REGEX_WINDOW;
use crate::pii::{PiiKind, PiiMatch, PiiScanner, mask_span};
use daachorse::charwise::iter::FindOverlappingStepper;
use rustc_hash::{FxHashMap, FxHashSet};

/// An occurrence of a folded pattern, in folded character indices.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
struct Occ {
    start: u32,
    end: u32,
    pat: u32,
}

/// Where a finding came from; materialised into a [`Finding`] only when asked for.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Source {
    Rule(u32),
    Pii(PiiKind),
    Classifier { p: f32, action: Action },
    CrisisModel { p: f32 },
}

/// A finding in original character offsets.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Raw {
    source: Source,
    start: u32,
    end: u32,
}

const NEGATED: u8 = 1;
const FIRED: u8 = 2;

/// The growable buffers of a scan. A batch check borrows them from a per-thread pool and gives
/// them back, so checking a message allocates only its findings and the masked text.
#[derive(Default)]
pub(crate) struct Buffers {
    folded: Vec<FoldedChar>,
    orig: String,
    bytes: Vec<u32>,
    pending: Vec<Occ>,
    exempt_spans: Vec<(u32, u32)>,
    first: FxHashMap<u32, (u32, u32)>,
    combos: FxHashMap<u32, u8>,
    pii_found: Vec<PiiMatch>,
    raw: Vec<Raw>,
    seen: FxHashSet<(u32, u32, u32)>,
}

impl Buffers {
    /// Empties every buffer, keeping capacity unless a huge text left them oversized.
    fn clear(&mut self) {
        if self.orig.capacity() > 1 << 20 {
            *self = Buffers::default();
            return;
        }
        self.folded.clear();
        self.orig.clear();
        self.bytes.clear();
        self.pending.clear();
        self.exempt_spans.clear();
        self.first.clear();
        self.combos.clear();
        self.pii_found.clear();
        self.raw.clear();
        self.seen.clear();
    }
}

thread_local! {
    static POOL: std::cell::RefCell<Option<Buffers>> = const { std::cell::RefCell::new(None) };
}

/// Buffers for one batch check: the thread's pooled ones, or new ones.
pub(crate) fn take_buffers() -> Buffers {
    POOL.with(|p| p.borrow_mut().take()).unwrap_or_default()
}

/// Returns buffers to the thread's pool.
pub(crate) fn give_back(mut b: Buffers) {
    b.clear();
    POOL.with(|p| *p.borrow_mut() = Some(b));
}

/// The incremental scan.
pub(crate) struct Scan<'m> {
    m: &'m Matcher,
    ctx: Context,
    ctx_bit: u32,
    streaming: bool,
    folder: Folder,
    folded: Vec<FoldedChar>,
    orig: String,
    /// Byte offset of each original character (kept up to date in streams, built on demand in
    /// batch checks).
    bytes: Vec<u32>,
    chars: u32,
    step: Option<FindOverlappingStepper<'m, u32>>,
    pending: Vec<Occ>,
    exempt_spans: Vec<(u32, u32)>,
    /// First confirmed occurrence of each pattern that spells a combination part.
    first: FxHashMap<u32, (u32, u32)>,
    /// Combinations whose anchor occurred, with their FIRED flag (0 while open).
    combos: FxHashMap<u32, u8>,
    pii: PiiScanner,
    pii_found: Vec<PiiMatch>,
    raw: Vec<Raw>,
    seen: FxHashSet<(u32, u32, u32)>,
    finished: bool,
}

impl<'m> Scan<'m> {
    pub(crate) fn new(m: &'m Matcher, ctx: Context, streaming: bool) -> Self {
        Self::with_buffers(m, ctx, streaming, Buffers::default())
    }

    pub(crate) fn with_buffers(m: &'m Matcher, ctx: Context, streaming: bool, b: Buffers) -> Self {
        Scan {
            m,
            ctx,
            ctx_bit: crate::matcher::context_bit(&ctx),
            streaming,
            folder: Folder::new(),
            folded: b.folded,
            orig: b.orig,
            bytes: b.bytes,
            chars: 0,
            step: m.ac.as_ref().map(|a| a.find_overlapping_stepper()),
            pending: b.pending,
            exempt_spans: b.exempt_spans,
            first: b.first,
            combos: b.combos,
            pii: PiiScanner::new(),
            pii_found: b.pii_found,
            raw: b.raw,
            seen: b.seen,
            finished: false,
        }
    }

    /// The buffers, for the pool.
    pub(crate) fn into_buffers(self) -> Buffers {
        Buffers {
            folded: self.folded,
            orig: self.orig,
            bytes: self.bytes,
            pending: self.pending,
            exempt_spans: self.exempt_spans,
            first: self.first,
            combos: self.combos,
            pii_found: self.pii_found,
            raw: self.raw,
            seen: self.seen,
        }
    }

    /// Feeds original text.
    pub(crate) fn push_str(&mut self, text: &str) {
        if self.finished {
            return;
        }
        self.orig.reserve(text.len());
        self.folded.reserve(text.len() / 2);
        if self.streaming {
            self.bytes.reserve(text.len() / 2);
        }
        let base = self.orig.len();
        for (i, c) in text.char_indices() {
            if self.streaming {
                self.bytes.push((base + i) as u32);
            }
            self.chars += 1;
            self.pii.push(c, &mut self.pii_found);
            let Scan {
                folder,
                folded,
                step,
                pending,
                exempt_spans,
                m,
                ..
            } = self;
            folder.push(c, |fc| {
                folded.push(fc);
                let end = folded.len() as u32;
                if let Some(s) = step.as_mut() {
                    s.consume(fc.c);
                    for hit in s.matches() {
                        let pat = hit.value();
                        let p = &m.pats[pat as usize];
                        let start = end - p.len;
                        if p.exempt {
                            exempt_spans.push((start, end));
                        }
                        if p.live() {
                            pending.push(Occ { start, end, pat });
                        }
                    }
                }
            });
        }
        self.orig.push_str(text);
        if self.streaming {
            self.resolve();
        }
    }

    /// End of text: resolve everything, run the regular expressions and the classifier.
    pub(crate) fn finish(&mut self) {
        if self.finished {
            return;
        }
        self.finished = true;
        let mut pii = std::mem::take(&mut self.pii_found);
        self.pii.finish(&mut pii);
        self.pii_found = pii;
        self.resolve();
        self.run_regexes(true);
        if let Some((c, threshold)) = &self.m.crisis_model {
            let p = if self.ctx.scope == Scope::Output {
                0.0
            } else {
                c.score(&self.orig)
            };
            if p >= *threshold {
                self.raw.push(Raw {
                    source: Source::CrisisModel { p },
                    start: 0,
                    end: self.chars,
                });
            }
        }
        if let Some(c) = &self.m.classifier {
            let p = c.score(&self.orig);
            let action = self.m.thresholds.action(p);
            if action != Action::Pass {
                self.raw.push(Raw {
                    source: Source::Classifier { p, action },
                    start: 0,
                    end: self.chars,
                });
            }
        }
    }

    fn push_raw(&mut self, source: Source, key: u32, start: u32, end: u32) {
        if self.seen.insert((key, start, end)) {
            self.raw.push(Raw { source, start, end });
        }
    }

    fn emit(&mut self, rule: u32, start: u32, end: u32) {
        if self.m.rule_ctx[rule as usize] & self.ctx_bit == 0 {
            return;
        }
        let s = self.folded[start as usize].origin;
        let e = self.folded[end as usize - 1].origin + 1;
        self.push_raw(Source::Rule(rule), rule, s, e);
    }

    fn boundary_ok(&self, o: &Occ) -> Option<bool> {
        let p = &self.m.pats[o.pat as usize];
        if p.bound_start && o.start > 0 {
            let here = self.folded[o.start as usize];
            let prev = self.folded[o.start as usize - 1];
            if !here.gap && prev.c.is_ascii_alphanumeric() {
                return Some(false);
            }
        }
        if p.bound_end {
            match self.folded.get(o.end as usize) {
                None if !self.finished => return None,
                Some(next) if !next.gap && next.c.is_ascii_alphanumeric() => return Some(false),
                _ => {}
            }
        }
        Some(true)
    }

    /// First folded index a future occurrence (of any pattern, exemptions included) could start
    /// at.
    fn horizon(&self) -> u32 {
        let len = self.folded.len() as u32;
        if self.finished {
            return len;
        }
        len - self.step.as_ref().and_then(|s| s.depth()).unwrap_or(0)
    }

    fn resolve(&mut self) {
        if !self.pii_found.is_empty() {
            let found = std::mem::take(&mut self.pii_found);
            for p in found {
                let key = u32::MAX - p.kind as u32;
                self.push_raw(Source::Pii(p.kind), key, p.start as u32, p.end as u32);
            }
        }
        if !self.pending.is_empty() {
            let mut pending = std::mem::take(&mut self.pending);
            pending.sort_unstable();
            let mut keep = Vec::new();
            for o in pending {
                match self.boundary_ok(&o) {
                    None => {
                        keep.push(o);
                        continue;
                    }
                    Some(false) => continue,
                    Some(true) => {}
                }
                if self.exemption_may_cover(&o) {
                    keep.push(o);
                    continue;
                }
                if self
                    .exempt_spans
                    .iter()
                    .any(|&(s, e)| s <= o.start && o.end <= e)
                {
                    continue;
                }
                self.confirm(o);
            }
            self.pending = keep;
        }
        if !self.combos.is_empty() {
            // Combinations that are satisfied but were not yet settled are retried every time.
            let mut open: Vec<u32> = self
                .combos
                .iter()
                .filter(|(_, f)| **f == 0)
                .map(|(&c, _)| c)
                .collect();
            open.sort_unstable();
            for c in open {
                self.try_fire(c);
            }
        }
        if !self.finished {
            self.run_regexes(false);
            // Exemption spans that end before every pending occurrence can cover nothing more.
            let floor = self
                .pending
                .iter()
                .map(|o| o.start)
                .min()
                .unwrap_or(u32::MAX);
            let horizon = self.horizon();
            self.exempt_spans.retain(|&(_, e)| e > floor.min(horizon));
        }
    }

    /// Whether an exemption that has begun but not ended could still cover `o`: some suffix of
    /// the folded text starting at or before `o.start` is a proper prefix of an exemption term.
    fn exemption_may_cover(&self, o: &Occ) -> bool {
        if self.finished || self.m.exempt_terms.is_empty() {
            return false;
        }
        let len = self.folded.len();
        let mut s: String = self.folded[o.start as usize + 1..]
            .iter()
            .map(|f| f.c)
            .collect();
        for start in (0..=o.start as usize).rev() {
            s.insert(0, self.folded[start].c);
            if len - start > 64 {
                return false;
            }
            let terms = &self.m.exempt_terms;
            let i = terms.partition_point(|t| t.as_str() < s.as_str());
            if terms[i..]
                .iter()
                .take_while(|t| t.starts_with(&s))
                .any(|t| t.len() > s.len())
            {
                return true;
            }
        }
        false
    }

    fn confirm(&mut self, o: Occ) {
        let p = &self.m.pats[o.pat as usize];
        for &r in &self.m.rule_uses[p.rules.start as usize..p.rules.end as usize] {
            self.emit(r, o.start, o.end);
        }
        if p.in_combo {
            let fresh = !self.first.contains_key(&o.pat);
            let slot = self.first.entry(o.pat).or_insert((o.start, o.end));
            if (o.start, o.end) < *slot {
                *slot = (o.start, o.end);
            }
            if fresh {
                for &c in &self.m.anchor_uses[p.anchors.start as usize..p.anchors.end as usize] {
                    self.combos.entry(c).or_insert(0);
                }
            }
        }
    }

    fn part_pats(&self, combo: u32, part: u16) -> &'m [u32] {
        let m = self.m;
        let c = &m.combos[combo as usize];
        let r = &m.part_pats[(c.parts + u32::from(part)) as usize];
        &m.part_pat_ids[r.start as usize..r.end as usize]
    }

    /// The first confirmed occurrence of a part, over all its spellings.
    fn part_first(&self, combo: u32, part: u16) -> Option<(u32, u32)> {
        self.part_pats(combo, part)
            .iter()
            .filter_map(|id| self.first.get(id).copied())
            .min()
    }

    fn negated(&self, combo: u32) -> bool {
        let c = &self.m.combos[combo as usize];
        (c.pos..c.pos + c.neg).any(|part| self.part_first(combo, part).is_some())
    }

    fn try_fire(&mut self, combo: u32) {
        let c = &self.m.combos[combo as usize];
        if self.combos.get(&combo).copied().unwrap_or(0) != 0 {
            return;
        }
        if c.neg > 0 && !self.finished {
            return;
        }
        let mut spans = Vec::with_capacity(usize::from(c.pos));
        for part in 0..c.pos {
            let Some((s, e)) = self.part_first(combo, part) else {
                return;
            };
            if !self.finished {
                // Settled: a future occurrence starts at `horizon` or later and ends after
                // everything seen, so it can only come first if it starts before `s`; a pending
                // one may still be confirmed with an earlier start.
                if self.horizon() < s {
                    return;
                }
                let spellings = self.part_pats(combo, part);
                if self
                    .pending
                    .iter()
                    .any(|o| (o.start, o.end) < (s, e) && spellings.contains(&o.pat))
                {
                    return;
                }
            }
            spans.push((s, e));
        }
        if self.negated(combo) {
            self.combos.insert(combo, NEGATED);
            return;
        }
        let rule = c.rule;
        self.combos.insert(combo, FIRED);
        for (s, e) in spans {
            self.emit(rule, s, e);
        }
    }

    fn ensure_bytes(&mut self) {
        if self.bytes.len() as u32 == self.chars {
            return;
        }
        self.bytes.clear();
        self.bytes.reserve(self.chars as usize);
        self.bytes
            .extend(self.orig.char_indices().map(|(i, _)| i as u32));
    }

    fn run_regexes(&mut self, all: bool) {
        if self.m.regexes.is_empty() {
            return;
        }
        self.ensure_bytes();
        let n = self.chars as usize;
        let stable_end = if all {
            n
        } else {
            n.saturating_sub(REGEX_WINDOW)
        };
        let mut hits = Vec::new();
        for (r, re) in &self.m.regexes {
            for m in re.find_iter(&self.orig) {
                let s = self.bytes.partition_point(|&b| (b as usize) < m.start());
                let e = self.bytes.partition_point(|&b| (b as usize) < m.end());
                if e <= stable_end && e > s {
                    hits.push((*r, s as u32, e as u32));
                }
            }
        }
        for (r, s, e) in hits {
            if self.m.rules[r as usize].applies(&self.ctx) {
                self.push_raw(Source::Rule(r), r, s, e);
            }
        }
    }

    /// Original characters that no rule can still change: the stream may release up to here.
    fn safe_end(&self) -> usize {
        let n = self.chars as usize;
        if self.finished {
            return n;
        }
        let mut f = self.horizon();
        if let Some(p) = self.pending.iter().map(|o| o.start).min() {
            f = f.min(p);
        }
        // A blocking AND/NOT combination is only decided at the end of the text (a `~` part may
        // still come); once one of its positive parts has occurred, everything from there waits.
        for (&c, &flags) in &self.combos {
            let combo = &self.m.combos[c as usize];
            let rule = &self.m.rules[combo.rule as usize];
            let open = flags == 0 && combo.neg > 0 && !self.negated(c);
            if open && rule.action == Action::Block && rule.applies(&self.ctx) {
                for part in 0..combo.pos {
                    if let Some((s, _)) = self.part_first(c, part) {
                        f = f.min(s);
                    }
                }
            }
        }
        let mut safe = self
            .folded
            .get(f as usize)
            .map_or(n, |fc| fc.origin as usize);
        if let Some(p) = self.pii.pending_from() {
            safe = safe.min(p);
        }
        if !self.m.regexes.is_empty() {
            safe = safe.min(n.saturating_sub(2 * REGEX_WINDOW));
        }
        safe
    }

    fn action_of(&self, r: &Raw) -> Action {
        match r.source {
            Source::Rule(i) => self.m.rules[i as usize].action,
            Source::Pii(_) => Action::Mask,
            Source::Classifier { action, .. } => action,
            Source::CrisisModel { .. } => Action::Flag,
        }
    }

    fn first_block(&self) -> Option<usize> {
        self.raw
            .iter()
            .filter(|r| self.action_of(r) == Action::Block)
            .map(|r| r.start as usize)
            .min()
    }

    fn slice(&self, s: u32, e: u32) -> &str {
        let b = |i: u32| {
            self.bytes
                .get(i as usize)
                .map_or(self.orig.len(), |&x| x as usize)
        };
        self.orig.get(b(s)..b(e)).unwrap_or("")
    }

    fn materialise(&self, r: &Raw) -> Finding {
        let text = self.slice(r.start, r.end).to_string();
        let (category, rule, score, action, severity) = match r.source {
            Source::Rule(i) => {
                let rule = &self.m.rules[i as usize];
                (
                    rule.category,
                    rule.id.clone(),
                    rule.score(),
                    rule.action,
                    rule.severity,
                )
            }
            Source::Pii(k) => (
                k.category(),
                self.m.pii_rules[k as usize].clone(),
                1.0,
                Action::Mask,
                None,
            ),
            Source::Classifier { p, action } => {
                let c = self.m.classifier.as_ref();
                (
                    c.map_or("A2.9", |c| c.category()),
                    c.map_or_else(
                        || std::sync::Arc::from(""),
                        |c| std::sync::Arc::from(c.rule()),
                    ),
                    p,
                    action,
                    None,
                )
            }
            Source::CrisisModel { p } => {
                let c = self.m.crisis_model.as_ref().map(|(c, _)| c);
                (
                    c.map_or("S2", |c| c.category()),
                    c.map_or_else(
                        || std::sync::Arc::from(""),
                        |c| std::sync::Arc::from(c.rule()),
                    ),
                    p,
                    Action::Flag,
                    Some(INTERVENTION_SEVERITY),
                )
            }
        };
        Finding {
            category,
            rule,
            start: r.start as usize,
            end: r.end as usize,
            text,
            score,
            action,
            severity,
        }
    }

    /// The original text of characters `s..e` with masks applied.
    fn render(&self, s: usize, e: usize) -> String {
        let slice = self.slice(s as u32, e as u32);
        let masks: Vec<&Raw> = self
            .raw
            .iter()
            .filter(|r| {
                (r.start as usize) < e && r.end as usize > s && self.action_of(r) == Action::Mask
            })
            .collect();
        if masks.is_empty() {
            return slice.to_string();
        }
        let mut chars: Vec<char> = slice.chars().collect();
        for r in masks {
            let original = self.slice(r.start, r.end);
            let replacement: Vec<char> = match r.source {
                Source::Pii(k) => mask_span(k, original).chars().collect(),
                _ => vec!['*'; (r.end - r.start) as usize],
            };
            // Only the hidden positions are written, so overlapping masks never un-hide a
            // character another mask hid.
            for ((k, rc), oc) in replacement.into_iter().enumerate().zip(original.chars()) {
                let i = r.start as usize + k;
                if i >= s && i < e && rc != oc {
                    chars[i - s] = rc;
                }
            }
        }
        chars.into_iter().collect()
    }

    /// Sort key of a raw finding: position, category, strongest action first, then the rule's
    /// place in the library (library entries in id order, then the detectors).
    fn order_key(&self, r: &Raw) -> (u32, u32, &'static str, std::cmp::Reverse<Action>, u32) {
        let (category, rank) = match r.source {
            Source::Rule(i) => (self.m.rules[i as usize].category, i),
            Source::Pii(k) => (k.category(), u32::MAX - 16 + k as u32),
            Source::Classifier { .. } => (
                self.m.classifier.as_ref().map_or("A2.9", |c| c.category()),
                u32::MAX,
            ),
            Source::CrisisModel { .. } => (
                self.m
                    .crisis_model
                    .as_ref()
                    .map_or("S2", |(c, _)| c.category()),
                u32::MAX - 1,
            ),
        };
        (
            r.start,
            r.end,
            category,
            std::cmp::Reverse(self.action_of(r)),
            rank,
        )
    }

    /// The decision over everything seen so far (complete after [`Scan::finish`]).
    pub(crate) fn decision(&mut self) -> Decision {
        self.ensure_bytes();
        let mut raw = std::mem::take(&mut self.raw);
        raw.sort_by(|a, b| self.order_key(a).cmp(&self.order_key(b)));
        // Several rules of one category on the same span say the same thing once: the strongest
        // action, then the earliest rule, is kept.
        let mut findings: Vec<Finding> = Vec::with_capacity(raw.len());
        let mut last: Option<(u32, u32, &'static str)> = None;
        for r in &raw {
            let (s, e, cat, _, _) = self.order_key(r);
            if last == Some((s, e, cat)) {
                continue;
            }
            last = Some((s, e, cat));
            findings.push(self.materialise(r));
        }
        self.raw = raw;
        let action = findings
            .iter()
            .map(|f| f.action)
            .max()
            .unwrap_or(Action::Pass);
        Decision {
            action,
            findings,
            masked: self.render(0, self.chars as usize),
        }
    }
}

/// What one step of a stream yields.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct StreamStep {
    /// Original text (masked where a `mask` finding says so) that is now safe to send on.
    pub release: String,
    /// Findings confirmed in this step.
    pub findings: Vec<Finding>,
    /// A `block` finding has been confirmed: nothing from its start on will ever be released.
    pub blocked: bool,
}

/// A sans-IO streaming check: feed chunks as they arrive, send on what it releases.
///
/// It holds back only what a rule could still match across the chunk boundary, so a blocked
/// phrase never leaves, even when split across upstream chunks. For any chunking, the findings of
/// [`StreamMatcher::decision`] equal [`Matcher::check`](crate::Matcher::check) on the whole text.
pub struct StreamMatcher<'m> {
    scan: Scan<'m>,
    released: usize,
    reported: usize,
}

impl<'m> StreamMatcher<'m> {
    /// A stream over `matcher` in context `ctx`.
    pub fn new(matcher: &'m Matcher, ctx: Context) -> Self {
        Self {
            scan: Scan::new(matcher, ctx, true),
            released: 0,
            reported: 0,
        }
    }

    /// Feeds the next chunk.
    pub fn feed(&mut self, chunk: &str) -> StreamStep {
        self.scan.push_str(chunk);
        self.step()
    }

    /// End of the stream: everything is decided; releases the rest unless blocked.
    pub fn finish(&mut self) -> StreamStep {
        self.scan.finish();
        self.step()
    }

    /// The decision so far (final after [`StreamMatcher::finish`]).
    pub fn decision(&mut self) -> Decision {
        self.scan.decision()
    }

    /// Characters released so far.
    pub fn released_chars(&self) -> usize {
        self.released
    }

    fn step(&mut self) -> StreamStep {
        self.scan.ensure_bytes();
        let findings = self.scan.raw[self.reported..]
            .iter()
            .map(|r| self.scan.materialise(r))
            .collect();
        self.reported = self.scan.raw.len();
        let block = self.scan.first_block();
        let mut to = self.scan.safe_end();
        if let Some(b) = block {
            to = to.min(b);
        }
        let to = to.max(self.released);
        let release = self.scan.render(self.released, to);
        self.released = to;
        StreamStep {
            release,
            findings,
            blocked: block.is_some(),
        }
    }
}
