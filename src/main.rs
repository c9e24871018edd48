/// mimalloc instead of the system allocator: the engine allocates small strings and shared
/// outcomes per record, and glibc's malloc/free took about a tenth of a dry run's time
/// (benches/README.md). Built without transparent huge pages (`no_thp`): with them, each
/// thread's arena was backed by 2 MiB pages as soon as it was touched, and a dry run's peak
/// memory was 50 MiB with one worker and 87 MiB with two instead of 26 and 40.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    canon::cli::run()
}
