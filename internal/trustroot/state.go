package trustroot

import "time"

// State is what Named(name) resolves to now, as a string that changes
// exactly when Named's result does: where the root comes from
// (SourceCached, SourceEmbedded or SourceNone) and its trusted_root.json's
// sha256. A cached copy that appears (`imgsign trust-root update`),
// changes, disappears, stops verifying or whose TUF metadata expires
// changes it (an expired or unverifiable copy resolves to the embedded
// snapshot, or for GitHub to none); a record rewritten with fresh metadata
// around the same trusted root does not.
//
// It is for a long-running process (imgsign serve) that resolved a root
// once and must notice when a fresh resolution would differ. It is cheap
// enough to call every few seconds: it reads the cache record and hashes
// it, and verifies its TUF metadata only when the content is new to the
// process or its verified metadata has expired since (readCache remembers
// each content's verdict). Errors are Named's for an unknown name.
func State(name string) (string, error) {
	info, err := resolve(name)
	if err != nil {
		return "", err
	}
	return info.Source + " sha256:" + info.SHA256, nil
}

// tb is what the test hooks need of a *testing.T or *testing.B, so that
// this package does not import testing.
type tb interface {
	Helper()
	Cleanup(func())
}

// UseTUFAnchorForTest makes anchor the TUF root.json the instance called
// name (PublicGood or GitHub) is verified under — by Update and when its
// cached copy is read — until t's test ends: how the tests of other
// packages stand a local TUF repository (tuftest) in for Sigstore's or
// GitHub's, as this package's own tests do. Only tests call it (a test
// holds every other file of the module to that); production code always
// verifies under the anchors built in.
func UseTUFAnchorForTest(t tb, name string, anchor []byte) {
	t.Helper()
	switch name {
	case PublicGood:
		prev := publicGoodAnchor
		publicGoodAnchor = func() []byte { return anchor }
		t.Cleanup(func() { publicGoodAnchor = prev })
	case GitHub:
		prev := githubAnchor
		githubAnchor = func() []byte { return anchor }
		t.Cleanup(func() { githubAnchor = prev })
	default:
		panic("trustroot.UseTUFAnchorForTest: unknown instance " + name)
	}
}

// UseTimeForTest moves the clock TUF metadata expiry is checked at, until
// t's test ends. Only tests call it.
func UseTimeForTest(t tb, now func() time.Time) {
	t.Helper()
	prev := timeNow
	timeNow = now
	t.Cleanup(func() { timeNow = prev })
}
