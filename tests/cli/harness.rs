//! Runs the real `coffer` binary against a repository in a temporary folder,
//! with the password in the environment and a private `--cache-dir`, and
//! captures what it prints and how it exits.

use std::ffi::{OsStr, OsString};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

pub const PASSWORD: &str = "correct horse battery staple";

/// Variables of the user's shell that would change what coffer does.
const COFFER_ENV: [&str; 8] = [
    "COFFER_REPO",
    "COFFER_PASSWORD",
    "COFFER_PASSWORD_FILE",
    "COFFER_PASSWORD_COMMAND",
    "COFFER_CACHE_DIR",
    "COFFER_NEW_PASSWORD",
    "COFFER_NEW_PASSWORD_FILE",
    "COFFER_NEW_PASSWORD_COMMAND",
];

/// A temporary folder holding `repo/`, `cache/` and whatever a test puts beside them.
pub struct Coffer {
    dir: tempfile::TempDir,
}

impl Coffer {
    /// A folder with no repository yet.
    pub fn empty() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("coffer-cli-")
            .tempdir()
            .expect("create a temporary folder");
        Self { dir }
    }

    /// A freshly initialized repository (default parameters).
    pub fn init() -> Self {
        Self::init_with(&[])
    }

    /// A freshly initialized repository, with extra `init` flags.
    pub fn init_with(flags: &[&str]) -> Self {
        let c = Self::empty();
        let mut args = vec!["init"];
        args.extend_from_slice(flags);
        c.ok(args);
        c
    }

    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    /// A path in the test's folder (outside the repository).
    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    pub fn repo(&self) -> PathBuf {
        self.path("repo")
    }

    pub fn cache(&self) -> PathBuf {
        self.path("cache")
    }

    /// `coffer --repo <repo> --cache-dir <cache>` with the password in
    /// COFFER_PASSWORD; add the command and its arguments.
    pub fn command(&self) -> Command {
        self.command_at(&self.repo(), &self.cache())
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

    fn capture_with_stdin(mut cmd: Command, input: &[u8]) -> Self {
        let described = describe(&cmd);
        let mut child = cmd
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

/// Whether CI demands that services (PostgreSQL, root for tmpfs) be present.
pub fn services_required() -> bool {
    std::env::var_os("COFFER_REQUIRE_SERVICES").is_some_and(|v| v == "1")
}

/// Says why a test does not run; fails instead when services are required.
pub fn skip(why: &str) {
    assert!(!services_required(), "{why} (COFFER_REQUIRE_SERVICES=1)");
    eprintln!("skipped: {why}");
}
