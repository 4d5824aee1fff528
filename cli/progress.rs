//! Progress: a bar on a terminal, JSON status lines with `--json`, silence in
//! a pipe.
//!
//! Three audiences, three forms, all on stderr so stdout keeps only results:
//! - a person at a terminal sees a bar (bytes, files, rate, and the percentage
//!   and ETA once the total is known) that is cleared when the command ends;
//! - a script that asked for `--json` gets one JSON object per line
//!   (`"message_type": "status"`, and `"warning"`), at each phase's start, once
//!   a second, and at the end; the fields are a contract (README, "Progress");
//! - a pipe or a log file gets nothing but warnings: cron mails and journald
//!   must not fill with carriage returns.

use coffer_store::progress::Progress;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

const SPINNER: &str =
    "{spinner} {prefix} {bytes} ({binary_bytes_per_sec}) {msg} [{elapsed_precise}]";
const WITH_TOTAL: &str = "{prefix} [{bar:20}] {percent:>3}% {bytes}/{total_bytes} \
     ({binary_bytes_per_sec}) {msg} ETA {eta}";
/// How often `--json` writes a status line while a phase runs.
const JSON_INTERVAL: Duration = Duration::from_secs(1);

pub struct Bar {
    shared: Arc<Shared>,
    bar: Option<ProgressBar>,
    ticker: Mutex<Option<JoinHandle<()>>>,
    finished: AtomicBool,
}

/// What a phase has done so far; read by the JSON ticker thread.
struct Shared {
    json: bool,
    /// What `files` counts: files, or packs for `check`.
    unit: &'static str,
    started: Instant,
    bytes: AtomicU64,
    files: AtomicU64,
    phase: Mutex<Phase>,
    stop: AtomicBool,
}

#[derive(Clone, Default)]
struct Phase {
    name: String,
    started: Option<Instant>,
    total_bytes: Option<u64>,
    total_files: Option<u64>,
    /// Totals the caller knows for the next phase the store opens without
    /// one (a whole-snapshot restore: the snapshot's size).
    hint: Option<(u64, u64)>,
}

impl Bar {
    /// Draws only when stderr is a terminal and output is for people; with
    /// `--json` writes status lines instead (not with `--quiet`).
    pub fn new(g: &crate::args::Global) -> Self {
        Self::counting(g, "files")
    }

    /// [`Bar::new`], naming what `file_done` counts (`packs` for check).
    pub fn counting(g: &crate::args::Global, unit: &'static str) -> Self {
        let json = g.json && !g.quiet;
        let draw = !g.quiet && !g.json && std::io::stderr().is_terminal();
        let bar = draw.then(|| {
            let b = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr_with_hz(5));
            b.set_style(style(SPINNER));
            b.enable_steady_tick(Duration::from_millis(200));
            b
        });
        let shared = Arc::new(Shared {
            json,
            unit,
            started: Instant::now(),
            bytes: AtomicU64::new(0),
            files: AtomicU64::new(0),
            phase: Mutex::new(Phase::default()),
            stop: AtomicBool::new(false),
        });
        let ticker = json.then(|| {
            let s = Arc::clone(&shared);
            std::thread::spawn(move || {
                let mut last = Instant::now();
                while !s.stop.load(Ordering::Relaxed) {
                    std::thread::sleep(Duration::from_millis(50));
                    if last.elapsed() >= JSON_INTERVAL {
                        last = Instant::now();
                        s.status_line();
                    }
                }
            })
        });
        Self {
            shared,
            bar,
            ticker: Mutex::new(ticker),
            finished: AtomicBool::new(false),
        }
    }

    /// Totals of the next phase that starts without any (see [`Phase::hint`]).
    pub fn expect_totals(&self, bytes: u64, files: u64) {
        self.shared.lock().hint = Some((bytes, files));
    }

    /// Clears the bar, or writes the last status line. Safe to call twice.
    pub fn finish(&self) {
        if self.finished.swap(true, Ordering::Relaxed) {
            return;
        }
        self.stop_ticker();
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
        if self.shared.json && self.shared.lock().started.is_some() {
            self.shared.status_line();
        }
    }

    fn stop_ticker(&self) {
        self.shared.stop.store(true, Ordering::Relaxed);
        let handle = self
            .ticker
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(h) = handle {
            let _ = h.join();
        }
    }

    fn show_totals(&self, bytes: u64, files: Option<u64>) {
        if let Some(b) = &self.bar {
            b.set_length(bytes);
            b.set_style(style(WITH_TOTAL));
            b.set_message(self.files_message(self.shared.files.load(Ordering::Relaxed), files));
        }
    }

    fn files_message(&self, done: u64, total: Option<u64>) -> String {
        let unit = self.shared.unit;
        match total {
            Some(t) => format!("{done}/{t} {unit}"),
            None => format!("{done} {unit}"),
        }
    }
}

