#!/usr/bin/env bash
# Install the Debian packages llmtap needs to build, run and test (Debian 12 "bookworm").
# Runs apt-get as root (through sudo when not root). Idempotent. Installs Node.js 24 where the
# node on PATH is older than 22 (see below).
#   libpcap-dev            native capture binding (native/)
#   build-essential python3 node-gyp toolchain for the native binding and better-sqlite3
#   tshark                 independent oracle in capture tests
#   tcpdump tcpreplay iproute2   live-capture tests (veth pairs in private network namespaces)
#   libcap2-bin            setcap, for the non-root capture test (file capabilities)
#   prometheus             real scraper in the metrics test
#   nats-server            a three-node JetStream cluster in the fleet tests (test/helpers/nats.ts)
#   hyperfine              benchmark timing
#   libndpi-bin            ndpiReader, a peer in the benchmark (npm run bench)
#   podman runc mmdebstrap the container test: a Debian base made locally, the image built and run
#   rsyslog rsyslog-gnutls openssl   real syslog receiver (TCP, UDP, TLS) and a self-signed certificate in the output tests
#   postgresql             the fleet hub's store: tests start a throwaway cluster (test/helpers/postgres.ts)
#   curl e2fsprogs         the live fault test asks /readyz inside its namespace; chattr +i makes a
#                          read-only database file for the storage fault tests (also for root)
set -euo pipefail
pkgs=(libpcap-dev build-essential python3 tshark tcpdump tcpreplay iproute2 libcap2-bin prometheus nats-server hyperfine libndpi-bin time ca-certificates gzip rsyslog rsyslog-gnutls openssl curl e2fsprogs podman runc mmdebstrap postgresql)
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
# Node.js 22 or later (24 LTS preferred). Where the node on PATH is older or missing (Debian 12's
# own nodejs is 18), install Node.js 24 from the npm registry: the package node-linux-<arch> holds
# the official binary and its headers (include/node), the package npm the matching npm. They go to
# $LLMTAP_NODE_HOME (default /usr/local/lib/nodejs) with node and npm linked into $LLMTAP_NODE_BIN
# (default /usr/local/bin, ahead of /usr/bin on PATH). An older npm to fetch them with comes from
# Debian when there is none.
node_home=${LLMTAP_NODE_HOME:-/usr/local/lib/nodejs}
node_bin=${LLMTAP_NODE_BIN:-/usr/local/bin}
node_major() { node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0; }
repo=$(cd "$(dirname "$0")/.." && pwd)
if [ "$(node_major)" -lt 22 ] && [ -d "$repo/node_modules" ]; then
  # its native modules (better-sqlite3, cap) are built for the old node: do not switch under them
  echo "llmtap needs Node.js 22 or later (found: $(node --version)); $repo/node_modules was built for it." >&2
  echo "Remove node_modules and run this script again: it then installs Node.js 24 and npm ci builds for it." >&2
  exit 1
fi
if [ "$(node_major)" -lt 22 ]; then
  echo "installing Node.js 24 from the npm registry into $node_home (found: $(node --version 2>/dev/null || echo none))" >&2
  if ! command -v npm >/dev/null 2>&1; then
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends npm >/dev/null
  fi
  case "$(uname -m)" in
    x86_64) arch=x64 ;; aarch64) arch=arm64 ;; ppc64le) arch=ppc64le ;; s390x) arch=s390x ;;
    *) echo "no Node.js package for $(uname -m); install Node.js 22 or later yourself" >&2; exit 1 ;;
  esac
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  # npm pack: the tarballs only, no install scripts run
  (cd "$tmp" && npm pack --silent "node-linux-$arch@24" "npm@11" >/dev/null)
  mkdir -p "$tmp/home/lib/node_modules/npm"
  tar -xzf "$tmp"/node-linux-"$arch"-*.tgz -C "$tmp/home" --strip-components=1 --no-same-owner
  tar -xzf "$tmp"/npm-*.tgz -C "$tmp/home/lib/node_modules/npm" --strip-components=1 --no-same-owner
  ln -s ../lib/node_modules/npm/bin/npm-cli.js "$tmp/home/bin/npm"
  ln -s ../lib/node_modules/npm/bin/npx-cli.js "$tmp/home/bin/npx"
  as_root mkdir -p "$(dirname "$node_home")" "$node_bin"
  as_root rm -rf "$node_home"
  as_root cp -a "$tmp/home" "$node_home"
  as_root chown -R 0:0 "$node_home"
  for b in node npm npx; do as_root ln -sfn "$node_home/bin/$b" "$node_bin/$b"; done
  hash -r
  if [ "$(node_major)" -lt 22 ]; then
    echo "Node.js 24 is in $node_home/bin but $(command -v node) comes first on PATH: put $node_bin ahead of it" >&2
    exit 1
  fi
fi
echo "node $(node --version) ($(command -v node)), npm $(npm --version)" >&2

# node-gyp compiles better-sqlite3, cap and native/ against the headers of the Node.js it runs
# on. Where they ship beside the binary (Debian's and NodeSource's nodejs, the package above), name
# them in this clone's .npmrc (not committed): nothing is downloaded, and a nodedir set elsewhere
# for another Node.js (such as ~/.npmrc) does not apply to this project.
nodedir=$(node -e '
  const { readFileSync } = require("node:fs"); const { resolve } = require("node:path");
  const dir = resolve(process.execPath, "..", "..");
  try {
    const h = readFileSync(resolve(dir, "include/node/node_version.h"), "utf8");
    const v = ["MAJOR", "MINOR", "PATCH"].map((k) => h.match(new RegExp("define NODE_" + k + "_VERSION (\\d+)"))[1]).join(".");
    if ("v" + v === process.version) console.log(dir);
  } catch {}')
marker='# written by scripts/setup-debian.sh'
if [ -n "$nodedir" ]; then
  if [ ! -e "$repo/.npmrc" ] || grep -qx "$marker" "$repo/.npmrc"; then
    printf '%s\nnodedir=%s\n' "$marker" "$nodedir" > "$repo/.npmrc"
  else
    echo "note: $repo/.npmrc exists; node-gyp headers for $(node --version) are in $nodedir" >&2
  fi
fi
