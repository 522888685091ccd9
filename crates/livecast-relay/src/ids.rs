//! Parsing and validating the untrusted parts of request paths: stream ids and segment file
//! names.
//!
//! Everything that reaches the file system passes through here first: a stream id is 1 to 64
//! of `A-Z a-z 0-9 _ -` (no dots, no slashes, so no `..`), and a segment number is a decimal
//! integer from 0 to [`MAX_SEQ`]. Anything else is refused, never repaired.

/// A path part that is not a valid id (the HTTP layer answers it with `400`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum InvalidId {
    /// Not a stream id ([`is_valid_name`]).
    #[error("invalid stream id")]
    StreamId,
    /// Not a segment number, or above [`MAX_SEQ`].
    #[error("invalid segment number")]
    Seq,
    /// Not a profile name ([`is_valid_profile`]).
    #[error("a profile name is 1 to 64 of A-Z a-z 0-9 _")]
    Profile,
}

/// The largest accepted segment number.
pub const MAX_SEQ: u32 = 10_000_000;
/// The longest accepted stream id.
pub const MAX_NAME_LEN: usize = 64;

/// Whether `s` is 1 to 64 of `A-Z a-z 0-9 _ -`.
pub fn is_valid_name(s: &str) -> bool {
    (1..=MAX_NAME_LEN).contains(&s.len())
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// A stream id taken from a path, checked with [`is_valid_name`].
pub fn stream_id(s: &str) -> Result<&str, InvalidId> {
    if is_valid_name(s) {
        Ok(s)
    } else {
        Err(InvalidId::StreamId)
    }
}

/// Whether `s` can be a rendition profile name: 1 to 64 of `A-Z a-z 0-9 _` (Livepeer's
/// names, e.g. `P360p30fps16x9`, and custom `custom_640x360_1000000`). It names a directory.
pub fn is_valid_profile(s: &str) -> bool {
    (1..=MAX_NAME_LEN).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// A profile name taken from a path, checked with [`is_valid_profile`].
pub fn profile(s: &str) -> Result<&str, InvalidId> {
    if is_valid_profile(s) {
        Ok(s)
    } else {
        Err(InvalidId::Profile)
    }
}

/// A segment number from `"{seq}"`: ASCII digits only (no sign, no spaces), at most
/// [`MAX_SEQ`].
pub fn seq(s: &str) -> Result<u32, InvalidId> {
    if s.is_empty() || s.len() > 8 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(InvalidId::Seq);
    }
    match s.parse::<u32>() {
        Ok(n) if n <= MAX_SEQ => Ok(n),
        _ => Err(InvalidId::Seq),
    }
}

/// The segment number of a segment file name `"{seq}.ts"`.
pub fn segment_file(name: &str) -> Result<u32, InvalidId> {
    name.strip_suffix(".ts").ok_or(InvalidId::Seq).and_then(seq)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(is_valid_name("abc-DEF_09"));
        assert!(is_valid_name(&"a".repeat(64)));
        for bad in ["", "..", ".", "a/b", "a\\b", "a.b", "a b", "%2e", "é", &"a".repeat(65)] {
            assert!(!is_valid_name(bad), "{bad:?}");
        }
    }

    #[test]
    fn profiles() {
        assert!(is_valid_profile("P360p30fps16x9"));
        assert!(is_valid_profile("custom_640x360_1000000"));
        for bad in ["", "..", "a-b", "index.m3u8", "a/b", &"a".repeat(65)] {
            assert!(profile(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn seqs() {
        assert_eq!(seq("0").unwrap(), 0);
        assert_eq!(seq("42").unwrap(), 42);
        assert_eq!(seq("10000000").unwrap(), 10_000_000);
        for bad in ["", "-1", "+1", " 1", "1 ", "1e3", "0x10", "10000001", "99999999", "4294967296", "abc"] {
            assert!(seq(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn segment_files() {
        assert_eq!(segment_file("7.ts").unwrap(), 7);
        for bad in ["7", "7.TS", "7.ts.tmp", ".ts", "-1.ts", "../7.ts", "7.m3u8"] {
            assert!(segment_file(bad).is_err(), "{bad:?}");
        }
    }
}
