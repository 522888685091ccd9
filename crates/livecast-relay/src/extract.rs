//! Extractors whose failures come back as [`AppError`], in the relay's JSON error shape,
//! instead of axum's plain-text rejections.

use axum::extract::rejection::PathRejection;
use axum::extract::FromRequestParts;
use serde::de::DeserializeOwned;

use crate::error::AppError;

/// `axum::extract::Path`, rejecting with [`AppError::InvalidPath`].
#[derive(Debug, FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(AppError))]
pub struct AppPath<T>(pub T);

impl From<PathRejection> for AppError {
    fn from(rejection: PathRejection) -> Self {
        AppError::InvalidPath(rejection.body_text())
    }
}

/// Parses an optional JSON body: empty (or only whitespace) gives `T::default()`.
pub fn optional_json<T: DeserializeOwned + Default>(body: &[u8]) -> Result<T, AppError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(body).map_err(|e| AppError::InvalidJson(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Default, serde::Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Body {
        name: Option<String>,
    }

    #[test]
    fn optional_bodies() {
        assert_eq!(optional_json::<Body>(b"").unwrap(), Body::default());
        assert_eq!(optional_json::<Body>(b" \n").unwrap(), Body::default());
        assert_eq!(optional_json::<Body>(br#"{"name":"x"}"#).unwrap().name.as_deref(), Some("x"));
        assert!(matches!(optional_json::<Body>(b"{"), Err(AppError::InvalidJson(_))));
        assert!(matches!(optional_json::<Body>(br#"{"nmae":"x"}"#), Err(AppError::InvalidJson(_))));
    }
}
