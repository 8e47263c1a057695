package verify

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/notaryproject/notation-core-go/signature"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/imgsign/imgsign/internal/attachment"
	"github.com/imgsign/imgsign/internal/testing/testenv"
	"github.com/imgsign/imgsign/internal/testing/testpki"
	"github.com/imgsign/imgsign/verify/policy"
)

// notaryPolicy trusts pki's root as a ca store (and, with authority, as a
// signingAuthority store) for one x509 signer named acme with extra
// signer fields.
func notaryPolicy(t *testing.T, host string, pki *testpki.PKI, authority bool, extra string) *policy.Policy {
	t.Helper()
	dir := t.TempDir()
	root := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: pki.Root.Raw})
	if err := os.WriteFile(filepath.Join(dir, "root.pem"), root, 0o644); err != nil {
		t.Fatal(err)
	}
	storeType := "ca"
	if authority {
		storeType = "signingAuthority"
	}
	doc := fmt.Sprintf(`version: 1
trustStores:
  - name: acme
    type: %s
    certificates: [root.pem]
x509Signers:
  - name: acme
    trustStores: [acme]
    trustedIdentities: ["*"]
%spolicies:
  - name: app
    scopes: [%q]
    signatures:
      keys: [acme]
`, storeType, extra, host+"/**")
	p, err := policy.Parse([]byte(doc), dir)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// envelopeFor signs a Notary payload describing target with leaf, as a
