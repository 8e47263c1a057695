package policy

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzParse: Parse never panics, and either returns a policy or Problems
// that each name a line within the input (or 0).
func FuzzParse(f *testing.F) {
	samples, _ := filepath.Glob(filepath.Join(testdata, "*", "*.yaml"))
	for _, s := range samples {
		data, err := os.ReadFile(s)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	for _, s := range []string{
		"",
		"---\n",
		keyA + ruleA,
		"version: 1\nkeys: &k [{name: a, publicKey: 'hashivault://a'}]\npolicies: [{name: p, scopes: ['**'], signatures: {keys: [a]}}]\n",
		"a: &a [*a]\n",
		"version: 1\nkeys:\n  - name: a\n    publicKey: k.pub\n" + ruleA,
		"version: 1\nkeys:\n  - name: a\n    publicKey: /dev/zero\n" + ruleA,
		"version: 1\nkeys:\n  - name: a\n    publicKey: \"-----BEGIN PUBLIC KEY-----\\n\"\n" + ruleA,
		"{version: 1, keys: [{name: a, publicKey: 'awskms:///x', validFrom: 2026-01-01T00:00:00Z}], policies: [{name: p, scopes: ['r.io/**/*a*'], attestations: [{type: 'https://x/y', keys: [a], conditions: ['true']}]}]}",
		"version: 1\n<<: {keys: []}\n",
		"version: !!binary AAAA\n",
		"? [a]\n: b\n",
	} {
		f.Add([]byte(s))
	}
	_, pemData := newPub(f, "p256")
	dir := writeTree(f, map[string][]byte{"k.pub": pemData})
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := Parse(data, dir)
		if err != nil {
			if p != nil {
				t.Fatal("policy and error both returned")
			}
			ps := problemsOf(t, err)
			if len(ps) == 0 {
				t.Fatal("error with no problems")
			}
			for _, pr := range ps {
				if pr.Msg == "" || pr.Line < 0 {
					t.Fatalf("bad problem %#v", pr)
				}
			}
			_ = err.Error()
			return
		}
		// A policy that loads is usable without panics.
		for _, r := range p.Rules {
			if r.Name == "" || len(r.Scopes) == 0 || (r.Signatures == nil && len(r.Attestations) == 0) {
				t.Fatalf("accepted incomplete rule %+v", r)
			}
			for _, s := range r.Scopes {
				_, _ = p.Match(s.Raw)
			}
		}
		_, _ = p.Match("registry.example.com/prod/app")
		for _, k := range p.Keys {
			_ = p.Key(k.Name)
		}
	})
}
