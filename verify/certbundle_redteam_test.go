package verify

// Red-team attacks on certificate-based (keyless) verification, below the
// CLI: identity matching edge cases, what a bundle says about itself, the
// verify-blob engine and cosign's legacy layers. The attacker owns
// certificate authorities and timestamping authorities of their own (a
// second fakesigstore), can have the policy's TSA stamp any bytes, and can
// get the policy's CA to certify identities they own — nothing more. Every
// case here must be refused; the e2e rows are in e2e/attacks_keyless_test.go.

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"math/big"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/sigstore/sigstore-go/pkg/fulcio/certificate"

	"github.com/imgsign/imgsign/internal/testing/fakesigstore"
	"github.com/imgsign/imgsign/statement"
	"github.com/imgsign/imgsign/verify/policy"
)

// rtSummary is what sigstore-go summarises of a certificate: SAN, OIDC
// issuer and claims.
func rtSummary(san, issuer string, ext certificate.Extensions) certificate.Summary {
	ext.Issuer = issuer
	return certificate.Summary{SubjectAlternativeName: san, Extensions: ext}
}

func rtGH(change func(*certificate.Extensions)) certificate.Extensions {
	e := certificate.Extensions{SourceRepositoryURI: "https://github.com/acme/app", SourceRepositoryRef: "refs/tags/v1.0.0",
		RunnerEnvironment: "github-hosted", BuildTrigger: "push", BuildSignerURI: ghWorkflow, SourceRepositoryDigest: strings.Repeat("c", 40)}
	if change != nil {
		change(&e)
	}
	return e
}

