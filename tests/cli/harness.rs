//! Runs the real `coffer` binary against a repository in a temporary folder
//! or under a fresh prefix of the test S3 bucket, with the password in the
//! environment and a private `--cache-dir`, and captures what it prints and
//! how it exits.

use std::ffi::{OsStr, OsString};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

pub const PASSWORD: &str = "correct horse battery staple";

/// Variables of the user's shell that would change what coffer does.
const COFFER_ENV: [&str; 15] = [
    "COFFER_REPO",
    "COFFER_AGENT_SOCK",
    "COFFER_PASSWORD",
    "COFFER_PASSWORD_FILE",
    "COFFER_PASSWORD_COMMAND",
    "COFFER_CACHE_DIR",
    "COFFER_NEW_PASSWORD",
    "COFFER_NEW_PASSWORD_FILE",
    "COFFER_NEW_PASSWORD_COMMAND",
    "COFFER_PROFILE",
    "COFFER_CONFIG",
    "COFFER_METRICS_FILE",
    "COFFER_TO_PASSWORD",
    "COFFER_TO_PASSWORD_FILE",
    "COFFER_TO_PASSWORD_COMMAND",
];

/// Where the repository of a test lives; tests that hold for both run on both
/// (see [`on_each_store`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RepoKind {
    /// `repo/` in the test's temporary folder.
    Folder,
    /// `s3://$COFFER_TEST_S3_BUCKET/cli-test-<random>` on `$COFFER_TEST_S3_ENDPOINT`.
    S3,
}

/// Declares `mod $test { fn folder(); fn s3() }`, each running `$test(kind)`.
macro_rules! on_each_store {
    ($($test:ident),* $(,)?) => {
        $(mod $test {
            #[test]
            fn folder() {
                super::$test($crate::harness::RepoKind::Folder)
            }
            #[test]
            fn s3() {
                super::$test($crate::harness::RepoKind::S3)
            }
        })*
    };
}

/// A temporary folder holding `repo/` (or naming a bucket prefix), `cache/`
/// and whatever a test puts beside them.
pub struct Coffer {
    dir: tempfile::TempDir,
    kind: RepoKind,
    location: String,
    /// `--s3-endpoint` for S3 repositories.
    endpoint: Option<String>,
}

impl Coffer {
    /// No repository yet, at a location of `kind`; `None` (after saying why)
    /// when the S3 server is not configured.
    pub fn empty_on(kind: RepoKind) -> Option<Self> {
        Self::empty_in(kind, &std::env::temp_dir())
    }

    /// Like [`Coffer::empty_on`], with the test's folder made under `base`.
    pub fn empty_in(kind: RepoKind, base: &Path) -> Option<Self> {
        let dir = tempfile::Builder::new()
            .prefix("coffer-cli-")
            .tempdir_in(base)
            .expect("create a temporary folder");
        let (location, endpoint) = match kind {
            RepoKind::Folder => (dir.path().join("repo").to_string_lossy().into_owned(), None),
            RepoKind::S3 => {
                let (Ok(endpoint), Ok(bucket)) = (
                    std::env::var("COFFER_TEST_S3_ENDPOINT"),
                    std::env::var("COFFER_TEST_S3_BUCKET"),
                ) else {
                    skip(
                        "no S3 server: COFFER_TEST_S3_ENDPOINT is not set (eval \"$(bash .ci/services)\")",
                    );
                    return None;
                };
                (
                    format!("s3://{bucket}/cli-test-{:016x}", unique()),
                    Some(endpoint),
                )
            }
        };
        Some(Self {
            dir,
            kind,
            location,
            endpoint,
        })
    }

    /// A freshly initialized repository (default parameters).
    pub fn init() -> Self {
        Self::init_with(&[])
    }

    /// A freshly initialized repository, with extra `init` flags.
    pub fn init_with(flags: &[&str]) -> Self {
        Self::init_on(RepoKind::Folder, flags).expect("a folder is always there")
    }

    /// A freshly initialized repository at a location of `kind`.
    pub fn init_on(kind: RepoKind, flags: &[&str]) -> Option<Self> {
        Self::empty_on(kind).map(|c| c.initialized(flags))
    }

    /// A freshly initialized folder repository in a test folder under `base`.
    pub fn init_in(base: &Path) -> Self {
        Self::empty_in(RepoKind::Folder, base)
            .expect("a folder is always there")
            .initialized(&[])
    }

    fn initialized(self, flags: &[&str]) -> Self {
        let mut args = vec!["init"];
        args.extend_from_slice(flags);
        self.ok(args);
        self
    }

    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    /// A path in the test's folder (outside the repository).
    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// What `--repo` says: a folder path or an `s3://` URL.
    pub fn location(&self) -> &str {
        &self.location
    }

