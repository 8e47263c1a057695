#!/bin/sh
# `make bench-copy` (part of `make bench`): copies a 200 MiB OCI image of 5
# incompressible layers with 4 referrers (a signature, SLSA provenance, an
# SBOM attestation and a custom predicate, all made by imgsign) from a
# loopback registry to a second loopback registry, and to an OCI layout
# where imgsign copy writes layouts, with `imgsign copy` and with what it
# replaces: `crane copy` (the image) plus `oras copy -r` (the referrers; it
# finds the image already there). Prints the median (and range) of the wall
# time and the median peak RSS (GNU time) of each, the peak of anonymous
# memory sampled in one more run, and imgsign's
# ratios to crane + oras (wall times summed, peak RSS the larger of the two)
# against the targets of issue #15: <= 1.0x the wall time, <= the peak RSS.
# For reference, `oras copy -r` alone into an empty destination (it copies
# the image too) is measured as well.
# A benchmark, not a test: it fails only if a copy does.
#
# Every run copies into a registry started empty for it (go-containerregistry's
# in-memory registry finds a blob in any repository, so a fresh repository
# on the same registry would skip every layer) or a new layout directory
# under $TMPDIR, after a sync: what a run writes stays in the page cache (the
# figures are not the disk's).
#
# Usage: bench/copy.sh [RUNS]   (default 3)
# Needs: Go, GNU time (apt-get install -y time); crane and oras are built
# here once (tools/build.sh crane oras).
set -eu
runs=${1:-3}
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
tools=$(./tools/build.sh crane oras)
timebin=/usr/bin/time
if [ ! -x "$timebin" ]; then
	echo "bench-copy: GNU time is missing (apt-get install -y time)" >&2
	exit 2
fi

