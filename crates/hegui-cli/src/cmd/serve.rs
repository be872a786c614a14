//! `hegui serve`, `hegui config example`, `hegui app create`, `hegui audit verify|purge`,
//! `hegui admin token`: the gateway and its housekeeping.
//!
//! Settings come from the config file, then `HEGUI_*` environment variables, then flags; clap
//! reads the variables (`env = …`) so a flag always wins.

use anyhow::{Context, Result, bail};
use hegui_core::{Clock, SystemClock};
use hegui_gateway::Config;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

/// Where the gateway's settings come from.
#[derive(clap::Args, Debug, Clone)]
pub struct ConfigArgs {
    /// TOML configuration file (`hegui config example` prints one).
    #[arg(long, env = "HEGUI_CONFIG")]
    pub config: Option<PathBuf>,
    /// Data directory (embedded database, keys).
    #[arg(long, env = "HEGUI_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// Database URL: sqlite://PATH or postgres://….
    #[arg(long, env = "HEGUI_DATABASE_URL")]
    pub database_url: Option<String>,
}

/// `hegui serve`.
#[derive(clap::Args, Debug)]
pub struct ServeArgs {
    /// Settings.
    #[command(flatten)]
    pub config: ConfigArgs,
    /// Address to listen on.
    #[arg(long, env = "HEGUI_LISTEN")]
    pub listen: Option<String>,
    /// Default OpenAI-compatible upstream (…/v1); without one the demo model `hegui-demo` answers.
    #[arg(long, env = "HEGUI_UPSTREAM")]
    pub upstream: Option<String>,
    /// Bearer key for the upstream.
    #[arg(long, env = "HEGUI_UPSTREAM_KEY", hide_env_values = true)]
    pub upstream_key: Option<String>,
    /// Feature library file (reloaded when it changes); default: the built-in library.
    #[arg(long, env = "HEGUI_LIBRARY")]
    pub library: Option<PathBuf>,
    /// Worker threads (default: one per core).
    #[arg(long, env = "HEGUI_WORKERS")]
    pub workers: Option<usize>,
}

/// `hegui config`.
#[derive(clap::Args, Debug)]
pub struct ConfigCmd {
    /// What to do.
    #[command(subcommand)]
    pub command: ConfigCommand,
}

/// `hegui config` subcommands.
#[derive(clap::Subcommand, Debug)]
pub enum ConfigCommand {
    /// Print the commented default configuration.
    Example,
}

/// `hegui app`.
#[derive(clap::Args, Debug)]
pub struct AppCmd {
    /// What to do.
    #[command(subcommand)]
    pub command: AppCommand,
}

/// `hegui app` subcommands.
#[derive(clap::Subcommand, Debug)]
pub enum AppCommand {
    /// Register an application; prints its API key as the last line.
    Create {
        /// Unique name.
        #[arg(long)]
        name: String,
        /// Upstream for this application (…/v1); default: the gateway's.
        #[arg(long)]
        upstream: Option<String>,
        /// Let unverified users publish or share (default: real-name verification first).
        #[arg(long)]
        allow_unverified_publish: bool,
        /// Kind of service: `general`, or `companion` for the companion duties (AIAI-2).
        #[arg(long, default_value = "general")]
        service_kind: String,
        /// Companion usage-reminder interval in seconds (AIAI-7(3): 7200; a demo may use 3).
        #[arg(long)]
        reminder_every_secs: Option<u64>,
        /// Where this application's guardian and emergency alerts are POSTed.
        #[arg(long)]
        alert_webhook: Option<String>,
        /// Settings.
        #[command(flatten)]
        config: ConfigArgs,
    },
}

/// `hegui audit`.
#[derive(clap::Args, Debug)]
pub struct AuditCmd {
    /// What to do.
    #[command(subcommand)]
    pub command: AuditCommand,
}

