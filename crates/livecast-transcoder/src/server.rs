//! One port, two protocols, as go-livepeer serves them: gRPC (`/net.Orchestrator/...`,
//! HTTP/2 cleartext) for discovery, and HTTP for `POST /segment`, the renditions and
//! `GET /tickets` (winning tickets and their redemption).

use crate::node::{valid_session_id, Node};
use crate::payment::queue::Status;
use crate::payment::{Account, PaymentError};
use crate::transcode::{self, Rendition, TranscodeError};
use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use base64::Engine;
use livecast_core::ticket::PaymentBatch;
use livecast_protocol::net::orchestrator_server::{Orchestrator, OrchestratorServer};
use livecast_protocol::net::{self, OrchestratorInfo, OrchestratorRequest, Payment, SegData, TranscodeResult};
use livecast_protocol::{discovery, result, segment, Address, Profile, PAYMENT_HEADER, SEGMENT_HEADER};
use prost::Message;
use std::path::PathBuf;
use tower::ServiceExt;
use std::sync::Arc;

/// The gRPC `Orchestrator` service.
#[derive(Debug, Clone)]
pub struct OrchestratorService {
    node: Arc<Node>,
}

#[tonic::async_trait]
impl Orchestrator for OrchestratorService {
    async fn get_orchestrator(
        &self,
        request: tonic::Request<OrchestratorRequest>,
    ) -> Result<tonic::Response<OrchestratorInfo>, tonic::Status> {
        let broadcaster = discovery::verify_orchestrator_request(request.get_ref())
            .map_err(|e| tonic::Status::permission_denied(format!("Invalid orchestrator request: {e}")))?;
        let token = self.node.new_auth_token(&broadcaster).map_err(|e| tonic::Status::internal(e.to_string()))?;
        let params = match &self.node.payments {
            Some(payments) => Some(
                payments
                    .issue(broadcaster, broadcaster)
                    .await
                    .map_err(|e| tonic::Status::unavailable(format!("cannot issue ticket params: {e}")))?
                    .to_proto(),
            ),
            None => None,
        };
        tracing::info!(%broadcaster, session = %token.session_id, "GetOrchestrator");
        Ok(tonic::Response::new(self.node.orchestrator_info(Some(token), params)))
    }
}

/// The node's router: gRPC and HTTP on the same paths space (gRPC paths are
/// `/net.Orchestrator/*`).
pub fn app(node: Arc<Node>) -> Router {
    let grpc = tonic::service::Routes::new(OrchestratorServer::new(OrchestratorService { node: node.clone() }))
        .prepare()
        .into_axum_router();
    let timeout = node.config.request_timeout;
    let http = Router::new()
        .route("/segment", post(post_segment))
        .route("/stream/{session}/{profile}/{file}", get(get_rendition))
        .route("/tickets", get(get_tickets))
        .with_state(node)
        // The whole request, body included, until the answer's head (the TranscodeResult
        // of `POST /segment` streams after it, bounded by the decode budget).
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(StatusCode::REQUEST_TIMEOUT, timeout));
    grpc.merge(http).layer(tower_http::trace::TraceLayer::new_for_http())
}

/// A refused segment: a status and a message (text/plain), like go-livepeer's `http.Error`.
#[derive(Debug)]
pub struct SegmentError {
    status: StatusCode,
    message: String,
}

impl SegmentError {
    fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self { status, message: message.into() }
    }
}

impl IntoResponse for SegmentError {
    fn into_response(self) -> Response {
        if self.status.is_server_error() {
            tracing::error!(status = %self.status, "{}", self.message);
        } else {
            tracing::warn!(status = %self.status, "segment refused: {}", self.message);
        }
        // `close`: a refused segment's body may be partly unread, and a client that pooled
        // this connection would lose its next request when the server drops it.
        let headers = [(header::CONTENT_TYPE, "text/plain; charset=utf-8"), (header::CONNECTION, "close")];
        (self.status, headers, self.message + "\n").into_response()
    }
}

/// A segment that passed every check, with what the handler learned.
struct Accepted {
    seg: SegData,
    profiles: Vec<Profile>,
    session: String,
    /// Who signed the segment (the session key).
    signer: Address,
    /// Whose balance pays: the payment's sender, or the signer without a payment.
    account: Account,
}

