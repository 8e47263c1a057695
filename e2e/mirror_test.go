package e2e

// Mirrors in the trust policy (docs/policy.md#mirrors), through the CLI on
// both registries: a policy for ghcr.io/acme/** verifies the copy at
// HOST/mirror/acme/app through a mirror mapping; without the mapping the
// mirror's own rule applies. ghcr.io is never contacted: the signatures are
// made here for the ghcr.io names and pushed with the copies, as a copy
// (imgsign copy, cosign copy, oras cp) carries them.

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/imgsign/imgsign/internal/testing/testenv"
	"github.com/imgsign/imgsign/keys"
	"github.com/imgsign/imgsign/sign"
	"github.com/imgsign/imgsign/statement"
)

// signCopy attaches to host/repo:tag a signature by keyFile whose statement
// names canonical and binds boundTag: one made for the canonical image and
// copied with it.
func signCopy(t *testing.T, keyFile, host, repo, tag, canonical, boundTag string) {
	t.Helper()
	ctx := context.Background()
	s, err := keys.KeyFiles.LoadSigner(ctx, keyFile, keys.Access{Passphrase: func(bool) ([]byte, error) { return []byte(passphrase), nil }})
	if err != nil {
		t.Fatal(err)
	}
	rp := openRepo(t, host, repo)
	desc, err := rp.Resolve(ctx, rp.Name().Tag(tag))
	if err != nil {
		t.Fatal(err)
	}
	r, err := name.NewRepository(canonical)
	if err != nil {
		t.Fatal(err)
	}
	ann := map[string]string{statement.TagAnnotation: boundTag, statement.SignedAtAnnotation: time.Now().Add(-time.Minute).UTC().Format(time.RFC3339Nano)}
	st, err := statement.About(r, desc.Digest, statement.Signature, map[string]any{}, ann)
	if err != nil {
		t.Fatal(err)
	}
	b, err := sign.Bundle(ctx, st, s, "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sign.Push(ctx, rp, desc, statement.Signature, b, sign.Options{}); err != nil {
		t.Fatal(err)
	}
}

// mirrorPolicy trusts k for ghcr.io/acme/** (tag-bound) and local for the
// mirror host's own repositories, with HOST/mirror/acme mapped to
// ghcr.io/acme when mapped.
func mirrorPolicy(host string, mapped bool) string {
	mirrors := ""
	if mapped {
		mirrors = fmt.Sprintf("mirrors:\n  - mirror: %s/mirror/acme   # where the copy lives\n    canonical: ghcr.io/acme        # what it is a copy of\n", host)
	}
	return fmt.Sprintf(`version: 1
keys:
  - {name: k, publicKey: k.pub}
  - {name: local, publicKey: local.pub}
%spolicies:
  - name: acme
    scopes: ["ghcr.io/acme/**"]
    signatures: {keys: [k], bindTag: true}
  - name: mirror-own
    scopes: ["%s/**"]
    signatures: {keys: [local]}
`, mirrors, host)
}

