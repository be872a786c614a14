//! The inspector a distribution platform runs on uploads (Labelling Measures art. 6 (1)): is
//! there a label, is it where and what GB 45438 says, is it the only one, and has anyone edited
//! it or the content since it was signed (DS-18)?
//!
//! Inspection never fails on a file's content: a file hegui cannot parse is `inconclusive`, not
//! `unlabeled`, because "we could not tell" must not read as "no label" (acceptance check F4).
//! Only an unreadable path is an error.

use crate::format::{self, Format};
use crate::label::ImplicitLabel;
use crate::ops::{self, Error};
use crate::security::{self, LabelVerifier, SignatureCheck};
use crate::sites::{SiteForm, labels_in};
use std::path::Path;

/// The inspector's conclusion about one file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// One conforming label, unaltered as far as a signature can tell.
    Labeled,
    /// No label site at all.
    Unlabeled,
    /// A signature shows the label or the content was changed after signing.
    Tampered,
    /// A label is there but breaks the standard (values, charset, placement, duplicates).
    Noncompliant,
    /// The file could not be parsed far enough to tell.
    Inconclusive,
}

/// The state of the label's signatures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SignatureStatus {
    /// Every `SecurityData` present verifies against label and content.
    Valid,
    /// A `SecurityData` does not verify.
    Invalid,
    /// Neither reserved field carries a signature.
    Absent,
    /// A reserved field holds something hegui cannot check (an opaque vendor value).
    Unchecked,
}

/// One label site as reported.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SiteReport {
    /// Where it is.
    pub location: String,
    /// Whether it is the guide's placement.
    pub canonical: bool,
    /// Bare, wrapped or unparsed.
    pub form: SiteForm,
}

/// The inspector's report on one file; `hegui inspect --json` prints it as one JSON line.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Inspection {
    /// The path as given.
    pub path: String,
    /// The detected format (`null` when unknown).
    pub format: Option<&'static str>,
    /// The conclusion.
    pub verdict: Verdict,
    /// The label (the canonical site's when there are several), with the Annex E keys.
    pub label: Option<ImplicitLabel>,
    /// Every label site found.
    pub sites: Vec<SiteReport>,
    /// Signature state.
    pub signature: SignatureStatus,
    /// What is wrong or noteworthy, most important first; non-fatal ones start with `warning:`.
    pub problems: Vec<String>,
}

/// Options for [`inspect_file`].
#[derive(Debug, Clone, Default)]
pub struct InspectOptions {
    /// A pinned public key: signatures must come from it.
    pub pinned: Option<LabelVerifier>,
}

