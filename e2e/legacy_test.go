package e2e

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/imgsign/imgsign/internal/attachment"
	"github.com/imgsign/imgsign/internal/testing/testenv"
	"github.com/imgsign/imgsign/verify"
)

// cosignLegacy runs `cosign SUBCOMMAND [extra...] IMAGE` so that cosign v3
// writes its legacy layout (sha256-<hex>.sig / .att tags), signing with
// k.key and no transparency log.
func cosignLegacy(t *testing.T, e *env, cosign, subcommand, image string, extra ...string) {
	t.Helper()
	args := append([]string{subcommand, "--key", "k.key", "--tlog-upload=false", "--use-signing-config=false",
		"--new-bundle-format=false", "--allow-insecure-registry", "-y"}, extra...)
	args = append(args, image)
	r := testenv.Run(t, e.dir, []string{"COSIGN_PASSWORD=" + passphrase}, cosign, args...)
	if r.Code != 0 {
		t.Fatalf("cosign %s: exit %d\n%s", strings.Join(args, " "), r.Code, r.Stderr)
	}
}

// legacyPolicy requires a signature and a SLSA provenance attestation by
// k, with a condition on the provenance (the statement must be readable).
func legacyPolicy(e *env, host string) string {
	return e.write("trust.yaml", `version: 1
keys:
  - name: k
    publicKey: k.pub
policies:
  - name: legacy
    scopes: ["`+host+`/**"]
    signatures:
      keys: [k]
    attestations:
      - type: https://slsa.dev/provenance/v1
        keys: [k]
        conditions:
          - predicate.runDetails.builder.id.startsWith("https://github.com/acme/")
`)
}

// legacyTags returns the referrer digests `imgsign tree` shows for the
// image's cosign legacy .sig and .att tags.
func legacyTags(t *testing.T, e *env, img string) (sig, att string) {
	t.Helper()
	var tree verify.Tree
	if err := json.Unmarshal([]byte(e.must("tree", "--output", "json", img).Stdout), &tree); err != nil {
		t.Fatal(err)
	}
	for _, a := range tree.Attachments {
		switch {
		case strings.HasSuffix(a.Tag, ".sig"):
			sig = a.Referrer
		case strings.HasSuffix(a.Tag, ".att"):
			att = a.Referrer
		}
	}
	return sig, att
}

// imgsign verifies what cosign writes in its legacy layout: signatures
// (.sig) and SLSA provenance attestations (.att), for every key type, on
// both kinds of registry. The keys are imgsign's; cosign signs with them.
func TestCosignLegacyVerify(t *testing.T) {
	cosign := testenv.Tool(t, "cosign")
	for _, reg := range registries {
		t.Run(reg.name, func(t *testing.T) {
			host := reg.start(t)
			for _, typ := range []string{"ecdsa-p256", "ecdsa-p384", "ed25519", "rsa-3072"} {
				t.Run(typ, func(t *testing.T) {
					e := newEnv(t)
					e.key("k", typ)
					repo := "legacy/" + typ
					d := testenv.PushImage(t, host, repo, "v1")
					img := host + "/" + repo + ":v1"
					e.write("prov.json", fixture(t, "attest/slsa-github.json"))
					cosignLegacy(t, e, cosign, "sign", img)
					cosignLegacy(t, e, cosign, "attest", img, "--type", "slsaprovenance1", "--predicate", "prov.json")
					sig, att := legacyTags(t, e, img)
					if sig == "" || att == "" {
						t.Fatalf("cosign wrote no legacy tags (sig %q att %q)", sig, att)
					}

					rep, res := e.verifyJSON(legacyPolicy(e, host), img)
					if res.Code != 0 || rep.Images[0].Verdict != verify.VerdictPass {
						t.Fatalf("verify: exit %d\n%s\n%s", res.Code, res.Stdout, res.Stderr)
					}
					ir := rep.Images[0]
					if ir.Digest != d.String() || ir.Attachments != 2 {
						t.Errorf("digest %s attachments %d, want %s and 2", ir.Digest, ir.Attachments, d)
					}
					for i, want := range []string{sig, att} {
						acc := ir.Requirements[i].Accepted
						if len(acc) != 1 || acc[0].KeyName != "k" || acc[0].Referrer != want {
							t.Errorf("%s: accepted %+v, want key k from %s", ir.Requirements[i].Kind, acc, want)
						}
					}
					text := e.must("verify", "--policy", "trust.yaml", img).Stdout
					if !strings.HasPrefix(text, "PASS  "+digestRef(host, repo, d)) {
						t.Errorf("text verdict:\n%s", text)
					}
				})
			}
		})
	}
}

