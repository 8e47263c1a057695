package verify

// cosign's legacy layers signed with a certificate (keyless, or
// --certificate): the certificate and its chain, the Rekor entry and the
// RFC 3161 timestamp travel as layer annotations beside the signature.
// Together they are exactly a Sigstore bundle v0.1, so imgsign builds that
// bundle and has sigstore-go check it like any other certificate-based
// bundle (verifyCertificate): no certificate, log or timestamp check is
// written here.

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"

	protobundle "github.com/sigstore/protobuf-specs/gen/pb-go/bundle/v1"
	protocommon "github.com/sigstore/protobuf-specs/gen/pb-go/common/v1"
	protodsse "github.com/sigstore/protobuf-specs/gen/pb-go/dsse"
	protorekor "github.com/sigstore/protobuf-specs/gen/pb-go/rekor/v1"
	"github.com/sigstore/sigstore-go/pkg/bundle"
	sgverify "github.com/sigstore/sigstore-go/pkg/verify"

	"github.com/imgsign/imgsign/verify/policy"
)

// Annotations of a legacy layer signed with a certificate.
const (
	legacyChainAnnotation     = "dev.sigstore.cosign/chain"
	legacyRekorAnnotation     = "dev.sigstore.cosign/bundle"
	legacyTimestampAnnotation = "dev.sigstore.cosign/rfc3161timestamp"
)

// legacyRekorBundle is cosign's dev.sigstore.cosign/bundle annotation: a
// Rekor v1 entry with its signed entry timestamp (inclusion promise).
type legacyRekorBundle struct {
	SignedEntryTimestamp string
	Payload              struct {
		Body           string `json:"body"`
		IntegratedTime int64  `json:"integratedTime"`
		LogIndex       int64  `json:"logIndex"`
		LogID          string `json:"logID"`
	}
}

// legacyContent is what a legacy layer signs: a message signature over a
// payload (.sig) or a DSSE envelope (.att).
type legacyContent struct {
	payload   []byte
	signature []byte
	envelope  *protodsse.Envelope
}

// legacyCertificateBundle is the Sigstore bundle a legacy layer's
// annotations amount to: a v0.1 bundle, the version whose log entries may
// carry only an inclusion promise, as cosign's Rekor bundle annotation
// does. In v0.1 sigstore-go chains the leaf with the trust root's own
// intermediates; the chain annotation is carried but adds none.
func legacyCertificateBundle(content legacyContent, ann map[string]string) (*bundle.Bundle, error) {
	var certs []*protocommon.X509Certificate
	for _, a := range []string{legacyCertificateAnnotation, legacyChainAnnotation} {
		rest := []byte(ann[a])
		for {
			var blk *pem.Block
			blk, rest = pem.Decode(rest)
			if blk == nil {
				break
			}
			if blk.Type != "CERTIFICATE" {
				return nil, codedf(CodeMalformed, "annotation %s holds a %s PEM block, not a certificate", a, oneLineString(blk.Type))
			}
			certs = append(certs, &protocommon.X509Certificate{RawBytes: blk.Bytes})
		}
	}
	if len(certs) == 0 {
		return nil, codedf(CodeMalformed, "annotation %s holds no PEM certificate", legacyCertificateAnnotation)
	}
	vm := &protobundle.VerificationMaterial{
		Content: &protobundle.VerificationMaterial_X509CertificateChain{X509CertificateChain: &protocommon.X509CertificateChain{Certificates: certs}},
	}
	if raw := ann[legacyRekorAnnotation]; raw != "" {
		tle, err := legacyTlogEntry(raw)
		if err != nil {
			return nil, err
		}
		vm.TlogEntries = []*protorekor.TransparencyLogEntry{tle}
	}
	if raw := ann[legacyTimestampAnnotation]; raw != "" {
		var ts struct{ SignedRFC3161Timestamp string }
		if err := json.Unmarshal([]byte(raw), &ts); err != nil || ts.SignedRFC3161Timestamp == "" {
			return nil, codedf(CodeMalformed, "annotation %s is not cosign's RFC 3161 timestamp JSON", legacyTimestampAnnotation)
		}
		der, err := base64.StdEncoding.DecodeString(ts.SignedRFC3161Timestamp)
		if err != nil {
			return nil, codedf(CodeMalformed, "annotation %s: timestamp is not base64", legacyTimestampAnnotation)
		}
		vm.TimestampVerificationData = &protobundle.TimestampVerificationData{Rfc3161Timestamps: []*protocommon.RFC3161SignedTimestamp{{SignedTimestamp: der}}}
	}
	pb := &protobundle.Bundle{MediaType: "application/vnd.dev.sigstore.bundle+json;version=0.1", VerificationMaterial: vm}
	if content.envelope != nil {
		pb.Content = &protobundle.Bundle_DsseEnvelope{DsseEnvelope: content.envelope}
	} else {
		d := sha256.Sum256(content.payload)
		pb.Content = &protobundle.Bundle_MessageSignature{MessageSignature: &protocommon.MessageSignature{
			MessageDigest: &protocommon.HashOutput{Algorithm: protocommon.HashAlgorithm_SHA2_256, Digest: d[:]},
			Signature:     content.signature,
		}}
	}
	b, err := bundle.NewBundle(pb)
	if err != nil {
		return nil, codedf(CodeMalformed, "the layer's certificate, log entry and timestamp do not make a valid Sigstore bundle: %s", oneLine(err))
	}
	return b, nil
}

