//! Storage requests as coffer makes them: retried (module `retry`),
//! create-only, checked for short reads, large objects in parts.
//!
//! A [`Client`] is cheap to clone and owns nothing but handles, so spawned
//! uploads and reads carry their own.

use super::retry::{Failure, RetryPolicy, classify};
use crate::error::{Error, Operation, Result, StorageFailure};
use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use object_store::path::Path as ObjectPath;
use object_store::{
    GetOptions, GetRange, ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload,
};
use std::future::Future;
use std::ops::Range;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// The result of a create-only write.
#[derive(Debug, PartialEq, Eq)]
pub enum PutOutcome {
    Created,
    /// An object of that name was already there and was left untouched.
    AlreadyExisted,
}

/// When an object goes up in parts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MultipartPolicy {
    /// Objects at least this large are uploaded in parts.
    pub threshold: usize,
    /// Size of each part but the last (S3 wants at least 5 MiB).
    pub part_size: usize,
    /// Parts of one object in flight at once.
    pub concurrency: usize,
}

impl Default for MultipartPolicy {
    /// Default packs (16 MiB) go up in one request, which is the cheapest;
    /// packs made with `--pack-size 64` or more go up in 16 MiB parts, four at
    /// a time, so a dropped connection costs one part, not the pack.
    fn default() -> Self {
        Self {
            threshold: 32 << 20,
            part_size: 16 << 20,
            concurrency: 4,
        }
    }
}

/// An object store with coffer's request discipline.
#[derive(Clone)]
pub struct Client {
    store: Arc<dyn ObjectStore>,
    location: Arc<str>,
    retry: RetryPolicy,
    multipart: MultipartPolicy,
    /// Cleared when the store turns out not to do create-only puts.
    conditional_put: Arc<AtomicBool>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Client({})", self.location)
    }
}

/// Why one attempt failed.
enum Attempt {
    Store(object_store::Error),
    /// Fewer (or more) bytes than asked for: a body that broke off.
    Short {
        wanted: u64,
        got: u64,
    },
    TimedOut,
}

impl Attempt {
    fn failure(&self) -> Failure {
        match self {
            Attempt::Store(e) => classify(e),
            Attempt::Short { .. } | Attempt::TimedOut => Failure::Transient,
        }
    }
}

impl From<object_store::Error> for Attempt {
    fn from(e: object_store::Error) -> Self {
        Attempt::Store(e)
    }
}

/// What a create-only put saw.
enum Put {
    Created,
    Existed,
    /// Existed, on an attempt after one whose answer was lost: maybe ours.
    ExistedAfterRetry,
    /// The store does not do create-only puts.
    Unsupported,
}

impl Client {
    pub fn new(
        store: Arc<dyn ObjectStore>,
        location: &str,
        retry: RetryPolicy,
        multipart: MultipartPolicy,
    ) -> Self {
        Self {
            store,
            location: Arc::from(location),
            retry,
            multipart,
            conditional_put: Arc::new(AtomicBool::new(true)),
        }
    }

    pub fn store(&self) -> Arc<dyn ObjectStore> {
        Arc::clone(&self.store)
    }

    pub fn location(&self) -> &str {
        &self.location
    }

    pub fn retry_policy(&self) -> RetryPolicy {
        self.retry
    }

    /// Runs `attempt` until it succeeds, fails for good, or runs out of tries.
    async fn attempts<T, F, Fut>(&self, op: Operation, name: &str, mut attempt: F) -> Result<T>
    where
        F: FnMut(u32) -> Fut,
        Fut: Future<Output = std::result::Result<T, Attempt>>,
    {
        let mut n = 1;
        loop {
            let r = match tokio::time::timeout(self.retry.attempt_timeout, attempt(n)).await {
                Ok(r) => r,
                Err(_) => Err(Attempt::TimedOut),
            };
            let failed = match r {
                Ok(v) => return Ok(v),
                Err(a) => a,
            };
            if let Attempt::Store(e) = &failed {
                if bucket_missing(e) {
                    return Err(Error::BucketNotFound {
                        location: self.location.to_string(),
                    });
                }
            }
            let failure = failed.failure();
            if failure == Failure::Permanent || n >= self.retry.max_attempts {
                return Err(self.error(op, name, n, failure, &failed));
            }
            tokio::time::sleep(self.retry.backoff(n)).await;
            n += 1;
        }
    }

