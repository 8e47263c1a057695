package fakesigstore

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/asn1"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/cyberphone/json-canonicalization/go/src/webpki.org/jsoncanonicalizer"
	"github.com/digitorus/timestamp"
	"github.com/secure-systems-lab/go-securesystemslib/dsse"
	protobundle "github.com/sigstore/protobuf-specs/gen/pb-go/bundle/v1"
	protocommon "github.com/sigstore/protobuf-specs/gen/pb-go/common/v1"
	protodsse "github.com/sigstore/protobuf-specs/gen/pb-go/dsse"
	protorekor "github.com/sigstore/protobuf-specs/gen/pb-go/rekor/v1"
	rekortilespb "github.com/sigstore/rekor-tiles/v2/pkg/generated/protobuf"
	rekornote "github.com/sigstore/rekor-tiles/v2/pkg/note"
	rekorv2hashedrekord "github.com/sigstore/rekor-tiles/v2/pkg/types/hashedrekord"
	"github.com/sigstore/rekor/pkg/pki"
	"github.com/sigstore/rekor/pkg/types"
	"github.com/sigstore/sigstore-go/pkg/tlog"
	"github.com/sigstore/sigstore/pkg/signature"
	f_log "github.com/transparency-dev/formats/log"
	"github.com/transparency-dev/merkle/rfc6962"
	"golang.org/x/mod/sumdb/note"
	"google.golang.org/protobuf/encoding/protojson"
)

// DSSEBundle signs statement (an in-toto statement, payload type
// application/vnd.in-toto+json unless WithPayloadType) as a DSSE envelope
// with a fresh key and a Fulcio leaf certificate naming id, logs it in the
// Rekor v1 log as a dsse v0.0.1 entry, and returns the Sigstore bundle JSON
// (v0.3, the leaf in verificationMaterial.certificate). Options change that.
func (s *Sigstore) DSSEBundle(t testing.TB, statement []byte, id Identity, opts ...BundleOption) []byte {
	t.Helper()
	out, err := s.dsseBundle(statement, id, newConfig(opts))
	if err != nil {
		t.Fatalf("fakesigstore: DSSE bundle: %v", err)
	}
	return out
}

// MessageBundle signs artifact (a message signature over its SHA-256, what
// cosign sign-blob and verify-blob use) with a fresh key and a Fulcio leaf
// certificate naming id, logs it in the Rekor v1 log as a hashedrekord
// v0.0.1 entry, and returns the Sigstore bundle JSON (v0.3). Options change
// that.
func (s *Sigstore) MessageBundle(t testing.TB, artifact []byte, id Identity, opts ...BundleOption) []byte {
	t.Helper()
	out, err := s.messageBundle(artifact, id, newConfig(opts))
	if err != nil {
		t.Fatalf("fakesigstore: message bundle: %v", err)
	}
	return out
}

// Timestamp is an RFC 3161 timestamp response from the Sigstore's TSA over
// signature (the bytes a bundle's signature holds) at time at.
func (s *Sigstore) Timestamp(t testing.TB, signature []byte, at time.Time) []byte {
	t.Helper()
	tsr, err := s.timestamp(signature, at)
	if err != nil {
		t.Fatalf("fakesigstore: timestamp: %v", err)
	}
	return tsr
}

func (s *Sigstore) dsseBundle(statement []byte, id Identity, c *bundleConfig) ([]byte, error) {
	key, cert, err := s.signer(id, c)
	if err != nil {
		return nil, err
	}
	sign := func(payload []byte) ([]byte, error) {
		digest := sha256.Sum256(dsse.PAE(c.payloadType, payload))
		return ecdsa.SignASN1(rand.Reader, key, digest[:])
	}
	sig, err := sign(statement)
	if err != nil {
		return nil, err
	}
	b := s.newBundle(c, cert)
	b.Content = &protobundle.Bundle_DsseEnvelope{DsseEnvelope: &protodsse.Envelope{
		Payload:     statement,
		PayloadType: c.payloadType,
		Signatures:  []*protodsse.Signature{{Sig: sig}},
	}}
	if !c.noTlog {
		logged, loggedSig := statement, sig
		if c.logged != nil {
			logged = c.logged
			if loggedSig, err = sign(logged); err != nil {
				return nil, err
			}
		}
		var entry *protorekor.TransparencyLogEntry
		if c.rekorV2 {
			digest := sha256.Sum256(dsse.PAE(c.payloadType, logged))
			entry, err = s.rekorV2Entry(cert, digest[:], loggedSig)
		} else {
			env, jerr := json.Marshal(dsse.Envelope{
				PayloadType: c.payloadType,
				Payload:     base64.StdEncoding.EncodeToString(logged),
				Signatures:  []dsse.Signature{{Sig: base64.StdEncoding.EncodeToString(loggedSig)}},
			})
			if jerr != nil {
				return nil, jerr
			}
			kind, version := "dsse", "0.0.1"
			if c.intoto {
				kind, version = "intoto", "0.0.2"
			}
			entry, err = s.rekorV1Entry(kind, version, types.ArtifactProperties{
				ArtifactBytes:  env,
				SignatureBytes: loggedSig,
				PublicKeyBytes: [][]byte{PEM(cert)},
				PKIFormat:      string(pki.X509),
			}, c.at)
		}
		if err != nil {
			return nil, err
		}
		b.VerificationMaterial.TlogEntries = []*protorekor.TransparencyLogEntry{entry}
	}
	return s.finish(b, c, sig)
}

