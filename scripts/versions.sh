# shellcheck shell=bash
# Copyright The Vigil Authors
# SPDX-License-Identifier: Apache-2.0
# versions.sh is the one list of what Vigil's scripts install: every name,
# version and Debian package, each written once. scripts/toolchain.sh,
# scripts/backends.sh, scripts/helm.sh and scripts/test.sh source it; the
# README points here instead of repeating the numbers. Each pin says why it is
# that version. Sourced, not run: it only sets variables.
#
# Built binaries are cached under ${VIGIL_CACHE:-$HOME/.cache/vigil}/<name>-<version>/.

# ---------------------------------------------------------------- toolchain ---
# What builds and checks Vigil itself (scripts/toolchain.sh).

# The collector builder (ocb): cmd/gateway/components.go and the bench peer.
# Follows the collector core release in go.mod (v0.165.0 / v1.71.0).
OCB_VERSION=0.165.0
# mdatagen stays at v0.159.0, the newest that builds here (checked against
# the v0.165 core on 2026-12-04):
#   v0.165.0, v0.164.0, v0.163.0, v0.162.0, v0.160.0: the module proxy has no
#     such version: ".../cmd/mdatagen/@v/v0.165.0.info: 404 Not Found";
#   v0.161.0 downloads, but its internal/cfggen imports
#     go.opentelemetry.io/collector/internal/schemagen v0.161.0, which is not
#     served: ".../internal/schemagen/@v/v0.161.0.info: 404 Not Found".
# Its output (internal/metadata, generated_*_test.go, documentation.md) still
# compiles and passes against the v0.165 core.
MDATAGEN_VERSION=0.159.0
# Helm, for the chart tests (deploy/helm_test.go, test/e2e) and the install
# example: helm.sh/helm/v4 v4.3.2, the approved release the package list
# prefers (3.22.0 is served but not approved; v3.21.4 is the approved Helm 3,
# for a chart that would need Helm 3). scripts/helm.sh builds
# helm.sh/helm/v<major>.
HELM_VERSION=4.3.2
# Debian (bookworm) packages: the kernel receiver's eBPF toolchain (clang-14
# regenerates the committed bpf2go output byte for byte), the netns lab's
# tools, and gcc for the race detector (go test -race needs cgo).
TOOLCHAIN_DEBIAN_PACKAGES=(clang-14 llvm-14 libbpf-dev bpftool iproute2 nftables gcc libc6-dev)

# Install steps of scripts/toolchain.sh, in order.
TOOLCHAIN_STEPS=(debian ocb mdatagen helm)

# ----------------------------------------------------------------- backends ---
# What the bench and the end-to-end tests talk to (scripts/backends.sh).

# Jaeger v2.12.0 (module github.com/jaegertracing/jaeger v1.75.0, cmd/jaeger).
# v1.75.0 is the newest approved release; v1.76.0 (Jaeger v2.13.0) is served
# by the proxy but not approved.
JAEGER_MODULE_VERSION=1.75.0
# Prometheus 3.16.0: the remote-write 2.0 receiver, OTLP receiver and native
# histograms. Prometheus 3.x.y is the module github.com/prometheus/prometheus
# v0.3xx.y (backends.sh derives it), here v0.316.0.
PROMETHEUS_VERSION=3.16.0
# The logs backend: VictoriaLogs (Apache-2.0), which implements Loki's push
# API (protobuf + snappy, structured metadata, JSON) at
# /insert/loki/api/v1/push. Loki itself is AGPL-3.0 and is never built here.
VICTORIALOGS_VERSION=1.52.2
# The load generator of the bench and the e2e tests (collector-contrib).
TELEMETRYGEN_VERSION=0.161.0
# Debian's Prometheus 2.42 (remote-write 1.0 only: the 1.0 path and the 2.0
# fallback) and Alertmanager (the baseline connector's alerts).
BACKEND_DEBIAN_PACKAGES=(prometheus prometheus-alertmanager)

# Install steps of scripts/backends.sh, in order.
BACKEND_STEPS=(jaeger prometheus victorialogs telemetrygen debian)
# Every service backends.sh can start; `start` without names starts the
# default ones (the others are started on demand by the tests that need them).
BACKEND_SERVICES=(jaeger prometheus prometheus3meta prometheus2 victorialogs alertmanager)
BACKEND_DEFAULT_SERVICES=(jaeger prometheus victorialogs)
