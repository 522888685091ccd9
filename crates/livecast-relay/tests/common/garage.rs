//! A real single-node Garage (S3-compatible object store) for the storage tests, in a temp
//! dir on 127.0.0.1: `replication_factor = 1`, SQLite metadata, fsync of data and metadata
//! on, one bucket and one key allowed on it. Killed (SIGKILL) when dropped.
//!
//! The binary is `$LIVECAST_GARAGE` if set, else `garage` on `PATH`, else cargo's bin dir
//! (`scripts/setup.sh` installs it there). A missing binary fails the test with that message.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The S3 region Garage is configured with (requests must be signed for it).
pub const REGION: &str = "garage";

/// A running Garage node with a bucket and a key.
pub struct Garage {
    child: Option<Child>,
    _dir: tempfile::TempDir,
    bin: PathBuf,
    config: PathBuf,
    log: PathBuf,
    s3: SocketAddr,
    /// `http://127.0.0.1:PORT`, the S3 endpoint.
    pub endpoint: String,
    /// The bucket.
    pub bucket: String,
    /// Access key id allowed on the bucket.
    pub key_id: String,
    /// Its secret.
    pub secret: String,
}

/// The garage binary.
pub fn garage_bin() -> PathBuf {
    if let Some(bin) = std::env::var_os("LIVECAST_GARAGE") {
        return PathBuf::from(bin);
    }
    if let Some(path) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&path) {
            let candidate = dir.join("garage");
            if candidate.is_file() {
                return candidate;
            }
        }
    }
    let cargo_home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")));
    if let Some(candidate) = cargo_home.map(|h| h.join("bin/garage")).filter(|c| c.is_file()) {
        return candidate;
    }
    panic!("no garage binary: run scripts/setup.sh (cargo install garage --locked --version 2.5.0) or set LIVECAST_GARAGE");
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port()
}

