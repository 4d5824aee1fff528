//! The PostgreSQL service of `.ci/services`: connection settings from
//! PGHOST/PGPORT/PGUSER, throwaway databases with a Dolibarr-like schema, and a
//! fingerprint of their content to compare an original with a restored clone.

use crate::harness::skip;
use std::io::Write;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

/// A Dolibarr-like schema: third parties, invoices and their lines (five years
/// of history, lines stored next to their invoice as Dolibarr inserts them),
/// indexes, a view, a sequence. Recent invoices are still unpaid.
pub const ERP_SCHEMA: &str = r"
CREATE TABLE llx_societe (
    rowid serial PRIMARY KEY, nom varchar(128) NOT NULL, code_client varchar(24) UNIQUE,
    address varchar(255), zip varchar(25), town varchar(50), phone varchar(20),
    email varchar(128), datec timestamp NOT NULL, tms timestamp NOT NULL, status smallint DEFAULT 1);
CREATE TABLE llx_facture (
    rowid serial PRIMARY KEY, ref varchar(30) NOT NULL UNIQUE,
    fk_soc integer NOT NULL REFERENCES llx_societe (rowid), datef date, date_lim_reglement date,
    total_ht numeric(24,8) DEFAULT 0, total_tva numeric(24,8) DEFAULT 0,
    total_ttc numeric(24,8) DEFAULT 0, fk_statut smallint DEFAULT 0, paye smallint DEFAULT 0,
    note_public text, tms timestamp NOT NULL);
CREATE TABLE llx_facturedet (
    rowid serial PRIMARY KEY, fk_facture integer NOT NULL REFERENCES llx_facture (rowid),
    description text, tva_tx numeric(7,4), qty real, subprice numeric(24,8),
    total_ht numeric(24,8), total_tva numeric(24,8), total_ttc numeric(24,8),
    product_type integer DEFAULT 0, rang integer DEFAULT 0);
CREATE INDEX idx_facture_fk_soc ON llx_facture (fk_soc);
CREATE INDEX idx_facturedet_fk_facture ON llx_facturedet (fk_facture);
CREATE SEQUENCE llx_facture_ref_seq START 1;
CREATE VIEW llx_v_ca_societe AS
    SELECT s.rowid, s.nom, count(f.rowid) AS nb, sum(f.total_ttc) AS ca
    FROM llx_societe s LEFT JOIN llx_facture f ON f.fk_soc = s.rowid GROUP BY s.rowid, s.nom;
INSERT INTO llx_societe (nom, code_client, address, zip, town, phone, email, datec, tms)
    SELECT 'Société ' || md5(i::text), 'CU2605-' || lpad(i::text, 5, '0'),
           i || ' rue de la République', lpad((i * 37 % 95000 + 1000)::text, 5, '0'),
           'Ville-' || (i % 97), '+33 1 ' || lpad((i * 7919 % 100000000)::text, 8, '0'),
           'contact' || i || '@example.fr', timestamp '2020-01-01' + i * interval '1 hour',
           timestamp '2024-01-01' + i * interval '1 minute'
    FROM generate_series(1, 600) i;
INSERT INTO llx_facture (ref, fk_soc, datef, date_lim_reglement, total_ht, total_tva, total_ttc,
                         fk_statut, paye, note_public, tms)
    SELECT 'FA2605-' || lpad(i::text, 5, '0'), 1 + (i * 7) % 600,
           date '2021-01-01' + i / 2, date '2021-01-31' + i / 2,
           (i * 1337 % 500000) / 100.0, (i * 1337 % 500000) / 500.0, (i * 1337 % 500000) * 1.2 / 100.0,
           CASE WHEN i > 3800 THEN 1 ELSE 2 END, CASE WHEN i > 3800 THEN 0 ELSE 1 END,
           'Commande ' || md5(i::text), timestamp '2021-01-01' + i * interval '12 hours'
    FROM generate_series(1, 4000) i;
