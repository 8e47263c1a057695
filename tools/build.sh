#!/bin/sh
# Builds the pinned test tools (versions come from this module's go.mod) once
# into a cache outside the clone, keyed by tool and version, and links them
# into $IMGSIGN_TOOLS_DIR/bin. CI's fresh clones reuse the cache.
#
#   tools/build.sh            # the tools `make test` needs: cosign, registry, crane, tsa, actionlint
#   tools/build.sh syft ...   # only the named tools (syft is built from its own
#                             # module in tools/syft, for `make bench-sbom` only)
set -eu
cache=${IMGSIGN_TOOLS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/imgsign-tools}
mkdir -p "$cache/bin"
cd "$(dirname "$0")"

build() {
	name=$1 module=$2 pkg=$3 dir=${4:-.}
	version=$(cd "$dir" && go list -m -f '{{.Version}}' "$module")
	out="$cache/$name-$version"
	if [ ! -x "$out" ]; then
		echo "tools: building $name $version (once; cached in $cache)" >&2
		(cd "$dir" && go build -trimpath -o "$out.tmp.$$" "$pkg")
		mv "$out.tmp.$$" "$out"
	fi
	ln -sf "$out" "$cache/bin/$name"
}

tool() {
	case $1 in
	cosign) build cosign github.com/sigstore/cosign/v3 github.com/sigstore/cosign/v3/cmd/cosign ;;
	registry) build registry github.com/distribution/distribution/v3 github.com/distribution/distribution/v3/cmd/registry ;;
	crane) build crane github.com/google/go-containerregistry github.com/google/go-containerregistry/cmd/crane ;;
	syft) build syft github.com/anchore/syft github.com/anchore/syft/cmd/syft syft ;;
	# sigstore timestamp-authority served in-process on loopback (tools/tsa).
	tsa) build imgsign-tsa github.com/sigstore/timestamp-authority . tsa ;;
	actionlint) build actionlint github.com/rhysd/actionlint github.com/rhysd/actionlint/cmd/actionlint actionlint ;;
	*)
		echo "tools: unknown tool $1" >&2
		exit 2
		;;
	esac
}

if [ $# -eq 0 ]; then
	set -- cosign registry crane tsa actionlint
fi
for t in "$@"; do
	tool "$t"
done
echo "$cache/bin"
