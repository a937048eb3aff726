//! Membership changes while the group serves writes: add a learner, promote it, remove a voter.

mod common;

use bosun_store::{RangeRequest, Store};
use bosun_store_raft::{RaftConfig, RaftStore};
use common::Cluster;
use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_learner_joins_is_promoted_and_a_voter_leaves_while_writes_continue() {
    let mut cluster = Cluster::start(3, |_| {}).await;
    let writer = cluster.member(cluster.leader().await).clone();

    // Writes keep flowing during every change.
    let stop = Arc::new(AtomicBool::new(false));
    let written = Arc::new(AtomicUsize::new(0));
    let load = {
        let (stop, written, stores) = (
            stop.clone(),
            written.clone(),
            (0..3)
                .map(|i| cluster.member(i).clone())
                .collect::<Vec<_>>(),
        );
        tokio::spawn(async move {
            let mut i = 0;
            while !stop.load(Ordering::Relaxed) {
                let store = &stores[i % 3];
                if store
                    .put(format!("/mem/{i:05}").into(), "v".into())
                    .await
                    .is_ok()
                {
                    written.fetch_add(1, Ordering::Relaxed);
                }
                i += 1;
            }
        })
    };

    // A fourth member starts empty, with no initial members of its own: it waits to be added.
    let addr = common::free_addr(IpAddr::V4(Ipv4Addr::LOCALHOST));
    let mut config = RaftConfig::new(4, "test", cluster.dir.path().join("m4"), addr);
    config.join = true;
    let fourth = RaftStore::start(config)
        .await
        .expect("start the new member");
    writer
        .add_learner(4, addr.to_string())
        .await
        .expect("add learner");
    assert!(writer.status().learners.contains(&4));

    writer
        .change_voters(BTreeSet::from([1, 2, 3, 4]))
        .await
        .expect("promote");
    assert_eq!(writer.status().voters, vec![1, 2, 3, 4]);

    // Remove a member that is not the one we talk to.
    let leaving = (1..=3u64)
        .find(|id| *id != writer.id())
        .expect("another voter");
    writer
        .remove_members(BTreeSet::from([leaving]))
        .await
        .expect("remove");
    let status = writer.status();
    assert!(
        !status.voters.contains(&leaving) && !status.learners.contains(&leaving),
        "{status:?}"
    );

    stop.store(true, Ordering::Relaxed);
    load.await.expect("load task");
    assert!(written.load(Ordering::Relaxed) > 0);

    // The new member has everything the group committed.
    let leader = cluster
        .members
        .iter()
        .flatten()
        .find(|m| m.is_leader())
        .expect("a leader")
        .clone();
    let target = leader.current_revision().await.expect("revision");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while fourth.local().revision() < target {
        assert!(std::time::Instant::now() < deadline, "new member stuck");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let on_leader = leader
        .range(RangeRequest::prefix("/mem/"))
        .await
        .expect("range");
    let on_fourth = fourth
        .range(RangeRequest::prefix("/mem/").serializable())
        .await
        .expect("range");
    assert_eq!(on_leader.kvs, on_fourth.kvs);
    fourth.shutdown().await;
    for i in 0..3 {
        cluster.stop(i).await;
    }
}
