//! The child processes `bosun up` starts beside the API server (node agents, scheduler,
//! controller manager): the same binary with another subcommand, its output in
//! `<data dir>/logs/<name>.log` and its pid in `<data dir>/run/<name>.pid` so that a test or an
//! operator can signal one. A child that exits is started again after a back-off (1 s,
//! doubling to a minute; back to 1 s once a child has run for a minute), as a process
//! supervisor would.

use anyhow::{Context, Result};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The first wait before a restart.
pub const FIRST_BACKOFF: Duration = Duration::from_secs(1);
/// The longest wait before a restart.
pub const MAX_BACKOFF: Duration = Duration::from_secs(60);
/// A child that ran this long is healthy again: its next restart waits [`FIRST_BACKOFF`].
pub const HEALTHY_AFTER: Duration = Duration::from_secs(60);

/// How long to wait before restarting a child that ran for `ran_for` after waiting `previous`
/// (`None`: it never had to be restarted).
pub fn next_backoff(previous: Option<Duration>, ran_for: Duration) -> Duration {
    match previous {
        Some(p) if ran_for < HEALTHY_AFTER => (p * 2).min(MAX_BACKOFF),
        _ => FIRST_BACKOFF,
    }
}

#[derive(Debug)]
struct Supervised {
    name: String,
    args: Vec<String>,
    child: Option<Child>,
    started: Instant,
    backoff: Option<Duration>,
    restart_at: Option<Instant>,
}

#[derive(Debug)]
pub struct Components {
    dir: PathBuf,
    /// The bosun binary, resolved once at start: if the file is replaced later (a rebuild, an
    /// upgrade), `current_exe()` would name the deleted file and every restart would fail.
    exe: PathBuf,
    children: Vec<Supervised>,
}

impl Components {
    pub fn new(data_dir: &Path) -> Result<Self> {
        for sub in ["logs", "run"] {
            let d = data_dir.join(sub);
            std::fs::create_dir_all(&d).with_context(|| format!("create {}", d.display()))?;
        }
        Ok(Self {
            dir: data_dir.to_path_buf(),
            exe: std::env::current_exe().context("find the bosun binary")?,
            children: Vec::new(),
        })
    }

    fn start(&self, name: &str, args: &[String]) -> Result<Child> {
        let log_path = self.dir.join("logs").join(format!("{name}.log"));
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .with_context(|| format!("open {}", log_path.display()))?;
        let child = Command::new(&self.exe)
            .args(args)
            .env("BOSUN_PARENT_PID", std::process::id().to_string())
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .with_context(|| format!("start {name}"))?;
        let pid_path = self.dir.join("run").join(format!("{name}.pid"));
        std::fs::write(&pid_path, child.id().to_string())
            .with_context(|| format!("write {}", pid_path.display()))?;
        Ok(child)
    }

    /// Start `bosun <args>` as the component `name`.
    pub fn spawn(&mut self, name: &str, args: &[String]) -> Result<()> {
        let child = self.start(name, args)?;
        self.children.push(Supervised {
            name: name.to_string(),
            args: args.to_vec(),
            child: Some(child),
            started: Instant::now(),
            backoff: None,
            restart_at: None,
        });
        Ok(())
    }

    /// Notice children that exited and restart those whose back-off has passed. Call it
    /// periodically.
    pub fn supervise(&mut self) {
        let now = Instant::now();
        let mut to_start = Vec::new();
        for (i, s) in self.children.iter_mut().enumerate() {
            if let Some(child) = &mut s.child
                && let Ok(Some(status)) = child.try_wait()
            {
                let wait = next_backoff(s.backoff, now.duration_since(s.started));
                eprintln!(
                    "bosun up: {} exited ({status}); restarting it in {} s",
                    s.name,
                    wait.as_secs()
                );
                s.child = None;
                s.backoff = Some(wait);
                s.restart_at = Some(now + wait);
            }
            if s.child.is_none() && s.restart_at.is_some_and(|at| at <= now) {
                to_start.push(i);
            }
        }
        for i in to_start {
            let (name, args) = (self.children[i].name.clone(), self.children[i].args.clone());
            match self.start(&name, &args) {
                Ok(child) => {
                    let s = &mut self.children[i];
                    s.child = Some(child);
                    s.started = Instant::now();
                    s.restart_at = None;
                }
                Err(e) => {
                    let s = &mut self.children[i];
                    let wait = next_backoff(s.backoff, Duration::ZERO);
                    eprintln!(
                        "bosun up: cannot restart {name}: {e:#}; trying again in {} s",
                        wait.as_secs()
                    );
                    s.backoff = Some(wait);
                    s.restart_at = Some(Instant::now() + wait);
                }
            }
        }
    }

    /// SIGTERM every component, then SIGKILL what is left after 10 s.
    pub fn stop(&mut self) {
        for child in self.children.iter().filter_map(|s| s.child.as_ref()) {
            if let Ok(pid) = i32::try_from(child.id()) {
                let _ = kill(Pid::from_raw(pid), Signal::SIGTERM);
            }
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        for s in &mut self.children {
            if let Some(child) = &mut s.child {
                loop {
                    match child.try_wait() {
                        Ok(Some(_)) | Err(_) => break,
                        Ok(None) if Instant::now() >= deadline => {
                            let _ = child.kill();
                            let _ = child.wait();
                            break;
                        }
                        Ok(None) => std::thread::sleep(Duration::from_millis(20)),
                    }
                }
            }
            let _ = std::fs::remove_file(self.dir.join("run").join(format!("{}.pid", s.name)));
        }
        self.children.clear();
    }
}

impl Drop for Components {
    fn drop(&mut self) {
        self.stop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restarts_back_off_doubling_to_a_minute_and_reset_after_a_healthy_minute() {
        let quick = Duration::from_secs(2);
        let mut wait = next_backoff(None, quick);
        assert_eq!(wait, FIRST_BACKOFF);
        let mut seen = vec![wait.as_secs()];
        for _ in 0..8 {
            wait = next_backoff(Some(wait), quick);
            seen.push(wait.as_secs());
        }
        assert_eq!(seen, [1, 2, 4, 8, 16, 32, 60, 60, 60]);
        assert_eq!(
            next_backoff(Some(MAX_BACKOFF), HEALTHY_AFTER),
            FIRST_BACKOFF
        );
    }
}
