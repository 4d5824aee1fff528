//! What happens to the document tree, day by day: a pure function of the
//! parameters, with no repository involved, so a test can compute what `log`
//! and `find` must answer without trusting the code that wrote the snapshots.

use crate::rng::Rng;
use jiff::civil::Date;
use jiff::{Timestamp, ToSpan, tz::TimeZone};
use std::collections::BTreeMap;

/// What to simulate.
#[derive(Clone, Debug)]
pub struct Params {
    pub seed: u64,
    /// Nightly snapshots, one a day.
    pub days: u32,
    /// Day of the first snapshot (taken at 23:00 UTC, as every later one).
    pub start: Date,
    /// Documents already there on the first night: years of earlier invoices,
    /// proposals and orders, dated in the eight years before `start`.
    pub initial_files: usize,
    /// Contracts (`documents/contrats/<name>.pdf`, larger, now and then revised).
    pub contracts: usize,
}

impl Default for Params {
    /// The benchmark: ten years of nights over 100,000 documents,
    /// ending at the end of May 2026 (so `FA2605-0001` exists on 29 May).
    fn default() -> Self {
        Self {
            seed: 1,
            days: 3650,
            start: jiff::civil::date(2016, 6, 1),
            initial_files: 100_000,
            contracts: 40,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChangeKind {
    Added,
    Modified,
    Removed,
}

/// One file appearing, changing or going away before a night's snapshot.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Change {
    /// Inside the snapshot: `documents/facture/FA2605-0001/FA2605-0001.pdf`.
    pub path: String,
    pub kind: ChangeKind,
    /// 1 for the first content of a path, +1 on each modification
    /// (0 for a removal). Content is [`crate::content`] of (seed, path, version).
    pub version: u32,
    /// Content length (0 for a removal).
    pub size: u64,
    /// The file's modification time.
    pub mtime_unix_ns: i64,
}

/// One night: the changes since the previous snapshot, then the snapshot.
#[derive(Clone, Debug)]
pub struct Day {
    pub time_unix_ns: i64,
    pub changes: Vec<Change>,
}

/// The whole history. `days[0].changes` holds the initial tree too.
#[derive(Clone, Debug)]
pub struct Plan {
    pub params: Params,
    pub days: Vec<Day>,
}

/// A file as it stands on some day.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FileState {
    pub version: u32,
    pub size: u64,
    pub mtime_unix_ns: i64,
}

impl Plan {
    /// Every file present after day `day`'s changes, by path.
    pub fn state_at(&self, day: usize) -> BTreeMap<String, FileState> {
        let mut files = BTreeMap::new();
        for d in self.days.iter().take(day + 1) {
            apply(&mut files, &d.changes);
        }
        files
    }

    /// One entry per day: the path's state that night, or `None` when absent.
    pub fn history(&self, path: &str) -> Vec<Option<FileState>> {
        let mut now = None;
        let mut out = Vec::with_capacity(self.days.len());
        for d in &self.days {
            for c in d.changes.iter().filter(|c| c.path == path) {
                now = state_after(c);
            }
            out.push(now);
        }
        out
    }
}

/// Applies one day's changes to a map of files.
pub fn apply(files: &mut BTreeMap<String, FileState>, changes: &[Change]) {
    for c in changes {
        match state_after(c) {
            Some(s) => files.insert(c.path.clone(), s),
            None => files.remove(&c.path),
        };
    }
}

fn state_after(c: &Change) -> Option<FileState> {
    (c.kind != ChangeKind::Removed).then_some(FileState {
        version: c.version,
        size: c.size,
        mtime_unix_ns: c.mtime_unix_ns,
    })
}

/// The kinds of numbered documents, Dolibarr's folder for each and their
/// share of the initial tree.
const SERIES: [(&str, &str, u32); 4] = [
    ("facture", "FA", 55),
    ("propale", "PR", 20),
    ("commande", "CO", 15),
    ("fournisseur/facture", "SI", 10),
];

/// Customers with a contract; the first one gets a quarter of all revisions,
/// so its `log` has a long history.
const CONTRACT_NAMES: [&str; 8] = [
    "acme", "globex", "initech", "umbrella", "hooli", "stark", "wayne", "wonka",
];

/// Months of backlog before the first night.
const BACKLOG_MONTHS: i32 = 96;

struct Builder {
    rng: Rng,
    /// Next number per (series, yymm).
    counters: BTreeMap<(usize, String), u32>,
    /// Current version of each present file.
    versions: BTreeMap<String, u32>,
    /// Paths of recent documents per series (last ones are likelier to be regenerated).
    recent: Vec<Vec<String>>,
    contracts: Vec<String>,
}

/// Builds the plan of `params`: the same plan for the same parameters, always.
pub fn plan(params: &Params) -> Plan {
    let mut b = Builder {
        rng: Rng::new(params.seed),
        counters: BTreeMap::new(),
        versions: BTreeMap::new(),
        recent: vec![Vec::new(); SERIES.len()],
        contracts: Vec::new(),
    };
    let mut days = Vec::with_capacity(params.days as usize);
    let mut initial = b.backlog(params);
    for d in 0..params.days {
        let date = params.start.saturating_add(i64::from(d).days());
        let night = at(date, 23, 0);
        let mut changes = std::mem::take(&mut initial);
        b.one_day(date, night, &mut changes);
        days.push(Day {
            time_unix_ns: night,
            changes,
        });
    }
    Plan {
        params: params.clone(),
        days,
    }
}

impl Builder {
    fn backlog(&mut self, params: &Params) -> Vec<Change> {
        let mut out = Vec::new();
        let first_month = params.start.first_of_month();
        let total_share: u32 = SERIES.iter().map(|s| s.2).sum();
        for (series, &(_, _, share)) in SERIES.iter().enumerate() {
            let count = params.initial_files * share as usize / total_share as usize;
            for i in 0..count {
                // Spread evenly over the backlog months, oldest first.
                let month_back = BACKLOG_MONTHS
                    - i32::try_from(i * BACKLOG_MONTHS as usize / count.max(1)).unwrap_or(0);
                let month = first_month.saturating_sub(month_back.months());
                let day = i8::try_from(self.rng.range(1, 28)).unwrap_or(1);
                let date = month.with().day(day).build().unwrap_or(month);
                let mtime = at(date, 9 + i8::try_from(i % 9).unwrap_or(0), 0);
                out.push(self.new_document(series, date, mtime));
            }
        }
        for i in 0..params.contracts {
            let name = match CONTRACT_NAMES.get(i) {
                Some(n) => (*n).to_string(),
                None => format!("client-{i:04}"),
            };
            let path = format!("documents/contrats/{name}.pdf");
            let date = first_month.saturating_sub(12.months());
            out.push(self.write(path.clone(), ChangeKind::Added, at(date, 10, 0)));
            self.contracts.push(path);
        }
        out
    }

