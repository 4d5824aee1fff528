//! What `cat --as-of` asks of a bucket from a machine with no cache, over a
//! long history written night by night (coffer-sim, with the upkeep a
//! nightly backup does): a few listings, the key and config, the merged
//! index files, the snapshot catalogue and the snapshots it does not hold
//! yet, then ranged reads of packs. Not one GET per index file or snapshot.
//! Counted with `COFFER_REQUEST_LOG`, which makes the binary write every
//! request it made.

use crate::harness::*;
use coffer_sim::{Params, WriteOptions, content, plan, write_plan};
use coffer_store::backend::{Backend, StoreOptions};
use coffer_store::repo::{CacheLocation, Repository};
use std::collections::BTreeMap;

on_each_store!(cold_cat_as_of_reads_a_catalogue_and_merged_index_files_not_every_night);

fn cold_cat_as_of_reads_a_catalogue_and_merged_index_files_not_every_night(kind: RepoKind) {
    let Some(c) = Coffer::empty_on(kind) else {
        return;
    };
    let params = Params {
        seed: 3,
        days: 300,
        initial_files: 150,
        contracts: 2,
        ..Params::default()
    };
    let plan = plan(&params);
    let fast = crate::harness::fast_init_options();
    let opts = StoreOptions {
        s3_endpoint: std::env::var("COFFER_TEST_S3_ENDPOINT").ok(),
        ..StoreOptions::default()
    };
    let backend = Backend::open_with(c.location(), true, &opts).expect("backend");
    let repo = Repository::init(
        backend,
        PASSWORD.as_bytes(),
        &fast,
        std::time::SystemTime::now(),
        CacheLocation::Temporary,
    )
    .expect("init");
    write_plan(&repo, &plan, &WriteOptions::default(), &mut |_, _| {}).expect("write the nights");
    drop(repo);
    let index_files = c.objects("index/").len();
    assert!(
        index_files <= 33,
        "compacted as it went: {index_files} index files"
    );
    assert_eq!(c.objects("catalogue/").len(), 1);

    // An invoice of night 200, as of that night.
    let night = 200;
    let state = plan.state_at(night);
    let (path, file) = state
        .iter()
        .rfind(|(p, _)| p.starts_with("documents/facture/"))
        .expect("invoices");
    let day = jiff::Timestamp::from_nanosecond(i128::from(plan.days[night].time_unix_ns))
        .expect("time")
        .strftime("%Y-%m-%d")
        .to_string();
    let log = c.path("requests.log");
    let mut cmd = c.command_with_cache(&c.path("new-machine-cache"));
    cmd.env("COFFER_REQUEST_LOG", &log)
        .args(["cat", "--as-of", &day, "--tz", "UTC", path]);
    let run = Run::capture(cmd);
    run.assert_code(0);
    assert!(
        run.stdout == content(params.seed, path, file.version, file.size),
        "the version of night {night}"
    );

    let requests = std::fs::read_to_string(&log).expect("request log");
    let mut whole_gets: BTreeMap<&str, usize> = BTreeMap::new();
    let mut lists = 0;
    for line in requests.lines() {
        let (method, object) = line.split_once(' ').expect("METHOD OBJECT");
        let folder = object.split('/').next().unwrap_or(object);
        match method {
            "Get" => *whole_gets.entry(folder).or_default() += 1,
            "GetRange" => assert_eq!(folder, "data", "ranged reads are of packs: {line}"),
            "List" => lists += 1,
            "Head" => {}
            other => panic!("a read-only command made a {other} request: {line}"),
        }
    }
    // 300 nights: 18 catalogue rewrites, the last at night 288, so 12
    // snapshots are read from their own objects.
    assert_eq!(whole_gets.get("snapshots"), Some(&12), "{whole_gets:?}");
    assert_eq!(whole_gets.get("catalogue"), Some(&1), "{whole_gets:?}");
    assert_eq!(
        whole_gets.get("index"),
        Some(&index_files),
        "{whole_gets:?}"
    );
    assert_eq!(whole_gets.get("data"), None, "never a whole pack");
    assert!(lists <= 6, "{lists} listings");
}
