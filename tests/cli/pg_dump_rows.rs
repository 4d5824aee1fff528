//! Row counts read from the `pg_dump -Fc -Z0` stream (`coffer_pg::DumpRows`)
//! against `count(*)` on the real server: a Dolibarr-like schema with an empty
//! table, awkward text, another schema, inheritance and partitions; streams it
//! must refuse; and `pg backup` recording the same counts either way.

use crate::harness::Coffer;
use crate::pg_commands::{conn, on_path, script};
use crate::postgres::{self, ERP_ROWS};
use coffer_pg::{DumpRows, StreamError};
use std::collections::BTreeMap;
use std::process::Command;

/// Tables beside [`postgres::ERP_SCHEMA`]: empty, awkward values, a quoted
/// name in another schema, an inheritance parent with a child, a partitioned
/// table with two partitions.
const MORE_TABLES: &str = r#"
CREATE TABLE llx_const (rowid serial PRIMARY KEY, name varchar(180), value text, note text);
INSERT INTO llx_const (name, value, note) VALUES
  ('MAIN_VERSION_LAST_UPGRADE', '19.0.2', NULL),
  ('MULTI', E'line one\nline two\r\nline three', E'tab\there'),
  ('BACKSLASH', E'C:\\dolibarr\\documents\\', E'\\.'),
  ('END_MARKER', E'\\.', E'\n\\.\n'),
  ('EMPTY', '', NULL),
  ('UNICODE', 'Société Générale — échéance', E'\x01\x7f');
CREATE TABLE llx_empty (rowid serial PRIMARY KEY, label text);
CREATE SCHEMA "compta 2026";
CREATE TABLE "compta 2026"."Écritures.détail" (id int, libelle text);
INSERT INTO "compta 2026"."Écritures.détail" SELECT i, E'ligne\n' || i FROM generate_series(1, 250) i;
CREATE TABLE llx_event (id int, label text);
CREATE TABLE llx_event_2025 () INHERITS (llx_event);
INSERT INTO llx_event VALUES (1, 'parent row'), (2, 'parent row');
INSERT INTO llx_event_2025 VALUES (3, 'child row');
CREATE TABLE llx_bank (id int, datev date, amount numeric) PARTITION BY RANGE (datev);
CREATE TABLE llx_bank_2025 PARTITION OF llx_bank FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
CREATE TABLE llx_bank_2026 PARTITION OF llx_bank FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');
INSERT INTO llx_bank SELECT i, date '2025-06-01' + i, i * 1.5 FROM generate_series(1, 300) i;
"#;

/// `schema.table` -> rows of the table alone (`ONLY`), for every ordinary table.
fn counts_only(db: &postgres::Database<'_>) -> BTreeMap<String, u64> {
    let tables = db.psql(
        "SELECT n.nspname || '.' || c.relname, format('%I.%I', n.nspname, c.relname), c.relkind \
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE c.relkind = 'r' AND n.nspname NOT IN ('pg_catalog', 'information_schema') \
         AND n.nspname NOT LIKE 'pg_toast%' ORDER BY 1;",
    );
    tables
        .lines()
        .filter(|l| !l.is_empty())
        .map(|l| {
            let f: Vec<&str> = l.split('|').collect();
            let n = db.psql(&format!("SELECT count(*) FROM ONLY {};", f[1]));
            (f[0].to_string(), n.trim().parse().expect("a count"))
        })
        .collect()
}

