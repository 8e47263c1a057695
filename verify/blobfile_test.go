package verify

import (
	"bytes"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/imgsign/imgsign/internal/errkind"
	"github.com/imgsign/imgsign/internal/trustroot"
	"github.com/imgsign/imgsign/verify/policy"
)

const (
	blobFileJSWorkflow = "https://github.com/sigstore/sigstore-js/.github/workflows/release.yml@refs/heads/main"
	blobFileJSDigest   = "sha512:90f223f992e4c88dd068cd2a5fc57f9d2b30798343dd6e38f29c240e04ba090ef831f84490847c4e82b9232c78e8a258463b1e55c0f7469f730265008fa6633f"
)

// blobFileLine is a real bundle from testdata/sigstore as one JSON line.
func blobFileLine(t testing.TB, name string) []byte {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("..", "testdata", "sigstore", name))
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := json.Compact(&out, raw); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

// blobFileRequest asks for sigstore-js's release workflow under the
// embedded public-good root.
func blobFileRequest(t testing.TB, bundle []byte) BlobRequest {
	t.Helper()
	r, err := trustroot.Named(trustroot.PublicGood)
	if err != nil {
		t.Fatal(err)
	}
	tr := &policy.TrustRoot{Name: trustroot.PublicGood, Sigstore: trustroot.PublicGood, Root: r, RequireTransparencyLog: true}
	return BlobRequest{Bundle: bundle, Root: tr, Identity: &policy.Identity{Name: "id", TrustRoots: []string{tr.Name},
		Subject: blobFileJSWorkflow, Issuer: "https://token.actions.githubusercontent.com"}}
}

func TestBlobFile(t *testing.T) {
	js := blobFileLine(t, "gh-sigstore-js-2.1.0-provenance.sigstore.json")
	custom := blobFileLine(t, "gh-custom-issuer-provenance.sigstore.json")
	tgz, err := os.ReadFile(filepath.Join("..", "testdata", "sigstore", "gh-sigstore-js-2.1.0.tgz"))
	if err != nil {
		t.Fatal(err)
	}
	lines := func(ls ...[]byte) []byte { return append(bytes.Join(ls, []byte("\n")), '\n') }
	digest := v1.Hash{Algorithm: "sha512", Hex: strings.TrimPrefix(blobFileJSDigest, "sha512:")}
	cases := []struct {
		name     string
		bundle   []byte
		artifact io.Reader
		kind     errkind.Kind // 0: verifies
		want     string       // the bundle that verified, or in the error
	}{
		{"one bundle", js, bytes.NewReader(tgz), 0, "f"},
		{"one line", lines(js), bytes.NewReader(tgz), 0, "f"},
		{"two lines, the first verifies", lines(js, custom), bytes.NewReader(tgz), 0, "f:1"},
		{"two lines, the second verifies, the artifact rewound", lines(custom, js), bytes.NewReader(tgz), 0, "f:2"},
		{"two lines, by digest", lines(custom, js), nil, 0, "f:2"},
		{"none for this artifact", lines(custom, js), bytes.NewReader([]byte("other")), errkind.Untrusted, "none of the 2 bundles in f verifies: f:1: "},
		{"a line that is no bundle", lines(js, []byte(`{}`)), bytes.NewReader(tgz), errkind.Input, "f:2 is not a valid Sigstore bundle"},
		{"an artifact that cannot be rewound", lines(custom, js), io.MultiReader(bytes.NewReader(tgz)), errkind.Input, "cannot be read again"},
		{"no bundle", []byte("\n\n"), bytes.NewReader(tgz), errkind.Input, "holds no bundle"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req := blobFileRequest(t, tc.bundle)
			req.Artifact = tc.artifact
			if tc.artifact == nil {
				req.Digest = digest
			}
			res, err := BlobFile("f", req)
			if tc.kind == 0 {
				if err != nil || res.Bundle != tc.want {
					t.Fatalf("got %+v, %v; want bundle %s", res, err, tc.want)
				}
				return
			}
			if res != nil || err == nil {
				t.Fatalf("verified: %+v", res)
			}
			if k, _ := errkind.Of(err); k != tc.kind || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v (%v), want %v containing %q", err, k, tc.kind, tc.want)
			}
		})
	}
}

// FuzzBlobFile: any bundle file is judged without a panic, as verified
// (naming the file or one of its lines), untrusted or bad input, never
// anything else (exit 3 would read as "try again").
func FuzzBlobFile(f *testing.F) {
	js := blobFileLine(f, "gh-sigstore-js-2.1.0-provenance.sigstore.json")
	custom := blobFileLine(f, "gh-custom-issuer-provenance.sigstore.json")
	for _, seed := range [][]byte{js, custom, append(append(append([]byte{}, custom...), '\n'), js...),
		[]byte("\n"), []byte("{}\n{}"), []byte("[]"), []byte("{\"mediaType\":1}\r\n"), []byte("not json\n{}")} {
		f.Add(seed)
	}
	digest := v1.Hash{Algorithm: "sha512", Hex: strings.TrimPrefix(blobFileJSDigest, "sha512:")}
	base := blobFileRequest(f, nil)
	f.Fuzz(func(t *testing.T, data []byte) {
		req := base
		req.Bundle, req.Digest = data, digest
		res, err := BlobFile("f", req)
		if err == nil {
			if res == nil || (res.Bundle != "f" && !strings.HasPrefix(res.Bundle, "f:")) || res.Identity == nil || res.Identity.Subject != blobFileJSWorkflow {
				t.Fatalf("verified as %+v", res)
			}
			return
		}
		if res != nil {
			t.Fatalf("a result with an error: %+v, %v", res, err)
		}
		if k, ok := errkind.Of(err); !ok || (k != errkind.Untrusted && k != errkind.Input) {
			t.Fatalf("error of kind %v: %v", k, err)
		}
	})
}
