//! `VIRTGUARD_TIMING=1`: per-phase wall time, process CPU time and memory on stderr, for
//! finding where a command spends its time (BENCHMARKS.md quotes these lines).

use std::time::Instant;

/// Prints `timing: LABEL …` lines when `VIRTGUARD_TIMING` is set; otherwise does nothing.
pub struct Timer {
    start: Option<Instant>,
    last: Option<Instant>,
}

impl Timer {
    /// A timer that is on when `VIRTGUARD_TIMING` is set.
    pub fn from_env() -> Self {
        let on = std::env::var_os("VIRTGUARD_TIMING").is_some();
        let now = Instant::now();
        Timer {
            start: on.then_some(now),
            last: on.then_some(now),
        }
    }

    /// Prints the time since the last mark and since the start, with CPU time and memory.
    pub fn mark(&mut self, label: &str) {
        let (Some(start), Some(last)) = (self.start, self.last) else {
            return;
        };
        let now = Instant::now();
        eprintln!(
            "timing: {label}: {:.3} s (total {:.3} s; cpu {}; {})",
            (now - last).as_secs_f64(),
            (now - start).as_secs_f64(),
            cpu_seconds().map_or("?".to_string(), |c| format!("{c:.2} s")),
            memory().unwrap_or_else(|| "memory ?".to_string()),
        );
        self.last = Some(Instant::now());
    }
}

/// User + system CPU seconds of this process so far (Linux `/proc/self/stat`).
fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name (which may hold spaces) start past the last ')'.
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    // USER_HZ is 100 on every Linux this runs on.
    Some((utime + stime) / 100.0)
}

/// Resident and peak resident memory (Linux `/proc/self/status`).
fn memory() -> Option<String> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|kb| kb.parse::<u64>().ok())
    };
    Some(format!(
        "rss {} MiB, peak {} MiB",
        field("VmRSS:")? / 1024,
        field("VmHWM:")? / 1024
    ))
}
