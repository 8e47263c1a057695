#!/bin/sh
# Installs the system packages imgsign's tests need, where it can: with
# apt-get when run as root on a machine that has it (CI's clean machines,
# containers). `make test` and .ci/run both call it.
#
#   softhsm2, opensc  PKCS#11 tests on SoftHSM2 tokens
#   openssl           cross-checks of key files and RFC 3161 timestamps
#   ShellCheck        `make lint` of the shell scripts (package shellcheck)
#   debootstrap       the Debian rootfs the SBOM tests scan (testdata/sbom/make-debian.sh)
#   zsh, fish         the shell-completion tests run the scripts imgsign prints
#   composer, cargo,  SBOM cataloger tests: Composer locks and installs real packages,
#   binutils, npm     cargo builds a Rust program (objcopy adds its audit data), npm
#                     packs a published package (Debian packages come with apt-get download)
#
# Whatever is still missing afterwards is said here, once. Tests that need it
# skip (and say so in make test's summary) or, with CI=true, fail; this
# script then exits 1 so CI stops at the cause. ShellCheck is recorded in
# $IMGSIGN_SKIP_LOG, if set, because no test reports it.
set -eu

# has PACKAGE: is the package's part the tests use present?
has() {
	case $1 in
	softhsm2) [ -e /usr/lib/softhsm/libsofthsm2.so ] ;;
	opensc) command -v pkcs11-tool >/dev/null 2>&1 ;;
	debootstrap) command -v debootstrap >/dev/null 2>&1 || [ -x /usr/sbin/debootstrap ] ;;
	binutils) command -v objcopy >/dev/null 2>&1 ;;
	*) command -v "$1" >/dev/null 2>&1 ;;
	esac
}

# what PACKAGE: what goes untested without it.
what() {
	case $1 in
	softhsm2 | opensc) echo "PKCS#11 tests skip" ;;
	openssl) echo "OpenSSL cross-checks skip" ;;
	shellcheck) echo "shell scripts are not linted" ;;
	debootstrap) echo "SBOM tests over a real Debian rootfs skip" ;;
	zsh | fish) echo "the $1 completion test skips" ;;
	composer | cargo | binutils | npm) echo "SBOM cataloger tests that build fixtures with $1 skip" ;;
	esac
}

packages="softhsm2 opensc openssl shellcheck debootstrap zsh fish composer cargo binutils npm"
need=""
for p in $packages; do
	has "$p" || need="$need $p"
done
[ -n "$need" ] || exit 0

if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
	echo "system-deps: installing$need"
	# shellcheck disable=SC2086 # $need is a list of packages
	if ! { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $need; }; then
		echo "system-deps: apt-get install$need failed" >&2
	fi
fi

missing=0
for p in $need; do
	has "$p" && continue
	missing=1
	echo "system-deps: $p is not installed ($(what "$p")); as root: apt-get install $p" >&2
	if [ "$p" = shellcheck ] && [ -n "${IMGSIGN_SKIP_LOG:-}" ]; then
		printf 'make lint (ShellCheck)\tshellcheck is not installed, shell scripts not linted: apt-get install shellcheck\n' >>"$IMGSIGN_SKIP_LOG"
	fi
done
if [ "$missing" = 1 ] && [ "${CI:-}" = true ]; then
	echo "system-deps: CI=true and system packages are missing" >&2
	exit 1
fi
exit 0
