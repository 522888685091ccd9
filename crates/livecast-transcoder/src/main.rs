//! `livecast-transcoder`: runs a Livepeer-protocol transcoder node on one port.

use clap::{Parser, Subcommand};
use livecast_core::ticket::{Address, Price, RecipientSecret, U256};
use livecast_protocol::NodeKey;
use livecast_transcoder::payment::{config as ticket_config, BrokerChain, TicketRecipient, TicketConfig, WinnerQueue};
use livecast_transcoder::transcode::Limits;
use livecast_transcoder::{app, Config, Node};
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A Livepeer orchestrator + transcoder: gRPC GetOrchestrator and HTTP POST /segment on
/// one port, H.264 renditions made with openh264.
#[derive(Debug, Parser)]
#[command(version, about, long_about = None, subcommand_negates_reqs = true, args_conflicts_with_subcommands = true)]
struct Args {
    #[command(subcommand)]
    command: Option<Command>,
    /// Address to listen on (port 0 picks a free port). Bind loopback unless a proxy or
    /// firewall stands in front.
    #[arg(long, env = "LIVECAST_TRANSCODER_LISTEN", default_value = "127.0.0.1:8935")]
    listen: SocketAddr,
    /// Directory for renditions, the node key (unless --eth-key-file) and the auth secret.
    #[arg(long, env = "LIVECAST_TRANSCODER_DATA_DIR", required = true)]
    data_dir: Option<PathBuf>,
    /// Price in wei per --pixels-per-unit output pixels. 0 transcodes for free; a non-zero
    /// price needs a TicketBroker (--eth-rpc-url, --broker-address) and refuses segments that
    /// are not paid for with 402.
    #[arg(long, env = "LIVECAST_TRANSCODER_PRICE_PER_UNIT", default_value_t = 0, value_parser = clap::value_parser!(i64).range(0..))]
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
    /// Segment bodies read at the same time (each may buffer up to --max-segment-bytes);
    /// an upload that waits 2 s for a slot gets 503 OrchestratorBusy.
    #[arg(long, env = "LIVECAST_TRANSCODER_MAX_UPLOADS", default_value_t = 8, value_parser = clap::value_parser!(u16).range(1..=1024))]
    max_uploads: u16,
    /// Slowest accepted segment body, bytes per second on average after its first 10 s (and
    /// no pause over 10 s); slower ones get 408.
    #[arg(long, env = "LIVECAST_TRANSCODER_MIN_UPLOAD_RATE", default_value_t = 32 * 1024, value_parser = clap::value_parser!(u64).range(1..))]
    min_upload_rate: u64,
    /// Time for a request's header to arrive, seconds; also how long a kept-alive HTTP/1
    /// connection may wait for its next request.
    #[arg(long, env = "LIVECAST_TRANSCODER_HEADER_TIMEOUT_SECS", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=600))]
    header_timeout_secs: u64,
    /// A connection that moves no byte either way for this long, seconds, is closed.
    #[arg(long, env = "LIVECAST_TRANSCODER_IDLE_TIMEOUT_SECS", default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..=3600))]
    idle_timeout_secs: u64,
    /// Deadline of one HTTP request, body included, until its answer starts (408), seconds.
    #[arg(long, env = "LIVECAST_TRANSCODER_REQUEST_TIMEOUT_SECS", default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..=3600))]
    request_timeout_secs: u64,
    /// Open connections at most (more are closed on accept). Default: 1024, or what the
    /// file-descriptor limit allows; a value that does not fit stops the node at start.
    #[arg(long, env = "LIVECAST_TRANSCODER_MAX_CONNECTIONS", value_parser = clap::value_parser!(u64).range(8..=1_000_000))]
    max_connections: Option<u64>,
    /// Decode budget of one segment: width × height × frames at most (422 beyond, before
    /// anything is decoded).
    #[arg(long, env = "LIVECAST_TRANSCODER_MAX_DECODE_PIXELS", default_value_t = livecast_transcoder::transcode::DEFAULT_MAX_DECODE_PIXELS,
          value_parser = clap::value_parser!(u64).range(1..))]
    max_decode_pixels: u64,
    /// Renditions are deleted this many seconds after they are written (the broadcaster or
    /// relay fetches them right away).
    #[arg(long, env = "LIVECAST_TRANSCODER_RENDITION_RETENTION_SECS", default_value_t = 600, value_parser = clap::value_parser!(u64).range(1..))]
    rendition_retention_secs: u64,
    /// Bearer token (at least 16 characters) for GET /tickets, which lists senders; without
    /// it the route answers 403.
    #[arg(long, env = "LIVECAST_TRANSCODER_OPERATOR_TOKEN", hide_env_values = true)]
    operator_token: Option<String>,
    /// JSON-RPC URL of the chain the TicketBroker is on. With --broker-address, the node
    /// issues ticket params, checks tickets and redeems winners (its key pays the gas).
    #[arg(long, env = "LIVECAST_TRANSCODER_ETH_RPC_URL", requires = "broker_address")]
    eth_rpc_url: Option<String>,
    /// Address of the TicketBroker contract.
    #[arg(long, env = "LIVECAST_TRANSCODER_BROKER_ADDRESS", requires = "eth_rpc_url")]
    broker_address: Option<Address>,
    /// Expected value of one ticket, wei (go-livepeer's -ticketEV).
    #[arg(long, env = "LIVECAST_TRANSCODER_TICKET_EV", default_value = "8e9", value_parser = ticket_config::parse_wei)]
    ticket_ev: U256,
    /// Gas budgeted for one redemption: the face value is at least 100 × this × gas price.
    #[arg(long, env = "LIVECAST_TRANSCODER_REDEEM_GAS", default_value_t = ticket_config::DEFAULT_REDEEM_GAS)]
    redeem_gas: u64,
    /// Highest face value issued, wei.
    #[arg(long, env = "LIVECAST_TRANSCODER_MAX_FACE_VALUE", value_parser = ticket_config::parse_wei)]
    max_face_value: Option<U256>,
    /// Tests and demos only: every ticket wins with this probability (0 < p ≤ 1) instead of
    /// EV / face value, so winning tickets and redemptions happen within seconds.
    #[arg(long, env = "LIVECAST_TRANSCODER_WIN_PROB_FRACTION", value_parser = ticket_config::parse_fraction)]
    win_prob_fraction: Option<f64>,
    /// Blocks the issued ticket params stay valid for.
    #[arg(long, env = "LIVECAST_TRANSCODER_TICKET_EXPIRATION_BLOCKS", default_value_t = ticket_config::DEFAULT_EXPIRATION_BLOCKS, value_parser = clap::value_parser!(u64).range(1..))]
    ticket_expiration_blocks: u64,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// TicketBroker tools.
    Broker {
        #[command(subcommand)]
        command: BrokerCommand,
    },
}