impl Drop for Bar {
    fn drop(&mut self) {
        self.stop_ticker();
    }
}

fn style(template: &str) -> ProgressStyle {
    ProgressStyle::with_template(template)
        .unwrap_or_else(|_| ProgressStyle::default_spinner())
        .progress_chars("=> ")
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, Phase> {
        self.phase.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// One `status` object on one line of stderr.
    fn status_line(&self) {
        let p = self.lock().clone();
        let Some(phase_started) = p.started else {
            return;
        };
        let bytes = self.bytes.load(Ordering::Relaxed);
        let files = self.files.load(Ordering::Relaxed);
        let in_phase = phase_started.elapsed().as_secs_f64();
        #[allow(clippy::cast_precision_loss)]
        let rate = if in_phase > 0.0 {
            bytes as f64 / in_phase
        } else {
            0.0
        };
        let mut o = serde_json::json!({
            "message_type": "status",
            "phase": p.name,
            "seconds_elapsed": self.started.elapsed().as_secs_f64(),
            "bytes_done": bytes,
            "files_done": files,
            "unit": self.unit,
            "bytes_per_second": rate,
        });
        if let Some(t) = p.total_bytes {
            o["total_bytes"] = t.into();
            #[allow(clippy::cast_precision_loss)]
            let done = if t == 0 {
                1.0
            } else {
                (bytes as f64 / t as f64).min(1.0)
            };
            o["percent_done"] = done.into();
            if rate > 0.0 {
                #[allow(clippy::cast_precision_loss)]
                let left = t.saturating_sub(bytes) as f64 / rate;
                o["seconds_remaining"] = left.into();
            }
        }
        if let Some(t) = p.total_files {
            o["total_files"] = t.into();
        }
        json_line(&o);
    }
}

/// A whole line in one write, so lines from two threads never interleave.
fn json_line(v: &serde_json::Value) {
    let mut line = v.to_string();
    line.push('\n');
    let _ = std::io::stderr().lock().write_all(line.as_bytes());
}

impl Progress for Bar {
    fn phase(&self, name: &str, total: Option<u64>) {
        let s = &self.shared;
        let previous_started = {
            let p = s.lock();
            p.started.is_some()
        };
        // The phase that ends gets its last word before the counters reset.
        if s.json && previous_started {
            s.status_line();
        }
        let (total_bytes, total_files) = {
            let mut p = s.lock();
            let (tb, tf) = match (total, p.hint.take()) {
                (Some(t), hint) => {
                    p.hint = hint;
                    (Some(t), None)
                }
                (None, Some((b, f))) => (Some(b), Some(f)),
                (None, None) => (None, None),
            };
            *p = Phase {
                name: name.to_string(),
                started: Some(Instant::now()),
                total_bytes: tb,
                total_files: tf,
                hint: p.hint,
            };
            (tb, tf)
        };
        s.bytes.store(0, Ordering::Relaxed);
        s.files.store(0, Ordering::Relaxed);
        if let Some(b) = &self.bar {
            b.set_prefix(name.to_string());
            b.set_position(0);
            b.reset_eta();
            b.set_message(String::new());
            match total_bytes {
                Some(t) => self.show_totals(t, total_files),
                None => {
                    b.set_style(style(SPINNER));
                    b.set_length(0);
                    b.unset_length();
                }
            }
        }
        if s.json {
            s.status_line();
        }
    }

    fn totals(&self, bytes: u64, files: u64) {
        {
            let mut p = self.shared.lock();
            p.total_bytes = Some(bytes);
            p.total_files = Some(files);
        }
        self.show_totals(bytes, Some(files));
    }

    fn wants_totals(&self) -> bool {
        self.bar.is_some() || self.shared.json
    }

    fn bytes(&self, n: u64) {
        self.shared.bytes.fetch_add(n, Ordering::Relaxed);
        if let Some(b) = &self.bar {
            b.inc(n);
        }
    }

    fn file_done(&self) {
        let n = self.shared.files.fetch_add(1, Ordering::Relaxed) + 1;
        if let Some(b) = &self.bar {
            let total = self.shared.lock().total_files;
            b.set_message(self.files_message(n, total));
        }
    }

    fn warn(&self, message: &str) {
        // Warnings matter even in a pipe or with --quiet: stderr is for them.
        if self.shared.json {
            json_line(&serde_json::json!({"message_type": "warning", "message": message}));
            return;
        }
        match &self.bar {
            Some(b) => b.suspend(|| eprintln!("warning: {message}")),
            None => eprintln!("warning: {message}"),
        }
    }
}
