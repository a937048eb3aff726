//! The conformance suite every [`Store`] backend passes (after openraft's storage test suite).
//!
//! Each case is a public async function that takes a fresh store and panics with a message on
//! the first broken promise. [`conformance_tests!`](crate::conformance_tests) turns them into one
//! `#[tokio::test]` each for a backend, given an async factory returning a [`Harness`].

use crate::error::Error;
use crate::store::Store;
use crate::types::*;
use bytes::Bytes;
use futures::StreamExt;
use std::sync::Arc;
use std::time::Duration;

/// A store under test and whatever keeps it alive (processes, temp dirs, tasks).
pub struct Harness {
    pub store: Arc<dyn Store>,
    pub guard: Box<dyn std::any::Any + Send>,
}

impl std::fmt::Debug for Harness {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Harness")
            .field("store", &self.store)
            .finish_non_exhaustive()
    }
}

/// Generates one test per conformance case for a backend: `conformance_tests!(my_factory);`
/// where `async fn my_factory() -> Harness`.
#[macro_export]
macro_rules! conformance_tests {
    ($factory:path) => {
        $crate::conformance_tests!(@cases $factory;
            crud_follows_etcd_semantics,
            revision_increases_once_per_change,
            range_reads_a_prefix_in_pages,
            range_reads_at_an_old_revision,
            txn_runs_the_branch_its_comparisons_choose,
            concurrent_conditional_updates_let_exactly_one_win,
            watch_replays_history_then_follows,
            watch_from_now_sees_only_new_changes,
            watch_sees_concurrent_writes_in_order_without_gaps,
            compaction_refuses_old_revisions,
            oversized_values_are_refused_and_nothing_is_written,
        );
    };
    (@cases $factory:path; $($case:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $case() {
                let harness = $factory().await;
                $crate::conformance::$case(harness.store.as_ref()).await;
                drop(harness);
            }
        )*
    };
}

fn b(s: &str) -> Bytes {
    Bytes::copy_from_slice(s.as_bytes())
}

fn ok<T>(r: crate::Result<T>, what: &str) -> T {
    r.unwrap_or_else(|e| panic!("{what}: unexpected error {e:?}"))
}

async fn next_event(stream: &mut crate::WatchStream) -> Event {
    match tokio::time::timeout(Duration::from_secs(10), stream.next()).await {
        Ok(Some(Ok(event))) => event,
        Ok(Some(Err(e))) => panic!("watch ended with an error: {e:?}"),
        Ok(None) => panic!("watch ended"),
        Err(_) => panic!("no watch event within 10 s"),
    }
}

