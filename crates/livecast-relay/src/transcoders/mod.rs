//! Transcoder nodes: the relay's registry of Livepeer-protocol orchestrators
//! (`--transcoder URI`), discovery over gRPC, forwarding a broadcaster's signed segment,
//! and fetching and checking the renditions a node returns.
//!
//! The relay is a gateway, not an open proxy: it talks only to nodes in its registry, sends
//! `POST /segment` to the registry's URI (never to an address a node advertises), fetches
//! renditions only from that URI's origin (scheme, host and port), with size and time limits
//! and no redirects. It forwards the browser's `Livepeer-Segment` and `Livepeer-Payment`
//! headers byte for byte: it has no key a node would accept for a segment, so it cannot
//! forge one.
//!
//! - [`tls`]: TLS that accepts a node's self-signed certificate.
//! - [`json`]: `OrchestratorInfo` as proto3 JSON.
//! - [`verify`]: the checks on a `TranscodeResult` and its renditions.

pub mod json;
pub mod tls;
pub mod verify;

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::HeaderValue;
use hyper_util::rt::TokioIo;
use livecast_api::RelayErrorCode as Code;
use livecast_protocol::net::orchestrator_client::OrchestratorClient;
use livecast_protocol::net::{transcode_result, OrchestratorInfo, OrchestratorRequest, TranscodeResult};
use livecast_protocol::{Address, NodeKey, Profile, PAYMENT_HEADER, SEGMENT_HEADER};
use prost::Message;
use serde::Serialize;
use tokio::io::{AsyncRead, AsyncWrite};
use tonic::transport::{Channel, Endpoint};

use crate::clock::now_ms;
pub use crate::deadlines::{segment_timeout, MIN_SEGMENT_TIMEOUT, RENDITION_FETCH_TIMEOUT};
pub use verify::{AudioFacts, RenditionFacts, SourceFacts};

/// Time to open a TCP (and TLS) connection to a node (go-livepeer: 3 s).
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// Time for one `GetOrchestrator` call (go-livepeer: 8 s).
pub const GRPC_TIMEOUT: Duration = Duration::from_secs(8);
/// Largest `TranscodeResult` accepted.
pub const MAX_RESULT_BYTES: usize = 1 << 20;


/// How long an idle connection to a node is kept for reuse: under the nodes' keep-alive
/// deadline (livecast-transcoder's `--header-timeout-secs`, 10 s by default).
pub const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(5);

/// A node's service URI, as configured: `http(s)://host[:port]` with no path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeUri {
    normalized: String,
    https: bool,
    host: String,
    port: u16,
}

impl NodeUri {
    /// Parses and normalises a node URI (`http://` or `https://`, a host, an optional port,
    /// no credentials, path, query or fragment).
    pub fn parse(text: &str) -> Result<NodeUri, String> {
        let url = reqwest::Url::parse(text.trim()).map_err(|e| format!("{text:?} is not a URL: {e}"))?;
        let https = match url.scheme() {
            "http" => false,
            "https" => true,
            other => return Err(format!("{text:?}: the scheme must be http or https, not {other}")),
        };
        if !url.username().is_empty() || url.password().is_some() {
            return Err(format!("{text:?}: credentials in the URI are not allowed"));
        }
        if !(url.path().is_empty() || url.path() == "/") || url.query().is_some() || url.fragment().is_some() {
            return Err(format!("{text:?}: a node URI has no path, query or fragment"));
        }
        let host = url.host_str().filter(|h| !h.is_empty()).ok_or_else(|| format!("{text:?} has no host"))?;
        let port = url.port_or_known_default().ok_or_else(|| format!("{text:?} has no port"))?;
        let scheme = if https { "https" } else { "http" };
        Ok(NodeUri { normalized: format!("{scheme}://{host}:{port}"), https, host: host.to_owned(), port })
    }

    /// `scheme://host:port`, the port always written.
    pub fn as_str(&self) -> &str {
        &self.normalized
    }

    /// Whether `url` is on this node's origin: same scheme, host and port.
    pub fn same_origin(&self, url: &reqwest::Url) -> bool {
        url.scheme() == if self.https { "https" } else { "http" }
            && url.host_str() == Some(self.host.as_str())
            && url.port_or_known_default() == Some(self.port)
    }

    /// The host to open a socket to (an IPv6 literal without its brackets).
    fn socket_host(&self) -> &str {
        self.host.trim_start_matches('[').trim_end_matches(']')
    }
}

impl std::fmt::Display for NodeUri {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.normalized)
    }
}

