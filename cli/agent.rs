//! The key agent: a small process of the user's that keeps unwrapped master
//! secrets in memory for a while, so that a series of commands (the
//! accountant's `cat`, `ls`, `log`, one after the other) pays the argon2id key
//! derivation once instead of once per command. ssh-agent's model: a Unix
//! socket in a folder only the user can enter, one JSON line each way per
//! connection, both ends checking the other runs as the same user.
//!
//! This module is the socket's location, the wire messages and the client;
//! `agent_serve` is the server.

use crate::args::Global;
use anyhow::{Context, Result, bail};
use coffer_store::id::KeyId;
use serde::{Deserialize, Serialize};
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;
use zeroize::Zeroizing;

/// How long a client waits for the agent: it answers from memory.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(5);
/// Longest line either side accepts: a request names a few key ids.
pub const MAX_LINE: u64 = 64 * 1024;

/// One request, one JSON line.
#[derive(Serialize, Deserialize, Debug)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Request {
    /// Is the secret of any of these key files held? (hex key ids)
    Lookup { key_ids: Vec<String> },
    /// Hold this secret for `ttl_secs`.
    Add {
        key_id: String,
        secret: Zeroizing<String>,
        location: String,
        ttl_secs: u64,
    },
    /// What is held (no secrets).
    List,
    /// Forget everything and exit.
    Stop,
}

/// The agent's answer, one JSON line.
#[derive(Serialize, Deserialize, Debug, Default)]
pub struct Reply {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub found: Option<Found>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub keys: Vec<Held>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Serialize, Deserialize, Debug)]
pub struct Found {
    pub key_id: String,
    pub secret: Zeroizing<String>,
}

/// A held key as `agent list` shows it.
#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct Held {
    pub key_id: String,
    pub location: String,
    pub added_unix_s: u64,
    pub expires_unix_s: u64,
}

/// The socket: `--agent-socket` / COFFER_AGENT_SOCK, else
/// `$XDG_RUNTIME_DIR/coffer/agent.sock`, else `$TMPDIR/coffer-<uid>/agent.sock`.
pub fn socket_path(g: &Global) -> PathBuf {
    if let Some(p) = &g.agent_socket {
        return p.clone();
    }
    match dirs::runtime_dir() {
        Some(d) => d.join("coffer").join("agent.sock"),
        None => std::env::temp_dir()
            .join(format!("coffer-{}", rustix::process::getuid().as_raw()))
            .join("agent.sock"),
    }
}

/// The socket's folder must be ours and closed to others: whoever can write
/// there could put a socket of their own in its place and be handed secrets.
/// `create` makes it (mode 0700) when missing.
pub fn check_folder(socket: &Path, create: bool) -> Result<()> {
    let dir = socket
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    if create && !dir.exists() {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create the agent's folder {}", dir.display()))?;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
            .with_context(|| format!("cannot restrict {}", dir.display()))?;
    }
    let meta =
        std::fs::metadata(dir).with_context(|| format!("the agent's folder {}", dir.display()))?;
    let me = rustix::process::getuid().as_raw();
    if meta.uid() != me {
        bail!(
            "refusing the agent socket {}: its folder belongs to uid {}, not to you (uid {me}); \
             use --agent-socket in a folder of your own",
            socket.display(),
            meta.uid()
        );
    }
    if meta.mode() & 0o022 != 0 {
        bail!(
            "refusing the agent socket {}: others may write in its folder (mode {:o}); \
             `chmod 700 {}` or use --agent-socket elsewhere",
            socket.display(),
            meta.mode() & 0o777,
            dir.display()
        );
    }
    Ok(())
}

/// The peer of a connection must run as this user.
pub fn check_peer(stream: &UnixStream) -> Result<()> {
    let peer = rustix::net::sockopt::socket_peercred(stream).context("reading the peer's uid")?;
    let me = rustix::process::getuid();
    if peer.uid != me {
        bail!(
            "the agent socket's other end runs as uid {}, not as you",
            peer.uid.as_raw()
        );
    }
    Ok(())
}

/// Why no agent could be asked.
pub enum Unreachable {
    /// No socket, or nothing listening on it: the normal case without an agent.
    Absent,
    /// Something is wrong and the user should hear of it.
    Broken(anyhow::Error),
}

/// Sends one request and reads the reply.
pub fn ask(socket: &Path, req: &Request) -> Result<Reply, Unreachable> {
    if !socket.exists() {
        return Err(Unreachable::Absent);
    }
    check_folder(socket, false).map_err(Unreachable::Broken)?;
    let stream = match UnixStream::connect(socket) {
        Ok(s) => s,
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused
            ) =>
        {
            return Err(Unreachable::Absent);
        }
        Err(e) => {
            return Err(Unreachable::Broken(
                anyhow::Error::new(e).context(format!("agent socket {}", socket.display())),
            ));
        }
    };
    exchange(stream, req)
        .map_err(|e| Unreachable::Broken(e.context(format!("agent at {}", socket.display()))))
}

fn exchange(mut stream: UnixStream, req: &Request) -> Result<Reply> {
    check_peer(&stream)?;
    stream.set_read_timeout(Some(CLIENT_TIMEOUT))?;
    stream.set_write_timeout(Some(CLIENT_TIMEOUT))?;
    let mut line = Zeroizing::new(serde_json::to_vec(req)?);
    line.push(b'\n');
    stream.write_all(&line)?;
    let mut answer = Zeroizing::new(String::new());
    BufReader::new(stream.take(MAX_LINE)).read_line(&mut answer)?;
    let reply: Reply = serde_json::from_str(&answer).context("the agent's answer")?;
    if let Some(e) = &reply.error {
        bail!("the agent refused: {e}");
    }
    Ok(reply)
}

/// The master secret the agent holds for one of `ids`, if any. An agent that
/// cannot be reached is no error (the password is asked instead); one that
/// misbehaves is said on stderr, once.
pub fn lookup(g: &Global, ids: &[KeyId]) -> Option<(KeyId, [u8; 32])> {
    if g.no_agent || ids.is_empty() {
        return None;
    }
    let socket = socket_path(g);
    let req = Request::Lookup {
        key_ids: ids.iter().map(KeyId::to_hex).collect(),
    };
    let found = match ask(&socket, &req) {
        Ok(reply) => reply.found?,
        Err(Unreachable::Absent) => return None,
        Err(Unreachable::Broken(e)) => {
            eprintln!("warning: not using the key agent: {e:#}");
            return None;
        }
    };
    let id = ids.iter().find(|id| id.to_hex() == found.key_id)?;
    let mut secret = [0u8; 32];
    hex::decode_to_slice(found.secret.as_bytes(), &mut secret).ok()?;
    Some((*id, secret))
}
