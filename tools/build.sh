#!/bin/sh
# Builds the pinned test tools (versions come from this module's go.mod) once
# into a cache outside the clone, keyed by tool and version, and links them
# into $IMGSIGN_TOOLS_DIR/bin. CI's fresh clones reuse the cache.
#
#   tools/build.sh            # the tools `make test` needs: cosign, registry, crane, tsa, actionlint,
#                             # notary-server, notary, etcd, kube-apiserver, kubectl, gatekeeper
#                             # (+ its CRDs), helm, notation, fulcio, rekor, syft (from its own module
#                             # in tools/syft: the SBOM cataloger tests and make bench-sbom
#                             # compare with it)
#   tools/build.sh oras ...   # only the named tools (oras is built from its own module
#                             # in tools/oras, for `make bench-copy` only)
set -eu
cache=${IMGSIGN_TOOLS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/imgsign-tools}
mkdir -p "$cache/bin"
cd "$(dirname "$0")"
tmp=
trap '[ -z "$tmp" ] || rm -rf "$tmp"' EXIT

# build [-src] [-ldflags FLAGS] NAME MODULE PKG [DIR [PATCH]]: -src keys the
# cache also by the checksum of DIR's own Go files (a main of ours, like
# tools/fulcio's, that changes without the module's version). PATCH is a script in
# DIR that writes a patched copy of the module and a go.mod using it into the
# directory it is given (see tools/notary/patch-server.sh); the patched binary
# is cached under the script's checksum. FLAGS must depend only on the
# module's version (the cache key). Tools build with the Go on PATH
# (GOTOOLCHAIN=local), never a downloaded toolchain.
build() {
	ldflags=''
	src=''
	if [ "$1" = -src ]; then
		src=1
		shift
	fi
	if [ "$1" = -ldflags ]; then
		ldflags=$2
		shift 2
	fi
	name=$1 module=$2 pkg=$3 dir=${4:-.} patch=${5:-}
	version=$(cd "$dir" && go list -m -f '{{.Version}}' "$module")
	out="$cache/$name-$version"
	if [ -n "$patch" ]; then
		out="$out-patch$(cksum <"$dir/$patch" | cut -d' ' -f1)"
	fi
	if [ -n "$src" ]; then
		out="$out-src$(cat "$dir"/*.go | cksum | cut -d' ' -f1)"
	fi
	if [ ! -x "$out" ]; then
		echo "tools: building $name $version${patch:+ patched by tools/$dir/$patch} (once; cached in $cache)" >&2
		set -- -trimpath
		if [ -n "$ldflags" ]; then
			set -- "$@" -ldflags "$ldflags"
		fi
		if [ -n "$patch" ]; then
			tmp=$(mktemp -d)
			"$dir/$patch" "$tmp"
			set -- "$@" -modfile "$tmp/go.mod"
		fi
		(cd "$dir" && GOTOOLCHAIN=local go build "$@" -o "$out.tmp.$$" "$pkg")
		if [ -n "$patch" ]; then
			rm -rf "$tmp"
			tmp=
		fi
		mv "$out.tmp.$$" "$out"
	fi
	ln -sf "$out" "$cache/bin/$name"
}

