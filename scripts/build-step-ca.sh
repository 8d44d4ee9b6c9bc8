#!/usr/bin/env bash
# Builds a real step-ca binary OFFLINE from Debian's packaged Go sources (golang-github-smallstep-certificates-dev)
# and caches it outside the repository:
#   ${PHOENIX_CACHE_DIR:-$HOME/.cache/phoenix}/step-ca/<debian package version>/step-ca
# Idempotent: when the binary for the installed package version exists, nothing is done.
# All diagnostics go to stderr; the LAST line of stdout is the binary's path.
# Installing the packages needs root (apt-get); building needs no network (GOPROXY=off, GOPATH mode).
# Exit status: 0 built or cached; 3 the packages are missing and cannot be installed (not root, apt-get
# failed); anything else: the build itself failed.
set -euo pipefail

PKG=golang-github-smallstep-certificates-dev
CACHE_ROOT="${PHOENIX_CACHE_DIR:-${HOME:-/root}/.cache/phoenix}/step-ca"

log() { echo "build-step-ca: $*" >&2; }

installed_version() {
  # Prints the installed version of package $1, or nothing when it is not (fully) installed.
  local status
  status="$(dpkg-query -W -f='${db:Status-Status} ${Version}' "$1" 2>/dev/null || true)"
  case "$status" in
    "installed "*) echo "${status#installed }" ;;
  esac
}

binary_for() { echo "$CACHE_ROOT/$1/step-ca"; }

version="$(installed_version "$PKG")"
if [ -n "$version" ] && [ -x "$(binary_for "$version")" ]; then
  binary_for "$version"
  exit 0
fi

mkdir -p "$CACHE_ROOT"
# Parallel test suites may call this at the same time: one builds, the others wait and reuse its result.
exec 9>"$CACHE_ROOT/.build.lock"
flock -w 900 9 || { log "timed out after 900 s waiting for another build (lock $CACHE_ROOT/.build.lock)"; exit 1; }

need=()
[ -n "$(installed_version "$PKG")" ] || need+=("$PKG")
command -v go >/dev/null 2>&1 || need+=(golang-go)
if [ "${#need[@]}" -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    log "missing packages: ${need[*]} (run as root, or install them first)"
    exit 3
  fi
  log "installing ${need[*]} with apt-get"
  export DEBIAN_FRONTEND=noninteractive
  if ! apt-get install -y -qq --no-install-recommends "${need[@]}" >&2; then
    # A fresh machine has no (or a stale) package list.
    if ! { apt-get update -qq >&2 && apt-get install -y -qq --no-install-recommends "${need[@]}" >&2; }; then
      log "apt-get could not install ${need[*]}"
      exit 3
    fi
  fi
fi

version="$(installed_version "$PKG")"
[ -n "$version" ] || { log "$PKG is not installed after apt-get"; exit 3; }
target="$(binary_for "$version")"
if [ -x "$target" ]; then # built by another process while this one waited for the lock
  echo "$target"
  exit 0
fi

work="$(mktemp -d "${TMPDIR:-/tmp}/phoenix-step-ca.XXXXXX")"
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/gopath/src/phoenix-step-ca"
# The same entry point as upstream's cmd/step-ca (commands.AppCommand), with the software CAS and KMS.
cat >"$work/gopath/src/phoenix-step-ca/main.go" <<EOF
package main

import (
	"fmt"
	"os"

	"github.com/smallstep/certificates/commands"
	"github.com/urfave/cli"
	"go.step.sm/cli-utils/step"

	_ "github.com/smallstep/certificates/cas/softcas"
	_ "github.com/smallstep/certificates/kms/softkms"
)

func main() {
	step.Set("Smallstep CA", "${version}", "phoenix build from Debian sources")
	app := cli.NewApp()
	app.Name, app.HelpName, app.Usage = "step-ca", "step-ca", "online certificate authority (Debian ${PKG} ${version})"
	app.Version = "${version}"
	app.Flags = append(app.Flags, commands.AppCommand.Flags...)
	app.Action = commands.AppCommand.Action
	app.Writer, app.ErrWriter = os.Stdout, os.Stderr
	if err := app.Run(os.Args); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
EOF

log "building step-ca from Debian's $PKG $version with $(go version) (offline)"
started=$SECONDS
(
  cd "$work/gopath/src/phoenix-step-ca"
  env GO111MODULE=off GOPATH="$work/gopath:/usr/share/gocode" GOCACHE="$work/gocache" \
    GOPROXY=off GOFLAGS=-buildvcs=false GOTOOLCHAIN=local CGO_ENABLED=1 \
    go build -trimpath -o "$work/step-ca" phoenix-step-ca >&2
)
STEPPATH="$work/steppath" "$work/step-ca" --version >&2 # STEPPATH: no ~/.step left behind
mkdir -p "$(dirname "$target")"
# Atomic publish: a reader sees either no binary or the complete one.
install -m 0755 "$work/step-ca" "$target.tmp.$$"
mv -f "$target.tmp.$$" "$target"
log "built in $((SECONDS - started)) s"
echo "$target"
