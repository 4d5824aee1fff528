//! Repository locations and the object stores behind them.
//!
//! ```text
//! /srv/backups, ./backups, file:///srv/backups     a local folder
//! s3://bucket/prefix                               S3 or S3-compatible (endpoint from options or AWS_ENDPOINT)
//! s3:https://sos-ch-gva-2.example/bucket/prefix    restic's form: endpoint in the URL, path-style
//! gs://bucket/prefix                               Google Cloud Storage
//! az://container/prefix                            Azure Blob Storage (account from AZURE_STORAGE_ACCOUNT_NAME)
//! memory:                                          in memory (unit tests)
//! ```
//!
//! Credentials and the rest come from the environment the cloud tools read
//! (`AWS_*`, `GOOGLE_*`, `AZURE_*`, through `object_store`'s `from_env`),
//! never from the command line.

use super::client::MultipartPolicy;
use super::retry::RetryPolicy;
use crate::error::{Error, Result};
use object_store::ObjectStore;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// A parsed repository location.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Location {
    Memory,
    Folder(PathBuf),
    S3 {
        bucket: String,
        prefix: String,
        /// From restic's `s3:https://host/bucket/prefix` form.
        endpoint: Option<String>,
    },
    Gcs {
        bucket: String,
        prefix: String,
    },
    Azure {
        container: String,
        prefix: String,
    },
}

impl Location {
    pub fn parse(location: &str) -> Result<Self> {
        if location == "memory:" {
            return Ok(Location::Memory);
        }
        if let Some(rest) = location.strip_prefix("s3:") {
            if let Some(url) = rest
                .strip_prefix("http://")
                .map(|r| ("http://", r))
                .or_else(|| rest.strip_prefix("https://").map(|r| ("https://", r)))
            {
                let (scheme, rest) = url;
                let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
                let (bucket, prefix) = bucket_and_prefix(location, path)?;
                if host.is_empty() {
                    return Err(bad(location, "names no endpoint host"));
                }
                return Ok(Location::S3 {
                    bucket,
                    prefix,
                    endpoint: Some(format!("{scheme}{host}")),
                });
            }
        }
        let Some((scheme, rest)) = location.split_once("://") else {
            return Ok(Location::Folder(PathBuf::from(location)));
        };
        match scheme {
            "file" => Ok(Location::Folder(PathBuf::from(rest))),
            "s3" | "s3a" => {
                let (bucket, prefix) = bucket_and_prefix(location, rest)?;
                Ok(Location::S3 {
                    bucket,
                    prefix,
                    endpoint: None,
                })
            }
            "gs" => {
                let (bucket, prefix) = bucket_and_prefix(location, rest)?;
                Ok(Location::Gcs { bucket, prefix })
            }
            "az" | "azure" => {
                let (container, prefix) = bucket_and_prefix(location, rest)?;
                Ok(Location::Azure { container, prefix })
            }
            other => Err(Error::InvalidInput(format!(
                "repository {location}: coffer does not speak {other}://; use a folder path, \
                 s3://BUCKET/PREFIX, gs://BUCKET/PREFIX or az://CONTAINER/PREFIX"
            ))),
        }
    }

    /// Is this on a network store (retries and timeouts matter)?
    pub fn is_remote(&self) -> bool {
        !matches!(self, Location::Memory | Location::Folder(_))
    }
}

fn bad(location: &str, why: &str) -> Error {
    Error::InvalidInput(format!("repository {location}: {why}"))
}

fn bucket_and_prefix(location: &str, rest: &str) -> Result<(String, String)> {
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    if bucket.is_empty() {
        return Err(bad(
            location,
            "names no bucket; write it as scheme://BUCKET/PREFIX",
        ));
    }
    let prefix = prefix.trim_matches('/');
    if prefix.split('/').any(|p| p == "." || p == "..") {
        return Err(bad(location, "the prefix may not contain . or .. segments"));
    }
    Ok((bucket.to_string(), prefix.to_string()))
}

/// How to reach a remote store. Unset fields fall back to the environment
/// (`AWS_ENDPOINT`, `AWS_REGION`, `AWS_ALLOW_HTTP`, ...), then to `object_store`'s defaults.
#[derive(Clone, Debug)]
pub struct StoreOptions {
    pub s3_endpoint: Option<String>,
    pub s3_region: Option<String>,
    /// `Some(true)`: `https://endpoint/bucket/key`; `Some(false)`: `https://bucket.endpoint/key`.
    pub s3_path_style: Option<bool>,
    /// Plain HTTP (a local test server). Implied by an `http://` endpoint.
    pub allow_http: Option<bool>,
    /// Deadline of one HTTP request, body included.
    pub request_timeout: Duration,
    pub connect_timeout: Duration,
    pub retry: RetryPolicy,
    pub multipart: MultipartPolicy,
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self {
            s3_endpoint: None,
            s3_region: None,
            s3_path_style: None,
            allow_http: None,
            // A 16 MiB pack over a 2 Mbit/s uplink takes a minute; leave room.
            request_timeout: Duration::from_secs(180),
            connect_timeout: Duration::from_secs(10),
            retry: RetryPolicy::default(),
            multipart: MultipartPolicy::default(),
        }
    }
}

