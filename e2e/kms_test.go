package e2e

// KMS keys end to end: hashivault:// through sigstore's real provider and
// Vault's real API client against the transit-API test server
// (internal/testing/vaulttransit), which is the closest test possible here: no Vault,
// OpenBao or local KMS can be installed on the development machine (their
// modules are not served or do not build there).
//
// What the CLI is assumed to do:
//   - `keys generate --kms URI --type T` creates the key in the KMS (no --out,
//     no passphrase) and exits 0; it exits 2 if the key already exists.
//   - `keys public --key URI` prints the PEM public key of the latest version;
//     `keys id --key URI` its key id.
//   - `sign --key URI IMAGE` signs with the KMS key (no passphrase needed).
//   - A policy key `publicKey: hashivault://NAME` is fetched once per verify
//     run and trusts every version Vault still verifies (all versions not
//     below min_decryption_version: keys.LoadKMSPublicKeys); the entry is one
//     key for thresholds, whichever versions signed.
//   - Exit codes: 2 for a malformed URI or a missing key, 3 for an unreachable
//     Vault or a refused token, in every command, verify included.

import (
	"encoding/json"
	"net"
	"strconv"
	"strings"
	"testing"

	"github.com/imgsign/imgsign/internal/testing/testenv"
	"github.com/imgsign/imgsign/internal/testing/vaulttransit"
	"github.com/imgsign/imgsign/keys"
	"github.com/imgsign/imgsign/verify"
)

// kmsEnv is a test directory plus a Vault transit server the CLI talks to.
type kmsEnv struct {
	*env
	vault *vaulttransit.Server
}

func newKMSEnv(t *testing.T) *kmsEnv {
	t.Helper()
	s := vaulttransit.Start()
	t.Cleanup(s.Close)
	return &kmsEnv{env: newEnv(t), vault: s}
}

// kmsRun runs imgsign with the passphrase and the Vault environment
// (VAULT_ADDR, VAULT_TOKEN, TRANSIT_SECRET_ENGINE_PATH), then extra
// (KEY=VALUE, overriding).
func (k *kmsEnv) kmsRun(extra []string, args ...string) testenv.Result {
	k.t.Helper()
	env := append([]string{"IMGSIGN_PASSWORD=" + passphrase}, k.vault.Env()...)
	return testenv.Run(k.t, k.dir, append(env, extra...), k.bin, args...)
}

