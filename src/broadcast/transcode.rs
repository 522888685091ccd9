//! The browser as a Livepeer broadcaster: its session key, the transcoder nodes it knows,
//! which node gets each segment, and the signed `SegData` that goes with it.
//!
//! Pure logic (no browser, no network): the `Broadcaster` feeds it the relay's discovery
//! answer and the outcome of each upload. Node choice follows go-livepeer's broadcaster:
//! a node not yet tried first, otherwise the lowest latency score; nodes that failed are
//! skipped for a while; a segment goes to at most [`MAX_ATTEMPTS`] nodes.

use livecast_protocol::net::{AuthToken, OrchestratorInfo, OrchestratorRequest, SegData};
use livecast_protocol::segment::{flatten_seg_data, new_seg_data};
use livecast_protocol::{discovery, keccak256, Address, Error, NodeKey, Profile};
use prost::Message;

/// Nodes a segment is offered to before the broadcaster gives up on transcoding it
/// (go-livepeer's broadcaster retries a segment on up to three orchestrators).
pub const MAX_ATTEMPTS: usize = 3;
/// Weight of the newest sample in a node's latency score (exponential moving average).
const LATENCY_WEIGHT: f64 = 0.3;
/// Segments a node sits out after a failure (doubling per consecutive failure, capped).
const PENALTY_SEGMENTS: u64 = 2;

/// One transcoder node as the broadcaster sees it.
#[derive(Debug, Clone)]
pub struct Node {
    /// Its service URI (what `Livecast-Transcoder` names).
    pub uri: String,
    /// Price in wei per `pixels_per_unit` pixels (0 = free).
    pub price_per_unit: i64,
    /// Pixels per price unit.
    pub pixels_per_unit: i64,
    /// The auth token its `OrchestratorInfo` carried; echoed in every `SegData`.
    pub auth_token: Option<AuthToken>,
    /// Smoothed upload-to-renditions latency, ms; `None` until first used.
    pub latency_ms: Option<f64>,
    /// Consecutive failures.
    pub failures: u32,
    /// No segment before this sequence number (after failures).
    pub skip_until_seq: u64,
}

impl Node {
    /// Price per pixel in wei (0 for free nodes or a zero divisor).
    pub fn price_per_pixel(&self) -> f64 {
        if self.pixels_per_unit <= 0 {
            0.0
        } else {
            self.price_per_unit.max(0) as f64 / self.pixels_per_unit as f64
        }
    }
}

/// Who signs the broadcaster's messages (discovery request, segments).
#[derive(Debug, Clone)]
pub enum Signer {
    /// A key in the page (the session key): signs on the spot.
    Key(NodeKey),
    /// A wallet (payment wallet mode): the caller has it `personal_sign` each digest.
    Wallet(Address),
}

/// A broadcast's transcoding state: key, ladder, nodes.
#[derive(Debug)]
pub struct TranscodeSession {
    key: Signer,
    manifest_id: Vec<u8>,
    profiles: Vec<Profile>,
    max_price_per_pixel: f64,
    nodes: Vec<Node>,
}

impl TranscodeSession {
    /// A session for stream `manifest_id` with a fresh session key (it never leaves the
    /// page), asking for `profiles` from nodes charging at most `max_price_per_pixel` wei.
    pub fn new(manifest_id: &str, profiles: Vec<Profile>, max_price_per_pixel: f64) -> Result<Self, Error> {
        Ok(Self::with_key(NodeKey::generate()?, manifest_id, profiles, max_price_per_pixel))
    }

    /// A session signing with `key`: the session key a wallet derived and funded, when the
    /// broadcast pays its nodes (the segment signer must be the ticket sender).
    pub fn with_key(key: NodeKey, manifest_id: &str, profiles: Vec<Profile>, max_price_per_pixel: f64) -> Self {
        Self { key: Signer::Key(key), manifest_id: manifest_id.as_bytes().to_vec(), profiles, max_price_per_pixel, nodes: Vec::new() }
    }

    /// A session whose messages the wallet at `wallet` signs (see [`Self::unsigned_seg_data`]).
    pub fn with_wallet(wallet: Address, manifest_id: &str, profiles: Vec<Profile>, max_price_per_pixel: f64) -> Self {
        Self { key: Signer::Wallet(wallet), manifest_id: manifest_id.as_bytes().to_vec(), profiles, max_price_per_pixel, nodes: Vec::new() }
    }

    /// The signer.
    pub fn signer(&self) -> &Signer {
        &self.key
    }

