//! One suite for every container runtime, run against the process runtime (real processes
//! through the real shim), the Docker runtime (a real Docker engine, with a busybox image built
//! from this host's busybox-static) and the simulated runtime; a second suite for what runtimes
//! that run real commands share (exec streams, logs, exit codes, volumes, adoption); then what
//! only one runtime does.

use bosun_node::busybox_image::{self, TEST_IMAGE};
use bosun_node::runtime::docker::{DockerRuntime, DockerRuntimeConfig};
use bosun_node::runtime::process::{ProcessRuntime, ProcessRuntimeConfig};
use bosun_node::runtime::simulated::SimulatedRuntime;
use bosun_node::runtime::{
    ContainerConfig, ContainerRuntime, ContainerState, ExecEvent, ExecRequest, LogOptions,
    RuntimeError, SandboxConfig, VolumeData,
};
use futures::StreamExt;
use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::Path;
use std::time::{Duration, Instant};
use tokio::io::AsyncWriteExt;

fn process_runtime(root: &Path) -> ProcessRuntime {
    ProcessRuntime::new(ProcessRuntimeConfig {
        root: root.to_path_buf(),
        shim: vec![env!("CARGO_BIN_EXE_bosun-container-shim").to_string()],
        max_log_bytes: 1 << 20,
        cgroups: None,
    })
    .expect("runtime")
}

/// A Docker runtime whose containers carry a node name of their own, so parallel tests never
/// see each other's; the busybox test image is built first when the engine lacks it.
async fn docker_runtime(root: &Path, node: &str) -> DockerRuntime {
    let rt = DockerRuntime::connect(DockerRuntimeConfig {
        root: root.to_path_buf(),
        node: format!("{node}-{}", std::process::id()),
        pod_infra_image: TEST_IMAGE.into(),
        // Ends by itself should a failed test leave it behind.
        pod_infra_command: vec!["sleep".into(), "600".into()],
        network: "bridge".into(),
    })
    .await
    .expect("the Docker engine (is dockerd running?)");
    busybox_image::ensure(rt.docker(), TEST_IMAGE)
        .await
        .expect("the busybox test image");
    rt
}

fn sandbox(uid: &str) -> SandboxConfig {
    SandboxConfig {
        pod_uid: uid.into(),
        namespace: "default".into(),
        name: format!("pod-{uid}"),
        ip: Ipv4Addr::new(127, 77, 0, 2),
        volumes: vec![
            VolumeData {
                name: "scratch".into(),
                files: BTreeMap::new(),
            },
            VolumeData {
                name: "config".into(),
                files: BTreeMap::from([("mode".to_string(), b"fast".to_vec())]),
            },
        ],
    }
}

fn container(uid: &str, name: &str, attempt: u32, script: &str) -> ContainerConfig {
    ContainerConfig {
        pod_uid: uid.into(),
        name: name.into(),
        attempt,
        image: TEST_IMAGE.into(),
        command: vec!["sh".into(), "-c".into(), script.into()],
        entrypoint: Some(vec!["sh".into(), "-c".into(), script.into()]),
        args: None,
        env: vec![("GREETING".into(), "hello".into())],
        working_dir: None,
        mounts: vec![("config".into(), "/etc/app".into())],
        memory_limit: None,
        cpu_limit_milli: None,
        restart_always: true,
    }
}

async fn state_of(rt: &dyn ContainerRuntime, id: &str) -> Option<ContainerState> {
    rt.list()
        .await
        .expect("list")
        .into_iter()
        .find(|c| c.id == id)
        .map(|c| c.state)
}

