//! Reading request bodies with a hard size cap: the cap is checked against `Content-Length`
//! before reading and against the bytes actually received while reading, so no more than
//! `limit` bytes are ever buffered, with or without a `Content-Length`; and what happens to
//! the connection when an upload is refused before its body is read.

use axum::body::Body;
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::Response;
use http_body_util::BodyExt;

use crate::error::AppError;

/// The whole body, or [`AppError::PayloadTooLarge`] as soon as it exceeds `limit` bytes.
pub async fn read_limited(headers: &HeaderMap, body: Body, limit: u64) -> Result<Vec<u8>, AppError> {
    let too_large = AppError::PayloadTooLarge { limit };
    let declared = declared_length(headers);
    if declared.is_some_and(|n| n > limit) {
        return Err(too_large);
    }
    let mut buf = Vec::with_capacity(declared.unwrap_or(0) as usize);
    let mut body = body;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| AppError::BodyRead(e.to_string()))?;
        if let Ok(data) = frame.into_data() {
            if (buf.len() + data.len()) as u64 > limit {
                return Err(too_large);
            }
            buf.extend_from_slice(&data);
        }
    }
    Ok(buf)
}

/// Reads and drops the body, up to `limit` bytes (none when `Content-Length` already says
/// more): what a server does before refusing a request whose body it will not use, so the
/// client, still sending, is not cut off before it can read the refusal.
pub async fn discard_limited(headers: &HeaderMap, body: Body, limit: u64) {
    if declared_length(headers).is_some_and(|n| n > limit) {
        return;
    }
    let mut seen = 0u64;
    let mut body = body;
    while let Some(Ok(frame)) = body.frame().await {
        seen += frame.data_ref().map_or(0, |d| d.len() as u64);
        if seen > limit {
            return;
        }
    }
}

/// The request's `Content-Length`, when present and a number.
fn declared_length(headers: &HeaderMap) -> Option<u64> {
    headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok())
}

/// Adds `Connection: close` to any upload answer that is not a success.
///
/// A refused upload may leave part of its body unread on the connection (too large, or cut
/// short by [`discard_limited`]'s cap); the server then drops that connection, and a client
/// that reused it for its next request would see that request fail mid-flight (hyper reports
/// an incomplete message). Saying `close` keeps clients from pooling it.
pub async fn close_unless_accepted(mut res: Response) -> Response {
    if !res.status().is_success() {
        res.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    res
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Bytes;

    /// A body without `Content-Length`, arriving in chunks.
    fn chunked(chunks: Vec<&'static [u8]>) -> Body {
        Body::from_stream(futures_util::stream::iter(
            chunks.into_iter().map(|c| Ok::<_, std::io::Error>(Bytes::from_static(c))),
        ))
    }

    #[tokio::test]
    async fn caps_with_and_without_content_length() {
        let mut h = HeaderMap::new();
        assert_eq!(read_limited(&h, Body::from("abc"), 3).await.unwrap(), b"abc");
        assert!(matches!(read_limited(&h, Body::from("abcd"), 3).await, Err(AppError::PayloadTooLarge { limit: 3 })));
        h.insert(header::CONTENT_LENGTH, "1000".parse().unwrap());
        assert!(matches!(read_limited(&h, Body::from("ab"), 3).await, Err(AppError::PayloadTooLarge { .. })));
        let h = HeaderMap::new();
        let body = chunked(vec![b"ab", b"cd", b"ef"]);
        assert!(matches!(read_limited(&h, body, 5).await, Err(AppError::PayloadTooLarge { .. })));
        let body = chunked(vec![b"ab", b"cd"]);
        assert_eq!(read_limited(&h, body, 5).await.unwrap(), b"abcd");
    }
}
