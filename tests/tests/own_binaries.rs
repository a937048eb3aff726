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

/// The component binaries open with the functions their link-order list names (recorded by
/// scripts/link-order; crates/bosun/build.rs hands each list to rustc's linker, LLD), so an
/// idle component touches a few MiB of code instead of pieces of all of it. Needs the LLD that
/// rustc links x86_64 Linux with by default.
#[test]
fn component_binaries_place_the_functions_they_run_first() {
    let lists = Path::new(env!("CARGO_MANIFEST_DIR")).join("../crates/bosun/link-order");
    for binary in ["bosun-node", "bosun-controller-manager"] {
        let list = std::fs::read_to_string(lists.join(format!("{binary}.txt"))).expect("list");
        let listed: std::collections::HashSet<&str> = list.lines().collect();
        let path = bosun_bin().with_file_name(binary);
        let out = Command::new("nm")
            .args(["-n", "--defined-only"])
            .arg(&path)
            .output()
            .expect("run nm");
        assert!(out.status.success(), "{out:?}");
        let text = String::from_utf8_lossy(&out.stdout);
        // Code symbols by address.
        let code: Vec<&str> = text
            .lines()
            .filter_map(|l| match l.split_whitespace().collect::<Vec<_>>()[..] {
                [_, "t" | "T" | "w" | "W", name] => Some(name),
                _ => None,
            })
            .collect();
        let found: Vec<usize> = (0..code.len())
            .filter(|i| listed.contains(code[*i]))
            .collect();
        // Release builds keep most of the list's names; a debug build inlines differently and
        // keeps about a tenth (dependencies' functions compiled alike). Enough for the check.
        assert!(
            found.len() >= 100,
            "{binary}: only {} of the {} listed functions are in the binary",
            found.len(),
            listed.len()
        );
        // They come first: the code before the last of them is mostly listed functions
        // (aliases and assembly routines sharing a listed section account for the rest, about
        // a tenth). Unordered, the listed ones are spread over all of the code.
        let last = found.last().copied().unwrap_or_default();
        assert!(
            found.len() * 5 >= (last + 1) * 4,
            "{binary}: {} listed functions among the first {} of {} code symbols",
            found.len(),
            last + 1,
            code.len()
        );
    }
}
