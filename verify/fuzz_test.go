package verify

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/secure-systems-lab/go-securesystemslib/dsse"
	"github.com/sigstore/sigstore-go/pkg/bundle"

	"github.com/imgsign/imgsign/keys"
	"github.com/imgsign/imgsign/sign"
	"github.com/imgsign/imgsign/statement"
	"github.com/imgsign/imgsign/verify/policy"
)

// fuzzTrust is what the verify-side fuzz targets check against: a policy
// trusting an ECDSA P-256 key k and an Ed25519 key e, their signers, and a
// key the policy does not list.
type fuzzTrust struct {
	policy   *policy.Policy
	verifier *Verifier
	k, e, x  crypto.Signer
	sk, se   *keys.Signer
	sx       *keys.Signer
}

func newFuzzTrust(tb testing.TB) *fuzzTrust {
	tb.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	_, e, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	x, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	ft := &fuzzTrust{k: k, e: e, x: x}
	for _, s := range []struct {
		priv crypto.Signer
		out  **keys.Signer
	}{{k, &ft.sk}, {e, &ft.se}, {x, &ft.sx}} {
		if *s.out, err = keys.FromPrivateKey(s.priv); err != nil {
			tb.Fatal(err)
		}
	}
	var b strings.Builder
	b.WriteString("version: 1\nkeys:\n")
	for name, priv := range map[string]crypto.Signer{"k": k, "e": e} {
		pem, err := keys.EncodePublic(priv.Public())
		if err != nil {
			tb.Fatal(err)
		}
		fmt.Fprintf(&b, "  - name: %s\n    publicKey: |\n      %s\n", name, strings.ReplaceAll(strings.TrimSpace(string(pem)), "\n", "\n      "))
	}
	b.WriteString("policies:\n  - name: p\n    scopes: [\"example.com/**\"]\n    signatures:\n      keys: [k, e]\n")
	if ft.policy, err = policy.Parse([]byte(b.String()), ""); err != nil {
		tb.Fatalf("policy: %v\n%s", err, b.String())
	}
	ft.verifier = New(nil, ft.policy)
	return ft
}

// bundle signs statement bytes into a Sigstore bundle, as imgsign writes it.
func (ft *fuzzTrust) bundle(tb testing.TB, s *keys.Signer, statement []byte) []byte {
	tb.Helper()
	b, err := sign.Bundle(context.Background(), statement, s, "")
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// editJSON decodes a bundle, lets edit change it, and encodes it again.
func editJSON(tb testing.TB, raw []byte, edit func(map[string]any)) []byte {
	tb.Helper()
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		tb.Fatal(err)
	}
	edit(m)
	out, err := json.Marshal(m)
	if err != nil {
		tb.Fatal(err)
	}
	return out
}

// signedBy reports whether sig is a signature by pub over the DSSE PAE of
// the payload, checked with the standard library alone (not the code under
// test). Ed25519 keys sign pure or Ed25519ph, as verify accepts.
func signedBy(pub crypto.PublicKey, payloadType string, payload, sig []byte) bool {
	pae := dsse.PAE(payloadType, payload)
	switch pub := pub.(type) {
	case *ecdsa.PublicKey:
		sum := sha256.Sum256(pae)
		return ecdsa.VerifyASN1(pub, sum[:], sig)
	case ed25519.PublicKey:
		if ed25519.Verify(pub, pae, sig) {
			return true
		}
		sum := sha512.Sum512(pae)
		return ed25519.VerifyWithOptions(pub, sum[:], sig, &ed25519.Options{Hash: crypto.SHA512}) == nil
	}
	return false
}

// fuzzStatement is the part of an in-toto statement the properties read.
type fuzzStatement struct {
	Subject []struct {
		Digest map[string]string `json:"digest"`
	} `json:"subject"`
	PredicateType string `json:"predicateType"`
}

// onlyNames reports whether a statement has subjects and each is hex by
// its sha256 digest, spelled exactly so, and nothing else: a statement that
// also names other digests is not a signature of this image alone, so it
// must never be accepted as one.
func (st fuzzStatement) onlyNames(hex string) bool {
	for _, s := range st.Subject {
		if len(s.Digest) != 1 || s.Digest["sha256"] != hex {
			return false
		}
	}
	return len(st.Subject) > 0
}

