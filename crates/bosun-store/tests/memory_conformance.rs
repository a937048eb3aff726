//! The conformance suite against the in-memory backend.

use bosun_store::conformance::Harness;
use bosun_store::{MemoryStore, conformance_tests};
use std::sync::Arc;

async fn memory() -> Harness {
    Harness {
        store: Arc::new(MemoryStore::default()),
        guard: Box::new(()),
    }
}

conformance_tests!(memory);