// Identity.Match on certificate values an attacker can obtain for
// identities they own, shaped to look like the policy's: every one is a
// mismatch, and the controls beside them match.
func TestRedteamIdentityMatch(t *testing.T) {
	allClaims := &policy.Identity{Name: "release", Issuer: ghIssuer, SubjectGlob: "https://github.com/acme/app/.github/workflows/release.yml@refs/tags/*",
		Claims: []policy.Claim{
			{Field: "sourceRepository", Value: "https://github.com/acme/app"},
			{Field: "sourceRef", Value: "refs/tags/*"},
			{Field: "sourceDigest", Value: strings.Repeat("c", 40)},
			{Field: "buildSignerURI", Value: "https://github.com/acme/app/.github/workflows/release.yml@**"},
			{Field: "runnerEnvironment", Value: "github-hosted"},
			{Field: "event", Value: "push"},
		}}
	re := func(subjectRE, issuerRE string) *policy.Identity {
		return &policy.Identity{Name: "re", IssuerRegExp: issuerRE, SubjectRegExp: subjectRE}
	}
	glob := func(subject, issuer string) *policy.Identity {
		return &policy.Identity{Name: "glob", IssuerGlob: issuer, SubjectGlob: subject}
	}
	exact := func(subject, issuer string) *policy.Identity {
		return &policy.Identity{Name: "exact", Issuer: issuer, Subject: subject}
	}
	ok := rtSummary(ghWorkflow, ghIssuer, rtGH(nil))
	cases := []struct {
		name  string
		id    *policy.Identity
		s     certificate.Summary
		match bool
		says  string
	}{
		{"control: every claim", allClaims, ok, true, ""},
		{"control: anchored regexp", re(`https://github\.com/acme/app/\.github/workflows/release\.yml@refs/tags/v[0-9.]+`, `https://token\.actions\.githubusercontent\.com`), ok, true, ""},
		{"control: ** across segments", glob("https://github.com/acme/app/**", "https://token.actions.githubusercontent.com"), ok, true, ""},

		{"issuer: trailing slash", allClaims, rtSummary(ghWorkflow, ghIssuer+"/", rtGH(nil)), false, "issuer"},
		{"issuer: trailing dot", allClaims, rtSummary(ghWorkflow, "https://token.actions.githubusercontent.com.", rtGH(nil)), false, "issuer"},
		{"issuer: upper case host", allClaims, rtSummary(ghWorkflow, "https://TOKEN.actions.githubusercontent.com", rtGH(nil)), false, "issuer"},
		{"issuer: enterprise slug below the issuer", allClaims, rtSummary(ghWorkflow, ghIssuer+"/mallory", rtGH(nil)), false, "issuer"},
		{"issuer: NUL then suffix", allClaims, rtSummary(ghWorkflow, ghIssuer+"\x00.mallory.example", rtGH(nil)), false, "issuer"},
		{"issuer: none", allClaims, rtSummary(ghWorkflow, "", rtGH(nil)), false, "names no issuer"},
		{"issuer glob: * does not cross a slash", glob("**", "https://*.acme.example"), rtSummary(ghWorkflow, "https://evil.example/.acme.example", rtGH(nil)), false, "issuerGlob"},
		{"issuer regexp: dot escaped stays literal", re(`.+`, `https://token\.actions\.githubusercontent\.com`), rtSummary(ghWorkflow, "https://tokenXactions.githubusercontent.com", rtGH(nil)), false, "issuerRegExp"},

		{"subject: another owner", allClaims, rtSummary("https://github.com/mallory/app/.github/workflows/release.yml@refs/tags/v1.0.0", ghIssuer, rtGH(nil)), false, "subjectGlob"},
		{"subject: owner in upper case", allClaims, rtSummary("https://github.com/ACME/app/.github/workflows/release.yml@refs/tags/v1.0.0", ghIssuer, rtGH(nil)), false, "subjectGlob"},
		{"subject: * spanning a slash", allClaims, rtSummary("https://github.com/acme/app/.github/workflows/release.yml@refs/tags/v1/../../heads/main", ghIssuer, rtGH(nil)), false, "subjectGlob"},
		{"subject: branch named like a tag", allClaims, rtSummary("https://github.com/acme/app/.github/workflows/release.yml@refs/heads/refs/tags/v1", ghIssuer, rtGH(nil)), false, "subjectGlob"},
		{"subject: trailing slash after the tag", allClaims, rtSummary(ghWorkflow+"/", ghIssuer, rtGH(nil)), false, "subjectGlob"},
		{"subject: newline inside the tag glob", allClaims, rtSummary("https://github.com/acme/app/.github/workflows/release.yml@refs/tags/v1\nx", ghIssuer, rtGH(nil)), false, "subjectGlob"},
		{"subject: NUL inside the tag glob", allClaims, rtSummary("https://github.com/acme/app/.github/workflows/release.yml@refs/tags/v1\x00", ghIssuer, rtGH(nil)), false, "subjectGlob"},
		{"subject: invalid UTF-8 inside the tag glob", allClaims, rtSummary("https://github.com/acme/app/.github/workflows/release.yml@refs/tags/v1\xff", ghIssuer, rtGH(nil)), false, "subjectGlob"},
		{"subject: bidi override inside the tag glob", allClaims, rtSummary("https://github.com/acme/app/.github/workflows/release.yml@refs/tags/v1\u202e", ghIssuer, rtGH(nil)), false, "subjectGlob"},
		{"subject: glob metacharacters are literal", glob("https://github.com/acme/app/.github/workflows/release.yml@refs/tags/v1.*", ghIssuer),
			rtSummary("https://github.com/acme/app/.github/workflows/releaseXyml@refs/tags/v1.0", ghIssuer, rtGH(nil)), false, "subjectGlob"},
		{"subject: glob ? is a literal", glob("https://github.com/acme/ap?/*", ghIssuer), rtSummary("https://github.com/acme/apx/x", ghIssuer, rtGH(nil)), false, "subjectGlob"},
		{"subject regexp: substring", re(`acme/app`, `.+`), rtSummary("https://github.com/mallory/x@refs/heads/acme/app", ghIssuer, rtGH(nil)), false, "whole value"},
		{"subject regexp: alternation stays anchored", re(`https://github\.com/acme/app/.+|release`, `.+`), rtSummary("https://github.com/mallory/app@refs/heads/release", ghIssuer, rtGH(nil)), false, "whole value"},
		{"subject regexp: (?m) does not let $ stop at a newline", re(`(?m)https://github\.com/acme/app/.+$`, `.+`), rtSummary("https://github.com/acme/app/x\nhttps://github.com/mallory", ghIssuer, rtGH(nil)), false, "whole value"},
		{"subject regexp: (?s) dot cannot carry a newline", re(`(?s)https://github\.com/acme/app/.+`, `.+`), rtSummary("https://github.com/acme/app/x\nmallory", ghIssuer, rtGH(nil)), false, "whole value"},
		{"subject regexp: a closing parenthesis does not escape the group", re(`x)|(.*`, `.+`), ok, false, "does not compile"},
		{"subject exact: a star is literal", exact("https://github.com/acme/app/*", ghIssuer), rtSummary("https://github.com/acme/app/x", ghIssuer, rtGH(nil)), false, "is not"},
		{"subject exact: email case", exact("release@acme.example", "https://accounts.google.com"), rtSummary("Release@acme.example", "https://accounts.google.com", rtGH(nil)), false, "is not"},
		{"subject exact: email trailing dot", exact("release@acme.example", "https://accounts.google.com"), rtSummary("release@acme.example.", "https://accounts.google.com", rtGH(nil)), false, "is not"},
		{"subject: none", allClaims, rtSummary("", ghIssuer, rtGH(nil)), false, "names no subject"},

		{"claim: repository with a Cyrillic a", allClaims, rtSummary(ghWorkflow, ghIssuer, rtGH(func(e *certificate.Extensions) { e.SourceRepositoryURI = "https://github.com/acme/\u0430pp" })), false, "sourceRepository"},
		{"claim: repository with a trailing slash", allClaims, rtSummary(ghWorkflow, ghIssuer, rtGH(func(e *certificate.Extensions) { e.SourceRepositoryURI = "https://github.com/acme/app/" })), false, "sourceRepository"},
		{"claim: repository missing, deprecated extension set", allClaims, rtSummary(ghWorkflow, ghIssuer, rtGH(func(e *certificate.Extensions) {
			e.SourceRepositoryURI, e.GithubWorkflowRepository = "", "acme/app"
		})), false, "carries no sourceRepository claim"},
		{"claim: ref with a newline", allClaims, rtSummary(ghWorkflow, ghIssuer, rtGH(func(e *certificate.Extensions) { e.SourceRepositoryRef = "refs/tags/v1\n" })), false, "sourceRef"},
		{"claim: ref a branch", allClaims, rtSummary(ghWorkflow, ghIssuer, rtGH(func(e *certificate.Extensions) { e.SourceRepositoryRef = "refs/heads/main" })), false, "sourceRef"},
		{"claim: commit digest prefix", allClaims, rtSummary(ghWorkflow, ghIssuer, rtGH(func(e *certificate.Extensions) { e.SourceRepositoryDigest = strings.Repeat("c", 39) })), false, "sourceDigest"},
		{"claim: build signer of another repository", allClaims, rtSummary(ghWorkflow, ghIssuer, rtGH(func(e *certificate.Extensions) {
			e.BuildSignerURI = "https://github.com/mallory/app/.github/workflows/release.yml@refs/tags/v1"
		})), false, "buildSignerURI"},
		{"claim: build signer of a reusable workflow in another file", allClaims, rtSummary(ghWorkflow, ghIssuer, rtGH(func(e *certificate.Extensions) {
			e.BuildSignerURI = "https://github.com/acme/app/.github/workflows/release.yml.evil@refs/tags/v1"
		})), false, "buildSignerURI"},
		{"claim: runner with a zero-width space", allClaims, rtSummary(ghWorkflow, ghIssuer, rtGH(func(e *certificate.Extensions) { e.RunnerEnvironment = "github-hosted\u200b" })), false, "runnerEnvironment"},
		{"claim: runner self-hosted", allClaims, rtSummary(ghWorkflow, ghIssuer, rtGH(func(e *certificate.Extensions) { e.RunnerEnvironment = "self-hosted" })), false, "runnerEnvironment"},
		{"claim: event pull_request_target", allClaims, rtSummary(ghWorkflow, ghIssuer, rtGH(func(e *certificate.Extensions) { e.BuildTrigger = "pull_request_target" })), false, "event"},
		{"claim: event missing", allClaims, rtSummary(ghWorkflow, ghIssuer, rtGH(func(e *certificate.Extensions) { e.BuildTrigger = "" })), false, "carries no event claim"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.id.Match(tc.s)
			if tc.match {
				if err != nil {
					t.Fatalf("control does not match: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("identity %s matched %q (issuer %q, claims %+v)", tc.id.Name, tc.s.SubjectAlternativeName, tc.s.Extensions.Issuer, tc.s.Extensions)
			}
			if !errors.Is(err, policy.ErrIdentityMismatch) || !strings.Contains(err.Error(), tc.says) {
				t.Fatalf("mismatch %v; want it to say %q", err, tc.says)
			}
			if strings.ContainsAny(err.Error(), "\n\x00\u202e") {
				t.Fatalf("the reason carries the certificate's control characters raw: %q", err.Error())
			}
		})
	}
}

// What a bundle says about itself never makes it an identity's signature:
// a key hint naming an identity id, both a certificate and a key, two DSSE
// signatures, a message signature, a statement that is not in-toto.
func TestRedteamBundleClaims(t *testing.T) {
	fs := fakesigstore.New(t)
	ft := newFuzzTrust(t)
	p := keylessPolicy(t, fs.TrustedRoot(t), true, release())
	p.Keys = ft.policy.Keys
	good := ghIdentity(ghWorkflow, certificate.Extensions{})
	aboutA := stmtJSON(subjectA.Hex, statement.Signature)
	keyless := fs.DSSEBundle(t, aboutA, good)
	// The attacker's own key, not in the policy, naming the identity.
	attackerKey := ft.bundle(t, ft.sx, aboutA)
	vmEdit := func(raw []byte, edit func(vm map[string]any)) []byte {
		return editJSON(t, raw, func(m map[string]any) { edit(m["verificationMaterial"].(map[string]any)) })
	}
	sigs := func(raw []byte, extra ...any) []byte {
		return editJSON(t, raw, func(m map[string]any) {
			env := m["dsseEnvelope"].(map[string]any)
			env["signatures"] = append(env["signatures"].([]any), extra...)
		})
	}
	first := func(raw []byte) any {
		var m map[string]any
		_ = json.Unmarshal(raw, &m)
		return m["dsseEnvelope"].(map[string]any)["signatures"].([]any)[0]
	}
	cases := []struct {
		name   string
		bundle []byte
		code   Code
		says   string
	}{
		{"attacker's key hinting identity:release", vmEdit(attackerKey, func(vm map[string]any) { vm["publicKey"] = map[string]any{"hint": policy.IdentityIDPrefix + "release"} }),
			CodeUntrustedKey, "identity:release, which the policy does not list"},
		{"attacker's key hinting the identity's name", vmEdit(attackerKey, func(vm map[string]any) { vm["publicKey"] = map[string]any{"hint": "release"} }),
			CodeUntrustedKey, "which the policy does not list"},
		{"attacker's key with no hint", vmEdit(attackerKey, func(vm map[string]any) { vm["publicKey"] = map[string]any{} }),
			CodeSignatureInvalid, "does not verify"},
		{"certificate and key hint at once", vmEdit(keyless, func(vm map[string]any) { vm["publicKey"] = map[string]any{"hint": policy.IdentityIDPrefix + "release"} }),
			CodeMalformed, "not a valid Sigstore bundle"},
		{"the certificate's signature twice", sigs(keyless, first(keyless)), CodeSignatureInvalid, "does not verify"},
		{"the certificate's signature and the attacker's", sigs(keyless, map[string]any{"sig": base64.StdEncoding.EncodeToString([]byte("x")), "keyid": "mallory"}),
			CodeSignatureInvalid, "does not verify"},
		{"message signature by the identity", fs.MessageBundle(t, []byte("manifest"), good), CodeUnsupported, "message signatures are not image signatures"},
		{"payload type not in-toto", fs.DSSEBundle(t, aboutA, good, fakesigstore.WithPayloadType("application/vnd.in-toto+JSON")), CodeSignatureInvalid, "does not verify"},
		{"statement naming this image and another", fs.DSSEBundle(t, []byte(`{"_type":"https://in-toto.io/Statement/v1","subject":[{"digest":{"sha256":"`+subjectA.Hex+`"}},{"digest":{"sha256":"`+subjectB.Hex+`"}}],"predicateType":"`+statement.Signature+`","predicate":{}}`), good),
			CodeSubjectMismatch, "also names"},
		{"statement naming this image by sha512 too", fs.DSSEBundle(t, []byte(`{"_type":"https://in-toto.io/Statement/v1","subject":[{"digest":{"sha256":"`+subjectA.Hex+`","sha512":"`+strings.Repeat("d", 128)+`"}}],"predicateType":"`+statement.Signature+`","predicate":{}}`), good),
			CodeSubjectMismatch, "sha512"},
		{"v0.1 bundle without its inclusion promise", editJSON(t, fs.DSSEBundle(t, aboutA, good, fakesigstore.WithMediaType(fakesigstore.MediaTypeV01)), func(m map[string]any) {
			e := m["verificationMaterial"].(map[string]any)["tlogEntries"].([]any)[0].(map[string]any)
			delete(e, "inclusionPromise")
		}), CodeMalformed, "not a valid Sigstore bundle"},
		{"the same log entry twice", vmEdit(keyless, func(vm map[string]any) {
			e := vm["tlogEntries"].([]any)
			vm["tlogEntries"] = append(e, e[0])
		}), CodeSignatureInvalid, "does not verify"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := checkBundle(tc.bundle, subjectA, p, ft.verifier.verifiers, nil, time.Now())
			if c.err == nil || c.key != nil {
				t.Fatalf("counted for %v (%s)", c.key, c.timeSource)
			}
			if got := candidateCode(c.err); got != tc.code || !strings.Contains(c.err.Error(), tc.says) {
				t.Fatalf("%s: %v; want %s saying %q", got, c.err, tc.code, tc.says)
			}
		})
	}
}

