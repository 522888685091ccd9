//! Benchmark: how many tickets the node checks per second per core, against
//! libsecp256k1 alone (the C library go-livepeer's `crypto.Ecrecover` wraps) doing the same
//! recoveries, and against the ticket core's pure-Rust recovery (what the browser runs);
//! then the gas of one `redeemWinningTicket` on anvil.
//!
//! ```sh
//! cargo run --release -p livecast-transcoder --example ticket_bench [-- --no-chain]
//! ```
//!
//! Per ticket, ours does what `TicketRecipient::receive` does per ticket: the ticket hash, EIP-191
//! recovery with go-livepeer's checks (65 bytes, low S, V 27/28), the sender compare and the
//! win check, plus the recipientRand HMAC (paid once per batch by the node; counted per
//! ticket here, a batch of one being the worst case); its recovery is libsecp256k1's. The
//! peer recovers the same signatures over the same hashes with libsecp256k1 and derives the
//! address, which is the part of go-livepeer's per-ticket check that costs anything. The
//! third figure is `Ticket::recover_signer` (k256, portable to wasm), which the node used
//! before. One thread gives the per-core figure;
//! all cores are timed too. With anvil installed (`npm ci`), it then deploys the
//! TicketBroker, funds a sender and redeems one winning ticket, printing its gas.

use livecast_core::ticket::{self, Address, Price, RecipientSecret, SignedTicket, Ticket, TicketParams, B256, U256};
use livecast_protocol::NodeKey;
use livecast_transcoder::payment::validate;
use rayon::prelude::*;
use std::time::Instant;

const TICKETS: u32 = 4000;

fn tickets(key: &NodeKey, params: &TicketParams) -> Vec<(Ticket, Vec<u8>)> {
    (1..=TICKETS)
        .map(|n| {
            let t = params.ticket(key.address(), n);
            let sig = t.sign(key).expect("sign").to_vec();
            (t, sig)
        })
        .collect()
}

/// Ours: everything the node does per ticket.
fn ours(secret: &RecipientSecret, params: &TicketParams, price: &Price, signer: Address, t: &Ticket, sig: &[u8]) -> bool {
    let rand = secret.rand(params, signer, price);
    validate::check_signature(0, t, sig).expect("valid ticket");
    ticket::is_winning(sig, rand, t.win_prob)
}

/// Peer: libsecp256k1 recovery of the same signature over the same EIP-191 digest.
fn peer(secp: &secp256k1::Secp256k1<secp256k1::VerifyOnly>, t: &Ticket, sig: &[u8]) -> Address {
    let digest = alloy_primitives::eip191_hash_message(t.hash().as_slice());
    let id = secp256k1::ecdsa::RecoveryId::try_from(i32::from(sig[64]) - 27).expect("v");
    let rs = secp256k1::ecdsa::RecoverableSignature::from_compact(&sig[..64], id).expect("sig");
    let msg = secp256k1::Message::from_digest(digest.0);
    let key = secp.recover_ecdsa(msg, &rs).expect("recover");
    let uncompressed = key.serialize_uncompressed();
    Address::from_slice(&alloy_primitives::keccak256(&uncompressed[1..])[12..])
}

fn rate(n: usize, secs: f64) -> f64 {
    n as f64 / secs
}

