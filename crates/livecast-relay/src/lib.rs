//! Livecast's relay: a browser broadcaster uploads MPEG-TS segments of a live stream, the
//! relay stores them durably and serves live HLS of the source.
//!
//! What it does:
//! - `POST /api/streams` creates a stream and returns its id, a one-time stream key and the
//!   playback URL; `GET /api/streams/{id}` reports its state; `POST /api/streams/{id}/end`
//!   ends it.
//! - `PUT /live/{id}/{seq}.ts` ingests one segment. The relay reads duration and timestamps
//!   from the segment itself ([`livecast_core::ts::probe_segment`]); the optional
//!   `Content-Duration` and `Livecast-Capture-Start` headers are hints, never required.
//!   Uploads are idempotent per `seq` and every `2xx` means the segment is in its store (a
//!   file on disk, or an object in an S3-compatible bucket) and in the database: a relay
//!   killed with `SIGKILL` comes back with every acknowledged segment.
//! - `GET /hls/{id}/index.m3u8` and `GET /hls/{id}/{seq}.ts` serve HLS: a sliding window
//!   while live, the complete list (VOD) once ended.
//! - Static files (the demo pages and the wasm package) under `/www/` and `/pkg/`.
//!
//! - With `--transcoder` nodes: `POST /api/transcoders/info` proxies the broadcaster's
//!   signed discovery request to every node; an upload carrying `Livepeer-Segment` and
//!   `Livecast-Transcoder` is forwarded to that node, its renditions checked and stored, and
//!   `GET /hls/{id}/master.m3u8` serves the ladder ([`transcoders`]).
//!
//! What it does NOT do: transcode itself, re-mux, repair timestamps, sign segments, or
//! authenticate viewers.
//!
//! Modules, one job each, depending on each other in one direction only (a test reads the
//! sources and fails on a cycle: `tests/module_graph.rs`):
//! - [`clock`]: the wall clock. [`deadlines`]: how long nodes' work may take, and when a
//!   rendition that has not come is a gap.
//! - [`config`]: command-line flags and environment variables, checked into [`Settings`].
//! - [`error`]: the one [`AppError`] type and its JSON body.
//! - [`extract`]: extractors whose rejections come back as [`AppError`].
//! - [`ids`]: stream ids and segment numbers: parsing and validation of untrusted paths
//!   (its own error, answered `400` by [`error`]).
//! - [`keys`]: random ids and keys, hashing, constant-time comparison, bearer tokens.
//! - [`db`]: the metadata store (streams, acknowledged segments, renditions) in SQLite or
//!   PostgreSQL, with its own error type; its callers choose how to answer it.
//! - [`storage`]: where segment bytes live: files on disk or objects in an S3-compatible
//!   store, the cache of recent ones, start-up clean-up of the files.
//! - [`playlist`]: the HLS media, rendition and master playlists, built with `m3u8-rs`.
//! - [`sanity`]: timing and H.264 checks of an uploaded segment (`422`).
//! - [`window`]: live playlists in O(window): the rows before the window, kept per stream.
//! - [`transcoders`]: the node registry, gRPC discovery, forwarding and result checks.
//! - [`state`]: the shared application state and start-up recovery.
//! - [`routes`]: the HTTP API, ingest, HLS and static routes; [`app`] assembles them.

#![warn(missing_docs)]

pub mod clock;
pub mod config;
pub mod db;
pub mod deadlines;
pub mod error;
pub mod extract;
pub mod ids;
pub mod keys;
pub mod playlist;
pub mod routes;
pub mod sanity;
pub mod state;
pub mod storage;
pub mod transcoders;
pub mod window;
#[cfg(test)]
mod test_media;
#[cfg(test)]
mod test_postgres;

pub use config::Config;
pub use error::AppError;
pub use routes::app;
pub use config::Settings;
pub use state::AppState;
