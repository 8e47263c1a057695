package policy

import (
	"strings"
	"testing"
)

func TestMaxAgeWarnings(t *testing.T) {
	att := func(typ, maxAge string) string {
		s := "    attestations:\n      - type: " + typ + "\n        keys: [a]\n"
		if maxAge != "" {
			s += "        maxAge: " + maxAge + "\n"
		}
		return s
	}
	for _, tc := range []struct {
		name, yaml string
		want       string // "" = no warning
	}{
		{"known type", att("https://slsa.dev/provenance/v1", "7d"), ""},
		{"unknown type without maxAge", att("https://example.com/custom/v1", ""), ""},
		{"unknown type with maxAge", att("https://example.com/custom/v1", "7d"), "policies[0].attestations[0].maxAge: warning: predicates of type https://example.com/custom/v1 carry no signed time"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := Parse([]byte(keyA+ruleA+tc.yaml), "")
			if err != nil {
				t.Fatalf("%v\n%s", err, numbered(keyA+ruleA+tc.yaml))
			}
			ws := p.MaxAgeWarnings()
			switch {
			case tc.want == "" && len(ws) != 0:
				t.Errorf("unexpected warnings %v", ws)
			case tc.want != "" && (len(ws) != 1 || !strings.Contains(ws[0].String(), tc.want)):
				t.Errorf("warnings %v, want one containing %q", ws, tc.want)
			}
		})
	}
}
