//! The broadcast stage's logic that does not need a browser: segment upload policy
//! (retries, backoff, the bounded queue) and the stats the `Broadcaster` reports.
//! The browser side (Worker, `fetch`, events) is in `js/broadcaster.rs`.

pub mod stats;
pub mod upload;
