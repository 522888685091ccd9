//! `livecast-transcoder`: runs a Livepeer-protocol transcoder node on one port.

use clap::Parser;
use livecast_protocol::NodeKey;
use livecast_transcoder::transcode::Limits;
use livecast_transcoder::{app, Config, Node};
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A Livepeer orchestrator + transcoder: gRPC GetOrchestrator and HTTP POST /segment on
/// one port, H.264 renditions made with openh264.
#[derive(Debug, Parser)]
#[command(version, about, long_about = None)]
struct Args {
    /// Address to listen on (port 0 picks a free port). Bind loopback unless a proxy or
    /// firewall stands in front.
    #[arg(long, env = "LIVECAST_TRANSCODER_LISTEN", default_value = "127.0.0.1:8935")]
    listen: SocketAddr,
    /// Directory for renditions, the node key (unless --eth-key-file) and the auth secret.
    #[arg(long, env = "LIVECAST_TRANSCODER_DATA_DIR")]
    data_dir: PathBuf,
    /// Price in wei per --pixels-per-unit output pixels. 0 transcodes for free; a non-zero
    /// price refuses segments (402) until ticket payments are implemented.
    #[arg(long, env = "LIVECAST_TRANSCODER_PRICE_PER_UNIT", default_value_t = 0)]
    price_per_unit: i64,
    /// Output pixels covered by --price-per-unit.
    #[arg(long, env = "LIVECAST_TRANSCODER_PIXELS_PER_UNIT", default_value_t = 1, value_parser = clap::value_parser!(i64).range(1..))]
    pixels_per_unit: i64,
    /// File holding the node's secp256k1 key as 64 hex digits. Without it, a key is
    /// generated once and kept in DATA_DIR/node.key.
    #[arg(long, env = "LIVECAST_TRANSCODER_ETH_KEY_FILE")]
    eth_key_file: Option<PathBuf>,
    /// Base URI advertised to broadcasters and used in rendition URLs
    /// [default: http://LISTEN-ADDRESS].
    #[arg(long, env = "LIVECAST_TRANSCODER_SERVICE_URI")]
    service_uri: Option<String>,
    /// Worker threads encoding renditions [default: available cores].
    #[arg(long, env = "LIVECAST_TRANSCODER_WORKERS", value_parser = clap::value_parser!(u16).range(1..=256))]
    workers: Option<u16>,
    /// Segments transcoded at the same time; more get 503 OrchestratorBusy.
    #[arg(long, env = "LIVECAST_TRANSCODER_MAX_CONCURRENT", default_value_t = 2, value_parser = clap::value_parser!(u16).range(1..=64))]
    max_concurrent: u16,
    /// Largest segment body accepted, bytes (413 beyond).
    #[arg(long, env = "LIVECAST_TRANSCODER_MAX_SEGMENT_BYTES", default_value_t = 64 * 1024 * 1024)]
    max_segment_bytes: usize,
}

fn main() -> std::process::ExitCode {
    init_tracing();
    let args = Args::parse();
    match run(args) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e}");
            eprintln!("livecast-transcoder: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn init_tracing() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    tracing_subscriber::fmt().with_env_filter(filter).with_ansi(ansi).with_writer(std::io::stderr).init();
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Reads a 32-byte secret kept as hex in `path`, or makes one (mode 0600).
fn load_or_create_hex(path: &Path, make: impl FnOnce() -> Result<String, BoxError>) -> Result<String, BoxError> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(text.trim().to_string()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let text = make()?;
            let mut options = std::fs::OpenOptions::new();
            options.write(true).create_new(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
            let mut file = options.open(path).map_err(|e| format!("create {}: {e}", path.display()))?;
            writeln!(file, "{text}")?;
            file.sync_all()?;
            Ok(text)
        }
        Err(e) => Err(format!("read {}: {e}", path.display()).into()),
    }
}

fn run(args: Args) -> Result<(), BoxError> {
    std::fs::create_dir_all(&args.data_dir).map_err(|e| format!("create {}: {e}", args.data_dir.display()))?;
    let key = match &args.eth_key_file {
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|e| format!("read {}: {e}", path.display()))?;
            NodeKey::from_hex(&text).map_err(|e| format!("{}: {e}", path.display()))?
        }
        None => {
            let path = args.data_dir.join("node.key");
            let text = load_or_create_hex(&path, || Ok(NodeKey::generate()?.to_hex()))?;
            NodeKey::from_hex(&text).map_err(|e| format!("{}: {e}", path.display()))?
        }
    };
    let secret_text = load_or_create_hex(&args.data_dir.join("auth.secret"), || {
        let mut secret = [0u8; 32];
        getrandom::getrandom(&mut secret)?;
        Ok(hex::encode(secret))
    })?;
    let secret: [u8; 32] = hex::decode(&secret_text)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or("DATA_DIR/auth.secret does not hold 64 hex digits")?;

    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(args.listen)
            .await
            .map_err(|e| format!("cannot listen on {}: {e}", args.listen))?;
        let addr = listener.local_addr()?;
        let workers = args
            .workers
            .map(usize::from)
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
        let config = Config {
            service_uri: args.service_uri.unwrap_or_else(|| format!("http://{addr}")),
            data_dir: args.data_dir.clone(),
            price_per_unit: args.price_per_unit,
            pixels_per_unit: args.pixels_per_unit,
            max_segment_bytes: args.max_segment_bytes,
            max_concurrent_segments: args.max_concurrent.into(),
            workers,
            limits: Limits::default(),
        };
        tracing::info!(address = %key.address(), service_uri = %config.service_uri, workers, "transcoder node");
        let node = Arc::new(Node::new(config, key, secret)?);
        println!("listening on http://{addr}");
        std::io::stdout().flush()?;
        axum::serve(listener, app(node)).with_graceful_shutdown(shutdown_signal()).await?;
        tracing::info!("stopped");
        Ok::<(), BoxError>(())
    })
}

/// Resolves on SIGINT or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
    tracing::info!("shutting down");
}
