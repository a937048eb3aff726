//! Helpers for the end-to-end tests: find the built `bosun` binary, run it as a child process
//! that is killed when dropped, pick free ports, wait for conditions.

use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The `bosun` binary built by `cargo build -p bosun` (or `$BOSUN_BIN`).
pub fn bosun_bin() -> PathBuf {
    if let Ok(p) = std::env::var("BOSUN_BIN") {
        return PathBuf::from(p);
    }
    let target = std::env::var("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"));
    let bin = target.join("debug/bosun");
    assert!(
        bin.exists(),
        "{} is missing: run `cargo build -p bosun` first (./scripts/test does)",
        bin.display()
    );
    bin
}

/// A free TCP port on 127.0.0.1 for a server a test starts: below the ephemeral range and
/// never twice in one test process (see [`bosun_store_etcd::ports`]).
pub fn free_port() -> u16 {
    bosun_store_etcd::ports::free_port().expect("a free port")
}

/// A running `bosun` process, killed (SIGKILL) when dropped.
#[derive(Debug)]
pub struct Proc {
    pub child: Child,
    pub log: PathBuf,
}

impl Proc {
    /// Start `bosun args...`, stdout and stderr appended to `log`.
    pub fn start(args: &[String], log: PathBuf) -> Self {
        let out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .expect("log file");
        let err = out.try_clone().expect("log file");
        let child = Command::new(bosun_bin())
            .args(args)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .expect("start bosun");
        Self { child, log }
    }

    /// SIGKILL and reap.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Run `bosun args...` to completion.
pub fn run(args: &[&str]) -> Output {
    Command::new(bosun_bin())
        .args(args)
        .output()
        .expect("run bosun")
}

/// Poll `cond` until it holds or `timeout` passes (then panic with `what`).
pub async fn wait_for<F, Fut>(what: &str, timeout: Duration, mut cond: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + timeout;
    while !cond().await {
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// `bosun up` on a free port with its data under `dir`, stopped (SIGKILL) when dropped.
#[derive(Debug)]
pub struct Up {
    pub proc: Proc,
    pub port: u16,
    pub data: PathBuf,
}

impl Up {
    pub fn start(dir: &std::path::Path, extra: &[&str]) -> Self {
        let port = free_port();
        let data = dir.join("data");
        let mut args: Vec<String> = vec![
            "up".into(),
            "--data-dir".into(),
            data.display().to_string(),
            "--port".into(),
            port.to_string(),
        ];
        args.extend(extra.iter().map(|s| s.to_string()));
        let proc = Proc::start(&args, dir.join("up.log"));
        let deadline = Instant::now() + Duration::from_secs(30);
        while !proc.log_text().contains("bosun is ready") {
            assert!(
                Instant::now() < deadline,
                "bosun up not ready:\n{}",
                proc.log_text()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Self { proc, port, data }
    }

    pub fn kubeconfig(&self) -> PathBuf {
        self.data.join("kubeconfig")
    }
}

/// A test's cluster stops the way a user stops it (SIGTERM): `bosun up` stops its node agents,
/// which stop their pods. A SIGKILL would leave the pods' processes running (they outlive an
/// agent by design, so that a restarted agent adopts them). SIGKILL only if it hangs.
impl Drop for Up {
    fn drop(&mut self) {
        if matches!(self.proc.child.try_wait(), Ok(None)) {
            let _ = Command::new("kill")
                .args(["-TERM", &self.proc.child.id().to_string()])
                .status();
            let deadline = Instant::now() + Duration::from_secs(20);
            while matches!(self.proc.child.try_wait(), Ok(None)) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        // Proc's own drop reaps it (and kills it if it is still there).
    }
}

/// The real kubectl against a kubeconfig, with its own cache dir.
#[derive(Debug)]
pub struct Kubectl {
    pub kubeconfig: PathBuf,
    cache: tempfile::TempDir,
}

impl Kubectl {
    pub fn new(kubeconfig: PathBuf) -> Self {
        Self {
            kubeconfig,
            cache: tempfile::tempdir().expect("kubectl cache dir"),
        }
    }

    /// Run kubectl with `args`, stdin from `input` when given.
    pub fn run(&self, args: &[&str], input: Option<&str>) -> Output {
        use std::io::Write;
        let mut child = Command::new("kubectl")
            .arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .arg("--cache-dir")
            .arg(self.cache.path())
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("kubectl on PATH");
        if let Some(mut stdin) = child.stdin.take() {
            let _ = stdin.write_all(input.unwrap_or("").as_bytes());
        }
        child.wait_with_output().expect("kubectl")
    }

    /// Run kubectl and return stdout, panicking with stderr when it fails.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args, None);
        assert!(
            out.status.success(),
            "kubectl {args:?} failed: {}{}",
            String::from_utf8_lossy(&out.stderr),
            String::from_utf8_lossy(&out.stdout)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// `kubectl apply -f -` of `manifest`.
    pub fn apply(&self, manifest: &str) -> String {
        let out = self.run(&["apply", "-f", "-"], Some(manifest));
        assert!(
            out.status.success(),
            "apply failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Poll `kubectl args` until `cond(stdout)` holds, or panic after `timeout` with the
    /// last output.
    pub fn eventually(
        &self,
        args: &[&str],
        timeout: Duration,
        cond: impl Fn(&str) -> bool,
    ) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            let out = self.run(args, None);
            let text = String::from_utf8_lossy(&out.stdout).into_owned();
            if out.status.success() && cond(&text) {
                return text;
            }
            assert!(
                Instant::now() < deadline,
                "timed out after {timeout:?} on kubectl {args:?}; last output:\n{text}{}",
                String::from_utf8_lossy(&out.stderr)
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

/// Whether a process whose command line contains `marker` is running.
pub fn process_running(marker: &str) -> bool {
    Command::new("pgrep")
        .args(["-f", marker])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// A process stopped with SIGSTOP (a node agent or scheduler that stops heartbeating without
/// dying, so `bosun up` does not restart it), continued with SIGCONT when dropped so that it
/// can act on the SIGTERM its parent's exit sends.
#[derive(Debug)]
pub struct Frozen(String);

impl Frozen {
    /// SIGSTOP the process whose pid is in `pid_file` (as `bosun up` writes them).
    pub fn pid_file(pid_file: &std::path::Path) -> Self {
        let pid = std::fs::read_to_string(pid_file)
            .unwrap_or_else(|e| panic!("{}: {e}", pid_file.display()))
            .trim()
            .to_string();
        let stopped = Command::new("kill")
            .args(["-STOP", &pid])
            .status()
            .expect("kill");
        assert!(stopped.success(), "SIGSTOP {pid}");
        Self(pid)
    }
}

impl Drop for Frozen {
    fn drop(&mut self) {
        let _ = Command::new("kill").args(["-CONT", &self.0]).status();
    }
}
