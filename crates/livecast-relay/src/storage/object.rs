//! The object-store backend (`--storage s3://BUCKET[/PREFIX]`): segments as objects
//! `PREFIX/{stream id}/{seq}.ts` and renditions `PREFIX/{stream id}/{profile}/{seq}.ts` in an
//! S3-compatible bucket, through the `object_store` crate.
//!
//! A write is one `PutObject` with `If-None-Match: *` ([`PutMode::Create`]): the store
//! answers only once the object is stored (its own durability settings apply: with Garage,
//! `data_fsync` and `metadata_fsync`). If an object is already there (a write whose row was
//! never committed, then a retry), the same bytes count as written and other bytes are a
//! conflict. Garage 2.5 ignores `If-None-Match` on `PutObject` (it honours it only on `GET`)
//! and simply replaces the object: there the database row check under the stream's lock is
//! the only guard, which holds as long as one relay writes a bucket (prefix). The start-up
//! probe ([`ObjectBackend::probe`]) logs which kind of store it is.
//!
//! Every request has a connect and a total time limit and at most two retries, so a store
//! that is down fails a request within seconds: ingest answers `503` (never a false `2xx`).

use std::ops::Range;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::stream::BoxStream;
use futures_util::{StreamExt, TryStreamExt};
use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey, S3ConditionalPut};
use object_store::path::Path;
use object_store::{
    BackoffConfig, ClientOptions, GetOptions, GetRange, ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload,
    RetryConfig,
};

use super::{SegmentKey, StoreError};

/// Time to open a connection to the store.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// Time for one request to the store, body included.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);
/// Retries of a failed request (connection refused, `5xx`, timeouts of idempotent calls).
pub const MAX_RETRIES: usize = 2;
/// Time after which a request is not retried any more.
pub const RETRY_TIMEOUT: Duration = Duration::from_secs(10);

/// Where the S3 bucket is and how to sign for it. Unset fields come from the usual `AWS_*`
/// variables (`AWS_ENDPOINT_URL`, `AWS_REGION`, `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`,
/// `AWS_SESSION_TOKEN`).
#[derive(Clone, PartialEq, Eq)]
pub struct S3Config {
    /// The bucket.
    pub bucket: String,
    /// Key prefix inside it (no leading or trailing `/`), empty for none.
    pub prefix: String,
    /// The endpoint URL (e.g. `http://127.0.0.1:3900` for a local Garage).
    pub endpoint: Option<String>,
    /// The region the store expects in signatures (Garage: its `s3_region`).
    pub region: Option<String>,
    /// Access key id.
    pub access_key_id: Option<String>,
    /// Secret access key.
    pub secret_access_key: Option<String>,
}

impl std::fmt::Debug for S3Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Config")
            .field("bucket", &self.bucket)
            .field("prefix", &self.prefix)
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &self.secret_access_key.as_ref().map(|_| "…"))
            .finish()
    }
}

/// Segments in an object store.
#[derive(Debug)]
pub struct ObjectBackend {
    store: Arc<dyn ObjectStore>,
    prefix: String,
    description: String,
}