    /// The renditions asked for.
    pub fn profiles(&self) -> &[Profile] {
        &self.profiles
    }

    /// The session key's address, `0x…` checksummed.
    pub fn address(&self) -> String {
        match &self.key {
            Signer::Key(k) => k.address(),
            Signer::Wallet(a) => *a,
        }
        .to_checksum(None)
    }

    /// The signed `OrchestratorRequest` the relay forwards to every node on discovery
    /// (a key signer; a wallet signs [`Self::discovery_digest`] instead).
    pub fn discovery_request(&self) -> Result<OrchestratorRequest, Error> {
        match &self.key {
            Signer::Key(k) => discovery::orchestrator_request(k),
            Signer::Wallet(_) => Err(Error::InvalidKey("a wallet signs the discovery digest itself".into())),
        }
    }

    /// What a wallet signs (`personal_sign`) for the discovery request: keccak256 of the
    /// checksummed address, as go-livepeer's broadcaster.
    pub fn discovery_digest(&self) -> [u8; 32] {
        keccak256(self.address().as_bytes()).0
    }

    /// Replaces the known nodes with the relay's discovery answer, keeping the history of
    /// nodes seen before. Nodes above the price cap are left out.
    pub fn set_nodes(&mut self, infos: Vec<(String, OrchestratorInfo)>) {
        let old = std::mem::take(&mut self.nodes);
        for (uri, info) in infos {
            let price = info.price_info.as_ref();
            let mut node = Node {
                uri: uri.clone(),
                price_per_unit: price.map_or(0, |p| p.price_per_unit),
                pixels_per_unit: price.map_or(1, |p| p.pixels_per_unit),
                auth_token: info.auth_token.clone(),
                latency_ms: None,
                failures: 0,
                skip_until_seq: 0,
            };
            if let Some(before) = old.iter().find(|n| n.uri == uri) {
                node.latency_ms = before.latency_ms;
                node.failures = before.failures;
                node.skip_until_seq = before.skip_until_seq;
            }
            if node.price_per_pixel() <= self.max_price_per_pixel {
                self.nodes.push(node);
            }
        }
    }

    /// The nodes, as known now.
    pub fn nodes(&self) -> &[Node] {
        &self.nodes
    }

    /// The node for segment `seq` that is not in `tried`: a node never used first, then
    /// the lowest latency score; nodes sitting out a penalty only when nothing else is left.
    pub fn choose(&self, seq: u64, tried: &[String]) -> Option<&Node> {
        let candidates = self.nodes.iter().filter(|n| !tried.contains(&n.uri));
        let rank = |n: &&Node| (n.skip_until_seq > seq, n.latency_ms.is_some(), n.latency_ms.unwrap_or(0.0));
        candidates.min_by(|a, b| rank(a).partial_cmp(&rank(b)).unwrap_or(std::cmp::Ordering::Equal))
    }

    /// Records a node's answer for segment `seq`: a success updates its latency score, a
    /// failure makes it sit out the next segments.
    pub fn record(&mut self, uri: &str, seq: u64, outcome: Result<f64, ()>) {
        let Some(node) = self.nodes.iter_mut().find(|n| n.uri == uri) else { return };
        match outcome {
            Ok(latency) => {
                node.failures = 0;
                node.latency_ms = Some(node.latency_ms.map_or(latency, |l| l + LATENCY_WEIGHT * (latency - l)));
            }
            Err(()) => {
                node.failures += 1;
                node.skip_until_seq = seq + 1 + (PENALTY_SEGMENTS << node.failures.min(6));
            }
        }
    }

    /// The `Livepeer-Segment` header value for `segment` (seq, duration) sent to `node`:
    /// base64 protobuf `SegData`, signed by the session key, with the node's auth token.
    pub fn seg_data_header(&self, node: &Node, seq: u64, duration_ms: u64, segment: &[u8]) -> Result<String, Error> {
        let Signer::Key(key) = &self.key else {
            return Err(Error::InvalidKey("a wallet signs segments through unsigned_seg_data".into()));
        };
        let duration = i32::try_from(duration_ms).unwrap_or(i32::MAX);
        let seq = i64::try_from(seq).unwrap_or(i64::MAX);
        let mut seg = new_seg_data(key, &self.manifest_id, seq, duration, segment, &self.profiles)?;
        seg.auth_token = node.auth_token.clone();
        Ok(base64(&seg.encode_to_vec()))
    }