// An image carrying a cosign legacy signature by one key and an imgsign
// bundle signature by another meets a 2-of-2 threshold: both formats count
// as distinct keys.
func TestCosignLegacyAndBundleThreshold(t *testing.T) {
	cosign := testenv.Tool(t, "cosign")
	for _, reg := range registries {
		t.Run(reg.name, func(t *testing.T) {
			host := reg.start(t)
			e := newEnv(t)
			e.key("k", "ed25519") // cosign's key
			e.key("i", "ecdsa-p256")
			img := host + "/both:v1"
			testenv.PushImage(t, host, "both", "v1")
			cosignLegacy(t, e, cosign, "sign", img)
			e.must("sign", "--key", "i.key", img)
			sig, _ := legacyTags(t, e, img)

			rep, res := e.verifyJSON(e.policy(host, []string{"i", "k"}, 2, nil), img)
			if res.Code != 0 {
				t.Fatalf("verify: exit %d\n%s", res.Code, res.Stdout)
			}
			acc := rep.Images[0].Requirements[0].Accepted
			if len(acc) != 2 || acc[0].KeyName != "i" || acc[1].KeyName != "k" || acc[1].Referrer != sig {
				t.Fatalf("accepted %+v, want i (bundle) and k (legacy %s)", acc, sig)
			}
			if acc[0].Referrer == sig {
				t.Errorf("the bundle signature was credited to the legacy tag")
			}
		})
	}
}

// A cosign legacy signature copied onto another image's .sig tag, or one
// whose signature annotation was altered, is rejected with the reason.
func TestCosignLegacyReplayAndTamper(t *testing.T) {
	cosign := testenv.Tool(t, "cosign")
	for _, reg := range registries {
		t.Run(reg.name, func(t *testing.T) {
			host := reg.start(t)
			e := newEnv(t)
			e.key("k", "ecdsa-p256")
			signed := testenv.PushImage(t, host, "replay", "signed")
			victim := testenv.PushImage(t, host, "replay", "victim")
			tampered := testenv.PushImage(t, host, "replay", "tampered")
			cosignLegacy(t, e, cosign, "sign", host+"/replay:signed")

			// Copy the .sig manifest (its blobs are in the repository) to the
			// other images' tags, one as is and one with a flipped signature.
			ctx := context.Background()
			rp := openRepo(t, host, "replay")
			raw, _, err := rp.Manifest(ctx, attachment.LegacyTag(signed, "sig"), v1.Hash{})
			if err != nil {
				t.Fatal(err)
			}
			if err := rp.PutManifest(ctx, attachment.LegacyTag(victim, "sig"), raw, types.OCIManifestSchema1); err != nil {
				t.Fatal(err)
			}
			var m v1.Manifest
			if err := json.Unmarshal(raw, &m); err != nil {
				t.Fatal(err)
			}
			sig, err := base64.StdEncoding.DecodeString(m.Layers[0].Annotations["dev.cosignproject.cosign/signature"])
			if err != nil {
				t.Fatal(err)
			}
			sig[len(sig)-1] ^= 1
			m.Layers[0].Annotations["dev.cosignproject.cosign/signature"] = base64.StdEncoding.EncodeToString(sig)
			bad, _ := json.Marshal(m)
			if err := rp.PutManifest(ctx, attachment.LegacyTag(tampered, "sig"), bad, types.OCIManifestSchema1); err != nil {
				t.Fatal(err)
			}

			pol := e.policy(host, []string{"k"}, 1, nil)
			if _, res := e.verifyJSON(pol, host+"/replay:signed"); res.Code != 0 {
				t.Fatalf("the original: exit %d\n%s", res.Code, res.Stdout)
			}
			for _, c := range []struct{ tag, want string }{
				{"victim", "the signed payload is about " + signed.String() + ", not " + victim.String() + " (signature copied from another image?)"},
				{"tampered", "signature does not verify with any of the 1 policy key(s)"},
			} {
				rep, res := e.verifyJSON(pol, host+"/replay:"+c.tag)
				if res.Code != 1 {
					t.Errorf("%s: exit %d, want 1\n%s", c.tag, res.Code, res.Stdout)
					continue
				}
				rj := rep.Images[0].Requirements[0].Rejected
				if len(rj) != 1 || !strings.Contains(rj[0].Reason, c.want) || !strings.HasPrefix(rj[0].Reason, "cosign legacy signature (.sig layer 1 of 1)") {
					t.Errorf("%s: rejections %+v, want one saying %q", c.tag, rj, c.want)
				}
				text := e.run("verify", "--policy", pol, host+"/replay:"+c.tag).Stdout
				if !strings.Contains(text, "FAIL") || !strings.Contains(text, "cosign legacy signature") {
					t.Errorf("%s: text report:\n%s", c.tag, text)
				}
			}
		})
	}
}

