//! The container shim as its own small binary, for the runtime's tests; the `bosun` binary
//! serves the same as `bosun container-shim`.

fn main() -> std::process::ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some((exit_file, rest)) = args.split_first() else {
        eprintln!("usage: bosun-container-shim <exit file> -- <command...>");
        return std::process::ExitCode::from(2);
    };
    let command: Vec<String> = match rest.split_first() {
        Some((dashdash, cmd)) if dashdash == "--" => cmd.to_vec(),
        _ => rest.to_vec(),
    };
    let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    else {
        return std::process::ExitCode::from(128);
    };
    let code = runtime.block_on(bosun_node::shim::run(
        std::path::Path::new(exit_file),
        &command,
    ));
    std::process::ExitCode::from(u8::try_from(code & 0xff).unwrap_or(255))
}
