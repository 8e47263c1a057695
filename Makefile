# imgsign — see README.md. `make demo` and `make test` install what they need.
GO        ?= go
BIN       := $(CURDIR)/bin
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -X main.version=$(VERSION)
TOOLS_BIN  = $(shell ./tools/build.sh)

.PHONY: all build tools test test-short lint demo bench bench-sbom bench-admission bench-copy clean release

all: build

build:
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN)/imgsign ./cmd/imgsign
	$(GO) build -o $(BIN)/devregistry ./internal/cmd/devregistry

# The man page, generated from the CLI definitions (imgsign man).
.PHONY: man
man: build
	mkdir -p docs/man
	$(BIN)/imgsign man > docs/man/imgsign.1

# Pinned test tools (cosign, distribution, crane, TSA, actionlint, Notary v1,
# etcd, kube-apiserver, kubectl, Gatekeeper, Helm, notation), built once into
# ~/.cache/imgsign-tools and reused by later clones, and the
# debootstrapped Debian layer the SBOM tests scan (cached there too, ~2 min once).
tools:
	./tools/build.sh
	./testdata/sbom/make-debian.sh >/dev/null

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	@if command -v shellcheck >/dev/null; then shellcheck $$(git ls-files '*.sh') .ci/run; else echo "shellcheck not installed: shell scripts not checked"; fi

# Every test. First installs the system packages the tests need where it can
# (tools/system-deps.sh: apt-get as root), builds the pinned tools and the
# Debian rootfs; a test whose component is still missing skips (fails with
# CI=true) and is recorded in $(SKIPPED): the run ends with one summary of
# every skip and why, never a silent one.
SKIPPED = $(BIN)/skipped-tests.txt
test:
	@mkdir -p $(BIN) && rm -f $(SKIPPED)
	@IMGSIGN_SKIP_LOG=$(SKIPPED) ./tools/system-deps.sh
	./tools/build.sh >/dev/null
	@./testdata/sbom/make-debian.sh >/dev/null || echo "make test: could not make the Debian rootfs (see above); the SBOM tests that scan it will skip"
	@$(MAKE) --no-print-directory lint
	@# -timeout 45m: e2e runs ~10 min with a warm build cache, but on a fresh
	@# machine TestRelease cross-compiles four platforms from nothing.
	@code=0; IMGSIGN_TOOLS_DIR=$$(dirname $$(./tools/build.sh)) IMGSIGN_SKIP_LOG=$(SKIPPED) \
		$(GO) test -race -count=1 -timeout 45m ./... || code=$$?; \
	./tools/skipped-tests.sh $(SKIPPED); exit $$code

# Unit tests only, under a minute once the build cache is warm: -short skips
# e2e/ and the few slow tests that run real components or build programs
# (CONTRIBUTING.md lists them). Go is the only requirement: the quick
# OpenSSL and SoftHSM2 tests skip where those are not installed, and CI is
# cleared so they skip rather than fail even where CI=true is set.
test-short:
	CI= $(GO) test -short ./...

# The demo's keyless part runs Fulcio and the timestamp authority locally:
# built once (~3 min cold) into the tools cache, as for make test.
demo: build
	$(GO) build -o $(BIN)/devsigstore ./internal/testing/devsigstore
	./examples/quickstart/demo.sh $(BIN) $$(./tools/build.sh fulcio tsa)

bench: build tools
	./bench/verify.sh $(BIN) $$(./tools/build.sh)
	$(GO) test -run '^$$' -bench . -benchmem ./verify/
	IMGSIGN_TOOLS_DIR=$$(dirname $$(./tools/build.sh)) $(GO) test -run '^$$' -bench DCTImport -benchtime 3x -v ./e2e/ | grep -v '^=== '
	./bench/copy.sh

# SBOM engine vs syft on a debootstrap Debian image from a local registry:
# packages, dpkg agreement, wall time, peak RSS. Builds syft once (~4 min).
bench-sbom:
	./bench/sbom.sh

# imgsign copy vs crane copy + oras copy -r: a 200 MiB, 5-layer image with 4
# referrers, registry -> registry and registry -> OCI layout on loopback: wall
# time and peak RSS against the targets (part of `make bench`; builds oras
# once).
bench-copy:
	./bench/copy.sh

# imgsign serve under load: AdmissionReviews over TLS from a concurrent
# client on loopback — cache hits, a burst of one new image, cache misses
# against one verify — and the figures against the targets (~1-2 min).
bench-admission:
	GO=$(GO) ./bench/admission.sh

# Reproducible binaries for linux/darwin x amd64/arm64, their SBOM,
# SHA256SUMS, and SLSA provenance signed by imgsign itself, into dist/.
# IMGSIGN_RELEASE_KEY names the signing key; docs/releases.md has the rest.
release:
	VERSION=$(VERSION) ./tools/release/release.sh

clean:
	rm -rf $(BIN) dist
