use crate::net::{SegData, VideoProfile};
use crate::profile::*;
use crate::segment::*;
use crate::*;
use prost::Message;

/// A fixed test key (never used for anything real).
fn key() -> NodeKey {
    NodeKey::from_hex("0x4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318").unwrap()
}

#[test]
fn go_livepeer_segment_flatten_vector() {
    // core/stream_test.go TestSegmentFlatten.
    let mut hash = [0u8; 32];
    hash[..6].copy_from_slice(b"browns");
    let flat = flatten(b"abcdef", 1234, &B256::from(hash), &["P144p30fps16x9", "P240p30fps16x9"]).unwrap();
    assert_eq!(
        hex::encode(keccak256(&flat)),
        "08a398e7e7a5a545b0b07d9e7e1eab52b4131e0df1621bd53ee6e7550a15465b"
    );
    // Layout: manifest id, 32-byte seq, 32-byte hash, hex profile ids.
    assert_eq!(&flat[..6], b"abcdef");
    assert_eq!(&flat[6 + 30..6 + 32], &1234u16.to_be_bytes());
    assert_eq!(&flat[6 + 32..6 + 64], &hash);
    assert_eq!(&flat[6 + 64..], b"fca40bf9c0a6517a");
}

#[test]
fn go_livepeer_profile_ids() {
    // common/videoprofile_ids.go.
    for (profile, id) in [
        (&P720P60FPS16X9, "a7ac137a"),
        (&P720P30FPS16X9, "49d54ea9"),
        (&P720P25FPS16X9, "e4a64019"),
        (&P720P30FPS4X3, "79332fe7"),
        (&P576P30FPS16X9, "5ecf4b52"),
        (&P576P25FPS16X9, "8b1843d6"),
        (&P360P30FPS16X9, "93c717e7"),
        (&P360P25FPS16X9, "7cd40fc7"),
        (&P360P30FPS4X3, "b60382a0"),
        (&P240P30FPS16X9, "c0a6517a"),
        (&P240P25FPS16X9, "1301a7d0"),
        (&P240P30FPS4X3, "d435c53a"),
        (&P144P30FPS16X9, "fca40bf9"),
        (&P144P25FPS16X9, "03f01d1f"),
    ] {
        assert_eq!(hex::encode(profile.id()), id, "{}", profile.name);
    }
}

#[test]
fn profile_table_matches_livepeer() {
    let p = |name: &str| Profile::lookup(name).unwrap().clone();
    assert_eq!((p("P720p30fps16x9").width, p("P720p30fps16x9").height, p("P720p30fps16x9").bitrate_bps), (1280, 720, 4_000_000));
    assert_eq!((p("P360p30fps16x9").width, p("P360p30fps16x9").height, p("P360p30fps16x9").bitrate_bps), (640, 360, 1_200_000));
    assert_eq!((p("P240p30fps16x9").width, p("P240p30fps16x9").height, p("P240p30fps16x9").bitrate_bps), (426, 240, 600_000));
    assert_eq!((p("480p0").width, p("480p0").height, p("480p0").bitrate_bps, p("480p0").fps), (854, 480, 1_600_000, 0));
    assert!(Profile::lookup("P1080p").is_none());
    for profile in KNOWN_PROFILES {
        assert!(profile.width % 2 == 0 && profile.height % 2 == 0, "{} has an odd size", profile.name);
    }
}

