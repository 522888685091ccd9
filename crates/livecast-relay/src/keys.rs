//! Secrets and identifiers: random stream ids and keys, SHA-256 hashing, constant-time
//! comparison, and reading `Authorization: Bearer` tokens.
//!
//! Stream keys are returned once, at creation, and only their SHA-256 is stored; a presented
//! key is hashed and compared with [`subtle`] in constant time.

use axum::http::{header, HeaderMap};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// Bytes of randomness in a stream id (16 hex characters).
pub const STREAM_ID_BYTES: usize = 8;
/// Bytes of randomness in a stream key (256 bits, 64 hex characters).
pub const STREAM_KEY_BYTES: usize = 32;

/// A SHA-256 digest.
pub type Hash = [u8; 32];

/// `n` bytes from the operating system's random generator, as lowercase hex.
///
/// # Panics
/// If the operating system has no random source, which leaves nothing safe to do.
fn random_hex(n: usize) -> String {
    let mut buf = vec![0u8; n];
    getrandom::fill(&mut buf).expect("the operating system's random generator failed");
    hex::encode(buf)
}

/// A new random stream id: 16 lowercase hex characters, URL- and file-name-safe.
pub fn new_stream_id() -> String {
    random_hex(STREAM_ID_BYTES)
}

/// A new random stream key: 256 bits as 64 lowercase hex characters.
pub fn new_stream_key() -> String {
    random_hex(STREAM_KEY_BYTES)
}

/// A short random suffix for temporary file names.
pub fn new_temp_suffix() -> String {
    random_hex(8)
}

/// SHA-256 of a secret (a stream key or the admin token).
pub fn hash_secret(secret: &str) -> Hash {
    sha256(secret.as_bytes())
}

/// SHA-256 of bytes.
pub fn sha256(data: &[u8]) -> Hash {
    Sha256::digest(data).into()
}

/// Whether `presented` hashes to `expected`, compared in constant time.
pub fn secret_matches(presented: &str, expected: &[u8]) -> bool {
    hash_secret(presented).ct_eq(expected).into()
}

/// The token of an `Authorization: Bearer <token>` header, if there is one.
pub fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn ids_and_keys_are_random_and_well_formed() {
        let (a, b) = (new_stream_id(), new_stream_id());
        assert_ne!(a, b);
        assert_eq!(a.len(), 16);
        assert!(crate::ids::is_valid_name(&a));
        let k = new_stream_key();
        assert_eq!(k.len(), 64);
        assert!(k.bytes().all(|c| c.is_ascii_hexdigit()));
    }

    #[test]
    fn secrets_compare_by_hash() {
        let h = hash_secret("secret-key");
        assert!(secret_matches("secret-key", &h));
        assert!(!secret_matches("secret-kez", &h));
        assert!(!secret_matches("", &h));
        assert!(!secret_matches("secret-key", &h[..31]));
    }

    #[test]
    fn bearer() {
        let mut h = HeaderMap::new();
        assert_eq!(bearer_token(&h), None);
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("Bearer abc"));
        assert_eq!(bearer_token(&h), Some("abc"));
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("bearer  abc "));
        assert_eq!(bearer_token(&h), Some("abc"));
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("Basic abc"));
        assert_eq!(bearer_token(&h), None);
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("Bearer "));
        assert_eq!(bearer_token(&h), None);
    }
}
