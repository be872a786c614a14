//! `hegui label`: write the implicit label into generated files.

use super::{finish, known_format};
use crate::batch;
use crate::flags::LabelArgs;
use anyhow::{Context, Result, bail};
use hegui_label::{AigcClass, LabelRequest, LabelSigner};
use std::process::ExitCode;

pub fn run(args: LabelArgs) -> Result<ExitCode> {
    let signer = match &args.key {
        Some(p) => Some(LabelSigner::from_pem(
            &std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?,
        )?),
        None => None,
    };
    let class = AigcClass::from_label_value(&args.label).context("--label must be 1, 2 or 3")?;
    let inputs = batch::expand(&args.paths, known_format)?;
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
    };
    let results = batch::run(&jobs, "labelling", |job| {
        hegui_label::label_file(&job.input, &job.output, &req)
    });
    let mut failures = Vec::new();
    let mut done = 0;
    for (job, result) in jobs.iter().zip(results) {
        match result {
            Ok(w) => {
                done += 1;
                println!(
                    "labelled {} -> {} [{}] ProduceID={}",
                    job.input.display(),
                    job.output.display(),
                    w.format,
                    w.label.produce_id
                );
            }
            Err(e) => failures.push(e.to_string()),
        }
    }
    Ok(finish(done, "labelled", &failures))
}
