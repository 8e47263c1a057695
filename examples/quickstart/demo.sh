#!/bin/sh
# The main job, run for real: start a local registry, push an image, generate
# a release key and a CI key, sign, attest SLSA provenance (mode=max) and an
# SBOM generated from the image's layers, verify against a policy requiring
# all three (PASS). Then sign the same image keyless, as a CI workflow does
# with no stored key (a local Fulcio, timestamp authority and OIDC issuer
# standing in for Sigstore's and GitHub's), and verify a policy requiring the
# release key and the workflow's identity side by side (PASS). Finally
# replace the image behind the tag and watch verify reject it (FAIL, exit 1).
# Usage: examples/quickstart/demo.sh [BIN_DIR [TOOLS_BIN]]
#   (make demo builds BIN_DIR, with devsigstore, and Fulcio and the TSA into TOOLS_BIN)
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
bin=${1:-$root/bin}
tools=${2:-${IMGSIGN_TOOLS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/imgsign-tools}/bin}
work=$(mktemp -d)
reg_pid=
sigstore_pid=
cleanup() {
	if [ -n "$reg_pid" ]; then kill "$reg_pid" 2>/dev/null || true; fi
	if [ -n "$sigstore_pid" ]; then
		kill "$sigstore_pid" 2>/dev/null || true
		wait "$sigstore_pid" 2>/dev/null || true
	fi
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

echo
echo "Now CI signs the same image keyless: no key to store, a short-lived certificate"
echo "naming the workflow, from a local Fulcio, timestamp authority and OIDC issuer"
echo "(in GitHub Actions the token comes from the runner: permissions id-token: write)."
mkdir sigstore
"$bin/devsigstore" -fulcio "$tools/imgsign-fulcio" -tsa "$tools/imgsign-tsa" -dir sigstore -for 10m &
sigstore_pid=$!
for _ in $(seq 600); do
	[ -f sigstore/ready ] && break
	kill -0 "$sigstore_pid" 2>/dev/null || break # it said why on stderr
	sleep 0.1
done
if [ ! -f sigstore/ready ]; then
	echo "demo: the local Sigstore did not start" >&2
	exit 1
fi
step imgsign sign --keyless --identity-token sigstore/token --signing-config sigstore/signing_config.json --trusted-root sigstore/trusted_root.json "$image"
"$bin/imgsign" sign --keyless --identity-token sigstore/token --signing-config sigstore/signing_config.json \
	--trusted-root sigstore/trusted_root.json "$image"

# The release key and the workflow's identity, both required (2 of 2).
cat >keys-and-keyless.yaml <<EOF
version: 1
keys:
  - name: release
    publicKey: release.pub
trustRoots:
  - name: demo-sigstore          # a private Sigstore's trusted_root.json
    file: sigstore/trusted_root.json
identities:
  - name: release-workflow
    issuer: $(cat sigstore/issuer)
    subject: https://github.com/acme/app/.github/workflows/release.yml@refs/tags/v1.0
    claims: {sourceRepository: https://github.com/acme/app, runnerEnvironment: github-hosted}
    trustRoots: [demo-sigstore]
policies:
  - name: release
    scopes: ["127.0.0.1:*/demo/**"]
    signatures:
      keys: [release, release-workflow]
      threshold: 2
EOF
step cat keys-and-keyless.yaml
cat keys-and-keyless.yaml
step imgsign verify --policy keys-and-keyless.yaml "$image"
"$bin/imgsign" verify --policy keys-and-keyless.yaml "$image"

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
step imgsign verify --policy keys-and-keyless.yaml "$image"
set +e
"$bin/imgsign" verify --policy keys-and-keyless.yaml "$image"
code2=$?
set -e
if [ "$code2" -ne 1 ]; then
	echo "demo: expected the keys-and-keyless policy to reject the replaced image with exit 1, got $code2" >&2
	exit 1
fi
echo
echo "verify exited 1 under both policies: the replaced image is rejected. Demo done."
