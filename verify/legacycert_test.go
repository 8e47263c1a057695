package verify

import (
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"strings"
	"testing"
	"time"

	"github.com/sigstore/sigstore-go/pkg/fulcio/certificate"

	"github.com/imgsign/imgsign/internal/testing/fakesigstore"
	"github.com/imgsign/imgsign/statement"
)

// asLegacy turns a certificate-based bundle into what cosign's legacy
// layout stores for it: the annotations beside the layer (certificate,
// Rekor bundle, timestamp, and for a message signature the signature), and
// for a DSSE bundle the envelope the .att layer holds.
func asLegacy(t *testing.T, raw []byte) (ann map[string]string, envelope []byte) {
	t.Helper()
	var b struct {
		VerificationMaterial struct {
			Certificate struct{ RawBytes []byte } `json:"certificate"`
			TlogEntries []struct {
				LogIndex         string                 `json:"logIndex"`
				LogID            struct{ KeyID []byte } `json:"logId"`
				IntegratedTime   string                 `json:"integratedTime"`
				InclusionPromise struct {
					SignedEntryTimestamp []byte `json:"signedEntryTimestamp"`
				} `json:"inclusionPromise"`
				CanonicalizedBody []byte `json:"canonicalizedBody"`
			} `json:"tlogEntries"`
			TimestampVerificationData struct {
				RFC3161Timestamps []struct{ SignedTimestamp []byte } `json:"rfc3161Timestamps"`
			} `json:"timestampVerificationData"`
		} `json:"verificationMaterial"`
		MessageSignature struct{ Signature []byte } `json:"messageSignature"`
		DSSEEnvelope     *struct {
			Payload     []byte `json:"payload"`
			PayloadType string `json:"payloadType"`
			Signatures  []struct {
				Sig []byte `json:"sig"`
			} `json:"signatures"`
		} `json:"dsseEnvelope"`
	}
	if err := json.Unmarshal(raw, &b); err != nil {
		t.Fatal(err)
	}
	vm := b.VerificationMaterial
	ann = map[string]string{legacyCertificateAnnotation: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: vm.Certificate.RawBytes}))}
	for _, e := range vm.TlogEntries {
		var rb legacyRekorBundle
		rb.SignedEntryTimestamp = base64.StdEncoding.EncodeToString(e.InclusionPromise.SignedEntryTimestamp)
		rb.Payload.Body = base64.StdEncoding.EncodeToString(e.CanonicalizedBody)
		rb.Payload.LogID = hex.EncodeToString(e.LogID.KeyID)
		_ = json.Unmarshal([]byte(e.IntegratedTime), &rb.Payload.IntegratedTime)
		_ = json.Unmarshal([]byte(e.LogIndex), &rb.Payload.LogIndex)
		j, _ := json.Marshal(rb)
		ann[legacyRekorAnnotation] = string(j)
	}
	for _, ts := range vm.TimestampVerificationData.RFC3161Timestamps {
		j, _ := json.Marshal(map[string]string{"SignedRFC3161Timestamp": base64.StdEncoding.EncodeToString(ts.SignedTimestamp)})
		ann[legacyTimestampAnnotation] = string(j)
	}
	if env := b.DSSEEnvelope; env != nil {
		envelope, _ = json.Marshal(map[string]any{"payloadType": env.PayloadType, "payload": base64.StdEncoding.EncodeToString(env.Payload),
			"signatures": []map[string]string{{"keyid": "", "sig": base64.StdEncoding.EncodeToString(env.Signatures[0].Sig)}}})
		return ann, envelope
	}
	ann[legacySignatureAnnotation] = base64.StdEncoding.EncodeToString(b.MessageSignature.Signature)
	return ann, nil
}

