//! The embedded store as real processes: `bosun store member` killed with SIGKILL and restarted.

use bosun_e2e::{Proc, free_port, run, wait_for};
use bosun_store::{Op, RangeRequest, Txn};
use bosun_store_raft::{MemberStatus, RaftClient};
use std::time::Duration;

struct Group {
    dir: tempfile::TempDir,
    addrs: Vec<String>,
    procs: Vec<Option<Proc>>,
}

impl Group {
    fn args(&self, i: usize) -> Vec<String> {
        let initial = self
            .addrs
            .iter()
            .enumerate()
            .map(|(j, a)| format!("{}={a}", j + 1))
            .collect::<Vec<_>>()
            .join(",");
        vec![
            "store".into(),
            "member".into(),
            "--cluster".into(),
            "e2e".into(),
            "--id".into(),
            (i + 1).to_string(),
            "--listen".into(),
            self.addrs[i].clone(),
            "--initial-members".into(),
            initial,
            "--snapshot-every".into(),
            "50".into(),
            "--data-dir".into(),
            self.dir
                .path()
                .join(format!("m{}", i + 1))
                .display()
                .to_string(),
        ]
    }

    fn start(&mut self, i: usize) {
        let log = self.dir.path().join(format!("m{}.log", i + 1));
        self.procs[i] = Some(Proc::start(&self.args(i), log));
    }

    fn kill(&mut self, i: usize) {
        if let Some(mut p) = self.procs[i].take() {
            p.kill();
        }
    }
}

async fn status(addr: &str) -> Option<MemberStatus> {
    reqwest::get(format!("http://{addr}/status"))
        .await
        .ok()?
        .json()
        .await
        .ok()
}

async fn leader(addrs: &[String]) -> Option<usize> {
    for a in addrs {
        if let Some(s) = status(a).await
            && s.leader == Some(s.id)
        {
            return Some(s.id as usize - 1);
        }
    }
    None
}

/// Write `keys` through the group, retrying a key until it is acknowledged.
async fn write_all(client: &RaftClient, keys: impl Iterator<Item = String>) {
    for key in keys {
        let txn = Txn::new().and_then([Op::put(key.clone(), "v")]);
        let mut tries = 0;
        while let Err(e) = client.txn(&txn).await {
            tries += 1;
            assert!(tries < 200, "write {key} never acknowledged: {e}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// The keys of `0..n` under `/e2e/` that a linearizable read does not return; `None` when the
/// read is refused (no leader or no quorum yet).
async fn missing(client: &RaftClient, n: usize) -> Option<Vec<String>> {
    let have: std::collections::HashSet<String> = client
        .range(&RangeRequest::prefix("/e2e/".to_string()))
        .await
        .ok()?
        .kvs
        .iter()
        .map(|kv| String::from_utf8_lossy(&kv.key).into_owned())
        .collect();
    Some(
        (0..n)
            .map(|i| format!("/e2e/{i:04}"))
            .filter(|k| !have.contains(k))
            .collect(),
    )
}

/// Linearizable reads through one member from the moment it starts, until it has answered
/// `answers` of them: every answer must hold all `n` keys. The first reads a member answers
/// are the ones a stale commit index would spoil.
async fn every_read_is_complete(client: RaftClient, n: usize, answers: usize) {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let mut answered = 0;
    while answered < answers {
        assert!(
            std::time::Instant::now() < deadline,
            "{answered} reads answered within 30 s of the restart"
        );
        match missing(&client, n).await {
            Some(gone) => {
                assert_eq!(
                    gone,
                    Vec::<String>::new(),
                    "read {answered} after the restart lost acknowledged keys"
                );
                answered += 1;
            }
            None => tokio::time::sleep(Duration::from_millis(2)).await,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn member_processes_survive_sigkill_of_the_leader_and_of_the_whole_group() {
    let dir = tempfile::tempdir().expect("tempdir");
    let addrs: Vec<String> = (0..3)
        .map(|_| format!("127.0.0.1:{}", free_port()))
        .collect();
    let mut group = Group {
        dir,
        addrs: addrs.clone(),
        procs: vec![None, None, None],
    };
    for i in 0..3 {
        group.start(i);
    }
    wait_for("a leader", Duration::from_secs(30), || async {
        leader(&addrs).await.is_some()
    })
    .await;
    let client = RaftClient::new("e2e", addrs.clone());
    write_all(&client, (0..200).map(|i| format!("/e2e/{i:04}"))).await;

    let old = leader(&addrs).await.expect("leader");
    group.kill(old);
    write_all(&client, (200..300).map(|i| format!("/e2e/{i:04}"))).await;
    group.start(old);
    // The restarted member catches up with the others.
    wait_for(
        "the restarted member to catch up",
        Duration::from_secs(30),
        || async {
            let revs: Vec<i64> = futures_revisions(&addrs).await;
            revs.len() == 3 && revs.iter().all(|r| *r == revs[0]) && revs[0] >= 300
        },
    )
    .await;
    // Every acknowledged write is there before the whole group goes down (this tells a write
    // lost around the leader change from one lost in the restart).
    assert_eq!(
        missing(&client, 300).await,
        Some(Vec::new()),
        "acknowledged keys missing after the leader change"
    );

    for i in 0..3 {
        group.kill(i);
    }
    for i in 0..3 {
        group.start(i);
    }
    // Reads go to every member while the group comes back: the member that led before the
    // crash resumes as leader of its term, and its saved commit index may predate the last
    // acknowledged write.
    let readers: Vec<_> = (0..3)
        .map(|i| tokio::spawn(every_read_is_complete(client.pinned(i), 300, 20)))
        .collect();
    for r in readers {
        r.await.expect("reader");
    }
}

async fn futures_revisions(addrs: &[String]) -> Vec<i64> {
    let mut out = Vec::new();
    for a in addrs {
        if let Some(s) = status(a).await {
            out.push(s.revision);
        }
    }
    out
}

fn member_args<'a>(dir: &'a str, port: &'a str) -> Vec<&'a str> {
    vec!["store", "member", "--data-dir", dir, "--listen", port]
}

#[test]
fn a_member_refuses_a_truncated_log_and_names_the_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).expect("mkdir");
    let db = data.join("raft.redb");
    std::fs::write(
        &db,
        b"this is not a redb file, just garbage bytes of some length",
    )
    .expect("write");
    let out = run(&member_args(
        &data.display().to_string(),
        &format!("127.0.0.1:{}", free_port()),
    ));
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&db.display().to_string()),
        "stderr names the file: {stderr}"
    );
}

#[test]
fn a_busy_port_is_a_one_line_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let busy = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = busy.local_addr().expect("addr").to_string();
    let out = run(&member_args(&dir.path().display().to_string(), &addr));
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "one line: {stderr}");
    assert!(
        lines[0].contains(&addr) && lines[0].contains("in use"),
        "{stderr}"
    );
}
