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
    /// How long to keep trying while another live lock conflicts (restic's
    /// `--retry-lock`); zero gives up at once.
    pub retry_for: Duration,
}

impl Default for LockOptions {
    /// restic's figures: refreshed every 5 minutes, stale after 30, no retry.
    fn default() -> Self {
        Self {
            refresh_every: Duration::from_secs(5 * 60),
            stale_after: Duration::from_secs(30 * 60),
            retry_for: Duration::ZERO,
        }
    }
}

/// First pause between attempts to take a lock; it doubles up to the last.
const RETRY_FIRST_PAUSE: Duration = Duration::from_millis(100);
const RETRY_LONGEST_PAUSE: Duration = Duration::from_secs(5);

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
    /// Taken on this host by a process that has ended: stale for certain,
    /// whatever the clocks say (see [`take`], which removes such locks).
    #[serde(skip)]
    pub holder_ended_here: bool,
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
    stale_because(record, holder_here(record), now, opts)
}

/// [`staleness`], with the holder already looked up (see [`holder_here`]).
fn stale_because(
    record: &LockRecord,
    holder: Option<Holder>,
    now: SystemTime,
    opts: &LockOptions,
) -> Option<String> {
    let age_ns = unix_ns(now).saturating_sub(record.refreshed_unix_ns);
    let limit = i64::try_from(opts.stale_after.as_nanos()).unwrap_or(i64::MAX);
    if age_ns > limit {
        return Some(format!(
            "not refreshed for {} minutes (stale after {})",
            age_ns / 60_000_000_000,
            opts.stale_after.as_secs() / 60
        ));
    }
    match holder {
        Some(Holder::Gone) => Some(format!("process {} on this host is gone", record.pid)),
        Some(Holder::Reused) => Some(format!(
            "process {} on this host ended; the number now belongs to a later process",
            record.pid
        )),
        Some(Holder::Alive) | None => None,
    }
}

/// What became of the lock's process, when it was taken on this host.
fn holder_here(record: &LockRecord) -> Option<Holder> {
    (record.host == hostname()).then(|| local_holder(record.pid, record.created_unix_ns))
}

/// What became of the process that took a lock on this host.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Holder {
    Alive,
    Gone,
    /// A process with that id runs, but it started after the lock was taken:
    /// the id was given again after the holder ended (Linux hands out ids
    /// again once they wrap, at 32,768 by default, within minutes on a busy
    /// machine).
    Reused,
}

/// How much later than the lock a process must have started to count as a
/// different one: `/proc/stat`'s boot time is in whole seconds.
const START_TIME_SLACK_NS: i64 = 2_000_000_000;

/// Looks the holder up in `/proc` (no unsafe code in this crate); where there
/// is no `/proc`, every process counts as alive and only the refresh time
/// makes a lock stale.
fn local_holder(pid: u32, lock_created_unix_ns: i64) -> Holder {
    let proc_fs = std::path::Path::new("/proc");
    if !proc_fs.join("self").exists() {
        return Holder::Alive;
    }
    if pid == 0 {
        return Holder::Gone;
    }
    let Ok(stat) = std::fs::read_to_string(proc_fs.join(pid.to_string()).join("stat")) else {
        return Holder::Gone;
    };
    match process_start_unix_ns(&stat) {
        Some(start) if start > lock_created_unix_ns.saturating_add(START_TIME_SLACK_NS) => {
            Holder::Reused
        }
        _ => Holder::Alive,
    }
}

/// When the process whose `/proc/<pid>/stat` line this is started, from its
/// start time in clock ticks after boot (field 22, counted after the
/// parenthesised command name, which may itself hold spaces) and the boot
/// time in `/proc/stat`. `None` when either cannot be read.
fn process_start_unix_ns(stat: &str) -> Option<i64> {
    let after_name = &stat[stat.rfind(')')? + 1..];
    // Field 3 (state) is the first after the name; starttime is field 22.
    let ticks: i64 = after_name.split_whitespace().nth(19)?.parse().ok()?;
    let per_second = i64::try_from(rustix::param::clock_ticks_per_second()).ok()?;
    if per_second == 0 {
        return None;
    }
    Some(boot_unix_s()? * 1_000_000_000 + ticks * (1_000_000_000 / per_second))
}

/// The boot time from `/proc/stat`, read once per process (a listing judges
/// every lock of this host against it).
fn boot_unix_s() -> Option<i64> {
    static BOOT: std::sync::OnceLock<Option<i64>> = std::sync::OnceLock::new();
    *BOOT.get_or_init(|| {
        std::fs::read_to_string("/proc/stat")
            .ok()?
            .lines()
            .find_map(|l| l.strip_prefix("btime "))?
            .trim()
            .parse()
            .ok()
    })
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
        let unreadable = record.refreshed_unix_ns == 0 && record.pid == 0;
        let holder = if unreadable {
            None
        } else {
            holder_here(&record)
        };
        let stale = if unreadable {
            Some("unreadable lock object".to_string())
        } else {
            stale_because(&record, holder, now, opts)
        };
        let holder_ended_here = holder.is_some_and(|h| h != Holder::Alive);
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
            holder_ended_here,
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
    let (id, record) = take(repo, kind, opts)?;
    let held = Held {
        repo,
        record: Mutex::new((id, record)),
        opts: *opts,
        lost: AtomicBool::new(false),
    };
    let result = {
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
    };
    let _ = repo.backend().delete(&layout::lock(&held.id()));
    result
}

