// Package kubeenv runs a real Kubernetes control plane — etcd and
// kube-apiserver, the versions tools/build.sh pins — on loopback for the
// admission tests, and OPA Gatekeeper out of cluster against it
// (StartGatekeeper). There is no controller manager, scheduler or kubelet:
// objects are stored and admitted but nothing reconciles them (Deployments
// make no Pods, Pods stay Pending, deleted namespaces stay Terminating).
//
// One control plane serves a whole test binary: the first Start starts it
// and later ones share it. The package's TestMain stops it after the tests:
//
//	func TestMain(m *testing.M) {
//		code := m.Run()
//		kubeenv.Stop()
//		os.Exit(code)
//	}
//
// Without Stop the processes still die with the test binary (they are
// started with a parent-death signal on Linux) but their temporary
// directory stays. Start skips under -short; a missing etcd or
// kube-apiserver skips locally and fails with CI=true (testenv.Tool).
package kubeenv

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"

	"github.com/imgsign/imgsign/internal/testing/testenv"
)

// Env is the running control plane. Every client authenticates as an
// administrator (a static token in group system:masters; authorization
// is RBAC).
type Env struct {
	// Config reaches the API server (QPS/Burst raised so client-go does
	// not throttle the tests).
	Config *rest.Config
	Client kubernetes.Interface
	// Dynamic and Mapper serve untyped objects (CRDs, Gatekeeper's kinds).
	Dynamic dynamic.Interface
	Mapper  *restmapper.DeferredDiscoveryRESTMapper
	// Host is the API server's URL, https://127.0.0.1:PORT.
	Host string
	// CAPEM verifies the API server's serving certificate (self-signed by
	// kube-apiserver into its --cert-dir).
	CAPEM []byte
	// Token is the administrator's bearer token.
	Token string
	// Kubeconfig is a kubeconfig file for external tools (kubectl,
	// Gatekeeper) with the same credentials.
	Kubeconfig string
	// Dir holds the control plane's data, certificates and logs
	// (etcd.log, kube-apiserver.log); removed by Stop.
	Dir string

	procs []*proc
}

var (
	mu       sync.Mutex
	current  *Env
	startErr error
	started  bool
	stopped  bool
)

// Start returns the test binary's control plane, starting it on the first
// call (a few seconds). It skips under -short.
func Start(t testing.TB) *Env {
	t.Helper()
	if testing.Short() {
		t.Skip("kubeenv: starts etcd and kube-apiserver (skipped with -short)")
	}
	etcd := testenv.Tool(t, "etcd")
	apiserver := testenv.Tool(t, "kube-apiserver")
	mu.Lock()
	defer mu.Unlock()
	if stopped {
		t.Fatal("kubeenv: Start after Stop")
	}
	if !started {
		started = true
		current, startErr = start(etcd, apiserver)
	}
	if startErr != nil {
		t.Fatal(startErr)
	}
	env := current
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("kubeenv: last lines of kube-apiserver's log:\n%s", tail(filepath.Join(env.Dir, "kube-apiserver.log"), 40))
		}
	})
	return env
}

// Stop stops the control plane, if one was started, and removes its
// directory. TestMain calls it after m.Run.
func Stop() {
	mu.Lock()
	defer mu.Unlock()
	stopped = true
	if current == nil {
		return
	}
	current.stop()
	current = nil
}

func (e *Env) stop() {
	// kube-apiserver before etcd, so it does not log etcd going away.
	for i := len(e.procs) - 1; i >= 0; i-- {
		e.procs[i].stop()
	}
	_ = os.RemoveAll(e.Dir)
}