work=$(mktemp -d)
src_pid=''
dst_pid=''
cleanup() {
	[ -z "$dst_pid" ] || kill "$dst_pid" 2>/dev/null || :
	[ -z "$src_pid" ] || kill "$src_pid" 2>/dev/null || :
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

go build -o "$work/imgsign" ./cmd/imgsign
go build -o "$work/devregistry" ./internal/cmd/devregistry
go build -o "$work/copyfixture" ./bench/copyfixture

# registry ADDRFILE: starts an empty loopback registry (referrers API on);
# its pid is in $reg_pid, its host:port in ADDRFILE.
registry() {
	rm -f "$1"
	"$work/devregistry" -addr 127.0.0.1:0 -addr-file "$1" >/dev/null &
	reg_pid=$!
	for _ in $(seq 100); do [ -s "$1" ] && return; sleep 0.05; done
	echo "bench-copy: the registry did not start" >&2
	exit 1
}
stop_dst() {
	kill "$dst_pid" 2>/dev/null || :
	wait "$dst_pid" 2>/dev/null || :
	dst_pid=
}

registry "$work/src.addr"
src_pid=$reg_pid
src=$(cat "$work/src.addr")/bench/app:v1
"$work/copyfixture" -size $((200 << 20)) -layers 5 "$src" >/dev/null
cd "$work"
export IMGSIGN_PASSWORD=bench
./imgsign keys generate --type ecdsa-p256 --out k >/dev/null
./imgsign sign --key k.key "$src" >/dev/null
./imgsign attest provenance --key k.key --builder-id https://bench.invalid/builder \
	--source-repo https://bench.invalid/app --source-commit 0123456789abcdef0123456789abcdef01234567 "$src" >/dev/null
./imgsign attest sbom --key k.key "$src" >/dev/null
echo '{"benchmark": "copy"}' >predicate.json
./imgsign attest predicate --key k.key --type https://bench.invalid/predicate/v1 --predicate predicate.json "$src" >/dev/null
crane="$tools/crane" oras="$tools/oras"

# anon_peak OUT CMD...: runs CMD, sampling its RssAnon every ~5 ms; appends
# the largest sample (KiB) to OUT. Fails if CMD does.
anon_peak() {
	out=$1
	shift
	"$@" >/dev/null 2>&1 &
	pid=$!
	peak=0
	while [ -r "/proc/$pid/status" ]; do
		while read -r k v _; do
			if [ "$k" = RssAnon: ] && [ "$v" -gt "$peak" ]; then peak=$v; fi
		done <"/proc/$pid/status" 2>/dev/null || :
		# a zombie has no RssAnon line: the loop ends at wait
		grep -q '^State:.*Z' "/proc/$pid/status" 2>/dev/null && break
		sleep 0.005
	done
	wait "$pid"
	echo "$peak" >>"$out"
}

# one KIND RUN MODE WHO: one copy of the image with its referrers into a
# fresh destination (KIND registry or layout), by imgsign (WHO imgsign),
# crane then oras (WHO theirs) or oras alone (WHO oras-alone); MODE time
# appends "wall peakrss" per tool to $work/KIND.TOOL, MODE anon the sampled
# anonymous peak to $work/KIND.TOOL.anon, MODE check neither but checks that
# the destination has the image's 4 referrers.
one() {
	kind=$1 run=$2 mode=$3 who=$4
	if [ "$kind" = registry ]; then
		registry "$work/dst.addr"
		dst_pid=$reg_pid
		dst=$(cat "$work/dst.addr")/bench/app:v1
		ours=$dst
		crane_cmd="$crane copy --insecure $src $dst"
		oras_cmd="$oras copy -r --from-plain-http --to-plain-http $src $dst"
	else
		dir=$work/layout.$who.$run.$mode
		ours=oci:$dir:v1
		crane_cmd="$crane pull --insecure --format=oci $src $dir"
		oras_cmd="$oras copy -r --from-plain-http --to-oci-layout $src $dir:v1"
	fi
	case $who in
	imgsign) set -- imgsign "./imgsign copy $src $ours" ;;
	oras-alone) set -- oras-alone "$oras_cmd" ;;
	*) set -- crane "$crane_cmd" oras "$oras_cmd" ;;
	esac
	while [ $# -gt 0 ]; do
		tool=$1 cmd=$2
		shift 2
		# the previous run's layout written back first, not during this one
		[ "$kind" = registry ] || sync
		# shellcheck disable=SC2086 # the command is split into words on purpose
		case $mode in
		time)
			# wall time from the nanosecond clock: GNU time's %e counts
			# hundredths, a tenth of the difference being measured
			t0=$(date +%s%N)
			if ! "$timebin" -f '%M' -o "$work/t" $cmd >"$work/out" 2>&1; then
				echo "bench-copy: $tool failed ($kind):" >&2
				cat "$work/out" >&2
				exit 1
			fi
			t1=$(date +%s%N)
			echo "$(((t1 - t0) / 1000)) $(cat "$work/t")" | awk '{ printf "%.4f %s\n", $1 / 1e6, $2 }' >>"$work/$kind.$tool"
			;;
		anon) anon_peak "$work/$kind.$tool.anon" $cmd ;;
		check)
			if ! $cmd >"$work/out" 2>&1; then
				echo "bench-copy: $tool failed ($kind):" >&2
				cat "$work/out" >&2
				exit 1
			fi
			;;
		esac
	done
	if [ "$mode" = check ]; then
		check=$ours
		[ "$kind" = registry ] || check="$dir:v1"
		n=$(if [ "$kind" = registry ]; then
			"$oras" discover --plain-http --format json "$check"
		else
			"$oras" discover --oci-layout --format json "$check"
		fi | tr ',' '\n' | grep -c '"artifactType"' || :)
		if [ "$n" -ne 4 ]; then
			echo "bench-copy: $who ($kind) left $n referrers at the destination, not 4" >&2
			exit 1
		fi
	fi
	if [ "$kind" = registry ]; then stop_dst; else rm -rf "$dir"; fi
}

kinds=registry
# OCI layout destinations where this imgsign copy takes them
if ./imgsign copy --dry-run "$src" "oci:$work/probe:v1" >/dev/null 2>&1; then kinds="registry layout"; fi

# median FILE COLUMN: the median of a column of numbers.
median() { awk -v c="$2" '{ print $c }' "$1" | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

# Each program at rest (printing its version): what its start alone maps
# and allocates, which every copy's peak includes.
for t in imgsign crane oras; do
	case $t in
	imgsign) cmd="./imgsign --version" ;;
	crane) cmd="$crane version" ;;
	oras) cmd="$oras version" ;;
	esac
	i=1
	while [ "$i" -le "$runs" ]; do
		# shellcheck disable=SC2086 # the command is split into words on purpose
		"$timebin" -f '%M' -o "$work/t" $cmd >/dev/null 2>&1
		cat "$work/t" >>"$work/rest.$t"
		i=$((i + 1))
	done
