package policy

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/imgsign/imgsign/internal/errkind"
)

func TestForKey(t *testing.T) {
	pub, pubPEM := newPub(t, "ecdsa")
	dir := writeTree(t, map[string][]byte{"k.pub": pubPEM, "k.key": privatePEM(t)})
	file := filepath.Join(dir, "k.pub")

	p, err := ForKey(file, []string{"127.0.0.1:5000/app", "localhost:5000/app", "nginx", "registry.example.com/team/app"})
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Keys) != 1 || p.Keys[0].Trusted == nil || p.Keys[0].Trusted.ID != keyID(t, pub) {
		t.Fatalf("keys: %+v", p.Keys)
	}
	r := p.Rules[0]
	if len(p.Rules) != 1 || r.Name != OneKeyRule || r.Mode != ModeEnforce || r.Signatures == nil ||
		r.Signatures.Threshold != 1 || len(r.Signatures.Keys) != 1 || r.Signatures.Keys[0] != p.Keys[0].Name || len(r.Attestations) != 0 {
		t.Fatalf("rule: %+v", r)
	}
	// One spelling per repository: 127.0.0.1 and localhost are one host.
	if len(r.Scopes) != 3 {
		t.Errorf("scopes %+v, want 3", r.Scopes)
	}
	for _, tt := range []struct {
		repo string
		ok   bool
	}{
		{"localhost:5000/app", true},
		{"index.docker.io/library/nginx", true},
		{"registry.example.com/team/app", true},
		// Exactly the repositories given: no neighbour, no child, no parent.
		{"localhost:5000/app/sub", false},
		{"localhost:5000/other", false},
		{"registry.example.com/team/app2", false},
		{"registry.example.com/team", false},
	} {
		repo, err := NormalizeRepository(tt.repo)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := p.Match(repo); (err == nil) != tt.ok {
			t.Errorf("Match(%s): %v, want matched=%v", tt.repo, err, tt.ok)
		}
	}

	// Inline PEM and KMS references, as a policy's publicKey takes them.
	if p, err := ForKey(string(pubPEM), []string{"example.com/app"}); err != nil || p.Keys[0].Trusted.ID != keyID(t, pub) {
		t.Errorf("inline PEM: %v", err)
	}
	if p, err := ForKey("awskms:///alias/release", []string{"example.com/app"}); err != nil || !p.KMSKeys() || p.Keys[0].Name != "awskms:///alias/release" {
		t.Errorf("KMS ref: %v", err)
	}

	for _, tt := range []struct {
		name, ref string
		repos     []string
		want      string
	}{
		{"missing file", filepath.Join(dir, "nope.pub"), []string{"example.com/app"}, "nope.pub"},
		{"private key", filepath.Join(dir, "k.key"), []string{"example.com/app"}, "PRIVATE key"},
		{"HSM object", "pkcs11:token=t;object=k", []string{"example.com/app"}, "imgsign keys public"},
		{"no repository", file, nil, "no repository"},
		{"bad repository", file, []string{"example.com/../app"}, "invalid repository"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ForKey(tt.ref, tt.repos)
			if kind, _ := errkind.Of(err); kind != errkind.Input || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v (kind %v), want bad input containing %q", err, kind, tt.want)
			}
		})
	}
}