impl ObjectBackend {
    /// The S3 client for `config`. Fails when no static credentials are given: the relay never
    /// asks an instance-metadata or web-identity service for them.
    pub fn s3(config: &S3Config) -> Result<ObjectBackend, String> {
        // reqwest is built without a default TLS provider (the relay brings ring).
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut b = AmazonS3Builder::from_env().with_bucket_name(&config.bucket);
        if let Some(e) = &config.endpoint {
            b = b.with_endpoint(e);
        }
        if let Some(r) = &config.region {
            b = b.with_region(r);
        }
        if let Some(k) = &config.access_key_id {
            b = b.with_access_key_id(k);
        }
        if let Some(s) = &config.secret_access_key {
            b = b.with_secret_access_key(s);
        }
        let set = |b: &AmazonS3Builder, k| b.get_config_value(&k).is_some_and(|v| !v.is_empty());
        if !set(&b, AmazonS3ConfigKey::AccessKeyId) || !set(&b, AmazonS3ConfigKey::SecretAccessKey) {
            return Err("no S3 credentials: give --s3-access-key-id and --s3-secret-access-key (or \
                        LIVECAST_RELAY_S3_ACCESS_KEY_ID and LIVECAST_RELAY_S3_SECRET_ACCESS_KEY, or \
                        AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)"
                .into());
        }
        let endpoint = b.get_config_value(&AmazonS3ConfigKey::Endpoint);
        let region = b.get_config_value(&AmazonS3ConfigKey::Region).unwrap_or_else(|| "us-east-1".into());
        let options = ClientOptions::new()
            .with_connect_timeout(CONNECT_TIMEOUT)
            .with_timeout(REQUEST_TIMEOUT)
            .with_allow_http(endpoint.as_deref().is_some_and(|e| e.starts_with("http://")));
        let retry = RetryConfig { backoff: BackoffConfig::default(), max_retries: MAX_RETRIES, retry_timeout: RETRY_TIMEOUT };
        let store = b
            // Whatever AWS_CONDITIONAL_PUT says: every write is a conditional create.
            .with_conditional_put(S3ConditionalPut::ETagMatch)
            .with_client_options(options)
            .with_retry(retry)
            .build()
            .map_err(|e| format!("S3 client for bucket {:?}: {e}", config.bucket))?;
        let at = endpoint.map_or_else(|| format!("AWS {region}"), |e| format!("{e}, region {region}"));
        let mut description = format!("s3://{}", config.bucket);
        if !config.prefix.is_empty() {
            description = format!("{description}/{}", config.prefix);
        }
        Ok(ObjectBackend::new(Arc::new(store), &config.prefix, format!("{description} at {at}")))
    }

    /// A backend on any object store (tests use `object_store`'s in-memory one).
    pub fn new(store: Arc<dyn ObjectStore>, prefix: &str, description: String) -> ObjectBackend {
        ObjectBackend { store, prefix: prefix.trim_matches('/').to_owned(), description }
    }

    /// The bucket (and prefix) and where it is, for logs.
    pub fn description(&self) -> &str {
        &self.description
    }

    /// The object key of a segment.
    pub fn location(&self, key: &SegmentKey) -> Path {
        let relative = key.relative_path();
        if self.prefix.is_empty() {
            Path::from(relative)
        } else {
            Path::from(format!("{}/{relative}", self.prefix))
        }
    }

    /// Writes a segment with a conditional create; an object already there with the same
    /// bytes counts as written, other bytes are [`StoreError::Conflict`].
    pub async fn put(&self, key: &SegmentKey, data: Bytes) -> Result<(), StoreError> {
        let location = self.location(key);
        let options = PutOptions { mode: PutMode::Create, ..PutOptions::default() };
        match self.store.put_opts(&location, PutPayload::from_bytes(data.clone()), options).await {
            Ok(_) => Ok(()),
            Err(object_store::Error::AlreadyExists { .. }) => {
                let existing = self.get(key).await?;
                if existing == data {
                    tracing::info!(key = %location, "object already stored with the same bytes (a retry)");
                    Ok(())
                } else {
                    tracing::warn!(
                        key = %location,
                        "an object with other bytes and no database row is in the bucket (a write never \
                         acknowledged, or another relay writing this bucket): refusing to replace it"
                    );
                    Err(StoreError::Conflict { seq: key.seq })
                }
            }
            Err(e) => Err(unavailable("PUT", &location, &e)),
        }
    }

    /// Reads a whole segment.
    pub async fn get(&self, key: &SegmentKey) -> Result<Bytes, StoreError> {
        let location = self.location(key);
        let result = self.store.get(&location).await.map_err(|e| not_found_or_unavailable("GET", &location, e))?;
        result.bytes().await.map_err(|e| unavailable("GET", &location, &e))
    }

