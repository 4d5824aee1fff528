//! The key agent's server (`coffer agent serve`, which `coffer agent start`
//! runs in the background): holds secrets in memory until their time is up,
//! answers one request per connection, and exits when it holds nothing more.

use crate::agent::{self, Found, Held, MAX_LINE, Reply, Request, Unreachable};
use anyhow::{Context, Result, bail};
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime};
use zeroize::Zeroizing;

/// A connection that sends nothing for this long is dropped, so one stuck
/// client cannot hold up the others (requests are served one at a time).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(2);
/// An agent that was started but never given a key does not linger.
const IDLE_START: Duration = Duration::from_secs(60);
/// How often expiries are looked at.
const TICK: Duration = Duration::from_millis(250);

struct Entry {
    key_id: String,
    secret: Zeroizing<String>,
    location: String,
    added: SystemTime,
    expires: Instant,
    expires_wall: SystemTime,
}

#[derive(Default)]
struct Keys {
    entries: Vec<Entry>,
    ever_held: bool,
}

type Shared = Arc<Mutex<Keys>>;

fn lock(keys: &Shared) -> std::sync::MutexGuard<'_, Keys> {
    keys.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Serves on `socket` until the last key expires, `agent stop`, or a signal.
pub fn serve(socket: &Path) -> Result<()> {
    agent::check_folder(socket, true)?;
    match agent::ask(socket, &Request::List) {
        Ok(_) => bail!("an agent already answers at {}", socket.display()),
        Err(Unreachable::Broken(e)) => return Err(e),
        Err(Unreachable::Absent) => {}
    }
    // A socket file nothing listens on is a dead agent's.
    if socket.exists() {
        std::fs::remove_file(socket)
            .with_context(|| format!("removing the stale socket {}", socket.display()))?;
    }
    // Secrets in this process's memory: no core dump, and no ptrace by other
    // processes of the same user (only root may still look).
    rustix::process::set_dumpable_behavior(rustix::process::DumpableBehavior::NotDumpable)
        .context("marking the agent not dumpable")?;
    let listener = UnixListener::bind(socket)
        .with_context(|| format!("cannot listen on {}", socket.display()))?;
    std::fs::set_permissions(socket, std::fs::Permissions::from_mode(0o600))?;
    let keys: Shared = Arc::default();
    spawn_expiry(Arc::clone(&keys), socket.to_path_buf());
    for stream in listener.incoming() {
        let Ok(stream) = stream else { continue };
        if let Some(Stop) = handle(&keys, stream) {
            break;
        }
    }
    forget_all(&keys);
    let _ = std::fs::remove_file(socket);
    Ok(())
}

struct Stop;

/// Answers one connection; `Some(Stop)` when asked to stop.
fn handle(keys: &Shared, stream: UnixStream) -> Option<Stop> {
    if agent::check_peer(&stream).is_err() {
        return None; // another user: not even an answer
    }
    let _ = stream.set_read_timeout(Some(REQUEST_TIMEOUT));
    let _ = stream.set_write_timeout(Some(REQUEST_TIMEOUT));
    let mut line = Zeroizing::new(String::new());
    let Ok(reader) = stream.try_clone() else {
        return None;
    };
    if BufReader::new(reader.take(MAX_LINE))
        .read_line(&mut line)
        .is_err()
    {
        return None;
    }
    let (reply, stop) = match serde_json::from_str::<Request>(&line) {
        Ok(req) => answer(keys, req),
        Err(e) => (
            Reply {
                error: Some(format!("not a request: {e}")),
                ..Reply::default()
            },
            None,
        ),
    };
    if let Ok(bytes) = serde_json::to_vec(&reply) {
        let mut bytes = Zeroizing::new(bytes);
        bytes.push(b'\n');
        let mut w = &stream;
        let _ = w.write_all(&bytes);
    }
    stop
}

fn answer(keys: &Shared, req: Request) -> (Reply, Option<Stop>) {
    let mut k = lock(keys);
    let now = Instant::now();
    k.entries.retain(|e| e.expires > now);
    let reply = match req {
        Request::Lookup { key_ids } => Reply {
            found: k
                .entries
                .iter()
                .find(|e| key_ids.contains(&e.key_id))
                .map(|e| Found {
                    key_id: e.key_id.clone(),
                    secret: e.secret.clone(),
                }),
            ..Reply::default()
        },
        Request::Add {
            key_id,
            secret,
            location,
            ttl_secs,
        } => {
            let ttl = Duration::from_secs(ttl_secs);
            k.entries.retain(|e| e.key_id != key_id);
            k.entries.push(Entry {
                key_id,
                secret,
                location,
                added: SystemTime::now(),
                expires: now + ttl,
                expires_wall: SystemTime::now() + ttl,
            });
            k.ever_held = true;
            Reply::default()
        }
        Request::List => Reply {
            keys: k.entries.iter().map(held).collect(),
            ..Reply::default()
        },
        Request::Stop => return (Reply::default(), Some(Stop)),
    };
    (reply, None)
}

fn held(e: &Entry) -> Held {
    let unix = |t: SystemTime| {
        t.duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0)
    };
    Held {
        key_id: e.key_id.clone(),
        location: e.location.clone(),
        added_unix_s: unix(e.added),
        expires_unix_s: unix(e.expires_wall),
    }
}

fn forget_all(keys: &Shared) {
    // Dropping each Zeroizing secret overwrites it.
    lock(keys).entries.clear();
}

/// Drops keys whose time is up; when none is left (or none ever came), the
/// agent removes its socket and exits, so nothing stays behind unasked.
fn spawn_expiry(keys: Shared, socket: PathBuf) {
    let started = Instant::now();
    std::thread::spawn(move || {
        loop {
            std::thread::sleep(TICK);
            let mut k = lock(&keys);
            let now = Instant::now();
            k.entries.retain(|e| e.expires > now);
            let done = k.entries.is_empty() && (k.ever_held || started.elapsed() > IDLE_START);
            if done {
                drop(k);
                let _ = std::fs::remove_file(&socket);
                std::process::exit(0);
            }
        }
    });
}
