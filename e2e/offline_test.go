package e2e

// Truly offline verification (docs/offline.md): with a policy whose keys,
// TSA chain and trust roots are files (or imgsign's embedded root) and an
// image in a registry on loopback, the whole verify step runs in a network
// namespace with only loopback — no TUF refresh, log, TSA, OCSP or KMS
// lookup, nor a name lookup — and succeeds. A policy that would need the
// network fails under --offline with one clear line before any attempt:
// the Vault stand-in, reachable on loopback in the namespace, counts no
// request.

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/imgsign/imgsign/internal/testing/testenv"
	"github.com/imgsign/imgsign/internal/testing/vaulttransit"
)

// offlineBin passes the imgsign binary built outside the namespace to the
// test's re-run inside it, which has no network to build with.
const offlineBin = "IMGSIGN_E2E_OFFLINE_BIN"

func TestOfflineVerify(t *testing.T) {
	bin := os.Getenv(offlineBin)
	if bin == "" {
		bin = testenv.Imgsign(t)
	}
	if !testenv.LoopbackOnly(t, offlineBin+"="+bin) {
		return
	}
	// From here on, in a network namespace with loopback only.
	e := &env{t: t, dir: t.TempDir(), bin: bin}
	host := testenv.Registry(t, true).Addr
	tsaURL, chain := testenv.TSA(t)
	e.key("k", "ecdsa-p256")
	d := testenv.PushImage(t, host, "app", "1.0")
	img := host + "/app:1.0"
	e.must("sign", "--key", "k.key", "--tsa-url", tsaURL, img)
	e.must("attest", "predicate", "--key", "k.key", "--type", "https://example.com/review/v1",
		"--predicate", e.write("review.json", `{"approved": true}`), img)
	pol := e.write("trust.yaml", `version: 1
keys:
  - name: k
    publicKey: k.pub
timestampAuthorities:
  - name: corp-tsa
    certChain: `+chain+`
trustRoots:
  - name: public-good
    sigstore: public-good                 # embedded in imgsign: never fetched
identities:
  - name: release-workflow
    issuer: https://token.actions.githubusercontent.com
    subjectGlob: https://github.com/acme/app/.github/workflows/release.yml@refs/tags/*
    trustRoots: [public-good]
policies:
  - name: app
    scopes: ["`+host+`/**"]
    signatures:
      keys: [k, release-workflow]
      requireTimestamp: true
      bindTag: true
    attestations:
      - type: https://example.com/review/v1
        keys: [k, release-workflow]
        conditions: [predicate.approved == true]
`)
	for _, args := range [][]string{
		{"verify", "--offline", "--policy", pol, img},
		{"verify", "--policy", pol, img}, // nothing to refuse: the same without --offline
	} {
		r := e.must(args...)
		if !strings.Contains(r.Stdout, "PASS  "+host+"/app@"+d.String()) || !strings.Contains(r.Stdout, "timestamped") {
			t.Errorf("imgsign %s:\n%s%s", strings.Join(args, " "), r.Stdout, r.Stderr)
		}
	}
	rep, _ := e.verifyJSON(pol, "--offline", img)
	if rep.Images[0].Verdict != "pass" {
		t.Errorf("--output json --offline: %+v", rep.Images[0])
	}

	t.Run("from an OCI layout, with no registry at all", func(t *testing.T) {
		layout := "oci:" + filepath.Join(e.dir, "layout") + ":1.0"
		e.must("copy", img, layout)
		r := e.must("verify", "--offline", "--policy", pol, "--as", host+"/app", layout)
		if !strings.Contains(r.Stdout, "PASS  ") || !strings.Contains(r.Stdout, d.String()) {
			t.Errorf("verify --offline of the layout:\n%s%s", r.Stdout, r.Stderr)
		}
	})

	t.Run("a registry sending clients to another host", func(t *testing.T) {
		// A registry whose token service is elsewhere: --offline refuses
		// to follow it (exit 2); without --offline the attempt is made
		// and fails here for want of a network (exit 3).
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="https://auth.example.invalid/token",service="registry"`)
			w.WriteHeader(http.StatusUnauthorized)
		}))
		t.Cleanup(srv.Close)
		other := strings.TrimPrefix(srv.URL, "http://") + "/app:1.0"
		pol := e.write("other.yaml", "version: 1\nkeys: [{name: k, publicKey: k.pub}]\npolicies: [{name: other, scopes: [\""+strings.TrimPrefix(srv.URL, "http://")+"/**\"], signatures: {keys: [k]}}]\n")
		r := e.run("verify", "--offline", "--policy", pol, other)
		if r.Code != 2 || !strings.Contains(r.Stdout+r.Stderr, "--offline: refusing to connect to auth.example.invalid: only the registries of the images given are contacted") {
			t.Errorf("--offline: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
		}
		if r := e.run("verify", "--policy", pol, other); r.Code != 3 {
			t.Errorf("without --offline: exit %d, want 3\n%s%s", r.Code, r.Stdout, r.Stderr)
		}
	})
	t.Run("a KMS key is refused before any attempt", func(t *testing.T) {
		vault := vaulttransit.Start()
		t.Cleanup(vault.Close)
		if err := vault.CreateKey("release", vaulttransit.TypeECDSAP256); err != nil {
			t.Fatal(err)
		}
		kmsPol := e.write("kms.yaml", `version: 1
keys:
  - name: k
    publicKey: k.pub
  - name: release
    publicKey: hashivault://release
policies:
  - name: app
    scopes: ["`+host+`/**"]
    signatures: {keys: [k, release]}
`)
		const want = "imgsign: --offline: policy key release is a KMS key (hashivault://release), which verify would fetch from the KMS: export its public key once (imgsign keys public --key hashivault://release > release.pub) and name the file in the policy, or verify without --offline\n"
		for _, tc := range []struct {
			env  []string
			args []string
		}{
			{nil, []string{"verify", "--offline", "--policy", kmsPol, img}},
			{[]string{"IMGSIGN_OFFLINE=1"}, []string{"verify", "--policy", kmsPol, img}},
			{[]string{"IMGSIGN_OFFLINE=true"}, []string{"verify", "--output", "json", "--policy", kmsPol, img}},
		} {
			r := testenv.Run(t, e.dir, append(vault.Env(), tc.env...), bin, tc.args...)
			if r.Code != 2 || r.Stderr != want || r.Stdout != "" {
				t.Errorf("%v imgsign %s: exit %d, want 2 and one line\nstdout:\n%s\nstderr:\n%s", tc.env, strings.Join(tc.args, " "), r.Code, r.Stdout, r.Stderr)
			}
		}
		r := testenv.Run(t, e.dir, vault.Env(), bin, "verify", "--offline", "--key", "hashivault://release", img)
		if r.Code != 2 || !strings.Contains(r.Stderr, "--offline: --key hashivault://release is a KMS key") {
			t.Errorf("verify --offline --key hashivault://release: exit %d\n%s", r.Code, r.Stderr)
		}
		r = testenv.Run(t, e.dir, vault.Env(), bin, "verify-blob", "--offline", "--bundle", e.write("b.json", "{}"), "--key", "hashivault://release", "sha256:"+strings.Repeat("0", 64))
		if r.Code != 2 || !strings.Contains(r.Stderr, "--offline: --key hashivault://release is a KMS key") {
			t.Errorf("verify-blob --offline --key hashivault://release: exit %d\n%s", r.Code, r.Stderr)
		}
		if n := len(vault.Requests()); n != 0 {
			t.Fatalf("the KMS got %d requests under --offline: %+v", n, vault.Requests())
		}
		// The KMS is reachable: without --offline verify does ask it.
		r = testenv.Run(t, e.dir, vault.Env(), bin, "verify", "--policy", kmsPol, img)
		if r.Code != 0 || len(vault.Requests()) == 0 {
			t.Errorf("without --offline: exit %d after %d KMS requests\n%s%s", r.Code, len(vault.Requests()), r.Stdout, r.Stderr)
		}
	})
}
