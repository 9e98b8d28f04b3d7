#!/usr/bin/env bash
# Copyright The Vigil Authors
# SPDX-License-Identifier: Apache-2.0
# helm.sh installs the pinned Helm into the Vigil cache and runs it.
#
#   bash scripts/helm.sh install     build helm (once) into $VIGIL_CACHE/helm-<version>/helm
#   bash scripts/helm.sh path        print the binary's path (installs first)
#   bash scripts/helm.sh bin         print the binary's path (does not install)
#   bash scripts/helm.sh <args...>   run helm with the given arguments (installs first)
#
# The version (and why) is in scripts/versions.sh. Helm is built from the Go
# module proxy (no release tarball download), like the rest of
# scripts/toolchain.sh. `go install` works because Helm's go.mod has no
# replace directives; if a later pin gains some, copy the module to a
# writable directory and drop them (see build_from_module in scripts/lib.sh).
set -euo pipefail
# shellcheck source=versions.sh
. "$(dirname "${BASH_SOURCE[0]}")/versions.sh"

CACHE=${VIGIL_CACHE:-$HOME/.cache/vigil}
dir="$CACHE/helm-$HELM_VERSION"
bin="$dir/helm"
major=${HELM_VERSION%%.*}
module=helm.sh/helm/v$major

log() { echo "$(date -u +%H:%M:%S) helm.sh: $*" >&2; }

install_helm() {
  if [ -x "$bin" ]; then log "helm $HELM_VERSION cached"; return; fi
  # One build at a time: a second caller waits, then finds it cached.
  mkdir -p "$CACHE"
  exec {lock}>"$CACHE/.build-helm-$HELM_VERSION.lock"
  flock "$lock"
  if [ -x "$bin" ]; then log "helm $HELM_VERSION cached"; return; fi
  log "building helm $HELM_VERSION from $module (takes a few minutes on 2 cores)"
  mkdir -p "$dir"
  local tmp
  tmp=$(mktemp -d "${TMPDIR:-/tmp}/vigil-helm.XXXXXX")
  # The ldflags are those of Helm's Makefile (the version), with -s -w. Helm 3 also needs
  # the default Kubernetes version of `helm template`/`lint` (that of the
  # k8s.io modules it builds with), or a source build assumes 1.20; Helm 4
  # reads it from the build's k8s.io/client-go version itself.
  local ldflags="-s -w -X $module/internal/version.version=v$HELM_VERSION"
  if [ "$major" = 3 ]; then
    local k8s_minor
    k8s_minor=$(go mod download -json "$module@v$HELM_VERSION" | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",$/\1/p' \
      | xargs sed -n 's/^[[:space:]]*k8s.io\/client-go v0\.\([0-9]*\)\..*/\1/p')
    ldflags="$ldflags -X $module/pkg/lint/rules.k8sVersionMajor=1 -X $module/pkg/lint/rules.k8sVersionMinor=$k8s_minor"
    ldflags="$ldflags -X $module/pkg/chartutil.k8sVersionMajor=1 -X $module/pkg/chartutil.k8sVersionMinor=$k8s_minor"
  fi
  # Built outside the Vigil module so its go.mod is not consulted.
  (cd "$tmp" && GOBIN="$tmp" CGO_ENABLED=0 GOFLAGS= go install -trimpath -ldflags "$ldflags" "$module/cmd/helm@v$HELM_VERSION")
  mv "$tmp/helm" "$bin"
  rm -rf "$tmp"
  log "installed $bin"
}

case "${1:-}" in
  install) install_helm ;;
  path) install_helm; echo "$bin" ;;
  bin) echo "$bin" ;;
  "") echo "usage: $0 install | path | bin | <helm args...>" >&2; exit 2 ;;
  *) install_helm; exec "$bin" "$@" ;;
esac
