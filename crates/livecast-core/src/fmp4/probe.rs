//! Reading an fMP4 init segment (HLS `EXT-X-MAP`): what the `SourceBuffer` needs to know to
//! take fMP4/CMAF segments as they are.
//!
//! The boxes are walked here by hand and only the few fields the `SourceBuffer` needs are
//! read (handler, timescale, first sample entry, `avcC`, `esds`). Decoding the `moov` with
//! mp4-atom (`Any`/`Moov`) links a decoder for every box and codec that crate knows: about
//! 120 KB of the 320 KB (gzipped) the watch-only wasm module weighed with it. The unit
//! tests check that this reads what mp4-atom reads, on good and on corrupted init segments.

use crate::Error;

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
    let moov = find(bytes, b"moov")?.ok_or_else(|| invalid("no moov box"))?;
    let mut video = None;
    let mut audio_codec = None;
    for trak in Boxes(moov) {
        let trak = trak?;
        if &trak.kind != b"trak" {
            continue;
        }
        let mdia = required(trak.body, b"mdia", "trak")?;
        let hdlr = required(mdia, b"hdlr", "mdia")?;
        // FullBox header (4), pre_defined (4), then the handler type.
        match hdlr.get(8..12).ok_or_else(|| invalid("the hdlr box is cut short"))? {
            b"vide" if video.is_none() => video = Some(video_track(mdia)?),
            b"soun" if audio_codec.is_none() => audio_codec = audio_track(mdia)?,
            _ => {}
        }
    }
    let (codec, width, height, timescale) = video.ok_or_else(|| invalid("the moov has no video track"))?;
    Ok(InitInfo { codec, audio_codec, width, height, timescale })
}

/// Codec string, width, height and timescale of a video track's `mdia`.
fn video_track(mdia: &[u8]) -> Result<(String, u32, u32, u32), Error> {
    let mdhd = required(mdia, b"mdhd", "mdia")?;
    // FullBox header, then creation and modification times: 32-bit in version 0, 64-bit in 1.
    let at = if mdhd.first() == Some(&1) { 20 } else { 12 };
    let timescale = be_u32(mdhd, at).ok_or_else(|| invalid("the mdhd box is cut short"))?;
    if timescale == 0 {
        return Err(invalid("the video track's timescale is 0"));
    }
    let entry = first_sample_entry(mdia)?.ok_or_else(|| invalid("the video track has no sample entry"))?;
    let kind = match &entry.kind {
        b"avc1" => "avc1",
        b"avc3" => "avc3",
        other => return Err(Error::UnsupportedCodec(String::from_utf8_lossy(other).into_owned())),
    };
    // VisualSampleEntry: SampleEntry (8), pre_defined/reserved (16), width, height (u16 each),
    // resolutions, reserved, frame count, compressor name, depth, pre_defined: 78 bytes, then
    // its child boxes.
    let cut = || invalid(format!("the {kind} sample entry is cut short"));
    let width = be_u16(entry.body, 24).ok_or_else(cut)?;
    let height = be_u16(entry.body, 26).ok_or_else(cut)?;
    let children = entry.body.get(78..).ok_or_else(cut)?;
    let avcc = required(children, b"avcC", kind)?;
    // configurationVersion, then profile, profile compatibility and level.
    let [profile, compatibility, level] = match avcc.get(1..4) {
        Some(&[p, c, l]) => [p, c, l],
        _ => return Err(invalid("the avcC box is cut short")),
    };
    let codec = format!("{kind}.{profile:02X}{compatibility:02X}{level:02X}");
    Ok((codec, u32::from(width), u32::from(height), timescale))
}

/// The audio track's codec string: `mp4a.<object type>.<audio object type>` from the esds
/// (`mp4a.40.2`, AAC-LC, when it has no AudioSpecificConfig), `opus`, `ac-3`, `ec-3`; `None`
/// for a track with no sample entry or another codec.
fn audio_track(mdia: &[u8]) -> Result<Option<String>, Error> {
    let Some(entry) = first_sample_entry(mdia)? else { return Ok(None) };
    match &entry.kind {
        b"mp4a" => {}
        b"Opus" => return Ok(Some("opus".into())),
        b"ac-3" => return Ok(Some("ac-3".into())),
        b"ec-3" => return Ok(Some("ec-3".into())),
        _ => return Ok(None),
    }
    // AudioSampleEntry: SampleEntry (8), version (u16) and 18 bytes of fields; QuickTime sound
    // descriptions version 1 and 2 add 16 and 36 bytes before the child boxes.
    let cut = || invalid("the mp4a sample entry is cut short");
    let extra = match be_u16(entry.body, 8).ok_or_else(cut)? {
        0 => 0,
        1 => 16,
        2 => 36,
        v => return Err(invalid(format!("unknown QuickTime sound description version {v}"))),
    };
    let children = entry.body.get(28 + extra..).ok_or_else(cut)?;
    let esds = required(children, b"esds", "mp4a")?;
    let es = descriptor(esds.get(4..).unwrap_or_default(), 0x03)?.ok_or_else(|| invalid("the esds has no ES descriptor"))?;
    // ES_ID (2), flags: stream dependence (2 more bytes), URL (length-prefixed), OCR ES id (2).
    let flags = *es.get(2).ok_or_else(|| invalid("the ES descriptor is cut short"))?;
    let mut at = 3;
    if flags & 0x80 != 0 {
        at += 2;
    }
    if flags & 0x40 != 0 {
        at += 1 + usize::from(*es.get(at).ok_or_else(|| invalid("the ES descriptor is cut short"))?);
    }
    if flags & 0x20 != 0 {
        at += 2;
    }
    let children = es.get(at..).ok_or_else(|| invalid("the ES descriptor is cut short"))?;
    let config = descriptor(children, 0x04)?.ok_or_else(|| invalid("the ES descriptor has no decoder config"))?;
    // objectTypeIndication, stream type, buffer size (3), max and average bit rates (4 + 4).
    let object_type = *config.first().ok_or_else(|| invalid("the decoder config is cut short"))?;
    let specific = descriptor(config.get(13..).unwrap_or_default(), 0x05)?;
    // AudioSpecificConfig: a 5-bit audio object type, 31 escaping to 32 + the next 6 bits.
    let audio_object_type = match specific.unwrap_or_default() {
        [] => 0,
        &[a, ..] if a >> 3 != 31 => a >> 3,
        &[a, b, ..] => 32 + (((a & 7) << 3) | (b >> 5)),
        [_] => return Err(invalid("the AudioSpecificConfig is cut short")),
    };
    let audio_object_type = if audio_object_type == 0 { 2 } else { audio_object_type };
    Ok(Some(format!("mp4a.{object_type:02x}.{audio_object_type}")))
}

