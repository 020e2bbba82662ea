#!/usr/bin/env bash
# Starts a local standalone session cluster as plain processes, as Flink's
# start-cluster.sh does: one JobManager and one TaskManager per line of
# $RASK_CONF_DIR/workers (or N from `start-cluster.sh N`).
# Logs go to $RASK_LOG_DIR, pid files to $RASK_PID_DIR. It waits until every
# TaskManager has registered and prints the cluster's /overview.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/config.sh"

workers="${1:-}"
if [[ -z "$workers" ]]; then
    if [[ -f "$RASK_CONF_DIR/workers" ]]; then
        workers=$(grep -cv '^[[:space:]]*\(#.*\)\?$' "$RASK_CONF_DIR/workers" || true)
    else
        workers=1
    fi
fi
if ! [[ "$workers" =~ ^[0-9]+$ ]]; then
    echo "start-cluster.sh: the worker count must be a number, got '$workers'" >&2
    exit 1
fi

jm_bin=$(find_bin rask-jobmanager)
tm_bin=$(find_bin rask-taskmanager)
mkdir -p "$RASK_PID_DIR" "$RASK_LOG_DIR"
if [[ -f "$RASK_PID_DIR/jobmanager.pid" ]] && kill -0 "$(cat "$RASK_PID_DIR/jobmanager.pid")" 2>/dev/null; then
    echo "start-cluster.sh: a JobManager is already running (pid $(cat "$RASK_PID_DIR/jobmanager.pid")); run stop-cluster.sh first" >&2
    exit 1
fi

echo "Starting cluster."
nohup "$jm_bin" >"$RASK_LOG_DIR/rask-jobmanager.log" 2>&1 </dev/null &
echo $! >"$RASK_PID_DIR/jobmanager.pid"
echo "Starting standalonesession daemon (JobManager, pid $!)."
for i in $(seq 1 "$workers"); do
    nohup "$tm_bin" >"$RASK_LOG_DIR/rask-taskmanager-$i.log" 2>&1 </dev/null &
    echo $! >"$RASK_PID_DIR/taskmanager-$i.pid"
    echo "Starting taskexecutor daemon $i (pid $!)."
done

# Wait for the REST endpoint the JobManager logs, then for every TaskManager.
rest=""
for _ in $(seq 1 100); do
    rest=$(grep -o 'REST at https\{0,1\}://[^ ]*' "$RASK_LOG_DIR/rask-jobmanager.log" 2>/dev/null | head -1 | sed 's#REST at ##' || true)
    [[ -n "$rest" ]] && break
    if ! kill -0 "$(cat "$RASK_PID_DIR/jobmanager.pid")" 2>/dev/null; then
        echo "start-cluster.sh: the JobManager exited; see $RASK_LOG_DIR/rask-jobmanager.log:" >&2
        tail -5 "$RASK_LOG_DIR/rask-jobmanager.log" >&2
        exit 1
    fi
    sleep 0.1
done
if [[ "$rest" == https://* ]]; then
    # HTTPS (security.ssl.rest.*): this script speaks plain HTTP only.
    echo "Cluster started. REST endpoint: $rest (HTTPS: check it with 'rask list -m ${rest#https://}' and the CLI's security.ssl.rest.* settings)"
    exit 0
fi
rest="${rest#http://}"
overview() {
    local host="${rest%:*}" port="${rest##*:}"
    host="${host#[}"
    host="${host%]}"
    exec 3<>"/dev/tcp/$host/$port" || return 1
    printf 'GET /overview HTTP/1.0\r\nHost: %s\r\n\r\n' "$rest" >&3
    sed '1,/^\r\{0,1\}$/d' <&3
    exec 3<&-
}
if [[ -n "$rest" ]]; then
    body=""
    up=""
    for _ in $(seq 1 100); do
        body=$(overview 2>/dev/null || true)
        if [[ "$body" == *\"taskmanagers\":$workers[,}]* ]]; then
            up=1
            break
        fi
        sleep 0.1
    done
    if [[ -z "$up" ]]; then
        echo "start-cluster.sh: after 10 s the JobManager at http://$rest reports: ${body:-nothing}; see the logs in $RASK_LOG_DIR" >&2
        exit 1
    fi
    echo "Cluster is up. REST endpoint: http://$rest"
    echo "GET /overview: $body"
else
    echo "start-cluster.sh: the JobManager has not reported its REST endpoint; see $RASK_LOG_DIR/rask-jobmanager.log" >&2
    exit 1
fi
