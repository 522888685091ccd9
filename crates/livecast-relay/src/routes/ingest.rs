//! `PUT /live/{id}/{seq}.ts`: the broadcaster uploads one MPEG-TS segment.
//!
//! In order: the path is validated (`400`), the stream key checked (`401`), the optional
//! headers parsed (`400` when malformed), the body read under the size cap (`413`), and the
//! segment probed with [`livecast_core::ts::probe_segment`] (`415` when it is not H.264
//! MPEG-TS): duration and timestamps come from the segment, never from the headers. Then,
//! under the stream's lock: the same bytes for a stored `seq` → `200`, other bytes → `409`,
//! an ended stream → `409`, else the file is written atomically and durably, its row
//! committed, and only then `201`.

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderName, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;

use crate::db::{self, SegmentRow};
use crate::error::AppError;
use crate::extract::AppPath;
use crate::routes::auth::require_stream_key;
use crate::routes::body::read_limited;
use crate::routes::{CAPTURE_START, CONTENT_DURATION};
use crate::state::{now_ms, AppState};
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

/// Stores one segment; see the module documentation for the rules.
pub async fn put_segment(
    State(state): State<AppState>,
    AppPath((id, file)): AppPath<(String, String)>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, AppError> {
    let id = ids::stream_id(&id)?.to_owned();
    let seq = ids::segment_file(&file)?;
    require_stream_key(&state, &id, &headers).await?;
    let declared_duration_ms = int_header(&headers, &CONTENT_DURATION, 0, MAX_DECLARED_DURATION_MS)?;
    let capture_start_ms =
        int_header(&headers, &CAPTURE_START, MIN_CAPTURE_START_MS, now_ms() + MAX_CAPTURE_START_AHEAD_MS)?;

    let data = read_limited(&headers, body, state.settings().max_segment_bytes).await?;
    let (data, info) = tokio::task::spawn_blocking(move || {
        let probed = livecast_core::ts::probe_segment(&data);
        (data, probed)
    })
    .await?;
    let info = info.map_err(|e| AppError::NotMpegTs(e.to_string()))?;
    let sha256 = keys::sha256(&data);

    if !info.starts_with_keyframe {
        tracing::warn!(stream = %id, seq, "segment does not start with a keyframe");
    }
    if let Some(declared) = declared_duration_ms {
        let probed_ms = (info.duration_secs * 1000.0).round() as i64;
        if (declared - probed_ms).abs() > 500 {
            tracing::warn!(stream = %id, seq, declared, probed_ms, "Content-Duration disagrees with the segment");
        }
    }

    let lock = state.stream_lock(&id);
    let _guard = lock.lock().await;

    let (existing, stream) = {
        let id = id.clone();
        state
            .db()
            .call(move |c| Ok((db::get_segment(c, &id, seq)?, db::get_stream(c, &id)?)))
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
            Ok((StatusCode::OK, Json(accepted(&row, true))).into_response())
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
        sha256: sha256.to_vec(),
        duration_secs: info.duration_secs,
        first_pts: info.first_pts,
        last_pts: info.last_pts,
        video_frames: info.video_frames,
        starts_with_keyframe: info.starts_with_keyframe,
        received_at_ms: now_ms(),
        capture_start_ms,
        declared_duration_ms,
    };
    let storage = state.storage().clone();
    let write_id = id.clone();
    tokio::task::spawn_blocking(move || storage.write_segment(&write_id, seq, &data)).await??;
    let stored = row.clone();
    let insert_id = id.clone();
    state.db().call(move |c| Ok(db::insert_segment(c, &insert_id, &stored)?)).await?;
    tracing::info!(stream = %id, seq, bytes = row.size, duration = row.duration_secs, "segment stored");
    Ok((StatusCode::CREATED, Json(accepted(&row, false))).into_response())
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
