//! rask-jobmanager: the JobManager daemon; see `daemon`.

fn main() -> std::process::ExitCode {
    rask_jobmanager::daemon::main()
}