// signer would (notation-core-go's local signer), with edit applied to
// the request first.
func envelopeFor(t testing.TB, leaf *testpki.Leaf, target ocispec.Descriptor, mediaType string, edit func(*signature.SignRequest)) []byte {
	t.Helper()
	s, err := signature.NewLocalSigner(leaf.Chain, leaf.Key)
	if err != nil {
		t.Fatal(err)
	}
	payload, _ := json.Marshal(map[string]any{"targetArtifact": target})
	req := &signature.SignRequest{
		Payload:       signature.Payload{ContentType: "application/vnd.cncf.notary.payload.v1+json", Content: payload},
		Signer:        s,
		SigningTime:   time.Now(),
		SigningScheme: signature.SigningSchemeX509,
		SigningAgent:  "test",
	}
	if edit != nil {
		edit(req)
	}
	env, err := signature.NewEnvelope(mediaType)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := env.Sign(req)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// pushEnvelope attaches env to subject as a Notary Project signature.
func pushEnvelope(t *testing.T, reg *legacyRegistry, subject v1.Descriptor, env []byte, mediaType string, chain []*x509.Certificate) string {
	t.Helper()
	ctx := context.Background()
	if _, err := reg.repo.PutBlob(ctx, attachment.EmptyJSON); err != nil {
		t.Fatal(err)
	}
	d, err := reg.repo.PutBlob(ctx, env)
	if err != nil {
		t.Fatal(err)
	}
	d.MediaType = types.MediaType(mediaType)
	ref, err := attachment.NewNotaryReferrer(subject, d, chain, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := reg.repo.PushReferrer(ctx, ref); err != nil {
		t.Fatal(err)
	}
	return ref.Descriptor.Digest.String()
}

func imageDescriptor(t *testing.T, reg *legacyRegistry, tag string) v1.Descriptor {
	t.Helper()
	testenv.PushImage(t, reg.host, "app", tag)
	target, err := reg.client.Resolve(context.Background(), reg.host+"/app:"+tag, false)
	if err != nil {
		t.Fatal(err)
	}
	return target.Descriptor
}

func ociDesc(d v1.Descriptor) ocispec.Descriptor {
	return ocispec.Descriptor{MediaType: string(d.MediaType), Digest: digest.Digest(d.Digest.String()), Size: d.Size}
}

// The attacks on Notary Project signatures that need a hand-made envelope:
// what notation itself would never write.
func TestNotarySignatures(t *testing.T) {
	reg := newLegacyRegistry(t, true)
	pki := testpki.New(t)
	leaf := pki.Leaf(t, testpki.LeafOptions{})
	verify := func(t *testing.T, p *policy.Policy, tag string, opts ...Option) *ImageResult {
		t.Helper()
		return New(reg.client, p, opts...).Verify(context.Background(), reg.host+"/app:"+tag)
	}
	rejectedFor := func(t *testing.T, res *ImageResult, want string) {
		t.Helper()
		if res.Verdict != VerdictFail {
			t.Fatalf("verdict %s, want fail: %+v", res.Verdict, res.Requirements)
		}
		for _, rj := range res.Requirements[0].Rejected {
			if strings.Contains(rj.Reason, want) {
				return
			}
		}
		t.Fatalf("no rejection mentions %q: %+v (%s)", want, res.Requirements[0].Rejected, res.Requirements[0].Summary)
	}

	t.Run("JWS and COSE count once, format and certificate reported", func(t *testing.T) {
		d := imageDescriptor(t, reg, "both")
		for _, mt := range []string{attachment.NotaryJWSMediaType, attachment.NotaryCOSEMediaType} {
			pushEnvelope(t, reg, d, envelopeFor(t, leaf, ociDesc(d), mt, nil), mt, leaf.Chain)
		}
		res := verify(t, notaryPolicy(t, reg.host, pki, false, ""), "both")
		if res.Verdict != VerdictPass {
			t.Fatalf("verdict %s: %+v", res.Verdict, res.Requirements)
		}
		rq := res.Requirements[0]
		if len(rq.Accepted) != 1 || len(rq.AlsoSigned) != 1 {
			t.Fatalf("accepted %d, also %d: two envelopes of one signer count once", len(rq.Accepted), len(rq.AlsoSigned))
		}
		a := rq.Accepted[0]
		if a.Certificate == nil || a.Certificate.Subject != leaf.Cert.Subject.String() || a.TimeSource != TimeSourceJudgedAt {
			t.Errorf("accepted %+v", a)
		}
		// imgsign serve caches the verdict no longer than the chain is valid.
		if !res.StableUntil.Equal(leaf.Cert.NotAfter) {
			t.Errorf("stable until %s, want the leaf's expiry %s", res.StableUntil, leaf.Cert.NotAfter)
		}
		if formats := a.Format + "," + rq.AlsoSigned[0].Format; formats != "notary-jws,notary-cose" && formats != "notary-cose,notary-jws" {
			t.Errorf("formats %s", formats)
		}
	})

	t.Run("signature of another image copied onto this one", func(t *testing.T) {
		other := imageDescriptor(t, reg, "other")
		d := imageDescriptor(t, reg, "copied")
		pushEnvelope(t, reg, d, envelopeFor(t, leaf, ociDesc(other), attachment.NotaryJWSMediaType, nil), attachment.NotaryJWSMediaType, leaf.Chain)
		rejectedFor(t, verify(t, notaryPolicy(t, reg.host, pki, false, ""), "copied"), "content descriptor mismatch")
	})

	t.Run("same digest, another media type or size", func(t *testing.T) {
		d := imageDescriptor(t, reg, "size")
		forged := ociDesc(d)
		forged.Size++
		pushEnvelope(t, reg, d, envelopeFor(t, leaf, forged, attachment.NotaryJWSMediaType, nil), attachment.NotaryJWSMediaType, leaf.Chain)
		rejectedFor(t, verify(t, notaryPolicy(t, reg.host, pki, false, ""), "size"), "content descriptor mismatch")
	})

	t.Run("a backdated signing time does not make an expired signer valid", func(t *testing.T) {
		d := imageDescriptor(t, reg, "backdated")
		pushEnvelope(t, reg, d, envelopeFor(t, leaf, ociDesc(d), attachment.NotaryJWSMediaType, func(r *signature.SignRequest) {
			r.SigningTime = time.Now().Add(-30 * time.Minute) // within the leaf's validity, before validUntil
		}), attachment.NotaryJWSMediaType, leaf.Chain)
		until := time.Now().Add(-10 * time.Minute).UTC().Format(time.RFC3339)
		rejectedFor(t, verify(t, notaryPolicy(t, reg.host, pki, false, "    validUntil: "+until+"\n"), "backdated"), "x509 signer acme expired")
	})

	t.Run("envelope that needs a verification plugin", func(t *testing.T) {
		d := imageDescriptor(t, reg, "plugin")
		pushEnvelope(t, reg, d, envelopeFor(t, leaf, ociDesc(d), attachment.NotaryJWSMediaType, func(r *signature.SignRequest) {
			r.ExtendedSignedAttributes = []signature.Attribute{{Key: "io.cncf.notary.verificationPlugin", Critical: true, Value: "attacker-plugin"}}
		}), attachment.NotaryJWSMediaType, leaf.Chain)
		rejectedFor(t, verify(t, notaryPolicy(t, reg.host, pki, false, ""), "plugin"), "plugin")
	})

	t.Run("tampered envelope", func(t *testing.T) {
		d := imageDescriptor(t, reg, "tampered")
		env := envelopeFor(t, leaf, ociDesc(d), attachment.NotaryJWSMediaType, nil)
		var jws map[string]any
		if err := json.Unmarshal(env, &jws); err != nil {
			t.Fatal(err)
		}
		sig := []byte(jws["signature"].(string))
		sig[10] ^= 1
		jws["signature"] = string(sig)
		env, _ = json.Marshal(jws)
		pushEnvelope(t, reg, d, env, attachment.NotaryJWSMediaType, leaf.Chain)
		res := verify(t, notaryPolicy(t, reg.host, pki, false, ""), "tampered")
		if res.Verdict != VerdictFail || res.Requirements[0].Rejected[0].Code != CodeSignatureInvalid {
			t.Fatalf("verdict %s: %+v", res.Verdict, res.Requirements[0].Rejected)
		}
	})

	t.Run("signing authority: its signing time is trusted, from its own store only", func(t *testing.T) {
		d := imageDescriptor(t, reg, "authority")
		signed := time.Now().Add(-20 * time.Minute).Truncate(time.Second)
		pushEnvelope(t, reg, d, envelopeFor(t, leaf, ociDesc(d), attachment.NotaryJWSMediaType, func(r *signature.SignRequest) {
			r.SigningScheme = signature.SigningSchemeX509SigningAuthority
			r.SigningTime = signed
		}), attachment.NotaryJWSMediaType, leaf.Chain)
		// A ca store does not vouch for a signing authority's signature.
		rejectedFor(t, verify(t, notaryPolicy(t, reg.host, pki, false, ""), "authority"), "")
		until := time.Now().Add(-10 * time.Minute).UTC().Format(time.RFC3339)
		res := verify(t, notaryPolicy(t, reg.host, pki, true, "    validUntil: "+until+"\n"), "authority")
		if res.Verdict != VerdictPass {
			t.Fatalf("verdict %s: %+v", res.Verdict, res.Requirements)
		}
		a := res.Requirements[0].Accepted[0]
		if a.TimeSource != "signing-authority:acme" || a.SignedAt != signed.UTC().Format(time.RFC3339) {
			t.Errorf("time %s from %s, want %s from signing-authority:acme", a.SignedAt, a.TimeSource, signed)
		}
	})

	t.Run("offline: revocation enforced is not skipped", func(t *testing.T) {
		// verify.Offline refuses this policy first; a caller that does
		// not ask it still gets no PASS on an unchecked chain: the CRL
		// server the chain names is refused, the status unknown.
		d := imageDescriptor(t, reg, "offline-enforce")
		pushEnvelope(t, reg, d, envelopeFor(t, leaf, ociDesc(d), attachment.NotaryJWSMediaType, nil), attachment.NotaryJWSMediaType, leaf.Chain)
		res := verify(t, notaryPolicy(t, reg.host, pki, false, ""), "offline-enforce", WithOffline())
		rejectedFor(t, res, "revocation status is unknown")
	})

	t.Run("offline: revocation not checked, and said", func(t *testing.T) {
		d := imageDescriptor(t, reg, "offline")
		pushEnvelope(t, reg, d, envelopeFor(t, leaf, ociDesc(d), attachment.NotaryJWSMediaType, nil), attachment.NotaryJWSMediaType, leaf.Chain)
		res := verify(t, notaryPolicy(t, reg.host, pki, false, "    revocation: log\n"), "offline", WithOffline())
		if res.Verdict != VerdictPass {
			t.Fatalf("verdict %s: %+v", res.Verdict, res.Requirements)
		}
		if w := res.Requirements[0].Accepted[0].Warnings; len(w) != 1 || w[0] != "revocation not checked: offline" {
			t.Errorf("warnings %q", w)
		}
	})

	t.Run("a Notary signature never satisfies a rule of keys only", func(t *testing.T) {
		d := imageDescriptor(t, reg, "keysonly")
		pushEnvelope(t, reg, d, envelopeFor(t, leaf, ociDesc(d), attachment.NotaryJWSMediaType, nil), attachment.NotaryJWSMediaType, leaf.Chain)
		k := newTestKey(t, "k", "ecdsa-p256")
		res := verify(t, testPolicy(t, reg.host, []testKey{k}, []string{"k"}, 1, nil), "keysonly")
		rejectedFor(t, res, "rule names no x509 signer")
	})
}

// FuzzCheckNotary feeds envelopes from the registry to the Notary Project
// check: never a panic, and never an accepted signature unless the
// envelope verifies under the policy's one signer and describes subject.
func FuzzCheckNotary(f *testing.F) {
	pki := testpki.New(f)
	leaf := pki.Leaf(f, testpki.LeafOptions{})
	subject := v1.Descriptor{MediaType: types.OCIManifestSchema1, Size: 100,
		Digest: v1.Hash{Algorithm: "sha256", Hex: strings.Repeat("ab", 32)}}
	for _, mt := range []string{attachment.NotaryJWSMediaType, attachment.NotaryCOSEMediaType} {
		good := envelopeFor(f, leaf, ociDesc(subject), mt, nil)
		f.Add(good, mt == attachment.NotaryCOSEMediaType)
		f.Add(good[:len(good)/2], mt == attachment.NotaryCOSEMediaType)
	}
	f.Add([]byte(`{"payload":"","protected":"e30","header":{"x5c":[]},"signature":""}`), false)
	dir := f.TempDir()
	root := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: pki.Root.Raw})
	if err := os.WriteFile(filepath.Join(dir, "root.pem"), root, 0o644); err != nil {
		f.Fatal(err)
	}
	p, err := policy.Parse([]byte(`version: 1
trustStores: [{name: acme, type: ca, certificates: [root.pem]}]
x509Signers: [{name: acme, trustStores: [acme], trustedIdentities: ["*"], revocation: skip}]
policies: [{name: app, scopes: ["r.io/**"], signatures: {keys: [acme]}}]
`), dir)
	if err != nil {
		f.Fatal(err)
	}
	v := New(nil, p)
	f.Fuzz(func(t *testing.T, raw []byte, cose bool) {
		mt := attachment.NotaryJWSMediaType
		if cose {
			mt = attachment.NotaryCOSEMediaType
		}
		env := &attachment.NotaryEnvelope{Raw: raw, MediaType: mt, Subject: subject}
		c := checkNotary(context.Background(), env, subject, "r.io/app", p.X509Signers, v.trust())
		if c.err == nil && (c.key == nil || c.key.Name != "acme" || c.x509 == nil) {
			t.Fatalf("accepted without a signer: %+v", c)
		}
	})
}
