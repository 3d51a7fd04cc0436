# shellcheck shell=bash
# The capture lab: network namespaces on one bridge, local servers for AI and non-AI names,
# a local CA, dnsmasq for DNS. Sourced by make-cases.sh and make-demo.sh; never run on its own.
#
#   llcap-srv   bridge br0 + every server address, node HTTPS (h2/http1.1), Caddy (HTTP/3 for
#               chatgpt.com), dnsmasq; the capture point (tcpdump on br0 sees every frame
#               between the devices and the servers, Ethernet link type)
#   llcap-a..d  one device each: eth0 with its own IPv4 and IPv6 address
#
# Callers may set, before sourcing: LAB_PREFIX (namespace prefix, default llcap; another
# prefix lets a second lab run beside one already up), LAB_DEVICE_LIST (devices, default "a b c d"; e exists too),
# LAB_V6_ONLY (devices with no IPv4 address and an IPv6 resolver), LAB_CADDY=0 (no Caddy, no
# chatgpt.com over QUIC: the fleet set needs neither).
#
# Nothing leaves the machine: the namespaces have no route to the outside and are deleted by
# lab_down (also on exit through the trap the callers install).

LAB_HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
LAB_PREFIX="${LAB_PREFIX:-llcap}"
LAB_SRV="${LAB_PREFIX}-srv"
read -r -a LAB_DEVICES <<<"${LAB_DEVICE_LIST:-a b c d}"
LAB_V6_ONLY=" ${LAB_V6_ONLY:-} "
lab_v6_only() { [[ "$LAB_V6_ONLY" == *" $1 "* ]]; }
LAB_TMP="${LAB_TMP:-$(mktemp -d /tmp/llcap.XXXXXX)}"
LAB_NET4=10.77.0
LAB_NET6=fd77:0:0:77
LAB_DNS4="${LAB_NET4}.2"
LAB_DNS6="${LAB_NET6}::2"

# name → host number in both address families (one address per name, so passive DNS can tell
# the names apart by address).
declare -A LAB_HOSTS=(
  [chatgpt.com]=11
  [api.openai.com]=12
  [api.anthropic.com]=13
  [generativelanguage.googleapis.com]=14
  [claude.ai]=15
  [www.example.org]=16
  [www.wikipedia.org]=17
)
declare -A LAB_DEV_NUM=([a]=101 [b]=102 [c]=103 [d]=104 [e]=105)

lab_v4() { echo "${LAB_NET4}.${LAB_HOSTS[$1]}"; }
lab_v6() { echo "${LAB_NET6}::${LAB_HOSTS[$1]}"; }
lab_dev_v4() { echo "${LAB_NET4}.${LAB_DEV_NUM[$1]}"; }
lab_dev_v6() { echo "${LAB_NET6}::${LAB_DEV_NUM[$1]}"; }
lab_ns() { echo "${LAB_PREFIX}-$1"; }
in_srv() { ip netns exec "$LAB_SRV" "$@"; }
in_dev() { local d="$1"; shift; ip netns exec "$(lab_ns "$d")" "$@"; }
# Background jobs are started as simple commands (`ip netns exec ... &`, never through a shell
# function) so that $! is the server's own pid: `ip netns exec` execs the program in place.

