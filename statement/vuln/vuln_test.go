package vuln

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

const trivy = `{"SchemaVersion":2,"CreatedAt":"2026-11-01T10:00:00Z","ArtifactName":"app","Trivy":{"Version":"0.58.0"},
"Results":[{"Vulnerabilities":[{"VulnerabilityID":"CVE-1","Severity":"HIGH"},{"VulnerabilityID":"CVE-2","Severity":"low"}]}]}`

const grype = `{"matches":[{"vulnerability":{"id":"GHSA-1","severity":"Critical"}}],
"descriptor":{"name":"grype","version":"0.80.0","timestamp":"2026-11-02T10:00:00Z","db":{"built":"2026-11-01"}}}`

// A report becomes cosign's predicate, and the findings read back from it
// are the report's, whichever scanner wrote it.
func TestFromReportAndFindings(t *testing.T) {
	now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	cases := []struct {
		name     string
		report   string
		scanner  string
		findings string
		err      string
	}{
		{"trivy", trivy, "pkg:github/aquasecurity/trivy@0.58.0", "CVE-1 HIGH,CVE-2 LOW", ""},
		{"grype", grype, "pkg:github/anchore/grype@0.80.0", "GHSA-1 CRITICAL", ""},
		{"neither", `{"vulns":[]}`, "", "", "neither Trivy JSON"},
		{"not JSON", `[`, "", "", "not JSON"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p, err := FromReport([]byte(tc.report), now)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("FromReport = %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil || p.Scanner.URI != tc.scanner || p.Metadata.ScanFinishedOn.IsZero() {
				t.Fatalf("FromReport = %+v, %v", p, err)
			}
			// Read back as a verifier does: from the predicate's JSON.
			b, _ := json.Marshal(p)
			var decoded any
			_ = json.Unmarshal(b, &decoded)
			fs, err := Findings(decoded)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, f := range fs {
				got = append(got, f.ID+" "+f.Severity)
			}
			if strings.Join(got, ",") != tc.findings {
				t.Fatalf("findings %v, want %s", got, tc.findings)
			}
		})
	}
}

func TestSeverityRank(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int
		ok   bool
	}{{"critical", 5, true}, {" HIGH ", 4, true}, {"negligible", 1, true}, {"severe", 0, false}} {
		if r, ok := SeverityRank(tc.in); r != tc.want || ok != tc.ok {
			t.Errorf("SeverityRank(%q) = %d, %v", tc.in, r, ok)
		}
	}
}

// FuzzFindings: a signed vuln predicate is still JSON someone else wrote;
// reading it never panics.
func FuzzFindings(f *testing.F) {
	f.Add([]byte(`{"scanner":{"result":` + trivy + `}}`))
	f.Add([]byte(`{"scanner":{"result":` + grype + `}}`))
	f.Add([]byte(`{"scanner":{"result":"x"}}`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		var pred any
		if json.Unmarshal(raw, &pred) != nil {
			return
		}
		_, _ = Findings(pred)
	})
}
