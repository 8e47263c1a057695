package trustroot

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sigstore/sigstore-go/pkg/root"

	"github.com/imgsign/imgsign/internal/errkind"
	"github.com/imgsign/imgsign/internal/testing/fakesigstore"
)

// compact is a trusted root on one line, as gh attestation trusted-root
// prints each.
func compact(t *testing.T, data []byte) string {
	t.Helper()
	var b bytes.Buffer
	if err := json.Compact(&b, data); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// A file of JSON lines, one trusted root each (what `gh attestation
// trusted-root` prints: public-good's, then GitHub's), is one root trusting
// the union: every line's certificate authorities, timestamp authorities
// and logs.
func TestFromFileJSONLines(t *testing.T) {
	dir := t.TempDir()
	other := fakesigstore.New(t)
	pg, gh := compact(t, publicGoodJSON), compact(t, other.TrustedRootJSON(t))
	pgRoot, err := root.NewTrustedRootFromJSON(publicGoodJSON)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, data string }{
		{"gh's output", pg + "\n" + gh + "\n"},
		{"no final newline", pg + "\n" + gh},
		{"CRLF", pg + "\r\n" + gh + "\r\n"},
		{"trailing blank lines", pg + "\n" + gh + "\n\n \n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(dir, "trusted_root.jsonl")
			writeFile(t, p, []byte(tc.data))
			tr, err := FromFile(p)
			if err != nil {
				t.Fatal(err)
			}
			cas := tr.FulcioCertificateAuthorities()
			if len(cas) != len(pgRoot.FulcioCertificateAuthorities())+1 || !cas[len(cas)-1].(*root.FulcioCertificateAuthority).Root.Equal(other.FulcioRoot()) {
				t.Errorf("%d certificate authorities, want public-good's and the other's", len(cas))
			}
			if n, want := len(tr.RekorLogs()), len(pgRoot.RekorLogs())+2; n != want {
				t.Errorf("%d transparency logs, want %d", n, want)
			}
			if n, want := len(tr.CTLogs()), len(pgRoot.CTLogs())+1; n != want {
				t.Errorf("%d CT logs, want %d", n, want)
			}
			if n, want := len(tr.TimestampingAuthorities()), len(pgRoot.TimestampingAuthorities())+1; n != want {
				t.Errorf("%d timestamp authorities, want %d", n, want)
			}
		})
	}

	// FileRoots gives each line's root too, in order, for verifying line
	// by line; a plain trusted_root.json has no lines.
	p := filepath.Join(dir, "roots.jsonl")
	writeFile(t, p, []byte(pg+"\n"+gh+"\n"))
	all, lines, err := FileRoots(p)
	if err != nil || all == nil || len(lines) != 2 || len(lines[0].RekorLogs()) != len(pgRoot.RekorLogs()) ||
		!lines[1].FulcioCertificateAuthorities()[0].(*root.FulcioCertificateAuthority).Root.Equal(other.FulcioRoot()) {
		t.Fatalf("FileRoots: %v, %d lines", err, len(lines))
	}
	writeFile(t, p, publicGoodJSON)
	if all, lines, err := FileRoots(p); err != nil || all == nil || lines != nil {
		t.Fatalf("FileRoots of one trusted_root.json: %v, lines %v", err, lines)
	}

	// One line is a plain trusted root; the same root twice is that root.
	for _, data := range []string{gh + "\n", gh + "\n" + gh + "\n"} {
		p := filepath.Join(dir, "one.jsonl")
		writeFile(t, p, []byte(data))
		tr, err := FromFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if len(tr.FulcioCertificateAuthorities()) < 1 || len(tr.RekorLogs()) != 2 || len(tr.CTLogs()) != 1 {
			t.Errorf("%d lines: %d CAs, %d logs, %d CT logs", strings.Count(data, "\n"), len(tr.FulcioCertificateAuthorities()), len(tr.RekorLogs()), len(tr.CTLogs()))
		}
	}
}

// Any line that is not a trusted root refuses the whole file, as does an
// empty one or two lines listing one log ID differently.
func TestFromFileJSONLinesRefused(t *testing.T) {
	dir := t.TempDir()
	pg, gh := compact(t, publicGoodJSON), compact(t, fakesigstore.New(t).TrustedRootJSON(t))
	// gh's root with its first log's URL changed: the same log ID.
	var m map[string]any
	if err := json.Unmarshal([]byte(gh), &m); err != nil {
		t.Fatal(err)
	}
	m["tlogs"].([]any)[0].(map[string]any)["baseUrl"] = "https://evil.example"
	changed, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, data, want string }{
		{"malformed second line", pg + "\n" + `{"mediaType": ` + "\n", "line 2 is not a Sigstore trusted_root.json"},
		{"second line not a trusted root", pg + "\n" + `{"mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json"}` + "\n", "line 2 is not a Sigstore trusted_root.json: unsupported TrustedRoot media type"},
		{"first line not a trusted root", `{}` + "\n" + gh + "\n", "line 1 is not a Sigstore trusted_root.json"},
		{"third line garbage", pg + "\n" + gh + "\n" + "#comment\n", "line 3 is not a Sigstore trusted_root.json"},
		{"blank line between", pg + "\n\n" + gh + "\n", "line 2 is empty"},
		{"a root then a pretty-printed one", gh + "\n" + string(publicGoodJSON), "line 2 is not a Sigstore trusted_root.json"},
		{"one log ID listed differently", gh + "\n" + string(changed) + "\n", "trusted root 2 lists transparency log"},
		{"empty", "", "is empty"},
		{"blank", " \n\n", "is empty"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(dir, "roots.jsonl")
			writeFile(t, p, []byte(tc.data))
			tr, err := FromFile(p)
			if tr != nil {
				t.Fatal("FromFile returned a root")
			}
			wantKind(t, err, errkind.Input, tc.want)
			if !strings.Contains(err.Error(), p) || strings.Contains(err.Error(), "\n") {
				t.Errorf("error %q: want one line naming the path", err)
			}
		})
	}
	// Over MaxFileBytes in all, however it is split in lines: refused
	// before any is parsed.
	p := filepath.Join(dir, "big.jsonl")
	big := strings.Repeat(pg+"\n", MaxFileBytes/len(pg)+1)
	if err := os.WriteFile(p, []byte(big), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = FromFile(p)
	wantKind(t, err, errkind.Input, "larger than 1 MiB")
}