/// What went wrong with a node; becomes a `502` with `retryable`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeError {
    /// Stable machine-readable code (see the crate README).
    pub code: Code,
    /// What happened, for people.
    pub message: String,
    /// Whether the broadcaster should retry the segment on another node.
    pub retryable: bool,
}

impl NodeError {
    /// A retryable failure.
    pub fn new(code: Code, message: impl Into<String>) -> Self {
        Self { code, message: message.into(), retryable: true }
    }
}

/// A node's health as the relay saw it in its last calls.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Health {
    /// The last call (discovery or segment) succeeded.
    pub healthy: bool,
    /// Round-trip time of the last successful `GetOrchestrator`, ms.
    pub last_rtt_ms: Option<u64>,
    /// Time from forwarding a segment to having its `TranscodeResult`, last success, ms.
    pub last_segment_latency_ms: Option<u64>,
    /// The last failure, if the last call failed.
    pub last_error: Option<String>,
    /// Failures since the last success.
    pub consecutive_failures: u32,
    /// When the relay last called the node, ms since the Unix epoch.
    pub last_checked_at_ms: Option<i64>,
    /// Segments transcoded and verified.
    pub segments_ok: u64,
    /// Segments that failed on this node.
    pub segments_failed: u64,
}

/// One node of the registry.
pub struct Node {
    uri: NodeUri,
    channel: Mutex<Option<Channel>>,
    health: Mutex<Health>,
    address: Mutex<Option<Address>>,
}

impl Node {
    /// Its URI.
    pub fn uri(&self) -> &NodeUri {
        &self.uri
    }