// Time: only the trust root's log and TSAs give a certificate its time;
// the identity's window is judged at the earliest verified time.
func TestRedteamCertificateTime(t *testing.T) {
	fs, mallory := fakesigstore.New(t), fakesigstore.New(t)
	good := ghIdentity(ghWorkflow, certificate.Extensions{})
	aboutA := stmtJSON(subjectA.Hex, statement.Signature)
	withLog := keylessPolicy(t, fs.TrustedRoot(t), true, release())
	tsaOnly := keylessPolicy(t, fs.TrustedRoot(t, fakesigstore.WithoutRekor()), false, release())
	logOptional := keylessPolicy(t, fs.TrustedRoot(t), false, release())
	past := time.Now().Add(-2 * time.Hour)
	stamp := func(b []byte, by *fakesigstore.Sigstore, at time.Time) []byte {
		var m struct {
			DSSE struct {
				Signatures []struct{ Sig []byte } `json:"signatures"`
			} `json:"dsseEnvelope"`
		}
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatal(err)
		}
		tsr := by.Timestamp(t, m.DSSE.Signatures[0].Sig, at)
		return editJSON(t, b, func(mm map[string]any) {
			vm := mm["verificationMaterial"].(map[string]any)
			vm["timestampVerificationData"] = map[string]any{"rfc3161Timestamps": []any{map[string]any{"signedTimestamp": base64.StdEncoding.EncodeToString(tsr)}}}
		})
	}
	expiredUnstamped := fs.DSSEBundle(t, aboutA, good, fakesigstore.AtTime(past), fakesigstore.WithoutTlog())
	cases := []struct {
		name   string
		p      *policy.Policy
		bundle []byte
		says   string
	}{
		{"expired, the attacker TSA's time inside its validity", tsaOnly, stamp(expiredUnstamped, mallory, past.Add(time.Minute)), "does not verify"},
		{"expired, the policy TSA's time now", tsaOnly, stamp(expiredUnstamped, fs, time.Now()), "does not verify"},
		{"expired, no time at all, log optional", logOptional, expiredUnstamped, "does not verify"},
		{"Rekor v2 entry, the attacker TSA's time", withLog, stamp(fs.DSSEBundle(t, aboutA, good, fakesigstore.WithRekorV2()), mallory, time.Now()), "does not verify"},
		{"Rekor v2 entry alone", withLog, fs.DSSEBundle(t, aboutA, good, fakesigstore.WithRekorV2()), "does not verify"},
		{"integrated time edited under the promise", withLog, editJSON(t, fs.DSSEBundle(t, aboutA, good, fakesigstore.AtTime(past)), func(m map[string]any) {
			e := m["verificationMaterial"].(map[string]any)["tlogEntries"].([]any)[0].(map[string]any)
			e["integratedTime"] = "1"
		}), "does not verify"},
		{"promise stripped from an expired certificate's entry", withLog, editJSON(t, fs.DSSEBundle(t, aboutA, good, fakesigstore.AtTime(past)), func(m map[string]any) {
			delete(m["verificationMaterial"].(map[string]any)["tlogEntries"].([]any)[0].(map[string]any), "inclusionPromise")
		}), "does not verify"},
		{"log entry in the attacker's log", withLog, editJSON(t, fs.DSSEBundle(t, aboutA, good, fakesigstore.WithoutTlog(), fakesigstore.WithTimestamp()), func(m map[string]any) {
			var theirs map[string]any
			_ = json.Unmarshal(mallory.DSSEBundle(t, aboutA, good), &theirs)
			m["verificationMaterial"].(map[string]any)["tlogEntries"] = theirs["verificationMaterial"].(map[string]any)["tlogEntries"]
		}), "does not verify"},
		{"log entry of another statement", withLog, fs.DSSEBundle(t, aboutA, good, fakesigstore.LogEntryFor(stmtJSON(subjectB.Hex, statement.Signature))), "does not verify"},
		{"log entry of another statement, intoto kind", withLog, fs.DSSEBundle(t, aboutA, good, fakesigstore.WithIntotoEntry(), fakesigstore.LogEntryFor(stmtJSON(subjectB.Hex, statement.Signature))), "does not verify"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := checkBundle(tc.bundle, subjectA, tc.p, nil, nil, time.Now())
			if c.err == nil || c.key != nil {
				t.Fatalf("counted at %v (%s)", c.signedAt, c.timeSource)
			}
			if !strings.Contains(c.err.Error(), tc.says) {
				t.Fatalf("%v; want it to say %q", c.err, tc.says)
			}
		})
	}

	// The identity's window at the earliest verified time: an attacker's
	// timestamp dated before revokedAt is not verified, so it is not the
	// earliest.
	t.Run("revoked identity, the attacker TSA's earlier time", func(t *testing.T) {
		id := release()
		revoked := time.Now().Add(-time.Hour)
		id.RevokedAt = &revoked
		p := keylessPolicy(t, fs.TrustedRoot(t), true, id)
		c := checkBundle(stamp(fs.DSSEBundle(t, aboutA, good), mallory, time.Now().Add(-3*time.Hour)), subjectA, p, nil, nil, time.Now())
		if c.err != nil {
			// Every timestamp must verify (everyTimestampVerified): the
			// attacker's is refused before the window is judged.
			if !strings.Contains(c.err.Error(), "RFC 3161 timestamps verify") {
				t.Fatalf("refused, not for the attacker's timestamp: %v", c.err)
			}
			return
		}
		if c.signedAt.Before(revoked) || !strings.HasPrefix(c.timeSource, timeSourceTlog) {
			t.Fatalf("signed at %v from %s: the attacker's timestamp set the time", c.signedAt, c.timeSource)
		}
		rq := requirement{kind: "signatures", predicateType: statement.Signature, keys: []string{"release"}, threshold: 1}
		if rr := evaluate(rq, []candidate{c}, p, time.Now(), subjectInfo{digest: subjectA.String()}); rr.Satisfied || rr.Rejected[0].Code != CodeRevoked {
			t.Fatalf("revoked identity: satisfied %v, %+v", rr.Satisfied, rr.Rejected)
		}
	})
}