// checkAccepted asserts what a candidate checkBundle accepted must be: a
// policy key's signature over a statement about subjectA alone, whose predicate
// type is the one reported.
func checkAccepted(t *testing.T, c candidate, raw []byte) {
	t.Helper()
	if c.key == nil {
		if c.err == nil {
			t.Fatal("checkBundle returned neither a key nor an error")
		}
		return
	}
	if c.err != nil {
		t.Fatalf("checkBundle returned key %s and error %v", c.key.Name, c.err)
	}
	var b bundle.Bundle
	if err := b.UnmarshalJSON(raw); err != nil {
		t.Fatalf("accepted a bundle that does not parse: %v", err)
	}
	env := b.GetDsseEnvelope()
	if env == nil || len(env.GetSignatures()) != 1 {
		t.Fatalf("accepted an envelope with %d signatures", len(env.GetSignatures()))
	}
	if !signedBy(c.key.Public, env.GetPayloadType(), env.GetPayload(), env.GetSignatures()[0].GetSig()) {
		t.Fatalf("accepted a signature key %s did not make", c.key.Name)
	}
	var st fuzzStatement
	if err := json.Unmarshal(env.GetPayload(), &st); err != nil {
		t.Fatalf("accepted a payload that is not a JSON statement: %v", err)
	}
	if !st.onlyNames(subjectA.Hex) {
		t.Fatalf("accepted a statement about %+v, not %s", st.Subject, subjectA)
	}
	if st.PredicateType != c.predicateType {
		t.Fatalf("reported predicate type %q, the statement says %q", c.predicateType, st.PredicateType)
	}
	// What conditions and tag binding read is the same statement.
	raw2, err := json.Marshal(c.statement.Document())
	if err != nil {
		t.Fatal(err)
	}
	var seen fuzzStatement
	if err := json.Unmarshal(raw2, &seen); err != nil || !seen.onlyNames(subjectA.Hex) {
		t.Fatalf("the decoded statement %s is not about %s", raw2, subjectA)
	}
}

// FuzzCheckBundle: whatever bytes a registry serves as a bundle, checkBundle
// never panics, and what it accepts is a trusted key's own signature over a
// statement about the image (a mutated bundle is never accepted).
func FuzzCheckBundle(f *testing.F) {
	ft := newFuzzTrust(f)
	sigA := ft.bundle(f, ft.sk, stmtJSON(subjectA.Hex, statement.Signature))
	for _, seed := range [][]byte{
		sigA,
		ft.bundle(f, ft.se, stmtJSON(subjectA.Hex, statement.Signature)),
		ft.bundle(f, ft.sk, stmtJSON(subjectA.Hex, statement.SLSAProvenanceV1)),
		ft.bundle(f, ft.sk, stmtJSON(subjectB.Hex, statement.Signature)),
		ft.bundle(f, ft.sx, stmtJSON(subjectA.Hex, statement.Signature)),
		ft.bundle(f, ft.sk, []byte(`{"_type":"https://in-toto.io/Statement/v1","subject":[{"name":"a","digest":{"sha256":"`+subjectB.Hex+`"}},{"name":"a","digest":{"sha256":"`+subjectA.Hex+`"}}],"predicateType":"x","predicate":{}}`)),
		ft.bundle(f, ft.sk, []byte(`{"_type":"https://in-toto.io/Statement/v1","subject":[{"name":"a","digest":{"sha512":"`+strings.Repeat("a", 128)+`"}}],"predicateType":"x","predicate":{}}`)),
		ft.bundle(f, ft.sk, []byte(`{"_type":"https://in-toto.io/Statement/v1","subject":[],"predicateType":"x"}`)),
		// No hint: every policy key is tried.
		editJSON(f, sigA, func(m map[string]any) {
			delete(m["verificationMaterial"].(map[string]any)["publicKey"].(map[string]any), "hint")
		}),
		// Another key's signature under the trusted key's hint.
		editJSON(f, ft.bundle(f, ft.sx, stmtJSON(subjectA.Hex, statement.Signature)), func(m map[string]any) {
			var a map[string]any
			if err := json.Unmarshal(sigA, &a); err != nil {
				f.Fatal(err)
			}
			m["verificationMaterial"] = a["verificationMaterial"]
		}),
		// The same signature twice.
		editJSON(f, sigA, func(m map[string]any) {
			env := m["dsseEnvelope"].(map[string]any)
			sigs := env["signatures"].([]any)
			env["signatures"] = append(sigs, sigs[0])
		}),
		// A payload about another image under a signature about this one.
		editJSON(f, sigA, func(m map[string]any) {
			m["dsseEnvelope"].(map[string]any)["payload"] = base64.StdEncoding.EncodeToString(stmtJSON(subjectB.Hex, statement.Signature))
		}),
		editJSON(f, sigA, func(m map[string]any) {
			m["verificationMaterial"].(map[string]any)["timestampVerificationData"] = map[string]any{"rfc3161Timestamps": []any{map[string]any{"signedTimestamp": "MAA="}}}
		}),
		editJSON(f, sigA, func(m map[string]any) { m["mediaType"] = "application/vnd.dev.sigstore.bundle+json;version=0.1" }),
		[]byte(`{}`), []byte(`null`), []byte(`{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json","dsseEnvelope":{}}`), []byte("\xff"),
	} {
		f.Add(seed)
	}
	now := time.Unix(1.8e9, 0)
	f.Fuzz(func(t *testing.T, raw []byte) {
		c := checkBundle(raw, subjectA, ft.policy, ft.verifier.verifiers, nil, now)
		checkAccepted(t, c, raw)
	})
}

