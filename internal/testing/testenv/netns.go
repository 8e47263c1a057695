package testenv

import (
	"bytes"
	"context"
	"errors"
	"net"
	"os"
	"os/exec"
	"runtime"
	"syscall"
	"testing"
	"time"
)

// netnsChild marks the re-executed test binary inside the namespace; its
// value is the test it runs.
const netnsChild = "IMGSIGN_TEST_NETNS_CHILD"

// LoopbackOnly runs the calling test again in a new user and network
// namespace whose only interface is loopback (unshare -rn): nothing in it
// can reach any other host, by any address, nor resolve a name. In this
// process it returns false once the re-run has finished, its output logged
// and its failure failing t; in the re-run it brings loopback up, checks
// that nothing else is reachable and returns true, and the test does its
// work: start its servers on 127.0.0.1 and run what it tests. env
// (KEY=VALUE) is added to the re-run's environment, which is otherwise
// this process's. A machine without unshare or unprivileged user
// namespaces skips t (fails it in CI).
func LoopbackOnly(t *testing.T, env ...string) bool {
	t.Helper()
	if os.Getenv(netnsChild) == t.Name() {
		if err := loopbackUp(); err != nil {
			t.Fatalf("bringing loopback up in the network namespace: %v", err)
		}
		// The namespace must be what the test claims: no route anywhere.
		for _, addr := range []string{"192.0.2.1:443", "[2001:db8::1]:443"} {
			c, err := net.DialTimeout("tcp", addr, 2*time.Second)
			if err == nil {
				c.Close()
				t.Fatalf("%s is reachable from the network namespace", addr)
			}
			if !errors.Is(err, syscall.ENETUNREACH) {
				t.Fatalf("dialing %s from the network namespace: %v, want network unreachable", addr, err)
			}
		}
		return true
	}
	if runtime.GOOS != "linux" {
		Missing(t, "network namespaces need Linux (unshare -rn)")
	}
	unshare, err := exec.LookPath("unshare")
	if err != nil {
		Missing(t, "unshare is not installed (%v): apt-get install util-linux", err)
	}
	if out, err := exec.Command(unshare, "-rn", "true").CombinedOutput(); err != nil {
		Missing(t, "unshare -rn does not run here (%v: %s): unprivileged user namespaces are needed (sysctl kernel.unprivileged_userns_clone=1; on Ubuntu also kernel.apparmor_restrict_unprivileged_userns=0)", err, bytes.TrimSpace(out))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, unshare, "-rn", os.Args[0], "-test.run=^"+t.Name()+"$", "-test.count=1", "-test.v")
	cmd.Env = append(append(os.Environ(), netnsChild+"="+t.Name()), env...)
	out, err := cmd.CombinedOutput()
	t.Logf("in a loopback-only network namespace:\n%s", out)
	if err != nil {
		t.Fatalf("the test failed in its network namespace: %v", err)
	}
	switch {
	case bytes.Contains(out, []byte("--- SKIP: "+t.Name())):
		// The re-run recorded why (Missing) in the skip log.
		t.Skip("skipped in its network namespace: see the log above")
	case !bytes.Contains(out, []byte("--- PASS: "+t.Name())):
		t.Fatalf("the test did not pass in its network namespace")
	}
	return false
}
