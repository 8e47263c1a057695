package verify

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/secure-systems-lab/go-securesystemslib/dsse"
	"github.com/sigstore/sigstore/pkg/signature"

	"github.com/imgsign/imgsign/internal/attachment"
	"github.com/imgsign/imgsign/internal/registry"
	"github.com/imgsign/imgsign/internal/testing/testenv"
	"github.com/imgsign/imgsign/keys"
	"github.com/imgsign/imgsign/sign"
	"github.com/imgsign/imgsign/statement"
	"github.com/imgsign/imgsign/storage"
	"github.com/imgsign/imgsign/verify/policy"
)

// testKey is a test key and how it signs raw bytes, the way cosign does
// for its legacy layout (Ed25519 either pure or, cosign's default, ph).
type testKey struct {
	name string
	priv crypto.Signer
	sign func(t *testing.T, data []byte) []byte
}

func newTestKey(t *testing.T, name, typ string) testKey {
	t.Helper()
	var priv crypto.Signer
	var err error
	switch typ {
	case "ecdsa-p256":
		priv, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case "ecdsa-p384":
		priv, err = ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	case "ed25519", "ed25519ph":
		_, priv, err = ed25519.GenerateKey(rand.Reader)
	case "rsa-3072":
		priv, err = rsa.GenerateKey(rand.Reader, 3072)
	default:
		t.Fatalf("key type %s", typ)
	}
	if err != nil {
		t.Fatal(err)
	}
	k := testKey{name: name, priv: priv}
	if typ == "ed25519ph" {
		ph, err := signature.LoadED25519phSigner(priv.(ed25519.PrivateKey))
		if err != nil {
			t.Fatal(err)
		}
		k.sign = func(t *testing.T, data []byte) []byte {
			sig, err := ph.SignMessage(bytes.NewReader(data))
			if err != nil {
				t.Fatal(err)
			}
			return sig
		}
		return k
	}
	s, err := keys.FromPrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	k.sign = func(t *testing.T, data []byte) []byte {
		sig, _, err := s.SignData(context.Background(), data)
		if err != nil {
			t.Fatal(err)
		}
		return sig
	}
	return k
}

// testPolicy trusts ks under host/**, requiring signatures by sigKeys
// (threshold) and, when attKeys is set, a SLSA provenance attestation.
func testPolicy(t *testing.T, host string, ks []testKey, sigKeys []string, threshold int, attKeys []string) *policy.Policy {
	t.Helper()
	var b strings.Builder
	b.WriteString("version: 1\nkeys:\n")
	for _, k := range ks {
		pem, err := keys.EncodePublic(k.priv.Public())
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&b, "  - name: %s\n    publicKey: |\n      %s\n", k.name, strings.ReplaceAll(strings.TrimSpace(string(pem)), "\n", "\n      "))
	}
	fmt.Fprintf(&b, "policies:\n  - name: p\n    scopes: [\"%s/**\"]\n", host)
	if len(sigKeys) > 0 {
		fmt.Fprintf(&b, "    signatures:\n      keys: [%s]\n      threshold: %d\n", strings.Join(sigKeys, ", "), threshold)
	}
	if len(attKeys) > 0 {
		fmt.Fprintf(&b, "    attestations:\n      - type: %s\n        keys: [%s]\n", statement.SLSAProvenanceV1, strings.Join(attKeys, ", "))
	}
	p, err := policy.Parse([]byte(b.String()), "")
	if err != nil {
		t.Fatalf("policy: %v\n%s", err, b.String())
	}
	return p
}

func simpleSigning(digest, ref string) []byte {
	return []byte(fmt.Sprintf(`{"critical":{"identity":{"docker-reference":%q},"image":{"docker-manifest-digest":%q},"type":"cosign container image signature"},"optional":{"env":"prod"}}`, ref, digest))
}

func stmtJSON(hex, predicateType string) []byte {
	return stmtJSONWith(hex, predicateType, `{"buildDefinition":{"buildType":"x"},"runDetails":{"builder":{"id":"https://ci.example/"}}}`)
}

func stmtJSONWith(hex, predicateType, predicate string) []byte {
	return []byte(fmt.Sprintf(`{"_type":"https://in-toto.io/Statement/v1","subject":[{"name":"example.com/app","digest":{"sha256":%q}}],"predicateType":%q,"predicate":%s}`, hex, predicateType, predicate))
}