func (s *Sigstore) messageBundle(artifact []byte, id Identity, c *bundleConfig) ([]byte, error) {
	key, cert, err := s.signer(id, c)
	if err != nil {
		return nil, err
	}
	digest := sha256.Sum256(artifact)
	sig, err := ecdsa.SignASN1(rand.Reader, key, digest[:])
	if err != nil {
		return nil, err
	}
	b := s.newBundle(c, cert)
	b.Content = &protobundle.Bundle_MessageSignature{MessageSignature: &protocommon.MessageSignature{
		MessageDigest: &protocommon.HashOutput{Algorithm: protocommon.HashAlgorithm_SHA2_256, Digest: digest[:]},
		Signature:     sig,
	}}
	if !c.noTlog {
		loggedDigest, loggedSig := digest, sig
		if c.logged != nil {
			loggedDigest = sha256.Sum256(c.logged)
			if loggedSig, err = ecdsa.SignASN1(rand.Reader, key, loggedDigest[:]); err != nil {
				return nil, err
			}
		}
		var entry *protorekor.TransparencyLogEntry
		if c.rekorV2 {
			entry, err = s.rekorV2Entry(cert, loggedDigest[:], loggedSig)
		} else {
			entry, err = s.rekorV1Entry("hashedrekord", "0.0.1", types.ArtifactProperties{
				ArtifactHash:   hex.EncodeToString(loggedDigest[:]),
				SignatureBytes: loggedSig,
				PublicKeyBytes: [][]byte{PEM(cert)},
				PKIFormat:      string(pki.X509),
			}, c.at)
		}
		if err != nil {
			return nil, err
		}
		b.VerificationMaterial.TlogEntries = []*protorekor.TransparencyLogEntry{entry}
	}
	return s.finish(b, c, sig)
}

// signer is a fresh signing key and its leaf certificate.
func (s *Sigstore) signer(id Identity, c *bundleConfig) (*ecdsa.PrivateKey, *x509.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	cert, err := s.leaf(&key.PublicKey, id, c.at, !c.noSCT)
	return key, cert, err
}

func (s *Sigstore) newBundle(c *bundleConfig, cert *x509.Certificate) *protobundle.Bundle {
	vm := &protobundle.VerificationMaterial{}
	if c.chain {
		vm.Content = &protobundle.VerificationMaterial_X509CertificateChain{X509CertificateChain: &protocommon.X509CertificateChain{
			Certificates: []*protocommon.X509Certificate{{RawBytes: cert.Raw}, {RawBytes: s.fulcioIntermediate.Raw}},
		}}
	} else {
		vm.Content = &protobundle.VerificationMaterial_Certificate{Certificate: &protocommon.X509Certificate{RawBytes: cert.Raw}}
	}
	return &protobundle.Bundle{MediaType: c.bundleMediaType(), VerificationMaterial: vm}
}

// finish adds the timestamp over sig if asked and serializes the bundle.
func (s *Sigstore) finish(b *protobundle.Bundle, c *bundleConfig, sig []byte) ([]byte, error) {
	if c.timestamp {
		tsr, err := s.timestamp(sig, c.at)
		if err != nil {
			return nil, err
		}
		b.VerificationMaterial.TimestampVerificationData = &protobundle.TimestampVerificationData{
			Rfc3161Timestamps: []*protocommon.RFC3161SignedTimestamp{{SignedTimestamp: tsr}},
		}
	}
	return protojson.Marshal(b)
}

