//! What a member does with a data dir it cannot trust: it refuses to start and names the file.

mod common;

use bosun_store::Store;
use bosun_store_raft::{RaftConfig, RaftStore};
use std::net::{IpAddr, Ipv4Addr};

fn config(dir: &std::path::Path, cluster: &str) -> RaftConfig {
    let mut c = RaftConfig::new(
        1,
        cluster,
        dir,
        common::free_addr(IpAddr::V4(Ipv4Addr::LOCALHOST)),
    );
    c.snapshot_every = 10;
    c
}

async fn fill(dir: &std::path::Path) {
    let m = RaftStore::start(config(dir, "c1")).await.expect("start");
    m.wait_for_leader(std::time::Duration::from_secs(10))
        .await
        .expect("leader");
    for i in 0..40 {
        m.put(format!("/k/{i}").into(), "v".into())
            .await
            .expect("write");
    }
    // Let the snapshot policy write a snapshot file.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while m.status().snapshot_index.is_none() {
        assert!(std::time::Instant::now() < deadline, "no snapshot taken");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    m.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_data_dir_from_another_cluster_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    fill(dir.path()).await;
    let err = RaftStore::start(config(dir.path(), "c2"))
        .await
        .expect_err("must refuse another cluster's data dir");
    let msg = err.to_string();
    assert!(
        msg.contains("raft.redb") && msg.contains("c1") && msg.contains("c2"),
        "{msg}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrupt_snapshot_is_refused_naming_the_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    fill(dir.path()).await;
    let snap = bosun_store_raft::snapshot::latest(&dir.path().join("snapshots"))
        .expect("list")
        .expect("a snapshot");
    let mut bytes = std::fs::read(&snap).expect("read");
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0xff;
    std::fs::write(&snap, bytes).expect("write");
    let err = RaftStore::start(config(dir.path(), "c1"))
        .await
        .expect_err("must refuse a corrupt snapshot");
    assert!(
        err.to_string().contains(&snap.display().to_string()),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_truncated_log_database_is_refused_naming_the_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    fill(dir.path()).await;
    let db = dir.path().join("raft.redb");
    let len = std::fs::metadata(&db).expect("stat").len();
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(&db)
        .expect("open");
    f.set_len(len / 3).expect("truncate");
    drop(f);
    let err = RaftStore::start(config(dir.path(), "c1"))
        .await
        .expect_err("must refuse a truncated log");
    assert!(err.to_string().contains(&db.display().to_string()), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_restarted_with_its_data_dir_keeps_its_data() {
    let dir = tempfile::tempdir().expect("tempdir");
    fill(dir.path()).await;
    let m = RaftStore::start(config(dir.path(), "c1"))
        .await
        .expect("restart");
    m.wait_for_leader(std::time::Duration::from_secs(10))
        .await
        .expect("leader");
    let got = m
        .range(bosun_store::RangeRequest::prefix("/k/"))
        .await
        .expect("range");
    assert_eq!(got.kvs.len(), 40);
    m.shutdown().await;
}

/// A tmpfs of a given size, unmounted on drop.
struct SmallDisk {
    path: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

impl SmallDisk {
    fn mount(size: &str) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("disk");
        std::fs::create_dir(&path).expect("mkdir");
        Self::run(&[
            "-t",
            "tmpfs",
            "-o",
            &format!("size={size}"),
            "tmpfs",
            &path.display().to_string(),
        ]);
        Self { path, _dir: dir }
    }
    fn grow(&self, size: &str) {
        Self::run(&[
            "-o",
            &format!("remount,size={size}"),
            &self.path.display().to_string(),
        ]);
    }
    fn run(args: &[&str]) {
        let out = std::process::Command::new("mount")
            .args(args)
            .output()
            .unwrap_or_else(|e| {
                panic!("this test needs mount(8) and root to make a small tmpfs: {e}")
            });
        assert!(
            out.status.success(),
            "mount {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg(&self.path)
            .status();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_fails_writes_and_loses_no_acknowledged_write() {
    let disk = SmallDisk::mount("6m");
    let mut cfg = config(&disk.path, "c1");
    cfg.snapshot_every = 1_000_000;
    let m = RaftStore::start(cfg.clone()).await.expect("start");
    m.wait_for_leader(std::time::Duration::from_secs(10))
        .await
        .expect("leader");
    let value = bytes::Bytes::from(vec![b'x'; 8 * 1024]);
    let mut acked = Vec::new();
    let mut failure = None;
    for i in 0..10_000 {
        let key = format!("/full/{i:05}");
        match m.put(key.clone().into(), value.clone()).await {
            Ok(_) => acked.push(key),
            Err(e) => {
                failure = Some(e);
                break;
            }
        }
    }
    let failure = failure.expect("a 6 MiB disk fills up before 80 MB are written");
    assert!(!acked.is_empty());
    eprintln!("disk full after {} writes: {failure}", acked.len());
    // Further writes fail too, rather than pretend.
    assert!(m.put("/full/more".into(), "x".into()).await.is_err());
    m.shutdown().await;

    // With room again, the member restarts and has every acknowledged write.
    disk.grow("256m");
    let m = RaftStore::start(cfg)
        .await
        .expect("restart after the disk was grown");
    m.wait_for_leader(std::time::Duration::from_secs(10))
        .await
        .expect("leader");
    let got = m
        .range(bosun_store::RangeRequest::prefix("/full/"))
        .await
        .expect("range");
    let keys: Vec<String> = got
        .kvs
        .iter()
        .map(|kv| String::from_utf8_lossy(&kv.key).into_owned())
        .collect();
    for key in &acked {
        assert!(keys.contains(key), "acknowledged write {key} lost");
    }
    m.put("/full/after".into(), "x".into())
        .await
        .expect("writes work again");
    m.shutdown().await;
}