async fn wait_exited(rt: &dyn ContainerRuntime, id: &str) -> ContainerState {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let s = state_of(rt, id).await.expect("listed");
        if matches!(s, ContainerState::Exited { .. }) {
            return s;
        }
        assert!(Instant::now() < deadline, "{id} did not exit");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// What every runtime must do.
async fn conformance(rt: &dyn ContainerRuntime) {
    rt.health().await.expect("healthy");
    let ip = rt.start_sandbox(&sandbox("p1")).await.expect("sandbox");
    let again = rt
        .start_sandbox(&sandbox("p1"))
        .await
        .expect("a second sandbox start is harmless");
    assert_eq!(ip, again, "the pod keeps its address");
    let a = rt
        .start_container(&container("p1", "a", 0, "sleep 30"))
        .await
        .expect("start a");
    let b = rt
        .start_container(&container("p1", "b", 0, "sleep 30"))
        .await
        .expect("start b");
    assert_ne!(a, b, "container ids are distinct");
    let usage = rt
        .usage(&[a.clone(), b.clone(), "gone".into()])
        .await
        .expect("usage");
    assert!(
        usage.get(&a).is_some_and(
            |u| u.memory_usage_bytes > 0 && u.memory_working_set_bytes <= u.memory_usage_bytes
        ),
        "a running container uses memory: {usage:?}"
    );
    assert!(!usage.contains_key("gone"));
    assert!(matches!(
        state_of(rt, &a).await,
        Some(ContainerState::Running { .. })
    ));

    let out = rt
        .exec(&a, &["true".to_string()], Duration::from_secs(5))
        .await
        .expect("exec");
    assert_eq!(out.exit_code, 0);

    // A stop ends the container, and stopping it again is harmless.
    rt.stop_container(&a, Duration::from_secs(5))
        .await
        .expect("stop");
    let ContainerState::Exited { exit_code, .. } = wait_exited(rt, &a).await else {
        unreachable!()
    };
    assert_ne!(exit_code, 0, "a stopped container did not exit cleanly");
    rt.stop_container(&a, Duration::from_secs(1))
        .await
        .expect("stop again");
    assert!(
        rt.exec(&a, &["true".to_string()], Duration::from_secs(1))
            .await
            .is_err()
    );

    // A later attempt of the same container is a new container.
    let a1 = rt
        .start_container(&container("p1", "a", 1, "sleep 30"))
        .await
        .expect("restart a");
    assert_ne!(a1, a);
    let listed = rt.list().await.expect("list");
    assert_eq!(
        listed
            .iter()
            .filter(|c| c.pod_uid == "p1" && c.name == "a")
            .count(),
        2
    );

    // Removing the sandbox stops and forgets everything of the pod.
    rt.remove_sandbox("p1").await.expect("remove");
    assert!(
        rt.list()
            .await
            .expect("list")
            .iter()
            .all(|c| c.pod_uid != "p1")
    );
    rt.remove_sandbox("p1").await.expect("remove again");
    let _ = b;
}

#[tokio::test]
async fn the_process_runtime_conforms() {
    let dir = tempfile::tempdir().expect("tempdir");
    conformance(&process_runtime(dir.path())).await;
}

#[tokio::test]
async fn the_docker_runtime_conforms() {
    let dir = tempfile::tempdir().expect("tempdir");
    conformance(&docker_runtime(dir.path(), "conformance").await).await;
}

async fn log_text(rt: &dyn ContainerRuntime, id: &str, options: LogOptions) -> String {
    let mut stream = rt.logs(id, options).await.expect("logs");
    let mut text = Vec::new();
    while let Some(chunk) = stream.next().await {
        text.extend_from_slice(&chunk.expect("log chunk"));
    }
    String::from_utf8_lossy(&text).into_owned()
}

/// Run an exec session to its end: (stdout, stderr, exit code).
async fn exec_all(
    rt: &dyn ContainerRuntime,
    id: &str,
    command: &[&str],
    stdin: Option<&[u8]>,
) -> (String, String, i32) {
    let mut session = rt
        .exec_stream(
            id,
            ExecRequest {
                command: command.iter().map(|s| s.to_string()).collect(),
                stdin: stdin.is_some(),
                tty: false,
            },
        )
        .await
        .expect("exec");
    if let Some(input) = stdin {
        let mut w = session.stdin.take().expect("stdin was asked for");
        w.write_all(input).await.expect("write stdin");
        w.shutdown().await.expect("close stdin");
    }
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let deadline = Duration::from_secs(30);
    loop {
        match tokio::time::timeout(deadline, session.events.recv())
            .await
            .expect("the exec ended")
        {
            Some(ExecEvent::Stdout(b)) => out.extend_from_slice(&b),
            Some(ExecEvent::Stderr(b)) => err.extend_from_slice(&b),
            Some(ExecEvent::Exit(code)) => {
                return (
                    String::from_utf8_lossy(&out).into_owned(),
                    String::from_utf8_lossy(&err).into_owned(),
                    code,
                );
            }
            None => panic!("the exec ended without an exit code"),
        }
    }
}

/// What every runtime that runs real commands does: exit codes, logs, env and volumes, exec
/// streams, following a log.
async fn running_commands(rt: &dyn ContainerRuntime) {
    rt.start_sandbox(&sandbox("p2")).await.expect("sandbox");
    let id = rt
        .start_container(&container(
            "p2",
            "c",
            0,
            // Docker copies stdout and stderr apart: stderr first, so the last line is known.
            "echo oops >&2; sleep 0.3; echo $GREETING; cat etc/app/mode; echo; echo last; exit 3",
        ))
        .await
        .expect("start");
    let ContainerState::Exited {
        exit_code, reason, ..
    } = wait_exited(rt, &id).await
    else {
        unreachable!()
    };
    assert_eq!((exit_code, reason.as_str()), (3, "Error"));
    let log = log_text(rt, &id, LogOptions::default()).await;
    assert!(log.contains("hello"), "{log}");
    assert!(
        log.contains("fast"),
        "the configMap volume is visible: {log}"
    );
    assert!(log.contains("oops"), "stderr is logged: {log}");
    let last = log_text(
        rt,
        &id,
        LogOptions {
            follow: false,
            tail_lines: Some(1),
        },
    )
    .await;
    assert_eq!(last, "last\n");

    // Following a log streams until the container ends.
    let id = rt
        .start_container(&container(
            "p2",
            "counter",
            0,
            "for i in 1 2 3; do echo line$i; sleep 0.2; done",
        ))
        .await
        .expect("start");
    let followed = log_text(
        rt,
        &id,
        LogOptions {
            follow: true,
            tail_lines: None,
        },
    )
    .await;
    assert_eq!(followed, "line1\nline2\nline3\n");

    // Exec: stdin in, stdout and stderr apart, the exit code, the container's environment.
    let id = rt
        .start_container(&container("p2", "sleeper", 0, "sleep 60"))
        .await
        .expect("start");
    let (out, err, code) = exec_all(
        rt,
        &id,
        &["sh", "-c", "cat; echo err >&2; exit 5"],
        Some(b"ping\n"),
    )
    .await;
    assert_eq!((out.as_str(), err.as_str(), code), ("ping\n", "err\n", 5));
    let (out, _, code) = exec_all(rt, &id, &["sh", "-c", "echo $GREETING"], None).await;
    assert_eq!((out.as_str(), code), ("hello\n", 0));
    let (_, _, code) = exec_all(rt, &id, &["no-such-program-here"], None).await;
    assert_ne!(code, 0, "a missing program fails");
    let timed_out = rt
        .exec(
            &id,
            &["sleep".into(), "5".into()],
            Duration::from_millis(300),
        )
        .await
        .expect("exec");
    assert_eq!(timed_out.exit_code, -1, "a probe command past its deadline");
    rt.remove_sandbox("p2").await.expect("remove");
}

#[tokio::test]
async fn the_process_runtime_runs_commands() {
    let dir = tempfile::tempdir().expect("tempdir");
    running_commands(&process_runtime(dir.path())).await;
}

#[tokio::test]
async fn the_docker_runtime_runs_commands() {
    let dir = tempfile::tempdir().expect("tempdir");
    running_commands(&docker_runtime(dir.path(), "commands").await).await;
}

/// A new runtime over the same state (the agent after a restart) adopts a running container
/// and learns how it ends.
async fn adoption(
    first: &dyn ContainerRuntime,
    second: impl AsyncFnOnce() -> Box<dyn ContainerRuntime>,
) {
    first.start_sandbox(&sandbox("p4")).await.expect("sandbox");
    let id = first
        .start_container(&container("p4", "c", 0, "sleep 1; exit 7"))
        .await
        .expect("start");
    let rt = second().await;
    assert!(
        matches!(
            state_of(rt.as_ref(), &id).await,
            Some(ContainerState::Running { .. })
        ),
        "adopted while running"
    );
    let ContainerState::Exited { exit_code, .. } = wait_exited(rt.as_ref(), &id).await else {
        unreachable!()
    };
    assert_eq!(exit_code, 7, "the new runtime learned the exit code");
    rt.remove_sandbox("p4").await.expect("remove");
}

#[tokio::test]
async fn a_restarted_process_runtime_adopts_running_containers_and_learns_how_they_end() {
    let dir = tempfile::tempdir().expect("tempdir");
    let first = process_runtime(dir.path());
    adoption(&first, async || {
        Box::new(process_runtime(dir.path())) as Box<dyn ContainerRuntime>
    })
    .await;
}

#[tokio::test]
async fn a_restarted_docker_runtime_adopts_running_containers_and_learns_how_they_end() {
    let dir = tempfile::tempdir().expect("tempdir");
    let first = docker_runtime(dir.path(), "adoption").await;
    adoption(&first, async || {
        Box::new(docker_runtime(dir.path(), "adoption").await) as Box<dyn ContainerRuntime>
    })
    .await;
}

#[tokio::test]
async fn docker_pods_share_one_network_namespace_and_address() {
    let dir = tempfile::tempdir().expect("tempdir");
    let rt = docker_runtime(dir.path(), "network").await;
    let ip = rt.start_sandbox(&sandbox("p6")).await.expect("sandbox");
    assert!(
        !ip.is_loopback(),
        "the pod has an address on the Docker network: {ip}"
    );
    let a = rt
        .start_container(&container("p6", "a", 0, "sleep 60"))
        .await
        .expect("a");
    let b = rt
        .start_container(&container("p6", "b", 0, "sleep 60"))
        .await
        .expect("b");
    let netns = |id: String| {
        let rt = &rt;
        async move {
            exec_all(rt, &id, &["readlink", "/proc/self/ns/net"], None)
                .await
                .0
        }
    };
    let (na, nb) = (netns(a.clone()).await, netns(b).await);
    assert!(na.starts_with("net:"), "{na}");
    assert_eq!(
        na, nb,
        "the containers share the sandbox's network namespace"
    );
    let (addrs, _, _) = exec_all(&rt, &a, &["ip", "-4", "addr"], None).await;
    assert!(addrs.contains(&ip.to_string()), "{ip} not in {addrs}");
    rt.remove_sandbox("p6").await.expect("remove");
}

#[tokio::test]
async fn docker_enforces_the_memory_limit_and_reports_oom_killed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let rt = docker_runtime(dir.path(), "oom").await;
    rt.start_sandbox(&sandbox("p7")).await.expect("sandbox");
    let mut c = container("p7", "hog", 0, "tail /dev/zero");
    c.memory_limit = Some(32 << 20);
    c.cpu_limit_milli = Some(500);
    let id = rt.start_container(&c).await.expect("start");
    let inspect = rt
        .docker()
        .inspect_container(&id, None)
        .await
        .expect("inspect");
    let host = inspect.host_config.expect("host config");
    assert_eq!(
        (host.memory, host.nano_cpus),
        (Some(32 << 20), Some(500_000_000))
    );
    let ContainerState::Exited {
        exit_code, reason, ..
    } = wait_exited(&rt, &id).await
    else {
        unreachable!()
    };
    assert_eq!((exit_code, reason.as_str()), (137, "OOMKilled"));
    rt.remove_sandbox("p7").await.expect("remove");
}