    /// The `SegData` for a wallet to sign: the message, and the 32-byte digest the wallet
    /// `personal_sign`s (keccak256 of go-livepeer's flatten). Put the signature in `sig`
    /// and encode with [`seg_data_to_header`].
    pub fn unsigned_seg_data(&self, node: &Node, seq: u64, duration_ms: u64, segment: &[u8]) -> Result<(SegData, [u8; 32]), Error> {
        let seq = i64::try_from(seq).unwrap_or(i64::MAX);
        let mut seg = SegData {
            manifest_id: self.manifest_id.clone(),
            seq,
            hash: keccak256(segment).to_vec(),
            profiles: b"invalid".to_vec(),
            duration: i32::try_from(duration_ms).unwrap_or(i32::MAX),
            full_profiles: self.profiles.iter().map(Profile::to_net).collect(),
            ..Default::default()
        };
        seg.auth_token = node.auth_token.clone();
        let digest = keccak256(flatten_seg_data(&seg)?).0;
        Ok((seg, digest))
    }
}

/// The `Livepeer-Segment` value of a signed `SegData`.
pub fn seg_data_to_header(seg: &SegData) -> String {
    base64(&seg.encode_to_vec())
}

/// Standard base64 with padding, as go-livepeer encodes its protobuf headers.
/// Hand-written: a dozen lines, and the only base64 the SDK needs.
pub fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for (i, shift) in [18, 12, 6, 0].into_iter().enumerate() {
            out.push(if i <= chunk.len() { ALPHABET[(n >> shift) as usize & 63] as char } else { '=' });
        }
    }
    out
}

/// Decodes standard base64 (padding optional); `None` on any other character.
pub fn base64_decode(text: &str) -> Option<Vec<u8>> {
    let value = |c: u8| -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32)
    };
    let clean = text.trim().trim_end_matches('=').as_bytes();
    if clean.len() % 4 == 1 {
        return None;
    }
    let mut out = Vec::with_capacity(clean.len() * 3 / 4);
    for chunk in clean.chunks(4) {
        let mut n = 0u32;
        for (i, &c) in chunk.iter().enumerate() {
            n |= value(c)? << (18 - 6 * i);
        }
        out.extend(&n.to_be_bytes()[1..chunk.len()]);
    }
    Some(out)
}

