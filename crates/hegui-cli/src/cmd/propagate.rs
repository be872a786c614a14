//! `hegui propagate`: a platform adds its members to the label (Labelling Measures art. 6).

use super::{c2pa_step, finish, known_format};
use crate::batch;
use crate::flags::PropagateArgs;
use anyhow::{Context, Result, bail};
use hegui_label::{PropagateRequest, PropagationBasis};
use std::process::ExitCode;

pub fn run(args: PropagateArgs) -> Result<ExitCode> {
    let signer = super::load_signer(args.key.as_deref())?;
    let basis = match (args.declared, args.detected) {
        (true, _) => Some(PropagationBasis::Declared),
        (_, true) => Some(PropagationBasis::Detected),
        _ => None,
    };
    let c2pa = c2pa_step::load(&args.c2pa)?;
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
    let results = batch::run(&jobs, "propagating", |job| -> anyhow::Result<_> {
        let p = hegui_label::propagate_file(&job.input, &job.output, &req)?;
        if let Some(c) = &c2pa {
            // The propagation fields changed the bytes an earlier manifest hashed: re-sign with
            // that manifest as the parent ingredient (labeling.md §9, G2).
            c.sign(&job.output, p.format, true)
                .with_context(|| format!("{}: C2PA", job.output.display()))?;
        }
        Ok(p)
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
                // With --c2pa the manifest was just re-signed; otherwise say it no longer holds.
                if !args.c2pa.c2pa {
                    for w in &p.warnings {
                        eprintln!("warning: {}: {w}", job.output.display());
                    }
                }
            }
            Err(e) => failures.push(format!("{e:#}")),
        }
    }
    Ok(finish(done, "propagated", &failures))
}
