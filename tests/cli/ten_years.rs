//! Ten years of nightly snapshots (3,650, written by coffer-sim) and what
//! `coffer log` and `coffer find` say about them, checked against the
//! generator's own plan: which version of which file existed each night.

use crate::harness::*;
use coffer_sim::{ChangeKind, Params, Plan, WriteOptions, plan, write_plan};
use coffer_store::backend::Backend;
use coffer_store::id::SnapshotId;
use coffer_store::repo::{CacheLocation, Repository};
use serde_json::Value;

/// A run of nights over which a path kept one version, as `log` and `find`
/// report it: (first night, last night, nights seen, size).
type Run = (usize, usize, usize, u64);

/// `log`'s versions: consecutive holders of the same content, absences skipped.
fn expected_log(plan: &Plan, path: &str) -> Vec<Run> {
    let mut runs: Vec<(u32, Run)> = Vec::new();
    for (night, state) in plan.history(path).into_iter().enumerate() {
        let Some(s) = state else { continue };
        match runs.last_mut() {
            Some((v, run)) if *v == s.version => {
                run.1 = night;
                run.2 += 1;
            }
            _ => runs.push((s.version, (night, night, 1, s.size))),
        }
    }
    runs.into_iter().map(|(_, r)| r).collect()
}

/// `find`'s matches of one path: runs of the same content on consecutive nights.
fn expected_find(plan: &Plan, path: &str) -> Vec<Run> {
    let mut runs: Vec<(u32, Run)> = Vec::new();
    for (night, state) in plan.history(path).into_iter().enumerate() {
        let Some(s) = state else { continue };
        match runs.last_mut() {
            Some((v, run)) if *v == s.version && run.1 + 1 == night => {
                run.1 = night;
                run.2 += 1;
            }
            _ => runs.push((s.version, (night, night, 1, s.size))),
        }
    }
    runs.into_iter().map(|(_, r)| r).collect()
}

/// (first, last, seen, size) of each JSON entry, nights found by snapshot id.
fn runs_of(entries: &[&Value], ids: &[SnapshotId]) -> Vec<Run> {
    let night = |v: &Value| {
        let hex = v["id"].as_str().expect("ten-year fixture");
        ids.iter()
            .position(|id| id.to_hex() == hex)
            .unwrap_or_else(|| panic!("snapshot {hex} is not one the generator wrote"))
    };
    entries
        .iter()
        .map(|e| {
            (
                night(&e["first"]),
                night(&e["last"]),
                usize::try_from(e["snapshots"].as_u64().expect("ten-year fixture"))
                    .expect("ten-year fixture"),
                e["size"].as_u64().expect("ten-year fixture"),
            )
        })
        .collect()
}

#[test]
fn log_and_find_over_ten_years_of_nights_match_the_generators_plan() {
    let c = Coffer::empty_on(RepoKind::Folder).expect("ten-year fixture");
    let params = Params {
        seed: 7,
        days: 3650,
        initial_files: 120,
        contracts: 3,
        ..Params::default()
    };
    let plan = plan(&params);
    let fast = crate::harness::fast_init_options();
    let backend = Backend::open(c.location(), true).expect("ten-year fixture");
    let repo = Repository::init(
        backend,
        PASSWORD.as_bytes(),
        &fast,
        std::time::SystemTime::now(),
        CacheLocation::Temporary,
    )
    .expect("ten-year fixture");
    let ids = write_plan(&repo, &plan, &WriteOptions::default(), &mut |_, _| {})
        .expect("ten-year fixture");
    drop(repo);
    assert_eq!(
        c.json(["snapshots", "--json"])
            .as_array()
            .expect("ten-year fixture")
            .len(),
        3650
    );

    // The contract revised most often, an invoice regenerated after it was
    // issued, and a proposal removed some night.
    let changes = || plan.days.iter().flat_map(|d| &d.changes);
    let contract = "documents/contrats/acme.pdf";
    let regenerated = changes()
        .find(|ch| ch.kind == ChangeKind::Modified && ch.path.starts_with("documents/facture/"))
        .map(|ch| ch.path.clone())
        .expect("ten-year fixture");
    // (Not one removed the night it was made: it was never in a snapshot.)
    let removed = changes()
        .filter(|ch| ch.kind == ChangeKind::Removed)
        .map(|ch| ch.path.clone())
        .find(|p| plan.history(p).iter().any(Option::is_some))
        .expect("ten-year fixture");
    for path in [contract, &regenerated, &removed] {
        let want = expected_log(&plan, path);
        let got = c.json(["log", "--json", path]);
        let got: Vec<&Value> = got.as_array().expect("ten-year fixture").iter().collect();
        assert_eq!(runs_of(&got, &ids), want, "log {path}");
    }
    assert!(
        expected_log(&plan, contract).len() > 5,
        "the contract has a long history"
    );

    // Every document of one month, and their folders (one per document).
    let month = regenerated.rsplit('/').next().expect("ten-year fixture")[..6].to_string();
    let pattern = format!("{month}-*");
    let found = c.json(["find", "--json", &pattern]);
    let found = found.as_array().expect("ten-year fixture");
    let mut paths: Vec<String> = changes()
        .filter(|ch| {
            let name = ch.path.rsplit('/').next().expect("ten-year fixture");
            name.starts_with(&format!("{month}-"))
        })
        .map(|ch| ch.path.clone())
        .collect();
    paths.sort();
    paths.dedup();
    assert!(paths.len() > 20, "a month holds many documents: {paths:?}");
    assert!(paths.contains(&regenerated));
    let mut matched = 0;
    for file in &paths {
        let folder = file
            .rsplit_once('/')
            .expect("ten-year fixture")
            .0
            .to_string();
        for (path, kind) in [(file.as_str(), "file"), (folder.as_str(), "dir")] {
            let entries: Vec<&Value> = found
                .iter()
                .filter(|e| e["path"] == path)
                .inspect(|e| assert_eq!(e["type"], kind, "{path}"))
                .collect();
            let mut want = expected_find(&plan, file);
            if kind == "dir" {
                // A folder's size is 0; its content is its one document.
                for r in &mut want {
                    r.3 = 0;
                }
            }
            assert_eq!(runs_of(&entries, &ids), want, "find {pattern}: {path}");
            matched += entries.len();
        }
    }
    assert_eq!(matched, found.len(), "find reported only these paths");
}
