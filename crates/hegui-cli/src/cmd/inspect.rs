//! `hegui inspect`: the platform-side check of uploads.

use crate::batch;
use crate::flags::InspectArgs;
use anyhow::{Context, Result};
use hegui_label::{InspectOptions, LabelVerifier};
use std::io::Write;
use std::process::ExitCode;

pub fn run(args: InspectArgs) -> Result<ExitCode> {
    let pinned = match &args.pubkey {
        Some(p) => Some(LabelVerifier::from_pem(
            &std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?,
        )?),
        None => None,
    };
    let opts = InspectOptions { pinned };
    // Every file is reported, known format or not: "inconclusive" is an answer too.
    let inputs = batch::expand(&args.paths, |_| true)?;
    let results = batch::run(&inputs, "inspecting", |(path, _)| {
        hegui_label::inspect_file(path, &opts)
    });
    let mut failures = Vec::new();
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    for result in results {
        match result {
            Ok(report) => {
                let c2pa =
                    super::c2pa_step::status(std::path::Path::new(&report.path), report.format);
                if args.json {
                    let mut value = serde_json::to_value(&report)?;
                    if let (Some(obj), Some(c)) = (value.as_object_mut(), c2pa) {
                        obj.insert("c2pa".into(), c);
                    }
                    writeln!(out, "{value}")?;
                } else {
                    let verdict = serde_json::to_value(report.verdict)?;
                    let signature = serde_json::to_value(report.signature)?;
                    writeln!(
                        out,
                        "{}: {} ({}), signature {}",
                        report.path,
                        verdict.as_str().unwrap_or("?"),
                        report.format.unwrap_or("unknown format"),
                        signature.as_str().unwrap_or("?")
                    )?;
                    if let Some(l) = &report.label {
                        writeln!(out, "  label: {}", brief(l))?;
                    }
                    for p in &report.problems {
                        writeln!(out, "  - {p}")?;
                    }
                    if let Some(c) = c2pa.filter(|c| c["present"] == true) {
                        writeln!(
                            out,
                            "  c2pa: {} {}",
                            c["validation_state"].as_str().unwrap_or("?"),
                            c["digital_source_type"].as_str().unwrap_or("")
                        )?;
                    }
                }
            }
            Err(e) => failures.push(e.to_string()),
        }
    }
    out.flush()?;
    drop(out);
    for f in &failures {
        eprintln!("error: {f}");
    }
    Ok(if failures.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// The label for people: the fields in Annex E order, long reserved values shortened (the JSON
/// output keeps them whole).
fn brief(label: &hegui_label::ImplicitLabel) -> String {
    label
        .fields()
        .iter()
        .map(|(k, v)| {
            let v = if v.chars().count() > 48 {
                match hegui_label::security::SecurityData::parse(v) {
                    Some(sd) => format!("<SM2 SecurityData, key {}>", sd.key_id),
                    None => format!("{}…", v.chars().take(40).collect::<String>()),
                }
            } else {
                v.to_string()
            };
            format!("{k}={v}")
        })
        .collect::<Vec<_>>()
        .join(" ")
}
