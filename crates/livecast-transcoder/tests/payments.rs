//! Ticket payments end to end on a real chain: anvil (from the npm package), the
//! TicketBroker deployed with `livecast-broker`, and the real `livecast-transcoder` process
//! paid by a broadcaster that signs tickets with the ticket core.
//!
//! - a paid segment is accepted and its tickets' expected value credited, then the fee
//!   debited; bad tickets (replayed nonce, tampered face value, wrong signer, bad
//!   recipientRand preimage, unfunded sender, expired params) are refused with 402, an
//!   error naming the failed check and no credit;
//! - a winning ticket is redeemed on chain: the node's balance rises by the face value
//!   minus the gas it paid, the sender's deposit falls by the face value;
//! - a node killed with SIGKILL while a winner waits in its queue redeems it after restart,
//!   and refuses the params it issued before.

mod common;

use alloy::network::TransactionBuilder;
use alloy::node_bindings::AnvilInstance;
use alloy::providers::Provider;
use alloy::rpc::types::TransactionRequest;
use base64::Engine;
use livecast_broker::{anvil, BrokerClient, BrokerConfig, TxSigner};
use livecast_core::ticket::{Address, PaymentBatch, Price, SignedTicket, TicketParams, U256};
use livecast_protocol::net::orchestrator_client::OrchestratorClient;
use livecast_protocol::net::{self, OrchestratorInfo, Payment, SegData, TranscodeResult};
use livecast_protocol::profile::P144P30FPS16X9;
use livecast_protocol::{discovery, segment, NodeKey};
use livecast_transcoder::payment::queue::Status;
use livecast_transcoder::payment::WinnerQueue;
use prost::Message;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

const ETH: u128 = 1_000_000_000_000_000_000;

/// anvil with a TicketBroker in round ≥ 1.
struct TestChain {
    anvil: AnvilInstance,
    broker: Address,
    /// Dev account 0: deployed the broker, sends ETH around.
    admin: BrokerClient,
}

impl TestChain {
    async fn start() -> TestChain {
        // In a workspace build the chain client's reqwest may have rustls without a provider.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let anvil = anvil::spawn().expect("anvil from node_modules (npm ci)");
        let (admin, _) = BrokerClient::deploy(&anvil.endpoint(), TxSigner::DevAccount(0), BrokerConfig::default()).await.unwrap();
        anvil::leave_round_zero(&admin).await.unwrap();
        let broker = admin.address();
        TestChain { anvil, broker, admin }
    }

    /// Dev account `n`'s key.
    fn key(&self, n: usize) -> NodeKey {
        NodeKey::from_bytes(&self.anvil.keys()[n].to_bytes()).unwrap()
    }

    /// A client that signs as `key`.
    async fn client(&self, key: &NodeKey) -> BrokerClient {
        BrokerClient::connect(&self.anvil.endpoint(), TxSigner::from_hex(&key.to_hex()).unwrap(), self.broker).await.unwrap()
    }

    async fn send_eth(&self, to: Address, wei: u128) {
        let from = self.admin.from().unwrap();
        let tx = TransactionRequest::default().with_from(from).with_to(to).with_value(U256::from(wei));
        let receipt = self.admin.provider().send_transaction(tx).await.unwrap().get_receipt().await.unwrap();
        assert!(receipt.status());
    }
}