func TestMirrorVerify(t *testing.T) {
	for _, reg := range registries {
		t.Run(reg.name, func(t *testing.T) {
			host := reg.start(t)
			e := newEnv(t)
			k := e.key("k", "ecdsa-p256")
			e.key("local", "ed25519")
			mapped := e.write("mapped.yaml", mirrorPolicy(host, true))
			own := e.write("own.yaml", mirrorPolicy(host, false))
			if r := e.must("policy", "check", mapped); !strings.Contains(r.Stdout, "mapped.yaml: ok (2 keys, 0 identities, 2 rules, 1 mirror)") {
				t.Errorf("policy check: %s", r.Stdout)
			}

			d := testenv.PushImage(t, host, "mirror/acme/app", "1.0")
			signCopy(t, k, host, "mirror/acme/app", "1.0", "ghcr.io/acme/app", "1.0")
			img := host + "/mirror/acme/app:1.0"

			r := e.must("verify", "--policy", mapped, img)
			for _, want := range []string{
				"PASS  " + host + "/mirror/acme/app@" + d.String(),
				"  mirror of: ghcr.io/acme/app (mirrors: " + host + "/mirror/acme → ghcr.io/acme)\n",
				"  policy: acme (enforce), scope \"ghcr.io/acme/**\"",
				"1 of 1 required distinct keys signed for tag 1.0",
			} {
				if !strings.Contains(r.Stdout, want) {
					t.Errorf("verify through the mapping: output lacks %q:\n%s", want, r.Stdout)
				}
			}
			rep, _ := e.verifyJSON(mapped, img)
			res := rep.Images[0]
			if res.Canonical != "ghcr.io/acme/app" || res.MirrorMapping == nil || res.MirrorMapping.Mirror != host+"/mirror/acme" || res.MirrorMapping.Canonical != "ghcr.io/acme" ||
				res.Reference != host+"/mirror/acme/app@"+d.String() || res.Policy != "acme" {
				t.Errorf("JSON: canonical %q, mapping %+v, reference %s, policy %s", res.Canonical, res.MirrorMapping, res.Reference, res.Policy)
			}

			// Without the mapping the mirror's own rule judges the copy.
			r = e.run("verify", "--policy", own, img)
			if r.Code != 1 || !strings.Contains(r.Stdout, "policy: mirror-own") || strings.Contains(r.Stdout, "mirror of:") {
				t.Errorf("without the mapping: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
			}
			rep, _ = e.verifyJSON(own, img)
			if res := rep.Images[0]; res.Canonical != "" || res.MirrorMapping != nil || res.Policy != "mirror-own" {
				t.Errorf("without the mapping, JSON: %+v", res)
			}

			// The attacker's moves on the mirror.
			t.Run("another repository's signature copied onto the copy", func(t *testing.T) {
				testenv.PushImage(t, host, "mirror/acme/app", "other")
				signCopy(t, k, host, "mirror/acme/app", "other", "ghcr.io/acme/other", "other")
				r := e.run("verify", "--policy", mapped, host+"/mirror/acme/app:other")
				if r.Code != 1 || !strings.Contains(r.Stdout, "signed for tag other of ghcr.io/acme/other, not of "+host+"/mirror/acme/app (a copy of ghcr.io/acme/app)") || !strings.Contains(r.Stdout, "[tag-not-bound]") {
					t.Errorf("exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
				}
			})
			t.Run("a name beside the mirror prefix", func(t *testing.T) {
				testenv.PushImage(t, host, "mirror/acme-evil/app", "1.0")
				signCopy(t, k, host, "mirror/acme-evil/app", "1.0", "ghcr.io/acme/app", "1.0")
				r := e.run("verify", "--policy", mapped, host+"/mirror/acme-evil/app:1.0")
				if r.Code != 1 || !strings.Contains(r.Stdout, "policy: mirror-own") || strings.Contains(r.Stdout, "mirror of:") {
					t.Errorf("exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
				}
			})
			t.Run("a path resolving into the prefix", func(t *testing.T) {
				r := e.run("verify", "--policy", mapped, host+"/mirror/acme-evil/../acme/app:1.0")
				if r.Code != 2 || !strings.Contains(r.Stdout+r.Stderr, `".." path segment`) {
					t.Errorf("exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
				}
			})
		})
	}
}

// TestMirrorPolicyCheck: policy check reports mirror problems with their
// lines, exit 2.
func TestMirrorPolicyCheck(t *testing.T) {
	e := newEnv(t)
	e.key("k", "ecdsa-p256")
	p := e.write("trust.yaml", `version: 1
keys:
  - {name: k, publicKey: k.pub}
mirrors:
  - mirror: mirror.corp/dockerhub/library
    canonical: docker.io/library
  - mirror: mirror.corp/ghcr/**
    canonical: ghcr.io
  - mirror: airgap.corp/hub
    canonical: mirror.corp/dockerhub
policies:
  - name: hub
    scopes: [docker.io/**]
    signatures: {keys: [k]}
  - name: mirror-path
    scopes: [mirror.corp/dockerhub/library/nginx]
    signatures: {keys: [k]}
`)
	r := e.run("policy", "check", p)
	for _, want := range []string{
		`trust.yaml:7: mirrors[1].mirror: "mirror.corp/ghcr/**": mirror prefixes take no wildcards`,
		`trust.yaml:9: mirrors[2].canonical: canonical "mirror.corp/dockerhub" overlaps mirror prefix "mirror.corp/dockerhub/library" of mirrors[0] (line 5): mappings apply once and do not chain`,
		`trust.yaml:16: policies[1].scopes[0]: scope "mirror.corp/dockerhub/library/nginx" of policy "mirror-path" is inside mirror prefix "mirror.corp/dockerhub/library" (mirrors[0], line 5)`,
	} {
		if !strings.Contains(r.Stderr, want) {
			t.Errorf("policy check lacks %q:\n%s", want, r.Stderr)
		}
	}
	if r.Code != 2 {
		t.Errorf("exit %d, want 2", r.Code)
	}
}
