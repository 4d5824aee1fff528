//! `backup`: sources in, one snapshot out.
//!
//! A producer thread walks and chunks (module `walk`); the calling thread hashes,
//! deduplicates, compresses and seals on rayon and assembles trees
//! (module `assemble`); packs upload on the I/O runtime ([`crate::packer`]). Queues
//! between them are bounded. The snapshot is written last, after every pack
//! and index file it needs, and only if every stream ended cleanly.

mod assemble;
mod command;
mod measure;
mod scan;
mod walk;

pub use command::{ProducerCommand, TappedOutput};

use crate::error::{Error, Result};
use crate::format::lock::LockKind;
use crate::format::snapshot::{Snapshot, Summary};
use crate::format::tree::{Node, NodeKind};
use crate::id::{BlobId, SnapshotId};
use crate::packer::{PackWriter, WriteStats};
use crate::progress::Progress;
use crate::repo::{Repository, unix_ns};
use globset::{Glob, GlobSet, GlobSetBuilder};
use std::ffi::OsString;
use std::io::Read;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::time::{Instant, SystemTime};
use walk::{Meta, Walker};

/// One thing to back up.
pub enum Source {
    /// A file or folder, stored under its base name at the snapshot's root.
    Path(PathBuf),
    /// A stream stored as `name` (`db/erp.dump`).
    Stdin {
        name: String,
        reader: Box<dyn Read + Send>,
    },
    /// A command whose standard output is stored as `name`; it must exit 0.
    /// `tap`, if any, sees every byte of that output in order, as it is read
    /// (`pg backup` counts rows in the dump with it).
    Command {
        name: String,
        argv: Vec<OsString>,
        tap: Option<StreamTap>,
    },
    /// A file node of an earlier snapshot, stored again as `name` without
    /// reading anything: its chunks are already in the repository. This is how
    /// `pg backup --skip-if-unchanged` carries the last dump over.
    Carried { name: String, node: Node },
}

/// Called with each piece of a [`Source::Command`]'s output, in order.
pub type StreamTap = Box<dyn FnMut(&[u8]) + Send>;

/// Which snapshot's metadata tells unchanged files apart.
#[derive(Clone, Debug, Default)]
pub enum ParentChoice {
    /// The newest snapshot of the same host with the same paths.
    #[default]
    Auto,
    None,
    Id(SnapshotId),
}

#[derive(Clone, Debug)]
pub struct BackupOptions {
    /// The snapshot's time (the clock is a parameter so tests are deterministic).
    pub time: SystemTime,
    pub host: String,
    pub tags: Vec<String>,
    /// Globs: with a `/` matched against the absolute path and the path inside
    /// the snapshot, else against the base name.
    pub excludes: Vec<String>,
    pub parent: ParentChoice,
    pub upload_concurrency: usize,
    /// Extension pairs for `Snapshot.meta` (FORMAT.md 15.3); sorted on write.
    pub meta: Vec<(String, String)>,
    /// Snapshots whose data this run reuses without looking each blob up (the
    /// source of a [`Source::Carried`] node). Checked to exist once the lock
    /// is held: then prune cannot have condemned their data (FORMAT.md,
    /// "Deleting packs and index files").
    pub reuses_snapshots: Vec<SnapshotId>,
    /// Refresh and staleness of the backup lock.
    pub lock: crate::lock::LockOptions,
    /// Index compaction and catalogue upkeep once the snapshot is stored
    /// ([`crate::maintenance::after_backup`]); `None` skips it.
    pub maintenance: Option<crate::maintenance::CompactOptions>,
}

impl BackupOptions {
    pub fn new(time: SystemTime) -> Self {
        Self {
            time,
            host: crate::repo::hostname(),
            tags: Vec::new(),
            excludes: Vec::new(),
            parent: ParentChoice::Auto,
            upload_concurrency: 2,
            meta: Vec::new(),
            reuses_snapshots: Vec::new(),
            lock: crate::lock::LockOptions::default(),
            maintenance: Some(crate::maintenance::CompactOptions::default()),
        }
    }
}