#[test]
fn profiles_from_the_wire_trust_only_the_name() {
    // A named profile: settings must be the table's or absent.
    assert_eq!(Profile::from_net(&P360P30FPS16X9.to_net()).unwrap(), P360P30FPS16X9);
    let bare = VideoProfile { name: "P360p30fps16x9".into(), ..Default::default() };
    assert_eq!(Profile::from_net(&bare).unwrap(), P360P30FPS16X9);
    let tampered = VideoProfile { width: 3840, ..P360P30FPS16X9.to_net() };
    assert!(matches!(Profile::from_net(&tampered), Err(Error::ProfileMismatch { .. })));
    // A custom profile must be named after its settings.
    let custom = Profile::custom(960, 540, 2_000_000);
    assert_eq!(custom.name, "custom_960x540_2000000");
    assert_eq!(Profile::from_net(&custom.to_net()).unwrap(), custom);
    let misnamed = VideoProfile { name: "my-720p".into(), width: 1280, height: 720, bitrate: 1, ..Default::default() };
    assert!(matches!(Profile::from_net(&misnamed), Err(Error::UnknownProfile(n)) if n == "my-720p"));
    let lying = VideoProfile { width: 1920, ..custom.to_net() };
    assert!(matches!(Profile::from_net(&lying), Err(Error::UnknownProfile(_))));
    // Only H.264 in MPEG-TS.
    let mp4 = VideoProfile { format: 1, ..P360P30FPS16X9.to_net() };
    assert!(matches!(Profile::from_net(&mp4), Err(Error::UnsupportedProfile { .. })));
    let vp9 = VideoProfile { encoder: 3, ..P360P30FPS16X9.to_net() };
    assert!(matches!(Profile::from_net(&vp9), Err(Error::UnsupportedProfile { .. })));
}

#[test]
fn personal_sign_round_trip_and_known_address() {
    let key = key();
    // The address of this well-known example key (web3.js docs).
    assert_eq!(key.address().to_checksum(None), "0x2c7536E3605D9C16a7a3D7b1898e529396a65c23");
    let sig = key.sign_message(b"hello").unwrap();
    assert!(sig[64] == 27 || sig[64] == 28);
    assert_eq!(recover_signer(b"hello", &sig).unwrap(), key.address());
    assert!(verify_signer(b"hello", &sig, key.address()).is_ok());
    // Another message recovers another address.
    assert_ne!(recover_signer(b"hellp", &sig).unwrap(), key.address());
    let other = NodeKey::generate().unwrap();
    assert!(matches!(verify_signer(b"hello", &sig, other.address()), Err(Error::WrongSigner { .. })));
}

#[test]
fn personal_sign_matches_alloy_eip191() {
    // Independent check: recover through alloy's own EIP-191 path.
    let key = key();
    let sig = key.sign_message(b"Livecast").unwrap();
    let parsed = alloy_primitives::Signature::from_raw(&sig).unwrap();
    assert_eq!(parsed.recover_address_from_msg(b"Livecast").unwrap(), key.address());
    let digest = alloy_primitives::eip191_hash_message(b"Livecast");
    assert_eq!(parsed.recover_address_from_prehash(&digest).unwrap(), key.address());
}

#[test]
fn go_livepeer_signature_checks() {
    let key = key();
    let sig = key.sign_message(b"m").unwrap();
    let mut short = sig.to_vec();
    short.pop();
    assert!(matches!(recover_signer(b"m", &short), Err(Error::InvalidSignature(_))));
    let mut v01 = sig;
    v01[64] -= 27;
    assert!(matches!(recover_signer(b"m", &v01), Err(Error::InvalidSignature(m)) if m.contains("V is")));
    // The malleable twin (n - S, flipped V) is refused.
    let n = alloy_primitives::U256::from_str_radix("fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141", 16).unwrap();
    let s = alloy_primitives::U256::from_be_slice(&sig[32..64]);
    let mut high = sig;
    high[32..64].copy_from_slice(&(n - s).to_be_bytes::<32>());
    high[64] = if sig[64] == 27 { 28 } else { 27 };
    assert!(matches!(recover_signer(b"m", &high), Err(Error::InvalidSignature(m)) if m.contains("upper half")));
}

