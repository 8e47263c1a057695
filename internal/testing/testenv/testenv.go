// Package testenv starts the real components imgsign's tests run against —
// registries with and without the referrers API, the imgsign binary itself,
// pinned tools such as cosign — and stops them when the test ends. A missing
// tool skips a test locally (recorded for make test's summary of skips) but
// fails it when CI=true.
package testenv

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/imgsign/imgsign/internal/devregistry"
)

// CI reports whether tests run in CI, where missing components are failures.
func CI() bool { return os.Getenv("CI") == "true" }

// Missing skips t locally, or fails it in CI, for a component that is absent;
// the message says what is missing and how to get it. A skip is never
// silent: with IMGSIGN_SKIP_LOG set (make test sets it) it is also recorded
// there, and make test lists every recorded skip in one summary at the end.
func Missing(t testing.TB, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if CI() {
		t.Fatal(msg)
	}
	recordSkip(t, msg)
	t.Skip(msg)
}

// recordSkip appends "package TestName<TAB>reason" to $IMGSIGN_SKIP_LOG.
// Test binaries of several packages run at once: each record is one
// O_APPEND write, so records do not interleave.
func recordSkip(t testing.TB, msg string) {
	path := os.Getenv("IMGSIGN_SKIP_LOG")
	if path == "" {
		return
	}
	pkg, _ := os.Getwd()
	if rel, err := filepath.Rel(moduleRoot(), pkg); err == nil {
		pkg = filepath.ToSlash(rel)
	}
	line := fmt.Sprintf("%s %s\t%s\n", pkg, t.Name(), strings.Join(strings.Fields(msg), " "))
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		t.Logf("recording the skip in %s: %v", path, err)
		return
	}
	defer f.Close()
	if _, err := f.Write([]byte(line)); err != nil {
		t.Logf("recording the skip in %s: %v", path, err)
	}
}

// moduleRoot is the directory of imgsign's go.mod.
func moduleRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "..")
}

// ToolsBin is where tools/build.sh links the pinned tools.
func ToolsBin() string {
	if d := os.Getenv("IMGSIGN_TOOLS_DIR"); d != "" {
		return filepath.Join(d, "bin")
	}
	cache := os.Getenv("XDG_CACHE_HOME")
	if cache == "" {
		home, _ := os.UserHomeDir()
		cache = filepath.Join(home, ".cache")
	}
	return filepath.Join(cache, "imgsign-tools", "bin")
}

// Tool returns the path of a pinned tool, or skips/fails t if it is missing.
func Tool(t testing.TB, name string) string {
	t.Helper()
	p := filepath.Join(ToolsBin(), name)
	if _, err := os.Stat(p); err != nil {
		Missing(t, "%s not found at %s (run `make tools`)", name, p)
	}
	return p
}

var (
	buildOnce sync.Once
	binDir    string
	binPath   string
	buildErr  error
)

// RemoveBuilt deletes the binary Imgsign built, if any: a package's
// TestMain calls it after m.Run, so runs leave nothing in the temp dir.
func RemoveBuilt() {
	if binDir != "" {
		_ = os.RemoveAll(binDir)
	}
}

// Imgsign builds the imgsign binary once per test process and returns it;
// the package's TestMain removes it with RemoveBuilt.
func Imgsign(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "imgsign-bin-")
		if err != nil {
			buildErr = err
			return
		}
		binDir, binPath = dir, filepath.Join(dir, "imgsign")
		cmd := exec.Command("go", "build", "-o", binPath, "./cmd/imgsign")
		cmd.Dir = moduleRoot()
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("building imgsign: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// Result is one finished command.
type Result struct {
	Stdout, Stderr string
	Code           int
}

// Run runs bin with args in dir and env (added to a minimal environment).
func Run(t testing.TB, dir string, env []string, bin string, args ...string) Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Dir = dir
	cmd.Env = append([]string{"HOME=" + dir, "PATH=" + os.Getenv("PATH"), "DOCKER_CONFIG=" + filepath.Join(dir, ".docker")}, env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	res := Result{Stdout: stdout.String(), Stderr: stderr.String()}
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		res.Code = ee.ExitCode()
	case err != nil:
		t.Fatalf("running %s %v: %v", bin, args, err)
	}
	if strings.Contains(res.Stderr, "panic:") || strings.Contains(res.Stderr, "goroutine ") {
		t.Fatalf("%s %v panicked:\n%s", filepath.Base(bin), args, res.Stderr)
	}
	return res
}

