//! Priorities, preemption and profiles under `bosun up` with node agents of a known size and
//! the real kubectl: PriorityClasses set pod priorities (a missing class is refused); a
//! high-priority pod that fits nowhere evicts the fewest, least important pods and binds where
//! it was nominated, while a `preemptionPolicy: Never` pod waits; a second scheduler started
//! with `--config` serves its own profile (MostAllocated packing, preferred anti-affinity
//! still spreading); required anti-affinity keeps pods apart; a pod naming a scheduler nobody
//! runs is left untouched; a bad configuration stops the scheduler with the plugin's name.

use bosun_e2e::{Kubectl, Proc, Up};
use std::path::Path;
use std::time::{Duration, Instant};

const T: Duration = Duration::from_secs(30);

/// A node agent, stopped with SIGTERM when dropped so that it stops its pods
/// (`--stop-pods-on-exit`) instead of leaving them running.
struct Agent(Proc);

impl Drop for Agent {
    fn drop(&mut self) {
        let pid = self.0.child.id().to_string();
        let _ = std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.0.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// A node agent named `name` with `cpu_milli` of cpu.
fn node(up: &Up, dir: &Path, name: &str, cidr: &str, cpu_milli: u32) -> Agent {
    let args: Vec<String> = [
        "node",
        "--name",
        name,
        "--kubeconfig",
        &up.kubeconfig().display().to_string(),
        "--data-dir",
        &dir.join(name).display().to_string(),
        "--pod-cidr",
        cidr,
        "--port",
        "0",
        "--cpu-milli",
        &cpu_milli.to_string(),
        "--stop-pods-on-exit",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    Agent(Proc::start(&args, dir.join(format!("{name}.log"))))
}

fn pod(name: &str, cpu: &str, extra_spec: &str) -> String {
    format!(
        r#"
apiVersion: v1
kind: Pod
metadata: {{name: {name}, labels: {{app: {name}}}}}
spec:
  terminationGracePeriodSeconds: 1
  {extra_spec}
  containers:
  - name: c
    image: sleep
    command: ["sleep", "3600"]
    resources: {{requests: {{cpu: "{cpu}"}}}}
"#
    )
}

fn node_of(k: &Kubectl, pod: &str) -> String {
    k.ok(&["get", "pod", pod, "-o", "jsonpath={.spec.nodeName}"])
}

#[test]
fn a_high_priority_pod_preempts_the_least_important_pods_and_binds_where_nominated() {
    let dir = tempfile::tempdir().expect("tempdir");
    let up = Up::start(dir.path(), &["--nodes", "0"]);
    let k = Kubectl::new(up.kubeconfig());
    let _small = node(&up, dir.path(), "small", "127.123.0.0/24", 1000);
    k.eventually(&["get", "nodes"], T, |o| o.contains(" Ready"));
    k.apply(
        r#"
apiVersion: scheduling.k8s.io/v1
kind: PriorityClass
metadata: {name: low}
value: 100
---
apiVersion: scheduling.k8s.io/v1
kind: PriorityClass
metadata: {name: mid}
value: 200
---
apiVersion: scheduling.k8s.io/v1
kind: PriorityClass
metadata: {name: high}
value: 1000
---
apiVersion: scheduling.k8s.io/v1
kind: PriorityClass
metadata: {name: high-polite}
value: 1000
preemptionPolicy: Never
"#,
    );

    let classes = k.ok(&["get", "priorityclasses"]);
    assert!(
        classes.contains("system-node-critical") && classes.contains("2000001000"),
        "{classes}"
    );

    // Priority admission, through kubectl.
    let refused = k.run(
        &["apply", "-f", "-"],
        Some(&pod("ghost", "10m", "priorityClassName: nope")),
    );
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr)
            .contains("no PriorityClass with name nope was found"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );

    // Fill the node: 900m of 1000m.
    k.apply(&pod("low-a", "300m", "priorityClassName: low"));
    k.eventually(
        &["get", "pod", "low-a", "-o", "jsonpath={.spec.nodeName}"],
        T,
        |o| o == "small",
    );
    k.apply(&pod("low-b", "300m", "priorityClassName: low"));
    k.apply(&pod("mid", "300m", "priorityClassName: mid"));
    for p in ["low-b", "mid"] {
        k.eventually(
            &["get", "pod", p, "-o", "jsonpath={.spec.nodeName}"],
            T,
            |o| o == "small",
        );
    }
    assert_eq!(
        k.ok(&["get", "pod", "mid", "-o", "jsonpath={.spec.priority}"]),
        "200"
    );

    // 500m needs two of the 300m pods gone: the two low ones, not mid.
    k.apply(&pod("urgent", "500m", "priorityClassName: high"));
    k.eventually(
        &["get", "pod", "urgent", "-o", "jsonpath={.spec.nodeName}"],
        T,
        |o| o == "small",
    );
    assert_eq!(
        k.ok(&[
            "get",
            "pod",
            "urgent",
            "-o",
            "jsonpath={.status.nominatedNodeName}"
        ]),
        "small"
    );
    for victim in ["low-a", "low-b"] {
        k.eventually(&["get", "pods", "-o", "name"], T, |o| {
            !o.contains(&format!("pod/{victim}\n"))
        });
    }
    assert_eq!(
        node_of(&k, "mid"),
        "small",
        "mid is more important and stays"
    );
    let events = k.eventually(
        &[
            "get",
            "events",
            "--field-selector",
            "reason=Preempted",
            "-o",
            "jsonpath={.items[*].message}",
        ],
        T,
        |o| o.matches("Preempted by pod").count() == 2,
    );
    assert!(events.contains("on node small"), "{events}");

    // Never preempts: it waits, and mid stays.
    k.apply(&pod("polite", "500m", "priorityClassName: high-polite"));
    let cond = k.eventually(
        &[
            "get",
            "pod",
            "polite",
            "-o",
            "jsonpath={.status.conditions[?(@.type==\"PodScheduled\")].message}",
        ],
        T,
        |o| !o.is_empty(),
    );
    assert_eq!(
        cond,
        "0/1 nodes are available: 1 Insufficient cpu. \
         preemption: not eligible due to preemptionPolicy=Never."
    );
    assert_eq!(node_of(&k, "polite"), "");
    assert_eq!(node_of(&k, "mid"), "small");
    // One preemption, not one per attempt.
    let events = k.ok(&[
        "get",
        "events",
        "--field-selector",
        "reason=Preempted",
        "-o",
        "name",
    ]);
    assert_eq!(events.lines().count(), 2, "{events}");
}

const PACKER: &str = r#"
apiVersion: kubescheduler.config.k8s.io/v1
kind: KubeSchedulerConfiguration
leaderElection: {leaderElect: true, resourceName: packer}
profiles:
- schedulerName: packer
  plugins:
    score:
      disabled: [{name: NodeResourcesBalancedAllocation}]
  pluginConfig:
  - name: NodeResourcesFit
    args: {scoringStrategy: {type: MostAllocated}}
"#;

#[test]
fn a_second_profile_packs_anti_affinity_spreads_and_unknown_schedulers_are_left_alone() {
    let dir = tempfile::tempdir().expect("tempdir");
    let up = Up::start(dir.path(), &["--nodes", "0"]);
    let k = Kubectl::new(up.kubeconfig());
    let kubeconfig = up.kubeconfig().display().to_string();

    // A bad configuration stops the scheduler at once, naming the plugin.
    let bad = dir.path().join("bad.yaml");
    std::fs::write(
        &bad,
        "apiVersion: kubescheduler.config.k8s.io/v1\nprofiles:\n- plugins: {filter: {enabled: [{name: Bogus}]}}\n",
    )
    .expect("write");
    let out = bosun_e2e::run(&[
        "scheduler",
        "--kubeconfig",
        &kubeconfig,
        "--config",
        &bad.display().to_string(),
    ]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("unknown plugin \"Bogus\" at plugins.filter"),
        "{err}"
    );

    let config = dir.path().join("packer.yaml");
    std::fs::write(&config, PACKER).expect("write");
    let _packer = Proc::start(
        &[
            "scheduler".to_string(),
            "--kubeconfig".into(),
            kubeconfig.clone(),
            "--config".into(),
            config.display().to_string(),
        ],
        dir.path().join("packer.log"),
    );
    let _n0 = node(&up, dir.path(), "n0", "127.124.0.0/24", 4000);
    let _n1 = node(&up, dir.path(), "n1", "127.124.1.0/24", 4000);
    k.eventually(&["get", "nodes"], T, |o| o.matches(" Ready").count() == 2);

    // Nobody runs "nobody": the pod stays Pending without a word.
    k.apply(&pod("orphan", "10m", "schedulerName: nobody"));

    // The packer puts its pods on one node (MostAllocated); the default scheduler would
    // spread them.
    for i in 0..3 {
        let name = format!("packed-{i}");
        k.apply(&pod(&name, "200m", "schedulerName: packer"));
        k.eventually(
            &["get", "pod", &name, "-o", "jsonpath={.spec.nodeName}"],
            T,
            |o| !o.is_empty(),
        );
    }
    let nodes: Vec<String> = (0..3)
        .map(|i| node_of(&k, &format!("packed-{i}")))
        .collect();
    assert!(nodes.iter().all(|n| *n == nodes[0]), "packed: {nodes:?}");
    let events = k.ok(&[
        "get",
        "events",
        "--field-selector",
        "involvedObject.name=packed-0,reason=Scheduled",
    ]);
    assert!(
        events.contains("Successfully assigned default/packed-0"),
        "{events}"
    );

    // Preferred anti-affinity outweighs packing: the second pod goes to the other node.
    let prefer = |name: &str| {
        pod(
            name,
            "100m",
            r#"schedulerName: packer
  affinity:
    podAntiAffinity:
      preferredDuringSchedulingIgnoredDuringExecution:
      - weight: 100
        podAffinityTerm:
          labelSelector: {matchExpressions: [{key: app, operator: In, values: [pref-a, pref-b]}]}
          topologyKey: kubernetes.io/hostname"#,
        )
    };
    k.apply(&prefer("pref-a"));
    k.eventually(
        &["get", "pod", "pref-a", "-o", "jsonpath={.spec.nodeName}"],
        T,
        |o| !o.is_empty(),
    );
    k.apply(&prefer("pref-b"));
    k.eventually(
        &["get", "pod", "pref-b", "-o", "jsonpath={.spec.nodeName}"],
        T,
        |o| !o.is_empty(),
    );
    assert_ne!(node_of(&k, "pref-a"), node_of(&k, "pref-b"));

    // Required anti-affinity (default scheduler): one per node, the third waits.
    let apart = |name: &str| {
        pod(
            name,
            "10m",
            r#"affinity:
    podAntiAffinity:
      requiredDuringSchedulingIgnoredDuringExecution:
      - labelSelector: {matchExpressions: [{key: app, operator: In, values: [apart-0, apart-1, apart-2]}]}
        topologyKey: kubernetes.io/hostname"#,
        )
    };
    for i in 0..2 {
        let name = format!("apart-{i}");
        k.apply(&apart(&name));
        k.eventually(
            &["get", "pod", &name, "-o", "jsonpath={.spec.nodeName}"],
            T,
            |o| !o.is_empty(),
        );
    }
    assert_ne!(node_of(&k, "apart-0"), node_of(&k, "apart-1"));
    k.apply(&apart("apart-2"));
    let cond = k.eventually(
        &[
            "get",
            "pod",
            "apart-2",
            "-o",
            "jsonpath={.status.conditions[?(@.type==\"PodScheduled\")].message}",
        ],
        T,
        |o| !o.is_empty(),
    );
    assert_eq!(
        cond,
        "0/2 nodes are available: 2 node(s) didn't match pod anti-affinity rules. \
         preemption: 0/2 nodes are available: 2 No preemption victims found for incoming pod."
    );

    // Both schedulers have handled later pods; the orphan is as it was created.
    assert_eq!(node_of(&k, "orphan"), "");
    assert_eq!(
        k.ok(&[
            "get",
            "pod",
            "orphan",
            "-o",
            "jsonpath={.status.conditions}"
        ]),
        ""
    );
    let events = k.ok(&[
        "get",
        "events",
        "--field-selector",
        "involvedObject.name=orphan",
        "-o",
        "name",
    ]);
    assert_eq!(events, "");
}
