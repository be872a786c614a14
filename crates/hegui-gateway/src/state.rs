//! The gateway's shared state and its start-up: store, guard, keys, background jobs.

use crate::config::Config;
use crate::error::{ApiError, ErrorCode};
use crate::metrics::Metrics;
use crate::upstream::Upstream;
use hegui_core::{Clock, UnixMillis};
use hegui_guard::{FeatureLibrary, Guard, GuardConfig, Models};
use hegui_store::{App, AppSettings, AuditEntry, Sealer, Store};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// Why the gateway cannot start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    /// The configuration is invalid.
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    /// The data directory or a key file could not be used.
    #[error("{what} {path}: {source}")]
    Io {
        /// What was being done.
        what: &'static str,
        /// Where.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The database could not be opened.
    #[error("database: {0}")]
    Store(#[from] crate::store::OpenError),
    /// The feature library could not be loaded or compiled: the gateway will not run unchecked.
    #[error("feature library: {0}")]
    Library(String),
    /// A key is malformed.
    #[error("key: {0}")]
    Key(String),
}

/// Everything a request handler needs.
pub struct Gateway {
    /// The configuration in force.
    pub config: Config,
    /// The database.
    pub store: Arc<dyn Store>,
    /// The moderation engine (hot-swappable).
    pub guard: Arc<Guard>,
    /// Time.
    pub clock: Arc<dyn Clock>,
    /// Client for upstream calls.
    pub http: reqwest::Client,
    /// Keyed hashing of identifiers (ID numbers, mobiles, one-time codes).
    pub hasher: hegui_identity::SubjectHasher,
    /// SMS sender for one-time codes.
    pub sms: Arc<dyn hegui_identity::verify::SmsSender>,
    /// Network identity (网号/网证) and three-element providers, if configured.
    pub providers: crate::identity::Providers,
    /// Request and decision counters.
    pub metrics: Metrics,
    /// The explicit label's wording, checked once at start.
    pub label: hegui_label::explicit::LabelText,
    /// Signs the implicit labels of generated media.
    pub label_signer: Option<hegui_label::LabelSigner>,
    /// Companion sessions (AIAI) and the outbox worker's wake-up.
    pub sessions: crate::companion::Sessions,
    /// Keyed hashing for audit subjects and webhook signatures (`DATA_DIR/subject.key`).
    subject_key: Vec<u8>,
    /// Applications by key hash, for [`APP_CACHE_TTL`]: the one lookup every request makes.
    apps: std::sync::Mutex<std::collections::HashMap<String, (App, std::time::Instant)>>,
    /// End users, for [`USER_CACHE_TTL`], only with the embedded database: there this process
    /// makes every change to a user and forgets the entry when it does. With PostgreSQL another
    /// process may suspend a user at any moment, so every request reads the store.
    users: Option<std::sync::Mutex<UserCache>>,
}

/// Users by (application, user id), with the time they were read.
type UserCache =
    std::collections::HashMap<(String, String), (hegui_store::User, std::time::Instant)>;

/// How long a user read from the embedded database is reused (an upper bound on staleness
/// should a change bypass [`Gateway::forget_user`]).
pub const USER_CACHE_TTL: Duration = Duration::from_secs(1);

/// How long an application looked up by key is reused before the store is asked again; a
/// settings change made through another gateway process is seen within this time.
pub const APP_CACHE_TTL: Duration = Duration::from_secs(5);

/// How stale `last_seen` may get before a request writes it (monthly-active counting needs days,
/// not milliseconds, and a read is much cheaper than a write).
pub const LAST_SEEN_RESOLUTION_MS: i64 = 60_000;

impl std::fmt::Debug for Gateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gateway")
            .field("config", &self.config)
            .finish()
    }
}

fn io<'a>(what: &'static str, path: &'a Path) -> impl Fn(std::io::Error) -> StartError + 'a {
    move |source| StartError::Io {
        what,
        path: path.to_path_buf(),
        source,
    }
}

