//! Master and media playlists, parsed with `m3u8-rs` into the little the player needs.
//!
//! `m3u8-rs` attaches EXT-X-MAP and EXT-X-PROGRAM-DATE-TIME only to the segment they
//! precede and leaves EXT-X-GAP as an unknown tag; this module carries the map forward,
//! extrapolates dates across segments without one, and turns the gap tag into a flag.
//! URIs stay as written (relative or absolute): the glue resolves them against the
//! playlist's URL with the browser's `URL`.

use super::error::PlayerError;
use m3u8_rs::Playlist;

/// One rendition of a master playlist (or the single one of a media playlist).
#[derive(Debug, Clone, PartialEq)]
pub struct Variant {
    /// Its media playlist's URI, as written.
    pub uri: String,
    /// Peak bit rate, bit/s (BANDWIDTH).
    pub bandwidth: u64,
    /// Width, when RESOLUTION says.
    pub width: Option<u32>,
    /// Height, when RESOLUTION says.
    pub height: Option<u32>,
    /// CODECS, when given.
    pub codecs: Option<String>,
    /// A display name: "720p", or the bit rate when the resolution is unknown.
    pub name: String,
}

/// One media segment.
#[derive(Debug, Clone, PartialEq)]
pub struct Segment {
    /// Media sequence number.
    pub sequence: u64,
    /// URI as written.
    pub uri: String,
    /// EXTINF duration, s.
    pub duration: f64,
    /// Preceded by EXT-X-DISCONTINUITY.
    pub discontinuity: bool,
    /// Discontinuity sequence number (EXT-X-DISCONTINUITY-SEQUENCE plus those before it).
    pub discontinuity_sequence: u64,
    /// Marked EXT-X-GAP: there is no media; never load it.
    pub gap: bool,
    /// Wall-clock time of its first frame, ms since the Unix epoch (EXT-X-PROGRAM-DATE-TIME,
    /// given or extrapolated from an earlier segment's).
    pub program_date_time_ms: Option<f64>,
    /// The EXT-X-MAP init segment URI in force (fMP4 streams), as written.
    pub init_uri: Option<String>,
    /// Start on the playlist's own timeline: sum of the durations before it, s.
    pub start: f64,
}

/// A media playlist.
#[derive(Debug, Clone, PartialEq)]
pub struct MediaPlaylist {
    /// EXT-X-TARGETDURATION, s.
    pub target_duration: f64,
    /// The first segment's media sequence number.
    pub media_sequence: u64,
    /// The segments, in order.
    pub segments: Vec<Segment>,
    /// EXT-X-ENDLIST: the stream will not grow.
    pub ended: bool,
}

/// A parsed playlist: a master (the variants, lowest bandwidth first) or a media one.
#[derive(Debug, Clone, PartialEq)]
pub enum Parsed {
    /// Variants, sorted by bandwidth ascending (I-frame-only ones left out).
    Master(Vec<Variant>),
    /// A media playlist.
    Media(MediaPlaylist),
}

/// Parses a playlist downloaded from `url` (the URL only names it in errors).
pub fn parse(bytes: &[u8], url: &str) -> Result<Parsed, PlayerError> {
    let error = |reason: String| PlayerError::PlaylistParse { url: url.to_string(), reason };
    if !bytes.starts_with(b"#EXTM3U") && !bytes.starts_with(b"\xEF\xBB\xBF#EXTM3U") {
        return Err(error("it does not start with #EXTM3U".into()));
    }
    match m3u8_rs::parse_playlist_res(bytes) {
        Ok(Playlist::MasterPlaylist(m)) => {
            let mut variants: Vec<Variant> = m.variants.into_iter().filter(|v| !v.is_i_frame).map(variant).collect();
            if variants.is_empty() {
                return Err(error("a master playlist without variants".into()));
            }
            variants.sort_by_key(|v| v.bandwidth);
            Ok(Parsed::Master(variants))
        }
        Ok(Playlist::MediaPlaylist(m)) => Ok(Parsed::Media(media(m))),
        Err(e) => Err(error(format!("{e:?}").chars().take(200).collect())),
    }
}

fn variant(v: m3u8_rs::VariantStream) -> Variant {
    let (width, height) = match &v.resolution {
        Some(r) => (u32::try_from(r.width).ok(), u32::try_from(r.height).ok()),
        None => (None, None),
    };
    let name = match height {
        Some(h) => format!("{h}p"),
        None => format!("{} kbit/s", v.bandwidth / 1000),
    };
    Variant { uri: v.uri, bandwidth: v.bandwidth, width, height, codecs: v.codecs, name }
}

