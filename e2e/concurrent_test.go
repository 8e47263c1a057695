package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"strings"
	"sync"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/imgsign/imgsign/internal/registry"
	"github.com/imgsign/imgsign/internal/testing/testenv"
)

// Ten signers started at once against a registry without the referrers API
// all end up found by verify and tree, although they race on the shared
// referrers tag index.
func TestConcurrentSignersLoseNothing(t *testing.T) {
	const n = 10
	host := testenv.Distribution(t)
	e := newEnv(t)
	var names []string
	for i := range n {
		names = append(names, fmt.Sprintf("k%d", i))
	}
	// Generating keys is not what races; do it first.
	for _, k := range names {
		e.must("keys", "generate", "--type", "ed25519", "--unencrypted", "--out", k)
	}
	d := testenv.PushImage(t, host, "contended", "v1")
	img := host + "/contended:v1"

	var wg sync.WaitGroup
	start := make(chan struct{})
	errs := make([]error, n)
	outs := make([][]byte, n)
	for i, k := range names {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cmd := exec.Command(e.bin, "sign", "--key", k+".key", img)
			cmd.Dir = e.dir
			cmd.Env = []string{"HOME=" + e.dir}
			<-start
			outs[i], errs[i] = cmd.CombinedOutput()
		}()
	}
	close(start)
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("signer %d: %v\n%s", i, errs[i], outs[i])
		}
	}

	rep, r := e.verifyJSON(e.policy(host, names, n, nil), img)
	if r.Code != 0 {
		t.Fatalf("verify with threshold %d: exit %d\n%s", n, r.Code, r.Stdout)
	}
	if got := len(rep.Images[0].Requirements[0].Accepted); got != n {
		t.Fatalf("verify counted %d distinct signers, want %d", got, n)
	}
	tree := e.must("tree", img).Stdout
	if got := strings.Count(tree, "https://sigstore.dev/cosign/sign/v1"); got != n {
		t.Fatalf("tree shows %d signatures, want %d:\n%s", got, n, tree)
	}
	// The shared index is kept complete by re-checking; report how it fared.
	idx, err := openRepo(t, host, "contended").FallbackIndex(context.Background(), d)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("shared referrers tag %s lists %d of %d signatures", registry.FallbackTag(d), len(idx), n)

	// Now lose updates for real: another tool rewrites the shared index with
	// only one entry. Discovery must still find all signatures.
	clobbered, err := json.Marshal(v1.IndexManifest{SchemaVersion: 2, MediaType: types.OCIImageIndex, Manifests: idx[:1]})
	if err != nil {
		t.Fatal(err)
	}
	if err := openRepo(t, host, "contended").PutManifest(context.Background(), registry.FallbackTag(d), clobbered, types.OCIImageIndex); err != nil {
		t.Fatal(err)
	}
	if r := e.run("verify", "--policy", "trust.yaml", img); r.Code != 0 {
		t.Fatalf("after the shared index lost 9 entries, verify: exit %d\n%s", r.Code, r.Stdout)
	}
}
