# shellcheck shell=bash
# Copyright The Vigil Authors
# SPDX-License-Identifier: Apache-2.0
# lib.sh holds what scripts/toolchain.sh and scripts/backends.sh share:
# logging, the build cache, building a command from the Go module proxy, and
# installing Debian packages. Sourced, not run. The caller sets LOG_NAME.

# shellcheck source=versions.sh
. "$(dirname "${BASH_SOURCE[0]}")/versions.sh"

CACHE=${VIGIL_CACHE:-$HOME/.cache/vigil}

log() { printf '%s %s: %s\n' "$(date +%H:%M:%S)" "${LOG_NAME:-vigil}" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# run_steps runs install_<step> for each step, one at a time per step name
# across processes (a second install of the same thing waits for the first
# and then finds it cached), and logs how long each took.
run_steps() { # step...
  local n t0 lock
  mkdir -p "$CACHE"
  for n in "$@"; do
    declare -F "install_$n" >/dev/null || die "unknown install step '$n'"
    exec {lock}>"$CACHE/.install-$n.lock"
    flock "$lock"
    t0=$(date +%s)
    "install_$n"
    log "install $n took $(($(date +%s) - t0))s"
    exec {lock}>&-
  done
}

# module_dir prints the module cache directory of module@version (downloading
# it first).
module_dir() { # module version
  go mod download -json "$1@$2" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p'
}

# build_from_module copies a module out of the (read-only) module cache into a
# writable directory, so that replace directives the proxy cannot satisfy can
# be dropped, and builds one command from it.
build_from_module() { # module version pkg out [go-mod-edit-args...]
  local module=$1 version=$2 pkg=$3 out=$4
  shift 4
  local src work
  src=$(module_dir "$module" "$version")
  [ -d "$src" ] || die "go mod download $module@$version gave no directory"
  work=$(mktemp -d "${TMPDIR:-/tmp}/vigil-build.XXXXXX")
  cp -r "$src/." "$work/" && chmod -R u+w "$work"
  if [ $# -gt 0 ]; then (cd "$work" && go mod edit "$@"); fi
  (cd "$work" && CGO_ENABLED=0 GOFLAGS=-mod=mod go build -trimpath -ldflags="-s -w" -o "$out" "$pkg")
  rm -rf "$work"
}

# go_install_into builds commands with `go install` into dir, outside any
# module (so Vigil's go.mod is not consulted). Like every binary the scripts
# build for the tests, without the symbol table and DWARF (-s -w): nobody
# debugs them, and the linker writes less.
go_install_into() { # dir pkg@version...
  local dir=$1
  shift
  mkdir -p "$dir"
  (cd "$dir" && GOBIN="$dir" CGO_ENABLED=0 GOFLAGS= go install -trimpath -ldflags="-s -w" "$@")
}

# missing_debian prints those of the given Debian packages that are not
# installed, one per line.
missing_debian() { # package...
  local p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || echo "$p"
  done
}

# apt_install installs the Debian packages that are missing. With --no-start,
# the packages' maintainer scripts must not start their daemons (Vigil's
# scripts run them with their own flags and ports): invoke-rc.d asks
# /usr/sbin/policy-rc.d, and this Debian's invoke-rc.d reads no other path,
# so a deny-all policy is put there for the duration of the apt-get install
# only, and whatever was there before (container images often ship one) is put
# back on every exit, error or signal. A lock keeps two installs from
# swapping the file under each other.
apt_install() { # [--no-start] package...
  local no_start=
  if [ "${1:-}" = --no-start ]; then no_start=1; shift; fi
  local missing
  mapfile -t missing < <(missing_debian "$@")
  [ ${#missing[@]} -gt 0 ] || { log "debian packages present: $*"; return 0; }
  [ "$(id -u)" -eq 0 ] || die "need root to apt-get install ${missing[*]}"
  log "apt-get install ${missing[*]}"
  (
    exec {apt_lock}>/run/lock/vigil-apt.lock
    flock "$apt_lock"
    export DEBIAN_FRONTEND=noninteractive
    apt-get -o DPkg::Lock::Timeout=600 update -qq >/dev/null
    if [ -n "$no_start" ]; then
      policy=/usr/sbin/policy-rc.d
      saved=$(mktemp "${TMPDIR:-/tmp}/vigil-policy-rc.d.XXXXXX")
      had_policy=
      if [ -e "$policy" ]; then cp -p "$policy" "$saved"; had_policy=1; fi
      restore() {
        if [ -n "$had_policy" ]; then cp -p "$saved" "$policy"; else rm -f "$policy"; fi
        rm -f "$saved"
      }
      trap restore EXIT
      trap 'exit 130' INT TERM
      printf '#!/bin/sh\n# written by vigil scripts/lib.sh for one apt-get install; restored after\nexit 101\n' >"$policy"
      chmod 755 "$policy"
    fi
    apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  )
  mapfile -t missing < <(missing_debian "$@")
  [ ${#missing[@]} -eq 0 ] || die "still missing after apt-get install: ${missing[*]}"
}
