package trustroot

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/imgsign/imgsign/internal/errkind"
)

// TestPublicGood: the embedded snapshot parses and can verify keyless
// signatures: it lists a Fulcio CA and a Rekor log.
func TestPublicGood(t *testing.T) {
	tr, err := Named(PublicGood)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(tr.FulcioCertificateAuthorities()); n < 1 {
		t.Errorf("%d Fulcio CAs", n)
	}
	logs := tr.RekorLogs()
	if len(logs) < 1 {
		t.Fatalf("%d Rekor logs", len(logs))
	}
	found := false
	for _, l := range logs {
		found = found || l.BaseURL == "https://rekor.sigstore.dev"
	}
	if !found {
		t.Errorf("no rekor.sigstore.dev log in %v", logs)
	}
	again, err := Named(PublicGood)
	if err != nil || again != tr {
		t.Errorf("second Named: %p, %v; want the same root %p", again, err, tr)
	}
}

func TestNamedUnknown(t *testing.T) {
	_, err := Named("gitlab")
	if err == nil {
		t.Fatal("Named(gitlab) succeeded")
	}
	if k := errkind.KindOf(err); k != errkind.Input {
		t.Errorf("kind %v, want input", k)
	}
	if want := `unknown Sigstore trust root "gitlab": imgsign knows github, public-good`; err.Error() != want {
		t.Errorf("error %q, want %q", err, want)
	}
}

func TestFromFile(t *testing.T) {
	dir := t.TempDir()
	write := func(name, data string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := write("trusted_root.json", string(publicGoodJSON))
	tr, err := FromFile(good)
	if err != nil {
		t.Fatal(err)
	}
	if len(tr.FulcioCertificateAuthorities()) == 0 {
		t.Error("no CA read from the file")
	}

	for _, tc := range []struct {
		name, path, want string
	}{
		{"not a trusted root", write("bundle.json", `{"mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json"}`),
			"bundle.json is not a Sigstore trusted_root.json: "},
		{"empty object", write("empty.json", `{}`),
			"empty.json is not a Sigstore trusted_root.json: unsupported TrustedRoot media type"},
		{"not JSON", write("root.pem", "-----BEGIN CERTIFICATE-----\n"),
			"root.pem is not a Sigstore trusted_root.json: failed to proto-json unmarshal trusted root: proto: syntax error"},
		{"missing", filepath.Join(dir, "missing.json"),
			"cannot read trusted root " + filepath.Join(dir, "missing.json") + ": no such file or directory"},
		{"directory", dir,
			"cannot read trusted root " + dir + ": not a regular file"},
		{"device", "/dev/zero", "cannot read trusted root /dev/zero: not a regular file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := FromFile(tc.path)
			if err == nil {
				t.Fatalf("FromFile(%s) succeeded", tc.path)
			}
			if k := errkind.KindOf(err); k != errkind.Input {
				t.Errorf("kind %v, want input", k)
			}
			if !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), tc.path) {
				t.Errorf("error %q, want it to contain %q and the path", err, tc.want)
			}
		})
	}
}

func TestFromFileTooLarge(t *testing.T) {
	p := filepath.Join(t.TempDir(), "big.json")
	if err := os.WriteFile(p, make([]byte, MaxFileBytes+1), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := FromFile(p)
	if err == nil || !strings.Contains(err.Error(), "larger than 1 MiB") {
		t.Errorf("error %v, want larger than 1 MiB", err)
	}
}