func start(etcdBin, apiserverBin string) (env *Env, err error) {
	dir, err := os.MkdirTemp("", "kubeenv-")
	if err != nil {
		return nil, err
	}
	env = &Env{Dir: dir}
	defer func() {
		if err != nil {
			env.stop()
			env = nil
		}
	}()
	ports, err := freePorts(3)
	if err != nil {
		return nil, err
	}
	etcdURL := fmt.Sprintf("http://127.0.0.1:%d", ports[0])
	peerURL := fmt.Sprintf("http://127.0.0.1:%d", ports[1])
	etcd, err := startProc(dir, "etcd", etcdBin, nil,
		"--name", "default",
		"--data-dir", filepath.Join(dir, "etcd"),
		"--listen-client-urls", etcdURL, "--advertise-client-urls", etcdURL,
		"--listen-peer-urls", peerURL, "--initial-advertise-peer-urls", peerURL,
		"--initial-cluster", "default="+peerURL,
		"--unsafe-no-fsync", "--log-level", "warn")
	if err != nil {
		return nil, err
	}
	env.procs = append(env.procs, etcd)
	if err := waitUntil(etcd, time.Minute, func() error {
		resp, err := http.Get(etcdURL + "/health")
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("status %s", resp.Status)
		}
		return nil
	}); err != nil {
		return nil, err
	}

	// The service-account keys are the serving key's kind; tokens are
	// never issued (no controller manager) but the flags are required.
	saKey, saPub, err := serviceAccountKeys()
	if err != nil {
		return nil, err
	}
	env.Token = randomHex(16)
	files := map[string][]byte{
		"sa.key":     saKey,
		"sa.pub":     saPub,
		"tokens.csv": []byte(env.Token + ",admin,admin,system:masters\n"),
	}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			return nil, err
		}
	}
	certDir := filepath.Join(dir, "certs")
	apiserver, err := startProc(dir, "kube-apiserver", apiserverBin, nil,
		"--etcd-servers", etcdURL,
		"--bind-address", "127.0.0.1", "--advertise-address", "127.0.0.1",
		"--secure-port", fmt.Sprint(ports[2]),
		// The default reconciler refuses a loopback advertise address.
		"--endpoint-reconciler-type", "none",
		"--cert-dir", certDir,
		"--service-account-issuer", "https://kubernetes.default.svc",
		"--service-account-key-file", filepath.Join(dir, "sa.pub"),
		"--service-account-signing-key-file", filepath.Join(dir, "sa.key"),
		"--token-auth-file", filepath.Join(dir, "tokens.csv"),
		"--authorization-mode", "RBAC",
		"--service-cluster-ip-range", "10.0.0.0/24",
		"--allow-privileged=true",
		// No controller manager mints service-account tokens.
		"--disable-admission-plugins", "ServiceAccount")
	if err != nil {
		return nil, err
	}
	env.procs = append(env.procs, apiserver)
	env.Host = fmt.Sprintf("https://127.0.0.1:%d", ports[2])

	// The serving certificate appears before the port opens.
	if err := waitUntil(apiserver, time.Minute, func() error {
		b, err := os.ReadFile(filepath.Join(certDir, "apiserver.crt"))
		if err != nil {
			return err
		}
		env.CAPEM = b
		return nil
	}); err != nil {
		return nil, err
	}
	env.Config = &rest.Config{
		Host:            env.Host,
		BearerToken:     env.Token,
		TLSClientConfig: rest.TLSClientConfig{CAData: env.CAPEM},
		QPS:             200,
		Burst:           400,
	}
	if env.Client, err = kubernetes.NewForConfig(env.Config); err != nil {
		return nil, err
	}
	if env.Dynamic, err = dynamic.NewForConfig(env.Config); err != nil {
		return nil, err
	}
	env.Mapper = restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(env.Client.Discovery()))
	ctx := context.Background()
	if err := waitUntil(apiserver, 2*time.Minute, func() error {
		body, err := env.Client.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx)
		if err != nil {
			return fmt.Errorf("%v %s", err, body)
		}
		// The API server makes the default namespace just after it is ready.
		_, err = env.Client.CoreV1().Namespaces().Get(ctx, "default", metav1.GetOptions{})
		return err
	}); err != nil {
		return nil, err
	}
	env.Kubeconfig = filepath.Join(dir, "kubeconfig")
	if err := os.WriteFile(env.Kubeconfig, []byte(kubeconfig(env)), 0o600); err != nil {
		return nil, err
	}
	return env, nil
}

