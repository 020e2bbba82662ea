//! rask: the command-line client. Errors are one line on stderr and exit code 1.

fn main() -> std::process::ExitCode {
    rask_cli::main()
}
