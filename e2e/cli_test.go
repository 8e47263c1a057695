package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/imgsign/imgsign/internal/testing/testenv"
	"github.com/imgsign/imgsign/verify"
)

// The CLI around the core: one-off checks without a policy file, errors
// that name the fix, completion, man page and version.

// verify --key is the one-key policy scoped to exactly each image's
// repository; it and --policy exclude each other.
func TestCLIVerifyKey(t *testing.T) {
	host := testenv.Registry(t, true).Addr
	e := newEnv(t)
	e.key("k", "ecdsa-p256")
	e.key("other", "ed25519")
	for _, repo := range []string{"one/app", "two/app", "one/unsigned"} {
		testenv.PushImage(t, host, repo, "v1")
	}
	e.must("sign", "--key", "k.key", host+"/one/app:v1")
	e.must("sign", "--key", "k.key", host+"/two/app:v1")
	pol := e.policy(host, []string{"k"}, 1, nil)
	pubPEM, err := os.ReadFile(filepath.Join(e.dir, "k.pub"))
	if err != nil {
		t.Fatal(err)
	}
	one, two := host+"/one/app:v1", host+"/two/app:v1"
	tests := []struct {
		name string
		args []string
		code int
		want []string
	}{
		{"signed images in two repositories", []string{"--key", "k.pub", one, two}, 0, []string{"PASS", "PASS"}},
		{"absolute key path", []string{"--key", filepath.Join(e.dir, "k.pub"), one}, 0, []string{"PASS"}},
		{"inline PEM", []string{"--key", string(pubPEM), one}, 0, []string{"PASS"}},
		{"signed by another key", []string{"--key", "other.pub", one}, 1, []string{"FAIL"}},
		{"unsigned image", []string{"--key", "k.pub", host + "/one/unsigned:v1"}, 1, []string{"FAIL"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.run(append([]string{"verify"}, tt.args...)...)
			if r.Code != tt.code {
				t.Fatalf("exit %d, want %d\n%s%s", r.Code, tt.code, r.Stdout, r.Stderr)
			}
			for _, w := range tt.want {
				if !strings.Contains(r.Stdout, w) {
					t.Errorf("stdout lacks %q:\n%s", w, r.Stdout)
				}
			}
		})
	}

	// The scope is each image's repository, exactly: no wildcard that would
	// vouch for a neighbour.
	r := e.run("verify", "--output", "json", "--key", "k.pub", one, two)
	var rep verify.Report
	if err := json.Unmarshal([]byte(r.Stdout), &rep); err != nil || r.Code != 0 {
		t.Fatalf("verify --key --output json: exit %d, %v\n%s%s", r.Code, err, r.Stdout, r.Stderr)
	}
	for i, img := range rep.Images {
		if img.Policy != "--key" || strings.Contains(img.MatchedScope, "*") || !strings.HasSuffix(img.MatchedScope, []string{"/one/app", "/two/app"}[i]) {
			t.Errorf("image %d: policy %q scope %q, want the --key rule scoped to exactly its repository", i, img.Policy, img.MatchedScope)
		}
	}

	bad := []struct {
		name string
		args []string
		want []string
	}{
		{"--key and --policy", []string{"--key", "k.pub", "--policy", pol, one}, []string{"--policy FILE or --key KEY, not both"}},
		{"neither", []string{one}, []string{"--policy FILE, or --key KEY", "imgsign verify --help"}},
		{"missing key file", []string{"--key", "nope.pub", one}, []string{"--key", "nope.pub"}},
		{"private key", []string{"--key", "k.key", one}, []string{"PRIVATE key"}},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			r := e.run(append([]string{"verify"}, tt.args...)...)
			if r.Code != 2 {
				t.Fatalf("exit %d, want 2\n%s%s", r.Code, r.Stdout, r.Stderr)
			}
			for _, w := range tt.want {
				if !strings.Contains(r.Stderr, w) {
					t.Errorf("stderr lacks %q: %s", w, r.Stderr)
				}
			}
		})
	}
}

