// Package layering holds the test that keeps imgsign's package graph the
// shape CONTRIBUTING.md draws: commands on top, the statement model and the
// storage interfaces beneath them, test support imported by tests only.
package layering

import (
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

const module = "github.com/imgsign/imgsign/"

// rules: a package (prefix match, module-relative) must not import any
// package matching the listed prefixes.
var rules = []struct {
	pkg, why string
	never    []string
}{
	{"statement", "the statement model is beneath every command", []string{"sign", "attest", "verify", "dct", "keys", "storage", "internal/registry", "cmd"}},
	{"storage", "the storage interfaces are beneath every command and every store", []string{"sign", "attest", "verify", "dct", "keys", "statement", "internal/registry", "cmd"}},
	{"verify", "verification reads statements, never the code that writes them", []string{"sign", "attest", "dct", "cmd"}},
	{"sign", "signing knows nothing of attestation runs or verification", []string{"attest", "verify", "dct", "cmd"}},
	{"attest", "attesting does not verify", []string{"verify", "dct", "cmd"}},
	{"keys", "keys are beneath the commands that use them", []string{"sign", "attest", "verify", "dct", "cmd"}},
	{"internal/registry", "the registry implements storage and knows no command", []string{"sign", "attest", "verify", "dct", "keys", "cmd"}},
	{"internal/ocilayout", "layouts implement storage beside registries: they know no command and no registry", []string{"sign", "attest", "verify", "dct", "keys", "transfer", "internal/registry", "cmd"}},
	{"internal/attachment", "the referrer format knows no command", []string{"sign", "attest", "verify", "dct", "keys", "cmd"}},
	{"admission", "the admission protocols know verdicts, not how they are reached", []string{"verify", "serve", "storage", "internal/registry", "sign", "attest", "dct", "keys", "statement", "cmd"}},
	{"serve", "serve judges through verify and writes nothing", []string{"sign", "attest", "dct", "cmd"}},
	{"transfer", "a copy moves bytes; it neither signs nor judges", []string{"sign", "attest", "verify", "dct", "keys", "serve", "cmd"}},
	{"verify", "verification knows nothing of who asks", []string{"serve", "admission"}},
}

// product is every package that ships: none may import test support.
func product(p string) bool {
	return !strings.HasPrefix(p, "internal/testing") && !strings.HasPrefix(p, "e2e") && !strings.HasPrefix(p, "internal/layering")
}

func TestLayering(t *testing.T) {
	_, file, _, _ := runtime.Caller(0)
	cmd := exec.Command("go", "list", "-f", `{{.ImportPath}}{{range .Imports}} {{.}}{{end}}`, "./...")
	cmd.Dir = filepath.Join(filepath.Dir(file), "..", "..")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		pkg := strings.TrimPrefix(f[0], module)
		for _, imp := range f[1:] {
			if imp == "github.com/google/go-containerregistry/pkg/v1/remote" && pkg != "internal/registry" && product(pkg) && !strings.HasPrefix(pkg, "internal/cmd/") && !strings.HasPrefix(pkg, "bench/") {
				t.Errorf("%s reads registries through go-containerregistry's remote: go through storage (internal/registry implements it)", pkg)
			}
			if !strings.HasPrefix(imp, module) {
				continue
			}
			imp = strings.TrimPrefix(imp, module)
			if product(pkg) && strings.HasPrefix(imp, "internal/testing") {
				t.Errorf("%s imports test support %s", pkg, imp)
			}
			for _, r := range rules {
				if pkg != r.pkg && !strings.HasPrefix(pkg, r.pkg+"/") {
					continue
				}
				for _, n := range r.never {
					if imp == n || strings.HasPrefix(imp, n+"/") {
						t.Errorf("%s imports %s: %s", pkg, imp, r.why)
					}
				}
			}
		}
	}
}
