//! The moderation engine: the feature library (特征库), evasion-resistant normalisation, batch and
//! streaming matching, PII and crisis detectors, and the classifier seam.
//!
//! DS-10 obliges a provider to review user input and generated output and to keep a feature
//! library with admission standards, rules and procedures; GAI-12/15, AIAI-5 and DVH-11/12 name
//! what it must catch. The pieces:
//!
//! * [`taxonomy`]: the 31 risks of TC260-003 Appendix A plus companion, PII, crisis, exit and rumour
//!   categories, as data (`taxonomy.tsv`).
//! * [`library`]: [`FeatureLibrary`], its diff-friendly JSON Lines file, the draft → approved →
//!   active → retired workflow (an approver other than the author), snapshots, diff, lint and the
//!   coverage report against the standard's minimums.
//! * [`normalize`]: folds the common evasions (full-width, case, traditional characters, inserted
//!   symbols and zero-width characters, repeats, numerals, homoglyphs) while keeping a map back to
//!   the original text.
//! * [`Matcher`] (batch) and [`StreamMatcher`] (sans-IO, feed chunks, get back releasable text):
//!   for any chunking the stream finds exactly what the batch finds.
//! * [`pii`] and [`crisis`]: built-in detectors that always run.
//! * [`Classifier`]: the seam a trained model plugs into (see `hegui-classifier`).
//! * [`Guard`]: the service-facing handle with an atomic library swap.
//!
//! Checking never fails: it returns a [`Decision`]. Only building a matcher from a library can.

pub mod classifier;
pub mod crisis;
pub mod decision;
mod default_library;
mod guard;
pub mod library;
mod matcher;
pub mod normalize;
pub mod pattern;
pub mod pii;
mod split;
mod stream;
pub mod taxonomy;

pub use classifier::{Classifier, ClassifierThresholds};
pub use decision::{Action, Audience, Context, Decision, Finding, Scope};
pub use default_library::{TERM_FILES, default_library};
pub use guard::{Guard, GuardConfig, Models, ReloadError};
pub use library::{Entry, EntryKind, FeatureLibrary, LibraryError, RuleAction, Status};
pub use matcher::{BuildError, Matcher, MatcherStats};
pub use stream::{StreamMatcher, StreamStep};
