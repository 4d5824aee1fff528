//! Locks: `locks/<random id>` objects saying who writes to or prunes the
//! repository (FORMAT.md, "Locks").
//!
//! Locks never make a backup wait for prune: backups share the repository with
//! each other and with prune. They exist so that prune's second phase can tell
//! whether a backup that might still use condemned data is running, and so
//! that two prunes never run at once. A run holds its lock through [`hold`],
//! which refreshes it in a background thread (a refresh writes a new object and
//! deletes the old one: objects are never overwritten) and removes it at the
//! end, whatever the outcome.
//!
//! A lock is *stale* when it was not refreshed for [`LockOptions::stale_after`],
//! or when it was taken on this host by a process that no longer exists. Stale
//! locks are ignored by every check and removed by `coffer unlock`, so a
//! crashed run never blocks the next night.

use crate::codec;
use crate::crypto::{self, Domain};
use crate::error::{Error, Result};
use crate::format::layout;
use crate::format::lock::{LockKind, LockRecord};
use crate::id::LockId;
use crate::repo::{Repository, hostname, unix_ns, username};
use bytes::Bytes;
use serde::Serialize;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime};

/// How often a lock is refreshed and when it counts as stale.
#[derive(Clone, Copy, Debug)]
pub struct LockOptions {
    pub refresh_every: Duration,
    pub stale_after: Duration,
}

impl Default for LockOptions {
    /// restic's figures: refreshed every 5 minutes, stale after 30.
    fn default() -> Self {
        Self {
            refresh_every: Duration::from_secs(5 * 60),
            stale_after: Duration::from_secs(30 * 60),
        }
    }
}

/// One lock object as listed.
#[derive(Clone, Debug, Serialize)]
pub struct LockEntry {
    pub id: LockId,
    pub kind: &'static str,
    pub host: String,
    pub pid: u32,
    pub username: String,
    pub created_unix_ns: i64,
    pub refreshed_unix_ns: i64,
    /// Seconds since the last refresh (negative when the holder's clock is ahead).
    pub age_seconds: i64,
    /// Why the lock is stale; `None` for a live lock.
    pub stale: Option<String>,
    #[serde(skip)]
    pub record: LockRecord,
}

impl LockEntry {
    pub fn is_stale(&self) -> bool {
        self.stale.is_some()
    }

    fn describe(&self) -> String {
        format!(
            "{} lock {} held by pid {} on {} (user {:?}), refreshed {}s ago",
            self.kind,
            self.id.short(),
            self.pid,
            self.host,
            self.username,
            self.age_seconds
        )
    }
}

/// Why a lock record is stale at `now`, or `None` when it is live.
pub fn staleness(record: &LockRecord, now: SystemTime, opts: &LockOptions) -> Option<String> {
    let age_ns = unix_ns(now).saturating_sub(record.refreshed_unix_ns);
    let limit = i64::try_from(opts.stale_after.as_nanos()).unwrap_or(i64::MAX);
    if age_ns > limit {
        return Some(format!(
            "not refreshed for {} minutes (stale after {})",
            age_ns / 60_000_000_000,
            opts.stale_after.as_secs() / 60
        ));
    }
    if record.host == hostname() && !process_alive(record.pid) {
        return Some(format!("process {} on this host is gone", record.pid));
    }
    None
}

/// Whether a process with this id exists on this machine. Read from
/// `/proc` (no unsafe code in this crate); where there is no `/proc`, every
/// process counts as alive and only the refresh time makes a lock stale.
fn process_alive(pid: u32) -> bool {
    let proc_fs = std::path::Path::new("/proc");
    if !proc_fs.join("self").exists() {
        return true;
    }
    pid != 0 && proc_fs.join(pid.to_string()).exists()
}

/// Every lock object, oldest first. Unreadable ones (wrong key, damage) are
/// listed as stale with the reason, so `unlock` can clear them.
pub fn list(repo: &Repository, now: SystemTime, opts: &LockOptions) -> Result<Vec<LockEntry>> {
    let mut out = Vec::new();
    for (name, _) in repo.backend().list(layout::LOCKS)? {
        let Some(id) = layout::id_from_name(&name).map(LockId) else {
            continue;
        };
        // Removed between the listing and the read: its holder refreshed or ended.
        let Some(bytes) = repo.backend().get(&name)? else {
            continue;
        };
        let record = match open_lock(repo, &name, &bytes) {
            Ok(r) => r,
            Err(_) => LockRecord {
                kind: LockKind::Backup,
                host: String::new(),
                pid: 0,
                username: String::new(),
                created_unix_ns: 0,
                refreshed_unix_ns: 0,
            },
        };
        let stale = if record.refreshed_unix_ns == 0 && record.pid == 0 {
            Some("unreadable lock object".to_string())
        } else {
            staleness(&record, now, opts)
        };
        out.push(LockEntry {
            id,
            kind: record.kind.name(),
            host: record.host.clone(),
            pid: record.pid,
            username: record.username.clone(),
            created_unix_ns: record.created_unix_ns,
            refreshed_unix_ns: record.refreshed_unix_ns,
            age_seconds: (unix_ns(now) - record.refreshed_unix_ns) / 1_000_000_000,
            stale,
            record,
        });
    }
    out.sort_by_key(|l| (l.created_unix_ns, l.id));
    Ok(out)
}

fn open_lock(repo: &Repository, name: &str, bytes: &[u8]) -> Result<LockRecord> {
    let plain = repo
        .key()
        .open(Domain::Lock, bytes)
        .map_err(|e| Error::corrupt(name, e.to_string()))?;
    codec::decode(&plain).map_err(|e| Error::corrupt(name, e.to_string()))
}