INSERT INTO llx_facturedet (fk_facture, description, tva_tx, qty, subprice, total_ht, total_tva,
                            total_ttc, rang)
    SELECT 1 + i / 3, 'Prestation ' || md5((i * 31)::text) || ' ' || repeat('x', i % 40), 20.0,
           1 + i % 9, (i * 7 % 10000) / 10.0, (1 + i % 9) * (i * 7 % 10000) / 10.0,
           (1 + i % 9) * (i * 7 % 10000) / 50.0, (1 + i % 9) * (i * 7 % 10000) * 1.2 / 10.0, i % 3
    FROM generate_series(0, 11999) i;
SELECT setval('llx_facture_ref_seq', 4000);
";

/// Rows [`ERP_SCHEMA`] creates in llx_societe, llx_facture, llx_facturedet.
pub const ERP_ROWS: [u64; 3] = [600, 4000, 12000];

/// One business day, ~1% of all rows updated: payments on recent invoices and
/// their lines re-priced (those tuples move to the end of the heap), a few old
/// records touched anywhere, and new invoices with their lines.
pub const A_DAY: &str = r"
UPDATE llx_facture SET fk_statut = 2, paye = 1, tms = tms + interval '1 day'
    WHERE rowid > 3800 AND rowid % 5 = 0;
UPDATE llx_facturedet SET qty = qty + 1, total_ht = total_ht + subprice WHERE fk_facture > 3950;
UPDATE llx_societe SET phone = '+33 6 00000000' WHERE rowid % 150 = 7;
UPDATE llx_facture SET note_public = note_public || ' (relance)' WHERE rowid % 1000 = 500;
INSERT INTO llx_facture (ref, fk_soc, datef, date_lim_reglement, total_ht, total_tva, total_ttc,
                         fk_statut, paye, note_public, tms)
    SELECT 'FA2606-' || lpad(i::text, 5, '0'), 1 + i % 600, date '2026-06-01', date '2026-07-01',
           i * 10, i * 2, i * 12, 1, 0, 'Commande ' || md5((-i)::text), timestamp '2026-06-01'
    FROM generate_series(1, 40) i;
INSERT INTO llx_facturedet (fk_facture, description, tva_tx, qty, subprice, total_ht, total_tva,
                            total_ttc, rang)
    SELECT 4001 + i / 3, 'Prestation ' || md5((-i)::text) || ' ' || repeat('y', i % 40), 20.0,
           1 + i % 9, i * 1.5, (1 + i % 9) * i * 1.5, (1 + i % 9) * i * 0.3, (1 + i % 9) * i * 1.8, i % 3
    FROM generate_series(0, 119) i;
SELECT nextval('llx_facture_ref_seq') FROM generate_series(1, 40);
";

/// Everything a restore must bring back, as one comparable text: row counts
/// and content digests per table (ordered by rowid), the view's result, the
/// sequence position, the index definitions.
const FINGERPRINT: &str = r"
SELECT 'llx_societe', count(*), md5(string_agg(t::text, ',' ORDER BY rowid)) FROM llx_societe t
UNION ALL
SELECT 'llx_facture', count(*), md5(string_agg(t::text, ',' ORDER BY rowid)) FROM llx_facture t
UNION ALL
SELECT 'llx_facturedet', count(*), md5(string_agg(t::text, ',' ORDER BY rowid)) FROM llx_facturedet t
UNION ALL
SELECT 'llx_v_ca_societe', count(*), md5(string_agg(v::text, ',' ORDER BY rowid)) FROM llx_v_ca_societe v
UNION ALL
SELECT 'llx_facture_ref_seq', last_value, is_called::text FROM llx_facture_ref_seq
UNION ALL
SELECT 'indexes', count(*), md5(string_agg(indexdef, ';' ORDER BY indexname))
    FROM pg_indexes WHERE schemaname = 'public';
";

/// Connection settings of a running server.
pub struct Server {
    pub host: String,
    pub port: String,
    pub user: String,
    /// Where CREATE/DROP DATABASE are issued from.
    admin_db: String,
}

/// The server from the environment, or `None` after saying why the test skips
/// (a failure when COFFER_REQUIRE_SERVICES=1).
pub fn server() -> Option<Server> {
    if std::env::var_os("COFFER_TEST_PG").is_none() {
        skip("PostgreSQL not available (run .ci/run)");
        return None;
    }
    let var = |k: &str, default: &str| std::env::var(k).unwrap_or_else(|_| default.to_string());
    Some(Server {
        host: var("PGHOST", "127.0.0.1"),
        port: var("PGPORT", "5432"),
        user: var("PGUSER", "postgres"),
        admin_db: var("PGDATABASE", "postgres"),
    })
}

