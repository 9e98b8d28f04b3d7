#!/usr/bin/env bash
# Copyright The Vigil Authors
# SPDX-License-Identifier: Apache-2.0
# mdatagen.sh runs the collector's metadata generator on a component's
# metadata.yaml (called by `go generate` from each component's doc.go, in the
# component's directory). scripts/toolchain.sh builds the pinned version
# (scripts/versions.sh) into the cache on first use.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
mdatagen=$(bash "$root/scripts/toolchain.sh" path mdatagen)
exec "$mdatagen" "$@"
