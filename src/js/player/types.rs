//! The Player's TypeScript declarations beyond what wasm-bindgen writes for the class: its
//! options, events and their payloads, for the package's `.d.ts` (checked against what the
//! Player really sends by the E2E tests, `tests/support/dts.mjs`).

use wasm_bindgen::prelude::*;

#[wasm_bindgen(typescript_custom_section)]
const TS_TYPES: &str = r#"
/** A retry policy: how often and how patiently a request is retried. */
export interface PlayerRetryPolicy {
  /** Retries after the first attempt. */
  maxRetries?: number;
  /** Delay before the first retry, ms. */
  retryDelayMs?: number;
  /** How the delay grows. */
  backoff?: "constant" | "linear" | "exponential";
}

/** Options of `new Player(video, config)`. Every one has a default. */
export interface PlayerConfig {
  /** Segments behind the live edge where playback starts. Default 3 (as hls.js). */
  liveSyncSegments?: number;
  /** Latency catch-up aims at, s. Default: `liveSyncSegments` × the target duration. */
  targetLatencySeconds?: number;
  /** Latency beyond which the player jumps to the live edge, s. Default: the target plus three target durations. */
  maxLatencySeconds?: number;
  /** Fastest catch-up playback rate, 1..2 (1: no catch-up). Default 1.1. */
  maxCatchUpRate?: number;
  /** Media loaded ahead of the playhead, s. Default 30. */
  maxBufferSeconds?: number;
  /** Media kept behind the playhead, s (older media is removed from the SourceBuffer). Default 30. */
  backBufferSeconds?: number;
  /** Playlist loads and live reloads. Default `{ maxRetries: 4, retryDelayMs: 500, backoff: "exponential" }`. */
  playlistRetry?: PlayerRetryPolicy;
  /** Segment loads; a segment still failing after them is skipped. Default `{ maxRetries: 3, retryDelayMs: 250, backoff: "exponential" }`. */
  segmentRetry?: PlayerRetryPolicy;
  /** Request timeout, ms. Default 10000. */
  requestTimeoutMs?: number;
  /** Throughput assumed before the first download, bit/s. Default 1000000. */
  defaultBandwidth?: number;
  /** Level to start with. Default: chosen from `defaultBandwidth`. */
  startLevel?: number;
}

/** One rendition. */
export interface PlayerLevel {
  /** "720p", or the bit rate when the playlist gives no resolution. */
  name: string;
  width: number | null;
  height: number | null;
  /** BANDWIDTH of the master playlist (bit/s); 0 for a lone media playlist. */
  bitrate: number;
  /** Its media playlist's URL. */
  url: string;
}

/** What failed, by hls.js's names (the Player `error` event's `details`). */
export type PlayerErrorDetails =
  | "manifestLoadError" | "manifestParsingError" | "levelLoadError" | "fragLoadError"
  | "fragGap" | "fragParsingError" | "bufferAppendError" | "bufferFullError" | "mediaError";

/**
 * The `error` event's detail: Livecast's `code`/`message`/`fatal` plus hls.js's `type` and
 * `details`. When `fatal` is true, playback stopped; call `load` again or give up.
 */
export interface PlayerErrorEvent extends LivecastErrorEvent {
  type: "network" | "media" | "mux" | "other";
  details: PlayerErrorDetails;
  /** The media sequence number of the segment concerned, if any. */
  sequence?: number;
  /** The URL concerned, if any. */
  url?: string;
}

/** Playback statistics (the `stats` getter). */
export interface PlayerStats {
  /** Throughput estimate, bit/s. */
  bandwidthEstimate: number;
  /** Media buffered ahead of the playhead, s. */
  bufferSeconds: number;
  /** Seconds behind live (null for VOD or before playback). */
  latency: number | null;
  /** Level of the segment playing (-1 before any). */
  level: number;
  /** Stalls since `load`, and their total time. */
  stalls: number;
  stalledMs: number;
  /** Segments appended, skipped (failed after retries, or gaps on every level). */
  fragments: number;
  skipped: number;
  /** Segment downloads (VOD) aborted because a seek made them unneeded. */
  abortedBySeek: number;
  /** SourceBuffer pipeline resets after media errors (at most one). */
  mediaResets: number;
  /** "mse" or "native" (the browser plays HLS itself). */
  mode: string;
  /** The audio codec of what plays (e.g. `"mp4a.40.2"`), null without audio (or in native mode). */
  audioCodec: string | null;
  /**
   * True once the Player turned live catch-up by playback rate off for this session: a rate
   * change froze the picture (WebKitGTK with sound). It then keeps near the edge by jumps.
   */
  catchUpOff: boolean;
}

/** Events and their details. */
export interface PlayerEventMap {
  manifestLoaded: { url: string; levels: PlayerLevel[]; live: boolean };
  levelSwitched: { level: number; previous: number; auto: boolean };
  fragmentBuffered: { sequence: number; level: number; duration: number; bytes: number; loadMs: number; start: number; end: number };
  stalled: { position: number; count: number; level: number };
  latency: { latency: number; target: number; playbackRate: number };
  error: PlayerErrorEvent;
}

export interface Player {
  /** hls.js-style subscription, typed per event; returns a function that unsubscribes. */
  on<K extends keyof PlayerEventMap>(kind: K, callback: (detail: PlayerEventMap[K]) => void): () => void;
}
"#;
