//! Progress reporting: the store says what happens, the binary decides how
//! (if at all) to draw it. Every method has a no-op default.

/// Receives progress from long operations. Called from worker threads.
pub trait Progress: Send + Sync {
    /// A phase starts; `total_bytes` when known (restore knows, a stdin dump does not).
    fn phase(&self, _name: &str, _total_bytes: Option<u64>) {}
    /// Source bytes processed (read, or skipped as unchanged).
    fn bytes(&self, _n: u64) {}
    /// What the current phase will process in all, once known (a backup
    /// learns it from a walk beside the real one; see [`Progress::wants_totals`]).
    fn totals(&self, _bytes: u64, _files: u64) {}
    /// Whether a backup should measure its sources to call [`Progress::totals`];
    /// that walk costs metadata reads, so only a display that shows it asks.
    fn wants_totals(&self) -> bool {
        false
    }
    /// One more file done.
    fn file_done(&self) {}
    /// Something was skipped or could not be read; the run goes on.
    fn warn(&self, _message: &str) {}
}

/// Reports nothing.
pub struct NoProgress;

impl Progress for NoProgress {}
