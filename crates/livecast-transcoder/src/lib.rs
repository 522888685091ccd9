//! Livecast's transcoder node: a Livepeer orchestrator + transcoder.
//!
//! One port serves, as go-livepeer's nodes do:
//! - gRPC `net.Orchestrator/GetOrchestrator` (HTTP/2 cleartext): checks the broadcaster's
//!   signed request and answers `OrchestratorInfo` (service URI, price, ticket-parameter
//!   placeholder, the node's address, capabilities, a 30-minute auth token).
//! - `POST /segment`: a signed `SegData` (header `Livepeer-Segment`), an optional `Payment`
//!   (`Livepeer-Payment`) and an MPEG-TS body; answers a protobuf `TranscodeResult` with
//!   rendition URLs, pixel counts and the node's signature over the renditions.
//! - `GET /stream/{session}/{profile}/{seq}.ts`: the renditions.
//!
//! Modules: [`node`] (key, secret, price, pool), [`server`] (routes and checks),
//! [`transcode`] (demux → decode → scale → encode → mux; the pre-decode checks read the SPS
//! with `livecast_core::sps`).
//!
//! Not done here: ticket payments (a node with a non-zero price refuses segments with 402),
//! frame-rate conversion (renditions keep the source's frames), audio, MP4 output.

#![warn(missing_docs)]

pub mod node;
pub mod payment;
pub mod server;
pub mod transcode;

pub use node::{Config, Node};
pub use server::app;
