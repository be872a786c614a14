//! The compiled matcher: every active library entry and built-in detector rule in one
//! character-wise double-array Aho-Corasick automaton (`daachorse`), run over the folded text.
//!
//! Engine choice, measured in `../shared/spec/safety.md` §4 on CJK: daachorse's charwise automaton
//! is the fastest (359 MB/s at 50k patterns vs 110–125 MB/s for `aho-corasick`'s NFA) and the
//! smallest, and its stepper exposes the automaton depth, which is exactly how many trailing
//! characters a stream must hold back. `matcher_rs` normalises well but reports no offsets into the
//! original text and has no streaming mode, so we use its tables (see `tables/README.md`), not its
//! matcher.

use crate::classifier::{Classifier, ClassifierThresholds};
use crate::decision::{Action, Audience, Context, Decision, Scope};
use crate::library::{EntryKind, FeatureLibrary};
use crate::normalize::fold;
use crate::pattern::Pattern;
use crate::pii::PiiKind;
use crate::split::{pinyin_variants, split_variants};
use crate::stream::{Scan, StreamMatcher};
use daachorse::{CharwiseDoubleArrayAhoCorasick, CharwiseDoubleArrayAhoCorasickBuilder, MatchKind};
use std::collections::HashMap;
use std::ops::Range;
use std::sync::Arc;

/// Why a matcher could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// An entry's pattern does not parse.
    #[error("entry {id}: pattern {pattern:?}: {message}")]
    Pattern {
        /// The entry or detector rule.
        id: String,
        /// The pattern.
        pattern: String,
        /// What is wrong.
        message: String,
    },
    /// An entry names a category outside the taxonomy.
    #[error("entry {id}: unknown category {category}")]
    UnknownCategory {
        /// The entry.
        id: String,
        /// The category.
        category: String,
    },
    /// The automaton could not be built.
    #[error("building the automaton: {0}")]
    Automaton(String),
}

/// One rule as the matcher sees it: a library entry or a detector rule.
#[derive(Debug, Clone)]
pub(crate) struct Rule {
    pub id: Arc<str>,
    pub category: &'static str,
    pub action: Action,
    pub scope: Scope,
    pub audience: Audience,
    pub severity: Option<u8>,
    pub only_on_exit: bool,
}

impl Rule {
    pub fn applies(&self, ctx: &Context) -> bool {
        self.scope.applies_to(ctx.scope)
            && self.audience.applies_to(ctx.audience)
            && (!self.only_on_exit || ctx.exit_requested)
    }

    /// Bit `context_bit(ctx)` is set for every context this rule applies in.
    pub fn context_mask(&self) -> u32 {
        let mut mask = 0;
        for scope in [Scope::Input, Scope::Output, Scope::Both] {
            for audience in [Audience::All, Audience::Minor, Audience::Elderly] {
                for exit_requested in [false, true] {
                    let ctx = Context {
                        scope,
                        audience,
                        exit_requested,
                    };
                    if self.applies(&ctx) {
                        mask |= context_bit(&ctx);
                    }
                }
            }
        }
        mask
    }

    pub fn score(&self) -> f32 {
        self.severity.map_or(1.0, |s| f32::from(s) / 4.0)
    }
}

/// One bit per check context (3 scopes × 3 audiences × exit requested or not).
pub(crate) fn context_bit(ctx: &Context) -> u32 {
    let scope = match ctx.scope {
        Scope::Input => 0,
        Scope::Output => 1,
        Scope::Both => 2,
    };
    let audience = match ctx.audience {
        Audience::All => 0,
        Audience::Minor => 1,
        Audience::Elderly => 2,
    };
    1 << (scope * 6 + audience * 2 + u32::from(ctx.exit_requested))
}

/// What a folded pattern feeds when it occurs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Use {
    /// A literal rule matched.
    Rule(u32),
    /// Part `part` of combination `combo` occurred.
    Part { combo: u32, part: u16 },
}

/// A distinct folded pattern in the automaton.
#[derive(Debug, Clone)]
pub(crate) struct Pat {
    pub len: u32,
    pub bound_start: bool,
    pub bound_end: bool,
    /// Literal rules this pattern matches (into `Matcher::rule_uses`).
    pub rules: Range<u32>,
    /// Combinations whose anchor part this pattern spells (into `Matcher::anchor_uses`).
    pub anchors: Range<u32>,
    /// Spells some part of some combination: its first occurrence is recorded.
    pub in_combo: bool,
    /// Also an exemption term: its occurrences cover rule occurrences inside them.
    pub exempt: bool,
}

