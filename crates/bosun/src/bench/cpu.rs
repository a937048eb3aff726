//! CPU time each process of a benchmark used within a phase: a task samples every process's
//! utime + stime (`/proc/<pid>/stat`) a few times a second, and a phase's share is read off the
//! samples by linear interpolation at its start and end. On a machine the benchmark keeps busy,
//! a phase's rate is set by the CPU its writes cost, so these figures say where a rate goes.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// `/proc/<pid>/stat` counts in USER_HZ ticks, 100 a second on Linux.
const TICKS_PER_S: f64 = 100.0;

/// The CPU seconds (user + system) a process has used, from the text of its `/proc/<pid>/stat`.
pub fn cpu_seconds_of_stat(stat: &str) -> Option<f64> {
    // The command name (field 2) is in parentheses and may hold spaces: fields are counted
    // after its closing parenthesis, where field 3 (state) comes first.
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace();
    let utime: u64 = fields.nth(11)?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some((utime + stime) as f64 / TICKS_PER_S)
}

/// The CPU seconds process `pid` has used (`None` when it is gone).
pub fn cpu_seconds(pid: u32) -> Option<f64> {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| cpu_seconds_of_stat(&s))
}

/// Samples of one process: (when, CPU seconds used by then).
type Samples = Vec<(Instant, f64)>;

/// The value of a cumulative counter at `at`, interpolated between the samples around it (the
/// first or last sample outside them).
pub fn at(samples: &[(Instant, f64)], at: Instant) -> Option<f64> {
    let after = samples.iter().position(|(t, _)| *t >= at);
    match after {
        None => samples.last().map(|s| s.1),
        Some(0) => samples.first().map(|s| s.1),
        Some(i) => {
            let ((t0, v0), (t1, v1)) = (samples[i - 1], samples[i]);
            let span = t1.duration_since(t0).as_secs_f64();
            let share = if span > 0.0 {
                at.duration_since(t0).as_secs_f64() / span
            } else {
                1.0
            };
            Some(v0 + (v1 - v0) * share)
        }
    }
}

/// Processes sampled until dropped.
#[derive(Debug)]
pub struct CpuSampler {
    processes: Arc<Mutex<Vec<(String, u32, Samples)>>>,
    stop: CancellationToken,
}

impl CpuSampler {
    /// Sample `processes` (name, pid) every `every`.
    pub fn start(processes: Vec<(String, u32)>, every: Duration) -> Self {
        let processes = Arc::new(Mutex::new(
            processes
                .into_iter()
                .map(|(name, pid)| (name, pid, Vec::new()))
                .collect::<Vec<_>>(),
        ));
        let stop = CancellationToken::new();
        let (shared, token) = (processes.clone(), stop.clone());
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            loop {
                tokio::select! {
                    _ = token.cancelled() => break,
                    _ = tick.tick() => {}
                }
                let now = Instant::now();
                let mut all = shared.lock().unwrap_or_else(|e| e.into_inner());
                for (_, pid, samples) in all.iter_mut() {
                    if let Some(used) = cpu_seconds(*pid) {
                        samples.push((now, used));
                    }
                }
            }
        });
        Self { processes, stop }
    }

    /// Start sampling another process.
    pub fn add(&self, name: &str, pid: u32) {
        let mut all = self.processes.lock().unwrap_or_else(|e| e.into_inner());
        all.push((name.to_string(), pid, Vec::new()));
    }

    /// Each process's CPU seconds between `from` and `to`, by name (processes first sampled
    /// after the span left out).
    pub fn between(&self, from: Instant, to: Instant) -> Vec<(String, f64)> {
        let all = self.processes.lock().unwrap_or_else(|e| e.into_inner());
        all.iter()
            .filter(|(_, _, samples)| samples.first().is_some_and(|(t, _)| *t <= to))
            .filter_map(|(name, _, samples)| {
                let used = at(samples, to)? - at(samples, from)?;
                Some((name.clone(), used.max(0.0)))
            })
            .collect()
    }
}

impl Drop for CpuSampler {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// Each process's CPU milliseconds per write and their sum, as one line (e.g.
/// `api-1 0.31, scheduler 0.25, … = 0.80 ms`), and the sum.
pub fn per_write(used: &[(String, f64)], writes: usize) -> (String, f64) {
    let per = |s: f64| s * 1000.0 / writes.max(1) as f64;
    let parts: Vec<String> = used
        .iter()
        .map(|(name, s)| format!("{name} {:.3}", per(*s)))
        .collect();
    let total = per(used.iter().map(|(_, s)| *s).sum());
    (format!("{} = {total:.3} ms", parts.join(", ")), total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utime_and_stime_are_read_after_the_command_name() {
        // A command name with a space and a parenthesis; utime 250, stime 50 ticks.
        let stat = "42 (my (odd) cmd) S 1 42 42 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 9 0 \
                    12345 1000000 200 18446744073709551615";
        assert_eq!(cpu_seconds_of_stat(stat), Some(3.0));
        assert_eq!(cpu_seconds_of_stat("42 (cut"), None);
        assert_eq!(cpu_seconds_of_stat("42 (x) S 1 2"), None);
    }

    #[test]
    fn this_process_is_seen_using_cpu() {
        let before = cpu_seconds(std::process::id()).expect("this process");
        let mut x = 0u64;
        let started = Instant::now();
        // Busy until a tick more is counted (a few ms of CPU), for at most 10 s.
        let mut after = before;
        while after <= before && started.elapsed() < Duration::from_secs(10) {
            for _ in 0..100_000 {
                x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(1));
            }
            after = cpu_seconds(std::process::id()).expect("this process");
        }
        assert!(after > before, "no CPU counted in 10 s of work ({x})");
    }

    #[test]
    fn a_span_is_read_off_the_samples_by_interpolation() {
        let t0 = Instant::now();
        let s = |ms: u64, v: f64| (t0 + Duration::from_millis(ms), v);
        let samples = vec![s(0, 1.0), s(1000, 2.0), s(2000, 4.0)];
        let at_ms = |ms: u64| at(&samples, t0 + Duration::from_millis(ms));
        assert_eq!(at_ms(500), Some(1.5));
        assert_eq!(at_ms(1500), Some(3.0));
        assert_eq!(at_ms(1000), Some(2.0));
        assert_eq!(at_ms(3000), Some(4.0)); // after the last sample: the last
        assert_eq!(at(&[], t0), None);
    }

    #[test]
    fn per_write_figures_add_up() {
        let used = vec![("api-1".to_string(), 2.0), ("scheduler".to_string(), 1.0)];
        assert_eq!(
            per_write(&used, 1000),
            ("api-1 2.000, scheduler 1.000 = 3.000 ms".to_string(), 3.0)
        );
    }
}
