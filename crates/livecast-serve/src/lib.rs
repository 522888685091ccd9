//! Hardened HTTP serving shared by Livecast's relay and transcoder node.
//!
//! `axum::serve` has no header-read deadline, no idle deadline, no connection cap and no
//! body-rate floor; a handful of silent or slow sockets then pins memory, upload slots and
//! file descriptors for everyone. This crate serves an axum [`Router`] with hyper-util's
//! connection builder and adds what hyper does not have:
//!
//! - [`serve`]: hyper's HTTP/1 `header_read_timeout` (its timer also runs while a kept-alive
//!   connection waits for its next request, so it is the keep-alive idle deadline too), an
//!   idle deadline on every connection (no byte read or written for that long: closed; covers
//!   HTTP/2 and readers that stop reading a response), HTTP/2 stream and header caps, a cap on
//!   open connections (over it a new connection is closed at once), graceful shutdown.
//! - [`fit_connection_cap`]: checks (and raises, up to the hard limit) the file-descriptor
//!   limit at start, so the cap stays below it with room for the server's own files.
//! - [`read_body`]: reads a request body under a size cap, a minimum rate and a stall
//!   deadline (mod_reqtimeout's `MinRate` idea), never buffering past the cap.
//! - [`drain`]: what to do with a refused body: read and drop it (nothing buffered) for a
//!   short while so the client can read the answer, then close.
//! - [`Uploads`]: a bound on bodies being read at once (each may hold up to its cap).
//!
//! TLS is not terminated here: put a proxy in front.

#![warn(missing_docs)]

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::Router;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tower::ServiceExt;

/// File descriptors kept for the server's own use (database, logs, files being written)
/// besides the two a connection may hold (its socket and a file it serves).
pub const RESERVED_FDS: u64 = 64;
/// Connections allowed when the operator does not say.
pub const DEFAULT_MAX_CONNECTIONS: usize = 1024;
/// Fewest connections a server runs with.
pub const MIN_CONNECTIONS: usize = 8;

/// Connection-level limits of [`serve`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnLimits {
    /// A request's header must arrive within this from when the connection starts waiting
    /// for it (after accept, or after the previous response on a kept-alive connection).
    pub header_read_timeout: Duration,
    /// A connection on which no byte is read or written for this long is closed.
    pub idle_timeout: Duration,
    /// Open connections at most; more are closed on accept.
    pub max_connections: usize,
    /// Serve HTTP/2 (cleartext, prior knowledge) besides HTTP/1.1: the node's gRPC needs it.
    pub http2: bool,
    /// Concurrent HTTP/2 streams per connection.
    pub max_streams: u32,
    /// How long shutdown waits for in-flight requests.
    pub shutdown_grace: Duration,
}

impl Default for ConnLimits {
    fn default() -> Self {
        Self {
            header_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            max_connections: DEFAULT_MAX_CONNECTIONS,
            http2: false,
            max_streams: 64,
            shutdown_grace: Duration::from_secs(30),
        }
    }
}

/// What can stop a server from starting or serving, or a request body from being read.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The file-descriptor limit is too low for the requested connection cap.
    #[error(
        "--max-connections {requested} needs about {needed} file descriptors, but the limit (ulimit -n) is {limit}: \
         raise the limit or lower --max-connections (at most {fits} fit)"
    )]
    FdLimit {
        /// Connections asked for.
        requested: usize,
        /// Descriptors they need: 2 per connection plus [`RESERVED_FDS`].
        needed: u64,
        /// The soft limit after trying to raise it to the hard limit.
        limit: u64,
        /// The largest cap that fits.
        fits: usize,
    },
    /// The limit cannot be read or changed.
    #[error("file-descriptor limit: {0}")]
    Rlimit(std::io::Error),
    /// Accepting or serving failed.
    #[error("serving: {0}")]
    Io(#[from] std::io::Error),
    /// A request body over the cap (declared or received).
    #[error("the body is larger than {limit} bytes")]
    BodyTooLarge {
        /// The cap.
        limit: u64,
    },
    /// Slower than [`BodyRate::min_bytes_per_sec`] after the grace, or stalled.
    #[error("the body arrives too slowly: {received} bytes in {elapsed_ms} ms (at least {min_rate} bytes/s after {grace_secs} s, no pause over {stall_secs} s)")]
    BodyTooSlow {
        /// Bytes received.
        received: u64,
        /// Since the body started.
        elapsed_ms: u64,
        /// The floor.
        min_rate: u64,
        /// The grace, seconds.
        grace_secs: u64,
        /// The stall deadline, seconds.
        stall_secs: u64,
    },
    /// The connection failed mid-body.
    #[error("could not read the body: {0}")]
    BodyRead(String),
}