#[derive(Debug, Subcommand)]
enum BrokerCommand {
    /// Deploys a TicketBroker and prints its address.
    Deploy(livecast_broker::DeployArgs),
}

fn main() -> std::process::ExitCode {
    init_tracing();
    // The JSON-RPC client may use rustls without a default crypto provider (feature
    // unification with the relay in a workspace build); an already installed one stays.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let args = Args::parse();
    let outcome = match args.command {
        Some(Command::Broker { command: BrokerCommand::Deploy(deploy) }) => deploy_broker(deploy),
        None => run(args),
    };
    match outcome {
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

/// The random 32-byte secret kept as hex in `DATA_DIR/name`, made on first start.
fn load_or_create_secret(data_dir: &Path, name: &str) -> Result<[u8; 32], BoxError> {
    let text = load_or_create_hex(&data_dir.join(name), || {
        let mut secret = [0u8; 32];
        getrandom::getrandom(&mut secret)?;
        Ok(hex::encode(secret))
    })?;
    hex::decode(&text)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| format!("DATA_DIR/{name} does not hold 64 hex digits").into())
}

fn deploy_broker(args: livecast_broker::DeployArgs) -> Result<(), BoxError> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    runtime.block_on(livecast_broker::deploy_cli(args))?;
    Ok(())
}

