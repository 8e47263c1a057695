package policy

import (
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/notaryproject/notation-go/verifier/trustpolicy"

	"github.com/imgsign/imgsign/internal/testing/testpki"
)

func certPEM(certs ...*x509.Certificate) []byte {
	var b []byte
	for _, c := range certs {
		b = append(b, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})...)
	}
	return b
}

// x509Tree writes a PKI's certificates as a policy directory would hold
// them: the root, a directory of CAs, a leaf (neither CA nor self-signed),
// a TSA root, and a file holding a private key.
func x509Tree(t *testing.T) (string, *testpki.PKI) {
	t.Helper()
	pki := testpki.New(t)
	tsa := testpki.New(t, testpki.WithName("tsa"))
	leaf := pki.Leaf(t, testpki.LeafOptions{})
	dir := writeTree(t, map[string][]byte{
		"certs/root.pem":         certPEM(pki.Root),
		"certs/root.der":         pki.Root.Raw,
		"certs/cas/root.crt":     certPEM(pki.Root),
		"certs/cas/inter.cer":    certPEM(pki.Intermediate),
		"certs/cas/README.txt":   []byte("not read"),
		"certs/leaf.pem":         certPEM(leaf.Cert),
		"certs/tsa-root.pem":     certPEM(tsa.Root),
		"certs/tsa-inter.pem":    certPEM(tsa.Intermediate),
		"certs/with-private.pem": append(certPEM(pki.Root), privatePEM(t)...),
		"certs/empty/x.txt":      []byte("x"),
	})
	if err := os.Symlink(filepath.Join(dir, "certs/root.pem"), filepath.Join(dir, "certs/linked/root.pem")); err != nil {
		if err := os.MkdirAll(filepath.Join(dir, "certs/linked"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(filepath.Join(dir, "certs/root.pem"), filepath.Join(dir, "certs/linked/root.pem")); err != nil {
			t.Fatal(err)
		}
	}
	return dir, pki
}

func TestX509Signers(t *testing.T) {
	dir, pki := x509Tree(t)
	_, pub := newPub(t, "p256")
	if err := os.WriteFile(filepath.Join(dir, "release.pub"), pub, 0o644); err != nil {
		t.Fatal(err)
	}
	inline := strings.ReplaceAll(strings.TrimSpace(string(certPEM(pki.Root))), "\n", "\n          ")
	p, err := Parse([]byte(`version: 1
keys:
  - name: release
    publicKey: release.pub
trustStores:
  - name: acme
    type: ca
    certificates:
      - certs/root.pem
      - certs/root.der
      - certs/cas
      - |
          `+inline+`
  - name: acme-tsa
    type: tsa
    certificates: [certs/tsa-root.pem]
x509Signers:
  - name: acme-release
    trustStores: [acme, acme-tsa]
    trustedIdentities: ["x509.subject: C=US, ST=WA, O=Acme, CN=release"]
    revocation: log
    expiry: log
    authenticTimestamp: log
    verifyTimestamp: afterCertExpiry
    validUntil: 2030-01-01T00:00:00Z
  - name: anyone
    trustStores: [acme]
    trustedIdentities: ["*"]
policies:
  - name: both
    scopes: ["registry.example.com/**"]
    signatures:
      keys: [release, acme-release]
      threshold: 2
      requireTimestamp: true
`), dir)
	if err != nil {
		t.Fatal(err)
	}
	store := p.TrustStore("acme")
	if store == nil || store.Type != StoreCA || len(store.Certificates) != 5 {
		t.Fatalf("store acme = %+v, want a ca store of 5 certificates (pem, der, dir of 2, inline)", store)
	}
	s := p.X509Signer("acme-release")
	if s == nil || s.Trusted == nil || s.Trusted.ID != "x509:acme-release" || s.Trusted.X509 != s || !s.HasTSA(p) {
		t.Fatalf("signer = %+v", s)
	}
	doc := s.NotaryDocument(p, "")
	if err := doc.Validate(); err != nil {
		t.Fatalf("notation refuses the signer's trust policy: %v", err)
	}
	st := doc.TrustPolicies[0]
	if got := strings.Join(st.TrustStores, ","); got != "ca:acme,tsa:acme-tsa" {
		t.Errorf("trust stores = %s", got)
	}
	if st.SignatureVerification.VerifyTimestamp != trustpolicy.OptionAfterCertExpiry {
		t.Errorf("verifyTimestamp = %q", st.SignatureVerification.VerifyTimestamp)
	}
	for _, typ := range []trustpolicy.ValidationType{trustpolicy.TypeRevocation, trustpolicy.TypeExpiry, trustpolicy.TypeAuthenticTimestamp} {
		if got := st.SignatureVerification.Override[typ]; got != trustpolicy.ActionLog {
			t.Errorf("override %s = %q, want log", typ, got)
		}
	}
	// Offline verification skips revocation whatever the signer says, and
	// never loosens authenticity or integrity.
	off := s.NotaryDocument(p, ActionSkip).TrustPolicies[0].SignatureVerification
	if off.Override[trustpolicy.TypeRevocation] != trustpolicy.ActionSkip {
		t.Errorf("offline revocation = %q", off.Override[trustpolicy.TypeRevocation])
	}
	if _, ok := off.Override[trustpolicy.TypeAuthenticity]; ok {
		t.Error("authenticity overridden")
	}
	strict := p.X509Signer("anyone").NotaryDocument(p, "").TrustPolicies[0].SignatureVerification
	if strict.Override != nil || strict.VerificationLevel != "strict" || strict.VerifyTimestamp != trustpolicy.OptionAlways {
		t.Errorf("default signer verification = %+v, want strict, always, no overrides", strict)
	}
}

func TestX509SignerProblems(t *testing.T) {
	dir, _ := x509Tree(t)
	head := "version: 1\n"
	store := "trustStores:\n  - name: acme\n    type: ca\n    certificates: [certs/root.pem]\n"
	signer := "x509Signers:\n  - name: rel\n    trustStores: [acme]\n    trustedIdentities: [\"x509.subject: C=US, ST=WA, O=Acme, CN=rel\"]\n"
	rule := "policies:\n  - name: p\n    scopes: [\"r.io/**\"]\n    signatures:\n      keys: [rel]\n"
	tests := []struct {
		name, yaml string
		line       int
		path, msg  string
	}{
		{"unknown store type", head + "trustStores:\n  - name: acme\n    type: root\n    certificates: [certs/root.pem]\n" + signer + rule,
			4, "trustStores[0].type", `unknown trust store type "root"`},
		{"store name notation refuses", head + "trustStores:\n  - name: acme corp\n    type: ca\n    certificates: [certs/root.pem]\n" + rule,
			3, "trustStores[0].name", "may hold only letters"},
		{"leaf in a ca store", head + "trustStores:\n  - name: acme\n    type: ca\n    certificates: [certs/leaf.pem]\n" + signer + rule,
			5, "trustStores[0].certificates[0]", "is not a CA certificate or self-signed"},
		{"intermediate in a tsa store", head + store + "  - name: t\n    type: tsa\n    certificates: [certs/tsa-inter.pem]\n" + signer + rule,
			8, "trustStores[1].certificates[0]", "is not a self-signed root"},
		{"private key among certificates", head + "trustStores:\n  - name: acme\n    type: ca\n    certificates: [certs/with-private.pem]\n" + signer + rule,
			5, "trustStores[0].certificates[0]", "holds a PRIVATE key"},
		{"symlink in a certificate directory", head + "trustStores:\n  - name: acme\n    type: ca\n    certificates: [certs/linked]\n" + signer + rule,
			5, "trustStores[0].certificates[0]", "is not a regular file"},
		{"directory without certificates", head + "trustStores:\n  - name: acme\n    type: ca\n    certificates: [certs/empty]\n" + signer + rule,
			5, "trustStores[0].certificates[0]", "holds no *.crt"},
		{"missing certificate file", head + "trustStores:\n  - name: acme\n    type: ca\n    certificates: [certs/nope.pem]\n" + signer + rule,
			5, "trustStores[0].certificates[0]", "cannot read certificates"},
		{"certificates from a URL", head + "trustStores:\n  - name: acme\n    type: ca\n    certificates: [\"https://ca.example/root.pem\"]\n" + signer + rule,
			5, "trustStores[0].certificates[0]", "got a URL"},
		{"undefined store", head + store + "x509Signers:\n  - name: rel\n    trustStores: [acm]\n    trustedIdentities: [\"*\"]\n" + rule,
			8, "x509Signers[0].trustStores[0]", `undefined trust store "acm": define it under trustStores (did you mean "acme"?)`},
		{"only a tsa store", head + "trustStores:\n  - name: t\n    type: tsa\n    certificates: [certs/tsa-root.pem]\nx509Signers:\n  - name: rel\n    trustStores: [t]\n    trustedIdentities: [\"*\"]\n" + rule,
			8, "x509Signers[0].trustStores", "a tsa store vouches for times, not signers"},
		{"identity without C, ST and O", head + store + "x509Signers:\n  - name: rel\n    trustStores: [acme]\n    trustedIdentities: [\"x509.subject: CN=rel\"]\n" + rule,
			7, "x509Signers[0].trustedIdentities", "has no mandatory RDN attribute"},
		{"wildcard beside an identity", head + store + "x509Signers:\n  - name: rel\n    trustStores: [acme]\n    trustedIdentities: [\"*\", \"x509.subject: C=US, ST=WA, O=Acme, CN=rel\"]\n" + rule,
			7, "x509Signers[0].trustedIdentities", "wildcard"},
		{"no identities", head + store + "x509Signers:\n  - name: rel\n    trustStores: [acme]\n    trustedIdentities: []\n" + rule,
			9, "x509Signers[0].trustedIdentities", "list at least one identity"},
		{"bad verifyTimestamp", head + store + signer + "    verifyTimestamp: never\n" + rule,
			10, "x509Signers[0].verifyTimestamp", "must be one of always, afterCertExpiry"},
		{"revocation off by typo", head + store + signer + "    revocation: none\n" + rule,
			10, "x509Signers[0].revocation", "must be one of enforce, log, skip"},
		{"authenticity cannot be logged", head + store + signer + "    authenticity: log\n" + rule,
			10, "x509Signers[0]", `unknown field "authenticity"`},
		{"expiry cannot be skipped", head + store + signer + "    expiry: skip\n" + rule,
			10, "x509Signers[0].expiry", "must be one of enforce, log"},
		{"signer named like a key", head + "keys:\n  - name: rel\n    publicKey: hashivault://k\n" + store + signer + rule,
			10, "x509Signers[0].name", `x509 signer "rel" has the name of key "rel"`},
		{"x509 signer for an attestation", head + store + signer + "policies:\n  - name: p\n    scopes: [\"r.io/**\"]\n    attestations:\n      - type: https://slsa.dev/provenance/v1\n        keys: [rel]\n",
			15, "policies[0].attestations[0].keys[0]", "signs images, not attestations"},
		{"undefined signer names x509Signers", head + store + signer + "policies:\n  - name: p\n    scopes: [\"r.io/**\"]\n    signatures:\n      keys: [re]\n",
			14, "policies[0].signatures.keys[0]", "define it under keys, identities or x509Signers"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.yaml), dir)
			if err == nil {
				t.Fatalf("Parse accepted:\n%s", tt.yaml)
			}
			ps := problemsOf(t, err)
			for _, p := range ps {
				if p.Line == tt.line && p.Path == tt.path && strings.Contains(p.Msg, tt.msg) {
					return
				}
			}
			t.Errorf("no problem %d %s %q among:\n%v", tt.line, tt.path, tt.msg, ps)
		})
	}
}
