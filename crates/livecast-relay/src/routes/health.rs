//! `GET /healthz`: whether this relay process answers, for a load balancer's health check
//! (HAProxy's `option httpchk`, see `deploy/haproxy/`).
//!
//! It reads neither the database nor the segment store: when PostgreSQL or the bucket is down
//! it is down for every relay at once, and taking them all out of the balancer would turn the
//! relays' own `503 … Retry-After` answers (which the broadcaster retries) into the
//! balancer's bare ones.

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::Json;
use serde::Serialize;

use crate::state::AppState;

/// `GET /healthz` answer.
#[derive(Debug, Serialize)]
pub struct Health {
    /// Always `"ok"`: the process answers.
    pub status: &'static str,
    /// The metadata store this relay uses: `"sqlite"` or `"postgres"`.
    pub database: &'static str,
}

/// `GET /healthz`: `200 {"status":"ok","database":…}`, never cached.
pub async fn healthz(State(state): State<AppState>) -> impl IntoResponse {
    ([(header::CACHE_CONTROL, "no-store")], Json(Health { status: "ok", database: state.db().backend() }))
}
