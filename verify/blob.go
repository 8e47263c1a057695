package verify

import (
	"crypto"
	"encoding/hex"
	"fmt"
	"io"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/sigstore/sigstore-go/pkg/bundle"
	"github.com/sigstore/sigstore-go/pkg/root"
	sgverify "github.com/sigstore/sigstore-go/pkg/verify"

	"github.com/imgsign/imgsign/internal/errkind"
	"github.com/imgsign/imgsign/keys"
	"github.com/imgsign/imgsign/verify/policy"
)

// BlobRequest is one `imgsign verify-blob`: a Sigstore bundle about an
// artifact, checked against one public key or one certificate identity.
type BlobRequest struct {
	// Bundle is the bundle as read (v0.1, v0.2 or v0.3; DSSE or a message
	// signature).
	Bundle []byte
	// Artifact streams the artifact's content; nil when Digest names it.
	Artifact io.Reader
	// Digest names the artifact by digest (sha256 or sha512) instead.
	Digest v1.Hash
	// Key, when set, is the one public key trusted.
	Key crypto.PublicKey
	// Identity and Root, when Key is nil: the certificate identity trusted,
	// under that trust root.
	Identity *policy.Identity
	Root     *policy.TrustRoot
	// Now judges a key-signed bundle without a trusted time.
	Now time.Time
}

// BlobResult says who signed and when.
type BlobResult struct {
	Signer        string        `json:"signer"`
	PredicateType string        `json:"predicateType,omitempty"`
	SignedAt      string        `json:"signedAt,omitempty"`
	TimeSource    string        `json:"timeSource"`
	Identity      *CertIdentity `json:"identity,omitempty"`
	// Bundle names the bundle that verified, set by BlobFile: the file, or
	// "file:N" for line N of a JSON-lines file.
	Bundle string `json:"bundle,omitempty"`
}

// Blob verifies a bundle about an artifact. A bundle that does not verify
// is an untrusted error (exit 1); a request that cannot be judged is bad
// input (exit 2).
func Blob(req BlobRequest) (*BlobResult, error) {
	b, err := parseBundle(req.Bundle)
	if err != nil {
		return nil, errkind.Inputf("not a valid Sigstore bundle: %s", oneLine(err))
	}
	artifact, err := artifactPolicy(req)
	if err != nil {
		return nil, err
	}
	untrusted := func(err error) error { return errkind.Mark(errkind.Untrusted, err) }
	if req.Key != nil {
		if hasCertificate(b) {
			return nil, untrusted(fmt.Errorf("the bundle is signed with a certificate, not with the key given (a public key inside a certificate is never trusted by itself): verify it with --certificate-identity and --certificate-oidc-issuer"))
		}
		res, err := verifyBlobWithKey(b, req.Key, artifact)
		if err != nil {
			return nil, untrusted(err)
		}
		out := &BlobResult{Signer: "key", TimeSource: TimeSourceJudgedAt}
		if at, src := earliest(res.VerifiedTimestamps); !at.IsZero() {
			out.SignedAt, out.TimeSource = at.UTC().Format(time.RFC3339), src
		}
		if res.Statement != nil {
			out.PredicateType = res.Statement.GetPredicateType()
		}
		return out, nil
	}
	if req.Identity == nil || req.Root == nil {
		return nil, errkind.Inputf("give --key, or --certificate-identity with --certificate-oidc-issuer")
	}
	if !hasCertificate(b) {
		return nil, untrusted(fmt.Errorf("the bundle is signed with a key, not a certificate: verify it with --key"))
	}
	cvs, err := verifyCertificate(b, []*policy.TrustRoot{req.Root}, artifact)
	if err != nil {
		if hint := foreignCAHint(b, req.Root); hint != "" {
			err = fmt.Errorf("%w%s", err, hint)
		}
		return nil, untrusted(err)
	}
	cv := cvs[0]
	p := &policy.Policy{TrustRoots: []*policy.TrustRoot{req.Root}, Identities: []*policy.Identity{req.Identity}}
	if _, err := matchIdentities(p, cvs); err != nil {
		return nil, untrusted(err)
	}
	out := &BlobResult{Signer: req.Identity.Name, Identity: certIdentity(cv.result.Signature.Certificate)}
	at, src := earliest(cv.result.VerifiedTimestamps)
	out.SignedAt, out.TimeSource = at.UTC().Format(time.RFC3339), src
	if st := cv.result.Statement; st != nil {
		out.PredicateType = st.GetPredicateType()
	}
	return out, nil
}

// artifactPolicy is what the bundle must be about: the artifact's bytes,
// or its digest.
func artifactPolicy(req BlobRequest) (sgverify.ArtifactPolicyOption, error) {
	if req.Artifact != nil {
		return sgverify.WithArtifact(req.Artifact), nil
	}
	switch req.Digest.Algorithm {
	case "sha256", "sha512":
	default:
		return nil, errkind.Inputf("artifact digest %q: give a file, or sha256:<64 hex> (sha512:<128 hex>)", req.Digest.String())
	}
	d, err := hex.DecodeString(req.Digest.Hex)
	if err != nil || len(d)*2 != len(req.Digest.Hex) || strings.ToLower(req.Digest.Hex) != req.Digest.Hex {
		return nil, errkind.Inputf("artifact digest %q is not lower-case hex", req.Digest.String())
	}
	return sgverify.WithArtifactDigest(req.Digest.Algorithm, d), nil
}

// verifyBlobWithKey has sigstore-go check a key-signed bundle and what it
// is about, with no transparency log or timestamp required (as for images;
// the key is trusted as given).
func verifyBlobWithKey(b *bundle.Bundle, pub crypto.PublicKey, artifact sgverify.ArtifactPolicyOption) (*sgverify.VerificationResult, error) {
	ver, err := keys.Verifier(pub)
	if err != nil {
		return nil, errkind.Inputf("--key: %w", err)
	}
	tm := &trustedMaterial{key: root.NewExpiringKey(ver, time.Time{}, time.Time{})}
	v, err := sgverify.NewVerifier(tm, sgverify.WithNoObserverTimestamps())
	if err != nil {
		return nil, err
	}
	res, err := v.Verify(b, sgverify.NewPolicy(artifact, sgverify.WithKey()))
	if err != nil {
		return nil, fmt.Errorf("bundle does not verify with the key: %s", oneLine(err))
	}
	return res, nil
}