fn hex(n: usize) -> String {
    let mut bytes = vec![0u8; n];
    getrandom::fill(&mut bytes).expect("random");
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl Garage {
    /// Starts a fresh node, applies its layout, creates the bucket `segments` and a key.
    pub fn start() -> Garage {
        let dir = tempfile::tempdir().expect("temp dir");
        let (rpc, s3, admin) = (free_port(), free_port(), free_port());
        let config = dir.path().join("garage.toml");
        let text = format!(
            r#"metadata_dir = "{meta}"
data_dir = "{data}"
db_engine = "sqlite"
metadata_fsync = true
data_fsync = true
replication_factor = 1
rpc_bind_addr = "127.0.0.1:{rpc}"
rpc_public_addr = "127.0.0.1:{rpc}"
rpc_secret = "{secret}"

[s3_api]
s3_region = "{REGION}"
api_bind_addr = "127.0.0.1:{s3}"
root_domain = ".s3.garage.localhost"

[admin]
api_bind_addr = "127.0.0.1:{admin}"
"#,
            meta = dir.path().join("meta").display(),
            data = dir.path().join("data").display(),
            secret = hex(32),
        );
        std::fs::write(&config, text).expect("garage.toml");
        let mut g = Garage {
            child: None,
            bin: garage_bin(),
            log: dir.path().join("garage.log"),
            _dir: dir,
            config,
            s3: SocketAddr::from(([127, 0, 0, 1], s3)),
            endpoint: format!("http://127.0.0.1:{s3}"),
            bucket: "segments".into(),
            key_id: format!("GK{}", hex(12)),
            secret: hex(32),
        };
        g.spawn();
        let id = g.cli_retrying(&["node", "id", "-q"]);
        let id = id.trim().split('@').next().expect("node id").to_owned();
        g.cli(&["layout", "assign", "-z", "dc1", "-c", "1G", &id]);
        g.cli(&["layout", "apply", "--version", "1"]);
        let bucket = g.bucket.clone();
        let (key_id, secret) = (g.key_id.clone(), g.secret.clone());
        g.cli_retrying(&["bucket", "create", &bucket]);
        g.cli(&["key", "import", "--yes", "-n", "livecast-tests", &key_id, &secret]);
        g.cli(&["bucket", "allow", "--read", "--write", "--owner", &bucket, "--key", &key_id]);
        g
    }

    fn spawn(&mut self) {
        let log = std::fs::OpenOptions::new().create(true).append(true).open(&self.log).expect("garage log");
        let child = Command::new(&self.bin)
            .arg("-c")
            .arg(&self.config)
            .arg("server")
            .env("RUST_LOG", "garage=warn")
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("start {}: {e}", self.bin.display()));
        self.child = Some(child);
        self.wait_listening();
    }

    /// Waits up to 30 s for the S3 port to accept connections.
    fn wait_listening(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if TcpStream::connect_timeout(&self.s3, Duration::from_millis(200)).is_ok() {
                return;
            }
            if let Some(status) = self.child.as_mut().and_then(|c| c.try_wait().ok().flatten()) {
                panic!("garage exited with {status}: {}", self.logs());
            }
            assert!(Instant::now() < deadline, "garage's S3 API did not listen within 30 s: {}", self.logs());
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Runs `garage -c CONFIG ARGS` and returns its stdout; panics on failure.
    pub fn cli(&self, args: &[&str]) -> String {
        self.try_cli(args).unwrap_or_else(|e| panic!("garage {args:?}: {e}\n{}", self.logs()))
    }

    fn try_cli(&self, args: &[&str]) -> Result<String, String> {
        let out = Command::new(&self.bin).arg("-c").arg(&self.config).args(args).output().map_err(|e| e.to_string())?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            Err(format!("{}: {}", out.status, String::from_utf8_lossy(&out.stderr)))
        }
    }

    /// [`Garage::cli`], retried for up to 20 s while the node is still coming up.
    fn cli_retrying(&self, args: &[&str]) -> String {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            match self.try_cli(args) {
                Ok(out) => return out,
                Err(e) if Instant::now() > deadline => panic!("garage {args:?} kept failing: {e}\n{}", self.logs()),
                Err(_) => std::thread::sleep(Duration::from_millis(200)),
            }
        }
    }

    /// SIGKILL, and wait for the process to be gone.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the node again on the same directories and ports.
    pub fn restart(&mut self) {
        self.kill();
        self.spawn();
    }

    /// The flags that point a relay at this bucket (credentials go in [`Garage::relay_env`]).
    pub fn relay_args(&self) -> Vec<String> {
        vec![
            "--storage".into(),
            format!("s3://{}", self.bucket),
            "--s3-endpoint".into(),
            self.endpoint.clone(),
            "--s3-region".into(),
            REGION.into(),
        ]
    }

    /// The credentials, as the relay's environment variables.
    pub fn relay_env(&self) -> Vec<(&'static str, String)> {
        vec![("LIVECAST_RELAY_S3_ACCESS_KEY_ID", self.key_id.clone()), ("LIVECAST_RELAY_S3_SECRET_ACCESS_KEY", self.secret.clone())]
    }

    /// An `object_store` client of the bucket, to check what the relay wrote.
    pub fn store(&self) -> Arc<dyn object_store::ObjectStore> {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let store = object_store::aws::AmazonS3Builder::new()
            .with_endpoint(&self.endpoint)
            .with_allow_http(true)
            .with_region(REGION)
            .with_bucket_name(&self.bucket)
            .with_access_key_id(&self.key_id)
            .with_secret_access_key(&self.secret)
            .build()
            .expect("S3 client");
        Arc::new(store)
    }

    /// Garage's own log so far.
    pub fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Where the data lives (for tests that look at it).
    pub fn config_path(&self) -> &Path {
        &self.config
    }
}

impl Drop for Garage {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("--- garage log ---\n{}", self.logs());
        }
        self.kill();
    }
}
