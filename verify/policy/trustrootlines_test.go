package policy

import (
	"bytes"
	"encoding/json"
	"slices"
	"testing"
)

// A file: trust root of JSON lines (gh attestation trusted-root: public
// good's root, then GitHub's, which has no log) is one trust root whose
// lines a bundle is verified against each on its own: by default each
// line requires a log entry only if it lists a Rekor log, so GitHub's line
// does not inherit public good's requirement; requireTransparencyLog, when
// written, holds for every line.
func TestTrustRootJSONLines(t *testing.T) {
	line := func(data []byte) []byte {
		var b bytes.Buffer
		if err := json.Compact(&b, data); err != nil {
			t.Fatal(err)
		}
		return append(b.Bytes(), '\n')
	}
	dir := writeTree(t, map[string][]byte{
		"roots.jsonl": append(line(publicGoodJSON(t)), line(rootWithout(t, "tlogs", "ctlogs"))...),
		"one.json":    publicGoodJSON(t),
	})
	for _, tc := range []struct {
		name, extra string
		want        []bool // each part's RequireTransparencyLog
	}{
		{"default", "", []bool{true, false}},
		{"requireTransparencyLog: false", "    requireTransparencyLog: false\n", []bool{false, false}},
		{"requireTransparencyLog: true", "    requireTransparencyLog: true\n", []bool{true, true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := policyWith("roots.jsonl", tc.extra)
			p, err := Parse([]byte(src), dir)
			if err != nil {
				t.Fatalf("%v\n%s", err, numbered(src))
			}
			r := p.TrustRootByName("gh")
			if r == nil || r.Root == nil || len(r.Lines) != 2 {
				t.Fatalf("trust root %+v: want the union and two lines", r)
			}
			if n := len(r.Root.FulcioCertificateAuthorities()); n != 2*len(r.Lines[0].FulcioCertificateAuthorities()) {
				t.Errorf("the union lists %d CAs", n)
			}
			var got []bool
			for i, part := range r.Parts() {
				if part.Root != r.Lines[i] {
					t.Errorf("part %d is not line %d's root", i, i+1)
				}
				got = append(got, part.RequireTransparencyLog)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("parts require a log entry %v, want %v", got, tc.want)
			}
		})
	}

	// One trusted root: one part, the root itself.
	p, err := Parse([]byte(policyWith("one.json", "")), dir)
	if err != nil {
		t.Fatal(err)
	}
	r := p.TrustRootByName("gh")
	if parts := r.Parts(); r.Lines != nil || len(parts) != 1 || parts[0].Root != r.Root || !parts[0].RequireTransparencyLog {
		t.Errorf("one root: lines %v, parts %+v", r.Lines, parts)
	}
}

// policyWith is a policy trusting one identity under the trust root gh,
// read from file, with extra lines for that root.
func policyWith(file, extra string) string {
	return "version: 1\ntrustRoots:\n  - name: gh\n    file: " + file + "\n" + extra + `identities:
  - name: release
    issuer: https://token.actions.githubusercontent.com
    subject: https://github.com/acme/app/.github/workflows/release.yml@refs/tags/v1
    trustRoots: [gh]
policies:
  - name: prod
    scopes: ['r.io/**']
    signatures:
      keys: [release]
`
}
