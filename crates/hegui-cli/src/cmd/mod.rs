//! One module per subcommand.

mod c2pa_step;
pub mod guard;
mod inspect;
mod keygen;
mod label;
mod library;
mod propagate;
mod scan;
pub mod serve;

use crate::flags::{Cli, Command};
use std::process::ExitCode;

/// Runs the chosen subcommand.
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Keygen(args) => keygen::run(args),
        Command::Label(args) => label::run(args),
        Command::Inspect(args) => inspect::run(args),
        Command::Propagate(args) => propagate::run(args),
        Command::Scan(args) => scan::run(args),
        Command::Library(args) => library::run(args),
        Command::Guard(args) => guard::run(args),
        Command::Serve(args) => serve::serve(args),
        Command::Config(args) => serve::config(args),
        Command::App(args) => serve::app(args),
        Command::Audit(args) => serve::audit(args),
        Command::Admin(args) => serve::admin(args),
    }
}

/// Prints the failures after a batch and picks the exit code: 0 when none failed, 1 otherwise.
fn finish(done: usize, verb: &str, failures: &[String]) -> ExitCode {
    for f in failures {
        eprintln!("error: {f}");
    }
    eprintln!("{done} {verb}, {} failed", failures.len());
    if failures.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// Whether a file found while walking a directory is one hegui labels.
fn known_format(path: &std::path::Path) -> bool {
    let mut head = [0u8; 64];
    let n = std::fs::File::open(path)
        .and_then(|mut f| std::io::Read::read(&mut f, &mut head))
        .unwrap_or(0);
    hegui_label::Format::sniff(&head[..n], Some(path)).is_some()
}

/// Loads the SM2 signing key named by `--key`, if any.
fn load_signer(path: Option<&std::path::Path>) -> anyhow::Result<Option<hegui_label::LabelSigner>> {
    use anyhow::Context;
    let Some(p) = path else {
        return Ok(None);
    };
    let pem = std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?;
    Ok(Some(hegui_label::LabelSigner::from_pem(&pem)?))
}
