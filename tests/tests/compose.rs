//! The HA dev cluster of `docker-compose.yml` on this machine's Docker engine, with an image
//! built from local files (`scripts/image`): three API server replicas on one embedded raft
//! group behind `bosun lb`, two schedulers, two controller managers, two node agents. The real
//! kubectl runs a Deployment across both nodes, execs into a pod through the API server and the
//! agent, and the cluster keeps working after an API server replica and the leading scheduler
//! are killed.

use bosun_e2e::{Kubectl, bosun_bin, free_port};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

const T: Duration = Duration::from_secs(120);

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// `docker-compose` for one project, torn down (containers, network, volumes, its image)
/// when dropped.
struct Compose {
    project: String,
    image: String,
    env: Vec<(&'static str, String)>,
}

impl Compose {
    fn run(&self, args: &[&str]) -> std::process::Output {
        Command::new("docker-compose")
            .current_dir(repo())
            .args(["-p", &self.project])
            .args(args)
            .envs(self.env.iter().map(|(k, v)| (*k, v.as_str())))
            .output()
            .expect("docker-compose on PATH")
    }

    fn ok(&self, args: &[&str]) {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "docker-compose {args:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

impl Drop for Compose {
    fn drop(&mut self) {
        let _ = self.run(&["down", "-v", "--remove-orphans", "-t", "2"]);
        let _ = Command::new("docker")
            .args(["rmi", "-f", &self.image])
            .output();
    }
}

/// The admin kubeconfig the API servers wrote, pointed at the published load balancer.
fn host_kubeconfig(shared: &Path, port: u16, out: &Path) -> PathBuf {
    let written = shared.join("kubeconfigs/admin.kubeconfig");
    let deadline = Instant::now() + T;
    while !written.exists() {
        assert!(Instant::now() < deadline, "no {}", written.display());
        std::thread::sleep(Duration::from_millis(250));
    }
    let text = std::fs::read_to_string(&written).expect("kubeconfig");
    assert!(text.contains("https://lb:6443"), "advertised URL: {text}");
    let path = out.join("kubeconfig");
    std::fs::write(
        &path,
        text.replace("https://lb:6443", &format!("https://127.0.0.1:{port}")),
    )
    .expect("write kubeconfig");
    path
}

#[test]
fn the_compose_cluster_runs_pods_on_both_nodes_and_survives_losing_a_replica_and_a_scheduler() {
    let dir = tempfile::tempdir().expect("tempdir");
    let shared = dir.path().join("shared");
    std::fs::create_dir_all(&shared).expect("shared dir");
    let port = free_port();
    let image = format!("bosun-e2e:{port}");
    let built = Command::new(repo().join("scripts/image"))
        .env("BOSUN_BIN", bosun_bin())
        .env("BOSUN_IMAGE", &image)
        .output()
        .expect("scripts/image");
    assert!(
        built.status.success(),
        "scripts/image: {}",
        String::from_utf8_lossy(&built.stderr)
    );
    let compose = Compose {
        project: format!("bosune2e{port}"),
        image: image.clone(),
        env: vec![
            ("BOSUN_IMAGE", image.clone()),
            ("BOSUN_PORT", port.to_string()),
            ("BOSUN_SHARED", shared.display().to_string()),
        ],
    };
    compose.ok(&["up", "-d"]);
    let k = Kubectl::new(host_kubeconfig(&shared, port, dir.path()));
    k.eventually(&["get", "nodes"], T, |o| o.matches(" Ready").count() == 2);

    k.ok(&[
        "create",
        "deployment",
        "web",
        "--image=busybox",
        "--replicas=4",
        "--",
        "sleep",
        "3600",
    ]);
    k.ok(&["rollout", "status", "deployment/web", "--timeout=120s"]);
    let nodes = k.ok(&[
        "get",
        "pods",
        "-l",
        "app=web",
        "-o",
        "jsonpath={.items[*].spec.nodeName}",
    ]);
    assert!(
        nodes.contains("node-1") && nodes.contains("node-2"),
        "pods on both nodes: {nodes}"
    );
    // exec goes kubectl → lb → an API server → the pod's node agent, across containers.
    let pod = k.ok(&[
        "get",
        "pods",
        "-l",
        "app=web",
        "-o",
        "jsonpath={.items[0].metadata.name}",
    ]);
    let out = k.ok(&[
        "exec",
        &pod,
        "--",
        "sh",
        "-c",
        "echo hello from $(hostname)",
    ]);
    assert!(out.starts_with("hello from node-"), "{out}");

    // Lose an API server replica and the scheduler that leads: the cluster goes on.
    compose.ok(&["kill", "apiserver-1"]);
    let leader = k.ok(&[
        "get",
        "lease",
        "-n",
        "kube-system",
        "kube-scheduler",
        "-o",
        "jsonpath={.spec.holderIdentity}",
    ]);
    assert!(leader.starts_with("scheduler-"), "{leader}");
    compose.ok(&["kill", &leader]);
    k.ok(&["scale", "deployment/web", "--replicas=6"]);
    k.ok(&["rollout", "status", "deployment/web", "--timeout=120s"]);
    let new_leader = k.ok(&[
        "get",
        "lease",
        "-n",
        "kube-system",
        "kube-scheduler",
        "-o",
        "jsonpath={.spec.holderIdentity}",
    ]);
    assert_ne!(new_leader, leader, "the standby scheduler took over");
    k.ok(&["delete", "deployment", "web"]);
}
