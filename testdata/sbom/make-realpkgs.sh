#!/bin/sh
# Assembles two image layers from real published packages nobody on this
# project wrote, once, outside the clone (cached beside the pinned tools),
# for the SBOM tests (attest/sbom/realpkgs_test.go) and the mixed image of
# `make bench-sbom`:
#
#   nodb.tar  payloads unpacked without any package manager database:
#             Debian node-* packages (/usr/share/nodejs, scoped @types/*),
#             Python (.egg-info / .dist-info), Java jars and Go binaries
#             (fzf, built by Debian without module information), and npm
#             tarballs (npm pack) as a global install and an app's
#             node_modules, plus an app with only a package-lock.json that
#             npm itself resolved; and the ecosystems of the ruby, rust,
#             php and dotnet catalogers, from the same real files their
#             tests use: Debian's ruby-rack and ruby-json gem
#             specifications, two Cargo.lock files Cargo wrote for the Rust
#             book (Debian's rust-src), a program cargo builds here from
#             Debian's packaged crate sources with its dependency list
#             embedded as cargo auditable does (.dep-v0), Composer's
#             installed.json from Debian's icingaweb2 and a composer.lock
#             the real Composer writes for the same five packages, and the
#             .NET SDK's Fable.Cli.deps.json from the fable-compiler npm
#             package;
#   db.tar    more Debian packages unpacked *with* their dpkg database
#             entries (var/lib/dpkg/status and info/NAME.list, .md5sums and
#             .conffiles, as dpkg writes them), so the language packages inside are owned by
#             the OS package manager;
#   locks.tar lock files alone, written by the package managers themselves
#             (npm's package-lock.json v1, v2 and v3; Yarn 1 and Yarn 4
#             yarn.lock; pnpm 7, 8 and 9's pnpm-lock.yaml, formats 5.4, 6.0
#             and 9.0; all run from their npm tarballs) for one app under
#             srv/locks/TOOL/.
#
#   testdata/sbom/make-realpkgs.sh     # prints the directory holding both
#
# Versions are pinned: the tests assert exact package sets. Needs apt-get
# and dpkg-deb (Debian), npm and node, cargo, objcopy, composer and go,
# the Debian mirror and the npm registry; about a minute
# once. .debs and npm tarballs the catalog tests already fetched
# (sbom-debs/, sbom-npm/ beside the tools) are reused. Idempotent: an existing directory is kept.
set -eu
cache=${IMGSIGN_TOOLS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/imgsign-tools}
out="$cache/realpkgs-v3"
if [ -s "$out/db.tar" ] && [ -s "$out/nodb.tar" ] && [ -s "$out/locks.tar" ]; then
	echo "$out"
	exit 0
fi

# Unpacked without a database.
nodb="node-semver=7.3.5+~7.3.9-2 node-ms=2.1.3+~cs0.7.31-3 node-debug=4.3.4+~cs4.1.7-1
node-minimatch=5.1.1+~5.1.2-1 node-brace-expansion=2.0.1-2 node-balanced-match=2.0.0-1
python3-six=1.16.0-4 python3-idna=3.3-1+deb12u1 python3-certifi=2022.9.24-1
libcommons-lang3-java=3.12.0-2+deb12u1 libslf4j-java=1.7.32-1 fzf=0.38.0-1+b1"
# Unpacked with their dpkg database entries.
db="node-lru-cache=7.14.1-1 node-yallist=4.0.0+~4.0.1-1 node-inherits=2.0.4-6
python3-chardet=5.1.0+dfsg-2 libcommons-io-java=2.11.0-2 direnv=2.32.1-2+b4"
# Sources of the Ruby, Rust and PHP fixtures (at the archive's candidate
# version, as the catalog tests take them): gems unpacked whole, the
# others only for the files named below.
eco_debs="ruby-rack ruby-json rust-src icingaweb2 librust-itoa-dev librust-cfg-if-dev librust-autocfg-dev"
rust_book=usr/src/rustc-1.63.0/src/doc/book/listings
rust_locks="$rust_book/ch02-guessing-game-tutorial/listing-02-04/Cargo.lock
$rust_book/ch19-advanced-features/listing-19-31/hello_macro/hello_macro_derive/Cargo.lock"
dompdf=usr/share/icingaweb2/library/vendor/dompdf/vendor
fable="fable-compiler@2.13.0"
# npm tarballs: a global install and an app's node_modules.
npm_global="lodash@4.17.21"
npm_app="@types/node@20.11.30 ms@2.1.2"
# An app with only a lock file, resolved by npm (no node_modules).
lock_deps='{"debug": "4.3.4", "semver": "7.6.0"}'

