//! The controller manager under `bosun up --nodes 3`, with the real kubectl: Deployments roll
//! out, scale, roll back; deletion cascades with each propagation policy; deleting a namespace
//! removes what is in it; pods of a node whose agent dies come back on the other nodes;
//! StatefulSets come up in order and roll back; Services get Endpoints and EndpointSlices;
//! DaemonSets keep a history kubectl reads.

use bosun_e2e::{Frozen, Kubectl, Up};
use std::time::{Duration, Instant};

const T: Duration = Duration::from_secs(60);

fn deployment(name: &str, replicas: u32, greeting: &str, marker: &str) -> String {
    format!(
        r#"
apiVersion: apps/v1
kind: Deployment
metadata: {{name: {name}}}
spec:
  replicas: {replicas}
  selector: {{matchLabels: {{app: {name}}}}}
  strategy: {{type: RollingUpdate, rollingUpdate: {{maxSurge: 1, maxUnavailable: 0}}}}
  template:
    metadata: {{labels: {{app: {name}}}}}
    spec:
      terminationGracePeriodSeconds: 2
      containers:
      - name: c
        image: sleep
        command: ["sleep", "{marker}"]
        env: [{{name: GREETING, value: "{greeting}"}}]
"#
    )
}

struct Cleanup(&'static str);

impl Drop for Cleanup {
    fn drop(&mut self) {
        let _ = std::process::Command::new("pkill")
            .args(["-f", &format!("sleep {}", self.0)])
            .status();
    }
}

#[test]
fn deployments_roll_out_scale_roll_back_and_cascade() {
    let _cleanup = Cleanup("7701");
    let dir = tempfile::tempdir().expect("tempdir");
    let up = Up::start(dir.path(), &["--nodes", "3"]);
    let k = Kubectl::new(up.kubeconfig());
    k.eventually(&["get", "nodes"], T, |o| o.matches(" Ready").count() == 3);

    k.apply(&deployment("web", 3, "hello", "7701"));
    k.ok(&["rollout", "status", "deployment/web", "--timeout=60s"]);
    let ready = k.ok(&[
        "get",
        "deployment",
        "web",
        "-o",
        "jsonpath={.status.readyReplicas}/{.status.updatedReplicas}",
    ]);
    assert_eq!(ready, "3/3");
    let nodes = k.ok(&[
        "get",
        "pods",
        "-l",
        "app=web",
        "-o",
        "jsonpath={.items[*].spec.nodeName}",
    ]);
    assert_eq!(
        nodes
            .split_whitespace()
            .collect::<std::collections::BTreeSet<_>>()
            .len(),
        3,
        "spread: {nodes}"
    );

    k.ok(&["scale", "deployment/web", "--replicas=5"]);
    k.ok(&["rollout", "status", "deployment/web", "--timeout=60s"]);
    k.eventually(
        &[
            "get",
            "pods",
            "-l",
            "app=web",
            "--field-selector",
            "status.phase=Running",
            "-o",
            "name",
        ],
        T,
        |o| o.lines().count() == 5,
    );

    // A new template rolls out; history has two revisions; undo goes back.
    k.apply(&deployment("web", 5, "bonjour", "7701"));
    k.ok(&["rollout", "status", "deployment/web", "--timeout=60s"]);
    let history = k.ok(&["rollout", "history", "deployment/web"]);
    assert!(history.contains('1') && history.contains('2'), "{history}");
    let env = k.ok(&[
        "get",
        "deployment",
        "web",
        "-o",
        "jsonpath={.spec.template.spec.containers[0].env[0].value}",
    ]);
    assert_eq!(env, "bonjour");
    k.ok(&["rollout", "undo", "deployment/web"]);
    k.ok(&["rollout", "status", "deployment/web", "--timeout=60s"]);
    let env = k.ok(&[
        "get",
        "deployment",
        "web",
        "-o",
        "jsonpath={.spec.template.spec.containers[0].env[0].value}",
    ]);
    assert_eq!(env, "hello");
    let rs = k.ok(&["get", "rs", "-l", "app=web", "-o", "jsonpath={range .items[*]}{.metadata.annotations.deployment\\.kubernetes\\.io/revision}={.spec.replicas} {end}"]);
    assert!(
        rs.contains("3=5") && rs.contains("2=0"),
        "revision 3 is the old template: {rs}"
    );
    let events = k.ok(&[
        "get",
        "events",
        "--field-selector",
        "reason=ScalingReplicaSet",
    ]);
    assert!(events.contains("Scaled up replica set web-"), "{events}");

    // Background deletion (kubectl's default): the ReplicaSets and pods follow.
    k.ok(&["delete", "deployment", "web"]);
    k.eventually(&["get", "rs,pods", "-l", "app=web", "-o", "name"], T, |o| {
        o.trim().is_empty()
    });

    // Foreground: kubectl waits until the dependents are gone, then the owner.
    k.apply(&deployment("fg", 2, "x", "7701"));
    k.ok(&["rollout", "status", "deployment/fg", "--timeout=60s"]);
    k.ok(&[
        "delete",
        "deployment",
        "fg",
        "--cascade=foreground",
        "--timeout=60s",
    ]);
    assert_eq!(
        k.ok(&["get", "rs,pods", "-l", "app=fg", "-o", "name"])
            .trim(),
        ""
    );

    // Orphan: the ReplicaSet stays, without its owner.
    k.apply(&deployment("orph", 1, "x", "7701"));
    k.ok(&["rollout", "status", "deployment/orph", "--timeout=60s"]);
    k.ok(&[
        "delete",
        "deployment",
        "orph",
        "--cascade=orphan",
        "--timeout=60s",
    ]);
    let owners = k.eventually(
        &[
            "get",
            "rs",
            "-l",
            "app=orph",
            "-o",
            "jsonpath={.items[*].metadata.name}:{.items[*].metadata.ownerReferences}",
        ],
        T,
        |o| o.ends_with(':') || o.ends_with(":[]"),
    );
    assert!(owners.starts_with("orph-"), "{owners}");

    // Deleting a namespace deletes everything in it, then the namespace.
    k.ok(&["create", "namespace", "team"]);
    k.ok(&[
        "-n",
        "team",
        "create",
        "configmap",
        "settings",
        "--from-literal=a=b",
    ]);
    k.ok(&[
        "-n",
        "team",
        "create",
        "deployment",
        "api",
        "--image=sleep",
        "--replicas=2",
        "--",
        "sleep",
        "7701",
    ]);
    k.eventually(
        &[
            "-n",
            "team",
            "get",
            "pods",
            "--field-selector",
            "status.phase=Running",
            "-o",
            "name",
        ],
        T,
        |o| o.lines().count() == 2,
    );
    k.ok(&["delete", "namespace", "team", "--timeout=60s"]);
    let gone = k.run(&["get", "namespace", "team"], None);
    assert!(!gone.status.success(), "the namespace is gone");
}

#[test]
fn pods_of_a_dead_node_come_back_on_the_others() {
    let _cleanup = Cleanup("7702");
    let dir = tempfile::tempdir().expect("tempdir");
    let up = Up::start(dir.path(), &["--nodes", "3"]);
    let k = Kubectl::new(up.kubeconfig());
    k.eventually(&["get", "nodes"], T, |o| o.matches(" Ready").count() == 3);
    k.apply(&deployment("heal", 6, "x", "7702"));
    k.ok(&["rollout", "status", "deployment/heal", "--timeout=60s"]);
    let on_0 = k.ok(&[
        "get",
        "pods",
        "-l",
        "app=heal",
        "--field-selector",
        "spec.nodeName=bosun-node-0",
        "-o",
        "name",
    ]);
    assert!(!on_0.trim().is_empty(), "some pods run on bosun-node-0");

    // Freeze the agent (SIGSTOP: a dead agent would be restarted by `bosun up`): its Lease
    // stops, the node goes Unknown, its pods are evicted.
    let started = Instant::now();
    let _frozen = Frozen::pid_file(&up.data.join("run/bosun-node-0.pid"));
    k.eventually(
        &[
            "get",
            "node",
            "bosun-node-0",
            "-o",
            "jsonpath={.status.conditions[?(@.type==\"Ready\")].status}",
        ],
        T,
        |o| o == "Unknown",
    );
    let taints = k.ok(&[
        "get",
        "node",
        "bosun-node-0",
        "-o",
        "jsonpath={.spec.taints[*].key}",
    ]);
    assert!(
        taints.contains("node.kubernetes.io/unreachable"),
        "{taints}"
    );
    k.eventually(
        &[
            "get",
            "pods",
            "-l",
            "app=heal",
            "--field-selector",
            "status.phase=Running",
            "-o",
            "jsonpath={range .items[*]}{.spec.nodeName},{.metadata.deletionTimestamp} {end}",
        ],
        T,
        |o| {
            // Running and not being deleted, on a live node.
            let live = o
                .split_whitespace()
                .filter(|e| e.ends_with(',') && !e.starts_with("bosun-node-0,"))
                .count();
            live >= 6
        },
    );
    println!(
        "healed in {:?} (grace 8 s + eviction 10 s)",
        started.elapsed()
    );
}

#[test]
fn a_job_with_completions_and_parallelism_completes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let up = Up::start(dir.path(), &["--nodes", "2"]);
    let k = Kubectl::new(up.kubeconfig());
    k.apply(
        r#"
apiVersion: batch/v1
kind: Job
metadata: {name: count}
spec:
  completions: 4
  parallelism: 2
  template:
    spec:
      restartPolicy: Never
      containers:
      - name: c
        image: sh
        command: ["sh", "-c", "echo done $(JOB_COMPLETION_INDEX)"]
"#,
    );
    k.ok(&[
        "wait",
        "--for=condition=complete",
        "job/count",
        "--timeout=60s",
    ]);
    let status = k.ok(&[
        "get",
        "job",
        "count",
        "-o",
        "jsonpath={.status.succeeded}/{.status.failed}",
    ]);
    assert_eq!(status, "4/0");
    let pods = k.ok(&[
        "get",
        "pods",
        "-l",
        "job-name=count",
        "-o",
        "jsonpath={.items[*].status.phase}",
    ]);
    assert_eq!(
        pods.split_whitespace()
            .filter(|p| *p == "Succeeded")
            .count(),
        4,
        "{pods}"
    );
    let logs = k.ok(&["logs", "-l", "job-name=count", "--tail=1"]);
    assert!(logs.contains("done"), "{logs}");
}