log() { printf '[lab %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }

# Turn off segmentation/checksum offloads: a mirror port sees MTU-sized frames with real
# checksums, not 64 KB GSO super-frames.
lab_no_offload() {
  local ns="$1" dev="$2"
  ip netns exec "$ns" ethtool -K "$dev" tso off gso off gro off tx off rx off >/dev/null 2>&1 || true
}

lab_certs() {
  local d="$LAB_TMP/pki" san="" n
  mkdir -p "$d"
  for n in "${!LAB_HOSTS[@]}"; do san+="DNS:${n},"; done
  for n in "${!LAB_HOSTS[@]}"; do san+="IP:$(lab_v4 "$n"),IP:$(lab_v6 "$n"),"; done
  san="${san%,}"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 \
    -subj "/CN=llmtap capture lab CA" -keyout "$d/ca.key" -out "$d/ca.pem" 2>/dev/null
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -subj "/CN=llmtap capture lab" -keyout "$d/leaf.key" -out "$d/leaf.csr" 2>/dev/null
  printf 'subjectAltName=%s\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n' "$san" >"$d/ext.cnf"
  openssl x509 -req -in "$d/leaf.csr" -CA "$d/ca.pem" -CAkey "$d/ca.key" -CAcreateserial \
    -days 30 -extfile "$d/ext.cnf" -out "$d/leaf.pem" 2>/dev/null
  cat "$d/leaf.pem" "$d/ca.pem" >"$d/chain.pem"
  # SPKI pin for Chromium's --ignore-certificate-errors-spki-list.
  openssl x509 -in "$d/leaf.pem" -pubkey -noout | openssl pkey -pubin -outform der 2>/dev/null |
    openssl dgst -sha256 -binary | base64 >"$d/spki.b64"
}

lab_up() {
  lab_down_quiet
  log "namespaces, bridge and addresses"
  ip netns add "$LAB_SRV"
  in_srv ip link set lo up
  in_srv ip link add br0 type bridge
  in_srv ip link set br0 up
  in_srv sysctl -qw net.ipv6.conf.all.disable_ipv6=0 net.ipv6.conf.br0.accept_dad=0
  in_srv ip addr add "${LAB_DNS4}/24" dev br0
  in_srv ip -6 addr add "${LAB_DNS6}/64" dev br0 nodad
  local n d ns
  for n in "${!LAB_HOSTS[@]}"; do
    in_srv ip addr add "$(lab_v4 "$n")/24" dev br0
    in_srv ip -6 addr add "$(lab_v6 "$n")/64" dev br0 nodad
  done
  lab_no_offload "$LAB_SRV" br0
  for d in "${LAB_DEVICES[@]}"; do
    ns="$(lab_ns "$d")"
    ip netns add "$ns"
    ip netns exec "$ns" ip link set lo up
    ip link add "v${LAB_PREFIX}${d}" netns "$LAB_SRV" type veth peer name eth0 netns "$ns"
    in_srv ip link set "v${LAB_PREFIX}${d}" master br0 up
    ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=0 net.ipv6.conf.eth0.accept_dad=0
    lab_v6_only "$d" || ip netns exec "$ns" ip addr add "$(lab_dev_v4 "$d")/24" dev eth0
    ip netns exec "$ns" ip -6 addr add "$(lab_dev_v6 "$d")/64" dev eth0 nodad
    ip netns exec "$ns" ip link set eth0 up
    lab_no_offload "$ns" eth0
    lab_no_offload "$LAB_SRV" "v${LAB_PREFIX}${d}"
    # `ip netns exec` bind-mounts /etc/netns/<ns>/resolv.conf over /etc/resolv.conf.
    mkdir -p "/etc/netns/$ns"
    local dns="$LAB_DNS4"
    lab_v6_only "$d" && dns="$LAB_DNS6"
    printf 'nameserver %s\noptions attempts:1 timeout:2\n' "$dns" >"/etc/netns/$ns/resolv.conf"
  done
  lab_certs
  lab_servers
}

lab_servers() {
  local n
  log "dnsmasq on ${LAB_DNS4} and ${LAB_DNS6}"
  local recs=()
  for n in "${!LAB_HOSTS[@]}"; do recs+=("--host-record=${n},$(lab_v4 "$n"),$(lab_v6 "$n"),300"); done
  ip netns exec "$LAB_SRV" dnsmasq --keep-in-foreground --no-resolv --no-hosts --no-poll --bind-interfaces \
    --listen-address="$LAB_DNS4" --listen-address="$LAB_DNS6" --except-interface=lo \
    --cache-size=0 --log-facility=- --pid-file="$LAB_TMP/dnsmasq.pid" --user=root \
    "${recs[@]}" >"$LAB_TMP/dnsmasq.log" 2>&1 &
  echo $! >"$LAB_TMP/dnsmasq.bg"

  log "node HTTPS server (TLS 1.3, h2/http1.1)"
  local binds=()
  for n in "${!LAB_HOSTS[@]}"; do
    [[ "$n" == chatgpt.com ]] && continue
    binds+=("$(lab_v4 "$n")" "$(lab_v6 "$n")")
  done
  ip netns exec "$LAB_SRV" node "$LAB_HERE/https-server.mjs" --cert "$LAB_TMP/pki/chain.pem" --key "$LAB_TMP/pki/leaf.key" \
    --delay-ms "${LAB_DELAY_MS:-800}" --plain 127.0.0.1:8080 "${binds[@]}" >"$LAB_TMP/https-server.log" 2>&1 &
  echo $! >"$LAB_TMP/https-server.bg"

  if [[ "${LAB_CADDY:-1}" == 0 ]]; then lab_wait_ready; return; fi
  log "Caddy for chatgpt.com (h1, h2, h3)"
  local c4 c6
  c4="$(lab_v4 chatgpt.com)"; c6="$(lab_v6 chatgpt.com)"
  cat >"$LAB_TMP/Caddyfile" <<EOF
{
	admin off
	auto_https disable_redirects
	skip_install_trust
	servers {
		protocols h1 h2 h3
	}
}
https://chatgpt.com:443 {
	bind ${c4} [${c6}]
	tls ${LAB_TMP}/pki/chain.pem ${LAB_TMP}/pki/leaf.key
	header Alt-Svc "h3=\":443\"; ma=86400"
	reverse_proxy 127.0.0.1:8080
}
EOF
  ip netns exec "$LAB_SRV" env HOME="$LAB_TMP" XDG_DATA_HOME="$LAB_TMP/caddy-data" XDG_CONFIG_HOME="$LAB_TMP/caddy-cfg" \
    caddy run --config "$LAB_TMP/Caddyfile" --adapter caddyfile >"$LAB_TMP/caddy.log" 2>&1 &
  echo $! >"$LAB_TMP/caddy.bg"
  lab_wait_ready
}