impl Pat {
    /// Whether an occurrence needs confirming at all.
    pub fn live(&self) -> bool {
        !self.rules.is_empty() || self.in_combo
    }
}

/// An AND/NOT combination: parts `0..pos` must occur, parts `pos..pos+neg` must not.
///
/// Only the occurrence of its *anchor* part (the one with the longest, so rarest, spelling) makes
/// a scan look at a combination, so a common part such as 万 shared by hundreds of combinations
/// costs one map entry, not hundreds.
#[derive(Debug, Clone)]
pub(crate) struct Combo {
    pub rule: u32,
    pub pos: u16,
    pub neg: u16,
    /// Part `p` is spelled by the patterns `part_pats[parts.start + p]`.
    pub parts: u32,
}

/// Sizes of a compiled matcher.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MatcherStats {
    /// Rules (library entries and detector rules).
    pub rules: usize,
    /// Distinct folded patterns in the automaton (variants included).
    pub patterns: usize,
    /// Exemption patterns.
    pub exemptions: usize,
    /// Regular-expression rules.
    pub regexes: usize,
    /// Heap bytes of the automata.
    pub automaton_bytes: usize,
}

/// A compiled feature library plus the built-in detectors and an optional classifier.
/// Cheap to share (`Arc<Matcher>`); checking never fails.
pub struct Matcher {
    /// Rule, combination-part and exemption patterns in one automaton (values index `pats`).
    pub(crate) ac: Option<CharwiseDoubleArrayAhoCorasick<u32>>,
    pub(crate) pats: Vec<Pat>,
    pub(crate) rule_uses: Vec<u32>,
    pub(crate) anchor_uses: Vec<u32>,
    /// Per combination part, the patterns that spell it (into `part_pat_ids`).
    pub(crate) part_pats: Vec<Range<u32>>,
    pub(crate) part_pat_ids: Vec<u32>,
    pub(crate) rules: Vec<Rule>,
    /// `Rule::context_mask` of every rule, packed for the hot path.
    pub(crate) rule_ctx: Vec<u32>,
    pub(crate) combos: Vec<Combo>,
    pub(crate) regexes: Vec<(u32, regex::Regex)>,
    /// Folded exemption terms, sorted, to ask whether an unfinished exemption could still cover
    /// an occurrence.
    pub(crate) exempt_terms: Vec<String>,
    /// Rule ids of the PII detectors, by `PiiKind` discriminant, shared by every finding.
    pub(crate) pii_rules: Vec<Arc<str>>,
    pub(crate) classifier: Option<Arc<dyn Classifier>>,
    pub(crate) thresholds: ClassifierThresholds,
    /// A model of crisis intent (AIAI-7(1)) beside the lexicon, and the probability at which it
    /// raises an intervention-level signal.
    pub(crate) crisis_model: Option<(Arc<dyn Classifier>, f32)>,
    version: u64,
    stats: MatcherStats,
}

impl std::fmt::Debug for Matcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Matcher")
            .field("version", &self.version)
            .field("stats", &self.stats)
            .field(
                "classifier",
                &self.classifier.as_ref().map(|c| c.rule().to_string()),
            )
            .finish()
    }
}

#[derive(Default)]
struct Builder {
    pat_ids: HashMap<String, u32>,
    pat_uses: Vec<Vec<Use>>,
    rules: Vec<Rule>,
    combos: Vec<Combo>,
    regexes: Vec<(u32, regex::Regex)>,
    exempt: Vec<String>,
    slots: u32,
}

impl Builder {
    fn add_term(&mut self, term: &str, pinyin: bool, to: Use) {
        let folded = fold(term);
        if folded.is_empty() {
            return;
        }
        let mut variants = split_variants(&folded);
        if pinyin {
            variants.extend(pinyin_variants(&folded));
        }
        self.add_folded(folded, to);
        for v in variants {
            let f = fold(&v);
            if !f.is_empty() {
                self.add_folded(f, to);
            }
        }
    }

    fn add_folded(&mut self, folded: String, to: Use) {
        let next = self.pat_uses.len() as u32;
        let id = *self.pat_ids.entry(folded).or_insert(next);
        if id == next {
            self.pat_uses.push(Vec::new());
        }
        let uses = &mut self.pat_uses[id as usize];
        if !uses.contains(&to) {
            uses.push(to);
        }
    }

