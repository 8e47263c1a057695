// Package attest signs statements about images other than the plain
// signature — SLSA provenance, SBOMs, vulnerability reports, any predicate —
// and pushes them as referrers exactly like signatures. Predicates are built
// by the provenance and sbom subpackages; this package names predicate
// types, converts scanner reports and does the signing run.
package attest

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"sort"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/imgsign/imgsign/internal/errkind"
	"github.com/imgsign/imgsign/sign"
	"github.com/imgsign/imgsign/statement"
	"github.com/imgsign/imgsign/storage"
)

// Predicate types imgsign writes and knows by a short name.
const (
	SLSAProvenanceV1  = "https://slsa.dev/provenance/v1"
	SLSAProvenanceV02 = "https://slsa.dev/provenance/v0.2"
	SPDX              = "https://spdx.dev/Document"
	CycloneDX         = "https://cyclonedx.org/bom"
	CosignVuln        = "https://cosign.sigstore.dev/attestation/vuln/v1"
	CosignCustom      = "https://cosign.sigstore.dev/attestation/v1"
	OpenVEX           = "https://openvex.dev/ns"
)

// shorthands are cosign's --type names, so the same words work in both tools.
var shorthands = map[string]string{
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

// ResolveType turns a shorthand or an absolute URI into a predicate type.
// The plain-signature type is refused: see CheckType.
func ResolveType(s string) (string, error) {
	if t, ok := shorthands[strings.ToLower(strings.TrimSpace(s))]; ok {
		return t, nil
	}
	if err := CheckType(s); err != nil {
		return "", err
	}
	u, err := url.Parse(s)
	if err != nil || !u.IsAbs() || u.Host == "" && u.Opaque == "" {
		names := make([]string, 0, len(shorthands))
		for k := range shorthands {
			names = append(names, k)
		}
		sort.Strings(names)
		return "", errkind.Inputf("predicate type %q is neither an absolute URI nor one of %s", s, strings.Join(names, ", "))
	}
	return s, nil
}

// CheckType refuses the predicate type of a plain image signature. A policy's
// signatures rule counts any statement of that type by its keys, so an
// attestation of it — whose predicate someone other than the signer may have
// written, as with BuildKit's statements — would be an image signature that
// nobody meant to give. Only `imgsign sign` writes it.
func CheckType(predicateType string) error {
	if predicateType == statement.Signature {
		return errkind.Inputf("predicate type %s is the plain image signature, which attest never writes: sign the image with `imgsign sign`", predicateType)
	}
	return nil
}

// ParsePredicate checks that data is a JSON object, the only predicate shape
// an in-toto statement allows.
func ParsePredicate(data []byte) (map[string]any, error) {
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, errkind.Inputf("predicate is not a JSON object: %v", err)
	}
	if m == nil {
		return nil, errkind.Inputf("predicate is not a JSON object (got null)")
	}
	return m, nil
}

// Subject is one manifest an attestation is about, with its predicate.
type Subject struct {
	Descriptor v1.Descriptor
	Predicate  any
	// Also are further manifests the same predicate is attested for — the
	// index of a platform's SBOM — so verifying either digest finds it.
	Also []v1.Descriptor
}

// Push signs one statement per manifest — Descriptor and each of Also —
// naming that manifest alone, and pushes it as that manifest's referrer.
// Verification counts a statement only when every subject is the image
// being verified, so a statement about several manifests would count for
// none of them (and would let whoever copies it vouch for each).
func Push(ctx context.Context, t *storage.Target, predicateType string, subjects []Subject, s sign.Signer, opts sign.Options) ([]sign.Attached, error) {
	if err := CheckType(predicateType); err != nil {
		return nil, err
	}
	repo, err := t.Writer()
	if err != nil {
		return nil, err
	}
	var out []sign.Attached
	for _, subj := range subjects {
		for _, target := range append([]v1.Descriptor{subj.Descriptor}, subj.Also...) {
			stmt, err := statement.About(repo.Name(), target.Digest, predicateType, subj.Predicate, opts.Annotations)
			if err != nil {
				return out, err
			}
			a, err := sign.Attach(ctx, repo, target, predicateType, stmt, s, opts)
			if err != nil {
				return out, fmt.Errorf("attesting %s: %w", target.Digest, err)
			}
			out = append(out, a)
		}
	}
	return out, nil
}
