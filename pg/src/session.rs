//! One open `psql` session holding a repeatable-read transaction whose
//! snapshot `pg_dump --snapshot` reads too: row counts, the fingerprint and
//! the label describe exactly the data in the dump, even on a busy server.

use crate::conn::{Conn, SEP, ident, literal};
use crate::{Error, Result};
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
            .query(
                "SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
                 WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema') \
                 AND n.nspname NOT LIKE 'pg_toast%' ORDER BY 1, 2",
            )?
            .into_iter()
            .filter_map(|r| Some((r.first()?.clone(), r.get(1)?.clone())))
            .collect())
    }

    /// Exact `count(*)` of every table, in one statement.
    pub fn row_counts(&mut self) -> Result<Vec<TableCount>> {
        let tables = self.tables()?;
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
    /// row hashes instead, so an UPDATE there shows too; plus the column
    /// catalogue, so a schema upgrade shows.
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
                None => "coalesce(sum(hashtext(x::text)::bigint), 0)::text".to_string(),
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
