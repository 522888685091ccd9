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
        let token = self.node.new_auth_token().map_err(|e| tonic::Status::internal(e.to_string()))?;
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
    let http = Router::new()
        .route("/segment", post(post_segment))
        .route("/stream/{session}/{profile}/{file}", get(get_rendition))
        .route("/tickets", get(get_tickets))
        .with_state(node);
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
/// payment decoding (402), segment credentials and signature (403), auth token (403), then
/// the tickets (402 when a check fails, 503 when the chain cannot be read) and the balance
/// (402 when the segment is not paid for).
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
    node.check_auth_token(token).map_err(|e| forbidden(e.into()))?;
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

/// `POST /segment`: checks the headers before reading the body (a refused body is read and
/// dropped, then the connection closed), reads at most the size limit (413 beyond), checks keccak256(body) against `SegData.hash` (403), demuxes and
/// checks the SPS without decoding (422), then answers 200 at once and sends the protobuf
/// `TranscodeResult` when the renditions are stored (errors after that point travel in
/// `TranscodeResult.error`, as with go-livepeer).
async fn post_segment(State(node): State<Arc<Node>>, request: Request) -> Result<Response, SegmentError> {
    let limit = node.config.max_segment_bytes;
    let declared = request.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if declared.is_some_and(|len| len > limit as u64) {
        return Err(too_large(&node));
    }
    let checked = check_headers(&node, request.headers()).await.and_then(|accepted| {
        let permit = node.slots.clone().try_acquire_owned();
        Ok((accepted, permit.map_err(|_| SegmentError::new(StatusCode::SERVICE_UNAVAILABLE, "OrchestratorBusy"))?))
    });
    let (accepted, permit) = match checked {
        Ok(checked) => checked,
        Err(e) => {
            // Read (and drop) the body before refusing, so the sender, still sending, reads
            // the refusal instead of a reset connection. At most `limit` bytes, as above.
            let _ = axum::body::to_bytes(request.into_body(), limit).await;
            return Err(e);
        }
    };
    let body = axum::body::to_bytes(request.into_body(), limit).await.map_err(|e| {
        let mut source: Option<&dyn std::error::Error> = Some(&e);
        while let Some(s) = source {
            if s.is::<http_body_util::LengthLimitError>() {
                return too_large(&node);
            }
            source = s.source();
        }
        SegmentError::new(StatusCode::BAD_REQUEST, format!("could not read the segment body: {e}"))
    })?;
    if livecast_protocol::keccak256(&body).as_slice() != accepted.seg.hash.as_slice() {
        return Err(SegmentError::new(StatusCode::FORBIDDEN, "Forbidden: keccak256 of the body does not match SegData.hash"));
    }
    let limits = node.config.limits;
    let source = tokio::task::spawn_blocking(move || transcode::inspect(&body, &limits))
        .await
        .map_err(|e| SegmentError::new(StatusCode::INTERNAL_SERVER_ERROR, format!("inspect task: {e}")))?
        .map_err(|e| SegmentError::new(StatusCode::UNPROCESSABLE_ENTITY, e.to_string()))?;
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
            let file = dir.join(format!("{seq}.ts"));
            let tmp = dir.join(format!(".{seq}.ts.tmp"));
            std::fs::write(&tmp, &rendition.data).map_err(|e| format!("write {}: {e}", tmp.display()))?;
            std::fs::rename(&tmp, &file).map_err(|e| format!("rename {}: {e}", file.display()))?;
            written.push(file);
            segments.push(net::TranscodedSegmentData {
                url: format!("{}/stream/{session}/{}/{seq}.ts", node.config.service_uri.trim_end_matches('/'), profile.name),
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

/// `GET /tickets`: the node's winning tickets and their redemption, as JSON:
/// `{ recipient, price: { pricePerUnit, pixelsPerUnit }, pending, redeemed, failed,
/// winners: [{ ticketHash, sender, faceValue, senderNonce, status, txHash, gasUsed,
/// attempts, error }] }` (amounts in wei as decimal strings). 404 without payments.
async fn get_tickets(State(node): State<Arc<Node>>) -> Response {
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

/// `GET /stream/{session}/{profile}/{seq}.ts`: a stored rendition.
async fn get_rendition(
    State(node): State<Arc<Node>>,
    Path((session, profile, file)): Path<(String, String, String)>,
) -> Response {
    let seq_ok = file.strip_suffix(".ts").is_some_and(|s| !s.is_empty() && s.len() <= 19 && s.bytes().all(|b| b.is_ascii_digit()));
    if !valid_session_id(&session) || !valid_profile_name(&profile) || !seq_ok {
        return (StatusCode::NOT_FOUND, "not found\n").into_response();
    }
    match tokio::fs::read(rendition_dir(&node, &session, &profile).join(&file)).await {
        Ok(bytes) => ([(header::CONTENT_TYPE, "video/mp2t")], bytes).into_response(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => (StatusCode::NOT_FOUND, "not found\n").into_response(),
        Err(e) => {
            tracing::error!("read rendition: {e}");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}
