#!/usr/bin/env bash
# Install the Debian packages llmtap needs to build, run and test (Debian 12 "bookworm").
# Runs apt-get as root (through sudo when not root). Idempotent.
#   libpcap-dev            native capture binding (native/)
#   build-essential python3 node-gyp toolchain for the native binding and better-sqlite3
#   tshark                 independent oracle in capture tests
#   tcpdump tcpreplay iproute2   live-capture tests (veth pairs in private network namespaces)
#   libcap2-bin            setcap, for the non-root capture test (file capabilities)
#   prometheus             real scraper in the metrics test
#   hyperfine              benchmark timing
#   rsyslog openssl        real syslog receiver and a self-signed certificate in the output tests
set -euo pipefail
pkgs=(libpcap-dev build-essential python3 tshark tcpdump tcpreplay iproute2 libcap2-bin prometheus hyperfine time ca-certificates gzip rsyslog openssl)
as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}" >&2
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  # tshark asks whether non-root users may capture; answer no without a prompt
  echo "wireshark-common wireshark-common/install-setuid boolean false" | as_root debconf-set-selections
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
node_major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
if [ "$node_major" -lt 20 ]; then
  echo "llmtap needs Node.js 20 or later (found: $(node --version 2>/dev/null || echo none))" >&2
  exit 1
fi
