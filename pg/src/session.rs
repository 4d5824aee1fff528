//! One open `psql` session holding a repeatable-read transaction whose
//! snapshot `pg_dump --snapshot` reads too: row counts, the fingerprint and
//! the label describe exactly the data in the dump, even on a busy server.

use crate::conn::{Conn, SEP, ident, literal};
use crate::{Error, Result};
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, ChildStdin, ChildStdout};

/// Ends each answer, so the reader knows where one stops.
const END: &str = "<<coffer-end-of-answer>>";

pub struct Session {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    db: String,
    /// The exported snapshot id for `pg_dump --snapshot`.
    pub snapshot: String,
}

/// Exact row count of one table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TableCount {
    /// `schema.table`.
    pub table: String,
    pub rows: u64,
}

/// What the default fingerprint reads.
#[derive(Clone, Debug)]
pub struct FingerprintOptions {
    /// Columns taken as "last modified" (the first one a table has is used).
    pub timestamp_columns: Vec<String>,
    /// Tables left out (`schema.table` or `table`): sessions, caches, logs.
    pub volatile_tables: Vec<String>,
    /// Replaces the default: its whole result is the fingerprint.
    pub custom_query: Option<String>,
}

/// A digest of the business content, and how many tables went into it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fingerprint {
    pub hex: String,
    pub tables: usize,
}