/// Inspects one file. Errors only when the path cannot be read.
pub fn inspect_file(path: &Path, opts: &InspectOptions) -> Result<Inspection, Error> {
    let mut opened = ops::open(path)?;
    let mut report = Inspection {
        path: path.display().to_string(),
        format: opened.format.map(Format::name),
        verdict: Verdict::Inconclusive,
        label: None,
        sites: Vec::new(),
        signature: SignatureStatus::Absent,
        problems: Vec::new(),
    };
    let Some(format) = opened.format else {
        report
            .problems
            .push("not a file format hegui can read".into());
        return Ok(report);
    };
    let scan = match format::scan(format, &mut opened.reader) {
        Ok(s) => s,
        Err(e) => {
            report
                .problems
                .push(format!("could not parse the file: {e}"));
            return Ok(report);
        }
    };
    let found = labels_in(&scan);
    report.sites = found
        .iter()
        .map(|f| SiteReport {
            location: f.location.clone(),
            canonical: f.canonical,
            form: f.form(),
        })
        .collect();
    let notes: Vec<String> = scan.notes.iter().map(|n| format!("warning: {n}")).collect();
    if found.is_empty() {
        report.verdict = Verdict::Unlabeled;
        report.problems.extend(notes);
        return Ok(report);
    }
    let mut errors = Vec::new();
    let mut warnings = Vec::new();
    if found.len() > 1 {
        errors.push(format!(
            "{} label sites ({}); GB 45438 §6.1 c) allows exactly one",
            found.len(),
            found
                .iter()
                .map(|f| f.location.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    for f in &found {
        if let Some((ns, false)) = &f.xmp_namespace {
            errors.push(format!(
                "{}: AIGC property in namespace {ns:?}, not {}",
                f.location,
                crate::xmp::TC260_NS
            ));
        }
        if let Err(e) = &f.parsed {
            errors.push(format!("{}: {e}", f.location));
        }
    }
    // The label the file "has": the canonical site's, else the first readable one.
    let chosen = found
        .iter()
        .filter(|f| f.label().is_some())
        .max_by_key(|f| f.canonical)
        .or_else(|| found.iter().find(|f| f.label().is_some()));
    if let Some(site) = chosen {
        if !site.canonical && site.xmp_namespace.as_ref().is_none_or(|(_, ok)| *ok) {
            warnings.push(format!(
                "label at {}, not at the {} placement of the TC260 practice guide",
                site.location, format
            ));
        }
        if let Ok(parsed) = &site.parsed {
            let label = &parsed.label;
            errors.extend(label.problems().iter().map(ToString::to_string));
            warnings.extend(parsed.warnings.iter().cloned());
            warnings.extend(label.warnings());
            let (status, sig_problems) =
                check_signatures(path, format, &mut opened.reader, label, opts);
            report.signature = status;
            report.problems.extend(sig_problems.clone());
            report.label = Some(label.clone());
        }
    }
    report.verdict = if report.signature == SignatureStatus::Invalid {
        Verdict::Tampered
    } else if !errors.is_empty() || report.label.is_none() {
        Verdict::Noncompliant
    } else {
        Verdict::Labeled
    };
    let mut problems = errors;
    problems.append(&mut report.problems);
    problems.extend(warnings.into_iter().map(|w| format!("warning: {w}")));
    problems.extend(notes);
    report.problems = problems;
    Ok(report)
}

fn check_signatures(
    path: &Path,
    format: Format,
    src: &mut dyn format::ReadSeek,
    label: &ImplicitLabel,
    opts: &InspectOptions,
) -> (SignatureStatus, Vec<String>) {
    let fields = [
        ("ReservedCode1", &label.reserved_code1, label.producer_tbs()),
        (
            "ReservedCode2",
            &label.reserved_code2,
            label.propagator_tbs(),
        ),
    ];
    if fields.iter().all(|(_, v, _)| v.is_empty()) {
        let problems = if opts.pinned.is_some() {
            vec!["a public key is pinned but the label carries no signature".to_string()]
        } else {
            Vec::new()
        };
        return (SignatureStatus::Absent, problems);
    }
    // The content hash costs a full read, so it is computed once and only when needed.
    let content = match ops::content_hash(path, format, src) {
        Ok(h) => Some(h),
        Err(e) => {
            return (
                SignatureStatus::Unchecked,
                vec![format!("content hash failed: {e}")],
            );
        }
    };
    let mut problems = Vec::new();
    let mut any_valid = false;
    let mut any_invalid = false;
    for (name, value, tbs) in fields {
        if value.is_empty() {
            continue;
        }
        // The producer's key is pinned for ReservedCode1; a platform's key differs, so the pin
        // applies to ReservedCode2 only when ReservedCode1 is empty (a platform-only label).
        let pin = if name == "ReservedCode1" || label.reserved_code1.is_empty() {
            opts.pinned.as_ref()
        } else {
            None
        };
        match security::verify(value, &tbs, content.as_ref(), pin) {
            SignatureCheck::Valid { pinned } => {
                any_valid = true;
                if !pinned {
                    problems.push(format!(
                        "warning: {name} verifies with its embedded key; pin the signer's key (--pubkey) to know who signed"
                    ));
                }
            }
            SignatureCheck::Invalid(why) => {
                any_invalid = true;
                problems.insert(0, format!("{name}: {why}"));
            }
            SignatureCheck::Unchecked(why) => {
                problems.push(format!("warning: {name} not checked: {why}"));
            }
        }
    }
    let status = if any_invalid {
        SignatureStatus::Invalid
    } else if any_valid {
        // An opaque value beside a valid signature is reported as a warning, not a failure.
        SignatureStatus::Valid
    } else {
        SignatureStatus::Unchecked
    };
    (status, problems)
}
