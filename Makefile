# imgsign — see README.md. `make demo` and `make test` install what they need.
GO        ?= go
BIN       := $(CURDIR)/bin
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -X main.version=$(VERSION)
TOOLS_BIN  = $(shell ./tools/build.sh)

.PHONY: all build tools test test-short lint demo bench bench-sbom clean

all: build

build:
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN)/imgsign ./cmd/imgsign
	$(GO) build -o $(BIN)/devregistry ./internal/cmd/devregistry

# Pinned test tools (cosign, distribution, crane, TSA, actionlint, Notary v1),
# built once into ~/.cache/imgsign-tools and reused by later clones, and the
# debootstrapped Debian layer the SBOM tests scan (cached there too, ~2 min once).
tools:
	./tools/build.sh
	./testdata/sbom/make-debian.sh >/dev/null

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	@if command -v shellcheck >/dev/null; then shellcheck $$(git ls-files '*.sh') .ci/run; else echo "shellcheck not installed: shell scripts not checked"; fi

test: tools lint
	IMGSIGN_TOOLS_DIR=$$(dirname $$(./tools/build.sh)) $(GO) test -race -count=1 -timeout 20m ./...

# Unit tests only: no registries or tools needed.
test-short:
	$(GO) test -short ./...

demo: build
	./examples/quickstart/demo.sh $(BIN)

bench: build tools
	./bench/verify.sh $(BIN) $$(./tools/build.sh)
	$(GO) test -run '^$$' -bench . -benchmem ./verify/
	IMGSIGN_TOOLS_DIR=$$(dirname $$(./tools/build.sh)) $(GO) test -run '^$$' -bench DCTImport -benchtime 3x -v ./e2e/ | grep -v '^=== '

# SBOM engine vs syft on a debootstrap Debian image from a local registry:
# packages, dpkg agreement, wall time, peak RSS. Builds syft once (~4 min).
bench-sbom:
	./bench/sbom.sh

clean:
	rm -rf $(BIN)
