package fakesigstore

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/digitorus/timestamp"
	protobundle "github.com/sigstore/protobuf-specs/gen/pb-go/bundle/v1"
	protocommon "github.com/sigstore/protobuf-specs/gen/pb-go/common/v1"
	"github.com/sigstore/sigstore-go/pkg/bundle"
	"github.com/sigstore/sigstore-go/pkg/fulcio/certificate"
	"github.com/sigstore/sigstore-go/pkg/root"
	sgverify "github.com/sigstore/sigstore-go/pkg/verify"
	"google.golang.org/protobuf/encoding/protojson"
)

const (
	githubIssuer = "https://token.actions.githubusercontent.com"
	workflowSAN  = "https://github.com/acme/app/.github/workflows/release.yml@refs/tags/v1.2.3"
)

var (
	artifact = []byte("the artifact\n")
	other    = []byte("another artifact\n")
	workflow = Identity{Subject: workflowSAN, Issuer: githubIssuer}
	email    = Identity{Subject: "jane@example.com", Issuer: "https://accounts.example.com"}
)

func statementFor(t testing.TB, subject []byte) []byte {
	t.Helper()
	sum := sha256.Sum256(subject)
	out, err := json.Marshal(map[string]any{
		"_type":         "https://in-toto.io/Statement/v1",
		"subject":       []any{map[string]any{"name": "artifact", "digest": map[string]string{"sha256": hex.EncodeToString(sum[:])}}},
		"predicateType": "https://slsa.dev/provenance/v1",
		"predicate":     map[string]any{},
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// check is one verification of a bundle by sigstore-go.
type check struct {
	rootJSON   []byte
	verifier   []sgverify.VerifierOption
	identity   Identity // the policy's, exact issuer and SAN
	extensions certificate.Extensions
	artifact   []byte // the message artifact, or the DSSE statement's subject
	dsse       bool
	allowChain bool
}

func (c check) run(t testing.TB, bundleJSON []byte) (*sgverify.VerificationResult, error) {
	t.Helper()
	var b bundle.Bundle
	if c.allowChain {
		bundle.AllowCertificateChain()(&b)
	}
	if err := b.UnmarshalJSON(bundleJSON); err != nil {
		return nil, err
	}
	tr, err := root.NewTrustedRootFromJSON(c.rootJSON)
	if err != nil {
		t.Fatalf("trusted root: %v", err)
	}
	v, err := sgverify.NewVerifier(tr, c.verifier...)
	if err != nil {
		t.Fatalf("verifier: %v", err)
	}
	san, err := sgverify.NewSANMatcher(c.identity.Subject, "")
	if err != nil {
		t.Fatal(err)
	}
	iss, err := sgverify.NewIssuerMatcher(c.identity.Issuer, "")
	if err != nil {
		t.Fatal(err)
	}
	ci, err := sgverify.NewCertificateIdentity(san, iss, c.extensions)
	if err != nil {
		t.Fatal(err)
	}
	art := sgverify.WithArtifact(bytes.NewReader(c.artifact))
	if c.dsse {
		sum := sha256.Sum256(c.artifact)
		art = sgverify.WithArtifactDigest("sha256", sum[:])
	}
	return v.Verify(&b, sgverify.NewPolicy(art, sgverify.WithCertificateIdentity(ci)))
}

var (
	withLog = []sgverify.VerifierOption{sgverify.WithTransparencyLog(1), sgverify.WithObserverTimestamps(1)}
	withTSA = []sgverify.VerifierOption{sgverify.WithSignedTimestamps(1)}
	withV2  = []sgverify.VerifierOption{sgverify.WithTransparencyLog(1), sgverify.WithSignedTimestamps(1)}
)

func TestVerify(t *testing.T) {
	s := New(t)
	stranger := New(t)
	fullRoot := s.TrustedRootJSON(t)
	tsaOnlyRoot := s.TrustedRootJSON(t, WithoutRekor())
	hourAgo := time.Now().Add(-time.Hour)
	stmt := statementFor(t, artifact)

	dsse := func(id Identity, opts ...BundleOption) []byte { return s.DSSEBundle(t, stmt, id, opts...) }
	msg := func(id Identity, opts ...BundleOption) []byte { return s.MessageBundle(t, artifact, id, opts...) }
	logDSSE := check{rootJSON: fullRoot, verifier: withLog, identity: workflow, artifact: artifact, dsse: true}
	logMsg := check{rootJSON: fullRoot, verifier: withLog, identity: workflow, artifact: artifact}
	tsaDSSE := check{rootJSON: tsaOnlyRoot, verifier: withTSA, identity: workflow, artifact: artifact, dsse: true}
	tsaMsg := check{rootJSON: tsaOnlyRoot, verifier: withTSA, identity: workflow, artifact: artifact}
	v2DSSE := check{rootJSON: fullRoot, verifier: withV2, identity: workflow, artifact: artifact, dsse: true}
	v2Msg := check{rootJSON: fullRoot, verifier: withV2, identity: workflow, artifact: artifact}
	with := func(c check, f func(*check)) check { f(&c); return c }

	for _, row := range []struct {
		name   string
		bundle []byte
		check  check
		ok     bool
	}{
		{"DSSE, Rekor v1 dsse entry", dsse(workflow), logDSSE, true},
		{"DSSE, Rekor v1 intoto entry", dsse(workflow, WithIntotoEntry()), logDSSE, true},
		{"DSSE, email SAN", dsse(email), with(logDSSE, func(c *check) { c.identity = email }), true},
		{"DSSE, TSA without log, root without Rekor", dsse(workflow, WithoutTlog(), WithTimestamp()), tsaDSSE, true},
		{"DSSE, TSA without log, full root", dsse(workflow, WithoutTlog(), WithTimestamp()), with(tsaDSSE, func(c *check) { c.rootJSON = fullRoot }), true},
		{"DSSE, Rekor v2 and TSA", dsse(workflow, WithRekorV2(), WithTimestamp()), v2DSSE, true},
		{"message, Rekor v1 hashedrekord entry", msg(workflow), logMsg, true},
		{"message, TSA without log", msg(workflow, WithoutTlog(), WithTimestamp()), tsaMsg, true},
		{"message, Rekor v2 and TSA", msg(workflow, WithRekorV2(), WithTimestamp()), v2Msg, true},
		{"message, log and TSA both required", msg(workflow, WithTimestamp()),
			with(logMsg, func(c *check) {
				c.verifier = []sgverify.VerifierOption{sgverify.WithTransparencyLog(1), sgverify.WithSignedTimestamps(1), sgverify.WithIntegratedTimestamps(1)}
			}), true},
		{"v0.3's other media type spelling", msg(workflow, WithMediaType("application/vnd.dev.sigstore.bundle+json;version=0.3")), logMsg, true},
		{"chain in a v0.1 bundle", msg(workflow, WithChain()), logMsg, true},
		{"chain in a v0.2 bundle with Rekor v2", msg(workflow, WithChain(), WithRekorV2(), WithTimestamp()), v2Msg, true},
		{"chain in v0.3, root without intermediate", msg(workflow, WithChain(), WithMediaType(MediaTypeV03)),
			with(logMsg, func(c *check) { c.rootJSON = s.TrustedRootJSON(t, WithoutFulcioIntermediate()); c.allowChain = true }), true},
		{"SCT required", dsse(workflow), with(logDSSE, func(c *check) {
			c.verifier = append([]sgverify.VerifierOption{sgverify.WithSignedCertificateTimestamps(1)}, withLog...)
		}), true},
		{"expired certificate, logged while valid", dsse(workflow, AtTime(hourAgo)), logDSSE, true},
		{"expired certificate, timestamped while valid", dsse(workflow, AtTime(hourAgo), WithoutTlog(), WithTimestamp()), tsaDSSE, true},

		{"wrong SAN", dsse(workflow), with(logDSSE, func(c *check) { c.identity.Subject = workflowSAN + "x" }), false},
		{"wrong issuer", dsse(workflow), with(logDSSE, func(c *check) { c.identity.Issuer = "https://gitlab.com" }), false},
		{"wrong identity, message", msg(email), logMsg, false},
		{"root of another Sigstore, DSSE", dsse(workflow), with(logDSSE, func(c *check) { c.rootJSON = stranger.TrustedRootJSON(t) }), false},
		{"root of another Sigstore, TSA", dsse(workflow, WithoutTlog(), WithTimestamp()), with(tsaDSSE, func(c *check) { c.rootJSON = stranger.TrustedRootJSON(t, WithoutRekor()) }), false},
		{"root of another Sigstore, message", msg(workflow), with(logMsg, func(c *check) { c.rootJSON = stranger.TrustedRootJSON(t) }), false},
		{"another artifact, DSSE", dsse(workflow), with(logDSSE, func(c *check) { c.artifact = other }), false},
		{"another artifact, message", msg(workflow), with(logMsg, func(c *check) { c.artifact = other }), false},
		{"another artifact, message, Rekor v2", msg(workflow, WithRekorV2(), WithTimestamp()), with(v2Msg, func(c *check) { c.artifact = other }), false},
		{"log entry for another statement", dsse(workflow, LogEntryFor(statementFor(t, other))), logDSSE, false},
		{"log entry for another artifact", msg(workflow, LogEntryFor(other)), logMsg, false},
		{"log entry for another artifact, Rekor v2", msg(workflow, LogEntryFor(other), WithRekorV2(), WithTimestamp()), v2Msg, false},
		{"log required, none", dsse(workflow, WithoutTlog(), WithTimestamp()), logDSSE, false},
		{"log required, root without Rekor", dsse(workflow), with(logDSSE, func(c *check) { c.rootJSON = tsaOnlyRoot }), false},
		{"Rekor v2 without timestamp", dsse(workflow, WithRekorV2()), with(v2DSSE, func(c *check) { c.verifier = withLog }), false},
		{"Rekor v2, root without the v2 log", dsse(workflow, WithRekorV2(), WithTimestamp()), with(v2DSSE, func(c *check) { c.rootJSON = s.TrustedRootJSON(t, WithoutRekorV2()) }), false},
		{"TSA required, root without TSA", dsse(workflow, WithoutTlog(), WithTimestamp()), with(tsaDSSE, func(c *check) { c.rootJSON = s.TrustedRootJSON(t, WithoutTSA()) }), false},
		{"SCT required, none", dsse(workflow, WithoutSCT()), with(logDSSE, func(c *check) {
			c.verifier = append([]sgverify.VerifierOption{sgverify.WithSignedCertificateTimestamps(1)}, withLog...)
		}), false},
		{"SCT required, root without CT log", dsse(workflow), with(logDSSE, func(c *check) {
			c.rootJSON = s.TrustedRootJSON(t, WithoutCTLog())
			c.verifier = append([]sgverify.VerifierOption{sgverify.WithSignedCertificateTimestamps(1)}, withLog...)
		}), false},
		{"expired certificate, current time", dsse(workflow, AtTime(hourAgo), WithoutTlog()),
			with(logDSSE, func(c *check) { c.verifier = []sgverify.VerifierOption{sgverify.WithCurrentTime()} }), false},
		{"chain in v0.1, root without intermediate (a v0.1 chain is not read)", msg(workflow, WithChain()),
			with(logMsg, func(c *check) { c.rootJSON = s.TrustedRootJSON(t, WithoutFulcioIntermediate()) }), false},
		{"chain in v0.3, not allowed", msg(workflow, WithChain(), WithMediaType(MediaTypeV03)), logMsg, false},
		{"log entry before the root's validity", dsse(workflow, AtTime(hourAgo)), with(logDSSE, func(c *check) { c.rootJSON = s.TrustedRootJSON(t, ValidFor(time.Now().Add(-time.Minute), time.Time{})) }), false},
	} {
		t.Run(row.name, func(t *testing.T) {
			_, err := row.check.run(t, row.bundle)
			if row.ok && err != nil {
				t.Fatalf("verify: %v\nbundle: %s", err, row.bundle)
			}
			if !row.ok && err == nil {
				t.Fatalf("verified; want an error\nbundle: %s", row.bundle)
			}
			if err != nil {
				t.Logf("error (as wanted): %v", err)
			}
		})
	}
}

// TestBundleShape checks the serialized bundles hold what the options say.
func TestBundleShape(t *testing.T) {
	s := New(t)
	parse := func(data []byte) *protobundle.Bundle {
		t.Helper()
		var b protobundle.Bundle
		if err := protojson.Unmarshal(data, &b); err != nil {
			t.Fatal(err)
		}
		return &b
	}
	stmt := statementFor(t, artifact)

	b := parse(s.DSSEBundle(t, stmt, workflow))
	if b.MediaType != MediaTypeV03 || b.GetVerificationMaterial().GetCertificate() == nil ||
		b.GetDsseEnvelope().GetPayloadType() != InTotoPayloadType || !bytes.Equal(b.GetDsseEnvelope().GetPayload(), stmt) {
		t.Errorf("DSSE bundle: %v", b)
	}
	tle := b.GetVerificationMaterial().GetTlogEntries()
	if len(tle) != 1 || tle[0].GetKindVersion().GetKind() != "dsse" || tle[0].GetIntegratedTime() == 0 ||
		tle[0].GetInclusionPromise() == nil || tle[0].GetInclusionProof() == nil || hex.EncodeToString(tle[0].GetLogId().GetKeyId()) != s.RekorLogID() {
		t.Errorf("DSSE bundle's log entry: %v", tle)
	}
	if b.GetVerificationMaterial().GetTimestampVerificationData() != nil {
		t.Error("timestamp without WithTimestamp")
	}

	b = parse(s.MessageBundle(t, artifact, workflow, WithRekorV2(), WithTimestamp(), AtTime(time.Unix(time.Now().Unix()-600, 0))))
	tle = b.GetVerificationMaterial().GetTlogEntries()
	if len(tle) != 1 || tle[0].GetKindVersion().GetKind() != "hashedrekord" || tle[0].GetKindVersion().GetVersion() != "0.0.2" ||
		tle[0].GetIntegratedTime() != 0 || tle[0].GetInclusionPromise() != nil || hex.EncodeToString(tle[0].GetLogId().GetKeyId()) != s.RekorV2LogID() ||
		!strings.HasPrefix(tle[0].GetInclusionProof().GetCheckpoint().GetEnvelope(), "log2025-1.rekor.fakesigstore.test\n") {
		t.Errorf("Rekor v2 entry: %v", tle)
	}
	if len(b.GetVerificationMaterial().GetTimestampVerificationData().GetRfc3161Timestamps()) != 1 {
		t.Error("no timestamp with WithTimestamp")
	}

	b = parse(s.MessageBundle(t, artifact, workflow, WithoutTlog(), WithChain()))
	chain := b.GetVerificationMaterial().GetX509CertificateChain().GetCertificates()
	if b.MediaType != MediaTypeV01 || len(chain) != 2 || !bytes.Equal(chain[1].RawBytes, s.FulcioIntermediate().Raw) ||
		len(b.GetVerificationMaterial().GetTlogEntries()) != 0 {
		t.Errorf("chain bundle without log: %v", b)
	}

	b = parse(s.DSSEBundle(t, []byte("not json"), workflow, WithPayloadType("text/plain"), WithoutTlog()))
	if b.GetDsseEnvelope().GetPayloadType() != "text/plain" {
		t.Errorf("payload type: %v", b.GetDsseEnvelope())
	}
}

// TestExtensions checks every Fulcio claim set in the identity is read back
// by certificate.SummarizeCertificate from the verified certificate, and
// that sigstore-go's policy matches on them.
func TestExtensions(t *testing.T) {
	s := New(t)
	ext := certificate.Extensions{
		SourceRepositoryURI:                 "https://github.com/acme/app",
		SourceRepositoryRef:                 "refs/tags/v1.2.3",
		SourceRepositoryDigest:              "0123456789abcdef0123456789abcdef01234567",
		BuildSignerURI:                      workflowSAN,
		BuildSignerDigest:                   "89abcdef0123456789abcdef0123456789abcdef",
		RunnerEnvironment:                   "github-hosted",
		BuildTrigger:                        "push",
		SourceRepositoryIdentifier:          "123",
		SourceRepositoryOwnerURI:            "https://github.com/acme",
		SourceRepositoryOwnerIdentifier:     "456",
		BuildConfigURI:                      workflowSAN,
		BuildConfigDigest:                   "0123456789abcdef0123456789abcdef01234567",
		RunInvocationURI:                    "https://github.com/acme/app/actions/runs/1/attempts/1",
		SourceRepositoryVisibilityAtSigning: "public",
		GithubWorkflowTrigger:               "push",
		GithubWorkflowSHA:                   "0123456789abcdef0123456789abcdef01234567",
		GithubWorkflowName:                  "release",
		GithubWorkflowRepository:            "acme/app",
		GithubWorkflowRef:                   "refs/tags/v1.2.3",
	}
	id := Identity{Subject: workflowSAN, Issuer: githubIssuer, Extensions: ext}
	c := check{rootJSON: s.TrustedRootJSON(t), verifier: withLog, identity: workflow, artifact: artifact, dsse: true, extensions: certificate.Extensions{
		SourceRepositoryURI: ext.SourceRepositoryURI, SourceRepositoryRef: ext.SourceRepositoryRef, RunnerEnvironment: ext.RunnerEnvironment,
	}}
	for _, name := range []string{"DSSE", "message"} {
		t.Run(name, func(t *testing.T) {
			var data []byte
			c.dsse = name == "DSSE"
			if c.dsse {
				data = s.DSSEBundle(t, statementFor(t, artifact), id)
			} else {
				data = s.MessageBundle(t, artifact, id)
			}
			res, err := c.run(t, data)
			if err != nil {
				t.Fatal(err)
			}
			got := res.Signature.Certificate
			want := ext
			want.Issuer = githubIssuer
			if got.Issuer != githubIssuer || got.SubjectAlternativeName != workflowSAN || got.Extensions != want {
				t.Errorf("verified certificate:\n got %+v\nwant %+v", *got, want)
			}
			var b bundle.Bundle
			if err := b.UnmarshalJSON(data); err != nil {
				t.Fatal(err)
			}
			vc, err := b.VerificationContent()
			if err != nil {
				t.Fatal(err)
			}
			summary, err := certificate.SummarizeCertificate(vc.Certificate())
			if err != nil {
				t.Fatal(err)
			}
			if summary.Extensions != want || summary.SubjectAlternativeName != workflowSAN {
				t.Errorf("SummarizeCertificate:\n got %+v\nwant %+v", summary.Extensions, want)
			}

			wrong := c
			wrong.extensions.SourceRepositoryRef = "refs/heads/main"
			if _, err := wrong.run(t, data); err == nil {
				t.Error("verified with a policy wanting another ref")
			}
		})
	}
}

func TestWriteTrustedRoot(t *testing.T) {
	s := New(t)
	path := filepath.Join(t.TempDir(), "trusted_root.json")
	s.WriteTrustedRoot(t, path, WithoutRekor())
	tr, err := root.NewTrustedRootFromPath(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(tr.RekorLogs()) != 0 || len(tr.TimestampingAuthorities()) != 1 || len(tr.FulcioCertificateAuthorities()) != 1 || len(tr.CTLogs()) != 1 {
		t.Errorf("root without Rekor: %d logs, %d TSAs, %d CAs, %d CT logs",
			len(tr.RekorLogs()), len(tr.TimestampingAuthorities()), len(tr.FulcioCertificateAuthorities()), len(tr.CTLogs()))
	}
	tr, err = root.NewTrustedRootFromJSON(s.TrustedRootJSON(t))
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := tr.RekorLogs()[s.RekorLogID()]; !ok || len(tr.RekorLogs()) != 2 {
		t.Errorf("full root's logs: %v", tr.RekorLogs())
	}
	if _, ok := tr.RekorLogs()[s.RekorV2LogID()]; !ok {
		t.Errorf("full root's logs lack the v2 log: %v", tr.RekorLogs())
	}
}

// TestCertificate checks a certificate issued for a key of one's own (as
// cosign sign --certificate takes it) chains to the Fulcio root with its SCT,
// and that a bundle made from it by hand with Timestamp verifies.
func TestCertificate(t *testing.T) {
	s := New(t)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	at := time.Now().Add(-time.Hour).Truncate(time.Second)
	cert := s.Certificate(t, &key.PublicKey, workflow, AtTime(at))
	if !cert.NotBefore.Equal(at) || !cert.NotAfter.Equal(at.Add(LeafValidity)) {
		t.Errorf("validity %v to %v, want from %v for %v", cert.NotBefore, cert.NotAfter, at, LeafValidity)
	}
	tr := s.TrustedRoot(t)
	chains, err := sgverify.VerifyLeafCertificate(at, cert, tr)
	if err != nil {
		t.Fatal(err)
	}
	if err := sgverify.VerifySignedCertificateTimestamp(chains, 1, tr); err != nil {
		t.Errorf("SCT: %v", err)
	}
	if _, err := sgverify.VerifyLeafCertificate(time.Now(), cert, tr); err == nil {
		t.Error("certificate valid an hour after issuance")
	}
	if _, err := sgverify.VerifyLeafCertificate(at, cert, New(t).TrustedRoot(t)); err == nil {
		t.Error("certificate valid under another Sigstore's root")
	}
	noSCT := s.Certificate(t, &key.PublicKey, workflow, WithoutSCT())
	if chains, err := sgverify.VerifyLeafCertificate(time.Now(), noSCT, tr); err != nil {
		t.Fatal(err)
	} else if err := sgverify.VerifySignedCertificateTimestamp(chains, 1, tr); err == nil {
		t.Error("SCT verified in a certificate made WithoutSCT")
	}

	// A message signature bundle as cosign sign-blob --key --certificate
	// --tlog-upload=false --rfc3161-timestamp writes it.
	digest := sha256.Sum256(artifact)
	sig, err := ecdsa.SignASN1(rand.Reader, key, digest[:])
	if err != nil {
		t.Fatal(err)
	}
	data, err := protojson.Marshal(&protobundle.Bundle{
		MediaType: MediaTypeV03,
		VerificationMaterial: &protobundle.VerificationMaterial{
			Content: &protobundle.VerificationMaterial_Certificate{Certificate: &protocommon.X509Certificate{RawBytes: cert.Raw}},
			TimestampVerificationData: &protobundle.TimestampVerificationData{
				Rfc3161Timestamps: []*protocommon.RFC3161SignedTimestamp{{SignedTimestamp: s.Timestamp(t, sig, at.Add(time.Minute))}},
			},
		},
		Content: &protobundle.Bundle_MessageSignature{MessageSignature: &protocommon.MessageSignature{
			MessageDigest: &protocommon.HashOutput{Algorithm: protocommon.HashAlgorithm_SHA2_256, Digest: digest[:]},
			Signature:     sig,
		}},
	})
	if err != nil {
		t.Fatal(err)
	}
	c := check{rootJSON: s.TrustedRootJSON(t, WithoutRekor()), verifier: withTSA, identity: workflow, artifact: artifact}
	if _, err := c.run(t, data); err != nil {
		t.Errorf("hand-made bundle: %v", err)
	}
}

// TestServeTSA checks the TSA served over HTTP answers an RFC 3161 request
// with a timestamp the trusted root's TSA verifies, and that WithExtraTSA
// trusts another Sigstore's TSA.
func TestServeTSA(t *testing.T) {
	s, stranger := New(t), New(t)
	sig := []byte("signature bytes")
	req, err := timestamp.CreateRequest(bytes.NewReader(sig), &timestamp.RequestOptions{Hash: crypto.SHA256, Certificates: true, Nonce: big.NewInt(42)})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Post(stranger.ServeTSA(t), "application/timestamp-query", bytes.NewReader(req))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	tsr, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("%s: %s %v", resp.Status, tsr, err)
	}
	verify := func(tr *root.TrustedRoot) error {
		var errs []error
		for _, tsa := range tr.TimestampingAuthorities() {
			ts, err := tsa.Verify(tsr, sig)
			if err == nil {
				if time.Since(ts.Time) > time.Minute {
					return fmt.Errorf("timestamp at %v", ts.Time)
				}
				return nil
			}
			errs = append(errs, err)
		}
		return fmt.Errorf("no TSA verifies: %v", errs)
	}
	if err := verify(stranger.TrustedRoot(t)); err != nil {
		t.Error(err)
	}
	if err := verify(s.TrustedRoot(t)); err == nil {
		t.Error("another Sigstore's TSA verified the timestamp")
	}
	if err := verify(s.TrustedRoot(t, WithExtraTSA("https://tsa.example", stranger.TSAChain()...))); err != nil {
		t.Errorf("WithExtraTSA: %v", err)
	}
	if parsed, err := timestamp.ParseResponse(tsr); err != nil || parsed.Nonce.Int64() != 42 || len(parsed.Certificates) == 0 {
		t.Errorf("response: nonce and certificate not returned: %+v %v", parsed, err)
	}
	if got := PEM(stranger.TSAChain()...); bytes.Count(got, []byte("BEGIN CERTIFICATE")) != 3 {
		t.Errorf("PEM: %s", got)
	}
}
