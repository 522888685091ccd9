//! Who may do what: the admin token for creating streams, a stream's key for uploading to it
//! and ending it. Wrong keys and unknown streams get the same `401`, so a key cannot be used
//! to probe which streams exist.

use axum::http::HeaderMap;

use crate::db::{self, StreamRow};
use crate::error::AppError;
use crate::keys;
use crate::state::AppState;

/// Allows creating a stream: always in `--open` mode, else with the admin token.
pub fn require_admin(state: &AppState, headers: &HeaderMap) -> Result<(), AppError> {
    if state.settings().open {
        return Ok(());
    }
    match (keys::bearer_token(headers), &state.settings().admin_token_hash) {
        (Some(token), Some(hash)) if keys::secret_matches(token, hash) => Ok(()),
        _ => Err(AppError::Unauthorized),
    }
}

/// The stream `id` if the request carries its key, else [`AppError::Unauthorized`].
pub async fn require_stream_key(state: &AppState, id: &str, headers: &HeaderMap) -> Result<StreamRow, AppError> {
    let token = keys::bearer_token(headers).ok_or(AppError::Unauthorized)?.to_owned();
    let id = id.to_owned();
    // A read connection: a key check (every upload makes one) never waits behind another
    // stream's write.
    let stream = state.db_read(move |c| Ok(db::get_stream(c, &id)?)).await?;
    match stream {
        Some(s) if keys::secret_matches(&token, &s.key_hash) => Ok(s),
        Some(_) => Err(AppError::Unauthorized),
        None => {
            // Same work as for a wrong key.
            let _ = keys::secret_matches(&token, &[0; 32]);
            Err(AppError::Unauthorized)
        }
    }
}
