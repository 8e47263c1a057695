#!/bin/sh
# Regenerates the rpm database fixtures in testdata/sbom/rpm/ with Debian's
# rpm 4.18 (`apt-get install -y rpm`): three tiny noarch packages built with
# rpmbuild from the spec below and registered with `rpm --justdb` in an
# SQLite database (rpmdb.sqlite). The result is committed gzipped, so tests
# do not need rpm; run this only to change it. (Debian's rpm has no NDB or
# writable BerkeleyDB backend: those fixtures come from go-rpmdb, see
# rpm/README.md.)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
out="$here/rpm"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT INT TERM
mkdir -p "$out" "$work/SPECS"

spec() { # name version release epoch license vendor
	cat >"$work/SPECS/$1.spec" <<SPEC
Name: $1
Version: $2
Release: $3
$( [ -n "$4" ] && echo "Epoch: $4" )
Summary: imgsign rpm fixture $1
License: $5
Vendor: $6
BuildArch: noarch
%description
Fixture package for imgsign's rpm cataloger tests.
%files
SPEC
	rpmbuild --quiet --define "_topdir $work" -bb "$work/SPECS/$1.spec" >/dev/null
}
spec hello 2.12.1 3.el9 "" "GPL-3.0-or-later" "Red Hat, Inc."
spec openssl-libs 3.0.7 27.el9 1 "Apache-2.0" "Red Hat, Inc."
spec tzdata 2024a 1.el9 "" "LicenseRef-Fedora-Public-Domain" "Red Hat, Inc."

db="$work/db"
mkdir -p "$db"
rpm --define "_db_backend sqlite" --dbpath "$db" --initdb
rpm --define "_db_backend sqlite" --dbpath "$db" -i --justdb --nodeps --noscripts \
	--ignorearch --ignoreos "$work"/RPMS/noarch/*.rpm 2>&1 | grep -v 'use Alien\|know what you are doing' >&2 || true
# rpm checkpoints its write-ahead log on a clean exit, so the database file
# alone is complete, as in a real image.
rpm --define "_db_backend sqlite" --dbpath "$db" -qa >/dev/null
gzip -9n <"$db/rpmdb.sqlite" >"$out/rpmdb.sqlite.gz"
ls -la "$out"
