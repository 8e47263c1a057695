package fakesigstore

import (
	"crypto"
	"crypto/x509"
	"encoding/hex"
	"os"
	"testing"

	"github.com/sigstore/sigstore-go/pkg/root"
)

// TrustedRoot is the Sigstore's trusted root: its Fulcio CA, Rekor v1 and v2
// logs, CT log and TSA, less what opts leave out.
func (s *Sigstore) TrustedRoot(t testing.TB, opts ...RootOption) *root.TrustedRoot {
	t.Helper()
	c := &rootConfig{start: s.start}
	for _, o := range opts {
		o(c)
	}
	fulcio := &root.FulcioCertificateAuthority{
		Root:                s.fulcioRoot,
		Intermediates:       []*x509.Certificate{s.fulcioIntermediate},
		ValidityPeriodStart: c.start,
		ValidityPeriodEnd:   c.end,
		URI:                 FulcioURL,
	}
	if c.noIntermediate {
		fulcio.Intermediates = nil
	}
	var tsas []root.TimestampingAuthority
	if !c.noTSA {
		tsas = append(tsas, &root.SigstoreTimestampingAuthority{
			Root:                s.tsaRoot,
			Intermediates:       []*x509.Certificate{s.tsaIntermediate},
			Leaf:                s.tsaLeaf,
			ValidityPeriodStart: c.start,
			ValidityPeriodEnd:   c.end,
			URI:                 TSAURL,
		})
	}
	for _, x := range c.extraTSAs {
		if len(x.chain) == 0 {
			t.Fatalf("fakesigstore: WithExtraTSA(%q) without certificates", x.uri)
		}
		tsa := &root.SigstoreTimestampingAuthority{
			Root:                x.chain[len(x.chain)-1],
			ValidityPeriodStart: c.start,
			ValidityPeriodEnd:   c.end,
			URI:                 x.uri,
		}
		if len(x.chain) > 1 {
			tsa.Leaf = x.chain[0]
			tsa.Intermediates = x.chain[1 : len(x.chain)-1]
		}
		tsas = append(tsas, tsa)
	}
	logs := map[string]*root.TransparencyLog{}
	add := func(m map[string]*root.TransparencyLog, url string, pub crypto.PublicKey) {
		id := keyID(pub)
		m[hex.EncodeToString(id)] = &root.TransparencyLog{
			BaseURL:             url,
			ID:                  id,
			ValidityPeriodStart: c.start,
			ValidityPeriodEnd:   c.end,
			HashFunc:            crypto.SHA256,
			PublicKey:           pub,
			SignatureHashFunc:   crypto.SHA256,
		}
	}
	if !c.noRekor && !c.noRekorV1 {
		for _, l := range s.vs.RekorLogs() {
			add(logs, l.BaseURL, l.PublicKey)
		}
	}
	if !c.noRekor && !c.noRekorV2 {
		add(logs, RekorV2URL, &s.rekorV2Key.PublicKey)
	}
	ctlogs := map[string]*root.TransparencyLog{}
	if !c.noCTLog {
		add(ctlogs, CTLogURL, &s.ctKey.PublicKey)
	}
	tr, err := root.NewTrustedRoot(root.TrustedRootMediaType01, []root.CertificateAuthority{fulcio}, ctlogs, tsas, logs)
	if err != nil {
		t.Fatalf("fakesigstore: trusted root: %v", err)
	}
	return tr
}

// TrustedRootJSON is TrustedRoot serialized: a trusted_root.json.
func (s *Sigstore) TrustedRootJSON(t testing.TB, opts ...RootOption) []byte {
	t.Helper()
	data, err := s.TrustedRoot(t, opts...).MarshalJSON()
	if err != nil {
		t.Fatalf("fakesigstore: trusted root: %v", err)
	}
	return data
}

// WriteTrustedRoot writes TrustedRootJSON to path.
func (s *Sigstore) WriteTrustedRoot(t testing.TB, path string, opts ...RootOption) {
	t.Helper()
	if err := os.WriteFile(path, s.TrustedRootJSON(t, opts...), 0o644); err != nil {
		t.Fatalf("fakesigstore: %v", err)
	}
}
