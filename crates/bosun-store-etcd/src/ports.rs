//! Free TCP ports on 127.0.0.1 for the servers that tests and benchmarks start as child
//! processes (etcd members here, `bosun` components in the end-to-end tests and benchmarks).
//!
//! A port is handed out free, then released for the child to bind. Ports come from below
//! Linux's default ephemeral range (32768–60999): a port the kernel picked for `bind(0)` is in
//! that range, and between the check here and the child's own bind an outgoing connection
//! (a raft member dialing its peers) could take it as its source port — "address already in
//! use" in a benchmark run. Within a process no port is handed out twice; each process starts
//! at its own place in the range, so that processes run at once (nextest runs every test in a
//! process of its own) do not try the same ports in step.

use std::io;
use std::net::TcpListener;
use std::ops::Range;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};

/// Where the ports come from.
pub const RANGE: Range<u16> = 20_000..32_000;

/// A TCP port on 127.0.0.1 that is free now, for a child to listen on; never the same port
/// twice in one process (until the range is used up). When no port of [`RANGE`] is free, one
/// the kernel picks.
pub fn free_port() -> io::Result<u16> {
    static START: OnceLock<u32> = OnceLock::new();
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let span = u32::from(RANGE.end - RANGE.start);
    let start = *START.get_or_init(|| {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        start_in(span, std::process::id(), nanos)
    });
    for _ in 0..span {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let port = nth_port(start, n);
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return Ok(port);
        }
    }
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// The `n`th port after `start` (an offset into [`RANGE`]), wrapping around the range.
fn nth_port(start: u32, n: u32) -> u16 {
    let span = u32::from(RANGE.end - RANGE.start);
    let offset = (u64::from(start) + u64::from(n)) % u64::from(span);
    RANGE.start + u16::try_from(offset).unwrap_or(0)
}

/// A process's starting offset in a range of `span` ports: mixed from its pid and the clock.
fn start_in(span: u32, pid: u32, nanos: u32) -> u32 {
    let mixed = u64::from(pid)
        .wrapping_mul(0x9E37_79B9_7F4A_7C15)
        .wrapping_add(u64::from(nanos));
    u32::try_from(mixed % u64::from(span)).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_come_from_below_the_ephemeral_range_free_and_distinct() {
        let ports: Vec<u16> = (0..8).map(|_| free_port().expect("a free port")).collect();
        for p in &ports {
            assert!(RANGE.contains(p), "{p}");
            TcpListener::bind(("127.0.0.1", *p)).expect("still free");
        }
        let mut distinct = ports.clone();
        distinct.sort_unstable();
        distinct.dedup();
        assert_eq!(distinct.len(), ports.len(), "{ports:?}");
    }

    #[test]
    fn the_nth_port_wraps_around_the_range() {
        let span = u32::from(RANGE.end - RANGE.start);
        assert_eq!(nth_port(0, 0), RANGE.start);
        assert_eq!(nth_port(span - 1, 0), RANGE.end - 1);
        assert_eq!(nth_port(span - 1, 1), RANGE.start);
        assert_eq!(nth_port(5, span), RANGE.start + 5);
    }

    #[test]
    fn processes_started_together_start_far_apart() {
        let span = u32::from(RANGE.end - RANGE.start);
        // Consecutive pids in the same nanosecond: offsets in the range, and no two within
        // the dozen ports a test takes of each other.
        let mut starts: Vec<u32> = (1000..1064).map(|pid| start_in(span, pid, 7)).collect();
        assert!(starts.iter().all(|s| *s < span), "{starts:?}");
        starts.sort_unstable();
        let closest = starts.windows(2).map(|w| w[1] - w[0]).min();
        assert!(closest.is_some_and(|d| d >= 12), "{starts:?}");
        assert!(start_in(span, u32::MAX, u32::MAX) < span);
    }
}
