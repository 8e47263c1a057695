#!/bin/sh
# Builds the pinned test tools (versions come from this module's go.mod) once
# into a cache outside the clone, keyed by tool and version, and links them
# into $IMGSIGN_TOOLS_DIR/bin. CI's fresh clones reuse the cache.
set -eu
cache=${IMGSIGN_TOOLS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/imgsign-tools}
mkdir -p "$cache/bin"
cd "$(dirname "$0")"

build() {
	name=$1 module=$2 pkg=$3
	version=$(go list -m -f '{{.Version}}' "$module")
	out="$cache/$name-$version"
	if [ ! -x "$out" ]; then
		echo "tools: building $name $version (once; cached in $cache)" >&2
		go build -trimpath -o "$out.tmp.$$" "$pkg"
		mv "$out.tmp.$$" "$out"
	fi
	ln -sf "$out" "$cache/bin/$name"
}

build cosign github.com/sigstore/cosign/v3 github.com/sigstore/cosign/v3/cmd/cosign
build registry github.com/distribution/distribution/v3 github.com/distribution/distribution/v3/cmd/registry
build crane github.com/google/go-containerregistry github.com/google/go-containerregistry/cmd/crane
echo "$cache/bin"