done

echo "bench-copy: 200 MiB, 5 layers, 4 referrers, from a loopback registry; median of $runs"
printf '  at rest (version only): peak RSS imgsign %.1f MiB, crane %.1f MiB, oras %.1f MiB\n' \
	"$(median "$work/rest.imgsign" 1 | awk '{ print $1 / 1024 }')" "$(median "$work/rest.crane" 1 | awk '{ print $1 / 1024 }')" \
	"$(median "$work/rest.oras" 1 | awk '{ print $1 / 1024 }')"
for kind in $kinds; do
	for who in imgsign theirs oras-alone; do
		one "$kind" 0 check "$who"
		one "$kind" 0 anon "$who"
	done
	i=1
	while [ "$i" -le "$runs" ]; do
		one "$kind" "$i" time imgsign
		one "$kind" "$i" time theirs
		one "$kind" "$i" time oras-alone
		i=$((i + 1))
	done
	# crane + oras per run: wall times summed, peak RSS the larger
	paste -d ' ' "$work/$kind.crane" "$work/$kind.oras" |
		awk '{ print $1 + $3, ($2 > $4 ? $2 : $4) }' >"$work/$kind.both"
	paste -d ' ' "$work/$kind.crane.anon" "$work/$kind.oras.anon" |
		awk '{ print ($1 > $2 ? $1 : $2) }' >"$work/$kind.both.anon"
	if [ "$kind" = registry ]; then to="registry → registry"; else to="registry → OCI layout"; fi
	echo "$to:"
	for t in imgsign crane oras both oras-alone; do
		case $t in
		imgsign) label="imgsign copy" ;;
		crane) if [ "$kind" = registry ]; then label="crane copy"; else label="crane pull --format=oci"; fi ;;
		oras) label="oras copy -r" ;;
		both) label="crane + oras" ;;
		oras-alone) label="(oras copy -r alone)" ;;
		esac
		printf '  %-24s wall %6.3f s (%s)  peak RSS %5.1f MiB  (anonymous %4.1f MiB)\n' "$label" \
			"$(median "$work/$kind.$t" 1)" "$(sort -n "$work/$kind.$t" | awk 'NR == 1 { lo = $1 } { hi = $1 } END { printf "%.3f-%.3f", lo, hi }')" \
			"$(median "$work/$kind.$t" 2 | awk '{ print $1 / 1024 }')" "$(awk '{ print $1 / 1024 }' "$work/$kind.$t.anon")"
	done
	wi=$(median "$work/$kind.imgsign" 1) wb=$(median "$work/$kind.both" 1)
	mi=$(median "$work/$kind.imgsign" 2) mb=$(median "$work/$kind.both" 2)
	awk -v wi="$wi" -v wb="$wb" -v mi="$mi" -v mb="$mb" 'BEGIN {
		w = wi / wb; m = mi / mb
		printf "  imgsign / (crane + oras): %.2fx the wall time (target <= 1.0x: %s), %.2fx the peak RSS (target <= 1.0x: %s)\n",
			w, (w <= 1.0 ? "met" : "MISSED"), m, (m <= 1.0 ? "met" : "MISSED")
	}'
	# what the copy itself adds to each program's peak over its start
	awk -v mi="$mi" -v mc="$(median "$work/$kind.crane" 2)" -v mo="$(median "$work/$kind.oras" 2)" \
		-v ri="$(median "$work/rest.imgsign" 1)" -v rc="$(median "$work/rest.crane" 1)" -v ro="$(median "$work/rest.oras" 1)" 'BEGIN {
		printf "  peak RSS over the same program at rest: imgsign %+.1f MiB, crane %+.1f MiB, oras %+.1f MiB\n",
			(mi - ri) / 1024, (mc - rc) / 1024, (mo - ro) / 1024
	}'
done
if [ "$kinds" = registry ]; then
	echo "(registry → OCI layout not measured: this imgsign copy writes no OCI layouts)"
fi