/// Reads a hex key file, creating it with a fresh random key (mode 0600) if missing.
fn key_file(path: &Path) -> Result<String, StartError> {
    if let Ok(k) = std::fs::read_to_string(path) {
        return Ok(k.trim().to_owned());
    }
    let key = Sealer::generate_hex().map_err(|e| StartError::Key(e.to_string()))?;
    write_file(path, key.as_bytes())?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600));
    }
    Ok(key)
}

/// Validates the config, prepares the data directory and its keys, and opens the store: what
/// the housekeeping commands need without compiling the moderation engine.
pub async fn open_store(config: &Config) -> Result<Arc<dyn Store>, StartError> {
    config.validate()?;
    std::fs::create_dir_all(&config.data_dir).map_err(io("creating", &config.data_dir))?;
    let sealer = sealer(config, || key_file(&config.data_dir.join("content.key")))?;
    Ok(crate::store::open(&config.database_url(), sealer).await?)
}

/// The content sealer: the configured key, else the key file (`key_file` says how a missing
/// one is handled).
fn sealer(
    config: &Config,
    key_file: impl FnOnce() -> Result<String, StartError>,
) -> Result<Sealer, StartError> {
    let key = if config.content_key.is_empty() {
        key_file()?
    } else {
        config.content_key.clone()
    };
    Sealer::from_hex(&key).map_err(|e| StartError::Key(e.to_string()))
}

/// Opens the store of an existing deployment for housekeeping (`hegui audit verify`): refuses a
/// SQLite database that does not exist instead of creating an empty one (an empty chain would
/// verify), and creates no key files.
pub async fn open_existing_store(config: &Config) -> Result<Arc<dyn Store>, StartError> {
    config.validate()?;
    let url = config.database_url();
    if let Some(path) = url.strip_prefix("sqlite://") {
        let p = Path::new(path);
        if !p.is_file() {
            return Err(StartError::Io {
                what: "no database at",
                path: p.to_path_buf(),
                source: std::io::Error::from(std::io::ErrorKind::NotFound),
            });
        }
    }
    let sealer = sealer(config, || {
        match std::fs::read_to_string(config.data_dir.join("content.key")) {
            Ok(k) => Ok(k.trim().to_owned()),
            // The audit chain is not sealed; a throwaway key only means messages cannot be read.
            Err(_) => Sealer::generate_hex().map_err(|e| StartError::Key(e.to_string())),
        }
    })?;
    Ok(crate::store::open(&url, sealer).await?)
}

/// Loads the feature library the config names, or the built-in one.
pub fn load_library(config: &Config) -> Result<FeatureLibrary, StartError> {
    match &config.library {
        Some(p) => FeatureLibrary::load(p).map_err(|e| StartError::Library(e.to_string())),
        None => Ok(hegui_guard::default_library().clone()),
    }
}

fn models() -> Models {
    #[cfg(feature = "classifier")]
    {
        Models {
            offensive: Some(Arc::new(hegui_classifier::NgramClassifier::cold_offensive())),
            crisis: Some(Arc::new(hegui_classifier::NgramClassifier::crisis())),
        }
    }
    #[cfg(not(feature = "classifier"))]
    Models::default()
}

impl Gateway {
    /// Opens the store, compiles the library and prepares keys. Fails rather than start unchecked.
    pub async fn start(config: Config, clock: Arc<dyn Clock>) -> Result<Arc<Self>, StartError> {
        Self::start_with(
            config,
            clock,
            Arc::new(crate::identity::LogSender),
            crate::identity::Providers::default(),
        )
        .await
    }

