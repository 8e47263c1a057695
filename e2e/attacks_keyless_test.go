package e2e

// Attacks on keyless (certificate-based) verification. The attacker can push
// anything to the registry and hand over any bundle file, runs certificate
// authorities, transparency logs and timestamping authorities of their own
// (a second fakesigstore), can have the policy's own TSA timestamp any bytes
// (a public TSA stamps whatever it is sent) and can obtain certificates from
// the policy's CA for identities they own (their own repository, email or
// OIDC issuer) — but holds no key of the policy's CAs, logs or TSAs. Every
// row is named "keyless: …" so that the theme runs alone:
//
//	go test ./e2e -run 'TestAttacks/.*/keyless' -count=1

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/sigstore/sigstore-go/pkg/fulcio/certificate"
	"github.com/sigstore/sigstore-go/pkg/root"

	"github.com/imgsign/imgsign/internal/testing/fakesigstore"
	"github.com/imgsign/imgsign/keys"
	"github.com/imgsign/imgsign/sign"
	"github.com/imgsign/imgsign/statement"
)

// releaseYAML is the policy identity of acme/app's release workflow on a
// tag, on a GitHub-hosted runner, under trust root ci.
const releaseYAML = `  - name: release
    issuer: ` + ghIssuer + `
    subjectGlob: https://github.com/acme/app/.github/workflows/release.yml@refs/tags/*
    claims:
      sourceRepository: https://github.com/acme/app
      runnerEnvironment: github-hosted
    trustRoots: [ci]
`

// goodCert is a certificate the release identity matches.
func goodCert() fakesigstore.Identity { return ghCert(ghWorkflow, "github-hosted") }

// sigstore makes the policy's test Sigstore and writes its trusted root as
// trusted_root.json in the scene.
func (s *scene) sigstore(opts ...fakesigstore.RootOption) *fakesigstore.Sigstore {
	s.t.Helper()
	fs := fakesigstore.New(s.t)
	fs.WriteTrustedRoot(s.t, s.path("trusted_root.json"), opts...)
	return fs
}

// idPolicy writes keyless.yaml: trust root ci (trusted_root.json, plus
// rootExtra lines), extra trust roots, the identities given and one rule over
// the scene's registry whose body is rule.
func (s *scene) idPolicy(rootExtra, identities, rule string) string {
	s.t.Helper()
	return s.write("keyless.yaml", "version: 1\ntrustRoots:\n  - name: ci\n    file: trusted_root.json\n"+rootExtra+
		"identities:\n"+identities+"policies:\n  - name: keyless\n    scopes: [\""+s.host+"/**\"]\n"+rule)
}

// sigRule wants threshold signatures among signers.
func sigRule(threshold int, signers ...string) string {
	return fmt.Sprintf("    signatures:\n      keys: [%s]\n      threshold: %d\n", strings.Join(signers, ", "), threshold)
}

// releasePolicy trusts the release identity alone under ci.
func (s *scene) releasePolicy() string { return s.idPolicy("", releaseYAML, sigRule(1, "release")) }

// stmt is an in-toto statement about d alone, of predicateType (an image
// signature when ""), with predicate and subject annotations.
func (s *scene) stmt(d v1.Hash, predicateType string, predicate map[string]any, ann map[string]string) []byte {
	s.t.Helper()
	r, err := name.NewRepository(s.host+"/"+s.repo, name.Insecure)
	if err != nil {
		s.t.Fatal(err)
	}
	if predicateType == "" {
		predicateType = statement.Signature
	}
	if predicate == nil {
		predicate = map[string]any{}
	}
	st, err := statement.About(r, d, predicateType, predicate, ann)
	if err != nil {
		s.t.Fatal(err)
	}
	return st
}

// editJSON decodes a bundle (or any JSON object), lets edit change it and
// encodes it again.
func editJSON(t *testing.T, raw []byte, edit func(b map[string]any)) []byte {
	t.Helper()
	var b map[string]any
	if err := json.Unmarshal(raw, &b); err != nil {
		t.Fatal(err)
	}
	edit(b)
	out, err := json.Marshal(b)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func obj(v any) map[string]any { return v.(map[string]any) }

// dsseSig is the (only) DSSE signature of a bundle, decoded.
func dsseSig(t *testing.T, bundle []byte) []byte {
	t.Helper()
	sig, err := base64.StdEncoding.DecodeString(obj(dsseSignatures(t, bundle)[0])["sig"].(string))
	if err != nil {
		t.Fatal(err)
	}
	return sig
}

// addTimestamp appends an RFC 3161 timestamp (DER) to a bundle's
// timestampVerificationData.
func addTimestamp(t *testing.T, bundle, tsr []byte) []byte {
	t.Helper()
	return editJSON(t, bundle, func(b map[string]any) {
		vm := obj(b["verificationMaterial"])
		tvd, _ := vm["timestampVerificationData"].(map[string]any)
		if tvd == nil {
			tvd = map[string]any{}
		}
		list, _ := tvd["rfc3161Timestamps"].([]any)
		tvd["rfc3161Timestamps"] = append(list, map[string]any{"signedTimestamp": base64.StdEncoding.EncodeToString(tsr)})
		vm["timestampVerificationData"] = tvd
	})
}

// leafOf is the leaf certificate of a bundle (verificationMaterial.certificate).
func leafOf(t *testing.T, bundle []byte) *x509.Certificate {
	t.Helper()
	var b struct {
		VerificationMaterial struct {
			Certificate struct{ RawBytes []byte } `json:"certificate"`
		} `json:"verificationMaterial"`
	}
	if err := json.Unmarshal(bundle, &b); err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(b.VerificationMaterial.Certificate.RawBytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// withChain replaces a bundle's certificate by an x509CertificateChain of
// certs (leaf first) under mediaType.
func withChain(t *testing.T, bundle []byte, mediaType string, certs ...*x509.Certificate) []byte {
	t.Helper()
	return editJSON(t, bundle, func(b map[string]any) {
		vm := obj(b["verificationMaterial"])
		delete(vm, "certificate")
		var list []any
		for _, c := range certs {
			list = append(list, map[string]any{"rawBytes": base64.StdEncoding.EncodeToString(c.Raw)})
		}
		vm["x509CertificateChain"] = map[string]any{"certificates": list}
		b["mediaType"] = mediaType
	})
}

// spoofedIntermediate re-issues the attacker's Fulcio intermediate (same
// subject, same key, so the attacker's leaves chain to it) as if issued by
// the policy's Fulcio root: its issuer name and authority key id are the
// trusted root's, its signature the attacker's.
func spoofedIntermediate(t *testing.T, attacker, trusted *fakesigstore.Sigstore) *x509.Certificate {
	t.Helper()
	forger, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	real := attacker.FulcioIntermediate()
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(4242),
		Subject:               real.Subject,
		NotBefore:             real.NotBefore,
		NotAfter:              real.NotAfter,
		KeyUsage:              real.KeyUsage,
		ExtKeyUsage:           real.ExtKeyUsage,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	root := trusted.FulcioRoot()
	parent := &x509.Certificate{Subject: root.Subject, SubjectKeyId: root.SubjectKeyId, PublicKey: &forger.PublicKey}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, real.PublicKey, forger)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// attackerSigned is a DSSE bundle about st from the attacker's CA, without
// a log entry, timestamped now by the policy's own TSA (which stamps
// whatever it is sent): only the certificate stands between it and a PASS.
func attackerSigned(t *testing.T, attacker, trusted *fakesigstore.Sigstore, st []byte, id fakesigstore.Identity) []byte {
	t.Helper()
	b := attacker.DSSEBundle(t, st, id, fakesigstore.WithoutTlog())
	return addTimestamp(t, b, trusted.Timestamp(t, dsseSig(t, b), time.Now()))
}

// keySigned signs st with the key file path (made with s.key) into a
// bundle naming the key by hint.
func (s *scene) keySigned(path string, st []byte, hint string) []byte {
	s.t.Helper()
	k, err := keys.KeyFiles.LoadSigner(context.Background(), path, keys.Access{Passphrase: func(bool) ([]byte, error) { return []byte(passphrase), nil }})
	if err != nil {
		s.t.Fatal(err)
	}
	b, err := sign.Bundle(context.Background(), st, k, "")
	if err != nil {
		s.t.Fatal(err)
	}
	if hint != "" {
		b = setKeyHint(s.t, b, hint)
	}
	return b
}

// pemOf encodes certificates as PEM, in order.
func certsPEM(certs ...*x509.Certificate) string {
	var b strings.Builder
	for _, c := range certs {
		b.Write(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw}))
	}
	return b.String()
}

// pushLegacyLayer pushes cosign's legacy tag sha256-<hex>.<kind> of subject
// holding one layer of mediaType with annotations.
func (s *scene) pushLegacyLayer(subject v1.Hash, kind string, layer []byte, mediaType types.MediaType, ann map[string]string) {
	t := s.t
	t.Helper()
	img, err := mutate.Append(mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON), mutate.Addendum{
		Layer:       static.NewLayer(layer, mediaType),
		Annotations: ann,
	})
	if err != nil {
		t.Fatal(err)
	}
	ref, err := name.ParseReference(s.ref(subject.Algorithm+"-"+subject.Hex+"."+kind), name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref, img); err != nil {
		t.Fatal(err)
	}
}