    fn error(
        &self,
        op: Operation,
        name: &str,
        attempts: u32,
        failure: Failure,
        a: &Attempt,
    ) -> Error {
        let (failure, detail) = match a {
            Attempt::Store(e) => (
                match (failure, e) {
                    (
                        _,
                        object_store::Error::PermissionDenied { .. }
                        | object_store::Error::Unauthenticated { .. },
                    ) => StorageFailure::Denied,
                    (Failure::Transient, _) => StorageFailure::Unavailable,
                    (Failure::Permanent, _) => StorageFailure::Refused,
                },
                one_line(e),
            ),
            Attempt::Short { wanted, got } => (
                StorageFailure::Unavailable,
                format!("the store sent {got} bytes where {wanted} were asked for"),
            ),
            Attempt::TimedOut => (
                StorageFailure::Unavailable,
                format!(
                    "no answer within {} s",
                    self.retry.attempt_timeout.as_secs_f64()
                ),
            ),
        };
        Error::Backend {
            operation: op,
            object: name.to_string(),
            attempts,
            failure,
            detail,
        }
    }

    /// The whole object, or `None` when there is no such object.
    pub async fn get(&self, name: &str) -> Result<Option<Bytes>> {
        let path = &ObjectPath::from(name);
        self.attempts(Operation::Read, name, move |_| async move {
            let r = match self.store.get_opts(path, GetOptions::default()).await {
                Ok(r) => r,
                Err(e @ object_store::Error::NotFound { .. }) if bucket_missing(&e) => {
                    return Err(e.into());
                }
                Err(object_store::Error::NotFound { .. }) => return Ok(None),
                Err(e) => return Err(e.into()),
            };
            let wanted = r.range.end - r.range.start;
            let bytes = r.bytes().await?;
            check_length(wanted, &bytes)?;
            Ok(Some(bytes))
        })
        .await
    }

    /// Bytes `range` of an object: one ranged GET.
    pub async fn get_range(&self, name: &str, range: Range<u64>) -> Result<Bytes> {
        let path = &ObjectPath::from(name);
        let wanted = range.end - range.start;
        let range = &range;
        self.attempts(Operation::Read, name, move |_| async move {
            let opts = GetOptions {
                range: Some(GetRange::Bounded(range.clone())),
                ..Default::default()
            };
            let r = self.store.get_opts(path, opts).await?;
            let bytes = r.bytes().await?;
            check_length(wanted, &bytes)?;
            Ok(bytes)
        })
        .await
    }

    /// The object's size, or `None` when there is no such object.
    pub async fn head(&self, name: &str) -> Result<Option<u64>> {
        let path = &ObjectPath::from(name);
        self.attempts(Operation::Read, name, move |_| async move {
            match self.store.head(path).await {
                Ok(m) => Ok(Some(m.size)),
                Err(e @ object_store::Error::NotFound { .. }) if bucket_missing(&e) => {
                    Err(e.into())
                }
                Err(object_store::Error::NotFound { .. }) => Ok(None),
                Err(e) => Err(e.into()),
            }
        })
        .await
    }

    /// Names and sizes of the objects below `prefix`.
    pub async fn list(&self, prefix: &str) -> Result<Vec<(String, u64)>> {
        let path = &ObjectPath::from(prefix);
        self.attempts(Operation::List, prefix, move |_| async move {
            Ok(self
                .store
                .list(Some(path))
                .map_ok(|m| (m.location.to_string(), m.size))
                .try_collect::<Vec<_>>()
                .await?)
        })
        .await
    }

    /// Is there any object below `prefix`? Reads one listing page at most.
    pub async fn has_objects(&self, prefix: &str) -> Result<bool> {
        let path = &ObjectPath::from(prefix);
        self.attempts(Operation::List, prefix, move |_| async move {
            Ok(self.store.list(Some(path)).try_next().await?.is_some())
        })
        .await
    }