impl Session {
    pub fn open(conn: &Conn) -> Result<Self> {
        let mut child = conn
            .psql_command(&conn.dbname)
            .spawn()
            .map_err(|source| Error::Spawn {
                program: conn.psql.clone(),
                source,
            })?;
        let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
            return Err(Error::Invalid("psql has no pipes".into()));
        };
        let mut s = Self {
            child,
            stdin,
            stdout: BufReader::new(stdout),
            db: conn.dbname.clone(),
            snapshot: String::new(),
        };
        s.query("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")?;
        s.snapshot = s.scalar("SELECT pg_export_snapshot()")?;
        Ok(s)
    }

    /// Runs one statement in the transaction; rows of fields.
    pub fn query(&mut self, sql: &str) -> Result<Vec<Vec<String>>> {
        let sent = writeln!(
            self.stdin,
            "{};\nSELECT '{END}';",
            sql.trim().trim_end_matches(';')
        )
        .and_then(|()| self.stdin.flush());
        let mut rows = Vec::new();
        let mut line = String::new();
        loop {
            line.clear();
            let n = if sent.is_ok() {
                self.stdout.read_line(&mut line).unwrap_or(0)
            } else {
                0
            };
            if n == 0 {
                return Err(self.died(sql));
            }
            let l = line.trim_end_matches('\n');
            if l == END {
                return Ok(rows);
            }
            if !l.is_empty() {
                rows.push(l.split(SEP).map(String::from).collect());
            }
        }
    }

    /// psql stopped (ON_ERROR_STOP): its stderr says why.
    fn died(&mut self, sql: &str) -> Error {
        let _ = self.child.kill();
        let status = self.child.wait().map(|s| s.to_string()).unwrap_or_default();
        let mut stderr = String::new();
        if let Some(e) = self.child.stderr.as_mut() {
            let _ = e.read_to_string(&mut stderr);
        }
        let short: String = sql.chars().take(120).collect();
        Error::Failed {
            what: format!("query on {} ({short})", self.db),
            status,
            stderr,
        }
    }

    pub fn scalar(&mut self, sql: &str) -> Result<String> {
        Ok(self
            .query(sql)?
            .into_iter()
            .next()
            .map(|r| r.join(SEP))
            .unwrap_or_default())
    }

    /// Ordinary tables outside the system schemas, `schema.table`, sorted.
    fn tables(&mut self) -> Result<Vec<(String, String)>> {
        Ok(self
            .table_list()?
            .into_iter()
            .map(|(s, t, _)| (s, t))
            .collect())
    }

    /// [`Self::tables`], each with whether its dump data can stand for its
    /// `count(*)`: not when it has inheritance children or partitions (its
    /// `count(*)` includes their rows, its data does not) or belongs to an
    /// extension (pg_dump writes only the rows its filter selects, if any).
    fn table_list(&mut self) -> Result<Vec<(String, String, bool)>> {
        Ok(self
            .query(
                "SELECT n.nspname, c.relname, \
                 NOT EXISTS (SELECT 1 FROM pg_inherits i WHERE i.inhparent = c.oid) \
                 AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass \
                 AND d.objid = c.oid AND d.deptype = 'e') \
                 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
                 WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema') \
                 AND n.nspname NOT LIKE 'pg_toast%' ORDER BY 1, 2",
            )?
            .into_iter()
            .filter_map(|r| Some((r.first()?.clone(), r.get(1)?.clone(), r.get(2)? == "t")))
            .collect())
    }

    /// Exact `count(*)` of every table, in one statement.
    pub fn row_counts(&mut self) -> Result<Vec<TableCount>> {
        Ok(self.row_counts_with(None)?.0)
    }

    /// Exact row counts of every table: from `dumped` (rows per `schema.table`
    /// read from the dump stream in this snapshot, see [`crate::DumpRows`])
    /// where it can stand for `count(*)`, by `count(*)` for the rest. Also
    /// returns how many tables were counted by a scan.
    pub fn row_counts_with(
        &mut self,
        dumped: Option<&BTreeMap<String, u64>>,
    ) -> Result<(Vec<TableCount>, usize)> {
        let mut known = Vec::new();
        let mut scan = Vec::new();
        for (s, t, plain) in self.table_list()? {
            let key = format!("{s}.{t}");
            match dumped.filter(|_| plain).and_then(|d| d.get(&key)) {
                Some(&rows) => known.push(TableCount { table: key, rows }),
                None => scan.push((s, t)),
            }
        }
        let scanned = scan.len();
        let mut counts = known;
        counts.extend(self.count_rows(&scan)?);
        counts.sort_by(|a, b| a.table.cmp(&b.table));
        Ok((counts, scanned))
    }

    /// `count(*)` of the tables given, in one statement.
    fn count_rows(&mut self, tables: &[(String, String)]) -> Result<Vec<TableCount>> {
        if tables.is_empty() {
            return Ok(Vec::new());
        }
        let sql = tables
            .iter()
            .map(|(s, t)| {
                format!(
                    "SELECT {}, count(*) FROM {}.{}",
                    literal(&format!("{s}.{t}")),
                    ident(s),
                    ident(t)
                )
            })
            .collect::<Vec<_>>()
            .join(" UNION ALL ");
        self.query(&sql)?
            .into_iter()
            .map(|r| {
                let rows =
                    r.get(1)
                        .and_then(|n| n.parse().ok())
                        .ok_or_else(|| Error::Unparsable {
                            what: "a row count".into(),
                            text: r.join(" "),
                        })?;
                Ok(TableCount {
                    table: r.first().cloned().unwrap_or_default(),
                    rows,
                })
            })
            .collect()
    }

    /// The business-content fingerprint. Default: for each table not listed
    /// as volatile, its row count and the greatest value of its first
    /// timestamp column (`tms`, ...); tables without one contribute a sum of
    /// hashes of their row versions' `xmin` instead, so an UPDATE there shows
    /// too; plus the column catalogue, so a schema upgrade shows, and the
    /// cluster's identity.
    ///
    /// Why `xmin` is safe: every INSERT or UPDATE writes a row version whose
    /// `xmin` is its transaction's id. A transaction that committed after the
    /// last fingerprint's snapshot was not visible to it, so none of the rows
    /// that snapshot saw carries its id: if any row it wrote is still there,
    /// the set of `xmin`s differs; if none is, the table only lost rows, and
    /// its count differs. Only a transaction id reused after 2^32
    /// transactions, or another cluster replaying the same ids (hence the
    /// cluster's identity), could hide a change; a hash collision of the sum
    /// is as unlikely as with row hashes. Reading `xmin` costs about what
    /// `count(*)` does, where hashing each row's text cost ten times more
    /// (README, "Speed, measured"). VACUUM, freezing or a rewrite can only
    /// make it say "changed" without need, never the reverse.
    pub fn fingerprint(&mut self, opts: &FingerprintOptions) -> Result<Fingerprint> {
        let mut h = blake3::Hasher::new();
        if let Some(q) = &opts.custom_query {
            for r in self.query(q)? {
                h.update(r.join(SEP).as_bytes());
                h.update(b"\n");
            }
            return Ok(Fingerprint {
                hex: h.finalize().to_hex().to_string(),
                tables: 0,
            });
        }
        let columns = self.query(
            "SELECT table_schema, table_name, column_name, data_type FROM information_schema.columns \
             WHERE table_schema NOT IN ('pg_catalog', 'information_schema') ORDER BY 1, 2, ordinal_position",
        )?;
        for c in &columns {
            h.update(c.join(SEP).as_bytes());
            h.update(b"\n");
        }
        h.update(self.cluster_identity()?.as_bytes());
        h.update(b"\n");
        let volatile = |s: &str, t: &str| {
            opts.volatile_tables
                .iter()
                .any(|v| v == t || *v == format!("{s}.{t}"))
        };
        let mut parts = Vec::new();
        for (s, t) in self.tables()? {
            if volatile(&s, &t) {
                continue;
            }
            let ts = opts.timestamp_columns.iter().find(|want| {
                columns.iter().any(|c| {
                    c.first() == Some(&s) && c.get(1) == Some(&t) && c.get(2) == Some(*want)
                })
            });
            let tail = match ts {
                Some(col) => format!("max({})::text", ident(col)),
                None => {
                    "coalesce(sum(hashint8extended(x.xmin::text::bigint, 0)), 0)::text".to_string()
                }
            };
            parts.push(format!(
                "SELECT {}, count(*), {tail} FROM {}.{} x",
                literal(&format!("{s}.{t}")),
                ident(&s),
                ident(&t)
            ));
        }
        let tables = parts.len();
        if !parts.is_empty() {
            for r in self.query(&parts.join(" UNION ALL "))? {
                h.update(r.join(SEP).as_bytes());
                h.update(b"\n");
            }
        }
        Ok(Fingerprint {
            hex: h.finalize().to_hex().to_string(),
            tables,
        })
    }

    /// The cluster's system identifier (random at initdb), or without the
    /// right to read it the postmaster's start time: a cluster rebuilt from
    /// another dump replays the same transaction ids, and this tells it apart.
    fn cluster_identity(&mut self) -> Result<String> {
        let may = self
            .scalar("SELECT has_function_privilege('pg_catalog.pg_control_system()', 'EXECUTE')")?;
        if may == "t" {
            Ok(format!(
                "system {}",
                self.scalar("SELECT system_identifier FROM pg_catalog.pg_control_system()")?
            ))
        } else {
            Ok(format!(
                "started {}",
                self.scalar("SELECT pg_catalog.pg_postmaster_start_time()")?
            ))
        }
    }

    /// Ends the transaction (after pg_dump has read its snapshot).
    pub fn close(mut self) -> Result<()> {
        let _ = writeln!(self.stdin, "COMMIT;\n\\q");
        let _ = self.stdin.flush();
        let _ = self.child.wait();
        Ok(())
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
