use super::*;
use alloy_primitives::{address, b256, hex};
use livecast_protocol::net;

fn hash_hex(t: &Ticket) -> String {
    hex::encode(t.hash())
}

/// go-livepeer pm/ticket_test.go `TestHash`: every other field zero, no auxData unless set.
#[test]
fn ticket_hash_matches_go_livepeer_vectors() {
    let t = Ticket { sender_nonce: u32::MAX, ..Default::default() };
    assert_eq!(hash_hex(&t), "e1393fc7f6de093780674022f96cb8e3872235167d037c04d554e58c0e63d280");
    let t = Ticket { sender_nonce: 1, ..Default::default() };
    assert_eq!(hash_hex(&t), "ce0918ba94518293e9712effbe5fca4f1f431089833a5b8c257cb1e024595f68");
    let t = Ticket { face_value: U256::from(1), win_prob: U256::from(500), ..Default::default() };
    assert_eq!(hash_hex(&t), "87ef13f2d37e4d5352a01d3c77b8179d80e0887f1953bfabfd0bfd7b0f689ddd");
    let t = Ticket { face_value: U256::from(500), win_prob: U256::from(1), ..Default::default() };
    assert_eq!(hash_hex(&t), "aa4b35071043587992ac8b9dd1b2cf1d8311130e6458cf0b2342484e21af5f5b");
    let t = Ticket { recipient: address!("73AEd7b5dEb30222fa896f399d46cC99c7BEe57F"), ..Default::default() };
    assert_eq!(hash_hex(&t), "81e353ae39046e2b77b9f996abbaeed527fda559b61ef90f299c4499dd508ccc");
    let rrh = b256!("41b1a0649752af1b28b3dc29a1556eee781e4a4c3a1f7f53f90fa834de098c4d");
    let t = Ticket { recipient_rand_hash: rrh, ..Default::default() };
    assert_eq!(hash_hex(&t), "be5eaf9a49a39540b9bb02f1a21904f61324a29819e2c032824bfaa10c100b17");
    let t = Ticket { creation_round: 10, creation_round_block_hash: rrh, ..Default::default() };
    assert_eq!(t.aux_data().len(), 64);
    assert_eq!(hash_hex(&t), "e502907c16036ab3d11b78c5a2e93c20f3d6415c67f91de4ed01348182b3b2e2");
}

fn key(n: u8) -> NodeKey {
    NodeKey::from_bytes(&[n; 32]).unwrap()
}

fn sample_ticket(sender: Address) -> Ticket {
    Ticket {
        recipient: key(2).address(),
        sender,
        face_value: U256::from(1_000_000_000_000_000u64),
        win_prob: MAX_WIN_PROB / U256::from(1000),
        sender_nonce: 7,
        recipient_rand_hash: recipient_rand_hash(U256::from(42)),
        creation_round: 3,
        creation_round_block_hash: B256::repeat_byte(9),
    }
}

#[test]
fn signatures_recover_the_sender_and_reject_tampering() {
    let k = key(1);
    let t = sample_ticket(k.address());
    let sig = t.sign(&k).unwrap();
    assert_eq!(t.recover_signer(&sig).unwrap(), k.address());
    t.verify(&sig).unwrap();

    let mut tampered = t.clone();
    tampered.face_value += U256::from(1);
    assert!(tampered.verify(&sig).is_err(), "a changed face value must not verify");

    let other = sample_ticket(key(3).address());
    let err = other.verify(&sig).unwrap_err().to_string();
    assert!(err.contains("signed by"), "{err}");

    assert!(t.recover_signer(&sig[..64]).is_err());
}

#[test]
fn win_check_follows_the_probability() {
    let sig = sample_ticket(key(1).address()).sign(&key(1)).unwrap();
    assert!(is_winning(&sig, U256::from(5), MAX_WIN_PROB));
    assert!(!is_winning(&sig, U256::from(5), U256::ZERO));
    // At probability 1/2, about half of 400 different rands win.
    let wins = (0..400u64).filter(|r| is_winning(&sig, U256::from(*r), MAX_WIN_PROB / U256::from(2))).count();
    assert!((150..250).contains(&wins), "{wins} of 400 won at p = 1/2");
}