func envelope(t *testing.T, k testKey, body []byte) []byte {
	t.Helper()
	sig := k.sign(t, dsse.PAE(statement.PayloadType, body))
	raw, err := json.Marshal(dsse.Envelope{PayloadType: statement.PayloadType, Payload: base64.StdEncoding.EncodeToString(body),
		Signatures: []dsse.Signature{{Sig: base64.StdEncoding.EncodeToString(sig)}}})
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func sigAnn(sig []byte) map[string]string {
	return map[string]string{legacySignatureAnnotation: base64.StdEncoding.EncodeToString(sig)}
}

var (
	subjectA = v1.Hash{Algorithm: "sha256", Hex: strings.Repeat("a", 64)}
	subjectB = v1.Hash{Algorithm: "sha256", Hex: strings.Repeat("b", 64)}
)

// A .sig payload counts only when a policy key signed exactly these bytes
// and they name this image, for every key type cosign signs legacy payloads
// with (Ed25519 pure and ph).
func TestCheckLegacySignature(t *testing.T) {
	for _, typ := range []string{"ecdsa-p256", "ecdsa-p384", "ed25519", "ed25519ph", "rsa-3072"} {
		t.Run(typ, func(t *testing.T) {
			good := newTestKey(t, "good", typ)
			other := newTestKey(t, "other", typ)
			p := testPolicy(t, "example.com", []testKey{good}, []string{"good"}, 1, nil)
			v := New(nil, p)
			payload := simpleSigning(subjectA.String(), "example.com/app")
			sig := good.sign(t, payload)

			c := checkLegacySignature(payload, sigAnn(sig), subjectA, p, v.verifiers, v.now())
			if c.err != nil || c.key == nil || c.key.Name != "good" || c.predicateType != statement.Signature {
				t.Fatalf("valid signature: key %v type %q err %v", c.key, c.predicateType, c.err)
			}

			cases := []struct {
				name    string
				payload []byte
				ann     map[string]string
				subject v1.Hash
				want    string
			}{
				{"replayed on another image", payload, sigAnn(sig), subjectB, "signature copied from another image"},
				{"tampered payload", bytes.Replace(payload, []byte("prod"), []byte("dev!"), 1), sigAnn(sig), subjectA, "does not verify with any of the 1 policy key"},
				{"wrong key", payload, sigAnn(other.sign(t, payload)), subjectA, "does not verify"},
				{"no signature annotation", payload, map[string]string{}, subjectA, "no dev.cosignproject.cosign/signature annotation"},
				{"signature not base64", payload, map[string]string{legacySignatureAnnotation: "%%%"}, subjectA, "not base64"},
				{"certificate, no key", payload, map[string]string{legacySignatureAnnotation: base64.StdEncoding.EncodeToString(other.sign(t, payload)), legacyCertificateAnnotation: "-----BEGIN CERTIFICATE-----"}, subjectA, "holds no PEM certificate"},
			}
			for _, tc := range cases {
				t.Run(tc.name, func(t *testing.T) {
					c := checkLegacySignature(tc.payload, tc.ann, tc.subject, p, v.verifiers, v.now())
					if c.err == nil || c.key != nil || c.predicateType != "" {
						t.Fatalf("accepted: key %v type %q", c.key, c.predicateType)
					}
					if !strings.Contains(c.err.Error(), tc.want) {
						t.Errorf("reason %q does not say %q", c.err, tc.want)
					}
				})
			}
		})
	}
	t.Run("signed payload of another type", func(t *testing.T) {
		k := newTestKey(t, "good", "ecdsa-p256")
		p := testPolicy(t, "example.com", []testKey{k}, []string{"good"}, 1, nil)
		v := New(nil, p)
		payload := bytes.Replace(simpleSigning(subjectA.String(), "example.com/app"), []byte("cosign container image signature"), []byte("atomic container signature"), 1)
		c := checkLegacySignature(payload, sigAnn(k.sign(t, payload)), subjectA, p, v.verifiers, v.now())
		if c.err == nil || !strings.Contains(c.err.Error(), `not "cosign container image signature"`) {
			t.Fatalf("err = %v", c.err)
		}
	})
	t.Run("second policy key signed", func(t *testing.T) {
		a, b := newTestKey(t, "a", "ecdsa-p256"), newTestKey(t, "b", "ed25519ph")
		p := testPolicy(t, "example.com", []testKey{a, b}, []string{"a", "b"}, 1, nil)
		v := New(nil, p)
		payload := simpleSigning(subjectA.String(), "example.com/app")
		c := checkLegacySignature(payload, sigAnn(b.sign(t, payload)), subjectA, p, v.verifiers, v.now())
		if c.err != nil || c.key.Name != "b" {
			t.Fatalf("key %v err %v", c.key, c.err)
		}
	})
}

// An .att envelope counts only when a policy key signed its PAE and the
// statement has this image as a subject.
func TestCheckLegacyAttestation(t *testing.T) {
	for _, typ := range []string{"ecdsa-p256", "ed25519", "ed25519ph", "rsa-3072"} {
		t.Run(typ, func(t *testing.T) {
			good := newTestKey(t, "good", typ)
			other := newTestKey(t, "other", typ)
			p := testPolicy(t, "example.com", []testKey{good}, nil, 0, []string{"good"})
			v := New(nil, p)
			body := stmtJSON(subjectA.Hex, statement.SLSAProvenanceV1)
			env := envelope(t, good, body)

			c := checkLegacyAttestation(env, nil, subjectA, p, v.verifiers, v.now())
			if c.err != nil || c.key == nil || c.predicateType != statement.SLSAProvenanceV1 {
				t.Fatalf("valid attestation: key %v type %q err %v", c.key, c.predicateType, c.err)
			}
			rd, _ := c.statement.PredicateObject()["runDetails"].(map[string]any)
			builder, _ := rd["builder"].(map[string]any)
			if id := builder["id"]; id != "https://ci.example/" {
				t.Errorf("statement for conditions: builder id %v", id)
			}

			var tampered dsse.Envelope
			_ = json.Unmarshal(env, &tampered)
			tampered.Payload = base64.StdEncoding.EncodeToString(bytes.Replace(body, []byte("ci.example"), []byte("ci.evil.x"), 1))
			tamperedRaw, _ := json.Marshal(tampered)
			wrongType, _ := json.Marshal(dsse.Envelope{PayloadType: "application/json", Payload: tampered.Payload, Signatures: tampered.Signatures})
			notStatement := []byte(`{"predicateType":"x"}`)

			cases := []struct {
				name    string
				env     []byte
				subject v1.Hash
				want    string
			}{
				{"replayed on another image", env, subjectB, "attestation copied from another image"},
				{"tampered statement", tamperedRaw, subjectA, "does not verify"},
				{"wrong key", envelope(t, other, body), subjectA, "does not verify"},
				{"not in-toto", wrongType, subjectA, "DSSE payload type"},
				{"not a statement", envelope(t, good, notStatement), subjectA, "not an in-toto statement"},
				{"not JSON", []byte("{"), subjectA, "not a DSSE envelope"},
			}
			for _, tc := range cases {
				t.Run(tc.name, func(t *testing.T) {
					c := checkLegacyAttestation(tc.env, nil, tc.subject, p, v.verifiers, v.now())
					if c.err == nil || c.key != nil {
						t.Fatalf("accepted: key %v", c.key)
					}
					if !strings.Contains(c.err.Error(), tc.want) {
						t.Errorf("reason %q does not say %q", c.err, tc.want)
					}
				})
			}
		})
	}
}

type legacyLayer struct {
	mediaType string
	content   []byte
	ann       map[string]string
}

// pushLegacy writes a cosign legacy manifest under sha256-<hex>.<kind>.
func pushLegacy(t *testing.T, repo storage.Writer, subject v1.Hash, kind string, layers ...legacyLayer) v1.Hash {
	t.Helper()
	ctx := context.Background()
	cfg := []byte(`{"architecture":"","os":"","config":{},"rootfs":{"type":"layers","diff_ids":[]}}`)
	cd, err := repo.PutBlob(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	cd.MediaType = types.OCIConfigJSON
	m := v1.Manifest{SchemaVersion: 2, MediaType: types.OCIManifestSchema1, Config: cd}
	for _, l := range layers {
		d, err := repo.PutBlob(ctx, l.content)
		if err != nil {
			t.Fatal(err)
		}
		d.MediaType = types.MediaType(l.mediaType)
		d.Annotations = l.ann
		m.Layers = append(m.Layers, d)
	}
	raw, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	if err := repo.PutManifest(ctx, attachment.LegacyTag(subject, kind), raw, types.OCIManifestSchema1); err != nil {
		t.Fatal(err)
	}
	return registry.Digest(raw)
}

func sigLayer(t *testing.T, k testKey, digest v1.Hash) legacyLayer {
	payload := simpleSigning(digest.String(), "example.com/app")
	return legacyLayer{legacySimpleSigningMediaType, payload, sigAnn(k.sign(t, payload))}
}

func attLayer(t *testing.T, k testKey, digest v1.Hash, predicateType string) legacyLayer {
	return legacyLayer{legacyDSSEMediaType, envelope(t, k, stmtJSON(digest.Hex, predicateType)),
		map[string]string{legacySignatureAnnotation: "", legacyPredicateTypeAnnotation: predicateType}}
}

type legacyRegistry struct {
	host   string
	repo   *registry.Repo
	count  *atomic.Int64
	client *registry.Client
}

func newLegacyRegistry(t *testing.T, referrers bool) *legacyRegistry {
	t.Helper()
	host := testenv.Registry(t, referrers).Addr
	r, err := name.NewRepository(host+"/app", name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	repo, err := registry.New().Open(context.Background(), r, true)
	if err != nil {
		t.Fatal(err)
	}
	n := &atomic.Int64{}
	return &legacyRegistry{host: host, repo: repo, count: n, client: registry.New(registry.WithTransport(countingTransport{n: n, inner: remote.DefaultTransport}))}
}

// verify runs a verification from the tag and returns it with the number
// of HTTP requests it made.
func (r *legacyRegistry) verify(t *testing.T, p *policy.Policy, tag string) (*ImageResult, int64) {
	t.Helper()
	r.count.Store(0)
	res := New(r.client, p).Verify(context.Background(), r.host+"/app:"+tag)
	return res, r.count.Load()
}

// Legacy signatures and attestations verify through the whole path on both
// kinds of registry, read only when the referrers leave something open, and
// at a known request cost.
func TestVerifyLegacy(t *testing.T) {
	for _, api := range []bool{true, false} {
		t.Run(fmt.Sprintf("referrersAPI=%v", api), func(t *testing.T) {
			reg := newLegacyRegistry(t, api)
			a, b := newTestKey(t, "a", "ecdsa-p256"), newTestKey(t, "b", "ed25519ph")
			// ping, resolve, referrers listing; without the API also the
			// referrers tag index and the tag listing.
			base := int64(3)
			if !api {
				base = 5
			}

			t.Run("legacy signature only", func(t *testing.T) {
				d := testenv.PushImage(t, reg.host, "app", "sig")
				m := pushLegacy(t, reg.repo, d, "sig", sigLayer(t, a, d))
				res, n := reg.verify(t, testPolicy(t, reg.host, []testKey{a}, []string{"a"}, 1, nil), "sig")
				if res.Verdict != VerdictPass {
					t.Fatalf("verdict %s: %+v %+v", res.Verdict, res, res.Requirements)
				}
				acc := res.Requirements[0].Accepted
				if len(acc) != 1 || acc[0].KeyName != "a" || acc[0].Referrer != m.String() {
					t.Errorf("accepted %+v, want key a from %s", acc, m)
				}
				// + the .sig manifest and its one layer; no .att request.
				if n != base+2 {
					t.Errorf("%d requests, want %d", n, base+2)
				}
				if res.Attachments != 1 {
					t.Errorf("attachments = %d, want 1", res.Attachments)
				}
			})

			t.Run("legacy attestation and signature", func(t *testing.T) {
				d := testenv.PushImage(t, reg.host, "app", "att")
				pushLegacy(t, reg.repo, d, "sig", sigLayer(t, a, d))
				pushLegacy(t, reg.repo, d, "att", attLayer(t, a, d, statement.SLSAProvenanceV1),
					attLayer(t, a, d, "https://spdx.dev/Document")) // not needed: not fetched
				res, n := reg.verify(t, testPolicy(t, reg.host, []testKey{a}, []string{"a"}, 1, []string{"a"}), "att")
				if res.Verdict != VerdictPass {
					t.Fatalf("verdict %s: %+v", res.Verdict, res.Requirements[1])
				}
				if n != base+4 {
					t.Errorf("%d requests, want %d (2 manifests, 2 layers)", n, base+4)
				}
			})

			t.Run("more layers than are checked is no verdict", func(t *testing.T) {
				// A valid signature hidden as layer 101: checking the first
				// 100 and judging would decide on part of the evidence.
				d := testenv.PushImage(t, reg.host, "app", "many")
				var ls []legacyLayer
				for i := 0; i < registry.MaxBundlesPerImage; i++ {
					ls = append(ls, legacyLayer{legacySimpleSigningMediaType, []byte(fmt.Sprintf("junk %d", i)), sigAnn([]byte("x"))})
				}
				pushLegacy(t, reg.repo, d, "sig", append(ls, sigLayer(t, a, d))...)
				res, _ := reg.verify(t, testPolicy(t, reg.host, []testKey{a}, []string{"a"}, 1, nil), "many")
				if res.Verdict != VerdictError || res.ExitCode != 3 || !strings.Contains(res.Error, "refusing to judge on partial data") {
					t.Fatalf("verdict %s, exit %d, error %q; want error, exit 3, refusing to judge", res.Verdict, res.ExitCode, res.Error)
				}
			})

			t.Run("imgsign signature keeps the fast path", func(t *testing.T) {
				d := testenv.PushImage(t, reg.host, "app", "fast")
				if _, err := sign.Image(context.Background(), registry.New(), reg.host+"/app:fast", mustSigner(t, a), sign.Options{}); err != nil {
					t.Fatal(err)
				}
				pushLegacy(t, reg.repo, d, "sig", sigLayer(t, a, d))
				res, n := reg.verify(t, testPolicy(t, reg.host, []testKey{a}, []string{"a"}, 1, nil), "fast")
				if res.Verdict != VerdictPass {
					t.Fatalf("verdict %s", res.Verdict)
				}
				// + the bundle, fetched by the digest its listing annotates.
				if want := base + 1; n != want {
					t.Errorf("%d requests, want %d: the legacy tag was read though nothing was missing", n, want)
				}
			})

			t.Run("threshold 2 over both formats", func(t *testing.T) {
				d := testenv.PushImage(t, reg.host, "app", "both")
				if _, err := sign.Image(context.Background(), registry.New(), reg.host+"/app:both", mustSigner(t, a), sign.Options{}); err != nil {
					t.Fatal(err)
				}
				pushLegacy(t, reg.repo, d, "sig", sigLayer(t, b, d))
				res, _ := reg.verify(t, testPolicy(t, reg.host, []testKey{a, b}, []string{"a", "b"}, 2, nil), "both")
				if res.Verdict != VerdictPass || len(res.Requirements[0].Accepted) != 2 {
					t.Fatalf("verdict %s: %+v", res.Verdict, res.Requirements[0])
				}
			})

			t.Run("replayed and foreign signatures are rejected with reasons", func(t *testing.T) {
				d := testenv.PushImage(t, reg.host, "app", "replay")
				other := newTestKey(t, "other", "ecdsa-p256")
				pushLegacy(t, reg.repo, d, "sig",
					sigLayer(t, a, subjectB), // a real signature by a, of another image
					sigLayer(t, other, d),    // this image, a key the policy does not know
					legacyLayer{legacyDSSEMediaType, []byte("{}"), nil})
				pushLegacy(t, reg.repo, d, "att", attLayer(t, a, subjectB, statement.SLSAProvenanceV1))
				res, _ := reg.verify(t, testPolicy(t, reg.host, []testKey{a}, []string{"a"}, 1, []string{"a"}), "replay")
				if res.Verdict != VerdictFail || res.ExitCode != 1 {
					t.Fatalf("verdict %s exit %d", res.Verdict, res.ExitCode)
				}
				var reasons []string
				for _, rq := range res.Requirements {
					for _, rj := range rq.Rejected {
						reasons = append(reasons, rq.Kind+": "+rj.Reason)
					}
				}
				all := strings.Join(reasons, "\n")
				for _, want := range []string{
					"signatures: cosign legacy signature (.sig layer 1 of 3): the signed payload is about " + subjectB.String(),
					"signatures: cosign legacy signature (.sig layer 2 of 3): signature does not verify",
					`signatures: cosign legacy signature (.sig layer 3 of 3): layer is "application/vnd.dsse.envelope.v1+json"`,
					"attestation: cosign legacy attestation (.att layer 1 of 1): the signed statement is about " + subjectB.String(),
				} {
					if !strings.Contains(all, want) {
						t.Errorf("no rejection %q in:\n%s", want, all)
					}
				}
				if len(reasons) != 4 {
					t.Errorf("%d rejections, want 4:\n%s", len(reasons), all)
				}
			})

			t.Run("nothing attached", func(t *testing.T) {
				testenv.PushImage(t, reg.host, "app", "none")
				res, n := reg.verify(t, testPolicy(t, reg.host, []testKey{a}, []string{"a"}, 1, nil), "none")
				if res.Verdict != VerdictFail || res.Attachments != 0 {
					t.Fatalf("verdict %s attachments %d", res.Verdict, res.Attachments)
				}
				// With the API one guessed GET of the .sig tag (a 404); without
				// it the tag listing already said there is none.
				want := base + 1
				if !api {
					want = base
				}
				if n != want {
					t.Errorf("%d requests, want %d", n, want)
				}
			})
		})
	}
}

func mustSigner(t *testing.T, k testKey) *keys.Signer {
	t.Helper()
	s, err := keys.FromPrivateKey(k.priv)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// A compliance check reads attestations from legacy tags too: the bundle
// signature satisfies the signatures requirement, and maxSeverity, finding
// no vulnerability attestation among the referrers, reads the .att tag.
func TestVerifyLegacyFeedsCompliance(t *testing.T) {
	reg := newLegacyRegistry(t, true)
	a := newTestKey(t, "a", "ecdsa-p256")
	d := testenv.PushImage(t, reg.host, "app", "vuln")
	if _, err := sign.Image(context.Background(), registry.New(), reg.host+"/app:vuln", mustSigner(t, a), sign.Options{}); err != nil {
		t.Fatal(err)
	}
	scan := `{"scanner":{"uri":"pkg:github/aquasecurity/trivy","version":"0.50.0","result":{"SchemaVersion":2,"Results":[{"Target":"x","Vulnerabilities":[{"VulnerabilityID":"CVE-2026-0001","Severity":"CRITICAL"}]}]}},"metadata":{"scanFinishedOn":"2026-01-01T00:00:00Z"}}`
	pushLegacy(t, reg.repo, d, "att", legacyLayer{legacyDSSEMediaType, envelope(t, a, stmtJSONWith(d.Hex, statement.CosignVuln, scan)),
		map[string]string{legacyPredicateTypeAnnotation: statement.CosignVuln}})
	doc := strings.Replace(testPolicyDoc(t, reg.host, a), "    signatures:", "    compliance:\n      keys: [a]\n      maxSeverity: HIGH\n    signatures:", 1)
	p, err := policy.Parse([]byte(doc), "")
	if err != nil {
		t.Fatalf("%v\n%s", err, doc)
	}
	res, _ := reg.verify(t, p, "vuln")
	if res.Verdict != VerdictFail || len(res.Requirements) != 2 {
		t.Fatalf("verdict %s, %d requirements", res.Verdict, len(res.Requirements))
	}
	if rj := res.Requirements[1].Rejected; len(rj) != 1 || !strings.Contains(rj[0].Reason, "CVE-2026-0001 (CRITICAL)") {
		t.Errorf("maxSeverity did not read the legacy attestation: %+v", rj)
	}
}

// testPolicyDoc is testPolicy's YAML for one key signing alone.
func testPolicyDoc(t *testing.T, host string, k testKey) string {
	pem, err := keys.EncodePublic(k.priv.Public())
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("version: 1\nkeys:\n  - name: %s\n    publicKey: |\n      %s\npolicies:\n  - name: p\n    scopes: [\"%s/**\"]\n    signatures:\n      keys: [%s]\n",
		k.name, strings.ReplaceAll(strings.TrimSpace(string(pem)), "\n", "\n      "), host, k.name)
}
