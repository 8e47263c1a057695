#!/bin/sh
# Creates the real Debian bookworm minbase rootfs layer tarball that the SBOM
# tests and `make bench-sbom` read, once, outside the clone (it is ~200 MB and
# must never be committed). Idempotent: an existing tarball is kept.
#
#   testdata/sbom/make-debian.sh        # prints the tarball's path
#
# Needs root and debootstrap (installed with apt-get when missing) and the
# Debian mirror; takes ~2 minutes.
set -eu
cache=${IMGSIGN_TOOLS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/imgsign-tools}
out="$cache/debian-bookworm-minbase.tar"
if [ -s "$out" ]; then
	echo "$out"
	exit 0
fi
mkdir -p "$cache"
if ! command -v debootstrap >/dev/null 2>&1 && [ ! -x /usr/sbin/debootstrap ]; then
	echo "make-debian: installing debootstrap" >&2
	apt-get update -qq >&2
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >&2
fi
PATH=$PATH:/usr/sbin:/sbin
work=$(mktemp -d "${TMPDIR:-/tmp}/imgsign-debootstrap.XXXXXX")
trap 'rm -rf "$work"' EXIT INT TERM
echo "make-debian: debootstrap --variant=minbase bookworm (~2 min)" >&2
debootstrap --variant=minbase bookworm "$work/root" http://deb.debian.org/debian >"$work/log" 2>&1 || {
	tail -20 "$work/log" >&2
	exit 1
}
# Fixed ownership and order keep the tarball comparable between machines.
tar --numeric-owner --sort=name -C "$work/root" -cf "$out.tmp.$$" .
mv "$out.tmp.$$" "$out"
echo "$out"
