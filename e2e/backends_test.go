package e2e

import (
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/imgsign/imgsign/internal/testing/testenv"
)

// k-of-n across backends: a file key, a key on a SoftHSM2 token and a key in
// a Vault-transit KMS, threshold 2. Any two distinct keys pass, one fails,
// the same key twice fails, and the report lists which keys counted.
func TestThresholdAcrossBackends(t *testing.T) {
	host := testenv.Registry(t, true).Addr
	k := newKMSEnv(t)
	h := newHSM(t, "release")
	env := append(append([]string{}, h.env...), k.vault.Env()...)
	run := func(args ...string) testenv.Result {
		t.Helper()
		return testenv.Run(t, k.dir, append([]string{"IMGSIGN_PASSWORD=" + passphrase}, env...), k.bin, args...)
	}
	must := func(args ...string) testenv.Result {
		t.Helper()
		r := run(args...)
		if r.Code != 0 {
			t.Fatalf("imgsign %s: exit %d\n%s%s", strings.Join(args, " "), r.Code, r.Stdout, r.Stderr)
		}
		return r
	}
	k.key("file", "ecdsa-p256")
	hsmKey := hsmRef("release", "hsm-key")
	must("keys", "generate", "--pkcs11", hsmKey, "--type", "ecdsa-p384")
	k.write("hsm.pub", must("keys", "public", "--key", hsmKey).Stdout)
	must("keys", "generate", "--kms", "hashivault://kms-key", "--type", "rsa-3072")
	pol := k.write("trust.yaml", `version: 1
keys:
  - name: file
    publicKey: file.pub
  - name: hsm
    publicKey: hsm.pub
  - name: kms
    publicKey: hashivault://kms-key
policies:
  - name: release
    scopes: ["`+host+`/**"]
    signatures:
      keys: [file, hsm, kms]
      threshold: 2
`)
	refs := map[string]string{"file": "file.key", "hsm": hsmKey, "kms": "hashivault://kms-key"}
	cases := []struct {
		signers []string
		code    int
	}{
		{[]string{"file", "hsm"}, 0},
		{[]string{"hsm", "kms"}, 0},
		{[]string{"file", "kms"}, 0},
		{[]string{"kms"}, 1},
		{[]string{"hsm", "hsm"}, 1},
		{[]string{"file", "hsm", "kms"}, 0},
	}
	for i, c := range cases {
		t.Run(strings.Join(c.signers, "+"), func(t *testing.T) {
			repo := "kofn/" + string(rune('a'+i))
			testenv.PushImage(t, host, repo, "v1")
			img := host + "/" + repo + ":v1"
			for _, s := range c.signers {
				must("sign", "--key", refs[s], img)
			}
			r := run("verify", "--policy", pol, "--output", "json", img)
			if r.Code != c.code {
				t.Fatalf("exit %d, want %d\n%s%s", r.Code, c.code, r.Stdout, r.Stderr)
			}
			rep, _ := k.kmsVerify(h.env, pol, img)
			var counted []string
			for _, a := range rep.Images[0].Requirements[0].Accepted {
				counted = append(counted, a.KeyName)
			}
			want := dedupe(c.signers)
			if len(counted) != len(want) || strings.Join(counted, ",") != strings.Join(want, ",") {
				t.Errorf("counted %v, want %v", counted, want)
			}
			text := run("verify", "--policy", pol, img).Stdout
			for _, name := range want {
				if !strings.Contains(text, "ok   "+name+" ") {
					t.Errorf("text output does not list %s as counted:\n%s", name, text)
				}
			}
		})
	}
}

func dedupe(s []string) []string {
	m := map[string]bool{}
	var out []string
	for _, x := range s {
		if !m[x] {
			m[x] = true
			out = append(out, x)
		}
	}
	sort.Strings(out)
	return out
}

// The scheduled rotation: sign with the old key (timestamped), rotate, sign
// with the new key, verify both during the overlap; then judged after the
// overlap (verify --at, no sleeps) the timestamped old signature still passes
// and an untimestamped one by the old key fails.
func TestScheduledRotation(t *testing.T) {
	host := testenv.Registry(t, true).Addr
	tsaURL, chain := testenv.TSA(t)
	e := newEnv(t)
	e.key("release-2026", "ecdsa-p256")
	for _, r := range []string{"stamped", "plain", "new"} {
		testenv.PushImage(t, host, "sched/"+r, "v1")
	}
	stamped, plain, newImg := host+"/sched/stamped:v1", host+"/sched/plain:v1", host+"/sched/new:v1"
	e.must("sign", "--key", "release-2026.key", "--tsa-url", tsaURL, stamped)
	e.must("sign", "--key", "release-2026.key", plain)
	pol := e.write("trust.yaml", `version: 1
keys:
  - name: release-2026
    publicKey: release-2026.pub
timestampAuthorities:
  - name: tsa
    certChain: `+chain+`
policies:
  - name: prod
    scopes: ["`+host+`/sched/**"]
    signatures:
      keys: [release-2026]
`)
	e.must("keys", "rotate", "--policy", pol, "--name", "release-2026", "--new-name", "release-2027", "--overlap", "720h", "--resign", newImg)
	for _, img := range []string{stamped, plain, newImg} {
		e.must("verify", "--policy", pol, img)
	}
	after := time.Now().UTC().Add(31 * 24 * time.Hour).Format(time.RFC3339)
	e.must("verify", "--policy", pol, "--at", after, stamped)
	e.must("verify", "--policy", pol, "--at", after, newImg)
	if r := e.run("verify", "--policy", pol, "--at", after, plain); r.Code != 1 || !strings.Contains(r.Stdout, "expired") {
		t.Fatalf("untimestamped old signature after the overlap: exit %d\n%s", r.Code, r.Stdout)
	}
}
