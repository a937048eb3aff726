//! One suite for every container runtime, run against the process runtime (real processes
//! through the real shim) and the simulated runtime; then what only the process runtime does.

use bosun_node::runtime::process::{ProcessRuntime, ProcessRuntimeConfig};
use bosun_node::runtime::simulated::SimulatedRuntime;
use bosun_node::runtime::{
    ContainerConfig, ContainerRuntime, ContainerState, RuntimeError, SandboxConfig, VolumeData,
};
use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::Path;
use std::time::{Duration, Instant};

fn process_runtime(root: &Path) -> ProcessRuntime {
    ProcessRuntime::new(ProcessRuntimeConfig {
        root: root.to_path_buf(),
        shim: vec![env!("CARGO_BIN_EXE_bosun-container-shim").to_string()],
        max_log_bytes: 1 << 20,
    })
    .expect("runtime")
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
        image: "test".into(),
        command: vec!["sh".into(), "-c".into(), script.into()],
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
    rt.start_sandbox(&sandbox("p1")).await.expect("sandbox");
    rt.start_sandbox(&sandbox("p1"))
        .await
        .expect("a second sandbox start is harmless");
    let a = rt
        .start_container(&container("p1", "a", 0, "sleep 30"))
        .await
        .expect("start a");
    let b = rt
        .start_container(&container("p1", "b", 0, "sleep 30"))
        .await
        .expect("start b");
    assert_ne!(a, b, "container ids are distinct");
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
async fn the_process_runtime_records_exit_codes_output_env_and_volumes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let rt = process_runtime(dir.path());
    rt.start_sandbox(&sandbox("p2")).await.expect("sandbox");
    let id = rt
        .start_container(&container(
            "p2",
            "c",
            0,
            "echo $GREETING; cat etc/app/mode; echo oops >&2; exit 3",
        ))
        .await
        .expect("start");
    let ContainerState::Exited {
        exit_code, reason, ..
    } = wait_exited(&rt, &id).await
    else {
        unreachable!()
    };
    assert_eq!((exit_code, reason.as_str()), (3, "Error"));
    let log = std::fs::read_to_string(rt.log_path(&id).expect("log path")).expect("log");
    assert!(log.contains("hello"), "{log}");
    assert!(
        log.contains("fast"),
        "the configMap volume is visible: {log}"
    );
    assert!(log.contains("oops"), "stderr is logged: {log}");
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
async fn a_restarted_runtime_adopts_running_containers_and_learns_how_they_end() {
    let dir = tempfile::tempdir().expect("tempdir");
    let id = {
        let rt = process_runtime(dir.path());
        rt.start_sandbox(&sandbox("p4")).await.expect("sandbox");
        rt.start_container(&container("p4", "c", 0, "sleep 1; exit 7"))
            .await
            .expect("start")
    };
    // A new runtime over the same directory: the agent after a restart.
    let rt = process_runtime(dir.path());
    assert!(
        matches!(
            state_of(&rt, &id).await,
            Some(ContainerState::Running { .. })
        ),
        "adopted while running"
    );
    let ContainerState::Exited { exit_code, .. } = wait_exited(&rt, &id).await else {
        unreachable!()
    };
    assert_eq!(
        exit_code, 7,
        "the shim recorded the exit for the new runtime"
    );
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
