package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/imgsign/imgsign/internal/testing/actionharness"
)

// actRoot is the repository root: the action's directory (action.yml).
func actRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	return root
}

var (
	actGoEnvOnce sync.Once
	actGoEnvVals map[string]string
	actGoEnvErr  error
)

// actGoEnv is the Go configuration the action's `go build` step needs on
// this machine (the build cache is shared with testenv.Imgsign's build;
// GOENV carries settings such as GOFLAGS=-buildvcs=false).
func actGoEnv(t *testing.T) map[string]string {
	t.Helper()
	actGoEnvOnce.Do(func() {
		names := []string{"GOCACHE", "GOMODCACHE", "GOPATH", "GOENV", "GOFLAGS", "GOTOOLCHAIN", "GOPROXY", "GOSUMDB", "GONOSUMDB", "GOPRIVATE"}
		out, err := exec.Command("go", append([]string{"env", "-json"}, names...)...).Output()
		if err != nil {
			actGoEnvErr = fmt.Errorf("go env: %v", err)
			return
		}
		actGoEnvVals = map[string]string{}
		actGoEnvErr = json.Unmarshal(out, &actGoEnvVals)
	})
	if actGoEnvErr != nil {
		t.Fatal(actGoEnvErr)
	}
	env := map[string]string{}
	for k, v := range actGoEnvVals {
		if v != "" {
			env[k] = v
		}
	}
	return env
}

// newActRunner returns a harness runner whose RUNNER_TEMP is temp (shared
// by the steps of one simulated job, so imgsign is built once) and whose
// workspace is a fresh directory unless given.
func newActRunner(t *testing.T, temp, workspace string) *actionharness.Runner {
	t.Helper()
	home := t.TempDir()
	env := map[string]string{
		"PATH":          os.Getenv("PATH"),
		"HOME":          home,
		"DOCKER_CONFIG": filepath.Join(home, ".docker"),
		"LANG":          "C.UTF-8",
	}
	for k, v := range actGoEnv(t) {
		env[k] = v
	}
	if workspace == "" {
		workspace = t.TempDir()
	}
	// The example workflows use imgsign/imgsign@v1, as a user's would:
	// that is this checkout.
	return &actionharness.Runner{Workspace: workspace, Temp: temp, Env: env, LocalActions: actRoot(t),
		Actions: map[string]string{"imgsign/imgsign": actRoot(t)}}
}

func actContext(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// runAct runs action.yml through the harness with inputs.
func runAct(t *testing.T, r *actionharness.Runner, inputs map[string]string) *actionharness.Result {
	t.Helper()
	res, err := r.RunAction(actContext(t), actRoot(t), inputs, nil)
	if err != nil {
		t.Fatalf("harness: %v", err)
	}
	return res
}

// runActJob runs one job of a workflow file through the harness.
func runActJob(t *testing.T, r *actionharness.Runner, file, job string, opts actionharness.JobOptions) *actionharness.Result {
	t.Helper()
	wf, err := actionharness.LoadWorkflow(filepath.Join(actRoot(t), file))
	if err != nil {
		t.Fatal(err)
	}
	res, err := r.RunJob(actContext(t), wf, job, opts)
	if err != nil {
		t.Fatalf("harness: %v", err)
	}
	return res
}

func actMustSucceed(t *testing.T, res *actionharness.Result) {
	t.Helper()
	if res.Failed() {
		t.Fatalf("failed; annotations %+v\nlog:\n%s", res.Annotations, res.Log)
	}
}

func actMustFail(t *testing.T, res *actionharness.Result) {
	t.Helper()
	if !res.Failed() {
		t.Fatalf("succeeded; want a failure\nlog:\n%s", res.Log)
	}
}

// actAttachment is one entry of `imgsign tree --output json`.
type actAttachment struct {
	Referrer      string `json:"referrer"`
	PredicateType string `json:"predicateType"`
	KeyID         string `json:"keyId"`
}

// actTree lists what is attached to ref, by referrer digest.
func actTree(t *testing.T, e *env, ref string) map[string]actAttachment {
	t.Helper()
	r := e.must("tree", "--output", "json", ref)
	var doc struct {
		Attachments []actAttachment `json:"attachments"`
	}
	if err := json.Unmarshal([]byte(r.Stdout), &doc); err != nil {
		t.Fatalf("tree --output json: %v\n%s", err, r.Stdout)
	}
	out := map[string]actAttachment{}
	for _, a := range doc.Attachments {
		out[a.Referrer] = a
	}
	return out
}

// actKey generates an encrypted key pair NAME.key/.pub in e's directory
// and returns the private key's PEM and the key id.
func actKey(t *testing.T, e *env, name string) (pem, keyID string) {
	t.Helper()
	path := e.key(name, "ecdsa-p256")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	id := strings.TrimSpace(e.must("keys", "id", "--key", name+".pub").Stdout)
	return string(b), id
}

// actMetadata is a buildx metadata file (from
// testdata/provenance/buildkit-v02.metadata.json) describing image:tags
// pushed with digest.
func actMetadata(t *testing.T, image, digest string, tags ...string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "testdata", "provenance", "buildkit-v02.metadata.json"))
	if err != nil {
		t.Fatal(err)
	}
	const fixtureDigest = "sha256:d30dbfbfb8a23581a44fef728b66a6fa29e5cfa346420b144d46cb554b4e119f"
	s := string(b)
	if !strings.Contains(s, `"containerimage.digest": "`+fixtureDigest+`"`) {
		t.Fatalf("the metadata fixture changed: no containerimage.digest %s", fixtureDigest)
	}
	var names []string
	for _, tag := range tags {
		names = append(names, image+":"+tag)
	}
	s = strings.ReplaceAll(s, fixtureDigest, digest)
	s = strings.ReplaceAll(s, `"image.name": "ghcr.io/acme/app:1.4.2"`, `"image.name": "`+strings.Join(names, ",")+`"`)
	return s
}

// actStub writes an executable script NAME into dir.
func actStub(t *testing.T, dir, name, script string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name), []byte("#!/bin/sh\nset -eu\n"+script), 0o755); err != nil {
		t.Fatal(err)
	}
}

func actWrite(t *testing.T, path, content string) string {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// actAnnotated reports whether an ::error annotation contains want.
func actAnnotated(res *actionharness.Result, want string) bool {
	for _, a := range res.Annotations {
		if a.Level == "error" && strings.Contains(a.Message, want) {
			return true
		}
	}
	return false
}

// actCopyPub copies NAME.pub from e's directory into dir.
func actCopyPub(t *testing.T, e *env, name, dir string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(e.dir, name+".pub"))
	if err != nil {
		t.Fatal(err)
	}
	actWrite(t, filepath.Join(dir, name+".pub"), string(b))
}

// actPathWithoutGo is PATH without the directories holding a go command:
// a runner with no Go installed.
func actPathWithoutGo(t *testing.T) string {
	t.Helper()
	var keep []string
	for _, dir := range filepath.SplitList(os.Getenv("PATH")) {
		if _, err := os.Stat(filepath.Join(dir, "go")); err == nil {
			continue
		}
		keep = append(keep, dir)
	}
	return strings.Join(keep, string(os.PathListSeparator))
}