/// Stores a lock of `kind` that no live lock conflicts with. While one does,
/// and [`LockOptions::retry_for`] allows, the lock is withdrawn and taken
/// again after a pause: the index compaction that ends a backup holds a
/// prune lock for a few seconds, and a prune starting then should wait for
/// it rather than fail.
fn take(repo: &Repository, kind: LockKind, opts: &LockOptions) -> Result<(LockId, LockRecord)> {
    let started = std::time::Instant::now();
    let mut pause = RETRY_FIRST_PAUSE;
    loop {
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
        match conflicts(repo, kind, id, opts) {
            Ok(others) => {
                remove_ended_here(repo, &others);
                return Ok((id, record));
            }
            Err(e) => {
                let _ = repo.backend().delete(&layout::lock(&id));
                if !matches!(e, Error::Locked { .. }) || started.elapsed() + pause > opts.retry_for
                {
                    return Err(e);
                }
                std::thread::sleep(pause);
                pause = (pause * 2).min(RETRY_LONGEST_PAUSE);
            }
        }
    }
}

/// Deletes the locks that processes of this host left when they were killed
/// (best effort): their holders are gone for certain, so no rule can need
/// them, and without this every crash leaves one behind until `coffer
/// unlock`. Locks of other hosts, or stale only by their age (a holder may be
/// suspended, or its clock wrong), are left to `coffer unlock`.
fn remove_ended_here(repo: &Repository, locks: &[LockEntry]) {
    for l in locks.iter().filter(|l| l.holder_ended_here) {
        let _ = repo.backend().delete(&layout::lock(&l.id));
    }
}

/// The other locks, when none of them conflicts with a new one of `kind`.
fn conflicts(
    repo: &Repository,
    kind: LockKind,
    own: LockId,
    opts: &LockOptions,
) -> Result<Vec<LockEntry>> {
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
        None => Ok(others),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn the_start_time_is_read_past_a_command_name_with_spaces_and_parentheses() {
        // Fields after the name: state, ppid, pgrp, ... starttime is the 20th.
        let tail: Vec<String> = (3..=25).map(|f| f.to_string()).collect();
        let line = format!("4242 (a (b) c) {}", tail.join(" "));
        let with_name = process_start_unix_ns(&line).unwrap();
        let plain = process_start_unix_ns(&format!("4242 (coffer) {}", tail.join(" "))).unwrap();
        assert_eq!(with_name, plain);
        let per_second = i64::try_from(rustix::param::clock_ticks_per_second()).unwrap();
        let boot = process_start_unix_ns(&format!("1 (x) {}", ["0"; 23].join(" "))).unwrap();
        assert_eq!(plain - boot, 22 * (1_000_000_000 / per_second));
        assert_eq!(process_start_unix_ns("4242 (coffer) S 1 2"), None);
    }

    #[test]
    fn this_process_started_before_now_and_holds_a_lock_it_took_now() {
        let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
        let start = process_start_unix_ns(&stat).unwrap();
        let now = unix_ns(SystemTime::now());
        assert!(
            start <= now + START_TIME_SLACK_NS,
            "start {start}, now {now}"
        );
        assert!(
            now - start < 24 * 3600 * 1_000_000_000,
            "this test started a day ago?"
        );
        assert_eq!(local_holder(std::process::id(), now), Holder::Alive);
    }

    #[test]
    fn a_lock_older_than_the_process_now_holding_its_pid_is_stale() {
        let pid = std::process::id();
        let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
        let start = process_start_unix_ns(&stat).unwrap();
        let before_start = start - 60 * 1_000_000_000;
        assert_eq!(local_holder(pid, before_start), Holder::Reused);
        // Refreshed a moment ago, so only the start time tells it is stale.
        let now = SystemTime::now();
        let record = LockRecord {
            kind: LockKind::Prune,
            host: hostname(),
            pid,
            username: username(),
            created_unix_ns: before_start,
            refreshed_unix_ns: unix_ns(now),
        };
        let why = staleness(&record, now, &LockOptions::default()).unwrap();
        assert!(why.contains("later process"), "{why}");
    }

    #[test]
    fn a_lock_of_an_ended_process_is_stale() {
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        child.wait().unwrap();
        assert_eq!(local_holder(pid, unix_ns(SystemTime::now())), Holder::Gone);
    }
}
