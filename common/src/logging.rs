//! Logging set-up for the daemons and the CLI: `tracing` to stderr, level from
//! `RUST_LOG` when set, otherwise from the `log.level` configuration key.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

/// Installs the global subscriber. `default_level` is used when `RUST_LOG` is unset.
/// Calling it twice (tests running daemons in-process) is harmless.
pub fn init(default_level: &str) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_level));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .try_init();
}