// With a cosign legacy signature only, verify from a tag costs two requests
// more than with an imgsign bundle (the .sig manifest and its layer) and
// nothing more when the bundle already satisfies the policy, on both kinds
// of registry.
func TestLegacyVerifyBudget(t *testing.T) {
	cosign := testenv.Tool(t, "cosign")
	for _, api := range []bool{true, false} {
		t.Run(map[bool]string{true: "referrers-api", false: "tag-schema"}[api], func(t *testing.T) {
			srv := testenv.Registry(t, api)
			host := srv.Addr
			e := newEnv(t)
			e.key("k", "ecdsa-p256")
			testenv.PushImage(t, host, "budget", "bundle")
			testenv.PushImage(t, host, "budget", "legacy")
			testenv.PushImage(t, host, "budget", "none")
			e.must("sign", "--key", "k.key", host+"/budget:bundle")
			cosignLegacy(t, e, cosign, "sign", host+"/budget:bundle") // present but not needed
			cosignLegacy(t, e, cosign, "sign", host+"/budget:legacy")
			pol := e.policy(host, []string{"k"}, 1, nil)
			count := func(tag string, code int) int64 {
				t.Helper()
				before := srv.Requests()
				if r := e.run("verify", "--policy", pol, host+"/budget:"+tag); r.Code != code {
					t.Fatalf("verify %s: exit %d, want %d\n%s", tag, r.Code, code, r.Stdout)
				}
				return srv.Requests() - before
			}
			// ping, resolve, referrers listing (+ without the API: the
			// referrers tag index and the tag listing), then the bundle.
			want := int64(4)
			if !api {
				want = 6
			}
			if n := count("bundle", 0); n != want {
				t.Errorf("bundle-signed: %d requests, want %d", n, want)
			}
			// The .sig manifest and its one layer instead of the bundle.
			if n := count("legacy", 0); n != want+1 {
				t.Errorf("legacy-signed: %d requests, want %d", n, want+1)
			}
			// Nothing to find: with the API one GET of the .sig tag answers
			// 404; without it the tag listing already showed there is none.
			none := want // -1 bundle, +1 guessed .sig tag
			if !api {
				none = want - 1
			}
			if n := count("none", 1); n != none {
				t.Errorf("unsigned: %d requests, want %d", n, none)
			}
		})
	}
}
