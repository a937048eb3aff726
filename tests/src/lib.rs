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

/// A free TCP port on 127.0.0.1.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
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
