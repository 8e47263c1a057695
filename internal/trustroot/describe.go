package trustroot

import (
	"cmp"
	"crypto/x509"
	"slices"
	"time"

	"github.com/sigstore/sigstore-go/pkg/root"
)

// Where a root Named returns comes from.
const (
	// SourceCached: the copy `imgsign trust-root update` fetched through TUF.
	SourceCached = "cached"
	// SourceEmbedded: the snapshot built into imgsign.
	SourceEmbedded = "embedded"
	// SourceFile: a trusted root Update wrote to a file of the caller's
	// (UpdateRequest.OutFile), to be named as a trust root explicitly.
	SourceFile = "file"
	// SourceNone: no root (GitHub's, with no verified cached copy: it is
	// not embedded); Named fails.
	SourceNone = "none"
)

// Kinds of Authority.
const (
	KindFulcio = "certificate authority"
	KindRekor  = "transparency log"
	KindCTLog  = "CT log"
	KindTSA    = "timestamp authority"
)

// Info describes a trust root as Named resolves it: where it comes from and
// what it trusts, by name and validity only, never key material.
type Info struct {
	// Name is PublicGood or GitHub; "" for a root Update wrote to a file.
	Name   string `json:"name"`
	Source string `json:"source"` // SourceCached, SourceEmbedded, SourceFile or SourceNone
	// Path is the cache file, for a cached root; the file written, for
	// SourceFile.
	Path string `json:"path,omitempty"`
	// Mirror is the TUF repository a cached root came from, TUFRoot what
	// that repository was verified under (the instance's, TUFRootPublicGood
	// or TUFRootGitHub, always, for a cached root; or the sha256 of the TUF
	// root.json given, for a file),
	// Updated when it was fetched.
	Mirror  string    `json:"mirror,omitempty"`
	TUFRoot string    `json:"tufRoot,omitempty"`
	Updated time.Time `json:"updated,omitzero"`
	// TUFExpires is, for a cached root, when the TUF metadata vouching for
	// it expires: after that the embedded snapshot is used (none, for
	// GitHub) until the next update.
	TUFExpires time.Time `json:"tufExpires,omitzero"`
	// SHA256 is the digest of the trusted_root.json: the TUF target's, for
	// a cached root.
	SHA256 string `json:"sha256"`
	// NewestValidFrom is the latest start of any authority's validity: how
	// recent what the root lists is.
	NewestValidFrom time.Time   `json:"newestValidFrom,omitzero"`
	Authorities     []Authority `json:"authorities"`
	// CacheProblem says why a cached copy that is there was not used
	// (damaged, out of date, or not verifying under the instance's TUF
	// root).
	CacheProblem string `json:"cacheProblem,omitempty"`

	Root *root.TrustedRoot `json:"-"`
}

// Authority is one certificate authority, log or timestamp authority a
// trust root lists.
type Authority struct {
	Kind string `json:"kind"` // KindFulcio, KindRekor, KindCTLog or KindTSA
	// Name is its URL.
	Name string `json:"name"`
	// Subject is a CA's or TSA's root certificate subject.
	Subject    string    `json:"subject,omitempty"`
	ValidFrom  time.Time `json:"validFrom,omitzero"`
	ValidUntil time.Time `json:"validUntil,omitzero"` // zero: still valid
}

// Describe resolves name as Named does and describes the root: with
// Source SourceNone and no authorities where Named fails for want of one.
func Describe(name string) (*Info, error) {
	info, err := resolve(name)
	if err != nil {
		return nil, err
	}
	info.describe()
	return info, nil
}

// describe fills Authorities and NewestValidFrom from Root.
func (info *Info) describe() {
	info.Authorities = Authorities(info.Root)
	info.NewestValidFrom = time.Time{}
	for _, a := range info.Authorities {
		if a.ValidFrom.After(info.NewestValidFrom) {
			info.NewestValidFrom = a.ValidFrom
		}
	}
}

// Authorities lists what tr trusts, certificate authorities first, then
// transparency logs, CT logs and timestamp authorities, each oldest first.
func Authorities(tr *root.TrustedRoot) []Authority {
	if tr == nil {
		return nil
	}
	var out []Authority
	for _, ca := range tr.FulcioCertificateAuthorities() {
		a := Authority{Kind: KindFulcio}
		if f, ok := ca.(*root.FulcioCertificateAuthority); ok {
			a.Name, a.Subject, a.ValidFrom, a.ValidUntil = f.URI, subject(f.Root), f.ValidityPeriodStart, f.ValidityPeriodEnd
		}
		out = append(out, a)
	}
	for _, l := range tr.RekorLogs() {
		out = append(out, Authority{Kind: KindRekor, Name: l.BaseURL, ValidFrom: l.ValidityPeriodStart, ValidUntil: l.ValidityPeriodEnd})
	}
	for _, l := range tr.CTLogs() {
		out = append(out, Authority{Kind: KindCTLog, Name: l.BaseURL, ValidFrom: l.ValidityPeriodStart, ValidUntil: l.ValidityPeriodEnd})
	}
	for _, ta := range tr.TimestampingAuthorities() {
		a := Authority{Kind: KindTSA}
		if s, ok := ta.(*root.SigstoreTimestampingAuthority); ok {
			a.Name, a.Subject, a.ValidFrom, a.ValidUntil = s.URI, subject(s.Root), s.ValidityPeriodStart, s.ValidityPeriodEnd
		}
		out = append(out, a)
	}
	order := map[string]int{KindFulcio: 0, KindRekor: 1, KindCTLog: 2, KindTSA: 3}
	slices.SortStableFunc(out, func(a, b Authority) int {
		return cmp.Or(cmp.Compare(order[a.Kind], order[b.Kind]), a.ValidFrom.Compare(b.ValidFrom), cmp.Compare(a.Name, b.Name))
	})
	return out
}

func subject(c *x509.Certificate) string {
	if c == nil {
		return ""
	}
	return c.Subject.String()
}