/// The checks go-livepeer makes on the headers, in its order and with its status codes:
/// payment decoding (402), segment credentials and signature (403), auth token (403, and
/// the token must have been issued to the key that signed the segment, so a forged or
/// foreign signature is refused here, before any ticket work), then the tickets (402 when a
/// check fails, 503 when the chain cannot be read) and the balance (402 when the segment
/// is not paid for).
async fn check_headers(node: &Node, headers: &HeaderMap) -> Result<Accepted, SegmentError> {
    let b64 = base64::engine::general_purpose::STANDARD;
    let payment = match headers.get(PAYMENT_HEADER) {
        None => Payment::default(),
        Some(value) => b64
            .decode(value.as_bytes())
            .map_err(|e| format!("base64 decode error: {e}"))
            .and_then(|bytes| Payment::decode(bytes.as_slice()).map_err(|e| format!("protobuf unmarshal error: {e}")))
            .map_err(|e| SegmentError::new(StatusCode::PAYMENT_REQUIRED, format!("{PAYMENT_HEADER}: {e}")))?,
    };
    let payment_required = |m: String| SegmentError::new(StatusCode::PAYMENT_REQUIRED, m);
    let forbidden = |m: String| SegmentError::new(StatusCode::FORBIDDEN, m);
    let expected_sender = match payment.sender.len() {
        0 => None,
        20 => Some(Address::from_slice(&payment.sender)),
        n => return Err(payment_required(format!("payment sender is {n} bytes, expected 20"))),
    };
    // Tickets travel with their params; a Payment that only names its sender has neither.
    let batch = if payment.ticket_sender_params.is_empty() {
        None
    } else {
        Some(PaymentBatch::from_proto(&payment).map_err(|e| payment_required(format!("{PAYMENT_HEADER}: {e}")))?)
    };
    let seg_header = headers.get(SEGMENT_HEADER).ok_or_else(|| forbidden(format!("missing {SEGMENT_HEADER} header")))?;
    let seg = b64
        .decode(seg_header.as_bytes())
        .map_err(|_| forbidden("ErrorSegEncoding: Livepeer-Segment is not base64".into()))
        .and_then(|bytes| SegData::decode(bytes.as_slice()).map_err(|e| forbidden(format!("SegData: {e}"))))?;
    segment::check_seg_data(&seg).map_err(|e| forbidden(e.to_string()))?;
    let profiles = segment::requested_profiles(&seg)
        .iter()
        .map(Profile::from_net)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| forbidden(e.to_string()))?;
    let signer = segment::seg_data_signer(&seg).map_err(|e| forbidden(format!("ErrSegSig: {e}")))?;
    // A sender other than the signer must bring tickets made from params issued to the
    // signer (checked with the tickets below; see `crate::payment`).
    if let (Some(expected), None) = (expected_sender, &batch) {
        if signer != expected {
            return Err(forbidden(format!("ErrSegSig: SegData is signed by {signer}, the payment is from {expected}")));
        }
    }
    let token = seg.auth_token.as_ref().ok_or_else(|| forbidden("missing auth token".into()))?;
    node.check_auth_token(token, &signer).map_err(|e| forbidden(e.into()))?;
    let session = token.session_id.clone();
    let account = Account { sender: expected_sender.unwrap_or(signer), signer, session: session.clone() };

    match (&node.payments, &batch) {
        (None, Some(_)) => {
            return Err(payment_required("this node takes no ticket payments (it has no TicketBroker configured)".into()));
        }
        (Some(payments), Some(batch)) => {
            let receipt = payments.receive(batch, signer, &session).await.map_err(payment_error)?;
            tracing::info!(
                sender = %batch.sender, %signer, session = %session, tickets = receipt.tickets,
                credited_wei = %receipt.credited, winners = receipt.winners, balance_wei = %receipt.balance,
                "tickets accepted"
            );
        }
        _ => {}
    }
    if node.config.price_per_unit > 0 {
        let payments = node.payments.as_ref().ok_or_else(|| {
            payment_required(format!(
                "this node charges {} wei per {} pixels but has no TicketBroker configured to take tickets",
                node.config.price_per_unit, node.config.pixels_per_unit
            ))
        })?;
        payments.check_covers(&account).map_err(payment_error)?;
    }
    Ok(Accepted { seg, profiles, session, signer, account })
}

/// The status a payment problem is answered with: 402 for the tickets and the balance
/// (Livepeer's "Payment Required"), 503 when the chain cannot be read, 500 when winners
/// cannot be stored.
fn payment_error(e: PaymentError) -> SegmentError {
    let status = match &e {
        PaymentError::Ticket(_) | PaymentError::Insufficient { .. } => StatusCode::PAYMENT_REQUIRED,
        PaymentError::Chain(_) => StatusCode::SERVICE_UNAVAILABLE,
        PaymentError::Queue(_) => StatusCode::INTERNAL_SERVER_ERROR,
    };
    SegmentError::new(status, e.to_string())
}

