//! Reading request bodies with a hard size cap and a minimum rate (see
//! [`livecast_serve::read_body`]): the cap is checked against `Content-Length` before
//! reading and against the bytes actually received while reading, so no more than `limit`
//! bytes are ever buffered; and what happens to the connection when an upload is refused
//! before its body is read.

use axum::body::Body;
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::Response;
use livecast_serve::BodyRate;

use crate::error::AppError;

/// The whole body, or [`AppError::PayloadTooLarge`] as soon as it exceeds `limit` bytes, or
/// [`AppError::TooSlow`] when it arrives slower than `min_rate` bytes/s after 10 s or
/// pauses for 10 s.
pub async fn read_limited(headers: &HeaderMap, body: Body, limit: u64, min_rate: u64) -> Result<Vec<u8>, AppError> {
    let rate = BodyRate { min_bytes_per_sec: min_rate, ..BodyRate::default() };
    Ok(livecast_serve::read_body(headers, body, limit, rate).await?)
}

/// Reads and drops a refused body, buffering nothing: up to `limit` bytes for at most
/// [`livecast_serve::DRAIN_TIME`] (see [`livecast_serve::drain`]), so the client, still
/// sending, is not cut off before it can read the refusal, and a stalled body costs at most
/// that time; the connection is then closed.
pub async fn discard(headers: &HeaderMap, body: Body, limit: u64) {
    let _ = livecast_serve::drain(headers, body, limit, livecast_serve::DRAIN_TIME).await;
}

/// Adds `Connection: close` to any upload answer that is not a success.
///
/// A refused upload may leave part of its body unread on the connection (too large, or cut
/// short by [`discard`]'s cap); the server then drops that connection, and a client that
/// reused it for its next request would see that request fail mid-flight (hyper reports an
/// incomplete message). Saying `close` keeps clients from pooling it.
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
        let rate = 1024;
        let mut h = HeaderMap::new();
        assert_eq!(read_limited(&h, Body::from("abc"), 3, rate).await.unwrap(), b"abc");
        assert!(matches!(read_limited(&h, Body::from("abcd"), 3, rate).await, Err(AppError::PayloadTooLarge { limit: 3 })));
        h.insert(header::CONTENT_LENGTH, "1000".parse().unwrap());
        assert!(matches!(read_limited(&h, Body::from("ab"), 3, rate).await, Err(AppError::PayloadTooLarge { .. })));
        let h = HeaderMap::new();
        let body = chunked(vec![b"ab", b"cd", b"ef"]);
        assert!(matches!(read_limited(&h, body, 5, rate).await, Err(AppError::PayloadTooLarge { .. })));
        let body = chunked(vec![b"ab", b"cd"]);
        assert_eq!(read_limited(&h, body, 5, rate).await.unwrap(), b"abcd");
    }
}