    /// Streams a segment, or the bytes `range` of it, without buffering it: the body's chunks
    /// arrive as the store sends them.
    pub async fn stream(
        &self,
        key: &SegmentKey,
        range: Option<Range<u64>>,
    ) -> Result<BoxStream<'static, std::io::Result<Bytes>>, StoreError> {
        let location = self.location(key);
        let options = GetOptions { range: range.map(GetRange::Bounded), ..GetOptions::default() };
        let result =
            self.store.get_opts(&location, options).await.map_err(|e| not_found_or_unavailable("GET", &location, e))?;
        let logged = location.clone();
        Ok(result
            .into_stream()
            .map_err(move |e| {
                tracing::warn!(key = %logged, error = %error_chain(&e), "object store: body cut off");
                std::io::Error::other(e)
            })
            .boxed())
    }

    /// Writes a probe object twice with a conditional create and deletes it: `Ok(true)` when
    /// the store refused the second write (it honours `If-None-Match: *`), `Ok(false)` when it
    /// replaced the object.
    pub async fn probe(&self) -> Result<bool, StoreError> {
        let name = format!(".livecast-probe/{}", crate::keys::new_temp_suffix());
        let location = if self.prefix.is_empty() { Path::from(name) } else { Path::from(format!("{}/{name}", self.prefix)) };
        let create = || PutOptions { mode: PutMode::Create, ..PutOptions::default() };
        let payload = || PutPayload::from_static(b"probe");
        self.store.put_opts(&location, payload(), create()).await.map_err(|e| unavailable("PUT", &location, &e))?;
        let honoured = match self.store.put_opts(&location, payload(), create()).await {
            Ok(_) => false,
            Err(object_store::Error::AlreadyExists { .. }) => true,
            Err(e) => return Err(unavailable("PUT", &location, &e)),
        };
        self.store.delete(&location).await.map_err(|e| unavailable("DELETE", &location, &e))?;
        Ok(honoured)
    }
}

fn not_found_or_unavailable(op: &str, location: &Path, e: object_store::Error) -> StoreError {
    match e {
        object_store::Error::NotFound { .. } => StoreError::NotFound,
        e => unavailable(op, location, &e),
    }
}

/// Logs a failed request and makes it a [`StoreError::Unavailable`].
fn unavailable(op: &str, location: &Path, e: &object_store::Error) -> StoreError {
    let cause = error_chain(e);
    tracing::error!(op, key = %location, error = %cause, "object store request failed");
    StoreError::Unavailable(format!("{op} {location}: {cause}"))
}

/// An error and its causes on one line.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let next = s.to_string();
        if !text.contains(&next) {
            text.push_str(": ");
            text.push_str(&next);
        }
        source = s.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use object_store::memory::InMemory;

    fn backend() -> ObjectBackend {
        ObjectBackend::new(Arc::new(InMemory::new()), "/live/", "memory".into())
    }

    #[tokio::test]
    async fn keys_mirror_the_file_layout_under_the_prefix() {
        let b = backend();
        assert_eq!(b.location(&SegmentKey::source("abc", 7)).as_ref(), "live/abc/7.ts");
        assert_eq!(b.location(&SegmentKey::rendition("abc", "P240p30fps16x9", 7)).as_ref(), "live/abc/P240p30fps16x9/7.ts");
        let bare = ObjectBackend::new(Arc::new(InMemory::new()), "", "memory".into());
        assert_eq!(bare.location(&SegmentKey::source("abc", 7)).as_ref(), "abc/7.ts");
    }

    #[tokio::test]
    async fn a_conditional_create_keeps_the_first_bytes() {
        // InMemory honours PutMode::Create, as AWS S3 does (Garage does not: see the module).
        let b = backend();
        let k = SegmentKey::source("abc", 1);
        b.put(&k, Bytes::from_static(b"first")).await.unwrap();
        b.put(&k, Bytes::from_static(b"first")).await.expect("the same bytes again are a retry");
        assert!(matches!(b.put(&k, Bytes::from_static(b"other")).await, Err(StoreError::Conflict { seq: 1 })));
        assert_eq!(b.get(&k).await.unwrap(), Bytes::from_static(b"first"));
        assert!(b.probe().await.unwrap(), "InMemory refuses the second create");

        let ranged: Vec<Bytes> = b.stream(&k, Some(1..4)).await.unwrap().try_collect().await.unwrap();
        assert_eq!(ranged.concat(), b"irs");
        assert!(matches!(b.get(&SegmentKey::source("abc", 2)).await, Err(StoreError::NotFound)));
        assert!(matches!(b.stream(&SegmentKey::source("abc", 2), None).await, Err(StoreError::NotFound)));
    }
}