#[test]
fn expected_value_and_win_prob_are_inverse() {
    let fv = U256::from(3_600_000_000_000_000u64);
    let ev = U256::from(8_000_000_000u64);
    let wp = win_prob_for(ev, fv).unwrap();
    let back = expected_value(fv, wp);
    assert!(back >= ev && back - ev <= U256::from(1), "{back} vs {ev}");
    assert_eq!(expected_value(fv, MAX_WIN_PROB), fv);
    assert_eq!(expected_value(fv, U256::ZERO), U256::ZERO);
    assert!(win_prob_for(ev, U256::ZERO).is_err());
}

fn sample_params() -> TicketParams {
    TicketParams {
        recipient: key(2).address(),
        face_value: U256::from(1_000_000u64),
        win_prob: MAX_WIN_PROB / U256::from(4),
        recipient_rand_hash: B256::repeat_byte(1),
        seed: vec![0, 5, 6],
        expiration_block: U256::from(1234),
        creation_round: 7,
        creation_round_block_hash: B256::repeat_byte(8),
    }
}

#[test]
fn recipient_rand_is_a_keyed_commitment_over_the_params() {
    let secret = RecipientSecret::from_bytes([4; 32]);
    let params = sample_params();
    let price = Price::new(3, 6).unwrap();
    let sender = key(1).address();
    let r = secret.rand(&params, sender, &price);
    assert_eq!(r, secret.rand(&params, sender, &Price::new(1, 2).unwrap()), "price is taken in lowest terms");
    assert_ne!(r, secret.rand(&params, key(3).address(), &price), "bound to the sender");
    let mut other = params.clone();
    other.face_value += U256::from(1);
    assert_ne!(r, secret.rand(&other, sender, &price), "bound to the face value");
    assert_ne!(r, RecipientSecret::from_bytes([5; 32]).rand(&params, sender, &price), "bound to the secret");
    assert_eq!(recipient_rand_hash(r), keccak256(r.to_be_bytes::<32>()));
}

#[test]
fn payment_round_trips_through_the_header() {
    let k = key(1);
    let params = sample_params();
    let tickets = (1..=3)
        .map(|nonce| SignedTicket { nonce, sig: params.ticket(k.address(), nonce).sign(&k).unwrap().to_vec() })
        .collect();
    let batch = PaymentBatch { params, sender: k.address(), price: Price::new(10, 1).unwrap(), tickets };
    let back = PaymentBatch::decode_header(&batch.encode_header()).unwrap();
    assert_eq!(back, batch);
    for (ticket, sig) in back.tickets() {
        ticket.verify(sig).unwrap();
    }
}

