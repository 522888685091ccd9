//! The file backend (`--storage file:DIR`, the default `DATA_DIR/streams`): segment files
//! `DIR/{stream id}/{seq}.ts` and renditions `DIR/{stream id}/{profile}/{seq}.ts`.
//!
//! A write is atomic and durable before it returns: the bytes go to a temporary file
//! (`.{seq}.ts.{random}.tmp`) in the stream's directory, are fsynced, renamed over the final
//! name, and the directory is fsynced. A crash at any point leaves either no segment or the
//! complete one, never a half-written `{seq}.ts`; leftover temporary files are removed at
//! start-up by [`FileStore::remove_temp_files`].
//!
//! Paths are built only from ids and numbers already validated by [`crate::ids`].
//!
//! The segments written last are also kept in memory, bounded in bytes
//! (`--segment-cache-bytes`, least recently used first out): they are the live edge every viewer fetches, and serving
//! them from memory costs no file open, no read and no blocking thread per request
//! ([`FileStore::recent`]). A file never changes once its row is committed, and a row is
//! required before anything is served, so an entry never serves stale bytes.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;

use super::{SegmentCache, SegmentKey};
use crate::keys;

/// Suffix of temporary files.
const TEMP_SUFFIX: &str = ".tmp";

/// Segments in a directory. The relay is its only writer: the stream lock and the database
/// row check decide what is written, so a write replaces a file that has no row (one left by
/// a write whose row was never committed).
#[derive(Debug, Clone)]
pub struct FileStore {
    streams_dir: PathBuf,
    recent: Arc<SegmentCache>,
}

impl FileStore {
    /// Uses `dir` (the streams directory itself), creating it if needed, and keeps up to
    /// `recent_bytes` of the segments written last in memory (0: none).
    pub fn open(dir: &Path, recent_bytes: u64) -> io::Result<FileStore> {
        fs::create_dir_all(dir)?;
        Ok(FileStore { streams_dir: dir.to_path_buf(), recent: Arc::new(SegmentCache::new(recent_bytes)) })
    }

    /// The directory holding every stream's directory.
    pub fn dir(&self) -> &Path {
        &self.streams_dir
    }

    /// The file of a segment key.
    pub fn path_of(&self, key: &super::SegmentKey) -> PathBuf {
        match &key.profile {
            None => self.segment_path(&key.stream, key.seq),
            Some(profile) => self.rendition_path(&key.stream, profile, key.seq),
        }
    }

    /// The directory of one stream.
    pub fn stream_dir(&self, stream_id: &str) -> PathBuf {
        debug_assert!(crate::ids::is_valid_name(stream_id));
        self.streams_dir.join(stream_id)
    }

    /// The file of one segment.
    pub fn segment_path(&self, stream_id: &str, seq: u32) -> PathBuf {
        self.stream_dir(stream_id).join(format!("{seq}.ts"))
    }

    /// Writes a segment atomically and durably (blocking: call from a blocking thread).
    pub fn write_segment(&self, stream_id: &str, seq: u32, data: &[u8]) -> io::Result<()> {
        write_atomic(&self.stream_dir(stream_id), seq, data)?;
        self.recent.insert(SegmentKey::source(stream_id, seq), Bytes::copy_from_slice(data));
        Ok(())
    }

    /// The bytes of a segment or rendition written lately by this process, if still kept.
    /// Only a key with a committed row may be served from here (as from disk): a write whose
    /// row never came is kept too, until a retry replaces it.
    pub fn recent(&self, key: &SegmentKey) -> Option<Bytes> {
        self.recent.get(key)
    }

    /// The directory of one rendition of a stream (the profile name is validated by
    /// [`crate::ids::is_valid_profile`]).
    pub fn rendition_dir(&self, stream_id: &str, profile: &str) -> PathBuf {
        debug_assert!(crate::ids::is_valid_profile(profile));
        self.stream_dir(stream_id).join(profile)
    }

    /// The file of one rendition segment: `streams/{id}/{profile}/{seq}.ts`.
    pub fn rendition_path(&self, stream_id: &str, profile: &str, seq: u32) -> PathBuf {
        self.rendition_dir(stream_id, profile).join(format!("{seq}.ts"))
    }