/// Fresh ticket params for `signer`'s session paid by `sender`, for `OrchestratorInfo`
/// (none without payments, or when the chain cannot be read: the error is logged).
async fn fresh_params(node: &Node, signer: Address, sender: Address) -> Option<net::TicketParams> {
    let payments = node.payments.as_ref()?;
    match payments.issue(signer, sender).await {
        Ok(params) => Some(params.to_proto()),
        Err(e) => {
            tracing::warn!("cannot issue ticket params: {e}");
            None
        }
    }
}

/// `POST /segment`, in order: a declared body over the size limit (413, nothing read);
/// the headers (402/403; the refused body is drained without buffering for at most 5 s,
/// then the connection closed); an upload slot (503 `OrchestratorBusy` when
/// `--max-uploads` bodies are being read for 2 s); the body under the size limit (413) and
/// the minimum rate (408); keccak256(body) against `SegData.hash` (403); demux, the SPS and
/// the decode budget, without decoding (422); only then a transcode slot (503
/// `OrchestratorBusy`). It answers 200 at once and sends the protobuf `TranscodeResult`
/// when the renditions are stored (errors after that point travel in
/// `TranscodeResult.error`, as with go-livepeer).
async fn post_segment(State(node): State<Arc<Node>>, request: Request) -> Result<Response, SegmentError> {
    let limit = node.config.max_segment_bytes;
    let declared = livecast_serve::declared_length(request.headers());
    if declared.is_some_and(|len| len > limit as u64) {
        return Err(too_large(&node));
    }
    let (parts, body) = request.into_parts();
    let accepted = match check_headers(&node, &parts.headers).await {
        Ok(accepted) => accepted,
        Err(e) => {
            livecast_serve::drain(&parts.headers, body, limit as u64, livecast_serve::DRAIN_TIME).await;
            return Err(e);
        }
    };
    let Some(upload) = node.uploads.acquire(None).await else {
        livecast_serve::drain(&parts.headers, body, limit as u64, livecast_serve::DRAIN_TIME).await;
        return Err(SegmentError::new(StatusCode::SERVICE_UNAVAILABLE, "OrchestratorBusy: too many segment uploads in progress"));
    };
    let rate = livecast_serve::BodyRate { min_bytes_per_sec: node.config.min_upload_rate, ..livecast_serve::BodyRate::default() };
    let body = livecast_serve::read_body(&parts.headers, body, limit as u64, rate).await.map_err(|e| match e {
        livecast_serve::ServeError::BodyTooLarge { .. } => too_large(&node),
        livecast_serve::ServeError::BodyTooSlow { .. } => SegmentError::new(StatusCode::REQUEST_TIMEOUT, e.to_string()),
        _ => SegmentError::new(StatusCode::BAD_REQUEST, format!("could not read the segment body: {e}")),
    })?;
    if livecast_protocol::keccak256(&body).as_slice() != accepted.seg.hash.as_slice() {
        return Err(SegmentError::new(StatusCode::FORBIDDEN, "Forbidden: keccak256 of the body does not match SegData.hash"));
    }
    let limits = node.config.limits;
    let source = tokio::task::spawn_blocking(move || transcode::inspect(&body, &limits))
        .await
        .map_err(|e| SegmentError::new(StatusCode::INTERNAL_SERVER_ERROR, format!("inspect task: {e}")))?
        .map_err(|e| SegmentError::new(StatusCode::UNPROCESSABLE_ENTITY, e.to_string()))?;
    drop(upload);
    let permit = node
        .slots
        .clone()
        .try_acquire_owned()
        .map_err(|_| SegmentError::new(StatusCode::SERVICE_UNAVAILABLE, "OrchestratorBusy"))?;
    let Accepted { seg, profiles, session, signer, account } = accepted;
    tracing::info!(
        %signer, manifest = %String::from_utf8_lossy(&seg.manifest_id), seq = seg.seq, session = %session,
        source = %format!("{}x{}", source.sps.width, source.sps.height), frames = source.units.len(),
        profiles = %profiles.iter().map(|p| p.name.as_ref()).collect::<Vec<_>>().join(","),
        "segment accepted"
    );

    let (tx, rx) = tokio::sync::oneshot::channel::<Vec<u8>>();
    let worker = node.clone();
    tokio::spawn(async move {
        let seq = seg.seq;
        let started = std::time::Instant::now();
        let outcome = run_transcode(worker.clone(), source, profiles.clone(), session.clone(), seq).await;
        drop(permit);
        let result = match outcome {
            Ok(data) => {
                tracing::info!(seq, ms = started.elapsed().as_millis() as u64, "segment transcoded");
                if let (Some(payments), true) = (&worker.payments, worker.config.price_per_unit > 0) {
                    let pixels: u64 = data.segments.iter().map(|s| s.pixels.max(0) as u64).sum();
                    let (fee, balance) = payments.debit(&account, pixels);
                    tracing::info!(seq, pixels, fee_wei = %fee, balance_wei = %balance, sender = %account.sender, "fee debited");
                }
                net::transcode_result::Result::Data(data)
            }
            Err(e) => {
                tracing::error!(seq, "{e}");
                net::transcode_result::Result::Error(e)
            }
        };
        let params = fresh_params(&worker, signer, account.sender).await;
        let reply = TranscodeResult { seq, result: Some(result), info: Some(worker.orchestrator_info(seg.auth_token, params)) };
        let _ = tx.send(reply.encode_to_vec());
    });
    let body = futures_util::stream::once(async move {
        rx.await.map_err(|_| std::io::Error::other("the transcode task ended without a result"))
    });
    Ok(Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "application/x-protobuf")
        .body(Body::from_stream(body))
        .expect("static response parts"))
}

