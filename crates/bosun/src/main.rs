//! The `bosun` binary: parse the command line and hand over to the library.

/// jemalloc rather than glibc's malloc: every component builds and drops many small JSON and
/// object trees; under glibc half the API server's CPU went to malloc/free in a profile of
/// `bench scheduler`, and memory freed between live objects stayed resident (the scheduler
/// held 291 MiB free for 77 MiB in use after a backlog of pending pods).
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> std::process::ExitCode {
    bosun::cli::main()
}
