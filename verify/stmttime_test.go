package verify

import (
	"strings"
	"testing"
	"time"

	"github.com/imgsign/imgsign/statement"
)

// maxAge is judged from the time inside the signed predicate; a trusted
// timestamp only ever makes an attestation older.
func TestCheckStatementMaxAge(t *testing.T) {
	now := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	ago := func(d time.Duration) string { return now.Add(-d).Format(time.RFC3339) }
	slsa := func(meta map[string]any) map[string]any {
		return map[string]any{"predicate": map[string]any{"runDetails": map[string]any{"metadata": meta}}}
	}
	const day = 24 * time.Hour
	cases := []struct {
		name      string
		typ       string
		statement map[string]any
		tsa       time.Time // zero: no trusted timestamp
		want      string    // "" = passes
	}{
		{"fresh build", "https://slsa.dev/provenance/v1", slsa(map[string]any{"finishedOn": ago(day)}), time.Time{}, ""},
		{"old build", "https://slsa.dev/provenance/v1", slsa(map[string]any{"finishedOn": ago(30 * day)}), time.Time{}, "over maxAge 7d"},
		{"old build re-timestamped today", "https://slsa.dev/provenance/v1", slsa(map[string]any{"finishedOn": ago(30 * day)}), now, "runDetails.metadata.finishedOn"},
		{"timestamp older than the predicate counts", "https://slsa.dev/provenance/v1", slsa(map[string]any{"finishedOn": ago(day)}), now.Add(-10 * day), "RFC 3161 timestamp (earlier"},
		{"startedOn when no finishedOn", "https://slsa.dev/provenance/v1", slsa(map[string]any{"startedOn": ago(8 * day)}), time.Time{}, "runDetails.metadata.startedOn"},
		{"no time, timestamped", "https://slsa.dev/provenance/v1", slsa(nil), now, "carries no signed time (runDetails.metadata.finishedOn or runDetails.metadata.startedOn)"},
		{"no predicate at all", "https://slsa.dev/provenance/v1", map[string]any{}, time.Time{}, "carries no signed time"},
		{"not a time", "https://slsa.dev/provenance/v1", slsa(map[string]any{"finishedOn": "yesterday\x1b[2J"}), time.Time{}, `is not an RFC 3339 time`},
		{"not a string", "https://slsa.dev/provenance/v1", slsa(map[string]any{"finishedOn": 12}), time.Time{}, `is not an RFC 3339 time`},
		{"far future", "https://slsa.dev/provenance/v1", slsa(map[string]any{"finishedOn": "2099-01-01T00:00:00Z"}), time.Time{}, "is in the future"},
		{"within clock skew", "https://slsa.dev/provenance/v1", slsa(map[string]any{"finishedOn": now.Add(4 * time.Minute).Format(time.RFC3339)}), time.Time{}, ""},
		{"beyond clock skew", "https://slsa.dev/provenance/v1", slsa(map[string]any{"finishedOn": now.Add(6 * time.Minute).Format(time.RFC3339)}), time.Time{}, "is in the future"},
		{"SPDX", "https://spdx.dev/Document", map[string]any{"predicate": map[string]any{"creationInfo": map[string]any{"created": ago(8 * day)}}}, time.Time{}, "creationInfo.created"},
		{"CycloneDX", "https://cyclonedx.org/bom", map[string]any{"predicate": map[string]any{"metadata": map[string]any{"timestamp": ago(day)}}}, time.Time{}, ""},
		{"vuln", "https://cosign.sigstore.dev/attestation/vuln/v1", map[string]any{"predicate": map[string]any{"metadata": map[string]any{"scanFinishedOn": ago(8 * day)}}}, time.Time{}, "metadata.scanFinishedOn"},
		{"unknown type, timestamped", "https://example.com/custom/v1", map[string]any{"predicate": map[string]any{"timestamp": ago(day)}}, now, "carry no signed time imgsign knows"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.statement["predicateType"] = tc.typ
			c := candidate{predicateType: tc.typ, statement: statement.FromDocument(tc.statement), signedAt: now, timeSource: TimeSourceJudgedAt}
			if !tc.tsa.IsZero() {
				c.signedAt, c.timeSource = tc.tsa, "rfc3161:tsa"
			}
			got := checkStatement(requirement{maxAge: 7 * day}, c, now, subjectInfo{}).reason
			switch {
			case tc.want == "" && got != "":
				t.Errorf("rejected: %s", got)
			case tc.want != "" && !strings.Contains(got, tc.want):
				t.Errorf("reason %q lacks %q", got, tc.want)
			}
			if strings.ContainsAny(got, "\x1b\n") {
				t.Errorf("reason carries raw control characters: %q", got)
			}
		})
	}
}
