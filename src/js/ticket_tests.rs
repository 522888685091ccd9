//! Tickets signed in the browser against the same tickets signed natively: the sample set
//! of `livecast_core::ticket::vectors` is signed here, in wasm, and compared byte for byte
//! with the signatures the native test keeps in its fixture; the native signatures are
//! recovered here. So a ticket signed in wasm verifies natively, and vice versa.

use livecast_core::ticket::vectors;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

const NATIVE: &str = include_str!("../../crates/livecast-core/src/ticket/fixtures/signed-tickets.txt");

fn unhex(text: &str) -> Vec<u8> {
    let text = text.trim_start_matches("0x");
    (0..text.len()).step_by(2).map(|i| u8::from_str_radix(&text[i..i + 2], 16).expect("hex")).collect()
}

#[wasm_bindgen_test]
fn tickets_signed_in_wasm_are_the_native_signatures() {
    let ours = vectors::signed_sample_lines(7, 64);
    assert_eq!(ours.lines().count(), 64);
    for (wasm, native) in ours.lines().zip(NATIVE.lines()) {
        assert_eq!(wasm, native);
    }
}

#[wasm_bindgen_test]
fn native_signatures_recover_in_wasm() {
    let cases = vectors::sample_cases(7, 64);
    assert_eq!(NATIVE.lines().count(), cases.len());
    for (line, (key, ticket)) in NATIVE.lines().zip(cases) {
        let sig = unhex(line.split(' ').nth(2).expect("three fields"));
        assert_eq!(ticket.recover_signer(&sig).expect("recovers"), key.address(), "{line}");
        let mut tampered = ticket.clone();
        tampered.face_value += livecast_core::ticket::U256::from(1);
        assert_ne!(tampered.recover_signer(&sig).ok(), Some(key.address()));
    }
}
