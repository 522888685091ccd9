//! `PUT /live/{id}/{seq}.ts`: the broadcaster uploads one MPEG-TS segment.
//!
//! In order: the path is validated (`400`), the stream key checked (`401`), the optional
//! headers parsed (`400` when malformed), the body read under the size cap (`413`), and the
//! segment probed with [`livecast_core::ts::probe_segment`] (`415` when it is not H.264
//! MPEG-TS): duration and timestamps come from the segment, never from the headers. Then,
//! under the stream's lock: the same bytes for a stored `seq` → `200`, other bytes → `409`,
//! an ended stream → `409`, else the segment is stored durably ([`crate::storage`]: a file
//! written atomically and fsynced, or an object the store confirmed), its row committed, and
//! only then `201`. A segment store that cannot be reached answers `503
//! storage_unavailable` with `Retry-After`, with nothing stored.
//!
//! With `Livepeer-Segment` (base64 protobuf `SegData`, signed by the broadcaster) and
//! `Livecast-Transcoder` (a node of the registry), and optionally `Livepeer-Payment`, the
//! relay then forwards the segment to that node (see [`crate::transcoders`]). Those headers
//! are checked before anything is stored (`400`: unknown node, malformed `SegData`, a seq
//! other than the path's, unknown profiles; after the body is read, a `SegData.hash` that
//! is not keccak256 of the body). A node failure answers `502` with `retryable` — the source
//! stays stored, and the same upload sent with another node completes the renditions.
//! Verified renditions are stored like the source, in the same store, then their rows,
//! before the answer. Renditions already stored for every requested profile are not made again.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::Engine;
use livecast_protocol::net::{Payment, SegData};
use livecast_protocol::{segment, Profile};
use prost::Message;
use serde::Serialize;

use crate::db::{self, RenditionRow, SegmentRow};
use crate::storage::SegmentKey;
use crate::transcoders::{AudioFacts, Node, SegmentJob, SourceFacts};
use crate::error::AppError;
use crate::extract::AppPath;
use crate::routes::auth::require_stream_key;
use crate::routes::body::{discard, read_limited};
use crate::routes::{CAPTURE_START, CONTENT_DURATION};
use crate::clock::now_ms;
use crate::state::AppState;
use crate::{ids, keys};

/// Longest `Content-Duration` accepted: one hour, in ms.
const MAX_DECLARED_DURATION_MS: i64 = 3_600_000;
/// Earliest `Livecast-Capture-Start` accepted: 2000-01-01T00:00:00Z, in ms.
const MIN_CAPTURE_START_MS: i64 = 946_684_800_000;
/// How far in the future a `Livecast-Capture-Start` may be (clock skew): one day, in ms.
const MAX_CAPTURE_START_AHEAD_MS: i64 = 86_400_000;

/// The answer to an accepted upload.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SegmentAccepted {
    /// Segment number.
    pub seq: u32,
    /// Size in bytes.
    pub bytes: u64,
    /// Duration read from the segment.
    pub duration_secs: f64,
    /// Number of video frames read from the segment.
    pub video_frames: u32,
    /// Whether it starts with an IDR (segments that do not cannot be played on their own).
    pub starts_with_keyframe: bool,
    /// `true` when this exact segment was already stored (a retry).
    pub duplicate: bool,
}

/// Ingest header: the transcoder node to forward the segment to (its registry URI).
pub const TRANSCODER_HEADER: HeaderName = HeaderName::from_static("livecast-transcoder");
/// Ingest header: the broadcaster's base64 protobuf `SegData`, forwarded untouched.
pub const LIVEPEER_SEGMENT: HeaderName = HeaderName::from_static("livepeer-segment");
/// Ingest header: the broadcaster's base64 protobuf `Payment`, forwarded untouched.
pub const LIVEPEER_PAYMENT: HeaderName = HeaderName::from_static("livepeer-payment");