#[test]
fn a_daemonset_puts_one_pod_on_each_node() {
    let _cleanup = Cleanup("7703");
    let dir = tempfile::tempdir().expect("tempdir");
    let up = Up::start(dir.path(), &["--nodes", "3"]);
    let k = Kubectl::new(up.kubeconfig());
    k.eventually(&["get", "nodes"], T, |o| o.matches(" Ready").count() == 3);
    k.apply(
        r#"
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: agent}
spec:
  selector: {matchLabels: {app: agent}}
  template:
    metadata: {labels: {app: agent}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: c
        image: sleep
        command: ["sleep", "7703"]
"#,
    );
    k.ok(&["rollout", "status", "daemonset/agent", "--timeout=60s"]);
    let nodes = k.ok(&[
        "get",
        "pods",
        "-l",
        "app=agent",
        "-o",
        "jsonpath={.items[*].spec.nodeName}",
    ]);
    let mut names: Vec<&str> = nodes.split_whitespace().collect();
    names.sort();
    assert_eq!(names, vec!["bosun-node-0", "bosun-node-1", "bosun-node-2"]);
    let status = k.ok(&[
        "get",
        "ds",
        "agent",
        "-o",
        "jsonpath={.status.desiredNumberScheduled}/{.status.numberReady}",
    ]);
    assert_eq!(status, "3/3");

    // A new template rolls out; the history lists both revisions; undo goes back.
    k.ok(&["set", "env", "daemonset/agent", "GREETING=bonjour"]);
    k.ok(&["rollout", "status", "daemonset/agent", "--timeout=60s"]);
    let history = k.ok(&["rollout", "history", "daemonset/agent"]);
    assert!(
        history.lines().any(|l| l.starts_with("1 "))
            && history.lines().any(|l| l.starts_with("2 ")),
        "{history}"
    );
    let detail = k.ok(&["rollout", "history", "daemonset/agent", "--revision=2"]);
    assert!(detail.contains("bonjour"), "{detail}");
    k.ok(&["rollout", "undo", "daemonset/agent"]);
    k.ok(&["rollout", "status", "daemonset/agent", "--timeout=60s"]);
    let env = k.ok(&[
        "get",
        "ds",
        "agent",
        "-o",
        "jsonpath={.spec.template.spec.containers[0].env}",
    ]);
    assert!(!env.contains("bonjour"), "{env}");
    let history = k.ok(&["rollout", "history", "daemonset/agent"]);
    assert!(
        history.lines().any(|l| l.starts_with("2 "))
            && history.lines().any(|l| l.starts_with("3 ")),
        "revision 1 became 3: {history}"
    );
}

