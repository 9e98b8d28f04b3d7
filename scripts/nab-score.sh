#!/usr/bin/env bash
# Copyright The Vigil Authors
# SPDX-License-Identifier: Apache-2.0
#
# Scores the ewma_baseline connector on NAB's development categories
# (realAWSCloudwatch, realKnownCause, artificialNoAnomaly,
# artificialWithAnomaly) with NAB's own scorer. See bench/detection/README.md.
#
#   scripts/nab-score.sh /path/to/NAB [flags of bench/detection/cmd/nab]
#   scripts/nab-score.sh /tmp/nab -map onset
#   scripts/nab-score.sh /tmp/nab -rule '{"half_life":"24h"}' -reference random,numenta
#
# NAB (github.com/numenta/NAB) is not part of this repository: pass a checkout
# kept outside it. NAB's scorer needs pandas and simplejson; PyPI is not
# used: they come from Debian, for /usr/bin/python3 (installed here when
# missing, which needs root or sudo).
set -euo pipefail

if [[ $# -lt 1 || ! -f "$1/labels/combined_windows.json" ]]; then
	echo "usage: $0 /path/to/NAB-checkout [flags of bench/detection/cmd/nab]" >&2
	exit 2
fi
nab=$(cd "$1" && pwd)
shift
python=/usr/bin/python3

if ! "$python" -c 'import pandas, simplejson' 2>/dev/null; then
	sudo=()
	[[ $(id -u) -eq 0 ]] || sudo=(sudo)
	echo "nab-score: installing NAB's Python dependencies from Debian (python3-pandas, python3-simplejson)" >&2
	"${sudo[@]}" apt-get update -qq
	DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends \
		python3 python3-pandas python3-simplejson python3-dateutil >/dev/null
fi

cd "$(dirname "$0")/.."
exec go run ./bench/detection/cmd/nab -nab "$nab" -python "$python" "$@"