/// One rendition in the answer.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RenditionAccepted {
    /// Profile name.
    pub profile: String,
    /// Width from the SPS.
    pub width: u32,
    /// Height from the SPS.
    pub height: u32,
    /// Measured bitrate: bytes × 8 / duration, kbit/s.
    pub bitrate_kbps: u64,
    /// The profile's target bitrate, kbit/s.
    pub target_kbps: u64,
    /// Pixels the node reported and the relay checked (width × height × frames).
    pub pixels: u64,
    /// Size in bytes.
    pub bytes: u64,
    /// Video frames.
    pub frames: u32,
    /// RFC 6381 codec string from the SPS.
    pub codecs: String,
}

impl From<&RenditionRow> for RenditionAccepted {
    fn from(r: &RenditionRow) -> Self {
        let kbps = if r.duration_secs > 0.0 { (r.size as f64 * 8.0 / r.duration_secs / 1000.0).round() as u64 } else { 0 };
        RenditionAccepted {
            profile: r.profile.clone(),
            width: r.width,
            height: r.height,
            bitrate_kbps: kbps,
            target_kbps: r.bitrate_bps / 1000,
            pixels: r.pixels,
            bytes: r.size,
            frames: r.video_frames,
            codecs: r.codecs.clone(),
        }
    }
}

/// The answer to an upload that was also transcoded.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TranscodedAccepted {
    /// The source, as without transcoding.
    #[serde(flatten)]
    pub source: SegmentAccepted,
    /// The node that made the renditions (`null` when they were already stored).
    pub transcoder: Option<String>,
    /// From forwarding the segment to having the node's result, ms (`null` as above).
    pub node_latency_ms: Option<u64>,
    /// The renditions now stored for this segment.
    pub renditions: Vec<RenditionAccepted>,
    /// Requested profiles the node skipped (larger than the source).
    pub skipped: Vec<String>,
    /// `true` when every rendition was already stored and no node was asked.
    pub renditions_duplicate: bool,
    /// The node's refreshed `OrchestratorInfo` from its `TranscodeResult` (base64
    /// protobuf, as in discovery): the broadcaster's next ticket params and price.
    pub info_base64: Option<String>,
}

/// The transcoding part of an upload, checked before anything is stored.
struct TranscodeRequest {
    node: Arc<Node>,
    segment_header: HeaderValue,
    payment_header: Option<HeaderValue>,
    seg: SegData,
    profiles: Vec<Profile>,
}

/// Reads and checks `Livecast-Transcoder`, `Livepeer-Segment` and `Livepeer-Payment`.
fn transcode_request(state: &AppState, headers: &HeaderMap, seq: u32) -> Result<Option<TranscodeRequest>, AppError> {
    let invalid = |name: &HeaderName, reason: String| AppError::InvalidHeader { name: name.as_str().to_owned(), reason };
    let node = headers.get(&TRANSCODER_HEADER);
    let seg = headers.get(&LIVEPEER_SEGMENT);
    let payment = headers.get(&LIVEPEER_PAYMENT);
    let (node, seg) = match (node, seg) {
        (None, None) if payment.is_none() => return Ok(None),
        (Some(node), Some(seg)) => (node, seg),
        (None, _) => return Err(invalid(&TRANSCODER_HEADER, "required with Livepeer-Segment and Livepeer-Payment".into())),
        (Some(_), None) => return Err(invalid(&LIVEPEER_SEGMENT, "required with Livecast-Transcoder".into())),
    };
    let node_text = node.to_str().map_err(|_| invalid(&TRANSCODER_HEADER, "not ASCII".into()))?.trim();
    let node = state.transcoders().find(node_text).ok_or_else(|| AppError::UnknownTranscoder(node_text.to_owned()))?;
    let b64 = base64::engine::general_purpose::STANDARD;
    let bytes = b64.decode(seg.as_bytes()).map_err(|e| invalid(&LIVEPEER_SEGMENT, format!("not base64: {e}")))?;
    let data = SegData::decode(bytes.as_slice()).map_err(|e| invalid(&LIVEPEER_SEGMENT, format!("not a SegData: {e}")))?;
    segment::check_seg_data(&data).map_err(|e| invalid(&LIVEPEER_SEGMENT, e.to_string()))?;
    if data.seq != i64::from(seq) {
        return Err(invalid(&LIVEPEER_SEGMENT, format!("SegData.seq is {}, the path says {seq}", data.seq)));
    }
    let profiles = segment::requested_profiles(&data)
        .iter()
        .map(|p| Profile::from_net(p).map_err(|e| invalid(&LIVEPEER_SEGMENT, e.to_string())))
        .collect::<Result<Vec<_>, _>>()?;
    if let Some(p) = profiles.iter().find(|p| !ids::is_valid_profile(&p.name)) {
        return Err(invalid(&LIVEPEER_SEGMENT, format!("profile name {:?} is not 1 to 64 of A-Z a-z 0-9 _", p.name)));
    }
    if let Some(payment) = payment {
        b64.decode(payment.as_bytes())
            .map_err(|e| e.to_string())
            .and_then(|b| Payment::decode(b.as_slice()).map_err(|e| e.to_string()))
            .map_err(|e| invalid(&LIVEPEER_PAYMENT, format!("not a base64 Payment: {e}")))?;
    }
    Ok(Some(TranscodeRequest {
        node,
        segment_header: seg.clone(),
        payment_header: payment.cloned(),
        seg: data,
        profiles,
    }))
}