#[test]
fn key_hex_round_trip_and_bad_keys() {
    let key = NodeKey::generate().unwrap();
    let again = NodeKey::from_hex(&format!("0x{}\n", key.to_hex())).unwrap();
    assert_eq!(again.address(), key.address());
    assert!(NodeKey::from_bytes(&[0u8; 32]).is_err());
    assert!(NodeKey::from_hex("zz").is_err());
    assert!(!format!("{key:?}").contains(&key.to_hex()));
}

#[test]
fn seg_data_sign_recover_and_tamper() {
    let key = key();
    let segment = b"not really a segment, but hashed all the same";
    let seg = new_seg_data(&key, b"stream-1", 7, 2000, segment, &[P360P30FPS16X9, P240P30FPS16X9]).unwrap();
    assert_eq!(seg.hash, keccak256(segment).to_vec());
    assert_eq!(seg.profiles, b"invalid");
    check_seg_data(&seg).unwrap();
    assert_eq!(segment::seg_data_signer(&seg).unwrap(), key.address());
    // Survives the wire.
    let decoded = SegData::decode(seg.encode_to_vec().as_slice()).unwrap();
    assert_eq!(segment::seg_data_signer(&decoded).unwrap(), key.address());
    // Any signed field changed: another signer.
    for tamper in [
        |s: &mut SegData| s.seq += 1,
        |s: &mut SegData| s.manifest_id.push(b'x'),
        |s: &mut SegData| s.hash[0] ^= 1,
        |s: &mut SegData| s.full_profiles[0].name = "P720p30fps16x9".into(),
    ] {
        let mut bad = seg.clone();
        tamper(&mut bad);
        assert_ne!(segment::seg_data_signer(&bad).unwrap(), key.address());
    }
    let mut unsigned = seg.clone();
    unsigned.sig.clear();
    assert!(matches!(segment::seg_data_signer(&unsigned), Err(Error::InvalidSignature(_))));
}

#[test]
fn seg_data_prefers_the_newest_profile_field() {
    let mut seg = SegData { full_profiles: vec![P240P30FPS16X9.to_net()], ..Default::default() };
    assert_eq!(requested_profiles(&seg)[0].name, "P240p30fps16x9");
    seg.full_profiles2 = vec![P360P30FPS16X9.to_net()];
    assert_eq!(requested_profiles(&seg)[0].name, "P360p30fps16x9");
    seg.full_profiles3 = vec![P720P30FPS16X9.to_net()];
    assert_eq!(requested_profiles(&seg)[0].name, "P720p30fps16x9");
}

#[test]
fn seg_data_range_checks() {
    let key = key();
    let good = new_seg_data(&key, b"m", 0, 2000, b"x", &[P240P30FPS16X9]).unwrap();
    check_seg_data(&good).unwrap();
    let cases: Vec<(&str, SegData)> = vec![
        ("manifestId", SegData { manifest_id: vec![], ..good.clone() }),
        ("manifestId", SegData { manifest_id: vec![b'a'; 300], ..good.clone() }),
        ("negative", SegData { seq: -1, ..good.clone() }),
        ("hash", SegData { hash: vec![1; 31], ..good.clone() }),
        ("duration", SegData { duration: 400_000, ..good.clone() }),
        ("profiles requested", SegData { full_profiles: vec![], ..good.clone() }),
        ("twice", SegData { full_profiles: vec![P240P30FPS16X9.to_net(); 2], ..good.clone() }),
    ];
    for (needle, seg) in cases {
        let err = check_seg_data(&seg).unwrap_err().to_string();
        assert!(err.contains(needle), "{err} should mention {needle}");
    }
}