fn media(m: m3u8_rs::MediaPlaylist) -> MediaPlaylist {
    let mut segments = Vec::with_capacity(m.segments.len());
    let mut start = 0.0;
    let mut discontinuity_sequence = m.discontinuity_sequence;
    let mut init_uri: Option<String> = None;
    let mut date: Option<f64> = None;
    for (i, s) in m.segments.into_iter().enumerate() {
        if s.discontinuity {
            discontinuity_sequence += 1;
        }
        if let Some(map) = &s.map {
            init_uri = Some(map.uri.clone());
        }
        if let Some(pdt) = s.program_date_time {
            date = Some(pdt.timestamp_millis() as f64);
        }
        let duration = f64::from(s.duration).max(0.0);
        let gap = s.unknown_tags.iter().any(|t| t.tag == "X-GAP");
        segments.push(Segment {
            sequence: m.media_sequence + i as u64,
            uri: s.uri,
            duration,
            discontinuity: s.discontinuity,
            discontinuity_sequence,
            gap,
            program_date_time_ms: date,
            init_uri: init_uri.clone(),
            start,
        });
        start += duration;
        date = date.map(|d| d + duration * 1000.0);
    }
    MediaPlaylist { target_duration: m.target_duration as f64, media_sequence: m.media_sequence, segments, ended: m.end_list }
}

impl MediaPlaylist {
    /// The segment with media sequence number `sequence`, if still listed.
    pub fn segment(&self, sequence: u64) -> Option<&Segment> {
        let index = sequence.checked_sub(self.media_sequence)?;
        self.segments.get(usize::try_from(index).ok()?)
    }

    /// One past the last segment's sequence number.
    pub fn end_sequence(&self) -> u64 {
        self.media_sequence + self.segments.len() as u64
    }

    /// Total duration of the listed segments, s.
    pub fn duration(&self) -> f64 {
        self.segments.iter().map(|s| s.duration).sum()
    }

    /// Wall-clock time of the live edge (the end of the last segment), ms, when dated.
    pub fn edge_date_ms(&self) -> Option<f64> {
        let last = self.segments.last()?;
        Some(last.program_date_time_ms? + last.duration * 1000.0)
    }

    /// The segment in this playlist that best matches one from another level: the same
    /// program date when both are dated (levels of one ladder may number differently),
    /// else the same sequence number (aligned ladders, as our relay makes).
    pub fn matching(&self, other: &Segment) -> Option<u64> {
        if let Some(date) = other.program_date_time_ms {
            let dated = self.segments.iter().filter(|s| s.program_date_time_ms.is_some());
            if let Some(s) = dated
                .clone()
                .find(|s| {
                    let d = s.program_date_time_ms.unwrap_or(0.0);
                    date >= d - 1.0 && date < d + s.duration * 1000.0 - 1.0
                })
            {
                return Some(s.sequence);
            }
            if dated.count() > 0 && self.segment(other.sequence).is_none() {
                return None;
            }
        }
        self.segment(other.sequence).map(|s| s.sequence)
    }
}

