package policy

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/imgsign/imgsign/internal/errkind"
	"github.com/imgsign/imgsign/keys"
)

const rotatePolicy = `# Production trust policy.
version: 1
keys:
  - name: old
    publicKey: old.pub   # rotated yearly
  - name: sec
    publicKey: sec.pub
policies:
  - name: prod
    scopes: ["registry.example.com/prod/**"]
    signatures:
      keys: [old]
  - name: dual
    scopes: ["registry.example.com/dual/**"]
    signatures:
      keys: [old, sec]
      threshold: 2
`

// rotateFixture writes rotatePolicy (with extra appended to the old key's
// entry) and its public keys into a temp dir and returns the policy path.
func rotateFixture(t *testing.T, oldExtra string) string {
	t.Helper()
	_, oldPub := newPub(t, "p256")
	_, secPub := newPub(t, "ed25519")
	pol := strings.Replace(rotatePolicy, "# rotated yearly\n", "# rotated yearly\n"+oldExtra, 1)
	dir := writeTree(t, map[string][]byte{"trust.yaml": []byte(pol), "old.pub": oldPub, "sec.pub": secPub})
	return filepath.Join(dir, "trust.yaml")
}

// testAccess gives a fixed passphrase and prompts nobody.
func testAccess() keys.Access {
	return keys.Access{Passphrase: func(bool) ([]byte, error) { return []byte("rotate test"), nil }}
}

// writeSuccessor writes an existing key pair NAME.key/NAME.pub (or only
// NAME.key) into its own temp dir and returns the NAME.key path.
func writeSuccessor(t *testing.T, withPub bool) string {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	k, err := keys.WriteKeyPair(priv, filepath.Join(t.TempDir(), "succ"), keys.WriteOptions{}, testAccess())
	if err != nil {
		t.Fatal(err)
	}
	if !withPub {
		if err := os.Remove(k.PublicFile); err != nil {
			t.Fatal(err)
		}
	}
	return k.Ref
}

