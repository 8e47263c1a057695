package verify

import (
	"strings"
	"testing"

	"github.com/imgsign/imgsign/internal/errkind"
	"github.com/imgsign/imgsign/keys"
	"github.com/imgsign/imgsign/verify/policy"
)

func TestOffline(t *testing.T) {
	parse := func(keys string) *policy.Policy {
		t.Helper()
		p, err := policy.Parse([]byte("version: 1\nkeys:\n"+keys+"trustRoots: [{name: pg, sigstore: public-good}]\npolicies: [{name: p, scopes: ['r.io/**'], signatures: {keys: [a]}}]\n"), "")
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	k := newTestKey(t, "a", "ecdsa-p256")
	raw, err := keys.EncodePublic(k.priv.Public())
	if err != nil {
		t.Fatal(err)
	}
	pem := string(raw)
	inline := "  - name: a\n    publicKey: |\n      " + strings.ReplaceAll(strings.TrimSpace(pem), "\n", "\n      ") + "\n"
	if err := Offline(parse(inline)); err != nil {
		t.Errorf("inline key and the embedded trust root: %v", err)
	}
	for keys, want := range map[string]string{
		"  - {name: a, publicKey: 'hashivault://a'}\n":                                                       "--offline: policy key a is a KMS key (hashivault://a), which verify would fetch from the KMS: export its public key once (imgsign keys public --key hashivault://a > a.pub)",
		"  - {name: a, publicKey: 'awskms:///alias/a'}\n  - {name: b, publicKey: 'gcpkms://projects/p/k'}\n": "--offline: policy keys a (awskms:///alias/a), b (gcpkms://projects/p/k) are KMS keys",
	} {
		err := Offline(parse(keys))
		if err == nil || !strings.HasPrefix(err.Error(), want) {
			t.Errorf("Offline = %v, want %q", err, want)
		}
		if k, _ := errkind.Of(err); k != errkind.Input {
			t.Errorf("kind %v, want Input", k)
		}
	}
	one, err := policy.ForKey("hashivault://release", []string{"r.io/app"})
	if err != nil {
		t.Fatal(err)
	}
	if err := Offline(one); err == nil || !strings.HasPrefix(err.Error(), "--offline: --key hashivault://release is a KMS key") {
		t.Errorf("--key: %v", err)
	}
}
