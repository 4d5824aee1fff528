//! An `ObjectStore` wrapper that makes requests fail the ways networks and
//! object stores do: refused before reaching the store, lost after the store
//! acted on them, bodies that break off or end early, requests that never
//! answer, and latency. Tests drive backups through it to show that retries
//! carry them through, or that they fail cleanly without a snapshot anyone
//! would trust.
//!
//! Reproducible: the fate of a request depends only on the seed, its kind
//! (method and top folder: `PUT data`, `GET index`) and how many requests of
//! that kind came before. Object names are left out on purpose: pack names
//! hash random nonces, so they differ from run to run. Concurrent uploads may
//! swap fates among themselves, but the sequence of fates is the seed's.

use futures::StreamExt;
use futures::stream::BoxStream;
use object_store::path::Path;
use object_store::{
    CopyOptions, GetOptions, GetResult, GetResultPayload, ListResult, MultipartUpload, ObjectMeta,
    ObjectStore, PutMultipartOptions, PutOptions, PutPayload, PutResult, UploadPart,
};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What share of requests fail, and how. Shares add up to at most 1.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct FaultPlan {
    pub seed: u64,
    /// The request fails before the store sees it (connection refused).
    pub fail_before: f64,
    /// The store does the work, the answer is lost (connection dropped after sending).
    pub fail_after: f64,
    /// A read's body breaks off half-way with an error.
    pub drop_body: f64,
    /// A read's body ends early, without an error: only a length check notices.
    pub truncate_body: f64,
    /// The request never answers (only a deadline ends it).
    pub stall: f64,
    /// Every request waits up to this long first (uniformly drawn).
    pub max_latency: Duration,
    /// Faults only on writes (uploads flaky, downloads fine).
    pub writes_only: bool,
    /// Every write is refused as forbidden: read-only credentials.
    pub deny_writes: bool,
}

impl FaultPlan {
    /// `share` of all requests fail, spread over the four kinds that end by
    /// themselves (no stalls), with up to 2 ms of latency on every request.
    pub fn failing(seed: u64, share: f64) -> Self {
        Self {
            seed,
            fail_before: share * 0.4,
            fail_after: share * 0.3,
            drop_body: share * 0.15,
            truncate_body: share * 0.15,
            stall: 0.0,
            max_latency: Duration::from_millis(2),
            writes_only: false,
            deny_writes: false,
        }
    }
}

/// How many faults of each kind were injected so far.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FaultCounts {
    pub requests: u64,
    pub failed_before: u64,
    pub failed_after: u64,
    pub dropped_bodies: u64,
    pub truncated_bodies: u64,
    pub stalled: u64,
}