/// Raises the soft file-descriptor limit to the hard one and returns the connection cap:
/// `requested`, when it fits (2 descriptors a connection plus [`RESERVED_FDS`]), else an
/// error saying so; without a request, [`DEFAULT_MAX_CONNECTIONS`] or as many as fit.
pub fn fit_connection_cap(requested: Option<usize>) -> Result<usize, ServeError> {
    let limit = rlimit::increase_nofile_limit(u64::MAX).map_err(ServeError::Rlimit)?;
    cap_for_limit(requested, limit)
}

fn cap_for_limit(requested: Option<usize>, limit: u64) -> Result<usize, ServeError> {
    let fits = (limit.saturating_sub(RESERVED_FDS) / 2) as usize;
    let want = requested.unwrap_or(DEFAULT_MAX_CONNECTIONS.min(fits));
    let needed = want as u64 * 2 + RESERVED_FDS;
    if needed > limit || want < MIN_CONNECTIONS {
        return Err(ServeError::FdLimit { requested: want.max(MIN_CONNECTIONS), needed: needed.max(MIN_CONNECTIONS as u64 * 2 + RESERVED_FDS), limit, fits });
    }
    Ok(want)
}

/// Serves `app` on `listener` under `limits` until `shutdown` resolves, then lets in-flight
/// requests finish for up to [`ConnLimits::shutdown_grace`]. Handlers can read the peer
/// address with `ConnectInfo<SocketAddr>`.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: ConnLimits,
    shutdown: impl Future<Output = ()>,
) -> Result<(), ServeError> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .max_headers(100)
        .keep_alive(true);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(limits.max_streams)
        .max_header_list_size(64 * 1024)
        .max_pending_accept_reset_streams(Some(32))
        .max_local_error_reset_streams(Some(64));
    if !limits.http2 {
        builder = builder.http1_only();
    }
    let builder = Arc::new(builder);
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut refused_logged = Instant::now() - Duration::from_secs(60);
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // EMFILE and friends: wait a little instead of spinning.
                    tracing::warn!("accept: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let Ok(permit) = slots.clone().try_acquire_owned() else {
            if refused_logged.elapsed() > Duration::from_secs(10) {
                tracing::warn!(max = limits.max_connections, %peer, "connection cap reached: closing new connections");
                refused_logged = Instant::now();
            }
            drop(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let activity = Arc::new(Activity::new());
        let io = TokioIo::new(ActiveIo { inner: stream, activity: activity.clone() });
        let app = app.clone();
        let counted = activity.clone();
        let service = hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
            counted.requests.fetch_add(1, Ordering::Relaxed);
            req.extensions_mut().insert(ConnectInfo(peer));
            app.clone().oneshot(req.map(Body::new))
        });
        let builder = builder.clone();
        let watcher = graceful.watcher();
        let idle = limits.idle_timeout;
        let header = limits.header_read_timeout;
        tokio::spawn(async move {
            let _permit: OwnedSemaphorePermit = permit;
            let conn = builder.serve_connection_with_upgrades(io, service).into_owned();
            let conn = watcher.watch(conn);
            tokio::select! {
                result = conn => if let Err(e) = result {
                    tracing::debug!(%peer, "connection: {e}");
                },
                () = activity.idle_for(idle) => tracing::debug!(%peer, "connection idle for {idle:?}: closed"),
                () = activity.no_request_within(header) => tracing::debug!(%peer, "no request within {header:?}: closed"),
            }
        });
    }
    drop(listener);
    if tokio::time::timeout(limits.shutdown_grace, graceful.shutdown()).await.is_err() {
        tracing::warn!("shutdown: requests still running after {:?}; closing them", limits.shutdown_grace);
    }
    Ok(())
}