func TestRotate(t *testing.T) {
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	soon := now.Add(time.Hour)
	tests := []struct {
		name     string
		oldExtra string                                       // added to the old key's entry
		req      func(t *testing.T, dir string) RotateRequest // OldName, NewName default to old, new
		// Success: where the policy's publicKey for the successor points
		// (relative to the policy's directory), and the old key's end.
		wantPublicKey string
		wantUntil     time.Time
		wantKeyFiles  bool
		dry           bool
		// Failure: the error, and files that must not have been created.
		wantErr string
		noFiles []string
	}{
		{
			name:          "new key pair next to the policy",
			req:           func(*testing.T, string) RotateRequest { return RotateRequest{Type: "ecdsa-p256"} },
			wantPublicKey: "new.pub",
			wantUntil:     now.Add(720 * time.Hour),
			wantKeyFiles:  true,
		},
		{
			name: "new key pair in a subdirectory",
			req: func(_ *testing.T, dir string) RotateRequest {
				return RotateRequest{Type: "ed25519", Out: filepath.Join(dir, "k", "next.key")}
			},
			wantPublicKey: "k/next.pub",
			wantUntil:     now.Add(720 * time.Hour),
			wantKeyFiles:  true,
		},
		{
			name: "existing key is trusted through its own public key file",
			req: func(t *testing.T, _ string) RotateRequest {
				return RotateRequest{NewKey: writeSuccessor(t, true)}
			},
			wantPublicKey: "(succ.pub, absolute)",
			wantUntil:     now.Add(720 * time.Hour),
		},
		{
			name: "existing key without a public key file gets one next to the policy",
			req: func(t *testing.T, _ string) RotateRequest {
				return RotateRequest{NewKey: writeSuccessor(t, false)}
			},
			wantPublicKey: "new.pub",
			wantUntil:     now.Add(720 * time.Hour),
		},
		{
			name:          "an earlier validUntil is never extended",
			oldExtra:      "    validUntil: " + soon.Format(time.RFC3339) + "\n",
			req:           func(*testing.T, string) RotateRequest { return RotateRequest{Type: "ecdsa-p256"} },
			wantPublicKey: "new.pub",
			wantUntil:     soon,
			wantKeyFiles:  true,
		},
		{
			name:          "dry run writes nothing",
			req:           func(*testing.T, string) RotateRequest { return RotateRequest{Type: "ecdsa-p256", DryRun: true} },
			wantPublicKey: "new.pub",
			wantUntil:     now.Add(720 * time.Hour),
			dry:           true,
			noFiles:       []string{"new.key", "new.pub"},
		},
		{
			name:    "unknown key name",
			req:     func(*testing.T, string) RotateRequest { return RotateRequest{OldName: "nosuch", Type: "ecdsa-p256"} },
			wantErr: `has no key named "nosuch"`,
			noFiles: []string{"new.key", "new.pub"},
		},
		{
			name:    "successor already in the policy",
			req:     func(*testing.T, string) RotateRequest { return RotateRequest{NewName: "sec", Type: "ecdsa-p256"} },
			wantErr: `already has a key named "sec": choose another --new-name`,
			noFiles: []string{"sec.key"},
		},
		{
			name: "successor key file already exists",
			req: func(t *testing.T, dir string) RotateRequest {
				if err := os.WriteFile(filepath.Join(dir, "new.key"), []byte("keep me"), 0o600); err != nil {
					t.Fatal(err)
				}
				return RotateRequest{Type: "ecdsa-p256"}
			},
			wantErr: "new.key already exists",
			noFiles: []string{"new.pub"},
		},
		{
			name:    "unknown key type",
			req:     func(*testing.T, string) RotateRequest { return RotateRequest{Type: "dsa-1024"} },
			wantErr: `unknown key type "dsa-1024"`,
			noFiles: []string{"new.key", "new.pub"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := rotateFixture(t, tt.oldExtra)
			dir := filepath.Dir(path)
			before, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			req := tt.req(t, dir)
			req.PolicyFile, req.Overlap, req.Now, req.Access = path, 720*time.Hour, now, testAccess()
			if req.OldName == "" {
				req.OldName = "old"
			}
			if req.NewName == "" {
				req.NewName = "new"
			}
			res, err := Rotate(context.Background(), req)
			after, _ := os.ReadFile(path)
			for _, f := range tt.noFiles {
				if _, serr := os.Stat(filepath.Join(dir, f)); serr == nil {
					t.Errorf("%s was written", f)
				}
			}
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Rotate error %v, want one containing %q", err, tt.wantErr)
				}
				if k, _ := errkind.Of(err); k != errkind.Input {
					t.Errorf("error kind %v, want input", k)
				}
				if string(after) != string(before) {
					t.Errorf("a failed rotation changed the policy:\n%s", after)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(res.Diff, "+  - name: new") {
				t.Errorf("diff lacks the new key:\n%s", res.Diff)
			}
			if tt.oldExtra == "" && !strings.Contains(res.Diff, "+    validUntil: "+tt.wantUntil.Format(time.RFC3339)) {
				t.Errorf("diff lacks the old key's end:\n%s", res.Diff)
			}
			if !res.Until.Equal(tt.wantUntil) {
				t.Errorf("Until = %v, want %v", res.Until, tt.wantUntil)
			}
			if strings.Join(res.Rules, ",") != "prod,dual" {
				t.Errorf("Rules = %v, want [prod dual]", res.Rules)
			}
			// (A dry run's edit names a public key file not written yet, so
			// it does not load and no rule is reported.)
			if !tt.dry && (len(res.SharedThreshold) != 1 || res.SharedThreshold[0].Name != "dual") {
				t.Errorf("SharedThreshold = %v, want the dual rule", res.SharedThreshold)
			}
			if (res.KeyFiles != nil) != (tt.wantKeyFiles && !tt.dry) {
				t.Errorf("KeyFiles = %+v, want generated = %v", res.KeyFiles, tt.wantKeyFiles)
			}
			if tt.dry {
				if string(after) != string(before) {
					t.Errorf("a dry run changed the policy:\n%s", after)
				}
				return
			}
			if !strings.Contains(string(after), "# rotated yearly") {
				t.Errorf("the policy's comments were lost:\n%s", after)
			}
			p, err := Load(path)
			if err != nil {
				t.Fatalf("the rotated policy does not load: %v", err)
			}
			var newKey *Key
			for _, k := range p.Keys {
				if k.Name == "new" {
					newKey = k
				}
			}
			if newKey == nil || newKey.ValidFrom == nil || !newKey.ValidFrom.Equal(now) {
				t.Fatalf("successor %+v, want key new valid from %v", newKey, now)
			}
			want := filepath.FromSlash(tt.wantPublicKey)
			if strings.HasPrefix(tt.wantPublicKey, "(") {
				want = strings.TrimSuffix(req.NewKey, ".key") + ".pub"
			}
			if newKey.PublicKey != want {
				t.Errorf("successor's publicKey = %q, want %q", newKey.PublicKey, want)
			}
			if old := p.Key("old"); old == nil || old.ValidUntil == nil || !old.ValidUntil.Equal(tt.wantUntil) {
				t.Errorf("old key %+v, want valid until %v", old, tt.wantUntil)
			}
			for _, r := range p.Rules {
				if !strings.Contains(strings.Join(r.Signatures.Keys, ","), "old,new") {
					t.Errorf("rule %s keys %v, want new listed after old", r.Name, r.Signatures.Keys)
				}
			}
			// The successor signs, and the policy trusts what it signs.
			s, err := keys.BackendFor(res.SignerRef).LoadSigner(context.Background(), res.SignerRef, testAccess())
			if err != nil {
				t.Fatalf("loading the successor %s: %v", res.SignerRef, err)
			}
			if p.Key("new") == nil || s.ID() != p.Key("new").ID {
				t.Errorf("successor signs as %s, policy trusts %+v", s.ID(), p.Key("new"))
			}
		})
	}
}