// Thresholds count policy identities: the same identity's bundles count
// once, and one certificate matching two overlapping identities of one
// root counts for one of them only.
func TestRedteamIdentityThreshold(t *testing.T) {
	fs := fakesigstore.New(t)
	good := ghIdentity(ghWorkflow, certificate.Extensions{})
	exact := &policy.Identity{Name: "release-exact", Issuer: ghIssuer, Subject: ghWorkflow}
	p := keylessPolicy(t, fs.TrustedRoot(t), true, release(), exact)
	var cands []candidate
	for range 3 {
		c := checkBundle(fs.DSSEBundle(t, stmtJSON(subjectA.Hex, statement.Signature), good), subjectA, p, nil, nil, time.Now())
		if c.err != nil {
			t.Fatal(c.err)
		}
		cands = append(cands, c)
	}
	rq := requirement{kind: "signatures", predicateType: statement.Signature, keys: []string{"release", "release-exact"}, threshold: 2}
	if rr := evaluate(rq, cands, p, time.Now(), subjectInfo{digest: subjectA.String()}); rr.Satisfied {
		t.Fatalf("one workflow made 2 of 2 distinct identities: %+v", rr.Accepted)
	}
}

// verify-blob's engine: a certificate never stands in for the key given,
// a key never for the identity, and only the trust root's CA and times
// count.
func TestRedteamBlob(t *testing.T) {
	fs, mallory := fakesigstore.New(t), fakesigstore.New(t)
	artifact := []byte("release bytes")
	good := ghIdentity(ghWorkflow, certificate.Extensions{})
	id := &policy.Identity{Name: "certificate-identity", Issuer: ghIssuer, Subject: ghWorkflow, TrustRoots: []string{"root"}}
	withLog := &policy.TrustRoot{Name: "root", Root: fs.TrustedRoot(t), RequireTransparencyLog: true}
	tsaOnly := &policy.TrustRoot{Name: "root", Root: fs.TrustedRoot(t, fakesigstore.WithoutRekor())}
	sigOf := func(b []byte) []byte {
		var m struct {
			MessageSignature struct{ Signature []byte } `json:"messageSignature"`
		}
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatal(err)
		}
		return m.MessageSignature.Signature
	}
	stamp := func(b []byte, by *fakesigstore.Sigstore, at time.Time) []byte {
		tsr := by.Timestamp(t, sigOf(b), at)
		return editJSON(t, b, func(m map[string]any) {
			m["verificationMaterial"].(map[string]any)["timestampVerificationData"] = map[string]any{"rfc3161Timestamps": []any{map[string]any{"signedTimestamp": base64.StdEncoding.EncodeToString(tsr)}}}
		})
	}
	// A certificate (from the attacker's CA) for a key the verifier trusts.
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	digest := sha256.Sum256(artifact)
	sig, err := ecdsa.SignASN1(rand.Reader, key, digest[:])
	if err != nil {
		t.Fatal(err)
	}
	certForKey, _ := json.Marshal(map[string]any{
		"mediaType": fakesigstore.MediaTypeV03,
		"verificationMaterial": map[string]any{
			"certificate":               map[string]any{"rawBytes": mallory.Certificate(t, &key.PublicKey, good).Raw},
			"timestampVerificationData": map[string]any{"rfc3161Timestamps": []any{map[string]any{"signedTimestamp": mallory.Timestamp(t, sig, time.Now())}}},
		},
		"messageSignature": map[string]any{"messageDigest": map[string]any{"algorithm": "SHA2_256", "digest": digest[:]}, "signature": sig},
	})
	ft := newFuzzTrust(t)
	keyed := editJSON(t, ft.bundle(t, ft.sx, []byte(`{"_type":"https://in-toto.io/Statement/v1","subject":[{"name":"a","digest":{"sha256":"`+hexOf(digest[:])+`"}}],"predicateType":"x","predicate":{}}`)),
		func(m map[string]any) {
			m["verificationMaterial"].(map[string]any)["publicKey"] = map[string]any{"hint": ghWorkflow}
		})
	past := time.Now().Add(-2 * time.Hour)
	cases := []struct {
		name string
		req  BlobRequest
		says string
	}{
		{"--key, certificate for that key", BlobRequest{Bundle: certForKey, Artifact: bytes.NewReader(artifact), Key: &key.PublicKey}, "never trusted by itself"},
		{"identity, key-signed bundle hinting the identity", BlobRequest{Bundle: keyed, Artifact: bytes.NewReader(artifact), Identity: id, Root: withLog}, "signed with a key"},
		{"identity, the attacker's CA, trusted TSA", BlobRequest{Bundle: stamp(mallory.MessageBundle(t, artifact, good, fakesigstore.WithoutTlog()), fs, time.Now()), Artifact: bytes.NewReader(artifact), Identity: id, Root: tsaOnly}, "does not verify"},
		{"identity, expired, the attacker TSA's time", BlobRequest{Bundle: stamp(fs.MessageBundle(t, artifact, good, fakesigstore.WithoutTlog(), fakesigstore.AtTime(past)), mallory, past.Add(time.Minute)), Artifact: bytes.NewReader(artifact), Identity: id, Root: tsaOnly}, "does not verify"},
		{"identity, no log entry under a root requiring one", BlobRequest{Bundle: fs.MessageBundle(t, artifact, good, fakesigstore.WithoutTlog(), fakesigstore.WithTimestamp()), Artifact: bytes.NewReader(artifact), Identity: id, Root: withLog}, "does not verify"},
		{"identity, log entry of another artifact", BlobRequest{Bundle: fs.MessageBundle(t, artifact, good, fakesigstore.LogEntryFor([]byte("other bytes"))), Artifact: bytes.NewReader(artifact), Identity: id, Root: withLog}, "does not verify"},
		{"identity, another artifact", BlobRequest{Bundle: fs.MessageBundle(t, artifact, good), Artifact: bytes.NewReader([]byte("other bytes")), Identity: id, Root: withLog}, "does not verify"},
		{"identity, digest of another artifact", BlobRequest{Bundle: fs.MessageBundle(t, artifact, good), Digest: rtHash("other bytes"), Identity: id, Root: withLog}, "does not verify"},
		{"identity, another workflow", BlobRequest{Bundle: fs.MessageBundle(t, artifact, ghIdentity("https://github.com/mallory/app/.github/workflows/release.yml@refs/tags/v1.0.0", certificate.Extensions{})), Artifact: bytes.NewReader(artifact), Identity: id, Root: withLog}, "is not"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res, err := Blob(tc.req)
			if err == nil {
				t.Fatalf("verified: signed by %s at %s (%s)", res.Signer, res.SignedAt, res.TimeSource)
			}
			if !strings.Contains(err.Error(), tc.says) {
				t.Fatalf("%v; want it to say %q", err, tc.says)
			}
		})
	}
}

