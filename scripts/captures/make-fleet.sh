#!/usr/bin/env bash
# Regenerates pcaps/fleet/ (issue 15): a small multi-device set for the join across capture
# files and endpoint feed formats. Four lab devices with an endpoint sensor (device-e has IPv6
# only), local model runtimes on 127.0.0.1:11434 and [::1]:11434 of device-a and device-b whose
# loopback traffic is captured on each device's lo, one new binary and curl spreading over
# several devices to different providers. Written: the tap (bridge) capture, the two loopback
# captures, all three merged into one pcapng, and the endpoint feed of the same run as llmtap
# NDJSON, as Sysmon EID 1/3 (NXLog JSON) from endpoint clocks 11 h ahead, and as Microsoft
# Defender streaming events (DeviceNetworkEvents, SHA-1 only). Needs root, gcc + libssl-dev,
# dnsmasq, dig, tcpdump, mergecap. Nothing leaves the machine.
#
#   sudo scripts/captures/make-fleet.sh
#
# About 40 s of wall time. Timeline and expected findings: pcaps/fleet/README.md.

set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
OUT="$REPO/pcaps/fleet"
export LAB_DEVICE_LIST="a b c e" LAB_V6_ONLY="e" LAB_CADDY=0
# shellcheck source=lab.sh
source "$HERE/lab.sh"

OPT=/opt/llcap-fleet
RUN="$LAB_TMP/run"
STEPS="$RUN/steps.jsonl"
CA="$LAB_TMP/pki/ca.pem"
ms() { date +%s%3N; }
step() { # step N "title" devices host... (marks the start of a step)
  local n="$1" title="$2" dev; dev="$(printf 'device-%s,' ${3//,/ })"; dev="${dev%,}"; shift 3
  local hosts; hosts="$(printf '"%s",' "$@")"
  printf '{"step":%s,"title":"%s","device":"%s","hosts":[%s],"startMs":%s}\n' \
    "$n" "$title" "$dev" "${hosts%,}" "$(ms)" >>"$STEPS"
  log "step $n: $title ($dev)"
}
run_in() { local dev="$1"; shift; ip netns exec "$(lab_ns "$dev")" "$@" >>"$RUN/clients.log" 2>&1; }

# tcpdump on a device's lo (the loopback interface of that device's namespace).
lo_start() {
  local d="$1"
  ip netns exec "$(lab_ns "$d")" tcpdump -Z root --immediate-mode -i lo -s 0 -U -n -w "$RUN/lo-device-$d.pcap" >"$LAB_TMP/tcpdump-lo-$d.log" 2>&1 &
  echo $! >"$RUN/tcpdump-lo-$d.bg"
  local i
  for i in $(seq 1 50); do grep -q 'listening on' "$LAB_TMP/tcpdump-lo-$d.log" && break; sleep 0.1; done
}
lo_stop() {
  local p; p="$(cat "$RUN/tcpdump-lo-$1.bg")"
  kill -INT "$p" 2>/dev/null || true
  wait "$p" 2>/dev/null || true
  rm -f "$RUN/tcpdump-lo-$1.bg"
}

