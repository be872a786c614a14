//! `fake-upstream`: serves hegui-testkit's fake OpenAI-compatible model for benchmarks and demos.
//!
//! `fake-upstream --listen 127.0.0.1:9010 --chunks 20 --delay-ms 0` prints
//! `listening on http://127.0.0.1:9010/v1` and serves until Ctrl-C (or SIGTERM).

use anyhow::{Context, Result};
use clap::Parser;
use hegui_testkit::{FakeOptions, FakeUpstream};
use std::net::SocketAddr;
use std::time::Duration;

/// A fake OpenAI-compatible model server, scripted by `[[…]]` directives in the last user message.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:9010")]
    listen: SocketAddr,
    /// Content deltas per streamed reply.
    #[arg(long, default_value_t = 20)]
    chunks: usize,
    /// Delay before each streamed content delta, in milliseconds.
    #[arg(long, default_value_t = 0)]
    delay_ms: u64,
    /// Model name listed by GET /v1/models.
    #[arg(long, default_value = "fake-model")]
    model: String,
    /// Require `Authorization: Bearer KEY`.
    #[arg(long, env = "FAKE_UPSTREAM_API_KEY")]
    api_key: Option<String>,
    /// Tokio worker threads (default: one per core); benchmarks may pin the fake to one.
    #[arg(long)]
    workers: Option<usize>,
}

fn main() -> Result<()> {
    let args = Args::parse();
    let mut runtime = tokio::runtime::Builder::new_multi_thread();
    if let Some(workers) = args.workers {
        runtime.worker_threads(workers.max(1));
    }
    runtime
        .enable_all()
        .build()
        .context("starting the tokio runtime")?
        .block_on(run(args))
}

async fn run(args: Args) -> Result<()> {
    let opts = FakeOptions {
        chunks: args.chunks,
        chunk_delay: Duration::from_millis(args.delay_ms),
        model: args.model,
        api_key: args.api_key,
        ..FakeOptions::default()
    };
    let upstream = FakeUpstream::start_on(args.listen, opts)
        .await
        .with_context(|| format!("listening on {}", args.listen))?;
    println!("listening on {}", upstream.base_url());
    shutdown_signal().await?;
    upstream.shutdown().await;
    Ok(())
}

async fn shutdown_signal() -> Result<()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = signal(SignalKind::terminate()).context("installing the SIGTERM handler")?;
        tokio::select! {
            r = tokio::signal::ctrl_c() => r.context("waiting for Ctrl-C")?,
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    tokio::signal::ctrl_c()
        .await
        .context("waiting for Ctrl-C")?;
    Ok(())
}
