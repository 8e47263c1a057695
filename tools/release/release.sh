#!/bin/sh
# Builds an imgsign release into $DIST (dist/ by default) and signs it with
# imgsign itself. docs/releases.md says what is in it and how to verify it.
#
#   tools/release/release.sh          # `make release`: everything below
#   tools/release/release.sh build    # only the binaries (the reproducibility check)
#
# What it writes, for VERSION v1.2.3:
#   imgsign_v1.2.3_{linux,darwin}_{amd64,arm64}   static binaries (CGO_ENABLED=0: no PKCS#11)
#   imgsign_v1.2.3.spdx.json                      SBOM: each binary and the Go modules in it
#   SHA256SUMS                                    sha256 of the binaries and the SBOM
#   imgsign_v1.2.3.provenance.sigstore.json       SLSA provenance v1 about all of the above (signed)
#   imgsign_v1.2.3.sbom.sigstore.json             the SBOM as a signed attestation about the binaries
#   imgsign_v1.2.3.pub                            the public key they verify with
#   imgsign_v1.2.3.oci/                           the container image (linux/amd64, linux/arm64) as an
#                                                 OCI image layout, for `imgsign serve` in Kubernetes
#
# Environment:
#   IMGSIGN_RELEASE_KEY  signing key reference: a PEM file, awskms://…, gcpkms://…,
#                        azurekms://…, hashivault://… (passphrase: IMGSIGN_PASSWORD)
#   VERSION              release version (default: git describe --tags --always --dirty)
#   DIST                 output directory (default: dist)
#   PLATFORMS            GOOS/GOARCH list (default: the four above)
#   SOURCE_REPO          provenance source repository (default: https://github.com/imgsign/imgsign)
#   SOURCE_COMMIT        provenance source commit (default: git rev-parse HEAD)
#   SOURCE_REF           provenance source ref (default: refs/tags/VERSION when HEAD has that tag)
#   SOURCE_DATE_EPOCH    the SBOM's creation time (default: the commit's time)
#   RELEASE_BUILDER_ID   provenance builder id outside GitHub Actions/GitLab CI
#                        (default: https://imgsign.dev/builders/make-release/v1)
#   IMGSIGN              the imgsign that signs (default: one built from this tree)
#   IMGSIGN_TSA_URL      RFC 3161 timestamp authority for the bundles (optional)
#   RELEASE_ALLOW_DIRTY  1 to sign a build of a checkout with uncommitted changes
#
# Reproducible: the same commit and Go toolchain give byte-identical
# binaries wherever the tree is (-trimpath), whatever the environment's Go
# settings (each one that changes the output is fixed here), and without
# version control stamping (-buildvcs=false: a source tarball builds the
# same bytes as a clone; the commit is in the provenance instead).
set -eu
cd "$(dirname "$0")/../.."

mode=${1:-release}
case $mode in release | build) ;; *)
	echo "usage: $0 [release|build]" >&2
	exit 2
	;;
esac

in_git() { git rev-parse --is-inside-work-tree >/dev/null 2>&1; }
VERSION=${VERSION:-$(git describe --tags --always --dirty 2>/dev/null || echo dev)}
case $VERSION in
'' | *[!A-Za-z0-9._+-]*)
	echo "release: VERSION '$VERSION' must be letters, digits and . _ + - only" >&2
	exit 2
	;;
esac
DIST=${DIST:-dist}
PLATFORMS=${PLATFORMS:-linux/amd64 linux/arm64 darwin/amd64 darwin/arm64}

sha256() {
	if command -v sha256sum >/dev/null 2>&1; then sha256sum "$@"; else shasum -a 256 "$@"; fi
}

# Everything a signed release needs is checked before the long build.
if [ "$mode" = release ]; then
	: "${IMGSIGN_RELEASE_KEY:?set IMGSIGN_RELEASE_KEY to the signing key reference (a PEM file or a KMS URI), or run tools/release/release.sh build for unsigned binaries}"

	commit=${SOURCE_COMMIT:-}
	if [ -z "$commit" ] && in_git; then
		# The provenance names the commit: it must be what was built.
		if [ -n "$(git status --porcelain --untracked-files=no)" ] && [ "${RELEASE_ALLOW_DIRTY:-}" != 1 ]; then
			echo "release: the working tree has uncommitted changes, so the provenance's commit would not be what was built: commit them (or set RELEASE_ALLOW_DIRTY=1 for a trial run)" >&2
			exit 2
		fi
		commit=$(git rev-parse HEAD)
	fi
	[ -n "$commit" ] || {
		echo "release: not in a git checkout: set SOURCE_COMMIT (and SOURCE_DATE_EPOCH)" >&2
		exit 2
	}
	ref=${SOURCE_REF:-}
	if [ -z "$ref" ] && in_git && git rev-parse -q --verify "refs/tags/$VERSION^{commit}" >/dev/null &&
		[ "$(git rev-parse "refs/tags/$VERSION^{commit}")" = "$commit" ]; then
		ref=refs/tags/$VERSION
	fi
	if [ -z "${SOURCE_DATE_EPOCH:-}" ]; then
		if in_git; then
			SOURCE_DATE_EPOCH=$(git log -1 --format=%ct "$commit")
		else
			echo "release: not in a git checkout: set SOURCE_DATE_EPOCH" >&2
			exit 2
		fi
	fi
	export SOURCE_DATE_EPOCH
