#!/usr/bin/env bash
# Copyright The Vigil Authors
# SPDX-License-Identifier: Apache-2.0
# toolchain.sh installs what builds and checks Vigil itself, as opposed to the
# backends it talks to (scripts/backends.sh):
#   debian    Debian packages: the eBPF toolchain (clang-14, llvm-14,
#             libbpf-dev, bpftool), the netns lab's tools (iproute2,
#             nftables) and gcc for the race detector
#   ocb       the collector builder (cmd/gateway/components.go, bench peer)
#   mdatagen  the collector's metadata generator (go generate)
#   helm      the chart tests' Helm (built by scripts/helm.sh)
# Names and versions are in scripts/versions.sh. Go builds are cached under
# ${VIGIL_CACHE:-$HOME/.cache/vigil}/<name>-<version>/.
#
# Usage: scripts/toolchain.sh install [step...]   (default: every step, in order)
#        scripts/toolchain.sh path ocb|mdatagen|helm   (installs first, prints the binary's path)
#        scripts/toolchain.sh env                      (eval "$(scripts/toolchain.sh env)")
set -euo pipefail
LOG_NAME=toolchain
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
. "$HERE/lib.sh"

ocb_bin()      { echo "$CACHE/ocb-$OCB_VERSION/builder"; }
mdatagen_bin() { echo "$CACHE/mdatagen-$MDATAGEN_VERSION/mdatagen"; }
helm_bin()     { bash "$HERE/helm.sh" bin; }

install_debian() {
  apt_install "${TOOLCHAIN_DEBIAN_PACKAGES[@]}"
  local c
  for c in clang-14 llvm-strip-14 nft gcc ip; do
    command -v "$c" >/dev/null || die "$c not on PATH after installing ${TOOLCHAIN_DEBIAN_PACKAGES[*]}"
  done
  # Debian's bpftool package installs /usr/sbin/bpftool.
  command -v bpftool >/dev/null || [ -x /usr/sbin/bpftool ] || die "bpftool not found"
  log "debian toolchain ready: $(clang-14 --version | head -1)"
}

install_ocb() {
  [ -x "$(ocb_bin)" ] && { log "ocb $OCB_VERSION cached"; return; }
  log "building ocb $OCB_VERSION"
  go_install_into "$(dirname "$(ocb_bin)")" "go.opentelemetry.io/collector/cmd/builder@v$OCB_VERSION"
}

install_mdatagen() {
  local bin
  bin=$(mdatagen_bin)
  [ -x "$bin" ] && { log "mdatagen $MDATAGEN_VERSION cached"; return; }
  log "building mdatagen $MDATAGEN_VERSION"
  mkdir -p "$(dirname "$bin")"
  # Its go.mod replaces every collector module with a sibling directory of
  # the collector repository, which the module zip lacks: drop them all.
  local src drops=() old
  src=$(module_dir go.opentelemetry.io/collector/cmd/mdatagen "v$MDATAGEN_VERSION")
  while read -r old; do drops+=("-dropreplace=$old"); done < <(sed -n 's/^\(replace\)\{0,1\}[[:space:]]*\([^ ]*\) => \.\..*/\2/p' "$src/go.mod")
  build_from_module go.opentelemetry.io/collector/cmd/mdatagen "v$MDATAGEN_VERSION" . "$bin.tmp" "${drops[@]}"
  mv "$bin.tmp" "$bin"
}

install_helm() { bash "$HERE/helm.sh" install; }

cmd=${1:-}
shift || true
case "$cmd" in
  install)
    steps=("$@")
    [ ${#steps[@]} -gt 0 ] || steps=("${TOOLCHAIN_STEPS[@]}")
    run_steps "${steps[@]}" ;;
  path) # quiet when cached: go generate calls this once per component
    [ $# -eq 1 ] || die "usage: $0 path ocb|mdatagen|helm"
    declare -F "$1_bin" >/dev/null || die "no binary for '$1'"
    bin=$("$1_bin")
    [ -x "$bin" ] || run_steps "$1"
    echo "$bin" ;;
  env)
    echo "export VIGIL_OCB_BIN=$(ocb_bin) VIGIL_MDATAGEN_BIN=$(mdatagen_bin) VIGIL_HELM_BIN=$(helm_bin)" ;;
  *) echo "usage: $0 install [${TOOLCHAIN_STEPS[*]}] | path ocb|mdatagen|helm | env" >&2; exit 2 ;;
esac
