#!/usr/bin/env bash
# Makes a certificate authority and the certificates a Rask cluster needs for
# security.ssl.internal.* and security.ssl.rest.* (docs/security.md), with openssl.
#
#   deploy/bin/make-certs.sh OUT_DIR [HOST_OR_IP...]
#
# OUT_DIR gets:
#   ca.crt / ca.key              the cluster's CA (keep ca.key offline: it signs members)
#   internal.crt / internal.key  every JobManager's and TaskManager's gRPC identity
#                                (server and client use), for security.ssl.internal.*
#   rest.crt / rest.key          the JobManager's REST endpoint, for security.ssl.rest.*
#   client.crt / client.key      a REST client (the rask CLI, curl), for
#                                security.ssl.rest.authentication-enabled
# Every certificate names localhost, 127.0.0.1 and ::1 plus the HOST_OR_IP arguments:
# give every host name and address the cluster's processes are reached at.
# RASK_CERT_DAYS (default 365) sets the validity. An existing CA in OUT_DIR is reused.
set -euo pipefail

if [[ $# -lt 1 || "$1" == -h || "$1" == --help ]]; then
    sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'
    exit 2
fi
command -v openssl >/dev/null || { echo "make-certs.sh needs openssl (apt-get install openssl)" >&2; exit 1; }

out="$1"
shift
days="${RASK_CERT_DAYS:-365}"
mkdir -p "$out"
umask 077

san="DNS:localhost,IP:127.0.0.1,IP:::1"
for host in "$@"; do
    if [[ "$host" =~ ^[0-9.]+$ || "$host" == *:* ]]; then
        san="$san,IP:$host"
    else
        san="$san,DNS:$host"
    fi
done

key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }

if [[ ! -f "$out/ca.key" || ! -f "$out/ca.crt" ]]; then
    key "$out/ca.key"
    openssl req -x509 -new -key "$out/ca.key" -sha256 -days "$days" -subj "/CN=Rask cluster CA" \
        -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
        -out "$out/ca.crt" 2>/dev/null
fi

# sign NAME CN EXTENDED_KEY_USAGE
sign() {
    local name="$1" cn="$2" usage="$3" ext
    key "$out/$name.key"
    openssl req -new -key "$out/$name.key" -subj "/CN=$cn" -out "$out/$name.csr" 2>/dev/null
    ext="$(mktemp)"
    printf 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=%s\nsubjectAltName=%s\n' \
        "$usage" "$san" >"$ext"
    openssl x509 -req -in "$out/$name.csr" -CA "$out/ca.crt" -CAkey "$out/ca.key" -CAcreateserial \
        -days "$days" -sha256 -extfile "$ext" -out "$out/$name.crt" 2>/dev/null
    rm -f "$ext" "$out/$name.csr"
}

sign internal "rask internal" "serverAuth,clientAuth"
sign rest "rask rest" "serverAuth"
sign client "rask client" "clientAuth"
rm -f "$out/ca.srl"
chmod 644 "$out"/*.crt
echo "certificates for $san in $out"
