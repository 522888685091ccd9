//! Livecast's transcoder node: a Livepeer orchestrator + transcoder.
//!
//! One port serves, as go-livepeer's nodes do:
//! - gRPC `net.Orchestrator/GetOrchestrator` (HTTP/2 cleartext): checks the broadcaster's
//!   signed request and answers `OrchestratorInfo` (service URI, price, ticket params issued
//!   for the caller when the node has a TicketBroker, the node's address, capabilities, a
//!   30-minute auth token).
//! - `POST /segment`: a signed `SegData` (header `Livepeer-Segment`), an optional `Payment`
//!   (`Livepeer-Payment`) and an MPEG-TS body; answers a protobuf `TranscodeResult` with
//!   rendition URLs, pixel counts and the node's signature over the renditions.
//! - `GET /stream/{session}/{profile}/{seq}.ts`: the renditions.
//! - `GET /tickets`: winning tickets and their redemption (JSON), on a node with payments.
//!
//! Modules: [`node`] (key, secret, price, pool), [`server`] (routes and checks),
//! [`transcode`] (demux → decode → scale → encode → mux; the pre-decode checks read the SPS
//! with `livecast_core::sps`), [`payment`] (Livepeer ticket payments on a TicketBroker:
//! params, checks, balances, the SQLite winner queue and on-chain redemption).
//!
//! Not done here: frame-rate conversion (renditions keep the source's frames), audio, MP4
//! output, go-livepeer's `/payment` route (tickets travel with segments only).

#![warn(missing_docs)]

pub mod node;
pub mod payment;
pub mod server;
pub mod transcode;

pub use node::{Config, Node};
pub use server::app;