fn stateful_set(greeting: &str) -> String {
    format!(
        r#"
apiVersion: v1
kind: Service
metadata: {{name: web}}
spec:
  clusterIP: None
  selector: {{app: web}}
  ports: [{{name: http, port: 80, targetPort: http}}]
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {{name: web}}
spec:
  replicas: 3
  serviceName: web
  selector: {{matchLabels: {{app: web}}}}
  template:
    metadata: {{labels: {{app: web}}}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: c
        image: sleep
        command: ["sleep", "7704"]
        ports: [{{name: http, containerPort: 8080}}]
        env: [{{name: GREETING, value: "{greeting}"}}]
"#
    )
}

/// `name=value` pairs of a jsonpath range output, e.g. pod name to a field.
fn pairs(text: &str) -> std::collections::BTreeMap<String, String> {
    text.split_whitespace()
        .filter_map(|p| p.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Each pod after the first was created no earlier than its predecessor became Ready
/// (RFC 3339 UTC timestamps compare as text).
fn assert_created_after_ready(k: &Kubectl, order: &[&str]) {
    let created = pairs(&k.ok(&[
        "get",
        "pods",
        "-l",
        "app=web",
        "-o",
        "jsonpath={range .items[*]}{.metadata.name}={.metadata.creationTimestamp} {end}",
    ]));
    let ready = pairs(&k.ok(&[
        "get",
        "pods",
        "-l",
        "app=web",
        "-o",
        "jsonpath={range .items[*]}{.metadata.name}={.status.conditions[?(@.type==\"Ready\")].lastTransitionTime} {end}",
    ]));
    for w in order.windows(2) {
        assert!(
            created[w[1]] >= ready[w[0]],
            "{} created at {} before {} was ready at {}",
            w[1],
            created[w[1]],
            w[0],
            ready[w[0]]
        );
    }
}

#[test]
fn a_statefulset_comes_up_in_order_rolls_in_reverse_and_undoes() {
    let _cleanup = Cleanup("7704");
    let dir = tempfile::tempdir().expect("tempdir");
    let up = Up::start(dir.path(), &["--nodes", "3"]);
    let k = Kubectl::new(up.kubeconfig());
    k.eventually(&["get", "nodes"], T, |o| o.matches(" Ready").count() == 3);

    k.apply(&stateful_set("hello"));
    k.ok(&["rollout", "status", "statefulset/web", "--timeout=90s"]);
    assert_created_after_ready(&k, &["web-0", "web-1", "web-2"]);
    let identity = k.ok(&[
        "get",
        "pod",
        "web-1",
        "-o",
        "jsonpath={.spec.hostname}/{.spec.subdomain}/{.metadata.labels.statefulset\\.kubernetes\\.io/pod-name}/{.metadata.labels.apps\\.kubernetes\\.io/pod-index}",
    ]);
    assert_eq!(identity, "web-1/web/web-1/1");
    let status = k.ok(&[
        "get",
        "sts",
        "web",
        "-o",
        "jsonpath={.status.readyReplicas}/{.status.currentReplicas}/{.status.updatedReplicas}",
    ]);
    assert_eq!(status, "3/3/3");

    // The headless Service's Endpoints name each pod with its hostname.
    let ips = k.ok(&[
        "get",
        "pods",
        "-l",
        "app=web",
        "-o",
        "jsonpath={range .items[*]}{.metadata.name}={.status.podIP} {end}",
    ]);
    let ips = pairs(&ips);
    let listed = pairs(&k.eventually(
        &[
            "get",
            "endpoints",
            "web",
            "-o",
            "jsonpath={range .subsets[*].addresses[*]}{.hostname}={.ip} {end}",
        ],
        T,
        |o| o.split_whitespace().count() == 3,
    ));
    assert_eq!(listed, ips);

    // A new template replaces pods from the highest ordinal down.
    let first = k.ok(&[
        "get",
        "sts",
        "web",
        "-o",
        "jsonpath={.status.currentRevision}",
    ]);
    k.apply(&stateful_set("bonjour"));
    k.ok(&["rollout", "status", "statefulset/web", "--timeout=90s"]);
    assert_created_after_ready(&k, &["web-2", "web-1", "web-0"]);
    let revisions = k.ok(&[
        "get",
        "sts",
        "web",
        "-o",
        "jsonpath={.status.currentRevision}/{.status.updateRevision}",
    ]);
    let (current, update) = revisions.split_once('/').expect("two revisions");
    assert_eq!(current, update, "the update completed");
    assert_ne!(current, first);
    let hashes = k.ok(&[
        "get",
        "pods",
        "-l",
        "app=web",
        "-o",
        "jsonpath={.items[*].metadata.labels.controller-revision-hash}",
    ]);
    assert!(hashes.split_whitespace().all(|h| h == update), "{hashes}");
    let history = k.ok(&["rollout", "history", "statefulset/web"]);
    assert!(
        history.lines().any(|l| l.starts_with("1 "))
            && history.lines().any(|l| l.starts_with("2 ")),
        "{history}"
    );

    // Undo: the first template again, under its old revision (renumbered 3).
    k.ok(&["rollout", "undo", "statefulset/web"]);
    k.ok(&["rollout", "status", "statefulset/web", "--timeout=90s"]);
    let env = k.ok(&[
        "get",
        "sts",
        "web",
        "-o",
        "jsonpath={.spec.template.spec.containers[0].env[0].value}",
    ]);
    assert_eq!(env, "hello");
    let now = k.eventually(
        &[
            "get",
            "sts",
            "web",
            "-o",
            "jsonpath={.status.currentRevision}",
        ],
        T,
        |o| o == first,
    );
    assert_eq!(now, first);
    let revisions = k.ok(&[
        "get",
        "controllerrevisions",
        "-o",
        "jsonpath={range .items[*]}{.metadata.name}={.revision} {end}",
    ]);
    assert_eq!(
        pairs(&revisions).get(&first).map(String::as_str),
        Some("3"),
        "{revisions}"
    );
    assert_eq!(pairs(&revisions).len(), 2, "{revisions}");
}

#[test]
fn a_services_endpoints_and_slices_follow_its_ready_pods() {
    let _cleanup = Cleanup("7705");
    let dir = tempfile::tempdir().expect("tempdir");
    let up = Up::start(dir.path(), &["--nodes", "3"]);
    let k = Kubectl::new(up.kubeconfig());
    k.eventually(&["get", "nodes"], T, |o| o.matches(" Ready").count() == 3);
    k.apply(
        r#"
apiVersion: v1
kind: Service
metadata: {name: api}
spec:
  selector: {app: api}
  ports: [{name: http, port: 80, targetPort: http}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: api}
spec:
  replicas: 3
  selector: {matchLabels: {app: api}}
  template:
    metadata: {labels: {app: api}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: c
        image: sleep
        command: ["sleep", "7705"]
        ports: [{name: http, containerPort: 8080}]
"#,
    );
    k.ok(&["rollout", "status", "deployment/api", "--timeout=60s"]);
    let pod_ips = |k: &Kubectl| -> Vec<String> {
        let mut ips: Vec<String> = k
            .ok(&[
                "get",
                "pods",
                "-l",
                "app=api",
                "--field-selector",
                "status.phase=Running",
                "-o",
                "jsonpath={.items[*].status.podIP}",
            ])
            .split_whitespace()
            .map(str::to_string)
            .collect();
        ips.sort();
        ips
    };
    let sorted = |o: &str| -> Vec<String> {
        let mut v: Vec<String> = o.split_whitespace().map(str::to_string).collect();
        v.sort();
        v
    };
    let ips = pod_ips(&k);
    assert_eq!(ips.len(), 3);
    let endpoints = k.eventually(
        &[
            "get",
            "endpoints",
            "api",
            "-o",
            "jsonpath={.subsets[*].addresses[*].ip}",
        ],
        T,
        |o| sorted(o) == ips,
    );
    let ports = k.ok(&[
        "get",
        "endpoints",
        "api",
        "-o",
        "jsonpath={.subsets[0].ports[0].port}",
    ]);
    assert_eq!(ports, "8080", "the named targetPort resolved");
    let slice_args = [
        "get",
        "endpointslices",
        "-l",
        "kubernetes.io/service-name=api",
        "-o",
        "jsonpath={range .items[*].endpoints[?(@.conditions.ready==true)]}{.addresses[0]} {end}",
    ];
    k.eventually(&slice_args, T, |o| sorted(o) == ips);
    let slice = k.ok(&[
        "get",
        "endpointslices",
        "-l",
        "kubernetes.io/service-name=api",
        "-o",
        "jsonpath={.items[0].metadata.labels.endpointslice\\.kubernetes\\.io/managed-by}/{.items[0].metadata.ownerReferences[0].kind}/{.items[0].endpoints[0].targetRef.kind}/{.items[0].ports[0].port}",
    ]);
    assert_eq!(slice, "endpointslice-controller.k8s.io/Service/Pod/8080");
    let described = k.ok(&["describe", "svc", "api"]);
    assert!(
        ips.iter().all(|ip| described.contains(ip.as_str())),
        "{described}\n{endpoints}"
    );

    // Scale down: the addresses follow.
    k.ok(&["scale", "deployment/api", "--replicas=1"]);
    k.ok(&["rollout", "status", "deployment/api", "--timeout=60s"]);
    let remaining = k.eventually(
        &[
            "get",
            "endpoints",
            "api",
            "-o",
            "jsonpath={.subsets[*].addresses[*].ip}",
        ],
        T,
        |o| o.split_whitespace().count() == 1,
    );
    k.eventually(&slice_args, T, |o| sorted(o) == sorted(&remaining));
    let left = k.eventually(
        &[
            "get",
            "pods",
            "-l",
            "app=api",
            "-o",
            "jsonpath={.items[*].status.podIP}",
        ],
        T,
        |o| o.split_whitespace().count() == 1,
    );
    assert_eq!(left.trim(), remaining.trim());

    // The Service goes: so do its Endpoints and slices.
    k.ok(&["delete", "svc", "api"]);
    k.eventually(&["get", "endpoints,endpointslices", "-o", "name"], T, |o| {
        !o.contains("api")
    });
}

#[test]
fn a_cronjob_fires_on_its_schedule() {
    let dir = tempfile::tempdir().expect("tempdir");
    let up = Up::start(dir.path(), &["--nodes", "1"]);
    let k = Kubectl::new(up.kubeconfig());
    k.apply(
        r#"
apiVersion: batch/v1
kind: CronJob
metadata: {name: tick}
spec:
  schedule: "* * * * *"
  jobTemplate:
    spec:
      template:
        spec:
          restartPolicy: Never
          containers:
          - name: c
            image: sh
            command: ["sh", "-c", "echo tick"]
"#,
    );
    // The next minute boundary is at most 60 s away.
    let jobs = k.eventually(
        &["get", "jobs", "-o", "jsonpath={.items[*].metadata.name}"],
        Duration::from_secs(90),
        |o| o.starts_with("tick-"),
    );
    let job = jobs
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_string();
    k.ok(&[
        "wait",
        "--for=condition=complete",
        &format!("job/{job}"),
        "--timeout=60s",
    ]);
    let last = k.eventually(
        &[
            "get",
            "cronjob",
            "tick",
            "-o",
            "jsonpath={.status.lastScheduleTime}",
        ],
        T,
        |o| !o.is_empty(),
    );
    assert!(
        last.ends_with(":00Z"),
        "scheduled on a minute boundary: {last}"
    );
    let events = k.ok(&[
        "get",
        "events",
        "--field-selector",
        "involvedObject.name=tick",
    ]);
    assert!(events.contains(&format!("Created job {job}")), "{events}");
}
