//! `hegui propagate`: a platform adds its members to the label (Labelling Measures art. 6).

use super::{finish, known_format};
use crate::batch;
use crate::flags::PropagateArgs;
use anyhow::{Context, Result, bail};
use hegui_label::{LabelSigner, PropagateRequest, PropagationBasis};
use std::process::ExitCode;

pub fn run(args: PropagateArgs) -> Result<ExitCode> {
    let signer = match &args.key {
        Some(p) => Some(LabelSigner::from_pem(
            &std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?,
        )?),
        None => None,
    };
    let basis = match (args.declared, args.detected) {
        (true, _) => Some(PropagationBasis::Declared),
        (_, true) => Some(PropagationBasis::Detected),
        _ => None,
    };
    let inputs = batch::expand(&args.paths, known_format)?;
    if args.propagate_id.is_some() && inputs.len() > 1 {
        bail!(
            "--propagate-id names one file's content ID; omit it so each of the {} files gets a unique one",
            inputs.len()
        );
    }
    let jobs = batch::jobs(inputs, args.output.out_dir.as_deref())?;
    let req = PropagateRequest {
        propagator: args.propagator,
        propagate_id: args.propagate_id,
        basis,
        signer,
    };
    let results = batch::run(&jobs, "propagating", |job| {
        hegui_label::propagate_file(&job.input, &job.output, &req)
    });
    let mut failures = Vec::new();
    let mut done = 0;
    for (job, result) in jobs.iter().zip(results) {
        match result {
            Ok(p) => {
                done += 1;
                println!(
                    "propagated {} -> {} [{}] Label={} prompt={} PropagateID={}",
                    job.input.display(),
                    job.output.display(),
                    p.format,
                    p.label.label,
                    p.class.prompt(),
                    p.label.propagate_id
                );
            }
            Err(e) => failures.push(e.to_string()),
        }
    }
    Ok(finish(done, "propagated", &failures))
}
