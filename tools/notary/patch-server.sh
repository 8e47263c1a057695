#!/bin/sh
# patch-server.sh DIR writes into DIR a copy of the pinned Notary module with
# the fix of notaryproject/notary#1635 (merged upstream after v0.7.0, never
# released) and DIR/go.mod, this module's go.mod replacing Notary with that
# copy, for `go build -modfile DIR/go.mod` (tools/build.sh caches the patched
# notary-server under this script's checksum).
#
# Since Go 1.17 mime/multipart's Part.FileName returns only the base name, so
# a notary-server built with a current Go reads the upload
# "targets/releases.json" as the role "releases" and rejects every publish of
# delegation metadata as INVALID_ROLE (notaryproject/notary#1630). The fix
# reads the Content-Disposition filename as sent.
set -eu
out=$1
cd "$(dirname "$0")"
module=github.com/theupdateframework/notary
go mod download "$module"
src=$(go list -m -f '{{.Dir}}' "$module")

cp -R "$src" "$out/notary"
chmod -R u+w "$out/notary"
rm -rf "$out/notary/vendor"
handlers="$out/notary/server/handlers"
sed 's/part\.FileName()/imgsignRawFileName(part)/' "$src/server/handlers/default.go" >"$handlers/default.go"
if [ "$(grep -c 'imgsignRawFileName(part)' "$handlers/default.go")" -ne 1 ]; then
	echo "tools: $module server/handlers/default.go no longer calls part.FileName() once; revisit $0" >&2
	exit 1
fi
cat >"$handlers/imgsign_filename.go" <<'GO'
package handlers

import (
	"mime"
	"mime/multipart"
)

// imgsignRawFileName is part's Content-Disposition filename as sent, with
// its directories ("targets/releases.json"), unlike Part.FileName.
func imgsignRawFileName(part *multipart.Part) string {
	_, params, err := mime.ParseMediaType(part.Header.Get("Content-Disposition"))
	if err != nil {
		return ""
	}
	return params["filename"]
}
GO
cp go.sum "$out/go.sum"
{
	cat go.mod
	echo
	echo "replace $module => $out/notary"
} >"$out/go.mod"