lab_wait_ready() {
  local i
  for i in $(seq 1 50); do
    if in_srv ss -ltnH | grep -q "$(lab_v4 api.openai.com):443" &&
       { [[ "${LAB_CADDY:-1}" == 0 ]] || { in_srv ss -ltnH | grep -q "$(lab_v4 chatgpt.com):443" &&
         in_srv ss -lunH | grep -q "$(lab_v4 chatgpt.com):443"; }; } &&
       in_srv ss -lunH | grep -q "${LAB_DNS4}:53"; then
      log "servers ready"; return 0
    fi
    sleep 0.2
  done
  log "servers did not come up; logs in $LAB_TMP"; cat "$LAB_TMP"/*.log >&2; return 1
}

# Start tcpdump on the bridge; prints nothing, remembers its pid. Full snaplen.
cap_start() {
  local out="$1" filter="${2:-}"
  # -U: write each packet at once, so stopping it loses nothing.
  # shellcheck disable=SC2086
  ip netns exec "$LAB_SRV" tcpdump -Z root --immediate-mode -i br0 -s 0 -U -n -w "$out" $filter >"$LAB_TMP/tcpdump.log" 2>&1 &
  echo $! >"$LAB_TMP/tcpdump.bg"
  local i
  for i in $(seq 1 50); do grep -q 'listening on' "$LAB_TMP/tcpdump.log" && break; sleep 0.1; done
  sleep 0.3
}

cap_stop() {
  sleep 0.5
  local p
  p="$(cat "$LAB_TMP/tcpdump.bg")"
  kill -INT "$p" 2>/dev/null || true
  wait "$p" 2>/dev/null || true
}

lab_stop_bg() {
  local f p
  for f in "$LAB_TMP"/*.bg; do
    [[ -e "$f" ]] || continue
    p="$(cat "$f")"
    kill "$p" 2>/dev/null || true
    wait "$p" 2>/dev/null || true
    rm -f "$f"
  done
}

lab_down_quiet() {
  local d
  [[ -d "$LAB_TMP" ]] && lab_stop_bg
  for d in "${!LAB_DEV_NUM[@]}"; do
    ip netns del "$(lab_ns "$d")" 2>/dev/null || true
    rm -rf "/etc/netns/$(lab_ns "$d")"
  done
  ip netns del "$LAB_SRV" 2>/dev/null || true
}

lab_down() {
  log "tearing down the lab"
  lab_down_quiet
  if [[ "${LAB_KEEP_TMP:-0}" != 1 ]]; then rm -rf "$LAB_TMP"; fi
}