#[derive(Debug)]
pub struct BackupReport {
    pub snapshot_id: SnapshotId,
    pub snapshot: Snapshot,
    /// Files skipped or read with trouble; non-empty means the snapshot is partial.
    pub warnings: Vec<String>,
    pub write: WriteStats,
    /// What the upkeep after the snapshot did; `Err` holds why it failed
    /// (the snapshot is stored all the same).
    pub maintenance: std::result::Result<crate::maintenance::MaintenanceReport, String>,
}

pub(crate) enum StdinSource {
    Reader(Box<dyn Read + Send>),
    Command(ProducerCommand),
}

pub(crate) enum RootEntry {
    Path {
        name: Vec<u8>,
        path: PathBuf,
    },
    Stdin {
        components: Vec<Vec<u8>>,
        source: StdinSource,
    },
    Carried {
        components: Vec<Vec<u8>>,
        node: Node,
    },
}

/// Compiled `--exclude` globs.
pub struct Excludes {
    whole: GlobSet,
    base: GlobSet,
}

impl Excludes {
    pub fn new(patterns: &[String]) -> Result<Self> {
        let mut whole = GlobSetBuilder::new();
        let mut base = GlobSetBuilder::new();
        for p in patterns {
            let g = Glob::new(p)
                .map_err(|e| Error::InvalidInput(format!("exclude pattern {p:?}: {e}")))?;
            if p.contains('/') {
                whole.add(g);
            } else {
                base.add(g);
            }
        }
        let build = |b: GlobSetBuilder| {
            b.build()
                .map_err(|e| Error::InvalidInput(format!("exclude patterns: {e}")))
        };
        Ok(Self {
            whole: build(whole)?,
            base: build(base)?,
        })
    }

    /// Globs with a `/` are tried on the absolute source path and on the path
    /// inside the snapshot (`documents/scans/**`); others on the base name.
    /// Empty sets are skipped: matching builds a normalised copy of the path
    /// even when there is nothing to match, a cost per entry of a 90,000-file tree.
    pub fn is_excluded(&self, path: &Path, rel: &Path) -> bool {
        (!self.whole.is_empty() && (self.whole.is_match(path) || self.whole.is_match(rel)))
            || (!self.base.is_empty() && path.file_name().is_some_and(|n| self.base.is_match(n)))
    }
}

/// Snapshot metadata that is known only once the sources have been read (row
/// counts read beside a dump, say); an error stops the backup before the
/// snapshot is written.
pub type LateMeta<'a> =
    Box<dyn FnOnce() -> std::result::Result<Vec<(String, String)>, String> + 'a>;

/// Runs one backup and writes its snapshot, under a shared backup lock.
///
/// Order matters for prune's safety (FORMAT.md, "Deleting packs and index
/// files"): the lock is written first, then the condemned records are read (no
/// blob in a condemned pack is reused), and only then are snapshots listed for
/// the parent, so everything reused was alive after the lock existed.
pub fn backup(
    repo: &Repository,
    sources: Vec<Source>,
    opts: &BackupOptions,
    progress: &dyn Progress,
) -> Result<BackupReport> {
    backup_with_late_meta(repo, sources, opts, progress, Box::new(|| Ok(Vec::new())))
}

/// [`backup`], with `late` pairs added to `opts.meta` after the sources are read.
pub fn backup_with_late_meta(
    repo: &Repository,
    sources: Vec<Source>,
    opts: &BackupOptions,
    progress: &dyn Progress,
    late: LateMeta<'_>,
) -> Result<BackupReport> {
    crate::lock::hold(repo, LockKind::Backup, &opts.lock, |held| {
        crate::prune::avoid_condemned(repo)?;
        for id in &opts.reuses_snapshots {
            repo.load_snapshot(id)?;
        }
        backup_locked(repo, sources, opts, progress, held, late)
    })
    .map(|mut report| {
        // After the backup lock is gone: compaction takes a prune lock.
        if let Some(m) = &opts.maintenance {
            report.maintenance =
                crate::maintenance::after_backup(repo, m).map_err(|e| e.to_string());
        }
        report
    })
}