/// `hegui audit` subcommands.
#[derive(clap::Subcommand, Debug)]
pub enum AuditCommand {
    /// Verify the hash chain; exit 1 and name the record if one was edited or deleted.
    Verify(ConfigArgs),
    /// Delete records past the retention period, keeping the chain verifiable.
    Purge(ConfigArgs),
}

/// `hegui admin`.
#[derive(clap::Args, Debug)]
pub struct AdminCmd {
    /// What to do.
    #[command(subcommand)]
    pub command: AdminCommand,
}

/// `hegui admin` subcommands.
#[derive(clap::Subcommand, Debug)]
pub enum AdminCommand {
    /// Make an admin API token: prints the config stanza (with its hash) and the token last.
    Token {
        /// Who holds it.
        #[arg(long)]
        name: String,
        /// admin, reviewer or auditor.
        #[arg(long, default_value = "admin")]
        role: String,
    },
}

/// Builds the configuration: file, then environment and flags.
fn load(args: &ConfigArgs) -> Result<Config> {
    let mut c = match &args.config {
        Some(p) => Config::from_file(p)?,
        None => Config::default(),
    };
    if let Some(d) = &args.data_dir {
        c.data_dir = d.clone();
    }
    if let Some(u) = &args.database_url {
        c.database_url = u.clone();
    }
    Ok(c)
}

fn runtime(workers: Option<usize>) -> Result<tokio::runtime::Runtime> {
    let mut b = tokio::runtime::Builder::new_multi_thread();
    if let Some(w) = workers {
        b.worker_threads(w.max(1));
    }
    b.enable_all().build().context("starting the async runtime")
}

/// `hegui serve`.
pub fn serve(args: ServeArgs) -> Result<ExitCode> {
    let mut c = load(&args.config)?;
    if let Some(l) = args.listen {
        c.listen = l;
    }
    if let Some(u) = args.upstream {
        c.upstream = u;
    }
    if let Some(k) = args.upstream_key {
        c.upstream_key = k;
    }
    if let Some(l) = args.library {
        c.library = Some(l);
    }
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("HEGUI_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    runtime(args.workers)?.block_on(async move {
        let gw = hegui_gateway::Gateway::start(c.clone(), Arc::new(SystemClock)).await?;
        let listener = tokio::net::TcpListener::bind(&c.listen)
            .await
            .with_context(|| format!("listening on {}", c.listen))?;
        let addr = listener.local_addr()?;
        let upstream = if c.upstream.is_empty() {
            "built-in demo model `hegui-demo`".to_owned()
        } else {
            c.upstream.clone()
        };
        eprintln!(
            "hegui gateway listening on http://{addr}/v1 (upstream: {upstream}; database: {})",
            redact(&c.database_url())
        );
        // Ctrl-C or SIGTERM (systemd, containers): stop accepting, let requests finish.
        let shutdown = async {
            #[cfg(unix)]
            {
                let mut term =
                    tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate());
                match term.as_mut() {
                    Ok(t) => {
                        tokio::select! {
                            _ = tokio::signal::ctrl_c() => {}
                            _ = t.recv() => {}
                        }
                    }
                    Err(_) => {
                        let _ = tokio::signal::ctrl_c().await;
                    }
                }
            }
            #[cfg(not(unix))]
            {
                let _ = tokio::signal::ctrl_c().await;
            }
            eprintln!("hegui gateway: shutting down after the requests in flight");
        };
        hegui_gateway::serve(gw, listener, shutdown).await?;
        Ok(ExitCode::SUCCESS)
    })
}