func kubeconfig(env *Env) string {
	return fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: kubeenv
  cluster:
    server: %s
    certificate-authority-data: %s
users:
- name: admin
  user:
    token: %s
contexts:
- name: kubeenv
  context:
    cluster: kubeenv
    user: admin
    namespace: default
current-context: kubeenv
`, env.Host, base64.StdEncoding.EncodeToString(env.CAPEM), env.Token)
}

var nonName = regexp.MustCompile(`[^a-z0-9]+`)

// Namespace creates a namespace with labels and a unique name derived from
// the test's, and deletes it when t ends (it then stays Terminating: no
// namespace controller empties it).
func (e *Env) Namespace(t testing.TB, labels map[string]string) string {
	t.Helper()
	prefix := strings.Trim(nonName.ReplaceAllString(strings.ToLower(t.Name()), "-"), "-")
	if len(prefix) > 40 {
		prefix = strings.TrimRight(prefix[:40], "-")
	}
	if prefix == "" || prefix[0] < 'a' {
		prefix = "t-" + prefix
	}
	ctx := context.Background()
	ns, err := e.Client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{
		ObjectMeta: metav1.ObjectMeta{GenerateName: prefix + "-", Labels: labels},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("creating a namespace: %v", err)
	}
	t.Cleanup(func() {
		err := e.Client.CoreV1().Namespaces().Delete(context.Background(), ns.Name, metav1.DeleteOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			t.Errorf("deleting namespace %s: %v", ns.Name, err)
		}
	})
	return ns.Name
}

// proc is a started component; its output goes to DIR/NAME.log.
type proc struct {
	name, log string
	cmd       *exec.Cmd
	done      chan struct{}
	err       error
	// logShown: the log is printed elsewhere when the test fails, so
	// waitUntil's errors leave it out.
	logShown bool
}

func startProc(dir, name, bin string, env []string, args ...string) (*proc, error) {
	logPath := filepath.Join(dir, name+".log")
	f, err := os.OpenFile(logPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %v", name, err)
	}
	p := &proc{name: name, log: logPath, cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop sends SIGTERM to the process group, then SIGKILL after 10 s.
func (p *proc) stop() {
	if p.exited() {
		return
	}
	pgid := p.cmd.Process.Pid
	_ = syscall.Kill(-pgid, syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		<-p.done
	}
	// Anything the component started in its group goes too.
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
}

// waitUntil polls check until it succeeds, returns a permanent error, p
// exits or timeout passes; the error then carries the end of p's log.
func waitUntil(p *proc, timeout time.Duration, check func() error) error {
	deadline := time.Now().Add(timeout)
	logTail := func() string {
		if p.logShown {
			return ""
		}
		return "; last lines of its log:\n" + tail(p.log, 60)
	}
	for {
		err := check()
		if err == nil {
			return nil
		}
		var pe permanent
		if errors.As(err, &pe) {
			return err
		}
		if p.exited() {
			return fmt.Errorf("%s exited (%v)%s", p.name, p.err, logTail())
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: still after %v: %v%s", p.name, timeout, err, logTail())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// tail returns the last n lines of the file at path.
func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(reading %s: %v)", path, err)
	}
	lines := bytes.Split(bytes.TrimRight(b, "\n"), []byte("\n"))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return string(bytes.Join(lines, []byte("\n")))
}

// freePorts returns n distinct loopback ports free right now.
func freePorts(n int) ([]int, error) {
	var ports []int
	var lns []net.Listener
	defer func() {
		for _, ln := range lns {
			ln.Close()
		}
	}()
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		lns = append(lns, ln)
		ports = append(ports, ln.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}
