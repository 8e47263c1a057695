package policy

import (
	"sort"

	"github.com/imgsign/imgsign/internal/errkind"
	"github.com/imgsign/imgsign/keys"
)

// OneKeyRule names the rule ForKey builds, as verify output shows it.
const OneKeyRule = "--key"

// ForKey builds the policy `imgsign verify --key REF` checks against: one
// key, trusted exactly for the given repositories (no wildcard: a one-off
// check must not vouch for a neighbouring repository), requiring one plain
// signature by it. ref is anything a policy's publicKey takes: a PEM file
// path (relative to the working directory), inline PEM or a KMS reference
// (left unresolved, as Load leaves it: call ResolveKMS). A key that does not
// load is an errkind.Input error naming it as --key.
func ForKey(ref string, repositories []string) (*Policy, error) {
	p := &parser{keyNames: map[string]int{}}
	k := &Key{Name: keys.DescribeRef(ref), PublicKey: ref}
	p.resolveKey(k, 0, "--key")
	if len(p.probs) > 0 {
		return nil, errkind.Mark(errkind.Input, p.probs)
	}
	seen := map[string]bool{}
	var scopes []Scope
	for _, r := range repositories {
		repo, err := NormalizeRepository(r)
		if err != nil {
			return nil, err
		}
		if seen[repo] {
			continue
		}
		seen[repo] = true
		s, err := ParseScope(scopeFor(repo))
		if err != nil {
			return nil, err
		}
		// Output shows the repository as the user wrote it (127.0.0.1:5000/app),
		// not its canonical spelling (localhost:5000/app).
		s.Raw = r
		scopes = append(scopes, s)
	}
	if len(scopes) == 0 {
		return nil, errkind.Inputf("no repository to trust the key for: name an image")
	}
	sort.Slice(scopes, func(i, j int) bool { return scopes[i].Pattern < scopes[j].Pattern })
	return &Policy{
		Version: Version,
		Keys:    []*Key{k},
		Rules: []*Rule{{
			Name:       OneKeyRule,
			Scopes:     scopes,
			Mode:       ModeEnforce,
			Signatures: &SignatureRule{Keys: []string{k.Name}, Threshold: 1},
		}},
	}, nil
}
