//! The `bosun` binary: every component as a subcommand. Parse the command line and hand over
//! to the library.

fn main() -> std::process::ExitCode {
    bosun::cli::main()
}
