//! The service-facing handle: the current matcher behind an atomic swap.

use crate::classifier::{Classifier, ClassifierThresholds};
use crate::decision::{Context, Decision};
use crate::library::{FeatureLibrary, LibraryError};
use crate::matcher::{BuildError, Matcher};
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::sync::{Arc, RwLock};

/// Moderation settings that are configuration, not library content.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GuardConfig {
    /// Probability thresholds that turn the classifier's score into `flag`, `review`, `block`.
    pub classifier: ClassifierThresholds,
    /// Probability at which the crisis model raises an intervention-level signal (AIAI-7(1)).
    /// The default 0.6 is the highest threshold at which lexicon + model keep recall ≥ 0.98 on the
    /// validation half of `test_data/crisis/labelled.tsv` (a missed crisis costs more than a
    /// soothing reply to someone who is fine); `holdout.tsv` then measures it.
    pub crisis_threshold: f32,
}

impl Default for GuardConfig {
    fn default() -> Self {
        Self {
            classifier: ClassifierThresholds::default(),
            crisis_threshold: 0.6,
        }
    }
}

/// The trained models a guard runs beside the library.
#[derive(Clone, Default)]
pub struct Models {
    /// Offensive-language classifier (findings per `GuardConfig::classifier`).
    pub offensive: Option<Arc<dyn Classifier>>,
    /// Crisis-intent model (findings per `GuardConfig::crisis_threshold`).
    pub crisis: Option<Arc<dyn Classifier>>,
}

impl std::fmt::Debug for Models {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Models")
            .field(
                "offensive",
                &self.offensive.as_ref().map(|c| c.rule().to_string()),
            )
            .field(
                "crisis",
                &self.crisis.as_ref().map(|c| c.rule().to_string()),
            )
            .finish()
    }
}

impl Models {
    /// Attaches the models to a freshly built matcher.
    pub fn attach(&self, m: Matcher, config: &GuardConfig) -> Matcher {
        let m = match &self.offensive {
            Some(c) => m.with_classifier(c.clone(), config.classifier),
            None => m,
        };
        match &self.crisis {
            Some(c) => m.with_crisis_model(c.clone(), config.crisis_threshold),
            None => m,
        }
    }
}

/// Why a reload failed; the old matcher stays in service.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReloadError {
    /// The library file could not be read or parsed.
    #[error(transparent)]
    Library(#[from] LibraryError),
    /// The library could not be compiled.
    #[error(transparent)]
    Build(#[from] BuildError),
}

/// Shared moderation handle. Checks read the current matcher; [`Guard::swap`] and
/// [`Guard::reload`] replace it atomically, so a library change takes effect without restart and a
/// check never sees half of one.
pub struct Guard {
    current: RwLock<Arc<Matcher>>,
    models: Models,
    config: GuardConfig,
}

impl std::fmt::Debug for Guard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Guard")
            .field("matcher", &self.matcher())
            .field("config", &self.config)
            .finish()
    }
}

impl Guard {
    /// A guard over `library` with the given models.
    pub fn new(
        library: &FeatureLibrary,
        models: Models,
        config: GuardConfig,
    ) -> Result<Self, BuildError> {
        let m = models.attach(Matcher::build(library)?, &config);
        Ok(Guard {
            current: RwLock::new(Arc::new(m)),
            models,
            config,
        })
    }

    fn compile(&self, library: &FeatureLibrary) -> Result<Matcher, BuildError> {
        Ok(self.models.attach(Matcher::build(library)?, &self.config))
    }

    /// The matcher in service now. Hold the `Arc` for the length of one request or stream.
    pub fn matcher(&self) -> Arc<Matcher> {
        match self.current.read() {
            Ok(g) => g.clone(),
            // A panic while holding the lock cannot leave a half-written Arc behind.
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Checks one text with the matcher in service.
    pub fn check(&self, text: &str, ctx: &Context) -> Decision {
        self.matcher().check(text, ctx)
    }

    /// Puts `matcher` in service; returns the previous one.
    pub fn swap(&self, matcher: Matcher) -> Arc<Matcher> {
        let new = Arc::new(matcher);
        match self.current.write() {
            Ok(mut g) => std::mem::replace(&mut *g, new),
            Err(poisoned) => std::mem::replace(&mut *poisoned.into_inner(), new),
        }
    }

    /// Compiles `library` (with this guard's classifier) and swaps it in; on error the matcher in
    /// service is unchanged. Returns the new library version.
    pub fn replace_library(&self, library: &FeatureLibrary) -> Result<u64, BuildError> {
        let m = self.compile(library)?;
        let v = m.version();
        self.swap(m);
        Ok(v)
    }

    /// Reads the library file at `path`, compiles it and swaps it in; on error the matcher in
    /// service is unchanged.
    pub fn reload(&self, path: &Path) -> Result<u64, ReloadError> {
        let lib = FeatureLibrary::load(path)?;
        Ok(self.replace_library(&lib)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::library::{Actor, ImportOptions};

    fn lib(terms: &str) -> FeatureLibrary {
        let mut l = FeatureLibrary::new("t");
        l.import_terms(
            terms,
            &ImportOptions::new("A1.6"),
            &Actor::new("li", 0),
            Some(&Actor::new("wang", 0)),
        )
        .unwrap();
        l
    }

    #[test]
    fn ds10_library_swap_takes_effect_without_restart_and_streams_keep_their_matcher() {
        let g = Guard::new(&lib("裸聊\n"), Models::default(), GuardConfig::default()).unwrap();
        let held = g.matcher();
        let mut old_stream = held.stream(Context::output());
        assert_eq!(
            g.check("约炮", &Context::default()).action,
            crate::Action::Pass
        );
        g.replace_library(&lib("约炮\n")).unwrap();
        assert_eq!(
            g.check("约炮", &Context::default()).action,
            crate::Action::Block
        );
        assert_eq!(
            g.check("裸聊", &Context::default()).action,
            crate::Action::Pass
        );
        // A stream that started before the swap finishes on the library it started with.
        old_stream.feed("裸");
        assert!(old_stream.feed("聊").blocked);
    }

    #[test]
    fn ds10_failed_reload_keeps_the_matcher_in_service() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lib.jsonl");
        let g = Guard::new(&lib("裸聊\n"), Models::default(), GuardConfig::default()).unwrap();
        std::fs::write(&path, "not a library\n").unwrap();
        assert!(g.reload(&path).is_err());
        assert_eq!(
            g.check("裸聊", &Context::default()).action,
            crate::Action::Block
        );
        lib("约炮\n").save(&path).unwrap();
        g.reload(&path).unwrap();
        assert_eq!(
            g.check("约炮", &Context::default()).action,
            crate::Action::Block
        );
    }
}
