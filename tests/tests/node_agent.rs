//! The node agent under `bosun up`, with the real kubectl: pods run as real processes with
//! their own addresses, report status and probes, serve logs, restart with back-off, stop
//! gracefully on delete, and survive an agent killed with SIGKILL; `kubectl exec` reaches
//! them; an agent on the Docker runtime runs pods as containers.

use bosun_e2e::{Kubectl, Proc, Up, process_running};
use bosun_node::busybox_image::{self, TEST_IMAGE};
use std::time::{Duration, Instant};

const T: Duration = Duration::from_secs(30);

fn web_pod(name: &str, node: &str, marker: &str) -> String {
    format!(
        r#"
apiVersion: v1
kind: Pod
metadata:
  name: {name}
  labels: {{app: web}}
spec:
  nodeName: {node}
  terminationGracePeriodSeconds: 5
  containers:
  - name: web
    image: python
    command: ["python3", "-c", "import http.server,sys; print('serving {marker}', flush=True); http.server.HTTPServer((sys.argv[1], 8080), http.server.SimpleHTTPRequestHandler).serve_forever()", "$(POD_IP)", "{marker}"]
    env:
    - name: POD_IP
      valueFrom: {{fieldRef: {{fieldPath: status.podIP}}}}
    readinessProbe:
      httpGet: {{port: 8080, path: /}}
      periodSeconds: 1
"#
    )
}