/// A running node, killed (SIGKILL) when dropped.
struct Node {
    child: Child,
    addr: String,
    dir: PathBuf,
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The `--operator-token` of the test nodes.
const OPERATOR_TOKEN: &str = "operator-token-for-tests";

impl Node {
    /// Starts a priced node on `chain` with its key in `dir/key.hex` and data in `dir/data`.
    fn start(dir: &Path, key: &NodeKey, chain: &TestChain, extra: &[&str]) -> Node {
        let key_file = dir.join("key.hex");
        std::fs::write(&key_file, key.to_hex()).unwrap();
        let data = dir.join("data");
        let (child, addr) = common::spawn_listening(
            Command::new(env!("CARGO_BIN_EXE_livecast-transcoder"))
                .args(["--listen", "127.0.0.1:0", "--workers", "1", "--price-per-unit", "1", "--pixels-per-unit", "1"])
                .args(["--operator-token", OPERATOR_TOKEN])
                .arg("--data-dir")
                .arg(&data)
                .arg("--eth-key-file")
                .arg(&key_file)
                .args(["--eth-rpc-url", &chain.anvil.endpoint(), "--broker-address", &chain.broker.to_string()])
                .args(extra)
                .env("RUST_LOG", "warn,livecast_transcoder::payment=info"),
        );
        Node { child, addr, dir: data }
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn queue(&self) -> WinnerQueue {
        WinnerQueue::open(&self.dir.join("tickets.sqlite")).unwrap()
    }
}

/// A 1 s 320x240 30 fps segment from ffmpeg, made once.
fn source_segment() -> &'static [u8] {
    static SEGMENT: OnceLock<Vec<u8>> = OnceLock::new();
    SEGMENT.get_or_init(|| common::ffmpeg_segment("320x240", 1, 30))
}

async fn get_orchestrator(node: &Node, key: &NodeKey) -> OrchestratorInfo {
    let mut client = OrchestratorClient::connect(node.url()).await.unwrap();
    client.get_orchestrator(discovery::orchestrator_request(key).unwrap()).await.unwrap().into_inner()
}

fn seg_data(key: &NodeKey, info: &OrchestratorInfo, seq: i64) -> SegData {
    let mut seg = segment::new_seg_data(key, b"paid-stream", seq, 1000, source_segment(), &[P144P30FPS16X9]).unwrap();
    seg.auth_token = info.auth_token.clone();
    seg.sig = segment::sign_seg_data(key, &seg).unwrap().to_vec();
    seg
}

/// A `Payment` of tickets `nonces` from `key` made from `params`.
fn payment(params: &TicketParams, price: Price, key: &NodeKey, nonces: &[u32]) -> Payment {
    let tickets =
        nonces.iter().map(|&n| SignedTicket { nonce: n, sig: params.ticket(key.address(), n).sign(key).unwrap().to_vec() }).collect();
    PaymentBatch { params: params.clone(), sender: key.address(), price, tickets }.to_proto()
}

/// A `Payment` that only names its sender.
fn no_tickets(key: &NodeKey) -> Payment {
    Payment { sender: key.address().to_vec(), ..Default::default() }
}

async fn post(node: &Node, seg: &SegData, payment: &Payment) -> (u16, Vec<u8>) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let b64 = base64::engine::general_purpose::STANDARD;
    let res = reqwest::Client::new()
        .post(format!("{}/segment", node.url()))
        .header("Content-Type", "video/MP2T")
        .header("Livepeer-Segment", b64.encode(seg.encode_to_vec()))
        .header("Livepeer-Payment", b64.encode(payment.encode_to_vec()))
        .body(source_segment().to_vec())
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    (status, res.bytes().await.unwrap().to_vec())
}

/// Posts and expects 402 with `needle` in the message.
async fn refused(node: &Node, seg: &SegData, payment: &Payment, needle: &str) -> String {
    let (status, body) = post(node, seg, payment).await;
    let text = String::from_utf8_lossy(&body).into_owned();
    assert_eq!(status, 402, "{needle}: {text}");
    assert!(text.contains(needle), "{text:?} should mention {needle:?}");
    text
}

/// Posts, expects a transcoded result; returns the output pixels and the refreshed info.
async fn transcoded(node: &Node, seg: &SegData, payment: &Payment) -> (u64, OrchestratorInfo) {
    let (status, body) = post(node, seg, payment).await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    let reply = TranscodeResult::decode(body.as_slice()).unwrap();
    let Some(net::transcode_result::Result::Data(data)) = reply.result else { panic!("no data: {:?}", reply.result) };
    (data.segments.iter().map(|s| s.pixels as u64).sum(), reply.info.unwrap())
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap()
}

