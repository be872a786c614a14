//! What a check returns: one [`Decision`] per text with explainable [`Finding`]s.

use serde::{Deserialize, Serialize};

/// What to do with a text, weakest first; a decision takes the strongest action of its findings.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default,
)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// Nothing found that needs action.
    #[default]
    Pass,
    /// Recorded for statistics or downstream duties (crisis, exit, refutation), text released as is.
    Flag,
    /// Released with the matched spans masked.
    Mask,
    /// Held for human review (人工审核).
    Review,
    /// Refused.
    Block,
}

impl Action {
    /// The wire name (`pass`, `flag`, `mask`, `review`, `block`).
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Pass => "pass",
            Action::Flag => "flag",
            Action::Mask => "mask",
            Action::Review => "review",
            Action::Block => "block",
        }
    }
}

/// Which side of the model a text is on; library entries are scoped to one side or both.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// User input (输入数据).
    Input,
    /// Model output (合成结果).
    Output,
    /// Both; as a check context it means "apply every entry" (the CLI's default).
    #[default]
    Both,
}

impl Scope {
    /// True when an entry with scope `self` applies to a text checked in context `ctx`.
    pub fn applies_to(self, ctx: Scope) -> bool {
        matches!((self, ctx), (Scope::Both, _) | (_, Scope::Both)) || self == ctx
    }
}

/// Who the user is; stricter entries apply to minors or the elderly (AIAI-8).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Audience {
    /// Everyone.
    #[default]
    All,
    /// Users under 18 (未成年人).
    Minor,
    /// Elderly users (老年人).
    Elderly,
}

impl Audience {
    /// True when an entry for audience `self` applies to a user in audience `user`.
    pub fn applies_to(self, user: Audience) -> bool {
        self == Audience::All || self == user
    }
}

/// The circumstances of one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Context {
    /// Input, output, or both (apply everything).
    pub scope: Scope,
    /// The user's audience.
    pub audience: Audience,
    /// The user has said goodbye or asked to leave: retention-manipulation rules (C6) apply to the
    /// model's reply (DVH-18, AIAI-6(4)).
    pub exit_requested: bool,
}

impl Context {
    /// Context for a user's input.
    pub fn input() -> Self {
        Self {
            scope: Scope::Input,
            ..Self::default()
        }
    }

    /// Context for a model's output.
    pub fn output() -> Self {
        Self {
            scope: Scope::Output,
            ..Self::default()
        }
    }
}

/// One explainable reason for a decision.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Finding {
    /// Taxonomy id, e.g. `A1.6`, `P2`, `S3` (see [`crate::taxonomy`]).
    pub category: &'static str,
    /// The library entry id, or the detector rule (`pii.mobile`, `crisis.S2-0012`,
    /// `classifier.cold-offensive`). Shared with the matcher, so a finding costs no copy of it.
    pub rule: std::sync::Arc<str>,
    /// Start, in characters of the original text.
    pub start: usize,
    /// End (exclusive), in characters of the original text.
    pub end: usize,
    /// The original text of the span.
    pub text: String,
    /// 1.0 for rules; a detector's severity or the classifier's probability otherwise.
    pub score: f32,
    /// What this finding asks for.
    #[serde(skip)]
    pub action: Action,
    /// Crisis severity (1 = extreme emotion … 4 = plan or method), for crisis signals only.
    #[serde(skip)]
    pub severity: Option<u8>,
}

/// The outcome of checking one text. Checking never fails.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Decision {
    /// The strongest action of the findings.
    pub action: Action,
    /// Every finding, in order of start offset.
    pub findings: Vec<Finding>,
    /// The text with every `mask` finding's span masked (PII keeps a recognisable head and tail).
    pub masked: String,
}

impl Decision {
    /// True when nothing was found.
    pub fn is_pass(&self) -> bool {
        self.action == Action::Pass
    }

    /// The highest crisis severity among the findings, if any.
    pub fn crisis_severity(&self) -> Option<u8> {
        self.findings.iter().filter_map(|f| f.severity).max()
    }
}
