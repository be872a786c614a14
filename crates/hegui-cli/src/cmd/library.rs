//! `hegui library`: the feature library's admission procedure from the command line (DS-10).

use crate::flags::{ActorArgs, LibraryArgs, LibraryCommand};
use anyhow::{Context as _, Result, bail};
use hegui_core::{Clock, SystemClock};
use hegui_guard::library::{Actor, ImportOptions, LibraryDiff, LintLevel, snapshot_path};
use hegui_guard::{Audience, FeatureLibrary, RuleAction, Scope, Status};
use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

/// `println!` that returns a closed pipe (`hegui library stats | head`) as an error instead of
/// panicking; `main` treats it as success.
macro_rules! say {
    ($($arg:tt)*) => {
        writeln!(std::io::stdout().lock(), $($arg)*)?
    };
}

fn actor(a: &ActorArgs) -> Actor {
    let name =
        a.by.clone()
            .or_else(|| std::env::var("USER").ok())
            .unwrap_or_else(|| "unknown".into());
    Actor::new(name, SystemClock.now_millis())
}

fn open_or_new(path: &Path) -> Result<FeatureLibrary> {
    if path.exists() {
        FeatureLibrary::load(path).with_context(|| format!("loading {}", path.display()))
    } else {
        let name = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        Ok(FeatureLibrary::new(&name))
    }
}

fn load(path: &Path) -> Result<FeatureLibrary> {
    FeatureLibrary::load(path).with_context(|| format!("loading {}", path.display()))
}

fn commit(lib: &mut FeatureLibrary, path: &Path) -> Result<()> {
    let snap = lib
        .commit(path, SystemClock.now_millis())
        .with_context(|| format!("writing {}", path.display()))?;
    eprintln!(
        "{} is now version {} (snapshot {})",
        path.display(),
        lib.header.version,
        snap.display()
    );
    Ok(())
}

/// Runs `hegui library …`.
pub fn run(args: LibraryArgs) -> Result<ExitCode> {
    match args.command {
        LibraryCommand::Init {
            library,
            from_default,
        } => {
            if library.exists() {
                bail!(
                    "{} exists; refusing to overwrite a library",
                    library.display()
                );
            }
            let mut lib = if from_default {
                hegui_guard::default_library().clone()
            } else {
                FeatureLibrary::new(
                    &library
                        .file_stem()
                        .map(|s| s.to_string_lossy().into_owned())
                        .unwrap_or_default(),
                )
            };
            lib.header.version = 0;
            commit(&mut lib, &library)?;
            Ok(ExitCode::SUCCESS)
        }
        LibraryCommand::Import {
            library,
            category,
            approved_by,
            exemptions,
            action,
            scope,
            audience,
            pinyin,
            reason,
            actor: who,
            file,
        } => {
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("reading {}", file.display()))?;
            let mut lib = open_or_new(&library)?;
            let author = actor(&who);
            let approver = approved_by.map(|n| Actor::new(n, author.at));
            let report = if exemptions {
                lib.import_exemptions(&text, &category, &author, approver.as_ref())?
            } else {
                let mut opts = ImportOptions::new(&category);
                if let Some(a) = action {
                    opts.action = match a.as_str() {
                        "review" => RuleAction::Review,
                        "flag" => RuleAction::Flag,
                        "mask" => RuleAction::Mask,
                        "refute" => RuleAction::Refute,
                        _ => RuleAction::Block,
                    };
                }
                if let Some(s) = scope {
                    opts.scope = match s.as_str() {
                        "input" => Scope::Input,
                        "output" => Scope::Output,
                        _ => Scope::Both,
                    };
                }
                if let Some(a) = audience {
                    opts.audience = match a.as_str() {
                        "minor" => Audience::Minor,
                        "elderly" => Audience::Elderly,
                        _ => Audience::All,
                    };
                }
                opts.pinyin = pinyin;
                opts.reason = reason.unwrap_or_else(|| format!("import {}", file.display()));
                lib.import_terms(&text, &opts, &author, approver.as_ref())?
            };
            eprintln!("{report}");
            commit(&mut lib, &library)?;
            Ok(if report.invalid.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        LibraryCommand::Lint { library } => {
            let lib = match library {
                Some(p) => load(&p)?,
                None => hegui_guard::default_library().clone(),
            };
            let issues = lib.lint();
            for i in &issues {
                say!("{i}");
            }
            let errors = issues
                .iter()
                .filter(|i| i.level == LintLevel::Error)
                .count();
            eprintln!(
                "{} entries, {} errors, {} warnings",
                lib.entries.len(),
                errors,
                issues.len() - errors
            );
            Ok(if errors == 0 {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        LibraryCommand::Stats { library, json } => {
            let lib = match library {
                Some(p) => load(&p)?,
                None => hegui_guard::default_library().clone(),
            };
            let cov = lib.coverage();
            if json {
                say!("{}", cov.to_json());
            } else {
                say!("{}", cov.to_string().trim_end());
            }
            Ok(ExitCode::SUCCESS)
        }
        LibraryCommand::Diff {
            library,
            from,
            to,
            json,
            files,
        } => {
            let (old, new) = match (library, from, files.as_slice()) {
                (Some(lib), Some(from), []) => {
                    let old = load(&snapshot_path(&lib, from))?;
                    let new = match to {
                        Some(v) => load(&snapshot_path(&lib, v))?,
                        None => load(&lib)?,
                    };
                    (old, new)
                }
                (None, None, [a, b]) => (load(a)?, load(b)?),
                _ => bail!("give either --library PATH --from N [--to M], or two files OLD NEW"),
            };
            let diff = LibraryDiff::between(&old, &new);
            if json {
                say!("{}", diff.to_json());
            } else {
                say!("{}", diff.to_string().trim_end());
            }
            Ok(ExitCode::SUCCESS)
        }
        LibraryCommand::Approve {
            library,
            all_drafts,
            actor: who,
            ids,
        } => {
            let mut lib = load(&library)?;
            let ids = if all_drafts {
                lib.ids_with_status(Status::Draft)
            } else {
                ids
            };
            if ids.is_empty() {
                bail!("no entries given (ids, or --all-drafts)");
            }
            let n = lib.approve(&ids, &actor(&who))?;
            eprintln!("{n} approved");
            commit(&mut lib, &library)?;
            Ok(ExitCode::SUCCESS)
        }
        LibraryCommand::Activate {
            library,
            all_approved,
            actor: who,
            ids,
        } => {
            let mut lib = load(&library)?;
            let ids = if all_approved {
                lib.ids_with_status(Status::Approved)
            } else {
                ids
            };
            if ids.is_empty() {
                bail!("no entries given (ids, or --all-approved)");
            }
            let n = lib.activate(&ids, &actor(&who))?;
            eprintln!("{n} activated");
            commit(&mut lib, &library)?;
            Ok(ExitCode::SUCCESS)
        }
        LibraryCommand::Retire {
            library,
            reason,
            actor: who,
            ids,
        } => {
            let mut lib = load(&library)?;
            let n = lib.retire(&ids, &actor(&who), &reason)?;
            eprintln!("{n} retired");
            commit(&mut lib, &library)?;
            Ok(ExitCode::SUCCESS)
        }
    }
}
