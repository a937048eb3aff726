//! The container shim as its own small binary, for the runtime's tests; the `bosun` binary
//! serves the same as `bosun container-shim`.

fn main() -> std::process::ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    bosun_node::shim::main(&args)
}