/// create, get, update, delete and their refusals.
pub async fn crud_follows_etcd_semantics(store: &dyn Store) {
    let key = b("/registry/test/crud");
    let created = ok(store.create(key.clone(), b("one")).await, "create");
    assert_eq!(created.version, 1);
    assert_eq!(created.create_revision, created.mod_revision);

    let got = ok(store.get(&key, Consistency::Linearizable).await, "get")
        .expect("created key is readable");
    assert_eq!(got, created);

    match store.create(key.clone(), b("again")).await {
        Err(Error::AlreadyExists { key: k }) => assert_eq!(k, key),
        other => panic!("second create: expected AlreadyExists, got {other:?}"),
    }

    match store
        .update(key.clone(), b("stale"), created.mod_revision - 1)
        .await
    {
        Err(Error::Conflict {
            current, expected, ..
        }) => {
            assert_eq!(current, created.mod_revision);
            assert_eq!(expected, created.mod_revision - 1);
        }
        other => panic!("stale update: expected Conflict, got {other:?}"),
    }

    let updated = ok(
        store
            .update(key.clone(), b("two"), created.mod_revision)
            .await,
        "update",
    );
    assert_eq!(updated.version, 2);
    assert_eq!(updated.create_revision, created.create_revision);
    assert!(updated.mod_revision > created.mod_revision);
    let got = ok(store.get(&key, Consistency::Linearizable).await, "get")
        .expect("updated key is readable");
    assert_eq!(got.value, "two");
    assert_eq!(got.mod_revision, updated.mod_revision);

    match store.delete(key.clone(), Some(created.mod_revision)).await {
        Err(Error::Conflict { current, .. }) => assert_eq!(current, updated.mod_revision),
        other => panic!("stale delete: expected Conflict, got {other:?}"),
    }
    let (deleted, rev) = ok(
        store.delete(key.clone(), Some(updated.mod_revision)).await,
        "delete",
    );
    assert_eq!(deleted.value, "two");
    assert!(rev > updated.mod_revision);
    assert_eq!(
        ok(
            store.get(&key, Consistency::Linearizable).await,
            "get after delete"
        ),
        None
    );

    assert!(matches!(
        store.delete(key.clone(), None).await,
        Err(Error::NotFound { .. })
    ));
    assert!(matches!(
        store.update(key.clone(), b("x"), rev).await,
        Err(Error::NotFound { .. })
    ));

    // Re-created, the key starts a new incarnation.
    let again = ok(store.create(key.clone(), b("three")).await, "re-create");
    assert_eq!(again.version, 1);
    assert!(again.create_revision > rev);
    let put = ok(store.put(key.clone(), b("four")).await, "put");
    assert_eq!(
        (put.version, put.create_revision),
        (2, again.create_revision)
    );
}

/// One revision per changing transaction; failed or no-op transactions change nothing.
pub async fn revision_increases_once_per_change(store: &dyn Store) {
    let r0 = ok(store.current_revision().await, "current_revision");
    let a = ok(store.put(b("/rev/a"), b("1")).await, "put");
    assert_eq!(a.mod_revision, r0 + 1);
    let resp = ok(
        store
            .txn(Txn::new().and_then([Op::put("/rev/b", "1"), Op::put("/rev/c", "1")]))
            .await,
        "txn",
    );
    assert_eq!(resp.revision, r0 + 2);
    let got = ok(store.range(RangeRequest::prefix("/rev/")).await, "range");
    assert_eq!(
        got.kvs.iter().map(|kv| kv.mod_revision).collect::<Vec<_>>(),
        vec![r0 + 1, r0 + 2, r0 + 2]
    );
    let failed = ok(
        store
            .txn(
                Txn::new()
                    .when([Compare::absent("/rev/a")])
                    .and_then([Op::put("/rev/a", "x")]),
            )
            .await,
        "txn",
    );
    assert!(!failed.succeeded);
    let noop = ok(
        store
            .txn(Txn::new().and_then([Op::delete("/rev/missing")]))
            .await,
        "txn",
    );
    assert!(noop.succeeded);
    assert_eq!(
        ok(store.current_revision().await, "current_revision"),
        r0 + 2
    );
}

/// Prefix ranges in key order, with limit, `more`, `count` and a start key to page.
pub async fn range_reads_a_prefix_in_pages(store: &dyn Store) {
    for i in 0..10 {
        ok(
            store
                .put(b(&format!("/page/k{i:02}")), b(&format!("v{i}")))
                .await,
            "put",
        );
    }
    ok(store.put(b("/page0"), b("outside")).await, "put");
    ok(store.put(b("/pag"), b("outside")).await, "put");

    let all = ok(store.range(RangeRequest::prefix("/page/")).await, "range");
    assert_eq!(all.kvs.len(), 10);
    assert_eq!(all.count, 10);
    assert!(!all.more);
    let keys: Vec<_> = all.kvs.iter().map(|kv| kv.key.clone()).collect();
    let mut sorted = keys.clone();
    sorted.sort();
    assert_eq!(keys, sorted, "keys come in key order");

    let mut pages = Vec::new();
    let mut start: Option<Bytes> = None;
    loop {
        let mut req = RangeRequest::prefix("/page/").with_limit(3);
        req.start = start.clone();
        let page = ok(store.range(req).await, "range page");
        assert!(page.kvs.len() <= 3);
        pages.extend(page.kvs.iter().map(|kv| kv.key.clone()));
        if !page.more {
            break;
        }
        let last = page
            .kvs
            .last()
            .expect("a page with more has keys")
            .key
            .clone();
        let mut next = last.to_vec();
        next.push(0);
        start = Some(Bytes::from(next));
    }
    assert_eq!(pages, keys, "pages cover the range exactly once");

    let first = ok(
        store
            .range(RangeRequest::prefix("/page/").with_limit(3))
            .await,
        "range",
    );
    assert!(first.more);
    assert_eq!(first.count, 10);
}