// Registry starts go-containerregistry's registry on loopback with the
// referrers API on or off and returns it; it stops when t ends.
func Registry(t testing.TB, referrers bool) *devregistry.Server {
	t.Helper()
	s, err := devregistry.Start("127.0.0.1:0", referrers)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// Distribution starts the CNCF distribution registry (no referrers API) on
// loopback with filesystem storage in a temp dir and returns host:port.
func Distribution(t testing.TB) string {
	t.Helper()
	bin := Tool(t, "registry")
	dir := t.TempDir()
	addr := FreeAddr(t)
	cfg := fmt.Sprintf(`version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: %s
  delete:
    enabled: true
http:
  addr: %s
`, filepath.Join(dir, "data"), addr)
	cfgPath := filepath.Join(dir, "config.yml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "serve", cfgPath)
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	cmd.Env = append(os.Environ(), "OTEL_TRACES_EXPORTER=none", "OTEL_SDK_DISABLED=true")
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting distribution registry: %v", err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	WaitHTTP(t, "http://"+addr+"/v2/", func() string { return logs.String() })
	return addr
}

// FreeAddr returns a loopback address with a port free right now.
func FreeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// WaitHTTP waits until url answers, failing t with the server's logs if it
// never does.
func WaitHTTP(t testing.TB, url string, logs func() string) {
	t.Helper()
	if err := waitHTTP(url); err != nil {
		t.Fatalf("%v; logs:\n%s", err, logs())
	}
}

func waitHTTP(url string) error {
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("%s did not come up in 30 s", url)
}

// PushImage pushes a small random single-platform image to host/repo:tag and
// returns its digest.
func PushImage(t testing.TB, host, repo, tag string) v1.Hash {
	t.Helper()
	return PushImageWithConfig(t, host, repo, tag, nil)
}

// PushImageWithConfig pushes a small random image whose config edit
// changed (user, env, labels; nil leaves it) and returns its digest.
func PushImageWithConfig(t testing.TB, host, repo, tag string, edit func(*v1.ConfigFile)) v1.Hash {
	t.Helper()
	img, err := random.Image(512, 1)
	if err != nil {
		t.Fatal(err)
	}
	if edit != nil {
		cfg, err := img.ConfigFile()
		if err != nil {
			t.Fatal(err)
		}
		cfg = cfg.DeepCopy()
		edit(cfg)
		if img, err = mutate.ConfigFile(img, cfg); err != nil {
			t.Fatal(err)
		}
	}
	ref, err := name.ParseReference(host+"/"+repo+":"+tag, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref, img); err != nil {
		t.Fatalf("pushing %s: %v", ref, err)
	}
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// PushIndex pushes a two-platform index and returns its digest and the
// platform manifests' digests.
func PushIndex(t testing.TB, host, repo, tag string) (v1.Hash, []v1.Hash) {
	t.Helper()
	idx, err := random.Index(256, 1, 2)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := name.ParseReference(host+"/"+repo+":"+tag, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.WriteIndex(ref, idx); err != nil {
		t.Fatalf("pushing %s: %v", ref, err)
	}
	d, _ := idx.Digest()
	im, _ := idx.IndexManifest()
	var children []v1.Hash
	for _, m := range im.Manifests {
		children = append(children, m.Digest)
	}
	return d, children
}

// TSA starts sigstore's timestamp authority (tools/tsa, in-process in its own
// binary, loopback only) and returns its timestamp endpoint URL and the path
// of its PEM certificate chain (leaf first, root last).
func TSA(t testing.TB) (url, chainPath string) {
	t.Helper()
	tsa, err := LaunchTSA(Tool(t, "imgsign-tsa"), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tsa.Stop)
	return tsa.URL, tsa.ChainPath
}

// A LocalTSA is the timestamp authority LaunchTSA started.
type LocalTSA struct {
	URL       string // the RFC 3161 endpoint
	ChainPath string // its PEM certificate chain, leaf first
	*Server
}

// LaunchTSA is TSA for a program outside tests (the demo's local Sigstore):
// bin is imgsign-tsa, dir a directory for its address and chain.
func LaunchTSA(bin, dir string) (*LocalTSA, error) {
	srv, err := Launch(bin, nil, dir)
	if err != nil {
		return nil, fmt.Errorf("starting the timestamp authority: %w", err)
	}
	base := "http://" + srv.Addr
	chain, err := srv.Get(base+"/ping", base+"/api/v1/timestamp/certchain")
	if err != nil {
		srv.Stop()
		return nil, fmt.Errorf("fetching the TSA chain: %w", err)
	}
	chainPath := filepath.Join(dir, "tsa-chain.pem")
	if err := os.WriteFile(chainPath, chain, 0o644); err != nil {
		srv.Stop()
		return nil, err
	}
	return &LocalTSA{URL: base + "/api/v1/timestamp", ChainPath: chainPath, Server: srv}, nil
}

// A Server is a loopback server program Launch started.
type Server struct {
	Addr string // host:port it listens on
	cmd  *exec.Cmd
	logs *LockedBuffer
}

// Launch starts bin with args plus `-addr-file FILE` (FILE in dir) and
// waits until the program has written the address it listens on there,
// as tools/tsa and tools/fulcio do.
func Launch(bin string, args []string, dir string) (*Server, error) {
	addrFile := filepath.Join(dir, "addr")
	s := &Server{logs: &LockedBuffer{}}
	s.cmd = exec.Command(bin, append(append([]string(nil), args...), "-addr-file", addrFile)...)
	s.cmd.Stdout, s.cmd.Stderr = s.logs, s.logs
	if err := s.cmd.Start(); err != nil {
		return nil, err
	}
	for range 1500 {
		if b, err := os.ReadFile(addrFile); err == nil && len(b) > 0 {
			s.Addr = string(b)
			return s, nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	s.Stop()
	return nil, fmt.Errorf("%s did not start in 30 s:\n%s", filepath.Base(bin), s.logs.String())
}

// Logs is what the program printed so far.
func (s *Server) Logs() string { return s.logs.String() }

// Stop kills the program and waits for it.
func (s *Server) Stop() {
	_ = s.cmd.Process.Kill()
	_ = s.cmd.Wait()
}

// Get waits until health answers, then returns the body of url.
func (s *Server) Get(health, url string) ([]byte, error) {
	if err := waitHTTP(health); err != nil {
		return nil, fmt.Errorf("%w; logs:\n%s", err, s.Logs())
	}
	resp, err := http.Get(url)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: status %d: %s", url, resp.StatusCode, body)
	}
	return body, nil
}

// RunWithOwnCache runs a package's tests with imgsign's cache directory
// (IMGSIGN_CACHE_DIR) in a fresh temporary directory, removed after: a
// trust root the developer refreshed with `imgsign trust-root update`
// must not change what the tests see. A TestMain calls it as
// os.Exit(testenv.RunWithOwnCache(m)).
func RunWithOwnCache(m *testing.M) int {
	dir, err := os.MkdirTemp("", "imgsign-test-cache-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "testenv:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	os.Setenv("IMGSIGN_CACHE_DIR", dir)
	return m.Run()
}