// rekorV1Entry logs an entry of kind and version made from props (by
// Rekor's own types, as the Rekor server canonicalizes it) in the Rekor v1
// log: the VirtualSigstore signs its inclusion promise and the checkpoint of
// its inclusion proof.
func (s *Sigstore) rekorV1Entry(kind, version string, props types.ArtifactProperties, at time.Time) (*protorekor.TransparencyLogEntry, error) {
	ctx := context.Background()
	proposed, err := types.NewProposedEntry(ctx, kind, version, props)
	if err != nil {
		return nil, fmt.Errorf("rekor %s entry: %w", kind, err)
	}
	impl, err := types.CreateVersionedEntry(proposed)
	if err != nil {
		return nil, fmt.Errorf("rekor %s entry: %w", kind, err)
	}
	body, err := types.CanonicalizeEntry(ctx, impl)
	if err != nil {
		return nil, fmt.Errorf("rekor %s entry: %w", kind, err)
	}
	index := s.nextLogIndex()
	set, err := s.vs.RekorSignPayload(tlog.RekorPayload{
		Body:           base64.StdEncoding.EncodeToString(body),
		IntegratedTime: at.Unix(),
		LogIndex:       index,
		LogID:          s.RekorLogID(),
	})
	if err != nil {
		return nil, err
	}
	proof, err := s.vs.GetInclusionProof(body)
	if err != nil {
		return nil, err
	}
	rootHash, err := hex.DecodeString(*proof.RootHash)
	if err != nil {
		return nil, err
	}
	hashes := [][]byte{}
	for _, h := range proof.Hashes {
		b, err := hex.DecodeString(h)
		if err != nil {
			return nil, err
		}
		hashes = append(hashes, b)
	}
	logID, err := hex.DecodeString(s.RekorLogID())
	if err != nil {
		return nil, err
	}
	return checked(&protorekor.TransparencyLogEntry{
		LogIndex:         index,
		LogId:            &protocommon.LogId{KeyId: logID},
		KindVersion:      &protorekor.KindVersion{Kind: kind, Version: version},
		IntegratedTime:   at.Unix(),
		InclusionPromise: &protorekor.InclusionPromise{SignedEntryTimestamp: set},
		InclusionProof: &protorekor.InclusionProof{
			LogIndex:   *proof.LogIndex,
			RootHash:   rootHash,
			TreeSize:   *proof.TreeSize,
			Hashes:     hashes,
			Checkpoint: &protorekor.Checkpoint{Envelope: *proof.Checkpoint},
		},
		CanonicalizedBody: body,
	})
}

// rekorV2Entry logs a hashedrekord v0.0.2 entry (made by rekor-tiles' own
// ToLogEntry, which checks the signature as the Rekor v2 server does) as the
// only leaf of the Rekor v2 log, with a checkpoint signed for the log's
// origin. A Rekor v2 entry has no integrated time and no inclusion promise.
func (s *Sigstore) rekorV2Entry(cert *x509.Certificate, digest, sig []byte) (*protorekor.TransparencyLogEntry, error) {
	registry, err := signature.NewAlgorithmRegistryConfig([]protocommon.PublicKeyDetails{protocommon.PublicKeyDetails_PKIX_ECDSA_P256_SHA_256})
	if err != nil {
		return nil, err
	}
	entry, err := rekorv2hashedrekord.ToLogEntry(&rekortilespb.HashedRekordRequestV002{
		Digest: digest,
		Signature: &rekortilespb.Signature{
			Content: sig,
			Verifier: &rekortilespb.Verifier{
				Verifier:   &rekortilespb.Verifier_X509Certificate{X509Certificate: &protocommon.X509Certificate{RawBytes: cert.Raw}},
				KeyDetails: protocommon.PublicKeyDetails_PKIX_ECDSA_P256_SHA_256,
			},
		},
	}, registry)
	if err != nil {
		return nil, fmt.Errorf("rekor v2 entry: %w", err)
	}
	serialized, err := protojson.Marshal(entry)
	if err != nil {
		return nil, err
	}
	body, err := jsoncanonicalizer.Transform(serialized)
	if err != nil {
		return nil, err
	}
	leafHash := rfc6962.DefaultHasher.HashLeaf(body)

	origin := RekorV2URL[len("https://"):]
	signer, err := signature.LoadECDSASignerVerifier(s.rekorV2Key, crypto.SHA256)
	if err != nil {
		return nil, err
	}
	noteSigner, err := rekornote.NewNoteSigner(context.Background(), origin, signer)
	if err != nil {
		return nil, err
	}
	checkpoint, err := note.Sign(&note.Note{Text: string(f_log.Checkpoint{Origin: origin, Size: 1, Hash: leafHash}.Marshal())}, noteSigner)
	if err != nil {
		return nil, err
	}
	return checked(&protorekor.TransparencyLogEntry{
		LogIndex:    0,
		LogId:       &protocommon.LogId{KeyId: keyID(&s.rekorV2Key.PublicKey)},
		KindVersion: &protorekor.KindVersion{Kind: "hashedrekord", Version: "0.0.2"},
		InclusionProof: &protorekor.InclusionProof{
			LogIndex:   0,
			TreeSize:   1,
			RootHash:   leafHash,
			Hashes:     [][]byte{},
			Checkpoint: &protorekor.Checkpoint{Envelope: string(checkpoint)},
		},
		CanonicalizedBody: body,
	})
}

// checked returns tle once sigstore-go parses it as a log entry.
func checked(tle *protorekor.TransparencyLogEntry) (*protorekor.TransparencyLogEntry, error) {
	entry, err := tlog.ParseTransparencyLogEntry(tle)
	if err != nil {
		return nil, fmt.Errorf("made an unreadable log entry: %w", err)
	}
	return entry.TransparencyLogEntry(), nil
}

// timestamp is the TSA's RFC 3161 response over sig at time at.
func (s *Sigstore) timestamp(sig []byte, at time.Time) ([]byte, error) {
	digest := sha256.Sum256(sig)
	ts := timestamp.Timestamp{
		HashAlgorithm: crypto.SHA256,
		HashedMessage: digest[:],
		Time:          at,
		Policy:        asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 57264, 2},
	}
	return ts.CreateResponseWithOpts(s.tsaLeaf, s.tsaKey, crypto.SHA256)
}
