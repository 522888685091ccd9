//! The transcoder side of the API:
//!
//! - `POST /api/transcoders/info`: the broadcaster's signed discovery request, proxied to
//!   every node of the registry over gRPC; answers each node's `OrchestratorInfo` (proto3
//!   JSON and the raw protobuf) with its health record.
//! - `GET /api/transcoders`: the registry and each node's health, without calling the nodes.
//! - `POST /api/streams/{id}/gaps`: the broadcaster reports that no node could transcode a
//!   segment; its renditions become `EXT-X-GAP` (see [`crate::playlist`]).

use std::str::FromStr;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::Json;
use base64::Engine;
use livecast_protocol::net::OrchestratorRequest;
use livecast_protocol::Address;
use prost::Message;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::db;
use crate::error::AppError;
use crate::extract::AppPath;
use crate::ids;
use crate::routes::auth::require_stream_key;
use crate::clock::now_ms;
use crate::state::AppState;
use crate::transcoders::{json as info_json, Node};

/// Body of `POST /api/transcoders/info`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InfoRequest {
    /// The broadcaster's Ethereum address, `0x` + 40 hex digits (any case).
    pub address: String,
    /// Its 65-byte signature (hex, `0x` optional) over the EIP-55 checksummed address
    /// string, as a go-livepeer broadcaster signs `OrchestratorRequest.sig`.
    pub sig: String,
}

fn node_record(node: &Node) -> Value {
    json!({
        "uri": node.uri().as_str(),
        "address": node.address().map(|a| a.to_checksum(None)),
        "health": node.health(),
    })
}

/// `GET /api/transcoders`.
pub async fn list(State(state): State<AppState>) -> Json<Value> {
    let nodes: Vec<Value> = state.transcoders().nodes().iter().map(|n| node_record(n)).collect();
    Json(json!({ "transcoders": nodes }))
}

/// `POST /api/transcoders/info`.
pub async fn info(State(state): State<AppState>, body: Bytes) -> Result<Json<Value>, AppError> {
    let req: InfoRequest = serde_json::from_slice(&body).map_err(|e| AppError::InvalidJson(e.to_string()))?;
    let address = Address::from_str(req.address.trim())
        .map_err(|_| AppError::InvalidField { field: "address", reason: "expected 0x and 40 hex digits".into() })?;
    let sig_hex = req.sig.trim();
    let sig = hex::decode(sig_hex.strip_prefix("0x").unwrap_or(sig_hex))
        .map_err(|_| AppError::InvalidField { field: "sig", reason: "expected 65 bytes in hex".into() })?;
    let request = OrchestratorRequest { address: address.to_vec(), sig, ..Default::default() };
    livecast_protocol::discovery::verify_orchestrator_request(&request)
        .map_err(|e| AppError::InvalidSignature(e.to_string()))?;

    let registry = state.transcoders();
    let calls = registry.nodes().iter().map(|node| {
        let request = request.clone();
        async move {
            let outcome = registry.get_orchestrator(node, request).await;
            let mut record = node_record(node);
            match outcome {
                Ok(info) => {
                    record["info"] = info_json::orchestrator_info(&info);
                    record["infoBase64"] = json!(base64::engine::general_purpose::STANDARD.encode(info.encode_to_vec()));
                    record["error"] = Value::Null;
                }
                Err(e) => {
                    record["info"] = Value::Null;
                    record["infoBase64"] = Value::Null;
                    record["error"] = json!({ "code": e.code, "message": e.message });
                }
            }
            record
        }
    });
    let nodes = futures_util::future::join_all(calls).await;
    Ok(Json(json!({ "transcoders": nodes })))
}

/// Body of `POST /api/streams/{id}/gaps`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GapRequest {
    /// The segment no node could transcode.
    pub seq: u32,
}

/// `POST /api/streams/{id}/gaps` (stream key): segment `seq` (stored as source) will get no
/// renditions; each rendition lacking it shows `EXT-X-GAP` there. Idempotent.
pub async fn report_gap(
    State(state): State<AppState>,
    AppPath(id): AppPath<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, AppError> {
    let id = ids::stream_id(&id)?.to_owned();
    require_stream_key(&state, &id, &headers).await?;
    let req: GapRequest = serde_json::from_slice(&body).map_err(|e| AppError::InvalidJson(e.to_string()))?;
    let seq = req.seq;
    if seq > ids::MAX_SEQ {
        return Err(AppError::InvalidSeq);
    }
    state
        .db_call(move |c| {
            db::get_segment(c, &id, seq)?.ok_or(AppError::NotFound("segment"))?;
            db::insert_gap(c, &id, seq, now_ms())?;
            Ok(())
        })
        .await?;
    Ok(Json(json!({ "seq": seq, "gap": true })))
}
