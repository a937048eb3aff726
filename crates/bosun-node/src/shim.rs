//! The container shim: the process runtime starts every container through it. It runs the
//! command as its child in the same process group, survives the SIGTERM meant for the
//! container, and writes the exit code and time to the exit file when the child ends, so that
//! the agent learns how a container ended even if the agent itself was restarted meanwhile.

use crate::runtime::process::ExitRecord;
use k8s_openapi::jiff::Timestamp;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;

/// Run `command`, record its end in `exit_file`, and return the code the shim should exit
/// with (the child's, or 128 + signal).
pub async fn run(exit_file: &Path, command: &[String]) -> i32 {
    use tokio::signal::unix::{SignalKind, signal};
    // Handlers, not "ignore": handlers are reset in the child on exec, ignores are not.
    let mut term = signal(SignalKind::terminate()).ok();
    let mut int = signal(SignalKind::interrupt()).ok();
    let record = |exit_code: i32, signal: Option<i32>| {
        let rec = ExitRecord {
            exit_code,
            finished_at: Timestamp::now().to_string(),
            signal,
        };
        if let Ok(text) = serde_json::to_vec(&rec) {
            let tmp = exit_file.with_extension("tmp");
            if std::fs::write(&tmp, text).is_ok() {
                let _ = std::fs::rename(&tmp, exit_file);
            }
        }
        exit_code
    };
    let Some((program, args)) = command.split_first() else {
        eprintln!("container-shim: no command");
        return record(128, None);
    };
    let mut child = match tokio::process::Command::new(program).args(args).spawn() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("exec {program:?}: {e}");
            return record(128, None);
        }
    };
    let status = loop {
        tokio::select! {
            status = child.wait() => break status,
            Some(()) = async { match term.as_mut() { Some(s) => s.recv().await, None => std::future::pending().await } } => {}
            Some(()) = async { match int.as_mut() { Some(s) => s.recv().await, None => std::future::pending().await } } => {}
        }
    };
    match status {
        Ok(s) => match (s.code(), s.signal()) {
            (Some(code), _) => record(code, None),
            (None, Some(sig)) => record(128 + sig, Some(sig)),
            (None, None) => record(255, None),
        },
        Err(e) => {
            eprintln!("wait: {e}");
            record(255, None)
        }
    }
}
