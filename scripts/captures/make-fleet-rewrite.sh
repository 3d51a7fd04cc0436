#!/usr/bin/env bash
# Writes pcaps/fleet/rewritten/ (issue 18): one real device's tap traffic as three devices, for
# the fleet tests' three sensors. From the fleet set's tap capture (pcaps/fleet/tap.pcap.gz)
# device-a's IP traffic (10.77.0.101: its DNS lookup and quickprompt's call to api.openai.com)
# is cut out with tcpdump; tcprewrite maps the client address (both directions, IPv4 and IPv6)
# to 10.77.0.111, .112 and .113 and fixes the IP/TCP/UDP checksums (--fixcsum); editcap shifts
# the second and third copy 10 s and 20 s later (three devices do not run at the same
# microsecond; all inside H7's 5 minutes). The endpoint feed of the three devices is device-a's
# records of the same connections (llmtap NDJSON), same process and binary hash, with each
# device's id, name, address and times. No root needed; deterministic (gzip -n).
#
#   scripts/captures/make-fleet-rewrite.sh
#
# Needs tcpdump, tcprewrite (tcpreplay), editcap (wireshark-common, with tshark), node.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
FLEET="$REPO/pcaps/fleet"
OUT="${OUT:-$FLEET/rewritten}" # OUT=DIR: write elsewhere (the test compares with the committed files)
SRC4=10.77.0.101
SRC6=fd77:0:0:77::101
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
chmod 777 "$TMP" # tcpdump may drop privileges to its own user when writing

mkdir -p "$OUT"
gzip -dc "$FLEET/tap.pcap.gz" | tcpdump -Z root -r - -w "$TMP/device-a.pcap" "(ip or ip6) and (host $SRC4 or host $SRC6)" 2>/dev/null
for i in 1 2 3; do
  map="$SRC4/32:10.77.0.11$i/32,[$SRC6]/128:[fd77:0:0:77::11$i]/128"
  tcprewrite --infile="$TMP/device-a.pcap" --outfile="$TMP/r$i.pcap" --srcipmap="$map" --dstipmap="$map" --fixcsum
  editcap -F pcap -t "$(( (i - 1) * 10 ))" "$TMP/r$i.pcap" "$TMP/device-r$i.pcap"
  gzip -n -9 -c "$TMP/device-r$i.pcap" >"$OUT/device-r$i.pcap.gz"
done

SRC4="$SRC4" SRC6="$SRC6" node - "$FLEET/edr/llmtap.ndjson" "$OUT/edr.ndjson" <<'JS'
const { readFileSync, writeFileSync } = require('node:fs');
const [inFile, outFile] = process.argv.slice(2);
const src = new Set([process.env.SRC4, process.env.SRC6]);
const orig = readFileSync(inFile, 'utf8').split('\n').filter((l) => l.trim() !== '').map((l) => JSON.parse(l));
// device-a's records of its connections on the tap (its loopback calls are not in the cut)
const mine = orig.filter((r) => r.deviceId === 'device-a' && src.has(r.localAddr));
const out = [];
for (const i of [1, 2, 3]) {
  const shift = (i - 1) * 10_000;
  mine.forEach((r, n) => {
    const startMs = r.processStartMs + shift;
    out.push({
      ...r,
      sourceEventId: `device-r${i}:${n + 1}`,
      tsMs: r.tsMs + shift,
      receivedAtMs: r.receivedAtMs + shift,
      deviceId: `device-r${i}`,
      deviceName: `device-r${i}`,
      localAddr: r.localAddr.includes(':') ? `fd77:0:0:77::11${i}` : `10.77.0.11${i}`,
      processStartMs: startMs,
      processKey: `${r.pid}@${startMs}`,
    });
  });
}
writeFileSync(outFile, out.map((r) => JSON.stringify(r)).join('\n') + '\n');
console.error(`${outFile}: ${out.length} records (${mine.length} per device)`);
JS
ls -l "$OUT"
