//! `bosun apiserver` replicas: three on one embedded raft store (any replica serves reads and
//! writes; losing the store leader's replica to SIGKILL loses nothing), and one on a real etcd.

use bosun_e2e::{Proc, free_port};
use std::path::Path;
use std::process::Command;

fn repo() -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}
use std::time::{Duration, Instant};

fn kubectl(kubeconfig: &Path, server: &str, cache: &Path, args: &[&str]) -> (bool, String) {
    let out = Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .args(["--server", server, "--cache-dir"])
        .arg(cache)
        .args(args)
        .env("HOME", cache)
        .current_dir(repo())
        .output()
        .expect("kubectl on PATH");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

fn wait_ready(proc: &Proc) {
    let deadline = Instant::now() + Duration::from_secs(40);
    while !proc.log_text().contains("is ready") {
        assert!(Instant::now() < deadline, "not ready:\n{}", proc.log_text());
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn three_replicas_on_one_embedded_store_serve_and_survive_losing_one() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cache = dir.path().join("cache");
    let members: Vec<String> = (0..3)
        .map(|_| format!("127.0.0.1:{}", free_port()))
        .collect();
    let apis: Vec<String> = (0..3)
        .map(|_| format!("127.0.0.1:{}", free_port()))
        .collect();
    let initial = members
        .iter()
        .enumerate()
        .map(|(i, m)| format!("{}={m}", i + 1))
        .collect::<Vec<_>>()
        .join(",");
    let kubeconfig = dir.path().join("kubeconfig");
    // The PKI and tokens are created once, then shared.
    let args = |i: usize| -> Vec<String> {
        vec![
            "apiserver".into(),
            "--id".into(),
            (i + 1).to_string(),
            "--cluster".into(),
            "ha".into(),
            "--listen".into(),
            apis[i].clone(),
            "--member-listen".into(),
            members[i].clone(),
            "--initial-members".into(),
            initial.clone(),
            "--data-dir".into(),
            dir.path()
                .join(format!("store{}", i + 1))
                .display()
                .to_string(),
            "--pki-dir".into(),
            dir.path().join("pki").display().to_string(),
            "--token-file".into(),
            dir.path().join("tokens.csv").display().to_string(),
            "--kubeconfig".into(),
            kubeconfig.display().to_string(),
        ]
    };
    let mut first = Proc::start(&args(0), dir.path().join("r1.log"));
    // Replica 1 creates the shared PKI before the others read it.
    let deadline = Instant::now() + Duration::from_secs(20);
    while !dir.path().join("tokens.csv").exists() || !dir.path().join("pki/apiserver.key").exists()
    {
        assert!(Instant::now() < deadline, "no PKI:\n{}", first.log_text());
        std::thread::sleep(Duration::from_millis(50));
    }
    let mut procs = vec![
        Some(Proc::start(&args(1), dir.path().join("r2.log"))),
        Some(Proc::start(&args(2), dir.path().join("r3.log"))),
    ];
    wait_ready(&first);
    for p in procs.iter().flatten() {
        wait_ready(p);
    }
    let server = |i: usize| format!("https://{}", apis[i]);

    let (ok, out) = kubectl(
        &kubeconfig,
        &server(0),
        &cache,
        &["apply", "-f", "manifests/config.yaml"],
    );
    assert!(ok, "{out}");
    let (ok, out) = kubectl(
        &kubeconfig,
        &server(2),
        &cache,
        &["get", "cm", "web-config", "-o", "jsonpath={.data.greeting}"],
    );
    assert!(
        ok && out == "hello",
        "a write through replica 1 is read through replica 3: {out}"
    );

    // Kill replica 1 (it bootstrapped the store group, so its member is likely the leader).
    first.kill();
    let (ok, out) = kubectl(
        &kubeconfig,
        &server(1),
        &cache,
        &["create", "configmap", "after", "--from-literal=x=y"],
    );
    assert!(ok, "writes go on through another replica: {out}");
    let (ok, out) = kubectl(
        &kubeconfig,
        &server(2),
        &cache,
        &["get", "cm", "after", "web-config", "-o", "name"],
    );
    assert!(
        ok && out.contains("configmap/after") && out.contains("configmap/web-config"),
        "{out}"
    );
    procs.clear();
}

#[test]
fn an_apiserver_on_a_real_etcd_serves_kubectl() {
    let dir = tempfile::tempdir().expect("tempdir");
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let etcd = runtime
        .block_on(bosun_store_etcd::process::EtcdCluster::start(
            1,
            &dir.path().join("etcd"),
        ))
        .unwrap_or_else(|e| panic!("{e}"));
    let api = format!("127.0.0.1:{}", free_port());
    let kubeconfig = dir.path().join("kubeconfig");
    let args: Vec<String> = vec![
        "apiserver".into(),
        "--listen".into(),
        api.clone(),
        "--etcd-endpoints".into(),
        etcd.client_endpoints().join(","),
        "--pki-dir".into(),
        dir.path().join("pki").display().to_string(),
        "--token-file".into(),
        dir.path().join("tokens.csv").display().to_string(),
        "--kubeconfig".into(),
        kubeconfig.display().to_string(),
    ];
    let proc = Proc::start(&args, dir.path().join("api.log"));
    wait_ready(&proc);
    let cache = dir.path().join("cache");
    let server = format!("https://{api}");
    let (ok, out) = kubectl(
        &kubeconfig,
        &server,
        &cache,
        &["apply", "-f", "manifests/web-deployment.yaml"],
    );
    assert!(ok, "{out}");
    let (ok, out) = kubectl(
        &kubeconfig,
        &server,
        &cache,
        &["get", "deploy", "web", "-o", "jsonpath={.spec.replicas}"],
    );
    assert!(ok && out == "2", "{out}");
    let (ok, out) = kubectl(&kubeconfig, &server, &cache, &["get", "ns"]);
    assert!(ok && out.contains("kube-system"), "{out}");
    drop(proc);
    drop(etcd);
}
