package fakesigstore

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"fmt"
	"net/url"
	"testing"
	"time"

	ct "github.com/google/certificate-transparency-go"
	cttls "github.com/google/certificate-transparency-go/tls"
	ctx509 "github.com/google/certificate-transparency-go/x509"
	"github.com/google/certificate-transparency-go/x509util"
	"github.com/sigstore/sigstore-go/pkg/fulcio/certificate"
)

// Certificate issues a Fulcio leaf certificate for the holder of pub, naming
// id: what a signer with a key of its own (cosign sign --key …
// --certificate …) presents. AtTime sets when it starts to be valid (it is
// valid LeafValidity); WithoutSCT leaves out the embedded SCT. Other options
// are ignored.
func (s *Sigstore) Certificate(t testing.TB, pub crypto.PublicKey, id Identity, opts ...BundleOption) *x509.Certificate {
	t.Helper()
	c := newConfig(opts)
	cert, err := s.leaf(pub, id, c.at, !c.noSCT)
	if err != nil {
		t.Fatalf("fakesigstore: %v", err)
	}
	return cert
}

// leaf issues a Fulcio leaf valid from at for LeafValidity, with the
// identity's SAN and Fulcio extensions, and an SCT from the CT log embedded
// when sct is set (as Fulcio does: the SCT signs the certificate as it is
// without the SCT list).
func (s *Sigstore) leaf(pub crypto.PublicKey, id Identity, at time.Time, sct bool) (*x509.Certificate, error) {
	exts, err := renderExtensions(id)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		NotBefore:       at,
		NotAfter:        at.Add(LeafValidity),
		KeyUsage:        x509.KeyUsageDigitalSignature,
		ExtKeyUsage:     []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning},
		ExtraExtensions: exts,
	}
	if u, err := url.Parse(id.Subject); err == nil && u.Scheme != "" {
		tmpl.URIs = []*url.URL{u}
	} else {
		tmpl.EmailAddresses = []string{id.Subject}
	}
	if !sct {
		return issue(tmpl, s.fulcioIntermediate, pub, s.fulcioKey)
	}
	// As Fulcio does: a precertificate (the certificate with the CT poison
	// extension last) for the CT log to sign, then the certificate with the
	// SCT list in the poison's place, same serial and keys.
	poison := pkix.Extension{Id: asn1.ObjectIdentifier(ctx509.OIDExtensionCTPoison), Critical: true, Value: asn1.NullBytes}
	exts = tmpl.ExtraExtensions
	tmpl.ExtraExtensions = append(exts[:len(exts):len(exts)], poison)
	precert, err := issue(tmpl, s.fulcioIntermediate, pub, s.fulcioKey)
	if err != nil {
		return nil, err
	}
	ext, err := s.sctExtension(precert, at)
	if err != nil {
		return nil, err
	}
	tmpl.ExtraExtensions = append(exts[:len(exts):len(exts)], ext)
	return issue(tmpl, s.fulcioIntermediate, pub, s.fulcioKey)
}

// sctExtension is the embedded SCT list extension with one SCT from the CT
// log over precert (RFC 6962 sections 3.2 and 3.3).
func (s *Sigstore) sctExtension(precert *x509.Certificate, at time.Time) (pkix.Extension, error) {
	tbs, err := ctx509.BuildPrecertTBS(precert.RawTBSCertificate, nil)
	if err != nil {
		return pkix.Extension{}, err
	}
	timestamp := uint64(at.UnixMilli())
	leaf := ct.MerkleTreeLeaf{
		Version:  ct.V1,
		LeafType: ct.TimestampedEntryLeafType,
		TimestampedEntry: &ct.TimestampedEntry{
			EntryType: ct.PrecertLogEntryType,
			Timestamp: timestamp,
			PrecertEntry: &ct.PreCert{
				IssuerKeyHash:  sha256.Sum256(s.fulcioIntermediate.RawSubjectPublicKeyInfo),
				TBSCertificate: tbs,
			},
		},
	}
	var logID ct.LogID
	copy(logID.KeyID[:], keyID(&s.ctKey.PublicKey))
	sct := ct.SignedCertificateTimestamp{SCTVersion: ct.V1, LogID: logID, Timestamp: timestamp}
	input, err := ct.SerializeSCTSignatureInput(sct, ct.LogEntry{Leaf: leaf})
	if err != nil {
		return pkix.Extension{}, err
	}
	digest := sha256.Sum256(input)
	sig, err := ecdsa.SignASN1(rand.Reader, s.ctKey, digest[:])
	if err != nil {
		return pkix.Extension{}, err
	}
	sct.Signature = ct.DigitallySigned{
		Algorithm: cttls.SignatureAndHashAlgorithm{Hash: cttls.SHA256, Signature: cttls.ECDSA},
		Signature: sig,
	}
	list, err := x509util.MarshalSCTsIntoSCTList([]*ct.SignedCertificateTimestamp{&sct})
	if err != nil {
		return pkix.Extension{}, err
	}
	raw, err := cttls.Marshal(*list)
	if err != nil {
		return pkix.Extension{}, err
	}
	value, err := asn1.Marshal(raw)
	if err != nil {
		return pkix.Extension{}, err
	}
	return pkix.Extension{Id: asn1.ObjectIdentifier(ctx509.OIDExtensionCTSCT), Value: value}, nil
}

