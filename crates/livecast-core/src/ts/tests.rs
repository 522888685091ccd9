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

/// A fake ADTS AAC-LC frame (48 kHz stereo unless `config` says otherwise) of `len` payload bytes.
fn adts_frame(config: &crate::adts::AudioConfig, len: usize, seed: u8) -> Vec<u8> {
    let mut frame = crate::adts::header_for(config, len).unwrap().to_vec();
    frame.extend((0..len).map(|i| (i as u8).wrapping_mul(7).wrapping_add(seed)));
    frame
}

const LC_48K: crate::adts::AudioConfig = crate::adts::AudioConfig { object_type: 2, freq_index: 3, sample_rate: 48_000, channels: 2 };
const LC_44K: crate::adts::AudioConfig = crate::adts::AudioConfig { object_type: 2, freq_index: 4, sample_rate: 44_100, channels: 1 };

#[test]
fn mux_demux_round_trip_with_audio() {
    let mut muxer = TsMuxer::with_audio();
    let mut out = Vec::new();
    muxer.write_tables(&mut out).unwrap();
    let mut video = Vec::new();
    let mut audio = Vec::new();
    // 10 video frames at 30 fps, 2-frame audio PES every 42 667 µs, interleaved by time.
    for i in 0..10i64 {
        let ts = 2_000_000 + i * 33_333;
        let au = access_unit(300 + i as usize * 97, i == 0, i as u8);
        muxer.write_access_unit(&au, i == 0, ts, &mut out).unwrap();
        video.push(muxer.pts_of(ts));
        if i % 2 == 1 {
            let ats = 2_000_000 + (i / 2) * 42_667;
            // Sizes across packet boundaries: 170 fits the first packet, 171 does not.
            let payload: Vec<u8> =
                [adts_frame(&LC_48K, 163 + i as usize, 1), adts_frame(&LC_48K, 500 * i as usize, 2)].concat();
            muxer.write_audio(&payload, ats, &mut out).unwrap();
            audio.push((muxer.pts_of(ats), payload));
        }
    }
    assert_eq!(out.len() % PACKET_SIZE, 0);
    assert_eq!(demux(&out).unwrap().iter().map(|u| u.pts).collect::<Vec<_>>(), video, "video untouched by audio");
    let pes = demux_audio(&out).unwrap();
    assert_eq!(pes.iter().map(|p| (p.pts, p.data.clone())).collect::<Vec<_>>(), audio);
    // Audio and video share the clock: the same capture time, the same PTS.
    assert_eq!(pes[0].pts, video[0]);
    let info = probe_segment(&out).unwrap();
    // The one-pass probe answers the same facts and the same frames as probing and
    // demuxing apart.
    assert_eq!(probe_segment_units(&out).unwrap(), (info.clone(), demux(&out).unwrap()));
    assert_eq!(probe_audio(&out).unwrap(), info.audio);
    let a = info.audio.unwrap();
    assert_eq!((a.codec.as_str(), a.sample_rate, a.channels, a.frames), ("mp4a.40.2", 48_000, 2, 10));
    assert_eq!(a.first_pts, video[0]);
    // The PMT lists both streams, the PCR only on the video PID.
    let pcr_pids: std::collections::HashSet<u16> = out
        .chunks(PACKET_SIZE)
        .filter(|p| p[3] & 0x20 != 0 && p[4] > 0 && p[5] & 0x10 != 0)
        .map(|p| u16::from_be_bytes([p[1] & 0x1f, p[2]]))
        .collect();
    assert_eq!(pcr_pids, [VIDEO_PID].into_iter().collect());
    assert!(out.chunks(PACKET_SIZE).any(|p| u16::from_be_bytes([p[1] & 0x1f, p[2]]) == AUDIO_PID));
}

#[test]
fn muxer_refuses_audio_it_cannot_place() {
    let mut plain = TsMuxer::new();
    let mut out = Vec::new();
    plain.write_access_unit(&access_unit(10, true, 0), true, 0, &mut out).unwrap();
    assert!(plain.write_audio(&adts_frame(&LC_48K, 10, 0), 0, &mut out).is_err(), "no audio stream in the PMT");
    let mut muxer = TsMuxer::with_audio();
    let frame = adts_frame(&LC_48K, 10, 0);
    let err = muxer.write_audio(&frame, 0, &mut out).unwrap_err();
    assert!(err.to_string().contains("before the first video frame"), "{err}");
    muxer.write_access_unit(&access_unit(10, true, 0), true, 1000, &mut out).unwrap();
    assert!(muxer.write_audio(&frame, 999, &mut out).is_err());
    assert!(muxer.write_audio(&frame[..frame.len() - 1], 1000, &mut out).is_err(), "a partial frame");
    assert!(muxer.write_audio(&[0x47; 20], 1000, &mut out).is_err(), "not ADTS");
    muxer.write_audio(&frame, 1000, &mut out).unwrap();
    assert!(muxer.write_audio(&frame, 1000, &mut out).is_err(), "same PTS twice");
}

