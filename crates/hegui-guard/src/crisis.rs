//! Built-in detectors written as our own lexicon (`detectors/*.tsv`): crisis signals in user input
//! with severity levels (AIAI-7(1)), exit intent in user input and retention manipulation in model
//! output after the user says goodbye (DVH-18, AIAI-6(4)).
//!
//! Severity scale: 1 extreme emotion (S1), 2 farewell (S4), 3 suicide or self-harm intent (S2) or a
//! report of major property loss or fraud (S5), 4 a plan or method (S3).
//! [`INTERVENTION_SEVERITY`] and above call for intervention in the same turn.

use crate::decision::Scope;

/// Severity at which a crisis signal calls for intervention (AIAI-7(1)).
pub const INTERVENTION_SEVERITY: u8 = 3;

/// One built-in detector rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DetectorRule {
    /// Stable id, e.g. `S2-0001`; findings use `crisis.S2-0001` or `exit.E1-0001`.
    pub id: String,
    /// Taxonomy id (S1–S5, E1, C6).
    pub category: &'static str,
    /// Crisis severity (0 for E1 and C6).
    pub severity: u8,
    /// Pattern (library syntax).
    pub pattern: String,
    /// Input for S* and E1, output for C6.
    pub scope: Scope,
    /// C6 rules only apply after the user has said goodbye.
    pub only_on_exit: bool,
}

static CRISIS: &str = include_str!("../detectors/crisis.tsv");
static EXIT: &str = include_str!("../detectors/exit.tsv");

/// Every built-in detector rule. Malformed lines are skipped here and caught by a unit test.
pub fn rules() -> Vec<DetectorRule> {
    let mut out = Vec::new();
    for (prefix, src) in [("crisis", CRISIS), ("exit", EXIT)] {
        for line in src.lines() {
            if line.starts_with('#') || line.trim().is_empty() {
                continue;
            }
            let f: Vec<&str> = line.split('\t').collect();
            let [id, cat, sev, pat] = f.as_slice() else {
                continue;
            };
            let Some(category) = crate::taxonomy::intern(cat.trim()) else {
                continue;
            };
            let Ok(severity) = sev.trim().parse::<u8>() else {
                continue;
            };
            let output = category == "C6";
            out.push(DetectorRule {
                id: format!("{prefix}.{}", id.trim()),
                category,
                severity,
                pattern: pat.trim().to_string(),
                scope: if output { Scope::Output } else { Scope::Input },
                only_on_exit: output,
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aiai_7_1_detector_files_are_well_formed() {
        let mut ids = std::collections::HashSet::new();
        for (name, src) in [("crisis", CRISIS), ("exit", EXIT)] {
            for (n, line) in src.lines().enumerate() {
                if line.starts_with('#') || line.trim().is_empty() {
                    continue;
                }
                let f: Vec<&str> = line.split('\t').collect();
                assert_eq!(f.len(), 4, "{name}.tsv:{}: {line}", n + 1);
                assert!(crate::taxonomy::get(f[1]).is_some(), "{name}.tsv:{}", n + 1);
                let sev: u8 = f[2].parse().expect("severity");
                let want = match f[1] {
                    "S1" => 1,
                    "S4" => 2,
                    "S2" | "S5" => 3,
                    "S3" => 4,
                    _ => 0,
                };
                assert_eq!(sev, want, "{name}.tsv:{}: severity of {}", n + 1, f[1]);
                assert!(
                    crate::pattern::Pattern::parse(f[3]).is_ok(),
                    "{name}.tsv:{}",
                    n + 1
                );
                assert!(ids.insert(f[0].to_string()), "duplicate id {}", f[0]);
            }
        }
        assert_eq!(rules().len(), ids.len());
    }
}
