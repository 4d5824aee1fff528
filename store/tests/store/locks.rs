//! Locks left by killed processes: a new lock removes those of this host
//! whose process has ended, and none that might still be held.

use super::util::*;
use coffer_store::format::layout;
use coffer_store::format::lock::{LockKind, LockRecord};
use coffer_store::lock::{self, LockOptions};
use coffer_store::repo::{hostname, unix_ns};
use std::collections::BTreeSet;
use std::time::{Duration, SystemTime};

fn lock_names(repo: &coffer_store::Repository) -> BTreeSet<String> {
    repo.backend()
        .list(layout::LOCKS)
        .unwrap()
        .into_iter()
        .map(|(name, _)| name)
        .collect()
}

/// A backup lock taken now by `pid` on `host`, last refreshed `age` ago.
fn planted(repo: &coffer_store::Repository, host: &str, pid: u32, age: Duration) -> String {
    let now = unix_ns(SystemTime::now());
    let refreshed = now - i64::try_from(age.as_nanos()).unwrap();
    let id = lock::write_lock(
        repo,
        &LockRecord {
            kind: LockKind::Backup,
            host: host.into(),
            pid,
            username: "planted".into(),
            created_unix_ns: now,
            refreshed_unix_ns: refreshed,
        },
    )
    .unwrap();
    layout::lock(&id)
}

#[test]
fn a_new_lock_removes_the_locks_of_ended_processes_of_this_host_and_no_other() {
    let repo = memory_repo();
    // A process of this host that has ended: its id is free (or, if handed
    // out again at once, now belongs to a process started after the lock).
    let mut child = std::process::Command::new("true").spawn().unwrap();
    let dead = child.id();
    child.wait().unwrap();
    let killed_here = planted(&repo, &hostname(), dead, Duration::ZERO);
    // The same pid on another host: nothing here can tell whether it ended.
    let elsewhere = planted(&repo, "another-host", dead, Duration::ZERO);
    // A live process of this host whose lock is stale by its age only (as
    // when the holder was suspended, or its clock was wrong): left to
    // `coffer unlock`, which is told.
    let old_but_alive = planted(
        &repo,
        &hostname(),
        std::process::id(),
        Duration::from_secs(2 * 3600),
    );
    let listed = lock::list(&repo, SystemTime::now(), &LockOptions::default()).unwrap();
    let stale: Vec<bool> = listed.iter().map(|l| l.is_stale()).collect();
    assert_eq!(stale.iter().filter(|s| **s).count(), 2, "{listed:?}");

    let during = lock::hold(&repo, LockKind::Backup, &LockOptions::default(), |_| {
        Ok(lock_names(&repo))
    })
    .unwrap();
    assert!(
        !during.contains(&killed_here),
        "the lock of the ended process is still there"
    );
    assert!(during.contains(&elsewhere) && during.contains(&old_but_alive));
    assert_eq!(during.len(), 3, "the new lock and the two that may be held");

    let after = lock_names(&repo);
    let expected: BTreeSet<String> = [elsewhere, old_but_alive].into_iter().collect();
    assert_eq!(after, expected, "the new lock went, the others stayed");
}
