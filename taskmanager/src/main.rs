//! rask-taskmanager: the TaskManager daemon; see `daemon`.

fn main() -> std::process::ExitCode {
    rask_taskmanager::daemon::main()
}