fn curl(url: &str) -> String {
    let out = std::process::Command::new("curl")
        .args(["-s", "--max-time", "5", url])
        .output()
        .expect("curl");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn jsonpath(k: &Kubectl, pod: &str, path: &str) -> String {
    k.ok(&["get", "pod", pod, "-o", &format!("jsonpath={path}")])
}

/// `bosun node` arguments for a process-runtime agent `name` of `up`: data in `dir/node`, pod
/// addresses from `cidr`, a free endpoint port, then `extra`.
fn process_agent(
    up: &Up,
    dir: &std::path::Path,
    name: &str,
    cidr: &str,
    extra: &[&str],
) -> Vec<String> {
    let kubeconfig = up.kubeconfig().display().to_string();
    let data = dir.join("node").display().to_string();
    [
        "node",
        "--name",
        name,
        "--kubeconfig",
        &kubeconfig,
        "--data-dir",
        &data,
        "--pod-cidr",
        cidr,
        "--port",
        "0",
    ]
    .iter()
    .chain(extra)
    .map(|s| s.to_string())
    .collect()
}

#[test]
fn pods_run_as_processes_become_ready_serve_logs_and_stop_on_delete() {
    let dir = tempfile::tempdir().expect("tempdir");
    let up = Up::start(dir.path(), &["--nodes", "1"]);
    let k = Kubectl::new(up.kubeconfig());
    k.eventually(&["get", "nodes"], T, |o| {
        o.contains("bosun-node-0") && o.contains(" Ready")
    });

    // Two pods listening on the same port: each has its own loopback address.
    k.apply(&web_pod("web-a", "bosun-node-0", "marker-aaa"));
    k.apply(&web_pod("web-b", "bosun-node-0", "marker-bbb"));
    for pod in ["web-a", "web-b"] {
        k.ok(&[
            "wait",
            "--for=condition=Ready",
            &format!("pod/{pod}"),
            "--timeout=30s",
        ]);
    }
    let ip_a = jsonpath(&k, "web-a", "{.status.podIP}");
    let ip_b = jsonpath(&k, "web-b", "{.status.podIP}");
    assert_ne!(ip_a, ip_b);
    assert!(ip_a.starts_with("127."), "{ip_a}");
    let body = curl(&format!("http://{ip_a}:8080/"));
    assert!(body.contains("Directory listing"), "{body}");
    assert_eq!(jsonpath(&k, "web-a", "{.status.phase}"), "Running");
    assert_eq!(jsonpath(&k, "web-a", "{.status.hostIP}"), "127.0.0.1");

    // Logs come from the agent through the API server.
    let logs = k.eventually(&["logs", "web-a"], T, |o| o.contains("serving marker-aaa"));
    assert!(!logs.contains("marker-bbb"));
    let wide = k.ok(&["get", "pods", "-o", "wide"]);
    assert!(wide.contains("bosun-node-0"), "{wide}");

    // Delete: SIGTERM, the pod disappears once its process has ended.
    assert!(process_running("marker-aaa"));
    let started = Instant::now();
    k.ok(&["delete", "pod", "web-a", "--timeout=30s"]);
    assert!(started.elapsed() < T);
    assert!(
        !process_running("marker-aaa"),
        "the container process outlived its pod"
    );
    assert!(process_running("marker-bbb"), "the other pod kept running");
    let events = k.ok(&[
        "get",
        "events",
        "--field-selector",
        "involvedObject.name=web-a",
    ]);
    assert!(
        events.contains("Started") && events.contains("Killing"),
        "{events}"
    );

    // Stopping the cluster stops its pods.
    drop(up);
    let deadline = Instant::now() + T;
    while process_running("marker-bbb") {
        assert!(Instant::now() < deadline, "pods outlived bosun up");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn failing_containers_back_off_and_say_why() {
    let dir = tempfile::tempdir().expect("tempdir");
    let up = Up::start(dir.path(), &["--nodes", "1"]);
    let k = Kubectl::new(up.kubeconfig());
    k.apply(
        r#"
apiVersion: v1
kind: Pod
metadata: {name: crasher}
spec:
  nodeName: bosun-node-0
  containers:
  - name: c
    image: sh
    command: ["sh", "-c", "echo attempt; exit 3"]
---
apiVersion: v1
kind: Pod
metadata: {name: missing}
spec:
  nodeName: bosun-node-0
  containers:
  - name: c
    image: none
    command: ["no-such-program-anywhere"]
---
apiVersion: v1
kind: Pod
metadata: {name: once}
spec:
  nodeName: bosun-node-0
  restartPolicy: Never
  containers:
  - name: c
    image: sh
    command: ["sh", "-c", "echo done"]
"#,
    );
    k.eventually(&["get", "pod", "crasher"], T, |o| {
        o.contains("CrashLoopBackOff")
    });
    let restarts = jsonpath(&k, "crasher", "{.status.containerStatuses[0].restartCount}");
    assert!(restarts.parse::<i32>().expect("count") >= 1, "{restarts}");
    let last = jsonpath(
        &k,
        "crasher",
        "{.status.containerStatuses[0].lastState.terminated.exitCode}",
    );
    assert_eq!(last, "3");
    let previous = k.ok(&["logs", "crasher", "--previous"]);
    assert!(previous.contains("attempt"), "{previous}");

    // The start error is the waiting message, then (in back-off) the last state's message.
    let reason = k.eventually(
        &[
            "get",
            "pod",
            "missing",
            "-o",
            "jsonpath={.status.containerStatuses[0]}",
        ],
        T,
        |o| o.contains("no-such-program-anywhere"),
    );
    assert!(reason.contains("executable file not found"), "{reason}");
    let events = k.eventually(
        &[
            "get",
            "events",
            "--field-selector",
            "involvedObject.name=missing",
        ],
        T,
        |o| o.contains("Failed"),
    );
    assert!(events.contains("no-such-program-anywhere"), "{events}");

    k.eventually(
        &["get", "pod", "once", "-o", "jsonpath={.status.phase}"],
        T,
        |o| o == "Succeeded",
    );
    let cs = jsonpath(
        &k,
        "once",
        "{.status.containerStatuses[0].state.terminated.reason}",
    );
    assert_eq!(cs, "Completed");
}

#[test]
fn an_agent_killed_and_restarted_adopts_its_running_pods() {
    let dir = tempfile::tempdir().expect("tempdir");
    let up = Up::start(dir.path(), &["--nodes", "0"]);
    let k = Kubectl::new(up.kubeconfig());
    let agent_args = process_agent(
        &up,
        dir.path(),
        "solo",
        "127.120.0.0/24",
        &["--lease-interval-s", "1"],
    );
    let mut agent = Proc::start(&agent_args, dir.path().join("agent.log"));
    k.apply(&web_pod("adopted", "solo", "marker-adopt"));
    k.ok(&[
        "wait",
        "--for=condition=Ready",
        "pod/adopted",
        "--timeout=30s",
    ]);
    let id_before = jsonpath(&k, "adopted", "{.status.containerStatuses[0].containerID}");

    agent.kill(); // SIGKILL: the container keeps running without its agent.
    std::thread::sleep(Duration::from_millis(500));
    assert!(process_running("marker-adopt"));
    let _agent = Proc::start(&agent_args, dir.path().join("agent2.log"));
    // The restarted agent reports the same container, not a new one.
    std::thread::sleep(Duration::from_secs(3));
    k.ok(&[
        "wait",
        "--for=condition=Ready",
        "pod/adopted",
        "--timeout=30s",
    ]);
    assert_eq!(
        jsonpath(&k, "adopted", "{.status.containerStatuses[0].containerID}"),
        id_before
    );
    assert_eq!(
        jsonpath(&k, "adopted", "{.status.containerStatuses[0].restartCount}"),
        "0"
    );
    k.ok(&["delete", "pod", "adopted", "--timeout=30s"]);
    assert!(
        !process_running("marker-adopt"),
        "the adopted container was not stopped on delete"
    );
}

/// Start `bosun node --runtime docker` named `name` against `up`; its containers are removed
/// when the returned guard drops, whatever the test did.
fn docker_agent(up: &Up, dir: &std::path::Path, name: &str) -> (Proc, DockerCleanup) {
    let rt = tokio::runtime::Runtime::new().expect("tokio");
    rt.block_on(async {
        let docker = bollard_docker().await;
        busybox_image::ensure(&docker, TEST_IMAGE)
            .await
            .expect("the busybox test image");
    });
    let args: Vec<String> = [
        "node",
        "--runtime",
        "docker",
        "--name",
        name,
        "--kubeconfig",
        &up.kubeconfig().display().to_string(),
        "--data-dir",
        &dir.join(name).display().to_string(),
        "--port",
        "0",
        "--pod-infra-image",
        TEST_IMAGE,
        "--pod-infra-command",
        "sleep,3600",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let agent = Proc::start(&args, dir.join(format!("{name}.log")));
    (agent, DockerCleanup(name.to_string()))
}

async fn bollard_docker() -> bosun_node::runtime::docker::Docker {
    bosun_node::runtime::docker::Docker::connect_with_local_defaults()
        .expect("docker")
        .negotiate_version()
        .await
        .expect("the Docker engine (is dockerd running?)")
}

/// Removes every container of a Docker node agent.
struct DockerCleanup(String);

impl Drop for DockerCleanup {
    fn drop(&mut self) {
        let Ok(out) = std::process::Command::new("docker")
            .args([
                "ps",
                "-aq",
                "--filter",
                &format!("label=bosun.dev/node={}", self.0),
            ])
            .output()
        else {
            return;
        };
        let ids: Vec<String> = String::from_utf8_lossy(&out.stdout)
            .split_whitespace()
            .map(str::to_string)
            .collect();
        if !ids.is_empty() {
            let _ = std::process::Command::new("docker")
                .args(["rm", "-f"])
                .args(&ids)
                .output();
        }
    }
}

/// `kubectl exec` with its exit code, stdout and stderr.
fn exec(k: &Kubectl, args: &[&str], stdin: Option<&str>) -> (i32, String, String) {
    let mut all = vec!["exec"];
    all.extend_from_slice(args);
    let out = k.run(&all, stdin);
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn kubectl_exec_runs_commands_in_process_pods_with_output_stdin_and_exit_codes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let up = Up::start(dir.path(), &["--nodes", "1"]);
    let k = Kubectl::new(up.kubeconfig());
    k.apply(
        r#"
apiVersion: v1
kind: Pod
metadata: {name: shell}
spec:
  nodeName: bosun-node-0
  containers:
  - name: c
    image: sh
    command: ["sh", "-c", "sleep 600"]
    env: [{name: FOO, value: bar}]
"#,
    );
    k.ok(&[
        "wait",
        "--for=condition=Ready",
        "pod/shell",
        "--timeout=30s",
    ]);
    let (code, out, err) = exec(
        &k,
        &["shell", "--", "sh", "-c", "echo $FOO; pwd; echo oops >&2"],
        None,
    );
    assert_eq!(code, 0, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.first(), Some(&"bar"), "the container's env: {out}");
    assert!(
        lines.get(1).is_some_and(|l| l.ends_with("/rootfs")),
        "the container's working dir: {out}"
    );
    assert_eq!(err.trim(), "oops");
    let (code, _, err) = exec(&k, &["shell", "--", "sh", "-c", "exit 7"], None);
    assert_eq!(code, 7, "{err}");
    assert!(err.contains("command terminated with exit code 7"), "{err}");
    let (code, out, err) = exec(&k, &["-i", "shell", "--", "cat"], Some("piped in\n"));
    assert_eq!((code, out.as_str()), (0, "piped in\n"), "{err}");
    let (code, _, err) = exec(&k, &["shell", "-c", "nope", "--", "true"], None);
    assert_ne!(code, 0);
    assert!(
        err.contains("container nope is not valid for pod shell"),
        "{err}"
    );

    // The agent's usage summary, as metrics-server reads it.
    let summary = stats_summary(&up, &k, "bosun-node-0");
    assert_eq!(summary["node"]["nodeName"], "bosun-node-0");
    assert!(summary["node"]["memory"]["workingSetBytes"].as_u64() > Some(0));
    assert!(summary["node"]["cpu"]["usageCoreNanoSeconds"].as_u64() > Some(0));
    let pod = summary["pods"]
        .as_array()
        .and_then(|ps| ps.iter().find(|p| p["podRef"]["name"] == "shell"))
        .unwrap_or_else(|| panic!("no pod shell in {summary}"));
    assert_eq!(pod["podRef"]["namespace"], "default");
    assert_eq!(pod["containers"][0]["name"], "c");
    assert!(pod["memory"]["workingSetBytes"].as_u64() > Some(0), "{pod}");
    assert!(pod["cpu"]["usageNanoCores"].is_u64(), "{pod}");
}

/// `GET /stats/summary` from a node's agent, as the API server's kubelet client.
fn stats_summary(up: &Up, k: &Kubectl, node: &str) -> serde_json::Value {
    let port = k.ok(&[
        "get",
        "node",
        node,
        "-o",
        "jsonpath={.status.daemonEndpoints.kubeletEndpoint.Port}",
    ]);
    let clients = up.data.join("pki/clients");
    let out = std::process::Command::new("curl")
        .args(["-sk", "--max-time", "10", "--cert"])
        .arg(clients.join("apiserver-kubelet-client.crt"))
        .arg("--key")
        .arg(clients.join("apiserver-kubelet-client.key"))
        .arg(format!("https://127.0.0.1:{port}/stats/summary"))
        .output()
        .expect("curl");
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "not a summary ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

#[test]
fn a_docker_node_runs_pods_as_containers_with_exec_logs_limits_and_pull_errors() {
    let dir = tempfile::tempdir().expect("tempdir");
    let up = Up::start(dir.path(), &["--nodes", "0"]);
    let k = Kubectl::new(up.kubeconfig());
    let name = format!("dock-{}", std::process::id());
    let (_agent, _cleanup) = docker_agent(&up, dir.path(), &name);
    k.eventually(&["get", "node", &name], T, |o| o.contains(" Ready"));
    k.apply(&format!(
        r#"
apiVersion: v1
kind: Pod
metadata: {{name: box}}
spec:
  nodeName: {name}
  terminationGracePeriodSeconds: 2
  containers:
  - name: c
    image: {TEST_IMAGE}
    command: ["sh", "-c", "echo started $FOO; sleep 600"]
    env: [{{name: FOO, value: bar}}]
    resources: {{limits: {{memory: 64Mi, cpu: 500m}}}}
---
apiVersion: v1
kind: Pod
metadata: {{name: hog}}
spec:
  nodeName: {name}
  restartPolicy: Never
  containers:
  - name: c
    image: {TEST_IMAGE}
    command: ["tail", "/dev/zero"]
    resources: {{limits: {{memory: 32Mi}}}}
---
apiVersion: v1
kind: Pod
metadata: {{name: absent}}
spec:
  nodeName: {name}
  containers:
  - name: c
    image: bosun-test/absent:1
"#
    ));
    k.ok(&["wait", "--for=condition=Ready", "pod/box", "--timeout=60s"]);
    let ip = jsonpath(&k, "box", "{.status.podIP}");
    assert!(!ip.starts_with("127."), "a Docker network address: {ip}");
    let (code, out, err) = exec(&k, &["box", "--", "ip", "-4", "addr"], None);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains(&ip),
        "the pod's address {ip} is the container's: {out}"
    );
    let (code, out, _) = exec(
        &k,
        &["-i", "box", "--", "sh", "-c", "cat; exit 3"],
        Some("in\n"),
    );
    assert_eq!((code, out.as_str()), (3, "in\n"));
    k.eventually(&["logs", "box"], T, |o| o.contains("started bar"));
    let summary = stats_summary(&up, &k, &name);
    let pod = summary["pods"]
        .as_array()
        .and_then(|ps| ps.iter().find(|p| p["podRef"]["name"] == "box"))
        .unwrap_or_else(|| panic!("no pod box in {summary}"));
    assert!(
        pod["containers"][0]["memory"]["workingSetBytes"].as_u64() > Some(0),
        "Docker's stats: {pod}"
    );

    let reason = k.eventually(
        &[
            "get",
            "pod",
            "hog",
            "-o",
            "jsonpath={.status.containerStatuses[0].state.terminated.reason}",
        ],
        T,
        |o| !o.is_empty(),
    );
    assert_eq!(reason, "OOMKilled");
    assert_eq!(
        jsonpath(
            &k,
            "hog",
            "{.status.containerStatuses[0].state.terminated.exitCode}"
        ),
        "137"
    );
    k.eventually(&["get", "pod", "absent"], T, |o| {
        o.contains("ImagePullBackOff")
    });
    let images = k.ok(&["get", "node", &name, "-o", "jsonpath={.status.images}"]);
    assert!(images.contains(TEST_IMAGE), "{images}");

    k.ok(&["delete", "pod", "box", "hog", "absent", "--timeout=60s"]);
    let left = std::process::Command::new("docker")
        .args([
            "ps",
            "-aq",
            "--filter",
            &format!("label=bosun.dev/node={name}"),
        ])
        .output()
        .expect("docker ps");
    assert!(
        left.stdout.is_empty(),
        "containers outlived their pods: {}",
        String::from_utf8_lossy(&left.stdout)
    );
}

#[test]
fn process_pods_are_held_to_their_memory_limit_and_the_node_says_limits_are_enforced() {
    let dir = tempfile::tempdir().expect("tempdir");
    let up = Up::start(dir.path(), &["--nodes", "1"]);
    let k = Kubectl::new(up.kubeconfig());
    k.eventually(&["get", "nodes"], T, |o| o.contains(" Ready"));
    let enforced = jsonpath_node(&k, "bosun-node-0", "bosun\\.dev/limits-enforced");
    let reason = jsonpath_node(&k, "bosun-node-0", "bosun\\.dev/limits-not-enforced-reason");
    assert_eq!(
        enforced, "true",
        "this host does not let the agent enforce container limits: {reason}"
    );
    assert_eq!(reason, "");
    k.apply(
        r#"
apiVersion: v1
kind: Pod
metadata: {name: hog}
spec:
  nodeName: bosun-node-0
  restartPolicy: Never
  containers:
  - name: c
    image: sh
    command: ["tail", "/dev/zero"]
    resources: {limits: {memory: 32Mi, cpu: 500m}}
"#,
    );
    let reason = k.eventually(
        &[
            "get",
            "pod",
            "hog",
            "-o",
            "jsonpath={.status.containerStatuses[0].state.terminated.reason}",
        ],
        T,
        |o| !o.is_empty(),
    );
    assert_eq!(reason, "OOMKilled");
    assert_eq!(
        jsonpath(
            &k,
            "hog",
            "{.status.containerStatuses[0].state.terminated.exitCode}"
        ),
        "137"
    );
    assert_eq!(jsonpath(&k, "hog", "{.status.phase}"), "Failed");
}

fn jsonpath_node(k: &Kubectl, node: &str, annotation: &str) -> String {
    k.ok(&[
        "get",
        "node",
        node,
        "-o",
        &format!("jsonpath={{.metadata.annotations.{annotation}}}"),
    ])
}

/// `bosun up` on `port` over the data dir `data`, logging to `log`; returns once ready.
fn up_on(data: &std::path::Path, port: u16, log: std::path::PathBuf) -> Proc {
    let args: Vec<String> = [
        "up",
        "--data-dir",
        &data.display().to_string(),
        "--port",
        &port.to_string(),
        "--nodes",
        "0",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let proc = Proc::start(&args, log);
    let deadline = Instant::now() + T;
    while !proc.log_text().contains("bosun is ready") {
        assert!(
            Instant::now() < deadline,
            "bosun up did not come back:\n{}",
            proc.log_text()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    proc
}

#[test]
fn pods_keep_running_while_the_api_server_is_away_and_status_catches_up_on_reconnect() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut up = Up::start(dir.path(), &["--nodes", "0"]);
    let k = Kubectl::new(up.kubeconfig());
    let flags = dir.path().join("flags");
    std::fs::create_dir_all(&flags).expect("flags dir");
    let agent_args = process_agent(
        &up,
        dir.path(),
        "solo",
        "127.121.0.0/24",
        &["--lease-interval-s", "1"],
    );
    let _agent = Proc::start(&agent_args, dir.path().join("agent.log"));
    k.apply(&format!(
        r#"
apiVersion: v1
kind: Pod
metadata: {{name: steady}}
spec:
  nodeName: solo
  terminationGracePeriodSeconds: 1
  containers:
  - name: c
    image: sh
    command: ["sh", "-c", "exec sleep 600 # marker-steady-{pid}"]
---
apiVersion: v1
kind: Pod
metadata: {{name: ender}}
spec:
  nodeName: solo
  restartPolicy: Never
  containers:
  - name: c
    image: sh
    command: ["sh", "-c", "while [ ! -f {flag} ]; do sleep 0.1; done; echo ending; exit 3"]
"#,
        pid = std::process::id(),
        flag = flags.join("end").display(),
    ));
    for pod in ["steady", "ender"] {
        k.ok(&[
            "wait",
            "--for=jsonpath={.status.phase}=Running",
            &format!("pod/{pod}"),
            "--timeout=30s",
        ]);
    }
    let marker = format!("marker-steady-{}", std::process::id());
    assert!(process_running(&marker));

    // The API server goes away; while it is gone, a container ends.
    let (port, data) = (up.port, up.data.clone());
    up.proc.kill();
    std::fs::write(flags.join("end"), b"").expect("flag");
    let deadline = Instant::now() + T;
    while process_running(&format!("{}", flags.join("end").display())) {
        assert!(
            Instant::now() < deadline,
            "the ending container did not end"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        process_running(&marker),
        "a pod stopped when the API server went away"
    );

    // Back on the same data dir and port: the status the agent could not write arrives.
    let _api = up_on(&data, port, dir.path().join("up2.log"));
    k.eventually(
        &["get", "pod", "ender", "-o", "jsonpath={.status.phase}"],
        T,
        |o| o == "Failed",
    );
    assert_eq!(
        jsonpath(
            &k,
            "ender",
            "{.status.containerStatuses[0].state.terminated.exitCode}"
        ),
        "3"
    );
    assert_eq!(jsonpath(&k, "steady", "{.status.phase}"), "Running");
    assert_eq!(
        jsonpath(&k, "steady", "{.status.containerStatuses[0].restartCount}"),
        "0"
    );
    assert!(process_running(&marker));
    k.ok(&["delete", "pod", "steady", "ender", "--timeout=30s"]);
    assert!(!process_running(&marker), "the pod outlived its deletion");
}

#[test]
fn an_agent_re_posts_readiness_someone_else_changed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let up = Up::start(dir.path(), &["--nodes", "0"]);
    let k = Kubectl::new(up.kubeconfig());
    // No periodic status refresh within the test: only the agent's reaction can answer.
    let args = process_agent(
        &up,
        dir.path(),
        "steady",
        "127.122.0.0/24",
        &["--status-interval-s", "3600"],
    );
    let agent = Proc::start(&args, dir.path().join("agent.log"));
    let ready = [
        "get",
        "node",
        "steady",
        "-o",
        "jsonpath={.status.conditions[?(@.type==\"Ready\")].status}",
    ];
    k.eventually(&ready, Duration::from_secs(30), |o| o == "True");
    // What the node controller does to a node whose Lease it finds stale.
    k.ok(&[
        "patch",
        "node",
        "steady",
        "--subresource=status",
        "--type=strategic",
        "-p",
        r#"{"status":{"conditions":[{"type":"Ready","status":"Unknown","reason":"NodeStatusUnknown","message":"Kubelet stopped posting node status."}]}}"#,
    ]);
    k.eventually(&ready, Duration::from_secs(30), |o| o == "True");
    assert!(
        agent
            .log_text()
            .contains("the API's Node differs in readiness"),
        "{}",
        agent.log_text()
    );
}
