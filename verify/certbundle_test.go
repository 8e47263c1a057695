package verify

import (
	"strings"
	"testing"
	"time"

	"github.com/sigstore/sigstore-go/pkg/fulcio/certificate"
	"github.com/sigstore/sigstore-go/pkg/root"

	"github.com/imgsign/imgsign/internal/testing/fakesigstore"
	"github.com/imgsign/imgsign/statement"
	"github.com/imgsign/imgsign/verify/policy"
)

const (
	ghIssuer   = "https://token.actions.githubusercontent.com"
	ghWorkflow = "https://github.com/acme/app/.github/workflows/release.yml@refs/tags/v1.0.0"
)

// keylessPolicy trusts, under one trust root, the identities given.
func keylessPolicy(t *testing.T, r *root.TrustedRoot, requireTlog bool, ids ...*policy.Identity) *policy.Policy {
	t.Helper()
	tr := &policy.TrustRoot{Name: "test", Root: r, RequireTransparencyLog: requireTlog}
	p := &policy.Policy{TrustRoots: []*policy.TrustRoot{tr}}
	for _, id := range ids {
		id.TrustRoots = []string{"test"}
		id.Trusted = &policy.TrustedKey{Name: id.Name, ID: policy.IdentityIDPrefix + id.Name, Identity: id,
			ValidFrom: id.ValidFrom, ValidUntil: id.ValidUntil, RevokedAt: id.RevokedAt}
		p.Identities = append(p.Identities, id)
	}
	return p
}

func release() *policy.Identity {
	return &policy.Identity{Name: "release", Issuer: ghIssuer, SubjectGlob: "https://github.com/acme/app/.github/workflows/release.yml@refs/tags/*",
		Claims: []policy.Claim{{Field: "sourceRepository", Value: "https://github.com/acme/app"}, {Field: "runnerEnvironment", Value: "github-hosted"}}}
}

func ghIdentity(subject string, ext certificate.Extensions) fakesigstore.Identity {
	if ext.SourceRepositoryURI == "" {
		ext.SourceRepositoryURI = "https://github.com/acme/app"
	}
	if ext.RunnerEnvironment == "" {
		ext.RunnerEnvironment = "github-hosted"
	}
	return fakesigstore.Identity{Subject: subject, Issuer: ghIssuer, Extensions: ext}
}