/// Reads at an old revision see that revision; future revisions are refused.
pub async fn range_reads_at_an_old_revision(store: &dyn Store) {
    let v1 = ok(store.put(b("/old/k"), b("v1")).await, "put");
    let v2 = ok(store.put(b("/old/k"), b("v2")).await, "put");
    ok(store.put(b("/old/j"), b("j1")).await, "put");
    let at1 = ok(
        store
            .range(RangeRequest::prefix("/old/").at_revision(v1.mod_revision))
            .await,
        "range at v1",
    );
    assert_eq!(at1.kvs.len(), 1);
    assert_eq!(at1.kvs[0].value, "v1");
    let at2 = ok(
        store
            .range(RangeRequest::prefix("/old/").at_revision(v2.mod_revision))
            .await,
        "range at v2",
    );
    assert_eq!(
        at2.kvs
            .iter()
            .map(|kv| kv.value.clone())
            .collect::<Vec<_>>(),
        vec![b("v2")]
    );
    let now = ok(store.current_revision().await, "current_revision");
    match store
        .range(RangeRequest::prefix("/old/").at_revision(now + 100))
        .await
    {
        Err(Error::FutureRevision { .. }) => {}
        other => panic!("range at a future revision: expected FutureRevision, got {other:?}"),
    }
}

/// Transactions: comparisons on value, version, mod and create revision pick the branch.
pub async fn txn_runs_the_branch_its_comparisons_choose(store: &dyn Store) {
    let a = ok(store.put(b("/txn/a"), b("x")).await, "put");
    let cmp = |op, target| Compare {
        key: b("/txn/a"),
        op,
        target,
    };
    let t = Txn::new()
        .when([
            cmp(CompareOp::Equal, CompareTarget::Value(b("x"))),
            cmp(CompareOp::Equal, CompareTarget::Version(1)),
            cmp(
                CompareOp::Greater,
                CompareTarget::ModRevision(a.mod_revision - 1),
            ),
            cmp(
                CompareOp::Less,
                CompareTarget::CreateRevision(a.create_revision + 1),
            ),
        ])
        .and_then([
            Op::put("/txn/a", "y"),
            Op::put("/txn/b", "new"),
            Op::get("/txn/zz"),
        ])
        .or_else([Op::get("/txn/a")]);
    let resp = ok(store.txn(t).await, "txn");
    assert!(resp.succeeded);
    assert_eq!(resp.results.len(), 3);
    assert!(matches!(&resp.results[0], OpResult::Put { prev: Some(p) } if p.value == "x"));
    assert!(matches!(&resp.results[1], OpResult::Put { prev: None }));
    assert!(matches!(&resp.results[2], OpResult::Get { kv: None }));

    let t = Txn::new()
        .when([cmp(CompareOp::NotEqual, CompareTarget::Value(b("y")))])
        .and_then([Op::delete("/txn/a")])
        .or_else([Op::get("/txn/a"), Op::delete("/txn/b")]);
    let resp = ok(store.txn(t).await, "txn");
    assert!(!resp.succeeded);
    assert!(matches!(&resp.results[0], OpResult::Get { kv: Some(kv) } if kv.value == "y"));
    assert!(matches!(&resp.results[1], OpResult::Delete { prev: Some(p) } if p.value == "new"));
    assert!(ok(store.get(b"/txn/b", Consistency::Linearizable).await, "get").is_none());

    // A comparison on the value of an absent key never holds.
    let t = Txn::new().when([Compare {
        key: b("/txn/none"),
        op: CompareOp::NotEqual,
        target: CompareTarget::Value(b("q")),
    }]);
    assert!(!ok(store.txn(t).await, "txn").succeeded);
}