// cosign's legacy layers: the chain annotation's intermediates never link
// an attacker's leaf to the trust root, even one named like the trust root's
// own intermediate and timestamped by the trust root's TSA.
func TestRedteamLegacyCertificateChain(t *testing.T) {
	fs, mallory := fakesigstore.New(t), fakesigstore.New(t)
	p := keylessPolicy(t, fs.TrustedRoot(t, fakesigstore.WithoutRekor()), false, release())
	good := ghIdentity(ghWorkflow, certificate.Extensions{})
	payload := simpleSigning(subjectA.String(), "example.com/app")
	ann, _ := asLegacy(t, mallory.MessageBundle(t, payload, good, fakesigstore.WithoutTlog()))
	sig, err := base64.StdEncoding.DecodeString(ann[legacySignatureAnnotation])
	if err != nil {
		t.Fatal(err)
	}
	tsr, _ := json.Marshal(map[string]string{"SignedRFC3161Timestamp": base64.StdEncoding.EncodeToString(fs.Timestamp(t, sig, time.Now()))})
	ann[legacyTimestampAnnotation] = string(tsr)
	pemOf := func(cs ...*x509.Certificate) string {
		var b strings.Builder
		for _, c := range cs {
			b.Write(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw}))
		}
		return b.String()
	}
	ft := newFuzzTrust(t)
	for name, chain := range map[string]string{
		"no chain":                          "",
		"the attacker's chain":              pemOf(mallory.FulcioIntermediate(), mallory.FulcioRoot()),
		"a forged link to the trusted root": pemOf(rtSpoofedIntermediate(t, mallory, fs), fs.FulcioRoot()),
		"the trusted chain":                 pemOf(fs.FulcioIntermediate(), fs.FulcioRoot()),
	} {
		t.Run(name, func(t *testing.T) {
			a := map[string]string{}
			for k, v := range ann {
				a[k] = v
			}
			if chain != "" {
				a[legacyChainAnnotation] = chain
			}
			c := checkLegacySignature(payload, a, subjectA, p, ft.verifier.verifiers, time.Now())
			if c.err == nil || c.key != nil || !strings.Contains(c.err.Error(), "does not verify") {
				t.Fatalf("key %v, err %v", c.key, c.err)
			}
		})
	}
}

