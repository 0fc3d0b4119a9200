#!/usr/bin/env bash
# Installs the Debian packages ecash needs to build, test and run. Idempotent: installs only what is
# missing, and touches apt's lists only when something is.
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config ccache git python3
  libsodium-dev libssl-dev openssl libsqlite3-dev sqlite3 libjemalloc-dev libqrencode-dev
  libpq-dev libpqxx-dev postgresql haproxy curl zbar-tools librsvg2-bin chromium prometheus
  nlohmann-json3-dev libboost-dev libcpp-httplib-dev libcli11-dev libspdlog-dev libfmt-dev
  libgtest-dev libgmock-dev librapidcheck-dev libbenchmark-dev
  dpkg-dev file systemd
  clang-16 libclang-rt-16-dev libc++-16-dev libc++abi-16-dev
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages present"
  exit 0
fi

echo "install-deps: installing ${missing[*]}"
if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; else SUDO=; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "install-deps: done"
