//! An `ObjectStore` wrapper that records every request made through it:
//! what tests use to prove a restore read byte ranges and not whole packs,
//! and what tells how many requests a backup costs.

use futures::StreamExt;
use futures::stream::BoxStream;
use object_store::path::Path;
use object_store::{
    CopyOptions, GetOptions, GetRange, GetResult, ListResult, MultipartUpload, ObjectMeta,
    ObjectStore, PutMultipartOptions, PutOptions, PutPayload, PutResult, UploadPart,
};
use std::ops::Range;
use std::sync::{Arc, Mutex};

/// The kind of a request, as a bucket's bill counts them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Method {
    Put,
    /// Starting a multipart upload.
    MultipartStart,
    /// One part of a multipart upload.
    MultipartPart,
    MultipartComplete,
    /// A GET of the whole object.
    Get,
    /// A GET with a `Range`.
    GetRange,
    Head,
    List,
    Delete,
    Copy,
}

/// One request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    pub method: Method,
    /// The object (or list prefix), relative to the wrapped store.
    pub path: String,
    /// For ranged GETs, the range asked for.
    pub range: Option<Range<u64>>,
    /// Payload bytes sent (puts, parts) or announced by the answer (gets).
    pub bytes: u64,
}

/// Records the requests made to `inner`.
#[derive(Debug)]
pub struct CountingStore {
    inner: Arc<dyn ObjectStore>,
    log: Arc<Mutex<Vec<Request>>>,
}

impl CountingStore {
    pub fn new(inner: Arc<dyn ObjectStore>) -> Self {
        Self {
            inner,
            log: Arc::new(Mutex::new(Vec::new())),
        }
    }

    /// Every request so far, in the order they were made.
    pub fn requests(&self) -> Vec<Request> {
        self.lock().clone()
    }

    /// Forgets the requests so far (to count one phase of a test).
    pub fn reset(&self) {
        self.lock().clear();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Request>> {
        self.log
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn record(&self, method: Method, path: &Path, range: Option<Range<u64>>, bytes: u64) {
        record(&self.log, method, path.as_ref(), range, bytes);
    }
}

fn record(
    log: &Mutex<Vec<Request>>,
    method: Method,
    path: &str,
    range: Option<Range<u64>>,
    bytes: u64,
) {
    log.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .push(Request {
            method,
            path: path.to_string(),
            range,
            bytes,
        });
}

impl std::fmt::Display for CountingStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CountingStore({})", self.inner)
    }
}

#[async_trait::async_trait]
impl ObjectStore for CountingStore {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> object_store::Result<PutResult> {
        self.record(Method::Put, location, None, payload.content_length() as u64);
        self.inner.put_opts(location, payload, opts).await
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> object_store::Result<Box<dyn MultipartUpload>> {
        self.record(Method::MultipartStart, location, None, 0);
        let upload = self.inner.put_multipart_opts(location, opts).await?;
        Ok(Box::new(CountingUpload {
            upload,
            path: location.to_string(),
            log: Arc::clone(&self.log),
        }))
    }

    async fn get_opts(
        &self,
        location: &Path,
        options: GetOptions,
    ) -> object_store::Result<GetResult> {
        let head = options.head;
        let asked = match &options.range {
            Some(GetRange::Bounded(r)) => Some(r.clone()),
            _ => None,
        };
        let ranged = options.range.is_some();
        let r = self.inner.get_opts(location, options).await;
        let bytes = r.as_ref().map_or(0, |g| g.range.end - g.range.start);
        let method = match (head, ranged) {
            (true, _) => Method::Head,
            (false, true) => Method::GetRange,
            (false, false) => Method::Get,
        };
        self.record(method, location, asked, if head { 0 } else { bytes });
        r
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, object_store::Result<Path>>,
    ) -> BoxStream<'static, object_store::Result<Path>> {
        let log = Arc::clone(&self.log);
        let locations = locations
            .inspect(move |p| {
                if let Ok(p) = p {
                    record(&log, Method::Delete, p.as_ref(), None, 0);
                }
            })
            .boxed();
        self.inner.delete_stream(locations)
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        let p = prefix.map(ToString::to_string).unwrap_or_default();
        record(&self.log, Method::List, &p, None, 0);
        self.inner.list(prefix)
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> object_store::Result<ListResult> {
        let p = prefix.map(ToString::to_string).unwrap_or_default();
        record(&self.log, Method::List, &p, None, 0);
        self.inner.list_with_delimiter(prefix).await
    }

    async fn copy_opts(
        &self,
        from: &Path,
        to: &Path,
        options: CopyOptions,
    ) -> object_store::Result<()> {
        self.record(Method::Copy, to, None, 0);
        self.inner.copy_opts(from, to, options).await
    }
}

#[derive(Debug)]
struct CountingUpload {
    upload: Box<dyn MultipartUpload>,
    path: String,
    log: Arc<Mutex<Vec<Request>>>,
}

#[async_trait::async_trait]
impl MultipartUpload for CountingUpload {
    fn put_part(&mut self, data: PutPayload) -> UploadPart {
        record(
            &self.log,
            Method::MultipartPart,
            &self.path,
            None,
            data.content_length() as u64,
        );
        self.upload.put_part(data)
    }

    async fn complete(&mut self) -> object_store::Result<PutResult> {
        record(&self.log, Method::MultipartComplete, &self.path, None, 0);
        self.upload.complete().await
    }

    async fn abort(&mut self) -> object_store::Result<()> {
        self.upload.abort().await
    }
}
