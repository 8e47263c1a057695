#!/bin/sh
# Builds the pinned test tools (versions come from this module's go.mod) once
# into a cache outside the clone, keyed by tool and version, and links them
# into $IMGSIGN_TOOLS_DIR/bin. CI's fresh clones reuse the cache.
#
#   tools/build.sh            # the tools `make test` needs: cosign, registry, crane, tsa, actionlint,
#                             # notary-server, notary
#   tools/build.sh syft ...   # only the named tools (syft is built from its own
#                             # module in tools/syft, for `make bench-sbom` only)
set -eu
cache=${IMGSIGN_TOOLS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/imgsign-tools}
mkdir -p "$cache/bin"
cd "$(dirname "$0")"
tmp=
trap '[ -z "$tmp" ] || rm -rf "$tmp"' EXIT

# build NAME MODULE PKG [DIR [PATCH]]: PATCH is a script in DIR that writes
# a patched copy of the module and a go.mod using it into the directory it is
# given (see tools/notary/patch-server.sh); the patched binary is cached under
# the script's checksum.
build() {
	name=$1 module=$2 pkg=$3 dir=${4:-.} patch=${5:-}
	version=$(cd "$dir" && go list -m -f '{{.Version}}' "$module")
	out="$cache/$name-$version"
	if [ -n "$patch" ]; then
		out="$out-patch$(cksum <"$dir/$patch" | cut -d' ' -f1)"
	fi
	if [ ! -x "$out" ]; then
		echo "tools: building $name $version${patch:+ patched by tools/$dir/$patch} (once; cached in $cache)" >&2
		set -- -trimpath
		if [ -n "$patch" ]; then
			tmp=$(mktemp -d)
			"$dir/$patch" "$tmp"
			set -- "$@" -modfile "$tmp/go.mod"
		fi
		(cd "$dir" && go build "$@" -o "$out.tmp.$$" "$pkg")
		if [ -n "$patch" ]; then
			rm -rf "$tmp"
			tmp=
		fi
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
	# Notary v1, the server and CLI behind Docker Content Trust (tools/notary),
	# for the `dct import` end-to-end tests. The server needs the upstream fix
	# for delegations under Go >= 1.17 (see tools/notary/patch-server.sh).
	notary-server) build notary-server github.com/theupdateframework/notary github.com/theupdateframework/notary/cmd/notary-server notary patch-server.sh ;;
	notary) build notary github.com/theupdateframework/notary github.com/theupdateframework/notary/cmd/notary notary ;;
	*)
		echo "tools: unknown tool $1" >&2
		exit 2
		;;
	esac
}

if [ $# -eq 0 ]; then
	set -- cosign registry crane tsa actionlint notary-server notary
fi
for t in "$@"; do
	tool "$t"
done
echo "$cache/bin"
