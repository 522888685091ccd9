//! Segments from the segmenter, judged by ffprobe and ffmpeg: real H.264 (made by ffmpeg's
//! x264, Constrained Baseline, an access unit delimiter before each frame) is cut into
//! segments that must each decode cleanly with the right duration and monotonic PTS.

use livecast_core::annexb::{nal_units, NalType};
use livecast_core::ts::{probe_segment, Segmenter};
use std::path::Path;
use std::process::Command;

fn ffmpeg_h264(dir: &Path, seconds: u32) -> Vec<u8> {
    let path = dir.join("source.h264");
    let status = Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=30", "-t"])
        .arg(seconds.to_string())
        .args(["-c:v", "libx264", "-profile:v", "baseline", "-pix_fmt", "yuv420p", "-g", "30", "-bf", "0"])
        .args(["-x264-params", "aud=1:keyint=30:min-keyint=30:scenecut=0", "-f", "h264"])
        .arg(&path)
        .status()
        .expect("ffmpeg runs");
    assert!(status.success());
    std::fs::read(path).unwrap()
}

/// Splits an Annex-B stream into access units at its delimiters (the AUD is dropped; the
/// muxer writes its own).
fn access_units(stream: &[u8]) -> Vec<Vec<u8>> {
    let mut units: Vec<Vec<u8>> = Vec::new();
    for nal in nal_units(stream) {
        if NalType::from_header(nal[0]) == NalType::AccessUnitDelimiter {
            units.push(Vec::new());
        } else if let Some(au) = units.last_mut() {
            au.extend_from_slice(&[0, 0, 0, 1]);
            au.extend_from_slice(nal);
        }
    }
    units
}

