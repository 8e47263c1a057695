package policy

// Certificate identities: signers named by what their (Fulcio) certificate
// says — OIDC issuer, subject, CI workflow claims — instead of by a key.

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/sigstore/sigstore-go/pkg/fulcio/certificate"

	"github.com/imgsign/imgsign/internal/errkind"
	"github.com/imgsign/imgsign/internal/glob"
	"github.com/imgsign/imgsign/internal/safetext"
)

// ErrIdentityMismatch is wrapped by Identity.Match; test with errors.Is.
var ErrIdentityMismatch = errors.New("certificate identity mismatch")

// IdentityIDPrefix starts the TrustedKey.ID of an identity: "identity:"+name.
// A key id (base64) never holds a colon.
const IdentityIDPrefix = "identity:"

// Claim is one entry of an identity's claims: a Fulcio certificate
// extension the certificate must carry, matching Value.
type Claim struct {
	// Field is the claim as the policy spells it: sourceRepository,
	// sourceRef, sourceDigest, buildSignerURI, runnerEnvironment, event.
	Field string
	// Value is a glob (`*` within a path segment, `**` across segments);
	// without a wildcard it must equal the certificate's value.
	Value string
}

// claimFields are the claims an identity may require, in the order
// Identity.Claims holds them and Match checks them, with the Fulcio
// extension each one reads.
var claimFields = []struct {
	name, ext string
	get       func(certificate.Extensions) string
}{
	{"sourceRepository", "SourceRepositoryURI", func(e certificate.Extensions) string { return e.SourceRepositoryURI }},
	{"sourceRef", "SourceRepositoryRef", func(e certificate.Extensions) string { return e.SourceRepositoryRef }},
	{"sourceDigest", "SourceRepositoryDigest", func(e certificate.Extensions) string { return e.SourceRepositoryDigest }},
	{"buildSignerURI", "BuildSignerURI", func(e certificate.Extensions) string { return e.BuildSignerURI }},
	{"runnerEnvironment", "RunnerEnvironment", func(e certificate.Extensions) string { return e.RunnerEnvironment }},
	{"event", "BuildTrigger", func(e certificate.Extensions) string { return e.BuildTrigger }},
}

func claimNames() []string {
	out := make([]string, len(claimFields))
	for i, c := range claimFields {
		out[i] = c.name
	}
	return out
}

// Identity is one entry of identities[]: a signer known by its certificate.
// A certificate is this identity's when it chains to one of TrustRoots
// (checked by the verify engine, with sigstore-go) and Match accepts it.
type Identity struct {
	Pos
	Name string
	// The OIDC issuer (Fulcio's issuer extension): exactly one of the three
	// is set. IssuerGlob is a glob as for scopes; IssuerRegExp is a regular
	// expression that must match the whole issuer.
	Issuer, IssuerGlob, IssuerRegExp string
	// The subject (the certificate's Subject Alternative Name: a URI such
	// as a workflow ref, or an email): exactly one is set, as for the issuer.
	Subject, SubjectGlob, SubjectRegExp string
	// Claims are the workflow claims the certificate must carry, in the
	// order of the claim names above.
	Claims []Claim
	// TrustRoots name entries of Policy.TrustRoots, at least one.
	TrustRoots []string
	// ValidFrom, ValidUntil and RevokedAt are nil when not set in the policy.
	ValidFrom, ValidUntil, RevokedAt *time.Time
	// Trusted is the identity as a signer, for thresholds and validity:
	// Name is the identity's, ID is IdentityIDPrefix+Name, the window is
	// the identity's and Identity points back here.
	Trusted *TrustedKey
}

// Match reports whether a verified certificate, summarised by sigstore-go,
// is this identity's: nil when its OIDC issuer, its subject
// (SubjectAlternativeName) and every claim match. Otherwise the error
// (marked errkind.Untrusted, wrapping ErrIdentityMismatch) names the first
// mismatch, the certificate's value quoted on one line, clipped. Regular
// expressions match the whole value, never a substring. A certificate value
// holding a control or other non-printable character never matches a glob
// or a regular expression. Match does not check the certificate's chain,
// trust root or time: the verify engine does, before.
func (id *Identity) Match(s certificate.Summary) error {
	checks := []struct {
		what, value string
		exact       string
		globField   string
		glob        string
		reField     string
		re          string
	}{
		{"issuer", s.Extensions.Issuer, id.Issuer, "issuerGlob", id.IssuerGlob, "issuerRegExp", id.IssuerRegExp},
		{"subject", s.SubjectAlternativeName, id.Subject, "subjectGlob", id.SubjectGlob, "subjectRegExp", id.SubjectRegExp},
	}
	for _, c := range checks {
		var err error
		switch {
		case c.re != "":
			err = id.matchRegExp(c.what, c.value, c.reField, c.re)
		case c.glob != "":
			err = id.matchGlob(c.what, c.value, c.globField, c.glob)
		case c.exact != "":
			err = id.matchExact(c.what, c.value, c.exact)
		default:
			err = id.mismatch("the policy gives no %s to match", c.what)
		}
		if err != nil {
			return err
		}
	}
	for _, cl := range id.Claims {
		i := claimIndex(cl.Field)
		if i < 0 {
			return id.mismatch("unknown claim %q", cl.Field)
		}
		cf := claimFields[i]
		v := cf.get(s.Extensions)
		if v == "" {
			return id.mismatch("the certificate carries no %s claim (Fulcio extension %s); the policy requires %q", cf.name, cf.ext, cl.Value)
		}
		if err := id.matchGlob(cf.name, v, cf.name, cl.Value); err != nil {
			return err
		}
	}
	return nil
}

