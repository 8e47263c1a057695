#!/bin/sh
# `make bench-sbom`: scans the same Debian bookworm minbase image (88 dpkg
# packages, one 200 MB layer) from a local registry with imgsign's SBOM
# engine (bench/sbomscan: sbom.Scan + the SPDX encoder, what `imgsign sbom`
# runs) and with syft v1.57.0, both writing SPDX JSON, and prints packages
# found by each, their agreement on dpkg name+version both ways, wall and
# CPU time, and peak RSS. Then it does the same on a second, mixed image
# assembled from real packages of every ecosystem (see below) and prints
# per ecosystem the packages each found, their agreement both ways and
# every disagreement. A benchmark, not a test: it fails only if a scanner
# does.
#
# Usage: bench/sbom.sh [RUNS]   (default 3; the run with the median wall
# time is reported)
# Needs: tools/build.sh syft crane (built here once; syft takes ~4 min), the
# Debian tarball (testdata/sbom/make-debian.sh, ~2 min once), the real
# packages (testdata/sbom/make-realpkgs.sh, ~1 min once), GNU time.
set -eu
runs=${1:-3}
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
tools=$(./tools/build.sh syft crane)
layer=$(./testdata/sbom/make-debian.sh)
timebin=/usr/bin/time
if [ ! -x "$timebin" ]; then
	echo "bench-sbom: GNU time is missing (apt-get install -y time)" >&2
	exit 2
fi

work=$(mktemp -d)
reg_pid=
cleanup() { [ -n "$reg_pid" ] && kill "$reg_pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT INT TERM

go build -o "$work/devregistry" ./internal/cmd/devregistry
go build -o "$work/sbomscan" ./bench/sbomscan
"$work/devregistry" -addr 127.0.0.1:0 -addr-file "$work/addr" >/dev/null &
reg_pid=$!
for _ in $(seq 100); do [ -s "$work/addr" ] && break; sleep 0.1; done
reg=$(cat "$work/addr")
image=$reg/bench/debian:bookworm
"$tools/crane" append --insecure -f "$layer" -t "$image" >/dev/null 2>&1
"$tools/crane" mutate --insecure --set-platform linux/amd64 -t "$image" "$image" >/dev/null 2>&1
# shellcheck disable=SC2020 # both { and , become newlines
gz=$("$tools/crane" manifest --insecure "$image" | tr '{,' '\n\n' | sed -n 's/.*"size": *\([0-9]*\).*/\1/p' | sort -n | tail -1)

export SYFT_REGISTRY_INSECURE_USE_HTTP=true SYFT_CHECK_FOR_APP_UPDATE=false
# syft caches nothing between runs of a registry image unless told to; keep
# its temp files in our work dir so they are cleaned up.
export TMPDIR="$work"

# measure NAME CMD...: one warm-up run, then RUNS timed runs; prints
# "wall cpu rss" of the run with the median wall time.
measure() {
	name=$1
	shift
	"$@" >/dev/null 2>&1 || { echo "bench-sbom: $name failed:" >&2; "$@"; exit 1; }
	: >"$work/$name.times"
	i=0
	while [ $i -lt "$runs" ]; do
		"$timebin" -f '%e %U %S %M' -o "$work/$name.t" "$@" >/dev/null 2>&1
		cat "$work/$name.t" >>"$work/$name.times"
		i=$((i + 1))
	done
	sort -n "$work/$name.times" | awk -v n="$runs" 'NR == int((n + 1) / 2) { printf "%s %.2f %s\n", $1, $2 + $3, $4 }'
}

echo "bench-sbom: debian bookworm minbase, 1 layer, $((gz / 1048576)) MiB gzip, registry $reg, median of $runs"
ours=$(measure imgsign "$work/sbomscan" -format spdx -o "$work/imgsign.spdx.json" "$image")
theirs=$(measure syft "$tools/syft" scan -q "registry:$image" -o "spdx-json=$work/syft.spdx.json")
"$work/sbomscan" -compare "$work/imgsign.spdx.json" "$work/syft.spdx.json"
echo "$ours" "$theirs" | awk '{
	printf "%-8s wall %6.2f s  cpu %6.2f s  peak RSS %6.1f MiB\n", "imgsign", $1, $2, $3 / 1024
	printf "%-8s wall %6.2f s  cpu %6.2f s  peak RSS %6.1f MiB\n", "syft", $4, $5, $6 / 1024
	printf "imgsign vs syft: %.1fx faster (wall), %.1fx less CPU, %.2fx the peak RSS\n", $4 / $1, $5 / $2, $3 / $6
}'
echo "(targets: >= 99% dpkg agreement, >= 3x faster, <= 0.5x peak RSS)"

