use crate::util::{backup_stream, memory_repo, sql_lines};
use coffer_store::format::tree::{Content, NodeKind};
use coffer_store::progress::NoProgress;
use coffer_store::restore::write_content;
use coffer_store::tree::resolve_path;
use std::sync::Arc;

const NAME: &str = "db/erp.sql";

fn cat(repo: &coffer_store::Repository, root: &coffer_store::id::BlobId) -> (Content, Vec<u8>) {
    let node = resolve_path(repo, root, NAME).unwrap().unwrap();
    let NodeKind::File { content } = node.kind else {
        panic!("{NAME} is not a file");
    };
    let mut out = Vec::with_capacity(usize::try_from(node.size).unwrap());
    let n = write_content(repo, &content, &mut out, &NoProgress).unwrap();
    assert_eq!(n, node.size);
    (content, out)
}

/// Edits `count` lines spread over the dump without changing its length
/// (each digit of the `total_ht` field shifted), as a day of ERP activity
/// rewrites a few rows here and there.
fn edit_scattered_lines(lines: &mut [String], count: usize) {
    let step = lines.len() / (count + 1);
    for k in 1..=count {
        let line = &mut lines[k * step];
        let fields: Vec<&str> = line.split('\t').collect();
        let mut edited = fields.clone();
        let shifted: String = fields[4]
            .chars()
            .map(|c| match c.to_digit(10) {
                Some(d) => char::from_digit((d + 1) % 10, 10).unwrap(),
                None => c,
            })
            .collect();
        edited[4] = &shifted;
        *line = edited.join("\t");
    }
}

#[test]
fn big_dump_round_trips_and_an_edited_dump_stores_little() {
    let mut lines = sql_lines(42, 40 << 20);
    let dump: Arc<[u8]> = lines.concat().into_bytes().into();
    let repo = memory_repo();
    let first = backup_stream(&repo, NAME, &dump, 10);
    let (content, back) = cat(&repo, &first.snapshot.root);
    assert!(matches!(content, Content::List(_)), "{content:?}");
    assert!(back == *dump, "the dump does not read back byte for byte");

    edit_scattered_lines(&mut lines, 20);
    let edited: Arc<[u8]> = lines.concat().into_bytes().into();
    assert_eq!(edited.len(), dump.len());
    let second = backup_stream(&repo, NAME, &edited, 20);
    let (a, b) = (
        first.snapshot.summary.bytes_added,
        second.snapshot.summary.bytes_added,
    );
    println!(
        "big stream: {} bytes; first run added {a} bytes, 20 edited lines added {b} bytes ({:.1}%) in {} blobs",
        dump.len(),
        100.0 * b as f64 / a as f64,
        second.snapshot.summary.blobs_added
    );
    assert!(b * 10 < a, "20 edited lines cost {b} bytes of {a}");
    // (Not read back again: debug builds open sealed blobs at ~2 MB/s.)
    let node = resolve_path(&repo, &second.snapshot.root, NAME)
        .unwrap()
        .unwrap();
    assert_eq!(node.size, edited.len() as u64);
}

/// A dump that comes at `pause` per 256 KiB, like pg_dump waiting on its server.
struct Trickle {
    inner: std::io::Cursor<Arc<[u8]>>,
    pause: std::time::Duration,
}

impl std::io::Read for Trickle {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        std::thread::sleep(self.pause);
        let n = buf.len().min(256 << 10);
        self.inner.read(&mut buf[..n])
    }
}

fn adapting_backup(
    repo: &coffer_store::Repository,
    reader: Box<dyn std::io::Read + Send>,
    secs: u64,
) -> coffer_store::backup::BackupReport {
    let mut o = crate::util::opts(secs);
    o.compression = coffer_store::backup::CompressionPace::Adapt;
    let sources = vec![coffer_store::backup::Source::Stdin {
        name: NAME.into(),
        reader,
    }];
    coffer_store::backup::backup(repo, sources, &o, &NoProgress).unwrap()
}

#[test]
fn adapting_compression_gives_way_to_a_fast_source_and_not_to_a_slow_one() {
    let dump: Arc<[u8]> = sql_lines(7, 24 << 20).concat().into_bytes().into();
    // From memory the reader outruns zstd on any machine: the level steps
    // down, and whatever mix of levels results reads back the same.
    let repo = memory_repo();
    let fast = adapting_backup(&repo, Box::new(std::io::Cursor::new(Arc::clone(&dump))), 10);
    let levels = &fast.compression.levels;
    println!("fast source: {levels:?}");
    assert_eq!(fast.compression.ceiling, 3);
    assert!(levels.iter().any(|l| l.level < 3), "{levels:?}");
    assert_eq!(
        levels.iter().map(|l| l.bytes).sum::<u64>(),
        dump.len() as u64
    );
    let (_, back) = cat(&repo, &fast.snapshot.root);
    assert!(
        back == *dump,
        "an adapted dump does not read back byte for byte"
    );

    // 256 KiB every 30 ms: the consumer always waits for the next batch, so
    // every batch gets the repository's level.
    let slow_dump: Arc<[u8]> = sql_lines(8, 12 << 20).concat().into_bytes().into();
    let repo = memory_repo();
    let slow = adapting_backup(
        &repo,
        Box::new(Trickle {
            inner: std::io::Cursor::new(Arc::clone(&slow_dump)),
            pause: std::time::Duration::from_millis(30),
        }),
        10,
    );
    let levels = &slow.compression.levels;
    assert!(levels.iter().all(|l| l.level == 3), "{levels:?}");
    let (_, back) = cat(&repo, &slow.snapshot.root);
    assert!(back == *slow_dump);
    // And the same data at the full level stores less than the adapted run.
    assert!(
        slow.snapshot.summary.bytes_added * 2 < slow_dump.len() as u64,
        "level 3 on SQL text: {} of {}",
        slow.snapshot.summary.bytes_added,
        slow_dump.len()
    );
}