cleanup() {
  local f
  for f in "$RUN"/*.bg; do [[ -e "$f" ]] && kill "$(cat "$f")" 2>/dev/null || true; done
  rm -rf "$OPT"
  lab_down
}
trap cleanup EXIT

mkdir -p "$OUT" "$OPT/bin" "$OPT/lib"
lab_up
mkdir -p "$RUN"
: >"$STEPS"

log "fleet binaries in $OPT"
cp "$(readlink -f /usr/bin/python3)" "$OPT/bin/ollama"      # the local model runtime stand-in
gcc -O2 -o "$OPT/bin/quickprompt" "$HERE/clients/newbin.c" -lssl -lcrypto   # a truly new binary
cp "$HERE/clients/"{py-get.py,local-runtime.py} "$OPT/lib/"

anchors=()
for d in a b c e; do
  ip netns exec "$(lab_ns "$d")" sleep 900 &
  echo $! >"$RUN/anchor-$d.bg"
  anchors+=("device-$d=$!")
done
node "$HERE/edr-poller.mjs" --out "$RUN/raw.jsonl" --interval-ms 10 --stop-file "$RUN/stop" --max-s 600 "${anchors[@]}" &
echo $! >"$RUN/poller.bg"

log "captures start (bridge, lo of device-a and device-b)"
rm -f "$OUT"/*.pcap.gz "$OUT"/*.pcapng.gz "$OUT"/merged/*.pcapng.gz
cap_start "$RUN/tap.pcap"
lo_start a
lo_start b
T0="$(ms)"

for d in a b; do
  ip netns exec "$(lab_ns "$d")" "$OPT/bin/ollama" "$OPT/lib/local-runtime.py" --ipv6 >>"$RUN/clients.log" 2>&1 &
  echo $! >"$RUN/ollama-$d.bg"
done
sleep 1

step 1 "local runtime on device-a over 127.0.0.1 and ::1" a localhost
for u in http://127.0.0.1:11434/api/generate http://127.0.0.1:11434/api/chat "http://[::1]:11434/api/generate" "http://[::1]:11434/api/chat"; do
  run_in a curl -sS "$u" -d '{}' -o /dev/null; sleep 0.7
done

step 2 "local runtime on device-b over 127.0.0.1 and ::1" b localhost
run_in b curl -sS http://127.0.0.1:11434/api/generate -d '{}' -o /dev/null; sleep 1.3
run_in b curl -sS "http://[::1]:11434/api/tags" -o /dev/null

step 3 "the IPv6-only device resolves an AI name over IPv6" e api.anthropic.com
run_in e dig +short AAAA api.anthropic.com

step 4 "new binary quickprompt: OpenAI from device-a and device-b, Anthropic from the IPv6-only device-e" a,b,e api.openai.com api.anthropic.com
run_in a "$OPT/bin/quickprompt" api.openai.com "$CA"; sleep 1
run_in b "$OPT/bin/quickprompt" api.openai.com "$CA"; sleep 1
run_in e "$OPT/bin/quickprompt" api.anthropic.com "$CA" 6; sleep 1

step 5 "curl to cloud APIs: Google from device-c, Anthropic from the IPv6-only device-e" c,e generativelanguage.googleapis.com api.anthropic.com
run_in c curl -4 -sS --cacert "$CA" https://generativelanguage.googleapis.com/v1beta/models -o /dev/null; sleep 1
run_in e curl -6 -sS --cacert "$CA" https://api.anthropic.com/v1/messages -d '{}' -o /dev/null

step 6 "ordinary non-AI traffic" c www.example.org
run_in c env -u PYTHONHOME /usr/bin/python3 "$OPT/lib/py-get.py" https://www.example.org/ --ca "$CA"

sleep 1
printf '{"step":0,"title":"end","device":"","hosts":[],"startMs":%s}\n' "$(ms)" >>"$STEPS"
for d in a b; do kill "$(cat "$RUN/ollama-$d.bg")" 2>/dev/null || true; rm -f "$RUN/ollama-$d.bg"; done
lo_stop a
lo_stop b
cap_stop
touch "$RUN/stop"
wait "$(cat "$RUN/poller.bg")" 2>/dev/null || true
rm -f "$RUN/poller.bg"

log "writing pcaps/fleet"
for f in tap lo-device-a lo-device-b; do gzip -9 -n -c "$RUN/$f.pcap" >"$OUT/$f.pcap.gz"; done
# The same packets as one pcapng with three interfaces (bridge, lo of a, lo of b) in time order,
# kept apart (merged/) so that replaying the directory does not read them twice.
mkdir -p "$OUT/merged"
mergecap -I none -F pcapng -w "$RUN/fleet.pcapng" "$RUN/tap.pcap" "$RUN/lo-device-a.pcap" "$RUN/lo-device-b.pcap"
gzip -9 -n -c "$RUN/fleet.pcapng" >"$OUT/merged/fleet.pcapng.gz"
node "$HERE/fleet-write.mjs" --run "$RUN" --out "$OUT" --t0 "$T0" \
  --devices "device-a=$(lab_dev_v4 a),$(lab_dev_v6 a)" "device-b=$(lab_dev_v4 b),$(lab_dev_v6 b)" \
  "device-c=$(lab_dev_v4 c),$(lab_dev_v6 c)" "device-e=$(lab_dev_v6 e)" \
  --hosts "$(for n in "${!LAB_HOSTS[@]}"; do printf '%s=%s,%s;' "$n" "$(lab_v4 "$n")" "$(lab_v6 "$n")"; done)" \
  --versions "$(curl --version | head -1 | cut -d' ' -f1-2); Python $(/usr/bin/python3 -V | cut -d' ' -f2); $(openssl version | cut -d' ' -f1-2); $(dig -v 2>&1 | head -1); gcc $(gcc -dumpversion); $(tcpdump --version 2>&1 | head -1)"