// renderExtensions encodes the Fulcio extensions as Fulcio does (its
// certificate.Extensions.Render, which sigstore-go's copy lacks): the
// deprecated 1.3.6.1.4.1.57264.1.1–.6 as raw bytes, the issuer also as .8,
// and .8 onwards as DER UTF8Strings.
func renderExtensions(id Identity) ([]pkix.Extension, error) {
	e := id.Extensions
	if id.Issuer != "" {
		e.Issuer = id.Issuer
	}
	var exts []pkix.Extension
	raw := func(oid asn1.ObjectIdentifier, v string) {
		if v != "" {
			exts = append(exts, pkix.Extension{Id: oid, Value: []byte(v)})
		}
	}
	var err error
	utf8 := func(oid asn1.ObjectIdentifier, v string) {
		if v == "" || err != nil {
			return
		}
		var der []byte
		if der, err = asn1.MarshalWithParams(v, "utf8"); err == nil {
			exts = append(exts, pkix.Extension{Id: oid, Value: der})
		}
	}
	raw(certificate.OIDIssuer, e.Issuer)
	raw(certificate.OIDGitHubWorkflowTrigger, e.GithubWorkflowTrigger)
	raw(certificate.OIDGitHubWorkflowSHA, e.GithubWorkflowSHA)
	raw(certificate.OIDGitHubWorkflowName, e.GithubWorkflowName)
	raw(certificate.OIDGitHubWorkflowRepository, e.GithubWorkflowRepository)
	raw(certificate.OIDGitHubWorkflowRef, e.GithubWorkflowRef)
	utf8(certificate.OIDIssuerV2, e.Issuer)
	utf8(certificate.OIDBuildSignerURI, e.BuildSignerURI)
	utf8(certificate.OIDBuildSignerDigest, e.BuildSignerDigest)
	utf8(certificate.OIDRunnerEnvironment, e.RunnerEnvironment)
	utf8(certificate.OIDSourceRepositoryURI, e.SourceRepositoryURI)
	utf8(certificate.OIDSourceRepositoryDigest, e.SourceRepositoryDigest)
	utf8(certificate.OIDSourceRepositoryRef, e.SourceRepositoryRef)
	utf8(certificate.OIDSourceRepositoryIdentifier, e.SourceRepositoryIdentifier)
	utf8(certificate.OIDSourceRepositoryOwnerURI, e.SourceRepositoryOwnerURI)
	utf8(certificate.OIDSourceRepositoryOwnerIdentifier, e.SourceRepositoryOwnerIdentifier)
	utf8(certificate.OIDBuildConfigURI, e.BuildConfigURI)
	utf8(certificate.OIDBuildConfigDigest, e.BuildConfigDigest)
	utf8(certificate.OIDBuildTrigger, e.BuildTrigger)
	utf8(certificate.OIDRunInvocationURI, e.RunInvocationURI)
	utf8(certificate.OIDSourceRepositoryVisibilityAtSigning, e.SourceRepositoryVisibilityAtSigning)
	if err != nil {
		return nil, fmt.Errorf("encoding Fulcio extensions: %w", err)
	}
	return exts, nil
}