    /// The repository folder, for tests that look inside it (folders only).
    pub fn repo(&self) -> PathBuf {
        assert_eq!(self.kind, RepoKind::Folder, "repo() is a folder's path");
        self.path("repo")
    }

    /// Objects below `prefix` in the repository, with their sizes, read
    /// through coffer's own backend so folders and buckets look alike.
    pub fn objects(&self, prefix: &str) -> Vec<(String, u64)> {
        match self.backend() {
            Ok(b) => b
                .list(prefix)
                .unwrap_or_else(|e| panic!("list {prefix}: {e}")),
            Err(coffer_store::Error::RepositoryNotFound { .. }) => Vec::new(),
            Err(e) => panic!("open {}: {e}", self.location),
        }
    }

    pub fn backend(&self) -> coffer_store::Result<coffer_store::backend::Backend> {
        let opts = coffer_store::backend::StoreOptions {
            s3_endpoint: self.endpoint.clone(),
            ..Default::default()
        };
        coffer_store::backend::Backend::open_with(&self.location, false, &opts)
    }

    pub fn cache(&self) -> PathBuf {
        self.path("cache")
    }

    /// `coffer --repo <repo> --cache-dir <cache>` with the password in
    /// COFFER_PASSWORD; add the command and its arguments.
    pub fn command(&self) -> Command {
        self.command_with_cache(&self.cache())
    }

    /// [`Self::command`] with another cache folder: another machine.
    pub fn command_with_cache(&self, cache: &Path) -> Command {
        let mut cmd = self.command_at(Path::new(&self.location), cache);
        if let Some(e) = &self.endpoint {
            cmd.arg("--s3-endpoint").arg(e);
        }
        cmd
    }

    /// [`Self::command`] with another repository location and cache folder.
    pub fn command_at(&self, repo: &Path, cache: &Path) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_coffer"));
        for var in COFFER_ENV {
            cmd.env_remove(var);
        }
        cmd.env("COFFER_PASSWORD", PASSWORD)
            // Never fall back to the user's cache folder.
            .env("XDG_CACHE_HOME", self.path("xdg-cache"))
            // Nor to the user's config file.
            .env("XDG_CONFIG_HOME", self.path("xdg-config"))
            // Nor to the user's key agent: each test has its own socket.
            .env("COFFER_AGENT_SOCK", self.path("agent.sock"))
            .arg("--repo")
            .arg(repo)
            .arg("--cache-dir")
            .arg(cache)
            .stdin(Stdio::null());
        cmd
    }

    /// Runs `coffer ARGS` and captures its output.
    pub fn run<I, S>(&self, args: I) -> Run
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut cmd = self.command();
        cmd.args(args);
        Run::capture(cmd)
    }

    /// Runs `coffer ARGS` and asserts it succeeded.
    pub fn ok<I, S>(&self, args: I) -> Run
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let run = self.run(args);
        run.assert_code(0);
        run
    }

    /// Runs `coffer --json ARGS`, asserts success, parses the one JSON document.
    pub fn json<I, S>(&self, args: I) -> serde_json::Value
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut all: Vec<OsString> = vec!["--json".into()];
        all.extend(args.into_iter().map(|a| a.as_ref().to_os_string()));
        self.ok(all).json()
    }

    /// Runs `coffer ARGS` with `input` on its standard input.
    pub fn run_with_stdin<I, S>(&self, args: I, input: &[u8]) -> Run
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut cmd = self.command();
        cmd.args(args).stdin(Stdio::piped());
        Run::capture_with_stdin(cmd, input)
    }

    /// `snapshots --json`, oldest first.
    pub fn snapshots(&self) -> Vec<serde_json::Value> {
        match self.json(["snapshots"]) {
            serde_json::Value::Array(v) => v,
            other => panic!("snapshots --json is not an array: {other}"),
        }
    }

    /// Restores `spec` into a new folder `name` of the test folder and returns it.
    pub fn restore(&self, spec: &str, name: &str, extra: &[&str]) -> PathBuf {
        let target = self.path(name);
        let mut args: Vec<OsString> = vec![
            "restore".into(),
            spec.into(),
            "--target".into(),
            target.clone().into_os_string(),
        ];
        args.extend(extra.iter().map(OsString::from));
        self.ok(args);
        target
    }
}

/// What one run of the binary did.
pub struct Run {
    pub command: String,
    pub code: Option<i32>,
    pub stdout: Vec<u8>,
    pub stderr: String,
}

impl Run {
    pub fn capture(mut cmd: Command) -> Self {
        let described = describe(&cmd);
        let out = cmd
            .output()
            .unwrap_or_else(|e| panic!("cannot run {described}: {e}"));
        Self::from_output(described, out)
    }