/// When a connection last moved a byte.
///
/// Hand-written because hyper has no idle deadline for HTTP/2 connections, nor for a
/// response its reader stopped reading; a timestamp per read or write is all it takes.
struct Activity {
    start: Instant,
    last_ms: AtomicU64,
    /// Request heads received so far.
    requests: AtomicU64,
}

impl Activity {
    fn new() -> Self {
        Self { start: Instant::now(), last_ms: AtomicU64::new(0), requests: AtomicU64::new(0) }
    }

    /// Resolves when no request head has arrived `within` of the accept; never otherwise.
    /// hyper's header timer does not run while the auto builder is still reading the first
    /// bytes to tell HTTP/1 from HTTP/2, nor before an HTTP/2 connection's first request.
    async fn no_request_within(&self, within: Duration) {
        tokio::time::sleep_until((self.start + within).into()).await;
        if self.requests.load(Ordering::Relaxed) > 0 {
            std::future::pending::<()>().await;
        }
    }

    fn touch(&self) {
        self.last_ms.store(self.start.elapsed().as_millis() as u64, Ordering::Relaxed);
    }

    /// Resolves once nothing has moved for `idle`.
    async fn idle_for(&self, idle: Duration) {
        loop {
            let deadline = self.start + Duration::from_millis(self.last_ms.load(Ordering::Relaxed)) + idle;
            if Instant::now() >= deadline {
                return;
            }
            tokio::time::sleep_until(deadline.into()).await;
        }
    }
}

/// A socket that records its activity.
struct ActiveIo {
    inner: TcpStream,
    activity: Arc<Activity>,
}

impl AsyncRead for ActiveIo {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let poll = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(poll, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.activity.touch();
        }
        poll
    }
}

