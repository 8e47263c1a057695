package blob

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	spdxjson "github.com/spdx/tools-golang/json"
)

func write(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestHash(t *testing.T) {
	dir := t.TempDir()
	a := write(t, dir, "a.txt", "hello\n")
	b := write(t, dir, "sub/b.txt", "")
	dup := write(t, dir, "other/a.txt", "x")
	tests := []struct {
		name    string
		paths   []string
		want    []Subject
		wantErr string
	}{
		{"names are base names", []string{a, b}, []Subject{
			{Name: "a.txt", SHA256: "5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03", Size: 6},
			{Name: "b.txt", SHA256: "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
		}, ""},
		{"same base name twice", []string{a, dup}, nil, `the same name "a.txt"`},
		{"a directory", []string{dir}, nil, "not a regular file"},
		{"missing", []string{filepath.Join(dir, "nope")}, nil, "no such file"},
		{"none", nil, nil, "no files given"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Hash(tt.paths)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for i := range got {
				got[i].Path = ""
			}
			g, _ := json.Marshal(got)
			w, _ := json.Marshal(tt.want)
			if !bytes.Equal(g, w) {
				t.Errorf("got %s, want %s", g, w)
			}
		})
	}
}

func TestStatement(t *testing.T) {
	subjects := []Subject{{Name: "imgsign_linux_amd64", SHA256: strings.Repeat("ab", 32)}, {Name: "SHA256SUMS", SHA256: strings.Repeat("cd", 32)}}
	b, err := Statement(subjects, "https://slsa.dev/provenance/v1", map[string]any{"buildDefinition": map[string]any{"buildType": "x"}})
	if err != nil {
		t.Fatal(err)
	}
	var st struct {
		Type    string `json:"_type"`
		Subject []struct {
			Name   string            `json:"name"`
			Digest map[string]string `json:"digest"`
		} `json:"subject"`
		PredicateType string         `json:"predicateType"`
		Predicate     map[string]any `json:"predicate"`
	}
	if err := json.Unmarshal(b, &st); err != nil {
		t.Fatal(err)
	}
	if st.Type != "https://in-toto.io/Statement/v1" || st.PredicateType != "https://slsa.dev/provenance/v1" || st.Predicate["buildDefinition"] == nil {
		t.Errorf("statement %s", b)
	}
	if len(st.Subject) != 2 || st.Subject[1].Name != "SHA256SUMS" || st.Subject[1].Digest["sha256"] != strings.Repeat("cd", 32) || len(st.Subject[1].Digest) != 1 {
		t.Errorf("subjects %+v", st.Subject)
	}
	for _, bad := range []struct {
		name     string
		subjects []Subject
		pred     any
		want     string
	}{
		{"no subjects", nil, map[string]any{}, "at least one file"},
		{"predicate not an object", subjects, []int{1}, "must be a JSON object"},
	} {
		if _, err := Statement(bad.subjects, "https://example.com/p", bad.pred); err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("%s: err = %v, want %q", bad.name, err, bad.want)
		}
	}
}

// The SBOM of a Go executable lists its modules, parses as SPDX 2.3, and
// is the same bytes for the same files and time.
func TestSPDX(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a Go program")
	}
	dir := t.TempDir()
	write(t, dir, "go.mod", "module example.com/hello\n\ngo 1.21\n")
	write(t, dir, "main.go", "package main\n\nfunc main() { println(\"hi\") }\n")
	exe := filepath.Join(dir, "hello")
	cmd := exec.Command("go", "build", "-trimpath", "-o", exe, ".")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOFLAGS=-buildvcs=false")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	notes := write(t, dir, "NOTES", "not a program")
	created := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	encode := func() []byte {
		t.Helper()
		scanned, err := Scan([]string{exe, notes})
		if err != nil {
			t.Fatal(err)
		}
		doc, err := SPDX(scanned, created, "v1.2.3")
		if err != nil {
			t.Fatal(err)
		}
		return doc
	}
	doc := encode()
	if again := encode(); !bytes.Equal(doc, again) {
		t.Error("two SBOMs of the same files differ")
	}
	parsed, err := spdxjson.Read(bytes.NewReader(doc))
	if err != nil {
		t.Fatalf("SPDX does not parse: %v\n%s", err, doc)
	}
	if parsed.CreationInfo.Created != "2026-12-01T10:00:00Z" || parsed.CreationInfo.Creators[0].Creator != "imgsign-v1.2.3" {
		t.Errorf("creation info %+v", parsed.CreationInfo)
	}
	purpose := map[string]string{}
	purls := map[string]bool{}
	for _, p := range parsed.Packages {
		purpose[p.PackageName] = p.PrimaryPackagePurpose
		for _, r := range p.PackageExternalReferences {
			purls[r.Locator] = true
		}
	}
	if purpose["hello"] != "APPLICATION" || purpose["NOTES"] != "FILE" || purpose["stdlib"] != "LIBRARY" || purpose["example.com/hello"] != "LIBRARY" {
		t.Errorf("packages %v", purpose)
	}
	if !purls["pkg:golang/example.com/hello"] { // a (devel) build without a version: no version, as syft
		t.Errorf("no purl for the main module: %v", purls)
	}
	var describes, contains int
	for _, r := range parsed.Relationships {
		switch r.Relationship {
		case "DESCRIBES":
			describes++
		case "CONTAINS":
			contains++
		}
	}
	if describes != 2 || contains != 2 {
		t.Errorf("%d DESCRIBES and %d CONTAINS relationships, want 2 and 2 (main module and stdlib)", describes, contains)
	}
}
