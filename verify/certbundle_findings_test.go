package verify

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/json"
	"fmt"
	"math/big"
	"net/url"
	"testing"
	"time"

	"github.com/sigstore/sigstore-go/pkg/fulcio/certificate"
	"github.com/sigstore/sigstore-go/pkg/root"

	"github.com/imgsign/imgsign/internal/testing/fakesigstore"
	"github.com/imgsign/imgsign/statement"
	"github.com/imgsign/imgsign/verify/policy"
)

// rtPKI: a private Fulcio root R with two intermediates: old (retired, or
// left out of the trust root) and cur. The attacker holds old's key.
type rtPKI struct {
	tsa            *fakesigstore.Sigstore
	root, old, cur *x509.Certificate
	oldKey         *ecdsa.PrivateKey
}

func newRTPKI(t *testing.T) *rtPKI {
	t.Helper()
	now := time.Now().Truncate(time.Second)
	key := func() *ecdsa.PrivateKey { k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader); return k }
	issue := func(tmpl, parent *x509.Certificate, pub *ecdsa.PublicKey, signer *ecdsa.PrivateKey) *x509.Certificate {
		tmpl.SerialNumber, _ = rand.Int(rand.Reader, big.NewInt(1<<62))
		if parent == nil {
			parent = tmpl
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, signer)
		if err != nil {
			t.Fatal(err)
		}
		c, _ := x509.ParseCertificate(der)
		return c
	}
	ca := func(cn string, pathLen int) *x509.Certificate {
		c := &x509.Certificate{Subject: pkix.Name{CommonName: cn}, NotBefore: now.Add(-30 * 24 * time.Hour), NotAfter: now.Add(30 * 24 * time.Hour),
			KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true, IsCA: true, MaxPathLen: pathLen, MaxPathLenZero: pathLen == 0}
		if pathLen == 0 {
			c.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning}
		}
		return c
	}
	rk, ck := key(), key()
	p := &rtPKI{tsa: fakesigstore.New(t), oldKey: key()}
	p.root = issue(ca("corp", 1), nil, &rk.PublicKey, rk)
	p.old = issue(ca("corp-intermediate-old", 0), p.root, &p.oldKey.PublicKey, rk)
	p.cur = issue(ca("corp-intermediate-cur", 0), p.root, &ck.PublicKey, rk)
	return p
}

func (p *rtPKI) trustRoot(t *testing.T, cas ...root.CertificateAuthority) *root.TrustedRoot {
	chain := p.tsa.TSAChain()
	tsa := &root.SigstoreTimestampingAuthority{Leaf: chain[0], Intermediates: chain[1:2], Root: chain[2], URI: "tsa", ValidityPeriodStart: p.root.NotBefore}
	tr, err := root.NewTrustedRoot(root.TrustedRootMediaType01, cas, map[string]*root.TransparencyLog{}, []root.TimestampingAuthority{tsa}, map[string]*root.TransparencyLog{})
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

func (p *rtPKI) bundle(t *testing.T, st []byte, chain bool) []byte {
	lk, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	u8 := func(oid asn1.ObjectIdentifier, v string) pkix.Extension {
		der, _ := asn1.MarshalWithParams(v, "utf8")
		return pkix.Extension{Id: oid, Value: der}
	}
	u, _ := url.Parse(ghWorkflow)
	now := time.Now().Truncate(time.Second)
	der, err := x509.CreateCertificate(rand.Reader, &x509.Certificate{SerialNumber: big.NewInt(1), NotBefore: now.Add(-time.Minute), NotAfter: now.Add(10 * time.Minute),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning}, URIs: []*url.URL{u},
		ExtraExtensions: []pkix.Extension{u8(certificate.OIDIssuerV2, ghIssuer), u8(certificate.OIDSourceRepositoryURI, "https://github.com/acme/app"), u8(certificate.OIDRunnerEnvironment, "github-hosted")}},
		p.old, &lk.PublicKey, p.oldKey)
	if err != nil {
		t.Fatal(err)
	}
	d := sha256.Sum256([]byte(fmt.Sprintf("DSSEv1 %d %s %d %s", len(statement.PayloadType), statement.PayloadType, len(st), st)))
	sig, _ := ecdsa.SignASN1(rand.Reader, lk, d[:])
	vm := map[string]any{"certificate": map[string]any{"rawBytes": der},
		"timestampVerificationData": map[string]any{"rfc3161Timestamps": []any{map[string]any{"signedTimestamp": p.tsa.Timestamp(t, sig, now)}}}}
	if chain {
		delete(vm, "certificate")
		vm["x509CertificateChain"] = map[string]any{"certificates": []any{map[string]any{"rawBytes": der}, map[string]any{"rawBytes": p.old.Raw}}}
	}
	out, _ := json.Marshal(map[string]any{"mediaType": fakesigstore.MediaTypeV03, "verificationMaterial": vm,
		"dsseEnvelope": map[string]any{"payload": st, "payloadType": statement.PayloadType, "signatures": []any{map[string]any{"sig": sig}}}})
	return out
}