impl AsyncWrite for ActiveIo {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, data: &[u8]) -> Poll<std::io::Result<usize>> {
        let poll = Pin::new(&mut self.inner).poll_write(cx, data);
        if matches!(poll, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        poll
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let poll = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if matches!(poll, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        poll
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// How fast a request body must arrive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BodyRate {
    /// Time allowed before the rate counts (slow start, first bytes).
    pub grace: Duration,
    /// After the grace, at least this many bytes per second on average: a body has
    /// `grace + received / min_bytes_per_sec` from its start.
    pub min_bytes_per_sec: u64,
    /// No byte for this long: the body is refused, whatever the average.
    pub stall: Duration,
}

impl Default for BodyRate {
    fn default() -> Self {
        Self { grace: Duration::from_secs(10), min_bytes_per_sec: 32 * 1024, stall: Duration::from_secs(10) }
    }
}

/// The body's declared `Content-Length`, when it is a number.
pub fn declared_length(headers: &axum::http::HeaderMap) -> Option<u64> {
    headers.get(axum::http::header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.trim().parse().ok())
}

/// Reads the whole body: refused as soon as it exceeds `limit` (checked against the
/// declared length first, then against the bytes received, so at most `limit` bytes are
/// buffered) or falls below `rate`.
pub async fn read_body(headers: &axum::http::HeaderMap, body: Body, limit: u64, rate: BodyRate) -> Result<Vec<u8>, ServeError> {
    let declared = declared_length(headers);
    if declared.is_some_and(|n| n > limit) {
        return Err(ServeError::BodyTooLarge { limit });
    }
    let start = Instant::now();
    let mut buf = Vec::with_capacity(declared.unwrap_or(0).min(limit) as usize);
    let mut body = body;
    loop {
        let allowed = rate.grace + Duration::from_secs_f64(buf.len() as f64 / rate.min_bytes_per_sec.max(1) as f64);
        let left = allowed.saturating_sub(start.elapsed()).min(rate.stall);
        let too_slow = |received: usize| ServeError::BodyTooSlow {
            received: received as u64,
            elapsed_ms: start.elapsed().as_millis() as u64,
            min_rate: rate.min_bytes_per_sec,
            grace_secs: rate.grace.as_secs(),
            stall_secs: rate.stall.as_secs(),
        };
        let frame = match tokio::time::timeout(left, body.frame()).await {
            Err(_) => return Err(too_slow(buf.len())),
            Ok(None) => return Ok(buf),
            Ok(Some(Err(e))) => return Err(ServeError::BodyRead(e.to_string())),
            Ok(Some(Ok(frame))) => frame,
        };
        if let Ok(data) = frame.into_data() {
            if (buf.len() + data.len()) as u64 > limit {
                return Err(ServeError::BodyTooLarge { limit });
            }
            buf.extend_from_slice(&data);
        }
    }
}

/// How long a refused body is drained at most.
pub const DRAIN_TIME: Duration = Duration::from_secs(5);

/// Reads and drops a refused body, buffering nothing: at most `cap` bytes for at most
/// `time` (nothing when `Content-Length` already says more), so a client that is still
/// sending reads the refusal instead of a reset, and a huge or stalled body costs only that
/// time. Returns `true` when the whole body was read (the connection can be reused);
/// otherwise answer with `Connection: close`.
pub async fn drain(headers: &axum::http::HeaderMap, body: Body, cap: u64, time: Duration) -> bool {
    if declared_length(headers).is_some_and(|n| n > cap) {
        return false;
    }
    let read = async {
        let mut seen = 0u64;
        let mut body = body;
        loop {
            match body.frame().await {
                None => return true,
                Some(Err(_)) => return false,
                Some(Ok(frame)) => {
                    seen += frame.data_ref().map_or(0, |d| d.len() as u64);
                    if seen > cap {
                        return false;
                    }
                }
            }
        }
    };
    tokio::time::timeout(time, read).await.unwrap_or(false)
}

/// A bound on request bodies being read at once: in all, and per client address (so one
/// address cannot take every slot).
#[derive(Debug, Clone)]
pub struct Uploads {
    slots: Arc<Semaphore>,
    max: usize,
    per_address: usize,
    wait: Duration,
    by_address: AddressCounts,
}

type AddressCounts = Arc<std::sync::Mutex<std::collections::HashMap<std::net::IpAddr, usize>>>;

/// One body being read; dropping it frees the slot (and the address's share).
#[derive(Debug)]
pub struct UploadSlot {
    _permit: OwnedSemaphorePermit,
    _share: Option<AddressShare>,
}

/// One of an address's slots; dropping it gives it back.
#[derive(Debug)]
struct AddressShare {
    ip: std::net::IpAddr,
    counts: AddressCounts,
}

impl Drop for AddressShare {
    fn drop(&mut self) {
        let mut map = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = map.get_mut(&self.ip) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                map.remove(&self.ip);
            }
        }
    }
}

impl Uploads {
    /// At most `max` bodies at once, `per_address` of them from one client address; a
    /// request waits up to `wait` for a slot.
    pub fn new(max: usize, per_address: usize, wait: Duration) -> Self {
        let max = max.max(1);
        Self {
            slots: Arc::new(Semaphore::new(max)),
            max,
            per_address: per_address.clamp(1, max),
            wait,
            by_address: Arc::default(),
        }
    }

    /// The bound in all.
    pub fn max(&self) -> usize {
        self.max
    }

    /// The bound per client address.
    pub fn per_address(&self) -> usize {
        self.per_address
    }

