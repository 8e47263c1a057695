package verify

// Cosign's legacy layout (cosign v1/v2, and v3 with --new-bundle-format=false):
// signatures live under the tag sha256-<hex>.sig, attestations under
// sha256-<hex>.att, one image manifest each, one layer per signature.
//
//   .sig layer: application/vnd.dev.cosign.simplesigning.v1+json, the payload
//     {"critical":{"identity":{"docker-reference":…},"image":{"docker-manifest-digest":"sha256:…"},
//      "type":"cosign container image signature"},"optional":{…}}
//     signed as is; the base64 signature is the layer annotation
//     dev.cosignproject.cosign/signature.
//   .att layer: application/vnd.dsse.envelope.v1+json, a DSSE envelope over an
//     in-toto statement; the annotation predicateType names its type.
//
// Nothing in the layout names the key, so each policy key is tried. Only the
// signature decides: the payload is read only after it verified, and its
// image digest (a .sig) or subject digest (an .att) must be the image's, or a
// signature copied from another image would count here.
//
// Legacy tags are read lazily, on both kinds of registry: only when the
// referrers-based candidates leave a requirement unsatisfied, so an image
// signed the OCI 1.1 way costs no more requests than before, and an image
// gets the same report wherever it is stored. Without the referrers API,
// discovery's tag listing already says which legacy tags exist, so a missing
// one costs nothing; with it, each needed tag is one GET (a 404 if absent).
// Then one GET per layer, by digest, checked.
//
// Not supported: certificates (keyless or --certificate; reported as such),
// the Rekor bundle and RFC 3161 timestamp annotations (ignored: a legacy
// signature's key validity is judged at verification time, and a rule with
// requireTimestamp does not count it), and .sbom tags (not signatures).

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	intoto "github.com/in-toto/attestation/go/v1"
	"github.com/secure-systems-lab/go-securesystemslib/dsse"
	protodsse "github.com/sigstore/protobuf-specs/gen/pb-go/dsse"
	"github.com/sigstore/sigstore/pkg/signature"
	"golang.org/x/sync/errgroup"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/imgsign/imgsign/internal/attachment"
	"github.com/imgsign/imgsign/internal/errkind"
	"github.com/imgsign/imgsign/internal/registry"
	"github.com/imgsign/imgsign/statement"
	"github.com/imgsign/imgsign/storage"
	"github.com/imgsign/imgsign/verify/policy"
)

const (
	legacySimpleSigningMediaType = "application/vnd.dev.cosign.simplesigning.v1+json"
	legacyDSSEMediaType          = "application/vnd.dsse.envelope.v1+json"
	// legacySignatureAnnotation holds a .sig layer's base64 signature.
	legacySignatureAnnotation = "dev.cosignproject.cosign/signature"
	// legacyCertificateAnnotation is set when a certificate (keyless or
	// --certificate) signed the layer.
	legacyCertificateAnnotation = "dev.sigstore.cosign/certificate"
	// legacyPredicateTypeAnnotation is the predicate type an .att layer claims.
	legacyPredicateTypeAnnotation = "predicateType"
	cosignSignatureType           = "cosign container image signature"
)

// legacyKinds returns the legacy tags ("sig", "att") that could satisfy
// what the candidates so far leave open: "sig" for an unsatisfied signatures
// requirement, "att" for an unsatisfied attestation requirement or an
// attestation a compliance check reads that no trusted candidate provides.
func legacyKinds(rule *policy.Rule, reqs []requirement, cands []candidate, p *policy.Policy, now time.Time, img subjectInfo) []string {
	var sig, att bool
	for _, rq := range reqs {
		if evaluate(rq, cands, p, now, img).Satisfied {
			continue
		}
		if rq.kind == "signatures" {
			sig = true
		} else {
			att = true
		}
	}
	if c := rule.Compliance; c != nil && !att {
		if len(c.AllowedBaseImages) > 0 {
			if preds, _ := trustedPredicates(rule, statement.SLSAProvenanceV1, cands, now); len(preds) == 0 {
				att = true
			}
		}
		if c.MaxSeverity != "" {
			if preds, _ := trustedPredicates(rule, statement.CosignVuln, cands, now); len(preds) == 0 {
				att = true
			}
		}
	}
	var kinds []string
	if sig {
		kinds = append(kinds, "sig")
	}
	if att {
		kinds = append(kinds, "att")
	}
	return kinds
}

