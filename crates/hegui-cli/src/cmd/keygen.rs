//! `hegui keygen`: an SM2 key pair for signing labels.

use crate::flags::KeygenArgs;
use anyhow::{Context, Result, bail};
use std::io::Write;
use std::process::ExitCode;

/// File name of the private key.
const PRIVATE: &str = "hegui-sm2.key";
/// File name of the public key.
const PUBLIC: &str = "hegui-sm2.pub";

pub fn run(args: KeygenArgs) -> Result<ExitCode> {
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    let private = args.out.join(PRIVATE);
    let public = args.out.join(PUBLIC);
    for p in [&private, &public] {
        if p.exists() {
            bail!("{} exists; refusing to overwrite a key", p.display());
        }
    }
    let pair = hegui_label::generate_key_pair()?;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    let mut f = opts
        .open(&private)
        .with_context(|| format!("writing {}", private.display()))?;
    f.write_all(pair.private_pem.as_bytes())?;
    f.sync_all()?;
    std::fs::write(&public, pair.public_pem.as_bytes())
        .with_context(|| format!("writing {}", public.display()))?;
    println!("{}", private.display());
    println!("{}", public.display());
    Ok(ExitCode::SUCCESS)
}