    /// Deletes an object; one already gone is not an error.
    pub async fn delete(&self, name: &str) -> Result<()> {
        let path = &ObjectPath::from(name);
        self.attempts(Operation::Delete, name, move |_| async move {
            match self.store.delete(path).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
                Err(e) => Err(e.into()),
            }
        })
        .await
    }

    /// Create-only write: an object already there is never replaced.
    ///
    /// Small objects use a conditional PUT (`If-None-Match: *` on S3). When an
    /// attempt's answer was lost and the next one finds the object, its bytes
    /// are compared: the lost attempt may have been the one that wrote it.
    /// Objects past the multipart threshold are uploaded in parts after a
    /// HEAD finds no object of that name (see [`Self::put_parts`]).
    pub async fn put_new(&self, name: &str, bytes: Bytes) -> Result<PutOutcome> {
        if bytes.len() >= self.multipart.threshold {
            return self.put_parts(name, bytes).await;
        }
        if !self.conditional_put.load(Ordering::Relaxed) {
            return self.put_after_head(name, bytes).await;
        }
        let path = &ObjectPath::from(name);
        let body = &bytes;
        let put = self
            .attempts(Operation::Write, name, move |n| async move {
                let payload = PutPayload::from(body.clone());
                let opts = PutOptions {
                    mode: PutMode::Create,
                    ..Default::default()
                };
                {
                    match self.store.put_opts(path, payload, opts).await {
                        Ok(_) => Ok(Put::Created),
                        Err(object_store::Error::AlreadyExists { .. }) if n > 1 => {
                            Ok(Put::ExistedAfterRetry)
                        }
                        Err(object_store::Error::AlreadyExists { .. }) => Ok(Put::Existed),
                        Err(
                            object_store::Error::NotImplemented { .. }
                            | object_store::Error::NotSupported { .. },
                        ) => Ok(Put::Unsupported),
                        Err(e) => Err(e.into()),
                    }
                }
            })
            .await?;
        match put {
            Put::Created => Ok(PutOutcome::Created),
            Put::Existed => Ok(PutOutcome::AlreadyExisted),
            Put::ExistedAfterRetry => match self.get(name).await? {
                Some(there) if there == bytes => Ok(PutOutcome::Created),
                _ => Ok(PutOutcome::AlreadyExisted),
            },
            Put::Unsupported => {
                self.conditional_put.store(false, Ordering::Relaxed);
                self.put_after_head(name, bytes).await
            }
        }
    }

    /// For stores without create-only puts: look, then write. Every name
    /// coffer writes is a content hash or random, so the only writer that
    /// can race between the two is one writing the same bytes.
    async fn put_after_head(&self, name: &str, bytes: Bytes) -> Result<PutOutcome> {
        if self.head(name).await?.is_some() {
            return Ok(PutOutcome::AlreadyExisted);
        }
        let path = &ObjectPath::from(name);
        let bytes = &bytes;
        self.attempts(Operation::Write, name, move |_| async move {
            self.store
                .put(path, PutPayload::from(bytes.clone()))
                .await?;
            Ok(PutOutcome::Created)
        })
        .await
    }

    /// Multipart upload of a large pack, parts in parallel. `object_store`
    /// completes multipart uploads without a condition, so this is
    /// create-only by a HEAD first; as in [`Self::put_after_head`], only the
    /// same bytes can race it (pack names hash content that holds random
    /// nonces). A failed attempt aborts its upload and starts over.
    async fn put_parts(&self, name: &str, bytes: Bytes) -> Result<PutOutcome> {
        if self.head(name).await?.is_some() {
            return Ok(PutOutcome::AlreadyExisted);
        }
        let path = &ObjectPath::from(name);
        let part_size = self.multipart.part_size.max(1);
        let bytes = &bytes;
        self.attempts(Operation::Write, name, move |_| {
            async move {
                let mut upload = self.store.put_multipart(path).await?;
                let parts: Vec<_> = (0..bytes.len())
                    .step_by(part_size)
                    .map(|at| {
                        let end = (at + part_size).min(bytes.len());
                        upload.put_part(PutPayload::from(bytes.slice(at..end)))
                    })
                    .collect();
                let sent = futures::stream::iter(parts)
                    .buffer_unordered(self.multipart.concurrency.max(1))
                    .try_collect::<Vec<()>>()
                    .await;
                let done = match sent {
                    Ok(_) => upload.complete().await.map(|_| ()),
                    Err(e) => Err(e),
                };
                if let Err(e) = done {
                    // Best effort: a leftover upload costs storage until the
                    // bucket's lifecycle rule for incomplete uploads clears it.
                    let _ = upload.abort().await;
                    return Err(e.into());
                }
                Ok(PutOutcome::Created)
            }
        })
        .await
    }
}