/// Optimistic concurrency: of many updates against one mod revision, exactly one wins.
pub async fn concurrent_conditional_updates_let_exactly_one_win(store: &dyn Store) {
    let kv = ok(store.create(b("/occ/k"), b("0")).await, "create");
    let results = futures::future::join_all(
        (0..8).map(|i| store.update(b("/occ/k"), b(&format!("writer-{i}")), kv.mod_revision)),
    )
    .await;
    let wins = results.iter().filter(|r| r.is_ok()).count();
    let conflicts = results
        .iter()
        .filter(|r| matches!(r, Err(Error::Conflict { .. })))
        .count();
    assert_eq!((wins, conflicts), (1, 7), "results: {results:?}");
    let now = ok(store.get(b"/occ/k", Consistency::Linearizable).await, "get").expect("key exists");
    assert_eq!(now.version, 2);
}

/// A watch from an old revision replays what happened since, with previous values, then
/// follows live changes; keys outside the prefix are not seen.
pub async fn watch_replays_history_then_follows(store: &dyn Store) {
    let first = ok(store.put(b("/w/a"), b("1")).await, "put");
    ok(store.put(b("/w/a"), b("2")).await, "put");
    ok(store.put(b("/other"), b("x")).await, "put");
    ok(store.delete(b("/w/a"), None).await, "delete");

    let mut stream = ok(
        store
            .watch(WatchRequest::prefix("/w/").from_revision(first.mod_revision))
            .await,
        "watch",
    );
    let e1 = next_event(&mut stream).await;
    assert_eq!(
        (e1.kind, e1.kv.value.clone(), e1.prev.clone()),
        (EventKind::Put, b("1"), None)
    );
    let e2 = next_event(&mut stream).await;
    assert_eq!(e2.kind, EventKind::Put);
    assert_eq!(e2.prev.as_ref().map(|p| p.value.clone()), Some(b("1")));
    let e3 = next_event(&mut stream).await;
    assert_eq!(e3.kind, EventKind::Delete);
    assert_eq!(e3.kv.key, "/w/a");
    assert_eq!(e3.prev.as_ref().map(|p| p.value.clone()), Some(b("2")));
    assert!(e1.revision() < e2.revision() && e2.revision() < e3.revision());

    ok(store.put(b("/other2"), b("x")).await, "put");
    let live = ok(store.put(b("/w/b"), b("live")).await, "put");
    let e4 = next_event(&mut stream).await;
    assert_eq!(
        (e4.kv.key.clone(), e4.kv.mod_revision),
        (b("/w/b"), live.mod_revision)
    );
}

/// A watch from revision 0 sees only what happens after it started.
pub async fn watch_from_now_sees_only_new_changes(store: &dyn Store) {
    ok(store.put(b("/now/a"), b("before")).await, "put");
    let mut stream = ok(store.watch(WatchRequest::prefix("/now/")).await, "watch");
    let after = ok(store.put(b("/now/a"), b("after")).await, "put");
    let e = next_event(&mut stream).await;
    assert_eq!(e.kv.value, "after");
    assert_eq!(e.kv.mod_revision, after.mod_revision);
    assert_eq!(e.prev.map(|p| p.value), Some(b("before")));
}

