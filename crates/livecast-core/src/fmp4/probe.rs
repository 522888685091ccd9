//! Reading an fMP4 init segment (HLS `EXT-X-MAP`): what the `SourceBuffer` needs to know to
//! take fMP4/CMAF segments as they are.

use crate::Error;
use mp4_atom::{Any, Codec, DecodeMaybe, Moov, Trak};

/// What an fMP4 init segment holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InitInfo {
    /// RFC 6381 codec string of the video track, e.g. `avc1.64001F`.
    pub codec: String,
    /// RFC 6381 codec string of the audio track, if there is one (e.g. `mp4a.40.2`).
    pub audio_codec: Option<String>,
    /// Video width in pixels.
    pub width: u32,
    /// Video height in pixels.
    pub height: u32,
    /// The video track's timescale (units per second of its decode times).
    pub timescale: u32,
}

impl InitInfo {
    /// The `codecs` parameter for every track, e.g. `avc1.64001F,mp4a.40.2`.
    pub fn codecs(&self) -> String {
        super::codecs(&self.codec, self.audio_codec.as_deref())
    }

    /// The MIME type for `MediaSource.addSourceBuffer`.
    pub fn mime_type(&self) -> String {
        super::mime_type(&self.codec, self.audio_codec.as_deref())
    }
}

/// Reads the `moov` of an fMP4 init segment (`ftyp` + `moov`, other top-level boxes are
/// skipped): the video track's codec, size and timescale, and the audio track's codec.
/// H.264 (`avc1`/`avc3`) video is supported; anything else is [`Error::UnsupportedCodec`].
pub fn probe_init(bytes: &[u8]) -> Result<InitInfo, Error> {
    let moov = find_moov(bytes)?;
    let mut video = None;
    let mut audio_codec = None;
    for trak in &moov.trak {
        match &trak.mdia.hdlr.handler.to_string()[..] {
            "vide" if video.is_none() => video = Some(video_track(trak)?),
            "soun" if audio_codec.is_none() => audio_codec = audio_track(trak),
            _ => {}
        }
    }
    let (codec, width, height, timescale) = video.ok_or_else(|| Error::InvalidMp4("the moov has no video track".into()))?;
    Ok(InitInfo { codec, audio_codec, width, height, timescale })
}

fn find_moov(bytes: &[u8]) -> Result<Moov, Error> {
    let mut rest = bytes;
    loop {
        match Any::decode_maybe(&mut rest) {
            Ok(Some(Any::Moov(moov))) => return Ok(moov),
            Ok(Some(_)) => {}
            Ok(None) if rest.is_empty() => return Err(Error::InvalidMp4("no moov box".into())),
            Ok(None) => return Err(Error::InvalidMp4(format!("a box is cut short ({} bytes left)", rest.len()))),
            Err(e) => return Err(Error::InvalidMp4(e.to_string())),
        }
    }
}

fn video_track(trak: &Trak) -> Result<(String, u32, u32, u32), Error> {
    let timescale = trak.mdia.mdhd.timescale;
    if timescale == 0 {
        return Err(Error::InvalidMp4("the video track's timescale is 0".into()));
    }
    let entry = trak.mdia.minf.stbl.stsd.codecs.first().ok_or_else(|| Error::InvalidMp4("the video track has no sample entry".into()))?;
    let (kind, visual, avcc) = match entry {
        Codec::Avc1(avc1) => ("avc1", &avc1.visual, &avc1.avcc),
        Codec::Avc3(avc3) => ("avc3", &avc3.visual, &avc3.avcc),
        other => return Err(Error::UnsupportedCodec(sample_entry_name(other))),
    };
    let codec = format!(
        "{kind}.{:02X}{:02X}{:02X}",
        avcc.avc_profile_indication, avcc.profile_compatibility, avcc.avc_level_indication
    );
    Ok((codec, u32::from(visual.width), u32::from(visual.height), timescale))
}

/// The sample entry's four-character code (`hvc1`, `vp09`...), for the error message.
fn sample_entry_name(codec: &Codec) -> String {
    let debug = format!("{codec:?}");
    debug.split('(').next().unwrap_or_default().to_ascii_lowercase()
}

/// `mp4a.<audio object type>` from the esds, or `mp4a.40.2` (AAC-LC) when it says none.
fn audio_track(trak: &Trak) -> Option<String> {
    match trak.mdia.minf.stbl.stsd.codecs.first()? {
        Codec::Mp4a(mp4a) => {
            let dec = &mp4a.esds.es_desc.dec_config;
            let object_type = dec.dec_specific.as_ref().map_or(0, |d| d.profile);
            Some(format!("mp4a.{:02x}.{}", dec.object_type_indication, if object_type == 0 { 2 } else { object_type }))
        }
        Codec::Opus(_) => Some("opus".into()),
        Codec::Ac3(_) => Some("ac-3".into()),
        Codec::Eac3(_) => Some("ec-3".into()),
        _ => None,
    }
}
