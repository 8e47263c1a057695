#!/bin/sh
# Migrates every DCT-signed repository listed in a file to imgsign, the way a
# platform team does it before Docker's Notary service shuts down:
# for each repository a dry run (stop if it cannot be carried over whole),
# the import (tags an earlier run imported are found and not signed again),
# then `imgsign verify` of every imported tag under the policy deploys will use.
#
# Usage: examples/dct/migrate.sh REPOS KEY POLICY
#   REPOS   one repository per line: GUN ROOT_KEY_ID (the root key ID from
#           `docker trust inspect` or your records; "-" to rely on the root
#           cached in the Docker trust dir). Blank lines and # comments skipped.
#   KEY     the imgsign signing key (file, KMS URI or pkcs11: URI)
#   POLICY  the trust policy deploys verify with (signatures.bindTag: true)
# Environment:
#   IMGSIGN          the imgsign binary (default: imgsign on PATH)
#   IMGSIGN_PASSWORD the key's passphrase
#   DCT_FLAGS        more `dct import` flags for every repository, e.g.
#                    "--server https://notary.example.com --allow-expired"
#   ALLOW_PARTIAL=1  import repositories even when some tags cannot be carried over
set -eu
[ $# -eq 3 ] || { echo "usage: $0 REPOS KEY POLICY" >&2; exit 2; }
repos=$1 key=$2 policy=$3
imgsign=${IMGSIGN:-imgsign}
partial=
[ "${ALLOW_PARTIAL:-}" = 1 ] && partial=--allow-partial
failed=0
out=$(mktemp)
tags=$(mktemp)
trap 'rm -f "$out" "$tags"' EXIT

while read -r gun root _; do
	case $gun in '' | '#'*) continue ;; esac
	pin=
	[ "$root" != - ] && pin="--root-key-id $root"
	echo "== $gun"
	# shellcheck disable=SC2086 # DCT_FLAGS and pin are word lists
	if ! "$imgsign" dct import --dry-run $partial $pin ${DCT_FLAGS:-} "$gun" </dev/null; then
		echo "!! $gun: not imported (see the plan above)" >&2
		failed=1
		continue
	fi
	# shellcheck disable=SC2086
	if ! "$imgsign" dct import --key "$key" $partial $pin ${DCT_FLAGS:-} "$gun" </dev/null >"$out"; then
		cat "$out"
		echo "!! $gun: import failed" >&2
		failed=1
		continue
	fi
	cat "$out"
	# The plan's lines are "  TAG<tab>DIGEST<tab>ROLE<tab>STATUS".
	repo=$(sed -n 's/^dct import [^ ]* → \(.*\): importing$/\1/p' "$out")
	awk -F '\t' '$4 ~ /^(imported|already imported)/ { sub(/^ +/, "", $1); print $1 }' "$out" >"$tags"
	while read -r tag; do
		"$imgsign" verify --policy "$policy" "$repo:$tag" </dev/null >/dev/null || {
			echo "!! $repo:$tag does not verify under $policy" >&2
			failed=1
		}
	done <"$tags"
done <"$repos"
exit "$failed"
