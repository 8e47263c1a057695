package provenance

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	intoto "github.com/in-toto/attestation/go/v1"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/imgsign/imgsign/internal/errkind"
	"github.com/imgsign/imgsign/statement"
)

// How BuildKit stores attestations inside an image index: one extra
// manifest per platform manifest, listed with platform unknown/unknown and
// these annotations; each of its layers is one in-toto statement.
const (
	AnnotationReferenceType   = "vnd.docker.reference.type"
	AnnotationReferenceDigest = "vnd.docker.reference.digest"
	ReferenceTypeAttestation  = "attestation-manifest"
	AnnotationPredicateType   = "in-toto.io/predicate-type"
	MediaTypeInToto           = "application/vnd.in-toto+json"
	StatementTypeV01          = "https://in-toto.io/Statement/v0.1"
	StatementTypeV1           = "https://in-toto.io/Statement/v1"
)

// maxStatementSize bounds one statement read from a registry. It matches
// the largest bundle imgsign accepts (16 MiB): a larger statement could not
// be signed into a bundle anyway. mode=max provenance with a big build's LLB
// is a few MiB.
const maxStatementSize = 16 << 20

// Attestation is one in-toto statement BuildKit stored in an image index.
// It is unsigned: whoever could push the index could write it.
type Attestation struct {
	// Subject is the platform manifest the attestation is about
	// (vnd.docker.reference.digest), which the statement's subject names too.
	Subject v1.Hash
	// Platform is Subject's platform as the index lists it, if it does.
	Platform *v1.Platform
	// Index is the digest of the index the attestation was read from.
	Index *v1.Hash
	// Manifest and Layer locate the statement: the attestation manifest and
	// its layer.
	Manifest v1.Hash
	Layer    v1.Hash
	// StatementType is the statement's _type (Statement v0.1 or v1).
	StatementType string
	// PredicateType is the statement's predicateType, equal to the layer's
	// in-toto.io/predicate-type annotation.
	PredicateType string
	// Statement is the statement exactly as stored (digest-checked).
	Statement []byte
	// Predicate is the statement's predicate, as stored.
	Predicate json.RawMessage
	// subjects are the statement's subjects, for Signable.
	subjects []statementSubject
	// ambiguous says why other parsers may read the statement differently
	// from encoding/json (nil if they cannot), for Signable.
	ambiguous error
}

// IsProvenance reports whether the attestation holds SLSA provenance v0.2
// or v1.
func (a *Attestation) IsProvenance() bool {
	return a.PredicateType == statement.SLSAProvenanceV1 || a.PredicateType == statement.SLSAProvenanceV02
}

