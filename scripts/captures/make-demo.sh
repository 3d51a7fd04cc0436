#!/usr/bin/env bash
# Regenerates pcaps/demo/ (issue 9): one scenario of real clients on four lab devices, the
# capture of the lab bridge (the "tap"), and the endpoint feed of the same run (devices a-c
# have an endpoint sensor, device d has none) in llmtap's NDJSON and as Sysmon EID 1/3 in
# NXLog JSON. Needs root (network namespaces) and gcc + libssl-dev. Nothing leaves the machine.
#
#   sudo scripts/captures/make-demo.sh
#
# About 30 s of wall time. Timeline and expected alerts: pcaps/demo/README.md.

set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
OUT="$REPO/pcaps/demo"
# shellcheck source=lab.sh
source "$HERE/lab.sh"
# shellcheck source=clients.sh
source "$HERE/clients.sh"

# Real install-like paths for the demo's renamed binaries (removed afterwards).
OPT=/opt/llcap-demo
RUN="$LAB_TMP/run"
STEPS="$RUN/steps.jsonl"
CA="$LAB_TMP/pki/ca.pem"
ms() { date +%s%3N; }
step() { # step N "title" device host... (marks the start of a step)
  local n="$1" title="$2" dev; dev="$(printf 'device-%s,' ${3//,/ })"; dev="${dev%,}"; shift 3
  local hosts; hosts="$(printf '"%s",' "$@")"
  printf '{"step":%s,"title":"%s","device":"%s","hosts":[%s],"startMs":%s}\n' \
    "$n" "$title" "$dev" "${hosts%,}" "$(ms)" >>"$STEPS"
  log "step $n: $title ($dev)"
}
# launch DEVICE LABEL CMD...: runs a client in a device, waits, records pid/exe/parent.
launch() {
  local dev="$1" label="$2"; shift 2
  ip netns exec "$(lab_ns "$dev")" "$@" >>"$RUN/clients.log" 2>&1 &
  local pid=$!
  printf '{"device":"device-%s","label":"%s","pid":%s,"exe":"%s","parentPid":%s,"startMs":%s}\n' \
    "$dev" "$label" "$pid" "$(readlink "/proc/$pid/exe" 2>/dev/null || echo "$1")" "$$" "$(ms)" >>"$RUN/launches.jsonl"
  wait "$pid"
}
launch_bg() { # like launch, but leaves it running; pid in $RUN/<label>.bg
  local dev="$1" label="$2"; shift 2
  ip netns exec "$(lab_ns "$dev")" "$@" >>"$RUN/clients.log" 2>&1 &
  local pid=$!
  echo "$pid" >"$RUN/$label.bg"
  printf '{"device":"device-%s","label":"%s","pid":%s,"exe":"%s","parentPid":%s,"startMs":%s}\n' \
    "$dev" "$label" "$pid" "$1" "$$" "$(ms)" >>"$RUN/launches.jsonl"
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
: >"$STEPS"; : >"$RUN/launches.jsonl"

log "demo binaries in $OPT"
cp "$(command -v node)" "$OPT/bin/httpd-worker"          # a web-server worker (an interpreter renamed)
cp /bin/bash "$OPT/bin/httpd"                              # its master process
cp "$(readlink -f /usr/bin/python3)" "$OPT/bin/ollama"      # the local model runtime stand-in
gcc -O2 -o "$OPT/bin/quickprompt" "$HERE/clients/newbin.c" -lssl -lcrypto   # a truly new binary
cp "$HERE/clients/"{node-get.mjs,py-get.py,local-runtime.py} "$OPT/lib/"

# Anchors: one idle process per covered device, for the endpoint poller to read the
# namespace's socket tables through.
anchors=()
for d in a b c; do
  ip netns exec "$(lab_ns "$d")" sleep 900 &
  echo $! >"$RUN/anchor-$d.bg"
  anchors+=("device-$d=$!")
done
node "$HERE/edr-poller.mjs" --out "$RUN/raw.jsonl" --interval-ms 10 --stop-file "$RUN/stop" --max-s 600 "${anchors[@]}" &
echo $! >"$RUN/poller.bg"

log "capture starts"
rm -f "$OUT"/*.pcap "$OUT"/*.pcap.gz
cap_start "$RUN/demo.pcap"
T0="$(ms)"

# 8. the local runtime on device-a (loopback only: the tap never sees it)
launch_bg a ollama "$OPT/bin/ollama" "$OPT/lib/local-runtime.py"
# 3. httpd master on device-b starts its worker, which polls api.anthropic.com every 2 s, 10 times
step 3 "web-server worker polls api.anthropic.com every 2 s" b api.anthropic.com
launch_bg b httpd "$OPT/bin/httpd" -c "$OPT/bin/httpd-worker $OPT/lib/node-get.mjs https://api.anthropic.com/v1/messages --ca $CA --count 10 --interval-ms 2000; true"

step 1 "sanctioned browser to chatgpt.com over QUIC" a chatgpt.com
chromium_get a https://chatgpt.com/ --enable-quic --origin-to-force-quic-on=chatgpt.com:443 || true
step 1 "sanctioned browser to chatgpt.com over TCP" a chatgpt.com
chromium_get a https://chatgpt.com/c/new --disable-quic || true

step 2 "allowlisted developer tool (curl) calls api.openai.com" a api.openai.com
launch a curl curl -4 -sS --http2 --cacert "$CA" https://api.openai.com/v1/chat/completions -d '{}' -o /dev/null
launch a curl curl -4 -sS --http2 --cacert "$CA" https://api.openai.com/v1/models -o /dev/null

step 8 "loopback calls to the local runtime on 127.0.0.1:11434" a localhost
for i in 1 2 3; do launch a curl curl -sS http://127.0.0.1:11434/api/generate -d '{}' -o /dev/null; done

step 9 "ordinary non-AI traffic" b,c www.example.org www.wikipedia.org
launch c curl curl -4 -sS --cacert "$CA" https://www.example.org/ -o /dev/null
launch b python3 env -u PYTHONHOME /usr/bin/python3 "$OPT/lib/py-get.py" https://www.wikipedia.org/ --ca "$CA"

step 4 "new binary quickprompt calls api.openai.com from three devices" a,b,c api.openai.com
for d in a b c; do launch "$d" quickprompt "$OPT/bin/quickprompt" api.openai.com "$CA"; sleep 1; done

step 6 "connection without SNI named by the client's DNS answer" c api.anthropic.com
launch c dig dig +short api.anthropic.com A
launch c openssl sh -c "sleep 1 | openssl s_client -connect $(lab_v4 api.anthropic.com):443 -noservername -alpn h2 -CAfile $CA -brief"

step 7 "device without endpoint sensor calls generativelanguage 6 times" d generativelanguage.googleapis.com
launch d node node "$OPT/lib/node-get.mjs" https://generativelanguage.googleapis.com/v1beta/models --ca "$CA" --count 6 --interval-ms 1000

step 5 "large upload (12.5 MiB) to api.openai.com" c api.openai.com
launch c python3 env -u PYTHONHOME /usr/bin/python3 "$OPT/lib/py-get.py" https://api.openai.com/v1/files --ca "$CA" --upload-bytes 13107200

log "waiting for the worker to finish its polls"
wait "$(cat "$RUN/httpd.bg")" 2>/dev/null || true
rm -f "$RUN/httpd.bg"
printf '{"step":0,"title":"end","device":"","hosts":[],"startMs":%s}\n' "$(ms)" >>"$STEPS"
cap_stop
touch "$RUN/stop"
wait "$(cat "$RUN/poller.bg")" 2>/dev/null || true
rm -f "$RUN/poller.bg"

log "writing pcaps/demo"
gzip -9 -n -c "$RUN/demo.pcap" >"$OUT/demo.pcap.gz"
node "$HERE/demo-write.mjs" --run "$RUN" --out "$OUT" --t0 "$T0" \
  --devices "device-a=$(lab_dev_v4 a),$(lab_dev_v6 a)" "device-b=$(lab_dev_v4 b),$(lab_dev_v6 b)" \
  "device-c=$(lab_dev_v4 c),$(lab_dev_v6 c)" "device-d=$(lab_dev_v4 d),$(lab_dev_v6 d)" \
  --hosts "$(for n in "${!LAB_HOSTS[@]}"; do printf '%s=%s,%s;' "$n" "$(lab_v4 "$n")" "$(lab_v6 "$n")"; done)" \
  --versions "$(chromium_version); $(curl --version | head -1 | cut -d' ' -f1-2); Python $(/usr/bin/python3 -V | cut -d' ' -f2); Node.js $(node --version); $(openssl version | cut -d' ' -f1-2); $(dig -v 2>&1 | head -1); gcc $(gcc -dumpversion)"
