package policy

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sigstore/sigstore-go/pkg/fulcio/certificate"

	"github.com/imgsign/imgsign/internal/errkind"
)

// publicGoodJSON is the embedded snapshot, for trust root files.
func publicGoodJSON(t testing.TB) []byte {
	t.Helper()
	b, err := os.ReadFile("../../internal/trustroot/public-good.json")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// rootWithout returns the public-good root with the given sections removed
// ("tlogs" for a root like GitHub's instance, which has no log).
func rootWithout(t testing.TB, sections ...string) []byte {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(publicGoodJSON(t), &m); err != nil {
		t.Fatal(err)
	}
	for _, s := range sections {
		delete(m, s)
	}
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

const keylessPolicy = `version: 1
trustRoots:
  - name: public-good
    sigstore: public-good
  - name: corp
    file: roots/corp.json
  - name: github
    file: roots/github.json
  - name: strict
    file: roots/github.json
    requireTransparencyLog: false
  - name: lax
    sigstore: public-good
    requireTransparencyLog: false
identities:
  - name: release
    issuer: https://token.actions.githubusercontent.com
    subjectGlob: https://github.com/acme/app/.github/workflows/release.yml@refs/tags/*
    claims:
      event: push
      sourceRepository: https://github.com/acme/app
      runnerEnvironment: github-hosted
      sourceRef: refs/tags/*
      buildSignerURI: https://github.com/acme/app/.github/workflows/release.yml@refs/tags/*
      sourceDigest: 0123456789abcdef0123456789abcdef01234567
    trustRoots: [public-good, github]
    validFrom: 2026-01-01T00:00:00Z
    validUntil: 2027-01-01T00:00:00Z
    revokedAt: 2026-06-01T00:00:00Z
  - name: gitlab
    issuerRegExp: https://gitlab\.(com|example\.com)
    subjectRegExp: https://gitlab\.com/acme/app//\.gitlab-ci\.yml@refs/heads/main
    trustRoots: [corp]
policies:
  - name: prod
    scopes: ['registry.example.com/prod/**']
    signatures:
      keys: [release, gitlab]
      threshold: 2
    attestations:
      - type: https://slsa.dev/provenance/v1
        keys: [gitlab]
    compliance:
      keys: [release]
      nonRootUser: true
`

// TestParseTrustRootsAndIdentities: a policy trusting only identities
// loads; roots, defaults, claims order and the signer view are as written.
func TestParseTrustRootsAndIdentities(t *testing.T) {
	dir := writeTree(t, map[string][]byte{
		"roots/corp.json":   publicGoodJSON(t),
		"roots/github.json": rootWithout(t, "tlogs"),
	})
	p, err := Parse([]byte(keylessPolicy), dir)
	if err != nil {
		t.Fatalf("%v\n%s", err, numbered(keylessPolicy))
	}
	if len(p.Keys) != 0 || len(p.TrustRoots) != 5 || len(p.Identities) != 2 {
		t.Fatalf("%d keys, %d trust roots, %d identities", len(p.Keys), len(p.TrustRoots), len(p.Identities))
	}
	for _, want := range []struct {
		name, sigstore, file string
		tlog                 bool
		line                 int
	}{
		{"public-good", "public-good", "", true, 3},
		{"corp", "", filepath.Join(dir, "roots", "corp.json"), true, 5},
		{"github", "", filepath.Join(dir, "roots", "github.json"), false, 7},
		{"strict", "", filepath.Join(dir, "roots", "github.json"), false, 9},
		{"lax", "public-good", "", false, 12},
	} {
		r := p.TrustRootByName(want.name)
		if r == nil {
			t.Fatalf("TrustRootByName(%q) = nil", want.name)
		}
		if r.Sigstore != want.sigstore || r.File != want.file || r.RequireTransparencyLog != want.tlog || r.Root == nil || r.Line != want.line {
			t.Errorf("trust root %s = %+v", want.name, r)
		}
	}
	if p.TrustRootByName("nope") != nil {
		t.Error("TrustRootByName(nope) != nil")
	}

	id := p.Identity("release")
	if id == nil || id.Line != 16 || id.Path != "identities[0]" {
		t.Fatalf("Identity(release) = %+v", id)
	}
	if id.Issuer != "https://token.actions.githubusercontent.com" || id.IssuerGlob != "" || id.IssuerRegExp != "" ||
		id.SubjectGlob != "https://github.com/acme/app/.github/workflows/release.yml@refs/tags/*" || id.Subject != "" {
		t.Errorf("issuer/subject: %+v", id)
	}
	var order []string
	for _, c := range id.Claims {
		order = append(order, c.Field)
	}
	if got := strings.Join(order, ","); got != "sourceRepository,sourceRef,sourceDigest,buildSignerURI,runnerEnvironment,event" {
		t.Errorf("claims order %s", got)
	}
	if strings.Join(id.TrustRoots, ",") != "public-good,github" {
		t.Errorf("TrustRoots %v", id.TrustRoots)
	}
	tk := id.Trusted
	if tk == nil || tk.Name != "release" || tk.ID != "identity:release" || tk.Public != nil || tk.Identity != id ||
		tk.ValidFrom != id.ValidFrom || tk.ValidUntil != id.ValidUntil || tk.RevokedAt != id.RevokedAt || id.RevokedAt == nil {
		t.Errorf("Trusted = %+v", tk)
	}
	if p.Key("release") != nil || p.KeyByID("identity:release") != nil {
		t.Error("an identity is returned as a key")
	}
	gl := p.Identity("gitlab")
	if gl.IssuerRegExp != `https://gitlab\.(com|example\.com)` || len(gl.Claims) != 0 || gl.ValidFrom != nil {
		t.Errorf("gitlab = %+v", gl)
	}
	r := p.Rules[0]
	if strings.Join(r.Signatures.Keys, ",") != "release,gitlab" || r.Signatures.Threshold != 2 ||
		r.Attestations[0].Keys[0] != "gitlab" || r.Compliance.Keys[0] != "release" {
		t.Errorf("rule signers: %+v %+v %+v", r.Signatures, r.Attestations[0], r.Compliance)
	}
}

// TestKeyAndIdentityTogether: a rule can require a key and an identity
// (2-of-2); keys: [] is fine when identities are trusted.
func TestKeyAndIdentityTogether(t *testing.T) {
	for _, keys := range []string{keyA, "version: 1\nkeys: []\n"} {
		y := keys + `trustRoots: [{name: pg, sigstore: public-good}]
identities:
  - {name: ci, issuer: https://token.actions.githubusercontent.com, subject: https://github.com/acme/app/.github/workflows/ci.yml@refs/heads/main, trustRoots: [pg]}
policies:
  - name: p
    scopes: ['r.io/**']
    signatures: {keys: [ci], threshold: 1}
`
		if keys == keyA {
			y = strings.Replace(y, "keys: [ci], threshold: 1", "keys: [a, ci], threshold: 2", 1)
		}
		p, err := Parse([]byte(y), "")
		if err != nil {
			t.Fatalf("%v\n%s", err, numbered(y))
		}
		if p.Identity("ci") == nil {
			t.Error("no identity ci")
		}
	}
}

// TestIdentityCheckAt: validity windows and revocation apply to identities,
// and say "identity".
func TestIdentityCheckAt(t *testing.T) {
	dir := writeTree(t, map[string][]byte{
		"roots/corp.json":   publicGoodJSON(t),
		"roots/github.json": rootWithout(t, "tlogs"),
	})
	p, err := Parse([]byte(keylessPolicy), dir)
	if err != nil {
		t.Fatal(err)
	}
	k := p.Identity("release").Trusted
	at := func(s string) time.Time {
		tm, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return tm
	}
	if err := k.CheckAt(at("2026-03-01T00:00:00Z")); err != nil {
		t.Errorf("inside the window: %v", err)
	}
	for _, tc := range []struct {
		at       string
		sentinel error
		msg      string
	}{
		{"2025-12-31T23:59:59Z", ErrKeyNotYetValid, "identity release is not valid before 2026-01-01T00:00:00Z"},
		{"2026-06-01T00:00:00Z", ErrKeyRevoked, "identity release was revoked at 2026-06-01T00:00:00Z"},
	} {
		err := k.CheckAt(at(tc.at))
		if !errors.Is(err, tc.sentinel) || err.Error() != tc.msg || errkind.KindOf(err) != errkind.Untrusted {
			t.Errorf("CheckAt(%s) = %v, want %q", tc.at, err, tc.msg)
		}
	}
}

// TestTrustRootAndIdentityProblems: each problem of the trustRoots and
// identities sections, with its line, path and message.
func TestTrustRootAndIdentityProblems(t *testing.T) {
	dir := writeTree(t, map[string][]byte{
		"roots/github.json": rootWithout(t, "tlogs"),
		"roots/noca.json":   rootWithout(t, "certificateAuthorities"),
		"roots/bundle.json": []byte(`{"mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json"}`),
	})
	// head is lines 1-4 (one root, pg); idRelease lines 5-9; rule lines 10-14.
	const head = "version: 1\ntrustRoots:\n  - name: pg\n    sigstore: public-good\n"
	const idRelease = `identities:
  - name: release
    issuer: https://token.actions.githubusercontent.com
    subject: https://github.com/acme/app/.github/workflows/release.yml@refs/tags/v1
    trustRoots: [pg]
`
	const rule = `policies:
  - name: prod
    scopes: ['r.io/**']
    signatures:
      keys: [release]
`
	// identity is an identities section whose one entry has the lines
	// given (indented 4), after "  - name: release" on line 6.
	identity := func(lines ...string) string {
		return "identities:\n  - name: release\n    " + strings.Join(lines, "\n    ") + "\n"
	}
	const iss = "issuer: https://token.actions.githubusercontent.com"
	const sub = "subject: https://github.com/acme/app/.github/workflows/release.yml@refs/tags/v1"
	const roots = "trustRoots: [pg]"

	type want struct {
		line int
		path string
		msg  string
	}
	tests := []struct {
		name string
		yaml string
		want []want
	}{
		// trustRoots
		{"unknown trustRoots field", "version: 1\ntrustRoots:\n  - name: pg\n    sigstore: public-good\n    url: https://tuf-repo-cdn.sigstore.dev\n" + idRelease + rule, []want{
			{5, "trustRoots[0]", `unknown field "url"`},
		}},
		{"misspelled sigstore is reported once", "version: 1\ntrustRoots:\n  - name: pg\n    sigStore: public-good\n" + idRelease + rule, []want{
			{4, "trustRoots[0]", `unknown field "sigStore" (did you mean "sigstore"?)`},
		}},
		{"both sigstore and file", head + "    file: roots/github.json\n" + idRelease + rule, []want{
			{5, "trustRoots[0].file", `trust root "pg": give sigstore (a trust root imgsign embeds) or file (a trusted_root.json), not both`},
		}},
		{"neither sigstore nor file", "version: 1\ntrustRoots:\n  - name: pg\n    requireTransparencyLog: true\n" + idRelease + rule, []want{
			{3, "trustRoots[0]", `trust root "pg": missing sigstore or file: write sigstore: public-good for the snapshot imgsign embeds (or github for GitHub's instance), or file: the path of a trusted_root.json`},
		}},
		{"unknown sigstore name", "version: 1\ntrustRoots:\n  - name: pg\n    sigstore: public_good\n" + idRelease + rule, []want{
			{4, "trustRoots[0].sigstore", `unknown Sigstore trust root "public_good": imgsign knows github, public-good (did you mean "public-good"?)`},
		}},
		{"github is not embedded: no cached copy fails closed", "version: 1\ntrustRoots:\n  - name: pg\n    sigstore: github\n" + idRelease + rule, []want{
			{4, "trustRoots[0].sigstore", `no verified github trust root (there is no cached copy): imgsign does not embed GitHub's trusted root; run 'imgsign trust-root update github' online, or name the output of 'gh attestation trusted-root' as a trusted-root file`},
		}},
		{"unreadable trusted_root.json", "version: 1\ntrustRoots:\n  - name: pg\n    file: roots/missing.json\n" + idRelease + rule, []want{
			{4, "trustRoots[0].file", `trust root "pg": cannot read trusted root ` + filepath.Join(dir, "roots", "missing.json") + ": no such file or directory"},
		}},
		{"trusted_root.json is a directory", "version: 1\ntrustRoots:\n  - name: pg\n    file: roots\n" + idRelease + rule, []want{
			{4, "trustRoots[0].file", "not a regular file"},
		}},
		{"invalid trusted_root.json", "version: 1\ntrustRoots:\n  - name: pg\n    file: roots/bundle.json\n" + idRelease + rule, []want{
			{4, "trustRoots[0].file", `trust root "pg": ` + filepath.Join(dir, "roots", "bundle.json") + ` is not a Sigstore trusted_root.json: unsupported TrustedRoot media type: application/vnd.dev.sigstore.bundle.v0.3+json`},
		}},
		{"trust root given as a URL", "version: 1\ntrustRoots:\n  - name: pg\n    file: https://example.com/trusted_root.json\n" + idRelease + rule, []want{
			{4, "trustRoots[0].file", "got a URL"},
		}},
		{"trust root without a CA", "version: 1\ntrustRoots:\n  - name: pg\n    file: roots/noca.json\n" + idRelease + rule, []want{
			{4, "trustRoots[0].file", `trust root "pg" lists no certificate authority: no certificate can chain to it`},
		}},
		{"log required of a root without logs", "version: 1\ntrustRoots:\n  - name: pg\n    file: roots/github.json\n    requireTransparencyLog: true\n" + idRelease + rule, []want{
			{5, "trustRoots[0].requireTransparencyLog", `trust root "pg" lists no transparency log, so no signature could show a log entry: set requireTransparencyLog to false`},
		}},
		{"requireTransparencyLog wrong type", head + "    requireTransparencyLog: always\n" + idRelease + rule, []want{
			{5, "trustRoots[0].requireTransparencyLog", "expected true or false, got a string"},
		}},
		{"duplicate trust root name", head + "  - name: pg\n    file: roots/github.json\n" + idRelease + rule, []want{
			{5, "trustRoots[1].name", `duplicate trust root name "pg" (first at line 3)`},
		}},
		{"trust root without a name", head + "  - sigstore: public-good\n" + idRelease + rule, []want{
			{5, "trustRoots[1]", `missing required field "name"`},
		}},
		{"trustRoots not a list", "version: 1\ntrustRoots: {name: pg, sigstore: public-good}\n" + idRelease + rule, []want{
			{2, "trustRoots", "expected a list, got a mapping"},
			{7, "identities[0].trustRoots[0]", `undefined trust root "pg": define it under trustRoots`},
		}},

		// identities
		{"identity without issuer and subject", head + identity(roots) + rule, []want{
			{6, "identities[0]", "missing the issuer: give one of issuer, issuerGlob or issuerRegExp"},
			{6, "identities[0]", "missing the subject: give one of subject, subjectGlob or subjectRegExp"},
		}},
		{"misspelled issuer is reported once", head + identity("Issuer: https://token.actions.githubusercontent.com", sub, roots) + rule, []want{
			{7, "identities[0]", `unknown field "Issuer" (did you mean "issuer"?)`},
		}},
		{"issuer and issuerGlob", head + identity(iss, "issuerGlob: https://*.githubusercontent.com", sub, roots) + rule, []want{
			{8, "identities[0].issuerGlob", "issuerGlob and issuer (line 7) are both given: give exactly one of issuer, issuerGlob or issuerRegExp"},
		}},
		{"subjectRegExp before subject", head + identity(iss, `subjectRegExp: https://github\.com/acme/.*`, sub, roots) + rule, []want{
			{9, "identities[0].subject", "subject and subjectRegExp (line 8) are both given: give exactly one of subject, subjectGlob or subjectRegExp"},
		}},
		{"invalid regexp", head + identity(`issuerRegExp: https://token\.actions\.githubusercontent\.com`, `subjectRegExp: 'https://github\.com/acme/(app'`, roots) + rule, []want{
			{8, "identities[0].subjectRegExp", "invalid regular expression: missing closing ): `https://github\\.com/acme/(app`"},
		}},
		// Attack: wrapped in ^(?: )$, this would compile and its second
		// branch would match anything. It must be refused, not anchored.
		{"regexp escaping its anchors", head + identity(iss, `subjectRegExp: 'https://github\.com/acme/app/.*)|(.*'`, roots) + rule, []want{
			{8, "identities[0].subjectRegExp", "invalid regular expression: unexpected )"},
		}},
		{"empty issuer", head + identity("issuer: ''", sub, roots) + rule, []want{
			{7, "identities[0].issuer", "must not be empty"},
		}},
		{"subject not a string", head + identity(iss, "subject: [a, b]", roots) + rule, []want{
			{8, "identities[0].subject", "expected a string, got a list"},
		}},
		{"unknown claim with suggestion", head + identity(iss, sub, "claims:", "  sourceRefs: refs/tags/*", roots) + rule, []want{
			{10, "identities[0].claims", `unknown field "sourceRefs" (did you mean "sourceRef"?)`},
		}},
		{"unknown claim without suggestion", head + identity(iss, sub, "claims:", "  workflow: release.yml", roots) + rule, []want{
			{10, "identities[0].claims", `unknown field "workflow": the claims an identity can require are sourceRepository, sourceRef, sourceDigest, buildSignerURI, runnerEnvironment, event`},
		}},
		{"empty claim", head + identity(iss, sub, "claims: {sourceRef: ''}", roots) + rule, []want{
			{9, "identities[0].claims.sourceRef", "must not be empty"},
		}},
		{"claims not a mapping", head + identity(iss, sub, "claims: [sourceRef]", roots) + rule, []want{
			{9, "identities[0].claims", "expected a mapping, got a list"},
		}},
		{"identity trustRoots undefined", head + identity(iss, sub, "trustRoots: [pg, public-good]") + rule, []want{
			{9, "identities[0].trustRoots[1]", `undefined trust root "public-good": define it under trustRoots`},
		}},
		{"identity trustRoots misspelled", "version: 1\ntrustRoots:\n  - name: sigstore\n    sigstore: public-good\n" + identity(iss, sub, "trustRoots: [sigstor]") + rule, []want{
			{9, "identities[0].trustRoots[0]", `undefined trust root "sigstor": define it under trustRoots (did you mean "sigstore"?)`},
		}},
		{"identity trustRoots empty", head + identity(iss, sub, "trustRoots: []") + rule, []want{
			{9, "identities[0].trustRoots", "list at least one trust root name"},
		}},
		{"identity trustRoots missing", head + identity(iss, sub) + rule, []want{
			{6, "identities[0]", `missing required field "trustRoots"`},
		}},
		{"identity trustRoots as a string", head + identity(iss, sub, "trustRoots: pg") + rule, []want{
			{9, "identities[0].trustRoots", `expected a list, got a string: write ["pg"]`},
		}},
		{"identity trust root listed twice", head + identity(iss, sub, "trustRoots: [pg, pg]") + rule, []want{
			{9, "identities[0].trustRoots[1]", `trust root "pg" is listed twice`},
		}},
		{"identity named like a key", keyA + "trustRoots: [{name: pg, sigstore: public-good}]\nidentities:\n  - name: a\n    " + iss + "\n    " + sub + "\n    " + roots + "\n" + ruleA, []want{
			{7, "identities[0].name", `identity "a" has the name of key "a" (line 3): rules name keys and identities alike, so give each its own name`},
		}},
		{"duplicate identity name", head + idRelease + "  - name: release\n    " + iss + "\n    " + sub + "\n    " + roots + "\n" + rule, []want{
			{10, "identities[1].name", `duplicate identity name "release" (first at line 6)`},
		}},
		{"identity window", head + identity(iss, sub, roots, "validFrom: 2026-06-01T00:00:00Z", "validUntil: 2026-01-01T00:00:00Z", "revokedAt: soon") + rule, []want{
			{11, "identities[0].validUntil", "2026-01-01T00:00:00Z is not after validFrom 2026-06-01T00:00:00Z"},
			{12, "identities[0].revokedAt", `expected an RFC 3339 time such as 2026-01-01T00:00:00Z, got "soon"`},
		}},
		{"undefined identity in a rule", head + idRelease + "policies:\n  - name: prod\n    scopes: ['r.io/**']\n    signatures:\n      keys: [relase]\n", []want{
			{14, "policies[0].signatures.keys[0]", `undefined key "relase": define it under keys, identities or x509Signers (did you mean "release"?)`},
		}},
		{"identity listed twice in a rule", head + idRelease + "policies:\n  - name: prod\n    scopes: ['r.io/**']\n    signatures:\n      keys: [release, release]\n      threshold: 2\n", []want{
			{14, "policies[0].signatures.keys[1]", `identity "release" is listed twice: a threshold counts distinct signers`},
			{15, "policies[0].signatures.threshold", "2 exceeds the 1 key listed"},
		}},
		{"undefined identity in attestations and compliance", head + idRelease + `policies:
  - name: prod
    scopes: ['r.io/**']
    attestations:
      - type: https://slsa.dev/provenance/v1
        keys: [release, builder]
    compliance:
      keys: [releases]
      nonRootUser: true
`, []want{
			{15, "policies[0].attestations[0].keys[1]", `undefined key "builder"`},
			{17, "policies[0].compliance.keys[0]", `undefined key "releases": define it under keys, identities or x509Signers (did you mean "release"?)`},
		}},
		{"no keys and no identities", "version: 1\nidentities: []\n" + rule, []want{
			{2, "identities", "the policy trusts no keys and no identities: list at least one"},
			{7, "policies[0].signatures.keys[0]", `undefined key "release"`},
		}},
		{"identities: null does not stand in for keys", "version: 1\nidentities:\n" + rule, []want{
			{1, "", `missing required field "keys"`},
			{7, "policies[0].signatures.keys[0]", `undefined key "release"`},
		}},
		{"keys: [] and identities: []", "version: 1\nkeys: []\nidentities: []\n" + rule, []want{
			{2, "keys", "the policy trusts no keys: list at least one"},
			{8, "policies[0].signatures.keys[0]", `undefined key "release"`},
		}},
		{"identities not a list", head + "identities: {name: release}\n" + rule, []want{
			{5, "identities", "expected a list, got a mapping"},
			{10, "policies[0].signatures.keys[0]", `undefined key "release"`},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.yaml), dir)
			if err == nil {
				t.Fatalf("Parse succeeded:\n%s", numbered(tt.yaml))
			}
			var ws []Problem
			for _, w := range tt.want {
				ws = append(ws, Problem{Line: w.line, Path: w.path, Msg: w.msg})
			}
			checkProblems(t, problemsOf(t, err), ws)
			if t.Failed() {
				t.Logf("policy:\n%s", numbered(tt.yaml))
			}
		})
	}
}

