package verify

import (
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/sigstore/sigstore-go/pkg/root"
	"github.com/sigstore/sigstore/pkg/signature"

	"github.com/imgsign/imgsign/internal/attachment"
	"github.com/imgsign/imgsign/verify/policy"
)

// evidenceFormat is one format of signed evidence about an image. Every
// format answers the same question — which policy key signed which
// statement about which digest, at which trusted time — as a candidate, so
// evaluate counts and words candidates without knowing formats. Fetching
// picks the format by where the evidence was found and its media type; a
// certificate-based bundle is one more case of sigstoreBundle; a Notary
// Project envelope (notary.go) needs the whole subject descriptor and a
// context for revocation, so it is checked by checkNotary beside these.
type evidenceFormat interface {
	// mediaType is the media type of the bytes the format reads.
	mediaType() string
	// check verifies raw, already fetched and checked against its digest,
	// as evidence about subject. ann are the annotations the store lists
	// beside it (a legacy layer's signature lives there). Nothing raw says
	// about itself is believed before its signature verified.
	check(raw []byte, ann map[string]string, subject v1.Hash, tr trust) candidate
}

// trust is what every format checks evidence against: the policy's keys,
// the verifiers each key is tried with, the policy's timestamp authorities
// and the time of judgement.
type trust struct {
	policy    *policy.Policy
	verifiers func(*policy.TrustedKey) ([]signature.Verifier, error)
	tsas      []root.TimestampingAuthority
	now       time.Time
	// notary are the notation-go verifiers of the policy's x509 signers.
	notary *notaryVerifiers
}

func (v *Verifier) trust() trust {
	return trust{policy: v.policy, verifiers: v.verifiers, tsas: v.tsas, now: v.now(), notary: v.notary}
}

// The formats imgsign reads.
var (
	// sigstoreBundle: a Sigstore bundle v0.3 holding a DSSE envelope over an
	// in-toto statement, pushed as an OCI referrer (bundle.go) — what
	// imgsign and cosign v3 write.
	sigstoreBundle evidenceFormat = bundleFormat{}
	// cosignSimpleSigning: a .sig layer of cosign's legacy tag layout
	// (legacy.go).
	cosignSimpleSigning evidenceFormat = simpleSigningFormat{}
	// cosignLegacyAttestation: an .att layer of cosign's legacy tag layout,
	// a bare DSSE envelope (legacy.go).
	cosignLegacyAttestation evidenceFormat = legacyAttestationFormat{}
)

type bundleFormat struct{}

func (bundleFormat) mediaType() string { return attachment.BundleMediaType }

func (bundleFormat) check(raw []byte, _ map[string]string, subject v1.Hash, tr trust) candidate {
	c := checkBundle(raw, subject, tr.policy, tr.verifiers, tr.tsas, tr.now)
	c.format = FormatSigstoreBundle
	return c
}

type simpleSigningFormat struct{}

func (simpleSigningFormat) mediaType() string { return legacySimpleSigningMediaType }

func (simpleSigningFormat) check(raw []byte, ann map[string]string, subject v1.Hash, tr trust) candidate {
	c := checkLegacySignature(raw, ann, subject, tr.policy, tr.verifiers, tr.now)
	c.format = FormatCosignSignature
	return c
}

type legacyAttestationFormat struct{}

func (legacyAttestationFormat) mediaType() string { return legacyDSSEMediaType }

func (legacyAttestationFormat) check(raw []byte, ann map[string]string, subject v1.Hash, tr trust) candidate {
	c := checkLegacyAttestation(raw, ann, subject, tr.policy, tr.verifiers, tr.now)
	c.format = FormatCosignAttestation
	return c
}
