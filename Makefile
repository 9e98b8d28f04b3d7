# Vigil's entry points. The two that matter on a fresh machine:
#   make run    install and start the local backends, then run vigil with its default config
#   make test   every test: unit (with -race) and end-to-end against the real backends
.PHONY: run test unit e2e build generate generate-components check bench backends-stop

GO ?= go

# CGO_ENABLED=0 as the collector builder (ocb) builds upstream distributions:
# Vigil needs no cgo (cilium/ebpf is pure Go; only net's resolver and os/user
# would link libc), and the cgo build measured ~2% more CPU per span on the
# same pipeline (issue 4 notes).
build:
	CGO_ENABLED=0 $(GO) build -trimpath -o bin/vigil ./cmd/gateway

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
