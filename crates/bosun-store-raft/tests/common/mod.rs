//! A raft group of in-process members on real sockets, for the integration tests.
#![allow(dead_code)]

use bosun_store::{Consistency, Store};
use bosun_store_raft::{RaftConfig, RaftStore};
use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener};
use std::time::{Duration, Instant};

pub struct Cluster {
    pub members: Vec<Option<RaftStore>>,
    pub configs: Vec<RaftConfig>,
    pub dir: tempfile::TempDir,
}

/// A free port on `ip` (bound and released).
pub fn free_addr(ip: IpAddr) -> SocketAddr {
    let l = TcpListener::bind(SocketAddr::new(ip, 0)).expect("bind a free port");
    l.local_addr().expect("local addr")
}

impl Cluster {
    /// `n` members on 127.0.0.1; `tune` adjusts each config.
    pub async fn start(n: usize, tune: impl Fn(&mut RaftConfig)) -> Self {
        let ips = vec![IpAddr::V4(Ipv4Addr::LOCALHOST); n];
        Self::start_on(&ips, tune).await
    }

    /// One member per address in `ips` (member ids 1..=n).
    pub async fn start_on(ips: &[IpAddr], tune: impl Fn(&mut RaftConfig)) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let addrs: Vec<SocketAddr> = ips.iter().map(|ip| free_addr(*ip)).collect();
        let initial: BTreeMap<u64, String> = addrs
            .iter()
            .enumerate()
            .map(|(i, a)| (i as u64 + 1, a.to_string()))
            .collect();
        let configs: Vec<RaftConfig> = addrs
            .iter()
            .enumerate()
            .map(|(i, addr)| {
                let id = i as u64 + 1;
                let mut c = RaftConfig::new(id, "test", dir.path().join(format!("m{id}")), *addr);
                c.initial_members = initial.clone();
                tune(&mut c);
                c
            })
            .collect();
        let started =
            futures::future::join_all(configs.iter().cloned().map(RaftStore::start)).await;
        let members = started
            .into_iter()
            .map(|r| Some(r.expect("member starts")))
            .collect();
        let cluster = Self {
            members,
            configs,
            dir,
        };
        cluster.leader().await;
        cluster
    }

    pub fn member(&self, i: usize) -> &RaftStore {
        self.members[i].as_ref().expect("member is running")
    }

    /// The index of the current leader, as the running members agree on it.
    pub async fn leader(&self) -> usize {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            for (i, m) in self.members.iter().enumerate() {
                if let Some(m) = m
                    && m.is_leader()
                {
                    return i;
                }
            }
            assert!(Instant::now() < deadline, "no leader within 20 s");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub async fn stop(&mut self, i: usize) {
        if let Some(m) = self.members[i].take() {
            m.shutdown().await;
        }
    }

    pub async fn restart(&mut self, i: usize) {
        assert!(self.members[i].is_none(), "member {i} is still running");
        // The port may take a moment to be free again after shutdown.
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match RaftStore::start(self.configs[i].clone()).await {
                Ok(m) => {
                    self.members[i] = Some(m);
                    return;
                }
                Err(e) if Instant::now() < deadline => {
                    eprintln!("restart member {i}: {e}; retrying");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(e) => panic!("restart member {i}: {e}"),
            }
        }
    }

    /// Wait until every running member has applied up to the leader's revision.
    pub async fn converge(&self) {
        let leader = self.leader().await;
        let target = self
            .member(leader)
            .current_revision()
            .await
            .expect("leader revision");
        let deadline = Instant::now() + Duration::from_secs(30);
        for m in self.members.iter().flatten() {
            while m.local().revision() < target {
                assert!(
                    Instant::now() < deadline,
                    "member {} stuck at {} < {target}",
                    m.id(),
                    m.local().revision()
                );
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }

    pub async fn shutdown(mut self) {
        for i in 0..self.members.len() {
            self.stop(i).await;
        }
    }
}

/// Read a key on one member without a barrier (what it has applied).
pub async fn local_get(m: &RaftStore, key: &str) -> Option<bosun_store::KeyValue> {
    m.get(key.as_bytes(), Consistency::Serializable)
        .await
        .expect("local read")
}
