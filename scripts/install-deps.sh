#!/usr/bin/env bash
# Installs every build and test dependency of vigie from Debian 12 packages (and the npm
# packages the test peers need, into the build tree). Idempotent: a second run changes nothing.
# Works as root, uses sudo otherwise. Usage: scripts/install-deps.sh [BUILD_DIR]
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
build_dir=${1:-$here/build}

sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then sudo_cmd=(sudo); fi

# Build toolchain and libraries (headers). libboost1.81-dev, not libboost-dev (1.74): 1.74's
# Asio does not compile as C++20 with g++ 12, and the two conflict.
packages=(
  build-essential cmake ninja-build ccache pkg-config clang-14 libclang-rt-14-dev
  libsodium-dev libssl-dev libexpected-dev libspdlog-dev libfmt-dev libtomlplusplus-dev
  libcli11-dev libsqlite3-dev nlohmann-json3-dev rapidjson-dev libgtest-dev libgmock-dev libbenchmark-dev
  libboost1.81-dev libcurl4-openssl-dev libsecp256k1-dev libgpgme-dev libpq-dev libsystemd-dev
  # Test peers (started by the test harness on loopback ports).
  sqlite3 openssl gnupg prometheus prometheus-alertmanager python3-aiosmtpd
  postgresql nginx-light wrk
)

# Node.js and npm: the machine image ships them (NodeSource, which conflicts with Debian's npm);
# fall back to Debian's packages only where neither is present.
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  packages+=(nodejs npm)
fi

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -gt 0 ]; then
  echo "install-deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  "${sudo_cmd[@]}" apt-get -o DPkg::Lock::Timeout=600 update -qq
  "${sudo_cmd[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 \
    install -y -qq --no-install-recommends "${missing[@]}"
else
  echo "install-deps: Debian packages present"
fi

# Installing a daemon with apt may start it; the tests start their own instances on their own
# ports, so stop the system ones to free their default ports (harmless if absent).
for svc in nginx prometheus prometheus-alertmanager postgresql; do
  if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet "$svc" 2>/dev/null; then
    "${sudo_cmd[@]}" systemctl stop "$svc" || true
  fi
done

# npm packages for test peers, into the build tree (never the source tree, never global).
npm_dir=$build_dir/npm
mkdir -p "$npm_dir"
if [ ! -f "$npm_dir/node_modules/.vigie-npm-ok" ]; then
  cp "$here/tests/peers/package.json" "$npm_dir/package.json"
  if [ -f "$here/tests/peers/package-lock.json" ]; then
    cp "$here/tests/peers/package-lock.json" "$npm_dir/package-lock.json"
    (cd "$npm_dir" && npm ci --no-audit --no-fund --loglevel=error)
  else
    (cd "$npm_dir" && npm install --no-audit --no-fund --loglevel=error)
  fi
  touch "$npm_dir/node_modules/.vigie-npm-ok"
else
  echo "install-deps: npm test peers present"
fi

# moto_server is preinstalled on the machine image (pyenv Python); say so clearly if absent.
if ! command -v moto_server >/dev/null 2>&1; then
  echo "install-deps: WARNING moto_server not on PATH; AWS integration tests will be skipped" >&2
fi
