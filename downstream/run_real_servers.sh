#!/usr/bin/env bash
# downstream/test_real_servers.py against the servers people put in front of
# requests: nginx (HTTP and HTTPS, keepalive_timeout 2s unannounced,
# keepalive_requests 5), Apache (KeepAlive On, MaxKeepAliveRequests 5,
# KeepAliveTimeout 2, announced as "Keep-Alive: timeout=2, max=N") and
# tinyproxy (a forward proxy allowing CONNECT to nginx's TLS port).
#
# Installs the Debian packages if missing (without letting them start their
# system services), renders downstream/real_servers/*.conf.in into a mktemp
# dir with ports picked free at run time and a trustme CA, starts the three
# servers in the foreground as children of this script, runs the tests with
# PYTHONPATH=<checkout>/src, and stops the servers by pid, also on failure.
#
# Usage: bash downstream/run_real_servers.sh [checkout] [pytest args...]
#   checkout: the repository whose src/ is tested (default: this one)
#   PYTHON=...: the interpreter (default: <checkout>/.venv/bin/python, else
#   this repository's .venv, else python3); it needs requests, urllib3,
#   pytest, pytest-timeout, pytest-socket and trustme.
#   KEEP_LOGS=1: print the servers' logs at the end, also on success.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
checkout=$(cd "${1:-$repo}" && pwd)
shift || true
start=$SECONDS

if [[ -z ${PYTHON:-} ]]; then
    for candidate in "$checkout/.venv/bin/python" "$repo/.venv/bin/python"; do
        if [[ -x $candidate ]]; then PYTHON=$candidate; break; fi
    done
fi
python=${PYTHON:-python3}
[[ -f $checkout/src/requests_managed/__init__.py ]] || {
    echo "$checkout: no src/requests_managed here"; exit 2; }

missing=()
command -v nginx >/dev/null || missing+=(nginx)
command -v apache2 >/dev/null || missing+=(apache2)
command -v tinyproxy >/dev/null || missing+=(tinyproxy)
if ((${#missing[@]})); then
    echo "== installing ${missing[*]}"
    # Keep the packages' postinst from starting their system services (on
    # port 80, 8888...): invoke-rc.d obeys policy-rc.d, exit 101 = denied.
    made_policy=""
    if [[ ! -e /usr/sbin/policy-rc.d ]]; then
        printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
        chmod +x /usr/sbin/policy-rc.d
        made_policy=1
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" ||
        { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}"; }
    [[ -n $made_policy ]] && rm -f /usr/sbin/policy-rc.d
fi
PATH=$PATH:/usr/sbin

dir=$(mktemp -d /tmp/real-servers.XXXXXX)
# The servers' workers run as www-data / nobody: they need to read these.
chmod 755 "$dir"
pids=()
names=()
status=0

stop_servers() {
    local i pid
    for i in "${!pids[@]}"; do
        pid=${pids[$i]}
        kill -TERM "$pid" 2>/dev/null || continue
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        if kill -0 "$pid" 2>/dev/null; then
            echo "== ${names[$i]} (pid $pid) ignored SIGTERM for 5 s: SIGKILL"
            kill -KILL "$pid" 2>/dev/null || true
        fi
        wait "$pid" 2>/dev/null || true
    done
}

cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    stop_servers
    if ((rc != 0)) || [[ -n ${KEEP_LOGS:-} ]]; then
        for log in "$dir"/*-error.log "$dir"/tinyproxy.log "$dir"/*.out; do
            [[ -s $log ]] || continue
            echo "== $(basename "$log") (last 40 lines)"
            tail -n 40 "$log"
        done
    fi
    rm -rf "$dir"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Ports free now (bound and released: a small race, retried by nobody).
read -r apache_port nginx_port nginx_tls_port proxy_port < <("$python" - <<'PY'
import socket
socks = [socket.socket() for _ in range(4)]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(*(s.getsockname()[1] for s in socks))
for s in socks:
    s.close()
PY
)

mkdir -p "$dir/www" "$dir/nginx-tmp" "$dir/apache2-run"
printf 'ok\n' >"$dir/www/small.txt"
head -c $((3 * 512 * 1024)) /dev/zero >"$dir/www/big.bin"
"$python" - "$dir" <<'PY'
import sys

import trustme

d = sys.argv[1]
ca = trustme.CA()
ca.cert_pem.write_to_path(f"{d}/ca.pem")
cert = ca.issue_cert("127.0.0.1", "localhost")
cert.cert_chain_pems[0].write_to_path(f"{d}/server.pem")
for pem in cert.cert_chain_pems[1:]:
    pem.write_to_path(f"{d}/server.pem", append=True)
cert.private_key_pem.write_to_path(f"{d}/server.key")
PY

for name in nginx apache2 tinyproxy; do
    sed -e "s|@DIR@|$dir|g" \
        -e "s|@APACHE_PORT@|$apache_port|g" \
        -e "s|@NGINX_PORT@|$nginx_port|g" \
        -e "s|@NGINX_TLS_PORT@|$nginx_tls_port|g" \
        -e "s|@PROXY_PORT@|$proxy_port|g" \
        "$here/real_servers/$name.conf.in" >"$dir/$name.conf"
done
: >"$dir/tinyproxy.log"
chmod 666 "$dir/tinyproxy.log"

launch() {  # name, command...: start in the foreground, as our child
    local name=$1
    shift
    "$@" >"$dir/$name.out" 2>&1 &
    pids+=("$!")
    names+=("$name")
}
launch nginx nginx -p "$dir" -c "$dir/nginx.conf" -g 'daemon off;'
launch apache2 apache2 -f "$dir/apache2.conf" -DFOREGROUND
launch tinyproxy tinyproxy -d -c "$dir/tinyproxy.conf"

wait_port() {  # name, pid, port: up to 10 s for the port to accept
    for _ in $(seq 100); do
        kill -0 "$2" 2>/dev/null || { echo "== $1 exited on start"; return 1; }
        if (exec 3<>"/dev/tcp/127.0.0.1/$3") 2>/dev/null; then return 0; fi
        sleep 0.1
    done
    echo "== $1 not listening on $3 after 10 s"
    return 1
}
wait_port nginx "${pids[0]}" "$nginx_port"
wait_port nginx "${pids[0]}" "$nginx_tls_port"
wait_port apache2 "${pids[1]}" "$apache_port"
wait_port tinyproxy "${pids[2]}" "$proxy_port"

echo "== servers: $(nginx -v 2>&1 | sed 's/.*: //') on $nginx_port (TLS $nginx_tls_port)," \
    "$(apache2 -v | sed -n 's/Server version: //p') on $apache_port," \
    "$(tinyproxy -v 2>&1) on $proxy_port"
echo "== checkout under test: $checkout ($(git -C "$checkout" describe --always --dirty 2>/dev/null || echo '?'))" \
    "with $("$python" -c 'import requests, urllib3; print("requests", requests.__version__, "urllib3", urllib3.__version__)')"

cd "$repo"
RS_APACHE_PORT=$apache_port RS_NGINX_PORT=$nginx_port RS_NGINX_TLS_PORT=$nginx_tls_port \
    RS_PROXY_PORT=$proxy_port RS_CA_BUNDLE="$dir/ca.pem" RS_DIR="$dir" RS_CHECKOUT="$checkout" \
    PYTHONPATH="$checkout/src" \
    "$python" -m pytest -p no:cacheprovider -v -s downstream/test_real_servers.py "$@" || status=$?
echo "== real servers against $checkout: exit $status in $((SECONDS - start)) s"
exit "$status"