// simpleSigning is cosign's legacy signature payload for d.
func (s *scene) simpleSigning(d v1.Hash) []byte {
	return []byte(`{"critical":{"identity":{"docker-reference":"` + s.host + "/" + s.repo + `"},"image":{"docker-manifest-digest":"` + d.String() + `"},"type":"cosign container image signature"},"optional":null}`)
}

// timestampAnnotation is cosign's dev.sigstore.cosign/rfc3161timestamp.
func timestampAnnotation(tsr []byte) string {
	j, _ := json.Marshal(map[string]string{"SignedRFC3161Timestamp": base64.StdEncoding.EncodeToString(tsr)})
	return string(j)
}

// lookalike is a row: a certificate from the policy's own CA (for an
// identity the attacker owns) whose values look like the release
// identity's, and the reason words of its refusal.
func lookalike(nameSuffix, guards string, cert fakesigstore.Identity, identities, rule string, want ...string) attack {
	return attack{
		name:   "keyless: " + nameSuffix,
		guards: guards,
		run: func(t *testing.T, s *scene) []string {
			fs := s.sigstore()
			d := s.image("v1")
			attachRaw(t, s.host, s.repo, d, fs.DSSEBundle(t, s.stmt(d, "", nil, nil), cert))
			if identities == "" {
				identities = releaseYAML
			}
			if rule == "" {
				rule = sigRule(1, "release")
			}
			return []string{"verify", "--policy", s.idPolicy("", identities, rule), s.ref("v1")}
		},
		wantCode: 1,
		want:     append([]string{"FAIL"}, want...),
		notWant:  []string{"PASS"},
	}
}

// ghExt are GitHub workflow claims of acme/app's release on a GitHub-hosted
// runner, with changes.
func ghExt(change func(*certificate.Extensions)) certificate.Extensions {
	e := certificate.Extensions{SourceRepositoryURI: "https://github.com/acme/app", SourceRepositoryRef: "refs/tags/v1.0.0", RunnerEnvironment: "github-hosted"}
	if change != nil {
		change(&e)
	}
	return e
}

