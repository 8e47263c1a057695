// Package e2e runs the imgsign binary end to end against real registries:
// go-containerregistry's with the referrers API and CNCF distribution without
// it. Hostile inputs are built with imgsign's own packages or a proxy in
// front of a real registry.
package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/imgsign/imgsign/internal/registry"
	"github.com/imgsign/imgsign/internal/testing/testenv"
	"github.com/imgsign/imgsign/verify"
)

const passphrase = "correct horse battery staple"

// env is one test's working directory and the imgsign binary.
type env struct {
	t   *testing.T
	dir string
	bin string
}

func newEnv(t *testing.T) *env {
	t.Helper()
	return &env{t: t, dir: t.TempDir(), bin: testenv.Imgsign(t)}
}

// run runs imgsign with the test passphrase in the environment.
func (e *env) run(args ...string) testenv.Result {
	e.t.Helper()
	return testenv.Run(e.t, e.dir, []string{"IMGSIGN_PASSWORD=" + passphrase}, e.bin, args...)
}

// withCache runs imgsign with its cache (IMGSIGN_CACHE_DIR) in cache.
func (e *env) withCache(cache string) func(args ...string) testenv.Result {
	return func(args ...string) testenv.Result {
		e.t.Helper()
		return testenv.Run(e.t, e.dir, []string{"IMGSIGN_CACHE_DIR=" + cache}, e.bin, args...)
	}
}

// expectExit fails the test unless r exited code and its output (stdout
// and stderr) contains every one of want.
func expectExit(t *testing.T, r testenv.Result, code int, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(r.Stdout+r.Stderr, w) {
			code = -1
		}
	}
	if r.Code != code {
		t.Fatalf("exit %d, want %d and %q in:\n%s%s", r.Code, code, want, r.Stdout, r.Stderr)
	}
}

// must runs imgsign and fails the test unless it exits 0.
func (e *env) must(args ...string) testenv.Result {
	e.t.Helper()
	r := e.run(args...)
	if r.Code != 0 {
		e.t.Fatalf("imgsign %s: exit %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), r.Code, r.Stdout, r.Stderr)
	}
	return r
}

// key generates a key pair NAME.key/NAME.pub of typ in the test dir.
func (e *env) key(name, typ string) string {
	e.t.Helper()
	e.must("keys", "generate", "--type", typ, "--out", name)
	return filepath.Join(e.dir, name+".key")
}

// write writes a file into the test dir and returns its path.
func (e *env) write(name, content string) string {
	e.t.Helper()
	p := filepath.Join(e.dir, name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		e.t.Fatal(err)
	}
	return p
}

// policy writes a trust policy whose single rule covers host/** and requires
// threshold signatures among keys; extra is YAML appended to the key entries
// (validity windows).
func (e *env) policy(host string, keys []string, threshold int, keyExtra map[string]string) string {
	e.t.Helper()
	var b strings.Builder
	b.WriteString("version: 1\nkeys:\n")
	for _, k := range keys {
		fmt.Fprintf(&b, "  - name: %s\n    publicKey: %s.pub\n", k, k)
		if x := keyExtra[k]; x != "" {
			b.WriteString(x)
		}
	}
	fmt.Fprintf(&b, "policies:\n  - name: test\n    scopes: [\"%s/**\"]\n    signatures:\n      keys: [%s]\n      threshold: %d\n", host, strings.Join(keys, ", "), threshold)
	return e.write("trust.yaml", b.String())
}

// verifyJSON runs verify --output json and decodes the report.
func (e *env) verifyJSON(policy string, images ...string) (*verify.Report, testenv.Result) {
	e.t.Helper()
	r := e.run(append([]string{"verify", "--policy", policy, "--output", "json"}, images...)...)
	var rep verify.Report
	if err := json.Unmarshal([]byte(r.Stdout), &rep); err != nil {
		e.t.Fatalf("verify --output json printed no report (exit %d): %v\nstdout:\n%s\nstderr:\n%s", r.Code, err, r.Stdout, r.Stderr)
	}
	checkReportSchema(e.t, r.Stdout)
	return &rep, r
}

// openRepo connects to a test repository with imgsign's registry client.
func openRepo(t *testing.T, host, repo string) *registry.Repo {
	t.Helper()
	r, err := name.NewRepository(host+"/"+repo, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	rp, err := registry.New().Open(context.Background(), r, true)
	if err != nil {
		t.Fatal(err)
	}
	return rp
}

// registries are the two kinds every signing path is tested on.
type registryKind struct {
	name  string
	start func(t *testing.T) string
}

var registries = []registryKind{
	{"referrers-api", func(t *testing.T) string { return testenv.Registry(t, true).Addr }},
	{"distribution-tag-schema", func(t *testing.T) string { return testenv.Distribution(t) }},
}

func digestRef(host, repo string, d v1.Hash) string { return host + "/" + repo + "@" + d.String() }

// editBody replaces a proxied response's body with edit's result: how the
// tests play a hostile server in front of a real one.
func editBody(resp *http.Response, edit func([]byte) []byte) error {
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return err
	}
	b = edit(b)
	resp.Body = io.NopCloser(bytes.NewReader(b))
	resp.ContentLength = int64(len(b))
	resp.Header.Set("Content-Length", strconv.Itoa(len(b)))
	return nil
}
