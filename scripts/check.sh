#!/usr/bin/env bash
# check.sh: gofmt, go vet, and that the committed generated code matches its
# sources (components.go from builder-config.yaml; mdatagen output from each
# metadata.yaml; bpf2go output from the C sources).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
unformatted=$(git ls-files '*.go' | grep -v '_bpfel.go$' | xargs gofmt -l)
if [ -n "$unformatted" ]; then echo "gofmt needed:"; echo "$unformatted"; exit 1; fi
go vet ./...
go vet -tags e2e ./test/e2e/
bash scripts/gen-components.sh >/dev/null
git diff --exit-code -- cmd/gateway/components.go || { echo "components.go is stale: run make generate-components"; exit 1; }
bash scripts/check-mdatagen.sh
bash scripts/check-bpf2go.sh
echo "checks ok"
