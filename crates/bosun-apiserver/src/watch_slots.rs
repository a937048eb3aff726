//! The cap on open watches (`--max-watches`): every WATCH holds a [`WatchSlot`] for the life of
//! its response stream, however it is served (the watch cache or a store watch of its own), and
//! gives it back when the stream ends or the client goes away. A watch beyond the cap is refused
//! with 429 TooManyRequests and `Retry-After`.

use crate::metrics::Metrics;
use bosun_api::ApiError;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Kubernetes has no per-server watch cap; this default is far above what a small cluster opens
/// and low enough to keep one server's memory bounded.
pub const DEFAULT_MAX_WATCHES: usize = 10_000;

/// How long a refused client is told to wait.
pub const RETRY_AFTER_SECONDS: u32 = 1;

/// The open watches and their cap. One per server; shared by every request.
#[derive(Debug)]
pub struct WatchSlots {
    max: usize,
    open: AtomicUsize,
    metrics: Metrics,
}

impl WatchSlots {
    /// At most `max` watches at once (0 refuses every watch). `apiserver_open_watches` in
    /// `metrics` follows the slots held.
    pub fn new(max: usize, metrics: Metrics) -> Self {
        Self {
            max,
            open: AtomicUsize::new(0),
            metrics,
        }
    }

    /// The cap.
    pub fn max(&self) -> usize {
        self.max
    }

    /// The slots held now.
    pub fn open(&self) -> usize {
        self.open.load(Ordering::Acquire)
    }

    /// Take a slot, or 429 when all are held.
    pub fn acquire(self: &Arc<Self>) -> Result<WatchSlot, ApiError> {
        self.open
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |open| {
                (open < self.max).then_some(open + 1)
            })
            .map_err(|_| {
                ApiError::too_many_requests_retry_after(
                    &format!(
                        "the server is serving its limit of {} watches (--max-watches); try again later",
                        self.max
                    ),
                    RETRY_AFTER_SECONDS,
                )
            })?;
        self.metrics.watch_opened();
        Ok(WatchSlot {
            slots: self.clone(),
        })
    }
}

/// One open watch. Dropping it frees the slot.
#[derive(Debug)]
pub struct WatchSlot {
    slots: Arc<WatchSlots>,
}

impl Drop for WatchSlot {
    fn drop(&mut self) {
        self.slots.open.fetch_sub(1, Ordering::AcqRel);
        self.slots.metrics.watch_closed();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn open_watches_metric(metrics: &Metrics) -> String {
        metrics
            .render()
            .lines()
            .find(|l| l.starts_with("apiserver_open_watches "))
            .unwrap_or_default()
            .to_string()
    }

    #[test]
    fn the_slot_beyond_the_cap_is_refused_until_one_is_dropped() {
        let metrics = Metrics::default();
        let slots = Arc::new(WatchSlots::new(2, metrics.clone()));
        let a = slots.acquire().expect("first");
        let _b = slots.acquire().expect("second");
        let refused = slots.acquire().expect_err("third");
        assert_eq!(refused.code(), 429);
        assert_eq!(refused.retry_after_seconds(), Some(RETRY_AFTER_SECONDS));
        assert!(
            refused.message().contains("limit of 2 watches"),
            "{refused}"
        );
        assert_eq!(open_watches_metric(&metrics), "apiserver_open_watches 2");
        drop(a);
        assert_eq!(slots.open(), 1);
        assert_eq!(open_watches_metric(&metrics), "apiserver_open_watches 1");
        let _c = slots.acquire().expect("a freed slot is reused");
        assert_eq!(slots.open(), 2);
    }

    #[test]
    fn a_cap_of_zero_refuses_every_watch() {
        let slots = Arc::new(WatchSlots::new(0, Metrics::default()));
        assert_eq!(slots.acquire().expect_err("refused").code(), 429);
        assert_eq!(slots.open(), 0);
    }
}
