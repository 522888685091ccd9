//! Command-line flags and environment variables (every flag has an `LIVECAST_RELAY_*` twin).
//!
//! [`Config`] is what the operator typed; [`Config::into_settings`] checks it and turns it into
//! the [`Settings`] the application runs with.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;

use crate::keys::{self, Hash};
use crate::db::DatabaseConfig;
use crate::storage::{S3Config, StorageConfig, StorageUrl};
use crate::transcoders::NodeUri;

/// Default cap on one uploaded segment: 16 MiB.
pub const DEFAULT_MAX_SEGMENT_BYTES: u64 = 16 * 1024 * 1024;
/// Default number of segments in a live playlist.
pub const DEFAULT_WINDOW_SEGMENTS: usize = 6;
/// Default time limit on one request, upload included.
pub const DEFAULT_REQUEST_TIMEOUT_SECS: u64 = 60;
/// Default time a request's header may take, and a kept-alive connection may wait for one.
pub const DEFAULT_HEADER_TIMEOUT_SECS: u64 = 10;
/// Default time a connection may move no byte at all before it is closed.
pub const DEFAULT_IDLE_TIMEOUT_SECS: u64 = 60;
/// Default floor on an upload's average rate after its first 10 s: 32 KiB/s.
pub const DEFAULT_MIN_UPLOAD_RATE: u64 = 32 * 1024;
/// Default number of segment bodies read at once.
pub const DEFAULT_MAX_UPLOADS: usize = 16;
/// Default number of them from one client address.
pub const DEFAULT_MAX_UPLOADS_PER_ADDRESS: usize = 4;
/// Default cap on a segment's duration, as a multiple of the stream's usual segment.
pub const DEFAULT_MAX_DURATION_FACTOR: f64 = 4.0;
/// Default cap on a segment's duration, seconds, whatever the stream's usual segment.
pub const DEFAULT_MAX_SEGMENT_SECS: f64 = 30.0;
/// Default `--open` stream creations allowed per client address and minute.
pub const DEFAULT_OPEN_CREATES_PER_MINUTE: u32 = 30;
/// Default bytes of recent segments kept in memory in front of an object store: 256 MiB
/// (about 100 s of a 720p + 360p + 240p ladder for 10 live streams).
pub const DEFAULT_SEGMENT_CACHE_BYTES: u64 = 256 * 1024 * 1024;

/// Livecast relay: takes MPEG-TS segments uploaded by a browser broadcaster and serves live
/// HLS of them.
///
/// Every flag can also be given as an environment variable (shown in brackets).
/// Example, the demo from the repository root:
///
///   livecast-relay --listen 127.0.0.1:8080 --data-dir ./relay-data --open
#[derive(Debug, Clone, Parser)]
#[command(name = "livecast-relay", version, about, long_about)]
pub struct Config {
    /// Address and port to listen on. Port 0 picks a free port; the bound address is printed
    /// as a line `listening on http://ADDR`.
    #[arg(long, env = "LIVECAST_RELAY_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,

    /// Directory for the database (`relay.db`) and, unless --storage says otherwise, the
    /// segments (`streams/{id}/{seq}.ts`). Created if missing. Restarting on the same
    /// directory (and storage) resumes every stream.
    #[arg(long, env = "LIVECAST_RELAY_DATA_DIR")]
    pub data_dir: PathBuf,

    /// Where the metadata lives: `sqlite` (the default: `DATA_DIR/relay.db`) or a PostgreSQL
    /// URL `postgres://USER:PASSWORD@HOST[:PORT]/DB`, which several relays may share (each
    /// hears the others' writes through LISTEN/NOTIFY). Prefer the environment variable for
    /// a URL with a password.
    #[arg(long, env = "LIVECAST_RELAY_DATABASE", value_name = "sqlite|postgres://…")]
    pub database: Option<String>,

    /// Where segments live: `file:DIR` (files `DIR/{id}/{seq}.ts`; default
    /// `file:DATA_DIR/streams`) or `s3://BUCKET[/PREFIX]` (objects `PREFIX/{id}/{seq}.ts` in an
    /// S3-compatible store: see the --s3-* flags and the AWS_* variables).
    #[arg(long, env = "LIVECAST_RELAY_STORAGE", value_name = "file:DIR|s3://BUCKET[/PREFIX]")]
    pub storage: Option<String>,