impl StoreOptions {
    /// `object_store`'s own HTTP retries: a few quick ones inside each of
    /// coffer's attempts, never more than coffer itself was told to make.
    fn http_retry(&self) -> object_store::RetryConfig {
        object_store::RetryConfig {
            backoff: object_store::BackoffConfig {
                init_backoff: Duration::from_millis(100),
                max_backoff: Duration::from_secs(2),
                base: 2.0,
            },
            max_retries: usize::try_from(self.retry.max_attempts.saturating_sub(1).min(3))
                .unwrap_or(3),
            retry_timeout: self.request_timeout,
        }
    }
}

/// Builds the store for a remote location, rooted at its prefix.
pub(crate) fn remote_store(
    location: &str,
    parsed: &Location,
    opts: &StoreOptions,
) -> Result<Arc<dyn ObjectStore>> {
    use object_store::ClientConfigKey as C;
    let timeout = format!("{}s", opts.request_timeout.as_secs().max(1));
    let connect = format!("{}s", opts.connect_timeout.as_secs().max(1));
    let fail = |e: object_store::Error| {
        Error::InvalidInput(format!(
            "repository {location}: {}",
            super::client::one_line(&e)
        ))
    };
    let (store, prefix): (Arc<dyn ObjectStore>, &str) = match parsed {
        Location::S3 {
            bucket,
            prefix,
            endpoint,
        } => {
            use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey as K};
            let mut b = AmazonS3Builder::from_env()
                .with_bucket_name(bucket)
                .with_retry(opts.http_retry())
                .with_config(K::Client(C::Timeout), &timeout)
                .with_config(K::Client(C::ConnectTimeout), &connect);
            if let Some(e) = opts.s3_endpoint.as_ref().or(endpoint.as_ref()) {
                b = b.with_endpoint(e);
            }
            if endpoint.is_some() && opts.s3_path_style.is_none() {
                b = b.with_virtual_hosted_style_request(false);
            }
            if let Some(r) = &opts.s3_region {
                b = b.with_region(r);
            }
            if let Some(path_style) = opts.s3_path_style {
                b = b.with_virtual_hosted_style_request(!path_style);
            }
            // An http:// endpoint written out is the intent to speak plain HTTP.
            let http_endpoint = b
                .get_config_value(&K::Endpoint)
                .is_some_and(|e| e.starts_with("http://"));
            let allow = opts.allow_http.or_else(|| {
                (http_endpoint && std::env::var_os("AWS_ALLOW_HTTP").is_none()).then_some(true)
            });
            if let Some(allow) = allow {
                b = b.with_allow_http(allow);
            }
            (Arc::new(b.build().map_err(fail)?), prefix)
        }
        Location::Gcs { bucket, prefix } => {
            use object_store::gcp::{GoogleCloudStorageBuilder, GoogleConfigKey as K};
            let b = GoogleCloudStorageBuilder::from_env()
                .with_bucket_name(bucket)
                .with_retry(opts.http_retry())
                .with_config(K::Client(C::Timeout), &timeout)
                .with_config(K::Client(C::ConnectTimeout), &connect);
            (Arc::new(b.build().map_err(fail)?), prefix)
        }
        Location::Azure { container, prefix } => {
            use object_store::azure::{AzureConfigKey as K, MicrosoftAzureBuilder};
            let mut b = MicrosoftAzureBuilder::from_env()
                .with_container_name(container)
                .with_retry(opts.http_retry())
                .with_config(K::Client(C::Timeout), &timeout)
                .with_config(K::Client(C::ConnectTimeout), &connect);
            if let Some(allow) = opts.allow_http {
                b = b.with_allow_http(allow);
            }
            (Arc::new(b.build().map_err(fail)?), prefix)
        }
        Location::Memory | Location::Folder(_) => {
            return Err(bad(location, "is not a remote location"));
        }
    };
    if prefix.is_empty() {
        Ok(store)
    } else {
        Ok(Arc::new(object_store::prefix::PrefixStore::new(
            store,
            prefix.to_string(),
        )))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn locations_parse() {
        assert_eq!(
            Location::parse("/srv/b").unwrap(),
            Location::Folder("/srv/b".into())
        );
        assert_eq!(
            Location::parse("file:///srv/b").unwrap(),
            Location::Folder("/srv/b".into())
        );
        assert_eq!(
            Location::parse("s3://erp-backups/prod/").unwrap(),
            Location::S3 {
                bucket: "erp-backups".into(),
                prefix: "prod".into(),
                endpoint: None
            }
        );
        assert_eq!(
            Location::parse("s3:http://127.0.0.1:9000/b/x/y").unwrap(),
            Location::S3 {
                bucket: "b".into(),
                prefix: "x/y".into(),
                endpoint: Some("http://127.0.0.1:9000".into())
            }
        );
        assert_eq!(
            Location::parse("gs://bkt").unwrap(),
            Location::Gcs {
                bucket: "bkt".into(),
                prefix: String::new()
            }
        );
        assert_eq!(
            Location::parse("az://c/p").unwrap(),
            Location::Azure {
                container: "c".into(),
                prefix: "p".into()
            }
        );
        for bad in [
            "s3://",
            "s3:///p",
            "sftp://host/x",
            "s3://b/../x",
            "s3:https:///b",
        ] {
            assert!(Location::parse(bad).is_err(), "{bad}");
        }
    }
}