// --policy - reads the policy from stdin; its relative key paths resolve
// against the working directory.
func TestCLIVerifyPolicyStdin(t *testing.T) {
	host := testenv.Registry(t, true).Addr
	e := newEnv(t)
	e.key("k", "ecdsa-p256")
	testenv.PushImage(t, host, "app", "v1")
	e.must("sign", "--key", "k.key", host+"/app:v1")
	doc, err := os.ReadFile(e.policy(host, []string{"k"}, 1, nil))
	if err != nil {
		t.Fatal(err)
	}
	r := runStdin(t, e.dir, nil, doc, e.bin, "verify", "--policy", "-", host+"/app:v1")
	if r.Code != 0 || !strings.HasPrefix(r.Stdout, "PASS") {
		t.Fatalf("verify --policy - : exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
	// From another directory, k.pub is not there: the policy names it
	// relative to where imgsign runs.
	sub := filepath.Join(e.dir, "elsewhere")
	if err := os.Mkdir(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	r = runStdin(t, sub, nil, doc, e.bin, "verify", "--policy", "-", host+"/app:v1")
	if r.Code != 2 || !strings.Contains(r.Stderr, "cannot read public key file k.pub") {
		t.Errorf("stdin policy run elsewhere: exit %d, want 2 naming k.pub\n%s", r.Code, r.Stderr)
	}
	r = runStdin(t, e.dir, nil, []byte("version: 1\nkeys: []\n"), e.bin, "verify", "--policy", "-", host+"/app:v1")
	if r.Code != 2 {
		t.Errorf("bad policy on stdin: exit %d, want 2\n%s", r.Code, r.Stderr)
	}
}

// An image without tag or digest says :latest was assumed, once, on
// stderr, whichever command parsed it; an explicit tag says nothing.
func TestCLILatestAssumed(t *testing.T) {
	host := testenv.Registry(t, true).Addr
	e := newEnv(t)
	e.key("k", "ecdsa-p256")
	testenv.PushImage(t, host, "app", "latest")
	img := host + "/app"
	note := `imgsign: no tag or digest in "` + img + `": using ` + img + `:latest`
	for _, args := range [][]string{
		{"sign", "--key", "k.key", img},
		{"verify", "--key", "k.pub", img},
		{"tree", img},
		{"attest", "predicate", "--key", "k.key", "--type", "https://example.com/custom/v1", "--predicate", e.write("pred.json", `{"ok":true}`), img},
		{"provenance", "--builder-id", "https://ci.example/b", "--source-repo", "https://git.example/app", img},
	} {
		r := e.run(args...)
		if r.Code != 0 {
			t.Errorf("%s: exit %d\n%s", args[0], r.Code, r.Stderr)
		}
		if n := strings.Count(r.Stderr, note); n != 1 {
			t.Errorf("%s: note %q printed %d times, want once; stderr:\n%s", args[0], note, n, r.Stderr)
		}
	}
	if r := e.must("verify", "--key", "k.pub", img+":latest"); strings.Contains(r.Stderr, "no tag or digest") {
		t.Errorf("explicit :latest still noted: %s", r.Stderr)
	}
}

// A registry that answers https with plain HTTP under a name that is not
// loopback: the error names --insecure-registry HOST:PORT and the variable.
// A CONNECT proxy plays the registry, so no name has to resolve.
func TestCLIPlainHTTPRegistryHint(t *testing.T) {
	proxy := plainHTTPBehindConnect(t)
	e := newEnv(t)
	r := testenv.Run(t, e.dir, []string{"HTTPS_PROXY=http://" + proxy}, e.bin, "tree", "registry.internal.example:5000/app:v1")
	if r.Code != 2 {
		t.Fatalf("exit %d, want 2\n%s", r.Code, r.Stderr)
	}
	for _, w := range []string{"registry registry.internal.example:5000 answered over plain HTTP", "--insecure-registry registry.internal.example:5000", "IMGSIGN_INSECURE_REGISTRIES"} {
		if !strings.Contains(r.Stderr, w) {
			t.Errorf("stderr lacks %q: %s", w, r.Stderr)
		}
	}
}

// plainHTTPBehindConnect is an HTTP proxy on loopback whose every CONNECT
// tunnel ends at a server speaking plain HTTP, as a registry without TLS does.
func plainHTTPBehindConnect(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func(c net.Conn) {
				defer c.Close()
				_ = c.SetDeadline(time.Now().Add(10 * time.Second))
				br := bufio.NewReader(c)
				req, err := http.ReadRequest(br)
				if err != nil || req.Method != http.MethodConnect {
					return
				}
				io.WriteString(c, "HTTP/1.1 200 Connection established\r\n\r\n")
				buf := make([]byte, 512)
				if _, err := br.Read(buf); err != nil { // the TLS ClientHello
					return
				}
				io.WriteString(c, "HTTP/1.0 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
			}(c)
		}
	}()
	return ln.Addr().String()
}

// IMGSIGN_PASSWORD set but empty (a CI secret that is missing) is named;
// COSIGN_PASSWORD is read when IMGSIGN_PASSWORD is unset.
func TestCLIPassphraseVariables(t *testing.T) {
	host := testenv.Registry(t, true).Addr
	e := newEnv(t)
	e.key("k", "ecdsa-p256") // encrypted with passphrase
	testenv.PushImage(t, host, "app", "v1")
	img := host + "/app:v1"
	tests := []struct {
		name string
		env  []string
		code int
		want string
	}{
		{"IMGSIGN_PASSWORD empty", []string{"IMGSIGN_PASSWORD="}, 2, "IMGSIGN_PASSWORD is set but empty (a missing CI secret?)"},
		{"COSIGN_PASSWORD empty", []string{"COSIGN_PASSWORD="}, 2, "COSIGN_PASSWORD is set but empty"},
		{"COSIGN_PASSWORD when IMGSIGN_PASSWORD is unset", []string{"COSIGN_PASSWORD=" + passphrase}, 0, ""},
		{"IMGSIGN_PASSWORD wins", []string{"IMGSIGN_PASSWORD=" + passphrase, "COSIGN_PASSWORD=wrong"}, 0, ""},
		{"neither, no terminal", nil, 2, "set IMGSIGN_PASSWORD"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := testenv.Run(t, e.dir, tt.env, e.bin, "sign", "--key", "k.key", img)
			if r.Code != tt.code || !strings.Contains(r.Stderr, tt.want) {
				t.Errorf("exit %d, want %d with %q\n%s", r.Code, tt.code, tt.want, r.Stderr)
			}
		})
	}
}

// attest provenance outside CI lists every flag it needs in one message,
// before any registry is asked.
func TestCLIProvenanceOutsideCI(t *testing.T) {
	e := newEnv(t)
	e.key("k", "ecdsa-p256")
	// Nothing listens on port 1: reaching the registry would be exit 3.
	for _, args := range [][]string{
		{"attest", "provenance", "--key", "k.key", "127.0.0.1:1/app:v1"},
		{"provenance", "127.0.0.1:1/app:v1"},
	} {
		r := e.run(args...)
		if r.Code != 2 {
			t.Fatalf("%v: exit %d, want 2\n%s", args, r.Code, r.Stderr)
		}
		for _, w := range []string{"outside GitHub Actions and GitLab CI", "--builder-id", "--source-repo", "--source-commit", "--source-ref", "--buildkit-metadata", "--from-image"} {
			if !strings.Contains(r.Stderr, w) {
				t.Errorf("%v: stderr lacks %q: %s", args, w, r.Stderr)
			}
		}
		if strings.Count(r.Stderr, "\n") != 1 {
			t.Errorf("%v: want one message line, got %q", args, r.Stderr)
		}
	}
}

// Unknown commands and flags suggest the nearest one and point to --help.
func TestCLIUnknownCommandsAndFlags(t *testing.T) {
	e := newEnv(t)
	for _, tt := range []struct {
		args []string
		want []string
	}{
		{[]string{"sgin", "app:1"}, []string{`did you mean "imgsign sign"?`, "(see imgsign --help)"}},
		{[]string{"keys", "genrate"}, []string{`did you mean "imgsign keys generate"?`, "(see imgsign keys --help)"}},
		{[]string{"verfy", "--policy", "p", "app:1"}, []string{`did you mean "imgsign verify"?`}},
		{[]string{"sign", "app:1", "--kye", "k"}, []string{"did you mean --key?", "(see imgsign sign --help)"}},
		{[]string{"verify", "--key", "k.pub", "app:1", "--outptu", "json"}, []string{"did you mean --output?", "(see imgsign verify --help)"}},
	} {
		r := e.run(tt.args...)
		if r.Code != 2 {
			t.Errorf("%v: exit %d, want 2: %s", tt.args, r.Code, r.Stderr)
		}
		for _, w := range tt.want {
			if !strings.Contains(r.Stderr, w) {
				t.Errorf("%v: stderr lacks %q: %s", tt.args, w, r.Stderr)
			}
		}
	}
	if r := e.run("help", "sign"); r.Code != 0 || !strings.Contains(r.Stdout, "imgsign sign") {
		t.Errorf("imgsign help sign: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
}

// Shell completion: bash's script completes commands, subcommands and
// flags by asking the binary; zsh's and fish's are well formed.
func TestCLICompletion(t *testing.T) {
	e := newEnv(t)
	for _, sh := range []string{"bash", "zsh", "fish"} {
		r := e.run("completion", sh)
		if r.Code != 0 || !strings.Contains(r.Stdout, "imgsign") {
			t.Errorf("completion %s: exit %d\n%s", sh, r.Code, r.Stderr)
		}
	}
	if r := e.run("completion", "powershell"); r.Code != 2 || !strings.Contains(r.Stderr, "bash, zsh or fish") {
		t.Errorf("completion powershell: exit %d %s", r.Code, r.Stderr)
	}
	fish := e.run("completion", "fish").Stdout
	for _, c := range []string{"sign", "verify", "attest", "keys", "tree", "policy", "completion"} {
		if !strings.Contains(fish, "-a '"+c+"'") {
			t.Errorf("fish completion lacks command %s", c)
		}
	}
	bash, err := exec.LookPath("bash")
	if err != nil {
		testenv.Missing(t, "bash not installed: bash completion not run")
		return
	}
	script := e.write("imgsign.bash", e.run("completion", "bash").Stdout)
	for _, tt := range []struct {
		words string
		want  string
	}{
		{"imgsign ver", "verify verify-blob version"},
		{"imgsign keys ge", "generate"},
		{"imgsign sign --ke", "--key --keyless"},
		{"imgsign verify --pol", "--policy"},
	} {
		words := strings.Fields(tt.words)
		cmd := exec.Command(bash, "--norc", "-c", `source "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _imgsign_bash_autocomplete; echo "${COMPREPLY[*]}"`, "bash", script)
		cmd.Args = append(cmd.Args, words...)
		cmd.Env = []string{"PATH=" + filepath.Dir(e.bin) + ":" + os.Getenv("PATH"), "HOME=" + e.dir}
		out, err := cmd.CombinedOutput()
		if err != nil || strings.TrimSpace(string(out)) != tt.want {
			t.Errorf("completing %q: %q, %v; want %q", tt.words, out, err, tt.want)
		}
	}
}

// zsh's and fish's scripts parse, and fish's completes (make test installs
// both shells through tools/system-deps.sh; without them this is a recorded
// skip, or a failure in CI).
func TestCLICompletionZshFish(t *testing.T) {
	t.Run("zsh", func(t *testing.T) {
		zsh, err := exec.LookPath("zsh")
		if err != nil {
			testenv.Missing(t, "zsh is not installed, its completion script is not parsed: apt-get install zsh")
		}
		e := newEnv(t)
		script := e.write("_imgsign", e.run("completion", "zsh").Stdout)
		if out, err := exec.Command(zsh, "-n", script).CombinedOutput(); err != nil {
			t.Errorf("zsh -n: %v\n%s", err, out)
		}
	})
	t.Run("fish", func(t *testing.T) {
		fish, err := exec.LookPath("fish")
		if err != nil {
			testenv.Missing(t, "fish is not installed, its completion is not run: apt-get install fish")
		}
		e := newEnv(t)
		script := e.write("imgsign.fish", e.run("completion", "fish").Stdout)
		cmd := exec.Command(fish, "--no-config", "-c", `source $argv[1]; complete -C "imgsign keys ge"; complete -C "imgsign sign --ke"`, script)
		cmd.Env = []string{"PATH=" + filepath.Dir(e.bin) + ":" + os.Getenv("PATH"), "HOME=" + e.dir}
		out, err := cmd.CombinedOutput()
		if err != nil || !strings.Contains(string(out), "generate\t") || !strings.Contains(string(out), "--key\t") {
			t.Errorf("fish completion: %v\n%s", err, out)
		}
	})
}

// The man page is generated from the CLI definitions and names every
// command; the committed docs/man/imgsign.1 is that page.
func TestCLIManPage(t *testing.T) {
	e := newEnv(t)
	r := e.run("man")
	if r.Code != 0 || !strings.Contains(r.Stdout, ".TH imgsign 1") {
		t.Fatalf("imgsign man: exit %d\n%s", r.Code, r.Stderr)
	}
	help := e.run("--help").Stdout
	// Every command the help lists.
	cmds := regexp.MustCompile(`(?m)^   ([a-z][a-z-]*)(?:, [a-z]+)?  `).FindAllStringSubmatch(help, -1)
	if len(cmds) < 10 {
		t.Fatalf("found only %d commands in --help:\n%s", len(cmds), help)
	}
	committed, err := os.ReadFile(filepath.Join(moduleRoot(t), "docs", "man", "imgsign.1"))
	if err != nil {
		t.Fatalf("docs/man/imgsign.1: %v (run make man)", err)
	}
	for _, c := range cmds {
		if !strings.Contains(r.Stdout, ".SH "+c[1]+"\n") {
			t.Errorf("generated man page lacks command %s", c[1])
		}
		if !strings.Contains(string(committed), ".SH "+c[1]+"\n") {
			t.Errorf("docs/man/imgsign.1 lacks command %s: run make man", c[1])
		}
	}
}

// imgsign version: the -ldflags value when make sets one, and the VCS
// revision the Go toolchain recorded (cmd/imgsign's unit tests cover the
// module version `go install …@v1.2.3` records).
func TestCLIVersion(t *testing.T) {
	e := newEnv(t)
	if r := e.must("version"); !strings.HasPrefix(r.Stdout, "imgsign ") {
		t.Errorf("version %q", r.Stdout)
	}
	head, err := exec.Command("git", "-C", moduleRoot(t), "rev-parse", "HEAD").Output()
	if err != nil {
		testenv.Missing(t, "git rev-parse HEAD: %v", err)
		return
	}
	bin := filepath.Join(t.TempDir(), "imgsign")
	build := exec.Command("go", "build", "-buildvcs=true", "-ldflags", "-X main.version=v9.8.7", "-o", bin, "./cmd/imgsign")
	build.Dir = moduleRoot(t)
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	r := testenv.Run(t, e.dir, nil, bin, "version")
	want := regexp.MustCompile(`^imgsign v9\.8\.7\ncommit [0-9a-f]{40}(-dirty)?\n$`)
	if !want.MatchString(r.Stdout) {
		t.Errorf("version with -ldflags and VCS info: %q", r.Stdout)
	}
	// Others may commit while this runs: the revision is HEAD or older.
	if rev := strings.TrimSpace(string(head)); !strings.Contains(r.Stdout, "commit "+rev) {
		if err := exec.Command("git", "-C", moduleRoot(t), "merge-base", "--is-ancestor", strings.Fields(r.Stdout)[3][:40], rev).Run(); err != nil {
			t.Errorf("version names a commit that is not in this checkout's history: %q", r.Stdout)
		}
	}
	if r := testenv.Run(t, e.dir, nil, bin, "--version"); !strings.Contains(r.Stdout, "v9.8.7") {
		t.Errorf("--version: %q", r.Stdout)
	}
}

// moduleRoot is the repository root (e2e's parent).
func moduleRoot(t *testing.T) string {
	t.Helper()
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Dir(wd)
}

// runStdin is testenv.Run with stdin.
func runStdin(t *testing.T, dir string, env []string, stdin []byte, bin string, args ...string) testenv.Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Dir = dir
	cmd.Env = append([]string{"HOME=" + dir, "PATH=" + os.Getenv("PATH"), "DOCKER_CONFIG=" + filepath.Join(dir, ".docker"), "IMGSIGN_PASSWORD=" + passphrase}, env...)
	cmd.Stdin = bytes.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	res := testenv.Result{Stdout: stdout.String(), Stderr: stderr.String()}
	if ee, ok := err.(*exec.ExitError); ok {
		res.Code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return res
}