func init() {
	sourceRefGlob := strings.Replace(releaseYAML, "      runnerEnvironment: github-hosted\n", "      runnerEnvironment: github-hosted\n      sourceRef: refs/tags/*\n", 1)
	addAttacks(
		// --- Certificates from a CA the policy does not trust ---
		attack{
			name:   "keyless: certificate from the attacker's CA, timestamped by the policy's TSA",
			guards: "a certificate counts only when it chains to a Fulcio CA of a trust root an identity names; a trusted time alone vouches for nothing",
			run: func(t *testing.T, s *scene) []string {
				fs := s.sigstore(fakesigstore.WithoutRekor())
				mallory := fakesigstore.New(t)
				d := s.image("v1")
				attachRaw(t, s.host, s.repo, d, attackerSigned(t, mallory, fs, s.stmt(d, "", nil, nil), goodCert()))
				return []string{"verify", "--policy", s.releasePolicy(), s.ref("v1")}
			},
			wantCode: 1,
			want:     []string{"FAIL", "does not verify under the policy's trust roots", "[signature-invalid]", "leaf certificate verification failed"},
			notWant:  []string{"PASS"},
		},
		attack{
			name:   "keyless: attacker's CA chain, ending in its own root, in x509CertificateChain",
			guards: "certificates a bundle carries are never trust anchors: a self-signed root in the bundle's chain is not the policy's Fulcio root",
			run: func(t *testing.T, s *scene) []string {
				fs := s.sigstore(fakesigstore.WithoutRekor())
				mallory := fakesigstore.New(t)
				d := s.image("v1")
				b := attackerSigned(t, mallory, fs, s.stmt(d, "", nil, nil), goodCert())
				attachRaw(t, s.host, s.repo, d, withChain(t, b, fakesigstore.MediaTypeV02, leafOf(t, b), mallory.FulcioIntermediate(), mallory.FulcioRoot()))
				return []string{"verify", "--policy", s.releasePolicy(), s.ref("v1")}
			},
			wantCode: 1,
			want:     []string{"FAIL", "does not verify under the policy's trust roots", "leaf certificate verification failed"},
			notWant:  []string{"PASS"},
		},
		attack{
			name:   "keyless: attacker's intermediate named as issued by the policy's Fulcio root",
			guards: "a bundle's intermediate that copies the trusted root's name and key id, but is not signed by it, does not link the attacker's leaf to the trusted root",
			run: func(t *testing.T, s *scene) []string {
				fs := s.sigstore(fakesigstore.WithoutRekor())
				mallory := fakesigstore.New(t)
				d := s.image("v1")
				b := attackerSigned(t, mallory, fs, s.stmt(d, "", nil, nil), goodCert())
				attachRaw(t, s.host, s.repo, d, withChain(t, b, fakesigstore.MediaTypeV02, leafOf(t, b), spoofedIntermediate(t, mallory, fs), fs.FulcioRoot()))
				return []string{"verify", "--policy", s.releasePolicy(), s.ref("v1")}
			},
			wantCode: 1,
			want:     []string{"FAIL", "does not verify under the policy's trust roots", "leaf certificate verification failed"},
			notWant:  []string{"PASS"},
		},
		attack{
			name:   "keyless: v0.3 bundle carrying the attacker's certificate chain",
			guards: "intermediates a v0.3 bundle carries (cosign --certificate-chain) never link a leaf to the trust root's Fulcio root unless that root signed them",
			run: func(t *testing.T, s *scene) []string {
				fs := s.sigstore(fakesigstore.WithoutRekor())
				mallory := fakesigstore.New(t)
				d := s.image("v1")
				b := attackerSigned(t, mallory, fs, s.stmt(d, "", nil, nil), goodCert())
				attachRaw(t, s.host, s.repo, d, withChain(t, b, fakesigstore.MediaTypeV03, leafOf(t, b), spoofedIntermediate(t, mallory, fs)))
				return []string{"verify", "--policy", s.releasePolicy(), s.ref("v1")}
			},
			wantCode: 1,
			want:     []string{"FAIL", "does not verify under the policy's trust roots", "leaf certificate verification failed"},
			notWant:  []string{"PASS"},
		},
		attack{
			name:   "keyless: leaf of a retired intermediate without a chain",
			guards: "a certificate issued by an intermediate the trust root retired (its CA entry's validFor ended) does not count after the retirement",
			run: func(t *testing.T, s *scene) []string {
				pki := newRotatedPKI(t)
				s.write("trusted_root.json", string(pki.trustedRootJSON(t, true)))
				d := s.image("v1")
				attachRaw(t, s.host, s.repo, d, pki.retiredBundle(t, s.stmt(d, "", nil, nil), false))
				return []string{"verify", "--policy", s.releasePolicy(), s.ref("v1")}
			},
			wantCode: 1,
			want:     []string{"FAIL", "does not verify under the policy's trust roots", "leaf certificate verification failed"},
			notWant:  []string{"PASS"},
		},
		attack{
			name:   "keyless: release identity minted by a CA the policy trusts only for a vendor",
			guards: "an identity counts only under the trust roots it names: a CA trusted for another identity cannot issue it",
			run: func(t *testing.T, s *scene) []string {
				s.sigstore()
				vendor := fakesigstore.New(t)
				vendor.WriteTrustedRoot(t, s.path("vendor_root.json"))
				d := s.image("v1")
				attachRaw(t, s.host, s.repo, d, vendor.DSSEBundle(t, s.stmt(d, "", nil, nil), goodCert()))
				pol := s.idPolicy("  - name: vendor\n    file: vendor_root.json\n", releaseYAML+
					"  - name: vendor\n    issuer: https://vendor.example\n    subject: build@vendor.example\n    trustRoots: [vendor]\n",
					sigRule(1, "release", "vendor"))
				return []string{"verify", "--policy", pol, s.ref("v1")}
			},
			wantCode: 1,
			want:     []string{"FAIL", "which no policy identity under trust root vendor matches"},
			notWant:  []string{"PASS"},
		},
		attack{
			name:   "keyless: trust root whose authorities were all retired before the signature",
			guards: "nothing in a trusted root vouches after its validFor window: a certificate issued and logged after the CA and log were retired does not count",
			run: func(t *testing.T, s *scene) []string {
				fs := fakesigstore.New(t)
				fs.WriteTrustedRoot(t, s.path("trusted_root.json"), fakesigstore.ValidFor(time.Now().Add(-20*24*time.Hour), time.Now().Add(-time.Hour)))
				d := s.image("v1")
				attachRaw(t, s.host, s.repo, d, fs.DSSEBundle(t, s.stmt(d, "", nil, nil), goodCert()))
				return []string{"verify", "--policy", s.releasePolicy(), s.ref("v1")}
			},
			wantCode: 1,
			want:     []string{"FAIL", "does not verify under the policy's trust roots"},
			notWant:  []string{"PASS"},
		},
		attack{
			name:   "keyless: certificate bundle under a policy that trusts only keys",
			guards: "a certificate never stands in for a policy key: with no identities, a certificate-based bundle is refused",
			run: func(t *testing.T, s *scene) []string {
				fs := s.sigstore()
				d := s.image("v1")
				attachRaw(t, s.host, s.repo, d, fs.DSSEBundle(t, s.stmt(d, "", nil, nil), goodCert()))
				return []string{"verify", "--policy", s.signaturePolicy(""), s.ref("v1")}
			},
			wantCode: 1,
			want:     []string{"FAIL", "trusts no certificate identity"},
			notWant:  []string{"PASS"},
		},

		// --- Identities that look like the policy's ---
		lookalike("issuer with a trailing slash", "the OIDC issuer compares byte for byte: a trailing slash is another issuer",
			fakesigstore.Identity{Subject: ghWorkflow, Issuer: ghIssuer + "/", Extensions: ghExt(nil)}, "", "", "issuer", `"https://token.actions.githubusercontent.com/"`),
		lookalike("issuer with a trailing dot", "the OIDC issuer compares byte for byte: a trailing dot on its host is another issuer",
			fakesigstore.Identity{Subject: ghWorkflow, Issuer: "https://token.actions.githubusercontent.com.", Extensions: ghExt(nil)}, "", "", "issuer"),
		lookalike("issuer under the real issuer's path (a GitHub Enterprise slug)", "an issuer below the trusted one (token.actions.githubusercontent.com/<enterprise>, which Fulcio accepts) is not the trusted issuer",
			fakesigstore.Identity{Subject: ghWorkflow, Issuer: ghIssuer + "/mallory-enterprise", Extensions: ghExt(nil)}, "", "", "issuer"),
		lookalike("issuer glob star spanning a query", "a glob * in an issuer never crosses a slash: https://*.acme.example does not match https://evil.example/?.acme.example",
			fakesigstore.Identity{Subject: ghWorkflow, Issuer: "https://evil.example/?.acme.example", Extensions: ghExt(nil)},
			strings.Replace(releaseYAML, "    issuer: "+ghIssuer, "    issuerGlob: https://*.acme.example", 1), "", "issuerGlob"),
		lookalike("same workflow in the attacker's repository", "the subject glob pins the owner and repository: mallory/app's release.yml is not acme/app's",
			fakesigstore.Identity{Subject: "https://github.com/mallory/app/.github/workflows/release.yml@refs/tags/v1.0.0", Issuer: ghIssuer,
				Extensions: ghExt(func(e *certificate.Extensions) { e.SourceRepositoryURI = "https://github.com/mallory/app" })}, "", "", "does not match subjectGlob"),
		lookalike("subject with the owner in upper case", "globs are case-sensitive: ACME/app is not acme/app",
			fakesigstore.Identity{Subject: "https://github.com/ACME/app/.github/workflows/release.yml@refs/tags/v1.0.0", Issuer: ghIssuer, Extensions: ghExt(nil)}, "", "", "does not match subjectGlob"),
		lookalike("tag ref with a slash under refs/tags/*", "a glob * matches within one segment: refs/tags/v1/../../heads/main is not a tag the glob allows",
			fakesigstore.Identity{Subject: "https://github.com/acme/app/.github/workflows/release.yml@refs/tags/v1/../../heads/main", Issuer: ghIssuer, Extensions: ghExt(nil)}, "", "", "does not match subjectGlob"),
		lookalike("branch build named like a tag", "refs/heads/refs/tags/v1 is a branch: the subject glob is anchored at both ends",
			fakesigstore.Identity{Subject: "https://github.com/acme/app/.github/workflows/release.yml@refs/heads/refs/tags/v1", Issuer: ghIssuer, Extensions: ghExt(nil)}, "", "", "does not match subjectGlob"),
		lookalike("source repository with a Cyrillic look-alike", "claims compare byte for byte: https://github.com/acme/\u0430pp (Cyrillic a) is not acme/app",
			fakesigstore.Identity{Subject: ghWorkflow, Issuer: ghIssuer, Extensions: ghExt(func(e *certificate.Extensions) { e.SourceRepositoryURI = "https://github.com/acme/\u0430pp" })}, "", "", "sourceRepository"),
		lookalike("source repository with a trailing slash", "claims compare byte for byte: a trailing slash is another repository",
			fakesigstore.Identity{Subject: ghWorkflow, Issuer: ghIssuer, Extensions: ghExt(func(e *certificate.Extensions) { e.SourceRepositoryURI = "https://github.com/acme/app/" })}, "", "", "sourceRepository"),
		lookalike("source repository with a NUL and a suffix", "claims compare byte for byte: a NUL does not cut the value short",
			fakesigstore.Identity{Subject: ghWorkflow, Issuer: ghIssuer, Extensions: ghExt(func(e *certificate.Extensions) {
				e.SourceRepositoryURI = "https://github.com/acme/app\x00.mallory.example"
			})}, "", "", "sourceRepository"),
		lookalike("newline in a claim a glob matches", "a certificate value holding a control character never matches a glob (the glob's * would span it)",
			fakesigstore.Identity{Subject: ghWorkflow, Issuer: ghIssuer, Extensions: ghExt(func(e *certificate.Extensions) { e.SourceRepositoryRef = "refs/tags/v1\n" })}, sourceRefGlob, "", "sourceRef"),
		lookalike("runner environment with a zero-width space", "self-hosted runners cannot pass as github-hosted with an invisible character",
			fakesigstore.Identity{Subject: ghWorkflow, Issuer: ghIssuer, Extensions: ghExt(func(e *certificate.Extensions) { e.RunnerEnvironment = "github-hosted\u200b" })}, "", "", "runnerEnvironment"),
		lookalike("deprecated workflow extensions instead of claims", "the deprecated 1.3.6.1.4.1.57264.1.2-.6 extensions do not stand in for the source repository claim",
			fakesigstore.Identity{Subject: ghWorkflow, Issuer: ghIssuer, Extensions: certificate.Extensions{GithubWorkflowRepository: "acme/app", GithubWorkflowRef: "refs/tags/v1.0.0", RunnerEnvironment: "github-hosted"}},
			"", "", "carries no sourceRepository claim"),
		lookalike("regexp matching only a substring", "a subjectRegExp matches the whole subject, never a part: acme/app inside a branch name does not match",
			fakesigstore.Identity{Subject: "https://github.com/mallory/app/.github/workflows/release.yml@refs/heads/acme/app", Issuer: ghIssuer, Extensions: ghExt(nil)},
			"  - name: release\n    issuer: "+ghIssuer+"\n    subjectRegExp: acme/app\n    trustRoots: [ci]\n", "", "the whole value must match"),
		lookalike("regexp alternation escaping the anchors", "an alternation in a subjectRegExp stays inside the anchors: x|…/release cannot match any subject ending in release",
			fakesigstore.Identity{Subject: "https://github.com/mallory/app/.github/workflows/x.yml@refs/heads/release", Issuer: ghIssuer, Extensions: ghExt(nil)},
			"  - name: release\n    issuer: "+ghIssuer+"\n    subjectRegExp: https://github\\.com/acme/app/\\.github/workflows/release\\.yml@refs/tags/.+|release\n    trustRoots: [ci]\n", "",
			"the whole value must match"),
		lookalike("email subject in another case with a trailing dot", "an exact email subject compares byte for byte",
			fakesigstore.Identity{Subject: "Release@acme.example.", Issuer: "https://accounts.google.com"},
			"  - name: release\n    issuer: https://accounts.google.com\n    subject: release@acme.example\n    trustRoots: [ci]\n", "", "is not \"release@acme.example\""),
		lookalike("certificate of an identity the rule does not name", "a certificate for a policy identity counts only in rules that name that identity",
			fakesigstore.Identity{Subject: "build@vendor.example", Issuer: "https://vendor.example"},
			releaseYAML+"  - name: vendor\n    issuer: https://vendor.example\n    subject: build@vendor.example\n    trustRoots: [ci]\n", "", "is not one of this rule's keys", "[key-not-in-rule]"),

		// --- Time: certificates outside their validity, untrusted times ---
		attack{
			name:   "keyless: expired certificate with a timestamp from the attacker's TSA",
			guards: "only the trust root's TSAs give a certificate its time: an attacker's timestamp dated inside an expired certificate's validity is no time at all",
			run: func(t *testing.T, s *scene) []string {
				fs := s.sigstore(fakesigstore.WithoutRekor())
				mallory := fakesigstore.New(t)
				d := s.image("v1")
				at := time.Now().Add(-2 * time.Hour)
				b := fs.DSSEBundle(t, s.stmt(d, "", nil, nil), goodCert(), fakesigstore.AtTime(at), fakesigstore.WithoutTlog())
				attachRaw(t, s.host, s.repo, d, addTimestamp(t, b, mallory.Timestamp(t, dsseSig(t, b), at.Add(time.Minute))))
				return []string{"verify", "--policy", s.releasePolicy(), s.ref("v1")}
			},
			wantCode: 1,
			want:     []string{"FAIL", "does not verify under the policy's trust roots", "failed to verify timestamps"},
			notWant:  []string{"PASS"},
		},
		attack{
			name:   "keyless: expired certificate with a fresh timestamp from the policy's TSA",
			guards: "a certificate must be valid at every verified time: a trusted timestamp obtained after it expired does not revive it",
			run: func(t *testing.T, s *scene) []string {
				fs := s.sigstore(fakesigstore.WithoutRekor())
				d := s.image("v1")
				b := fs.DSSEBundle(t, s.stmt(d, "", nil, nil), goodCert(), fakesigstore.AtTime(time.Now().Add(-2*time.Hour)), fakesigstore.WithoutTlog())
				attachRaw(t, s.host, s.repo, d, addTimestamp(t, b, fs.Timestamp(t, dsseSig(t, b), time.Now())))
				return []string{"verify", "--policy", s.releasePolicy(), s.ref("v1")}
			},
			wantCode: 1,
			want:     []string{"FAIL", "does not verify under the policy's trust roots", "leaf certificate verification failed"},
			notWant:  []string{"PASS"},
		},
		attack{
			name:   "keyless: Rekor v2 entry timed by the attacker's TSA",
			guards: "a Rekor v2 entry carries no time: its certificate needs a timestamp from the trust root's TSA, not the attacker's",
			run: func(t *testing.T, s *scene) []string {
				fs := s.sigstore()
				mallory := fakesigstore.New(t)
				d := s.image("v1")
				b := fs.DSSEBundle(t, s.stmt(d, "", nil, nil), goodCert(), fakesigstore.WithRekorV2())
				attachRaw(t, s.host, s.repo, d, addTimestamp(t, b, mallory.Timestamp(t, dsseSig(t, b), time.Now())))
				return []string{"verify", "--policy", s.releasePolicy(), s.ref("v1")}
			},
			wantCode: 1,
			want:     []string{"FAIL", "does not verify under the policy's trust roots", "failed to verify timestamps"},
			notWant:  []string{"PASS"},
		},
		attack{
			name:   "keyless: log entry for another statement by the same certificate",
			guards: "the log entry must be this bundle's: a genuine entry for another statement signed by the same certificate does not log this one",
			run: func(t *testing.T, s *scene) []string {
				fs := s.sigstore()
				d := s.image("v1")
				other := s.image("v2")
				attachRaw(t, s.host, s.repo, d, fs.DSSEBundle(t, s.stmt(d, "", nil, nil), goodCert(), fakesigstore.LogEntryFor(s.stmt(other, "", nil, nil))))
				return []string{"verify", "--policy", s.releasePolicy(), s.ref("v1")}
			},
			wantCode: 1,
			want:     []string{"FAIL", "does not verify under the policy's trust roots", "failed to verify log inclusion"},
			notWant:  []string{"PASS"},
		},
		attack{
			name:   "keyless: log entry from the attacker's log where the root requires one",
			guards: "a root with a transparency log requires an entry in that log: an entry from a log the root does not list does not count",
			run: func(t *testing.T, s *scene) []string {
				fs := s.sigstore()
				mallory := fakesigstore.New(t)
				d := s.image("v1")
				st := s.stmt(d, "", nil, nil)
				b := fs.DSSEBundle(t, st, goodCert(), fakesigstore.WithoutTlog(), fakesigstore.WithTimestamp())
				theirs := mallory.DSSEBundle(t, st, goodCert())
				entries := obj(editJSONGet(t, theirs)["verificationMaterial"])["tlogEntries"].([]any)
				attachRaw(t, s.host, s.repo, d, editJSON(t, b, func(m map[string]any) { obj(m["verificationMaterial"])["tlogEntries"] = entries }))
				return []string{"verify", "--policy", s.releasePolicy(), s.ref("v1")}
			},
			wantCode: 1,
			want:     []string{"FAIL", "does not verify under the policy's trust roots", "failed to verify log inclusion"},
			notWant:  []string{"PASS"},
		},
		attack{
			name:   "keyless: integrated time moved inside the inclusion promise",
			guards: "the integrated time counts only under the log's signed entry timestamp: editing it breaks the promise and leaves no verified time",
			run: func(t *testing.T, s *scene) []string {
				fs := s.sigstore()
				d := s.image("v1")
				at := time.Now().Add(-2 * time.Hour)
				b := fs.DSSEBundle(t, s.stmt(d, "", nil, nil), goodCert(), fakesigstore.AtTime(at))
				attachRaw(t, s.host, s.repo, d, editJSON(t, b, func(m map[string]any) {
					e := obj(obj(m["verificationMaterial"])["tlogEntries"].([]any)[0])
					e["integratedTime"] = fmt.Sprint(at.Add(5 * time.Minute).Unix())
				}))
				return []string{"verify", "--policy", s.releasePolicy(), s.ref("v1")}
			},
			wantCode: 1,
			want:     []string{"FAIL", "does not verify under the policy's trust roots", "failed to verify log inclusion"},
			notWant:  []string{"PASS"},
		},
		attack{
			name:   "keyless: inclusion promise stripped, integrated time kept, no timestamp",
			guards: "an integrated time without the log's promise is not signed: with only an inclusion proof and no TSA, an expired certificate has no verified time",
			run: func(t *testing.T, s *scene) []string {
				fs := s.sigstore()
				d := s.image("v1")
				b := fs.DSSEBundle(t, s.stmt(d, "", nil, nil), goodCert(), fakesigstore.AtTime(time.Now().Add(-2*time.Hour)))
				attachRaw(t, s.host, s.repo, d, editJSON(t, b, func(m map[string]any) {
					delete(obj(obj(m["verificationMaterial"])["tlogEntries"].([]any)[0]), "inclusionPromise")
				}))
				return []string{"verify", "--policy", s.releasePolicy(), s.ref("v1")}
			},
			wantCode: 1,
			want:     []string{"FAIL", "does not verify under the policy's trust roots", "failed to verify timestamps"},
			notWant:  []string{"PASS"},
		},

		// --- Identity validity windows ---
		attack{
			name:   "keyless: identity revoked before the log time",
			guards: "revokedAt applies to identities at the signature's verified time",
			run: func(t *testing.T, s *scene) []string {
				fs := s.sigstore()
				d := s.image("v1")
				attachRaw(t, s.host, s.repo, d, fs.DSSEBundle(t, s.stmt(d, "", nil, nil), goodCert()))
				id := releaseYAML + "    revokedAt: " + time.Now().Add(-time.Hour).UTC().Format(time.RFC3339) + "\n"
				return []string{"verify", "--policy", s.idPolicy("", id, sigRule(1, "release")), s.ref("v1")}
			},
			wantCode: 1,
			want:     []string{"FAIL", "identity release was revoked", "[revoked]"},
			notWant:  []string{"PASS"},
		},
		attack{
			name:   "keyless: revoked identity backdated with the attacker TSA's timestamp",
			guards: "an identity's time is the earliest verified time: a timestamp from a TSA outside the trust root, dated before revokedAt, is not verified — and every timestamp must verify, so the bundle is refused",
			run: func(t *testing.T, s *scene) []string {
				fs := s.sigstore()
				mallory := fakesigstore.New(t)
				d := s.image("v1")
				b := fs.DSSEBundle(t, s.stmt(d, "", nil, nil), goodCert())
				attachRaw(t, s.host, s.repo, d, addTimestamp(t, b, mallory.Timestamp(t, dsseSig(t, b), time.Now().Add(-3*time.Hour))))
				id := releaseYAML + "    revokedAt: " + time.Now().Add(-time.Hour).UTC().Format(time.RFC3339) + "\n"
				return []string{"verify", "--policy", s.idPolicy("", id, sigRule(1, "release")), s.ref("v1")}
			},
			wantCode: 1,
			want:     []string{"FAIL", "0 of the bundle's 1 RFC 3161 timestamps verify"},
			notWant:  []string{"PASS"},
		},
		attack{
			name:   "keyless: identity whose validFrom is after the log time",
			guards: "validFrom applies to identities: a certificate logged before the identity was trusted does not count",
			run: func(t *testing.T, s *scene) []string {
				fs := s.sigstore()
				d := s.image("v1")
				attachRaw(t, s.host, s.repo, d, fs.DSSEBundle(t, s.stmt(d, "", nil, nil), goodCert(), fakesigstore.AtTime(time.Now().Add(-3*time.Hour))))
				id := releaseYAML + "    validFrom: " + time.Now().Add(-time.Hour).UTC().Format(time.RFC3339) + "\n"
				return []string{"verify", "--policy", s.idPolicy("", id, sigRule(1, "release")), s.ref("v1")}
			},
			wantCode: 1,
			want:     []string{"FAIL", "is not valid before", "[not-yet-valid]"},
			notWant:  []string{"PASS"},
		},
		attack{
			name:   "keyless: identity whose validUntil is before the log time",
			guards: "validUntil applies to identities at the verified time, not at the certificate's own dates",
			run: func(t *testing.T, s *scene) []string {
				fs := s.sigstore()
				d := s.image("v1")
				attachRaw(t, s.host, s.repo, d, fs.DSSEBundle(t, s.stmt(d, "", nil, nil), goodCert()))
				id := releaseYAML + "    validUntil: " + time.Now().Add(-time.Hour).UTC().Format(time.RFC3339) + "\n"
				return []string{"verify", "--policy", s.idPolicy("", id, sigRule(1, "release")), s.ref("v1")}
			},
			wantCode: 1,
			want:     []string{"FAIL", "identity release expired", "[expired]"},
			notWant:  []string{"PASS"},
		},

		// --- What a bundle claims about itself ---
		attack{
			name:   "keyless: key hint naming an identity id",
			guards: "a key hint names policy keys only: \"identity:release\" does not route a bundle signed by the attacker's key to the identity",
			run: func(t *testing.T, s *scene) []string {
				s.sigstore()
				d := s.image("v1")
				s.key("mallory", "ecdsa-p256")
				attachRaw(t, s.host, s.repo, d, s.keySigned(s.path("mallory.key"), s.stmt(d, "", nil, nil), "identity:release"))
				return []string{"verify", "--policy", s.releasePolicy(), s.ref("v1")}
			},
			wantCode: 1,
			want:     []string{"FAIL", "signed by key id identity:release, which the policy does not list"},
			notWant:  []string{"PASS"},
		},
		attack{
			name:   "keyless: certificate and key hint in one bundle",
			guards: "a bundle's verification material is one certificate or one key: both at once is malformed, not read either way",
			run: func(t *testing.T, s *scene) []string {
				fs := s.sigstore()
				d := s.image("v1")
				b := fs.DSSEBundle(t, s.stmt(d, "", nil, nil), goodCert())
				attachRaw(t, s.host, s.repo, d, editJSON(t, b, func(m map[string]any) {
					obj(m["verificationMaterial"])["publicKey"] = map[string]any{"hint": "identity:release"}
				}))
				return []string{"verify", "--policy", s.releasePolicy(), s.ref("v1")}
			},
			wantCode: 1,
			want:     []string{"FAIL", "not a valid Sigstore bundle"},
			notWant:  []string{"PASS"},
		},
		attack{
			name:   "keyless: DSSE envelope with the certificate's signature and the attacker's",
			guards: "a certificate-based DSSE envelope carries exactly one signature",
			run: func(t *testing.T, s *scene) []string {
				fs := s.sigstore()
				d := s.image("v1")
				b := fs.DSSEBundle(t, s.stmt(d, "", nil, nil), goodCert())
				sigs := dsseSignatures(t, b)
				attachRaw(t, s.host, s.repo, d, setDSSESignatures(t, b, sigs[0], map[string]any{"sig": base64.StdEncoding.EncodeToString([]byte("mallory")), "keyid": "mallory"}))
				return []string{"verify", "--policy", s.releasePolicy(), s.ref("v1")}
			},
			wantCode: 1,
			want:     []string{"FAIL", "does not verify under the policy's trust roots", "exactly one signature is required"},
			notWant:  []string{"PASS"},
		},
		attack{
			name:   "keyless: message signature over the image manifest",
			guards: "a message signature (sign-blob of the manifest bytes) by the identity is not an image signature: it signs no statement",
			run: func(t *testing.T, s *scene) []string {
				fs := s.sigstore()
				d := s.image("v1")
				raw, _, err := openRepo(t, s.host, s.repo).Manifest(context.Background(), "v1", v1.Hash{})
				if err != nil {
					t.Fatal(err)
				}
				if fmt.Sprintf("sha256:%x", sha256.Sum256(raw)) != d.String() {
					t.Fatalf("manifest bytes are not %s", d)
				}
				attachRaw(t, s.host, s.repo, d, fs.MessageBundle(t, raw, goodCert()))
				return []string{"verify", "--policy", s.releasePolicy(), s.ref("v1")}
			},
			wantCode: 1,
			want:     []string{"FAIL", "message signatures are not image signatures"},
			notWant:  []string{"PASS"},
		},
		attack{
			name:   "keyless: DSSE payload type other than in-toto",
			guards: "a certificate-signed DSSE envelope counts only as an in-toto statement",
			run: func(t *testing.T, s *scene) []string {
				fs := s.sigstore()
				d := s.image("v1")
				attachRaw(t, s.host, s.repo, d, fs.DSSEBundle(t, s.stmt(d, "", nil, nil), goodCert(), fakesigstore.WithPayloadType("application/json")))
				return []string{"verify", "--policy", s.releasePolicy(), s.ref("v1")}
			},
			wantCode: 1,
			want:     []string{"FAIL", "unsupported media type"},
			notWant:  []string{"PASS"},
		},
		attack{
			name:   "keyless: identity's attestation counted as a signature",
			guards: "a keyless attestation (another predicate type) does not satisfy a signatures requirement",
			run: func(t *testing.T, s *scene) []string {
				fs := s.sigstore()
				d := s.image("v1")
				attachRaw(t, s.host, s.repo, d, fs.DSSEBundle(t, s.stmt(d, slsaV1, map[string]any{"buildDefinition": map[string]any{}}, nil), goodCert()))
				return []string{"verify", "--policy", s.releasePolicy(), s.ref("v1")}
			},
			wantCode: 1,
			want:     []string{"FAIL", "no signature found"},
			notWant:  []string{"PASS"},
		},
		attack{
			name:   "keyless: identity's statement about this image and another",
			guards: "a keyless statement naming several images is a signature of none of them",
			run: func(t *testing.T, s *scene) []string {
				fs := s.sigstore()
				d := s.image("v1")
				other := s.image("v2")
				attachRaw(t, s.host, s.repo, d, fs.DSSEBundle(t, s.statementAbout(statement.Signature, map[string]any{}, d, other), goodCert()))
				return []string{"verify", "--policy", s.releasePolicy(), s.ref("v1")}
			},
			wantCode: 1,
			want:     []string{"FAIL", "also names", "[subject-mismatch]"},
			notWant:  []string{"PASS"},
		},
		attack{
			name:   "keyless: identity's signature copied from another image",
			guards: "a keyless statement about another image does not count for this one",
			run: func(t *testing.T, s *scene) []string {
				fs := s.sigstore()
				d := s.image("v1")
				other := s.image("v2")
				attachRaw(t, s.host, s.repo, d, fs.DSSEBundle(t, s.stmt(other, "", nil, nil), goodCert()))
				return []string{"verify", "--policy", s.releasePolicy(), s.ref("v1")}
			},
			wantCode: 1,
			want:     []string{"FAIL", "is about another image", "[subject-mismatch]"},
			notWant:  []string{"PASS"},
		},

		// --- Thresholds ---
		attack{
			name:   "keyless: threshold 2 met by two bundles from the same identity",
			guards: "an identity counts once however many bundles (referrers and --bundle files) it signed",
			run: func(t *testing.T, s *scene) []string {
				fs := s.sigstore()
				d := s.image("v1")
				attachRaw(t, s.host, s.repo, d, fs.DSSEBundle(t, s.stmt(d, "", nil, nil), goodCert()))
				s.write("more.jsonl", string(fs.DSSEBundle(t, s.stmt(d, "", nil, nil), goodCert()))+"\n"+string(fs.DSSEBundle(t, s.stmt(d, "", nil, nil), goodCert()))+"\n")
				security := strings.NewReplacer("name: release", "name: security", "release.yml", "security.yml").Replace(releaseYAML)
				pol := s.idPolicy("", releaseYAML+security, sigRule(2, "release", "security"))
				return []string{"verify", "--policy", pol, "--bundle", "more.jsonl", s.ref("v1")}
			},
			wantCode: 1,
			want:     []string{"FAIL", "only 1 of 2"},
			notWant:  []string{"PASS"},
		},
		attack{
			name:   "keyless: threshold 2 met by one workflow matching two overlapping identities",
			guards: "one certificate is one signer: a workflow that two overlapping identities both describe counts once",
			run: func(t *testing.T, s *scene) []string {
				fs := s.sigstore()
				d := s.image("v1")
				attachRaw(t, s.host, s.repo, d, fs.DSSEBundle(t, s.stmt(d, "", nil, nil), goodCert()))
				attachRaw(t, s.host, s.repo, d, fs.DSSEBundle(t, s.stmt(d, "", nil, nil), goodCert()))
				exact := "  - name: release-exact\n    issuer: " + ghIssuer + "\n    subject: " + ghWorkflow + "\n    trustRoots: [ci]\n"
				pol := s.idPolicy("", releaseYAML+exact, sigRule(2, "release", "release-exact"))
				return []string{"verify", "--policy", pol, s.ref("v1")}
			},
			wantCode: 1,
			want:     []string{"FAIL", "only 1 of 2"},
			notWant:  []string{"PASS"},
		},

		// --- Bundles given as files ---
		attack{
			name:   "keyless: bundle file about another image",
			guards: "a --bundle file counts only for the image its statement is about",
			run: func(t *testing.T, s *scene) []string {
				fs := s.sigstore()
				s.image("v1")
				other := s.image("v2")
				s.write("att.json", string(fs.DSSEBundle(t, s.stmt(other, "", nil, nil), goodCert())))
				return []string{"verify", "--policy", s.releasePolicy(), "--bundle", "att.json", s.ref("v1")}
			},
			wantCode: 1,
			want:     []string{"FAIL", "no signature found"},
			notWant:  []string{"PASS"},
		},
		attack{
			name:   "keyless: bundle file mixing another image's good line and this image's forged line",
			guards: "in JSON lines each bundle is judged alone: a good line for another image lends nothing to a forged line for this one",
			run: func(t *testing.T, s *scene) []string {
				fs := s.sigstore(fakesigstore.WithoutRekor())
				mallory := fakesigstore.New(t)
				d := s.image("v1")
				other := s.image("v2")
				good := fs.DSSEBundle(t, s.stmt(other, "", nil, nil), goodCert(), fakesigstore.WithoutTlog(), fakesigstore.WithTimestamp())
				forged := attackerSigned(t, mallory, fs, s.stmt(d, "", nil, nil), goodCert())
				s.write("att.jsonl", string(good)+"\n"+string(forged)+"\n")
				return []string{"verify", "--policy", s.releasePolicy(), "--bundle", "att.jsonl", s.ref("v1")}
			},
			wantCode: 1,
			want:     []string{"FAIL", "att.jsonl:2", "does not verify under the policy's trust roots", "leaf certificate verification failed"},
			notWant:  []string{"PASS"},
		},

		// --- maxAge and tag binding with identity signatures ---
		attack{
			name:   "keyless: fresh predicate time on an attestation logged long ago",
			guards: "maxAge uses the verified log time when it is earlier than the predicate's: an old keyless attestation cannot claim to be fresh",
			run: func(t *testing.T, s *scene) []string {
				fs := s.sigstore()
				d := s.image("v1")
				pred := map[string]any{"buildDefinition": map[string]any{"buildType": "https://example/build/v1", "externalParameters": map[string]any{}},
					"runDetails": map[string]any{"builder": map[string]any{"id": "https://ci.example/builder"}, "metadata": map[string]any{"finishedOn": time.Now().UTC().Format(time.RFC3339)}}}
				attachAs(t, s.host, s.repo, d, slsaV1, fs.DSSEBundle(t, s.stmt(d, slsaV1, pred, nil), goodCert(), fakesigstore.AtTime(time.Now().Add(-3*time.Hour))))
				rule := "    attestations:\n      - type: " + slsaV1 + "\n        keys: [release]\n        maxAge: 1h\n"
				return []string{"verify", "--policy", s.idPolicy("", releaseYAML, rule), s.at(d)}
			},
			wantCode: 1,
			want:     []string{"FAIL", "over maxAge 1h0m0s", "transparency-log time (earlier than the predicate's time)"},
			notWant:  []string{"PASS"},
		},
		attack{
			name:   "keyless: bindTag with a keyless signature that binds no tag",
			guards: "bindTag needs a signature made for the tag: a keyless signature of the digest alone does not bind it",
			run: func(t *testing.T, s *scene) []string {
				fs := s.sigstore()
				d := s.image("v1")
				attachRaw(t, s.host, s.repo, d, fs.DSSEBundle(t, s.stmt(d, "", nil, nil), goodCert()))
				return []string{"verify", "--policy", s.idPolicy("", releaseYAML, sigRule(1, "release")+"      bindTag: true\n"), s.ref("v1")}
			},
			wantCode: 1,
			want:     []string{"FAIL", "binds no tag", "[tag-not-bound]"},
			notWant:  []string{"PASS"},
		},
		attack{
			name:   "keyless: bindTag with a keyless signature for another tag",
			guards: "a keyless signature binding dev does not bind prod",
			run: func(t *testing.T, s *scene) []string {
				fs := s.sigstore()
				d := s.image("prod")
				attachRaw(t, s.host, s.repo, d, fs.DSSEBundle(t, s.stmt(d, "", nil, map[string]string{statement.TagAnnotation: "dev"}), goodCert()))
				return []string{"verify", "--policy", s.idPolicy("", releaseYAML, sigRule(1, "release")+"      bindTag: true\n"), s.ref("prod")}
			},
			wantCode: 1,
			want:     []string{"FAIL", "signed for tag dev, not prod"},
			notWant:  []string{"PASS"},
		},
		attack{
			name:   "keyless: tag binding time after the signature's log time",
			guards: "a statement's signed-at cannot be later than the verified log time: an old keyless binding cannot pose as the newest",
			run: func(t *testing.T, s *scene) []string {
				fs := s.sigstore()
				d := s.image("v1")
				ann := map[string]string{statement.TagAnnotation: "v1", statement.SignedAtAnnotation: time.Now().UTC().Format(time.RFC3339Nano)}
				attachRaw(t, s.host, s.repo, d, fs.DSSEBundle(t, s.stmt(d, "", nil, ann), goodCert(), fakesigstore.AtTime(time.Now().Add(-2*time.Hour))))
				return []string{"verify", "--policy", s.idPolicy("", releaseYAML, sigRule(1, "release")+"      bindTag: true\n"), s.ref("v1")}
			},
			wantCode: 1,
			want:     []string{"FAIL", "[signed-time-invalid]"},
			notWant:  []string{"PASS"},
		},

		// --- cosign's legacy tags signed with certificates ---
		attack{
			name:   "keyless: legacy .sig signed by the attacker CA's certificate and chain",
			guards: "a legacy .sig layer's certificate and chain annotations are checked like a bundle's: the attacker's CA chain, with a trusted timestamp, does not count",
			run: func(t *testing.T, s *scene) []string {
				fs := s.sigstore(fakesigstore.WithoutRekor())
				mallory := fakesigstore.New(t)
				d := s.image("v1")
				payload := s.simpleSigning(d)
				mb := mallory.MessageBundle(t, payload, goodCert(), fakesigstore.WithoutTlog())
				var b struct {
					MessageSignature struct{ Signature []byte } `json:"messageSignature"`
				}
				if err := json.Unmarshal(mb, &b); err != nil {
					t.Fatal(err)
				}
				s.pushLegacyLayer(d, "sig", payload, "application/vnd.dev.cosign.simplesigning.v1+json", map[string]string{
					"dev.cosignproject.cosign/signature":   base64.StdEncoding.EncodeToString(b.MessageSignature.Signature),
					"dev.sigstore.cosign/certificate":      certsPEM(leafOf(t, mb)),
					"dev.sigstore.cosign/chain":            certsPEM(spoofedIntermediate(t, mallory, fs), fs.FulcioRoot()),
					"dev.sigstore.cosign/rfc3161timestamp": timestampAnnotation(fs.Timestamp(t, b.MessageSignature.Signature, time.Now())),
				})
				return []string{"verify", "--policy", s.releasePolicy(), s.ref("v1")}
			},
			wantCode: 1,
			want:     []string{"FAIL", "does not verify under the policy's trust roots", "leaf certificate verification failed"},
			notWant:  []string{"PASS"},
		},
		attack{
			name:   "keyless: legacy .att signed by the attacker CA's certificate",
			guards: "a legacy .att layer's certificate counts only when it chains to the trust root's CA",
			run: func(t *testing.T, s *scene) []string {
				fs := s.sigstore(fakesigstore.WithoutRekor())
				mallory := fakesigstore.New(t)
				d := s.image("v1")
				pred := map[string]any{"buildDefinition": map[string]any{"buildType": "https://example/build/v1", "externalParameters": map[string]any{}}, "runDetails": map[string]any{"builder": map[string]any{"id": "x"}}}
				b := mallory.DSSEBundle(t, s.stmt(d, slsaV1, pred, nil), goodCert(), fakesigstore.WithoutTlog())
				var env struct {
					DSSE json.RawMessage `json:"dsseEnvelope"`
				}
				if err := json.Unmarshal(b, &env); err != nil {
					t.Fatal(err)
				}
				s.pushLegacyLayer(d, "att", env.DSSE, "application/vnd.dsse.envelope.v1+json", map[string]string{
					"predicateType":                        slsaV1,
					"dev.sigstore.cosign/certificate":      certsPEM(leafOf(t, b)),
					"dev.sigstore.cosign/rfc3161timestamp": timestampAnnotation(fs.Timestamp(t, dsseSig(t, b), time.Now())),
				})
				rule := "    attestations:\n      - type: " + slsaV1 + "\n        keys: [release]\n"
				return []string{"verify", "--policy", s.idPolicy("", releaseYAML, rule), s.ref("v1")}
			},
			wantCode: 1,
			want:     []string{"FAIL", "does not verify under the policy's trust roots", "leaf certificate verification failed"},
			notWant:  []string{"PASS"},
		},

		// --- Policies and trust root files (offline) ---
		attack{
			name:    "keyless: identity with the name of a key",
			guards:  "keys and identities share one namespace: an identity named like a key is a policy error, never a second way to satisfy the key",
			offline: true,
			run: func(t *testing.T, s *scene) []string {
				s.trusted()
				fs := fakesigstore.New(t)
				fs.WriteTrustedRoot(t, s.path("trusted_root.json"))
				return []string{"policy", "check", s.write("keyless.yaml", "version: 1\nkeys:\n  - name: k\n    publicKey: k.pub\ntrustRoots:\n  - name: ci\n    file: trusted_root.json\nidentities:\n"+
					strings.Replace(releaseYAML, "name: release", "name: k", 1)+"policies:\n  - name: p\n    scopes: [\"registry.example.com/**\"]\n    signatures:\n      keys: [k]\n")}
			},
			wantCode: 2,
			want:     []string{"has the name of key \"k\""},
		},
		attack{
			name:    "keyless: trust root file that is a Sigstore bundle",
			guards:  "a trust root file must be a trusted_root.json: any other Sigstore JSON is refused when the policy loads",
			offline: true,
			run: func(t *testing.T, s *scene) []string {
				fs := fakesigstore.New(t)
				s.write("trusted_root.json", string(fs.MessageBundle(t, []byte("x"), goodCert())))
				return []string{"policy", "check", s.idPolicy("", releaseYAML, sigRule(1, "release"))}
			},
			wantCode: 2,
			want:     []string{"is not a Sigstore trusted_root.json"},
		},
		attack{
			name:    "keyless: trust root file with no certificate authority",
			guards:  "a trust root that lists no CA is a policy error, not a root under which nothing (or anything) verifies",
			offline: true,
			run: func(t *testing.T, s *scene) []string {
				s.write("trusted_root.json", `{"mediaType":"application/vnd.dev.sigstore.trustedroot+json;version=0.1"}`)
				return []string{"policy", "check", s.idPolicy("", releaseYAML, sigRule(1, "release"))}
			},
			wantCode: 2,
			want:     []string{"lists no certificate authority"},
		},
		attack{
			name:    "keyless: requireTransparencyLog true for a root without a log",
			guards:  "a log requirement no signature could meet is a policy error",
			offline: true,
			run: func(t *testing.T, s *scene) []string {
				fs := fakesigstore.New(t)
				fs.WriteTrustedRoot(t, s.path("trusted_root.json"), fakesigstore.WithoutRekor())
				return []string{"policy", "check", s.idPolicy("    requireTransparencyLog: true\n", releaseYAML, sigRule(1, "release"))}
			},
			wantCode: 2,
			want:     []string{"lists no transparency log"},
		},

		// --- verify-blob ---
		attack{
			name:    "keyless: verify-blob --trusted-root given a bundle",
			guards:  "verify-blob's --trusted-root must be a trusted_root.json: bad input, exit 2",
			offline: true,
			run: func(t *testing.T, s *scene) []string {
				fs := fakesigstore.New(t)
				s.write("app.bin", "release bytes")
				b := string(fs.MessageBundle(t, []byte("release bytes"), goodCert()))
				s.write("b.json", b)
				s.write("root.json", b)
				return []string{"verify-blob", "--bundle", "b.json", "--trusted-root", "root.json", "--certificate-identity", ghWorkflow, "--certificate-oidc-issuer", ghIssuer, "app.bin"}
			},
			wantCode: 2,
			want:     []string{"is not a Sigstore trusted_root.json"},
			notWant:  []string{"verified"},
		},
		attack{
			name:    "keyless: verify-blob --trusted-root with no certificate authority",
			guards:  "verify-blob under a trust root listing no CA verifies nothing",
			offline: true,
			run: func(t *testing.T, s *scene) []string {
				fs := fakesigstore.New(t)
				s.write("app.bin", "release bytes")
				s.write("b.json", string(fs.MessageBundle(t, []byte("release bytes"), goodCert())))
				s.write("root.json", `{"mediaType":"application/vnd.dev.sigstore.trustedroot+json;version=0.1"}`)
				return []string{"verify-blob", "--bundle", "b.json", "--trusted-root", "root.json", "--certificate-identity", ghWorkflow, "--certificate-oidc-issuer", ghIssuer, "app.bin"}
			},
			wantCode: 1,
			want:     []string{"does not verify"},
			notWant:  []string{"verified:"},
		},
		attack{
			name:    "keyless: verify-blob certificate from the attacker's CA",
			guards:  "verify-blob trusts only the trust root's CA",
			offline: true,
			run: func(t *testing.T, s *scene) []string {
				fs, mallory := fakesigstore.New(t), fakesigstore.New(t)
				fs.WriteTrustedRoot(t, s.path("root.json"), fakesigstore.WithoutRekor())
				s.write("app.bin", "release bytes")
				mb := mallory.MessageBundle(t, []byte("release bytes"), goodCert(), fakesigstore.WithoutTlog())
				var b struct {
					MessageSignature struct{ Signature []byte } `json:"messageSignature"`
				}
				_ = json.Unmarshal(mb, &b)
				s.write("b.json", string(addTimestamp(t, mb, fs.Timestamp(t, b.MessageSignature.Signature, time.Now()))))
				return []string{"verify-blob", "--bundle", "b.json", "--trusted-root", "root.json", "--certificate-identity", ghWorkflow, "--certificate-oidc-issuer", ghIssuer, "app.bin"}
			},
			wantCode: 1,
			want:     []string{"does not verify", "leaf certificate verification failed"},
			notWant:  []string{"verified:"},
		},
		attack{
			name:    "keyless: verify-blob expired certificate with the attacker TSA's timestamp",
			guards:  "verify-blob gives a certificate only the trust root's times",
			offline: true,
			run: func(t *testing.T, s *scene) []string {
				fs, mallory := fakesigstore.New(t), fakesigstore.New(t)
				fs.WriteTrustedRoot(t, s.path("root.json"), fakesigstore.WithoutRekor())
				s.write("app.bin", "release bytes")
				at := time.Now().Add(-2 * time.Hour)
				mb := fs.MessageBundle(t, []byte("release bytes"), goodCert(), fakesigstore.WithoutTlog(), fakesigstore.AtTime(at))
				var b struct {
					MessageSignature struct{ Signature []byte } `json:"messageSignature"`
				}
				_ = json.Unmarshal(mb, &b)
				s.write("b.json", string(addTimestamp(t, mb, mallory.Timestamp(t, b.MessageSignature.Signature, at.Add(time.Minute)))))
				return []string{"verify-blob", "--bundle", "b.json", "--trusted-root", "root.json", "--certificate-identity", ghWorkflow, "--certificate-oidc-issuer", ghIssuer, "app.bin"}
			},
			wantCode: 1,
			want:     []string{"does not verify", "failed to verify timestamps"},
			notWant:  []string{"verified:"},
		},
		attack{
			name:    "keyless: verify-blob --key given a certificate bundle signed with that key",
			guards:  "with --key, a bundle must name the key, not a certificate: a certificate (here from the attacker's CA) for the trusted key is not read as the key",
			offline: true,
			run: func(t *testing.T, s *scene) []string {
				mallory := fakesigstore.New(t)
				s.trusted()
				artifact := []byte("release bytes")
				s.write("app.bin", string(artifact))
				k, err := keys.KeyFiles.LoadSigner(context.Background(), s.path("k.key"), keys.Access{Passphrase: func(bool) ([]byte, error) { return []byte(passphrase), nil }})
				if err != nil {
					t.Fatal(err)
				}
				sig, digest, err := k.SignData(context.Background(), artifact)
				if err != nil {
					t.Fatal(err)
				}
				cert := mallory.Certificate(t, k.Public(), goodCert())
				b, _ := json.Marshal(map[string]any{
					"mediaType": fakesigstore.MediaTypeV03,
					"verificationMaterial": map[string]any{
						"certificate":               map[string]any{"rawBytes": base64.StdEncoding.EncodeToString(cert.Raw)},
						"timestampVerificationData": map[string]any{"rfc3161Timestamps": []any{map[string]any{"signedTimestamp": base64.StdEncoding.EncodeToString(mallory.Timestamp(t, sig, time.Now()))}}},
					},
					"messageSignature": map[string]any{"messageDigest": map[string]any{"algorithm": "SHA2_256", "digest": base64.StdEncoding.EncodeToString(digest)}, "signature": base64.StdEncoding.EncodeToString(sig)},
				})
				s.write("b.json", string(b))
				return []string{"verify-blob", "--bundle", "b.json", "--key", "k.pub", "app.bin"}
			},
			wantCode: 1,
			want:     []string{"never trusted by itself"},
			notWant:  []string{"verified:"},
		},
		attack{
			name:    "keyless: verify-blob identity given a key-signed bundle hinting the identity",
			guards:  "with --certificate-identity, a key-signed bundle never counts, whatever its hint",
			offline: true,
			run: func(t *testing.T, s *scene) []string {
				fs := fakesigstore.New(t)
				fs.WriteTrustedRoot(t, s.path("root.json"))
				s.key("mallory", "ecdsa-p256")
				artifact := s.write("app.bin", "release bytes")
				s.must("attest", "blob", "--key", "mallory.key", "--type", "https://acme.example/review/v1", "--predicate", s.write("review.json", `{"ok":true}`), "--bundle", "keyed.json", artifact)
				raw, err := os.ReadFile(s.path("keyed.json"))
				if err != nil {
					t.Fatal(err)
				}
				s.write("keyed.json", string(setKeyHint(t, raw, ghWorkflow)))
				return []string{"verify-blob", "--bundle", "keyed.json", "--trusted-root", "root.json", "--certificate-identity", ghWorkflow, "--certificate-oidc-issuer", ghIssuer, "app.bin"}
			},
			wantCode: 1,
			want:     []string{"signed with a key"},
			notWant:  []string{"verified:"},
		},
		attack{
			name:    "keyless: verify-blob DSSE statement about another file",
			guards:  "verify-blob checks what a DSSE statement is about against the file given",
			offline: true,
			run: func(t *testing.T, s *scene) []string {
				fs := fakesigstore.New(t)
				fs.WriteTrustedRoot(t, s.path("root.json"))
				s.write("app.bin", "release bytes")
				other := sha256.Sum256([]byte("other bytes"))
				st, _ := json.Marshal(map[string]any{"_type": "https://in-toto.io/Statement/v1", "subject": []any{map[string]any{"name": "app.bin", "digest": map[string]string{"sha256": fmt.Sprintf("%x", other)}}},
					"predicateType": "https://slsa.dev/provenance/v1", "predicate": map[string]any{}})
				s.write("b.json", string(fs.DSSEBundle(t, st, goodCert())))
				return []string{"verify-blob", "--bundle", "b.json", "--trusted-root", "root.json", "--certificate-identity", ghWorkflow, "--certificate-oidc-issuer", ghIssuer, "app.bin"}
			},
			wantCode: 1,
			want:     []string{"does not verify"},
			notWant:  []string{"verified:"},
		},
		attack{
			name:    "keyless: verify-blob message signature checked against another digest",
			guards:  "verify-blob with a digest checks the message signature's digest and signature against it",
			offline: true,
			run: func(t *testing.T, s *scene) []string {
				fs := fakesigstore.New(t)
				fs.WriteTrustedRoot(t, s.path("root.json"))
				s.write("b.json", string(fs.MessageBundle(t, []byte("release bytes"), goodCert())))
				return []string{"verify-blob", "--bundle", "b.json", "--trusted-root", "root.json", "--certificate-identity", ghWorkflow, "--certificate-oidc-issuer", ghIssuer,
					fmt.Sprintf("sha256:%x", sha256.Sum256([]byte("other bytes")))}
			},
			wantCode: 1,
			want:     []string{"does not verify"},
			notWant:  []string{"verified:"},
		},
		attack{
			name:    "keyless: verify-blob identity regexp matching only a substring",
			guards:  "verify-blob's --certificate-identity-regexp matches the whole subject, unlike cosign's",
			offline: true,
			run: func(t *testing.T, s *scene) []string {
				fs := fakesigstore.New(t)
				fs.WriteTrustedRoot(t, s.path("root.json"))
				s.write("app.bin", "release bytes")
				s.write("b.json", string(fs.MessageBundle(t, []byte("release bytes"), ghCert("https://github.com/mallory/app/.github/workflows/release.yml@refs/heads/acme/app", "github-hosted"))))
				return []string{"verify-blob", "--bundle", "b.json", "--trusted-root", "root.json", "--certificate-identity-regexp", "acme/app", "--certificate-oidc-issuer", ghIssuer, "app.bin"}
			},
			wantCode: 1,
			want:     []string{"the whole value must match"},
			notWant:  []string{"verified:"},
		},
		attack{
			name:    "keyless: verify-blob certificate without a log entry under a root with a log",
			guards:  "verify-blob requires the log entry where the trust root has a log, even with a trusted timestamp",
			offline: true,
			run: func(t *testing.T, s *scene) []string {
				fs := fakesigstore.New(t)
				fs.WriteTrustedRoot(t, s.path("root.json"))
				s.write("app.bin", "release bytes")
				s.write("b.json", string(fs.MessageBundle(t, []byte("release bytes"), goodCert(), fakesigstore.WithoutTlog(), fakesigstore.WithTimestamp())))
				return []string{"verify-blob", "--bundle", "b.json", "--trusted-root", "root.json", "--certificate-identity", ghWorkflow, "--certificate-oidc-issuer", ghIssuer, "app.bin"}
			},
			wantCode: 1,
			want:     []string{"does not verify", "failed to verify log inclusion"},
			notWant:  []string{"verified:"},
		},
	)
}