    /// With `--storage s3://…`: the store's endpoint URL, e.g. `http://127.0.0.1:3900`
    /// (default: AWS_ENDPOINT_URL, else AWS S3 itself).
    #[arg(long, env = "LIVECAST_RELAY_S3_ENDPOINT", value_name = "URL")]
    pub s3_endpoint: Option<String>,

    /// With `--storage s3://…`: the region to sign for (Garage: its `s3_region`; default:
    /// AWS_REGION, else us-east-1).
    #[arg(long, env = "LIVECAST_RELAY_S3_REGION")]
    pub s3_region: Option<String>,

    /// With `--storage s3://…`: the access key id (default: AWS_ACCESS_KEY_ID).
    #[arg(long, env = "LIVECAST_RELAY_S3_ACCESS_KEY_ID", value_name = "ID")]
    pub s3_access_key_id: Option<String>,

    /// With `--storage s3://…`: the secret access key (default: AWS_SECRET_ACCESS_KEY). Prefer
    /// the environment: a flag shows in the process list.
    #[arg(long, env = "LIVECAST_RELAY_S3_SECRET_ACCESS_KEY", hide_env_values = true, value_name = "SECRET")]
    pub s3_secret_access_key: Option<String>,

    /// Bytes of recent segments kept in memory and served from there: with an object store,
    /// those written or read; with files, those written (0: none; every read goes to the
    /// store or the disk).
    #[arg(long, env = "LIVECAST_RELAY_SEGMENT_CACHE_BYTES", default_value_t = DEFAULT_SEGMENT_CACHE_BYTES,
          value_parser = clap::value_parser!(u64).range(0..=1 << 40))]
    pub segment_cache_bytes: u64,

    /// Demo mode: anyone may create streams, no admin token needed. Uploading to a stream
    /// still needs that stream's key.
    #[arg(long, env = "LIVECAST_RELAY_OPEN", value_parser = clap::builder::BoolishValueParser::new())]
    pub open: bool,

    /// Token that authorises `POST /api/streams` (sent as `Authorization: Bearer TOKEN`).
    /// Required unless `--open`.
    #[arg(long, env = "LIVECAST_RELAY_ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: Option<String>,

    /// Largest accepted segment upload, in bytes; bigger bodies get `413`.
    #[arg(long, env = "LIVECAST_RELAY_MAX_SEGMENT_BYTES", default_value_t = DEFAULT_MAX_SEGMENT_BYTES,
          value_parser = clap::value_parser!(u64).range(188..=1 << 30))]
    pub max_segment_bytes: u64,

    /// Number of most recent segments in a live playlist (the complete list once ended).
    #[arg(long, env = "LIVECAST_RELAY_WINDOW_SEGMENTS", default_value_t = DEFAULT_WINDOW_SEGMENTS,
          value_parser = parse_window)]
    pub window_segments: usize,

    /// Static files to serve, repeatable: `MOUNT=DIR` serves DIR at `/MOUNT/`, a bare `DIR`
    /// serves it at `/{last path component}/` (so `--static-dir www --static-dir pkg` serves the
    /// demo pages at `/www/` and the wasm package at `/pkg/`). Default: `./www` and `./pkg`
    /// when they exist. In the environment: a comma-separated list.
    #[arg(long = "static-dir", env = "LIVECAST_RELAY_STATIC_DIRS", value_delimiter = ',',
          value_name = "[MOUNT=]DIR")]
    pub static_dirs: Vec<String>,

    /// Time limit for one request, upload included, in seconds; slower requests get `408`.
    #[arg(long, env = "LIVECAST_RELAY_REQUEST_TIMEOUT_SECS", default_value_t = DEFAULT_REQUEST_TIMEOUT_SECS,
          value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub request_timeout_secs: u64,

    /// Time for a request's header to arrive, in seconds; also how long a kept-alive
    /// connection may wait for its next request (hyper runs one timer for both). Then the
    /// connection is closed.
    #[arg(long, env = "LIVECAST_RELAY_HEADER_TIMEOUT_SECS", default_value_t = DEFAULT_HEADER_TIMEOUT_SECS,
          value_parser = clap::value_parser!(u64).range(1..=600))]
    pub header_timeout_secs: u64,

    /// A connection that moves no byte either way for this long, in seconds, is closed (a
    /// silent client, or a reader that stopped reading its response).
    #[arg(long, env = "LIVECAST_RELAY_IDLE_TIMEOUT_SECS", default_value_t = DEFAULT_IDLE_TIMEOUT_SECS,
          value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub idle_timeout_secs: u64,

    /// Slowest accepted upload, bytes per second on average after its first 10 s (and no
    /// pause over 10 s); slower uploads get `408`.
    #[arg(long, env = "LIVECAST_RELAY_MIN_UPLOAD_RATE", default_value_t = DEFAULT_MIN_UPLOAD_RATE,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub min_upload_rate: u64,

    /// Open connections at most (more are closed on accept). Default: 1024, or what the
    /// file-descriptor limit allows (2 per connection plus 64); a value that does not fit
    /// the limit stops the relay at start with a message.
    #[arg(long, env = "LIVECAST_RELAY_MAX_CONNECTIONS", value_parser = clap::value_parser!(u64).range(8..=1_000_000))]
    pub max_connections: Option<u64>,

    /// Segment bodies read at the same time (each may buffer up to --max-segment-bytes);
    /// an upload that waits more than 2 s for a slot gets `503` with `Retry-After`.
    #[arg(long, env = "LIVECAST_RELAY_MAX_UPLOADS", default_value_t = DEFAULT_MAX_UPLOADS,
          value_parser = parse_uploads)]
    pub max_uploads: usize,

    /// Of those, bodies from one client address at the same time (more get `503` at once),
    /// so one address cannot take every slot.
    #[arg(long, env = "LIVECAST_RELAY_MAX_UPLOADS_PER_ADDRESS", default_value_t = DEFAULT_MAX_UPLOADS_PER_ADDRESS,
          value_parser = parse_uploads)]
    pub max_uploads_per_address: usize,

    /// Longest accepted segment, as a multiple of the stream's usual segment (the median of
    /// its last 16); longer ones get `422`.
    #[arg(long, env = "LIVECAST_RELAY_MAX_DURATION_FACTOR", default_value_t = DEFAULT_MAX_DURATION_FACTOR,
          value_parser = parse_factor)]
    pub max_duration_factor: f64,

    /// Longest accepted segment in seconds, whatever the stream's usual segment (and the cap
    /// of a stream's first segments); longer ones get `422`.
    #[arg(long, env = "LIVECAST_RELAY_MAX_SEGMENT_SECS", default_value_t = DEFAULT_MAX_SEGMENT_SECS,
          value_parser = parse_factor)]
    pub max_segment_secs: f64,

    /// With `--open`: streams one client address may create per minute (`429` beyond).
    #[arg(long, env = "LIVECAST_RELAY_OPEN_CREATES_PER_MINUTE", default_value_t = DEFAULT_OPEN_CREATES_PER_MINUTE,
          value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub open_creates_per_minute: u32,

    /// Public base URL (e.g. `https://relay.example.com`) put in front of the `playbackUrl` and
    /// `ingestUrl` returned by `POST /api/streams`. Default: paths relative to this server.
    #[arg(long, env = "LIVECAST_RELAY_PUBLIC_URL")]
    pub public_url: Option<String>,

    /// A Livepeer-protocol transcoder node (orchestrator) the relay may forward segments to:
    /// its service URI, `http://host:port` or `https://host:port` (a self-signed certificate
    /// is accepted, as Livepeer orchestrators present one). Repeatable; in the environment a
    /// comma-separated list. Broadcasters can use only these nodes.
    #[arg(long = "transcoder", env = "LIVECAST_RELAY_TRANSCODERS", value_delimiter = ',', value_name = "URI")]
    pub transcoders: Vec<String>,
}