# The mixed image: real packages of every ecosystem (make-realpkgs.sh):
# layer 1 Debian node-*, python3-*, java and Go (fzf) packages unpacked
# without dpkg's database, npm tarballs in a global install and an app's
# node_modules, an app with only an npm-resolved package-lock.json, Ruby
# gems from Debian, the Rust book's Cargo.lock files and a cargo auditable
# binary, Composer's installed.json and composer.lock, and a .NET
# deps.json; layer 2 more Debian packages with their dpkg database, so dpkg
# owns the language packages inside; layer 3 a Go program built here from
# module proxy modules, and Debian's os-release. syft is run with its npm,
# Cargo and Composer lock-file catalogers added (off by default for
# images) so both read the same files.
real=$(./testdata/sbom/make-realpkgs.sh)
mkdir -p "$work/goapp" "$work/golayer/usr/local/bin"
cat >"$work/goapp/go.mod" <<'EOF_MOD'
module example.com/realapp

go 1.22

require (
	github.com/google/uuid v1.6.0
	golang.org/x/sync v0.24.0
)
EOF_MOD
cat >"$work/goapp/main.go" <<'EOF_GO'
package main

import (
	"fmt"

	"github.com/google/uuid"
	"golang.org/x/sync/errgroup"
)

var version = "dev"

func main() {
	var g errgroup.Group
	g.Go(func() error { fmt.Println(version, uuid.NewString()); return nil })
	_ = g.Wait()
}
EOF_GO
(cd "$work/goapp" && GOFLAGS="-mod=mod -buildvcs=false" GOWORK=off CGO_ENABLED=0 \
	go build -ldflags="-X main.version=1.2.3" -o "$work/golayer/usr/local/bin/realapp" .)
# Debian's own os-release (base-files, from the minbase tarball): without
# one syft writes no purl for deb packages, and so no ecosystem to compare.
mkdir -p "$work/golayer/usr/lib" "$work/golayer/etc"
tar -xOf "$layer" ./usr/lib/os-release >"$work/golayer/usr/lib/os-release"
ln -s ../usr/lib/os-release "$work/golayer/etc/os-release"
tar --numeric-owner --owner=0 --group=0 -C "$work/golayer" -cf "$work/golayer.tar" .
mixed=$reg/bench/mixed:1
"$tools/crane" append --insecure -f "$real/nodb.tar" -f "$real/db.tar" -f "$work/golayer.tar" -t "$mixed" >/dev/null 2>&1
"$tools/crane" mutate --insecure --set-platform linux/amd64 -t "$mixed" "$mixed" >/dev/null 2>&1
echo
echo "bench-sbom: mixed image of real packages (3 layers), agreement per ecosystem (purl type; name + purl version)"
ours=$(measure imgsign-mixed "$work/sbomscan" -format spdx -o "$work/imgsign-mixed.spdx.json" "$mixed")
theirs=$(measure syft-mixed "$tools/syft" scan -q "registry:$mixed" --select-catalogers +javascript-lock-cataloger,+rust-cargo-lock-cataloger,+php-composer-lock-cataloger -o "spdx-json=$work/syft-mixed.spdx.json")
"$work/sbomscan" -compare "$work/imgsign-mixed.spdx.json" "$work/syft-mixed.spdx.json"
echo "$ours" "$theirs" | awk '{
	printf "%-8s wall %6.2f s  peak RSS %6.1f MiB\n", "imgsign", $1, $3 / 1024
	printf "%-8s wall %6.2f s  peak RSS %6.1f MiB\n", "syft", $4, $6 / 1024
}'
