//! Native tests of the openh264 build: encode the test pattern, check the bitstream's
//! structure, decode it again and measure the quality.

use livecast_core::annexb::{is_keyframe, starts_decodable, SpsProfile};
use livecast_core::pattern::TestPattern;
use livecast_core::quality::psnr;
use livecast_core::I420Frame;
use livecast_openh264::{Decoder, Encoder, EncoderConfig, Error, FrameKind, Picture};

fn config(width: u32, height: u32) -> EncoderConfig {
    EncoderConfig { width, height, fps: 30.0, bitrate_bps: 2_000_000, keyframe_interval_frames: 10 }
}

fn picture(frame: &I420Frame) -> Picture<'_> {
    Picture::packed(frame.width(), frame.height(), frame.y(), frame.u(), frame.v())
}

#[test]
fn encodes_constrained_baseline_with_parameter_sets_on_every_idr_and_decodes_back() {
    let (w, h) = (320, 240);
    let pattern = TestPattern::new(w, h).unwrap();
    let mut encoder = Encoder::new(config(w, h)).unwrap();
    let mut decoder = Decoder::new().unwrap();
    let mut stream = Vec::new();
    for n in 0..30 {
        let source = pattern.frame(n);
        let frame = encoder.encode(&picture(&source), n as i64 * 33).unwrap();
        let expected = if n % 10 == 0 { FrameKind::Keyframe } else { FrameKind::Delta };
        assert_eq!(frame.kind, expected, "frame {n}");
        assert_eq!(is_keyframe(&frame.data), n % 10 == 0, "frame {n}");
        if frame.kind == FrameKind::Keyframe {
            assert!(starts_decodable(&frame.data), "IDR {n} lacks SPS/PPS in front");
        }
        let decoded = decoder.decode(&frame.data).unwrap().expect("a picture per access unit");
        assert_eq!((decoded.width, decoded.height), (w, h));
        let db = psnr(&source.to_packed_bytes(), &[decoded.y, decoded.u, decoded.v].concat());
        assert!(db > 33.0, "frame {n}: PSNR {db:.1} dB");
        stream.extend_from_slice(&frame.data);
    }
    let profile = SpsProfile::find(&stream).unwrap();
    assert!(profile.is_constrained_baseline(), "{profile:?}");
}

#[test]
fn a_forced_keyframe_is_an_idr_that_decodes_alone() {
    let pattern = TestPattern::new(160, 96).unwrap();
    let mut encoder = Encoder::new(EncoderConfig { keyframe_interval_frames: 1000, ..config(160, 96) }).unwrap();
    for n in 0..5 {
        let frame = encoder.encode(&picture(&pattern.frame(n)), n as i64).unwrap();
        assert_eq!(frame.kind == FrameKind::Keyframe, n == 0);
    }
    encoder.force_keyframe().unwrap();
    let forced = encoder.encode(&picture(&pattern.frame(5)), 5).unwrap();
    assert_eq!(forced.kind, FrameKind::Keyframe);
    // A fresh decoder starts from the forced IDR alone.
    let decoded = Decoder::new().unwrap().decode(&forced.data).unwrap();
    assert!(decoded.is_some());
}

#[test]
fn bad_configurations_say_which_field_is_wrong() {
    let cases = [
        (EncoderConfig { width: 321, ..config(320, 240) }, "width 321 is odd"),
        (EncoderConfig { height: 0, ..config(320, 240) }, "height 0 is outside 16..=2160"),
        (EncoderConfig { fps: 0.0, ..config(320, 240) }, "fps 0 is outside 1..=120"),
        (EncoderConfig { fps: f32::NAN, ..config(320, 240) }, "fps NaN"),
        (EncoderConfig { bitrate_bps: 1_000_000_000, ..config(320, 240) }, "bitrate 1000000 kbit/s"),
        (EncoderConfig { keyframe_interval_frames: 0, ..config(320, 240) }, "keyframe interval 0"),
    ];
    for (cfg, message) in cases {
        let err = Encoder::new(cfg).unwrap_err();
        assert!(matches!(err, Error::InvalidConfig(_)));
        assert!(err.to_string().contains(message), "{err} should mention {message}");
    }
}

#[test]
fn pictures_of_the_wrong_size_are_refused_without_touching_the_codec() {
    let mut encoder = Encoder::new(config(64, 64)).unwrap();
    let small = I420Frame::black(32, 32).unwrap();
    let err = encoder.encode(&picture(&small), 0).unwrap_err();
    assert_eq!(err.to_string(), "invalid picture: picture is 32x32, the encoder was configured for 64x64");
    let frame = I420Frame::black(64, 64).unwrap();
    let short = Picture { y: &frame.y()[..100], ..picture(&frame) };
    assert!(encoder.encode(&short, 0).unwrap_err().to_string().contains("Y plane has 100 bytes"));
    // The encoder still works afterwards.
    assert_eq!(encoder.encode(&picture(&frame), 0).unwrap().kind, FrameKind::Keyframe);
}

#[test]
fn decoder_reports_garbage_as_an_error_or_no_picture_never_a_crash() {
    let mut decoder = Decoder::new().unwrap();
    let garbage: Vec<u8> = (0..4000u32).map(|i| (i.wrapping_mul(2654435761) >> 24) as u8).collect();
    let _ = decoder.decode(&garbage);
    let _ = decoder.decode(&[0, 0, 1, 0x65, 0xff, 0xff]);
    assert!(decoder.decode(&[]).map(|p| p.is_none()).unwrap_or(true));
}

#[test]
fn reports_the_codec_version() {
    assert!(livecast_openh264::codec_version().starts_with("2."));
}