    /// Writes a rendition segment atomically and durably, like [`FileStore::write_segment`].
    pub fn write_rendition(&self, stream_id: &str, profile: &str, seq: u32, data: &[u8]) -> io::Result<()> {
        write_atomic(&self.rendition_dir(stream_id, profile), seq, data)?;
        self.recent.insert(SegmentKey::rendition(stream_id, profile, seq), Bytes::copy_from_slice(data));
        Ok(())
    }

    /// Reads a whole rendition segment (blocking).
    pub fn read_rendition(&self, stream_id: &str, profile: &str, seq: u32) -> io::Result<Vec<u8>> {
        fs::read(self.rendition_path(stream_id, profile, seq))
    }

    /// The profiles that have a directory under a stream, and the segment numbers with a
    /// file in each (start-up recovery).
    pub fn rendition_files(&self, stream_id: &str) -> io::Result<Vec<(String, Vec<u32>)>> {
        let dir = self.stream_dir(stream_id);
        let entries = match fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        let mut out = Vec::new();
        for entry in entries {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if entry.file_type()?.is_dir() && crate::ids::is_valid_profile(&name) {
                let seqs = seq_files(&entry.path())?;
                out.push((name, seqs));
            }
        }
        out.sort();
        Ok(out)
    }

    /// Removes one rendition file (start-up recovery: before anything was written, so nothing
    /// of it is kept in memory).
    pub fn remove_rendition(&self, stream_id: &str, profile: &str, seq: u32) -> io::Result<()> {
        fs::remove_file(self.rendition_path(stream_id, profile, seq))
    }

    /// Reads a whole segment (blocking).
    pub fn read_segment(&self, stream_id: &str, seq: u32) -> io::Result<Vec<u8>> {
        fs::read(self.segment_path(stream_id, seq))
    }

    /// Removes temporary files left by a crash mid-write, in every stream directory and its
    /// rendition directories. Returns how many were removed.
    pub fn remove_temp_files(&self) -> io::Result<usize> {
        let mut removed = 0;
        for stream in fs::read_dir(&self.streams_dir)? {
            let stream = stream?;
            if !stream.file_type()?.is_dir() {
                continue;
            }
            removed += remove_temp_files_in(&stream.path())?;
            for entry in fs::read_dir(stream.path())? {
                let entry = entry?;
                if entry.file_type()?.is_dir() {
                    removed += remove_temp_files_in(&entry.path())?;
                }
            }
        }
        Ok(removed)
    }

    /// The segment numbers that have a file in a stream's directory.
    pub fn segment_files(&self, stream_id: &str) -> io::Result<Vec<u32>> {
        let dir = self.stream_dir(stream_id);
        let entries = match fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        let mut seqs = Vec::new();
        for entry in entries {
            let name = entry?.file_name();
            if let Some(seq) = name.to_str().and_then(|n| crate::ids::segment_file(n).ok()) {
                seqs.push(seq);
            }
        }
        seqs.sort_unstable();
        Ok(seqs)
    }

    /// Removes one segment file (start-up recovery of files that were never acknowledged,
    /// before anything was written, so nothing of it is kept in memory).
    pub fn remove_segment(&self, stream_id: &str, seq: u32) -> io::Result<()> {
        fs::remove_file(self.segment_path(stream_id, seq))
    }
}

/// Writes `{dir}/{seq}.ts` through a temporary file: write, fsync, rename, fsync the directory.
fn write_atomic(dir: &Path, seq: u32, data: &[u8]) -> io::Result<()> {
    fs::create_dir_all(dir)?;
    let temp = dir.join(format!(".{seq}.ts.{}{TEMP_SUFFIX}", keys::new_temp_suffix()));
    let result = (|| {
        let mut f = OpenOptions::new().write(true).create_new(true).open(&temp)?;
        f.write_all(data)?;
        f.sync_all()?;
        drop(f);
        fs::rename(&temp, dir.join(format!("{seq}.ts")))?;
        File::open(dir)?.sync_all()
    })();
    if result.is_err() {
        let _ = fs::remove_file(&temp);
    }
    result
}