for tool in apt-get dpkg-deb npm cargo objcopy composer go; do
	if ! command -v "$tool" >/dev/null 2>&1; then
		echo "make-realpkgs: $tool is missing" >&2
		exit 2
	fi
done
work=$(mktemp -d "${TMPDIR:-/tmp}/imgsign-realpkgs.XXXXXX")
trap 'rm -rf "$work"' EXIT INT TERM
mkdir -p "$work/debs" "$work/nodb" "$work/db/var/lib/dpkg/info"

# fetch NAME=VERSION: the pinned version, else (a stable point release or
# security update replaced it on the mirror) the current one, with a
# warning: the tests take Debian revisions from the status file, and the
# upstream versions they pin rarely change within a stable release.
fetch() {
	(cd "$work/debs" && apt-get download -q "$1" >"$work/apt.log" 2>&1) && return
	echo "make-realpkgs: $1 is not on the mirror; trying the current ${1%%=*}" >&2
	(cd "$work/debs" && apt-get download -q "${1%%=*}" >"$work/apt.log" 2>&1) || {
		cat "$work/apt.log" >&2
		exit 1
	}
}
if ! apt-cache show node-semver >/dev/null 2>&1; then
	apt-get update -qq >&2
fi
for spec in $nodb $db; do
	fetch "$spec"
done
for name in $eco_debs; do
	if ls "$cache/sbom-debs/${name}_"*.deb >/dev/null 2>&1; then
		cp "$cache/sbom-debs/${name}_"*.deb "$work/debs/"
	else
		fetch "$name"
	fi
done
chmod -R a+rX "$work/debs"

for spec in $nodb; do
	dpkg-deb -x "$work/debs/${spec%%=*}_"*.deb "$work/nodb"
done
: >"$work/db/var/lib/dpkg/status"
for spec in $db; do
	name=${spec%%=*}
	deb=$(echo "$work/debs/${name}_"*.deb)
	dpkg-deb -x "$deb" "$work/db"
	# The status stanza dpkg writes: the control file with a Status line.
	dpkg-deb -f "$deb" | awk '{ print } /^Package:/ { print "Status: install ok installed" }' >>"$work/db/var/lib/dpkg/status"
	echo >>"$work/db/var/lib/dpkg/status"
	# info/NAME.list: "/." then every path, directories without a slash.
	dpkg-deb --fsys-tarfile "$deb" | tar -t | sed -e 's#^\./#/#' -e 's#/$##' -e 's#^$#/.#' -e 's#^\.$#/.#' >"$work/db/var/lib/dpkg/info/$name.list"
	# info/NAME.md5sums and .conffiles: the package's own control files.
	rm -rf "$work/control" && dpkg-deb -e "$deb" "$work/control"
	for f in md5sums conffiles; do
		[ -f "$work/control/$f" ] && cp "$work/control/$f" "$work/db/var/lib/dpkg/info/$name.$f"
	done
done

# npm packages, unpacked the way npm installs them.
mkdir -p "$work/npm"
unpack_npm() { # SPEC DEST
	tgz=$(cd "$work/npm" && npm pack --silent "$1" 2>/dev/null | tail -1)
	mkdir -p "$2"
	tar -xzf "$work/npm/$tgz" -C "$2" --strip-components=1
}
for spec in $npm_global; do
	unpack_npm "$spec" "$work/nodb/usr/local/lib/node_modules/${spec%@*}"
done
for spec in $npm_app; do
	unpack_npm "$spec" "$work/nodb/srv/app/node_modules/${spec%@*}"
done
printf '{"name": "app", "version": "1.0.0", "private": true}\n' >"$work/nodb/srv/app/package.json"
mkdir -p "$work/nodb/srv/lockapp"
printf '{"name": "lockapp", "version": "1.0.0", "private": true, "dependencies": %s}\n' "$lock_deps" >"$work/nodb/srv/lockapp/package.json"
(cd "$work/nodb/srv/lockapp" && npm install --package-lock-only --ignore-scripts --silent >/dev/null 2>&1)

# Ruby: the gems' specifications where Debian installs them.
for name in ruby-rack ruby-json; do
	dpkg-deb -x "$work/debs/${name}_"*.deb "$work/nodb"
