#!/bin/sh
# imgsign serve under load: the admission benchmarks of serve/
# (admission_bench_test.go) — AdmissionReviews over TLS 1.3 on loopback
# from a concurrent in-process client, images signed in a loopback
# registry — and a summary of their figures against the targets. The
# targets are reported, not enforced: only functional errors (a review not
# admitted, a burst verified more than once) fail the run.
# Usage: bench/admission.sh [RAW_OUTPUT_FILE]
set -eu
go=${GO:-go}
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT INT TERM
raw=${1:-$work/raw.txt}

"$go" test -c -o "$work/serve.test" "$root/serve"
run() { # bench regexp, benchtime
	echo "running $1 ($2)" >&2
	if ! (cd "$root/serve" && "$work/serve.test" -test.run '^$' -test.bench "$1" -test.benchtime "$2") >"$work/out" 2>&1; then
		cat "$work/out" >&2
		echo "bench-admission: $1 failed" >&2
		exit 1
	fi
	grep '^Benchmark' "$work/out" | tee -a "$raw"
}
: > "$raw"
run 'AdmissionCacheHit$' 20000x
run 'AdmissionBurst$' 10x
run 'AdmissionCacheMiss$' 300x

awk '
# metric(unit): the value before unit on the current line.
function metric(unit,   i) { for (i = 2; i < NF; i++) if ($(i + 1) == unit) return $i; return "" }
function mark(ok) { return ok ? "met" : "MISSED" }
/^BenchmarkAdmissionCacheHit\// {
	split($1, p, "/"); sub(/^proto=/, "", p[2]); sub(/^clients=/, "", p[3]); sub(/-[0-9]+$/, "", p[3])
	hit[++nhit] = sprintf("  %-6s %7s %10.0f %8.2f %8.2f %9.0f   %-6s  %-6s", p[2], p[3],
		metric("reviews/s"), metric("p50-ms"), metric("p99-ms"), metric("cpu-us/review"),
		mark(metric("reviews/s") >= 5000), mark(metric("p99-ms") <= 2))
	if (metric("reviews/s") >= 5000 && metric("p99-ms") <= 2) both = both " " p[2] "/" p[3]
	c = metric("cpu-us/review") + 0
	if (cpu == "" || c < cpu) cpu = c
	if (metric("verifications") != 1) hitverif = hitverif " " $1
}
/^BenchmarkAdmissionBurst/ { bv = metric("verifications/burst"); br = metric("registry-requests/burst")
	bs = metric("registry-served/burst"); bp50 = metric("p50-ms"); bp99 = metric("p99-ms") }
/^BenchmarkAdmissionCacheMiss/ { mp50 = metric("p50-ms"); mp99 = metric("p99-ms"); vp50 = metric("verify-p50-ms")
	vp99 = metric("verify-p99-ms"); mr = metric("registry-requests/review"); vr = metric("registry-requests/verify")
	ms = metric("registry-served/review") }
END {
	print ""
	print "imgsign serve admission load — targets vs figures (client and server share this machine'"'"'s cores)"
	print ""
	print "cache hit: one verified image, reviews from N keep-alive clients"
	print "  proto  clients  reviews/s   p50-ms   p99-ms  cpu-us/rv   >=5000/s  p99<=2ms"
	for (i = 1; i <= nhit; i++) print hit[i]
	printf "  both at once: %s\n", both == "" ? "MISSED (at no concurrency measured)" : "met at" both
	if (cpu != "") printf "  lowest CPU per review (client+server) %.0f us: at most ~%.0f reviews/s on 2 idle cores\n", cpu, 2e6 / cpu
	if (hitverif != "") printf "  FUNCTIONAL: verifications != 1 in%s\n", hitverif
	print ""
	print "burst: 1,000 concurrent reviews of one new image"
	printf "  verifications per burst    %6s   target 1     %s\n", bv, mark(bv == 1)
	printf "  registry requests (sent)   %6s   target <= 5  %s   (served by the registry: %s)\n", br, mark(br <= 5), bs
	printf "  burst latency p50/p99      %s / %s ms\n", bp50, bp99
	print ""
	print "cache miss: every cache off, one review at a time, vs in-process verify of the same image"
	printf "  review p50/p99             %s / %s ms\n", mp50, mp99
	printf "  verify p50/p99             %s / %s ms\n", vp50, vp99
	printf "  miss p99 <= verify p99 + 5 ms: %.2f <= %.2f  %s\n", mp99, vp99 + 5, mark(mp99 <= vp99 + 5)
	printf "  registry requests (sent)   %s per review (served: %s), %s per verify\n", mr, ms, vr
	print ""
	print "requests sent include the HTTPS probe the registry client tries first; the loopback registry speaks plain HTTP"
}' "$raw"