    /// [`Gateway::start`] with the deployment's SMS sender and verification providers.
    pub async fn start_with(
        config: Config,
        clock: Arc<dyn Clock>,
        sms: Arc<dyn hegui_identity::verify::SmsSender>,
        providers: crate::identity::Providers,
    ) -> Result<Arc<Self>, StartError> {
        let store = open_store(&config).await?;
        let pepper = key_file(&config.data_dir.join("subject.key"))?;
        let library = load_library(&config)?;
        let guard = Guard::new(&library, models(), GuardConfig::default())
            .map_err(|e| StartError::Library(e.to_string()))?;
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .pool_max_idle_per_host(64)
            .build()
            .map_err(|e| StartError::Key(format!("http client: {e}")))?;
        let label_signer = label_signer(&config.data_dir)?;
        Ok(Arc::new(Gateway {
            hasher: hegui_identity::SubjectHasher::new(pepper.as_bytes()),
            subject_key: pepper.as_bytes().to_vec(),
            sessions: crate::companion::Sessions::new(
                config.database_url().starts_with("sqlite://"),
            ),
            sms,
            providers,
            metrics: Metrics::default(),
            store,
            guard: Arc::new(guard),
            clock,
            http,
            label: label_text(&config),
            label_signer,
            apps: Default::default(),
            users: config
                .database_url()
                .starts_with("sqlite://")
                .then(Default::default),
            config,
        }))
    }

    /// The audit subject of a user: a keyed hash, so the audit log never holds the user's id and
    /// still links one user's records (and survives the deletion of their data, AIAI-6).
    pub fn subject(&self, app: &str, user: &str) -> String {
        let h = self
            .hasher
            .hash(&format!("audit-subject\u{1f}{app}\u{1f}{user}"));
        format!("s_{}", &h[..32.min(h.len())])
    }

    /// The key alert webhooks are signed with: derived from the subject key, so it needs no
    /// file of its own; admins read it at `/admin/webhook-secret`.
    fn webhook_key(&self) -> [u8; 32] {
        let mut key = Sha256::new();
        key.update(b"hegui-webhook\x1f");
        key.update(&self.subject_key);
        key.finalize().into()
    }

    /// [`Gateway::webhook_key`] in hex.
    pub fn webhook_key_hex(&self) -> String {
        hex::encode(self.webhook_key())
    }

    /// HMAC-SHA256 (hex) of signed webhook data, so a receiver can check that an alert came
    /// from this gateway.
    pub fn webhook_signature(&self, data: &[u8]) -> String {
        use hmac::{Hmac, Mac};
        // HMAC takes a key of any length, so this cannot fail.
        match <Hmac<Sha256> as Mac>::new_from_slice(&self.webhook_key()) {
            Ok(mut mac) => {
                mac.update(data);
                hex::encode(mac.finalize().into_bytes())
            }
            Err(_) => String::new(),
        }
    }

    /// Now, from the injected clock.
    pub fn now(&self) -> UnixMillis {
        self.clock.now_millis()
    }

    /// The upstream for an application.
    pub fn upstream_for(&self, settings: &AppSettings) -> Upstream {
        match &settings.upstream {
            Some(u) if !u.is_empty() => Upstream::Http {
                base: u.clone(),
                key: settings.upstream_key.clone(),
            },
            _ if !self.config.upstream.is_empty() => Upstream::Http {
                base: self.config.upstream.clone(),
                key: (!self.config.upstream_key.is_empty())
                    .then(|| self.config.upstream_key.clone()),
            },
            _ => Upstream::Demo,
        }
    }

    /// Longest a stream may run.
    pub fn stream_deadline(&self) -> Duration {
        Duration::from_secs(self.config.max_stream_secs.max(1))
    }

    /// Upstream timeout.
    pub fn timeout(&self) -> Duration {
        Duration::from_secs(self.config.upstream_timeout_secs.max(1))
    }

