#!/usr/bin/env bash
# Stops the cluster start-cluster.sh started: SIGTERM to every TaskManager (they
# deregister), then to the JobManager; whatever is still alive after 10 s is killed.
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/config.sh"

# Alive and not a zombie (an exited daemon whose new parent has not reaped it yet).
alive() {
    kill -0 "$1" 2>/dev/null && ! grep -q ') Z ' "/proc/$1/stat" 2>/dev/null
}

stop_pidfile() {
    local file="$1" what="$2" pid
    [[ -f "$file" ]] || return 0
    pid=$(cat "$file")
    if alive "$pid"; then
        echo "Stopping $what (pid $pid)."
        kill -TERM "$pid"
        for _ in $(seq 1 100); do
            alive "$pid" || break
            sleep 0.1
        done
        if alive "$pid"; then
            echo "$what (pid $pid) did not stop in 10 s; killing it." >&2
            kill -KILL "$pid" 2>/dev/null
        fi
    fi
    rm -f "$file"
}

shopt -s nullglob
for file in "$RASK_PID_DIR"/taskmanager-*.pid; do
    stop_pidfile "$file" "taskexecutor daemon" &
done
wait
stop_pidfile "$RASK_PID_DIR/jobmanager.pid" "standalonesession daemon"