fn backup_locked(
    repo: &Repository,
    sources: Vec<Source>,
    opts: &BackupOptions,
    progress: &dyn Progress,
    held: &crate::lock::Held<'_>,
    late: LateMeta<'_>,
) -> Result<BackupReport> {
    let started = Instant::now();
    let excludes = Excludes::new(&opts.excludes)?;
    let (mut roots, paths) = plan_roots(sources)?;
    let parent = choose_parent(repo, opts, &paths)?;
    let parent_root = match &parent {
        Some(id) => Some(repo.load_snapshot(id)?.root),
        None => None,
    };
    repo.index()?;
    progress.phase("backup", None);

    let now_meta = Meta {
        mode: 0o755,
        uid: current_uid(),
        gid: current_gid(),
        mtime_unix_ns: unix_ns(opts.time),
        ctime_unix_ns: unix_ns(opts.time),
        inode: 0,
        size: 0,
    };
    let mut writer = PackWriter::new(repo, opts.upload_concurrency);
    let (tx, rx) = crossbeam_channel::bounded(2);
    let outcome: Result<(BlobId, (Summary, Vec<String>))> = std::thread::scope(|scope| {
        let excludes = &excludes;
        if let Some(sources) = progress
            .wants_totals()
            .then(|| measure::sources(&roots))
            .flatten()
        {
            // Only metadata, beside the real walk; nothing waits for it.
            let _ = std::thread::Builder::new()
                .name("coffer-measure".into())
                .spawn_scoped(scope, move || {
                    let (bytes, files) = measure::measure(&sources, excludes);
                    progress.totals(bytes, files);
                });
        }
        let walker = std::thread::Builder::new()
            .name("coffer-walk".into())
            .spawn_scoped(scope, move || {
                let mut w = Walker::new(repo, tx, excludes, progress, now_meta);
                let _ = w.run(&mut roots, parent_root);
            })
            .map_err(|e| Error::InvalidInput(format!("cannot start the reader thread: {e}")))?;
        let mut asm = assemble::Assembler::new(repo, &mut writer, now_meta, progress);
        let mut result = Ok(());
        for batch in rx.iter() {
            if let Err(e) = asm.process(batch) {
                result = Err(e);
                break;
            }
        }
        // Hang up so a walker still producing stops, then wait for it. A walker
        // that panicked sent only part of the sources: never a snapshot of that.
        drop(rx);
        if let Err(panic) = walker.join() {
            std::panic::resume_unwind(panic);
        }
        result?;
        let summary = asm.summary.clone();
        let warnings = std::mem::take(&mut asm.warnings);
        let root = asm.finish()?;
        Ok((root, (summary, warnings)))
    });
    // Store the index for what was uploaded even on failure: the next run can reuse it.
    let finished = writer.finish();
    let (root, (mut summary, warnings)) = outcome?;
    let (_indexes, write) = finished?;
    let mut meta = opts.meta.clone();
    meta.extend(late().map_err(Error::LateMeta)?);

    summary.blobs_added = write.blobs_added;
    summary.bytes_added = write.bytes_added;
    summary.duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    let mut tags = opts.tags.clone();
    tags.sort();
    tags.dedup();
    let snapshot = Snapshot {
        time_unix_ns: unix_ns(opts.time),
        host: opts.host.clone(),
        username: crate::repo::username(),
        tags,
        paths,
        root,
        parent,
        partial: !warnings.is_empty(),
        program: format!("coffer {}", env!("CARGO_PKG_VERSION")),
        summary,
        meta: sorted_meta(&meta)?,
    };
    held.ensure_held()?;
    let snapshot_id = repo.save_snapshot(&snapshot)?;
    Ok(BackupReport {
        snapshot_id,
        snapshot,
        warnings,
        write,
        maintenance: Ok(crate::maintenance::MaintenanceReport::default()),
    })
}

/// The extension pairs sorted by key; a key given twice is a caller's mistake.
fn sorted_meta(meta: &[(String, String)]) -> Result<Vec<(String, String)>> {
    let mut m = meta.to_vec();
    m.sort();
    if let Some(w) = m.windows(2).find(|w| w[0].0 == w[1].0) {
        return Err(Error::InvalidInput(format!(
            "snapshot meta key {:?} given twice",
            w[0].0
        )));
    }
    Ok(m)
}

