#!/usr/bin/env bash
# Installs the Debian packages hilt builds with and tests against. Idempotent:
# it asks apt-get only for what is missing, so a second run does nothing.
#   scripts/install-deps.sh            build + test dependencies
#   scripts/install-deps.sh --check    list what is missing, exit 1 if anything is
set -euo pipefail

build_pkgs=(
  build-essential pkg-config clang libclang-rt-14-dev llvm
  libssl-dev libssl-doc openssl
  libevent-dev libjansson-dev libyaml-dev libsqlite3-dev libpq-dev
  libcmocka-dev
)
# Real peers the tests and benchmarks start on loopback.
peer_pkgs=(
  jq bc curl nginx haproxy gnutls-bin stunnel4 hitch faketime
  sslscan testssl.sh nghttp2-client softhsm2 postgresql
  libengine-pkcs11-openssl sqlite3
  default-jre-headless  # policy_java.sh: the JVM reads hilt's rendered Java TLS settings
  python3  # impact.sh/simulate.sh serve /observed and AIA issuers (http.server); gen_clients.py
  prometheus           # gateway.sh: Debian's Prometheus scrapes the gateway's /metrics
  libnginx-mod-stream  # bench/gateway.sh: nginx as an L4 TLS proxy (stream module)
  certbot lego pebble  # acme_*.sh, bench/acme.sh: real ACME clients and Let's Encrypt's test server
  valgrind             # bench/gateway.sh CALLGRIND=1: instructions per handshake (repeatable on a shared machine)
)

missing=()
for p in "${build_pkgs[@]}" "${peer_pkgs[@]}"; do
  st=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
  [[ "$st" == "install ok installed" ]] || missing+=("$p")
done

if [[ "${1:-}" == "--check" ]]; then
  if ((${#missing[@]})); then echo "missing: ${missing[*]}"; exit 1; fi
  echo "all dependencies present"; exit 0
fi

if ((${#missing[@]} == 0)); then
  echo "install-deps: all dependencies present"
  exit 0
fi

echo "install-deps: installing ${missing[*]}"
SUDO=""
if [[ $(id -u) -ne 0 ]]; then
  command -v sudo >/dev/null || { echo "install-deps: need root or sudo to run apt-get" >&2; exit 2; }
  SUDO="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
# A stale package index makes installs fail with 404s; refresh it once.
$SUDO apt-get update -qq
# Peers installed by apt start as services on Debian; hilt's tests start their own
# copies on private ports, so keep the system ones from grabbing :80/:443.
if [[ ! -e /usr/sbin/policy-rc.d ]]; then
  printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
  $SUDO chmod 755 /usr/sbin/policy-rc.d
  trap '$SUDO rm -f /usr/sbin/policy-rc.d' EXIT
fi
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
echo "install-deps: done"
