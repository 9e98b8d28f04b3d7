#!/usr/bin/env bash
# helm.sh installs a pinned Helm into the Vigil cache and runs it.
#
#   bash scripts/helm.sh install     build helm (once) into $VIGIL_CACHE/helm-<version>/helm
#   bash scripts/helm.sh path        print the binary's path (installs first)
#   bash scripts/helm.sh bin         print the binary's path (does not install)
#   bash scripts/helm.sh <args...>   run helm with the given arguments (installs first)
#
# Helm is built from the Go module proxy (no release tarball download), like
# the rest of scripts/toolchain.sh; its version is in scripts/versions.sh. `go install` works for v3.22.0 because
# its go.mod has no replace directives; if a later pin gains some, copy the
# module to a writable directory and drop them (see build_from_module in
# scripts/lib.sh).
set -euo pipefail
# shellcheck source=versions.sh
. "$(dirname "${BASH_SOURCE[0]}")/versions.sh"

HELM_K8S_MINOR=37 # k8s.io/client-go v0.37 in Helm 3.22's go.mod
CACHE=${VIGIL_CACHE:-$HOME/.cache/vigil}
dir="$CACHE/helm-$HELM_VERSION"
bin="$dir/helm"

log() { echo "$(date -u +%H:%M:%S) helm.sh: $*" >&2; }

install_helm() {
  if [ -x "$bin" ]; then log "helm $HELM_VERSION cached"; return; fi
  log "building helm $HELM_VERSION from helm.sh/helm/v3 (takes a few minutes on 2 cores)"
  mkdir -p "$dir"
  local tmp; tmp=$(mktemp -d "${TMPDIR:-/tmp}/vigil-helm.XXXXXX")
  # Build outside the Vigil module so its go.mod is not consulted.
  # The ldflags are those of Helm's Makefile: the version, and the default
  # Kubernetes version of `helm template`/`lint` (that of the k8s.io modules
  # Helm 3.22 builds with, 1.37); without them a source build assumes 1.20.
  local k8s="-X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMinor=$HELM_K8S_MINOR"
  k8s="$k8s -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMinor=$HELM_K8S_MINOR"
  (cd "$tmp" && GOBIN="$tmp" CGO_ENABLED=0 GOFLAGS= go install -trimpath \
    -ldflags "-X helm.sh/helm/v3/internal/version.version=v$HELM_VERSION $k8s" \
    "helm.sh/helm/v3/cmd/helm@v$HELM_VERSION")
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