/// Stores a lock record under a fresh random name. Public so that tests and
/// tools can leave a lock as a crashed run would.
pub fn write_lock(repo: &Repository, record: &LockRecord) -> Result<LockId> {
    let id = LockId(crypto::random_array());
    let sealed = repo.key().seal(Domain::Lock, &codec::encode(record));
    repo.backend()
        .put_new(&layout::lock(&id), Bytes::from(sealed))?;
    Ok(id)
}

/// Removes stale locks (every lock with `all`); returns what it removed.
pub fn unlock(
    repo: &Repository,
    now: SystemTime,
    opts: &LockOptions,
    all: bool,
) -> Result<Vec<LockEntry>> {
    let mut removed = Vec::new();
    for l in list(repo, now, opts)? {
        if all || l.is_stale() {
            repo.backend().delete(&layout::lock(&l.id))?;
            removed.push(l);
        }
    }
    Ok(removed)
}

/// A lock this process holds (see [`hold`]).
pub struct Held<'r> {
    repo: &'r Repository,
    record: Mutex<(LockId, LockRecord)>,
    opts: LockOptions,
    lost: AtomicBool,
}

impl Held<'_> {
    /// When the lock was first taken.
    pub fn created(&self) -> SystemTime {
        let ns = self.lock_record().1.created_unix_ns;
        SystemTime::UNIX_EPOCH + Duration::from_nanos(u64::try_from(ns).unwrap_or(0))
    }

    /// The current lock object.
    pub fn id(&self) -> LockId {
        self.lock_record().0
    }

    /// Fails when the lock may have looked stale to another run at some point:
    /// called before writing anything that relies on it (a snapshot, a deletion).
    pub fn ensure_held(&self) -> Result<()> {
        let (id, record) = self.lock_record().clone();
        let since = unix_ns(SystemTime::now()) - record.refreshed_unix_ns;
        let safe = self
            .opts
            .stale_after
            .saturating_sub(self.opts.refresh_every / 2);
        if self.lost.load(Ordering::SeqCst)
            || since > i64::try_from(safe.as_nanos()).unwrap_or(i64::MAX)
        {
            return Err(Error::LockLost {
                lock: id.short(),
                minutes: u64::try_from(since / 60_000_000_000).unwrap_or(0),
            });
        }
        Ok(())
    }

    fn lock_record(&self) -> std::sync::MutexGuard<'_, (LockId, LockRecord)> {
        self.record
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Writes a fresh lock object, then removes the previous one.
    fn refresh(&self) {
        let (old, mut record) = self.lock_record().clone();
        let now = unix_ns(SystemTime::now());
        let limit = i64::try_from(self.opts.stale_after.as_nanos()).unwrap_or(i64::MAX);
        if now - record.refreshed_unix_ns > limit {
            // Too late: someone may already have ignored (or removed) the lock.
            self.lost.store(true, Ordering::SeqCst);
        }
        record.refreshed_unix_ns = now;
        let Ok(new) = write_lock(self.repo, &record) else {
            // Try again at the next tick; ensure_held notices if it never works.
            return;
        };
        *self.lock_record() = (new, record);
        let _ = self.repo.backend().delete(&layout::lock(&old));
    }
}

/// Takes a lock of `kind`, runs `f` while a background thread keeps the lock
/// fresh, and removes the lock afterwards, whatever `f` returned.
///
/// Conflicts (checked after the lock is written, so two runs starting together
/// both see each other and both back off): a prune refuses to run beside
/// another live prune or exclusive lock; an exclusive lock beside any live
/// lock; a backup only beside a live exclusive lock, never beside a prune.
pub fn hold<T>(
    repo: &Repository,
    kind: LockKind,
    opts: &LockOptions,
    f: impl FnOnce(&Held<'_>) -> Result<T>,
) -> Result<T> {
    let now = SystemTime::now();
    let record = LockRecord {
        kind,
        host: hostname(),
        pid: std::process::id(),
        username: username(),
        created_unix_ns: unix_ns(now),
        refreshed_unix_ns: unix_ns(now),
    };
    let id = write_lock(repo, &record)?;
    let held = Held {
        repo,
        record: Mutex::new((id, record)),
        opts: *opts,
        lost: AtomicBool::new(false),
    };
    let result = conflicts(repo, kind, id, opts).and_then(|()| {
        let (stop, ticks) = crossbeam_channel::bounded::<()>(0);
        std::thread::scope(|scope| {
            let held = &held;
            scope.spawn(move || {
                while let Err(crossbeam_channel::RecvTimeoutError::Timeout) =
                    ticks.recv_timeout(opts.refresh_every)
                {
                    held.refresh();
                }
            });
            let r = f(held);
            drop(stop);
            r
        })
    });
    let _ = repo.backend().delete(&layout::lock(&held.id()));
    result
}

fn conflicts(repo: &Repository, kind: LockKind, own: LockId, opts: &LockOptions) -> Result<()> {
    let others = list(repo, SystemTime::now(), opts)?;
    let blocking = others.iter().find(|l| {
        l.id != own
            && !l.is_stale()
            && match kind {
                LockKind::Backup => l.record.kind == LockKind::Exclusive,
                LockKind::Prune => l.record.kind != LockKind::Backup,
                LockKind::Exclusive => true,
            }
    });
    match blocking {
        Some(l) => Err(Error::Locked {
            holder: l.describe(),
        }),
        None => Ok(()),
    }
}