/// Names each source at the snapshot root and checks they exist and do not collide.
fn plan_roots(sources: Vec<Source>) -> Result<(Vec<RootEntry>, Vec<String>)> {
    let mut roots = Vec::new();
    let mut paths = Vec::new();
    let mut names: Vec<Vec<u8>> = Vec::new();
    let mut claim = |name: &[u8], what: &str| -> Result<()> {
        if names.iter().any(|n| n == name) {
            return Err(Error::InvalidInput(format!(
                "two sources would both be stored as {:?} at the snapshot root ({what}); back them up separately or rename one",
                String::from_utf8_lossy(name)
            )));
        }
        names.push(name.to_vec());
        Ok(())
    };
    let mut stdin_seen = false;
    for s in sources {
        match s {
            Source::Path(p) => {
                let abs = std::path::absolute(&p).map_err(|source| Error::Source {
                    path: p.clone(),
                    source,
                })?;
                std::fs::symlink_metadata(&abs).map_err(|source| Error::Source {
                    path: p.clone(),
                    source,
                })?;
                let clean: PathBuf = abs.components().collect();
                let name = clean
                    .file_name()
                    .map(|n| n.as_bytes().to_vec())
                    .ok_or_else(|| {
                        Error::InvalidInput(format!(
                            "{}: has no base name to store it under; name a folder below it",
                            p.display()
                        ))
                    })?;
                claim(&name, &clean.display().to_string())?;
                paths.push(clean.display().to_string());
                roots.push(RootEntry::Path { name, path: clean });
            }
            Source::Stdin { name, reader } => {
                let components = stdin_components(&name, &mut stdin_seen)?;
                claim(&components[0], &name)?;
                paths.push(name);
                roots.push(RootEntry::Stdin {
                    components,
                    source: StdinSource::Reader(reader),
                });
            }
            Source::Carried { name, node } => {
                if !matches!(node.kind, NodeKind::File { .. }) {
                    return Err(Error::InvalidInput(format!(
                        "{name}: only a file can be carried over from an earlier snapshot"
                    )));
                }
                let components = stdin_components(&name, &mut stdin_seen)?;
                claim(&components[0], &name)?;
                paths.push(name);
                roots.push(RootEntry::Carried { components, node });
            }
            Source::Command { name, argv, tap } => {
                let components = stdin_components(&name, &mut stdin_seen)?;
                claim(&components[0], &name)?;
                let cmd = ProducerCommand::spawn(&argv)?.with_tap(tap);
                paths.push(name);
                roots.push(RootEntry::Stdin {
                    components,
                    source: StdinSource::Command(cmd),
                });
            }
        }
    }
    if roots.is_empty() {
        return Err(Error::InvalidInput(
            "nothing to back up: give paths, --stdin or --stdin-from-command".into(),
        ));
    }
    Ok((roots, paths))
}

fn stdin_components(name: &str, seen: &mut bool) -> Result<Vec<Vec<u8>>> {
    if std::mem::replace(seen, true) {
        return Err(Error::InvalidInput(
            "only one stdin stream per backup".into(),
        ));
    }
    let parts: Vec<Vec<u8>> = name
        .split('/')
        .filter(|p| !p.is_empty())
        .map(|p| p.as_bytes().to_vec())
        .collect();
    if parts.is_empty() || parts.iter().any(|p| !crate::format::tree::is_safe_name(p)) {
        return Err(Error::InvalidInput(format!(
            "stdin name {name:?} is not a relative path like db/erp.dump"
        )));
    }
    Ok(parts)
}

fn choose_parent(
    repo: &Repository,
    opts: &BackupOptions,
    paths: &[String],
) -> Result<Option<SnapshotId>> {
    match &opts.parent {
        ParentChoice::None => Ok(None),
        ParentChoice::Id(id) => Ok(Some(*id)),
        ParentChoice::Auto => {
            let mut want = paths.to_vec();
            want.sort();
            let snaps = repo.snapshots()?;
            Ok(snaps
                .iter()
                .rev()
                .find(|s| {
                    let mut p = s.snapshot.paths.clone();
                    p.sort();
                    s.snapshot.host == opts.host && p == want
                })
                .map(|s| s.id))
        }
    }
}

fn current_uid() -> u32 {
    std::fs::metadata("/proc/self")
        .map(|m| std::os::unix::fs::MetadataExt::uid(&m))
        .unwrap_or(0)
}

fn current_gid() -> u32 {
    std::fs::metadata("/proc/self")
        .map(|m| std::os::unix::fs::MetadataExt::gid(&m))
        .unwrap_or(0)
}