    /// A copy of its health record.
    pub fn health(&self) -> Health {
        self.health.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The node's Ethereum address as last seen in its `OrchestratorInfo`.
    pub fn address(&self) -> Option<Address> {
        *self.address.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn set_address(&self, address: Address) {
        *self.address.lock().unwrap_or_else(|p| p.into_inner()) = Some(address);
    }

    fn record(&self, f: impl FnOnce(&mut Health)) {
        let mut h = self.health.lock().unwrap_or_else(|p| p.into_inner());
        h.last_checked_at_ms = Some(now_ms());
        f(&mut h);
    }

    fn record_ok(&self, f: impl FnOnce(&mut Health)) {
        self.record(|h| {
            h.healthy = true;
            h.last_error = None;
            h.consecutive_failures = 0;
            f(h);
        });
    }

    fn record_failure(&self, error: &str, segment: bool) {
        self.record(|h| {
            h.healthy = false;
            h.last_error = Some(error.to_owned());
            h.consecutive_failures = h.consecutive_failures.saturating_add(1);
            if segment {
                h.segments_failed += 1;
            }
        });
    }
}

/// Any byte stream to a node: plain TCP or TLS.
trait Io: AsyncRead + AsyncWrite + Send + Unpin {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin> Io for T {}

type ConnectFuture = Pin<Box<dyn Future<Output = std::io::Result<TokioIo<Box<dyn Io>>>> + Send>>;

/// The registry: the configured nodes and the clients that reach them.
pub struct Registry {
    nodes: Vec<Arc<Node>>,
    http: reqwest::Client,
    grpc_tls: Arc<rustls::ClientConfig>,
    key: NodeKey,
    max_rendition_bytes: u64,
}

/// What a successful segment forward gives.
#[derive(Debug)]
pub struct Transcoded {
    /// The verified renditions, in the order of the requested profiles.
    pub renditions: Vec<(Profile, Vec<u8>, RenditionFacts)>,
    /// Profiles the node skipped (larger than the source), by name.
    pub skipped: Vec<String>,
    /// From forwarding the segment to having the `TranscodeResult`, ms.
    pub latency_ms: u64,
    /// The node's refreshed `OrchestratorInfo` (new ticket params, price), if it sent one.
    pub info: Option<OrchestratorInfo>,
}

/// One segment to forward, with the broadcaster's headers as they came.
#[derive(Debug)]
pub struct SegmentJob {
    /// `Livepeer-Segment`, untouched.
    pub segment_header: HeaderValue,
    /// `Livepeer-Payment`, untouched, if sent.
    pub payment_header: Option<HeaderValue>,
    /// The segment.
    pub body: Vec<u8>,
    /// The profiles the `SegData` asks for, in its order.
    pub profiles: Vec<Profile>,
    /// The segment's number.
    pub seq: i64,
    /// What the relay read from the source.
    pub source: SourceFacts,
}

impl Registry {
    /// A registry of `uris`; renditions larger than `max_rendition_bytes` are refused.
    pub fn new(uris: &[NodeUri], max_rendition_bytes: u64) -> Result<Registry, String> {
        let http_tls = tls::node_client_config(&[b"http/1.1"]).map_err(|e| format!("TLS: {e}"))?;
        let grpc_tls = tls::node_client_config(&[b"h2"]).map_err(|e| format!("TLS: {e}"))?;
        let http = reqwest::Client::builder()
            .tls_backend_preconfigured(http_tls)
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .connect_timeout(CONNECT_TIMEOUT)
            // A node closes a kept-alive connection that waits longer than its header
            // timeout for the next request (livecast-transcoder: 10 s by default). Dropping
            // idle ones well before that keeps a request from racing that close (the
            // request would fail as an incomplete message, and the segment move on).
            .pool_idle_timeout(POOL_IDLE_TIMEOUT)
            .build()
            .map_err(|e| format!("HTTP client: {e}"))?;
        let key = NodeKey::generate().map_err(|e| e.to_string())?;
        let nodes = uris
            .iter()
            .map(|uri| {
                Arc::new(Node {
                    uri: uri.clone(),
                    channel: Mutex::new(None),
                    health: Mutex::new(Health::default()),
                    address: Mutex::new(None),
                })
            })
            .collect();
        Ok(Registry { nodes, http, grpc_tls: Arc::new(grpc_tls), key, max_rendition_bytes })
    }

    /// Every node, in configuration order.
    pub fn nodes(&self) -> &[Arc<Node>] {
        &self.nodes
    }

    /// The node a `Livecast-Transcoder` header names, if it is in the registry.
    pub fn find(&self, uri: &str) -> Option<Arc<Node>> {
        let wanted = NodeUri::parse(uri).ok()?;
        self.nodes.iter().find(|n| n.uri == wanted).cloned()
    }

    /// The gRPC channel to a node, made on first use (tonic reconnects by itself).
    fn channel(&self, node: &Node) -> Result<Channel, NodeError> {
        let mut slot = node.channel.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(channel) = slot.as_ref() {
            return Ok(channel.clone());
        }
        // The endpoint's own scheme is always http: the connector below does TLS itself
        // when the node is https, so that tonic never needs its own TLS stack.
        let endpoint = Endpoint::from_shared(format!("http://{}:{}", node.uri.host, node.uri.port))
            .map_err(|e| NodeError::new(Code::TranscoderUnreachable, format!("{}: {e}", node.uri)))?
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(GRPC_TIMEOUT);
        let host = node.uri.socket_host().to_owned();
        let port = node.uri.port;
        let tls = node.uri.https.then(|| Arc::clone(&self.grpc_tls));
        let connector = tower::service_fn(move |_: axum::http::Uri| -> ConnectFuture {
            let host = host.clone();
            let tls = tls.clone();
            Box::pin(async move {
                let tcp = tokio::net::TcpStream::connect((host.as_str(), port)).await?;
                tcp.set_nodelay(true)?;
                let io: Box<dyn Io> = match tls {
                    None => Box::new(tcp),
                    Some(config) => {
                        let name = rustls::pki_types::ServerName::try_from(host.clone())
                            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
                        Box::new(tokio_rustls::TlsConnector::from(config).connect(name, tcp).await?)
                    }
                };
                Ok(TokioIo::new(io))
            })
        });
        let channel = endpoint.connect_with_connector_lazy(connector);
        *slot = Some(channel.clone());
        Ok(channel)
    }

    /// `GetOrchestrator` on one node with `request` (the broadcaster's, signed by it).
    /// Updates the node's health and remembers its address.
    pub async fn get_orchestrator(&self, node: &Node, request: OrchestratorRequest) -> Result<OrchestratorInfo, NodeError> {
        let started = Instant::now();
        let outcome = async {
            let mut client = OrchestratorClient::new(self.channel(node)?);
            match tokio::time::timeout(GRPC_TIMEOUT, client.get_orchestrator(request)).await {
                Err(_) => Err(NodeError::new(Code::TranscoderTimeout, format!("{}: GetOrchestrator timed out", node.uri))),
                Ok(Err(status)) => Err(NodeError::new(
                    Code::TranscoderUnreachable,
                    format!("{}: GetOrchestrator failed: {:?}: {}", node.uri, status.code(), status.message()),
                )),
                Ok(Ok(response)) => Ok(response.into_inner()),
            }
        }
        .await;
        let rtt = started.elapsed().as_millis() as u64;
        match &outcome {
            Ok(info) => {
                if let Ok(address) = Address::try_from(info.address.as_slice()) {
                    node.set_address(address);
                }
                node.record_ok(|h| h.last_rtt_ms = Some(rtt));
            }
            Err(e) => node.record_failure(&e.message, false),
        }
        outcome
    }

    /// The node's address: remembered from its last `OrchestratorInfo`, else (or when
    /// `refresh`) asked with the relay's own throw-away key.
    pub async fn node_address(&self, node: &Node, refresh: bool) -> Result<Address, NodeError> {
        if let (false, Some(address)) = (refresh, node.address()) {
            return Ok(address);
        }
        let request = livecast_protocol::discovery::orchestrator_request(&self.key)
            .map_err(|e| NodeError::new(Code::Internal, e.to_string()))?;
        let info = self.get_orchestrator(node, request).await?;
        Address::try_from(info.address.as_slice()).map_err(|_| {
            NodeError::new(Code::TranscoderBadResponse, format!("{}: OrchestratorInfo.address is not 20 bytes", node.uri))
        })
    }

    /// Forwards one segment to `node`, waits for its `TranscodeResult`, fetches and checks
    /// every rendition and the node's signature over them.
    pub async fn transcode(&self, node: &Node, job: SegmentJob) -> Result<Transcoded, NodeError> {
        let outcome = self.transcode_inner(node, job).await;
        match &outcome {
            Ok(t) => node.record_ok(|h| {
                h.last_segment_latency_ms = Some(t.latency_ms);
                h.segments_ok += 1;
            }),
            Err(e) => node.record_failure(&e.message, true),
        }
        outcome
    }

    async fn transcode_inner(&self, node: &Node, job: SegmentJob) -> Result<Transcoded, NodeError> {
        let uri = &node.uri;
        let timeout = segment_timeout(job.source.duration_secs);
        let started = Instant::now();
        let mut request = self
            .http
            .post(format!("{uri}/segment"))
            .timeout(timeout)
            .header(axum::http::header::CONTENT_TYPE, "video/MP2T")
            .header(SEGMENT_HEADER, job.segment_header)
            .body(job.body);
        if let Some(payment) = job.payment_header {
            request = request.header(PAYMENT_HEADER, payment);
        }
        let failed = |e: reqwest::Error| {
            if e.is_timeout() {
                NodeError::new(Code::TranscoderTimeout, format!("{uri}: no TranscodeResult within {} s", timeout.as_secs()))
            } else {
                NodeError::new(Code::TranscoderUnreachable, format!("{uri}: {}", error_chain(&e)))
            }
        };
        let response = request.send().await.map_err(failed)?;
        let status = response.status();
        let body = read_capped(response, MAX_RESULT_BYTES as u64).await.map_err(|e| match e {
            ReadError::Http(e) => failed(e),
            ReadError::TooLarge => NodeError::new(Code::TranscoderBadResponse, format!("{uri}: answer over {MAX_RESULT_BYTES} bytes")),
        })?;
        let latency_ms = started.elapsed().as_millis() as u64;
        if status != reqwest::StatusCode::OK {
            let text = String::from_utf8_lossy(&body[..body.len().min(300)]).trim().to_owned();
            return Err(NodeError {
                // 402: the node refused the `Livepeer-Payment` (a bad ticket, an unfunded
                // sender, not enough credit); the broadcaster shows it as a payment error.
                code: if status == reqwest::StatusCode::PAYMENT_REQUIRED { Code::TranscoderPaymentRejected } else { Code::TranscoderRejected },
                message: format!("{uri} answered {status}: {text}"),
                // A segment the node finds too large or unreadable fails on every node.
                retryable: !matches!(status.as_u16(), 413 | 422),
            });
        }
        let reply = TranscodeResult::decode(body.as_slice()).map_err(|e| {
            NodeError::new(Code::TranscoderBadResponse, format!("{uri}: not a protobuf TranscodeResult: {e}"))
        })?;
        if reply.seq != job.seq {
            return Err(NodeError::new(
                Code::TranscoderBadResponse,
                format!("{uri}: TranscodeResult is for seq {}, not {}", reply.seq, job.seq),
            ));
        }
        let data = match reply.result {
            Some(transcode_result::Result::Data(data)) => data,
            Some(transcode_result::Result::Error(e)) => {
                return Err(NodeError::new(Code::TranscoderError, format!("{uri}: {e}")));
            }
            None => return Err(NodeError::new(Code::TranscoderBadResponse, format!("{uri}: TranscodeResult has no result"))),
        };
        let urls = verify::rendition_urls(uri, &job.profiles, &data.segments)?;

        // Fetch every rendition at once, all within one time limit.
        let fetches = urls.iter().map(|url| async move {
            match url {
                None => Ok(Vec::new()),
                Some(url) => self.fetch_rendition(uri, url).await,
            }
        });
        let fetched = tokio::time::timeout(RENDITION_FETCH_TIMEOUT, futures_util::future::try_join_all(fetches))
            .await
            .map_err(|_| {
                NodeError::new(
                    Code::RenditionFetchFailed,
                    format!("{uri}: renditions not fetched within {} s", RENDITION_FETCH_TIMEOUT.as_secs()),
                )
            })??;

        let profiles = job.profiles.clone();
        let segments = data.segments.clone();
        let source = job.source;
        let checked = {
            let fetched = fetched.clone();
            { let node_uri = uri.clone(); tokio::task::spawn_blocking(move || verify::check_renditions(&node_uri, &profiles, &segments, &fetched, &source)) }
                .await
                .map_err(|e| NodeError::new(Code::Internal, format!("verify task: {e}")))??
        };
        let address = self.node_address(node, false).await?;
        let slices = || fetched.iter().map(Vec::as_slice);
        if livecast_protocol::result::verify_renditions(address, slices(), &data.sig).is_err() {
            // The node may have a new key since the relay last asked: ask once more.
            let fresh = self.node_address(node, true).await?;
            livecast_protocol::result::verify_renditions(fresh, slices(), &data.sig).map_err(|e| {
                NodeError::new(Code::TranscoderBadSignature, format!("{uri}: TranscodeData.sig: {e}"))
            })?;
        }

        let mut renditions = Vec::new();
        let mut skipped = Vec::new();
        for ((profile, bytes), facts) in job.profiles.into_iter().zip(fetched).zip(checked) {
            match facts {
                Some(facts) => renditions.push((profile, bytes, facts)),
                None => skipped.push(profile.name.to_string()),
            }
        }
        Ok(Transcoded { renditions, skipped, latency_ms, info: reply.info })
    }

    /// GETs one rendition from the node's origin (checked by the caller), under the size cap.
    async fn fetch_rendition(&self, uri: &NodeUri, url: &reqwest::Url) -> Result<Vec<u8>, NodeError> {
        let failed = |m: String| NodeError::new(Code::RenditionFetchFailed, format!("{uri}: {url}: {m}"));
        let response = self.http.get(url.clone()).send().await.map_err(|e| failed(error_chain(&e)))?;
        if response.status() != reqwest::StatusCode::OK {
            return Err(failed(format!("answered {}", response.status())));
        }
        read_capped(response, self.max_rendition_bytes).await.map_err(|e| match e {
            ReadError::Http(e) => failed(error_chain(&e)),
            ReadError::TooLarge => failed(format!("larger than {} bytes", self.max_rendition_bytes)),
        })
    }
}

enum ReadError {
    Http(reqwest::Error),
    TooLarge,
}

/// A response body, refused as soon as it passes `limit` bytes.
async fn read_capped(mut response: reqwest::Response, limit: u64) -> Result<Vec<u8>, ReadError> {
    if response.content_length().is_some_and(|n| n > limit) {
        return Err(ReadError::TooLarge);
    }
    let mut out = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(ReadError::Http)? {
        if (out.len() + chunk.len()) as u64 > limit {
            return Err(ReadError::TooLarge);
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}

/// An error and its causes on one line (reqwest's own message hides the cause).
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_uris() {
        let u = NodeUri::parse("http://127.0.0.1:8935/").unwrap();
        assert_eq!(u.as_str(), "http://127.0.0.1:8935");
        assert_eq!(NodeUri::parse("https://node.example").unwrap().as_str(), "https://node.example:443");
        assert_eq!(NodeUri::parse("http://[::1]:5").unwrap().socket_host(), "::1");
        for bad in ["ftp://a", "http://u:p@a", "http://a/x", "http://a?q", "nope", "http://"] {
            assert!(NodeUri::parse(bad).is_err(), "{bad}");
        }
        let same = |s: &str| u.same_origin(&reqwest::Url::parse(s).unwrap());
        assert!(same("http://127.0.0.1:8935/stream/a/P240p30fps16x9/1.ts"));
        for other in ["https://127.0.0.1:8935/x", "http://127.0.0.1:8936/x", "http://localhost:8935/x", "http://127.0.0.2:8935/x"] {
            assert!(!same(other), "{other}");
        }
    }

    #[test]
    fn timeouts_follow_go_livepeer() {
        assert_eq!(segment_timeout(1.0), Duration::from_secs(8));
        assert_eq!(segment_timeout(4.0), Duration::from_secs(16));
        assert_eq!(segment_timeout(f64::NAN.max(0.0)), Duration::from_secs(8));
    }
}
