//! Round trips through the muxer, segmenter and demuxer (no external tools; the ffprobe
//! checks are in tests/ts_ffprobe.rs).

use super::*;
use crate::Error;

const AUD: [u8; 6] = [0, 0, 0, 1, 0x09, 0xF0];

/// A fake access unit of `len` payload bytes: an IDR (with SPS/PPS) or a P slice.
fn access_unit(len: usize, keyframe: bool, seed: u8) -> Vec<u8> {
    let mut au = Vec::new();
    if keyframe {
        au.extend_from_slice(&[0, 0, 0, 1, 0x67, 66, 0xC0, 30, 0, 0, 0, 1, 0x68, 0xCE, 0, 0, 0, 1, 0x65]);
    } else {
        au.extend_from_slice(&[0, 0, 0, 1, 0x41]);
    }
    // Payload without 00 00 0x sequences, so it stays one NAL unit.
    au.extend((0..len).map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed) | 0x80));
    au
}

#[test]
fn mux_demux_round_trip_across_packet_boundaries() {
    let mut muxer = TsMuxer::new();
    let mut out = Vec::new();
    muxer.write_tables(&mut out).unwrap();
    let sizes = [0, 1, 150, 161, 162, 163, 180, 183, 184, 185, 346, 347, 348, 5000, 100_000];
    let mut expected = Vec::new();
    for (i, &len) in sizes.iter().enumerate() {
        let au = access_unit(len, i % 5 == 0, i as u8);
        let ts = 1_000_000 + i as i64 * 33_367;
        muxer.write_access_unit(&au, i % 5 == 0, ts, &mut out).unwrap();
        expected.push(([&AUD[..], &au].concat(), i % 5 == 0, muxer.pts_of(ts)));
    }
    assert_eq!(out.len() % PACKET_SIZE, 0);
    let units = demux(&out).unwrap();
    assert_eq!(units.len(), sizes.len());
    for (i, (unit, (data, keyframe, pts))) in units.iter().zip(&expected).enumerate() {
        assert_eq!(&unit.data, data, "access unit {i} ({} bytes)", sizes[i]);
        assert_eq!(unit.keyframe, *keyframe);
        assert_eq!((unit.pts, unit.dts), (*pts, *pts));
    }
    // 90 kHz from µs: frame 1 is 33 367 µs after frame 0 → 3003 ticks.
    assert_eq!(units[1].pts - units[0].pts, 3003);
    assert_eq!(units[0].pts, CLOCK_HZ);
}

#[test]
fn continuity_counters_advance_per_pid() {
    let mut muxer = TsMuxer::new();
    let mut out = Vec::new();
    muxer.write_tables(&mut out).unwrap();
    for i in 0..20 {
        muxer.write_access_unit(&access_unit(700, i == 0, 1), i == 0, i * 40_000, &mut out).unwrap();
    }
    let mut last = std::collections::HashMap::new();
    for packet in out.chunks(PACKET_SIZE) {
        let pid = u16::from_be_bytes([packet[1] & 0x1f, packet[2]]);
        let cc = packet[3] & 0x0f;
        if let Some(prev) = last.insert(pid, cc) {
            assert_eq!(cc, (prev + 1) % 16, "PID {pid:#x}");
        }
    }
    assert_eq!(last.len(), 3, "PAT, PMT and video PIDs");
}

#[test]
fn muxer_refuses_empty_or_backward_frames() {
    let mut muxer = TsMuxer::new();
    let mut out = Vec::new();
    assert!(matches!(muxer.write_access_unit(&[], true, 0, &mut out), Err(Error::Mux(_))));
    muxer.write_access_unit(&access_unit(10, true, 0), true, 1000, &mut out).unwrap();
    let err = muxer.write_access_unit(&access_unit(10, false, 0), false, 1000, &mut out).unwrap_err();
    assert_eq!(err.to_string(), "cannot mux frame: timestamp 1000 µs does not follow 1000 µs");
    assert!(muxer.write_access_unit(&access_unit(10, false, 0), false, 999, &mut out).is_err());
}