fn too_large(node: &Node) -> SegmentError {
    SegmentError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        format!("segment body is larger than {} bytes", node.config.max_segment_bytes),
    )
}

/// Transcodes on the worker pool, stores the renditions and signs them.
async fn run_transcode(
    node: Arc<Node>,
    source: transcode::Source,
    profiles: Vec<Profile>,
    session: String,
    seq: i64,
) -> Result<net::TranscodeData, String> {
    let pool_node = node.clone();
    let pool_profiles = profiles.clone();
    let renditions = tokio::task::spawn_blocking(move || transcode::transcode(&source, &pool_profiles, &pool_node.pool))
        .await
        .map_err(|e| format!("transcode task: {e}"))?
        .map_err(|e: TranscodeError| e.to_string())?;
    let store_node = node.clone();
    tokio::task::spawn_blocking(move || store_and_sign(&store_node, &profiles, &renditions, &session, seq))
        .await
        .map_err(|e| format!("store task: {e}"))?
}

/// The directory of one session's renditions of one profile.
fn rendition_dir(node: &Node, session: &str, profile: &str) -> PathBuf {
    node.config.data_dir.join("stream").join(session).join(profile)
}

/// Writes each rendition (temporary file, then rename) and builds the signed result.
/// A skipped profile keeps its place with an empty URL and 0 pixels, and counts as empty
/// bytes in the signature.
fn store_and_sign(
    node: &Node,
    profiles: &[Profile],
    renditions: &[Option<Rendition>],
    session: &str,
    seq: i64,
) -> Result<net::TranscodeData, String> {
    let mut written = Vec::new();
    let mut segments = Vec::new();
    let result = (|| {
        for (profile, rendition) in profiles.iter().zip(renditions) {
            let Some(rendition) = rendition else {
                segments.push(net::TranscodedSegmentData::default());
                continue;
            };
            let dir = rendition_dir(node, session, &profile.name);
            std::fs::create_dir_all(&dir).map_err(|e| format!("create {}: {e}", dir.display()))?;
            // `{seq}-{random}.ts`: a retry, or another sender in the same session, never
            // overwrites a rendition a broadcaster may still be fetching.
            let name = format!("{seq}-{}.ts", random_hex(8).map_err(|e| format!("random name: {e}"))?);
            let file = dir.join(&name);
            let tmp = dir.join(format!(".{name}.tmp"));
            std::fs::write(&tmp, &rendition.data).map_err(|e| format!("write {}: {e}", tmp.display()))?;
            std::fs::rename(&tmp, &file).map_err(|e| format!("rename {}: {e}", file.display()))?;
            written.push(file);
            segments.push(net::TranscodedSegmentData {
                url: format!("{}/stream/{session}/{}/{name}", node.config.service_uri.trim_end_matches('/'), profile.name),
                pixels: rendition.pixels as i64,
                ..Default::default()
            });
        }
        let bytes = renditions.iter().map(|r| r.as_ref().map_or(&[][..], |r| r.data.as_slice()));
        let sig = result::sign_renditions(&node.key, bytes).map_err(|e| e.to_string())?;
        Ok(net::TranscodeData { segments: std::mem::take(&mut segments), sig: sig.to_vec() })
    })();
    if result.is_err() {
        for file in written {
            let _ = std::fs::remove_file(file);
        }
    }
    result
}

