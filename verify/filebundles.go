package verify

import (
	"bytes"
	"encoding/json"
	"fmt"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/imgsign/imgsign/internal/errkind"
	"github.com/imgsign/imgsign/internal/registry"
)

// FileBundle is a Sigstore bundle given as a file rather than found in the
// registry: a GitHub artifact attestation from `gh attestation download`,
// say. Name says where it came from in messages ("att.jsonl:3").
type FileBundle struct {
	Name string
	Raw  []byte
}

// WithBundles adds bundles given as files to the evidence of every image
// verified. Each is checked exactly like a bundle found as a referrer; one
// about another image is left out of that image's report.
func WithBundles(bs []FileBundle) Option {
	return func(v *Verifier) { v.files = append(v.files, bs...) }
}

// SplitBundles reads a bundle file as `gh attestation download` writes it:
// one bundle as a JSON document, or JSON lines, one bundle per line.
func SplitBundles(name string, data []byte) ([]FileBundle, error) {
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) == 0 {
		return nil, errkind.Inputf("%s holds no bundle", name)
	}
	if json.Valid(trimmed) {
		return []FileBundle{{Name: name, Raw: trimmed}}, nil
	}
	var out []FileBundle
	// The untrimmed data, so that line numbers are the file's own.
	for i, line := range bytes.Split(data, []byte("\n")) {
		line = bytes.TrimSpace(line)
		if len(line) == 0 {
			continue
		}
		if !json.Valid(line) {
			return nil, errkind.Inputf("%s: line %d is not a JSON document: a bundle file is one JSON bundle or JSON lines, one bundle per line", name, i+1)
		}
		out = append(out, FileBundle{Name: fmt.Sprintf("%s:%d", name, i+1), Raw: line})
	}
	if len(out) > registry.MaxBundlesPerImage {
		return nil, errkind.Inputf("%s holds %d bundles, more than the %d verify checks per image", name, len(out), registry.MaxBundlesPerImage)
	}
	return out, nil
}

// fileCandidates checks the bundles given as files against subject. The
// referrer a report names for one is its own digest.
func (v *Verifier) fileCandidates(subject v1.Hash) []candidate {
	tr := v.trust()
	var out []candidate
	for _, f := range v.files {
		c := sigstoreBundle.check(f.Raw, nil, subject, tr)
		if c.err != nil && candidateCode(c.err) == CodeSubjectMismatch {
			continue // a bundle about another image in the same file
		}
		c.referrer = registry.Digest(f.Raw).String()
		if c.err != nil {
			c.err = fmt.Errorf("bundle %s: %w", f.Name, c.err)
		}
		out = append(out, c)
	}
	return out
}
