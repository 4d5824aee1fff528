//! `coffer agent`: keys kept in memory open the repository without a password
//! (and without its key derivation) until they expire or the agent stops; a
//! wrong password starts nothing; a key opens only its own repository; a
//! socket folder others may write in is refused.

use crate::harness::{Coffer, RepoKind, Run};
use std::path::Path;
use std::time::{Duration, Instant};

/// Stops the test's agent however the test ends: it must not outlive it.
struct StopAgent<'a>(&'a Coffer);

impl Drop for StopAgent<'_> {
    fn drop(&mut self) {
        let _ = self.0.run(["agent", "stop"]);
    }
}

/// `coffer ARGS` with no password anywhere in its environment.
fn without_password(c: &Coffer, args: &[&str]) -> Run {
    let mut cmd = c.command();
    cmd.env_remove("COFFER_PASSWORD").args(args);
    Run::capture(cmd)
}

/// The run failed for want of a password (no agent key opened the repository).
fn asks_for_the_password(run: &Run) {
    run.assert_code(1);
    assert!(run.stderr.contains("no password given"), "{}", run.stderr);
}

fn backed_up(kind: RepoKind) -> Option<(Coffer, Vec<u8>)> {
    let c = Coffer::init_on(kind, &[])?;
    let docs = c.path("documents");
    std::fs::create_dir_all(&docs).expect("mkdir");
    let invoice = crate::documents::noise(7, 300_000);
    std::fs::write(docs.join("FA2605-0001.pdf"), &invoice).expect("write");
    c.ok(["backup", "--quiet", docs.to_str().expect("utf-8")]);
    Some((c, invoice))
}

fn agent_opens_the_repository_without_a_password_until_stopped(kind: RepoKind) {
    let Some((c, invoice)) = backed_up(kind) else {
        return;
    };
    let cat = ["cat", "latest", "documents/FA2605-0001.pdf"];
    let refused = without_password(&c, &cat);
    asks_for_the_password(&refused);

    let _stop = StopAgent(&c);
    let started = c.json(["agent", "start", "--ttl", "10m"]);
    assert_eq!(started["repository"], c.location());
    let read = without_password(&c, &cat);
    read.assert_code(0);
    assert!(
        read.stdout == invoice,
        "cat through the agent gave other bytes"
    );

    // The agent says what it holds: this repository, under the key file
    // the password opened.
    let current = c
        .json(["key", "list"])
        .as_array()
        .expect("key list")
        .iter()
        .find(|k| k["current"] == true)
        .map(|k| k["id"].clone())
        .expect("a current key");
    let held = without_password(&c, &["--json", "agent", "list"]);
    held.assert_code(0);
    let held = held.json();
    assert_eq!(held.as_array().map(Vec::len), Some(1), "{held}");
    assert_eq!(held[0]["key_id"], current);
    assert_eq!(held[0]["repository"], c.location());

    // A backup, which writes, works through the agent too.
    without_password(
        &c,
        &[
            "backup",
            "--quiet",
            c.path("documents").to_str().expect("utf-8"),
        ],
    )
    .assert_code(0);
    assert_eq!(c.snapshots().len(), 2);

    // --no-agent derives the key from the password again, so without one it fails.
    let mut no_agent = vec!["--no-agent"];
    no_agent.extend_from_slice(&cat);
    asks_for_the_password(&without_password(&c, &no_agent));

    let stopped = c.json(["agent", "stop"]);
    assert_eq!(stopped["was_running"], true);
    assert!(
        !c.path("agent.sock").exists(),
        "the stopped agent left its socket"
    );
    asks_for_the_password(&without_password(&c, &cat));
    assert_eq!(c.json(["agent", "stop"])["was_running"], false);
}

on_each_store!(agent_opens_the_repository_without_a_password_until_stopped);

#[test]
fn a_wrong_password_starts_no_agent() {
    let c = Coffer::init();
    let _stop = StopAgent(&c);
    let mut cmd = c.command();
    cmd.env("COFFER_PASSWORD", "not the password")
        .args(["agent", "start"]);
    let run = Run::capture(cmd);
    run.assert_code(12);
    assert!(
        !c.path("agent.sock").exists(),
        "an agent was started for a wrong password"
    );
}

#[test]
fn keys_expire_and_the_agent_exits() {
    let Some((c, invoice)) = backed_up(RepoKind::Folder) else {
        return;
    };
    let _stop = StopAgent(&c);
    c.ok(["agent", "start", "--ttl", "2s"]);
    let cat = ["cat", "latest", "documents/FA2605-0001.pdf"];
    let read = without_password(&c, &cat);
    read.assert_code(0);
    assert!(read.stdout == invoice);
    let deadline = Instant::now() + Duration::from_secs(20);
    while c.path("agent.sock").exists() {
        assert!(
            Instant::now() < deadline,
            "the agent outlived its only key by 18 s"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let refused = without_password(&c, &cat);
    asks_for_the_password(&refused);
}

#[test]
fn an_agent_key_opens_only_its_own_repository() {
    let Some((a, _)) = backed_up(RepoKind::Folder) else {
        return;
    };
    let Some((b, invoice_b)) = backed_up(RepoKind::Folder) else {
        return;
    };
    let _stop = StopAgent(&a);
    a.ok(["agent", "start"]);
    // B's commands talk to A's agent: it holds no key of B's.
    let socket = a.path("agent.sock");
    let mut cmd = b.command();
    cmd.env_remove("COFFER_PASSWORD")
        .env("COFFER_AGENT_SOCK", &socket)
        .args(["cat", "latest", "documents/FA2605-0001.pdf"]);
    let refused = Run::capture(cmd);
    asks_for_the_password(&refused);
    // With its password, B opens as ever beside the agent.
    let mut cmd = b.command();
    cmd.env("COFFER_AGENT_SOCK", &socket)
        .args(["cat", "latest", "documents/FA2605-0001.pdf"]);
    let read = Run::capture(cmd);
    read.assert_code(0);
    assert!(read.stdout == invoice_b);
}

#[test]
fn a_socket_folder_others_may_write_in_is_refused() {
    use std::os::unix::fs::PermissionsExt;
    let c = Coffer::init();
    let open = c.path("open");
    std::fs::create_dir(&open).expect("mkdir");
    std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o777)).expect("chmod");
    let socket = open.join("agent.sock");
    let start = |socket: &Path| {
        let mut cmd = c.command();
        cmd.env("COFFER_AGENT_SOCK", socket)
            .args(["agent", "start"]);
        Run::capture(cmd)
    };
    let refused = start(&socket);
    refused.assert_code(1);
    assert!(
        refused.stderr.contains("others may write in its folder"),
        "{}",
        refused.stderr
    );
    assert!(!socket.exists());
}