// FuzzCheckSignedStatement: a trusted key signs whatever statement it is
// given (a build's output, say); checkBundle counts it only when the
// statement is about the image.
func FuzzCheckSignedStatement(f *testing.F) {
	ft := newFuzzTrust(f)
	for _, seed := range [][]byte{
		stmtJSON(subjectA.Hex, statement.Signature),
		stmtJSON(subjectB.Hex, statement.SLSAProvenanceV1),
		stmtJSONWith(subjectA.Hex, statement.SLSAProvenanceV1, `{"runDetails":{"metadata":{"finishedOn":"2026-01-01T00:00:00Z"}}}`),
		[]byte(`{"_type":"https://in-toto.io/Statement/v1","subject":[{"name":"a","digest":{"sha256":"` + subjectB.Hex + `"}},{"name":"a","digest":{"sha256":"` + subjectA.Hex + `"}}],"predicateType":"x","predicate":{}}`),
		[]byte(`{"_type":"https://in-toto.io/Statement/v1","subject":[{"name":"a","digest":{"sha256":"` + strings.ToUpper(subjectA.Hex) + `"}}],"predicateType":"x"}`),
		[]byte(`{"_type":"https://in-toto.io/Statement/v1","subject":[{"name":"a","digest":{"sha256":"` + subjectB.Hex + `"}}],"subject":[{"name":"a","digest":{"sha256":"` + subjectA.Hex + `"}}],"predicateType":"x"}`),
		[]byte(`{"_type":"https://in-toto.io/Statement/v0.1","subject":[{"digest":{"sha256":"` + subjectA.Hex + `"}}],"predicateType":"x"}`),
		[]byte(`{"subject":[{"digest":{"sha256":"` + subjectA.Hex + `","sha512":""}}]}`),
		[]byte(`{"_type":"https://in-toto.io/Statement/v1","subject":[{"digest":{}}],"predicateType":"x"}`),
		[]byte(`{"_type":"https://in-toto.io/Statement/v1","subject":[{"digest":{"SHA256":"` + subjectA.Hex + `"}}],"predicateType":"x"}`),
		[]byte(`[]`), []byte(`"x"`), {},
	} {
		f.Add(seed, false)
		f.Add(seed, true)
	}
	now := time.Unix(1.8e9, 0)
	f.Fuzz(func(t *testing.T, stmt []byte, ed bool) {
		s := ft.sk
		if ed {
			s = ft.se
		}
		raw := ft.bundle(t, s, stmt)
		c := checkBundle(raw, subjectA, ft.policy, ft.verifier.verifiers, nil, now)
		checkAccepted(t, c, raw)
		if c.key != nil && !bytes.Contains(raw, []byte(base64.StdEncoding.EncodeToString(stmt))) {
			t.Fatal("accepted a bundle whose payload is not the statement signed")
		}
	})
}

// signRaw signs data as cosign's legacy layout does: the raw bytes (a .sig
// payload, or a DSSE PAE), no envelope.
func signRaw(tb testing.TB, s *keys.Signer, data []byte) []byte {
	tb.Helper()
	sig, _, err := s.SignData(context.Background(), data)
	if err != nil {
		tb.Fatal(err)
	}
	return sig
}

