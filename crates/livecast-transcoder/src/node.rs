//! The node's identity and settings: its key, its auth-token secret, its price, its
//! worker pool, where it keeps renditions, and its ticket payments when it has a
//! TicketBroker.

use crate::payment::TicketRecipient;
use crate::transcode::Limits;
use hmac::{Hmac, Mac};
use livecast_protocol::discovery::transcoder_capabilities;
use livecast_protocol::net::{AuthToken, OrchestratorInfo, PriceInfo, TicketParams};
use livecast_protocol::{Address, NodeKey};
use sha2::Sha256;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

/// How long an auth token from `GetOrchestrator` stays valid (go-livepeer: 30 minutes).
pub const AUTH_TOKEN_VALIDITY_SECS: i64 = 30 * 60;

/// Settings of a node.
#[derive(Debug, Clone)]
pub struct Config {
    /// Base URI the node advertises (`OrchestratorInfo.transcoder`) and puts in rendition URLs.
    pub service_uri: String,
    /// Where renditions, the node key and the auth secret live.
    pub data_dir: PathBuf,
    /// Price in wei per `pixels_per_unit` output pixels; 0 transcodes for free.
    pub price_per_unit: i64,
    /// Pixels covered by `price_per_unit`.
    pub pixels_per_unit: i64,
    /// Largest segment body accepted, bytes.
    pub max_segment_bytes: usize,
    /// Segments transcoded at once; more are answered 503.
    pub max_concurrent_segments: usize,
    /// Worker threads encoding renditions.
    pub workers: usize,
    /// What a source may claim.
    pub limits: Limits,
    /// Segment bodies read at once (each may buffer up to `max_segment_bytes`).
    pub max_uploads: usize,
    /// Slowest accepted segment body after its first 10 s, bytes per second.
    pub min_upload_rate: u64,
    /// Renditions are deleted this long after they were written.
    pub rendition_retention: std::time::Duration,
    /// Bearer token for `GET /tickets`; without one the route answers `403`.
    pub operator_token: Option<String>,
    /// Deadline of one HTTP request, body included, until its answer's head (`408`).
    pub request_timeout: std::time::Duration,
}

/// A running node's shared state.
pub struct Node {
    /// Its settings.
    pub config: Config,
    /// Its Ethereum key: signs results, is its address.
    pub key: NodeKey,
    secret: [u8; 32],
    /// Worker threads for rendition encoding.
    pub pool: rayon::ThreadPool,
    /// Free transcoding slots.
    pub slots: Arc<tokio::sync::Semaphore>,
    /// Ticket payments (none: the node takes no tickets and must be free).
    pub payments: Option<Arc<TicketRecipient>>,
    /// Segment bodies being read.
    pub uploads: livecast_serve::Uploads,
}

impl std::fmt::Debug for Node {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Node").field("config", &self.config).field("address", &self.key.address()).finish_non_exhaustive()
    }
}

fn now_secs() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64)
}

impl Node {
    /// A node with this key and auth-token secret.
    pub fn new(config: Config, key: NodeKey, secret: [u8; 32]) -> std::io::Result<Self> {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(config.workers.max(1))
            .thread_name(|i| format!("transcode-{i}"))
            .build()
            .map_err(std::io::Error::other)?;
        let slots = Arc::new(tokio::sync::Semaphore::new(config.max_concurrent_segments.max(1)));
        let uploads = livecast_serve::Uploads::new(config.max_uploads, config.max_uploads, std::time::Duration::from_secs(2));
        Ok(Self { config, key, secret, pool, slots, payments: None, uploads })
    }

    /// The node taking ticket payments through `payments`.
    pub fn with_payments(mut self, payments: Arc<TicketRecipient>) -> Self {
        self.payments = Some(payments);
        self
    }

