//! The `bosun-node` binary: the node agent alone (`bosun node` runs it when it is installed
//! beside `bosun`; see `bosun::own_binary`).

/// jemalloc's options for this binary: one arena rather than four per CPU. A component with a
/// couple of worker threads gains nothing from more, and each arena keeps its own freed pages
/// resident (`bench pods` / `bench controllers` measure the difference).
// SAFETY: jemalloc declares `malloc_conf` as a weak `const char *` that it reads once, when it
// initializes, as a NUL-terminated string. This strong definition, which nothing else in the
// program defines, points it at an immutable NUL-terminated byte string that lives as long as
// the program.
#[allow(unsafe_code, non_upper_case_globals)]
#[unsafe(export_name = "_rjem_malloc_conf")]
static malloc_conf: &u8 = &b"narenas:1\0"[0];

fn main() -> std::process::ExitCode {
    bosun::cli::node_main()
}