fn dump(pg: &postgres::Server, db: &str, format: &[&str]) -> Vec<u8> {
    let out = Command::new("pg_dump")
        .args(format)
        .args(pg.conn_args())
        .arg(db)
        .output()
        .expect("run pg_dump");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// Feeds `stream` in pieces of the sizes given, cycling.
fn rows_of(stream: &[u8], pieces: &[usize]) -> Result<BTreeMap<String, u64>, StreamError> {
    let mut p = DumpRows::new();
    let mut rest = stream;
    for &n in pieces.iter().cycle() {
        if rest.is_empty() {
            break;
        }
        let (a, b) = rest.split_at(n.min(rest.len()));
        p.feed(a);
        rest = b;
    }
    p.finish()
}

#[test]
fn rows_counted_in_the_dump_stream_equal_count_star() {
    let Some(pg) = postgres::server() else { return };
    let erp = pg.create_erp_db("dumprows");
    erp.psql(MORE_TABLES);
    let want = counts_only(&erp);
    let stream = dump(&pg, &erp.name, &["-Fc", "-Z0"]);

    // Whole, byte by byte at the start, and in odd sizes that split every field.
    for pieces in [
        &[usize::MAX][..],
        &[1, 1, 1, 2, 3, 5, 8, 13],
        &[7, 4096, 3, 65536, 1],
    ] {
        let got = rows_of(&stream, pieces).expect("the stream is understood");
        // Every ordinary table has its data in the dump (the partitioned
        // parent llx_bank has none: its rows are its partitions').
        assert_eq!(got, want, "pieces {:?}", &pieces[..pieces.len().min(3)]);
    }
    assert_eq!(want["public.llx_facturedet"], ERP_ROWS[2]);
    assert_eq!(want["public.llx_empty"], 0);
    assert_eq!(want["public.llx_const"], 6);
    assert_eq!(want["compta 2026.Écritures.détail"], 250);
    assert_eq!(want["public.llx_event"], 2, "the parent's own rows");
    assert!(!want.contains_key("public.llx_bank"));
}

#[test]
fn streams_it_does_not_understand_are_errors() {
    let Some(pg) = postgres::server() else { return };
    let erp = pg.create_erp_db("dumprows_bad");
    let raw = dump(&pg, &erp.name, &["-Fc", "-Z0"]);
    assert_eq!(
        rows_of(&dump(&pg, &erp.name, &["-Fc"]), &[4096]),
        Err(StreamError::Compressed)
    );
    assert_eq!(
        rows_of(&dump(&pg, &erp.name, &["-Fp"]), &[4096]),
        Err(StreamError::NotCustomFormat)
    );
    assert!(matches!(
        rows_of(&raw[..raw.len() / 2], &[4096]),
        Err(StreamError::Truncated(_))
    ));
    assert!(matches!(rows_of(&[], &[1]), Err(StreamError::Truncated(_))));
    // A newer archive version than the parser knows.
    let mut newer = raw.clone();
    newer[6] = 99;
    assert!(matches!(
        rows_of(&newer, &[4096]),
        Err(StreamError::UnsupportedVersion(1, 99, _))
    ));
    // The last byte of the stream (the final zero chunk length's last byte)
    // changed: a chunk that never ends.
    let mut broken = raw.clone();
    *broken.last_mut().expect("non-empty") = 0x7f;
    assert!(rows_of(&broken, &[4096]).is_err());
}

#[test]
fn pg_backup_records_count_star_counts_from_the_stream_or_by_scan() {
    let Some(pg) = postgres::server() else { return };
    let c = Coffer::init();
    let erp = pg.create_erp_db("dumprows_cli");
    erp.psql(MORE_TABLES);
    // What count(*) says for every table, parents with their children's rows.
    let mut want = counts_only(&erp);
    for (t, n) in [("public.llx_event", 3), ("public.llx_bank", 300)] {
        want.insert(t.into(), n);
    }
    let rows = |s: &serde_json::Value| -> BTreeMap<String, u64> {
        s["rows"]
            .as_object()
            .expect("rows")
            .iter()
            .map(|(k, v)| (k.clone(), v.as_u64().expect("a count")))
            .collect()
    };
    let mut b = vec!["pg".to_string(), "backup".into()];
    b.extend(conn(&pg, &erp.name));
    let s = c.json(&b);
    assert_eq!(rows(&s), want, "{s}");
    assert!(s["row_counts_note"].is_null(), "{s}");

    // A pg_dump that compresses anyway: the stream is not understood, the
    // counts come from count(*), the same.
    let real = on_path("pg_dump");
    let gzip = script(
        &c,
        "pg_dump_gzip",
        &format!("exec '{}' \"$@\" -Z6", real.display()),
    );
    let mut z = b.clone();
    z.extend(["--pg-dump".into(), gzip]);
    let s = c.json(&z);
    assert_eq!(rows(&s), want, "{s}");
    let note = s["row_counts_note"].as_str().unwrap_or_default();
    assert!(note.contains("compressed"), "{s}");

    // And a restore checks them against the restored database.
    let clone = format!("{}_clone", erp.name);
    let _guard = postgres::Database::adopt(&pg, &clone);
    let mut r = vec![
        "pg".to_string(),
        "restore".into(),
        "latest".into(),
        "--into".into(),
        clone.clone(),
    ];
    r.extend(conn(&pg, &erp.name));
    c.ok(&r);
}