    fn add_rule(
        &mut self,
        rule: Rule,
        patterns: &[String],
        pinyin: bool,
    ) -> Result<(), BuildError> {
        let r = self.rules.len() as u32;
        let id = rule.id.to_string();
        self.rules.push(rule);
        for p in patterns {
            let parsed = Pattern::parse(p).map_err(|e| BuildError::Pattern {
                id: id.clone(),
                pattern: p.clone(),
                message: e.message,
            })?;
            match parsed {
                Pattern::Literal(t) => self.add_term(&t, pinyin, Use::Rule(r)),
                Pattern::Combo { all, none } => {
                    let c = self.combos.len() as u32;
                    self.combos.push(Combo {
                        rule: r,
                        pos: all.len() as u16,
                        neg: none.len() as u16,
                        parts: self.slots,
                    });
                    self.slots += (all.len() + none.len()) as u32;
                    for (part, t) in all.iter().chain(&none).enumerate() {
                        self.add_term(
                            t,
                            pinyin,
                            Use::Part {
                                combo: c,
                                part: part as u16,
                            },
                        );
                    }
                }
                Pattern::Regex(re) => {
                    let compiled = regex::Regex::new(&re).map_err(|e| BuildError::Pattern {
                        id: id.clone(),
                        pattern: p.clone(),
                        message: e.to_string(),
                    })?;
                    self.regexes.push((r, compiled));
                }
            }
        }
        Ok(())
    }
}

fn automaton<'a>(
    patterns: impl IntoIterator<Item = (&'a str, u32)>,
) -> Result<Option<CharwiseDoubleArrayAhoCorasick<u32>>, BuildError> {
    let pv: Vec<(&str, u32)> = patterns.into_iter().collect();
    if pv.is_empty() {
        return Ok(None);
    }
    let mut ac = CharwiseDoubleArrayAhoCorasickBuilder::new()
        .match_kind(MatchKind::Standard)
        .build_with_values(pv)
        .map_err(|e| BuildError::Automaton(e.to_string()))?;
    ac.cache_depths()
        .map_err(|e| BuildError::Automaton(e.to_string()))?;
    Ok(Some(ac))
}

