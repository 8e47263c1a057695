// Package fakesigstore is an in-memory Sigstore for tests: a Fulcio CA that
// issues certificates carrying any identity and workflow claims, Rekor logs
// (v1 and v2), a CT log and an RFC 3161 timestamping authority, all writing
// the real serialized artifacts — trusted_root.json and Sigstore bundle JSON —
// that sigstore-go's verifier accepts.
//
// The Rekor v1 log is sigstore-go's own test log (ca.VirtualSigstore: it
// signs the inclusion promises and checkpoints). The rest is made here
// because the VirtualSigstore keeps its keys private and its certificates
// narrow: its Fulcio leaves carry no extensions and only email SANs, its TSA
// stamps only "now" with a leaf valid ten minutes, it has no CT signing, and
// its Rekor v2 entries can only be made for its own leaves. Every
// certificate authority and key here is valid from Validity before New to
// Validity after it, so AtTime may move signing into that window.
//
// Product code never imports this package (internal/layering checks it).
package fakesigstore

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/hex"
	"fmt"
	"math/big"
	"sync"
	"testing"
	"time"

	"github.com/sigstore/sigstore-go/pkg/fulcio/certificate"
	"github.com/sigstore/sigstore-go/pkg/testing/ca"
)

// Validity is how far before and after New every certificate authority,
// log key and TSA of a Sigstore is valid.
const Validity = 30 * 24 * time.Hour

// LeafValidity is how long a Fulcio leaf certificate is valid, from its
// signing time (Fulcio's own ten minutes).
const LeafValidity = 10 * time.Minute

// Host names of the services, as the trusted root names them. The Rekor v2
// log's host is its checkpoint origin.
const (
	FulcioURL  = "https://fulcio.fakesigstore.test"
	TSAURL     = "https://tsa.fakesigstore.test"
	RekorV2URL = "https://log2025-1.rekor.fakesigstore.test"
	CTLogURL   = "https://ctfe.fakesigstore.test"
)

// Sigstore is one in-memory Sigstore instance. Its methods are safe for
// concurrent use.
type Sigstore struct {
	vs         *ca.VirtualSigstore // the Rekor v1 log
	start, end time.Time

	fulcioRoot, fulcioIntermediate *x509.Certificate
	fulcioKey                      *ecdsa.PrivateKey // the intermediate's

	tsaRoot, tsaIntermediate, tsaLeaf *x509.Certificate
	tsaKey                            *ecdsa.PrivateKey // the leaf's

	ctKey      *ecdsa.PrivateKey
	rekorV2Key *ecdsa.PrivateKey

	mu       sync.Mutex
	logIndex int64
}

// Identity is who a Fulcio leaf certificate names: Subject is the SAN (a
// URI when it has a scheme, such as a workflow URL or spiffe://…, an email
// address otherwise), Issuer the OIDC issuer. Extensions are the Fulcio
// workflow claims put in the certificate; their Issuer is used only when
// Issuer is empty. With both empty the certificate has no issuer extension.
type Identity struct {
	Subject    string
	Issuer     string
	Extensions certificate.Extensions
}

// New makes a Sigstore with fresh keys and certificate authorities.
func New(t testing.TB) *Sigstore {
	t.Helper()
	s, err := newSigstore()
	if err != nil {
		t.Fatalf("fakesigstore: %v", err)
	}
	return s
}

