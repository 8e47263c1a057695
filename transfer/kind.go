package transfer

import (
	"encoding/base64"
	"encoding/json"
	"strings"

	"github.com/imgsign/imgsign/internal/attachment"
	"github.com/imgsign/imgsign/internal/errkind"
	"github.com/imgsign/imgsign/statement"
)

// Kind is what an attachment is, for --only (which takes the plural too:
// --only signatures,attestations).
type Kind string

const (
	// KindSignature: a signature of the image — a Sigstore bundle whose
	// statement has the predicate type https://sigstore.dev/cosign/sign/v1
	// (imgsign and cosign v3), a bundle with a plain message signature, a
	// cosign legacy .sig tag, or a Notary Project signature.
	KindSignature Kind = "signature"
	// KindAttestation: a signed in-toto statement of any other predicate
	// type — provenance, SBOM attestations, vulnerability reports, custom
	// predicates — in a Sigstore bundle or a cosign legacy .att tag.
	KindAttestation Kind = "attestation"
	// KindSBOM: an SBOM document attached unsigned — a cosign legacy .sbom
	// tag, or a referrer whose artifact type is an SPDX or CycloneDX media
	// type. Signed SBOM attestations are attestations.
	KindSBOM Kind = "sbom"
	// KindOther: any other referrer (an artifact imgsign does not know).
	KindOther Kind = "other"
)

// Kinds lists every kind, in the order --only's help names them.
var Kinds = []Kind{KindSignature, KindAttestation, KindSBOM, KindOther}

// ParseKinds reads --only's values: kind names (singular or plural),
// each value possibly a comma-separated list. None means every kind.
func ParseKinds(values []string) ([]Kind, error) {
	seen := map[Kind]bool{}
	for _, v := range values {
		for _, s := range strings.Split(v, ",") {
			s = strings.ToLower(strings.TrimSpace(s))
			if s == "" {
				continue
			}
			k, ok := kindNames[s]
			if !ok {
				return nil, errkind.Inputf("--only: unknown kind %q (signatures, attestations, sboms or other)", s)
			}
			seen[k] = true
		}
	}
	var out []Kind
	for _, k := range Kinds {
		if seen[k] {
			out = append(out, k)
		}
	}
	return out, nil
}

var kindNames = map[string]Kind{
	"signatures": KindSignature, "signature": KindSignature, "sig": KindSignature,
	"attestations": KindAttestation, "attestation": KindAttestation, "att": KindAttestation,
	"sboms": KindSBOM, "sbom": KindSBOM,
	"other": KindOther,
}

// legacyKind is the kind of a cosign legacy tag by its suffix.
func legacyKind(tag string) Kind {
	switch {
	case strings.HasSuffix(tag, ".sig"):
		return KindSignature
	case strings.HasSuffix(tag, ".att"):
		return KindAttestation
	case strings.HasSuffix(tag, ".sbom"):
		return KindSBOM
	}
	return KindOther
}

const notarySignature = "application/vnd.cncf.notary.signature"

// referrerKind classifies a referrer manifest by its artifact type and
// predicate-type annotation. A Sigstore bundle without the annotation is
// told by its content: bundle is called for its bytes then, and may return
// nil (unreadable: classified as an attestation, the broader kind).
func referrerKind(m *manifest, bundle func() []byte) (Kind, string) {
	at := m.artifactType()
	if pt := m.Annotations[attachment.AnnotationPredicateType]; pt != "" {
		if pt == statement.Signature {
			return KindSignature, pt
		}
		return KindAttestation, pt
	}
	switch {
	case strings.HasPrefix(at, "application/vnd.dev.sigstore.bundle"):
		return bundleKind(bundle())
	case at == notarySignature:
		return KindSignature, ""
	case strings.HasPrefix(at, "application/vnd.dev.cosign.artifact.sig"):
		return KindSignature, ""
	case strings.HasPrefix(at, "application/vnd.dev.cosign.artifact.att"), strings.HasPrefix(at, "application/vnd.in-toto"):
		return KindAttestation, ""
	case isSBOMType(at), strings.HasPrefix(at, "application/vnd.dev.cosign.artifact.sbom"):
		return KindSBOM, ""
	}
	return KindOther, ""
}

func isSBOMType(mt string) bool {
	mt = strings.ToLower(mt)
	return strings.HasPrefix(mt, "application/spdx") || strings.HasPrefix(mt, "text/spdx") ||
		strings.HasPrefix(mt, "application/vnd.cyclonedx")
}

// bundleKind reads what a Sigstore bundle signs: a DSSE statement's
// predicate type, or a plain message signature. Nothing here is verified;
// it only sorts for --only.
func bundleKind(raw []byte) (Kind, string) {
	var b struct {
		MessageSignature json.RawMessage `json:"messageSignature"`
		DSSEEnvelope     *struct {
			Payload string `json:"payload"`
		} `json:"dsseEnvelope"`
	}
	if raw == nil || json.Unmarshal(raw, &b) != nil {
		return KindAttestation, ""
	}
	if b.DSSEEnvelope == nil {
		if b.MessageSignature != nil {
			return KindSignature, ""
		}
		return KindAttestation, ""
	}
	payload, err := base64.StdEncoding.DecodeString(b.DSSEEnvelope.Payload)
	if err != nil {
		return KindAttestation, ""
	}
	var st struct {
		PredicateType string `json:"predicateType"`
	}
	_ = json.Unmarshal(payload, &st)
	if st.PredicateType == statement.Signature {
		return KindSignature, st.PredicateType
	}
	return KindAttestation, st.PredicateType
}

// kindSet is --only as a set; nil keeps every kind.
type kindSet map[Kind]bool

func newKindSet(ks []Kind) kindSet {
	if len(ks) == 0 {
		return nil
	}
	s := kindSet{}
	for _, k := range ks {
		s[k] = true
	}
	return s
}

func (s kindSet) keeps(k Kind) bool { return s == nil || s[k] }

func (s kindSet) String() string {
	var names []string
	for _, k := range Kinds {
		if s[k] {
			names = append(names, plural(k))
		}
	}
	return strings.Join(names, ",")
}

// plural is the kind as --only's help names it.
func plural(k Kind) string {
	if k == KindOther {
		return string(k)
	}
	return string(k) + "s"
}