/// A change that breaks a `Payment`, and the field the error must name.
type Breakage = (Box<dyn Fn(&mut net::Payment)>, &'static str);

#[test]
fn malformed_payments_name_the_bad_field() {
    let k = key(1);
    let good = PaymentBatch { params: sample_params(), sender: k.address(), price: Price::new(1, 1).unwrap(), tickets: vec![] };
    let cases: Vec<Breakage> = vec![
        (Box::new(|p| p.sender = vec![1; 19]), "payment sender"),
        (Box::new(|p| p.sender = vec![0; 20]), "zero address"),
        (Box::new(|p| p.ticket_params = None), "ticket_params"),
        (Box::new(|p| p.expected_price = None), "expected_price"),
        (Box::new(|p| p.ticket_params.as_mut().unwrap().face_value = vec![1; 33]), "face_value"),
        (Box::new(|p| p.ticket_params.as_mut().unwrap().recipient = vec![]), "recipient"),
        (Box::new(|p| p.ticket_params.as_mut().unwrap().seed = vec![1; 40]), "seed"),
        (Box::new(|p| p.ticket_sender_params.push(net::TicketSenderParams { sender_nonce: 1, sig: vec![0; 64] })), "sig"),
        (Box::new(|p| p.expected_price.as_mut().unwrap().pixels_per_unit = 0), "pixels per unit"),
    ];
    for (mutate, needle) in cases {
        let mut p = good.to_proto();
        mutate(&mut p);
        let err = PaymentBatch::from_proto(&p).unwrap_err().to_string();
        assert!(err.contains(needle), "expected {needle:?} in {err:?}");
    }
    assert!(PaymentBatch::decode_header("%%%").unwrap_err().to_string().contains("base64"));
    assert!(PaymentBatch::decode_header("AAAA").is_err());
}

#[test]
fn balance_follows_livepeers_accounting() {
    let ev = U256::from(100);
    let mut b = Balance::new();
    assert_eq!(b.tickets_needed(U256::from(250), ev).unwrap(), 3, "ceil(250/100)");
    assert_eq!(b.tickets_needed(U256::from(10), ev).unwrap(), 1, "at least one ticket's EV");
    b.credit(U256::from(300));
    b.debit(U256::from(250));
    assert_eq!(b.get(), I256::try_from(50).unwrap());
    assert_eq!(b.tickets_needed(U256::from(250), ev).unwrap(), 2, "ceil((250-50)/100)");
    b.credit(U256::from(1000));
    assert_eq!(b.tickets_needed(U256::from(250), ev).unwrap(), 0);
    b.debit(U256::from(2000));
    assert!(b.get().is_negative());
    assert_eq!(b.tickets_needed(U256::from(50), ev).unwrap(), 11, "a debt is paid back first");
    assert!(b.tickets_needed(U256::from(1), U256::ZERO).is_err());
}

#[test]
fn fees_and_pixel_estimates() {
    let p = Price::new(3, 2).unwrap();
    assert_eq!(p.fee(3), U256::from(5), "4.5 wei rounds up");
    assert_eq!(Price::new(0, 1).unwrap().fee(1_000_000), U256::ZERO);
    assert!(Price::new(-1, 1).is_err());
    // 2 s of 720p30 + 360p30: (921600 + 230400) × 30 × 2 × 1.02.
    assert_eq!(estimate_pixels(&[(1280, 720, 30.0), (640, 360, 30.0)], 2.0), 70_502_400);
    assert_eq!(estimate_pixels(&[(2, 2, 0.0)], 0.5), 245, "fps 0 counts as 60, duration rounds up");
}

/// The signatures made here must be the ones the browser makes (see the wasm test that
/// reads the same file); regenerate with `LIVECAST_UPDATE_FIXTURES=1` if the sample set changes.
#[test]
fn signed_sample_tickets_match_the_fixture_shared_with_the_wasm_test() {
    let lines = vectors::signed_sample_lines(7, 64);
    assert_eq!(lines.lines().count(), 64);
    for (line, (key, ticket)) in lines.lines().zip(vectors::sample_cases(7, 64)) {
        let sig = hex::decode(line.split(' ').nth(2).unwrap()).unwrap();
        assert_eq!(ticket.recover_signer(&sig).unwrap(), key.address(), "{line}");
    }
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/src/ticket/fixtures/signed-tickets.txt");
    if std::env::var_os("LIVECAST_UPDATE_FIXTURES").is_some() {
        std::fs::write(path, &lines).unwrap();
    }
    let fixture = std::fs::read_to_string(path).expect("fixture missing: run with LIVECAST_UPDATE_FIXTURES=1");
    assert_eq!(fixture, lines, "native signatures drifted from the fixture");
}

/// Property: any ticket signed by any key recovers to that key and fails for a changed field.
#[test]
fn any_signed_ticket_recovers_its_sender() {
    for (key, ticket) in vectors::sample_cases(99, 200) {
        let sig = ticket.sign(&key).unwrap();
        assert_eq!(ticket.recover_signer(&sig).unwrap(), key.address());
        let mut other = ticket.clone();
        other.sender_nonce = other.sender_nonce.wrapping_add(1);
        assert_ne!(other.recover_signer(&sig).ok(), Some(key.address()));
    }
}
