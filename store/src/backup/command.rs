//! A producer command (`--stdin-from-command -- pg_dump ...`) whose output is
//! backed up. Its exit status decides whether the snapshot may be written:
//! a dump that died half-way must never be mistaken for a whole one.

use crate::error::{Error, Result};
use std::ffi::OsString;
use std::io::Read;
use std::process::{Child, ChildStdout, Command, Stdio};
use std::thread::JoinHandle;

/// The size asked for the command's output pipe.
const PIPE_BYTES: usize = 1 << 20;

/// How much of the command's stderr is kept to explain a failure.
const STDERR_TAIL: usize = 4096;

pub struct ProducerCommand {
    /// Program name only: arguments may hold connection strings with secrets.
    program: String,
    child: Child,
    stdout: Option<ChildStdout>,
    stderr: Option<JoinHandle<String>>,
    tap: Option<super::StreamTap>,
}

/// The command's output, shown to its tap as it is read.
pub struct TappedOutput<'a> {
    out: &'a mut ChildStdout,
    tap: Option<&'a mut super::StreamTap>,
}

impl Read for TappedOutput<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.out.read(buf)?;
        if let Some(tap) = self.tap.as_mut() {
            tap(&buf[..n]);
        }
        Ok(n)
    }
}

impl ProducerCommand {
    pub fn spawn(argv: &[OsString]) -> Result<Self> {
        let (program, args) = argv.split_first().ok_or_else(|| {
            Error::InvalidInput("--stdin-from-command needs a command after --".into())
        })?;
        let name = std::path::Path::new(program)
            .file_name()
            .unwrap_or(program)
            .to_string_lossy()
            .into_owned();
        let mut child = Command::new(program)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| Error::CommandFailed {
                what: format!("starting {name}"),
                status: e.to_string(),
                stderr_tail: String::new(),
            })?;
        let stdout = child.stdout.take();
        if let Some(out) = &stdout {
            // 64 KiB by default: pg_dump and coffer would then take turns a
            // few thousand times a second on a 1 GB dump. 1 MiB is the
            // unprivileged ceiling (fs.pipe-max-size); refused is harmless.
            let _ = rustix::pipe::fcntl_setpipe_size(out, PIPE_BYTES);
        }
        let stderr = child.stderr.take().map(|mut err| {
            std::thread::spawn(move || {
                let mut tail: Vec<u8> = Vec::new();
                let mut buf = [0u8; 8192];
                while let Ok(n) = err.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    tail.extend_from_slice(&buf[..n]);
                    if tail.len() > 2 * STDERR_TAIL {
                        tail.drain(..tail.len() - STDERR_TAIL);
                    }
                }
                let start = tail.len().saturating_sub(STDERR_TAIL);
                String::from_utf8_lossy(&tail[start..]).into_owned()
            })
        });
        Ok(Self {
            program: name,
            child,
            stdout,
            stderr,
            tap: None,
        })
    }

    /// Shows every byte read from the output to `tap`.
    pub fn with_tap(mut self, tap: Option<super::StreamTap>) -> Self {
        self.tap = tap;
        self
    }

    pub fn stdout(&mut self) -> Option<&mut ChildStdout> {
        self.stdout.as_mut()
    }

    /// The output, through the tap when there is one.
    pub fn output(&mut self) -> Option<TappedOutput<'_>> {
        Some(TappedOutput {
            out: self.stdout.as_mut()?,
            tap: self.tap.as_mut(),
        })
    }

    fn stderr_tail(&mut self) -> String {
        self.stderr
            .take()
            .and_then(|h| h.join().ok())
            .unwrap_or_default()
    }

    /// Waits for the command; anything but a zero exit is an error.
    pub fn wait(&mut self) -> Result<()> {
        self.stdout = None;
        let status = self.child.wait().map_err(|e| Error::CommandFailed {
            what: self.program.clone(),
            status: format!("cannot wait for it: {e}"),
            stderr_tail: String::new(),
        })?;
        let tail = self.stderr_tail();
        if status.success() {
            return Ok(());
        }
        Err(Error::CommandFailed {
            what: self.program.clone(),
            status: describe(status),
            stderr_tail: tail,
        })
    }

    /// Reading its output failed: stop it and say why.
    pub fn failure(&mut self, io: Option<std::io::Error>) -> Error {
        let _ = self.child.kill();
        self.stdout = None;
        let status = self.child.wait().map(describe).unwrap_or_default();
        let tail = self.stderr_tail();
        Error::CommandFailed {
            what: self.program.clone(),
            status: match io {
                Some(e) => format!("reading its output failed: {e}; {status}"),
                None => status,
            },
            stderr_tail: tail,
        }
    }
}

impl Drop for ProducerCommand {
    fn drop(&mut self) {
        // Never leave a dump running behind an aborted backup.
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn describe(status: std::process::ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(c), _) => format!("exit status {c}"),
        (None, Some(s)) => format!("killed by signal {s}"),
        _ => status.to_string(),
    }
}