/// `n` random bytes as lowercase hex.
fn random_hex(n: usize) -> std::io::Result<String> {
    let mut bytes = vec![0u8; n];
    getrandom::getrandom(&mut bytes).map_err(std::io::Error::other)?;
    Ok(hex::encode(bytes))
}

/// Whether the request carries `Authorization: Bearer <--operator-token>` (constant time).
fn is_operator(node: &Node, headers: &HeaderMap) -> bool {
    use sha2::Digest;
    let Some(expected) = node.config.operator_token.as_deref() else { return false };
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default();
    // Compare digests: equal length, and no early exit on the first differing byte.
    let (a, b) = (sha2::Sha256::digest(given.trim().as_bytes()), sha2::Sha256::digest(expected.as_bytes()));
    a.iter().zip(b.iter()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// `GET /tickets` (operator only: `Authorization: Bearer <--operator-token>`, else 403; it
/// lists sender addresses): the node's winning tickets and their redemption, as JSON:
/// `{ recipient, price: { pricePerUnit, pixelsPerUnit }, pending, redeemed, failed,
/// winners: [{ ticketHash, sender, faceValue, senderNonce, status, txHash, gasUsed,
/// attempts, error }] }` (amounts in wei as decimal strings). 404 without payments.
async fn get_tickets(State(node): State<Arc<Node>>, headers: HeaderMap) -> Response {
    if !is_operator(&node, &headers) {
        let why = if node.config.operator_token.is_some() { "operator token required\n" } else { "GET /tickets needs --operator-token on this node\n" };
        return (StatusCode::FORBIDDEN, why).into_response();
    }
    let Some(payments) = node.payments.clone() else {
        return (StatusCode::NOT_FOUND, "this node takes no ticket payments\n").into_response();
    };
    let address = node.key.address();
    let listed = tokio::task::spawn_blocking(move || {
        let entries = payments.queue().all()?;
        Ok::<_, crate::payment::QueueError>((payments.price(), entries))
    })
    .await;
    let (price, entries) = match listed {
        Ok(Ok(v)) => v,
        Ok(Err(e)) => return (StatusCode::INTERNAL_SERVER_ERROR, format!("{e}\n")).into_response(),
        Err(e) => return (StatusCode::INTERNAL_SERVER_ERROR, format!("{e}\n")).into_response(),
    };
    let count = |f: fn(&Status) -> bool| entries.iter().filter(|e| f(&e.status)).count();
    let winners: Vec<_> = entries
        .iter()
        .map(|e| {
            let t = &e.winner.ticket;
            let (status, tx_hash, gas_used, error) = match &e.status {
                Status::Pending => ("pending", None, None, e.last_error.clone()),
                Status::Redeemed { tx_hash, gas_used } => ("redeemed", Some(tx_hash.to_string()), Some(*gas_used), None),
                Status::Failed { reason } => ("failed", None, None, Some(reason.clone())),
            };
            serde_json::json!({
                "ticketHash": t.hash().to_string(),
                "sender": t.sender.to_string(),
                "faceValue": t.face_value.to_string(),
                "senderNonce": t.sender_nonce,
                "status": status,
                "txHash": tx_hash,
                "gasUsed": gas_used,
                "attempts": e.attempts,
                "error": error,
            })
        })
        .collect();
    axum::Json(serde_json::json!({
        "recipient": address.to_string(),
        "price": { "pricePerUnit": price.per_unit, "pixelsPerUnit": price.pixels_per_unit },
        "pending": count(|s| matches!(s, Status::Pending)),
        "redeemed": count(|s| matches!(s, Status::Redeemed { .. })),
        "failed": count(|s| matches!(s, Status::Failed { .. })),
        "winners": winners,
    }))
    .into_response()
}

/// Profile names become directory names: letters, digits and `_` only.
fn valid_profile_name(name: &str) -> bool {
    (1..=64).contains(&name.len()) && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// `GET /stream/{session}/{profile}/{seq}-{random}.ts`: a stored rendition, streamed from
/// disk (tower-http's `ServeFile`, with `Range`), so a slow reader holds one buffer.
async fn get_rendition(
    State(node): State<Arc<Node>>,
    Path((session, profile, file)): Path<(String, String, String)>,
    request: Request,
) -> Response {
    if !valid_session_id(&session) || !valid_profile_name(&profile) || !valid_rendition_name(&file) {
        return (StatusCode::NOT_FOUND, "not found\n").into_response();
    }
    let path = rendition_dir(&node, &session, &profile).join(&file);
    let mime = mime_ts();
    let res = match tower_http::services::ServeFile::new_with_mime(path, &mime).oneshot(request).await {
        Ok(res) => res,
        Err(never) => match never {},
    };
    if res.status() == StatusCode::NOT_FOUND {
        return (StatusCode::NOT_FOUND, "not found\n").into_response();
    }
    res.map(Body::new)
}

fn mime_ts() -> mime::Mime {
    "video/mp2t".parse().unwrap_or(mime::APPLICATION_OCTET_STREAM)
}

/// `{seq}-{16 hex}.ts`, as [`store_and_sign`] names renditions.
fn valid_rendition_name(file: &str) -> bool {
    let Some((seq, random)) = file.strip_suffix(".ts").and_then(|s| s.split_once('-')) else { return false };
    !seq.is_empty()
        && seq.len() <= 19
        && seq.bytes().all(|b| b.is_ascii_digit())
        && random.len() == 16
        && random.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
}

/// Deletes renditions (and emptied directories) older than the retention, every minute,
/// for as long as the node runs.
pub fn spawn_retention(node: Arc<Node>) {
    let root = node.config.data_dir.join("stream");
    let keep = node.config.rendition_retention;
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(60).min(keep.max(std::time::Duration::from_secs(1))));
        loop {
            tick.tick().await;
            let root = root.clone();
            match tokio::task::spawn_blocking(move || remove_older_than(&root, keep)).await {
                Ok(Ok(0)) => {}
                Ok(Ok(n)) => tracing::info!(removed = n, "renditions past retention deleted"),
                Ok(Err(e)) => tracing::warn!("rendition retention: {e}"),
                Err(e) => tracing::warn!("rendition retention task: {e}"),
            }
        }
    });
}