    /// A slot for a body from `from`, or `None` (answer `503`): at once when that address
    /// already has its share, else after waiting [`Uploads::new`]'s `wait` for a free one.
    pub async fn acquire(&self, from: Option<std::net::IpAddr>) -> Option<UploadSlot> {
        let share = match from {
            Some(ip) => {
                let mut map = self.by_address.lock().unwrap_or_else(|p| p.into_inner());
                let n = map.entry(ip).or_default();
                if *n >= self.per_address {
                    return None;
                }
                *n += 1;
                Some(AddressShare { ip, counts: self.by_address.clone() })
            }
            None => None,
        };
        // On a timeout `share` is dropped here, giving the address's count back.
        let permit = tokio::time::timeout(self.wait, self.slots.clone().acquire_owned()).await.ok()?.ok()?;
        Some(UploadSlot { _permit: permit, _share: share })
    }
}

/// The peer address [`serve`] recorded, when there is one.
pub fn peer(req_extensions: &axum::http::Extensions) -> Option<SocketAddr> {
    req_extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Bytes;
    use axum::http::HeaderMap;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[test]
    fn connection_cap_fits_the_fd_limit() {
        assert_eq!(cap_for_limit(None, 1 << 20).unwrap(), DEFAULT_MAX_CONNECTIONS);
        assert_eq!(cap_for_limit(None, 256).unwrap(), 96);
        assert_eq!(cap_for_limit(Some(100), 264).unwrap(), 100);
        let e = cap_for_limit(Some(100), 263).unwrap_err().to_string();
        assert!(e.contains("--max-connections 100") && e.contains("limit (ulimit -n) is 263") && e.contains("at most 99"), "{e}");
        assert!(cap_for_limit(None, 64).is_err(), "no room at all");
    }

    fn slow_body(chunks: Vec<(u64, &'static [u8])>) -> Body {
        Body::from_stream(futures_util::stream::unfold(chunks.into_iter(), |mut it| async move {
            let (delay_ms, data) = it.next()?;
            tokio::time::sleep(Duration::from_millis(delay_ms)).await;
            Some((Ok::<_, std::io::Error>(Bytes::from_static(data)), it))
        }))
    }

    #[tokio::test]
    async fn body_cap_rate_and_stall() {
        let h = HeaderMap::new();
        let fast = BodyRate { grace: Duration::from_millis(200), min_bytes_per_sec: 1000, stall: Duration::from_millis(300) };
        let body = slow_body(vec![(0, b"ab"), (10, b"cd")]);
        assert_eq!(read_body(&h, body, 4, fast).await.unwrap(), b"abcd");
        let body = slow_body(vec![(0, b"ab"), (10, b"cde")]);
        assert!(matches!(read_body(&h, body, 4, fast).await, Err(ServeError::BodyTooLarge { limit: 4 })));
        let mut declared = HeaderMap::new();
        declared.insert(axum::http::header::CONTENT_LENGTH, "5".parse().unwrap());
        assert!(matches!(read_body(&declared, Body::from("ab"), 4, fast).await, Err(ServeError::BodyTooLarge { .. })));
        // A stall longer than `stall`, even inside the grace.
        let body = slow_body(vec![(0, b"ab"), (1000, b"cd")]);
        let started = Instant::now();
        assert!(matches!(read_body(&h, body, 100, BodyRate { grace: Duration::from_secs(5), ..fast }).await, Err(ServeError::BodyTooSlow { received: 2, .. })));
        assert!(started.elapsed() < Duration::from_millis(900));
        // A trickle: 1 byte every 100 ms is 10 bytes/s, under the 1000 bytes/s floor.
        let trickle: Vec<(u64, &'static [u8])> = (0..20).map(|_| (100, &b"x"[..])).collect();
        let e = read_body(&h, slow_body(trickle), 100, fast).await.unwrap_err();
        assert!(matches!(e, ServeError::BodyTooSlow { .. }), "{e}");
        assert!(e.to_string().contains("at least 1000 bytes/s"), "{e}");
    }

    #[tokio::test]
    async fn drain_reads_little_and_briefly() {
        let h = HeaderMap::new();
        let t = Duration::from_millis(300);
        assert!(drain(&h, Body::from("small"), 1024, t).await);
        let big: Vec<(u64, &'static [u8])> = (0..100).map(|_| (0, &[0u8; 1024][..])).collect();
        assert!(!drain(&h, slow_body(big), 64 * 1024, t).await, "more than the cap");
        let mut declared = HeaderMap::new();
        declared.insert(axum::http::header::CONTENT_LENGTH, "1025".parse().unwrap());
        assert!(!drain(&declared, Body::from("x"), 1024, t).await);
        let started = Instant::now();
        assert!(!drain(&h, slow_body(vec![(0, b"ab"), (5000, b"cd")]), 1024, t).await, "stalled");
        assert!(started.elapsed() < Duration::from_secs(2));
    }

    async fn start(limits: ConnLimits) -> SocketAddr {
        let app = Router::new().route("/", axum::routing::get(|| async { "ok" }));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(serve(listener, app, limits, std::future::pending()));
        addr
    }

    /// Reads until the peer closes; the time it took.
    async fn closed_after(stream: &mut TcpStream, within: Duration) -> Option<Duration> {
        let started = Instant::now();
        let mut buf = [0u8; 1024];
        loop {
            match tokio::time::timeout(within.saturating_sub(started.elapsed()), stream.read(&mut buf)).await {
                Ok(Ok(0)) | Ok(Err(_)) => return Some(started.elapsed()),
                Ok(Ok(_)) => continue,
                Err(_) => return None,
            }
        }
    }

    #[tokio::test]
    async fn slowloris_idle_and_keepalive_are_closed() {
        let limits = ConnLimits {
            header_read_timeout: Duration::from_millis(300),
            idle_timeout: Duration::from_millis(600),
            ..ConnLimits::default()
        };
        let addr = start(limits).await;
        // Silent after connecting.
        let mut silent = TcpStream::connect(addr).await.unwrap();
        // Half a header, then nothing.
        let mut half = TcpStream::connect(addr).await.unwrap();
        half.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n").await.unwrap();
        // One request, then idle on the kept-alive connection.
        let mut kept = TcpStream::connect(addr).await.unwrap();
        kept.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
        for s in [&mut silent, &mut half, &mut kept] {
            let t = closed_after(s, Duration::from_secs(3)).await.expect("closed");
            assert!(t < Duration::from_millis(1500), "{t:?}");
        }
    }

    #[tokio::test]
    async fn connections_over_the_cap_are_closed_and_slots_come_back() {
        let limits = ConnLimits { max_connections: 8, header_read_timeout: Duration::from_millis(500), ..ConnLimits::default() };
        let addr = start(limits).await;
        let mut held = Vec::new();
        for _ in 0..8 {
            held.push(TcpStream::connect(addr).await.unwrap());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        let mut extra = TcpStream::connect(addr).await.unwrap();
        let t = closed_after(&mut extra, Duration::from_millis(400)).await.expect("over the cap: closed at once");
        assert!(t < Duration::from_millis(300));
        drop(held);
        tokio::time::sleep(Duration::from_millis(100)).await;
        let mut ok = TcpStream::connect(addr).await.unwrap();
        ok.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").await.unwrap();
        let mut answer = String::new();
        ok.read_to_string(&mut answer).await.unwrap();
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    }

    #[tokio::test]
    async fn uploads_are_bounded_in_all_and_per_address() {
        let uploads = Uploads::new(3, 2, Duration::from_millis(50));
        let (a, b): (std::net::IpAddr, std::net::IpAddr) = ("127.0.0.2".parse().unwrap(), "127.0.0.3".parse().unwrap());
        let a1 = uploads.acquire(Some(a)).await.expect("free");
        let _a2 = uploads.acquire(Some(a)).await.expect("free");
        let started = Instant::now();
        assert!(uploads.acquire(Some(a)).await.is_none(), "a has its share");
        assert!(started.elapsed() < Duration::from_millis(40), "refused at once, without waiting");
        let b1 = uploads.acquire(Some(b)).await.expect("b has its own share");
        assert!(uploads.acquire(Some(b)).await.is_none(), "all 3 slots taken");
        drop(a1);
        assert!(uploads.acquire(Some(b)).await.is_some());
        drop(b1);
        assert!(uploads.acquire(None).await.is_some());
    }
}
