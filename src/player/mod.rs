//! The HLS player's logic, in plain Rust and tested natively: everything the wasm `Player`
//! (in `js::player`) decides is decided here, and the glue only performs it with
//! MediaSource, SourceBuffer and `fetch`.
//!
//! - [`config`]: the settings with their documented defaults, and retry policies as data.
//! - [`playlist`]: master and media playlists (on `m3u8-rs`), with EXT-X-GAP,
//!   EXT-X-DISCONTINUITY, EXT-X-ENDLIST, EXT-X-MAP and EXT-X-PROGRAM-DATE-TIME.
//! - [`abr`]: which level to load next (EWMA throughput plus buffer level).
//! - [`levels`]: forced, emergency or ABR level for the next segment, around gaps and
//!   levels that failed to load; when a level's playlist must be reloaded first.
//! - [`live`]: where to start in a live playlist, catch-up playback rate, jumps to the edge,
//!   reload cadence.
//! - [`loader`]: what the loader does next (evict, follow a seek, wait, restart behind the
//!   live edge, end the stream, load), sans-I/O.
//! - [`monitor`]: the 250 ms playback monitor (stalls, holes, DVR, catch-up, jumps to the
//!   edge), sans-I/O: time and the element's state in, actions out.
//! - [`buffer`]: buffered-range arithmetic and back-buffer eviction plans.
//! - [`seek`]: where the loader jumps when the playhead leaves what is buffered in a VOD.
//! - [`session`]: where the loader stands and what each outcome (appended, given up,
//!   unparsable, a media error) does to it, answered as actions and events, sans-I/O.
//! - [`timeline`]: what was appended where, for latency and for mapping positions to segments.
//! - [`error`]: the player's errors, classified the way hls.js classifies them.

pub mod abr;
pub mod buffer;
pub mod config;
pub mod error;
pub mod levels;
pub mod live;
pub mod loader;
pub mod monitor;
pub mod playlist;
pub mod seek;
pub mod session;
pub mod timeline;

pub use config::{Backoff, PlayerConfig, RetryPolicy};
pub use error::{ErrorType, PlayerError};