impl FaultCounts {
    pub fn total(&self) -> u64 {
        self.failed_before
            + self.failed_after
            + self.dropped_bodies
            + self.truncated_bodies
            + self.stalled
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fault {
    None,
    Before,
    After,
    DropBody,
    TruncateBody,
    Stall,
}

/// Wraps `inner`, failing requests according to a [`FaultPlan`].
#[derive(Debug)]
pub struct FaultStore {
    inner: Arc<dyn ObjectStore>,
    state: Arc<State>,
}

#[derive(Debug)]
struct State {
    plan: FaultPlan,
    enabled: AtomicBool,
    seen: Mutex<HashMap<String, u64>>,
    requests: AtomicU64,
    before: AtomicU64,
    after: AtomicU64,
    dropped: AtomicU64,
    truncated: AtomicU64,
    stalled: AtomicU64,
}

impl FaultStore {
    pub fn new(inner: Arc<dyn ObjectStore>, plan: FaultPlan) -> Self {
        Self {
            inner,
            state: Arc::new(State {
                plan,
                enabled: AtomicBool::new(true),
                seen: Mutex::new(HashMap::new()),
                requests: AtomicU64::new(0),
                before: AtomicU64::new(0),
                after: AtomicU64::new(0),
                dropped: AtomicU64::new(0),
                truncated: AtomicU64::new(0),
                stalled: AtomicU64::new(0),
            }),
        }
    }

    /// Turns fault injection on or off (requests pass through when off).
    pub fn set_enabled(&self, on: bool) {
        self.state.enabled.store(on, Ordering::SeqCst);
    }

    pub fn counts(&self) -> FaultCounts {
        let s = &self.state;
        FaultCounts {
            requests: s.requests.load(Ordering::SeqCst),
            failed_before: s.before.load(Ordering::SeqCst),
            failed_after: s.after.load(Ordering::SeqCst),
            dropped_bodies: s.dropped.load(Ordering::SeqCst),
            truncated_bodies: s.truncated.load(Ordering::SeqCst),
            stalled: s.stalled.load(Ordering::SeqCst),
        }
    }
}

impl State {
    /// Draws the fate of one request. `reads`: whether body faults apply.
    fn draw(&self, request: &str, reads: bool, writes: bool) -> (Fault, Duration) {
        if !self.enabled.load(Ordering::SeqCst) || (self.plan.writes_only && !writes) {
            return (Fault::None, Duration::ZERO);
        }
        self.requests.fetch_add(1, Ordering::SeqCst);
        let occurrence = {
            let mut seen = self
                .seen
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let n = seen.entry(request.to_string()).or_insert(0);
            *n += 1;
            *n
        };
        let mut h = blake3::Hasher::new();
        h.update(&self.plan.seed.to_le_bytes());
        h.update(&occurrence.to_le_bytes());
        h.update(request.as_bytes());
        let out = h.finalize();
        let b = out.as_bytes();
        let word = |i: usize| {
            let mut w = [0u8; 8];
            w.copy_from_slice(&b[i..i + 8]);
            u64::from_le_bytes(w)
        };
        // 53 random bits as a fraction in [0, 1).
        let x = (word(0) >> 11) as f64 / (1u64 << 53) as f64;
        let latency_nanos = u64::try_from(self.plan.max_latency.as_nanos()).unwrap_or(u64::MAX);
        let latency = Duration::from_nanos(word(8) % latency_nanos.saturating_add(1));
        let p = &self.plan;
        let mut edge = 0.0;
        let mut pick = |share: f64, applies: bool| {
            if applies {
                edge += share;
            }
            applies && x < edge
        };
        let fault = if pick(p.fail_before, true) {
            Fault::Before
        } else if pick(p.fail_after, true) {
            Fault::After
        } else if pick(p.drop_body, reads) {
            Fault::DropBody
        } else if pick(p.truncate_body, reads) {
            Fault::TruncateBody
        } else if pick(p.stall, true) {
            Fault::Stall
        } else {
            Fault::None
        };
        let counter = match fault {
            Fault::None => None,
            Fault::Before => Some(&self.before),
            Fault::After => Some(&self.after),
            Fault::DropBody => Some(&self.dropped),
            Fault::TruncateBody => Some(&self.truncated),
            Fault::Stall => Some(&self.stalled),
        };
        if let Some(c) = counter {
            c.fetch_add(1, Ordering::SeqCst);
        }
        (fault, latency)
    }

    /// Latency, then the faults that happen before the store is asked.
    async fn enter(&self, request: &str, reads: bool) -> object_store::Result<Fault> {
        self.enter_as(request, reads, false).await
    }

    /// [`Self::enter`] for a request that writes: refused outright under `deny_writes`.
    async fn enter_write(&self, request: &str) -> object_store::Result<Fault> {
        if self.plan.deny_writes && self.enabled.load(Ordering::SeqCst) {
            return Err(object_store::Error::PermissionDenied {
                path: request.to_string(),
                source: "403 Forbidden: AccessDenied (injected fault)".into(),
            });
        }
        self.enter_as(request, false, true).await
    }

    async fn enter_as(
        &self,
        request: &str,
        reads: bool,
        writes: bool,
    ) -> object_store::Result<Fault> {
        let (fault, latency) = self.draw(request, reads, writes);
        if !latency.is_zero() {
            tokio::time::sleep(latency).await;
        }
        match fault {
            Fault::Before => Err(injected("connection refused")),
            Fault::Stall => futures::future::pending().await,
            other => Ok(other),
        }
    }
}

/// The top folder of an object name (`data`, `index`, `snapshots`, `keys`, `config`).
fn folder(path: &str) -> &str {
    path.split('/').next().unwrap_or_default()
}

fn injected(what: &str) -> object_store::Error {
    object_store::Error::Generic {
        store: "FaultStore",
        source: format!("{what} (injected fault)").into(),
    }
}

impl std::fmt::Display for FaultStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "FaultStore({})", self.inner)
    }
}

#[async_trait::async_trait]
impl ObjectStore for FaultStore {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> object_store::Result<PutResult> {
        let fault = self
            .state
            .enter_write(&format!("PUT {}", folder(location.as_ref())))
            .await?;
        let r = self.inner.put_opts(location, payload, opts).await?;
        if fault == Fault::After {
            return Err(injected("connection dropped after the upload"));
        }
        Ok(r)
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> object_store::Result<Box<dyn MultipartUpload>> {
        let fault = self
            .state
            .enter_write(&format!("POST uploads {}", folder(location.as_ref())))
            .await?;
        let upload = self.inner.put_multipart_opts(location, opts).await?;
        if fault == Fault::After {
            // The upload was started and is left dangling, as a lost answer would.
            return Err(injected("connection dropped after starting the upload"));
        }
        Ok(Box::new(FaultUpload {
            upload,
            path: location.to_string(),
            parts: 0,
            state: Arc::clone(&self.state),
        }))
    }