fn main() {
    let sender = NodeKey::generate().expect("key");
    let secret = RecipientSecret::generate().expect("secret");
    let price = Price::new(1, 1).expect("price");
    let mut params = TicketParams {
        recipient: Address::repeat_byte(0x11),
        face_value: U256::from(800_000_000_000u64),
        win_prob: ticket::win_prob_for(U256::from(8_000_000_000u64), U256::from(800_000_000_000u64)).expect("win prob"),
        recipient_rand_hash: B256::ZERO,
        seed: vec![7; 16],
        expiration_block: U256::from(1_000u64),
        creation_round: 5,
        creation_round_block_hash: B256::repeat_byte(5),
    };
    params.recipient_rand_hash = ticket::recipient_rand_hash(secret.rand(&params, sender.address(), &price));
    let batch = tickets(&sender, &params);
    let secp = secp256k1::Secp256k1::verification_only();

    // Warm up, and check both sides agree on every signer.
    for (t, sig) in batch.iter().take(100) {
        ours(&secret, &params, &price, sender.address(), t, sig);
        assert_eq!(peer(&secp, t, sig), sender.address());
    }

    let started = Instant::now();
    let wins = batch.iter().filter(|(t, sig)| ours(&secret, &params, &price, sender.address(), t, sig)).count();
    let ours_1 = rate(batch.len(), started.elapsed().as_secs_f64());

    let started = Instant::now();
    let ok = batch.iter().filter(|(t, sig)| peer(&secp, t, sig) == sender.address()).count();
    let peer_1 = rate(batch.len(), started.elapsed().as_secs_f64());
    assert_eq!(ok, batch.len());

    let started = Instant::now();
    let ok = batch.iter().filter(|(t, sig)| t.recover_signer(sig).ok() == Some(sender.address())).count();
    let k256_1 = rate(batch.len(), started.elapsed().as_secs_f64());
    assert_eq!(ok, batch.len());

    let cores = rayon::current_num_threads();
    let started = Instant::now();
    let all_wins = batch.par_iter().filter(|(t, sig)| ours(&secret, &params, &price, sender.address(), t, sig)).count();
    let ours_all = rate(batch.len(), started.elapsed().as_secs_f64());
    assert_eq!(wins, all_wins);

    println!("native ticket verification, {} tickets:", batch.len());
    println!("  ours (hash, EIP-191 recover with go-livepeer's checks, sender, win check, recipientRand HMAC): {ours_1:.0} tickets/s/core ({:.1} µs/ticket)", 1e6 / ours_1);
    println!("  peer libsecp256k1 (go-livepeer's ecrecover) on the same tickets: {peer_1:.0} tickets/s/core ({:.1} µs/ticket)", 1e6 / peer_1);
    println!("  ours / peer: {:.2}", ours_1 / peer_1);
    println!("  ticket core's pure-Rust recovery (k256, as in wasm): {k256_1:.0} tickets/s/core ({:.1} µs/ticket)", 1e6 / k256_1);
    println!("  ours on {cores} threads: {ours_all:.0} tickets/s");
    println!("  target ≥ 10000 tickets/s/core: {}", if ours_1 >= 10_000.0 { "met" } else { "NOT met" });

    if std::env::args().any(|a| a == "--no-chain") {
        return;
    }
    match redemption_gas() {
        Ok(gas) => println!("redeemWinningTicket on anvil: {gas} gas per ticket"),
        Err(e) => println!("redemption gas not measured: {e}"),
    }
}

/// Deploys the TicketBroker on a fresh anvil, funds a sender and redeems one always-winning
/// ticket; returns its gas.
fn redemption_gas() -> Result<u64, Box<dyn std::error::Error>> {
    use livecast_broker::{anvil, BrokerClient, BrokerConfig, TxSigner};
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    runtime.block_on(async {
        let chain = anvil::spawn()?;
        let (admin, _) = BrokerClient::deploy(&chain.endpoint(), TxSigner::DevAccount(0), BrokerConfig::default()).await?;
        anvil::leave_round_zero(&admin).await?;
        let sender = NodeKey::from_bytes(&chain.keys()[1].to_bytes())?;
        let recipient = NodeKey::from_bytes(&chain.keys()[2].to_bytes())?;
        let as_sender = BrokerClient::connect(&chain.endpoint(), TxSigner::from_hex(&sender.to_hex())?, admin.address()).await?;
        let eth = U256::from(10u64).pow(U256::from(18u64));
        as_sender.fund_deposit_and_reserve(eth, eth).await?;
        let (round, hash) = admin.ticket_round().await?;
        let rand = U256::from(42u64);
        let params = TicketParams {
            recipient: recipient.address(),
            face_value: U256::from(10u64).pow(U256::from(16u64)),
            win_prob: ticket::MAX_WIN_PROB,
            recipient_rand_hash: ticket::recipient_rand_hash(rand),
            seed: vec![1],
            expiration_block: U256::from(1_000_000u64),
            creation_round: round,
            creation_round_block_hash: hash,
        };
        let t = params.ticket(sender.address(), 1);
        let signed = SignedTicket { nonce: 1, sig: t.sign(&sender)?.to_vec() };
        let as_recipient = BrokerClient::connect(&chain.endpoint(), TxSigner::from_hex(&recipient.to_hex())?, admin.address()).await?;
        let outcome = as_recipient.redeem_winning_ticket(&t, &signed.sig, rand).await?;
        Ok(outcome.gas_used)
    })
}
