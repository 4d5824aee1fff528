//! The crash torture of `benches/torture.sh`, short, in every test run: backup,
//! forget, copy and prune SIGKILLed at random moments, then `check`, every
//! snapshot that existed restored byte for byte, and the operation completed.
//! The long run (500 kill points) is the script's default; see the README.

use std::path::Path;
use std::process::Command;

const POINTS: u32 = 16;

#[test]
fn a_short_crash_torture_run_passes() {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/torture.sh");
    let out = Command::new("bash")
        .arg(&script)
        .env("TORTURE_POINTS", POINTS.to_string())
        .env("TORTURE_SEED", "7")
        .env("COFFER", env!("CARGO_BIN_EXE_coffer"))
        .output()
        .expect("run benches/torture.sh");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "the torture run failed:\n{stderr}");
    let last = stderr.lines().last().unwrap_or_default();
    assert!(
        last.starts_with(&format!("torture: {POINTS} kill points (")),
        "unexpected end of the torture run:\n{stderr}"
    );
    // The run must really have killed processes in the middle of their work,
    // or it proved nothing. Each kill lands between half and 1.1 times the
    // operation's previous run, which the other tests running beside it
    // stretch or shrink: 10-11 of 16 alone, 7 seen in a full CI run. A
    // quarter still shows kills land in the work, not only after it.
    let killed: u32 = last
        .split('(')
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no kill count in {last:?}"));
    assert!(
        killed >= POINTS / 4,
        "only {killed} of {POINTS} runs were killed mid-run: {last}"
    );
    eprintln!("{last}");
}
