// Package vuln is cosign's vulnerability scan predicate
// (statement.CosignVuln): built from a Trivy or Grype JSON report, with the
// report carried unchanged, and read back as findings for a policy's
// maxSeverity. Writer and reader share the report shapes here.
package vuln

import (
	"encoding/json"
	"strings"
	"time"

	"github.com/imgsign/imgsign/internal/errkind"
)

// Predicate is cosign's vulnerability scan predicate
// (https://cosign.sigstore.dev/attestation/vuln/v1), so `cosign
// verify-attestation --type vuln` and policies written for cosign read it.
type Predicate struct {
	Invocation Invocation `json:"invocation"`
	Scanner    Scanner    `json:"scanner"`
	Metadata   Metadata   `json:"metadata"`
}

// Invocation says how the scan ran; empty when the report does not say.
type Invocation struct {
	Parameters any    `json:"parameters"`
	URI        string `json:"uri"`
	EventID    string `json:"event_id"`
	BuilderID  string `json:"builder.id"`
}

// Scanner names the scanner and carries its report unchanged in Result.
type Scanner struct {
	URI     string `json:"uri"`
	Version string `json:"version"`
	DB      DB     `json:"db"`
	Result  any    `json:"result"`
}

// DB identifies the vulnerability database the scan used.
type DB struct {
	URI     string `json:"uri"`
	Version string `json:"version"`
}

// Metadata holds the scan times.
type Metadata struct {
	ScanStartedOn  time.Time `json:"scanStartedOn"`
	ScanFinishedOn time.Time `json:"scanFinishedOn"`
}

// trivyReport and grypeReport hold the few fields the predicate needs; the
// whole report travels in Scanner.Result.
type trivyReport struct {
	SchemaVersion int       `json:"SchemaVersion"`
	CreatedAt     time.Time `json:"CreatedAt"`
	ArtifactName  string    `json:"ArtifactName"`
	Results       []struct {
		Vulnerabilities []struct {
			VulnerabilityID string `json:"VulnerabilityID"`
			Severity        string `json:"Severity"`
		} `json:"Vulnerabilities"`
	} `json:"Results"`
	Trivy *struct {
		Version string `json:"Version"`
	} `json:"Trivy"`
}

type grypeReport struct {
	Matches []struct {
		Vulnerability struct {
			ID       string `json:"id"`
			Severity string `json:"severity"`
		} `json:"vulnerability"`
	} `json:"matches"`
	Descriptor *struct {
		Name      string    `json:"name"`
		Version   string    `json:"version"`
		Timestamp time.Time `json:"timestamp"`
		DB        struct {
			Built         string `json:"built"`
			SchemaVersion any    `json:"schemaVersion"`
			Status        *struct {
				Built         string `json:"built"`
				SchemaVersion string `json:"schemaVersion"`
				From          string `json:"from"`
			} `json:"status"`
		} `json:"db"`
	} `json:"descriptor"`
}

// FromReport converts a Trivy or Grype JSON report into the cosign vuln
// predicate. A report that is neither is an input error.
func FromReport(data []byte, now time.Time) (*Predicate, error) {
	var raw map[string]any
	if err := json.Unmarshal(data, &raw); err != nil {
		return nil, errkind.Inputf("vulnerability report is not JSON: %v", err)
	}
	switch {
	case raw["SchemaVersion"] != nil && raw["Results"] != nil || raw["ArtifactName"] != nil:
		var r trivyReport
		if err := json.Unmarshal(data, &r); err != nil {
			return nil, errkind.Inputf("reading Trivy report: %v", err)
		}
		p := &Predicate{Scanner: Scanner{URI: "pkg:github/aquasecurity/trivy", Result: raw}}
		if r.Trivy != nil && r.Trivy.Version != "" {
			p.Scanner.Version = r.Trivy.Version
			p.Scanner.URI += "@" + r.Trivy.Version
		}
		p.Scanner.DB.URI = "https://github.com/aquasecurity/trivy-db"
		t := r.CreatedAt
		if t.IsZero() {
			t = now
		}
		p.Metadata = Metadata{ScanStartedOn: t, ScanFinishedOn: t}
		return p, nil
	case raw["matches"] != nil && raw["descriptor"] != nil:
		var r grypeReport
		if err := json.Unmarshal(data, &r); err != nil {
			return nil, errkind.Inputf("reading Grype report: %v", err)
		}
		p := &Predicate{Scanner: Scanner{URI: "pkg:github/anchore/grype", Result: raw}}
		d := r.Descriptor
		p.Scanner.Version = d.Version
		if d.Version != "" {
			p.Scanner.URI += "@" + d.Version
		}
		p.Scanner.DB.URI = "https://github.com/anchore/grype-db"
		p.Scanner.DB.Version = d.DB.Built
		if d.DB.Status != nil {
			p.Scanner.DB.Version = strings.TrimSpace(d.DB.Status.SchemaVersion + " " + d.DB.Status.Built)
		}
		t := d.Timestamp
		if t.IsZero() {
			t = now
		}
		p.Metadata = Metadata{ScanStartedOn: t, ScanFinishedOn: t}
		return p, nil
	}
	return nil, errkind.Inputf("vulnerability report is neither Trivy JSON (SchemaVersion/Results) nor Grype JSON (matches/descriptor): run `trivy image -f json` or `grype -o json`")
}

// Severity levels from least to most severe, as scanners spell them.
var severityRank = map[string]int{"UNKNOWN": 0, "NEGLIGIBLE": 1, "LOW": 2, "MEDIUM": 3, "HIGH": 4, "CRITICAL": 5}

// SeverityRank orders severity names; unknown names rank as UNKNOWN.
func SeverityRank(s string) (int, bool) {
	r, ok := severityRank[strings.ToUpper(strings.TrimSpace(s))]
	return r, ok
}

// Finding is one vulnerability in a scan result.
type Finding struct {
	ID       string `json:"id"`
	Severity string `json:"severity"`
}

// Findings lists the vulnerabilities of a vuln predicate's result, whichever
// of Trivy or Grype produced it.
func Findings(predicate any) ([]Finding, error) {
	b, err := json.Marshal(predicate)
	if err != nil {
		return nil, err
	}
	var p struct {
		Scanner struct {
			Result json.RawMessage `json:"result"`
		} `json:"scanner"`
	}
	if err := json.Unmarshal(b, &p); err != nil {
		return nil, err
	}
	var tr trivyReport
	var gr grypeReport
	var out []Finding
	if json.Unmarshal(p.Scanner.Result, &gr) == nil && gr.Descriptor != nil {
		for _, m := range gr.Matches {
			out = append(out, Finding{ID: m.Vulnerability.ID, Severity: strings.ToUpper(m.Vulnerability.Severity)})
		}
		return out, nil
	}
	if err := json.Unmarshal(p.Scanner.Result, &tr); err != nil {
		return nil, errkind.Untrustedf("vulnerability result is neither Trivy nor Grype JSON: %v", err)
	}
	for _, r := range tr.Results {
		for _, v := range r.Vulnerabilities {
			out = append(out, Finding{ID: v.VulnerabilityID, Severity: strings.ToUpper(v.Severity)})
		}
	}
	return out, nil
}