// legacyTlogEntry reads cosign's Rekor bundle annotation as the log entry
// it describes; sigstore-go checks its inclusion promise and that its body
// is this signature's.
func legacyTlogEntry(raw string) (*protorekor.TransparencyLogEntry, error) {
	var rb legacyRekorBundle
	if err := json.Unmarshal([]byte(raw), &rb); err != nil {
		return nil, codedf(CodeMalformed, "annotation %s is not cosign's Rekor bundle JSON: %s", legacyRekorAnnotation, oneLine(err))
	}
	body, err := base64.StdEncoding.DecodeString(rb.Payload.Body)
	if err != nil {
		return nil, codedf(CodeMalformed, "annotation %s: entry body is not base64", legacyRekorAnnotation)
	}
	set, err := base64.StdEncoding.DecodeString(rb.SignedEntryTimestamp)
	if err != nil {
		return nil, codedf(CodeMalformed, "annotation %s: signed entry timestamp is not base64", legacyRekorAnnotation)
	}
	logID, err := hex.DecodeString(rb.Payload.LogID)
	if err != nil {
		return nil, codedf(CodeMalformed, "annotation %s: log id is not hex", legacyRekorAnnotation)
	}
	var kind struct {
		Kind       string `json:"kind"`
		APIVersion string `json:"apiVersion"`
	}
	if err := json.Unmarshal(body, &kind); err != nil || kind.Kind == "" {
		return nil, codedf(CodeMalformed, "annotation %s: entry body names no kind", legacyRekorAnnotation)
	}
	return &protorekor.TransparencyLogEntry{
		LogIndex:          rb.Payload.LogIndex,
		LogId:             &protocommon.LogId{KeyId: logID},
		KindVersion:       &protorekor.KindVersion{Kind: kind.Kind, Version: kind.APIVersion},
		IntegratedTime:    rb.Payload.IntegratedTime,
		InclusionPromise:  &protorekor.InclusionPromise{SignedEntryTimestamp: set},
		CanonicalizedBody: body,
	}, nil
}

// legacyCertificateSigner checks a legacy layer signed with a certificate:
// sigstore-go verifies the bundle its annotations make (artifact, for a
// .sig, is the payload signed; nil for an .att, whose statement the caller
// checks), and the certificate must be one or more policy identities'.
func legacyCertificateSigner(content legacyContent, ann map[string]string, p *policy.Policy) ([]signerMatch, error) {
	b, err := legacyCertificateBundle(content, ann)
	if err != nil {
		return nil, err
	}
	var artifact sgverify.ArtifactPolicyOption
	if content.envelope == nil {
		artifact = sgverify.WithArtifact(bytes.NewReader(content.payload))
	}
	cvs, err := verifyCertificate(b, rootsOf(p), artifact)
	if err != nil {
		return nil, err
	}
	return matchIdentities(p, cvs)
}