func newSigstore() (*Sigstore, error) {
	vs, err := ca.NewVirtualSigstore()
	if err != nil {
		return nil, err
	}
	now := time.Now().Truncate(time.Second)
	s := &Sigstore{vs: vs, start: now.Add(-Validity), end: now.Add(Validity), logIndex: 1000}

	var rootKey, tsaRootKey, tsaIntermediateKey *ecdsa.PrivateKey
	for _, k := range []**ecdsa.PrivateKey{&rootKey, &s.fulcioKey, &tsaRootKey, &tsaIntermediateKey, &s.tsaKey, &s.ctKey, &s.rekorV2Key} {
		if *k, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
			return nil, err
		}
	}
	name := func(cn string) pkix.Name {
		return pkix.Name{CommonName: cn, Organization: []string{"fakesigstore.test"}}
	}
	caTmpl := func(cn string, eku x509.ExtKeyUsage, pathLen int) *x509.Certificate {
		return &x509.Certificate{
			Subject:               name(cn),
			NotBefore:             s.start,
			NotAfter:              s.end,
			KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
			ExtKeyUsage:           []x509.ExtKeyUsage{eku},
			BasicConstraintsValid: true,
			IsCA:                  true,
			MaxPathLen:            pathLen,
			MaxPathLenZero:        pathLen == 0,
		}
	}
	fulcioRootTmpl := caTmpl("fakesigstore", x509.ExtKeyUsageCodeSigning, 1)
	fulcioRootTmpl.ExtKeyUsage = nil
	if s.fulcioRoot, err = issue(fulcioRootTmpl, nil, &rootKey.PublicKey, rootKey); err != nil {
		return nil, err
	}
	if s.fulcioIntermediate, err = issue(caTmpl("fakesigstore-intermediate", x509.ExtKeyUsageCodeSigning, 0), s.fulcioRoot, &s.fulcioKey.PublicKey, rootKey); err != nil {
		return nil, err
	}

	tsaRootTmpl := caTmpl("fakesigstore-tsa", x509.ExtKeyUsageTimeStamping, 1)
	tsaRootTmpl.ExtKeyUsage = nil
	if s.tsaRoot, err = issue(tsaRootTmpl, nil, &tsaRootKey.PublicKey, tsaRootKey); err != nil {
		return nil, err
	}
	if s.tsaIntermediate, err = issue(caTmpl("fakesigstore-tsa-intermediate", x509.ExtKeyUsageTimeStamping, 0), s.tsaRoot, &tsaIntermediateKey.PublicKey, tsaRootKey); err != nil {
		return nil, err
	}
	// RFC 3161 wants the timestamping EKU alone and critical on the leaf.
	eku, err := asn1.Marshal([]asn1.ObjectIdentifier{{1, 3, 6, 1, 5, 5, 7, 3, 8}})
	if err != nil {
		return nil, err
	}
	if s.tsaLeaf, err = issue(&x509.Certificate{
		Subject:         name("fakesigstore-tsa-leaf"),
		NotBefore:       s.start,
		NotAfter:        s.end,
		KeyUsage:        x509.KeyUsageDigitalSignature,
		ExtraExtensions: []pkix.Extension{{Id: asn1.ObjectIdentifier{2, 5, 29, 37}, Critical: true, Value: eku}},
	}, s.tsaIntermediate, &s.tsaKey.PublicKey, tsaIntermediateKey); err != nil {
		return nil, err
	}
	return s, nil
}

// issue signs tmpl by parent (self-signed when parent is nil) with a fresh
// random serial number.
func issue(tmpl, parent *x509.Certificate, pub crypto.PublicKey, parentKey crypto.Signer) (*x509.Certificate, error) {
	if tmpl.SerialNumber == nil {
		serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
		if err != nil {
			return nil, err
		}
		tmpl.SerialNumber = serial
	}
	if parent == nil {
		parent = tmpl
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, parentKey)
	if err != nil {
		return nil, fmt.Errorf("issuing %q: %w", tmpl.Subject.CommonName, err)
	}
	return x509.ParseCertificate(der)
}

// FulcioRoot is the Fulcio CA's self-signed root certificate.
func (s *Sigstore) FulcioRoot() *x509.Certificate { return s.fulcioRoot }

// FulcioIntermediate is the Fulcio CA's intermediate, which issues leaves.
func (s *Sigstore) FulcioIntermediate() *x509.Certificate { return s.fulcioIntermediate }

// TSAChain is the timestamping authority's chain, leaf first, root last
// (what cosign's --timestamp-certificate-chain takes).
func (s *Sigstore) TSAChain() []*x509.Certificate {
	return []*x509.Certificate{s.tsaLeaf, s.tsaIntermediate, s.tsaRoot}
}

// VirtualSigstore is sigstore-go's test Sigstore behind the Rekor v1 log.
func (s *Sigstore) VirtualSigstore() *ca.VirtualSigstore { return s.vs }

// RekorLogID is the hex log ID of the Rekor v1 log, as bundles name it.
func (s *Sigstore) RekorLogID() string {
	id, err := s.vs.RekorLogID()
	if err != nil {
		panic(err) // an ECDSA key always marshals
	}
	return id
}

// RekorV2LogID is the hex log ID of the Rekor v2 log.
func (s *Sigstore) RekorV2LogID() string { return hex.EncodeToString(keyID(&s.rekorV2Key.PublicKey)) }

// keyID is a log's ID: the SHA-256 of its PKIX public key.
func keyID(pub crypto.PublicKey) []byte {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		panic(err) // an ECDSA key always marshals
	}
	sum := sha256.Sum256(der)
	return sum[:]
}

func (s *Sigstore) nextLogIndex() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.logIndex++
	return s.logIndex
}
