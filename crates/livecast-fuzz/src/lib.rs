//! The bodies of Livecast's fuzz targets, one function per parser that takes bytes from
//! strangers. Each must return (an `Err` is fine) for every input: a panic, an abort, a
//! hang or an allocation out of proportion to the input is a bug.
//!
//! `fuzz/` (cargo-fuzz, nightly) calls these from libFuzzer; `tests/corpus.rs` replays the
//! committed corpora `fuzz/corpus/{target}/` through them on stable, so a crash once found
//! and fixed stays fixed. [`TARGETS`] lists them by the name of their corpus directory.

#![warn(missing_docs)]

use livecast_protocol::net;
use prost::Message;

/// Every target: `(name, function)`; the name is its corpus directory and cargo-fuzz target.
pub const TARGETS: &[(&str, fn(&[u8]))] = &[
    ("ts_demux", ts_demux),
    ("sps", sps),
    ("fmp4_probe", fmp4_probe),
    ("transmux", transmux),
    ("playlist", playlist),
    ("protobuf", protobuf),
];

/// The MPEG-TS demuxer and the segment probe (relay ingest, node, player).
pub fn ts_demux(data: &[u8]) {
    let _ = livecast_core::ts::demux(data);
    let _ = livecast_core::ts::probe_segment(data);
}

/// The SPS parser, on a NAL unit and on an Annex-B access unit.
pub fn sps(data: &[u8]) {
    let _ = livecast_core::sps::parse_sps(data);
    let _ = livecast_core::sps::find_sps(data);
    let _ = livecast_core::annexb::nal_types(data);
    let _ = livecast_core::annexb::SpsProfile::find(data);
}

/// The fMP4 init-segment probe.
pub fn fmp4_probe(data: &[u8]) {
    if let Ok(info) = livecast_core::fmp4::probe_init(data) {
        let _ = info.codecs();
        let _ = info.mime_type();
    }
}

/// The TS → fMP4 transmuxer: the input as one segment, then split in two at its first
/// byte's value (a second segment, and a discontinuity), with and without audio.
pub fn transmux(data: &[u8]) {
    use livecast_core::fmp4::{SegmentOptions, Transmuxer};
    let cut = data.first().map_or(0, |&b| (usize::from(b) * 188).min(data.len()));
    for audio in [false, true] {
        let mut t = if audio { Transmuxer::new().with_audio() } else { Transmuxer::new() };
        let _ = t.push_segment(data, SegmentOptions::default());
        let _ = t.push_segment(&data[..cut], SegmentOptions { discontinuity: true });
        let _ = t.push_segment(&data[cut..], SegmentOptions::default());
        let _ = t.current_init();
    }
}

/// The Player's playlist parser and the lookups it serves.
pub fn playlist(data: &[u8]) {
    use livecast::player::playlist::{parse, Parsed};
    if let Ok(Parsed::Media(list)) = parse(data, "https://relay.example/hls/s/index.m3u8") {
        let _ = list.duration();
        let _ = list.edge_date_ms();
        let end = list.end_sequence();
        for seq in [0, list.media_sequence, end.saturating_sub(1), end, u64::MAX] {
            if let Some(s) = list.segment(seq) {
                let _ = list.matching(s);
            }
        }
    }
}

/// prost decoding of what a node or relay reads from a stranger, and the checks after it:
/// the first byte picks the message, the rest is its encoding.
pub fn protobuf(data: &[u8]) {
    let Some((&which, bytes)) = data.split_first() else { return };
    match which % 4 {
        0 => {
            if let Ok(seg) = net::SegData::decode(bytes) {
                let _ = livecast_protocol::segment::check_seg_data(&seg);
                let _ = livecast_protocol::segment::seg_data_signer(&seg);
                for p in livecast_protocol::segment::requested_profiles(&seg) {
                    let _ = livecast_protocol::Profile::from_net(p);
                }
            }
        }
        1 => {
            if let Ok(payment) = net::Payment::decode(bytes) {
                let _ = livecast_core::ticket::PaymentBatch::from_proto(&payment);
            }
        }
        2 => {
            if let Ok(params) = net::TicketParams::decode(bytes) {
                let _ = livecast_core::ticket::TicketParams::from_proto(&params);
            }
        }
        _ => {
            if let Ok(result) = net::TranscodeResult::decode(bytes) {
                if let Some(net::transcode_result::Result::Data(d)) = &result.result {
                    let renditions = d.segments.iter().map(|_| &[][..]);
                    let _ = livecast_protocol::result::verify_renditions(livecast_protocol::Address::ZERO, renditions, &d.sig);
                }
                if let Some(info) = &result.info {
                    if let Some(p) = &info.price_info {
                        let _ = livecast_core::ticket::Price::from_proto(p);
                    }
                }
            }
        }
    }
}