    async fn get_opts(
        &self,
        location: &Path,
        options: GetOptions,
    ) -> object_store::Result<GetResult> {
        let reads = !options.head;
        let request = format!(
            "{} {}",
            if options.head { "HEAD" } else { "GET" },
            folder(location.as_ref())
        );
        let fault = self.state.enter(&request, reads).await?;
        let r = self.inner.get_opts(location, options).await?;
        match fault {
            Fault::After => Err(injected("connection dropped before the answer")),
            Fault::DropBody | Fault::TruncateBody if reads => {
                let (meta, range) = (r.meta.clone(), r.range.clone());
                let (attributes, extensions) = (r.attributes.clone(), r.extensions.clone());
                let body = r.bytes().await?;
                let half = body.slice(..body.len() / 2);
                let stream: BoxStream<'static, object_store::Result<bytes::Bytes>> =
                    if fault == Fault::DropBody {
                        futures::stream::iter(vec![
                            Ok(half),
                            Err(injected("connection reset while reading")),
                        ])
                        .boxed()
                    } else {
                        futures::stream::iter(vec![Ok(half)]).boxed()
                    };
                Ok(GetResult {
                    payload: GetResultPayload::Stream(stream),
                    meta,
                    range,
                    attributes,
                    extensions,
                })
            }
            _ => Ok(r),
        }
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, object_store::Result<Path>>,
    ) -> BoxStream<'static, object_store::Result<Path>> {
        // Deletions pass through: backups never delete, and a pruning test
        // wants its faults where it chooses them.
        self.inner.delete_stream(locations)
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        let state = Arc::clone(&self.state);
        let request = format!(
            "LIST {}",
            prefix.map(ToString::to_string).unwrap_or_default()
        );
        let inner = self.inner.list(prefix);
        futures::stream::once(async move {
            match state.enter(&request, true).await {
                Err(e) => futures::stream::iter(vec![Err(e)]).boxed(),
                Ok(Fault::After) => {
                    futures::stream::iter(vec![Err(injected("connection dropped"))]).boxed()
                }
                Ok(Fault::DropBody | Fault::TruncateBody) => {
                    // A listing that breaks off after its first entry.
                    inner
                        .take(1)
                        .chain(futures::stream::iter(vec![Err(injected(
                            "connection reset while listing",
                        ))]))
                        .boxed()
                }
                Ok(_) => inner,
            }
        })
        .flatten()
        .boxed()
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> object_store::Result<ListResult> {
        let request = format!(
            "LIST/ {}",
            prefix.map(ToString::to_string).unwrap_or_default()
        );
        let fault = self.state.enter(&request, false).await?;
        let r = self.inner.list_with_delimiter(prefix).await?;
        if fault == Fault::After {
            return Err(injected("connection dropped"));
        }
        Ok(r)
    }

    async fn copy_opts(
        &self,
        from: &Path,
        to: &Path,
        options: CopyOptions,
    ) -> object_store::Result<()> {
        let fault = self
            .state
            .enter_write(&format!("COPY {}", folder(to.as_ref())))
            .await?;
        self.inner.copy_opts(from, to, options).await?;
        if fault == Fault::After {
            return Err(injected("connection dropped after the copy"));
        }
        Ok(())
    }
}

#[derive(Debug)]
struct FaultUpload {
    upload: Box<dyn MultipartUpload>,
    path: String,
    parts: u64,
    state: Arc<State>,
}

#[async_trait::async_trait]
impl MultipartUpload for FaultUpload {
    fn put_part(&mut self, data: PutPayload) -> UploadPart {
        self.parts += 1;
        let request = format!("PUT part {} {}", self.parts, folder(&self.path));
        let state = Arc::clone(&self.state);
        let part = self.upload.put_part(data);
        Box::pin(async move {
            let fault = state.enter_write(&request).await?;
            part.await?;
            if fault == Fault::After {
                return Err(injected("connection dropped after the part"));
            }
            Ok(())
        })
    }

    async fn complete(&mut self) -> object_store::Result<PutResult> {
        let request = format!("POST complete {}", folder(&self.path));
        let fault = self.state.enter_write(&request).await?;
        let r = self.upload.complete().await?;
        if fault == Fault::After {
            return Err(injected("connection dropped after completing the upload"));
        }
        Ok(r)
    }

    async fn abort(&mut self) -> object_store::Result<()> {
        self.upload.abort().await
    }
}
