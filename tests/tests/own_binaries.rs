//! `bosun node` and `bosun controller-manager` become `bosun-node` and
//! `bosun-controller-manager` when those sit beside `bosun` and come from the same build; a
//! component binary from another build hands the command back to `bosun`.

use bosun_e2e::bosun_bin;
use std::path::Path;
use std::process::Command;

/// The first line of `<program> <args...> --help`: clap's usage names the program.
fn usage(program: &Path, args: &[&str], env: &[(&str, &str)]) -> String {
    let out = Command::new(program)
        .args(args)
        .arg("--help")
        .envs(env.iter().copied())
        .output()
        .expect("run --help");
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.lines()
        .find(|l| l.starts_with("Usage:"))
        .unwrap_or_default()
        .to_string()
}

#[test]
fn bosun_runs_a_component_through_its_own_binary_or_itself() {
    let bosun = bosun_bin();
    for (subcommand, binary) in [
        ("node", "bosun-node"),
        ("controller-manager", "bosun-controller-manager"),
    ] {
        let own = usage(&bosun, &[subcommand], &[]);
        assert!(own.starts_with(&format!("Usage: {binary} ")), "{own}");
        let itself = usage(&bosun, &[subcommand], &[("BOSUN_IN_PROCESS", "1")]);
        assert!(
            itself.starts_with(&format!("Usage: bosun {subcommand} ")),
            "{itself}"
        );
    }
    // Without a component binary beside it, bosun runs the component itself.
    let dir = tempfile::tempdir().expect("tempdir");
    let alone = dir.path().join("bosun");
    std::fs::copy(&bosun, &alone).expect("copy bosun");
    let u = usage(&alone, &["node"], &[]);
    assert!(u.starts_with("Usage: bosun node "), "{u}");
}

#[test]
fn a_component_binary_from_another_build_hands_back_to_bosun() {
    let bosun = bosun_bin();
    let node = bosun.with_file_name("bosun-node");
    // Started by bosun expecting another build: bosun runs the node agent itself.
    let u = usage(&node, &[], &[("BOSUN_BUILD_ID", "an-earlier-build")]);
    assert!(u.starts_with("Usage: bosun node "), "{u}");
    // Started directly, it is the node agent.
    let u = usage(&node, &[], &[]);
    assert!(u.starts_with("Usage: bosun-node "), "{u}");
}
