#!/usr/bin/env bash
# Installs what `phoenix lab` needs on a fresh Debian machine, when missing, then builds (or finds cached)
# the real step-ca (scripts/build-step-ca.sh). Idempotent: a machine that has everything installs nothing.
#   nginx      the gateway guest's web server (real)
#   dnsmasq    the lab host's DNS (real)
#   pebble     a throwaway test ACME server (src/lab/pebble.ts)
#   perl       the sandbox launcher that binds ports below 1024 for a guest's services
#   openssl    certificate tooling
#   util-linux unshare / nsenter / setpriv: guests as user+mount namespace sandboxes
# Needs root for apt-get (the lab itself needs root too: user namespaces with Proxmox's uid shift).
set -euo pipefail
cd "$(dirname "$0")/.."

log() { echo "setup-lab: $*" >&2; }

need=()
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || need+=(nginx)
command -v dnsmasq >/dev/null 2>&1 || [ -x /usr/sbin/dnsmasq ] || need+=(dnsmasq)
command -v pebble >/dev/null 2>&1 || need+=(pebble)
command -v perl >/dev/null 2>&1 || need+=(perl)
command -v openssl >/dev/null 2>&1 || need+=(openssl)
{ command -v unshare && command -v nsenter && command -v setpriv; } >/dev/null 2>&1 || need+=(util-linux)

if [ "${#need[@]}" -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    log "missing packages: ${need[*]} (run as root, or install them first)"
    exit 1
  fi
  log "installing ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  # policy-rc.d-less machines would start Debian's own nginx (0.0.0.0:80) and dnsmasq (:53) on install:
  # the lab never uses them, so keep them from starting.
  policy=/usr/sbin/policy-rc.d
  made_policy=0
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod 755 "$policy" && made_policy=1
  fi
  trap 'if [ "$made_policy" = 1 ]; then rm -f "$policy"; fi' EXIT
  if ! apt-get install -y -qq --no-install-recommends "${need[@]}" >&2; then
    apt-get update -qq >&2
    apt-get install -y -qq --no-install-recommends "${need[@]}" >&2
  fi
else
  log "nginx, dnsmasq, pebble, perl, openssl and util-linux are installed"
fi

log "step-ca: $(bash scripts/build-step-ca.sh)"
