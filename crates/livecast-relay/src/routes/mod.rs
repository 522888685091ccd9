//! The HTTP surface. [`app`] assembles the routes, one module per concern:
//!
//! - [`streams`]: `POST /api/streams`, `GET /api/streams/{id}`, `POST /api/streams/{id}/end`.
//! - [`ingest`]: `PUT /live/{id}/{seq}.ts`, the broadcaster's uploads.
//! - [`hls`]: `GET /hls/{id}/index.m3u8` and `GET /hls/{id}/{seq}.ts`, for players.
//! - [`transcode`]: `POST /api/transcoders/info`, `GET /api/transcoders`,
//!   `POST /api/streams/{id}/gaps`.
//! - [`health`]: `GET /healthz`, for load balancers.
//! - [`static_files`]: the demo pages and wasm package, and `GET /` redirecting to the demo.
//!
//! A refused upload closes its connection (see [`body::close_unless_accepted`]); an error
//! is never cached for more than a second ([`conditional::error_cache_policy`]).
//! Around them: CORS (any origin), a request timeout, and a `TraceLayer` span per request
//! named by its matched route. Unknown routes and wrong methods answer in the JSON error shape.

pub mod auth;
pub mod body;
pub mod conditional;
#[cfg(test)]
mod conditional_tests;
pub mod health;
pub mod hls;
pub mod ingest;
pub mod static_files;
pub mod streams;
pub mod transcode;
#[cfg(test)]
mod tests;

use axum::extract::{MatchedPath, Request};
use axum::http::{header, HeaderName, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::Router;
use tower_http::cors::{Any, CorsLayer};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::{DefaultOnResponse, TraceLayer};

use crate::error::AppError;
use crate::state::AppState;

/// Optional ingest header: the segment's duration in milliseconds, as the broadcaster sees it.
pub const CONTENT_DURATION: HeaderName = HeaderName::from_static("content-duration");
/// Optional ingest header: wall-clock time (ms since the Unix epoch) of the segment's first frame.
pub const CAPTURE_START: HeaderName = HeaderName::from_static("livecast-capture-start");

/// The relay's router, with its middleware, for `state`.
pub fn app(state: AppState) -> Router {
    let settings = state.settings().clone();
    let mut router = Router::new()
        .route("/", get(static_files::root))
        .route("/healthz", get(health::healthz))
        .route("/api/streams", post(streams::create))
        .route("/api/streams/{id}", get(streams::status))
        .route("/api/streams/{id}/end", post(streams::end))
        .route("/api/streams/{id}/gaps", post(transcode::report_gap))
        .route("/api/transcoders", get(transcode::list))
        .route("/api/transcoders/info", post(transcode::info))
        .route(
            "/live/{id}/{file}",
            put(ingest::put_segment).layer(axum::middleware::map_response(body::close_unless_accepted)),
        )
        .route("/hls/{id}/index.m3u8", get(hls::playlist))
        .route("/hls/{id}/master.m3u8", get(hls::master))
        .route("/hls/{id}/{file}", get(hls::segment))
        .route("/hls/{id}/{profile}/index.m3u8", get(hls::rendition_playlist))
        .route("/hls/{id}/{profile}/{file}", get(hls::rendition_segment));
    for mount in &settings.static_mounts {
        router = router.nest_service(&format!("/{}", mount.mount), static_files::serve_dir(&mount.dir));
    }
    router
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(state)
        .layer(TimeoutLayer::with_status_code(StatusCode::REQUEST_TIMEOUT, settings.request_timeout))
        .layer(axum::middleware::map_response(timeout_as_json))
        .layer(axum::middleware::map_response(conditional::error_cache_policy))
        .layer(cors())
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(|req: &Request| {
                    let route = req.extensions().get::<MatchedPath>().map(MatchedPath::as_str);
                    tracing::info_span!("request", method = %req.method(), route, path = %req.uri().path())
                })
                .on_response(DefaultOnResponse::new().level(tracing::Level::INFO)),
        )
}

/// Any origin may call the API (browser broadcasters and players on other sites); only the
/// headers the relay reads are allowed, and no response header is exposed beyond the safe list.
fn cors() -> CorsLayer {
    CorsLayer::new()
        .allow_origin(Any)
        .allow_methods([Method::GET, Method::HEAD, Method::POST, Method::PUT])
        .allow_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            CONTENT_DURATION,
            CAPTURE_START,
            ingest::TRANSCODER_HEADER,
            ingest::LIVEPEER_SEGMENT,
            ingest::LIVEPEER_PAYMENT,
        ])
        .max_age(std::time::Duration::from_secs(3600))
}

/// The timeout layer answers with an empty `408`; give it the JSON error shape.
async fn timeout_as_json(res: Response) -> Response {
    if res.status() == StatusCode::REQUEST_TIMEOUT && !res.headers().contains_key(header::CONTENT_TYPE) {
        AppError::Timeout.into_response()
    } else {
        res
    }
}

async fn not_found() -> AppError {
    AppError::NotFound("route")
}

async fn method_not_allowed() -> AppError {
    AppError::MethodNotAllowed
}
