//! The scheduler under `bosun up --nodes 2` with the real kubectl: pods without a node are
//! spread over the nodes and say why they went there; a pod that fits nowhere stays Pending
//! with kube-scheduler's message and an Event, and is placed once a node that fits appears;
//! a standby scheduler takes over when the leader is killed.

use bosun_e2e::{Frozen, Kubectl, Proc, Up};
use std::time::Duration;

const T: Duration = Duration::from_secs(30);

fn sleeper(name: &str, cpu: &str) -> String {
    format!(
        r#"
apiVersion: v1
kind: Pod
metadata: {{name: {name}, labels: {{app: sleeper}}}}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: c
    image: sleep
    command: ["sleep", "3600"]
    resources: {{requests: {{cpu: "{cpu}"}}}}
"#
    )
}

#[test]
fn pods_are_spread_explained_and_unschedulable_ones_say_why() {
    let dir = tempfile::tempdir().expect("tempdir");
    let up = Up::start(dir.path(), &["--nodes", "2"]);
    let k = Kubectl::new(up.kubeconfig());
    k.eventually(&["get", "nodes"], T, |o| o.matches(" Ready").count() == 2);

    for i in 0..4 {
        k.apply(&sleeper(&format!("s{i}"), "100m"));
    }
    k.ok(&[
        "wait",
        "--for=condition=Ready",
        "pod",
        "-l",
        "app=sleeper",
        "--timeout=30s",
    ]);
    let nodes = k.ok(&[
        "get",
        "pods",
        "-l",
        "app=sleeper",
        "-o",
        "jsonpath={.items[*].spec.nodeName}",
    ]);
    assert_eq!(
        nodes.matches("bosun-node-0").count(),
        2,
        "LeastAllocated spreads: {nodes}"
    );
    assert_eq!(
        nodes.matches("bosun-node-1").count(),
        2,
        "LeastAllocated spreads: {nodes}"
    );
    let why = k.ok(&[
        "get",
        "pod",
        "s0",
        "-o",
        "jsonpath={.metadata.annotations.scheduling\\.bosun\\.dev/explanation}",
    ]);
    assert!(
        why.contains("NodeResourcesFit") && why.contains("\"feasible\":2"),
        "{why}"
    );
    let events = k.ok(&[
        "get",
        "events",
        "--field-selector",
        "involvedObject.name=s0,reason=Scheduled",
    ]);
    assert!(
        events.contains("Successfully assigned default/s0 to bosun-node-"),
        "{events}"
    );

    // Too big for any node: Pending with the reasons, then placed when a node fits.
    k.apply(&sleeper("huge", "1000"));
    let cond = k.eventually(
        &[
            "get",
            "pod",
            "huge",
            "-o",
            "jsonpath={.status.conditions[?(@.type==\"PodScheduled\")].message}",
        ],
        T,
        |o| !o.is_empty(),
    );
    assert_eq!(
        cond,
        "0/2 nodes are available: 2 Insufficient cpu. \
         preemption: 0/2 nodes are available: 2 No preemption victims found for incoming pod."
    );
    let events = k.eventually(
        &[
            "get",
            "events",
            "--field-selector",
            "involvedObject.name=huge",
        ],
        T,
        |o| o.contains("FailedScheduling"),
    );
    assert!(events.contains("Insufficient cpu"), "{events}");
    let agent = Proc::start(
        &[
            "node".to_string(),
            "--name".into(),
            "big-node".into(),
            "--kubeconfig".into(),
            up.kubeconfig().display().to_string(),
            "--data-dir".into(),
            dir.path().join("big").display().to_string(),
            "--pod-cidr".into(),
            "127.121.0.0/24".into(),
            "--port".into(),
            "0".into(),
            "--cpu-milli".into(),
            "2000000".into(),
            "--stop-pods-on-exit".into(),
        ],
        dir.path().join("big.log"),
    );
    k.eventually(
        &["get", "pod", "huge", "-o", "jsonpath={.spec.nodeName}"],
        T,
        |o| o == "big-node",
    );
    k.ok(&["delete", "pod", "huge", "--timeout=30s"]);
    drop(agent);
}

#[test]
fn a_standby_scheduler_takes_over_when_the_leader_dies() {
    let dir = tempfile::tempdir().expect("tempdir");
    let up = Up::start(dir.path(), &["--nodes", "1"]);
    let k = Kubectl::new(up.kubeconfig());
    // `bosun up` is ready before its scheduler holds the lease: wait for it, or the standby
    // could win the first election.
    k.eventually(
        &[
            "get",
            "lease",
            "-n",
            "kube-system",
            "kube-scheduler",
            "-o",
            "jsonpath={.spec.holderIdentity}",
        ],
        T,
        |o| !o.is_empty(),
    );
    let _standby = Proc::start(
        &[
            "scheduler".to_string(),
            "--kubeconfig".into(),
            up.kubeconfig().display().to_string(),
            "--identity".into(),
            "standby".into(),
            "--lease-duration-s".into(),
            "4".into(),
        ],
        dir.path().join("standby.log"),
    );
    k.apply(&sleeper("first", "10m"));
    k.eventually(
        &["get", "pod", "first", "-o", "jsonpath={.spec.nodeName}"],
        T,
        |o| o == "bosun-node-0",
    );
    let holder = k.ok(&[
        "get",
        "lease",
        "-n",
        "kube-system",
        "kube-scheduler",
        "-o",
        "jsonpath={.spec.holderIdentity}",
    ]);
    assert_ne!(
        holder, "standby",
        "bosun up's scheduler started first and leads"
    );

    // Freeze the leader (SIGSTOP; `bosun up` would restart a killed one): no step-down, the
    // lease must expire.
    let _frozen = Frozen::pid_file(&up.data.join("run/scheduler.pid"));
    k.apply(&sleeper("second", "10m"));
    k.eventually(
        &["get", "pod", "second", "-o", "jsonpath={.spec.nodeName}"],
        T,
        |o| o == "bosun-node-0",
    );
    let holder = k.ok(&[
        "get",
        "lease",
        "-n",
        "kube-system",
        "kube-scheduler",
        "-o",
        "jsonpath={.spec.holderIdentity}",
    ]);
    assert_eq!(holder, "standby");
}