fn ffprobe_csv(path: &Path, entries: &str) -> String {
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-show_entries", entries, "-of", "csv=p=0"])
        .arg(path)
        .output()
        .expect("ffprobe runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn segments_are_ffprobe_clean_with_right_duration_and_monotonic_pts() {
    let dir = std::env::temp_dir().join(format!("livecast-ts-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let units = access_units(&ffmpeg_h264(&dir, 7));
    assert_eq!(units.len(), 210);
    let mut segmenter = Segmenter::new(2_000_000, 0).unwrap();
    let mut segments = Vec::new();
    for (n, au) in units.iter().enumerate() {
        let keyframe = livecast_core::annexb::is_keyframe(au);
        segments.extend(segmenter.push(au, keyframe, n as i64 * 1_000_000 / 30).unwrap());
    }
    segments.extend(segmenter.finish());
    // x264 puts an IDR every 30 frames, so cuts land on the first IDR after 2 s: 60 frames.
    assert_eq!(segments.iter().map(|s| s.frames).collect::<Vec<_>>(), vec![60, 60, 60, 30]);

    let mut all = Vec::new();
    let mut previous_last_pts = None;
    for s in &segments {
        let path = dir.join(format!("{}.ts", s.seq));
        std::fs::write(&path, &s.data).unwrap();
        let errors = Command::new("ffmpeg").args(["-v", "error", "-i"]).arg(&path).args(["-f", "null", "-"]).output().unwrap();
        assert!(errors.status.success() && errors.stderr.is_empty(), "segment {}: {}", s.seq, String::from_utf8_lossy(&errors.stderr));
        let stream = ffprobe_csv(&path, "stream=codec_name,profile,width,height");
        // ffprobe lists the stream once per program and once on its own: every line agrees.
        assert!(stream.lines().filter(|l| !l.is_empty()).all(|l| l == "h264,Constrained Baseline,320,240"), "segment {}: {stream}", s.seq);
        let duration: f64 = ffprobe_csv(&path, "format=duration").trim().parse().unwrap();
        assert!((duration - s.duration_us as f64 / 1e6).abs() < 0.05, "segment {}: ffprobe {duration} s vs {} µs", s.seq, s.duration_us);
        let pts: Vec<i64> = ffprobe_csv(&path, "packet=pts").lines().map(|l| l.trim_end_matches(',')).filter(|l| !l.is_empty()).map(|l| l.parse().unwrap()).collect();
        assert_eq!(pts.len() as u32, s.frames);
        assert!(pts.windows(2).all(|w| w[1] > w[0]), "segment {}: PTS not increasing", s.seq);
        if let Some(prev) = previous_last_pts {
            assert_eq!(pts[0] - prev, 3000, "PTS runs on across segments");
        }
        previous_last_pts = pts.last().copied();
        let info = probe_segment(&s.data).unwrap();
        assert!(info.starts_with_keyframe);
        assert_eq!(info.first_pts as i64, pts[0]);
        all.extend_from_slice(&s.data);
    }
    // The segments back to back are one continuous, clean stream, as HLS players see it.
    let joined = dir.join("all.ts");
    std::fs::write(&joined, &all).unwrap();
    let errors = Command::new("ffmpeg").args(["-v", "error", "-i"]).arg(&joined).args(["-f", "null", "-"]).output().unwrap();
    assert!(errors.stderr.is_empty(), "{}", String::from_utf8_lossy(&errors.stderr));
    std::fs::remove_dir_all(&dir).ok();
}

/// `seconds` of a 1 kHz tone as ADTS AAC-LC, 48 kHz stereo, made by ffmpeg's encoder.
fn ffmpeg_adts(dir: &Path, seconds: u32) -> Vec<u8> {
    let path = dir.join("tone.aac");
    let status = Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-f", "lavfi", "-i", "sine=frequency=1000:sample_rate=48000", "-t"])
        .arg(seconds.to_string())
        .args(["-ac", "2", "-c:a", "aac", "-b:a", "128k", "-f", "adts"])
        .arg(&path)
        .status()
        .expect("ffmpeg runs");
    assert!(status.success());
    std::fs::read(path).unwrap()
}

#[test]
fn segments_with_audio_are_ffprobe_clean_and_audio_runs_on_across_boundaries() {
    let dir = std::env::temp_dir().join(format!("livecast-ts-audio-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let units = access_units(&ffmpeg_h264(&dir, 7));
    let aac = ffmpeg_adts(&dir, 7);
    let (frames, left) = livecast_core::adts::frames(&aac);
    assert_eq!(left, 0);
    assert!(frames.len() > 320, "{} AAC frames", frames.len());
    // 2.1 s target: cuts at the IDR after it (every 30 frames), so segments are 3 s (90 frames)
    // long, not a whole number of AAC frames (21.333 ms).
    let mut segmenter = Segmenter::with_audio(2_100_000, 0).unwrap();
    let mut segments = Vec::new();
    let (mut v, mut a) = (0usize, 0usize);
    while v < units.len() || a < frames.len() {
        let vts = v as i64 * 1_000_000 / 30;
        let ats = (a as f64 * 1e6 * 1024.0 / 48_000.0).round() as i64;
        if v < units.len() && (a >= frames.len() || vts <= ats) {
            let keyframe = livecast_core::annexb::is_keyframe(&units[v]);
            segments.extend(segmenter.push_video(&units[v], keyframe, vts).unwrap());
            v += 1;
        } else {
            segments.extend(segmenter.push_audio(frames[a].1, ats).unwrap());
            a += 1;
        }
    }
    segments.extend(segmenter.finish_all().unwrap());
    assert_eq!(segments.iter().map(|s| s.frames).collect::<Vec<_>>(), vec![90, 90, 30]);
    assert_eq!(segments.iter().map(|s| s.audio_frames as usize).sum::<usize>(), frames.len(), "{:?}", segmenter.audio_drops());

    let mut all = Vec::new();
    let mut last_audio_pts: Option<i64> = None;
    for s in &segments {
        let path = dir.join(format!("a{}.ts", s.seq));
        std::fs::write(&path, &s.data).unwrap();
        let errors = Command::new("ffmpeg").args(["-v", "error", "-i"]).arg(&path).args(["-f", "null", "-"]).output().unwrap();
        assert!(errors.status.success() && errors.stderr.is_empty(), "segment {}: {}", s.seq, String::from_utf8_lossy(&errors.stderr));
        let streams = ffprobe_csv(&path, "stream=codec_name,sample_rate,channels");
        let mut kinds: Vec<&str> = streams.lines().filter(|l| !l.is_empty()).collect();
        kinds.sort();
        kinds.dedup();
        assert_eq!(kinds, vec!["aac,48000,2", "h264"], "segment {}", s.seq);
        let audio_pts: Vec<i64> = ffprobe_csv(&path, "packet=codec_type,pts")
            .lines()
            .filter_map(|l| l.trim_end_matches(',').strip_prefix("audio,"))
            .map(|p| p.parse().unwrap())
            .collect();
        assert_eq!(audio_pts.len() as u32, s.audio_frames, "segment {}", s.seq);
        // DTS monotonic and without gaps across the boundary: 1920 ticks (1024 samples) a frame.
        if let Some(prev) = last_audio_pts {
            assert!((audio_pts[0] - prev - 1920).abs() <= 1, "segment {}: audio {} after {prev}", s.seq, audio_pts[0]);
        }
        assert!(audio_pts.windows(2).all(|w| (w[1] - w[0] - 1920).abs() <= 1), "segment {}", s.seq);
        last_audio_pts = audio_pts.last().copied();
        let info = probe_segment(&s.data).unwrap();
        let audio = info.audio.unwrap();
        assert_eq!((audio.codec.as_str(), audio.frames), ("mp4a.40.2", s.audio_frames));
        // The audio of a segment spans its video: within one AAC frame at each end.
        assert!((audio.duration_secs - s.duration_us as f64 / 1e6).abs() < 0.0214 * 2.0, "{audio:?} vs {} µs", s.duration_us);
        all.extend_from_slice(&s.data);
    }
    let joined = dir.join("all-audio.ts");
    std::fs::write(&joined, &all).unwrap();
    let errors = Command::new("ffmpeg").args(["-v", "error", "-i"]).arg(&joined).args(["-f", "null", "-"]).output().unwrap();
    assert!(errors.stderr.is_empty(), "{}", String::from_utf8_lossy(&errors.stderr));
    std::fs::remove_dir_all(&dir).ok();
}