impl Matcher {
    /// Compiles the active entries of `library` together with the built-in detectors.
    pub fn build(library: &FeatureLibrary) -> Result<Matcher, BuildError> {
        let mut b = Builder::default();
        for e in library.active() {
            let Some(category) = crate::taxonomy::intern(&e.category) else {
                return Err(BuildError::UnknownCategory {
                    id: e.id.clone(),
                    category: e.category.clone(),
                });
            };
            match e.kind {
                EntryKind::Rule => b.add_rule(
                    Rule {
                        id: Arc::from(e.id.as_str()),
                        category,
                        action: e.action.decision_action(),
                        scope: e.scope,
                        audience: e.audience,
                        severity: None,
                        only_on_exit: false,
                    },
                    &e.patterns,
                    e.pinyin,
                )?,
                EntryKind::Exempt => {
                    for p in &e.patterns {
                        if let Ok(Pattern::Literal(t)) = Pattern::parse(p) {
                            let f = fold(&t);
                            if !f.is_empty() {
                                b.exempt.push(f);
                            }
                        }
                    }
                }
            }
        }
        for d in crate::crisis::rules() {
            let pattern = [d.pattern.clone()];
            b.add_rule(
                Rule {
                    id: Arc::from(d.id),
                    category: d.category,
                    action: Action::Flag,
                    scope: d.scope,
                    audience: Audience::All,
                    severity: (d.severity > 0).then_some(d.severity),
                    only_on_exit: d.only_on_exit,
                },
                &pattern,
                false,
            )?;
        }
        let mut exempt_ids = std::collections::HashSet::new();
        let mut exempt_terms = b.exempt.clone();
        exempt_terms.sort_unstable();
        exempt_terms.dedup();
        for f in std::mem::take(&mut b.exempt) {
            let next = b.pat_uses.len() as u32;
            let id = *b.pat_ids.entry(f).or_insert(next);
            if id == next {
                b.pat_uses.push(Vec::new());
            }
            exempt_ids.insert(id);
        }
        let mut order: Vec<(&String, &u32)> = b.pat_ids.iter().collect();
        order.sort_unstable_by_key(|(_, id)| **id);
        let ac = automaton(order.iter().map(|(s, id)| (s.as_str(), **id)))?;
        let lens: Vec<u32> = order
            .iter()
            .map(|(s, _)| s.chars().count() as u32)
            .collect();
        // Which patterns spell each combination part.
        let mut part_lists: Vec<Vec<u32>> = vec![Vec::new(); b.slots as usize];
        for (id, uses) in b.pat_uses.iter().enumerate() {
            for u in uses {
                if let Use::Part { combo, part } = *u {
                    let slot = b.combos[combo as usize].parts + u32::from(part);
                    part_lists[slot as usize].push(id as u32);
                }
            }
        }
        // Each combination's anchor: the positive part whose shortest spelling is longest.
        let mut anchors_of: Vec<Vec<u32>> = vec![Vec::new(); order.len()];
        for (ci, c) in b.combos.iter().enumerate() {
            let best = (0..c.pos)
                .map(|p| (c.parts + u32::from(p)) as usize)
                .max_by_key(|&slot| {
                    part_lists[slot]
                        .iter()
                        .map(|&id| lens[id as usize])
                        .min()
                        .unwrap_or(0)
                });
            if let Some(slot) = best {
                for &id in &part_lists[slot] {
                    anchors_of[id as usize].push(ci as u32);
                }
            }
        }
        let mut part_pats = Vec::with_capacity(part_lists.len());
        let mut part_pat_ids = Vec::new();
        for l in &part_lists {
            let start = part_pat_ids.len() as u32;
            part_pat_ids.extend_from_slice(l);
            part_pats.push(start..part_pat_ids.len() as u32);
        }
        let mut pats = Vec::with_capacity(order.len());
        let mut rule_uses = Vec::new();
        let mut anchor_uses = Vec::new();
        for (s, id) in &order {
            let uses = &b.pat_uses[**id as usize];
            let rs = rule_uses.len() as u32;
            rule_uses.extend(uses.iter().filter_map(|u| match u {
                Use::Rule(r) => Some(*r),
                Use::Part { .. } => None,
            }));
            let as_ = anchor_uses.len() as u32;
            anchor_uses.extend_from_slice(&anchors_of[**id as usize]);
            let first = s.chars().next().unwrap_or(' ');
            let last = s.chars().next_back().unwrap_or(' ');
            pats.push(Pat {
                len: lens[**id as usize],
                bound_start: first.is_ascii_alphanumeric(),
                bound_end: last.is_ascii_alphanumeric(),
                rules: rs..rule_uses.len() as u32,
                anchors: as_..anchor_uses.len() as u32,
                in_combo: uses.iter().any(|u| matches!(u, Use::Part { .. })),
                exempt: exempt_ids.contains(id),
            });
        }
        let automaton_bytes = ac.as_ref().map_or(0, |a| a.heap_bytes());
        let stats = MatcherStats {
            rules: b.rules.len(),
            patterns: pats.len(),
            exemptions: exempt_ids.len(),
            regexes: b.regexes.len(),
            automaton_bytes,
        };
        Ok(Matcher {
            ac,
            pats,
            rule_uses,
            anchor_uses,
            part_pats,
            part_pat_ids,
            rule_ctx: b.rules.iter().map(Rule::context_mask).collect(),
            rules: b.rules,
            combos: b.combos,
            regexes: b.regexes,
            exempt_terms,
            pii_rules: [
                PiiKind::ResidentId,
                PiiKind::Mobile,
                PiiKind::BankCard,
                PiiKind::Uscc,
                PiiKind::Email,
            ]
            .iter()
            .map(|k| Arc::from(k.rule()))
            .collect(),
            classifier: None,
            thresholds: ClassifierThresholds::default(),
            crisis_model: None,
            version: library.header.version,
            stats,
        })
    }

    /// Adds a classifier whose probability becomes a finding per `thresholds`.
    pub fn with_classifier(
        mut self,
        classifier: Arc<dyn Classifier>,
        thresholds: ClassifierThresholds,
    ) -> Self {
        self.classifier = Some(classifier);
        self.thresholds = thresholds;
        self
    }

    /// Adds a crisis model: on user input, a probability at or above `threshold` is a crisis
    /// signal of intervention severity in the model's category (the lexicon's phrasing misses
    /// much of how people say it; see `tests/it/crisis.rs` of `hegui-classifier`).
    pub fn with_crisis_model(mut self, model: Arc<dyn Classifier>, threshold: f32) -> Self {
        self.crisis_model = Some((model, threshold));
        self
    }

    /// The library version this matcher was built from.
    pub fn version(&self) -> u64 {
        self.version
    }

    /// Sizes.
    pub fn stats(&self) -> MatcherStats {
        self.stats
    }

    /// Checks one whole text.
    pub fn check(&self, text: &str, ctx: &Context) -> Decision {
        let mut scan = Scan::with_buffers(self, *ctx, false, crate::stream::take_buffers());
        scan.push_str(text);
        scan.finish();
        let d = scan.decision();
        crate::stream::give_back(scan.into_buffers());
        d
    }

    /// Starts a streaming check (see [`StreamMatcher`]).
    pub fn stream(&self, ctx: Context) -> StreamMatcher<'_> {
        StreamMatcher::new(self, ctx)
    }
}
