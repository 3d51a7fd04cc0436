#!/usr/bin/env bash
# Regenerates test/captures/range-anthropic/ (issue 15: inventory by address range): real
# clients on a lab device connect to addresses inside Anthropic's published API ranges
# (160.79.104.0/23 and 2607:6bc0::/48), which the lab puts on its server bridge:
#
#   1. openssl s_client -noservername to 160.79.104.10:443, no DNS lookup (a hard-coded
#      address: no SNI, no DNS answer) → classified by range, host_source ip-range
#   2. the same over IPv6 to [2607:6bc0::10]:443
#   3. curl --resolve api.anthropic.com:443:160.79.104.11 (SNI api.anthropic.com to an
#      address in the range, no DNS lookup) → classified by the name, not the range
#
# The range addresses answer with openssl s_server (-www) on the lab server namespace. Needs
# root (network namespaces); nothing leaves the machine. Runs its own lab (prefix llrng), so
# it does not disturb a lab of make-cases.sh that is up.
#
#   sudo scripts/captures/make-range.sh

set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
NAME=range-anthropic
DIR="$REPO/test/captures/$NAME"
export LAB_PREFIX=llrng LAB_DEVICE_LIST=c LAB_CADDY=0
# shellcheck source=lab.sh
source "$HERE/lab.sh"

V4A=160.79.104.10
V4B=160.79.104.11
V6=2607:6bc0::10

trap lab_down EXIT
lab_up
log "range addresses on the server bridge, on-link routes on device c"
in_srv ip addr add "$V4A/23" dev br0
in_srv ip addr add "$V4B/23" dev br0
in_srv ip -6 addr add "$V6/48" dev br0 nodad
in_dev c ip route add 160.79.104.0/23 dev eth0
in_dev c ip -6 route add 2607:6bc0::/48 dev eth0

serve() { # one s_server per address, answering HTTP with its status page, up to 2 connections
  ip netns exec "$LAB_SRV" openssl s_server -accept "$1" -cert "$LAB_TMP/pki/chain.pem" -key "$LAB_TMP/pki/leaf.key" \
    -www -naccept 2 -quiet >>"$LAB_TMP/s_server.log" 2>&1 &
  echo $! >"$LAB_TMP/s_server-$2.bg"
}
serve "$V4A:443" a
serve "$V4B:443" b
serve "[$V6]:443" c
for i in $(seq 1 50); do
  n="$(in_srv ss -ltnH | grep -c -e "$V4A:443" -e "$V4B:443" -e "\[$V6\]:443" || true)"
  [[ "$n" == 3 ]] && break
  sleep 0.1
done

mkdir -p "$DIR"
rm -f "$DIR"/*.pcap
cap_start "$DIR/$NAME.pcap"
echo | in_dev c openssl s_client -connect "$V4A:443" -noservername -alpn h2 -brief >>"$LAB_TMP/openssl.log" 2>&1 || true
echo | in_dev c openssl s_client -connect "[$V6]:443" -noservername -alpn h2 -brief >>"$LAB_TMP/openssl.log" 2>&1 || true
in_dev c curl -4 -sS --http1.1 --cacert "$LAB_TMP/pki/ca.pem" --resolve "api.anthropic.com:443:$V4B" https://api.anthropic.com/ -o /dev/null
cap_stop

cat >"$DIR/README.md" <<MD
# $NAME

Connections from one lab device to addresses inside Anthropic's published API ranges
(160.79.104.0/23, 2607:6bc0::/48; Anthropic docs "IP addresses"), put on the lab's server
bridge: \`openssl s_client -noservername\` to $V4A:443 and to [$V6]:443 with no DNS lookup
(a hard-coded address: no SNI, no DNS answer — classified by range, host_source ip-range), and
\`curl --resolve api.anthropic.com:443:$V4B\` (SNI api.anthropic.com to an address in the
range, no DNS lookup — classified by the name, host_source sni).

- Issue: 15 (inventory by address range).
- Made by: \`scripts/captures/make-range.sh\` (lab: \`scripts/captures/lab.sh\`), $(date -u +%Y-%m-%d).
- Client: $(openssl version); $(curl --version | head -1)
- Servers: lab namespace \`llrng-srv\`; the range addresses answer with \`openssl s_server -www\`
  (certificate of the lab CA, names of the lab hosts).
- Device: device-c $(lab_dev_v4 c) / $(lab_dev_v6 c).
- Capture: tcpdump -s 0 on the lab bridge (Ethernet, pcap, microseconds), offloads off.
- Licence: same as the project (generated here, no third-party data).
- \`expected.json\`: tshark's reading of the capture (\`node scripts/captures/make-expected.mjs test/captures/$NAME\`), never hand-edited.
MD
node "$HERE/make-expected.mjs" "$DIR"
