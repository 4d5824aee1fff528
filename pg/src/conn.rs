//! How to reach the server, and the one-shot commands: queries, version
//! checks, creating and dropping databases, the dump's and the restore's argv.

use crate::{Error, Result, version};
use std::ffi::OsString;
use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Command, Stdio};

/// Field separator of psql's unaligned output: never in names or values.
pub(crate) const SEP: &str = "\u{1f}";

/// What `pg_dump` writes. Custom uncompressed is the default: it deduplicates
/// like plain SQL (README, "PostgreSQL") and keeps pg_restore's `-t`, `-l`, `-j`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DumpFormat {
    /// `-Fc -Z0`, restored with pg_restore.
    Custom,
    /// `-Fp`, restored with psql.
    Plain,
}

impl DumpFormat {
    pub fn name(self) -> &'static str {
        match self {
            Self::Custom => "custom",
            Self::Plain => "plain",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "custom" => Some(Self::Custom),
            "plain" => Some(Self::Plain),
            _ => None,
        }
    }
}

/// Connection settings, passed to every program as flags; unset ones fall
/// back to libpq's `PG*` variables.
#[derive(Clone, Debug)]
pub struct Conn {
    /// A database name or a `key=value` connection string.
    pub dbname: String,
    pub host: Option<String>,
    pub port: Option<String>,
    pub username: Option<String>,
    /// Where CREATE / DROP DATABASE are issued from.
    pub maintenance_db: String,
    pub psql: PathBuf,
    pub pg_dump: PathBuf,
    pub pg_restore: PathBuf,
}

impl Conn {
    /// `-h -p -U` as given, then the database.
    fn args(&self, db: &str) -> Vec<OsString> {
        let mut a: Vec<OsString> = Vec::new();
        for (flag, v) in [
            ("-h", &self.host),
            ("-p", &self.port),
            ("-U", &self.username),
        ] {
            if let Some(v) = v {
                a.push(flag.into());
                a.push(v.into());
            }
        }
        a.push("-d".into());
        a.push(self.database_arg(db).into());
        a
    }

    /// `db` as a database name, or the connection string with its dbname replaced
    /// (libpq takes the last of a repeated keyword).
    fn database_arg(&self, db: &str) -> String {
        if self.dbname.contains('=') && db != self.dbname {
            format!("{} dbname='{}'", self.dbname, db.replace('\'', "\\'"))
        } else {
            db.to_string()
        }
    }

    /// The database the user named (its name, when given a connection string).
    pub fn database_name(&self) -> Result<String> {
        if !self.dbname.contains('=') {
            return Ok(self.dbname.clone());
        }
        let rows = self.query(&self.dbname, "SELECT current_database()")?;
        Ok(rows
            .first()
            .and_then(|r| r.first())
            .cloned()
            .unwrap_or_default())
    }

    pub(crate) fn psql_command(&self, db: &str) -> Command {
        let mut c = Command::new(&self.psql);
        c.args(["-X", "-A", "-t", "-q", "-v", "ON_ERROR_STOP=1", "-F", SEP])
            .args(self.args(db))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        c
    }