    /// The application a bearer key belongs to.
    pub async fn authenticate(&self, headers: &axum::http::HeaderMap) -> Result<App, ApiError> {
        let key = headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .filter(|k| !k.is_empty())
            .ok_or_else(|| {
                ApiError::new(
                    ErrorCode::Unauthorized,
                    "missing API key: send Authorization: Bearer <key> (create one with `hegui app create`)",
                )
            })?;
        let hash = key_hash(key);
        let cached = match self.apps.lock() {
            Ok(m) => m
                .get(&hash)
                .filter(|(_, at)| at.elapsed() < APP_CACHE_TTL)
                .map(|(a, _)| a.clone()),
            Err(_) => None,
        };
        if let Some(app) = cached {
            return Ok(app);
        }
        let app = self
            .store
            .app_by_key_hash(&hash)
            .await?
            .ok_or_else(|| ApiError::new(ErrorCode::Unauthorized, "unknown API key"))?;
        if let Ok(mut m) = self.apps.lock() {
            m.insert(hash, (app.clone(), std::time::Instant::now()));
        }
        Ok(app)
    }

    /// Forgets cached applications (after a settings change).
    pub fn forget_apps(&self) {
        if let Ok(mut m) = self.apps.lock() {
            m.clear();
        }
    }

    /// The end user, registered on first sight; `last_seen` is written at most once a minute.
    pub async fn user(&self, app: &str, user: &str) -> Result<hegui_store::User, ApiError> {
        let now = self.now();
        let key = (app.to_owned(), user.to_owned());
        if let Some(cache) = &self.users
            && let Ok(m) = cache.lock()
            && let Some((u, at)) = m.get(&key)
            && at.elapsed() < USER_CACHE_TTL
            && now - u.last_seen < LAST_SEEN_RESOLUTION_MS
        {
            return Ok(u.clone());
        }
        let u = match self.store.user(app, user).await? {
            Some(u) if now - u.last_seen < LAST_SEEN_RESOLUTION_MS => u,
            _ => self.store.touch_user(app, user, now).await?,
        };
        if let Some(cache) = &self.users
            && let Ok(mut m) = cache.lock()
        {
            if m.len() > 100_000 {
                m.clear();
            }
            m.insert(key, (u.clone(), std::time::Instant::now()));
        }
        Ok(u)
    }

    /// Forgets a cached user after this process changed it (disposal, violations, verification).
    pub fn forget_user(&self, app: &str, user: &str) {
        if let Some(cache) = &self.users
            && let Ok(mut m) = cache.lock()
        {
            m.remove(&(app.to_owned(), user.to_owned()));
        }
    }

    /// Appends audit records durably; the caller answers only after this returns.
    pub async fn audit(&self, entries: Vec<AuditEntry>) -> Result<(), ApiError> {
        self.store.append_audit_batch(entries).await?;
        Ok(())
    }

    /// Starts the background jobs: library hot reload and the retention purge.
    pub fn spawn_background(self: Arc<Self>) -> Vec<tokio::task::JoinHandle<()>> {
        let mut tasks = Vec::new();
        if let Some(path) = self.config.library.clone() {
            let gw = self.clone();
            tasks.push(tokio::spawn(async move { gw.watch_library(path).await }));
        }
        let gw = self.clone();
        tasks.push(tokio::spawn(crate::companion::outbox_loop(gw)));
        tasks.push(tokio::spawn(crate::companion_api::aiai9_loop(self.clone())));
        let gw = self;
        tasks.push(tokio::spawn(async move { gw.purge_loop().await }));
        tasks
    }

    async fn watch_library(self: Arc<Self>, path: PathBuf) {
        let mtime = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
        let mut seen = mtime(&path);
        let every = Duration::from_secs(self.config.reload_poll_secs.max(1));
        loop {
            tokio::time::sleep(every).await;
            let now = mtime(&path);
            if now == seen {
                continue;
            }
            seen = now;
            let _ = self.reload_library().await;
        }
    }