/// Concurrent writers: the watcher sees every change exactly once, in revision order.
pub async fn watch_sees_concurrent_writes_in_order_without_gaps(store: &dyn Store) {
    let start = ok(store.current_revision().await, "current_revision") + 1;
    let mut stream = ok(
        store
            .watch(WatchRequest::prefix("/many/").from_revision(start))
            .await,
        "watch",
    );
    let writers = 8;
    let per_writer = 50;
    let writes = futures::future::join_all((0..writers).map(|w| async move {
        for i in 0..per_writer {
            ok(store.put(b(&format!("/many/{w}/{i}")), b("v")).await, "put");
        }
    }));
    writes.await;
    let mut seen = std::collections::HashSet::new();
    let mut last = 0;
    for _ in 0..writers * per_writer {
        let e = next_event(&mut stream).await;
        assert!(
            e.revision() > last,
            "revisions strictly increase: {} after {last}",
            e.revision()
        );
        last = e.revision();
        assert!(
            seen.insert(e.kv.key.clone()),
            "key {:?} seen twice",
            e.kv.key
        );
    }
    assert_eq!(seen.len(), writers * per_writer);
}

/// After compaction, reads and watches below the point fail with `Compacted`; at the point they
/// work.
pub async fn compaction_refuses_old_revisions(store: &dyn Store) {
    let a = ok(store.put(b("/c/k"), b("1")).await, "put");
    let b2 = ok(store.put(b("/c/k"), b("2")).await, "put");
    let c = ok(store.put(b("/c/k"), b("3")).await, "put");
    ok(store.compact(b2.mod_revision).await, "compact");

    match store
        .range(RangeRequest::prefix("/c/").at_revision(a.mod_revision))
        .await
    {
        Err(Error::Compacted {
            compact_revision, ..
        }) => assert_eq!(compact_revision, b2.mod_revision),
        other => panic!("range below compaction: expected Compacted, got {other:?}"),
    }
    let at = ok(
        store
            .range(RangeRequest::prefix("/c/").at_revision(b2.mod_revision))
            .await,
        "range at point",
    );
    assert_eq!(at.kvs[0].value, "2");

    let watch_error = match store
        .watch(WatchRequest::prefix("/c/").from_revision(a.mod_revision))
        .await
    {
        Err(e) => e,
        Ok(mut stream) => {
            match tokio::time::timeout(Duration::from_secs(10), stream.next()).await {
                Ok(Some(Err(e))) => e,
                other => panic!("watch below compaction: expected an error, got {other:?}"),
            }
        }
    };
    assert!(
        matches!(watch_error, Error::Compacted { .. }),
        "got {watch_error:?}"
    );

    let mut stream = ok(
        store
            .watch(WatchRequest::prefix("/c/").from_revision(b2.mod_revision))
            .await,
        "watch",
    );
    assert_eq!(next_event(&mut stream).await.kv.value, "2");
    assert_eq!(
        next_event(&mut stream).await.kv.mod_revision,
        c.mod_revision
    );

    assert!(matches!(
        store.compact(a.mod_revision).await,
        Err(Error::Compacted { .. })
    ));
}

/// A value over the limit gets `ValueTooLarge`; nothing of the transaction is written.
pub async fn oversized_values_are_refused_and_nothing_is_written(store: &dyn Store) {
    let before = ok(store.current_revision().await, "current_revision");
    let big = Bytes::from(vec![b'x'; MAX_VALUE_BYTES + 1]);
    let txn = Txn::new().and_then([Op::put("/big/small", "ok"), Op::put("/big/large", big)]);
    match store.txn(txn).await {
        Err(Error::ValueTooLarge { size, .. }) => assert_eq!(size, MAX_VALUE_BYTES + 1),
        other => panic!("expected ValueTooLarge, got {other:?}"),
    }
    assert_eq!(
        ok(store.current_revision().await, "current_revision"),
        before
    );
    assert!(
        ok(
            store.get(b"/big/small", Consistency::Linearizable).await,
            "get"
        )
        .is_none()
    );
    // A value exactly at the limit is accepted.
    let at_limit = Bytes::from(vec![b'y'; MAX_VALUE_BYTES]);
    ok(
        store.put(b("/big/limit"), at_limit).await,
        "put at the limit",
    );
}