    fn one_day(&mut self, date: Date, night: i64, out: &mut Vec<Change>) {
        let weekday = date.weekday().to_monday_one_offset() <= 5;
        let office = |h: u64| at(date, 8 + i8::try_from(h).unwrap_or(0), 0);
        // New documents: invoices most days, the rest less often; weekends are quiet.
        let per_series: [(u64, u64); 4] = if weekday {
            [(2, 8), (0, 3), (0, 2), (0, 2)]
        } else {
            [(0, 1), (0, 0), (0, 0), (0, 1)]
        };
        for (series, (lo, hi)) in per_series.into_iter().enumerate() {
            for _ in 0..self.rng.range(lo, hi) {
                let mtime = office(self.rng.range(0, 9));
                out.push(self.new_document(series, date, mtime));
            }
        }
        // An invoice's PDF regenerated (a corrected address, a payment stamp).
        if self.rng.one_in(20) {
            let recent = &self.recent[0];
            let from = recent.len().saturating_sub(60);
            if let Some(path) = self.rng.pick(&recent[from..]).cloned() {
                let mtime = office(self.rng.range(0, 9));
                out.push(self.write(path, ChangeKind::Modified, mtime));
            }
        }
        // A contract revised; the first customer's most often.
        if self.rng.one_in(45) {
            let path = if self.rng.one_in(4) {
                self.contracts.first().cloned()
            } else {
                self.rng.pick(&self.contracts).cloned()
            };
            if let Some(path) = path {
                let mtime = office(self.rng.range(0, 9));
                out.push(self.write(path, ChangeKind::Modified, mtime));
            }
        }
        // A new customer's contract.
        if self.rng.one_in(120) {
            let path = format!("documents/contrats/client-{:04}.pdf", self.contracts.len());
            out.push(self.write(path.clone(), ChangeKind::Added, office(2)));
            self.contracts.push(path);
        }
        // A refused proposal cleaned up.
        if self.rng.one_in(30) {
            let recent = &self.recent[1];
            if let Some(path) = self.rng.pick(recent).cloned() {
                self.recent[1].retain(|p| *p != path);
                self.versions.remove(&path);
                out.push(Change {
                    path,
                    kind: ChangeKind::Removed,
                    version: 0,
                    size: 0,
                    mtime_unix_ns: night - 3_600_000_000_000,
                });
            }
        }
    }

    /// The next numbered document of a series in `date`'s month.
    fn new_document(&mut self, series: usize, date: Date, mtime: i64) -> Change {
        let (folder, prefix, _) = SERIES[series];
        let yymm = format!("{:02}{:02}", date.year() % 100, date.month());
        let n = self.counters.entry((series, yymm.clone())).or_insert(0);
        *n += 1;
        let name = format!("{prefix}{yymm}-{n:04}");
        let path = format!("documents/{folder}/{name}/{name}.pdf");
        let recent = &mut self.recent[series];
        recent.push(path.clone());
        if recent.len() > 500 {
            recent.drain(..250);
        }
        self.write(path, ChangeKind::Added, mtime)
    }

    /// A new version of `path` (its first when added).
    fn write(&mut self, path: String, kind: ChangeKind, mtime: i64) -> Change {
        let v = self.versions.entry(path.clone()).or_insert(0);
        *v += 1;
        let version = *v;
        Change {
            size: crate::content::size_of(&path, version, self.rng.next_u64()),
            path,
            kind,
            version,
            mtime_unix_ns: mtime,
        }
    }
}

/// `date` at `hour:minute` UTC, in nanoseconds since the epoch.
fn at(date: Date, hour: i8, minute: i8) -> i64 {
    date.at(hour, minute, 0, 0)
        .to_zoned(TimeZone::UTC)
        .map(|z| z.timestamp())
        .unwrap_or(Timestamp::UNIX_EPOCH)
        .as_nanosecond()
        .try_into()
        .unwrap_or(i64::MAX)
}
