//! Small measurement helpers: percentiles and resident memory.

use std::time::Duration;

/// The `p`-th percentile (0..=100) of `samples`, in milliseconds; 0 when empty.
pub fn percentile_ms(samples: &mut [Duration], p: f64) -> f64 {
    if samples.is_empty() {
        return 0.0;
    }
    samples.sort_unstable();
    let rank = ((p / 100.0) * (samples.len() - 1) as f64).round() as usize;
    samples[rank.min(samples.len() - 1)].as_secs_f64() * 1000.0
}

/// The `p`-th percentile of the latencies in each whole second, by the second (counted from 0)
/// in which each sample started: `(start offset, latency)` pairs in, one figure per second out
/// (0 for a second without samples). Shows whether a tail is spread out or one slow moment.
pub fn percentile_by_second_ms(samples: &[(Duration, Duration)], p: f64) -> Vec<f64> {
    let seconds = samples
        .iter()
        .map(|(at, _)| at.as_secs() as usize + 1)
        .max()
        .unwrap_or(0);
    let mut by_second: Vec<Vec<Duration>> = vec![Vec::new(); seconds];
    for (at, latency) in samples {
        by_second[at.as_secs() as usize].push(*latency);
    }
    by_second.iter_mut().map(|s| percentile_ms(s, p)).collect()
}

/// Resident set size of a process in MiB, from `/proc/<pid>/status`.
pub fn rss_mb(pid: u32) -> Option<f64> {
    status_mb(pid, "VmRSS:")
}

/// The most resident memory the process has held since it started, MiB (VmHWM).
pub fn peak_rss_mb(pid: u32) -> Option<f64> {
    status_mb(pid, "VmHWM:")
}

fn status_mb(pid: u32, field: &str) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

/// The largest deviation of any value from the mean, in percent of the mean; 0 when the
/// mean is 0 or there are no values. Used for placement spread: one value per node (nodes
/// holding nothing count as 0).
pub fn spread_pct(values: &[f64]) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    let mean = values.iter().sum::<f64>() / values.len() as f64;
    if mean <= 0.0 {
        return 0.0;
    }
    values.iter().map(|v| (v - mean).abs()).fold(0.0, f64::max) / mean * 100.0
}

/// The smallest spread [`spread_pct`] can show for `items` equal items on `bins` bins: some
/// bins hold one more than others when `items` is not a multiple of `bins`.
pub fn ideal_spread_pct(items: usize, bins: usize) -> f64 {
    if bins == 0 || items == 0 {
        return 0.0;
    }
    let (base, extra) = (items / bins, items % bins);
    let values: Vec<f64> = (0..bins)
        .map(|i| (base + usize::from(i < extra)) as f64)
        .collect();
    spread_pct(&values)
}

/// Events per second over the span from the first to the last of `times` (`count - 1`
/// intervals would undercount one event; a stage's throughput counts them all over the span,
/// at least 1 ms).
pub fn stage_rate(times: &[std::time::Instant]) -> f64 {
    let (Some(first), Some(last)) = (times.iter().min(), times.iter().max()) else {
        return 0.0;
    };
    let span = last.duration_since(*first).max(Duration::from_millis(1));
    times.len() as f64 / span.as_secs_f64()
}

/// Round to one decimal for printing.
pub fn r1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_pick_the_ranked_sample() {
        let mut s: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        assert_eq!(percentile_ms(&mut s, 50.0), 51.0);
        assert_eq!(percentile_ms(&mut s, 99.0), 99.0);
        assert_eq!(percentile_ms(&mut [], 99.0), 0.0);
    }

    #[test]
    fn percentiles_by_second_group_by_start() {
        let ms = Duration::from_millis;
        let samples = [
            (ms(100), ms(5)),
            (ms(900), ms(7)),
            (ms(2_500), ms(40)),
            (ms(2_999), ms(1)),
        ];
        assert_eq!(percentile_by_second_ms(&samples, 100.0), [7.0, 0.0, 40.0]);
        assert_eq!(percentile_by_second_ms(&samples, 0.0), [5.0, 0.0, 1.0]);
        assert!(percentile_by_second_ms(&[], 99.0).is_empty());
    }

    #[test]
    fn spread_is_the_largest_deviation_from_the_mean() {
        assert_eq!(spread_pct(&[10.0, 10.0, 10.0]), 0.0);
        // mean 10: 15 is 50 % above it.
        assert_eq!(spread_pct(&[5.0, 10.0, 15.0, 10.0]), 50.0);
        // Nodes holding nothing count.
        assert_eq!(spread_pct(&[0.0, 20.0]), 100.0);
        assert_eq!(spread_pct(&[]), 0.0);
        assert_eq!(spread_pct(&[0.0, 0.0]), 0.0);
    }

    #[test]
    fn ideal_spread_is_zero_only_for_even_division() {
        assert_eq!(ideal_spread_pct(50_000, 5_000), 0.0);
        // 11 items on 2 bins: 6 and 5 around 5.5.
        assert!((ideal_spread_pct(11, 2) - 100.0 / 11.0).abs() < 1e-9);
        assert_eq!(ideal_spread_pct(0, 3), 0.0);
    }

    #[test]
    fn stage_rate_counts_events_over_their_span() {
        let t = std::time::Instant::now();
        let times: Vec<_> = (0..=10)
            .map(|i| t + Duration::from_millis(100 * i))
            .collect();
        // 11 events over 1 s.
        assert!((stage_rate(&times) - 11.0).abs() < 1e-9);
        assert_eq!(stage_rate(&[]), 0.0);
        assert_eq!(stage_rate(&[t]), 1000.0);
    }

    #[test]
    fn rss_of_this_process_is_positive() {
        assert!(rss_mb(std::process::id()).is_some_and(|mb| mb > 0.0));
    }
}
