#!/usr/bin/env bash
# Regenerates the capture tests in test/captures/<case>/ (issue 3): each case is one real
# client (Chromium, curl, python3, node, openssl, dig) talking to the lab's local servers,
# captured on the lab bridge, then described by tshark (expected.json). Needs root (network
# namespaces). Nothing leaves the machine.
#
#   sudo scripts/captures/make-cases.sh            # every case
#   sudo scripts/captures/make-cases.sh dig-udp    # selected cases

set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
OUT="$REPO/test/captures"
# shellcheck source=lab.sh
source "$HERE/lab.sh"
# shellcheck source=clients.sh
source "$HERE/clients.sh"

ALL_CASES=(chromium-tcp-chatgpt chromium-quic-chatgpt curl-api-openai python-api-anthropic
  node-generativelanguage openssl-with-sni openssl-no-sni dig-udp dig-tcp ipv6-curl-dig-anthropic)
CASES=("$@")
[[ ${#CASES[@]} -gt 0 ]] || CASES=("${ALL_CASES[@]}")

AI_NAMES=(chatgpt.com api.openai.com api.anthropic.com generativelanguage.googleapis.com claude.ai)

case_chromium-tcp-chatgpt() {
  DESC="Chromium headless loads https://chatgpt.com/ over TCP (QUIC disabled): a post-quantum
(X25519MLKEM768) ClientHello of about 1.9 KB split over two TCP segments, GREASE ECH, ALPN h2.
DNS lookups of chatgpt.com go to the lab's dnsmasq first."
  CLIENT="$(chromium_version)"
  chromium_get a https://chatgpt.com/ --disable-quic
}
case_chromium-quic-chatgpt() {
  DESC="Chromium headless loads https://chatgpt.com/ over QUIC v1 (HTTP/3 forced with
--origin-to-force-quic-on) to Caddy; the ClientHello is carried in CRYPTO frames of the client's
Initial packets."
  CLIENT="$(chromium_version)"
  chromium_get a https://chatgpt.com/ --enable-quic --origin-to-force-quic-on=chatgpt.com:443
}
case_curl-api-openai() {
  DESC="curl (OpenSSL, nghttp2) GET https://api.openai.com/v1/models over IPv4, HTTP/2."
  CLIENT="$(curl --version | head -1)"
  in_dev b curl -4 -sS --http2 --cacert "$LAB_TMP/pki/ca.pem" https://api.openai.com/v1/models -o /dev/null
}
case_python-api-anthropic() {
  DESC="python3 urllib (ssl module, OpenSSL) GET https://api.anthropic.com/v1/messages, HTTP/1.1."
  CLIENT="Python $(/usr/bin/python3 -c 'import ssl,sys;print(sys.version.split()[0], ssl.OPENSSL_VERSION)')"
  in_dev b env -u PYTHONHOME /usr/bin/python3 "$HERE/clients/py-get.py" https://api.anthropic.com/v1/messages --ca "$LAB_TMP/pki/ca.pem"
}
case_node-generativelanguage() {
  DESC="Node.js https GET https://generativelanguage.googleapis.com/v1beta/models over IPv4."
  CLIENT="Node.js $(node --version) (OpenSSL $(node -p process.versions.openssl))"
  in_dev c node "$HERE/clients/node-get.mjs" https://generativelanguage.googleapis.com/v1beta/models --ca "$LAB_TMP/pki/ca.pem"
}
case_openssl-with-sni() {
  DESC="openssl s_client -connect <api.openai.com address>:443 -servername api.openai.com -alpn h2."
  CLIENT="$(openssl version)"
  echo | in_dev c openssl s_client -connect "$(lab_v4 api.openai.com):443" -servername api.openai.com \
    -alpn h2 -CAfile "$LAB_TMP/pki/ca.pem" -brief >>"$LAB_TMP/openssl.log" 2>&1
}
case_openssl-no-sni() {
  DESC="The client resolves api.openai.com (dig, UDP, A) and then connects to the address with
openssl s_client -noservername: the ClientHello has no server_name; only the client's own DNS
answer names the flow (passive DNS, host_source dns-client)."
  CLIENT="$(openssl version); $(dig -v 2>&1 | head -1)"
  in_dev c dig +short api.openai.com A >/dev/null
  echo | in_dev c openssl s_client -connect "$(lab_v4 api.openai.com):443" -noservername \
    -alpn h2 -CAfile "$LAB_TMP/pki/ca.pem" -brief >>"$LAB_TMP/openssl.log" 2>&1
}
case_dig-udp() {
  DESC="dig over UDP: A and AAAA for every AI name of the lab, answered by dnsmasq."
  CLIENT="$(dig -v 2>&1 | head -1)"
  local n
  for n in "${AI_NAMES[@]}"; do in_dev d dig +short "$n" A >/dev/null; in_dev d dig +short "$n" AAAA >/dev/null; done
}
case_dig-tcp() {
  DESC="dig +tcp: A and AAAA for every AI name of the lab over TCP (length-prefixed messages)."
  CLIENT="$(dig -v 2>&1 | head -1)"
  local n
  for n in "${AI_NAMES[@]}"; do in_dev d dig +tcp +short "$n" A >/dev/null; in_dev d dig +tcp +short "$n" AAAA >/dev/null; done
}
case_ipv6-curl-dig-anthropic() {
  DESC="IPv6 only: dig AAAA api.anthropic.com to the IPv6 DNS server address, then curl -6
https://api.anthropic.com/v1/messages (HTTP/2 over TLS 1.3 over IPv6)."
  CLIENT="$(curl --version | head -1); $(dig -v 2>&1 | head -1)"
  in_dev d dig -6 @"$LAB_DNS6" +short api.anthropic.com AAAA >/dev/null
  in_dev d curl -6 -sS --http2 --cacert "$LAB_TMP/pki/ca.pem" https://api.anthropic.com/v1/messages -o /dev/null
}

write_readme() {
  local dir="$1" name="$2"
  cat >"$dir/README.md" <<EOF
# $name

$DESC

- Issue: 3 (handshake dissectors: positives the public corpus lacks).
- Made by: \`scripts/captures/make-cases.sh $name\` (lab: \`scripts/captures/lab.sh\`), $(date -u +%Y-%m-%d).
- Client: $CLIENT
- Servers: lab namespace \`llcap-srv\`; chatgpt.com is Caddy $(caddy version | awk '{print $1}') (h1/h2/h3),
  the other names a Node.js $(node --version) HTTPS server (TLS 1.3, h2/http1.1), DNS dnsmasq $(dnsmasq --version | head -1 | awk '{print $3}').
  Names map to lab addresses: $(for n in "${AI_NAMES[@]}"; do printf '%s %s/%s; ' "$n" "$(lab_v4 "$n")" "$(lab_v6 "$n")"; done)
- Devices: device-a $(lab_dev_v4 a), device-b $(lab_dev_v4 b), device-c $(lab_dev_v4 c), device-d $(lab_dev_v4 d) (IPv6 ${LAB_NET6}::101..104).
- Capture: tcpdump -s 0 on the lab bridge (Ethernet, pcap, microseconds), offloads off.
- Licence: same as the project (generated here, no third-party data).
- \`expected.json\`: tshark's reading of the capture (\`node scripts/captures/make-expected.mjs test/captures/$name\`), never hand-edited.
EOF
}

run_case() {
  local name="$1" dir="$OUT/$1"
  mkdir -p "$dir"
  rm -f "$dir"/*.pcap "$dir"/*.pcap.gz
  log "case $name"
  cap_start "$dir/$name.pcap"
  "case_$name"
  cap_stop
  write_readme "$dir" "$name"
  node "$HERE/make-expected.mjs" "$dir"
}

trap lab_down EXIT
lab_up
for c in "${CASES[@]}"; do run_case "$c"; done
