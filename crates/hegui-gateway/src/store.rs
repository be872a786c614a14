//! The one place that knows which database backends exist.

use hegui_store::{Sealer, Store};
use std::sync::Arc;

/// Why a database could not be opened.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OpenError {
    /// The URL's scheme is neither `sqlite://` nor `postgres://`.
    #[error("unsupported database URL {0:?}: use sqlite://PATH or postgres://…")]
    Scheme(String),
    /// The binary was built without the backend.
    #[error("this build has no {backend} support (enable the `{feature}` feature)")]
    NotCompiledIn {
        /// Backend name.
        backend: &'static str,
        /// Cargo feature that adds it.
        feature: &'static str,
    },
    /// The backend refused.
    #[error(transparent)]
    Store(#[from] hegui_store::StoreError),
}

/// Opens (and migrates) the store a URL names.
pub async fn open(url: &str, sealer: Sealer) -> Result<Arc<dyn Store>, OpenError> {
    let store: Arc<dyn Store> = if let Some(path) = url.strip_prefix("sqlite://") {
        Arc::new(hegui_store_sqlite::SqliteStore::open(std::path::Path::new(path), sealer).await?)
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        #[cfg(feature = "postgres")]
        {
            Arc::new(hegui_store_postgres::PgStore::open(url, sealer).await?)
        }
        #[cfg(not(feature = "postgres"))]
        {
            let _ = sealer;
            return Err(OpenError::NotCompiledIn {
                backend: "PostgreSQL",
                feature: "postgres",
            });
        }
    } else {
        return Err(OpenError::Scheme(url.to_owned()));
    };
    store.migrate().await?;
    Ok(store)
}
