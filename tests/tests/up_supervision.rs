//! `bosun up` supervises its children: a component that dies is started again.

use bosun_e2e::{Kubectl, Up};
use std::time::{Duration, Instant};

fn pid_of(up: &Up, name: &str) -> String {
    std::fs::read_to_string(up.data.join(format!("run/{name}.pid")))
        .unwrap_or_default()
        .trim()
        .to_string()
}

#[test]
fn a_component_that_dies_is_restarted_and_the_cluster_keeps_working() {
    let dir = tempfile::tempdir().expect("tempdir");
    let up = Up::start(dir.path(), &["--nodes", "1"]);
    let k = Kubectl::new(up.kubeconfig());
    k.eventually(&["get", "nodes"], Duration::from_secs(60), |o| {
        o.contains(" Ready")
    });

    let before = pid_of(&up, "controller-manager");
    assert!(!before.is_empty());
    // The node agent and the controller manager run as their own binaries (built beside
    // bosun by `cargo build -p bosun`), not as the all-in-one bosun.
    for (pid, binary) in [
        (before.clone(), "bosun-controller-manager"),
        (pid_of(&up, "bosun-node-0"), "bosun-node"),
    ] {
        let exe = std::fs::read_link(format!("/proc/{pid}/exe")).expect("the process's binary");
        assert_eq!(
            exe.file_name().and_then(|n| n.to_str()),
            Some(binary),
            "{}",
            exe.display()
        );
    }
    let killed = std::process::Command::new("kill")
        .args(["-9", &before])
        .status()
        .expect("kill");
    assert!(killed.success());

    // A new controller manager is running under a new pid.
    let deadline = Instant::now() + Duration::from_secs(30);
    let after = loop {
        let now = pid_of(&up, "controller-manager");
        if !now.is_empty()
            && now != before
            && std::path::Path::new(&format!("/proc/{now}")).exists()
        {
            break now;
        }
        assert!(
            Instant::now() < deadline,
            "controller-manager not restarted"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_ne!(after, before);
    // bosun up says so in its own output.
    let log = up.proc.log_text();
    assert!(
        log.contains("controller-manager exited") && log.contains("restarting it in 1 s"),
        "{log}"
    );
    // And it works: a Deployment (the controller manager's job) rolls out.
    k.ok(&[
        "create",
        "deployment",
        "after",
        "--image=sleep",
        "--",
        "sleep",
        "7741",
    ]);
    k.ok(&["rollout", "status", "deployment/after", "--timeout=60s"]);
    k.ok(&["delete", "deployment", "after"]);
}
