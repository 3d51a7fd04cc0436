# shellcheck shell=bash
# Client launchers shared by make-cases.sh and make-demo.sh (sourced after lab.sh).

chromium_version() { chromium --version 2>/dev/null | grep -o 'Chromium [0-9.]*' | head -1; }

# chromium_get DEVICE URL [extra flags...]: one headless page load with a fresh profile; prints
# nothing. The lab CA is trusted by pinning the leaf's SPKI (works for TCP and QUIC).
chromium_get() {
  local dev="$1" url="$2"; shift 2
  local prof
  prof="$(mktemp -d "$LAB_TMP/chromium.XXXXXX")"
  in_dev "$dev" timeout 60 chromium --headless --no-sandbox --disable-gpu --no-first-run \
    --disable-background-networking --disable-component-update --disable-sync \
    --disable-domain-reliability --disable-default-apps --disable-extensions --no-pings \
    --user-data-dir="$prof" --ignore-certificate-errors-spki-list="$(cat "$LAB_TMP/pki/spki.b64")" \
    "$@" --dump-dom "$url" >/dev/null 2>>"$LAB_TMP/chromium.log"
  rm -rf "$prof"
}