// ghCert is what sigstore-go summarises of a certificate Fulcio issues to a
// GitHub Actions release workflow.
func ghCert() certificate.Summary {
	return certificate.Summary{
		CertificateIssuer:      "CN=sigstore-intermediate,O=sigstore.dev",
		SubjectAlternativeName: "https://github.com/acme/app/.github/workflows/release.yml@refs/tags/v1.2.3",
		Extensions: certificate.Extensions{
			Issuer:                 "https://token.actions.githubusercontent.com",
			SourceRepositoryURI:    "https://github.com/acme/app",
			SourceRepositoryRef:    "refs/tags/v1.2.3",
			SourceRepositoryDigest: "0123456789abcdef0123456789abcdef01234567",
			BuildSignerURI:         "https://github.com/acme/app/.github/workflows/release.yml@refs/tags/v1.2.3",
			RunnerEnvironment:      "github-hosted",
			BuildTrigger:           "push",
		},
	}
}

// TestIdentityMatch: issuer, subject and claims, exact, glob and regexp,
// each matching and not; every "attack" row is a certificate someone else
// can obtain that a careless matcher would accept.
func TestIdentityMatch(t *testing.T) {
	const (
		ghIssuer = "https://token.actions.githubusercontent.com"
		release  = "https://github.com/acme/app/.github/workflows/release.yml"
	)
	base := func() *Identity {
		return &Identity{Name: "release", Issuer: ghIssuer, Subject: release + "@refs/tags/v1.2.3"}
	}
	type row struct {
		name string
		id   func(*Identity)
		cert func(*certificate.Summary)
		want string // "" for a match, else a substring of the error
	}
	issuer := func(kind, v string) func(*Identity) {
		return func(id *Identity) {
			id.Issuer = ""
			switch kind {
			case "glob":
				id.IssuerGlob = v
			case "re":
				id.IssuerRegExp = v
			default:
				id.Issuer = v
			}
		}
	}
	subject := func(kind, v string) func(*Identity) {
		return func(id *Identity) {
			id.Subject = ""
			switch kind {
			case "glob":
				id.SubjectGlob = v
			case "re":
				id.SubjectRegExp = v
			default:
				id.Subject = v
			}
		}
	}
	claim := func(field, v string) func(*Identity) {
		return func(id *Identity) { id.Claims = append(id.Claims, Claim{field, v}) }
	}
	certIssuer := func(v string) func(*certificate.Summary) {
		return func(s *certificate.Summary) { s.Extensions.Issuer = v }
	}
	certSubject := func(v string) func(*certificate.Summary) {
		return func(s *certificate.Summary) { s.SubjectAlternativeName = v }
	}
	ext := func(f func(*certificate.Extensions)) func(*certificate.Summary) {
		return func(s *certificate.Summary) { f(&s.Extensions) }
	}
	rows := []row{
		{"exact issuer and subject", nil, nil, ""},
		{"exact issuer mismatch", issuer("", "https://gitlab.com"), nil,
			`identity release: certificate issuer "https://token.actions.githubusercontent.com" is not "https://gitlab.com"`},
		{"attack: issuer with a trailing slash", nil, certIssuer(ghIssuer + "/"),
			`certificate issuer "https://token.actions.githubusercontent.com/" is not "https://token.actions.githubusercontent.com"`},
		{"attack: issuer in another case", nil, certIssuer("https://Token.actions.githubusercontent.com"), "is not"},
		{"attack: issuer as a prefix of the certificate's", nil, certIssuer(ghIssuer + ".evil.com"), "is not"},
		{"attack: X.509 issuer name is not the OIDC issuer", nil, func(s *certificate.Summary) {
			s.Extensions.Issuer = ""
			s.CertificateIssuer = ghIssuer
		}, `the certificate names no issuer; the policy requires "https://token.actions.githubusercontent.com"`},
		{"issuer glob", issuer("glob", "https://*.githubusercontent.com"), nil, ""},
		{"issuer glob mismatch", issuer("glob", "https://*.gitlab.com"), nil,
			`certificate issuer "https://token.actions.githubusercontent.com" does not match issuerGlob "https://*.gitlab.com"`},
		{"attack: issuer glob, suffix host", issuer("glob", "https://*.githubusercontent.com"), certIssuer(ghIssuer + ".evil.com"), "does not match issuerGlob"},
		{"attack: issuer glob, path", issuer("glob", "https://*.githubusercontent.com"), certIssuer("https://evil.com/x.githubusercontent.com"), "does not match issuerGlob"},
		{"issuer regexp", issuer("re", `https://token\.actions\.githubusercontent\.com`), nil, ""},
		{"issuer regexp mismatch", issuer("re", `https://gitlab\.com`), nil,
			`certificate issuer "https://token.actions.githubusercontent.com" does not match issuerRegExp "https://gitlab\\.com" (the whole value must match)`},
		{"anchoring: issuer regexp matching a substring", issuer("re", `githubusercontent\.com`), nil, "does not match issuerRegExp"},
		{"attack: issuer regexp, suffix host", issuer("re", `https://token\.actions\.githubusercontent\.com`), certIssuer(ghIssuer + ".evil.com"), "does not match issuerRegExp"},
		{"attack: issuer regexp, prefix", issuer("re", `https://token\.actions\.githubusercontent\.com`), certIssuer("https://evil.com/?" + ghIssuer), "does not match issuerRegExp"},

		{"exact subject mismatch", nil, certSubject(release + "@refs/tags/v1.2.4"),
			`certificate subject "https://github.com/acme/app/.github/workflows/release.yml@refs/tags/v1.2.4" is not "https://github.com/acme/app/.github/workflows/release.yml@refs/tags/v1.2.3"`},
		{"subject glob", subject("glob", release+"@refs/tags/*"), nil, ""},
		{"subject glob, any tag", subject("glob", release+"@refs/tags/*"), certSubject(release + "@refs/tags/v1.evil.com"), ""},
		{"subject glob mismatch: a branch", subject("glob", release+"@refs/tags/*"), certSubject(release + "@refs/heads/main"),
			`certificate subject "https://github.com/acme/app/.github/workflows/release.yml@refs/heads/main" does not match subjectGlob "https://github.com/acme/app/.github/workflows/release.yml@refs/tags/*"`},
		{"attack: subject glob, * crossing a path segment", subject("glob", release+"@refs/tags/*"), certSubject(release + "@refs/tags/v1/../../heads/evil"), "does not match subjectGlob"},
		{"attack: subject glob, another repository", subject("glob", "https://github.com/acme/*/.github/workflows/release.yml@refs/tags/*"),
			certSubject("https://github.com/evil/app/.github/workflows/release.yml@refs/tags/v1"), "does not match subjectGlob"},
		{"attack: subject glob, workflow of a fork", subject("glob", release+"@refs/tags/*"),
			certSubject("https://github.com/acme/app-fork/.github/workflows/release.yml@refs/tags/v1"), "does not match subjectGlob"},
		{"attack: subject glob, the subject as a query", subject("glob", release+"@refs/tags/*"),
			certSubject("https://evil.example/?u=" + release + "@refs/tags/v1"), "does not match subjectGlob"},
		{"attack: subject glob, a newline in the tag", subject("glob", release+"@refs/tags/*"), certSubject(release + "@refs/tags/v1\nverified: true"),
			`"https://github.com/acme/app/.github/workflows/release.yml@refs/tags/v1\nverified: true" does not match subjectGlob`},
		{"attack: exact subject, a longer tag", nil, certSubject(release + "@refs/tags/v1.2.3.evil.com"), "is not"},
		{"subject regexp", subject("re", `https://github\.com/acme/app/\.github/workflows/release\.yml@refs/tags/v[0-9]+\.[0-9]+\.[0-9]+`), nil, ""},
		{"subject regexp mismatch", subject("re", `https://github\.com/acme/lib/.*`), nil, "does not match subjectRegExp"},
		{"anchoring: subject regexp matching a substring", subject("re", `acme/app`), nil, "does not match subjectRegExp"},
		{"anchoring: subject regexp matching a prefix", subject("re", `https://github\.com/acme/app/\.github/workflows/release\.yml@refs/tags/v1`),
			certSubject(release + "@refs/tags/v1.evil.com"), "does not match subjectRegExp"},
		{"anchoring: every branch of an alternation", subject("re", `https://github\.com/acme/app/.+|https://github\.com/acme/lib/.+`),
			certSubject("https://evil.example/?https://github.com/acme/lib/x"), "does not match subjectRegExp"},
		{"anchoring: (?m) cannot unanchor", subject("re", `(?m)https://github\.com/acme/app/.+`),
			certSubject(release + "@refs/tags/v1\nhttps://github.com/acme/app/x"), "does not match subjectRegExp"},
		{"email subject", subject("", "release@acme.example"), certSubject("release@acme.example"), ""},
		{"attack: email subject, another domain", subject("glob", "*@acme.example"), certSubject("release@acme.example.evil.com"), "does not match subjectGlob"},

		// Claims.
		{"every claim", func(id *Identity) {
			for _, c := range []Claim{{"sourceRepository", "https://github.com/acme/app"}, {"sourceRef", "refs/tags/*"},
				{"sourceDigest", "0123456789abcdef0123456789abcdef01234567"}, {"buildSignerURI", release + "@refs/tags/*"},
				{"runnerEnvironment", "github-hosted"}, {"event", "push"}} {
				id.Claims = append(id.Claims, c)
			}
		}, nil, ""},
		{"sourceRepository mismatch", claim("sourceRepository", "https://github.com/acme/lib"), nil,
			`certificate sourceRepository "https://github.com/acme/app" is not "https://github.com/acme/lib"`},
		{"attack: sourceRepository, a longer name", claim("sourceRepository", "https://github.com/acme/app"),
			ext(func(e *certificate.Extensions) { e.SourceRepositoryURI = "https://github.com/acme/app-evil" }), "is not"},
		{"sourceRef glob", claim("sourceRef", "refs/tags/v*"), nil, ""},
		{"sourceRef mismatch", claim("sourceRef", "refs/tags/*"), ext(func(e *certificate.Extensions) { e.SourceRepositoryRef = "refs/heads/main" }),
			`certificate sourceRef "refs/heads/main" does not match sourceRef "refs/tags/*"`},
		{"attack: sourceRef, * crossing a segment", claim("sourceRef", "refs/tags/*"),
			ext(func(e *certificate.Extensions) { e.SourceRepositoryRef = "refs/tags/x/../../heads/main" }), "does not match sourceRef"},
		{"sourceDigest", claim("sourceDigest", "0123456789abcdef0123456789abcdef01234567"), nil, ""},
		{"attack: sourceDigest prefix", claim("sourceDigest", "0123abc"), nil,
			`certificate sourceDigest "0123456789abcdef0123456789abcdef01234567" is not "0123abc"`},
		{"buildSignerURI glob", claim("buildSignerURI", release+"@refs/tags/*"), nil, ""},
		{"buildSignerURI ** for any ref", claim("buildSignerURI", release+"@**"), nil, ""},
		{"buildSignerURI: * stays within a path segment", claim("buildSignerURI", release+"@*"), nil, "does not match buildSignerURI"},
		{"buildSignerURI mismatch: another workflow", claim("buildSignerURI", release+"@refs/tags/*"),
			ext(func(e *certificate.Extensions) {
				e.BuildSignerURI = "https://github.com/acme/app/.github/workflows/ci.yml@refs/tags/v1.2.3"
			}), "does not match buildSignerURI"},
		{"attack: buildSignerURI, reusable workflow elsewhere", claim("buildSignerURI", release+"@refs/tags/*"),
			ext(func(e *certificate.Extensions) {
				e.BuildSignerURI = "https://github.com/evil/tools/.github/workflows/release.yml@refs/tags/v1"
			}), "does not match buildSignerURI"},
		{"runnerEnvironment", claim("runnerEnvironment", "github-hosted"), nil, ""},
		{"runnerEnvironment mismatch", claim("runnerEnvironment", "github-hosted"),
			ext(func(e *certificate.Extensions) { e.RunnerEnvironment = "self-hosted" }), `certificate runnerEnvironment "self-hosted" is not "github-hosted"`},
		{"event", claim("event", "push"), nil, ""},
		{"event mismatch", claim("event", "push"),
			ext(func(e *certificate.Extensions) { e.BuildTrigger = "pull_request_target" }), `certificate event "pull_request_target" is not "push"`},
		{"claim absent from the certificate", claim("sourceRef", "refs/tags/*"),
			ext(func(e *certificate.Extensions) { e.SourceRepositoryRef = "" }),
			`identity release: the certificate carries no sourceRef claim (Fulcio extension SourceRepositoryRef); the policy requires "refs/tags/*"`},
		{"attack: deprecated extension does not stand in for a claim", claim("sourceRepository", "https://github.com/acme/app"),
			ext(func(e *certificate.Extensions) {
				e.SourceRepositoryURI = ""
				e.GithubWorkflowRepository = "acme/app"
			}), "carries no sourceRepository claim"},
		{"claims checked after issuer and subject", claim("event", "push"), certIssuer("https://gitlab.com"), "certificate issuer"},
		{"first failing claim is reported", func(id *Identity) {
			id.Claims = []Claim{{"sourceRepository", "https://github.com/acme/app"}, {"sourceRef", "refs/heads/*"}, {"event", "schedule"}}
		}, nil, `certificate sourceRef "refs/tags/v1.2.3" does not match sourceRef "refs/heads/*"`},

		// Fail closed on identities built by hand.
		{"no issuer in the identity", func(id *Identity) { id.Issuer = "" }, nil, "the policy gives no issuer to match"},
		{"invalid regexp in the identity", issuer("re", "a)|(.*"), nil, `issuerRegExp "a)|(.*" does not compile`},
		{"unknown claim in the identity", claim("workflow", "release.yml"), nil, `unknown claim "workflow"`},
	}
	for _, r := range rows {
		t.Run(r.name, func(t *testing.T) {
			id := base()
			if r.id != nil {
				r.id(id)
			}
			cert := ghCert()
			if r.cert != nil {
				r.cert(&cert)
			}
			err := id.Match(cert)
			switch {
			case r.want == "" && err != nil:
				t.Fatalf("Match: %v", err)
			case r.want == "":
				return
			case err == nil:
				t.Fatalf("Match accepted the certificate; want %q", r.want)
			}
			if !strings.Contains(err.Error(), r.want) {
				t.Errorf("Match error\n  %s\nwant it to contain\n  %s", err, r.want)
			}
			if !errors.Is(err, ErrIdentityMismatch) || errkind.KindOf(err) != errkind.Untrusted {
				t.Errorf("error %v: not an untrusted ErrIdentityMismatch", err)
			}
			if strings.ContainsAny(err.Error(), "\n\r\x1b") {
				t.Errorf("error is not one clean line: %q", err)
			}
		})
	}
}

