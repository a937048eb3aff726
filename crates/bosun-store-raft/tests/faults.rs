//! Fault tests for the raft backend over real sockets: leader loss under load, a member catching
//! up from a snapshot, a partitioned minority, and a whole-group restart from disk.

mod common;

use bosun_store::{Consistency, Error, RangeRequest, Store};
use bosun_store_raft::RaftStore;
use common::{Cluster, local_get};
use std::net::{IpAddr, Ipv4Addr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

fn b(s: &str) -> bytes::Bytes {
    bytes::Bytes::copy_from_slice(s.as_bytes())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn killing_the_leader_under_load_loses_no_acknowledged_write_and_applies_none_twice() {
    let mut cluster = Cluster::start(3, |_| {}).await;
    let leader = cluster.leader().await;
    let stores: Vec<RaftStore> = (0..3).map(|i| cluster.member(i).clone()).collect();
    let acked = Arc::new(Mutex::new(Vec::<String>::new()));
    let writers = 6;
    let per_writer = 150;

    let mut tasks = Vec::new();
    for w in 0..writers {
        let stores = stores.clone();
        let acked = acked.clone();
        tasks.push(tokio::spawn(async move {
            let mut member = w % 3;
            for i in 0..per_writer {
                let key = format!("/fault/{w}/{i:04}");
                // A write is never retried by the client with a new request: an error means
                // "not acknowledged", and the key is left alone.
                match stores[member].put(b(&key), b("v")).await {
                    Ok(_) => acked.lock().expect("lock").push(key),
                    Err(_) => member = (member + 1) % 3,
                }
            }
        }));
    }
    // Kill the leader once the writers are well under way.
    while acked.lock().expect("lock").len() < 200 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    cluster.stop(leader).await;
    for t in tasks {
        t.await.expect("writer task");
    }
    let acked = acked.lock().expect("lock").clone();
    assert!(
        acked.len() > writers * per_writer * 8 / 10,
        "only {} of {} writes acknowledged",
        acked.len(),
        writers * per_writer
    );

    cluster.restart(leader).await;
    cluster.converge().await;
    for i in 0..3 {
        let m = cluster.member(i);
        let all = m
            .range(RangeRequest::prefix("/fault/").serializable())
            .await
            .expect("range");
        for key in &acked {
            assert!(
                local_get(m, key).await.is_some(),
                "member {} lost acknowledged write {key}",
                m.id()
            );
        }
        for kv in &all.kvs {
            assert_eq!(
                kv.version,
                1,
                "member {}: {:?} was applied {} times",
                m.id(),
                kv.key,
                kv.version
            );
        }
    }
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_member_restarted_after_its_peers_compacted_their_logs_catches_up_from_a_snapshot() {
    let mut cluster = Cluster::start(3, |c| {
        c.snapshot_every = 20;
        c.logs_kept_after_snapshot = 5;
    })
    .await;
    let leader = cluster.leader().await;
    let lagging = (leader + 1) % 3;
    let lagging_last = cluster.member(lagging).status().last_log_index.unwrap_or(0);
    cluster.stop(lagging).await;

    let writer = cluster.member(leader).clone();
    for i in 0..300 {
        writer
            .put(b(&format!("/snap/{i:04}")), b(&format!("v{i}")))
            .await
            .expect("write");
    }
    // Wait until the leader has purged the log the lagging member would need.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while cluster.member(leader).status().purged_index.unwrap_or(0) <= lagging_last + 1 {
        assert!(
            std::time::Instant::now() < deadline,
            "leader never purged its log: {:?}",
            cluster.member(leader).status()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    cluster.restart(lagging).await;
    cluster.converge().await;
    let m = cluster.member(lagging);
    assert!(
        m.status().snapshot_index.is_some(),
        "the lagging member installed a snapshot: {:?}",
        m.status()
    );
    let got = m
        .range(RangeRequest::prefix("/snap/").serializable())
        .await
        .expect("range");
    assert_eq!(got.kvs.len(), 300);
    assert_eq!(got.kvs[299].value, "v299");
    // And it keeps following: a new write reaches it.
    writer.put(b("/snap/after"), b("x")).await.expect("write");
    cluster.converge().await;
    assert!(
        local_get(cluster.member(lagging), "/snap/after")
            .await
            .is_some()
    );
    cluster.shutdown().await;
}

/// iptables rules that drop traffic between two addresses, removed on drop.
struct Partition {
    rules: Vec<(IpAddr, IpAddr)>,
}

fn iptables(action: &str, src: IpAddr, dst: IpAddr) {
    let out = std::process::Command::new("iptables")
        .args([action, "INPUT", "-s", &src.to_string(), "-d", &dst.to_string(), "-j", "DROP"])
        .output()
        .unwrap_or_else(|e| panic!("this test cuts the network with iptables (installed by the README's test command): {e}"));
    assert!(
        out.status.success(),
        "iptables {action}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

impl Partition {
    fn isolate(node: IpAddr, others: &[IpAddr]) -> Self {
        let mut rules = Vec::new();
        for o in others {
            for (s, d) in [(node, *o), (*o, node)] {
                iptables("-I", s, d);
                rules.push((s, d));
            }
        }
        Self { rules }
    }
}

impl Drop for Partition {
    fn drop(&mut self) {
        for (s, d) in self.rules.drain(..) {
            iptables("-D", s, d);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_partitioned_minority_cannot_commit_while_the_majority_can() {
    // Each member on its own loopback address, so a partition can cut exactly its traffic.
    let block = 100 + (std::process::id() % 100) as u8;
    let ips: Vec<IpAddr> = (1..=3)
        .map(|i| IpAddr::V4(Ipv4Addr::new(127, 77, block, i)))
        .collect();
    let cluster = Cluster::start_on(&ips, |c| c.request_timeout = Duration::from_secs(3)).await;
    let old_leader = cluster.leader().await;
    cluster
        .member(old_leader)
        .put(b("/part/before"), b("1"))
        .await
        .expect("write before the partition");
    let others: Vec<usize> = (0..3).filter(|i| *i != old_leader).collect();

    let partition = Partition::isolate(
        ips[old_leader],
        &others.iter().map(|i| ips[*i]).collect::<Vec<_>>(),
    );

    // The majority elects a leader among itself and commits.
    let majority = cluster.member(others[0]).clone();
    majority
        .put(b("/part/majority"), b("yes"))
        .await
        .expect("the majority commits");
    // The isolated old leader cannot: its write fails with a retryable error.
    match cluster
        .member(old_leader)
        .put(b("/part/minority"), b("no"))
        .await
    {
        Err(e) if e.is_retryable() => {}
        other => panic!("a write on the minority side must fail retryably, got {other:?}"),
    }
    // Linearizable reads on the minority side fail too, rather than serve stale data.
    let read = cluster
        .member(old_leader)
        .get(b"/part/majority", Consistency::Linearizable)
        .await;
    assert!(
        matches!(read, Err(ref e) if e.is_retryable()),
        "minority read: {read:?}"
    );

    drop(partition);
    // Healed, the old leader follows the new one: it has the majority's write, and the write it
    // could not commit is gone everywhere.
    cluster.converge().await;
    for i in 0..3 {
        let m = cluster.member(i);
        assert!(
            local_get(m, "/part/majority").await.is_some(),
            "member {} misses the majority's write",
            m.id()
        );
        assert!(
            local_get(m, "/part/minority").await.is_none(),
            "member {} has the uncommitted write",
            m.id()
        );
    }
    assert!(matches!(
        cluster
            .member(old_leader)
            .get(b"/part/minority", Consistency::Linearizable)
            .await,
        Ok(None)
    ));
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_whole_group_restarted_from_disk_keeps_everything() {
    let mut cluster = Cluster::start(3, |c| c.snapshot_every = 50).await;
    let leader = cluster.member(cluster.leader().await).clone();
    for i in 0..120 {
        leader
            .put(b(&format!("/disk/{i:03}")), b(&format!("v{i}")))
            .await
            .expect("write");
    }
    for i in 0..20 {
        leader
            .delete(b(&format!("/disk/{i:03}")), None)
            .await
            .expect("delete");
    }
    let before = leader
        .range(RangeRequest::prefix("/disk/"))
        .await
        .expect("range");
    let revision = leader.current_revision().await.expect("revision");
    cluster.converge().await;
    for i in 0..3 {
        cluster.stop(i).await;
    }
    for i in 0..3 {
        cluster.restart(i).await;
    }
    let leader = cluster.member(cluster.leader().await).clone();
    let after = leader
        .range(RangeRequest::prefix("/disk/"))
        .await
        .expect("range after restart");
    assert_eq!(after.kvs, before.kvs);
    assert_eq!(leader.current_revision().await.expect("revision"), revision);
    // History survives too: a read at an old revision still works.
    let old = leader
        .range(RangeRequest::prefix("/disk/").at_revision(revision - 20))
        .await
        .expect("old read");
    assert_eq!(old.kvs.len(), 120);
    let next = leader
        .put(b("/disk/new"), b("x"))
        .await
        .expect("write after restart");
    assert_eq!(next.mod_revision, revision + 1);
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_stopped_member_answers_fatal() {
    let cluster = Cluster::start(1, |_| {}).await;
    let m = cluster.member(0).clone();
    m.shutdown().await;
    let err = m
        .put(b("/x"), b("y"))
        .await
        .expect_err("a stopped member must refuse writes");
    assert!(matches!(err, Error::Fatal(_)), "{err:?}");
}