/// Runs a segmenter with audio over `seconds` of 30 fps video and AAC at `config`'s rate,
/// the audio pushed in bursts `audio_lag_us` behind capture and the video `video_lag_us`
/// behind (as from parallel encoders), and checks the boundary rules.
fn check_audio_boundaries(target_us: i64, config: crate::adts::AudioConfig, audio_lag_us: i64, video_lag_us: i64) {
    let mut seg = Segmenter::with_audio(target_us, 0).unwrap();
    let start = 10_000_000i64;
    let end = start + 9_000_000;
    let frame_us = config.frame_us();
    // Events (arrival time, kind, index) in arrival order.
    let mut events: Vec<(i64, bool, i64)> = Vec::new();
    let video_ts = |n: i64| start + n * 1_000_000 / 30;
    // Audio starts 100 ms before the video: those frames have no segment.
    let audio_ts = |n: i64| start - 100_000 + (n as f64 * frame_us).round() as i64;
    let mut n = 0;
    while video_ts(n) < end {
        events.push((video_ts(n) + video_lag_us, true, n));
        n += 1;
    }
    let mut n = 0;
    while audio_ts(n) < end {
        // Audio arrives in 100 ms bursts.
        events.push((audio_ts(n) - audio_ts(n) % 100_000 + 100_000 + audio_lag_us, false, n));
        n += 1;
    }
    let audio_total = n;
    events.sort_by_key(|e| (e.0, e.1, e.2));
    let mut segments = Vec::new();
    for (_, is_video, n) in events {
        if is_video {
            let ts = video_ts(n);
            let keyframe = seg.keyframe_due(ts);
            segments.extend(seg.push_video(&access_unit(200, keyframe, n as u8), keyframe, ts).unwrap());
        } else {
            segments.extend(seg.push_audio(&adts_frame(&config, 100 + (n % 50) as usize, n as u8), audio_ts(n)).unwrap());
        }
    }
    segments.extend(seg.finish_all().unwrap());
    let drops = seg.audio_drops();
    assert_eq!((drops.late, drops.queue_full), (0, 0), "{drops:?}");
    let before = (0..audio_total).filter(|&n| audio_ts(n) < start).count() as u64;
    assert_eq!(drops.before_video, before);

    let frame_ticks = config.frame_ticks();
    let mut all_pts: Vec<u64> = Vec::new();
    for (i, s) in segments.iter().enumerate() {
        let info = probe_segment(&s.data).unwrap();
        assert!(info.starts_with_keyframe, "segment {i}");
        let audio = demux_audio(&s.data).unwrap();
        let pts: Vec<u64> = audio
            .iter()
            .flat_map(|p| {
                let count = crate::adts::frames(&p.data).0.len();
                (0..count).map(move |k| p.pts + (k as f64 * frame_ticks).round() as u64)
            })
            .collect();
        assert_eq!(pts.len() as u32, s.audio_frames, "segment {i}");
        // Every frame within the segment's span: from its first video frame to the next's.
        let span_end = info.first_pts + (s.duration_us * 9 / 100) as u64;
        assert!(pts.iter().all(|&p| p + 1 >= info.first_pts && p < span_end), "segment {i}: audio {pts:?} outside {}..{span_end}", info.first_pts);
        all_pts.extend(pts);
    }
    assert_eq!(all_pts.len() as u64, audio_total as u64 - before, "every frame in exactly one segment");
    // No gap, no overlap: consecutive frames are one frame apart, across segment boundaries too.
    for w in all_pts.windows(2) {
        let step = w[1] as f64 - w[0] as f64;
        assert!((step - frame_ticks).abs() <= 2.0, "step {step} between {} and {}", w[0], w[1]);
    }
    assert!(segments.len() >= 9_000_000 / target_us as usize, "{} segments", segments.len());
}

#[test]
fn each_audio_frame_lands_in_exactly_one_segment() {
    // Odd segment lengths (not multiples of either frame duration), both sample rates, audio
    // ahead of video and behind it.
    check_audio_boundaries(1_234_567, LC_48K, 0, 0);
    check_audio_boundaries(2_000_000, LC_48K, 40_000, 2_500_000);
    check_audio_boundaries(777_777, LC_44K, 300_000, 0);
    check_audio_boundaries(1_500_001, LC_44K, 0, 1_900_000);
}

#[test]
fn video_does_not_wait_for_a_silent_microphone() {
    let mut seg = Segmenter::with_audio(500_000, 0).unwrap();
    let mut segments = Vec::new();
    for n in 0..90i64 {
        let ts = n * 33_333;
        let keyframe = seg.keyframe_due(ts);
        segments.extend(seg.push_video(&access_unit(100, keyframe, 0), keyframe, ts).unwrap());
    }
    // Video more than a second past the last audio is written anyway.
    assert!(!segments.is_empty());
    assert!(segments.iter().all(|s| s.audio_frames == 0));
    // Audio for an already closed segment is dropped as late, not written out of place.
    assert!(seg.push_audio(&adts_frame(&LC_48K, 50, 0), 100_000).unwrap().is_empty());
    segments.extend(seg.finish_all().unwrap());
    assert_eq!(seg.audio_drops().late, 1);
    assert_eq!(segments.iter().map(|s| s.frames).sum::<u32>(), 90);
    assert!(seg.push(&access_unit(10, true, 0), true, 10_000_000).is_err(), "push is for video-only segmenters");
    assert!(seg.push_audio(&[1, 2, 3], 10_000_000).is_err());
}