// signedRaw reports whether sig is pub's signature over data, checked with
// the standard library alone.
func signedRaw(pub crypto.PublicKey, data, sig []byte) bool {
	switch pub := pub.(type) {
	case *ecdsa.PublicKey:
		sum := sha256.Sum256(data)
		return ecdsa.VerifyASN1(pub, sum[:], sig)
	case ed25519.PublicKey:
		if ed25519.Verify(pub, data, sig) {
			return true
		}
		sum := sha512.Sum512(data)
		return ed25519.VerifyWithOptions(pub, sum[:], sig, &ed25519.Options{Hash: crypto.SHA512}) == nil
	}
	return false
}

// FuzzCheckLegacySignature: a cosign legacy .sig layer — payload and
// signature annotation, both from the registry — counts only when a policy
// key signed exactly that payload and it names the image by its digest. With
// signIt the trusted key signs the fuzzed payload (a signer that signs what
// it is given), so the payload checks are reached.
func FuzzCheckLegacySignature(f *testing.F) {
	ft := newFuzzTrust(f)
	good := simpleSigning(subjectA.String(), "example.com/app")
	b64 := base64.StdEncoding.EncodeToString
	for _, seed := range []struct {
		payload []byte
		ann     string
		signIt  bool
	}{
		{good, b64(signRaw(f, ft.sk, good)), false},
		{good, base64.URLEncoding.EncodeToString(signRaw(f, ft.se, good)), false},
		{good, b64(signRaw(f, ft.sx, good)), false},
		{simpleSigning(subjectB.String(), "example.com/app"), b64(signRaw(f, ft.sk, good)), false},
		{good, "", true},
		{simpleSigning(subjectB.String(), "example.com/app"), "", true},
		{simpleSigning(strings.ToUpper(subjectA.String()), "example.com/app"), "", true},
		{[]byte(`{"critical":{"image":{"docker-manifest-digest":"` + subjectA.String() + `"},"type":"cosign container image signature"}}`), "", true},
		{[]byte(`{"critical":{"image":{"docker-manifest-digest":"` + subjectA.String() + `"},"type":"x"}}`), "", true},
		{[]byte(`{"critical":{"image":{"docker-manifest-digest":"` + subjectB.String() + `"},"type":"cosign container image signature"},"critical":{"image":{"docker-manifest-digest":"` + subjectA.String() + `"},"type":"cosign container image signature"}}`), "", true},
		{[]byte(`null`), "", true}, {[]byte(`[]`), "!!", false}, {nil, "", false},
	} {
		f.Add(seed.payload, seed.ann, seed.signIt)
	}
	now := time.Unix(1.8e9, 0)
	f.Fuzz(func(t *testing.T, payload []byte, ann string, signIt bool) {
		if signIt {
			ann = b64(signRaw(t, ft.sk, payload))
		}
		c := checkLegacySignature(payload, map[string]string{legacySignatureAnnotation: ann}, subjectA, ft.policy, ft.verifier.verifiers, now)
		if c.key == nil {
			if c.err == nil {
				t.Fatal("neither a key nor an error")
			}
			return
		}
		if c.err != nil {
			t.Fatalf("key %s and error %v", c.key.Name, c.err)
		}
		sig, err := decodeB64(ann)
		if err != nil || !signedRaw(c.key.Public, payload, sig) {
			t.Fatalf("accepted a signature key %s did not make over the payload", c.key.Name)
		}
		var sci struct {
			Critical struct {
				Image struct {
					Digest string `json:"docker-manifest-digest"`
				} `json:"image"`
				Type string `json:"type"`
			} `json:"critical"`
		}
		if err := json.Unmarshal(payload, &sci); err != nil {
			t.Fatalf("accepted a payload that is not JSON: %v", err)
		}
		if sci.Critical.Type != cosignSignatureType || sci.Critical.Image.Digest != subjectA.String() {
			t.Fatalf("accepted a payload about %q (type %q), not %s", sci.Critical.Image.Digest, sci.Critical.Type, subjectA)
		}
		if c.predicateType != statement.Signature {
			t.Fatalf("a .sig layer reported predicate type %q", c.predicateType)
		}
	})
}