// A certificate-based bundle counts for the policy identity its verified
// certificate is, under the trust root that verified it, at its verified
// time; every way it can fail to be that is refused with a code.
func TestCheckCertificateBundle(t *testing.T) {
	fs := fakesigstore.New(t)
	other := fakesigstore.New(t)
	aboutA := stmtJSON(subjectA.Hex, statement.Signature)
	good := ghIdentity(ghWorkflow, certificate.Extensions{})
	withRoot := keylessPolicy(t, fs.TrustedRoot(t), true, release())
	noLogRoot := keylessPolicy(t, fs.TrustedRoot(t, fakesigstore.WithoutRekor()), false, release())
	cases := []struct {
		name   string
		p      *policy.Policy
		bundle []byte
		code   Code   // "" = counts
		says   string // part of the reason, or of the time source when counted
	}{
		{"workflow identity, logged", withRoot, fs.DSSEBundle(t, aboutA, good), "", "tlog:"},
		{"timestamped, root without a log", noLogRoot, fs.DSSEBundle(t, aboutA, good, fakesigstore.WithoutTlog(), fakesigstore.WithTimestamp()), "", "rfc3161:"},
		{"expired certificate, logged while valid", withRoot, fs.DSSEBundle(t, aboutA, good, fakesigstore.AtTime(time.Now().Add(-2*time.Hour))), "", "tlog:"},
		{"Rekor v2 entry with a timestamp", withRoot, fs.DSSEBundle(t, aboutA, good, fakesigstore.WithRekorV2(), fakesigstore.WithTimestamp()), "", "rfc3161:"},
		{"chain in the bundle", withRoot, fs.DSSEBundle(t, aboutA, good, fakesigstore.WithChain()), "", "tlog:"},
		{"chain in a v0.3 bundle (cosign --certificate-chain)", withRoot, fs.DSSEBundle(t, aboutA, good, fakesigstore.WithChain(), fakesigstore.WithMediaType(fakesigstore.MediaTypeV03)), "", "tlog:"},
		{"v0.3 chain with an intermediate the root does not list", keylessPolicy(t, fs.TrustedRoot(t, fakesigstore.WithoutFulcioIntermediate()), true, release()), fs.DSSEBundle(t, aboutA, good, fakesigstore.WithChain(), fakesigstore.WithMediaType(fakesigstore.MediaTypeV03)), CodeSignatureInvalid, "does not verify"},
		{"v0.3 chain through the attacker's CA", keylessPolicy(t, fs.TrustedRoot(t, fakesigstore.WithoutFulcioIntermediate()), true, release()), other.DSSEBundle(t, aboutA, good, fakesigstore.WithChain(), fakesigstore.WithMediaType(fakesigstore.MediaTypeV03)), CodeSignatureInvalid, "does not verify"},
		{"another workflow of the repository", withRoot, fs.DSSEBundle(t, aboutA, ghIdentity("https://github.com/acme/app/.github/workflows/ci.yml@refs/tags/v1.0.0", certificate.Extensions{})), CodeUntrustedKey, "does not match subjectGlob"},
		{"a branch, not a tag", withRoot, fs.DSSEBundle(t, aboutA, ghIdentity("https://github.com/acme/app/.github/workflows/release.yml@refs/heads/main", certificate.Extensions{})), CodeUntrustedKey, "does not match subjectGlob"},
		{"self-hosted runner", withRoot, fs.DSSEBundle(t, aboutA, ghIdentity(ghWorkflow, certificate.Extensions{RunnerEnvironment: "self-hosted"})), CodeUntrustedKey, "runnerEnvironment"},
		{"a fork's repository claim", withRoot, fs.DSSEBundle(t, aboutA, ghIdentity(ghWorkflow, certificate.Extensions{SourceRepositoryURI: "https://github.com/mallory/app"})), CodeUntrustedKey, "sourceRepository"},
		{"another OIDC issuer", withRoot, fs.DSSEBundle(t, aboutA, fakesigstore.Identity{Subject: ghWorkflow, Issuer: "https://token.actions.githubusercontent.com.evil.example", Extensions: good.Extensions}), CodeUntrustedKey, "issuer"},
		{"a certificate from another CA", withRoot, other.DSSEBundle(t, aboutA, good), CodeSignatureInvalid, "does not verify under the policy's trust roots"},
		{"log entry required, none", withRoot, fs.DSSEBundle(t, aboutA, good, fakesigstore.WithoutTlog(), fakesigstore.WithTimestamp()), CodeSignatureInvalid, "does not verify"},
		{"no log and no timestamp", noLogRoot, fs.DSSEBundle(t, aboutA, good, fakesigstore.WithoutTlog()), CodeSignatureInvalid, "does not verify"},
		{"Rekor v2 entry without a timestamp", withRoot, fs.DSSEBundle(t, aboutA, good, fakesigstore.WithRekorV2()), CodeSignatureInvalid, "does not verify"},
		{"log entry for another statement", withRoot, fs.DSSEBundle(t, aboutA, good, fakesigstore.LogEntryFor(stmtJSON(subjectB.Hex, statement.Signature))), CodeSignatureInvalid, "does not verify"},
		{"signed, about another image", withRoot, fs.DSSEBundle(t, stmtJSON(subjectB.Hex, statement.Signature), good), CodeSubjectMismatch, "is about another image"},
		{"certificate not in the CT log", withRoot, fs.DSSEBundle(t, aboutA, good, fakesigstore.WithoutSCT()), CodeSignatureInvalid, "does not verify"},
		{"no SCT, root without a CT log", keylessPolicy(t, fs.TrustedRoot(t, fakesigstore.WithoutCTLog()), true, release()), fs.DSSEBundle(t, aboutA, good, fakesigstore.WithoutSCT()), "", "tlog:"},
		{"no identity in the policy", &policy.Policy{}, fs.DSSEBundle(t, aboutA, good), CodeUntrustedKey, "trusts no certificate identity"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := checkBundle(tc.bundle, subjectA, tc.p, nil, nil, time.Now())
			if tc.code == "" {
				if c.err != nil || c.key == nil || c.key.Name != "release" || c.certificate == nil {
					t.Fatalf("refused: %v", c.err)
				}
				if !strings.HasPrefix(c.timeSource, tc.says) || c.signedAt.IsZero() {
					t.Fatalf("time %v from %q, want a %s time", c.signedAt, c.timeSource, tc.says)
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

// An identity and a key count as two distinct signers of one threshold;
// an identity revoked before the signature's verified time does not count.
func TestIdentityThresholdAndRevocation(t *testing.T) {
	fs := fakesigstore.New(t)
	ft := newFuzzTrust(t)
	id := release()
	p := keylessPolicy(t, fs.TrustedRoot(t), true, id)
	p.Keys = ft.policy.Keys
	k := ft.policy.KeyByID(ft.sk.ID())
	keyless := checkBundle(fs.DSSEBundle(t, stmtJSON(subjectA.Hex, statement.Signature), ghIdentity(ghWorkflow, certificate.Extensions{})), subjectA, p, nil, nil, time.Now())
	keyed := checkBundle(ft.bundle(t, ft.sk, stmtJSON(subjectA.Hex, statement.Signature)), subjectA, p, ft.verifier.verifiers, nil, time.Now())
	if keyless.err != nil || keyed.err != nil {
		t.Fatalf("keyless %v, keyed %v", keyless.err, keyed.err)
	}
	rq := requirement{kind: "signatures", predicateType: statement.Signature, keys: []string{"release", k.Name}, threshold: 2}
	if rr := evaluate(rq, []candidate{keyless, keyed}, p, time.Now(), subjectInfo{digest: subjectA.String()}); !rr.Satisfied {
		t.Fatalf("identity + key did not make 2 of 2: %s", rr.Summary)
	}
	if rr := evaluate(rq, []candidate{keyless, keyless}, p, time.Now(), subjectInfo{digest: subjectA.String()}); rr.Satisfied {
		t.Fatalf("one identity twice made 2 of 2")
	}
	revoked := keyless.signedAt.Add(-time.Minute)
	id.Trusted.RevokedAt = &revoked
	rr := evaluate(rq, []candidate{keyless, keyed}, p, time.Now(), subjectInfo{digest: subjectA.String()})
	if rr.Satisfied || len(rr.Rejected) != 1 || rr.Rejected[0].Code != CodeRevoked {
		t.Fatalf("revoked identity: satisfied %v, rejected %+v", rr.Satisfied, rr.Rejected)
	}
}

// An identity counts only under the trust roots it names: a certificate
// for the same workflow from a CA the policy trusts for someone else does
// not make it that identity.
func TestIdentityOnlyUnderItsRoots(t *testing.T) {
	fs, other := fakesigstore.New(t), fakesigstore.New(t)
	p := keylessPolicy(t, fs.TrustedRoot(t), true, release())
	vendor := &policy.Identity{Name: "vendor", Issuer: "https://vendor.example", Subject: "build@vendor.example", TrustRoots: []string{"other"}}
	vendor.Trusted = &policy.TrustedKey{Name: "vendor", ID: policy.IdentityIDPrefix + "vendor", Identity: vendor}
	p.TrustRoots = append(p.TrustRoots, &policy.TrustRoot{Name: "other", Root: other.TrustedRoot(t), RequireTransparencyLog: true})
	p.Identities = append(p.Identities, vendor)
	c := checkBundle(other.DSSEBundle(t, stmtJSON(subjectA.Hex, statement.Signature), ghIdentity(ghWorkflow, certificate.Extensions{})), subjectA, p, nil, nil, time.Now())
	if c.err == nil || c.key != nil || !strings.Contains(c.err.Error(), "under trust root other") {
		t.Fatalf("a release-workflow certificate from the vendor's CA counted: key %v, err %v", c.key, c.err)
	}
	if c := checkBundle(other.DSSEBundle(t, stmtJSON(subjectA.Hex, statement.Signature), fakesigstore.Identity{Subject: "build@vendor.example", Issuer: "https://vendor.example"}), subjectA, p, nil, nil, time.Now()); c.err != nil || c.key.Name != "vendor" {
		t.Fatalf("the vendor's own certificate: key %v, err %v", c.key, c.err)
	}
}
