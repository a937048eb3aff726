//! The `bosun-node` binary: the node agent alone (`bosun node` runs it when it is installed
//! beside `bosun`; see `bosun::own_binary`).

fn main() -> std::process::ExitCode {
    bosun::cli::node_main()
}
