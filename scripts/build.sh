#!/usr/bin/env bash
# Copyright The Vigil Authors
# SPDX-License-Identifier: Apache-2.0
# build.sh builds bin/vigil. CGO_ENABLED=0 as the collector builder (ocb)
# builds upstream distributions: Vigil needs no cgo (cilium/ebpf is pure Go;
# only net's resolver and os/user would link libc), and the cgo build
# measured ~2% more CPU per span on the same pipeline (issue 4 notes).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
CGO_ENABLED=0 exec go build -trimpath -o bin/vigil ./cmd/gateway