fn parse_uploads(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(n) if (1..=10_000).contains(&n) => Ok(n),
        _ => Err(format!("must be a whole number from 1 to 10000, got {s:?}")),
    }
}

fn parse_factor(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(x) if x.is_finite() && (1.0..=3600.0).contains(&x) => Ok(x),
        _ => Err(format!("must be a number from 1 to 3600, got {s:?}")),
    }
}

fn parse_window(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(n) if (1..=1000).contains(&n) => Ok(n),
        _ => Err(format!("must be a whole number from 1 to 1000, got {s:?}")),
    }
}

/// A configuration that cannot run.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// Neither `--open` nor `--admin-token`: nobody could create a stream.
    #[error("either --open or --admin-token is required (otherwise nobody can create a stream)")]
    NoWayToCreateStreams,
    /// The admin token is too short to be a secret.
    #[error("--admin-token must be at least 16 characters")]
    WeakAdminToken,
    /// A `--static-dir` value is malformed.
    #[error("--static-dir {value:?}: {reason}")]
    StaticDir {
        /// The value as given.
        value: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A `--transcoder` value is not an http(s) node URI, or is given twice.
    #[error("--transcoder: {0}")]
    Transcoder(String),
    /// `--public-url` is not an http(s) URL.
    #[error("--public-url must start with http:// or https://, got {0:?}")]
    PublicUrl(String),
    /// `--storage` or an `--s3-*` flag is malformed, or an `--s3-*` flag is given without
    /// an S3 `--storage`.
    #[error("--storage: {0}")]
    Storage(String),
    /// `--database` is neither `sqlite` nor a `postgres://` URL.
    #[error("--database must be `sqlite` or a postgres:// URL, not {0:?}")]
    Database(String),
}