# kube_ldflags: the version kube-apiserver and kubectl report (without it,
# v0.0.0-master), from tools/kube/go.mod, as Kubernetes' own build stamps it.
kube_ldflags() {
	v=$(cd kube && go list -m -f '{{.Version}}' k8s.io/kubernetes)
	minor=${v#v*.}
	minor=${minor%%.*}
	major=${v#v}
	major=${major%%.*}
	echo "-X k8s.io/component-base/version.gitVersion=$v -X k8s.io/component-base/version.gitMajor=$major -X k8s.io/component-base/version.gitMinor=$minor -X k8s.io/component-base/version.gitTreeState=clean"
}

# copy_dir NAME MODULE SUBDIR DIR: copies SUBDIR of MODULE (at the version
# DIR's go.mod pins) to $cache/NAME-VERSION and links it as $cache/bin/NAME.
copy_dir() {
	name=$1 module=$2 sub=$3 dir=$4
	version=$(cd "$dir" && go list -m -f '{{.Version}}' "$module")
	out="$cache/$name-$version"
	if [ ! -d "$out" ]; then
		src=$(cd "$dir" && go mod download "$module" && go list -m -f '{{.Dir}}' "$module")
		rm -rf "$out.tmp.$$"
		cp -R "$src/$sub" "$out.tmp.$$"
		chmod -R u+w "$out.tmp.$$"
		mv "$out.tmp.$$" "$out"
	fi
	ln -sfn "$out" "$cache/bin/$name"
}

tool() {
	case $1 in
	cosign) build cosign github.com/sigstore/cosign/v3 github.com/sigstore/cosign/v3/cmd/cosign ;;
	registry) build registry github.com/distribution/distribution/v3 github.com/distribution/distribution/v3/cmd/registry ;;
	crane) build crane github.com/google/go-containerregistry github.com/google/go-containerregistry/cmd/crane ;;
	syft) build syft github.com/anchore/syft github.com/anchore/syft/cmd/syft syft ;;
	# sigstore timestamp-authority served in-process on loopback (tools/tsa).
	tsa) build -src imgsign-tsa github.com/sigstore/timestamp-authority . tsa ;;
	actionlint) build actionlint github.com/rhysd/actionlint github.com/rhysd/actionlint/cmd/actionlint actionlint ;;
	# Notary v1, the server and CLI behind Docker Content Trust (tools/notary),
	# for the `dct import` end-to-end tests. The server needs the upstream fix
	# for delegations under Go >= 1.17 (see tools/notary/patch-server.sh).
	notary-server) build notary-server github.com/theupdateframework/notary github.com/theupdateframework/notary/cmd/notary-server notary patch-server.sh ;;
	notary) build notary github.com/theupdateframework/notary github.com/theupdateframework/notary/cmd/notary notary ;;
	# A Kubernetes control plane for the admission tests
	# (internal/testing/kubeenv): etcd, kube-apiserver and kubectl (tools/kube
	# pins k8s.io/kubernetes; kube-apiserver takes 5-13 min once), and OPA
	# Gatekeeper run out of cluster, with its CRDs as bin/gatekeeper-crds/.
	etcd) build etcd go.etcd.io/etcd/server/v3 go.etcd.io/etcd/server/v3 etcd ;;
	kube-apiserver) build -ldflags "$(kube_ldflags)" kube-apiserver k8s.io/kubernetes k8s.io/kubernetes/cmd/kube-apiserver kube ;;
	kubectl) build -ldflags "$(kube_ldflags)" kubectl k8s.io/kubernetes k8s.io/kubernetes/cmd/kubectl kube ;;
	gatekeeper)
		build gatekeeper github.com/open-policy-agent/gatekeeper/v3 github.com/open-policy-agent/gatekeeper/v3 gatekeeper
		copy_dir gatekeeper-crds github.com/open-policy-agent/gatekeeper/v3 charts/gatekeeper/crds gatekeeper
		;;
	# oras, with crane the comparison in `make bench-copy` (bench/copy.sh); not
	# in the default list: no test needs it.
	oras) build oras oras.land/oras oras.land/oras/cmd/oras oras ;;
	# The notation CLI (Notary Project signatures, tools/notation), for the
	# end-to-end tests of notation-signed layouts and images
	# (internal/testing/testenv.Notation). Built without BuildMetadata, as a
	# release is, so `notation version` says v1.3.2 rather than +unreleased.
	notation) build -ldflags "-X github.com/notaryproject/notation/internal/version.BuildMetadata=" notation github.com/notaryproject/notation github.com/notaryproject/notation/cmd/notation notation ;;
	# sigstore's Fulcio served in-process on loopback (tools/fulcio: an
	# ephemeral CA, no CT log, no metrics listener), for keyless signing
	# tests (internal/testing/fulcioenv).
	fulcio) build -src imgsign-fulcio github.com/sigstore/fulcio . fulcio ;;
	# Rekor v2 (rekor-tiles) with its POSIX storage backend (tools/rekor): a
	# transparency log on loopback for keyless signing tests
	# (internal/testing/fulcioenv).
	rekor) build rekor-server github.com/sigstore/rekor-tiles/v2 github.com/sigstore/rekor-tiles/v2/cmd/rekor-server/posix rekor ;;
	# Helm, to lint and render the chart in deploy/.
	helm) build -ldflags "-X helm.sh/helm/v4/internal/version.version=$(cd helm && go list -m -f '{{.Version}}' helm.sh/helm/v4)" helm helm.sh/helm/v4 helm.sh/helm/v4/cmd/helm helm ;;
	*)
		echo "tools: unknown tool $1" >&2
		exit 2
		;;
	esac
}

if [ $# -eq 0 ]; then
	set -- cosign registry crane tsa actionlint notary-server notary etcd kube-apiserver kubectl gatekeeper helm notation fulcio rekor syft
fi
for t in "$@"; do
	tool "$t"
done
echo "$cache/bin"
