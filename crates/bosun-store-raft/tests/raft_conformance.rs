//! The store conformance suite against the raft backend: a group of one, and a group of three
//! served through a follower (so every write is forwarded and every read goes through read-index).

mod common;

use bosun_store::conformance::Harness;
use bosun_store::conformance_tests;
use std::sync::Arc;

mod one_member {
    use super::*;

    async fn raft_one() -> Harness {
        let cluster = common::Cluster::start(1, |_| {}).await;
        Harness {
            store: Arc::new(cluster.member(0).clone()),
            guard: Box::new(cluster),
        }
    }

    conformance_tests!(raft_one);
}

mod three_members_through_a_follower {
    use super::*;

    async fn raft_three() -> Harness {
        let cluster = common::Cluster::start(3, |_| {}).await;
        let leader = cluster.leader().await;
        let follower = (leader + 1) % 3;
        Harness {
            store: Arc::new(cluster.member(follower).clone()),
            guard: Box::new(cluster),
        }
    }

    conformance_tests!(raft_three);
}
