#!/usr/bin/env bash
# helm.sh installs a pinned Helm into the Vigil cache and runs it.
#
#   bash scripts/helm.sh install     build helm (once) into $VIGIL_CACHE/helm-<version>/helm
#   bash scripts/helm.sh path        print the binary's path (installs first)
#   bash scripts/helm.sh <args...>   run helm with the given arguments (installs first)
#
# Helm is built from the Go module proxy (no release tarball download), like
# the backends in scripts/backends.sh. `go install` works for v3.22.0 because
# its go.mod has no replace directives; if a later pin gains some, copy the
# module to a writable directory and drop them (see build_from_module in
# scripts/backends.sh).
set -euo pipefail

HELM_VERSION=${VIGIL_HELM_VERSION:-3.22.0}
CACHE=${VIGIL_CACHE:-$HOME/.cache/vigil}
dir="$CACHE/helm-$HELM_VERSION"
bin="$dir/helm"

log() { echo "$(date -u +%H:%M:%S) helm.sh: $*" >&2; }

install_helm() {
  if [ -x "$bin" ]; then return; fi
  log "building helm $HELM_VERSION from helm.sh/helm/v3 (takes a few minutes on 2 cores)"
  mkdir -p "$dir"
  local tmp; tmp=$(mktemp -d "${TMPDIR:-/tmp}/vigil-helm.XXXXXX")
  # Build outside the Vigil module so its go.mod is not consulted.
  (cd "$tmp" && GOBIN="$tmp" CGO_ENABLED=0 GOFLAGS= go install -trimpath \
    -ldflags "-X helm.sh/helm/v3/internal/version.version=v$HELM_VERSION" \
    "helm.sh/helm/v3/cmd/helm@v$HELM_VERSION")
  mv "$tmp/helm" "$bin"
  rm -rf "$tmp"
  log "installed $bin"
}

case "${1:-}" in
  install) install_helm ;;
  path) install_helm; echo "$bin" ;;
  "") echo "usage: $0 install | path | <helm args...>" >&2; exit 2 ;;
  *) install_helm; exec "$bin" "$@" ;;
esac
