package verify

import (
	"time"
)

// statementTime is the time an attestation's own signed content states, for
// maxAge when no trusted timestamp exists: the build's finish (SLSA), the
// document's creation (SPDX, CycloneDX) or the scan's finish (vuln).
func statementTime(c candidate) (time.Time, string) {
	if c.timeSource != "" && c.timeSource != "current-time" {
		return c.signedAt, c.timeSource
	}
	pred, _ := c.statement["predicate"].(map[string]any)
	for _, p := range []struct {
		path []string
		name string
	}{
		{[]string{"runDetails", "metadata", "finishedOn"}, "provenance finishedOn"},
		{[]string{"runDetails", "metadata", "startedOn"}, "provenance startedOn"},
		{[]string{"metadata", "buildFinishedOn"}, "provenance buildFinishedOn"},
		{[]string{"creationInfo", "created"}, "SPDX created"},
		{[]string{"metadata", "timestamp"}, "CycloneDX timestamp"},
		{[]string{"metadata", "scanFinishedOn"}, "scanFinishedOn"},
	} {
		if s, ok := lookup(pred, p.path).(string); ok {
			if t, err := time.Parse(time.RFC3339, s); err == nil {
				return t, p.name
			}
		}
	}
	return time.Time{}, ""
}

func lookup(m map[string]any, path []string) any {
	var cur any = m
	for _, k := range path {
		mm, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = mm[k]
	}
	return cur
}
