#!/usr/bin/env bash
# Shared settings of start-cluster.sh and stop-cluster.sh: where the binaries, the
# configuration, the pid files and the logs are.
DEPLOY_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
REPO_DIR="$(cd "$DEPLOY_DIR/.." && pwd)"
RASK_CONF_DIR="${RASK_CONF_DIR:-$DEPLOY_DIR/conf}"
RASK_PID_DIR="${RASK_PID_DIR:-/tmp/rask-$(id -un)}"
RASK_LOG_DIR="${RASK_LOG_DIR:-$REPO_DIR/log}"
export RASK_CONF_DIR

# The binaries: $RASK_BIN_DIR, else a release or debug build of this checkout, else PATH.
find_bin() {
    local name="$1"
    local target="${CARGO_TARGET_DIR:-$REPO_DIR/target}"
    for dir in "${RASK_BIN_DIR:-}" "$target/release" "$target/debug"; do
        if [[ -n "$dir" && -x "$dir/$name" ]]; then
            echo "$dir/$name"
            return 0
        fi
    done
    command -v "$name" || { echo "cannot find $name: build with 'cargo build --release' or set RASK_BIN_DIR" >&2; return 1; }
}