/// What an upload's path and headers say, checked before its body is read.
struct UploadHead {
    id: String,
    seq: u32,
    declared_duration_ms: Option<i64>,
    capture_start_ms: Option<i64>,
    transcode: Option<TranscodeRequest>,
}

/// Checks the path, the stream key and the headers of an upload.
async fn upload_head(
    state: &AppState,
    path: Result<AppPath<(String, String)>, AppError>,
    headers: &HeaderMap,
) -> Result<UploadHead, AppError> {
    let AppPath((id, file)) = path?;
    let id = ids::stream_id(&id)?.to_owned();
    let seq = ids::segment_file(&file)?;
    require_stream_key(state, &id, headers).await?;
    let declared_duration_ms = int_header(headers, &CONTENT_DURATION, 0, MAX_DECLARED_DURATION_MS)?;
    let capture_start_ms =
        int_header(headers, &CAPTURE_START, MIN_CAPTURE_START_MS, now_ms() + MAX_CAPTURE_START_AHEAD_MS)?;
    let transcode = transcode_request(state, headers, seq)?;
    Ok(UploadHead { id, seq, declared_duration_ms, capture_start_ms, transcode })
}

/// Stores one segment; see the module documentation for the rules.
///
/// An upload refused on its path or headers still has its body read (and dropped, up to the
/// segment size limit) before the answer goes out, so the client reads a clean error instead
/// of a connection reset in the middle of sending.
pub async fn put_segment(
    State(state): State<AppState>,
    peer: Option<axum::Extension<axum::extract::ConnectInfo<std::net::SocketAddr>>>,
    path: Result<AppPath<(String, String)>, AppError>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, AppError> {
    let limit = state.settings().max_segment_bytes;
    let head = match upload_head(&state, path, &headers).await {
        Ok(head) => head,
        Err(e) => {
            discard(&headers, body, limit).await;
            return Err(e);
        }
    };
    let UploadHead { id, seq, declared_duration_ms, capture_start_ms, transcode } = head;

    // At most --max-uploads bodies in memory at once; the slot is held until the answer.
    let Some(_slot) = state.uploads().acquire(peer.map(|p| p.0 .0.ip())).await else {
        discard(&headers, body, limit).await;
        return Err(AppError::Busy { max: state.uploads().max() });
    };
    let data = read_limited(&headers, body, limit, state.settings().min_upload_rate).await?;
    let history = {
        let id = id.clone();
        state.db_read(move |c| Ok(db::recent_durations(c, &id, crate::sanity::HISTORY)?)).await?
    };
    let caps = crate::sanity::Caps { max_secs: state.settings().max_segment_secs, factor: state.settings().max_duration_factor };
    // The hashes of the body too, on the same blocking thread: hashing 1 MB takes about a
    // millisecond, which is not spent on a runtime thread serving viewers.
    let wants_keccak = transcode.is_some();
    let (data, info, sha256, keccak) = tokio::task::spawn_blocking(move || {
        let probed = probe_sane(&data, &history, caps);
        let sha256 = keys::sha256(&data);
        let keccak = wants_keccak.then(|| livecast_protocol::keccak256(&data));
        (data, probed, sha256, keccak)
    })
    .await?;
    let info = info?;
    if let (Some(t), Some(keccak)) = (&transcode, keccak) {
        if keccak.as_slice() != t.seg.hash.as_slice() {
            return Err(AppError::InvalidHeader {
                name: LIVEPEER_SEGMENT.as_str().to_owned(),
                reason: "SegData.hash is not keccak256 of the body".into(),
            });
        }
    }

    if !info.starts_with_keyframe {
        tracing::warn!(stream = %id, seq, "segment does not start with a keyframe");
    }
    if let Some(declared) = declared_duration_ms {
        let probed_ms = (info.duration_secs * 1000.0).round() as i64;
        if (declared - probed_ms).abs() > 500 {
            tracing::warn!(stream = %id, seq, declared, probed_ms, "Content-Duration disagrees with the segment");
        }
    }

    let source_bytes = transcode.is_some().then(|| data.clone());
    let (status, accepted, row) =
        store_source(&state, &id, seq, data, &info, sha256.to_vec(), capture_start_ms, declared_duration_ms).await?;
    let (Some(t), Some(source_bytes)) = (transcode, source_bytes) else {
        return Ok((status, Json(accepted)).into_response());
    };
    let audio = info.audio.as_ref().map(AudioFacts::of);
    let answer = transcode_segment(&state, &id, seq, t, source_bytes, &row, audio, accepted).await?;
    Ok((status, Json(answer)).into_response())
}

/// Probes the segment ([`livecast_core::ts::probe_segment`], `415` when it is not H.264
/// MPEG-TS) and checks its timing and H.264 ([`crate::sanity`], `422`).
fn probe_sane(
    data: &[u8],
    history: &crate::sanity::History,
    caps: crate::sanity::Caps,
) -> Result<livecast_core::ts::SegmentInfo, AppError> {
    // One pass over the transport stream for the timing, the audio and the frames the
    // checks read.
    let (mut info, units) = livecast_core::ts::probe_segment_units(data).map_err(|e| match e {
        livecast_core::Error::UnsupportedAudio(_) => AppError::UnsupportedAudio(e.to_string()),
        _ => AppError::NotMpegTs(e.to_string()),
    })?;
    crate::sanity::check(&units, &mut info, history, caps).map_err(AppError::Implausible)?;
    Ok(info)
}

/// Stores the source under the stream's lock: `(201, new)` or `(200, same bytes again)`.
#[allow(clippy::too_many_arguments)]
async fn store_source(
    state: &AppState,
    id: &str,
    seq: u32,
    data: Vec<u8>,
    info: &livecast_core::ts::SegmentInfo,
    sha256: Vec<u8>,
    capture_start_ms: Option<i64>,
    declared_duration_ms: Option<i64>,
) -> Result<(StatusCode, SegmentAccepted, SegmentRow), AppError> {
    let id = id.to_owned();
    let lock = state.stream_lock(&id);
    let _guard = lock.lock().await;

    let (existing, stream) = {
        let id = id.clone();
        state
            .db_read(move |c| Ok((db::get_segment(c, &id, seq)?, db::get_stream(c, &id)?)))
            .await?
    };
    let accepted = |row: &SegmentRow, duplicate| SegmentAccepted {
        seq,
        bytes: row.size,
        duration_secs: row.duration_secs,
        video_frames: row.video_frames,
        starts_with_keyframe: row.starts_with_keyframe,
        duplicate,
    };
    if let Some(row) = existing {
        return if row.sha256 == sha256 {
            Ok((StatusCode::OK, accepted(&row, true), row))
        } else {
            Err(AppError::SegmentConflict { seq })
        };
    }
    if stream.is_none_or(|s| s.ended_at_ms.is_some()) {
        return Err(AppError::StreamEnded);
    }

    let row = SegmentRow {
        seq,
        size: data.len() as u64,
        sha256,
        duration_secs: info.duration_secs,
        first_pts: info.first_pts,
        last_pts: info.last_pts,
        video_frames: info.video_frames,
        starts_with_keyframe: info.starts_with_keyframe,
        received_at_ms: now_ms(),
        capture_start_ms,
        declared_duration_ms,
    };
    // Durable before the row and the answer: a file fsynced and renamed, or an object the
    // store confirmed (conditional create). A store that is down is `503`, nothing stored.
    state.storage().put(&SegmentKey::source(&id, seq), bytes::Bytes::from(data)).await.map_err(|e| {
        tracing::warn!(stream = %id, seq, error = %e, "segment not stored");
        AppError::from(e)
    })?;
    let stored = row.clone();
    let insert_id = id.clone();
    // The stream's lock serialises this relay's uploads of the segment; another relay on the
    // same PostgreSQL may still have committed it first (a retry sent elsewhere): then its
    // row decides, as if it had been there before.
    let inserted = state
        .db_call_on(&id, move |c| match db::insert_segment(c, &insert_id, &stored) {
            Ok(()) => Ok(true),
            Err(e) if e.is_duplicate_key() => Ok(false),
            Err(e) => Err(e.into()),
        })
        .await?;
    if !inserted {
        let read_id = id.clone();
        let theirs = state.db_read(move |c| Ok(db::get_segment(c, &read_id, seq)?)).await?;
        return match theirs {
            Some(theirs) if theirs.sha256 == row.sha256 => Ok((StatusCode::OK, accepted(&theirs, true), theirs)),
            _ => Err(AppError::SegmentConflict { seq }),
        };
    }
    state.prefixes().stored(&id, seq);
    tracing::info!(stream = %id, seq, bytes = row.size, duration = row.duration_secs, "segment stored");
    Ok((StatusCode::CREATED, accepted(&row, false), row))
}

/// Forwards a stored source segment to its node, checks and stores the renditions.
#[allow(clippy::too_many_arguments)]
async fn transcode_segment(
    state: &AppState,
    id: &str,
    seq: u32,
    t: TranscodeRequest,
    data: Vec<u8>,
    row: &SegmentRow,
    audio: Option<AudioFacts>,
    source: SegmentAccepted,
) -> Result<TranscodedAccepted, AppError> {
    // (The audio was read when the segment was probed.)
    let (data, size) = tokio::task::spawn_blocking(move || {
        let size = livecast_core::sps::segment_sps(&data).ok().map(|s| (s.width, s.height));
        (data, size)
    })
    .await?;
    let facts = SourceFacts { video_frames: row.video_frames, duration_secs: row.duration_secs, size, audio };
    let fits = |p: &Profile| size.is_none_or(|(w, h)| p.width <= w && p.height <= h);
    let existing = {
        let id = id.to_owned();
        state.db_read(move |c| Ok(db::renditions_of(c, &id, seq)?)).await?
    };
    let have = |p: &Profile| existing.iter().any(|r| r.profile == p.name);
    if t.profiles.iter().any(fits) && t.profiles.iter().filter(|p| fits(p)).all(have) {
        return Ok(TranscodedAccepted {
            source,
            transcoder: None,
            node_latency_ms: None,
            renditions: existing.iter().map(RenditionAccepted::from).collect(),
            skipped: t.profiles.iter().filter(|p| !fits(p)).map(|p| p.name.to_string()).collect(),
            renditions_duplicate: true,
            info_base64: None,
        });
    }

    let node_uri = t.node.uri().to_string();
    let job = SegmentJob {
        segment_header: t.segment_header,
        payment_header: t.payment_header,
        body: data,
        profiles: t.profiles,
        seq: i64::from(seq),
        source: facts,
    };
    let done = state.transcoders().transcode(&t.node, job).await.map_err(|e| {
        tracing::warn!(stream = %id, seq, node = %node_uri, code = e.code.as_str(), "transcoding failed: {}", e.message);
        AppError::from(e)
    })?;

    // Store what is not stored yet (a concurrent retry may have won; the first stays).
    let lock = state.stream_lock(id);
    let _guard = lock.lock().await;
    let existing = {
        let id = id.to_owned();
        state.db_read(move |c| Ok(db::renditions_of(c, &id, seq)?)).await?
    };
    let received_at_ms = now_ms();
    let mut new_rows = Vec::new();
    let mut files = Vec::new();
    for (profile, bytes, f) in done.renditions {
        if existing.iter().any(|r| r.profile == profile.name) {
            continue;
        }
        new_rows.push(RenditionRow {
            profile: profile.name.to_string(),
            seq,
            size: bytes.len() as u64,
            sha256: keys::sha256(&bytes).to_vec(),
            duration_secs: f.duration_secs,
            first_pts: f.first_pts,
            video_frames: f.video_frames,
            width: f.width,
            height: f.height,
            codecs: f.codecs,
            pixels: f.pixels,
            bitrate_bps: u64::from(profile.bitrate_bps),
            transcoder: node_uri.clone(),
            received_at_ms,
        });
        files.push((profile.name.to_string(), bytes));
    }
    // Into the same store as the source, all at once; every one stored before any row.
    let writes = files.into_iter().map(|(profile, bytes)| {
        let key = SegmentKey::rendition(id, &profile, seq);
        async move { state.storage().put(&key, bytes::Bytes::from(bytes)).await }
    });
    futures_util::future::try_join_all(writes).await.map_err(|e| {
        tracing::warn!(stream = %id, seq, error = %e, "renditions not stored");
        AppError::from(e)
    })?;
    let insert_id = id.to_owned();
    let rows = new_rows.clone();
    state
        .db_call_on(id, move |c| {
            // One transaction (every call is): all of the segment's renditions or none.
            for r in &rows {
                db::insert_rendition(c, &insert_id, r)?;
            }
            Ok(())
        })
        .await?;
    state.prefixes().rendition_stored(id);
    tracing::info!(stream = %id, seq, node = %node_uri, renditions = new_rows.len(), latency_ms = done.latency_ms, "renditions stored");
    let mut all: Vec<RenditionRow> = existing;
    all.extend(new_rows);
    all.sort_by(|a, b| a.profile.cmp(&b.profile));
    Ok(TranscodedAccepted {
        source,
        transcoder: Some(node_uri),
        node_latency_ms: Some(done.latency_ms),
        renditions: all.iter().map(RenditionAccepted::from).collect(),
        skipped: done.skipped,
        renditions_duplicate: false,
        info_base64: done.info.map(|i| base64::engine::general_purpose::STANDARD.encode(i.encode_to_vec())),
    })
}

/// An optional integer header within `min..=max`; present but malformed is an error.
fn int_header(headers: &HeaderMap, name: &HeaderName, min: i64, max: i64) -> Result<Option<i64>, AppError> {
    let Some(value) = headers.get(name) else { return Ok(None) };
    let invalid = |reason: String| AppError::InvalidHeader { name: name.as_str().to_owned(), reason };
    let text = value.to_str().map_err(|_| invalid("not ASCII".into()))?.trim();
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid(format!("expected a non-negative integer, got {text:?}")));
    }
    match text.parse::<i64>() {
        Ok(n) if (min..=max).contains(&n) => Ok(Some(n)),
        _ => Err(invalid(format!("must be from {min} to {max}, got {text}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn optional_integer_headers() {
        let mut h = HeaderMap::new();
        assert_eq!(int_header(&h, &CONTENT_DURATION, 0, 10).unwrap(), None);
        h.insert(CONTENT_DURATION, "7".parse().unwrap());
        assert_eq!(int_header(&h, &CONTENT_DURATION, 0, 10).unwrap(), Some(7));
        for bad in ["11", "-1", "1.5", "", "x", "99999999999999999999"] {
            h.insert(CONTENT_DURATION, bad.parse().unwrap());
            assert!(int_header(&h, &CONTENT_DURATION, 0, 10).is_err(), "{bad:?}");
        }
    }
}
