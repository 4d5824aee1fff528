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
