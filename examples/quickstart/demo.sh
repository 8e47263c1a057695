#!/bin/sh
# The main job, run for real: start a local registry, push an image, generate
# a release key and a CI key, sign, attest SLSA provenance (mode=max) and an
# SBOM generated from the image's layers, verify against a policy requiring
# all three (PASS), then replace the image behind the tag and watch verify
# reject it (FAIL, exit 1).
# Usage: examples/quickstart/demo.sh [BIN_DIR]   (make demo builds BIN_DIR)
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
bin=${1:-$root/bin}
work=$(mktemp -d)
reg_pid=
cleanup() {
	if [ -n "$reg_pid" ]; then kill "$reg_pid" 2>/dev/null || true; fi
	rm -rf "$work"
}
trap cleanup EXIT INT TERM

step() { printf '\n\033[1m$ %s\033[0m\n' "$*"; }

"$bin/devregistry" -addr 127.0.0.1:0 -addr-file "$work/addr" >/dev/null &
reg_pid=$!
for _ in $(seq 50); do [ -s "$work/addr" ] && break; sleep 0.1; done
reg=$(cat "$work/addr")
image=$reg/demo/hello:1.0
echo "embedded registry with the OCI referrers API at $reg"
"$bin/devregistry" -push "$image" >/dev/null
echo "pushed $image"

cd "$work"
export IMGSIGN_PASSWORD=demo-passphrase   # in CI this comes from a secret

step imgsign keys generate --type ecdsa-p256 --out release
"$bin/imgsign" keys generate --type ecdsa-p256 --out release
step imgsign keys generate --type ed25519 --out ci
"$bin/imgsign" keys generate --type ed25519 --out ci

step imgsign sign --key release.key "$image"
"$bin/imgsign" sign --key release.key "$image"

commit=$(git -C "$root" rev-parse HEAD 2>/dev/null || echo 0000000000000000000000000000000000000000)
step imgsign attest provenance --key ci.key --builder-id https://imgsign.dev/demo-builder --source-repo https://github.com/imgsign/imgsign --source-commit "$commit" "$image"
"$bin/imgsign" attest provenance --key ci.key --builder-id https://imgsign.dev/demo-builder \
	--source-repo https://github.com/imgsign/imgsign --source-commit "$commit" "$image"

step imgsign attest sbom --key ci.key "$image"
"$bin/imgsign" attest sbom --key ci.key "$image"

cp "$root/examples/policies/release.yaml" trust.yaml
step imgsign verify --policy trust.yaml "$image"
"$bin/imgsign" verify --policy trust.yaml "$image"

step imgsign tree "$image"
"$bin/imgsign" tree "$image"

echo
echo "Now an attacker pushes a different image under the same tag..."
"$bin/devregistry" -push "$image" >/dev/null
step imgsign verify --policy trust.yaml "$image"
set +e
"$bin/imgsign" verify --policy trust.yaml "$image"
code=$?
set -e
if [ "$code" -ne 1 ]; then
	echo "demo: expected verify to reject the replaced image with exit 1, got $code" >&2
	exit 1
fi
echo
echo "verify exited 1: the replaced image is rejected. Demo done."