fi

mkdir -p "$DIST"
# Only what a previous release run wrote: DIST may be shared with other files.
rm -rf "$DIST"/imgsign_* "$DIST/SHA256SUMS"

# Every setting that changes the bytes is fixed; GOFLAGS replaces whatever
# `go env -w GOFLAGS=…` set (an empty value would not).
bins=
for p in $PLATFORMS; do
	os=${p%/*} arch=${p#*/}
	out="$DIST/imgsign_${VERSION}_${os}_${arch}"
	echo "release: building $out" >&2
	CGO_ENABLED=0 GOOS=$os GOARCH=$arch GOAMD64=v1 GOARM64=v8.0 GOFLAGS=-mod=readonly \
		go build -trimpath -buildvcs=false -ldflags "-s -w -X main.version=$VERSION" -o "$out" ./cmd/imgsign
	bins="$bins $out"
done
[ "$mode" = release ] || exit 0

# The container image of the linux binaries (deploy/kubernetes runs it).
set --
for b in $bins; do
	case ${b##*_linux_} in "$b") ;; *) set -- "$@" "linux/${b##*_linux_}=$b" ;; esac
done
if [ $# -gt 0 ]; then
	image="$DIST/imgsign_${VERSION}.oci"
	echo "release: writing the container image $image" >&2
	rm -rf "$image"
	go run ./internal/cmd/releaseimage -out "$image" -version "$VERSION" -epoch "$SOURCE_DATE_EPOCH" \
		-source "${SOURCE_REPO:-https://github.com/imgsign/imgsign}" "$@"
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
imgsign=${IMGSIGN:-}
if [ -z "$imgsign" ]; then
	# The host's own build, with cgo when there is a C compiler, so a
	# pkcs11: release key works too.
	imgsign="$tmp/imgsign"
	go build -trimpath -ldflags "-X main.version=$VERSION" -o "$imgsign" ./cmd/imgsign
fi

sbom="$DIST/imgsign_${VERSION}.spdx.json"
echo "release: writing $sbom" >&2
set --
for b in $bins; do set -- "$@" --file "$b"; done
"$imgsign" sbom "$@" >"$sbom.tmp"
mv "$sbom.tmp" "$sbom"

echo "release: writing $DIST/SHA256SUMS" >&2
names=
for b in $bins; do names="$names ${b##*/}"; done
# shellcheck disable=SC2086 # $names is a list of file names without spaces
(cd "$DIST" && sha256 $names "${sbom##*/}") >"$DIST/SHA256SUMS"

# Provenance: on GitHub Actions or GitLab CI the CI says who built what;
# elsewhere the builder id and the source are given.
set -- --key "$IMGSIGN_RELEASE_KEY" --type slsaprovenance1
if [ "${GITHUB_ACTIONS:-}" != true ] && [ "${GITLAB_CI:-}" != true ]; then
	set -- "$@" --builder-id "${RELEASE_BUILDER_ID:-https://imgsign.dev/builders/make-release/v1}" \
		--source-repo "${SOURCE_REPO:-https://github.com/imgsign/imgsign}" --source-commit "$commit"
	[ -z "$ref" ] || set -- "$@" --source-ref "$ref"
fi
prov="$DIST/imgsign_${VERSION}.provenance.sigstore.json"
echo "release: signing $prov" >&2
# shellcheck disable=SC2086 # $bins is a list of paths without spaces
"$imgsign" attest blob "$@" --bundle "$prov" $bins "$sbom" "$DIST/SHA256SUMS" >&2

sbombundle="$DIST/imgsign_${VERSION}.sbom.sigstore.json"
echo "release: signing $sbombundle" >&2
# shellcheck disable=SC2086
"$imgsign" attest blob --key "$IMGSIGN_RELEASE_KEY" --type spdxjson --predicate "$sbom" --bundle "$sbombundle" $bins >&2

"$imgsign" keys public --key "$IMGSIGN_RELEASE_KEY" >"$DIST/imgsign_${VERSION}.pub"
echo "release: $DIST/ holds imgsign $VERSION, signed by key $("$imgsign" keys id --key "$IMGSIGN_RELEASE_KEY")" >&2