func (k *kmsEnv) kmsMust(args ...string) testenv.Result {
	k.t.Helper()
	r := k.kmsRun(nil, args...)
	if r.Code != 0 {
		k.t.Fatalf("imgsign %s: exit %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), r.Code, r.Stdout, r.Stderr)
	}
	return r
}

// kmsPolicy writes a policy trusting hashivault://release as key "release"
// (plus file keys NAME.pub) for host/**, with threshold.
func (k *kmsEnv) kmsPolicy(host string, threshold int, fileKeys ...string) string {
	k.t.Helper()
	var b strings.Builder
	b.WriteString("version: 1\nkeys:\n  - name: release\n    publicKey: hashivault://release\n")
	names := []string{"release"}
	for _, f := range fileKeys {
		b.WriteString("  - name: " + f + "\n    publicKey: " + f + ".pub\n")
		names = append(names, f)
	}
	b.WriteString("policies:\n  - name: test\n    scopes: [\"" + host + "/**\"]\n    signatures:\n      keys: [" + strings.Join(names, ", ") + "]\n")
	b.WriteString("      threshold: " + strconv.Itoa(threshold) + "\n")
	return k.write("kms-trust-"+strconv.Itoa(threshold)+"-"+strings.Join(names, "-")+".yaml", b.String())
}

// kmsVerify runs verify --output json with the Vault environment.
func (k *kmsEnv) kmsVerify(extra []string, policy string, images ...string) (*verify.Report, testenv.Result) {
	k.t.Helper()
	r := k.kmsRun(extra, append([]string{"verify", "--policy", policy, "--output", "json"}, images...)...)
	var rep verify.Report
	if err := json.Unmarshal([]byte(r.Stdout), &rep); err != nil {
		k.t.Fatalf("verify --output json printed no report (exit %d): %v\nstdout:\n%s\nstderr:\n%s", r.Code, err, r.Stdout, r.Stderr)
	}
	return &rep, r
}

func pemOf(t *testing.T, s *vaulttransit.Server, version int) string {
	t.Helper()
	b, err := keys.EncodePublic(s.PublicKeys("release")[version])
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func idOf(t *testing.T, s *vaulttransit.Server, version int) string {
	t.Helper()
	id, err := keys.ID(s.PublicKeys("release")[version])
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// acceptedIDs returns the key ids that counted for the image's first rule.
func acceptedIDs(rep *verify.Report) []string {
	var ids []string
	for _, a := range rep.Images[0].Requirements[0].Accepted {
		ids = append(ids, a.KeyID)
	}
	return ids
}

// generate, public, id, sign and verify with a key living in Vault, for
// each key type Vault's transit engine and imgsign share.
func TestKMSHashivaultSignVerify(t *testing.T) {
	host := testenv.Registry(t, true).Addr
	for _, typ := range []string{"ecdsa-p256", "ecdsa-p384", "ed25519", "rsa-3072"} {
		t.Run(typ, func(t *testing.T) {
			e := newKMSEnv(t)
			e.kmsMust("keys", "generate", "--kms", "hashivault://release", "--type", typ)
			if v := e.vault.Versions("release"); len(v) != 1 {
				t.Fatalf("Vault holds versions %v after generate, want [1]", v)
			}
			if got := e.kmsMust("keys", "public", "--key", "hashivault://release").Stdout; got != pemOf(t, e.vault, 1) {
				t.Errorf("keys public printed\n%s\nwant Vault's key\n%s", got, pemOf(t, e.vault, 1))
			}
			if got := strings.TrimSpace(e.kmsMust("keys", "id", "--key", "hashivault://release").Stdout); got != idOf(t, e.vault, 1) {
				t.Errorf("keys id = %s, want %s", got, idOf(t, e.vault, 1))
			}

			repo := "kms/" + typ
			d := testenv.PushImage(t, host, repo, "v1")
			r := e.kmsMust("sign", "--key", "hashivault://release", host+"/"+repo+":v1")
			if !strings.Contains(r.Stdout, d.String()) {
				t.Errorf("sign output does not name the digest %s:\n%s", d, r.Stdout)
			}
			rep, res := e.kmsVerify(nil, e.kmsPolicy(host, 1), host+"/"+repo+":v1")
			if res.Code != 0 || rep.Images[0].Verdict != verify.VerdictPass {
				t.Fatalf("verify: exit %d\n%s\n%s", res.Code, res.Stdout, res.Stderr)
			}
			if a := rep.Images[0].Requirements[0].Accepted; len(a) != 1 || a[0].KeyName != "release" || a[0].KeyID != idOf(t, e.vault, 1) {
				t.Errorf("accepted %+v, want key release with id %s", a, idOf(t, e.vault, 1))
			}

			// generate never replaces a key.
			r = e.kmsRun(nil, "keys", "generate", "--kms", "hashivault://release", "--type", typ)
			if r.Code != 2 || !strings.Contains(r.Stderr, "already exists") {
				t.Errorf("generate over an existing key: exit %d\n%s", r.Code, r.Stderr)
			}
			if v := e.vault.Versions("release"); len(v) != 1 {
				t.Errorf("Vault holds versions %v after a refused generate", v)
			}
		})
	}
}

// A rotation inside Vault: sign with v1, rotate, sign with v2. `keys public`
// follows the latest version; the policy naming hashivault://release trusts
// both signatures (each under its own key id) until v1 is retired in Vault;
// two versions of the one policy key count once towards a threshold.
func TestKMSHashivaultRotation(t *testing.T) {
	host := testenv.Registry(t, true).Addr
	e := newKMSEnv(t)
	e.kmsMust("keys", "generate", "--kms", "hashivault://release", "--type", "ecdsa-p256")
	e.key("other", "ed25519")
	for _, repo := range []string{"old", "new", "both"} {
		testenv.PushImage(t, host, repo, "v1")
	}
	e.kmsMust("sign", "--key", "hashivault://release", host+"/old:v1")
	e.kmsMust("sign", "--key", "hashivault://release", host+"/both:v1")

	if _, err := e.vault.Rotate("release"); err != nil {
		t.Fatal(err)
	}
	if got := e.kmsMust("keys", "public", "--key", "hashivault://release").Stdout; got != pemOf(t, e.vault, 2) {
		t.Fatalf("keys public after rotation is not version 2:\n%s", got)
	}
	e.kmsMust("sign", "--key", "hashivault://release", host+"/new:v1")
	e.kmsMust("sign", "--key", "hashivault://release", host+"/both:v1")

	pol := e.kmsPolicy(host, 1)
	for _, c := range []struct {
		repo    string
		version int
	}{{"old", 1}, {"new", 2}} {
		rep, res := e.kmsVerify(nil, pol, host+"/"+c.repo+":v1")
		if res.Code != 0 {
			t.Fatalf("%s (signed with v%d): exit %d\n%s\n%s", c.repo, c.version, res.Code, res.Stdout, res.Stderr)
		}
		if ids := acceptedIDs(rep); len(ids) != 1 || ids[0] != idOf(t, e.vault, c.version) {
			t.Errorf("%s: accepted key ids %v, want version %d's %s", c.repo, ids, c.version, idOf(t, e.vault, c.version))
		}
	}

	// Two versions of one KMS key are one key: threshold 2 needs another.
	pol2 := e.kmsPolicy(host, 2, "other")
	rep, res := e.kmsVerify(nil, pol2, host+"/both:v1")
	if res.Code != 1 {
		t.Fatalf("v1+v2 of the same key under threshold 2: exit %d, want 1\n%s", res.Code, res.Stdout)
	}
	if n := len(rep.Images[0].Requirements[0].Accepted); n != 1 {
		t.Errorf("v1+v2 of the same key counted %d times, want 1", n)
	}
	e.must("sign", "--key", "other.key", host+"/both:v1")
	if _, res := e.kmsVerify(nil, pol2, host+"/both:v1"); res.Code != 0 {
		t.Errorf("release + other under threshold 2: exit %d\n%s", res.Code, res.Stdout)
	}

	// Retiring v1 in Vault (min_decryption_version=2) distrusts it at the
	// next verify, without touching the policy.
	if err := e.vault.SetMinDecryptionVersion("release", 2); err != nil {
		t.Fatal(err)
	}
	if _, res := e.kmsVerify(nil, pol, host+"/old:v1"); res.Code != 1 {
		t.Errorf("v1 signature after v1 was retired: exit %d, want 1\n%s", res.Code, res.Stdout)
	}
	if _, res := e.kmsVerify(nil, pol, host+"/new:v1"); res.Code != 0 {
		t.Errorf("v2 signature after v1 was retired: exit %d\n%s", res.Code, res.Stdout)
	}
}

// Errors name the provider and the problem, with exit 2 for bad input and
// 3 for an unreachable or refusing Vault, in every command.
func TestKMSHashivaultErrors(t *testing.T) {
	host := testenv.Registry(t, true).Addr
	e := newKMSEnv(t)
	e.kmsMust("keys", "generate", "--kms", "hashivault://release", "--type", "ecdsa-p256")
	testenv.PushImage(t, host, "app", "v1")
	e.kmsMust("sign", "--key", "hashivault://release", host+"/app:v1")
	pol := e.kmsPolicy(host, 1)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + ln.Addr().String()
	ln.Close()

	img := host + "/app:v1"
	for _, c := range []struct {
		name  string
		extra []string
		args  []string
		code  int
		want  []string
	}{
		{"malformed URI", nil, []string{"keys", "public", "--key", "hashivault://team/release"}, 2,
			[]string{"hashivault: malformed key reference", "expected hashivault://KEY_NAME"}},
		{"missing key", nil, []string{"keys", "public", "--key", "hashivault://absent"}, 2,
			[]string{"hashivault: key hashivault://absent not found"}},
		{"missing key, sign", nil, []string{"sign", "--key", "hashivault://absent", img}, 2,
			[]string{"hashivault: key hashivault://absent not found"}},
		{"unreachable, sign", []string{"VAULT_ADDR=" + closed}, []string{"sign", "--key", "hashivault://release", img}, 3,
			[]string{"hashivault: cannot reach VAULT_ADDR " + closed}},
		{"unreachable, generate", []string{"VAULT_ADDR=" + closed}, []string{"keys", "generate", "--kms", "hashivault://k2", "--type", "ed25519"}, 3,
			[]string{"hashivault: cannot reach VAULT_ADDR " + closed}},
		{"unreachable, verify", []string{"VAULT_ADDR=" + closed}, []string{"verify", "--policy", pol, img}, 3,
			[]string{"hashivault: cannot reach VAULT_ADDR " + closed}},
		{"wrong token", []string{"VAULT_TOKEN=hvs.not-it"}, []string{"sign", "--key", "hashivault://release", img}, 3,
			[]string{"hashivault: permission denied (HTTP 403)", `"read" capability on transit/keys/release`}},
		{"VAULT_ADDR unset", []string{"VAULT_ADDR="}, []string{"keys", "public", "--key", "hashivault://release"}, 2,
			[]string{"VAULT_ADDR is not set"}},
		{"type the provider cannot create", nil, []string{"keys", "generate", "--kms", "azurekms://v.vault.azure.net/k", "--type", "rsa-3072"}, 2,
			[]string{"azurekms: cannot create rsa-3072 keys"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := e.kmsRun(c.extra, c.args...)
			if r.Code != c.code {
				t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", r.Code, c.code, r.Stdout, r.Stderr)
			}
			for _, w := range c.want {
				if !strings.Contains(r.Stderr, w) {
					t.Errorf("stderr does not contain %q:\n%s", w, r.Stderr)
				}
			}
			if strings.Contains(r.Stderr, e.vault.Token) {
				t.Errorf("stderr leaks the Vault token:\n%s", r.Stderr)
			}
		})
	}
}

// cosign v3 (pinned) signs and verifies with the same Vault key. cosign
// verifies through Vault's verify endpoint against one version (v1 unless
// VAULT_KEY_PREFIX says otherwise); imgsign trusts every live version.
func TestKMSHashivaultCosignInterop(t *testing.T) {
	cosign := testenv.Tool(t, "cosign")
	host := testenv.Registry(t, true).Addr
	e := newKMSEnv(t)
	e.kmsMust("keys", "generate", "--kms", "hashivault://release", "--type", "ecdsa-p256")
	cosignEnv := append([]string{"COSIGN_YES=true"}, e.vault.Env()...)
	cosignVerify := func(img string, extra ...string) testenv.Result {
		return testenv.Run(t, e.dir, append(cosignEnv, extra...), cosign,
			"verify", "--key", "hashivault://release", "--insecure-ignore-tlog", "--allow-insecure-registry", img)
	}
	pol := e.kmsPolicy(host, 1)

	testenv.PushImage(t, host, "by-cosign", "v1")
	r := testenv.Run(t, e.dir, cosignEnv, cosign, "sign", "--key", "hashivault://release", "--tlog-upload=false",
		"--use-signing-config=false", "--allow-insecure-registry", "-y", host+"/by-cosign:v1")
	if r.Code != 0 {
		t.Fatalf("cosign sign: exit %d\n%s", r.Code, r.Stderr)
	}
	if _, res := e.kmsVerify(nil, pol, host+"/by-cosign:v1"); res.Code != 0 {
		t.Errorf("imgsign verify of cosign's Vault signature: exit %d\n%s\n%s", res.Code, res.Stdout, res.Stderr)
	}

	testenv.PushImage(t, host, "by-imgsign", "v1")
	e.kmsMust("sign", "--key", "hashivault://release", host+"/by-imgsign:v1")
	if r := cosignVerify(host + "/by-imgsign:v1"); r.Code != 0 {
		t.Errorf("cosign verify of imgsign's Vault signature: exit %d\n%s", r.Code, r.Stderr)
	}

	if _, err := e.vault.Rotate("release"); err != nil {
		t.Fatal(err)
	}
	testenv.PushImage(t, host, "after-rotation", "v1")
	e.kmsMust("sign", "--key", "hashivault://release", host+"/after-rotation:v1")
	if _, res := e.kmsVerify(nil, pol, host+"/after-rotation:v1", host+"/by-imgsign:v1"); res.Code != 0 {
		t.Errorf("imgsign verify of v1 and v2 signatures: exit %d\n%s", res.Code, res.Stdout)
	}
	if r := cosignVerify(host + "/after-rotation:v1"); r.Code == 0 {
		t.Errorf("cosign verified a v2 signature against its default vault:v1: prefix; the documented difference no longer holds")
	}
	if r := cosignVerify(host+"/after-rotation:v1", "VAULT_KEY_PREFIX=vault:v2:"); r.Code != 0 {
		t.Errorf("cosign verify with VAULT_KEY_PREFIX=vault:v2:: exit %d\n%s", r.Code, r.Stderr)
	}
}
