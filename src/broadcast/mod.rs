//! The broadcast stage's logic that does not need a browser: audio capture times, segment
//! upload policy (retries, backoff, the bounded queue), each segment's upload as a sans-I/O
//! state machine (node failover, payment refusals, gaps: [`attempt`]), the stats the `Broadcaster` reports, and the
//! Livepeer broadcaster's side of transcoding (session key, node choice, signed segments).
//! The browser side (Worker, `fetch`, events) is in `js/broadcaster/`.

pub mod attempt;
pub mod audio_clock;
pub mod payment;
pub mod stats;
pub mod transcode;
pub mod upload;
