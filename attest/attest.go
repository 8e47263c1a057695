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
func ResolveType(s string) (string, error) {
	if t, ok := shorthands[strings.ToLower(strings.TrimSpace(s))]; ok {
		return t, nil
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
	// Also are further manifests the same statement is about — the index of
	// a platform's SBOM — named as subjects and attached to as referrers, so
	// verifying either digest finds it.
	Also []v1.Descriptor
}

// Push signs one statement per subject (each about that manifest digest) and
// pushes them as referrers of their subjects.
func Push(ctx context.Context, t *sign.Target, predicateType string, subjects []Subject, s sign.Signer, opts sign.Options) ([]sign.Attached, error) {
	var out []sign.Attached
	for _, subj := range subjects {
		digests := []v1.Hash{subj.Descriptor.Digest}
		for _, d := range subj.Also {
			digests = append(digests, d.Digest)
		}
		stmt, err := sign.StatementAbout(t.Repo.Name, digests, predicateType, subj.Predicate, opts.Annotations)
		if err != nil {
			return out, err
		}
		bundle, err := sign.Bundle(ctx, stmt, s, opts.TSAURL)
		if err != nil {
			return out, fmt.Errorf("signing the attestation of %s with key %s: %w", subj.Descriptor.Digest, s.ID(), err)
		}
		for _, target := range append([]v1.Descriptor{subj.Descriptor}, subj.Also...) {
			a, err := sign.Push(ctx, t.Repo, target, predicateType, bundle, opts)
			if err != nil {
				return out, fmt.Errorf("attesting %s: %w", target.Digest, err)
			}
			a.KeyID = s.ID()
			out = append(out, a)
		}
	}
	return out, nil
}
