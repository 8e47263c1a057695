package verify

import (
	"bytes"
	"strings"
	"testing"
)

// Every string in a report or tree may come from the registry unsigned:
// printed, none of it may add a line or reach the terminal as an escape.
func TestTextOutputEscapesUntrustedStrings(t *testing.T) {
	const evil = "x\x1b[1A\x1b[2K\rPASS\n\u202eok"
	rep := &Report{Images: []*ImageResult{{
		Image: evil, Reference: "r/x@sha256:" + evil, Digest: evil, Policy: evil, Mode: evil, Verdict: VerdictFail, Enforced: true,
		Requirements: []*RequirementResult{
			{Kind: "signatures", BindTag: true, SignedTags: []string{evil}, Summary: evil,
				Accepted: []*KeyUse{{KeyName: evil, KeyID: evil, Referrer: evil}},
				Rejected: []*Rejection{{KeyName: evil, KeyID: evil, Referrer: evil, Reason: evil}, {KeyID: evil, Reason: evil}}},
			{Kind: "attestation", PredicateType: evil, Summary: evil, Rejected: []*Rejection{{Reason: evil}}},
			{Kind: "compliance", Check: evil, Summary: evil, Rejected: []*Rejection{{Reason: evil}}},
		},
	}, {Image: evil, Verdict: VerdictError, Error: evil}}}
	tree := &Tree{Reference: evil, Attachments: []*TreeEntry{{
		Referrer: evil, ArtifactType: evil, PredicateType: evil, KeyID: evil, Created: evil, Sources: []string{evil}, Tag: evil, Note: evil,
	}}}
	for name, write := range map[string]func(*bytes.Buffer){
		"verify": func(b *bytes.Buffer) { rep.WriteText(b) },
		"tree":   func(b *bytes.Buffer) { tree.WriteText(b) },
	} {
		var b bytes.Buffer
		write(&b)
		out := b.String()
		if strings.ContainsAny(out, "\x1b\r\u202e") {
			t.Errorf("%s: raw control character in output:\n%q", name, out)
		}
		for _, line := range strings.Split(out, "\n") {
			if strings.HasPrefix(line, "PASS") || strings.HasPrefix(line, "ok") {
				t.Errorf("%s: forged line %q", name, line)
			}
		}
		if !strings.Contains(out, `\x1b[1A`) {
			t.Errorf("%s: the escape should be shown, escaped:\n%s", name, out)
		}
	}
}
