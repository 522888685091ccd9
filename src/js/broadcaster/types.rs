//! The Broadcaster's TypeScript declarations beyond what wasm-bindgen writes for the class:
//! its options, `stop()`'s result, its stats and events, for the package's `.d.ts` (checked
//! against what the Broadcaster really sends by the E2E tests, `tests/support/dts.mjs`).

use wasm_bindgen::prelude::*;

#[wasm_bindgen(typescript_custom_section)]
const TS_TYPES: &str = r#"
/** Options of `new Broadcaster(...)`. */
export interface BroadcasterOptions {
  /** The relay's base URL, e.g. `"https://relay.example.com"`. */
  relayUrl: string;
  /** The stream's id (from `POST /api/streams`). */
  streamId: string;
  /** The stream's secret key (from `POST /api/streams`). */
  streamKey: string;
  /** Capture and encoding settings. */
  video?: {
    /** Default 1280. */ width?: number;
    /** Default 720. */ height?: number;
    /** Default 30. */ fps?: number;
    /** Default 2500. */ bitrateKbps?: number;
  };
  /** Target segment length in seconds (a segment is cut at the first keyframe after it). Default 2. */
  segmentSeconds?: number;
  /** Segments kept for upload when the network is slow; older ones are dropped. Default 8. */
  maxQueuedSegments?: number;
  /**
   * Which encoder: `"webcodecs"` (the browser's VideoEncoder, often hardware),
   * `"openh264"` (openh264 in wasm, the same output everywhere), or `"auto"` (default):
   * WebCodecs when it supports H.264 Constrained Baseline at the capture size, else openh264.
   */
  encoder?: "auto" | "webcodecs" | "openh264";
  /**
   * openh264 Workers encoding segments in parallel (1..=8). Default: enough for the pixel
   * rate, at most `navigator.hardwareConcurrency`. With more than one, a segment is
   * uploaded once it and every earlier segment are encoded: up to one segment of latency.
   */
  encoderWorkers?: number;
  /**
   * Sound: `true` (default: AAC-LC at 128 kbit/s, 2 channels, 48 kHz), `false` (no
   * microphone is asked for), or settings. `start()` asks for camera and microphone
   * together; `start(stream)` uses the stream's first audio track. Without a microphone, or
   * with access to it refused, the broadcast goes on without sound after a non-fatal
   * `NO_MICROPHONE` error event. Audio is read and encoded in the encode worker, on the
   * camera's capture clock.
   */
  audio?: boolean | BroadcastAudioOptions;
  /**
   * Which AAC encoder: `"webcodecs"` (the browser's AudioEncoder; not in Linux Chromium or
   * Firefox), `"fdk-aac"` (FDK AAC in wasm, everywhere), or `"auto"` (default): WebCodecs
   * when `isConfigSupported` accepts the configuration, else FDK AAC. `stats.audioEncoder`
   * says which runs and why.
   */
  audioEncoder?: "auto" | "webcodecs" | "fdk-aac";
  /**
   * Transcoding by Livepeer-protocol nodes behind the relay: `true` for the default ladder
   * (Livepeer's 720p/360p/240p rungs below the capture height), or the profile names and
   * the highest price accepted (wei per pixel, default 0: free nodes only). A session key
   * made in this page signs every segment; each segment goes to the best node and, if it
   * fails, to up to two others. Default: off (the source only).
   */
  transcode?: boolean | { profiles?: string[]; maxPricePerPixel?: number };
  /**
   * Pay transcoder nodes with Livepeer tickets from a wallet (turns `transcode` on with the
   * default ladder when it is not set). `mode: "session"` (default): a session key derived
   * from the wallet (one `personal_sign`) is the ticket sender and signs silently; at
   * `start()` the wallet tops its deposit and reserve up to `deposit`/`reserve` with one
   * `fundDepositAndReserveFor` transaction when they fall short (show
   * `wallet.fundingNeeded(...)` to the user first). `mode: "wallet"`: the wallet is the
   * sender and signs discovery, every segment and every ticket with `personal_sign` (its own
   * deposit must be funded). Nodes above `maxPricePerPixel` (wei per output pixel) are
   * refused with `PRICE_TOO_HIGH`.
   */
  payment?: {
    wallet: Wallet;
    /** The TicketBroker's address. */
    broker: string;
    mode?: "session" | "wallet";
    maxPricePerPixel: number;
    /** Wei the sender's deposit should hold (winning tickets are paid from it). */
    deposit: Wei;
    /** Wei the sender's reserve should hold. */
    reserve: Wei;
  };
}

