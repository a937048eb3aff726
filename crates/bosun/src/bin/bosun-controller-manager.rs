//! The `bosun-controller-manager` binary: the controller manager alone (`bosun
//! controller-manager` runs it when it is installed beside `bosun`; see `bosun::own_binary`).

fn main() -> std::process::ExitCode {
    bosun::cli::controller_manager_main()
}