/// The first sample entry in `mdia`'s `minf/stbl/stsd`, if it has one.
fn first_sample_entry(mdia: &[u8]) -> Result<Option<Mp4Box<'_>>, Error> {
    let minf = required(mdia, b"minf", "mdia")?;
    let stbl = required(minf, b"stbl", "minf")?;
    let stsd = required(stbl, b"stsd", "stbl")?;
    // FullBox header (4) and entry count (4), then the entries.
    let entries = stsd.get(8..).ok_or_else(|| invalid("the stsd box is cut short"))?;
    Boxes(entries).next().transpose()
}

/// One box: its four-character type and its body (after the header).
struct Mp4Box<'a> {
    kind: [u8; 4],
    body: &'a [u8],
}

/// The boxes one after the other in a byte range (a file, or a box's children). A box whose
/// size is invalid or runs past the end is an error, and ends the iteration.
struct Boxes<'a>(&'a [u8]);

impl<'a> Iterator for Boxes<'a> {
    type Item = Result<Mp4Box<'a>, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.0.is_empty() {
            return None;
        }
        let next = self.read();
        if next.is_err() {
            self.0 = &[];
        }
        Some(next)
    }
}

impl<'a> Boxes<'a> {
    fn read(&mut self) -> Result<Mp4Box<'a>, Error> {
        let rest = self.0;
        let cut = || invalid(format!("a box is cut short ({} bytes left)", rest.len()));
        let size = be_u32(rest, 0).ok_or_else(cut)?;
        let kind: [u8; 4] = match rest.get(4..8) {
            Some(&[a, b, c, d]) => [a, b, c, d],
            _ => return Err(cut()),
        };
        let (header, size) = match size {
            0 => (8, rest.len() as u64), // the box runs to the end of the file
            1 => (16, be_u64(rest, 8).ok_or_else(cut)?),
            n => (8, u64::from(n)),
        };
        if size < header as u64 {
            return Err(invalid(format!("the {} box has an invalid size ({size})", String::from_utf8_lossy(&kind))));
        }
        let size = usize::try_from(size).ok().filter(|&s| s <= rest.len()).ok_or_else(cut)?;
        let (this, after) = rest.split_at(size);
        self.0 = after;
        Ok(Mp4Box { kind, body: this.get(header..).unwrap_or_default() })
    }
}

/// The body of the first `kind` box among the boxes in `bytes`, if there is one.
fn find<'a>(bytes: &'a [u8], kind: &[u8; 4]) -> Result<Option<&'a [u8]>, Error> {
    for b in Boxes(bytes) {
        let b = b?;
        if &b.kind == kind {
            return Ok(Some(b.body));
        }
    }
    Ok(None)
}

/// The body of the `kind` box among `parent`'s children, which must have one.
fn required<'a>(children: &'a [u8], kind: &[u8; 4], parent: &str) -> Result<&'a [u8], Error> {
    find(children, kind)?.ok_or_else(|| invalid(format!("the {parent} box has no {} box", String::from_utf8_lossy(kind))))
}

/// The body of the first MPEG-4 descriptor (ISO/IEC 14496-1) with this tag among the
/// descriptors in `bytes`: a tag byte, a size in one to four 7-bit groups, the body.
fn descriptor(mut bytes: &[u8], tag: u8) -> Result<Option<&[u8]>, Error> {
    let cut = || invalid("a descriptor in the esds is cut short");
    while let Some((&this, rest)) = bytes.split_first() {
        let mut size = 0usize;
        let mut at = 0;
        loop {
            let b = *rest.get(at).ok_or_else(cut)?;
            size = (size << 7) | usize::from(b & 0x7F);
            at += 1;
            if b & 0x80 == 0 {
                break;
            }
            if at == 4 {
                return Err(invalid("a descriptor size in the esds is too long"));
            }
        }
        let body = rest.get(at..at + size).ok_or_else(cut)?;
        if this == tag {
            return Ok(Some(body));
        }
        bytes = rest.get(at + size..).unwrap_or_default();
    }
    Ok(None)
}

fn be_u16(bytes: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes(bytes.get(at..at + 2)?.try_into().ok()?))
}

fn be_u32(bytes: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(bytes.get(at..at + 4)?.try_into().ok()?))
}

fn be_u64(bytes: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_be_bytes(bytes.get(at..at + 8)?.try_into().ok()?))
}

fn invalid(message: impl Into<String>) -> Error {
    Error::InvalidMp4(message.into())
}