    /// Runs SQL in database `db`; rows of fields.
    pub fn query(&self, db: &str, sql: &str) -> Result<Vec<Vec<String>>> {
        let mut child = self
            .psql_command(db)
            .spawn()
            .map_err(|source| Error::Spawn {
                program: self.psql.clone(),
                source,
            })?;
        if let Some(mut i) = child.stdin.take() {
            let _ = i.write_all(sql.as_bytes());
        }
        let out = child.wait_with_output().map_err(|source| Error::Spawn {
            program: self.psql.clone(),
            source,
        })?;
        if !out.status.success() {
            return Err(Error::Failed {
                what: format!("psql -d {db}"),
                status: out.status.to_string(),
                stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            });
        }
        Ok(String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|l| !l.is_empty())
            .map(|l| l.split(SEP).map(String::from).collect())
            .collect())
    }

    fn one(&self, db: &str, sql: &str) -> Result<String> {
        Ok(self
            .query(db, sql)?
            .into_iter()
            .next()
            .and_then(|r| r.into_iter().next())
            .unwrap_or_default())
    }

    /// `server_version_num` and `server_version` of the server.
    pub fn server_version(&self) -> Result<(u32, String)> {
        let num = self.one(&self.dbname, "SHOW server_version_num")?;
        let n = num.trim().parse().map_err(|_| Error::Unparsable {
            what: "server_version_num".into(),
            text: num.clone(),
        })?;
        let text = self.one(&self.dbname, "SHOW server_version")?;
        let text = text
            .split_whitespace()
            .next()
            .unwrap_or_default()
            .to_string();
        Ok((n, text))
    }

    /// `pg_dump --version`: the version and its major.
    pub fn pg_dump_version(&self) -> Result<(String, version::Major)> {
        let out = Command::new(&self.pg_dump)
            .arg("--version")
            .output()
            .map_err(|source| Error::Spawn {
                program: self.pg_dump.clone(),
                source,
            })?;
        if !out.status.success() {
            return Err(Error::Failed {
                what: format!("{} --version", self.pg_dump.display()),
                status: out.status.to_string(),
                stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            });
        }
        version::major_of_version_text(&String::from_utf8_lossy(&out.stdout))
    }

    /// Refuses a pg_dump of an older major than the server (it may miss or
    /// misread new object kinds); returns (server version, pg_dump version).
    pub fn check_versions(&self) -> Result<(String, String)> {
        let (num, server) = self.server_version()?;
        let (dump, dump_major) = self.pg_dump_version()?;
        let server_major = version::Major::of_version_num(num);
        if dump_major < server_major {
            return Err(Error::DumpTooOld {
                program: self.pg_dump.clone(),
                dump,
                server,
                server_major: server_major.to_string(),
            });
        }
        Ok((server, dump))
    }

    /// pg_dump's argv; `snapshot` is an exported snapshot it must read in.
    pub fn dump_argv(&self, format: DumpFormat, snapshot: Option<&str>) -> Vec<OsString> {
        let mut a: Vec<OsString> = vec![self.pg_dump.clone().into()];
        match format {
            DumpFormat::Custom => a.extend(["-Fc", "-Z0"].map(OsString::from)),
            DumpFormat::Plain => a.push("-Fp".into()),
        }
        if let Some(s) = snapshot {
            a.push(format!("--snapshot={s}").into());
        }
        a.extend(self.args(&self.dbname));
        a
    }

    pub fn database_exists(&self, name: &str) -> Result<bool> {
        let n = self.one(
            &self.maintenance_db,
            &format!(
                "SELECT count(*) FROM pg_database WHERE datname = {}",
                literal(name)
            ),
        )?;
        Ok(n.trim() != "0")
    }

    /// Creates an empty database from template0 with the encoding and locale given.
    pub fn create_database(&self, name: &str, like: &DatabaseSettings) -> Result<()> {
        let mut sql = format!("CREATE DATABASE {} TEMPLATE template0", ident(name));
        if let Some(e) = &like.encoding {
            sql += &format!(" ENCODING {}", literal(e));
        }
        if let Some(c) = &like.collate {
            sql += &format!(" LC_COLLATE {}", literal(c));
        }
        if let Some(c) = &like.ctype {
            sql += &format!(" LC_CTYPE {}", literal(c));
        }
        if let Some(o) = &like.owner {
            sql += &format!(" OWNER {}", ident(o));
        }
        self.query(&self.maintenance_db, &sql).map(drop)
    }

    /// Ends every other session on `name`, then drops it.
    pub fn drop_database(&self, name: &str) -> Result<()> {
        self.query(
            &self.maintenance_db,
            &format!(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity \
                 WHERE datname = {} AND pid <> pg_backend_pid();\nDROP DATABASE IF EXISTS {} WITH (FORCE);",
                literal(name),
                ident(name)
            ),
        )
        .map(drop)
    }

    /// Encoding, locale and owner of `name`, to recreate it alike.
    pub fn database_settings(&self, name: &str) -> Result<DatabaseSettings> {
        let rows = self.query(
            &self.maintenance_db,
            &format!(
                "SELECT pg_encoding_to_char(encoding), datcollate, datctype, pg_get_userbyid(datdba) \
                 FROM pg_database WHERE datname = {}",
                literal(name)
            ),
        )?;
        let r = rows.into_iter().next().unwrap_or_default();
        let get = |i: usize| r.get(i).cloned();
        Ok(DatabaseSettings {
            encoding: get(0),
            collate: get(1),
            ctype: get(2),
            owner: get(3),
        })
    }

    /// Streams a dump from `dump` into database `db` (pg_restore for the custom
    /// format, psql for plain SQL); stops at the first error.
    pub fn load(
        &self,
        db: &str,
        format: DumpFormat,
        dump: &mut dyn FnMut(&mut dyn Write) -> std::io::Result<()>,
    ) -> Result<()> {
        let (program, mut cmd) = match format {
            DumpFormat::Custom => {
                let mut c = Command::new(&self.pg_restore);
                c.args(["--exit-on-error", "--no-password"])
                    .args(self.args(db));
                (self.pg_restore.clone(), c)
            }
            DumpFormat::Plain => {
                let mut c = Command::new(&self.psql);
                c.args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "--no-password"])
                    .args(self.args(db));
                (self.psql.clone(), c)
            }
        };
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|source| Error::Spawn {
                program: program.clone(),
                source,
            })?;
        let mut err = child.stderr.take();
        let err_reader = std::thread::spawn(move || {
            let mut s = String::new();
            if let Some(e) = err.as_mut() {
                let _ = e.read_to_string(&mut s);
            }
            s
        });
        let fed = match child.stdin.take() {
            Some(mut input) => {
                let r = dump(&mut input);
                drop(input);
                r
            }
            None => Ok(()),
        };
        let status = child.wait().map_err(|source| Error::Spawn {
            program: program.clone(),
            source,
        })?;
        let stderr = err_reader.join().unwrap_or_default();
        let name = program
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        if !status.success() {
            return Err(Error::Failed {
                what: format!("{name} into {db}"),
                status: status.to_string(),
                stderr,
            });
        }
        // A write that failed while the loader still exited 0 means it stopped reading.
        fed.map_err(|e| Error::Failed {
            what: format!("streaming the dump into {name}"),
            status: e.to_string(),
            stderr,
        })
    }
}

/// What a recreated database takes over from the one it replaces.
#[derive(Clone, Debug, Default)]
pub struct DatabaseSettings {
    pub encoding: Option<String>,
    pub collate: Option<String>,
    pub ctype: Option<String>,
    pub owner: Option<String>,
}

/// A quoted SQL identifier.
pub(crate) fn ident(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

/// A quoted SQL string literal.
pub(crate) fn literal(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}