#[test]
fn segmenter_cuts_at_the_first_keyframe_after_the_target() {
    let mut seg = Segmenter::new(2_000_000, 7).unwrap();
    let mut segments = Vec::new();
    // 30 fps; the first two frames are not keyframes and are skipped.
    for n in 0..200i64 {
        let ts = 5_000_000 + n * 33_333;
        let keyframe = n >= 2 && (seg.keyframe_due(ts) || n == 2);
        if let Some(s) = seg.push(&access_unit(300, keyframe, n as u8), keyframe, ts).unwrap() {
            segments.push(s);
        }
    }
    segments.extend(seg.finish());
    assert_eq!(seg.skipped_before_keyframe(), 2);
    assert_eq!(segments.iter().map(|s| s.seq).collect::<Vec<_>>(), vec![7, 8, 9, 10]);
    assert_eq!(segments.iter().map(|s| s.frames).collect::<Vec<_>>(), vec![61, 61, 61, 15]);
    for s in &segments {
        let info = probe_segment(&s.data).unwrap();
        assert!(info.starts_with_keyframe, "segment {}", s.seq);
        assert_eq!(info.video_frames, s.frames);
        assert!((info.duration_secs - s.duration_us as f64 / 1e6).abs() < 0.002, "{info:?} vs {s:?}");
    }
    assert_eq!(segments[0].duration_us, 61 * 33_333);
    assert_eq!(segments[1].first_timestamp_us, segments[0].first_timestamp_us + segments[0].duration_us);
}

#[test]
fn probe_rejects_what_is_not_a_ts_segment() {
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (vec![], "not a whole number of 188-byte packets"),
        (vec![0x47; 100], "not a whole number"),
        (b"GET / HTTP/1.1\r\n".repeat(47)[..188 * 4].to_vec(), "sync byte"),
        ([0x47u8].iter().chain([0xFFu8; 187].iter()).copied().collect::<Vec<_>>().repeat(5), "not a valid H.264 MPEG-TS"),
    ];
    for (data, text) in cases {
        let err = probe_segment(&data).unwrap_err();
        assert!(matches!(err, Error::InvalidTransportStream(_)));
        assert!(err.to_string().contains(text), "{err} should mention {text}");
        assert!(!err.to_string().contains('\n') && !err.to_string().contains("(at "), "{err}: one clean line");
    }
    // Random bytes behind sync bytes never panic.
    let mut x = 12345u32;
    let noise: Vec<u8> = (0..188 * 50)
        .map(|i| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            if i % 188 == 0 { 0x47 } else { x as u8 }
        })
        .collect();
    assert!(probe_segment(&noise).is_err());
}

#[test]
fn segmenter_rejects_absurd_durations() {
    assert!(Segmenter::new(0, 0).is_err());
    assert!(Segmenter::new(61_000_000, 0).is_err());
}

#[test]
fn explicit_pts_is_kept_and_must_move_forward() {
    let mut muxer = TsMuxer::new();
    let mut out = Vec::new();
    muxer.write_tables(&mut out).unwrap();
    // A source timeline near the 33-bit wrap: 10 s before it, then across it.
    let start = (1u64 << 33) - 3000 * 2;
    let pts: Vec<u64> = (0..5).map(|i| start + i * 3000).collect();
    for (i, &p) in pts.iter().enumerate() {
        muxer.write_access_unit_at_pts(&access_unit(400, i == 0, i as u8), i == 0, p, &mut out).unwrap();
    }
    let units = demux(&out).unwrap();
    let got: Vec<u64> = units.iter().map(|u| u.pts).collect();
    let want: Vec<u64> = pts.iter().map(|p| p % (1 << 33)).collect();
    assert_eq!(got, want);
    assert!(units[0].keyframe && !units[1].keyframe);
    // The PCR leads the PTS by 100 ms, as with capture times.
    let first_video = out.chunks(PACKET_SIZE).find(|p| u16::from_be_bytes([p[1] & 0x1f, p[2]]) == VIDEO_PID).unwrap();
    let pcr_base = (u64::from(first_video[6]) << 25)
        | (u64::from(first_video[7]) << 17)
        | (u64::from(first_video[8]) << 9)
        | (u64::from(first_video[9]) << 1)
        | (u64::from(first_video[10]) >> 7);
    assert_eq!(pcr_base, pts[0] - CLOCK_HZ / 10);

    // Same or earlier PTS: refused, nothing written.
    let before = out.len();
    let last = *want.last().unwrap();
    for bad in [last, last - 1, last + (1 << 32)] {
        let err = muxer.write_access_unit_at_pts(&access_unit(10, false, 0), false, bad, &mut out).unwrap_err();
        assert!(matches!(err, Error::Mux(ref m) if m.contains("does not follow")), "{err}");
    }
    assert_eq!(out.len(), before);
    assert!(muxer.write_access_unit_at_pts(&[], false, last + 3000, &mut out).is_err());
}

#[test]
fn explicit_pts_and_capture_times_do_not_mix() {
    let mut muxer = TsMuxer::new();
    let mut out = Vec::new();
    muxer.write_access_unit(&access_unit(10, true, 0), true, 0, &mut out).unwrap();
    assert!(muxer.write_access_unit_at_pts(&access_unit(10, false, 0), false, 90_000, &mut out).is_err());
}
