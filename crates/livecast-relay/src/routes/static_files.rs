//! Static files: the demo pages (`www/`) and the wasm package (`pkg/`), served with
//! `tower-http`'s `ServeDir` (`.wasm` as `application/wasm`, `.js` as `text/javascript`), and
//! `GET /` redirecting to the broadcast page.

use std::path::Path;

use axum::response::Redirect;
use tower_http::services::ServeDir;

/// Where `GET /` sends the browser.
pub const ROOT_REDIRECT: &str = "/www/broadcast.html";

/// `GET /`: to the broadcast demo page.
pub async fn root() -> Redirect {
    Redirect::temporary(ROOT_REDIRECT)
}

/// A `ServeDir` for `dir` (with `index.html` for directories).
pub fn serve_dir(dir: &Path) -> ServeDir {
    ServeDir::new(dir).append_index_html_on_directories(true)
}