fn run(args: Args) -> Result<(), BoxError> {
    let data_dir = args.data_dir.clone().ok_or("--data-dir is required")?;
    if args.price_per_unit > 0 && args.broker_address.is_none() {
        return Err(format!(
            "--price-per-unit {} needs ticket payments: give --eth-rpc-url and --broker-address (or set the price to 0)",
            args.price_per_unit
        )
        .into());
    }
    if args.operator_token.as_deref().is_some_and(|t| t.trim().len() < 16) {
        return Err("--operator-token must be at least 16 characters".into());
    }
    let max_connections = livecast_serve::fit_connection_cap(args.max_connections.map(|n| n as usize))?;
    let conn_limits = livecast_serve::ConnLimits {
        header_read_timeout: std::time::Duration::from_secs(args.header_timeout_secs),
        idle_timeout: std::time::Duration::from_secs(args.idle_timeout_secs),
        max_connections,
        http2: true,
        ..livecast_serve::ConnLimits::default()
    };
    std::fs::create_dir_all(&data_dir).map_err(|e| format!("create {}: {e}", data_dir.display()))?;
    let key = match &args.eth_key_file {
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|e| format!("read {}: {e}", path.display()))?;
            NodeKey::from_hex(&text).map_err(|e| format!("{}: {e}", path.display()))?
        }
        None => {
            let path = data_dir.join("node.key");
            let text = load_or_create_hex(&path, || Ok(NodeKey::generate()?.to_hex()))?;
            NodeKey::from_hex(&text).map_err(|e| format!("{}: {e}", path.display()))?
        }
    };
    let secret = load_or_create_secret(&data_dir, "auth.secret")?;
    // The recipientRand secret: kept, so params issued before a restart stay checkable.
    let rand_secret = load_or_create_secret(&data_dir, "recipient.secret")?;

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
            service_uri: args.service_uri.clone().unwrap_or_else(|| format!("http://{addr}")),
            data_dir: data_dir.clone(),
            price_per_unit: args.price_per_unit,
            pixels_per_unit: args.pixels_per_unit,
            max_segment_bytes: args.max_segment_bytes,
            max_concurrent_segments: args.max_concurrent.into(),
            workers,
            limits: Limits { max_decode_pixels: args.max_decode_pixels, ..Limits::default() },
            max_uploads: args.max_uploads.into(),
            min_upload_rate: args.min_upload_rate,
            rendition_retention: std::time::Duration::from_secs(args.rendition_retention_secs),
            operator_token: args.operator_token.clone().map(|t| t.trim().to_string()),
            request_timeout: std::time::Duration::from_secs(args.request_timeout_secs),
        };
        tracing::info!(
            max_connections, max_uploads = config.max_uploads, max_concurrent = config.max_concurrent_segments,
            max_decode_pixels = config.limits.max_decode_pixels, "limits"
        );
        tracing::info!(address = %key.address(), service_uri = %config.service_uri, workers, "transcoder node");
        let payments = match (&args.eth_rpc_url, args.broker_address) {
            (Some(rpc_url), Some(broker)) => Some(start_payments(&args, rpc_url, broker, &key, &data_dir, rand_secret).await?),
            _ => None,
        };
        let mut node = Node::new(config, key, secret)?;
        if let Some(payments) = payments {
            node = node.with_payments(payments);
        }
        let node = Arc::new(node);
        livecast_transcoder::server::spawn_retention(node.clone());
        println!("listening on http://{addr}");
        std::io::stdout().flush()?;
        livecast_serve::serve(listener, app(node), conn_limits, shutdown_signal()).await?;
        tracing::info!("stopped");
        Ok::<(), BoxError>(())
    })
}

/// Connects to the TicketBroker, opens the winning-ticket queue and starts the redeemer
/// (which first redeems what an earlier run left queued).
async fn start_payments(
    args: &Args,
    rpc_url: &str,
    broker: Address,
    key: &NodeKey,
    data_dir: &Path,
    rand_secret: [u8; 32],
) -> Result<Arc<TicketRecipient>, BoxError> {
    let chain = BrokerChain::connect(rpc_url, broker, key)
        .await
        .map_err(|e| format!("TicketBroker {broker} on {rpc_url}: {e}"))?;
    let validity_rounds = chain.ticket_validity_period().await.map_err(|e| format!("TicketBroker {broker}: {e}"))?;
    let queue_path = data_dir.join("tickets.sqlite");
    let queue = WinnerQueue::open(&queue_path)?;
    let counts = queue.counts()?;
    let config = TicketConfig {
        ticket_ev: args.ticket_ev,
        redeem_gas: args.redeem_gas,
        max_face_value: args.max_face_value,
        win_prob_fraction: args.win_prob_fraction,
        expiration_blocks: args.ticket_expiration_blocks,
        validity_rounds,
        ..TicketConfig::default()
    };
    let price = Price::new(args.price_per_unit, args.pixels_per_unit)?;
    tracing::info!(
        %broker, rpc_url, ticket_ev = %config.ticket_ev, win_prob_fraction = ?config.win_prob_fraction,
        pending = counts.pending, redeemed = counts.redeemed, failed = counts.failed, "ticket payments"
    );
    let payments = Arc::new(TicketRecipient::new(config, key.address(), price, RecipientSecret::from_bytes(rand_secret), Arc::new(chain), queue));
    payments.spawn_redeemer();
    Ok(payments)
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
