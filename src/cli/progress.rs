//! Progress for long commands (send, recv): an indicatif bar when stderr is a terminal, NDJSON
//! `progress` events with `--json`, nothing otherwise (cron gets the one summary line).

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;
use std::time::{Duration, Instant};

pub struct Progress {
    bar: Option<ProgressBar>,
    json: bool,
    last: Instant,
    started: Instant,
}

impl Progress {
    /// `what`: "sending", "receiving". A bar only when stderr is a terminal and not `quiet`.
    pub fn new(what: &str, json: bool, quiet: bool) -> Self {
        Self::build(what, json, quiet, None)
    }

    /// A bar among others (transfers received at the same time), drawn together.
    pub fn in_multi(multi: &indicatif::MultiProgress, what: &str, json: bool, quiet: bool) -> Self {
        Self::build(what, json, quiet, Some(multi))
    }

    fn build(what: &str, json: bool, quiet: bool, multi: Option<&indicatif::MultiProgress>) -> Self {
        let bar = (!json && !quiet && std::io::stderr().is_terminal()).then(|| {
            let b = match multi {
                Some(m) => m.add(ProgressBar::new(0)),
                None => ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr_with_hz(8)),
            };
            b.set_style(
                ProgressStyle::with_template(
                    "{prefix} [{bar:30}] {bytes}/{total_bytes} {binary_bytes_per_sec} eta {eta}",
                )
                .expect("valid template")
                .progress_chars("=> "),
            );
            b.set_prefix(what.to_owned());
            b
        });
        Progress { bar, json, last: Instant::now(), started: Instant::now() }
    }

    /// `done` of `total` bytes (total 0 when unknown).
    pub fn update(&mut self, done: u64, total: u64) {
        if let Some(b) = &self.bar {
            if total > 0 && b.length() != Some(total.max(done)) {
                b.set_length(total.max(done));
            }
            b.set_position(done);
        }
        if self.json && self.last.elapsed() >= Duration::from_millis(500) {
            self.last = Instant::now();
            println!("{}", serde_json::json!({"event": "progress", "bytes": done, "total": total}));
        }
    }

    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    pub fn finish(&self) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
    }

    /// Whether a bar is drawn (for tests of the cron path).
    pub fn has_bar(&self) -> bool {
        self.bar.is_some()
    }
}

/// `1.5 GiB`, `4.0 KiB`, `17 B`.
pub fn human_bytes(n: u64) -> String {
    indicatif::BinaryBytes(n).to_string()
}
