//! The `hegui` binary: parse flags, run one subcommand, map the outcome to an exit code.
//! All logic lives in the libraries; this shell only wires them (see ARCHITECTURE.md).

mod batch;
mod cmd;
mod flags;

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = flags::Cli::parse();
    match cmd::run(cli) {
        Ok(code) => code,
        Err(err) => {
            // A closed pipe (`hegui inspect … | head`) is not a failure.
            if err
                .chain()
                .filter_map(|e| e.downcast_ref::<std::io::Error>())
                .any(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
            {
                return ExitCode::SUCCESS;
            }
            eprintln!("error: {err:#}");
            ExitCode::from(2)
        }
    }
}