    /// Reloads the library file; on failure the old matcher stays in service. Audited.
    pub async fn reload_library(&self) -> Result<u64, ApiError> {
        let Some(path) = self.config.library.clone() else {
            return Err(ApiError::new(
                ErrorCode::InvalidRequest,
                "the gateway runs the built-in library; there is no file to reload",
            ));
        };
        let guard = self.guard.clone();
        let result = tokio::task::spawn_blocking(move || guard.reload(&path))
            .await
            .map_err(|_| ApiError::new(ErrorCode::Internal, "reload task failed"))?;
        let mut e = AuditEntry::new(self.now(), "library.reload");
        match &result {
            Ok(v) => {
                tracing::info!(version = v, "feature library reloaded");
                e.body = serde_json::json!({"ok": true, "version": v});
            }
            Err(err) => {
                tracing::error!(error = %err, "library reload failed; previous library stays in service");
                e.body = serde_json::json!({"ok": false, "error": err.to_string()});
            }
        }
        self.audit(vec![e]).await?;
        result.map_err(|e| ApiError::new(ErrorCode::InvalidRequest, e.to_string()))
    }

    async fn purge_loop(self: Arc<Self>) {
        let every = Duration::from_secs(self.config.audit.purge_every_hours.max(1) * 3600);
        loop {
            let _ = self.purge_audit().await;
            tokio::time::sleep(every).await;
        }
    }

    /// Deletes audit records past retention, keeping the chain verifiable.
    pub async fn purge_audit(&self) -> Result<u64, ApiError> {
        let now = self.now();
        let keep = i64::from(self.config.audit.retention_days) * 86_400_000;
        Ok(self.store.purge_audit(now - keep, now).await?)
    }
}

fn label_signer(data_dir: &Path) -> Result<Option<hegui_label::LabelSigner>, StartError> {
    let dir = data_dir.join("keys");
    let key = dir.join("hegui-sm2.key");
    if !key.exists() {
        std::fs::create_dir_all(&dir).map_err(io("creating", &dir))?;
        let pair = hegui_label::generate_key_pair()
            .map_err(|e| StartError::Key(format!("label key: {e}")))?;
        write_file(&dir.join("hegui-sm2.pub"), pair.public_pem.as_bytes())?;
        write_file(&key, pair.private_pem.as_bytes())?;
    }
    let pem = std::fs::read_to_string(&key).map_err(io("reading", &key))?;
    hegui_label::LabelSigner::from_pem(&pem)
        .map(Some)
        .map_err(|e| StartError::Key(format!("label key: {e}")))
}

/// The configured wording, or the default (with a warning) when it lacks the elements GB 45438
/// requires.
fn label_text(config: &Config) -> hegui_label::explicit::LabelText {
    hegui_label::explicit::LabelText::new(config.labels.text.clone()).unwrap_or_else(|e| {
        tracing::warn!(error = %e, "labels.text is not a conforming label; using the default");
        hegui_label::explicit::LabelText::default()
    })
}

/// Writes a small file atomically (temp file, fsync, rename).
fn write_file(path: &Path, bytes: &[u8]) -> Result<(), StartError> {
    use std::io::Write;
    hegui_label::fs::write_atomic(path, None, io("writing", path), |w| {
        w.write_all(bytes).map_err(io("writing", path))
    })
}

/// SHA-256 (hex) of an API key, as stored.
pub fn key_hash(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

/// Registers an application and returns it with its API key (shown once, stored hashed).
pub async fn create_app(
    store: &dyn Store,
    name: &str,
    settings: AppSettings,
    now: UnixMillis,
) -> Result<(App, String), hegui_store::StoreError> {
    let mut raw = [0u8; 24];
    getrandom::fill(&mut raw).map_err(|e| hegui_store::StoreError::Unavailable(Box::new(e)))?;
    let key = format!("hg-{}", hex::encode(raw));
    let app = App {
        id: crate::new_id("app_"),
        name: name.to_owned(),
        key_hash: key_hash(&key),
        created_at: now,
        settings,
    };
    store.create_app(&app).await?;
    let mut e = AuditEntry::new(now, "admin.app.create");
    e.app = Some(app.id.clone());
    e.body = serde_json::json!({"name": name});
    store.append_audit(e).await?;
    Ok((app, key))
}
