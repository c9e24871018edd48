/// mimalloc instead of the system allocator: the engine allocates small strings and shared
/// outcomes per record, and glibc's malloc/free took about a tenth of a dry run's time
/// (benches/README.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    canon::cli::run()
}