func claimIndex(name string) int {
	for i, c := range claimFields {
		if c.name == name {
			return i
		}
	}
	return -1
}

func (id *Identity) matchExact(what, v, want string) error {
	if v == want {
		return nil
	}
	if v == "" {
		return id.mismatch("the certificate names no %s; the policy requires %q", what, want)
	}
	return id.mismatch("certificate %s %s is not %q", what, certValue(v), want)
}

func (id *Identity) matchGlob(what, v, field, pattern string) error {
	if !strings.Contains(pattern, "*") {
		return id.matchExact(what, v, pattern)
	}
	if v == "" {
		return id.mismatch("the certificate names no %s; the policy requires %s %q", what, field, pattern)
	}
	if printable(v) && compiledGlob(pattern).MatchString(v) {
		return nil
	}
	return id.mismatch("certificate %s %s does not match %s %q", what, certValue(v), field, pattern)
}

func (id *Identity) matchRegExp(what, v, field, expr string) error {
	re, err := compiledAnchored(expr)
	if err != nil {
		return id.mismatch("%s %q does not compile: %v", field, expr, err)
	}
	if v == "" {
		return id.mismatch("the certificate names no %s; the policy requires %s %q", what, field, expr)
	}
	if printable(v) && re.MatchString(v) {
		return nil
	}
	return id.mismatch("certificate %s %s does not match %s %q (the whole value must match)", what, certValue(v), field, expr)
}

func (id *Identity) mismatch(format string, args ...any) error {
	return errkind.Mark(errkind.Untrusted, &reasonError{
		msg: "identity " + safetext.Clean(id.Name) + ": " + fmt.Sprintf(format, args...),
		err: ErrIdentityMismatch,
	})
}

// compiled holds the policy's globs and regular expressions compiled once:
// Match runs for every certificate of every verification (imgsign serve
// verifies continuously), and the patterns are the policy's, few and fixed.
var compiled sync.Map // "glob:"+pattern or "re:"+expr → compiledPattern

type compiledPattern struct {
	re  *regexp.Regexp
	err error
}

func compiledGlob(pattern string) *regexp.Regexp {
	if c, ok := compiled.Load("glob:" + pattern); ok {
		return c.(compiledPattern).re
	}
	re := glob.Compile(pattern)
	compiled.Store("glob:"+pattern, compiledPattern{re: re})
	return re
}

func compiledAnchored(expr string) (*regexp.Regexp, error) {
	if c, ok := compiled.Load("re:" + expr); ok {
		return c.(compiledPattern).re, c.(compiledPattern).err
	}
	re, err := compileAnchored(expr)
	compiled.Store("re:"+expr, compiledPattern{re: re, err: err})
	return re, err
}

// compileAnchored compiles expr to match whole values: "^(?:expr)$". expr
// must compile alone first, or `a)|(b` would escape the anchors.
func compileAnchored(expr string) (*regexp.Regexp, error) {
	if _, err := regexp.Compile(expr); err != nil {
		return nil, err
	}
	return regexp.Compile("^(?:" + expr + ")$")
}

func printable(s string) bool { return utf8.ValidString(s) && safetext.Clean(s) == s }

// maxCertValue bounds a certificate value quoted in a mismatch: long enough
// for a workflow ref, short enough for one line of a log.
const maxCertValue = 200

// certValue quotes a value read from a certificate (anyone can get one
// for any name they control) on one line: non-printable runes escaped,
// clipped.
func certValue(s string) string {
	suffix := ""
	if len(s) > maxCertValue {
		cut := maxCertValue
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s, suffix = s[:cut], "…"
	}
	return strconv.Quote(s) + suffix
}
