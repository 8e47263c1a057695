// Package statement is imgsign's one model of an in-toto statement: the
// predicate types it writes and reads, the subject annotations that bind a
// tag, the builder every signing path uses, and a typed view of a verified
// statement that verification reads instead of walking decoded JSON.
//
// Nothing here checks a signature: a Statement is built for signing, or read
// after the envelope around it verified.
package statement

import (
	"net/url"
	"sort"
	"strings"

	"github.com/imgsign/imgsign/internal/errkind"
)

// Predicate types imgsign writes, or reads for a policy.
const (
	// Signature is what cosign v3 writes for a plain image signature, so
	// `cosign verify --key` accepts imgsign's signatures.
	Signature         = "https://sigstore.dev/cosign/sign/v1"
	SLSAProvenanceV1  = "https://slsa.dev/provenance/v1"
	SLSAProvenanceV02 = "https://slsa.dev/provenance/v0.2"
	SLSAProvenanceV01 = "https://slsa.dev/provenance/v0.1"
	SPDX              = "https://spdx.dev/Document"
	CycloneDX         = "https://cyclonedx.org/bom"
	CosignVuln        = "https://cosign.sigstore.dev/attestation/vuln/v1"
	CosignCustom      = "https://cosign.sigstore.dev/attestation/v1"
	OpenVEX           = "https://openvex.dev/ns"
	// DCTEvidence records what Docker Content Trust vouched for a tag when
	// `imgsign dct import` re-signed it.
	DCTEvidence = "https://imgsign.dev/attestations/dct-evidence/v1"
)

// PayloadType is the DSSE payload type of an in-toto statement.
const PayloadType = "application/vnd.in-toto+json"

// Statement types (_type) imgsign reads; it writes v1.
const (
	TypeV1  = "https://in-toto.io/Statement/v1"
	TypeV01 = "https://in-toto.io/Statement/v0.1"
)

// TagAnnotation is the subject annotation that binds a signature to the tag
// it was signed through: `imgsign sign repo:v1` records "dev.imgsign.tag":
// "v1". It sits with cosign's -a annotations, which cosign verify accepts
// (and checks with its own -a).
const TagAnnotation = "dev.imgsign.tag"

// SignedAtAnnotation records, beside TagAnnotation, when the tag was bound
// (RFC 3339, nanoseconds, UTC). It is inside the signed statement, so unlike
// an RFC 3161 timestamp — which anyone can obtain afresh for an old
// signature — only the signer can set it: verification uses it to find the
// newest signature for a tag and refuse a tag rolled back to an older digest.
const SignedAtAnnotation = "dev.imgsign.signed-at"

// shorthands are cosign's --type names, so the same words work in both
// tools, and two more that name SLSA's current version; the one table of
// them, for attest --type and for the policy's suggestions alike. cosign's
// "slsaprovenance" means v0.2, and so it does here.
var shorthands = map[string]string{
	"slsa":             SLSAProvenanceV1,
	"provenance":       SLSAProvenanceV1,
	"slsaprovenance":   SLSAProvenanceV02,
	"slsaprovenance02": SLSAProvenanceV02,
	"slsaprovenance1":  SLSAProvenanceV1,
	"spdx":             SPDX,
	"spdxjson":         SPDX,
	"cyclonedx":        CycloneDX,
	"vuln":             CosignVuln,
	"custom":           CosignCustom,
	"openvex":          OpenVEX,
}

// Shorthand returns the predicate type a cosign --type shorthand names
// (case and surrounding space ignored).
func Shorthand(s string) (string, bool) {
	t, ok := shorthands[strings.ToLower(strings.TrimSpace(s))]
	return t, ok
}

// Shorthands lists the shorthand names, sorted.
func Shorthands() []string {
	names := make([]string, 0, len(shorthands))
	for k := range shorthands {
		names = append(names, k)
	}
	sort.Strings(names)
	return names
}

// ResolveType turns a shorthand or an absolute URI into a predicate type.
// The plain-signature type is refused: see CheckAttestationType.
func ResolveType(s string) (string, error) {
	if t, ok := Shorthand(s); ok {
		return t, nil
	}
	if err := CheckAttestationType(s); err != nil {
		return "", err
	}
	u, err := url.Parse(s)
	if err != nil || !u.IsAbs() || u.Host == "" && u.Opaque == "" {
		return "", errkind.Inputf("predicate type %q is neither an absolute URI nor one of %s", s, strings.Join(Shorthands(), ", "))
	}
	return s, nil
}

// CheckAttestationType refuses the predicate type of a plain image
// signature for an attestation. A policy's signatures rule counts any
// statement of that type by its keys, so an attestation of it — whose
// predicate someone other than the signer may have written, as with
// BuildKit's statements — would be an image signature that nobody meant to
// give. Only `imgsign sign` writes it.
func CheckAttestationType(predicateType string) error {
	if predicateType == Signature {
		return errkind.Inputf("predicate type %s is the plain image signature, which attest never writes: sign the image with `imgsign sign`", predicateType)
	}
	return nil
}