fn check_length(wanted: u64, bytes: &Bytes) -> std::result::Result<(), Attempt> {
    let got = bytes.len() as u64;
    if got == wanted {
        Ok(())
    } else {
        Err(Attempt::Short { wanted, got })
    }
}

/// A 404 that is about the bucket, not the object.
fn bucket_missing(e: &object_store::Error) -> bool {
    if !matches!(e, object_store::Error::NotFound { .. }) {
        return false;
    }
    let text = chain_text(e);
    ["NoSuchBucket", "ContainerNotFound", "bucket does not exist"]
        .iter()
        .any(|s| text.contains(s))
}

fn chain_text(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut cur = e.source();
    while let Some(s) = cur {
        let m = s.to_string();
        if !text.contains(&m) {
            text.push_str(": ");
            text.push_str(&m);
        }
        cur = s.source();
    }
    text
}

/// A store error on one short line: the S3 error code and message instead of
/// the XML document, whitespace collapsed, at most 300 characters.
pub(crate) fn one_line(e: &object_store::Error) -> String {
    let text = strip_retry_stats(&chain_text(e));
    let text = match (xml_field(&text, "Code"), xml_field(&text, "Message")) {
        (Some(code), message) => {
            let start = text
                .find("<?xml")
                .or_else(|| text.find("<Error"))
                .unwrap_or(0);
            format!(
                "{}{code}{}",
                &text[..start],
                message.map(|m| format!(" ({m})")).unwrap_or_default()
            )
        }
        _ => text,
    };
    let mut line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if line.chars().count() > 300 {
        line = line.chars().take(299).collect::<String>() + "…";
    }
    line
}

/// `Generic S3 error: Error performing GET https://h/b/k in 12ms, after 3
/// retries, max_retries: 3, retry_timeout: 180s - HTTP error: ...` becomes
/// `GET https://h/b/k: HTTP error: ...`: the attempts are counted by coffer.
fn strip_retry_stats(text: &str) -> String {
    let text = match text.split_once(" error: ") {
        Some((head, rest)) if head.starts_with("Generic ") && head.matches(' ').count() == 1 => {
            rest
        }
        _ => text,
    };
    let Some(rest) = text.strip_prefix("Error performing ") else {
        return text.to_string();
    };
    match (rest.find(" in "), rest.find(" - ")) {
        (Some(i), Some(j)) if i < j => format!("{}: {}", &rest[..i], &rest[j + 3..]),
        _ => text.to_string(),
    }
}

fn xml_field<'a>(text: &'a str, tag: &str) -> Option<&'a str> {
    let open = format!("<{tag}>");
    let start = text.find(&open)? + open.len();
    let len = text[start..].find(&format!("</{tag}>"))?;
    Some(&text[start..start + len])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s3_errors_fit_on_one_line() {
        let e = object_store::Error::Generic {
            store: "S3",
            source: "Server returned non-2xx status code: 403 Forbidden: <?xml version=\"1.0\"?>\n<Error>\n  <Code>AccessDenied</Code>\n  <Message>Access Denied</Message>\n</Error>".into(),
        };
        let line = one_line(&e);
        assert!(!line.contains('\n') && !line.contains("<?xml"), "{line}");
        assert!(
            line.contains("403 Forbidden: AccessDenied (Access Denied)"),
            "{line}"
        );
        assert_eq!(
            strip_retry_stats(
                "Generic S3 error: Error performing GET http://h/b/config in 4ms, after 3 retries, \
                 max_retries: 3, retry_timeout: 180s - HTTP error: connection refused"
            ),
            "GET http://h/b/config: HTTP error: connection refused"
        );
    }
}