/// Removes files under `root/{session}/{profile}/` last modified more than `age` ago, and
/// directories left empty; returns how many files went.
pub fn remove_older_than(root: &std::path::Path, age: std::time::Duration) -> std::io::Result<usize> {
    let Some(cutoff) = std::time::SystemTime::now().checked_sub(age) else { return Ok(0) };
    let mut removed = 0;
    let sessions = match std::fs::read_dir(root) {
        Ok(d) => d,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(e),
    };
    for session in sessions.flatten() {
        if !session.file_type()?.is_dir() {
            continue;
        }
        for profile in std::fs::read_dir(session.path())?.flatten() {
            if !profile.file_type()?.is_dir() {
                continue;
            }
            for file in std::fs::read_dir(profile.path())?.flatten() {
                let old = file.metadata().and_then(|m| m.modified()).is_ok_and(|t| t < cutoff);
                if old && std::fs::remove_file(file.path()).is_ok() {
                    removed += 1;
                }
            }
            let _ = std::fs::remove_dir(profile.path()); // only when empty
        }
        let _ = std::fs::remove_dir(session.path());
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rendition_names() {
        assert!(valid_rendition_name("7-0123456789abcdef.ts"));
        for bad in ["7.ts", "7-0123.ts", "-0123456789abcdef.ts", "7-0123456789ABCDEF.ts", "../7-0123456789abcdef.ts", "7-0123456789abcdef.ts.tmp"] {
            assert!(!valid_rendition_name(bad), "{bad}");
        }
    }

    #[test]
    fn retention_removes_old_files_and_empty_dirs() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("s1").join("P240p30fps16x9");
        std::fs::create_dir_all(&p).unwrap();
        std::fs::write(p.join("1-0000000000000000.ts"), b"x").unwrap();
        assert_eq!(remove_older_than(dir.path(), std::time::Duration::from_secs(3600)).unwrap(), 0);
        assert!(p.join("1-0000000000000000.ts").exists());
        std::thread::sleep(std::time::Duration::from_millis(20));
        assert_eq!(remove_older_than(dir.path(), std::time::Duration::from_millis(1)).unwrap(), 1);
        assert!(!dir.path().join("s1").exists(), "emptied directories go too");
        assert_eq!(remove_older_than(&dir.path().join("none"), std::time::Duration::ZERO).unwrap(), 0);
    }
}
