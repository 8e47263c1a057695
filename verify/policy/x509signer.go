package policy

// Notary Project signers: X.509 trust stores and the signers whose
// certificate chains end in them, modelled on notation's trust policy so a
// notation setup maps onto them one to one. The checks themselves are
// notation-go's (package verify builds its verifier from NotaryDocument).

import (
	"crypto/x509"
	"time"

	"github.com/notaryproject/notation-go/verifier/trustpolicy"
	"github.com/notaryproject/notation-go/verifier/truststore"
)

// X509SignerIDPrefix starts the TrustedKey.ID of an x509 signer:
// "x509:"+name. A key id (base64) never holds a colon.
const X509SignerIDPrefix = "x509:"

// Trust store types, as notation names them.
const (
	StoreCA               = string(truststore.TypeCA)
	StoreSigningAuthority = string(truststore.TypeSigningAuthority)
	StoreTSA              = string(truststore.TypeTSA)
)

// Actions of a signer's adjustable checks.
const (
	ActionEnforce = string(trustpolicy.ActionEnforce)
	ActionLog     = string(trustpolicy.ActionLog)
	ActionSkip    = string(trustpolicy.ActionSkip)
)

// TrustStore is one entry of trustStores[]: named X.509 certificates of
// one notation trust-store type.
type TrustStore struct {
	Pos
	Name string
	// Type is StoreCA, StoreSigningAuthority or StoreTSA.
	Type string
	// Certificates are every certificate the entry's sources hold, read
	// and checked (CA or self-signed; self-signed roots for tsa) at load.
	Certificates []*x509.Certificate
}

// X509Signer is one entry of x509Signers[]: a Notary Project signer known
// by the trust stores its chain ends in and its leaf's subject.
type X509Signer struct {
	Pos
	Name string
	// TrustStores name entries of Policy.TrustStores: at least one of type
	// ca or signingAuthority; tsa stores verify timestamps.
	TrustStores []string
	// TrustedIdentities are notation's: "x509.subject: <DN>" each, or "*".
	TrustedIdentities []string
	// VerifyTimestamp is trustpolicy.OptionAlways or OptionAfterCertExpiry.
	VerifyTimestamp string
	// AuthenticTimestamp, Expiry and Revocation are ActionEnforce or
	// ActionLog (Revocation also ActionSkip).
	AuthenticTimestamp, Expiry, Revocation string
	ValidFrom, ValidUntil, RevokedAt       *time.Time
	// Trusted is the signer for thresholds and validity: ID is
	// X509SignerIDPrefix+Name and X509 points back here.
	Trusted *TrustedKey
}

// X509Signer returns the x509 signer named name, or nil.
func (p *Policy) X509Signer(name string) *X509Signer {
	for _, s := range p.X509Signers {
		if s.Name == name {
			return s
		}
	}
	return nil
}

// TrustStore returns the trust store named name, or nil.
func (p *Policy) TrustStore(name string) *TrustStore {
	for _, s := range p.TrustStores {
		if s.Name == name {
			return s
		}
	}
	return nil
}

// HasTSA reports whether the signer verifies RFC 3161 timestamps: it names
// a tsa store.
func (s *X509Signer) HasTSA(p *Policy) bool {
	for _, n := range s.TrustStores {
		if ts := p.TrustStore(n); ts != nil && ts.Type == StoreTSA {
			return true
		}
	}
	return false
}

// NotaryDocument is the signer as a notation trust policy: one statement,
// named after the signer, covering every repository (imgsign's own scopes
// chose the rule already), with the signer's stores, identities and
// verification level. revocation overrides the signer's revocation action
// when not "" (offline verification skips it).
func (s *X509Signer) NotaryDocument(p *Policy, revocation string) *trustpolicy.Document {
	stores := make([]string, 0, len(s.TrustStores))
	for _, n := range s.TrustStores {
		if ts := p.TrustStore(n); ts != nil {
			stores = append(stores, ts.Type+":"+ts.Name)
		}
	}
	override := map[trustpolicy.ValidationType]trustpolicy.ValidationAction{}
	if s.AuthenticTimestamp == ActionLog {
		override[trustpolicy.TypeAuthenticTimestamp] = trustpolicy.ActionLog
	}
	if s.Expiry == ActionLog {
		override[trustpolicy.TypeExpiry] = trustpolicy.ActionLog
	}
	rev := s.Revocation
	if revocation != "" {
		rev = revocation
	}
	if rev != ActionEnforce && rev != "" {
		override[trustpolicy.TypeRevocation] = trustpolicy.ValidationAction(rev)
	}
	if len(override) == 0 {
		override = nil
	}
	return &trustpolicy.Document{
		Version: "1.0",
		TrustPolicies: []trustpolicy.TrustPolicy{{
			Name:           s.Name,
			RegistryScopes: []string{"*"},
			SignatureVerification: trustpolicy.SignatureVerification{
				VerificationLevel: trustpolicy.LevelStrict.Name,
				Override:          override,
				VerifyTimestamp:   trustpolicy.TimestampOption(s.VerifyTimestamp),
			},
			TrustStores:       stores,
			TrustedIdentities: s.TrustedIdentities,
		}},
	}
}