#[test]
fn rendition_signature_round_trip() {
    let key = key();
    let renditions: [&[u8]; 3] = [b"720p bytes", b"360p bytes", b"240p bytes"];
    let sig = result::sign_renditions(&key, renditions).unwrap();
    result::verify_renditions(key.address(), renditions, &sig).unwrap();
    // The hash is keccak256 over the concatenated per-rendition hashes.
    let hashes: Vec<B256> = renditions.iter().map(keccak256).collect();
    assert_eq!(result::renditions_hash(renditions), result::renditions_hash_from_hashes(&hashes));
    let mut joined = Vec::new();
    for h in &hashes {
        joined.extend_from_slice(h.as_slice());
    }
    assert_eq!(result::renditions_hash(renditions), keccak256(&joined));
    // Order matters, as does every byte.
    let swapped: [&[u8]; 3] = [renditions[1], renditions[0], renditions[2]];
    assert!(result::verify_renditions(key.address(), swapped, &sig).is_err());
    assert!(result::verify_renditions(key.address(), [&b"720p bytes"[..]], &sig).is_err());
}

#[test]
fn orchestrator_request_round_trip() {
    let key = key();
    let req = discovery::orchestrator_request(&key).unwrap();
    assert_eq!(discovery::verify_orchestrator_request(&req).unwrap(), key.address());
    // Signed over the checksummed address string, as go-livepeer's `addr.Hex()`.
    let digest = keccak256(key.address().to_checksum(None).as_bytes());
    assert_eq!(recover_signer(digest.as_slice(), &req.sig).unwrap(), key.address());
    let mut forged = req.clone();
    forged.address = NodeKey::generate().unwrap().address().to_vec();
    assert!(discovery::verify_orchestrator_request(&forged).is_err());
    let mut short = req;
    short.address.pop();
    assert!(discovery::verify_orchestrator_request(&short).is_err());
}

#[test]
fn capability_bit_string() {
    use discovery::capability::*;
    assert_eq!(discovery::capability_bits(&[H264, MPEGTS, AUTH_TOKEN]), vec![0b1_0000_0000_0011]);
    assert_eq!(discovery::capability_bits(&[65]), vec![0, 2]);
    let caps = discovery::transcoder_capabilities("livecast-transcoder/0.1.0");
    assert_eq!(caps.bitstring[0] & 1, 1);
}

#[test]
fn wire_bytes_use_go_livepeer_field_numbers() {
    // Hand-assembled protobuf: seq (2, varint), fullProfiles (33, message) holding
    // name (16), width (17), height (18), bitrate (19), fps (20).
    let seg = SegData { seq: 5, full_profiles: vec![P240P30FPS16X9.to_net()], ..Default::default() };
    let mut expected = vec![0x10, 0x05, 0x8a, 0x02];
    let mut profile = vec![0x82, 0x01, 14];
    profile.extend_from_slice(b"P240p30fps16x9");
    profile.extend_from_slice(&[0x88, 0x01, 0xaa, 0x03]); // width 426
    profile.extend_from_slice(&[0x90, 0x01, 0xf0, 0x01]); // height 240
    profile.extend_from_slice(&[0x98, 0x01, 0xc0, 0xcf, 0x24]); // bitrate 600000
    profile.extend_from_slice(&[0xa0, 0x01, 30]); // fps 30
    expected.push(profile.len() as u8);
    expected.extend_from_slice(&profile);
    assert_eq!(seg.encode_to_vec(), expected);

    // TranscodeResult: seq (1), data (3) { segments (1) { url (1), pixels (2) }, sig (2) },
    // info (16) { transcoder (1) }.
    let result = net::TranscodeResult {
        seq: 1,
        result: Some(net::transcode_result::Result::Data(net::TranscodeData {
            segments: vec![net::TranscodedSegmentData { url: "u".into(), pixels: 2, ..Default::default() }],
            sig: vec![9],
        })),
        info: Some(net::OrchestratorInfo { transcoder: "t".into(), ..Default::default() }),
    };
    assert_eq!(
        result.encode_to_vec(),
        vec![0x08, 1, 0x1a, 10, 0x0a, 5, 0x0a, 1, b'u', 0x10, 2, 0x12, 1, 9, 0x82, 0x01, 3, 0x0a, 1, b't']
    );
}