impl Config {
    /// Checks the flags and resolves defaults into [`Settings`].
    pub fn into_settings(self) -> Result<Settings, ConfigError> {
        let storage = self.storage_config()?;
        let database = match self.database.as_deref() {
            None | Some("sqlite") => DatabaseConfig::Sqlite(self.data_dir.clone()),
            Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
                DatabaseConfig::Postgres(url.to_owned())
            }
            Some(other) => return Err(ConfigError::Database(crate::db::redact_url(other))),
        };
        let admin_token_hash = match self.admin_token.as_deref() {
            Some(t) if t.len() < 16 => return Err(ConfigError::WeakAdminToken),
            Some(t) => Some(keys::hash_secret(t)),
            None if !self.open => return Err(ConfigError::NoWayToCreateStreams),
            None => None,
        };
        let static_mounts = if self.static_dirs.is_empty() {
            default_static_mounts()
        } else {
            self.static_dirs
                .iter()
                .map(|v| parse_static_mount(v))
                .collect::<Result<Vec<_>, _>>()?
        };
        let public_url = match self.public_url {
            Some(u) if u.starts_with("http://") || u.starts_with("https://") => {
                Some(u.trim_end_matches('/').to_owned())
            }
            Some(u) => return Err(ConfigError::PublicUrl(u)),
            None => None,
        };
        let mut transcoders: Vec<NodeUri> = Vec::new();
        for text in self.transcoders.iter().filter(|t| !t.trim().is_empty()) {
            let uri = NodeUri::parse(text).map_err(ConfigError::Transcoder)?;
            if transcoders.contains(&uri) {
                return Err(ConfigError::Transcoder(format!("{uri} is given twice")));
            }
            transcoders.push(uri);
        }
        Ok(Settings {
            storage,
            database,
            segment_cache_bytes: self.segment_cache_bytes,
            transcoders,
            data_dir: self.data_dir,
            open: self.open,
            admin_token_hash,
            max_segment_bytes: self.max_segment_bytes,
            window_segments: self.window_segments,
            static_mounts,
            request_timeout: Duration::from_secs(self.request_timeout_secs),
            header_timeout: Duration::from_secs(self.header_timeout_secs),
            idle_timeout: Duration::from_secs(self.idle_timeout_secs),
            min_upload_rate: self.min_upload_rate,
            max_connections: self.max_connections.map(|n| n as usize),
            max_uploads: self.max_uploads,
            max_uploads_per_address: self.max_uploads_per_address,
            max_duration_factor: self.max_duration_factor,
            max_segment_secs: self.max_segment_secs,
            open_creates_per_minute: self.open_creates_per_minute,
            public_url,
        })
    }
}