impl Server {
    /// `-h HOST -p PORT -U USER`, for pg_dump, pg_restore and psql.
    pub fn conn_args(&self) -> Vec<String> {
        vec![
            "-h".into(),
            self.host.clone(),
            "-p".into(),
            self.port.clone(),
            "-U".into(),
            self.user.clone(),
        ]
    }

    /// `pg_dump -Fc -Z0 ... DB`: the custom format, uncompressed, which is what
    /// a deduplicating store wants.
    pub fn dump_command(&self, db: &str) -> Vec<String> {
        let mut v = vec!["pg_dump".to_string(), "-Fc".into(), "-Z0".into()];
        v.extend(self.conn_args());
        v.push(db.to_string());
        v
    }

    fn psql_command(&self, db: &str) -> Command {
        let mut cmd = Command::new("psql");
        cmd.args(self.conn_args())
            .args([
                "-X",
                "-A",
                "-t",
                "-q",
                "-v",
                "ON_ERROR_STOP=1",
                "-d",
                db,
                "-f",
                "-",
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        cmd
    }

    /// Runs SQL (several statements are fine) and returns what it printed.
    pub fn psql(&self, db: &str, sql: &str) -> String {
        match self.try_psql(db, sql) {
            Ok(out) => out,
            Err(e) => panic!("psql -d {db} failed: {e}\nSQL:\n{sql}"),
        }
    }

    fn try_psql(&self, db: &str, sql: &str) -> Result<String, String> {
        let mut child = self
            .psql_command(db)
            .spawn()
            .map_err(|e| format!("cannot run psql: {e}"))?;
        child
            .stdin
            .take()
            .expect("stdin is piped")
            .write_all(sql.as_bytes())
            .map_err(|e| format!("writing to psql: {e}"))?;
        let out = child.wait_with_output().map_err(|e| e.to_string())?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            Err(format!(
                "{}: {}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            ))
        }
    }

    /// A new empty database, dropped when the guard goes.
    pub fn create_db(&self, tag: &str) -> Database<'_> {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let name = format!(
            "coffer_cli_{}_{}_{tag}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        self.psql(
            &self.admin_db,
            &format!("CREATE DATABASE {name} TEMPLATE template0;"),
        );
        Database { server: self, name }
    }

    /// A new database holding [`ERP_SCHEMA`].
    pub fn create_erp_db(&self, tag: &str) -> Database<'_> {
        let db = self.create_db(tag);
        self.psql(&db.name, ERP_SCHEMA);
        db
    }
}

/// A database that exists for one test.
pub struct Database<'a> {
    server: &'a Server,
    pub name: String,
}

impl Database<'_> {
    pub fn psql(&self, sql: &str) -> String {
        self.server.psql(&self.name, sql)
    }

    /// See [`FINGERPRINT`]; one `table|count|digest` line per item.
    pub fn fingerprint(&self) -> String {
        self.psql(FINGERPRINT)
    }

    /// Row counts of llx_societe, llx_facture, llx_facturedet.
    pub fn row_counts(&self) -> [u64; 3] {
        let out = self.psql(
            "SELECT (SELECT count(*) FROM llx_societe), (SELECT count(*) FROM llx_facture), \
             (SELECT count(*) FROM llx_facturedet);",
        );
        let n: Vec<u64> = out
            .trim()
            .split('|')
            .map(|v| v.parse().unwrap_or_else(|e| panic!("count {v:?}: {e}")))
            .collect();
        [n[0], n[1], n[2]]
    }
}

impl<'a> Database<'a> {
    /// A database something else created, dropped when the guard goes.
    pub fn adopt(server: &'a Server, name: &str) -> Self {
        Database {
            server,
            name: name.to_string(),
        }
    }
}

impl Drop for Database<'_> {
    fn drop(&mut self) {
        let sql = format!("DROP DATABASE IF EXISTS {} WITH (FORCE);", self.name);
        if let Err(e) = self.server.try_psql(&self.server.admin_db, &sql) {
            eprintln!("could not drop test database {}: {e}", self.name);
        }
    }
}