/// Removes `.*.tmp` files directly in `dir`.
fn remove_temp_files_in(dir: &Path) -> io::Result<usize> {
    let mut removed = 0;
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with('.') && name.ends_with(TEMP_SUFFIX) {
            fs::remove_file(entry.path())?;
            removed += 1;
        }
    }
    Ok(removed)
}

/// The `{seq}.ts` files directly in `dir`, ascending.
fn seq_files(dir: &Path) -> io::Result<Vec<u32>> {
    let mut seqs = Vec::new();
    for entry in fs::read_dir(dir)? {
        let name = entry?.file_name();
        if let Some(seq) = name.to_str().and_then(|n| crate::ids::segment_file(n).ok()) {
            seqs.push(seq);
        }
    }
    seqs.sort_unstable();
    Ok(seqs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_write_is_not_kept() {
        let dir = tempfile::tempdir().unwrap();
        let s = FileStore::open(&dir.path().join("streams"), 128 << 20).unwrap();
        // The stream's directory cannot be made: a file is in its place.
        fs::write(s.stream_dir("abc"), b"not a directory").unwrap();
        assert!(s.write_segment("abc", 1, b"x").is_err());
        assert!(s.recent(&SegmentKey::source("abc", 1)).is_none());
    }

    #[test]
    fn write_read_and_clean() {
        let dir = tempfile::tempdir().unwrap();
        let s = FileStore::open(&dir.path().join("streams"), 128 << 20).unwrap();
        s.write_segment("abc", 7, b"hello").unwrap();
        assert_eq!(s.read_segment("abc", 7).unwrap(), b"hello");
        assert_eq!(s.recent(&SegmentKey::source("abc", 7)).as_deref(), Some(&b"hello"[..]));
        s.write_segment("abc", 7, b"again").unwrap();
        assert_eq!(s.read_segment("abc", 7).unwrap(), b"again");
        assert_eq!(s.recent(&SegmentKey::source("abc", 7)).as_deref(), Some(&b"again"[..]), "the last write");
        assert!(s.recent(&SegmentKey::source("abc", 8)).is_none());
        assert!(s.read_segment("abc", 8).is_err());

        // A crash mid-write leaves a temp file, never a segment.
        fs::write(s.stream_dir("abc").join(".8.ts.0123.tmp"), b"half").unwrap();
        fs::write(s.stream_dir("abc").join("notes.txt"), b"x").unwrap();
        assert_eq!(s.segment_files("abc").unwrap(), [7]);
        assert_eq!(s.remove_temp_files().unwrap(), 1);
        let mut names: Vec<_> = fs::read_dir(s.stream_dir("abc"))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        assert_eq!(names, ["7.ts", "notes.txt"]);
        assert!(s.segment_files("nope").unwrap().is_empty());
        s.remove_segment("abc", 7).unwrap();
        assert!(s.segment_files("abc").unwrap().is_empty());

        s.write_rendition("abc", "P240p30fps16x9", 3, b"r").unwrap();
        assert_eq!(s.recent(&SegmentKey::rendition("abc", "P240p30fps16x9", 3)).as_deref(), Some(&b"r"[..]));
        assert_eq!(s.read_rendition("abc", "P240p30fps16x9", 3).unwrap(), b"r");
        fs::write(s.rendition_dir("abc", "P240p30fps16x9").join(".4.ts.ab.tmp"), b"half").unwrap();
        assert_eq!(s.remove_temp_files().unwrap(), 1);
        assert_eq!(s.rendition_files("abc").unwrap(), [("P240p30fps16x9".to_owned(), vec![3])]);
        assert!(s.segment_files("abc").unwrap().is_empty(), "rendition directories are not segments");
        s.remove_rendition("abc", "P240p30fps16x9", 3).unwrap();
        assert_eq!(s.rendition_files("abc").unwrap(), [("P240p30fps16x9".to_owned(), vec![])]);
    }
}