/// An `OrchestratorInfo` from the base64 protobuf the relay's discovery answer carries.
pub fn orchestrator_info_from_base64(text: &str) -> Option<OrchestratorInfo> {
    OrchestratorInfo::decode(base64_decode(text)?.as_slice()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use livecast_protocol::net::PriceInfo;
    use livecast_protocol::profile::{P240P30FPS16X9, P360P30FPS16X9};
    use livecast_protocol::segment::seg_data_signer;

    fn info(price: i64, token: &[u8]) -> OrchestratorInfo {
        OrchestratorInfo {
            price_info: Some(PriceInfo { price_per_unit: price, pixels_per_unit: 1, ..Default::default() }),
            auth_token: Some(AuthToken { token: token.to_vec(), session_id: "s".into(), expiration: 99 }),
            ..Default::default()
        }
    }

    fn session() -> TranscodeSession {
        let mut s = TranscodeSession::new("stream1", vec![P360P30FPS16X9, P240P30FPS16X9], 10.0).unwrap();
        s.set_nodes(vec![("https://a:8935".into(), info(0, b"ta")), ("https://b:8935".into(), info(0, b"tb")), ("https://c:8935".into(), info(50, b"tc"))]);
        s
    }

    #[test]
    fn base64_matches_the_standard_alphabet_with_padding() {
        for (input, expected) in [(&b""[..], ""), (b"f", "Zg=="), (b"fo", "Zm8="), (b"foo", "Zm9v"), (b"foobar", "Zm9vYmFy"), (&[0xfb, 0xff][..], "+/8=")] {
            assert_eq!(base64(input), expected);
        }
    }

    #[test]
    fn nodes_above_the_price_cap_are_left_out() {
        let s = session();
        assert_eq!(s.nodes().iter().map(|n| n.uri.as_str()).collect::<Vec<_>>(), vec!["https://a:8935", "https://b:8935"]);
    }

    #[test]
    fn untried_nodes_first_then_lowest_latency_and_failures_sit_out() {
        let mut s = session();
        let first = s.choose(0, &[]).unwrap().uri.clone();
        s.record(&first, 0, Ok(900.0));
        let second = s.choose(1, &[]).unwrap().uri.clone();
        assert_ne!(first, second, "a node never used comes before a used one");
        s.record(&second, 1, Ok(300.0));
        assert_eq!(s.choose(2, &[]).unwrap().uri, second, "then the faster one");
        // The faster node fails: it sits out, the other takes over; retries skip tried nodes.
        s.record(&second, 2, Err(()));
        assert_eq!(s.choose(3, &[]).unwrap().uri, first);
        assert_eq!(s.choose(3, std::slice::from_ref(&first)).unwrap().uri, second, "a penalised node is still a last resort");
        assert!(s.choose(3, &[first.clone(), second.clone()]).is_none());
        assert_eq!(s.choose(100, &[]).unwrap().uri, second, "once its penalty is over, the faster node is back");
    }

    #[test]
    fn rediscovery_keeps_each_nodes_history() {
        let mut s = session();
        s.record("https://a:8935", 0, Ok(100.0));
        s.set_nodes(vec![("https://a:8935".into(), info(0, b"new"))]);
        assert_eq!(s.nodes()[0].latency_ms, Some(100.0));
        assert_eq!(s.nodes()[0].auth_token.as_ref().unwrap().token, b"new");
    }

    #[test]
    fn seg_data_header_is_signed_by_the_session_key_with_the_nodes_token() {
        let s = session();
        let node = s.choose(0, &[]).unwrap().clone();
        let header = s.seg_data_header(&node, 7, 2000, b"segment bytes").unwrap();
        let bytes = decode_base64(&header);
        let seg = SegData::decode(bytes.as_slice()).unwrap();
        assert_eq!((seg.seq, seg.duration, seg.manifest_id.as_slice()), (7, 2000, &b"stream1"[..]));
        assert_eq!(seg.hash, livecast_protocol::keccak256(b"segment bytes").to_vec());
        assert_eq!(seg.auth_token, node.auth_token);
        assert_eq!(seg.full_profiles.iter().map(|p| p.name.as_str()).collect::<Vec<_>>(), vec!["P360p30fps16x9", "P240p30fps16x9"]);
        assert_eq!(seg_data_signer(&seg).unwrap().to_checksum(None), s.address());
        let request = s.discovery_request().unwrap();
        assert_eq!(livecast_protocol::discovery::verify_orchestrator_request(&request).unwrap().to_checksum(None), s.address());
    }

    #[test]
    fn a_wallet_signs_the_same_digests_a_key_would() {
        let wallet = NodeKey::from_bytes(&[3u8; 32]).unwrap();
        let mut keyed = TranscodeSession::with_key(wallet.clone(), "stream1", vec![P360P30FPS16X9], 10.0);
        let mut external = TranscodeSession::with_wallet(wallet.address(), "stream1", vec![P360P30FPS16X9], 10.0);
        for s in [&mut keyed, &mut external] {
            s.set_nodes(vec![("https://a:8935".into(), info(0, b"ta"))]);
        }
        assert_eq!(keyed.address(), external.address());
        let node = keyed.nodes()[0].clone();
        let (mut seg, digest) = external.unsigned_seg_data(&node, 4, 2000, b"bytes").unwrap();
        // A wallet's personal_sign over the 32-byte digest.
        seg.sig = wallet.sign_message(&digest).unwrap().to_vec();
        assert_eq!(seg_data_to_header(&seg), keyed.seg_data_header(&node, 4, 2000, b"bytes").unwrap());
        assert_eq!(seg_data_signer(&seg).unwrap(), wallet.address());
        assert_eq!(wallet.sign_message(&external.discovery_digest()).unwrap().to_vec(), keyed.discovery_request().unwrap().sig);
        assert!(external.seg_data_header(&node, 4, 2000, b"bytes").is_err() && external.discovery_request().is_err());
    }

    fn decode_base64(text: &str) -> Vec<u8> {
        base64_decode(text).unwrap()
    }

    #[test]
    fn base64_round_trips_and_refuses_garbage() {
        for len in 0..40u8 {
            let bytes: Vec<u8> = (0..len).map(|i| i.wrapping_mul(37)).collect();
            assert_eq!(base64_decode(&base64(&bytes)).unwrap(), bytes);
        }
        assert_eq!(base64_decode("Zg"), Some(b"f".to_vec()), "padding is optional");
        assert!(base64_decode("Z").is_none());
        assert!(base64_decode("Zm9v!").is_none());
        let info = info(3, b"tok");
        assert_eq!(orchestrator_info_from_base64(&base64(&info.encode_to_vec())), Some(info));
        assert_eq!(orchestrator_info_from_base64("not base64!"), None);
    }
}
