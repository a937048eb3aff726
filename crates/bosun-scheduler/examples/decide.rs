//! The scheduling decision alone, without I/O: `cargo run --release -p bosun-scheduler
//! --example decide [nodes] [pods]` places pods like `bosun bench scheduler`'s (100m CPU,
//! 64 MiB) one after the other on identical ready nodes (64 CPUs, 256 GiB, 110 pods) with the
//! default profile, and prints the microseconds each decision took on average, and each
//! explanation's encoding. Defaults: 5,000 nodes, 20,000 pods.

use bosun_scheduler::{Decision, Profile, Snapshot, schedule};
use k8s_openapi::api::core::v1::{Node, Pod};
use serde_json::json;
use std::sync::Arc;
use std::time::{Duration, Instant};

fn arg(n: usize, default: usize) -> usize {
    std::env::args()
        .nth(n)
        .and_then(|a| a.parse().ok())
        .unwrap_or(default)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (nodes, pods) = (arg(1, 5_000), arg(2, 20_000));
    let mut snapshot = Snapshot::default();
    for i in 0..nodes {
        let node: Node = serde_json::from_value(json!({
            "metadata": {"name": format!("sim-{i}"),
                "labels": {"kubernetes.io/hostname": format!("sim-{i}")}},
            "status": {"allocatable": {"cpu": "64", "memory": "256Gi", "pods": "110"},
                "conditions": [{"type": "Ready", "status": "True"}]}}))?;
        snapshot.upsert_node(Arc::new(node));
    }
    let pending: Vec<Pod> = (0..pods)
        .map(|i| {
            serde_json::from_value(json!({
                "metadata": {"name": format!("a-{i}"), "namespace": "default",
                    "uid": format!("u-{i}"), "labels": {"bench": "sched"}},
                "spec": {"containers": [{"name": "app", "image": "pause:3.10",
                    "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}}}]}}))
        })
        .collect::<Result<_, _>>()?;
    let profile = Profile::default();
    let (mut deciding, mut explaining) = (Duration::ZERO, Duration::ZERO);
    for (i, pod) in pending.iter().enumerate() {
        let t0 = Instant::now();
        let decision = schedule(pod, &snapshot, &profile, i);
        let t1 = Instant::now();
        let Decision::Bind { node, explanation } = decision else {
            return Err(format!("pod {i} was not placed: {decision:?}").into());
        };
        std::hint::black_box(serde_json::to_string(&explanation)?);
        let t2 = Instant::now();
        snapshot.add_pod(pod, &node);
        deciding += t1 - t0;
        explaining += t2 - t1;
    }
    let per_pod = |d: Duration| d.as_secs_f64() * 1e6 / pods.max(1) as f64;
    println!(
        "{pods} pods on {nodes} nodes: decision {:.1} µs per pod, explanation encoded {:.1} µs",
        per_pod(deciding),
        per_pod(explaining)
    );
    Ok(())
}