// rtSpoofedIntermediate re-issues attacker's intermediate (same subject and
// key) with the trusted Fulcio root's name and key id as its issuer, signed
// by a key of the attacker's.
func rtSpoofedIntermediate(t *testing.T, attacker, trusted *fakesigstore.Sigstore) *x509.Certificate {
	t.Helper()
	forger, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	real, trustedRoot := attacker.FulcioIntermediate(), trusted.FulcioRoot()
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: real.Subject, NotBefore: real.NotBefore, NotAfter: real.NotAfter,
		KeyUsage: real.KeyUsage, ExtKeyUsage: real.ExtKeyUsage, BasicConstraintsValid: true, IsCA: true, MaxPathLenZero: true}
	parent := &x509.Certificate{Subject: trustedRoot.Subject, SubjectKeyId: trustedRoot.SubjectKeyId, PublicKey: &forger.PublicKey}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, real.PublicKey, forger)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func rtHash(s string) v1.Hash {
	d := sha256.Sum256([]byte(s))
	return v1.Hash{Algorithm: "sha256", Hex: hexOf(d[:])}
}

func hexOf(b []byte) string {
	const digits = "0123456789abcdef"
	out := make([]byte, 0, 2*len(b))
	for _, c := range b {
		out = append(out, digits[c>>4], digits[c&15])
	}
	return string(out)
}
