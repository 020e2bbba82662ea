#!/usr/bin/env bash
# Installs Rask as README's "Deploy with systemd" section describes: the three binaries
# into $PREFIX/bin (default /usr/local/bin), the configuration into /etc/rask/rask.yaml
# (an existing one is kept), the systemd units into /etc/systemd/system, and a system
# user `rask`. Run it as root after `cargo build --release`.
#
#   deploy/bin/install.sh                      # then: systemctl enable --now rask-jobmanager rask-taskmanager@1
#   DESTDIR=/tmp/stage deploy/bin/install.sh   # stage the files only (packaging): no user, no daemon-reload
set -euo pipefail

root="$(cd "$(dirname "$0")/../.." && pwd)"
prefix="${PREFIX:-/usr/local}"
destdir="${DESTDIR:-}"
bins="${RASK_BIN_DIR:-$root/target/release}"

for binary in rask rask-jobmanager rask-taskmanager; do
    if [[ ! -x "$bins/$binary" ]]; then
        echo "install.sh: $bins/$binary is missing: build the binaries first with \`cargo build --release\`" >&2
        exit 1
    fi
done

install -d "$destdir$prefix/bin" "$destdir/etc/rask" "$destdir/etc/systemd/system"
install -m 755 "$bins/rask" "$bins/rask-jobmanager" "$bins/rask-taskmanager" "$destdir$prefix/bin/"
echo "installed rask, rask-jobmanager, rask-taskmanager in $destdir$prefix/bin"

if [[ -e "$destdir/etc/rask/rask.yaml" ]]; then
    echo "kept the existing $destdir/etc/rask/rask.yaml"
else
    install -m 644 "$root/deploy/conf/rask.yaml" "$destdir/etc/rask/rask.yaml"
    echo "installed $destdir/etc/rask/rask.yaml (every key, documented)"
fi

for unit in "$root"/deploy/systemd/*.service; do
    # The units name /usr/local/bin; another PREFIX goes into ExecStart.
    sed "s|/usr/local/bin/|$prefix/bin/|g" "$unit" >"$destdir/etc/systemd/system/$(basename "$unit")"
    chmod 644 "$destdir/etc/systemd/system/$(basename "$unit")"
done
echo "installed the units rask-jobmanager.service and rask-taskmanager@.service in $destdir/etc/systemd/system"

if [[ -z "$destdir" ]]; then
    if ! id rask >/dev/null 2>&1; then
        useradd --system --no-create-home --shell /usr/sbin/nologin rask
        echo "created the system user rask"
    fi
    if [[ -d /run/systemd/system ]]; then
        systemctl daemon-reload
    fi
fi
echo "next: edit /etc/rask/rask.yaml (jobmanager.rpc.address, rest.address, ...), then"
echo "      systemctl enable --now rask-jobmanager rask-taskmanager@1 rask-taskmanager@2"