/// Hides a password in a database URL.
fn redact(url: &str) -> String {
    match (url.find("://"), url.find('@')) {
        (Some(s), Some(at)) if at > s => {
            let cred = &url[s + 3..at];
            match cred.find(':') {
                Some(c) => format!("{}{}:***{}", &url[..s + 3], &cred[..c], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

/// `hegui config`.
pub fn config(cmd: ConfigCmd) -> Result<ExitCode> {
    match cmd.command {
        ConfigCommand::Example => print!("{}", Config::example()),
    }
    Ok(ExitCode::SUCCESS)
}

/// `hegui app`.
pub fn app(cmd: AppCmd) -> Result<ExitCode> {
    let AppCommand::Create {
        name,
        upstream,
        allow_unverified_publish,
        service_kind,
        reminder_every_secs,
        alert_webhook,
        config,
    } = cmd.command;
    let c = load(&config)?;
    runtime(Some(1))?.block_on(async move {
        let store = hegui_gateway::state::open_store(&c).await?;
        let mut settings = hegui_store::AppSettings {
            upstream,
            ..Default::default()
        };
        settings.unverified.publish = allow_unverified_publish;
        settings.service_kind = service_kind;
        settings.alert_webhook = alert_webhook;
        if let Some(secs) = reminder_every_secs {
            let mut policy = c.companion.policy.clone();
            policy.reminder_every_ms = i64::try_from(secs.saturating_mul(1000)).unwrap_or(i64::MAX);
            settings.session_policy = Some(policy);
        }
        let (app, key) = hegui_gateway::state::create_app(
            store.as_ref(),
            &name,
            settings,
            SystemClock.now_millis(),
        )
        .await
        .with_context(|| format!("registering application {name:?}"))?;
        println!("application {} registered as {}", app.name, app.id);
        println!("API key (shown once; send it as Authorization: Bearer <key>):");
        println!("{key}");
        Ok(ExitCode::SUCCESS)
    })
}

/// `hegui audit`.
pub fn audit(cmd: AuditCmd) -> Result<ExitCode> {
    match cmd.command {
        AuditCommand::Verify(args) => {
            let c = load(&args)?;
            runtime(Some(1))?.block_on(async move {
                let store = hegui_gateway::state::open_existing_store(&c).await?;
                match hegui_gateway::admin::verify_chain(store.as_ref()).await? {
                    Ok(r) => {
                        println!(
                            "audit chain intact: {} records (seq {}..={}), {} purged under retention, head {}",
                            r.records,
                            r.first_seq.map_or("-".into(), |s| s.to_string()),
                            r.last_seq.map_or("-".into(), |s| s.to_string()),
                            r.purged,
                            r.head.as_deref().unwrap_or("-")
                        );
                        Ok(ExitCode::SUCCESS)
                    }
                    Err(e) => {
                        println!("audit chain BROKEN: {e}");
                        Ok(ExitCode::FAILURE)
                    }
                }
            })
        }
        AuditCommand::Purge(args) => {
            let c = load(&args)?;
            runtime(Some(1))?.block_on(async move {
                let gw = hegui_gateway::Gateway::start(c.clone(), Arc::new(SystemClock)).await?;
                let n = gw
                    .purge_audit()
                    .await
                    .map_err(|e| anyhow::anyhow!(e.message))?;
                println!(
                    "purged {n} records older than {} days",
                    c.audit.retention_days
                );
                Ok(ExitCode::SUCCESS)
            })
        }
    }
}

/// `hegui admin`.
pub fn admin(cmd: AdminCmd) -> Result<ExitCode> {
    let AdminCommand::Token { name, role } = cmd.command;
    if !matches!(role.as_str(), "admin" | "reviewer" | "auditor") {
        bail!("--role must be admin, reviewer or auditor");
    }
    let mut raw = [0u8; 24];
    getrandom::fill(&mut raw).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
    let token = format!("hga-{}", hex::encode(raw));
    println!("# add to the gateway config:");
    println!(
        "[[admin]]\nname = {name:?}\nrole = {role:?}\ntoken_sha256 = \"{}\"",
        hegui_gateway::state::key_hash(&token)
    );
    println!("# the token (shown once):");
    println!("{token}");
    Ok(ExitCode::SUCCESS)
}
