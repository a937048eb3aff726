//! Gives every build of the `bosun` library an identity (`BOSUN_BUILD_ID`), so that `bosun`
//! runs a component's own binary beside it (`bosun-node`, ...) only when both come from the
//! same build: `cargo run --bin bosun` after a change rebuilds `bosun` alone and would otherwise
//! hand over to a `bosun-node` left by an earlier build.

use std::time::{SystemTime, UNIX_EPOCH};

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
}
