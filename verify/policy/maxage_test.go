package policy

import (
	"strings"
	"testing"
)

func TestSignedTimeFields(t *testing.T) {
	for _, tc := range []struct {
		typ  string
		want string
	}{
		{"https://slsa.dev/provenance/v1", "runDetails.metadata.finishedOn"},
		{"https://slsa.dev/provenance/v0.2", "metadata.buildFinishedOn"},
		{"https://spdx.dev/Document", "creationInfo.created"},
		{"https://spdx.dev/Document/v2.3", "creationInfo.created"},
		{"https://cyclonedx.org/bom/v1.6", "metadata.timestamp"},
		{"https://cosign.sigstore.dev/attestation/vuln/v1", "metadata.scanFinishedOn"},
		{"https://openvex.dev/ns/v0.2.0", "last_updated"},
		{"https://spdx.dev/DocumentX", ""}, // a prefix is a path segment, not any string
		{"https://slsa.dev/provenance/v1/x", ""},
		{"https://example.com/custom/v1", ""},
	} {
		got := ""
		if f := SignedTimeFields(tc.typ); f != nil {
			got = f[0]
		}
		if got != tc.want {
			t.Errorf("SignedTimeFields(%s) first field %q, want %q", tc.typ, got, tc.want)
		}
	}
}

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
