//! Resource metrics and the HorizontalPodAutoscaler under `bosun up`, with the real kubectl:
//! `kubectl top` reads the usage the node agent measures, and an HPA scales a busy Deployment.

use bosun_e2e::{Kubectl, Up};
use std::time::Duration;

const T: Duration = Duration::from_secs(90);
const MARKER: &str = "hpa-burn-7731";

/// Kills the test's busy processes even when the test fails.
struct Cleanup;

impl Drop for Cleanup {
    fn drop(&mut self) {
        let _ = std::process::Command::new("pkill")
            .args(["-f", MARKER])
            .status();
    }
}

/// A container busy about a fifth of a core, requesting a hundredth of one.
fn busy_deployment() -> String {
    format!(
        r#"
apiVersion: apps/v1
kind: Deployment
metadata: {{name: burn}}
spec:
  replicas: 1
  selector: {{matchLabels: {{app: burn}}}}
  template:
    metadata: {{labels: {{app: burn}}}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: c
        image: python
        command:
        - python3
        - -c
        - |
          import time
          while True:
              t = time.time()
              while time.time() - t < 0.01:
                  pass
              time.sleep(0.04)
        - {MARKER}
        resources:
          requests: {{cpu: 10m, memory: 10Mi}}
"#
    )
}

const HPA: &str = r#"
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: burn}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: burn}
  minReplicas: 1
  maxReplicas: 3
  metrics:
  - type: Resource
    resource: {name: cpu, target: {type: Utilization, averageUtilization: 50}}
"#;

#[test]
fn kubectl_top_reads_usage_and_an_hpa_scales_a_busy_deployment() {
    let _cleanup = Cleanup;
    let dir = tempfile::tempdir().expect("tempdir");
    let up = Up::start(dir.path(), &["--nodes", "1"]);
    let k = Kubectl::new(up.kubeconfig());
    k.eventually(&["get", "nodes"], T, |o| o.contains(" Ready"));

    k.apply(&busy_deployment());
    k.ok(&["rollout", "status", "deployment/burn", "--timeout=60s"]);

    // kubectl top finds metrics.k8s.io through discovery and prints the measured usage.
    let nodes = k.eventually(&["top", "nodes", "--no-headers"], T, |o| {
        o.contains("bosun-node-0")
    });
    let cols: Vec<&str> = nodes.split_whitespace().collect();
    assert!(
        cols.get(1).is_some_and(|c| c.ends_with('m'))
            && cols.get(3).is_some_and(|c| c.ends_with("Mi")),
        "node usage in cores and bytes: {nodes}"
    );
    let pods = k.eventually(&["top", "pods", "-l", "app=burn", "--no-headers"], T, |o| {
        o.starts_with("burn-")
    });
    let cpu_milli: u64 = pods
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.strip_suffix('m'))
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("pod cpu in millicores: {pods}"));
    assert!(
        cpu_milli > 20,
        "the busy pod uses well over its 10m request: {pods}"
    );

    // Far above a 50% target, the HPA scales the Deployment to its maximum, and says so.
    k.apply(HPA);
    k.eventually(
        &[
            "get",
            "deployment",
            "burn",
            "-o",
            "jsonpath={.spec.replicas}",
        ],
        T,
        |o| o == "3",
    );
    let status = k.eventually(
        &[
            "get",
            "hpa",
            "burn",
            "-o",
            "jsonpath={.status.desiredReplicas} {.status.currentMetrics[0].resource.current.averageUtilization}",
        ],
        T,
        |o| o.starts_with("3 "),
    );
    let utilization: u64 = status
        .split_whitespace()
        .nth(1)
        .and_then(|u| u.parse().ok())
        .unwrap_or_else(|| panic!("utilization in status: {status}"));
    assert!(utilization > 50, "{status}");
    let events = k.ok(&[
        "get",
        "events",
        "--field-selector",
        "reason=SuccessfulRescale",
        "-o",
        "jsonpath={.items[*].message}",
    ]);
    assert!(
        events.contains(
            "New size: 3; reason: cpu resource utilization (percentage of request) above target"
        ),
        "{events}"
    );
    let described = k.ok(&["describe", "hpa", "burn"]);
    assert!(described.contains("ScalingLimited"), "{described}");

    k.ok(&["delete", "deployment", "burn", "--wait=true"]);
}
