//! Giving freed memory back to the system. glibc's malloc keeps the pages of memory freed in the
//! middle of its heaps: after a burst (a backlog of 50,000 pending pods, a large initial LIST)
//! a component would go on holding its peak as RSS although it no longer uses it. A task trims
//! the heaps at an interval, as long-running Go and Java services return freed memory on their
//! own.

use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Return the free pages of every malloc arena to the system.
pub fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    #[allow(unsafe_code)]
    // SAFETY: malloc_trim takes no pointer and touches only the allocator's own free lists,
    // under the locks glibc takes for every malloc and free; it may be called from any thread
    // at any time, and it never frees memory that is in use. Its return value (whether memory
    // was released) needs no handling.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Trim every `every` until `stop`.
pub fn spawn_trimmer(every: Duration, stop: CancellationToken) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tick.tick().await;
        loop {
            tokio::select! {
                _ = stop.cancelled() => break,
                _ = tick.tick() => release_free_memory(),
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rss_kib() -> u64 {
        let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmRSS")
    }

    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    #[test]
    fn a_freed_burst_is_given_back_and_what_is_kept_stays_intact() {
        // 200 MB in 2 KB pieces, one in 64 kept: the freed pages lie between kept ones, where
        // free() alone does not return them.
        let burst: Vec<Vec<u8>> = (0..100_000).map(|i| vec![i as u8; 2000]).collect();
        let kept: Vec<(usize, Vec<u8>)> = burst
            .into_iter()
            .enumerate()
            .filter(|(i, _)| i % 64 == 0)
            .collect();
        let before = rss_kib();
        release_free_memory();
        let after = rss_kib();
        assert!(
            after * 2 < before,
            "RSS {before} KiB before the trim, {after} KiB after"
        );
        assert!(
            kept.iter()
                .all(|(i, v)| v.len() == 2000 && v[1999] == *i as u8)
        );
    }
}