#[tokio::test]
async fn docker_uses_local_images_and_names_a_failed_pull() {
    let dir = tempfile::tempdir().expect("tempdir");
    let rt = docker_runtime(dir.path(), "images").await;
    let images = rt.images().await.expect("images");
    assert!(
        images
            .iter()
            .any(|i| i.names.iter().any(|n| n == TEST_IMAGE) && i.size_bytes > 0),
        "{images:?}"
    );
    rt.start_sandbox(&sandbox("p8")).await.expect("sandbox");
    let mut c = container("p8", "c", 0, "true");
    c.image = "bosun-test/absent:1".into();
    match rt.start_container(&c).await {
        Err(RuntimeError::CreateContainer { reason, message }) => {
            assert_eq!(reason, "ErrImagePull");
            assert!(message.contains("bosun-test/absent:1"), "{message}");
        }
        other => panic!("expected a pull error, got {other:?}"),
    }
    rt.remove_sandbox("p8").await.expect("remove");
}

#[tokio::test]
async fn the_simulated_runtime_conforms() {
    conformance(&SimulatedRuntime::new(Duration::from_secs(3600))).await;
}

#[tokio::test]
async fn simulated_run_to_completion_containers_exit_zero_after_the_set_time() {
    let rt = SimulatedRuntime::new(Duration::from_millis(200));
    let mut c = container("j", "work", 0, "");
    c.restart_always = false;
    let id = rt.start_container(&c).await.expect("start");
    assert!(matches!(
        state_of(&rt, &id).await,
        Some(ContainerState::Running { .. })
    ));
    let ContainerState::Exited {
        exit_code, reason, ..
    } = wait_exited(&rt, &id).await
    else {
        unreachable!()
    };
    assert_eq!((exit_code, reason.as_str()), (0, "Completed"));
}