impl Config {
    /// `--storage` and the `--s3-*` flags as a [`StorageConfig`].
    fn storage_config(&self) -> Result<StorageConfig, ConfigError> {
        let url = match &self.storage {
            None => StorageUrl::File(self.data_dir.join("streams")),
            Some(text) => StorageUrl::parse(text.trim()).map_err(ConfigError::Storage)?,
        };
        let s3_flags = [&self.s3_endpoint, &self.s3_region, &self.s3_access_key_id, &self.s3_secret_access_key];
        match url {
            StorageUrl::File(dir) => {
                if s3_flags.iter().any(|f| f.is_some()) {
                    return Err(ConfigError::Storage("the --s3-* flags need --storage s3://BUCKET".into()));
                }
                Ok(StorageConfig::File(dir))
            }
            StorageUrl::S3 { bucket, prefix } => {
                if let Some(e) = &self.s3_endpoint {
                    if !(e.starts_with("http://") || e.starts_with("https://")) {
                        return Err(ConfigError::Storage(format!("--s3-endpoint must be an http(s) URL, got {e:?}")));
                    }
                }
                Ok(StorageConfig::S3(S3Config {
                    bucket,
                    prefix,
                    endpoint: self.s3_endpoint.clone(),
                    region: self.s3_region.clone(),
                    access_key_id: self.s3_access_key_id.clone(),
                    secret_access_key: self.s3_secret_access_key.clone(),
                }))
            }
        }
    }
}

/// `./www` at `/www/` and `./pkg` at `/pkg/`, those that exist.
fn default_static_mounts() -> Vec<StaticMount> {
    ["www", "pkg"]
        .into_iter()
        .filter(|name| PathBuf::from(name).is_dir())
        .map(|name| StaticMount { mount: name.to_owned(), dir: PathBuf::from(name) })
        .collect()
}

/// Mount names the relay's own routes use.
const RESERVED_MOUNTS: [&str; 3] = ["api", "live", "hls"];