    pub fn capture_with_stdin(mut cmd: Command, input: &[u8]) -> Self {
        let described = describe(&cmd);
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {described}: {e}"));
        let mut stdin = child.stdin.take().expect("stdin is piped");
        let input = input.to_vec();
        // Feed on a thread: coffer may print before it has read everything.
        let feeder = std::thread::spawn(move || {
            let _ = stdin.write_all(&input);
        });
        let out = child.wait_with_output().expect("wait for coffer");
        feeder.join().expect("stdin feeder");
        Self::from_output(described, out)
    }

    fn from_output(command: String, out: std::process::Output) -> Self {
        Self {
            command,
            code: out.status.code(),
            stdout: out.stdout,
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    pub fn stdout_str(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }

    /// Asserts the exit code, showing everything the run printed if it differs.
    pub fn assert_code(&self, code: i32) -> &Self {
        assert_eq!(
            self.code,
            Some(code),
            "{}\nexpected exit code {code}, got {:?}\n--- stdout\n{}\n--- stderr\n{}",
            self.command,
            self.code,
            self.stdout_str(),
            self.stderr
        );
        self
    }

    /// Asserts a failure reported the way a person can act on: the exit code,
    /// a first stderr line `coffer: ...` that contains every `needle`, at most
    /// a hint after it, no panic, and nothing on stdout.
    pub fn assert_error(&self, code: i32, needles: &[&str]) -> &Self {
        self.assert_code(code);
        let first = self.stderr.lines().next().unwrap_or_default();
        assert!(
            first.starts_with("coffer: "),
            "{}: first stderr line should be `coffer: <message>`:\n{}",
            self.command,
            self.stderr
        );
        for n in needles {
            assert!(
                first.contains(n),
                "{}: error line should mention {n:?}:\n{}",
                self.command,
                self.stderr
            );
        }
        assert!(
            !self.stderr.contains("panicked") && !self.stderr.contains("RUST_BACKTRACE"),
            "{}: panicked:\n{}",
            self.command,
            self.stderr
        );
        let extra: Vec<&str> = self
            .stderr
            .lines()
            .skip(1)
            .filter(|l| !l.starts_with("  hint: "))
            .collect();
        assert!(
            extra.is_empty(),
            "{}: one error line (and a hint) expected, also got {extra:?}",
            self.command
        );
        assert!(
            self.stdout.is_empty(),
            "{}: a failure printed on stdout:\n{}",
            self.command,
            self.stdout_str()
        );
        self
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.stdout).unwrap_or_else(|e| {
            panic!(
                "{}: stdout is not one JSON document ({e}):\n{}",
                self.command,
                self.stdout_str()
            )
        })
    }
}

/// The command line, for failure messages.
pub fn describe(cmd: &Command) -> String {
    let mut s = cmd.get_program().to_string_lossy().into_owned();
    for a in cmd.get_args() {
        s.push(' ');
        s.push_str(&a.to_string_lossy());
    }
    s
}

/// A number field of a JSON object.
pub fn num(v: &serde_json::Value, field: &str) -> u64 {
    v[field]
        .as_u64()
        .unwrap_or_else(|| panic!("{field} is not a non-negative integer in {v}"))
}

/// A number no other test (of this run or another helper's) will draw.
pub fn unique() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    h.write_u32(std::process::id());
    h.finish()
}

impl Drop for Coffer {
    /// Leaves the shared bucket as it was found (best effort).
    fn drop(&mut self) {
        if self.kind != RepoKind::S3 {
            return;
        }
        if let Ok(b) = self.backend() {
            for (name, _) in b.list("").unwrap_or_default() {
                let _ = b.delete(&name);
            }
        }
    }
}

/// Whether CI demands that services (PostgreSQL, root for tmpfs) be present.
pub fn services_required() -> bool {
    std::env::var_os("COFFER_REQUIRE_SERVICES").is_some_and(|v| v == "1")
}

/// Says why a test does not run; fails instead when services are required.
pub fn skip(why: &str) {
    assert!(!services_required(), "{why} (COFFER_REQUIRE_SERVICES=1)");
    eprintln!("skipped: {why}");
}

/// Init options for repositories the tests write through the store API: a
/// tiny argon2id cost, so that opening them costs nothing (never for users).
pub fn fast_init_options() -> coffer_store::repo::InitOptions {
    coffer_store::repo::InitOptions {
        kdf: coffer_store::crypto::KdfParams {
            memory_kib: 64,
            iterations: 1,
            parallelism: 1,
        },
        ..coffer_store::repo::InitOptions::default()
    }
}
