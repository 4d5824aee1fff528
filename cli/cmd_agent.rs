//! `coffer agent start|list|stop|serve`: the key agent's commands.

use crate::agent::{self, Held, Request, Unreachable};
use crate::args::{AgentArgs, AgentCommand, Global};
use crate::{agent_serve, exit, open, output, when};
use anyhow::{Context, Result, bail};
use std::path::Path;
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};
use zeroize::Zeroizing;

/// How long `start` waits for the agent it launched to answer.
const START_WAIT: Duration = Duration::from_secs(5);

pub fn run(g: &Global, a: AgentArgs) -> Result<ExitCode> {
    let socket = agent::socket_path(g);
    match a.command {
        AgentCommand::Start { ttl } => start(g, &socket, &ttl),
        AgentCommand::List => list(g, &socket),
        AgentCommand::Stop => stop(g, &socket),
        AgentCommand::Serve => {
            // Its own session: the terminal's hangup and ^C are not its business.
            let _ = rustix::process::setsid();
            agent_serve::serve(&socket)?;
            Ok(ExitCode::from(exit::OK))
        }
    }
}

fn start(g: &Global, socket: &Path, ttl: &str) -> Result<ExitCode> {
    let ttl = crate::cmd_prune::duration("ttl", ttl)?;
    if ttl.is_zero() {
        bail!("--ttl 0s would forget the key at once: give a duration like 30m or 8h");
    }
    agent::check_folder(socket, true)?;
    // The password first: a wrong one must not leave an agent behind.
    let location = open::location(g)?.to_string();
    let repo = open::repository(g)?;
    if !answers(socket)? {
        launch(socket)?;
    }
    let add = Request::Add {
        key_id: repo.key_id().to_hex(),
        secret: Zeroizing::new(hex::encode(repo.key().secret())),
        location: location.clone(),
        ttl_secs: ttl.as_secs(),
    };
    ask(socket, &add)?;
    let expires = std::time::SystemTime::now() + ttl;
    let expires_ns = coffer_store::repo::unix_ns(expires);
    if g.json {
        output::json(&serde_json::json!({
            "message_type": "agent_key_added",
            "socket": socket.display().to_string(),
            "repository": location,
            "key_id": repo.key_id().to_hex(),
            "expires": when::rfc3339(expires_ns),
        }))?;
    } else if !g.quiet {
        println!(
            "the key agent at {} holds the key of {location} until {}",
            socket.display(),
            when::short(expires_ns)
        );
    }
    Ok(ExitCode::from(exit::OK))
}

/// Whether an agent answers at `socket` (a dead one's socket does not).
fn answers(socket: &Path) -> Result<bool> {
    match agent::ask(socket, &Request::List) {
        Ok(_) => Ok(true),
        Err(Unreachable::Absent) => Ok(false),
        Err(Unreachable::Broken(e)) => Err(e),
    }
}

/// Runs `coffer agent serve` in the background and waits until it answers.
fn launch(socket: &Path) -> Result<()> {
    let exe = std::env::current_exe().context("finding the coffer binary to run the agent")?;
    let mut child = Command::new(exe)
        .arg("--agent-socket")
        .arg(socket)
        .args(["agent", "serve"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        // Nobody would read its messages once `start` returns.
        .stderr(Stdio::null())
        .spawn()
        .context("starting the key agent")?;
    let deadline = Instant::now() + START_WAIT;
    loop {
        if answers(socket)? {
            return Ok(());
        }
        if let Some(status) = child.try_wait()? {
            bail!("the key agent exited at once ({status}); run `coffer agent serve` to see why");
        }
        if Instant::now() > deadline {
            bail!(
                "the key agent did not answer at {} within {} s",
                socket.display(),
                START_WAIT.as_secs()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn ask(socket: &Path, req: &Request) -> Result<agent::Reply> {
    match agent::ask(socket, req) {
        Ok(r) => Ok(r),
        Err(Unreachable::Absent) => bail!("no key agent answers at {}", socket.display()),
        Err(Unreachable::Broken(e)) => Err(e),
    }
}

fn list(g: &Global, socket: &Path) -> Result<ExitCode> {
    let held: Vec<Held> = match agent::ask(socket, &Request::List) {
        Ok(r) => r.keys,
        Err(Unreachable::Absent) => Vec::new(),
        Err(Unreachable::Broken(e)) => return Err(e),
    };
    let secs_ns = |s: u64| {
        i64::try_from(s)
            .unwrap_or(i64::MAX)
            .saturating_mul(1_000_000_000)
    };
    if g.json {
        let rows: Vec<_> = held
            .iter()
            .map(|h| {
                serde_json::json!({
                    "repository": h.location,
                    "key_id": h.key_id,
                    "added": when::rfc3339(secs_ns(h.added_unix_s)),
                    "expires": when::rfc3339(secs_ns(h.expires_unix_s)),
                })
            })
            .collect();
        output::json(&rows)?;
        return Ok(ExitCode::from(exit::OK));
    }
    if held.is_empty() {
        if !g.quiet {
            println!("the key agent at {} holds no key", socket.display());
        }
        return Ok(ExitCode::from(exit::OK));
    }
    let rows: Vec<Vec<String>> = held
        .iter()
        .map(|h| {
            vec![
                h.location.clone(),
                h.key_id.chars().take(8).collect(),
                when::short(secs_ns(h.expires_unix_s)),
            ]
        })
        .collect();
    output::table(&["repository", "key", "until"], &rows)?;
    Ok(ExitCode::from(exit::OK))
}

fn stop(g: &Global, socket: &Path) -> Result<ExitCode> {
    let was_running = match agent::ask(socket, &Request::Stop) {
        Ok(_) => true,
        Err(Unreachable::Absent) => false,
        Err(Unreachable::Broken(e)) => return Err(e),
    };
    if g.json {
        output::json(&serde_json::json!({
            "message_type": "agent_stopped",
            "was_running": was_running,
        }))?;
    } else if !g.quiet {
        if was_running {
            println!("the key agent forgot its keys and stopped");
        } else {
            println!("no key agent was running at {}", socket.display());
        }
    }
    Ok(ExitCode::from(exit::OK))
}