/// Waits until the queued ticket is settled.
fn wait_settled(node: &Node, timeout: Duration) -> livecast_transcoder::payment::queue::Entry {
    let started = Instant::now();
    loop {
        let all = node.queue().all().unwrap();
        if let Some(e) = all.iter().find(|e| e.status != Status::Pending) {
            return e.clone();
        }
        assert!(started.elapsed() < timeout, "no redemption within {timeout:?}: {all:?}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn paid_segments_are_credited_and_bad_tickets_refused_without_credit() {
    let dir = tempfile::tempdir().unwrap();
    runtime().block_on(async {
        let chain = TestChain::start().await;
        let node_key = chain.key(1);
        let node = Node::start(dir.path(), &node_key, &chain, &[]);
        let bcast = chain.key(2);
        chain.client(&bcast).await.fund_deposit_and_reserve(U256::from(ETH), U256::from(ETH)).await.unwrap();

        let info = get_orchestrator(&node, &bcast).await;
        let params = TicketParams::from_proto(info.ticket_params.as_ref().unwrap()).unwrap();
        let price = Price::from_proto(info.price_info.as_ref().unwrap()).unwrap();
        assert_eq!(params.recipient, node_key.address());
        assert_eq!(price, Price::new(1, 1).unwrap());
        let block = chain.admin.provider().get_block_number().await.unwrap();
        assert_eq!(params.expiration_block, U256::from(block + 40));
        assert_eq!(params.creation_round as u64, chain.admin.current_round().await.unwrap());
        assert_eq!(params.creation_round_block_hash, chain.admin.round_block_hash(params.creation_round as u64).await.unwrap());
        let ev = params.expected_value();
        let nominal = U256::from(8_000_000_000u64);
        assert!(ev <= nominal && nominal - ev <= U256::from(1u64), "EV {ev}");
        // faceValue = max(350k gas × gas price × 100, EV × 100).
        let gas_price = U256::from(chain.admin.provider().get_gas_price().await.unwrap());
        assert_eq!(params.face_value, (U256::from(35_000_000u64) * gas_price).max(nominal * U256::from(100u64)));

        // Credentials before payment, as go-livepeer: a segment whose signature is garbage,
        // or made by another key with the broadcaster's token, is 403 with its tickets
        // unchecked (it used to be 402 "recipientRand check").
        let mut forged = seg_data(&bcast, &info, 1);
        forged.sig[10] ^= 0x55;
        let other = chain.key(3);
        let mut foreign = seg_data(&other, &info, 1);
        foreign.auth_token = info.auth_token.clone();
        foreign.sig = segment::sign_seg_data(&other, &foreign).unwrap().to_vec();
        for (what, seg) in [("a corrupted signature", &forged), ("another key", &foreign)] {
            let (status, body) = post(&node, seg, &payment(&params, price, &bcast, &[1])).await;
            assert_eq!(status, 403, "{what}: {}", String::from_utf8_lossy(&body));
        }

        // Nothing paid yet.
        let seg = seg_data(&bcast, &info, 1);
        refused(&node, &seg, &no_tickets(&bcast), "insufficient balance: need 8000000000 wei, have 0 wei").await;

        // One ticket pays for the segment; the fee (1 wei per output pixel) is debited after.
        let (pixels, fresh) = transcoded(&node, &seg, &payment(&params, price, &bcast, &[1])).await;
        assert_eq!(pixels, 256 * 144 * 30);
        let fresh = TicketParams::from_proto(fresh.ticket_params.as_ref().unwrap()).unwrap();
        assert_ne!(fresh.recipient_rand_hash, params.recipient_rand_hash, "a TranscodeResult carries fresh params");
        let left = ev - U256::from(pixels);
        let have = format!("have {left} wei");
        let seg2 = seg_data(&bcast, &info, 2);
        refused(&node, &seg2, &no_tickets(&bcast), &have).await;

        // Bad tickets: refused, naming the check, and nothing credited (the balance stays `left`).
        refused(&node, &seg2, &payment(&params, price, &bcast, &[1]), "nonce check: ticket 0: nonce 1 was already used").await;
        let mut richer = params.clone();
        richer.face_value += U256::from(1u64);
        refused(&node, &seg2, &payment(&richer, price, &bcast, &[2]), "recipientRand check").await;
        let mut other_seed = params.clone();
        other_seed.seed[0] ^= 1;
        refused(&node, &seg2, &payment(&other_seed, price, &bcast, &[3]), "recipientRand check").await;
        let mallory = NodeKey::generate().unwrap();
        let mut forged = payment(&params, price, &bcast, &[4]);
        forged.ticket_sender_params[0].sig = params.ticket(bcast.address(), 4).sign(&mallory).unwrap().to_vec();
        let text = refused(&node, &seg2, &forged, "signature check: ticket 0 (nonce 4)").await;
        assert!(text.contains(&mallory.address().to_string()), "{text}");
        let mut dearer = payment(&params, price, &bcast, &[5]);
        dearer.expected_price = Some(Price::new(2, 1).unwrap().to_proto());
        refused(&node, &seg2, &dearer, "price check").await;
        refused(&node, &seg2, &no_tickets(&bcast), &have).await;

        // An unfunded sender with its own params and session.
        let poor = NodeKey::generate().unwrap();
        let poor_info = get_orchestrator(&node, &poor).await;
        let poor_params = TicketParams::from_proto(poor_info.ticket_params.as_ref().unwrap()).unwrap();
        let text = refused(&node, &seg_data(&poor, &poor_info, 1), &payment(&poor_params, price, &poor, &[1]), "unfunded sender").await;
        assert!(text.contains(&poor.address().to_string()), "{text}");

        // Expired: the chain moves past the params' expiration block (and rounds).
        // At once: the node reads the block number for every payment.
        anvil::mine(&chain.admin, 41).await.unwrap();
        refused(&node, &seg2, &payment(&params, price, &bcast, &[6]), "expiration check").await;
        refused(&node, &seg2, &no_tickets(&bcast), &have).await;

        // Fresh params work again, and nothing won (EV / face value is tiny).
        let info = get_orchestrator(&node, &bcast).await;
        let params = TicketParams::from_proto(info.ticket_params.as_ref().unwrap()).unwrap();
        transcoded(&node, &seg_data(&bcast, &info, 3), &payment(&params, price, &bcast, &[1])).await;
        assert_eq!(node.queue().counts().unwrap().pending + node.queue().counts().unwrap().redeemed, 0);
    });
}

#[test]
fn a_winning_ticket_is_redeemed_on_chain() {
    let dir = tempfile::tempdir().unwrap();
    runtime().block_on(async {
        let chain = TestChain::start().await;
        let node_key = chain.key(3);
        let node = Node::start(dir.path(), &node_key, &chain, &["--win-prob-fraction", "1"]);
        let bcast = chain.key(4);
        let bcast_client = chain.client(&bcast).await;
        bcast_client.fund_deposit_and_reserve(U256::from(ETH), U256::from(ETH)).await.unwrap();
        let before = chain.admin.balance(node_key.address()).await.unwrap();

        let info = get_orchestrator(&node, &bcast).await;
        let params = TicketParams::from_proto(info.ticket_params.as_ref().unwrap()).unwrap();
        assert_eq!(params.win_prob, U256::MAX);
        let price = Price::from_proto(info.price_info.as_ref().unwrap()).unwrap();
        transcoded(&node, &seg_data(&bcast, &info, 1), &payment(&params, price, &bcast, &[1])).await;

        let entry = wait_settled(&node, Duration::from_secs(60));
        let Status::Redeemed { tx_hash, gas_used } = entry.status else { panic!("{entry:?}") };
        assert_eq!(entry.winner.ticket, params.ticket(bcast.address(), 1));
        assert!(chain.admin.is_ticket_used(entry.winner.ticket.hash()).await.unwrap());
        let receipt = chain.admin.provider().get_transaction_receipt(tx_hash).await.unwrap().unwrap();
        assert_eq!(receipt.gas_used, gas_used);
        let gas_fee = U256::from(receipt.gas_used) * U256::from(receipt.effective_gas_price);
        let after = chain.admin.balance(node_key.address()).await.unwrap();
        assert_eq!(after, before + params.face_value - gas_fee, "node balance: face value {} minus gas {gas_fee}", params.face_value);
        let sender = bcast_client.sender_info(bcast.address()).await.unwrap();
        assert_eq!(sender.deposit, U256::from(ETH) - params.face_value);
        eprintln!("redeemed a {} wei ticket with {gas_used} gas ({gas_fee} wei)", params.face_value);
        // The node reports it.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = reqwest::Client::new();
        let url = format!("{}/tickets", node.url());
        // Sender addresses are the operator's business only.
        assert_eq!(client.get(&url).send().await.unwrap().status(), 403);
        let wrong = client.get(&url).bearer_auth("not-the-operator-token").send().await.unwrap();
        assert_eq!(wrong.status(), 403);
        let body = client.get(&url).bearer_auth(OPERATOR_TOKEN).send().await.unwrap().bytes().await.unwrap();
        let status: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(status["redeemed"], 1, "{status}");
        assert_eq!(status["recipient"], node_key.address().to_string());
        assert_eq!(status["winners"][0]["txHash"], tx_hash.to_string());
        assert_eq!(status["winners"][0]["faceValue"], params.face_value.to_string());
        assert_eq!(status["winners"][0]["gasUsed"], gas_used);
    });
}

#[test]
fn a_winner_queued_before_sigkill_is_redeemed_after_restart() {
    let dir = tempfile::tempdir().unwrap();
    runtime().block_on(async {
        let chain = TestChain::start().await;
        // A node key without ETH: its redemptions fail (no gas money) and wait in the queue.
        let node_key = NodeKey::generate().unwrap();
        let node = Node::start(dir.path(), &node_key, &chain, &["--win-prob-fraction", "1"]);
        let bcast = chain.key(5);
        chain.client(&bcast).await.fund_deposit_and_reserve(U256::from(ETH), U256::from(ETH)).await.unwrap();
        let info = get_orchestrator(&node, &bcast).await;
        let params = TicketParams::from_proto(info.ticket_params.as_ref().unwrap()).unwrap();
        let price = Price::from_proto(info.price_info.as_ref().unwrap()).unwrap();
        transcoded(&node, &seg_data(&bcast, &info, 1), &payment(&params, price, &bcast, &[1])).await;
        let ticket = params.ticket(bcast.address(), 1);
        let started = Instant::now();
        loop {
            let entry = node.queue().get(ticket.hash()).unwrap().expect("the winner is queued before the answer");
            assert_eq!(entry.status, Status::Pending);
            if entry.attempts >= 1 {
                eprintln!("redemption failed as expected: {:?}", entry.last_error);
                break;
            }
            assert!(started.elapsed() < Duration::from_secs(30), "no redemption attempt");
            std::thread::sleep(Duration::from_millis(100));
        }
        drop(node); // SIGKILL
        assert!(!chain.admin.is_ticket_used(ticket.hash()).await.unwrap());

        chain.send_eth(node_key.address(), ETH).await;
        let node = Node::start(dir.path(), &node_key, &chain, &["--win-prob-fraction", "1"]);
        let entry = wait_settled(&node, Duration::from_secs(30));
        let Status::Redeemed { tx_hash, .. } = entry.status else { panic!("{entry:?}") };
        assert!(chain.admin.is_ticket_used(ticket.hash()).await.unwrap());
        // Params from before the restart are refused (the node no longer knows their nonces).
        let info2 = get_orchestrator(&node, &bcast).await;
        refused(&node, &seg_data(&bcast, &info2, 2), &payment(&params, price, &bcast, &[1]), "restart check").await;
        let receipt = chain.admin.provider().get_transaction_receipt(tx_hash).await.unwrap().unwrap();
        let gas_fee = U256::from(receipt.gas_used) * U256::from(receipt.effective_gas_price);
        assert_eq!(chain.admin.balance(node_key.address()).await.unwrap(), U256::from(ETH) + params.face_value - gas_fee);
    });
}

#[test]
fn a_wallet_pays_for_the_session_key_that_signs_the_segments() {
    let dir = tempfile::tempdir().unwrap();
    runtime().block_on(async {
        let chain = TestChain::start().await;
        let node = Node::start(dir.path(), &chain.key(6), &chain, &[]);
        let wallet = chain.key(7);
        chain.client(&wallet).await.fund_deposit_and_reserve(U256::from(ETH), U256::from(ETH)).await.unwrap();
        let session_key = NodeKey::generate().unwrap();
        // The session key discovers the node and signs the segments; the wallet signs tickets
        // made from the params issued to the session key.
        let info = get_orchestrator(&node, &session_key).await;
        let params = TicketParams::from_proto(info.ticket_params.as_ref().unwrap()).unwrap();
        let price = Price::from_proto(info.price_info.as_ref().unwrap()).unwrap();
        transcoded(&node, &seg_data(&session_key, &info, 1), &payment(&params, price, &wallet, &[1])).await;
        // Another key cannot spend the wallet's tickets in its own session.
        let thief = NodeKey::generate().unwrap();
        let thief_info = get_orchestrator(&node, &thief).await;
        refused(&node, &seg_data(&thief, &thief_info, 1), &payment(&params, price, &wallet, &[2]), "recipientRand check").await;
        // Nor claim the wallet as sender without tickets.
        let (status, body) = post(&node, &seg_data(&thief, &thief_info, 1), &no_tickets(&wallet)).await;
        assert_eq!(status, 403, "{}", String::from_utf8_lossy(&body));
    });
}
