fn main() -> std::process::ExitCode {
    canon::cli::run()
}
