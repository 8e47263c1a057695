package dct

import (
	"context"
	"fmt"
	"slices"

	"golang.org/x/sync/errgroup"

	"github.com/imgsign/imgsign/internal/registry"
	"github.com/imgsign/imgsign/statement"
	"github.com/imgsign/imgsign/verify"
	"github.com/imgsign/imgsign/verify/conditions"
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
			p, err := importedPolicy(repo.Name().String(), e.Tag, publicKeyPEM)
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

// importedPolicy trusts only the importing key, for exactly repo, and asks
// for a signature bound to tag plus the DCT evidence naming tag. It is built
// from the policy package's types, not written as YAML and parsed back.
func importedPolicy(repo, tag, publicKeyPEM string) (*policy.Policy, error) {
	p, err := policy.ForKey(publicKeyPEM, []string{repo})
	if err != nil {
		return nil, err
	}
	// Tags are checked to the strict tag grammar before they get here, so
	// the tag is safe inside a CEL string literal; %q quotes it anyway.
	expr := fmt.Sprintf("predicate.tag == %q", tag)
	prg, err := conditions.Compile(expr)
	if err != nil {
		return nil, fmt.Errorf("condition %s: %w", expr, err)
	}
	rule, key := p.Rules[0], p.Keys[0].Name
	rule.Name = "dct-import"
	rule.Signatures.BindTag = true
	rule.Attestations = []*policy.AttestationRule{{Type: statement.DCTEvidence, Keys: []string{key}, Threshold: 1,
		Conditions: []policy.Condition{{Expr: expr, Program: prg}}}}
	return p, nil
}
