# Copyright The Vigil Authors
# SPDX-License-Identifier: Apache-2.0

# Shortcuts for the scripts. The two that matter on a fresh machine need
# only bash and Go, not make: bash scripts/run.sh and bash scripts/test.sh
# (make run and make test call them).
.PHONY: run test unit e2e build generate generate-components check bench backends-stop

GO ?= go

build:
	bash scripts/build.sh

run:
	bash scripts/run.sh

test:
	bash scripts/test.sh

unit:
	$(GO) test -race -count=1 ./...

e2e:
	$(GO) test -tags e2e -count=1 -v -timeout 45m ./test/e2e/

# Regenerates every generated file: mdatagen output (go generate, from each
# component's doc.go), bpf2go output, and cmd/gateway/components.go (ocb).
generate:
	$(GO) generate ./...
	bash scripts/gen-components.sh

generate-components:
	bash scripts/gen-components.sh

check:
	bash scripts/check.sh

bench:
	bash bench/run.sh

backends-stop:
	bash scripts/backends.sh clean
