#!/bin/sh
# Compares `imgsign verify` with `cosign verify --key` on the same local
# registry (go-containerregistry's, with the referrers API): HTTP requests
# from tag to verdict, counted by the registry, and wall time per run.
# Usage: bench/verify.sh BIN_DIR TOOLS_BIN [RUNS]
set -eu
bin=$(cd "$1" && pwd) tools=$(cd "$2" && pwd) runs=${3:-20}
work=$(mktemp -d)
reg_pid=
cleanup() { [ -n "$reg_pid" ] && kill "$reg_pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT INT TERM

"$bin/devregistry" -addr 127.0.0.1:0 -addr-file "$work/addr" >/dev/null &
reg_pid=$!
for _ in $(seq 50); do [ -s "$work/addr" ] && break; sleep 0.1; done
reg=$(cat "$work/addr")
image=$reg/bench/app:v1
"$bin/devregistry" -push "$image" >/dev/null
cd "$work"
export IMGSIGN_PASSWORD=bench COSIGN_PASSWORD=bench
"$bin/imgsign" keys generate --type ecdsa-p256 --out k >/dev/null
"$bin/imgsign" sign --key k.key "$image" >/dev/null
cat > trust.yaml <<POLICY
version: 1
keys: [{name: k, publicKey: k.pub}]
policies: [{name: bench, scopes: ["$reg/**"], signatures: {keys: [k]}}]
POLICY

now_ns() { date +%s%N; }
measure() { # name, command...
	name=$1; shift
	"$@" >/dev/null 2>&1 || { echo "bench: $name failed" >&2; "$@"; exit 1; }
	curl -s -X DELETE "http://$reg/_devregistry/requests" >/dev/null
	"$@" >/dev/null 2>&1
	reqs=$(curl -s "http://$reg/_devregistry/requests")
	start=$(now_ns)
	i=0
	while [ $i -lt "$runs" ]; do "$@" >/dev/null 2>&1; i=$((i + 1)); done
	end=$(now_ns)
	ms=$(( (end - start) / runs / 1000000 ))
	printf '%-8s %4s requests  %5s ms/run (mean of %s)\n' "$name" "$reqs" "$ms" "$runs"
	echo "$ms" > "$work/$name.ms"
}
echo "verify 1 image, 1 signature, tag given — registry $reg"
measure imgsign "$bin/imgsign" verify --policy trust.yaml "$image"
measure cosign "$tools/cosign" verify --key k.pub --insecure-ignore-tlog --allow-insecure-registry "$image"
i=$(cat "$work/imgsign.ms") c=$(cat "$work/cosign.ms")
[ "$c" -gt 0 ] && awk -v i="$i" -v c="$c" 'BEGIN { printf "imgsign/cosign wall time: %.2f\n", i / c }'
