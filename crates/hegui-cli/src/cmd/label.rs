//! `hegui label`: write the implicit label into generated files, optionally with the explicit
//! label first and a C2PA manifest after.

use super::{c2pa_step, finish, known_format};
use crate::batch;
use crate::flags::{ExplicitArgs, LabelArgs};
use anyhow::{Context, Result, bail};
use hegui_label::explicit::text::TextPlacement;
use hegui_label::explicit::{AudioPlacement, ExplicitKind, LabelText, Position};
use hegui_label::ops::ExplicitRequest;
use hegui_label::{AigcClass, LabelRequest};
use std::path::Path;
use std::process::ExitCode;

/// The explicit request the flags describe, if any.
fn explicit_request(args: &ExplicitArgs) -> Result<Option<ExplicitRequest>> {
    let Some(kind) = args.explicit.as_deref() else {
        return Ok(None);
    };
    let kind = match kind {
        "text" => ExplicitKind::Text,
        "image" => ExplicitKind::Image,
        "audio" => ExplicitKind::Audio,
        "video" => ExplicitKind::Video,
        _ => ExplicitKind::Auto,
    };
    Ok(Some(ExplicitRequest {
        kind,
        text: LabelText::new(args.label_text.clone())?,
        position: args.position.parse::<Position>()?,
        audio_placement: match args.audio_at.as_str() {
            "end" => AudioPlacement::End,
            "both" => AudioPlacement::Both,
            _ => AudioPlacement::Start,
        },
        text_placement: match args.text_at.as_str() {
            "prefix" => TextPlacement::Prefix,
            _ => TextPlacement::Suffix,
        },
    }))
}

fn is_plain_text(path: &Path) -> bool {
    path.extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("txt"))
}

pub fn run(args: LabelArgs) -> Result<ExitCode> {
    let signer = super::load_signer(args.key.as_deref())?;
    let class = AigcClass::from_label_value(&args.label).context("--label must be 1, 2 or 3")?;
    let explicit = explicit_request(&args.explicit)?;
    let c2pa = c2pa_step::load(&args.c2pa)?;
    // Plain text has no metadata container: it is labelled only when an explicit label is asked.
    let wants_text = explicit.is_some();
    let inputs = batch::expand(&args.paths, |p| {
        known_format(p) || (wants_text && is_plain_text(p))
    })?;
    if args.produce_id.is_some() && inputs.len() > 1 {
        bail!(
            "--produce-id names one file's content ID; omit it so each of the {} files gets a unique one",
            inputs.len()
        );
    }
    let jobs = batch::jobs(inputs, args.output.out_dir.as_deref())?;
    let req = LabelRequest {
        producer: args.producer,
        produce_id: args.produce_id,
        class,
        signer,
        explicit,
    };
    let results = batch::run(&jobs, "labelling", |job| -> Result<String> {
        if is_plain_text(&job.input) {
            let Some(ex) = &req.explicit else {
                bail!(
                    "{}: plain text has no metadata container for an implicit label; use --explicit=text",
                    job.input.display()
                );
            };
            hegui_label::ops::label_plain_text_file(
                &job.input,
                &job.output,
                &ex.text,
                ex.text_placement,
            )?;
            return Ok(format!(
                "labelled {} -> {} [text] explicit=text (no implicit label: plain text has no metadata)",
                job.input.display(),
                job.output.display()
            ));
        }
        let w = hegui_label::label_file(&job.input, &job.output, &req)?;
        if let Some(c) = &c2pa {
            c.sign(&job.output, w.format, false)
                .with_context(|| format!("{}: C2PA", job.output.display()))?;
        }
        let mut line = format!(
            "labelled {} -> {} [{}] ProduceID={}",
            job.input.display(),
            job.output.display(),
            w.format,
            w.label.produce_id
        );
        if let Some(done) = &w.explicit {
            line.push_str(match done {
                hegui_label::ops::ExplicitDone::Text => " explicit=text",
                hegui_label::ops::ExplicitDone::Image(_) => " explicit=image",
                hegui_label::ops::ExplicitDone::Audio(_) => " explicit=audio",
                hegui_label::ops::ExplicitDone::Video(_) => " explicit=video",
                _ => " explicit",
            });
            for warning in done.warnings() {
                line.push_str(&format!("\n  warning: {warning}"));
            }
        }
        if c2pa.is_some() {
            line.push_str(" c2pa=signed");
        }
        Ok(line)
    });
    let mut failures = Vec::new();
    let mut done = 0;
    for result in results {
        match result {
            Ok(line) => {
                done += 1;
                println!("{line}");
            }
            Err(e) => failures.push(format!("{e:#}")),
        }
    }
    Ok(finish(done, "labelled", &failures))
}