/** Options of `stop()`. */
export interface StopOptions {
  /**
   * How long to wait for the segments still queued or uploading, ms, once the encoder has
   * cut the last one. Default 15000; at most 600000.
   */
  drainTimeoutMs?: number;
}

export interface Broadcaster {
  /**
   * Stops: the encoder cuts the last segment, what is queued is uploaded (waiting up to
   * `drainTimeoutMs`, default 15 s), the relay is told the stream ended and the camera is
   * released if the Broadcaster opened it. Resolves when `state` is `"ended"`.
   */
  stop(options?: StopOptions): Promise<StopResult>;
}

/** What `stop()` resolves to. */
export interface StopResult {
  /** Segments the relay acknowledged over the whole broadcast. */
  segmentsAcknowledged: number;
  /**
   * Segments the relay had not acknowledged when the drain timeout ran out (empty when
   * everything was uploaded): the stream may lack them. Also reported as a `SEGMENT_DROPPED`
   * error event. The first may be an upload still in flight, whose `segment` event can
   * follow; the rest were never sent.
   */
  segmentsNotConfirmed: number[];
}

/** `idle` → `connecting` → `live` ⇄ `reconnecting` → `ended`. */
export type BroadcasterState = "idle" | "connecting" | "live" | "reconnecting" | "ended";

/** The `stats` event's detail, sent about once a second while broadcasting. */
export interface BroadcastStats {
  capturedFps: number;
  encodedFps: number;
  encodeMsP50: number;
  encodeMsP95: number;
  outputKbps: number;
  /** Frames the camera delivered that the encoder did not take (it was busy), since the start. A camera slower than `video.fps` shows in `capturedFps`, not here. */
  droppedFrames: number;
  /** Segments waiting for upload. */
  uploadQueue: number;
  /** Duration of the last acknowledged upload, ms (null before the first). */
  lastUploadMs: number | null;
  segmentsAcknowledged: number;
  /** Segments given up without upload (queue full, rejected, relay unreachable). */
  segmentsDropped: number;
  /** Which encoder runs, and why. */
  encoder: string;
  /** Which audio encoder runs, and why (null without sound). */
  audioEncoder: string | null;
  /** AAC frames encoded in the last report's window, per second (about 46.9 at 48 kHz). */
  audioFps: number;
  /** Audio dropped since the start, in 1024-sample frames (blocks the worker could not take). */
  audioDroppedFrames: number;
  /** The microphone's peak level over the report's window, 0..=1 (for a level meter). */
  audioLevel: number;
  /** Tickets sent in payments nodes accepted (0 without `payment`). */
  ticketsSent: number;
  /** Expected value of those tickets, wei as a decimal string (`BigInt(evPaid)`). */
  evPaid: string;
  /** Fees the nodes charged for the pixels they made, wei as a decimal string. */
  feesDebited: string;
  /** The sender's winning tickets redeemed on the broker so far. */
  winningTickets: number;
  /** The ticket sender's address (session key or wallet), null without `payment`. */
  ticketSender: string | null;
}

/** The `segment` event's detail: the relay acknowledged a segment. */
export interface SegmentAcknowledged {
  seq: number;
  bytes: number;
  durationMs: number;
  uploadMs: number;
  attempts: number;
  /** The transcoder node that made its renditions, if any. */
  transcoder: string | null;
  /** The renditions the relay stored and checked (empty without transcoding). */
  renditions: { profile: string; width: number; height: number; bitrateKbps?: number; pixels?: number; bytes?: number }[];
  /** What this segment paid its node (with `payment`): tickets, their EV and the fee, wei as strings, and the node's balance after it. */
  payment?: { tickets: number; ev: string; fee: string; balance: string };
}

/** The `error` event's detail. `fatal` errors end the broadcast. */
export interface BroadcastError extends LivecastErrorEvent {
  /** The segment concerned, if any. */
  seq?: number;
  /** The relay's or node's HTTP status, if any. */
  status?: number;
}

/** Events and their details. */
export interface BroadcasterEventMap {
  state: BroadcasterState;
  stats: BroadcastStats;
  segment: SegmentAcknowledged;
  error: BroadcastError;
}
"#;
