//! A real PostgreSQL server for the tests, started once per test process in a temporary
//! directory on 127.0.0.1 (`initdb`, then `postgres`), with a fresh database per test
//! ([`Postgres::database`]). For the unit tests, and included by the integration tests'
//! `common` module, which cannot see `cfg(test)` items.
//!
//! `initdb` refuses to run as root: as root (CI), the server runs as the `postgres` user
//! that Debian's package creates. The server is stopped when the test process ends: it is
//! started under a shell that kills it when its stdin (a pipe from this process) closes.
//! The binaries are found on `PATH`, else in `/usr/lib/postgresql/*/bin`.

#![allow(dead_code)]

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// A running PostgreSQL server.
pub struct Postgres {
    /// `postgres://USER@127.0.0.1:PORT`, without a database name.
    base: String,
    /// The port it listens on.
    pub port: u16,
    /// Its data directory.
    pub data: PathBuf,
    bin: PathBuf,
    user: Option<String>,
    /// The shell that runs it (its stdin closing stops the server).
    child: Mutex<Option<Child>>,
    _dir: tempfile::TempDir,
}

fn bin_dir() -> PathBuf {
    if let Some(path) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&path) {
            if dir.join("initdb").is_file() && dir.join("postgres").is_file() {
                return dir;
            }
        }
    }
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|d| d.filter_map(|e| e.ok()).map(|e| e.path().join("bin")).filter(|p| p.join("initdb").is_file()).collect())
        .unwrap_or_default();
    found.sort();
    found.pop().expect("PostgreSQL (initdb, postgres) must be installed to run these tests (scripts/setup.sh installs it)")
}

/// Runs `f` on a thread of its own: the synchronous client starts a runtime, which it cannot
/// on a thread that runs one (an async test).
fn off_runtime<R: Send>(f: impl FnOnce() -> R + Send) -> R {
    std::thread::scope(|s| s.spawn(f).join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
}

/// Whether the server answers a connection.
fn answers(url: &str) -> bool {
    off_runtime(|| ::postgres::Client::connect(url, ::postgres::NoTls).is_ok())
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port()
}

fn is_root() -> bool {
    Command::new("id").arg("-u").output().map(|o| o.stdout.starts_with(b"0\n")).unwrap_or(false)
}

/// The server of this test process, started on first use.
pub fn server() -> &'static Postgres {
    static SERVER: OnceLock<Postgres> = OnceLock::new();
    SERVER.get_or_init(Postgres::start)
}

impl Postgres {
    /// A server of its own (for a test that stops and restarts it); [`server`] is shared.
    pub fn start() -> Postgres {
        let bin = bin_dir();
        let dir = tempfile::Builder::new().prefix("livecast-pg").tempdir().expect("temp dir");
        let data = dir.path().join("data");
        let user = is_root().then(|| "postgres".to_owned());
        if let Some(user) = &user {
            let status = Command::new("chown").args(["-R", user]).arg(dir.path()).status().expect("chown");
            assert!(status.success(), "chown the temp dir to {user}");
        }
        let initdb = format!(
            "{} -D {} -U livecast --auth=trust --no-sync --encoding=UTF8 --locale=C",
            bin.join("initdb").display(),
            data.display()
        );
        let out = Self::as_user(&user, &initdb).output().expect("initdb");
        assert!(out.status.success(), "initdb failed: {}", String::from_utf8_lossy(&out.stderr));
        let port = free_port();
        let base = format!("postgres://livecast@127.0.0.1:{port}");
        let server = Postgres { base, port, data, bin, user, child: Mutex::new(None), _dir: dir };
        server.run();
        server
    }

    fn as_user(user: &Option<String>, script: &str) -> Command {
        match user {
            Some(u) => {
                let mut c = Command::new("runuser");
                c.args(["-u", u, "--", "sh", "-c", script]);
                c
            }
            None => {
                let mut c = Command::new("sh");
                c.args(["-c", script]);
                c
            }
        }
    }

    /// Starts the server (again) on its data directory and port, and waits until it answers.
    pub fn run(&self) {
        let log = self.data.parent().expect("parent").join("postgres.log");
        // `exec` is not used: the shell stays to kill the server when this process's pipe
        // to it closes (this process ended, or `stop`).
        let script = format!(
            "{} -D {} -p {} -c listen_addresses=127.0.0.1 -c unix_socket_directories= -c fsync=off \
             -c max_connections=200 >>{} 2>&1 & pid=$!; cat >/dev/null; kill -INT $pid; wait $pid",
            self.bin.join("postgres").display(),
            self.data.display(),
            self.port,
            log.display()
        );
        let child = Self::as_user(&self.user, &script).stdin(Stdio::piped()).spawn().expect("start postgres");
        *self.child.lock().unwrap_or_else(|p| p.into_inner()) = Some(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if answers(&format!("{}/postgres", self.base)) {
                return;
            }
            assert!(Instant::now() < deadline, "postgres did not start: {}", std::fs::read_to_string(&log).unwrap_or_default());
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Stops the server (a fast shutdown: clients are disconnected) and waits for it.
    pub fn stop(&self) {
        self.end_child();
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
            assert!(Instant::now() < deadline, "postgres did not stop");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Closes the shell's stdin (it then stops the server) and waits for the shell.
    fn end_child(&self) {
        if let Some(mut child) = self.child.lock().unwrap_or_else(|p| p.into_inner()).take() {
            drop(child.stdin.take());
            let _ = child.wait();
        }
    }

    /// A new empty database's URL (`postgres://…/tN`).
    pub fn database(&self) -> String {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let name = format!("t{}_{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed));
        off_runtime(|| {
            let mut admin = ::postgres::Client::connect(&format!("{}/postgres", self.base), ::postgres::NoTls).expect("connect");
            admin.batch_execute(&format!("CREATE DATABASE {name}")).expect("create database");
        });
        format!("{}/{name}", self.base)
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        self.end_child();
    }
}
