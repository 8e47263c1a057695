package dct

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"golang.org/x/sync/errgroup"

	"github.com/imgsign/imgsign/internal/registry"
	"github.com/imgsign/imgsign/verify"
	"github.com/imgsign/imgsign/verify/policy"
)

// MarkImported finds the entries this key already carried over — a
// signature binding the tag to the digest and the evidence for that tag,
// both verified with publicKeyPEM — and takes them out of the import, so a
// re-run (after restoring a missing digest, say) signs only what is
// missing. The check is imgsign verify with a policy made for it.
func MarkImported(ctx context.Context, c *registry.Client, repo *registry.Repo, entries []Entry, publicKeyPEM string) error {
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(8)
	for i := range entries {
		e := &entries[i]
		if !e.Import {
			continue
		}
		g.Go(func() error {
			p, err := policy.Parse([]byte(importedPolicy(repo.Name.String(), e.Tag, publicKeyPEM)), "")
			if err != nil {
				return fmt.Errorf("checking for an earlier import of %s: %w", e.Tag, err)
			}
			res := verify.New(c, p).VerifyResolved(gctx, repo, e.subject)
			if res.Verdict == "pass" && len(res.Requirements) > 0 && slices.Contains(res.Requirements[0].SignedTags, e.Tag) {
				e.Import, e.AlreadyImported = false, true
			}
			return nil
		})
	}
	return g.Wait()
}

// importedPolicy trusts only the importing key, for repo, and asks for a
// tag-bound signature plus the DCT evidence naming tag (a strict tag, so
// safe inside a CEL string).
func importedPolicy(repo, tag, publicKeyPEM string) string {
	var b strings.Builder
	b.WriteString("version: 1\nkeys:\n  - name: importer\n    publicKey: |\n")
	for _, line := range strings.Split(strings.TrimSpace(publicKeyPEM), "\n") {
		b.WriteString("      " + line + "\n")
	}
	fmt.Fprintf(&b, `policies:
  - name: dct-import
    scopes: [%q]
    signatures:
      keys: [importer]
      bindTag: true
    attestations:
      - type: %s
        keys: [importer]
        conditions:
          - 'predicate.tag == "%s"'
`, repo, PredicateType, tag)
	return b.String()
}