#[tokio::test]
async fn a_missing_program_is_a_start_error_naming_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let rt = process_runtime(dir.path());
    rt.start_sandbox(&sandbox("p3")).await.expect("sandbox");
    let mut c = container("p3", "c", 0, "");
    c.command = vec!["no-such-program-here".into()];
    match rt.start_container(&c).await {
        Err(RuntimeError::CreateContainer { reason, message }) => {
            assert_eq!(reason, "RunContainerError");
            assert!(message.contains("no-such-program-here"), "{message}");
        }
        other => panic!("expected a start error, got {other:?}"),
    }
    c.command.clear();
    assert!(matches!(
        rt.start_container(&c).await,
        Err(RuntimeError::CreateContainer { .. })
    ));
}

#[tokio::test]
async fn a_container_ignoring_sigterm_is_killed_after_the_grace_period() {
    let dir = tempfile::tempdir().expect("tempdir");
    let rt = process_runtime(dir.path());
    rt.start_sandbox(&sandbox("p5")).await.expect("sandbox");
    let id = rt
        .start_container(&container(
            "p5",
            "c",
            0,
            "trap '' TERM; echo started; while true; do sleep 0.1; done",
        ))
        .await
        .expect("start");
    let log = rt.log_path(&id).expect("log");
    let deadline = Instant::now() + Duration::from_secs(10);
    while !std::fs::read_to_string(&log)
        .unwrap_or_default()
        .contains("started")
    {
        assert!(Instant::now() < deadline, "container never started");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let t0 = Instant::now();
    rt.stop_container(&id, Duration::from_millis(500))
        .await
        .expect("stop");
    assert!(
        t0.elapsed() >= Duration::from_millis(500),
        "the grace period was not given"
    );
    let ContainerState::Exited { exit_code, .. } = wait_exited(&rt, &id).await else {
        unreachable!()
    };
    assert_eq!(exit_code, 137, "SIGKILL after the grace period");
}

#[tokio::test]
async fn the_process_runtime_puts_containers_in_cgroups_that_enforce_their_memory_limit() {
    let dir = tempfile::tempdir().expect("tempdir");
    let rt = ProcessRuntime::new(ProcessRuntimeConfig {
        root: dir.path().to_path_buf(),
        shim: vec![env!("CARGO_BIN_EXE_bosun-container-shim").to_string()],
        max_log_bytes: 1 << 20,
        cgroups: Some(format!("limits-test-{}", std::process::id())),
    })
    .expect("runtime");
    if let Err(reason) = rt.limits_enforced() {
        panic!(
            "container limits cannot be enforced on this host: {reason} (the agent needs cgroup v2 with the memory and cpu controllers, or the v1 memory and cpu hierarchies, writable by it)"
        );
    }
    rt.start_sandbox(&sandbox("p9")).await.expect("sandbox");
    let mut hog = container("p9", "hog", 0, "tail /dev/zero");
    hog.memory_limit = Some(32 << 20);
    hog.cpu_limit_milli = Some(500);
    let id = rt.start_container(&hog).await.expect("start");
    let ContainerState::Exited {
        exit_code, reason, ..
    } = wait_exited(&rt, &id).await
    else {
        unreachable!()
    };
    assert_eq!((exit_code, reason.as_str()), (137, "OOMKilled"));
    // Within its limit, the same command shape runs on.
    let calm = rt
        .start_container(&container(
            "p9",
            "calm",
            0,
            "head -c 1000000 /dev/zero | tail; sleep 30",
        ))
        .await
        .expect("start");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(matches!(
        state_of(&rt, &calm).await,
        Some(ContainerState::Running { .. })
    ));
    rt.remove_sandbox("p9").await.expect("remove");
}