// legacyCandidates reads cosign's legacy tags of kinds and checks every
// signature in them. Where discovery listed the tags (registries without the
// referrers API) only tags that exist are fetched; elsewhere each tag is one
// GET, a missing one a 404. It returns the candidates and how many legacy
// manifests were found.
func (v *Verifier) legacyCandidates(ctx context.Context, repo storage.Reader, subject v1.Hash, l *attachment.Listing, kinds []string, needed map[string]bool) ([]candidate, int, error) {
	var tags []string
	for _, k := range kinds {
		t := attachment.LegacyTag(subject, k)
		if l.TagsListed && !slices.Contains(l.CosignTags, t) {
			continue
		}
		tags = append(tags, t)
	}
	if len(tags) == 0 {
		return nil, 0, nil
	}
	entries, err := attachment.FetchLegacy(ctx, repo, tags)
	if err != nil {
		return nil, 0, fmt.Errorf("reading cosign legacy tags of %s: %w", subject, err)
	}

	// One job per layer to check; problems with a whole manifest are
	// candidates of their own, so the report says why nothing counted.
	type job struct {
		referrer string
		att      bool
		index    int
		count    int
		layer    v1.Descriptor
	}
	var jobs []job
	var out []candidate
	for _, e := range entries {
		att := strings.HasSuffix(e.Tag, ".att")
		what := "cosign legacy signature tag " + e.Tag
		claimed := statement.Signature
		if att {
			what, claimed = "cosign legacy attestation tag "+e.Tag, ""
		}
		ref := e.Descriptor.Digest.String()
		bad := func(format string, args ...any) {
			out = append(out, candidate{referrer: ref, claimedType: claimed, err: fmt.Errorf(what+": "+format, args...)})
		}
		raw, err := attachment.LegacyManifest(ctx, repo, e)
		if err != nil {
			if k, _ := errkind.Of(err); k == errkind.Operational {
				return nil, 0, fmt.Errorf("reading %s: %w", e.Tag, err)
			}
			bad("%s", oneLine(err))
			continue
		}
		var m v1.Manifest
		if err := json.Unmarshal(raw, &m); err != nil {
			bad("manifest is not JSON: %s", oneLine(err))
			continue
		}
		if len(m.Layers) == 0 {
			bad("manifest has no layers")
			continue
		}
		// Checking only the first layers would judge the image on part of
		// what its legacy tag holds.
		if len(m.Layers) > registry.MaxBundlesPerImage {
			return nil, 0, registry.OverLimit("%s has %d layers, more than the %d signatures verify checks per image; refusing to judge on partial data", e.Tag, len(m.Layers), registry.MaxBundlesPerImage)
		}
		for i, d := range m.Layers {
			if att {
				// The annotation only decides what to fetch, as a referrer's
				// does; the verified statement has the last word.
				if pt := d.Annotations[legacyPredicateTypeAnnotation]; pt != "" && !needed[pt] {
					continue
				}
			}
			jobs = append(jobs, job{referrer: ref, att: att, index: i, count: len(m.Layers), layer: d})
		}
	}

	if len(jobs) > registry.MaxBundlesPerImage {
		return nil, 0, registry.OverLimit("image %s has %d cosign legacy signatures and attestations the policy may count, more than the %d verify checks per image; refusing to judge on partial data", subject, len(jobs), registry.MaxBundlesPerImage)
	}
	tr := v.trust()
	cands := make([]candidate, len(jobs))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(v.jobs)
	for i, j := range jobs {
		g.Go(func() error {
			what := fmt.Sprintf("cosign legacy signature (.sig layer %d of %d)", j.index+1, j.count)
			format := cosignSimpleSigning
			claimed := statement.Signature
			if j.att {
				what = fmt.Sprintf("cosign legacy attestation (.att layer %d of %d)", j.index+1, j.count)
				format = cosignLegacyAttestation
				claimed = j.layer.Annotations[legacyPredicateTypeAnnotation]
			}
			var c candidate
			if mt, want := string(j.layer.MediaType), format.mediaType(); mt != want {
				c.err = fmt.Errorf("layer is %q, not %q", mt, want)
			} else if raw, err := repo.Blob(gctx, j.layer, registry.MaxBundleBytes); err != nil {
				if k, _ := errkind.Of(err); k == errkind.Operational {
					return fmt.Errorf("fetching %s %s: %w", what, j.layer.Digest, err)
				}
				c.err = fmt.Errorf("fetching payload: %s", oneLine(err))
			} else {
				c = format.check(raw, j.layer.Annotations, subject, tr)
			}
			if c.err != nil {
				c.err = fmt.Errorf("%s: %w", what, c.err)
			}
			c.referrer, c.claimedType = j.referrer, claimed
			cands[i] = c
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, 0, err
	}
	return append(out, cands...), len(entries), nil
}

// checkLegacySignature checks one .sig layer: its signature over payload by
// a policy key, then that the signed payload is a cosign image signature of
// subject.
func checkLegacySignature(payload []byte, ann map[string]string, subject v1.Hash, p *policy.Policy, verifiersFor func(*policy.TrustedKey) ([]signature.Verifier, error), now time.Time) candidate {
	c := candidate{}
	b64 := ann[legacySignatureAnnotation]
	if b64 == "" {
		c.err = fmt.Errorf("layer has no %s annotation", legacySignatureAnnotation)
		return c
	}
	sig, err := decodeB64(b64)
	if err != nil {
		c.err = fmt.Errorf("signature annotation is not base64: %s", oneLine(err))
		return c
	}
	k, err := legacyKey(sig, payload, ann, p, verifiersFor)
	var matches []signerMatch // a certificate's identities
	if err != nil && ann[legacyCertificateAnnotation] != "" {
		c.byCertificate = true
		if matches, err = legacyCertificateSigner(legacyContent{payload: payload, signature: sig}, ann, p); err == nil {
			k = matches[0].id.Trusted
		}
	}
	if err != nil {
		c.err = err
		return c
	}
	// Signed by k: now the payload may be read.
	var sci struct {
		Critical struct {
			Identity struct {
				DockerReference string `json:"docker-reference"`
			} `json:"identity"`
			Image struct {
				DockerManifestDigest string `json:"docker-manifest-digest"`
			} `json:"image"`
			Type string `json:"type"`
		} `json:"critical"`
	}
	if err := json.Unmarshal(payload, &sci); err != nil {
		c.err = fmt.Errorf("signed payload is not a cosign simple signing payload: %s", oneLine(err))
		return c
	}
	if sci.Critical.Type != cosignSignatureType {
		c.err = fmt.Errorf("signed payload is of type %q, not %q", sci.Critical.Type, cosignSignatureType)
		return c
	}
	if got := sci.Critical.Image.DockerManifestDigest; got != subject.String() {
		c.err = codedf(CodeSubjectMismatch, "the signed payload is about %s, not %s (signature copied from another image?)", orNone(got), subject)
		return c
	}
	var st map[string]any
	_ = json.Unmarshal(payload, &st)
	c.key, c.keyID = k, k.ID
	c.predicateType = statement.Signature
	c.signedAt, c.timeSource = now, TimeSourceJudgedAt
	c.statement = statement.FromDocument(map[string]any{"predicateType": statement.Signature, "predicate": st})
	if matches != nil {
		return c.signedBy(matches)
	}
	return c
}

// checkLegacyAttestation checks one .att layer: a DSSE envelope whose
// signature over the in-toto statement is by a policy key, and whose
// statement is about subject alone (onlyAbout).
func checkLegacyAttestation(raw []byte, ann map[string]string, subject v1.Hash, p *policy.Policy, verifiersFor func(*policy.TrustedKey) ([]signature.Verifier, error), now time.Time) candidate {
	c := candidate{}
	var env dsse.Envelope
	if err := json.Unmarshal(raw, &env); err != nil {
		c.err = fmt.Errorf("not a DSSE envelope: %s", oneLine(err))
		return c
	}
	if env.PayloadType != statement.PayloadType {
		c.err = fmt.Errorf("DSSE payload type is %q, not %q", env.PayloadType, statement.PayloadType)
		return c
	}
	body, err := decodeB64(env.Payload)
	if err != nil {
		c.err = fmt.Errorf("DSSE payload is not base64: %s", oneLine(err))
		return c
	}
	if len(env.Signatures) == 0 {
		c.err = errors.New("DSSE envelope has no signatures")
		return c
	}
	pae := dsse.PAE(env.PayloadType, body)
	var k *policy.TrustedKey
	for _, s := range env.Signatures {
		sig, derr := decodeB64(s.Sig)
		if derr != nil {
			err = fmt.Errorf("DSSE signature is not base64: %s", oneLine(derr))
			continue
		}
		if k, err = legacyKey(sig, pae, ann, p, verifiersFor); err == nil {
			break
		}
	}
	var matches []signerMatch // a certificate's identities
	if k == nil && ann[legacyCertificateAnnotation] != "" && len(env.Signatures) == 1 {
		c.byCertificate = true
		sig, derr := decodeB64(env.Signatures[0].Sig)
		if derr == nil {
			pe := &protodsse.Envelope{Payload: body, PayloadType: env.PayloadType, Signatures: []*protodsse.Signature{{Sig: sig, Keyid: env.Signatures[0].KeyID}}}
			if matches, err = legacyCertificateSigner(legacyContent{envelope: pe}, ann, p); err == nil {
				k = matches[0].id.Trusted
			}
		}
	}
	if k == nil {
		c.err = err
		return c
	}
	// Signed by k: now the statement may be read — first as sigstore-go
	// reads a bundle's (protojson: exact keys, each once, none unknown).
	// encoding/json alone matches "Predicate" to predicate and keeps the
	// last of duplicates, so one signed statement refused as a bundle
	// could count here with another predicate than a check elsewhere saw;
	// once protojson accepts it, both parsers read the same statement.
	if err := protojson.Unmarshal(body, &intoto.Statement{}); err != nil {
		c.err = codedf(CodeMalformed, "signed payload is not a well-formed in-toto statement (exact keys, each once): %s", oneLine(err))
		return c
	}
	var st struct {
		Type    string `json:"_type"`
		Subject []struct {
			Digest map[string]string `json:"digest"`
		} `json:"subject"`
		PredicateType string `json:"predicateType"`
	}
	if err := json.Unmarshal(body, &st); err != nil {
		c.err = fmt.Errorf("signed payload is not an in-toto statement: %s", oneLine(err))
		return c
	}
	if st.Type != statement.TypeV1 && st.Type != statement.TypeV01 {
		c.err = fmt.Errorf("signed payload is not an in-toto statement (_type %q)", st.Type)
		return c
	}
	if st.PredicateType == "" { // also when only protojson's alias predicate_type names it
		c.err = errors.New("signed in-toto statement has no predicateType")
		return c
	}
	about := false
	var others []string
	digests := make([]map[string]string, len(st.Subject))
	for i, s := range st.Subject {
		digests[i] = s.Digest
		if dg, ok := s.Digest[subject.Algorithm]; ok {
			if dg == subject.Hex {
				about = true
				continue
			}
			others = append(others, subject.Algorithm+":"+dg)
		}
	}
	if !about {
		c.err = codedf(CodeSubjectMismatch, "the signed statement is about %s, not %s (attestation copied from another image?)", orNone(strings.Join(others, ", ")), subject)
		return c
	}
	// About subject, but perhaps about other images too: as for bundles,
	// it counts only about subject alone.
	if err := onlyAbout(digests, subject); err != nil {
		c.keyID = k.ID
		c.err = coded(CodeSubjectMismatch, err)
		return c
	}
	c.key, c.keyID = k, k.ID
	c.predicateType = st.PredicateType
	c.signedAt, c.timeSource = now, TimeSourceJudgedAt
	c.statement, _ = statement.Parse(body)
	if matches != nil {
		return c.signedBy(matches)
	}
	return c
}

// legacyKey returns the policy key whose signature sig over data is. The
// legacy layout names no key, so every version of every policy key is tried,
// each with the verifiers verify.go gives it (pure Ed25519 and Ed25519ph for
// Ed25519 keys: cosign signs with Ed25519ph by default).
func legacyKey(sig, data []byte, ann map[string]string, p *policy.Policy, verifiersFor func(*policy.TrustedKey) ([]signature.Verifier, error)) (*policy.TrustedKey, error) {
	tried := 0
	for _, tk := range p.Keys {
		for _, k := range tk.Versions {
			vers, err := verifiersFor(k)
			if err != nil {
				continue
			}
			tried++
			for _, ver := range vers {
				if ver.VerifySignature(bytes.NewReader(sig), bytes.NewReader(data)) == nil {
					return k, nil
				}
			}
		}
	}
	if tried == 0 {
		return nil, codedf(CodeUntrustedKey, "no policy key to check the signature with")
	}
	return nil, codedf(CodeSignatureInvalid, "signature does not verify with any of the %d policy key(s) (tampered payload or another key)", tried)
}

// decodeB64 decodes standard base64, or URL-safe as DSSE allows.
func decodeB64(s string) ([]byte, error) {
	b, err := base64.StdEncoding.DecodeString(s)
	if err == nil {
		return b, nil
	}
	if b, uerr := base64.URLEncoding.DecodeString(s); uerr == nil {
		return b, nil
	}
	return nil, err
}

func orNone(s string) string {
	if s == "" {
		return "no image digest"
	}
	return s
}