    /// The session's token: HMAC-SHA256(secret, session id ‖ minimal big-endian expiration
    /// ‖ the broadcaster's address). go-livepeer's has no address; binding the token to
    /// the key that asked for it lets the node refuse a segment signed by any other key
    /// (`403`) before it spends work on its payment.
    pub fn auth_token(&self, session_id: &str, expiration: i64, broadcaster: &Address) -> AuthToken {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.secret).expect("HMAC takes any key length");
        mac.update(session_id.as_bytes());
        mac.update(&minimal_be(expiration));
        mac.update(broadcaster.as_slice());
        AuthToken { token: mac.finalize().into_bytes().to_vec(), session_id: session_id.to_string(), expiration }
    }

    /// A new session's token for `broadcaster`, valid for [`AUTH_TOKEN_VALIDITY_SECS`]; its
    /// session id is [`SESSION_ID_BYTES`] random bytes in hex.
    pub fn new_auth_token(&self, broadcaster: &Address) -> std::io::Result<AuthToken> {
        let mut id = [0u8; SESSION_ID_BYTES];
        getrandom::getrandom(&mut id).map_err(std::io::Error::other)?;
        Ok(self.auth_token(&hex::encode(id), now_secs() + AUTH_TOKEN_VALIDITY_SECS, broadcaster))
    }

    /// Checks a token echoed in a `SegData` signed by `signer`: ours, issued to `signer`
    /// (constant-time compare) and not expired.
    pub fn check_auth_token(&self, token: &AuthToken, signer: &Address) -> Result<(), &'static str> {
        if !valid_session_id(&token.session_id) {
            return Err("invalid auth token session id");
        }
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.secret).expect("HMAC takes any key length");
        mac.update(token.session_id.as_bytes());
        mac.update(&minimal_be(token.expiration));
        mac.update(signer.as_slice());
        if mac.verify_slice(&token.token).is_err() {
            return Err("invalid auth token, or the segment is not signed by the key it was issued to");
        }
        if now_secs() > token.expiration {
            return Err("expired auth token");
        }
        Ok(())
    }

    /// The node's price.
    pub fn price_info(&self) -> PriceInfo {
        PriceInfo {
            price_per_unit: self.config.price_per_unit,
            pixels_per_unit: self.config.pixels_per_unit,
            ..Default::default()
        }
    }

    /// What `GetOrchestrator` answers (and `TranscodeResult.info` repeats), with `auth_token`
    /// and the ticket params issued for the caller (a node without payments names only the
    /// recipient).
    pub fn orchestrator_info(&self, auth_token: Option<AuthToken>, ticket_params: Option<TicketParams>) -> OrchestratorInfo {
        let address = self.key.address().to_vec();
        OrchestratorInfo {
            transcoder: self.config.service_uri.clone(),
            ticket_params: Some(ticket_params.unwrap_or_else(|| TicketParams { recipient: address.clone(), ..Default::default() })),
            price_info: Some(self.price_info()),
            address,
            capabilities: Some(transcoder_capabilities(concat!("livecast-transcoder/", env!("CARGO_PKG_VERSION")))),
            auth_token,
            ..Default::default()
        }
    }
}

/// `big.Int.Bytes()` of a non-negative int64: big-endian without leading zeros.
fn minimal_be(value: i64) -> Vec<u8> {
    let bytes = value.max(0).to_be_bytes();
    let start = bytes.iter().position(|&b| b != 0).unwrap_or(bytes.len());
    bytes[start..].to_vec()
}

/// Random bytes in a session id.
pub const SESSION_ID_BYTES: usize = 16;

/// Session ids we issue are [`SESSION_ID_BYTES`] random bytes as lowercase hex; they name a
/// directory, so nothing else is accepted.
pub fn valid_session_id(id: &str) -> bool {
    id.len() == 2 * SESSION_ID_BYTES && id.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minimal_big_endian_like_go_big_int() {
        assert_eq!(minimal_be(0), Vec::<u8>::new());
        assert_eq!(minimal_be(1), vec![1]);
        assert_eq!(minimal_be(0x0102_0304), vec![1, 2, 3, 4]);
    }

    #[test]
    fn session_ids() {
        assert!(valid_session_id("0a1b2c3d4e5f60718293a4b5c6d7e8f9"));
        assert!(!valid_session_id("0a1b2c3d"), "4-byte ids are no longer issued");
        assert!(!valid_session_id("../x"));
        assert!(!valid_session_id(""));
        assert!(!valid_session_id("0A1B2C3D4E5F60718293A4B5C6D7E8F9"));
    }
}
