//! rask: the command-line client. Errors are one line on stderr and exit code 1.

use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = rask_cli::Cli::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("tokio runtime");
    match runtime.block_on(rask_cli::run(cli)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("rask: {e:#}");
            std::process::ExitCode::from(1)
        }
    }
}