// TestIdentityMatchQuotesSafely: certificate values are untrusted: shown
// escaped, on one line, clipped.
func TestIdentityMatchQuotesSafely(t *testing.T) {
	id := &Identity{Name: "release", Issuer: "https://token.actions.githubusercontent.com", SubjectGlob: "https://github.com/acme/app/**"}
	cert := ghCert()
	cert.SubjectAlternativeName = "https://github.com/acme/app\x1b[2K\r\u202e✓ verified " + strings.Repeat("x", 1000)
	err := id.Match(cert)
	if err == nil {
		t.Fatal("Match accepted")
	}
	msg := err.Error()
	if strings.ContainsAny(msg, "\x1b\r\n\u202e") {
		t.Errorf("raw control characters in %q", msg)
	}
	if !strings.Contains(msg, `\x1b[2K\r\u202e✓ verified xxx`) || !strings.Contains(msg, "…") {
		t.Errorf("value not escaped and clipped: %s", msg)
	}
	if len(msg) > 400 {
		t.Errorf("message of %d bytes", len(msg))
	}
}

// TestParsedIdentityMatches: the identity Parse builds matches as written.
func TestParsedIdentityMatches(t *testing.T) {
	dir := writeTree(t, map[string][]byte{
		"roots/corp.json":   publicGoodJSON(t),
		"roots/github.json": rootWithout(t, "tlogs"),
	})
	p, err := Parse([]byte(keylessPolicy), dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Identity("release").Match(ghCert()); err != nil {
		t.Errorf("release: %v", err)
	}
	if err := p.Identity("gitlab").Match(ghCert()); err == nil || !strings.Contains(err.Error(), "does not match issuerRegExp") {
		t.Errorf("gitlab matched a GitHub certificate: %v", err)
	}
	gl := certificate.Summary{SubjectAlternativeName: "https://gitlab.com/acme/app//.gitlab-ci.yml@refs/heads/main",
		Extensions: certificate.Extensions{Issuer: "https://gitlab.example.com"}}
	if err := p.Identity("gitlab").Match(gl); err != nil {
		t.Errorf("gitlab: %v", err)
	}
}

// requireTimestamp needs something to vouch for a time: the policy's TSAs
// for key signatures, or, for identities, their trust roots' logs and TSAs.
func TestRequireTimestampWithIdentities(t *testing.T) {
	const base = `version: 1
trustRoots:
  - {name: pg, sigstore: public-good}
identities:
  - {name: rel, issuer: https://issuer.example, subject: a@example.com, trustRoots: [pg]}
policies:
  - name: p
    scopes: ["r.example.com/**"]
    signatures: {keys: [rel], requireTimestamp: true}
`
	if _, err := Parse([]byte(base), t.TempDir()); err != nil {
		t.Fatalf("identities with requireTimestamp: %v", err)
	}
}