// FuzzCheckLegacyAttestation: a cosign legacy .att layer counts only when a
// policy key signed its DSSE envelope's in-toto statement and the statement
// is about the image alone. With signIt the fuzzed bytes are the statement
// and the trusted key signs it; otherwise they are the whole envelope.
func FuzzCheckLegacyAttestation(f *testing.F) {
	ft := newFuzzTrust(f)
	envelopeBy := func(s *keys.Signer, body []byte) []byte {
		raw, err := json.Marshal(dsse.Envelope{PayloadType: statement.PayloadType, Payload: base64.StdEncoding.EncodeToString(body),
			Signatures: []dsse.Signature{{Sig: base64.StdEncoding.EncodeToString(signRaw(f, s, dsse.PAE(statement.PayloadType, body)))}}})
		if err != nil {
			f.Fatal(err)
		}
		return raw
	}
	good := stmtJSON(subjectA.Hex, statement.SLSAProvenanceV1)
	two := []byte(`{"_type":"https://in-toto.io/Statement/v1","subject":[{"name":"a","digest":{"sha256":"` + subjectB.Hex + `"}},{"name":"a","digest":{"sha256":"` + subjectA.Hex + `"}}],"predicateType":"x","predicate":{}}`)
	for _, seed := range []struct {
		raw    []byte
		signIt bool
	}{
		{envelopeBy(ft.sk, good), false},
		{envelopeBy(ft.se, good), false},
		{envelopeBy(ft.sx, good), false},
		{envelopeBy(ft.sk, stmtJSON(subjectB.Hex, statement.SLSAProvenanceV1)), false},
		{envelopeBy(ft.sk, two), false},
		{good, true},
		{two, true},
		{stmtJSON(subjectB.Hex, statement.SLSAProvenanceV1), true},
		{[]byte(`{"_type":"https://in-toto.io/Statement/v0.1","subject":[{"digest":{"sha256":"` + subjectA.Hex + `"}}],"predicateType":"x"}`), true},
		{[]byte(`{"_type":"https://in-toto.io/Statement/v1","subject":[{"digest":{"sha256":"` + subjectA.Hex + `","sha512":"00"}}],"predicateType":"x"}`), true},
		{[]byte(`{"_type":"https://in-toto.io/Statement/v1","subject":[{"digest":{"sha256":"` + subjectA.Hex + `"}}]}`), true},
		{[]byte(`{"payloadType":"application/vnd.in-toto+json","payload":"e30=","signatures":[{"sig":"!!"},{"sig":""}]}`), false},
		{[]byte(`{}`), false}, {[]byte(`null`), true},
	} {
		f.Add(seed.raw, seed.signIt)
	}
	now := time.Unix(1.8e9, 0)
	f.Fuzz(func(t *testing.T, raw []byte, signIt bool) {
		if signIt {
			body := raw
			sig := signRaw(t, ft.sk, dsse.PAE(statement.PayloadType, body))
			var err error
			if raw, err = json.Marshal(dsse.Envelope{PayloadType: statement.PayloadType, Payload: base64.StdEncoding.EncodeToString(body),
				Signatures: []dsse.Signature{{Sig: base64.StdEncoding.EncodeToString(sig)}}}); err != nil {
				t.Fatal(err)
			}
		}
		c := checkLegacyAttestation(raw, map[string]string{legacyPredicateTypeAnnotation: statement.SLSAProvenanceV1}, subjectA, ft.policy, ft.verifier.verifiers, now)
		if c.key == nil {
			if c.err == nil {
				t.Fatal("neither a key nor an error")
			}
			return
		}
		if c.err != nil {
			t.Fatalf("key %s and error %v", c.key.Name, c.err)
		}
		var env dsse.Envelope
		if err := json.Unmarshal(raw, &env); err != nil {
			t.Fatalf("accepted an envelope that is not JSON: %v", err)
		}
		body, err := decodeB64(env.Payload)
		if err != nil || env.PayloadType != statement.PayloadType {
			t.Fatalf("accepted payload type %q, payload error %v", env.PayloadType, err)
		}
		signed := false
		for _, s := range env.Signatures {
			if sig, err := decodeB64(s.Sig); err == nil && signedRaw(c.key.Public, dsse.PAE(env.PayloadType, body), sig) {
				signed = true
			}
		}
		if !signed {
			t.Fatalf("accepted an envelope key %s did not sign", c.key.Name)
		}
		var st fuzzStatement
		if err := json.Unmarshal(body, &st); err != nil {
			t.Fatalf("accepted a statement that is not JSON: %v", err)
		}
		if !st.onlyNames(subjectA.Hex) {
			t.Fatalf("accepted a statement about %+v, not %s alone", st.Subject, subjectA)
		}
		if st.PredicateType == "" || st.PredicateType != c.predicateType {
			t.Fatalf("reported predicate type %q, the statement says %q", c.predicateType, st.PredicateType)
		}
	})
}
