//! Components with a binary of their own. `bosun` holds every component, so each process it
//! runs maps code for all of them; a node agent or a controller manager touches, and keeps
//! resident, pages of code it never calls. `bosun-node` and `bosun-controller-manager` hold one
//! component each (as kubelet and kube-controller-manager do), and `bosun node ...` /
//! `bosun controller-manager ...` replace themselves with that binary when it sits beside
//! `bosun` and comes from the same build. Otherwise (not built, another build, or
//! `BOSUN_IN_PROCESS=1`) `bosun` runs the component itself: the behaviour is the same.

use std::ffi::OsString;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Command;

/// This build's identity (see build.rs).
pub const BUILD_ID: &str = env!("BOSUN_BUILD_ID");
/// Set by `bosun` on the component binary it runs: the build it expects.
const ENV_BUILD: &str = "BOSUN_BUILD_ID";
/// When set, `bosun` runs components itself rather than through their own binaries.
pub const ENV_IN_PROCESS: &str = "BOSUN_IN_PROCESS";

/// The binary of its own that runs `bosun <subcommand>`, if there is one.
pub fn binary_name(subcommand: &str) -> Option<&'static str> {
    match subcommand {
        "node" => Some("bosun-node"),
        "controller-manager" => Some("bosun-controller-manager"),
        _ => None,
    }
}

/// Whether a component binary started with `expected` in its environment may run here: only
/// when `bosun` was not involved (`None`) or expects this very build.
pub fn same_build(expected: Option<&str>) -> bool {
    expected.is_none_or(|id| id == BUILD_ID)
}

/// In `bosun`: replace this process with `<dir of bosun>/<binary_name(subcommand)> args...`.
/// Returns when that is not possible or not wanted; the caller then runs the component.
pub fn exec(subcommand: &str, args: &[OsString]) {
    if std::env::var_os(ENV_IN_PROCESS).is_some() {
        return;
    }
    let Some(name) = binary_name(subcommand) else {
        return;
    };
    let Ok(me) = std::env::current_exe() else {
        return;
    };
    let path = me.with_file_name(name);
    if !path.is_file() {
        return;
    }
    let err = Command::new(&path)
        .args(args)
        .env(ENV_BUILD, BUILD_ID)
        .exec();
    eprintln!(
        "warning: cannot run {}: {err}; bosun runs the {subcommand} itself",
        path.display()
    );
}

/// In a component binary: when `bosun` started it expecting another build (this binary is
/// left from an earlier one), hand the command back to the `bosun` beside it, which then runs
/// the component itself. Returns `Ok` when this binary is the right one; an error when handing
/// back failed (the caller should exit).
pub fn hand_back_if_stale(subcommand: &str, args: &[OsString]) -> std::io::Result<()> {
    let expected = std::env::var(ENV_BUILD).ok();
    if same_build(expected.as_deref()) {
        return Ok(());
    }
    let bosun = std::env::current_exe()
        .map(|me| me.with_file_name("bosun"))
        .unwrap_or_else(|_| Path::new("bosun").to_path_buf());
    let err = Command::new(&bosun)
        .arg(subcommand)
        .args(args)
        .env(ENV_IN_PROCESS, "1")
        .env_remove(ENV_BUILD)
        .exec();
    Err(std::io::Error::new(
        err.kind(),
        format!(
            "this binary is from another build than {} and cannot hand back to it: {err}",
            bosun.display()
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_node_agent_and_the_controller_manager_have_binaries_of_their_own() {
        assert_eq!(binary_name("node"), Some("bosun-node"));
        assert_eq!(
            binary_name("controller-manager"),
            Some("bosun-controller-manager")
        );
        for other in [
            "up",
            "apiserver",
            "scheduler",
            "store",
            "bench",
            "container-shim",
        ] {
            assert_eq!(binary_name(other), None, "{other}");
        }
    }

    #[test]
    fn a_component_binary_runs_only_for_its_own_build() {
        assert!(same_build(None));
        assert!(same_build(Some(BUILD_ID)));
        assert!(!same_build(Some("another-build")));
        assert!(!BUILD_ID.is_empty());
    }
}