/// Test playlists: `n` 2 s segments numbered from 10 (target duration 2), ended or live,
/// dated every 2 s from `dated_from_ms` (ms since the epoch, within 1970-01-01) when given.
#[cfg(test)]
pub(crate) fn test_playlist(n: usize, ended: bool, dated_from_ms: Option<f64>) -> MediaPlaylist {
    let iso = |ms: f64| {
        let total = (ms / 1000.0).floor() as u64;
        format!("1970-01-01T{:02}:{:02}:{:02}.{:03}Z", total / 3600, total / 60 % 60, total % 60, (ms % 1000.0) as u64)
    };
    let mut text = String::from("#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:10\n");
    for i in 0..n {
        if let Some(t0) = dated_from_ms {
            text += &format!("#EXT-X-PROGRAM-DATE-TIME:{}\n", iso(t0 + i as f64 * 2000.0));
        }
        text += &format!("#EXTINF:2.0,\n{}.ts\n", 10 + i);
    }
    if ended {
        text += "#EXT-X-ENDLIST\n";
    }
    match parse(text.as_bytes(), "test").expect("a valid test playlist") {
        Parsed::Media(p) => p,
        Parsed::Master(_) => unreachable!("a media playlist"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MASTER: &str = "#EXTM3U\n#EXT-X-VERSION:3\n\
        #EXT-X-STREAM-INF:BANDWIDTH=2500000,RESOLUTION=1280x720,CODECS=\"avc1.42c01f\"\nsource/index.m3u8\n\
        #EXT-X-STREAM-INF:BANDWIDTH=600000,RESOLUTION=426x240\nP240p30fps16x9/index.m3u8\n\
        #EXT-X-I-FRAME-STREAM-INF:BANDWIDTH=100000,URI=\"iframes.m3u8\"\n\
        #EXT-X-STREAM-INF:BANDWIDTH=1200000\nmid.m3u8\n";

    const LIVE: &str = "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:7\n\
        #EXT-X-DISCONTINUITY-SEQUENCE:1\n\
        #EXT-X-PROGRAM-DATE-TIME:2026-01-01T00:00:00.000Z\n#EXTINF:2.000,\n7.ts\n\
        #EXT-X-GAP\n#EXTINF:2.000,\n8.ts\n\
        #EXT-X-DISCONTINUITY\n#EXTINF:1.500,\n9.ts\n";

    #[test]
    fn master_variants_sorted_without_iframe_streams() {
        let Parsed::Master(v) = parse(MASTER.as_bytes(), "m").unwrap() else { panic!("not a master") };
        let names: Vec<_> = v.iter().map(|v| (v.name.as_str(), v.bandwidth, v.uri.as_str())).collect();
        assert_eq!(
            names,
            [("240p", 600_000, "P240p30fps16x9/index.m3u8"), ("1200 kbit/s", 1_200_000, "mid.m3u8"), ("720p", 2_500_000, "source/index.m3u8")]
        );
        assert_eq!((v[2].width, v[2].height, v[2].codecs.as_deref()), (Some(1280), Some(720), Some("avc1.42c01f")));
    }

    #[test]
    fn live_media_playlist_gap_discontinuity_and_dates() {
        let Parsed::Media(p) = parse(LIVE.as_bytes(), "l").unwrap() else { panic!("not media") };
        assert!(!p.ended);
        assert_eq!((p.target_duration, p.media_sequence, p.end_sequence()), (2.0, 7, 10));
        let s: Vec<_> = p.segments.iter().map(|s| (s.sequence, s.gap, s.discontinuity, s.discontinuity_sequence, s.start)).collect();
        assert_eq!(s, [(7, false, false, 1, 0.0), (8, true, false, 1, 2.0), (9, false, true, 2, 4.0)]);
        let base = 1_767_225_600_000.0;
        assert_eq!(p.segments[0].program_date_time_ms, Some(base));
        assert_eq!(p.segments[2].program_date_time_ms, Some(base + 4000.0), "extrapolated");
        assert_eq!(p.edge_date_ms(), Some(base + 5500.0));
        assert_eq!(p.segment(8).map(|s| s.uri.as_str()), Some("8.ts"));
        assert!(p.segment(6).is_none() && p.segment(10).is_none());
        assert_eq!(p.duration(), 5.5);
    }

    #[test]
    fn vod_fmp4_map_is_carried_forward() {
        let text = "#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-TARGETDURATION:2\n#EXT-X-PLAYLIST-TYPE:VOD\n\
            #EXT-X-MAP:URI=\"init.mp4\"\n#EXTINF:2,\na.m4s\n#EXTINF:2,\nb.m4s\n#EXT-X-ENDLIST\n";
        let Parsed::Media(p) = parse(text.as_bytes(), "v").unwrap() else { panic!("not media") };
        assert!(p.ended);
        assert_eq!(p.segments[1].init_uri.as_deref(), Some("init.mp4"));
        assert_eq!(p.segments[0].program_date_time_ms, None);
    }

    #[test]
    fn matching_segment_by_date_then_sequence() {
        let Parsed::Media(a) = parse(LIVE.as_bytes(), "a").unwrap() else { panic!() };
        let shifted = LIVE.replace("MEDIA-SEQUENCE:7", "MEDIA-SEQUENCE:100").replace("7.ts", "100.ts");
        let Parsed::Media(b) = parse(shifted.as_bytes(), "b").unwrap() else { panic!() };
        assert_eq!(b.matching(&a.segments[1]), Some(101), "same date, other numbering");
        let undated = LIVE.replace("#EXT-X-PROGRAM-DATE-TIME:2026-01-01T00:00:00.000Z\n", "");
        let Parsed::Media(c) = parse(undated.as_bytes(), "c").unwrap() else { panic!() };
        assert_eq!(a.matching(&c.segments[2]), Some(9), "by sequence");
        assert_eq!(c.matching(&a.segments[0]), Some(7));
    }

    #[test]
    fn garbage_is_a_clear_error() {
        let e = parse(b"<html>not found</html>", "https://x/p.m3u8").unwrap_err();
        assert!(e.to_string().contains("https://x/p.m3u8") && e.to_string().contains("#EXTM3U"), "{e}");
        let only_iframes = "#EXTM3U\n#EXT-X-I-FRAME-STREAM-INF:BANDWIDTH=1,URI=\"i.m3u8\"\n#EXT-X-STREAM-INF:BANDWIDTH=2\n";
        assert!(parse(only_iframes.as_bytes(), "m").is_err() || matches!(parse(only_iframes.as_bytes(), "m"), Ok(Parsed::Master(v)) if v.len() == 1));
    }
}