#[test]
fn audio_stamped_too_early_follows_the_previous_frame() {
    let mut seg = Segmenter::with_audio(1_000_000, 0).unwrap();
    let frame = adts_frame(&LC_48K, 30, 0);
    let mut segments = Vec::new();
    segments.extend(seg.push_video(&access_unit(100, true, 0), true, 0).unwrap());
    // Jittery stamps: the same time twice, then 1 µs later, then a real 100 ms gap.
    for ts in [1000, 1000, 1001, 150_000] {
        segments.extend(seg.push_audio(&frame, ts).unwrap());
    }
    segments.extend(seg.push_video(&access_unit(100, false, 0), false, 400_000).unwrap());
    segments.extend(seg.finish_all().unwrap());
    let pes = demux_audio(&segments[0].data).unwrap();
    let pts: Vec<u64> = pes.iter().flat_map(|p| {
        let n = crate::adts::frames(&p.data).0.len() as u64;
        (0..n).map(move |k| p.pts + k * 1920)
    }).collect();
    let origin = CLOCK_HZ;
    assert_eq!(pts, vec![origin + 90, origin + 90 + 1920, origin + 90 + 3840, origin + 13_500]);
}

#[test]
fn probe_refuses_audio_that_is_not_adts_aac() {
    // A PMT listing MPEG-1 audio (0x03) beside the video.
    let mut muxer = TsMuxer::with_audio();
    let mut out = Vec::new();
    muxer.write_tables(&mut out).unwrap();
    muxer.write_access_unit(&access_unit(100, true, 0), true, 0, &mut out).unwrap();
    let pmt = out.chunks_mut(PACKET_SIZE).find(|p| u16::from_be_bytes([p[1] & 0x1f, p[2]]) == PMT_PID).unwrap();
    // mpeg2ts stuffs PSI packets in front: the payload starts after the adaptation field.
    let payload = if pmt[3] & 0x20 != 0 { 5 + usize::from(pmt[4]) } else { 4 };
    let section = payload + 1 + usize::from(pmt[payload]);
    // The second ES entry's stream type: 12 bytes of PMT header, 5 of the video entry.
    let at = section + 12 + 5;
    assert_eq!(pmt[at], 0x0F, "{:02x?}", &pmt[section..]);
    pmt[at] = 0x03;
    // Fix the CRC of the edited section.
    let section_len = (usize::from(pmt[section + 1] & 0x0f) << 8 | usize::from(pmt[section + 2])) + 3;
    let crc = crc32_mpeg(&pmt[section..section + section_len - 4]);
    pmt[section + section_len - 4..section + section_len].copy_from_slice(&crc.to_be_bytes());
    let err = probe_segment(&out).unwrap_err();
    assert!(matches!(err, Error::UnsupportedAudio(_)), "{err}");
    assert!(err.to_string().contains("MPEG-1/2 audio"), "{err}");
    // Without audio a segment probes as before.
    let mut plain = TsMuxer::new();
    let mut out = Vec::new();
    plain.write_tables(&mut out).unwrap();
    plain.write_access_unit(&access_unit(100, true, 0), true, 0, &mut out).unwrap();
    assert_eq!(probe_segment(&out).unwrap().audio, None);
}

/// CRC-32/MPEG-2, for editing a PSI section in a test.
fn crc32_mpeg(data: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &b in data {
        crc ^= u32::from(b) << 24;
        for _ in 0..8 {
            crc = if crc & 0x8000_0000 != 0 { (crc << 1) ^ 0x04C1_1DB7 } else { crc << 1 };
        }
    }
    crc
}

#[test]
fn scheduled_keyframes_follow_the_target_whatever_the_encoders_lag() {
    // 30 fps with a little jitter, 2 s segments: decided frame by frame before any output.
    let mut seg = Segmenter::new(2_000_000, 0).unwrap();
    let ts: Vec<i64> = (0..300).map(|n| n * 33_333 + (n * 7919 % 5) * 1000).collect();
    let decided: Vec<i64> = ts.iter().copied().filter(|&t| seg.schedule_keyframe(t)).collect();
    // The rule the worker had in JavaScript: a keyframe once 2 s passed since the last one.
    let mut expected = Vec::new();
    let mut start = i64::MIN / 2;
    for &t in &ts {
        if t - start >= 2_000_000 {
            expected.push(t);
            start = t;
        }
    }
    assert_eq!(decided, expected);
    assert_eq!(decided.len(), 5);
    // Pushing the frames afterwards (as a late encoder does) cuts exactly there.
    let mut starts = Vec::new();
    for (n, &t) in ts.iter().enumerate() {
        let key = decided.contains(&t);
        if let Some(s) = seg.push(&access_unit(200, key, n as u8), key, t).unwrap() {
            starts.push(s.first_timestamp_us);
        }
    }
    starts.extend(seg.finish().map(|s| s.first_timestamp_us));
    assert_eq!(starts, decided);
}