// FINDING 1: an intermediate whose CA entry the trust root retired (validFor
// ended) verifies again when a v0.3 bundle carries it, through the root's
// current entry (same root certificate).
func TestFindingRetiredIntermediateRevivedByBundleChain(t *testing.T) {
	p := newRTPKI(t)
	retiredAt := time.Now().Add(-time.Hour)
	tr := p.trustRoot(t,
		&root.FulcioCertificateAuthority{Root: p.root, Intermediates: []*x509.Certificate{p.old}, ValidityPeriodStart: p.root.NotBefore, ValidityPeriodEnd: retiredAt},
		&root.FulcioCertificateAuthority{Root: p.root, Intermediates: []*x509.Certificate{p.cur}, ValidityPeriodStart: retiredAt})
	pol := keylessPolicy(t, tr, false, release())
	st := stmtJSON(subjectA.Hex, statement.Signature)
	if c := checkBundle(p.bundle(t, st, false), subjectA, pol, nil, nil, time.Now()); c.err == nil {
		t.Fatalf("control: leaf alone counted")
	}
	if c := checkBundle(p.bundle(t, st, true), subjectA, pol, nil, nil, time.Now()); c.err == nil {
		t.Fatalf("a leaf of the retired intermediate counted as %s, because the bundle carried the intermediate", c.key.Name)
	}
}

// FINDING 1b: an intermediate the trust root leaves out (only root + cur
// listed) verifies when a v0.3 bundle carries it.
func TestFindingUnlistedIntermediateAddedByBundleChain(t *testing.T) {
	p := newRTPKI(t)
	tr := p.trustRoot(t, &root.FulcioCertificateAuthority{Root: p.root, Intermediates: []*x509.Certificate{p.cur}, ValidityPeriodStart: p.root.NotBefore})
	pol := keylessPolicy(t, tr, false, release())
	st := stmtJSON(subjectA.Hex, statement.Signature)
	if c := checkBundle(p.bundle(t, st, true), subjectA, pol, nil, nil, time.Now()); c.err == nil {
		t.Fatalf("a leaf of an intermediate the trust root does not list counted as %s", c.key.Name)
	}
	if _, err := Blob(BlobRequest{Bundle: p.bundle(t, st, true), Digest: subjectA, Identity: &policy.Identity{Name: "x", Issuer: ghIssuer, Subject: ghWorkflow, TrustRoots: []string{"test"}},
		Root: pol.TrustRoots[0]}); err == nil {
		t.Fatalf("verify-blob verified it too")
	}
}

// FINDING 3: the first identity (in policy order) that a certificate
// matches is the only one tried; when the rule names a later one that also
// matches, the signature is refused.
func TestFindingFirstMatchingIdentityShadowsTheRules(t *testing.T) {
	fs := fakesigstore.New(t)
	broad := &policy.Identity{Name: "any-acme", Issuer: ghIssuer, SubjectGlob: "https://github.com/acme/**"}
	p := keylessPolicy(t, fs.TrustedRoot(t), true, broad, release())
	c := checkBundle(fs.DSSEBundle(t, stmtJSON(subjectA.Hex, statement.Signature), ghIdentity(ghWorkflow, certificate.Extensions{})), subjectA, p, nil, nil, time.Now())
	rq := requirement{kind: "signatures", predicateType: statement.Signature, keys: []string{"release"}, threshold: 1}
	if rr := evaluate(rq, []candidate{c}, p, time.Now(), subjectInfo{digest: subjectA.String()}); !rr.Satisfied {
		t.Fatalf("the release workflow's signature does not satisfy a rule naming release: %s %+v", rr.Summary, rr.Rejected[0])
	}
}

// FINDING 4: the first trust root that verifies a bundle is the only one
// whose identities are tried.
func TestFindingFirstVerifyingRootShadowsLaterRoots(t *testing.T) {
	fs := fakesigstore.New(t)
	vendor := &policy.Identity{Name: "vendor", Issuer: "https://vendor.example", Subject: "build@vendor.example", TrustRoots: []string{"a"}}
	vendor.Trusted = &policy.TrustedKey{Name: "vendor", ID: policy.IdentityIDPrefix + "vendor", Identity: vendor}
	rel := release()
	rel.TrustRoots = []string{"b"}
	rel.Trusted = &policy.TrustedKey{Name: "release", ID: policy.IdentityIDPrefix + "release", Identity: rel}
	p := &policy.Policy{TrustRoots: []*policy.TrustRoot{{Name: "a", Root: fs.TrustedRoot(t), RequireTransparencyLog: true}, {Name: "b", Root: fs.TrustedRoot(t), RequireTransparencyLog: true}},
		Identities: []*policy.Identity{vendor, rel}}
	c := checkBundle(fs.DSSEBundle(t, stmtJSON(subjectA.Hex, statement.Signature), ghIdentity(ghWorkflow, certificate.Extensions{})), subjectA, p, nil, nil, time.Now())
	if c.err != nil {
		t.Fatalf("release's certificate under root b refused, because root a verified it first: %v", c.err)
	}
}
