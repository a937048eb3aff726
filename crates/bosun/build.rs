//! 1. Gives every build of the `bosun` library an identity (`BOSUN_BUILD_ID`), so that `bosun`
//!    runs a component's own binary beside it (`bosun-node`, ...) only when both come from the
//!    same build: `cargo run --bin bosun` after a change rebuilds `bosun` alone and would
//!    otherwise hand over to a `bosun-node` left by an earlier build.
//! 2. Links the binaries with packed relative relocations (`-z pack-relative-relocs`, DT_RELR)
//!    where the linker and the C library support them: a position-independent Rust binary
//!    otherwise carries about 1 MB of relocation entries that the loader reads at every start,
//!    and those pages stay in every component's resident memory.

use std::process::{Command, Stdio};
use std::time::{SystemTime, UNIX_EPOCH};

const RELR: &str = "-Wl,-z,pack-relative-relocs";

fn main() {
    // Any change to a workspace crate or to the locked dependencies is a new build.
    println!("cargo:rerun-if-changed=../../crates");
    println!("cargo:rerun-if-changed=../../Cargo.lock");
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    println!(
        "cargo:rustc-env=BOSUN_BUILD_ID={nanos:x}-{:x}",
        std::process::id()
    );
    if relr_links_and_runs() {
        println!("cargo:rustc-link-arg-bins={RELR}");
    }
    if rustc_links_with("--symbol-ordering-file") {
        for bin in ["bosun-node", "bosun-controller-manager"] {
            let order = std::path::Path::new("link-order").join(format!("{bin}.txt"));
            let Ok(order) = std::fs::canonicalize(order) else {
                continue;
            };
            println!(
                "cargo:rustc-link-arg-bin={bin}=-Wl,--symbol-ordering-file={}",
                order.display()
            );
            println!("cargo:rustc-link-arg-bin={bin}=-Wl,--no-warn-symbol-ordering");
        }
    }
}

/// Whether rustc's linker for this target takes `-Wl,<option>=<file>` (LLD does; rustc links
/// x86_64 Linux with its own LLD since 1.90, GNU ld refuses the option): an empty program is
/// linked with it, with the flags this build passes to rustc.
fn rustc_links_with(option: &str) -> bool {
    let (Ok(out_dir), Ok(target)) = (std::env::var("OUT_DIR"), std::env::var("TARGET")) else {
        return false;
    };
    let dir = std::path::Path::new(&out_dir);
    let (source, empty) = (dir.join("probe.rs"), dir.join("probe-order.txt"));
    if std::fs::write(&source, "fn main() {}\n").is_err() || std::fs::write(&empty, "").is_err() {
        return false;
    }
    let flags = std::env::var("CARGO_ENCODED_RUSTFLAGS").unwrap_or_default();
    Command::new(std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into()))
        .args(flags.split('\x1f').filter(|f| !f.is_empty()))
        .args(["--target", &target, "--crate-type", "bin", "-o"])
        .arg(dir.join("probe"))
        .arg("-C")
        .arg(format!("link-arg=-Wl,{option}={}", empty.display()))
        .arg(&source)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Whether a C program linked with packed relative relocations builds and runs here (GNU ld
/// 2.38 and glibc 2.36 or later). Only for native builds: a cross build cannot run the probe.
fn relr_links_and_runs() -> bool {
    let target = std::env::var("TARGET").unwrap_or_default();
    let host = std::env::var("HOST").unwrap_or_default();
    if target != host || !target.ends_with("-linux-gnu") {
        return false;
    }
    let Ok(out_dir) = std::env::var("OUT_DIR") else {
        return false;
    };
    let probe = std::path::Path::new(&out_dir).join("relr-probe");
    let Ok(mut cc) = Command::new(std::env::var("CC").unwrap_or_else(|_| "cc".into()))
        .args(["-x", "c", "-", "-fPIE", "-pie", RELR, "-o"])
        .arg(&probe)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
    else {
        return false;
    };
    if let Some(mut stdin) = cc.stdin.take() {
        use std::io::Write;
        let _ = stdin.write_all(b"static int x; int *p = &x; int main(void) { return *p; }\n");
    }
    cc.wait().is_ok_and(|s| s.success()) && Command::new(&probe).status().is_ok_and(|s| s.success())
}