fn parse_static_mount(value: &str) -> Result<StaticMount, ConfigError> {
    let err = |reason: &str| ConfigError::StaticDir { value: value.to_owned(), reason: reason.to_owned() };
    let (mount, dir) = match value.split_once('=') {
        Some((mount, dir)) => (mount.to_owned(), PathBuf::from(dir)),
        None => {
            let dir = PathBuf::from(value);
            let name = dir
                .canonicalize()
                .ok()
                .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
                .ok_or_else(|| err("not an existing directory"))?;
            (name, dir)
        }
    };
    if !crate::ids::is_valid_name(&mount) {
        return Err(err("the mount must be 1 to 64 of A-Z a-z 0-9 _ -"));
    }
    if RESERVED_MOUNTS.contains(&mount.as_str()) {
        return Err(err("the mount collides with the relay's own routes (api, live, hls)"));
    }
    if !dir.is_dir() {
        return Err(err("not an existing directory"));
    }
    Ok(StaticMount { mount, dir })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Config, clap::Error> {
        Config::try_parse_from(std::iter::once("livecast-relay").chain(args.iter().copied()))
    }

    #[test]
    fn defaults() {
        let c = parse(&["--data-dir", "/tmp/x", "--open"]).unwrap();
        assert_eq!(c.max_segment_bytes, 16 * 1024 * 1024);
        assert_eq!(c.window_segments, 6);
        assert!(c.open);
        assert!(c.admin_token.is_none());
    }

    #[test]
    fn needs_open_or_token() {
        let c = parse(&["--data-dir", "/tmp/x"]).unwrap();
        assert!(matches!(c.into_settings(), Err(ConfigError::NoWayToCreateStreams)));
        let c = parse(&["--data-dir", "/tmp/x", "--admin-token", "short"]).unwrap();
        assert!(matches!(c.into_settings(), Err(ConfigError::WeakAdminToken)));
    }

    #[test]
    fn transcoders() {
        let c = parse(&["--data-dir", "x", "--open", "--transcoder", "http://127.0.0.1:1", "--transcoder", "https://a:2/"]).unwrap();
        let s = c.into_settings().unwrap();
        let uris: Vec<_> = s.transcoders.iter().map(|u| u.as_str().to_owned()).collect();
        assert_eq!(uris, ["http://127.0.0.1:1", "https://a:2"]);
        for bad in [&["ftp://a"][..], &["http://a:1", "http://a:1/"]] {
            let mut args = vec!["--data-dir", "x", "--open"];
            for b in bad {
                args.extend(["--transcoder", b]);
            }
            assert!(matches!(parse(&args).unwrap().into_settings(), Err(ConfigError::Transcoder(_))), "{bad:?}");
        }
    }

    #[test]
    fn database() {
        let s = parse(&["--data-dir", "d", "--open"]).unwrap().into_settings().unwrap();
        assert_eq!(s.database, DatabaseConfig::Sqlite(PathBuf::from("d")));
        let s = parse(&["--data-dir", "d", "--open", "--database", "sqlite"]).unwrap().into_settings().unwrap();
        assert_eq!(s.database, DatabaseConfig::Sqlite(PathBuf::from("d")));
        for url in ["postgres://relay:pw@db/live", "postgresql://db/live"] {
            let s = parse(&["--data-dir", "d", "--open", "--database", url]).unwrap().into_settings().unwrap();
            assert_eq!(s.database, DatabaseConfig::Postgres(url.into()));
        }
        let err = parse(&["--data-dir", "d", "--open", "--database", "mysql://relay:secret@db/live"]).unwrap().into_settings();
        let Err(e @ ConfigError::Database(_)) = err else { panic!("{err:?}") };
        assert!(!e.to_string().contains("secret"), "the password is shown: {e}");
    }

    #[test]
    fn storage() {
        let s = parse(&["--data-dir", "d", "--open"]).unwrap().into_settings().unwrap();
        assert_eq!(s.storage, StorageConfig::File(PathBuf::from("d").join("streams")));
        assert_eq!(s.segment_cache_bytes, DEFAULT_SEGMENT_CACHE_BYTES);
        let s = parse(&["--data-dir", "d", "--open", "--storage", "file:/srv/seg"]).unwrap().into_settings().unwrap();
        assert_eq!(s.storage, StorageConfig::File(PathBuf::from("/srv/seg")));
        let args = ["--data-dir", "d", "--open", "--storage", "s3://segs/live", "--s3-endpoint", "http://127.0.0.1:3900"];
        let c = parse(&[&args[..], &["--s3-region", "garage", "--segment-cache-bytes", "0"]].concat()).unwrap();
        assert_eq!(c.segment_cache_bytes, 0);
        let StorageConfig::S3(s3) = c.into_settings().unwrap().storage else { panic!("not S3") };
        assert_eq!((s3.bucket.as_str(), s3.prefix.as_str()), ("segs", "live"));
        assert_eq!((s3.endpoint.as_deref(), s3.region.as_deref()), (Some("http://127.0.0.1:3900"), Some("garage")));
        for bad in [
            &["--storage", "ftp://x"][..],
            &["--s3-region", "garage"],
            &["--storage", "file:x", "--s3-endpoint", "http://a"],
            &["--storage", "s3://segs", "--s3-endpoint", "127.0.0.1:3900"],
        ] {
            let c = parse(&[&["--data-dir", "d", "--open"][..], bad].concat()).unwrap();
            assert!(matches!(c.into_settings(), Err(ConfigError::Storage(_))), "{bad:?}");
        }
    }

    #[test]
    fn rejects_bad_numbers() {
        assert!(parse(&["--data-dir", "x", "--window-segments", "0"]).is_err());
        assert!(parse(&["--data-dir", "x", "--max-segment-bytes", "-5"]).is_err());
    }

    #[test]
    fn static_mounts() {
        let dir = tempfile::tempdir().unwrap();
        let www = dir.path().join("www");
        std::fs::create_dir(&www).unwrap();
        let m = parse_static_mount(www.to_str().unwrap()).unwrap();
        assert_eq!(m.mount, "www");
        let m = parse_static_mount(&format!("pkg={}", www.display())).unwrap();
        assert_eq!(m.mount, "pkg");
        assert!(parse_static_mount(&format!("api={}", www.display())).is_err());
        assert!(parse_static_mount(&format!("a/b={}", www.display())).is_err());
        assert!(parse_static_mount("/definitely/not/here").is_err());
    }
}