// FromIndex returns every in-toto statement BuildKit attached to idx, in
// index order. Attestation manifests and layers that are not BuildKit's
// in-toto format are skipped; a statement that is malformed, names a
// different image than its manifest claims, or does not match its digest is
// an error, since signing it would vouch for something untrue.
func FromIndex(ctx context.Context, idx v1.ImageIndex) ([]Attestation, error) {
	im, err := idx.IndexManifest()
	if err != nil {
		return nil, operational(fmt.Errorf("reading the image index: %w", err))
	}
	var indexDigest *v1.Hash
	if d, err := idx.Digest(); err == nil {
		indexDigest = &d
	}
	platforms := map[v1.Hash]*v1.Platform{}
	for _, d := range im.Manifests {
		if d.Annotations[AnnotationReferenceType] != ReferenceTypeAttestation {
			platforms[d.Digest] = d.Platform
		}
	}
	var out []Attestation
	for _, d := range im.Manifests {
		if d.Annotations[AnnotationReferenceType] != ReferenceTypeAttestation {
			continue
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		subject, err := v1.NewHash(d.Annotations[AnnotationReferenceDigest])
		if err != nil {
			return nil, errkind.Inputf("attestation manifest %s: %s %q is not a digest", d.Digest, AnnotationReferenceDigest, d.Annotations[AnnotationReferenceDigest])
		}
		img, err := idx.Image(d.Digest)
		if err != nil {
			return nil, operational(fmt.Errorf("attestation manifest %s: %w", d.Digest, err))
		}
		m, err := img.Manifest()
		if err != nil {
			return nil, operational(fmt.Errorf("attestation manifest %s: %w", d.Digest, err))
		}
		for _, l := range m.Layers {
			if string(l.MediaType) != MediaTypeInToto {
				continue
			}
			a, err := readStatement(ctx, img, d.Digest, l)
			if err != nil {
				return nil, err
			}
			if !a.names(subject) {
				return nil, errkind.Inputf("attestation manifest %s is listed for %s but its statement (layer %s) is about %s", d.Digest, subject, l.Digest, a.subjectList())
			}
			a.Subject = subject
			a.Attestation.subjects = a.subjects
			a.Attestation.ambiguous = a.ambiguous
			a.Platform = platforms[subject]
			a.Index = indexDigest
			out = append(out, a.Attestation)
		}
	}
	return out, nil
}

// ProvenanceFor returns the SLSA provenance among atts for subject,
// preferring v1 over v0.2, or nil if there is none.
func ProvenanceFor(atts []Attestation, subject v1.Hash) *Attestation {
	var found *Attestation
	for i := range atts {
		a := &atts[i]
		if a.Subject != subject || !a.IsProvenance() {
			continue
		}
		if found == nil || (a.PredicateType == statement.SLSAProvenanceV1 && found.PredicateType != statement.SLSAProvenanceV1) {
			found = a
		}
	}
	return found
}

type statementSubject struct {
	Name   string            `json:"name"`
	Digest map[string]string `json:"digest"`
}

// parsedStatement keeps the statement's subjects next to the Attestation
// while FromIndex checks them.
type parsedStatement struct {
	Attestation
	subjects  []statementSubject
	ambiguous error
}

func (s *parsedStatement) names(h v1.Hash) bool {
	for _, sub := range s.subjects {
		if sub.Digest[h.Algorithm] == h.Hex {
			return true
		}
	}
	return false
}

func (s *parsedStatement) subjectList() string {
	if len(s.subjects) == 0 {
		return "no subject"
	}
	// A subject without a digest is the build's to write too: it is named,
	// not a reason to panic.
	subjects := make([]string, len(s.subjects))
	for i, sub := range s.subjects {
		var ds []string
		for _, alg := range sortedKeys(sub.Digest) {
			ds = append(ds, alg+":"+sub.Digest[alg])
		}
		subjects[i] = strings.Join(ds, " ")
		if len(ds) == 0 {
			subjects[i] = "a subject without digest"
		}
	}
	return strings.Join(subjects, ", ")
}

func readStatement(ctx context.Context, img v1.Image, manifest v1.Hash, l v1.Descriptor) (*parsedStatement, error) {
	where := fmt.Sprintf("attestation manifest %s, layer %s", manifest, l.Digest)
	if l.Size > maxStatementSize {
		return nil, errkind.Inputf("%s: statement of %d bytes is over the %d byte limit", where, l.Size, maxStatementSize)
	}
	layer, err := img.LayerByDigest(l.Digest)
	if err != nil {
		return nil, operational(fmt.Errorf("%s: %w", where, err))
	}
	// In-toto layers are stored uncompressed; Compressed is the blob as
	// stored, which is what the digest covers.
	rc, err := layer.Compressed()
	if err != nil {
		return nil, operational(fmt.Errorf("%s: %w", where, err))
	}
	defer rc.Close()
	data, err := io.ReadAll(io.LimitReader(rc, maxStatementSize+1))
	if err != nil {
		return nil, operational(fmt.Errorf("%s: %w", where, err))
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if len(data) > maxStatementSize {
		return nil, errkind.Inputf("%s: statement is over the %d byte limit", where, maxStatementSize)
	}
	if l.Digest.Algorithm != "sha256" {
		return nil, errkind.Inputf("%s: digest algorithm %s is not supported", where, l.Digest.Algorithm)
	}
	if sum := sha256.Sum256(data); hex.EncodeToString(sum[:]) != l.Digest.Hex {
		return nil, errkind.Untrustedf("%s: content does not match its digest", where)
	}
	var st struct {
		Type          string             `json:"_type"`
		PredicateType string             `json:"predicateType"`
		Subject       []statementSubject `json:"subject"`
		Predicate     json.RawMessage    `json:"predicate"`
	}
	if err := json.Unmarshal(data, &st); err != nil {
		return nil, errkind.Inputf("%s: statement is not JSON: %v", where, err)
	}
	if st.Type != StatementTypeV01 && st.Type != StatementTypeV1 {
		return nil, errkind.Inputf("%s: statement _type %q is not in-toto Statement v0.1 or v1", where, st.Type)
	}
	if ann, ok := l.Annotations[AnnotationPredicateType]; ok && ann != st.PredicateType {
		return nil, errkind.Inputf("%s: layer annotation says predicate type %s, statement says %s", where, ann, st.PredicateType)
	}
	if st.PredicateType == "" || len(bytes.TrimSpace(st.Predicate)) == 0 {
		return nil, errkind.Inputf("%s: statement has no predicate", where)
	}
	// encoding/json matches keys case-insensitively and keeps the last of
	// duplicates, so {"subject": victim, "SUBJECT": build} reads as about
	// the build here and about the victim to a case-sensitive verifier.
	// Signing those bytes is safe only if they parse strictly, as
	// sigstore-go's protojson does: exact keys, each once, nothing unknown.
	var ambiguous error
	if err := (protojson.UnmarshalOptions{}).Unmarshal(data, &intoto.Statement{}); err != nil {
		ambiguous = errkind.Inputf("statement does not parse as a strict in-toto statement (%v): keys spelled in another case or given twice read differently to different verifiers", err)
	}
	return &parsedStatement{
		ambiguous: ambiguous,
		Attestation: Attestation{
			Manifest:      manifest,
			Layer:         l.Digest,
			StatementType: st.Type,
			PredicateType: st.PredicateType,
			Statement:     data,
			Predicate:     st.Predicate,
		},
		subjects: st.Subject,
	}, nil
}

// operational marks registry read failures that carry no kind yet.
func operational(err error) error {
	if _, ok := errkind.Of(err); ok {
		return err
	}
	return errkind.Mark(errkind.Operational, err)
}