// cosign's legacy .sig and .att layers signed with a certificate count for
// the policy identity the certificate is, checked by sigstore-go exactly as
// the bundle their annotations make; tampering with any part is refused.
func TestLegacyCertificateLayers(t *testing.T) {
	fs := fakesigstore.New(t)
	p := keylessPolicy(t, fs.TrustedRoot(t), true, release())
	good := ghIdentity(ghWorkflow, certificate.Extensions{})
	payload := simpleSigning(subjectA.String(), "example.com/app")
	sigAnn, _ := asLegacy(t, fs.MessageBundle(t, payload, good))
	stmt := stmtJSON(subjectA.Hex, statement.SLSAProvenanceV1)
	attAnn, env := asLegacy(t, fs.DSSEBundle(t, stmt, good, fakesigstore.WithIntotoEntry()))
	oldAnn, _ := asLegacy(t, fs.MessageBundle(t, payload, good, fakesigstore.AtTime(time.Now().Add(-2*time.Hour))))
	stampedAnn, _ := asLegacy(t, fs.MessageBundle(t, payload, good, fakesigstore.WithTimestamp()))
	with := func(ann map[string]string, k, v string) map[string]string {
		out := map[string]string{}
		for a, b := range ann {
			out[a] = b
		}
		if v == "" {
			delete(out, k)
		} else {
			out[k] = v
		}
		return out
	}
	otherCert, _ := asLegacy(t, fakesigstore.New(t).MessageBundle(t, payload, good))
	wrongID, _ := asLegacy(t, fs.MessageBundle(t, payload, ghIdentity(ghWorkflow, certificate.Extensions{RunnerEnvironment: "self-hosted"})))

	cases := []struct {
		name    string
		att     bool
		payload []byte
		ann     map[string]string
		code    Code   // "" = counts
		says    string // reason part, or time source prefix
	}{
		{".sig, logged", false, payload, sigAnn, "", "tlog:"},
		{".sig, certificate expired, logged while valid", false, payload, oldAnn, "", "tlog:"},
		{".sig, logged and timestamped", false, payload, stampedAnn, "", ""},
		{".att, intoto entry", true, env, attAnn, "", "tlog:"},
		{".sig, another payload under the signature", false, simpleSigning(subjectB.String(), "example.com/app"), sigAnn, CodeSignatureInvalid, "does not verify"},
		{".sig, no log entry", false, payload, with(sigAnn, legacyRekorAnnotation, ""), CodeSignatureInvalid, "does not verify"},
		{".sig, Rekor bundle of another signature", false, payload, with(sigAnn, legacyRekorAnnotation, stampedAnn[legacyRekorAnnotation]), CodeSignatureInvalid, "does not verify"},
		{".sig, certificate of another CA", false, payload, with(sigAnn, legacyCertificateAnnotation, otherCert[legacyCertificateAnnotation]), CodeSignatureInvalid, "does not verify"},
		{".sig, a self-hosted runner", false, payload, wrongID, CodeUntrustedKey, "runnerEnvironment"},
		{".sig, not a certificate", false, payload, with(sigAnn, legacyCertificateAnnotation, "-----BEGIN PUBLIC KEY-----\nMFk=\n-----END PUBLIC KEY-----\n"), CodeMalformed, "not a certificate"},
		{".sig, Rekor bundle not JSON", false, payload, with(sigAnn, legacyRekorAnnotation, "{"), CodeMalformed, "Rekor bundle"},
	}
	ft := newFuzzTrust(t)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var c candidate
			if tc.att {
				c = checkLegacyAttestation(tc.payload, tc.ann, subjectA, p, ft.verifier.verifiers, time.Now())
			} else {
				c = checkLegacySignature(tc.payload, tc.ann, subjectA, p, ft.verifier.verifiers, time.Now())
			}
			if tc.code == "" {
				if c.err != nil || c.key == nil || c.key.Name != "release" || c.certificate == nil {
					t.Fatalf("refused: %v", c.err)
				}
				if !strings.HasPrefix(c.timeSource, tc.says) || c.signedAt.IsZero() {
					t.Fatalf("time %v from %q", c.signedAt, c.timeSource)
				}
				return
			}
			if c.err == nil || c.key != nil {
				t.Fatalf("counted for %v", c.key)
			}
			if got := candidateCode(c.err); got != tc.code || !strings.Contains(c.err.Error(), tc.says) {
				t.Fatalf("%s: %v; want %s saying %q", got, c.err, tc.code, tc.says)
			}
		})
	}
}