// editJSONGet decodes a JSON object.
func editJSONGet(t *testing.T, raw []byte) map[string]any {
	t.Helper()
	var b map[string]any
	if err := json.Unmarshal(raw, &b); err != nil {
		t.Fatal(err)
	}
	return b
}

// rotatedPKI is a private Sigstore that rotated its Fulcio intermediate
// under the same root: the trusted root lists the root with the old
// intermediate in a CA entry whose validFor ended an hour ago (it was
// retired, say because its key leaked) and the root with the new
// intermediate in the current entry. The attacker holds the retired
// intermediate's key. Time comes from a fakesigstore TSA, the only one the
// root lists; the root has no log and no CT log.
type rotatedPKI struct {
	tsa          *fakesigstore.Sigstore
	root         *x509.Certificate
	retired, cur *x509.Certificate
	retiredKey   *ecdsa.PrivateKey
	retiredAt    time.Time
}

func newRotatedPKI(t *testing.T) *rotatedPKI {
	t.Helper()
	now := time.Now().Truncate(time.Second)
	p := &rotatedPKI{tsa: fakesigstore.New(t), retiredAt: now.Add(-time.Hour)}
	key := func() *ecdsa.PrivateKey {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	issue := func(tmpl, parent *x509.Certificate, pub *ecdsa.PublicKey, signer *ecdsa.PrivateKey) *x509.Certificate {
		serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
		tmpl.SerialNumber = serial
		if parent == nil {
			parent = tmpl
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, signer)
		if err != nil {
			t.Fatal(err)
		}
		c, err := x509.ParseCertificate(der)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	ca := func(cn string, pathLen int) *x509.Certificate {
		c := &x509.Certificate{Subject: pkixName(cn), NotBefore: now.Add(-30 * 24 * time.Hour), NotAfter: now.Add(30 * 24 * time.Hour),
			KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign, BasicConstraintsValid: true, IsCA: true, MaxPathLen: pathLen, MaxPathLenZero: pathLen == 0}
		if pathLen == 0 {
			c.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning}
		}
		return c
	}
	rootKey, curKey := key(), key()
	p.retiredKey = key()
	p.root = issue(ca("corp-fulcio", 1), nil, &rootKey.PublicKey, rootKey)
	p.retired = issue(ca("corp-fulcio-intermediate-2025", 0), p.root, &p.retiredKey.PublicKey, rootKey)
	p.cur = issue(ca("corp-fulcio-intermediate-2026", 0), p.root, &curKey.PublicKey, rootKey)
	return p
}

func pkixName(cn string) pkix.Name {
	return pkix.Name{CommonName: cn, Organization: []string{"corp.example"}}
}

// trustedRootJSON is the rotated Sigstore's trusted_root.json; without
// listRetired the retired intermediate's CA entry is left out altogether.
func (p *rotatedPKI) trustedRootJSON(t *testing.T, listRetired bool) []byte {
	t.Helper()
	chain := p.tsa.TSAChain()
	start := p.root.NotBefore
	tsa := &root.SigstoreTimestampingAuthority{Leaf: chain[0], Intermediates: chain[1:2], Root: chain[2], URI: fakesigstore.TSAURL, ValidityPeriodStart: start}
	cas := []root.CertificateAuthority{
		&root.FulcioCertificateAuthority{Root: p.root, Intermediates: []*x509.Certificate{p.retired}, ValidityPeriodStart: start, ValidityPeriodEnd: p.retiredAt, URI: "https://fulcio.corp.example"},
		&root.FulcioCertificateAuthority{Root: p.root, Intermediates: []*x509.Certificate{p.cur}, ValidityPeriodStart: p.retiredAt, URI: "https://fulcio.corp.example"},
	}
	if !listRetired {
		cas = cas[1:]
	}
	tr, err := root.NewTrustedRoot(root.TrustedRootMediaType01, cas, map[string]*root.TransparencyLog{}, []root.TimestampingAuthority{tsa}, map[string]*root.TransparencyLog{})
	if err != nil {
		t.Fatal(err)
	}
	j, err := tr.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	return j
}

// retiredBundle signs st now with a fresh leaf the retired intermediate
// issued for the release identity, timestamped now by the root's TSA; with
// chain, the bundle (v0.3) carries the retired intermediate after the leaf,
// as cosign --certificate-chain writes it.
func (p *rotatedPKI) retiredBundle(t *testing.T, st []byte, chain bool) []byte {
	t.Helper()
	leafKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	utf8 := func(oid asn1.ObjectIdentifier, v string) pkix.Extension {
		der, err := asn1.MarshalWithParams(v, "utf8")
		if err != nil {
			t.Fatal(err)
		}
		return pkix.Extension{Id: oid, Value: der}
	}
	u, _ := url.Parse(ghWorkflow)
	now := time.Now().Truncate(time.Second)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		NotBefore:    now.Add(-time.Minute),
		NotAfter:     now.Add(10 * time.Minute),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning},
		URIs:         []*url.URL{u},
		ExtraExtensions: []pkix.Extension{
			utf8(certificate.OIDIssuerV2, ghIssuer),
			utf8(certificate.OIDSourceRepositoryURI, "https://github.com/acme/app"),
			utf8(certificate.OIDSourceRepositoryRef, "refs/tags/v1.0.0"),
			utf8(certificate.OIDRunnerEnvironment, "github-hosted"),
		},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.retired, &leafKey.PublicKey, p.retiredKey)
	if err != nil {
		t.Fatal(err)
	}
	pae := fmt.Sprintf("DSSEv1 %d %s %d %s", len(fakesigstore.InTotoPayloadType), fakesigstore.InTotoPayloadType, len(st), st)
	digest := sha256.Sum256([]byte(pae))
	sig, err := ecdsa.SignASN1(rand.Reader, leafKey, digest[:])
	if err != nil {
		t.Fatal(err)
	}
	b64 := base64.StdEncoding.EncodeToString
	vm := map[string]any{
		"certificate":               map[string]any{"rawBytes": b64(der)},
		"timestampVerificationData": map[string]any{"rfc3161Timestamps": []any{map[string]any{"signedTimestamp": b64(p.tsa.Timestamp(t, sig, now))}}},
	}
	if chain {
		delete(vm, "certificate")
		vm["x509CertificateChain"] = map[string]any{"certificates": []any{map[string]any{"rawBytes": b64(der)}, map[string]any{"rawBytes": b64(p.retired.Raw)}}}
	}
	out, err := json.Marshal(map[string]any{
		"mediaType":            fakesigstore.MediaTypeV03,
		"verificationMaterial": vm,
		"dsseEnvelope":         map[string]any{"payload": b64(st), "payloadType": fakesigstore.InTotoPayloadType, "signatures": []any{map[string]any{"sig": b64(sig)}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}
