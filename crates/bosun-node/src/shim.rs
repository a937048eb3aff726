//! The container shim: the process runtime starts every container through it. It runs the
//! command as its child in the same process group, survives the SIGTERM meant for the
//! container, and writes the exit code and time to the exit file when the child ends, so that
//! the agent learns how a container ended even if the agent itself was restarted meanwhile.

use crate::runtime::process::ExitRecord;
use k8s_openapi::jiff::Timestamp;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};

/// The shim's arguments: `<exit file> [--cgroup DIR]... -- <command...>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShimArgs {
    pub exit_file: PathBuf,
    pub cgroups: Vec<PathBuf>,
    pub command: Vec<String>,
}

pub const USAGE: &str = "usage: container-shim <exit file> [--cgroup DIR]... -- <command...>";

pub fn parse_args(args: &[String]) -> Result<ShimArgs, &'static str> {
    let (exit_file, mut rest) = args.split_first().ok_or(USAGE)?;
    let mut cgroups = Vec::new();
    while let Some((flag, after)) = rest.split_first() {
        match flag.as_str() {
            "--cgroup" => {
                let (dir, after) = after.split_first().ok_or(USAGE)?;
                cgroups.push(PathBuf::from(dir));
                rest = after;
            }
            "--" => {
                rest = after;
                break;
            }
            _ => break,
        }
    }
    Ok(ShimArgs {
        exit_file: PathBuf::from(exit_file),
        cgroups,
        command: rest.to_vec(),
    })
}

/// The shim as a program: parse `args`, run, exit with the command's code.
pub fn main(args: &[String]) -> std::process::ExitCode {
    let args = match parse_args(args) {
        Ok(a) => a,
        Err(usage) => {
            eprintln!("{usage}");
            return std::process::ExitCode::from(2);
        }
    };
    let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    else {
        return std::process::ExitCode::from(128);
    };
    let code = runtime.block_on(run(&args.exit_file, &args.cgroups, &args.command));
    std::process::ExitCode::from(u8::try_from(code & 0xff).unwrap_or(255))
}

/// Join `cgroups`, run `command`, record its end in `exit_file`, and return the code the
/// shim should exit with (the child's, or 128 + signal).
pub async fn run(exit_file: &Path, cgroups: &[PathBuf], command: &[String]) -> i32 {
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
    if let Err(e) = crate::cgroups::join(cgroups) {
        eprintln!("container-shim: {e}");
        return record(128, None);
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn shim_arguments_name_the_exit_file_cgroups_and_command() {
        let a = parse_args(&args(&[
            "/x/exit", "--cgroup", "/cg/a", "--cgroup", "/cg/b", "--", "sh", "-c", "true",
        ]))
        .expect("args");
        assert_eq!(a.exit_file, PathBuf::from("/x/exit"));
        assert_eq!(a.cgroups, [PathBuf::from("/cg/a"), PathBuf::from("/cg/b")]);
        assert_eq!(a.command, ["sh", "-c", "true"]);
        let plain = parse_args(&args(&["/x/exit", "--", "--cgroup"])).expect("args");
        assert!(plain.cgroups.is_empty());
        assert_eq!(plain.command, ["--cgroup"]);
        assert!(parse_args(&[]).is_err());
        assert!(parse_args(&args(&["/x/exit", "--cgroup"])).is_err());
    }
}