/// A directory served as static files at `/{mount}/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaticMount {
    /// The first path segment it is served under (`www`, `pkg`).
    pub mount: String,
    /// The directory on disk.
    pub dir: PathBuf,
}

/// What the relay runs with: the configuration once checked ([`Config::into_settings`]).
#[derive(Debug, Clone)]
pub struct Settings {
    /// The database lives here (and the segments, by default).
    pub data_dir: PathBuf,
    /// Where segments live (`--storage`).
    pub storage: StorageConfig,
    /// Where the metadata lives (`--database`).
    pub database: DatabaseConfig,
    /// Bytes of recent segments kept in memory in front of an object store.
    pub segment_cache_bytes: u64,
    /// Anyone may create streams.
    pub open: bool,
    /// SHA-256 of the admin token, if one is set.
    pub admin_token_hash: Option<Hash>,
    /// Largest accepted segment, in bytes.
    pub max_segment_bytes: u64,
    /// Segments in a live playlist.
    pub window_segments: usize,
    /// Static directories to serve.
    pub static_mounts: Vec<StaticMount>,
    /// Time limit for one request.
    pub request_timeout: Duration,
    /// Time for a request's header (and a kept-alive connection's wait for the next).
    pub header_timeout: Duration,
    /// A connection moving no byte for this long is closed.
    pub idle_timeout: Duration,
    /// Slowest accepted upload after its grace, bytes per second.
    pub min_upload_rate: u64,
    /// Connection cap asked for (`None`: as many as fit, up to 1024).
    pub max_connections: Option<usize>,
    /// Segment bodies read at once.
    pub max_uploads: usize,
    /// Of those, from one client address.
    pub max_uploads_per_address: usize,
    /// Longest segment as a multiple of the stream's usual one.
    pub max_duration_factor: f64,
    /// Longest segment, seconds.
    pub max_segment_secs: f64,
    /// `--open` creations per client address and minute.
    pub open_creates_per_minute: u32,
    /// Base URL put in front of returned URLs, without a trailing slash.
    pub public_url: Option<String>,
    /// The transcoder nodes segments may be forwarded to.
    pub transcoders: Vec<NodeUri>,
}

impl Settings {
    /// Defaults for tests: open mode, 16 MiB, window of 6, no static files.
    pub fn for_tests(data_dir: PathBuf) -> Settings {
        Settings {
            storage: StorageConfig::File(data_dir.join("streams")),
            database: DatabaseConfig::Sqlite(data_dir.clone()),
            segment_cache_bytes: DEFAULT_SEGMENT_CACHE_BYTES,
            data_dir,
            open: true,
            admin_token_hash: None,
            max_segment_bytes: DEFAULT_MAX_SEGMENT_BYTES,
            window_segments: DEFAULT_WINDOW_SEGMENTS,
            static_mounts: Vec::new(),
            request_timeout: Duration::from_secs(30),
            header_timeout: Duration::from_secs(DEFAULT_HEADER_TIMEOUT_SECS),
            idle_timeout: Duration::from_secs(DEFAULT_IDLE_TIMEOUT_SECS),
            min_upload_rate: DEFAULT_MIN_UPLOAD_RATE,
            max_connections: None,
            max_uploads: DEFAULT_MAX_UPLOADS,
            max_uploads_per_address: DEFAULT_MAX_UPLOADS_PER_ADDRESS,
            max_duration_factor: DEFAULT_MAX_DURATION_FACTOR,
            max_segment_secs: DEFAULT_MAX_SEGMENT_SECS,
            open_creates_per_minute: DEFAULT_OPEN_CREATES_PER_MINUTE,
            public_url: None,
            transcoders: Vec::new(),
        }
    }
}
