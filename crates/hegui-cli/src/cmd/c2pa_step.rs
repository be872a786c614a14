//! The one place where the `c2pa` feature is switched (ripgrep's enabled/disabled pattern): with
//! it, files are co-signed after the GB label and `inspect` reports the manifest; without it,
//! asking for C2PA is a clear error instead of a silent no-op.

use crate::flags::C2paArgs;
use anyhow::Result;
use std::path::Path;

#[cfg(feature = "c2pa")]
mod enabled {
    use super::*;
    use anyhow::Context;
    use hegui_label::Format;
    use hegui_label::c2pa::{C2paSigner, read, sign_created, sign_propagated};

    /// A loaded C2PA signer.
    pub struct C2pa(C2paSigner);

    /// Loads the signer when `--c2pa` was given.
    pub fn load(args: &C2paArgs) -> Result<Option<C2pa>> {
        if !args.c2pa {
            return Ok(None);
        }
        let (Some(cert), Some(key)) = (&args.c2pa_cert, &args.c2pa_key) else {
            anyhow::bail!("--c2pa needs --c2pa-cert and --c2pa-key");
        };
        Ok(Some(C2pa(C2paSigner::from_pem_files(cert, key, None)?)))
    }

    impl C2pa {
        /// Signs `path` in place: a temp file beside it, then a rename. `propagated` adds the
        /// earlier manifest as an ingredient (the GB propagation fields changed the bytes).
        pub fn sign(&self, path: &Path, format: Format, propagated: bool) -> Result<()> {
            let dir = path
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
                .unwrap_or(Path::new("."));
            let ext = path
                .extension()
                .map(|e| format!(".{}", e.to_string_lossy()))
                .unwrap_or_default();
            let tmp = tempfile::Builder::new()
                .prefix(".hegui-c2pa-")
                .suffix(&ext)
                .tempfile_in(dir)?
                .into_temp_path();
            if propagated {
                sign_propagated(path, &tmp, format, &self.0)?;
            } else {
                sign_created(path, &tmp, format, &self.0)?;
            }
            tmp.persist(path)
                .with_context(|| format!("replacing {}", path.display()))?;
            Ok(())
        }
    }

    /// The C2PA status of a file, for `inspect --json`.
    pub fn status(path: &Path, format: Option<&str>) -> Option<serde_json::Value> {
        let format = Format::ALL.into_iter().find(|f| Some(f.name()) == format)?;
        serde_json::to_value(read(path, format)).ok()
    }
}

#[cfg(not(feature = "c2pa"))]
mod disabled {
    use super::*;

    /// Never constructed: without the feature there is nothing to sign with.
    pub enum C2pa {}

    /// Refuses `--c2pa` with instructions.
    pub fn load(args: &C2paArgs) -> Result<Option<C2pa>> {
        if args.c2pa {
            anyhow::bail!(
                "this hegui was built without C2PA support; rebuild with `cargo build --release -p hegui-cli --features c2pa`"
            );
        }
        Ok(None)
    }

    impl C2pa {
        /// Unreachable: no value of this type exists.
        pub fn sign(&self, _: &Path, _: hegui_label::Format, _: bool) -> Result<()> {
            match *self {}
        }
    }

    /// No C2PA reader compiled in.
    pub fn status(_: &Path, _: Option<&str>) -> Option<serde_json::Value> {
        None
    }
}

#[cfg(not(feature = "c2pa"))]
pub use disabled::{load, status};
#[cfg(feature = "c2pa")]
pub use enabled::{load, status};
