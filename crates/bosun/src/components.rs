//! The child processes `bosun up` starts beside the API server (node agents, scheduler,
//! controller manager): the same binary with another subcommand, its output in
//! `<data dir>/logs/<name>.log` and its pid in `<data dir>/run/<name>.pid` so that a test or an
//! operator can stop one.

use anyhow::{Context, Result};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

#[derive(Debug)]
pub struct Components {
    dir: PathBuf,
    children: Vec<(String, Child)>,
}

impl Components {
    pub fn new(data_dir: &Path) -> Result<Self> {
        for sub in ["logs", "run"] {
            let d = data_dir.join(sub);
            std::fs::create_dir_all(&d).with_context(|| format!("create {}", d.display()))?;
        }
        Ok(Self {
            dir: data_dir.to_path_buf(),
            children: Vec::new(),
        })
    }

    /// Start `bosun <args>` as the component `name`.
    pub fn spawn(&mut self, name: &str, args: &[String]) -> Result<()> {
        let exe = std::env::current_exe().context("find the bosun binary")?;
        let log_path = self.dir.join("logs").join(format!("{name}.log"));
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .with_context(|| format!("open {}", log_path.display()))?;
        let child = Command::new(exe)
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
        self.children.push((name.to_string(), child));
        Ok(())
    }

    /// SIGTERM every component, then SIGKILL what is left after 10 s.
    pub fn stop(&mut self) {
        for (_, child) in &self.children {
            if let Ok(pid) = i32::try_from(child.id()) {
                let _ = kill(Pid::from_raw(pid), Signal::SIGTERM);
            }
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        for (name, child) in &mut self.children {
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
            let _ = std::fs::remove_file(self.dir.join("run").join(format!("{name}.pid")));
        }
        self.children.clear();
    }
}

impl Drop for Components {
    fn drop(&mut self) {
        self.stop();
    }
}
