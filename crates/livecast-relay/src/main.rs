//! The `livecast-relay` binary: parses flags, opens the data directory, serves until SIGINT
//! or SIGTERM. See `livecast-relay --help`.

use std::io::{IsTerminal, Write};
use std::process::ExitCode;

use clap::Parser;
use livecast_relay::{app, AppState, Config};
use tokio::net::TcpListener;
use tracing_subscriber::EnvFilter;

fn main() -> ExitCode {
    let config = Config::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("livecast_relay=info,tower_http=info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            tracing::error!(error = %e, "cannot start the async runtime");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e}");
            eprintln!("livecast-relay: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(config: Config) -> Result<(), Box<dyn std::error::Error>> {
    let listen = config.listen;
    let settings = config.into_settings()?;
    for m in &settings.static_mounts {
        tracing::info!(mount = %format!("/{}/", m.mount), dir = %m.dir.display(), "serving static files");
    }
    if settings.open {
        tracing::warn!("--open: anyone can create streams");
    }
    let max_connections = livecast_serve::fit_connection_cap(settings.max_connections)?;
    let limits = livecast_serve::ConnLimits {
        header_read_timeout: settings.header_timeout,
        idle_timeout: settings.idle_timeout,
        max_connections,
        ..livecast_serve::ConnLimits::default()
    };
    tracing::info!(
        max_connections, max_uploads = settings.max_uploads, header_timeout = ?limits.header_read_timeout,
        idle_timeout = ?limits.idle_timeout, request_timeout = ?settings.request_timeout, "limits"
    );
    let data_dir = settings.data_dir.clone();
    let database = match &settings.database {
        livecast_relay::db::DatabaseConfig::Sqlite(dir) => format!("sqlite {}", dir.join("relay.db").display()),
        livecast_relay::db::DatabaseConfig::Postgres(url) => format!("postgres {}", livecast_relay::db::redact_url(url)),
    };
    let (state, recovery) = tokio::task::spawn_blocking(move || AppState::open(settings)).await??;
    tracing::info!(data_dir = %data_dir.display(), ?recovery, "data directory ready");
    tracing::info!(%database, "metadata");
    tracing::info!(storage = %state.storage().description(), "segment storage");
    // In the background, so a store that is down does not hold up the start (playlists are
    // served from the database meanwhile, uploads answer 503).
    let probed = state.storage().clone();
    tokio::spawn(async move {
        match probed.probe().await {
            Ok(None) => {}
            Ok(Some(true)) => tracing::info!("object store reachable; it honours If-None-Match: * on PUT"),
            Ok(Some(false)) => tracing::warn!(
                "object store reachable; it ignores If-None-Match: * on PUT (it replaces objects): the \
                 database row check is the only guard against two writers of one segment, so let one \
                 relay write this bucket and prefix"
            ),
            Err(e) => tracing::error!(
                error = %e,
                "object store not reachable at start-up: uploads answer 503 until it is; playlists are served"
            ),
        }
    });

    let listener = TcpListener::bind(listen).await.map_err(|e| format!("cannot listen on {listen}: {e}"))?;
    let addr = listener.local_addr()?;
    // Tests and scripts read this line to find the port when listening on port 0.
    println!("listening on http://{addr}");
    std::io::stdout().flush()?;
    tracing::info!(%addr, "listening");

    livecast_serve::serve(listener, app(state), limits, shutdown_signal()).await?;
    tracing::info!("stopped");
    Ok(())
}

/// Resolves on SIGINT (Ctrl-C) or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %e, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => tracing::info!("SIGINT: shutting down"),
        () = terminate => tracing::info!("SIGTERM: shutting down"),
    }
}