done
# Rust: two Cargo.lock files of the Rust book (formats 3 and 1).
# shellcheck disable=SC2046,SC2086 # one path per word
dpkg-deb --fsys-tarfile "$work/debs/rust-src_"*.deb | tar -x -C "$work/nodb" $(printf './%s ' $rust_locks)
# Rust: a program built offline by cargo from Debian's crate sources (two
# crates, a third at build time only), with cargo's resolve (Cargo.lock)
# embedded the way cargo auditable embeds it: auditable-serde's JSON,
# zlib-compressed, in an ELF section .dep-v0. cargo auditable is not
# packaged by Debian.
crates="$work/crates" app="$work/auditdemo"
mkdir -p "$crates" "$app/src" "$app/.cargo" "$work/nodb/usr/local/bin"
for name in librust-itoa-dev librust-cfg-if-dev librust-autocfg-dev; do
	dpkg-deb -x "$work/debs/${name}_"*.deb "$crates"
done
printf '[package]\nname = "auditdemo"\nversion = "0.3.1"\nedition = "2021"\n\n[dependencies]\nitoa = "1"\ncfg-if = "1"\n\n[build-dependencies]\nautocfg = "1"\n' >"$app/Cargo.toml"
echo 'fn main() { autocfg::new().emit_has_type("i128"); }' >"$app/build.rs"
cat >"$app/src/main.rs" <<'EOF_RS'
cfg_if::cfg_if! { if #[cfg(unix)] { const OS: &str = "unix"; } else { const OS: &str = "other"; } }
fn main() { let mut b = itoa::Buffer::new(); println!("{} {}", b.format(42u64), OS); }
EOF_RS
printf '[source.crates-io]\nreplace-with = "debian"\n[source.debian]\ndirectory = "%s"\n[net]\noffline = true\n' "$crates/usr/share/cargo/registry" >"$app/.cargo/config.toml"
(cd "$app" && CARGO_TARGET_DIR="$app/target" cargo build --release --offline -q >"$work/cargo.log" 2>&1) || {
	cat "$work/cargo.log" >&2
	exit 1
}
cat >"$work/zlib.go" <<'EOF_GO'
package main

import (
	"compress/zlib"
	"io"
	"os"
)

func main() {
	w, _ := zlib.NewWriterLevel(os.Stdout, zlib.BestCompression)
	if _, err := io.Copy(w, os.Stdin); err != nil || w.Close() != nil {
		os.Exit(1)
	}
}
EOF_GO
lockv() { awk -v n="$1" '$1 == "name" && $3 == "\"" n "\"" { getline; gsub(/"/, "", $3); print $3 }' "$app/Cargo.lock"; }
printf '{"packages":[{"name":"auditdemo","version":"0.3.1","source":"local","dependencies":[1,2,3],"root":true},{"name":"autocfg","version":"%s","source":"crates.io","kind":"build"},{"name":"cfg-if","version":"%s","source":"crates.io"},{"name":"itoa","version":"%s","source":"crates.io"}]}' \
	"$(lockv autocfg)" "$(lockv cfg-if)" "$(lockv itoa)" |
	(cd "$work" && GOWORK=off GOFLAGS='' go run zlib.go) >"$app/dep-v0.zlib"
objcopy --add-section .dep-v0="$app/dep-v0.zlib" "$app/target/release/auditdemo" "$work/nodb/usr/local/bin/auditdemo"
# PHP: icingaweb2's vendored installed.json, and the composer.lock the real
# Composer writes, offline, for the same five packages from their own
# upstream composer.json files (path repositories).
php="$work/php"
mkdir -p "$php"
dpkg-deb --fsys-tarfile "$work/debs/icingaweb2_"*.deb | tar -x -C "$php" "./$dompdf"
mkdir -p "$work/nodb/$dompdf/composer" "$work/nodb/srv/phpapp" "$work/phpapp"
cp "$php/$dompdf/composer/installed.json" "$work/nodb/$dompdf/composer/installed.json"
repos=
for nv in dompdf/dompdf=2.0.1 masterminds/html5=2.7.6 phenx/php-font-lib=0.5.4 phenx/php-svg-lib=0.5.0 sabberworm/php-css-parser=8.4.0; do
	repos="$repos, {\"type\": \"path\", \"url\": \"$php/$dompdf/${nv%=*}\", \"options\": {\"symlink\": false, \"versions\": {\"${nv%=*}\": \"${nv#*=}\"}}}"
done
printf '{"name": "imgsign/phpapp", "require": {"dompdf/dompdf": "2.0.1"}, "repositories": [{"packagist.org": false}%s], "config": {"allow-plugins": false}}\n' "$repos" >"$work/phpapp/composer.json"
(cd "$work/phpapp" && COMPOSER_HOME="$work/composer-home" COMPOSER_ALLOW_SUPERUSER=1 COMPOSER_DISABLE_NETWORK=1 \
	composer install --no-interaction --ignore-platform-reqs --no-scripts --no-plugins --no-autoloader >"$work/composer.log" 2>&1) || {
	cat "$work/composer.log" >&2
	exit 1
}
cp "$work/phpapp/composer.lock" "$work/nodb/srv/phpapp/composer.lock"
# .NET: the deps.json the .NET SDK wrote for Fable, where npm installs the
# package (its assemblies left out).
fable_tgz=$cache/sbom-npm/$(echo "$fable" | tr @ -).tgz
if [ ! -s "$fable_tgz" ]; then
	fable_tgz=$work/npm/$(cd "$work/npm" && npm pack --silent "$fable" 2>/dev/null | tail -1)
fi
fdir="$work/nodb/usr/local/lib/node_modules/fable-compiler"
mkdir -p "$fdir"
tar -xzf "$fable_tgz" -C "$fdir" --strip-components=1 package/package.json package/bin/fable-cli/Fable.Cli.deps.json

# Lock files from the package managers themselves.
locks="$work/locks/srv/locks"
mkdir -p "$locks" "$work/pm"
app='{"name": "a", "version": "1.0.0", "private": true, "dependencies": {"debug": "4.3.4", "@types/ms": "0.7.31"}, "devDependencies": {"semver": "7.6.0"}}'
reg=https://registry.npmjs.org
(cd "$work/pm" && npm pack --silent yarn@1.22.22 @yarnpkg/cli-dist@4.5.3 pnpm@7.33.7 pnpm@8.15.9 pnpm@9.15.9 >/dev/null 2>&1)
for t in yarn-1.22.22 yarnpkg-cli-dist-4.5.3 pnpm-7.33.7 pnpm-8.15.9 pnpm-9.15.9; do
	mkdir -p "$work/pm/$t"
	tar -xzf "$work/pm/$t.tgz" -C "$work/pm/$t" --strip-components=1
done
lockapp() { # DIR CMD...: runs CMD in a fresh app DIR
	d="$locks/$1"
	shift
	mkdir -p "$d"
	echo "$app" >"$d/package.json"
	(cd "$d" && "$@" >"$work/pm.log" 2>&1) || {
		cat "$work/pm.log" >&2
		exit 1
	}
	rm -rf "$d/node_modules" "$d/.yarn" "$d/.pnp.cjs" "$d/.yarnrc.yml"
}
for v in 1 2 3; do
	lockapp npm$v npm install --package-lock-only --ignore-scripts --lockfile-version=$v --registry=$reg
done
lockapp yarn1 node "$work/pm/yarn-1.22.22/bin/yarn.js" install --registry $reg --ignore-scripts --non-interactive
mkdir -p "$locks/yarn4"
printf 'npmRegistryServer: "%s"\nenableTelemetry: false\nenableGlobalCache: false\n' $reg >"$locks/yarn4/.yarnrc.yml"
: >"$locks/yarn4/yarn.lock"
(cd "$locks/yarn4" && echo "$app" >package.json && YARN_ENABLE_TELEMETRY=0 node "$work/pm/yarnpkg-cli-dist-4.5.3/bin/yarn.js" install --mode=update-lockfile >"$work/pm.log" 2>&1) || {
	cat "$work/pm.log" >&2
	exit 1
}
rm -rf "$locks/yarn4/.yarn" "$locks/yarn4/.yarnrc.yml" "$locks/yarn4/.pnp.cjs"
for v in 7.33.7 8.15.9 9.15.9; do
	lockapp "pnpm${v%%.*}" node "$work/pm/pnpm-$v/bin/pnpm.cjs" install --lockfile-only --ignore-scripts --registry=$reg
done

mkdir -p "$out.tmp.$$"
# Fixed ownership and order keep the tarballs comparable between machines.
tar --numeric-owner --owner=0 --group=0 --sort=name -C "$work/nodb" -cf "$out.tmp.$$/nodb.tar" .
tar --numeric-owner --owner=0 --group=0 --sort=name -C "$work/db" -cf "$out.tmp.$$/db.tar" .
tar --numeric-owner --owner=0 --group=0 --sort=name -C "$work/locks" -cf "$out.tmp.$$/locks.tar" .
rm -rf "$out"
mv "$out.tmp.$$" "$out"
echo "$out"
